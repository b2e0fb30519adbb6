/*
 * proxy_internal.h - what proxy.c and proxy_conn.c share.
 */
#ifndef SUMMON_PROXY_INTERNAL_H
#define SUMMON_PROXY_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include <event2/event_struct.h>

#include "compat_queue.h"
#include "nameidx.h"

#include "proxy.h"

struct bufferevent;
struct cfg_service;
struct event;
struct lc_waiter;
struct pconn;
struct peek;
struct proxy;
struct relay_pool;
struct router;

TAILQ_HEAD(pconn_list, pconn);
TAILQ_HEAD(listener_list, listener);
TAILQ_HEAD(router_list, router);
TAILQ_HEAD(peek_list, peek);

/* The proxy's view of one service; outlives reloads while in use. */
struct pservice {
	TAILQ_ENTRY(pservice)	 link;
	struct proxy		*proxy;
	const struct cfg_service *cfg;		/* NULL once removed */
	struct pconn_list	 held;		/* arrival order */
	struct pconn_list	 active;	/* connecting or relaying */
	struct listener_list	 listeners;	/* this service's own */
	size_t			 connecting;	/* connects in flight */
	struct lc_waiter	*waiter;	/* while clients are held */
	struct event		*release;	/* deferred pconn_release_held */
	struct proxy_stats	*stats;		/* NULL: no client yet */
	unsigned		 refs;		/* listeners + connections */
	char			 name[];	/* allocated with it */
};

/*
 * A listening socket: its accept event is embedded rather than an
 * evconnlistener, its address kept in binary and its fields without
 * padding (216 bytes), to keep a service's memory small
 * (docs/benchmarks.md, 10,000 services).
 */
struct listener {
	TAILQ_ENTRY(listener)	 link;		/* proxy->listeners */
	TAILQ_ENTRY(listener)	 ps_link;	/* ps->listeners */
	struct pservice		*ps;
	struct event		 ev;		/* readable: accept */
	struct event		*pause;		/* accept paused on EMFILE */
	int			 fd;
	sa_family_t		 family;	/* AF_INET or AF_INET6 */
	bool			 keep;		/* reload bookkeeping */
	union {
		struct in_addr	 v4;
		struct in6_addr	 v6;
	}			 addr;
	uint16_t		 public_port;
	uint16_t		 guest_port;
	uint16_t		 bound_port;
	uint16_t		 heir_guest_port;
	struct pservice		*heir;		/* reload: the renamed service */
};

TAILQ_HEAD(pservice_list, pservice);

struct proxy {
	struct event_base	*base;
	const struct config	*cfg;
	struct lifecycle	*lc;
	struct pservice_list	 services;
	struct nameidx		 byname;	/* services by name */
	struct listener_list	 listeners;
	struct router_list	 routers;	/* shared listeners */
	struct nameidx		 routers_at;	/* them by "address:port" */
	struct peek_list	 peeking;	/* read for a name, oldest first */
	size_t			 npeeking;
	struct event		*peek_timer;	/* the oldest one's deadline */
	struct relay_pool	*relays;	/* relaying happens there */
	struct hist		 hist;
	uint64_t		 removed;	/* proxy_removed_total() */
	/* Refusals of shared listeners a reload closed since. */
	uint64_t		 route_refused[PROXY_NROUTE_REFUSALS];
	bool			 had_routers;	/* ever a shared listener */
};

enum pconn_state { PC_HELD, PC_CONNECTING, PC_RELAYING };

struct pconn {
	TAILQ_ENTRY(pconn)	 link;		/* ps->held or ps->active */
	struct pservice		*ps;
	enum pconn_state	 state;
	uint16_t		 guest_port;
	struct bufferevent	*client;	/* until relaying */
	struct bufferevent	*guest;		/* until relaying */
	struct event		*timer;		/* hold or retry */
	uint64_t		 accepted_us;
	uint64_t		 connect_deadline_us;
	bool			 client_eof;	/* client sent FIN */
};

/* proxy.c */
/* The proxy's view of service cfg, made on first need; NULL: no memory. */
struct pservice *pservice_get(struct proxy *, const struct cfg_service *cfg);
void	pservice_unref(struct pservice *);
/*
 * ps's counters, made at its first client: most of 10,000 services have
 * none, and they would be 96 of each one's bytes.  NULL when out of
 * memory, and the client is then closed.
 */
struct proxy_stats *pservice_stats(struct pservice *);
/* Run pconn_release_held(ps) from the loop, soon. */
void	pservice_release_later(struct pservice *);
/* The address of service cfg: its struct in_addr or in6_addr. */
const void *service_addr(const struct cfg_service *cfg);
/*
 * A listening TCP socket on family's address addr (a struct in_addr or
 * in6_addr) and port, non-blocking; -1 with errno set.  *bound gets the
 * port it is bound to.
 */
int	listen_socket(int family, const void *addr, uint16_t port,
	    uint16_t *bound);
/*
 * Accept at most a batch of sockets from the listening socket of ev,
 * and hand each to take(arg, socket).  Returns 0, or the errno (EMFILE,
 * ENFILE, ENOBUFS, ENOMEM) for which ev now pauses for a second, with
 * *pause made on first need, rather than spin: the caller logs it.
 */
int	listen_accept(struct event_base *, struct event *ev,
	    struct event **pause, void (*take)(void *arg, int fd), void *arg);
/*
 * For a reload: a duplicate of the socket of the listener on port i of
 * cfg's address that the new configuration does not keep, so that a
 * port becoming shared goes on listening; -1 if there is none.
 */
int	listener_take_fd(struct proxy *, const struct cfg_service *cfg,
	    size_t i);

/* proxy_conn.c */
/* A client accepted on a listener of ps's own. */
void	pconn_accept(struct pservice *, uint16_t guest_port, int fd);
/*
 * Hold client, accepted at accepted_us, for ps until it is ready; what
 * its bufferevent's input holds goes to the guest first.  The
 * bufferevent becomes the connection's (freed on failure).
 */
void	pconn_hold(struct pservice *, uint16_t guest_port,
	    struct bufferevent *client, uint64_t accepted_us);
void	pconn_release_held(struct pservice *);
/* Close every held client of ps; ps is freed if they held its last refs. */
void	pconn_refuse_held(struct pservice *, enum proxy_refusal);
void	pconn_free(struct pconn *);
/* What the relay threads report (relay_report_fn). */
void	pconn_relay_report(void *proxy, void *pconn, uint64_t bytes_in,
	    uint64_t bytes_out, bool done);

/*
 * proxy_route.c: the shared listeners, reloaded in the proxy's two
 * phases.  routers_keep() marks those cfg keeps (before the proxy's own
 * listeners are prepared, which may take over the others' sockets);
 * routers_prepare() binds the new ones and builds every kept one's new
 * table of names, changing nothing in use; commit swaps the tables in
 * and closes what cfg drops (with the connections being read there);
 * abort undoes prepare.
 */
/* p's shared listeners: none yet. */
void	routers_init(struct proxy *);
void	routers_keep(struct proxy *, const struct config *cfg);
int	routers_prepare(struct proxy *, const struct config *cfg, char *err,
	    size_t errlen);
void	routers_commit(struct proxy *);
void	routers_abort(struct proxy *);
/* Close every shared listener and the connections read there. */
void	routers_free(struct proxy *);
/* As listener_take_fd(), for a shared listener becoming a service's. */
int	router_take_fd(struct proxy *, int family, const void *addr,
	    uint16_t port);
/* The port bound by the shared listener on public_port that ps is on. */
uint16_t router_bound_port(struct proxy *, const struct pservice *ps,
	    uint16_t public_port);

#endif
