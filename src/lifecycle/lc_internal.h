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
#include "nameidx.h"
#include "vm.h"

struct cfg_host;
struct cfg_service;
struct config;
struct event;
struct event_base;
struct lc_probe;
struct store;
struct vm;

/*
 * Where an instance is: the rows of its state table (lc_fsm.c).  One
 * state says all there is to say about it: whether a vm job of its is
 * out, whether it is a standby in its service's pool or the service's
 * active instance, and what it waits for.  An "_W" state is the same as
 * the one without, with a wake waiting: the service boots again (or
 * resumes) once the stop under way is done.
 */
enum lc_istate {
	IS_NONE,		/* not a state: an unfilled cell of the table */
	IS_CREATING,		/* the create is out (then a probe) */
	IS_CREATING_PAUSED,	/* a claimed standby's paused create is out */
	IS_PAUSING_CLAIMED,	/* a claimed booted standby's pause is out */
	IS_RESUMING,		/* resume of a never-run guest out (probe next) */
	IS_RESUMING_WARM,	/* resume or restore of one that served */
	IS_PROBING,		/* runs; waiting for readiness */
	IS_READY,
	IS_SUSPENDING,		/* idle: its suspend is out */
	IS_SUSPENDING_W,
	IS_SAVING,		/* idle: its managed save is out */
	IS_SAVING_W,
	IS_SUSPENDED,
	IS_SAVED,
	IS_STOPPING,		/* its destroy or shutdown is out */
	IS_STOPPING_W,
	IS_STOP_FAILED,		/* a stop failed; the reaper's tick retries */
	IS_STOP_FAILED_W,
	IS_CANCELLED,		/* a job is out; destroyed when it returns */
	IS_CANCELLED_W,
	SB_CREATING,		/* standby: its paused create is out */
	SB_BOOTING,		/* standby-booted: its create is out */
	SB_PROBING,		/* standby-booted: runs, waiting for readiness */
	SB_PAUSING,		/* standby-booted: ready, its pause is out */
	SB_COLD,		/* standby: paused, never ran */
	SB_WARM,		/* standby: paused after it was ready */
	IS_GONE,		/* not a state: the instance is closed and freed */
	IS_SAME,		/* not a state: the transition keeps it */
};
#define LC_NISTATES	IS_GONE

/* What can happen to an instance: the columns of the table. */
enum lc_event {
	LE_WAKE,		/* a wake chose it (a standby: claimed) */
	LE_OK,			/* its job is back, done */
	LE_FAIL,		/* its job failed and no domain is left */
	LE_FAIL_RUNS,		/* its job failed; the domain runs */
	LE_FAIL_STAYS,		/* its job failed; the domain is there, not running */
	LE_READY,		/* the readiness probe passed */
	LE_TIMEOUT,		/* boot-timeout passed */
	LE_REAP,		/* stop (idle, manual): stop-mode destroy/shutdown */
	LE_REAP_SUSPEND,	/* stop (idle, manual): stop-mode suspend */
	LE_REAP_SAVE,		/* stop (idle, manual): stop-mode save */
	LE_STOP,		/* stop for good: removed, evicted, shutdown */
	LE_CRASH,		/* the domain stopped by itself */
	LE_RETRY,		/* the reaper's tick, for a stop that failed */
	LE_LOST,		/* after a reconnect: the domain is gone */
	LE_HOST_DOWN,		/* its host's connection is lost (of several) */
};
#define LC_NEVENTS	(LE_HOST_DOWN + 1)

/*
 * What a transition does, as steps run in this order (lc_fsm.c
 * run_steps()).  The instance is in its next state before the first.
 * Waiters are told last (but before the instance is freed): what they
 * do in their callbacks finds the instance with its job submitted.
 */
