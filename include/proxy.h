/*
 * proxy.h - the boot-masking TCP proxy.
 *
 * For each service and each of its ports, summond listens on
 * address:public.  A connection is accepted at once whatever the VM
 * state, and is a wake.  While the service boots the client is held
 * (little read, a deadline, a cap per service); once the lifecycle says
 * ready, held clients are connected to the guest in arrival order, a few
 * at a time, and bytes are relayed both ways with back-pressure and
 * half-close.  If the boot fails, held clients are closed at once.
 *
 * A port declared with a route (/sni, /host) may be shared by several
 * services on one address: its listener reads a connection's first
 * bytes until they name a host (a ClientHello's server name, a Host
 * header), picks the service with that name, and goes on as above with
 * those bytes kept for the guest.
 */
#ifndef SUMMON_PROXY_H
#define SUMMON_PROXY_H

#include <stddef.h>
#include <stdint.h>

#include "hist.h"

struct config;
struct event_base;
struct lifecycle;
struct proxy;

enum proxy_refusal {
	PROXY_REFUSED_MAX_HELD,		/* max-held clients already held */
	PROXY_REFUSED_HOLD_TIMEOUT,	/* not ready within hold-timeout */
	PROXY_REFUSED_BOOT_FAILED,	/* the boot failed */
	PROXY_REFUSED_CONNECT,		/* the guest refused until boot-timeout */
	PROXY_REFUSED_REMOVED,		/* a reload removed the service */
};
#define PROXY_NREFUSALS	(PROXY_REFUSED_REMOVED + 1)

/* Per service, for the metrics and summonctl status. */
struct proxy_stats {
	uint64_t	connections;		/* accepted, all time */
	uint64_t	held;			/* held now */
	uint64_t	open;			/* relaying now */
	uint64_t	refused[PROXY_NREFUSALS];
	uint64_t	bytes_in, bytes_out;	/* client->guest, guest->client */
	uint64_t	routed_name;		/* from a shared listener: by name */
	uint64_t	routed_default;		/* as its route-default */
};

/* Why a shared listener closed a connection before it had a service. */
enum proxy_route_refusal {
	PROXY_ROUTE_NO_NAME,		/* it named no host; no default */
	PROXY_ROUTE_NO_MATCH,		/* a host of no service; no default */
	PROXY_ROUTE_MALFORMED,		/* not a ClientHello or request head,
					   or no name in its first 16 KiB */
	PROXY_ROUTE_PEEK_TIMEOUT,	/* no name within 5 s (or pushed out
					   by newer ones, 1024 at once) */
};
#define PROXY_NROUTE_REFUSALS	(PROXY_ROUTE_PEEK_TIMEOUT + 1)

/* Per shared listener, for the metrics and summonctl status. */
struct proxy_shared_stats {
	const char	*listener;		/* "127.0.0.2:443", "[::1]:80" */
	const char	*route;			/* "sni" or "host" */
	uint64_t	 connections;		/* accepted, all time */
	uint64_t	 peeking;		/* read for a name now */
	uint64_t	 refused[PROXY_NROUTE_REFUSALS];
};


/*
 * Listen for cfg's services on base.  A port that cannot be bound is
 * logged with the service's name and makes this fail (NULL).
 */
struct proxy	*proxy_new(struct event_base *, const struct config *,
		    struct lifecycle *);
/*
 * Reload in two phases.  Prepare binds the listeners cfg adds (a port a
 * renamed service keeps is taken over, not bound twice) and changes
 * nothing else; NULL with the reason in err (a port in use).  Commit
 * cannot fail: listeners of services that stay are kept, with their
 * held and relayed connections; those of removed services close, and
 * their held clients are closed and counted (summon_proxy_removed_total).
 * Abort closes what prepare bound.
 */
struct proxy_reload;
struct proxy_reload *proxy_reload_prepare(struct proxy *,
		    const struct config *, char *err, size_t errlen);
void		 proxy_reload_commit(struct proxy *, struct proxy_reload *);
void		 proxy_reload_abort(struct proxy *, struct proxy_reload *);
/* Close every listener and connection. */
void		 proxy_free(struct proxy *);

/*
 * Call fn with the name and stats of every configured service that has
 * ports, in one pass (a per-name lookup for each of 10,000 services
 * would be quadratic).
 */
void		 proxy_foreach_stats(struct proxy *,
		    void (*fn)(void *arg, const char *service,
		    const struct proxy_stats *), void *arg);
/* Stats of service (zeros if unknown). */
void		 proxy_service_stats(struct proxy *, const char *service,
		    struct proxy_stats *);
/*
 * Call fn with the stats of every shared listener, or, when service is
 * not NULL, of those service is on.  The stats are valid during the
 * call only.
 */
void		 proxy_foreach_shared(struct proxy *, const char *service,
		    void (*fn)(void *arg, const struct proxy_shared_stats *),
		    void *arg);
/*
 * Clients closed, held or connecting, because a reload removed (or
 * renamed) their service: counted here, as the service's own stats go
 * with it.
 */
uint64_t	 proxy_removed_total(struct proxy *);
/*
 * The shared listeners' refusals by reason, all time: those of the
 * listeners a reload closed stay counted, so that the counter never
 * goes down.  False when there never was a shared listener.
 */
bool		 proxy_route_refused_total(struct proxy *,
		    uint64_t n[PROXY_NROUTE_REFUSALS]);
/* Hold durations: accept to relaying (0 for a ready service). */
const struct hist *proxy_hold_hist(struct proxy *);
const char	*proxy_refusal_name(enum proxy_refusal);
/* "no_name", "no_match", "malformed", "peek_timeout". */
const char	*proxy_route_refusal_name(enum proxy_route_refusal);
/*
 * The port a listener of service actually bound (tests bind port 0),
 * its own or a shared one it is on.
 */
uint16_t	 proxy_bound_port(struct proxy *, const char *service,
		    uint16_t public_port);

#endif
