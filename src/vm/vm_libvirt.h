/*
 * vm_libvirt.h - what the files of the libvirt backend share; not for
 * other modules (vm.h is the backend's interface).
 *
 *   vm_libvirt.c        the ops table; open and close; the completion
 *                       mailbox; time, condition and error helpers
 *   vm_libvirt_event.c  libvirt's event thread, its lifecycle callback,
 *                       and the stops we asked for
 *   vm_libvirt_conn.c   the connection: open, close callback, reconnect
 *                       with back-off, keepalive, references to it
 *   vm_libvirt_lane.c   the lanes: worker threads, their queues, a job
 *                       run and retried across a reconnect
 *   vm_libvirt_op.c     one job's libvirt calls, and domain states
 *   vm_libvirt_list.c   our metadata, and the listing of our domains
 *   vm_libvirt_net.c    the isolated network guests attach to
 *
 * Threads, and what each may touch:
 *   main   submit(), list(), ensure_network(), close(); runs done() and
 *          the callbacks as the completion mailbox delivers them.  The
 *          only thread that calls libevent.
 *   start  runs VM_CREATE, VM_CREATE_PAUSED, VM_DEFINE_START, VM_RESUME,
 *          VM_RESTORE, VM_STATE: what a waiting client needs, and VM_LIST
 *          (a host back: its network, then its domains).  One
 *          thread per CPU (2 to START_THREADS_MAX) take jobs from one
 *          queue: a create is ~230 ms of CPU, most of it in libvirtd
 *          and QEMU, so distinct services start in parallel (one thread
 *          reached 0.66 x the starts/s of libvirt alone, bench/rate.sh).
 *          The lifecycle never has two jobs of one instance in flight.
 *   stop   runs VM_SUSPEND, VM_SAVE, VM_SHUTDOWN, VM_DESTROY (~200 ms
 *          each, see docs), so they never delay a start, and
 *          VM_HOST_INFO.  When idle and
 *          the connection is down, it also drives the reconnect, so that
 *          on_reconnect comes even when no job is waiting.
 *   event  virEventRunDefaultImpl(): libvirt's own event loop, which
 *          runs the lifecycle and close callbacks.  One per process.
 *
 * Everything crosses back to main through one mailbox (mailbox.h), in
 * the order it was posted: a finished job, a lifecycle event, the
 * reconnect notice.  Events and the notice are wrapped in a struct
 * vm_item whose done() is item_done(), so a finished job costs no
 * allocation.
 *
 * Locks: lane.mtx may be held while taking conn_mtx; cb_mtx and the
 * mailbox's lock are leaves.  No lock is held across a libvirt call.
 */
#ifndef SUMMON_VM_LIBVIRT_H
#define SUMMON_VM_LIBVIRT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libvirt/libvirt.h>

#include "mailbox.h"
#include "vm.h"

#define CONN_WAIT_US	(60ULL * 1000000)	/* a job waits this long */
#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	5000

enum { LANE_START, LANE_STOP, NLANES };
#define START_THREADS_MAX 8

struct lane {
	struct vm	*vm;
	pthread_t	 threads[START_THREADS_MAX];
	int		 nthreads;	/* the stop lane has one */
	int		 started;	/* threads running */
	pthread_mutex_t	 mtx;
	pthread_cond_t	 cv;
	struct vm_job	*head, *tail;
	bool		 stop;
};

/* A lifecycle event or a connection notice, posted like a job. */
enum item_kind { ITEM_EVENT, ITEM_RECONNECT, ITEM_DOWN };

struct vm_item {
	struct vm_job	 job;		/* first: item_done() casts */
	struct vm	*vm;
	enum item_kind	 kind;
	enum vm_event	 ev;
};

/* A domain we are stopping on purpose: its DESTROYED is no crash. */
struct vm_asked {
	char		 name[128];
	uint64_t	 until_us;	/* 0 while the call runs */
	struct vm_asked	*next;
};

struct vm {
	struct mailbox	*to_main;	/* jobs, events, reconnects */
	char		*uri;
	struct vm_callbacks cb;
	bool		 evloop_held;

	struct lane	 lanes[NLANES];

	/* Guards cb_live and asked. */
	pthread_mutex_t	 cb_mtx;
	pthread_cond_t	 cb_cv;
	int		 cb_live;	/* event callbacks libvirt still holds */
	struct vm_asked	*asked;

	/* The connection. */
	pthread_mutex_t	 conn_mtx;
	pthread_cond_t	 conn_cv;
	virConnectPtr	 conn;		/* NULL while reconnecting */
	int		 ev_id;		/* lifecycle callback id on conn */
	bool		 up;
	bool		 busy;		/* one thread reconnects at a time */
	bool		 quit;
	uint64_t	 next_try_us;
	uint64_t	 backoff_ms;