enum lc_step {
	S_QUIET		= 1 << 0,	/* probe stopped, deadline disarmed */
	S_SUSPENDED	= 1 << 1,	/* record suspended/saved, count the stop */
	S_UNLINK	= 1 << 2,	/* leave the standby pool */
	S_CLAIM		= 1 << 3,	/* become the service's active instance */
	S_BOOT		= 1 << 4,	/* record "boot"; woken now; deadline armed */
	S_REC_FAILED	= 1 << 5,	/* record boot-failed */
	S_REC_SBY_FAILED = 1 << 6,	/* record standby-failed */
	S_REC_CRASH	= 1 << 7,	/* record crash */
	S_REC_LOST	= 1 << 8,	/* record lost */
	S_REC_BOOTED	= 1 << 9,	/* record standby-booted */
	S_REC_STOP	= 1 << 10,	/* record stop (its reason) */
	S_READY		= 1 << 11,	/* ready: times, counters, waiters told */
	S_ROW		= 1 << 12,	/* its row saved */
	S_DEADLINE	= 1 << 13,	/* boot deadline armed */
	S_PROBE		= 1 << 14,	/* readiness probe started */
	S_CREATE	= 1 << 15,	/* submit the create its state needs */
	S_RESUME	= 1 << 16,	/* submit a resume */
	S_RESTORE	= 1 << 17,	/* submit a restore */
	S_SUSPEND	= 1 << 18,	/* submit a suspend */
	S_SAVE		= 1 << 19,	/* submit a managed save */
	S_STOP		= 1 << 20,	/* submit shutdown (stop-mode) or destroy */
	S_DESTROY	= 1 << 21,	/* submit a destroy */
	S_FAIL		= 1 << 22,	/* the service failed: back-off, waiters told */
	S_POOL_FAIL	= 1 << 23,	/* the pool backs off */
	S_POOL_OK	= 1 << 24,	/* the pool's back-off is over */
	S_NOTIFY_FAIL	= 1 << 25,	/* waiters told: no boot is coming */
	S_GONE		= 1 << 26,	/* row closed, stop counted, freed */
	S_REBOOT	= 1 << 27,	/* then the service is woken again */
};
#define LC_NSTEPS	28
/* A stop recorded, the row written, the domain destroyed. */
#define S_DESTROY_ALL	(S_REC_STOP | S_ROW | S_DESTROY)

/* One cell of the table: next state, steps, and why (for the doc). */
struct lc_transition {
	enum lc_istate	 next;
	unsigned	 steps;
	const char	*why;
};

extern const struct lc_transition lc_fsm[LC_NISTATES][LC_NEVENTS];

/*
 * One libvirt host (lc_host.c): its connection, its guests' subnet and
 * pool, and what is placed there.  Up means connected and reconciled:
 * only then does placement choose it.
 */
struct lc_host {
	struct lifecycle	*lc;
	struct vm		*vm;
	struct cfg_host		*conf;		/* a copy of its own */
	struct cfg_host		*sync_conf;	/* a reload's old conf, kept for
						   the VM_LIST job out */
	struct vm_network	 net;		/* conf's */
	struct vm_network	 sync_net;	/* net when the VM_LIST went */
	unsigned		 index;		/* in lc->hosts, a mask bit */
	bool			 up;
	bool			 syncing;	/* its VM_LIST job is out */
	bool			 info_out;	/* its VM_HOST_INFO job is out */
	bool			 ever_up;	/* reconciled once */
	size_t			 ninstances;	/* live there, stopping included */
	uint64_t		 memory_used;	/* their guest memory */
	uint64_t		 free_memory;	/* libvirt's last word; 0 none */
	uint64_t		 placed_since;	/* memory placed since then */
	uint8_t			*pool_used;	/* one byte an address */
	size_t			 pool_size;
	struct vm_job		 sync;		/* VM_LIST */
	struct vm_job		 info;		/* VM_HOST_INFO */
};

/* One instance: a row in the store, a domain on the hypervisor. */
struct instance {
	TAILQ_ENTRY(instance)	 live;		/* lifecycle->instances */
	TAILQ_ENTRY(instance)	 sby;		/* service->standby */
	struct lc_service	*svc;
	struct lifecycle	*lc;
	struct lc_host		*host;		/* where its domain is */
	int64_t			 id;
	char			 domain[128];
	char			 uuid[40];
	enum lc_istate		 state;
	const char		*reason;	/* why it stops (a literal) */
	bool			 budget;	/* a standby of the budget's */
	uint64_t		 placed_us;	/* a budget standby: made then */
	struct in_addr		 guest;		/* bridge mode */
	uint16_t		*host_ports;	/* user mode, one a cfg port */
	size_t			 nhost_ports;
	uint64_t		 memory;	/* bytes, counted in the budget */
	uint64_t		 woke_us;	/* first wake of this boot */
	uint64_t		 ready_us;	/* when it became ready */
	int64_t			 created_wall, ready_wall;
	int64_t			 create_dur_ms;
	struct vm_job		 job;		/* at most one out: its state says */
	struct lc_probe		*probe;
	struct event		*deadline;	/* boot timeout */
};

TAILQ_HEAD(instance_list, instance);

