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
struct proxy;
struct relay_pool;

TAILQ_HEAD(pconn_list, pconn);
TAILQ_HEAD(listener_list, listener);

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
	struct proxy_stats	 stats;
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
	struct relay_pool	*relays;	/* relaying happens there */
	struct hist		 hist;
	uint64_t		 removed;	/* proxy_removed_total() */
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
void	pservice_unref(struct pservice *);
/* Run pconn_release_held(ps) from the loop, soon. */
void	pservice_release_later(struct pservice *);

/* proxy_conn.c */
void	pconn_accept(struct pservice *, uint16_t guest_port, int fd);
void	pconn_release_held(struct pservice *);
/* Close every held client of ps; ps is freed if they held its last refs. */
void	pconn_refuse_held(struct pservice *, enum proxy_refusal);
void	pconn_free(struct pconn *);
/* What the relay threads report (relay_report_fn). */
void	pconn_relay_report(void *proxy, void *pconn, uint64_t bytes_in,
	    uint64_t bytes_out, bool done);

#endif
