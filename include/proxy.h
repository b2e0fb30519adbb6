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
 * Clients closed, held or connecting, because a reload removed (or
 * renamed) their service: counted here, as the service's own stats go
 * with it.
 */
uint64_t	 proxy_removed_total(struct proxy *);
/* Hold durations: accept to relaying (0 for a ready service). */
const struct hist *proxy_hold_hist(struct proxy *);
const char	*proxy_refusal_name(enum proxy_refusal);
/* The port a listener of service actually bound (tests bind port 0). */
uint16_t	 proxy_bound_port(struct proxy *, const char *service,
		    uint16_t public_port);

#endif