/*
 * One per configured (or retired) service, so with 10,000 services its
 * size counts: the name is allocated with it, the histogram on the
 * first ready boot.
 */
/*
 * A service's counters, made at its first wake or boot, or at start
 * from the store's history: most of 10,000 services are never woken,
 * and these would be 80 of each one's bytes (docs/benchmarks.md, Load).
 */
struct lc_counts {
	uint64_t		 wakes[LC_NSOURCES];
	uint64_t		 served[LC_NSERVED];
	uint64_t		 boots;
	uint64_t		 boot_failures;
	int64_t			 last_boot_ms;	/* -1: none */
};

struct lc_service {
	TAILQ_ENTRY(lc_service)	 all;		/* lifecycle->services */
	SLIST_ENTRY(lc_service)	 ranked;	/* lifecycle->ranked */
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
	struct lc_counts	*n;		/* NULL: never woken; lc_n() */
	unsigned		 nstandby;	/* incl. ones being created */
	unsigned		 failures;	/* in a row, for back-off */
	double			 rank;		/* lc_budget.c: log2 score + clock */
	int			 conns;
	bool			 failed;	/* last boot failed/crashed */
	uint8_t			 sby_failures;	/* standby ones, in a row */
	uint8_t			 nbudget;	/* standbys of the budget's */
	char			 name[];
};

TAILQ_HEAD(service_list, lc_service);
SLIST_HEAD(ranked_list, lc_service);

struct lifecycle {
	struct event_base	*base;
	const struct config	*cfg;
	struct store		*store;
	struct vm_owner		 owner;		/* marks our domains */
	const struct vm_backend_ops *vmops;
	struct lc_host		*hosts;		/* the configuration's, at start */
	size_t			 nhosts;
	struct service_list	 services;	/* configured and retired */
	struct ranked_list	 ranked;	/* those ever woken: what the
						   budget's tick looks at */
	struct nameidx		 byname;	/* configured only */
	struct instance_list	 instances;	/* every live instance */
	size_t			 ninstances;	/* counted against max */
	uint64_t		 memory_used;
	uint8_t			*ports_used;	/* user mode: one byte a port */
	size_t			 ports_size;
	struct lc_stats		 stats;
	/* The standby budget (lc_budget.c). */
	uint64_t		 cold_wakes;	/* its clock: wakes that did work */
	unsigned		 budget_n;	/* budget standbys live */
	uint64_t		 budget_memory;	/* their guest memory */
	bool			 shutting_down;	/* stopping for good */
	bool			 closing;	/* lifecycle_free: drop results */
	void			(*on_idle)(void *);	/* shutdown finished */
	void			*on_idle_arg;
};

/* lifecycle.c */
struct lc_service *lc_find(struct lifecycle *, const char *name);
/* s's counters, made on first use. */
struct lc_counts *lc_n(struct lc_service *s);
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
/* Wake s as a wake from outside does, back-off included. */
void		 lc_wake(struct lc_service *);

/* lc_fsm.c */
/*
 * Feed ev to in: its state moves as lc_fsm[] says and the steps run.
 * reason (a literal, or NULL) is why it stops, for LE_REAP*, LE_STOP.
 * Returns false when the table ignores ev in in's state.  in may be
 * freed on return (a transition to IS_GONE).
 */
bool		 lc_fire(struct instance *, enum lc_event ev,
		    const char *reason);
/*
 * Put a new or adopted instance in state st and run steps, as if a
 * transition had brought it there (creates, adoption at start-up).
 */
void		 lc_enter(struct instance *, enum lc_istate st,
		    unsigned steps, const char *reason);
/* What summonctl, the store and the metrics call state st. */
enum lc_state	 lc_istate_public(enum lc_istate st);
/* Whether a vm job of an instance in st is out. */
bool		 lc_istate_busy(enum lc_istate st);
/* Whether st is a standby's (in its service's pool). */
bool		 lc_istate_standby(enum lc_istate st);
/* Whether st has a wake waiting for its stop to end. */
bool		 lc_istate_woken(enum lc_istate st);
const char	*lc_istate_name(enum lc_istate st);
const char	*lc_event_name(enum lc_event ev);
const char	*lc_step_name(unsigned step);	/* one bit */

/* lc_host.c */
/* Open every host of cfg (the first one's failure is fatal when alone). */
int		 lc_hosts_open(struct lifecycle *, const struct config *cfg,
		    char *err, size_t errlen);
