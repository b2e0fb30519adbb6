/*
 * relay.h - relay threads, which move the bytes of established
 * connections for the proxy (relay.c).
 */
#ifndef SUMMON_RELAY_H
#define SUMMON_RELAY_H

#include <stdbool.h>
#include <stdint.h>

struct event_base;
struct evbuffer;
struct relay_pool;

/* A connection to relay; its sockets and held bytes become the pool's. */
struct relay_spec {
	int		 client_fd, guest_fd;
	struct evbuffer	*held;		/* sent by the client while held */
	bool		 client_eof;	/* and then its FIN */
	bool		 splice;	/* relay = splice */
	uint64_t	 idle_ms;	/* no byte either way: closed; 0 never */
	const char	*name;		/* for logs; must outlive the relay */
};

/*
 * Called on the loop for bytes moved since the last call (client to
 * guest, guest to client), and once with done set when the relay has
 * closed both sockets.  owner is what relay_pool_add() was given.
 */
typedef void	relay_report_fn(void *arg, void *owner, uint64_t bytes_in,
		    uint64_t bytes_out, bool done);

/* Start nthreads relay threads (at least one); reports arrive on base. */
struct relay_pool *relay_pool_new(struct event_base *, unsigned nthreads,
		    relay_report_fn *, void *arg);
/* Hand a connection to the least busy thread.  -1: nothing was taken. */
int		 relay_pool_add(struct relay_pool *, void *owner,
		    const struct relay_spec *);
/* Stop the threads; they close their sockets.  No report follows. */
void		 relay_pool_free(struct relay_pool *);
unsigned	 relay_pool_threads(const struct relay_pool *);
/* Relays handed to a thread and not yet reported done. */
unsigned	 relay_pool_load(const struct relay_pool *, unsigned thread);

#endif