	bool		 closing;
	bool		 in_drain;	/* a done() runs */
	bool		 free_pending;	/* and closed the backend */
};

/* vm_libvirt.c */
/* CLOCK_MONOTONIC in microseconds, for waits and back-off. */
uint64_t	 now_us(void);
/* pthread_cond_timedwait until us (now_us()); cv made by cond_init_mono. */
void		 cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mtx,
		    uint64_t us);
/* A condition variable on CLOCK_MONOTONIC.  0 or -1. */
int		 cond_init_mono(pthread_cond_t *cv);
/* Sleep ms milliseconds, through signals. */
void		 sleep_ms(unsigned ms);
/* libvirt's last error on this thread, into err; returns its code. */
int		 lv_error(char *err, size_t errlen);
/*
 * Post to main a lifecycle event ev of domain (ITEM_EVENT), or the
 * notice that the connection is back (ITEM_RECONNECT) or lost
 * (ITEM_DOWN).  From any thread; one is lost, with a warning, only when
 * out of memory.
 */
void		 item_post(struct vm *, enum item_kind, const char *domain,
		    enum vm_event ev);

/* vm_libvirt_event.c */
/*
 * Make sure libvirt's event loop is registered and its thread runs, and
 * count one more user (evloop_release() counts one less; the last one
 * stops the thread).  -1 with err.
 */
int		 evloop_hold(char *err, size_t errlen);
void		 evloop_release(void);
/* A stop of name is about to be asked for: its DESTROYED is no crash. */
void		 asked_add(struct vm *, const char *name);
/* The call returned: the entry lives ASKED_TTL_US from now. */
void		 asked_arm(struct vm *, const char *name);
/* libvirt's lifecycle callback (arg: the vm) and its free callback. */
int		 on_lifecycle(virConnectPtr, virDomainPtr, int event,
		    int detail, void *arg);
void		 on_lifecycle_free(void *arg);

/* vm_libvirt_conn.c */
/*
 * Open vm->uri with the close and lifecycle callbacks and keepalive;
 * the lifecycle callback's id into *ev_id.  NULL with err.
 */
virConnectPtr	 conn_open(struct vm *, int *ev_id, char *err, size_t errlen);
/* Deregister the callbacks of c and close it. */
void		 conn_drop(virConnectPtr c, int ev_id);
/*
 * One reconnect attempt, if one is due and no other thread is at it.
 * Called with no lock held.
 */
void		 conn_try(struct vm *);
/*
 * A reference to the connection, waiting for a reconnect until deadline
 * (and helping with it).  NULL with err when shutting down or too late.
 */
virConnectPtr	 conn_get(struct vm *, uint64_t deadline, char *err,
		    size_t errlen);
/* A reference to the connection if it is up now; NULL with err. */
virConnectPtr	 conn_ref(struct vm *, char *err, size_t errlen);
/* Whether a call that failed with code failed because c is gone. */
bool		 conn_lost(virConnectPtr c, int code);
/* Mark c down if it is still our connection, and wake the stop lane. */
void		 conn_mark_down(struct vm *, virConnectPtr c, const char *why);
/* vm.h's connected(). */
bool		 lvm_connected(struct vm *);

/* vm_libvirt_lane.c */
/* A lane's thread (arg: the struct lane): runs its jobs, posts them. */
void		*lane_main(void *arg);
/* Wake the idle stop lane: a reconnect may be due (see lane_main). */
void		 stop_lane_poke(struct vm *);
/* vm.h's submit(). */
void		 lvm_submit(struct vm *, struct vm_job *);

/* vm_libvirt_op.c */
/*
 * Run j's libvirt calls on c, filling j's results; retry: c replaces a
 * connection lost during an earlier try.  0, or -1 with j->err and
 * libvirt's error code in *code.
 */
int		 op_run(struct vm *, virConnectPtr c, struct vm_job *j,
		    int *code, bool retry);
/* The state of d (VM_DS_NONE once it is gone). */
enum vm_dstate	 dom_state(virDomainPtr d);

/* vm_libvirt_list.c */
/* Our domains on c (VM_LIST, list()); NULL with err. */
struct vm_domain *list_on(virConnectPtr c, size_t *n, char *err,
		    size_t errlen);
/* vm.h's list(). */
struct vm_domain *lvm_list(struct vm *, size_t *n, char *err,
		    size_t errlen);

/* vm_libvirt_net.c */
/* Define and start n on c unless it is there (VM_LIST); 0 or -1 + err. */
int		 network_on(virConnectPtr c, const struct vm_network *n,
		    char *err, size_t errlen);
/* vm.h's ensure_network(). */
int		 lvm_ensure_network(struct vm *, const struct vm_network *n,
		    char *err, size_t errlen);

#endif