/* Close the hosts' connections (their pending done()s run). */
void		 lc_hosts_close_vms(struct lifecycle *);
/* Then free the hosts, once no instance points at one. */
void		 lc_hosts_close(struct lifecycle *);
/*
 * The host for a new instance of s of memory bytes: up, allowed by s's
 * hosts, below its caps, with the most free memory (a standby: the
 * fewest of s's standbys first); down_ok: else one that is down, whose
 * job will wait for it.  NULL when none can take it.
 */
struct lc_host	*lc_place(struct lc_service *s, uint64_t memory,
		    bool standby, bool down_ok);
/* An instance begins or ends to be counted on its host. */
void		 lc_host_count(struct instance *, int sign);
/* The reaper's tick: ask each host up for its free memory. */
void		 lc_hosts_tick(struct lifecycle *);
/* Start-up is over: ask the hosts up for their free memory now. */
void		 lc_hosts_up(struct lifecycle *);
/* Reload: the hosts' maps and settings for cfg, prepared, then kept. */
struct lc_hosts_reload;
struct lc_hosts_reload *lc_hosts_prepare(struct lifecycle *,
		    const struct config *cfg);
void		 lc_hosts_commit(struct lifecycle *, struct lc_hosts_reload *);
void		 lc_hosts_abort(struct lc_hosts_reload *);
/* The host called name ("" the first), or NULL. */
struct lc_host	*lc_host_find(struct lifecycle *, const char *name);

/* lc_instance.c */
int		 lc_boot(struct lc_service *);
/* A standby for s: the budget's (budget) or its own floor's. */
int		 lc_make_standby(struct lc_service *, bool budget);
/*
 * A new instance of s in state st: its row, addresses and ports, a
 * standby in the pool; NULL (recorded) when there is no room.  The
 * caller moves it with lc_enter().
 */
struct instance	*lc_instance_new(struct lc_service *, enum lc_istate st,
		    struct lc_host *);
/* An instance on h in st with no row or network yet (adoption). */
struct instance	*lc_instance_adopt(struct lc_service *, enum lc_istate st,
		    struct lc_host *h);
void		 lc_claim_network(struct instance *);
void		 lc_instance_free(struct instance *);
/* in leaves its service's standby pool. */
void		 lc_standby_unlink(struct instance *in);
void		 lc_vm_event(void *arg, const char *domain, enum vm_event);
void		 lc_save_row(struct instance *);
bool		 lc_room_for(struct lifecycle *, uint64_t memory, bool evict);
/* Submit op for in (its state says a job is out). */
void		 lc_submit(struct instance *, enum vm_op op);
/* The guest description of in for a create (lc_instance.c). */
struct vm_guest	*lc_describe(struct instance *);
/* Arm in's boot deadline (boot-timeout from now). */
void		 lc_arm_deadline(struct instance *);
/* The stop event for an idle or manual stop under s's stop-mode. */
enum lc_event	 lc_reap_event(const struct lc_service *);

/* lc_budget.c */
/* A wake of s that did work (not one joining a boot): its rank rises. */
void		 lc_budget_wake(struct lc_service *s);
/* s's score now: its wakes, each halved every standby-half-life wakes. */
double		 lc_budget_score(const struct lc_service *s);
/*
 * The reaper's tick: at most one move of the budget (a standby made for
 * the service ranked highest without one, or one taken from the lowest
 * holder for it), never while a boot or a budget standby is under way.
 */
void		 lc_budget_tick(struct lifecycle *);
/* in leaves its service's pool: the budget's count follows. */
void		 lc_budget_unlink(struct instance *in);

/* lc_probe.c */
int		 lc_probe_start(struct instance *);
void		 lc_probe_stop(struct instance *);

/* lc_reconcile.c */
/* This lifecycle's owner, which marks its domains. */
void		 lc_owner(struct vm_owner *, struct store *,
		    const char *state_path);
/*
 * Start-up: the store's live rows against what each host up has, in
 * the domains its sync job listed; rows of a host that is down are
 * closed as lost (its domains are looked at when it comes up).
 */
int		 lc_reconcile(struct lifecycle *, char *err, size_t errlen);
/*
 * A host (re)connected and its domains are listed (doms, n): drop the
 * instances there whose domain vanished, adopt a running domain of a
 * lost instance whose service has none active, destroy the rest.
 */
void		 lc_resync(struct lc_host *h, const struct vm_domain *doms,
		    size_t n);
/* Destroy a domain on h that no instance stands for, in the background. */
void		 lc_destroy_domain(struct lc_host *h, const char *domain);

#endif
