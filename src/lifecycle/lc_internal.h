/*
 * lc_internal.h - what the lifecycle's files share; not for other modules.
 */
#ifndef SUMMON_LC_INTERNAL_H
#define SUMMON_LC_INTERNAL_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include "compat_queue.h"

#include "lifecycle.h"
#include "vm.h"

struct cfg_service;
struct config;
struct event;
struct event_base;
struct lc_probe;
struct store;
struct vm;

/*
 * How far a standby of a `standby-booted = yes` service has got: booting
 * (created running, probed like any boot), pausing (ready, its suspend
 * in flight), warm (ready and paused: a resume needs no probe).  Every
 * other instance, and a standby created paused, is SBY_COLD.
 */
enum lc_sby { SBY_COLD, SBY_BOOTING, SBY_PAUSING, SBY_WARM };

/* One VM incarnation: a row in the store, a domain in libvirt. */
struct instance {
	TAILQ_ENTRY(instance)	 live;		/* lifecycle->instances */
	TAILQ_ENTRY(instance)	 sby;		/* service->standby */
	struct lc_service	*svc;
	struct lifecycle	*lc;
	int64_t			 id;
	char			 domain[128];
	char			 uuid[40];
	enum lc_state		 state;
	enum lc_sby		 sby_phase;
	bool			 persistent;	/* defined: save stop mode */
	bool			 in_standby;	/* on svc->standby */
	bool			 stop_failed;	/* the tick retries the stop */
	bool			 stopping_on_purpose;	/* ignore its stop event */
	const char		*stop_reason;
	struct in_addr		 guest;		/* bridge mode */
	uint16_t		*host_ports;	/* user mode, one a cfg port */
	size_t			 nhost_ports;
	uint64_t		 memory;	/* bytes, counted in the budget */
	uint64_t		 woke_us;	/* first wake of this boot */
	uint64_t		 ready_us;	/* when it became ready */
	int64_t			 created_wall, ready_wall;
	int64_t			 create_dur_ms;
	struct vm_job		 job;		/* at most one in flight */
	bool			 job_busy;
	struct lc_probe		*probe;
	struct event		*deadline;	/* boot timeout */
};

TAILQ_HEAD(instance_list, instance);

/*
 * One per configured (or retired) service, so with 10,000 services its
 * size counts: the name is allocated with it, the histogram on the
 * first ready boot.
 */
struct lc_service {
	TAILQ_ENTRY(lc_service)	 all;		/* lifecycle->services */
	const struct cfg_service *cfg;		/* NULL once removed */
	struct lifecycle	*lc;
	struct instance		*active;	/* starting..saved, or NULL */
	struct instance_list	 standby;	/* paused, or on the way */
	struct event		*retry;		/* boots when back-off ends */
	struct lc_waiter	*waiters;
	struct hist		*cold_start;	/* NULL before a ready boot */
	uint64_t		 retry_at_us;	/* back-off until */
	uint64_t		 sby_retry_at_us;	/* no standby before */
	uint64_t		 last_activity_us;	/* 0 never */
	uint64_t		 wakes[LC_NSOURCES];
	uint64_t		 boots;
	uint64_t		 boot_failures;
	int64_t			 last_boot_ms;
	unsigned		 nstandby;	/* incl. ones being created */
	unsigned		 failures;	/* in a row, for back-off */
	int			 conns;
	bool			 failed;	/* last boot failed/crashed */
	bool			 rewake;	/* woken while stopping */
	uint8_t			 sby_failures;	/* standby ones, in a row */
	char			 name[];
};

TAILQ_HEAD(service_list, lc_service);

struct lifecycle {
	struct event_base	*base;
	const struct config	*cfg;
	struct store		*store;
	struct vm_owner		 owner;		/* marks our domains */
	const struct vm_backend_ops *vmops;
	struct vm		*vm;
	struct service_list	 services;	/* configured and retired */
	struct lc_service	**table;	/* configured only, by name */
	size_t			 tablesize;	/* power of two */
	struct instance_list	 instances;	/* every live instance */
	size_t			 ninstances;	/* counted against max */
	uint64_t		 memory_used;
	uint8_t			*pool_used;	/* bridge: one byte an address */
	size_t			 pool_size;
	uint8_t			*ports_used;	/* user mode: one byte a port */
	size_t			 ports_size;
	struct lc_stats		 stats;
	bool			 shutting_down;	/* stopping for good */
	bool			 closing;	/* lifecycle_free: drop results */
	void			(*on_idle)(void *);	/* shutdown finished */
	void			*on_idle_arg;
};

/* lifecycle.c */
struct lc_service *lc_find(struct lifecycle *, const char *name);
void		 lc_notify(struct lc_service *, bool ok);
/* A boot of s became ready us microseconds after the first wake. */
void		 lc_observe_cold_start(struct lc_service *, uint64_t us);
void		 lc_record(struct lifecycle *, const char *service,
		    int64_t instance, const char *kind, const char *fmt, ...)
		    __attribute__((format(printf, 5, 6)));
enum lc_state	 lc_service_state(const struct lc_service *);
void		 lc_count_stop(struct lifecycle *, const char *reason);
/* A boot failed or an instance crashed: count it for the back-off. */
void		 lc_failed(struct lc_service *);
/*
 * A standby failed: the pool is refilled after a back-off of its own
 * (boots and wakes do not wait for it); ok: one was made, no back-off.
 */
void		 lc_standby_outcome(struct lc_service *, bool ok);
/* An instance left the live list (shutdown waits for the last one). */
void		 lc_instance_left(struct lifecycle *);

/* lc_instance.c */
int		 lc_boot(struct lc_service *);
int		 lc_make_standby(struct lc_service *);
/* A booting standby passed its readiness probe: pause it. */
void		 lc_standby_booted(struct instance *);
void		 lc_stop_instance(struct instance *, const char *reason);
void		 lc_instance_gone(struct instance *, const char *reason);
void		 lc_instance_failed(struct instance *, const char *why);
struct instance	*lc_instance_new(struct lc_service *, enum lc_state);
/* An instance on the live list with no row or network yet (adoption). */
struct instance	*lc_instance_adopt(struct lc_service *, enum lc_state);
void		 lc_claim_network(struct instance *);
void		 lc_instance_free(struct instance *);
void		 lc_vm_event(void *arg, const char *domain, enum vm_event);
void		 lc_save_row(struct instance *);
bool		 lc_room_for(struct lifecycle *, uint64_t memory, bool evict);
/* An instance adopted as starting with its CPUs paused: resume it. */
void		 lc_adopt_resume(struct instance *);

/* lc_probe.c */
int		 lc_probe_start(struct instance *);
void		 lc_probe_stop(struct instance *);
void		 lc_ready(struct instance *);

/* lc_reconcile.c */
/* This lifecycle's owner, which marks its domains. */
void		 lc_owner(struct vm_owner *, struct store *,
		    const char *state_path);
int		 lc_reconcile(struct lifecycle *, char *err, size_t errlen);
/* vm on_reconnect: drop instances whose domain vanished meanwhile. */
void		 lc_resync(void *lifecycle);

#endif
