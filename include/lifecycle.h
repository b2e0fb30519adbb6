/*
 * lifecycle.h - one state machine per service: wakes in, boots out.
 *
 * The DNS responder, the proxy and the control socket call down into
 * the lifecycle; nothing calls up except through the callbacks below,
 * which always run on the main loop.  A wake never blocks: it starts
 * (or joins) a boot and returns at once.
 */
#ifndef SUMMON_LIFECYCLE_H
#define SUMMON_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "hist.h"

struct config;
struct event_base;
struct store;
struct lifecycle;
struct lc_waiter;
struct vm_backend_ops;

enum lc_state {
	LC_STOPPED, LC_STANDBY, LC_STARTING, LC_READY, LC_STOPPING,
	LC_SUSPENDED, LC_SAVED, LC_FAILED,
};
#define LC_NSTATES	(LC_FAILED + 1)

enum lc_source { LC_SRC_DNS, LC_SRC_CONNECT, LC_SRC_CTL };
#define LC_NSOURCES	(LC_SRC_CTL + 1)

/*
 * What served a wake that had to bring the service up, or found it up:
 * it was running (ready), a standby was resumed, a suspended or saved
 * instance came back, a domain was created.  A wake that joins a boot
 * already under way is not counted again.
 */
enum lc_served { LC_BY_RUNNING, LC_BY_STANDBY, LC_BY_SUSPENDED,
	LC_BY_CREATE };
#define LC_NSERVED	(LC_BY_CREATE + 1)

/* What summonctl list/status and the metrics see of one service. */
struct lc_info {
	const char	*service;
	enum lc_state	 state;
	char		 guest_address[64];	/* "" while none */
	char		 domain[128];		/* "" while none */
	const char	*host;			/* its host; NULL while none */
	int64_t		 uptime_ms;		/* -1 while not ready */
	int64_t		 idle_ms;		/* since last activity, -1 never */
	uint64_t	 boots;
	int64_t		 last_boot_ms;		/* -1 before the first boot */
	uint64_t	 wakes[LC_NSOURCES];
	uint64_t	 served[LC_NSERVED];	/* wakes, by what served them */
	unsigned	 standby;		/* standby domains now */
	unsigned	 budget_standbys;	/* of them, the budget's */
	double		 score;			/* its rank for the budget */
	int		 connections;		/* open proxied connections */
	uint64_t	 boot_failures;		/* boots that failed */
	const struct hist *cold_start;		/* first wake to ready */
};

/* One libvirt host, for summonctl hosts and the metrics. */
struct lc_host_info {
	const char	*name;
	const char	*uri;
	bool		 up;		/* connected and reconciled */
	size_t		 instances;	/* live there */
	uint64_t	 memory;	/* their guest memory, bytes */
	uint64_t	 free_memory;	/* libvirt's last word; 0: not asked */
	unsigned	 max_instances;	/* 0: no cap of its own */
	uint64_t	 max_memory;	/* 0: none */
};

/* Why instances stopped, for summon_reaps_total{reason}. */
#define LC_REASONS	"idle", "manual", "crash", "lost", "shutdown", \
			"evicted", "failed", "removed", "moved"
#define LC_NREASONS	9

struct lc_stats {
	struct hist	 domain_create;		/* create call to return */
	uint64_t	 stops[LC_NREASONS];	/* in LC_REASONS order */
};

/* Instances by state and totals, for the metrics. */
struct lc_totals {
	uint64_t	 instances[LC_NSTATES];
	size_t		 live;			/* counted in max-instances */
	uint64_t	 memory;		/* bytes in the budget */
};

/*
 * Told once that a service became ready (ok = true) or that its boot
 * failed or timed out (ok = false).  Runs on the main loop; the waiter
 * is gone when it returns.
 */
typedef void (*lc_notify_fn)(void *arg, const char *service, bool ok);

/*
 * Create the lifecycle for cfg's services: connect to each of cfg's
 * hosts through ops, make sure the guest network exists there (bridge
 * mode, when its create = yes), and reconcile the store with the
 * domains found (adopt ours, close rows whose domain is gone, destroy
 * ours that no service owns).  One host must be reachable; of several,
 * those that are not are tried again in the background.  This start-up
 * work blocks; afterwards nothing does.
 * base, cfg and store are borrowed and must outlive the lifecycle.
 * Returns NULL with a message in err on failure.
 */
struct lifecycle *lifecycle_new(struct event_base *base,
		    const struct config *cfg, struct store *store,
		    const struct vm_backend_ops *ops, char *err, size_t errlen);
/*
 * Stop every instance (on-exit = stop) and call done(arg) once all are
 * gone; with on-exit = keep, call done at once and leave them running.
 */
void		 lifecycle_shutdown(struct lifecycle *, void (*done)(void *),
		    void *arg);
/* Fail every waiter and free everything; running VMs are left alone. */
void		 lifecycle_free(struct lifecycle *);

/*
 * The reaper's tick: stop instances idle past their idle-timeout,
 * replace standby domains that were used, retire removed services.
 * Bounded by the number of live instances, not of services.  Returns
 * the number of instances it began to stop.
 */
size_t		 lifecycle_tick(struct lifecycle *);

/*
 * Reload in two phases.  Prepare takes everything that can fail for cfg
 * (the new service table, new services, address and port maps made from
 * what the live instances hold) and refuses what the running instances
 * cannot follow (a [network] mode change while instances live); it
 * changes nothing, and returns NULL with a message in err.  Commit
 * moves to cfg and cannot fail: instances of removed services begin to
 * stop (reason "removed").  Abort releases what prepare took.  cfg must
 * outlive the lifecycle or the next commit.
 */
struct lc_reload;
struct lc_reload *lifecycle_reload_prepare(struct lifecycle *,
		    const struct config *cfg, char *err, size_t errlen);
void		 lifecycle_reload_commit(struct lifecycle *, struct lc_reload *);
void		 lifecycle_reload_abort(struct lifecycle *, struct lc_reload *);

/*
 * Wake service: start it unless it is starting or ready, and count the
 * wake as activity.  Returns the state after the wake, or -1 with errno
 * ENOENT for an unknown service.
 */
int		 lifecycle_wake(struct lifecycle *, const char *service,
		    enum lc_source);

/*
 * Call fn once when service is ready or has failed.  If it is ready
 * already, fn is not called and NULL is returned with errno EALREADY; if
 * nothing is under way that will end either way (the boot the wake
 * started has failed already), NULL with errno ECANCELED.  The caller
 * may cancel a waiter that has not fired yet.
 */
struct lc_waiter *lifecycle_wait(struct lifecycle *, const char *service,
		    lc_notify_fn fn, void *arg);
void		 lifecycle_wait_cancel(struct lifecycle *, struct lc_waiter *);

/*
 * Stop the instance of service for reason ("manual", "idle", ...).
 * Returns 0 when a stop began, 1 when nothing was running, -1 with errno
 * ENOENT for an unknown service.
 */
int		 lifecycle_stop(struct lifecycle *, const char *service,
		    const char *reason);
/* Whether service has been idle longer than its idle-timeout. */
bool		 lifecycle_is_idle(struct lifecycle *, const char *service);

/* Where the proxy reaches guest_port of a ready service. */
int		 lifecycle_endpoint(struct lifecycle *, const char *service,
		    uint16_t guest_port, struct sockaddr_storage *,
		    socklen_t *);

/* Activity for the reaper: bytes relayed, connections opened/closed. */
void		 lifecycle_touch(struct lifecycle *, const char *service);
void		 lifecycle_conn(struct lifecycle *, const char *service,
		    int delta);

/* Fill info about service; -1 with errno ENOENT if unknown. */
int		 lifecycle_info(struct lifecycle *, const char *service,
		    struct lc_info *);

void		 lifecycle_totals(struct lifecycle *, struct lc_totals *);
/* The hosts, by index from 0: -1 past the last. */
size_t		 lifecycle_nhosts(struct lifecycle *);
int		 lifecycle_host_info(struct lifecycle *, size_t i,
		    struct lc_host_info *);
const struct lc_stats *lifecycle_stats(struct lifecycle *);
/* The name of the i-th stop reason of LC_REASONS. */
const char	*lifecycle_reason_name(size_t i);

const char	*lifecycle_state_name(enum lc_state);
const char	*lifecycle_source_name(enum lc_source);
const char	*lifecycle_served_name(enum lc_served);

#endif
