/*
 * vm_libvirt.c - the libvirt backend of vm.h.
 *
 * Threads, and what each may touch:
 *   main   submit(), list(), ensure_network(), close(); runs done() and
 *          the callbacks as the completion mailbox delivers them.  The
 *          only thread that calls libevent.
 *   start  runs VM_CREATE, VM_CREATE_PAUSED, VM_DEFINE_START, VM_RESUME,
 *          VM_RESTORE, VM_STATE: what a waiting client needs.  One
 *          thread per CPU (2 to START_THREADS_MAX) take jobs from one
 *          queue: a create is ~230 ms of CPU, most of it in libvirtd
 *          and QEMU, so distinct services start in parallel (one thread
 *          reached 0.66 x the starts/s of libvirt alone, bench/rate.sh).
 *          The lifecycle never has two jobs of one instance in flight.
 *   stop   runs VM_SUSPEND, VM_SAVE, VM_SHUTDOWN, VM_DESTROY (~200 ms
 *          each, see docs), so they never delay a start.  When idle and
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
 *
 * What libvirt reports (event / detail, measured with qemu:///system,
 * libvirt 9.0, QEMU 7.2 TCG, microvm), and what on_event gets:
 *   create                       RESUMED/UNPAUSED, STARTED/BOOTED
 *                                -> VM_EV_RESUMED, VM_EV_STARTED
 *   create paused                STARTED/BOOTED, SUSPENDED/PAUSED
 *   suspend, resume              SUSPENDED/PAUSED, RESUMED/UNPAUSED
 *   virDomainDestroy             SHUTDOWN/HOST (ignored), then
 *                                STOPPED/DESTROYED -> VM_EV_STOPPED when
 *                                we asked, VM_EV_CRASHED when someone
 *                                else did (virsh destroy)
 *   managed save                 SUSPENDED/PAUSED, STOPPED/SAVED
 *                                -> VM_EV_SUSPENDED, VM_EV_STOPPED
 *   restore                      STARTED/RESTORED, RESUMED/RESTORED
 *   QEMU killed with SIGKILL     STOPPED/FAILED -> VM_EV_CRASHED (the
 *                                monitor closed without QEMU's SHUTDOWN
 *                                event; state shut off, reason crashed)
 *   QEMU killed with SIGTERM     STOPPED/SHUTDOWN -> VM_EV_SHUTDOWN: QEMU
 *                                reports a host-signal shutdown, which
 *                                libvirt does not tell from the guest
 *                                powering off
 *   guest panic, on_crash=destroy  STOPPED/CRASHED -> VM_EV_CRASHED
 *                                (from libvirt's documentation; not seen)
 * A libvirtd killed under us: the close callback fires at once (end of
 * file); reconnect attempts follow at 0, 0.1, 0.2, 0.4 ... 5 s.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "mailbox.h"
#include "vm.h"
#include "vm_xml.h"

#define DOMAIN_PREFIX	"summon-"
#define CONN_WAIT_US	(60ULL * 1000000)	/* a job waits this long */
#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	5000
#define SHUTDOWN_POLL_MS 50
/* How long after our destroy its STOPPED/DESTROYED event is expected. */
#define ASKED_TTL_US	(10ULL * 1000000)

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

/* A lifecycle event or a reconnect notice, posted like a job. */
struct vm_item {
	struct vm_job	 job;		/* first: item_done() casts */
	struct vm	*vm;
	bool		 reconnect;
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

static void	 item_done(struct vm_job *);

/*
 * Waits and back-off use CLOCK_MONOTONIC directly, not clock_mono_us():
 * a test that freezes the replaceable clock must not turn a 50 ms poll
 * into a spin or a 60 s deadline into forever.  The job timing fields
 * do use clock_mono_us().
 */
static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static void
cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mtx, uint64_t us)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(us / 1000000);
	ts.tv_nsec = (long)(us % 1000000) * 1000;
	pthread_cond_timedwait(cv, mtx, &ts);
}

static int
cond_init_mono(pthread_cond_t *cv)
{
	pthread_condattr_t a;
	int rc;

	if (pthread_condattr_init(&a) != 0)
		return -1;
	rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC) == 0 &&
	    pthread_cond_init(cv, &a) == 0 ? 0 : -1;
	pthread_condattr_destroy(&a);
	return rc;
}

static void
sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* libvirt's last error on this thread, into err; returns its code. */
static int
lv_error(char *err, size_t errlen)
{
	virErrorPtr e = virGetLastError();

	snprintf(err, errlen, "%s", virGetLastErrorMessage());
	return e != NULL ? e->code : VIR_ERR_OK;
}

/*
 * libvirt's event loop: registered once per process, before the first
 * connection (libvirt requires it for events and keepalive), and run by
 * one thread that lives while any struct vm is open.  These statics
 * exist because libvirt's default event implementation is itself
 * process-wide.
 */
static pthread_once_t	 evloop_once = PTHREAD_ONCE_INIT;
static int		 evloop_registered;
static pthread_mutex_t	 evloop_mtx = PTHREAD_MUTEX_INITIALIZER;
static int		 evloop_users;
static pthread_t	 evloop_thread;
static atomic_bool	 evloop_quit;

/* libvirt prints every error to stderr unless told otherwise. */
static void
lv_quiet(void *arg, virErrorPtr e)
{
}

static void
evloop_register(void)
{
	/* We copy each message where it is wanted (job->err, err). */
	virSetErrorFunc(NULL, lv_quiet);
	evloop_registered = virEventRegisterDefaultImpl() == 0;
}

static void *
evloop_main(void *arg)
{
	while (!atomic_load(&evloop_quit))
		if (virEventRunDefaultImpl() == -1) {
			log_warnx("libvirt event loop: %s",
			    virGetLastErrorMessage());
			sleep_ms(10);	/* never spin on a broken loop */
		}
	return NULL;
}

/* A zero timeout makes virEventRunDefaultImpl return: how we stop it. */
static void
evloop_wake(int timer, void *arg)
{
	virEventRemoveTimeout(timer);
}

static int
evloop_hold(char *err, size_t errlen)
{
	int rc = 0;

	pthread_once(&evloop_once, evloop_register);
	if (!evloop_registered) {
		snprintf(err, errlen, "virEventRegisterDefaultImpl failed");
		return -1;
	}
	pthread_mutex_lock(&evloop_mtx);
	if (evloop_users == 0) {
		atomic_store(&evloop_quit, false);
		if (pthread_create(&evloop_thread, NULL, evloop_main,
		    NULL) != 0) {
			snprintf(err, errlen, "cannot start the libvirt "
			    "event thread");
			rc = -1;
		}
	}
	if (rc == 0)
		evloop_users++;
	pthread_mutex_unlock(&evloop_mtx);
	return rc;
}

static void
evloop_release(void)
{
	pthread_mutex_lock(&evloop_mtx);
	if (--evloop_users == 0) {
		atomic_store(&evloop_quit, true);
		if (virEventAddTimeout(0, evloop_wake, NULL, NULL) == -1) {
			log_warnx("cannot wake the libvirt event thread; "
			    "leaving it");
			pthread_detach(evloop_thread);
		} else
			pthread_join(evloop_thread, NULL);
	}
	pthread_mutex_unlock(&evloop_mtx);
}

/*
 * The completion mailbox.
 */
static void
item_post(struct vm *vm, const char *domain, bool reconnect,
    enum vm_event ev)
{
	struct vm_item *it;

	if ((it = calloc(1, sizeof(*it))) == NULL) {
		log_warnx("%s: out of memory, event lost", domain);
		return;
	}
	snprintf(it->job.domain, sizeof(it->job.domain), "%s", domain);
	it->job.done = item_done;
	it->vm = vm;
	it->reconnect = reconnect;
	it->ev = ev;
	mailbox_post(vm->to_main, &it->job.back);
}

static void
item_done(struct vm_job *j)
{
	struct vm_item *it = (struct vm_item *)j;
	struct vm *vm = it->vm;

	if (it->reconnect) {
		if (vm->cb.on_reconnect != NULL)
			vm->cb.on_reconnect(vm->cb.arg);
	} else if (vm->cb.on_event != NULL)
		vm->cb.on_event(vm->cb.arg, it->job.domain, it->ev);
	free(it);
}

static void vm_free(struct vm *);

static void
deliver(void *arg, struct mailbox_item *mi)
{
	struct vm *vm = arg;
	struct vm_job *j = MAILBOX_ENTRY(mi, struct vm_job, back);

	/* A done() may close the backend: then free it here. */
	vm->in_drain = true;
	j->done(j);
	vm->in_drain = false;
	if (vm->free_pending)
		vm_free(vm);
}

/* Closing: finished jobs keep their results; events no longer matter. */
static void
drain(void *arg, struct mailbox_item *mi)
{
	struct vm_job *j = MAILBOX_ENTRY(mi, struct vm_job, back);

	if (j->done == item_done)
		free(j);
	else
		j->done(j);
}

/*
 * Stops we asked for.  The STOPPED/DESTROYED event of our own destroy
 * arrives 1-5 ms after the call, on the event thread; the entry lives
 * ASKED_TTL_US past the call so that the event finds it.
 */
static void
asked_purge(struct vm *vm, uint64_t now)
{
	struct vm_asked **pp, *a;

	for (pp = &vm->asked; (a = *pp) != NULL; ) {
		if (a->until_us != 0 && a->until_us < now) {
			*pp = a->next;
			free(a);
		} else
			pp = &a->next;
	}
}

static void
asked_add(struct vm *vm, const char *name)
{
	struct vm_asked *a;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		return;		/* at worst our destroy reads as a crash */
	snprintf(a->name, sizeof(a->name), "%s", name);
	pthread_mutex_lock(&vm->cb_mtx);
	asked_purge(vm, now_us());
	a->next = vm->asked;
	vm->asked = a;
	pthread_mutex_unlock(&vm->cb_mtx);
}

/* The call returned: start the entry's clock. */
static void
asked_arm(struct vm *vm, const char *name)
{
	struct vm_asked *a;

	pthread_mutex_lock(&vm->cb_mtx);
	for (a = vm->asked; a != NULL; a = a->next)
		if (a->until_us == 0 && strcmp(a->name, name) == 0)
			a->until_us = now_us() + ASKED_TTL_US;
	pthread_mutex_unlock(&vm->cb_mtx);
}

/* Whether a stop of name was asked for; consumes the entry. */
static bool
asked_take(struct vm *vm, const char *name)
{
	struct vm_asked **pp, *a;
	bool found = false;

	pthread_mutex_lock(&vm->cb_mtx);
	asked_purge(vm, now_us());
	for (pp = &vm->asked; (a = *pp) != NULL; pp = &a->next)
		if (strcmp(a->name, name) == 0) {
			*pp = a->next;
			free(a);
			found = true;
			break;
		}
	pthread_mutex_unlock(&vm->cb_mtx);
	return found;
}

/*
 * libvirt callbacks, on the event thread.
 */
static int
on_lifecycle(virConnectPtr c, virDomainPtr dom, int event, int detail,
    void *arg)
{
	struct vm *vm = arg;
	const char *name = virDomainGetName(dom);	/* no RPC */
	enum vm_event ev;

	if (name == NULL || strncmp(name, DOMAIN_PREFIX,
	    sizeof(DOMAIN_PREFIX) - 1) != 0)
		return 0;
	log_debug("%s: libvirt event %d detail %d", name, event, detail);
	switch (event) {
	case VIR_DOMAIN_EVENT_STARTED:
		ev = VM_EV_STARTED;
		break;
	case VIR_DOMAIN_EVENT_SUSPENDED:
		ev = VM_EV_SUSPENDED;
		break;
	case VIR_DOMAIN_EVENT_RESUMED:
		ev = VM_EV_RESUMED;
		break;
	case VIR_DOMAIN_EVENT_CRASHED:	/* guest panic, on_crash=preserve */
		ev = VM_EV_CRASHED;
		break;
	case VIR_DOMAIN_EVENT_STOPPED:
		switch (detail) {
		case VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN:
			ev = VM_EV_SHUTDOWN;
			break;
		case VIR_DOMAIN_EVENT_STOPPED_CRASHED:
		case VIR_DOMAIN_EVENT_STOPPED_FAILED:	/* QEMU killed */
			ev = VM_EV_CRASHED;
			break;
		case VIR_DOMAIN_EVENT_STOPPED_DESTROYED:
			/* Someone else's virsh destroy is a crash to us. */
			ev = asked_take(vm, name) ? VM_EV_STOPPED :
			    VM_EV_CRASHED;
			break;
		default:	/* saved, migrated, from snapshot */
			ev = VM_EV_STOPPED;
			break;
		}
		break;
	default:		/* defined, undefined, shutdown begun, PM */
		return 0;
	}
	item_post(vm, name, false, ev);
	return 0;
}

/* libvirt drops our lifecycle callback: it will not run again. */
static void
on_lifecycle_free(void *arg)
{
	struct vm *vm = arg;

	pthread_mutex_lock(&vm->cb_mtx);
	vm->cb_live--;
	pthread_cond_broadcast(&vm->cb_cv);
	pthread_mutex_unlock(&vm->cb_mtx);
}

/* Wake the idle stop lane: a reconnect may be due (see lane_main). */
static void
stop_lane_poke(struct vm *vm)
{
	struct lane *l = &vm->lanes[LANE_STOP];

	pthread_mutex_lock(&l->mtx);
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mtx);
}

/* Mark c down if it is still our connection, and wake the stop lane. */
static void
conn_mark_down(struct vm *vm, virConnectPtr c, const char *why)
{
	bool was_up = false;

	pthread_mutex_lock(&vm->conn_mtx);
	if (vm->conn == c && vm->up) {
		vm->up = false;
		vm->next_try_us = now_us();
		was_up = true;
	}
	pthread_cond_broadcast(&vm->conn_cv);
	pthread_mutex_unlock(&vm->conn_mtx);
	if (!was_up)
		return;
	log_warnx("connection to %s lost (%s)", vm->uri, why);
	stop_lane_poke(vm);
}

static void
on_close(virConnectPtr c, int reason, void *arg)
{
	static const char *const why[] = { "error", "end of file",
	    "keepalive timeout", "client closed" };

	conn_mark_down(arg, c, reason >= 0 && reason < 4 ? why[reason] :
	    "closed");
}

/*
 * The connection.
 */
static virConnectPtr
conn_open(struct vm *vm, int *ev_id, char *err, size_t errlen)
{
	virConnectPtr c;

	if ((c = virConnectOpen(vm->uri)) == NULL) {
		lv_error(err, errlen);
		return NULL;
	}
	/* Unregistering is synchronous with a running call: no freecb. */
	if (virConnectRegisterCloseCallback(c, on_close, vm, NULL) == -1) {
		lv_error(err, errlen);
		goto fail;
	}
	pthread_mutex_lock(&vm->cb_mtx);
	vm->cb_live++;
	pthread_mutex_unlock(&vm->cb_mtx);
	*ev_id = virConnectDomainEventRegisterAny(c, NULL,
	    VIR_DOMAIN_EVENT_ID_LIFECYCLE,
	    VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle), vm, on_lifecycle_free);
	if (*ev_id == -1) {
		lv_error(err, errlen);
		pthread_mutex_lock(&vm->cb_mtx);
		vm->cb_live--;
		pthread_mutex_unlock(&vm->cb_mtx);
		virConnectUnregisterCloseCallback(c, on_close);
		goto fail;
	}
	/* Find a dead libvirtd within ~20 s even when idle. */
	if (virConnectSetKeepAlive(c, 5, 3) == -1)
		log_debug("keepalive: %s", virGetLastErrorMessage());
	return c;
fail:
	virConnectClose(c);
	return NULL;
}

static void
conn_drop(virConnectPtr c, int ev_id)
{
	/* On a dead connection these fail remotely but drop locally. */
	if (virConnectDomainEventDeregisterAny(c, ev_id) == -1)
		log_debug("deregister: %s", virGetLastErrorMessage());
	virConnectUnregisterCloseCallback(c, on_close);
	virConnectClose(c);
}

/*
 * One reconnect attempt, if one is due and no other thread is at it.
 * Called with no lock held.
 */
static void
conn_try(struct vm *vm)
{
	virConnectPtr old, c;
	char err[512];
	int old_id, id = -1;
	uint64_t ms;

	pthread_mutex_lock(&vm->conn_mtx);
	if (vm->up || vm->busy || vm->quit || now_us() < vm->next_try_us) {
		pthread_mutex_unlock(&vm->conn_mtx);
		return;
	}
	vm->busy = true;
	old = vm->conn;
	old_id = vm->ev_id;
	vm->conn = NULL;
	pthread_mutex_unlock(&vm->conn_mtx);

	if (old != NULL)
		conn_drop(old, old_id);
	c = conn_open(vm, &id, err, sizeof(err));

	pthread_mutex_lock(&vm->conn_mtx);
	vm->busy = false;
	if (c != NULL) {
		vm->conn = c;
		vm->ev_id = id;
		vm->up = true;
		vm->backoff_ms = BACKOFF_MIN_MS;
	} else {
		ms = vm->backoff_ms;
		vm->next_try_us = now_us() + ms * 1000;
		vm->backoff_ms = ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
		    ms * 2;
	}
	pthread_cond_broadcast(&vm->conn_cv);
	pthread_mutex_unlock(&vm->conn_mtx);

	if (c != NULL) {
		log_info("reconnected to %s", vm->uri);
		item_post(vm, "", true, VM_EV_STARTED);
	} else {
		log_debug("reconnect to %s: %s", vm->uri, err);
		/* A job's thread may give up waiting: keep the stop lane on it. */
		stop_lane_poke(vm);
	}
}

/*
 * A reference to the connection, waiting for a reconnect until deadline
 * (and helping with it).  NULL with err when shutting down or too late.
 */
static virConnectPtr
conn_get(struct vm *vm, uint64_t deadline, char *err, size_t errlen)
{
	virConnectPtr c;
	uint64_t now, until;

	pthread_mutex_lock(&vm->conn_mtx);
	for (;;) {
		if (vm->quit) {
			snprintf(err, errlen, "shutting down");
			break;
		}
		if (vm->up) {
			c = vm->conn;
			virConnectRef(c);
			pthread_mutex_unlock(&vm->conn_mtx);
			return c;
		}
		if ((now = now_us()) >= deadline) {
			snprintf(err, errlen, "no connection to %s for %llu s",
			    vm->uri, CONN_WAIT_US / 1000000);
			break;
		}
		if (!vm->busy && now >= vm->next_try_us) {
			pthread_mutex_unlock(&vm->conn_mtx);
			conn_try(vm);
			pthread_mutex_lock(&vm->conn_mtx);
			continue;
		}
		until = !vm->busy && vm->next_try_us < deadline ?
		    vm->next_try_us : deadline;
		cond_wait_until(&vm->conn_cv, &vm->conn_mtx, until);
	}
	pthread_mutex_unlock(&vm->conn_mtx);
	return NULL;
}

/* Whether a call that failed with code failed because c is gone. */
static bool
conn_lost(virConnectPtr c, int code)
{
	if (code != VIR_ERR_SYSTEM_ERROR && code != VIR_ERR_NO_CONNECT &&
	    code != VIR_ERR_INTERNAL_ERROR && code != VIR_ERR_RPC)
		return false;
	return virConnectIsAlive(c) != 1;
}

/*
 * Jobs, on the lane threads.
 */
static enum vm_dstate
dom_state(virDomainPtr d)
{
	int st, reason;

	if (virDomainGetState(d, &st, &reason, 0) == -1)
		return virGetLastErrorCode() == VIR_ERR_NO_DOMAIN ?
		    VM_DS_NONE : VM_DS_OTHER;
	switch (st) {
	case VIR_DOMAIN_RUNNING:
	case VIR_DOMAIN_BLOCKED:	/* running, waiting on a resource */
		return VM_DS_RUNNING;
	case VIR_DOMAIN_PAUSED:
		return VM_DS_PAUSED;
	case VIR_DOMAIN_SHUTOFF:
		return virDomainHasManagedSaveImage(d, 0) == 1 ?
		    VM_DS_SAVED : VM_DS_SHUTOFF;
	default:
		return VM_DS_OTHER;
	}
}

static enum vm_dstate
name_state(virConnectPtr c, const char *name)
{
	virDomainPtr d;
	enum vm_dstate st;

	if ((d = virDomainLookupByName(c, name)) == NULL)
		return virGetLastErrorCode() == VIR_ERR_NO_DOMAIN ?
		    VM_DS_NONE : VM_DS_OTHER;
	st = dom_state(d);
	virDomainFree(d);
	return st;
}

/* The state a successful op leaves; VM_DS_OTHER: read it. */
static enum vm_dstate
op_state(enum vm_op op)
{
	switch (op) {
	case VM_CREATE:
	case VM_DEFINE_START:
	case VM_RESUME:
	case VM_RESTORE:
		return VM_DS_RUNNING;
	case VM_CREATE_PAUSED:
	case VM_SUSPEND:
		return VM_DS_PAUSED;
	case VM_SAVE:
		return VM_DS_SAVED;
	default:
		return VM_DS_OTHER;
	}
}

static int
job_fail(struct vm_job *j, int *code)
{
	*code = lv_error(j->err, sizeof(j->err));
	j->rc = -1;
	return -1;
}

/* An already-gone domain, or one already shut off, is stopped. */
static bool
stopped_anyway(int code)
{
	return code == VIR_ERR_NO_DOMAIN || code == VIR_ERR_OPERATION_INVALID;
}

/* VM_DESTROY, and the end of VM_SHUTDOWN. */
static int
op_destroy(struct vm *vm, virDomainPtr d, struct vm_job *j, bool persistent,
    int *code)
{
	char err[sizeof(j->err)];
	int c;

	if (virDomainIsActive(d) != 0 && virDomainDestroy(d) == -1 &&
	    !stopped_anyway(c = lv_error(err, sizeof(err)))) {
		snprintf(j->err, sizeof(j->err), "%s", err);
		*code = c;
		j->rc = -1;
		return -1;
	}
	asked_arm(vm, j->domain);
	if (persistent && virDomainUndefineFlags(d,
	    VIR_DOMAIN_UNDEFINE_MANAGED_SAVE) == -1 &&
	    (c = lv_error(err, sizeof(err))) != VIR_ERR_NO_DOMAIN) {
		snprintf(j->err, sizeof(j->err), "%s", err);
		*code = c;
		j->rc = -1;
		return -1;
	}
	return 0;
}

/*
 * VM_SHUTDOWN: ask, poll, then destroy.  A microvm guest has no ACPI, so
 * the destroy after shutdown_ms is the usual ending there.
 */
static int
op_shutdown(struct vm *vm, virDomainPtr d, struct vm_job *j, bool persistent,
    int *code)
{
	uint64_t deadline;
	int st, reason;

	if (virDomainShutdown(d) == 0) {
		deadline = now_us() + j->shutdown_ms * 1000;
		while (now_us() < deadline) {
			if (virDomainGetState(d, &st, &reason, 0) == -1 ||
			    st == VIR_DOMAIN_SHUTOFF)
				break;
			sleep_ms(SHUTDOWN_POLL_MS);
		}
	} else
		log_debug("%s: shutdown: %s", j->domain,
		    virGetLastErrorMessage());
	return op_destroy(vm, d, j, persistent, code);
}

/*
 * KVM when /dev/kvm is read-write for us and hardware virtualisation is
 * behind it (kvm_intel or kvm_amd).  A
 * /dev/kvm made in software (kvm_pvm, on hosts that are VMs without
 * nested virtualisation) runs only guest kernels built for it: the
 * reference image stops at its first interrupt there, so TCG it is.
 * We run as root, so this does not prove that QEMU's user
 * (libvirt-qemu) can open /dev/kvm; without udev it may be 0600 root
 * (scripts/setup fixes that), and a create then fails loudly, which
 * beats silently running TCG.  scripts/accel makes the same choice for
 * the tests and benchmarks.
 */
static bool
kvm_usable(void)
{
	return access("/dev/kvm", R_OK | W_OK) == 0 &&
	    (access("/sys/module/kvm_intel", F_OK) == 0 ||
	    access("/sys/module/kvm_amd", F_OK) == 0);
}

static int
op_run(struct vm *vm, virConnectPtr c, struct vm_job *j, int *code,
    bool retry)
{
	virDomainPtr d = NULL;
	bool persistent = false, stopping;
	char *xml = NULL;
	int rc = -1;

	*code = VIR_ERR_OK;
	j->rc = 0;
	j->err[0] = '\0';
	switch (j->op) {
	case VM_CREATE:
	case VM_CREATE_PAUSED:
	case VM_DEFINE_START:
		if (j->guest == NULL) {
			snprintf(j->err, sizeof(j->err), "no guest to create");
			j->rc = -1;
			goto out;
		}
		if ((xml = vm_domain_xml(j->guest, kvm_usable(), j->err,
		    sizeof(j->err))) == NULL) {
			j->rc = -1;
			goto out;
		}
		if (j->op == VM_DEFINE_START)
			d = virDomainDefineXML(c, xml);
		else
			d = virDomainCreateXML(c, xml,
			    j->op == VM_CREATE_PAUSED ?
			    VIR_DOMAIN_START_PAUSED : 0);
		/*
		 * Retried after libvirtd went away: the first call may have
		 * taken effect.  Our names are never reused, so a domain of
		 * this name is the one we asked for.
		 */
		if (d == NULL && retry &&
		    (d = virDomainLookupByName(c, j->domain)) != NULL) {
			log_info("%s: created before the connection was lost",
			    j->domain);
			if (j->op == VM_DEFINE_START &&
			    virDomainIsActive(d) != 1 && virDomainCreate(d) == -1)
				job_fail(j, code);
			if (virDomainGetUUIDString(d, j->uuid) == -1)
				j->uuid[0] = '\0';
			break;
		}
		if (d == NULL) {
			job_fail(j, code);
			goto out;
		}
		if (virDomainGetUUIDString(d, j->uuid) == -1)
			j->uuid[0] = '\0';
		if (j->op == VM_DEFINE_START && virDomainCreate(d) == -1) {
			job_fail(j, code);
			/* Leave nothing behind that the caller does not know. */
			virDomainUndefineFlags(d,
			    VIR_DOMAIN_UNDEFINE_MANAGED_SAVE);
			goto out;
		}
		break;
	default:
		if ((d = virDomainLookupByName(c, j->domain)) == NULL) {
			if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN &&
			    (j->op == VM_STATE || j->op == VM_DESTROY ||
			    j->op == VM_SHUTDOWN))
				break;		/* gone: that is fine */
			job_fail(j, code);
			goto out;
		}
		stopping = j->op == VM_DESTROY || j->op == VM_SHUTDOWN;
		if (stopping) {
			persistent = virDomainIsPersistent(d) == 1;
			asked_add(vm, j->domain);
		}
		/*
		 * VM_RESTORE is virDomainCreate: libvirt restores the managed
		 * save image when there is one (and boots afresh otherwise).
		 */
		if ((j->op == VM_RESUME && virDomainResume(d) == -1) ||
		    (j->op == VM_SUSPEND && virDomainSuspend(d) == -1) ||
		    (j->op == VM_SAVE && virDomainManagedSave(d, 0) == -1) ||
		    (j->op == VM_RESTORE && virDomainCreate(d) == -1))
			job_fail(j, code);
		else if (j->op == VM_DESTROY)
			op_destroy(vm, d, j, persistent, code);
		else if (j->op == VM_SHUTDOWN)
			op_shutdown(vm, d, j, persistent, code);
		if (stopping && j->rc == -1)
			asked_arm(vm, j->domain);	/* expire it */
		break;
	}
	rc = j->rc;
out:
	/*
	 * The domain's state after every op, even a failed one: what a
	 * successful start or pause leaves is known, and reading it back
	 * would cost a waiting client two more round trips (~1.4 ms).
	 */
	j->state = rc == 0 ? op_state(j->op) : VM_DS_OTHER;
	if (j->state == VM_DS_OTHER)
		j->state = d != NULL ? dom_state(d) :
		    name_state(c, j->domain);
	if (d != NULL)
		virDomainFree(d);
	free(xml);
	return rc == 0 ? 0 : -1;
}

/*
 * Run j, reconnecting and retrying while libvirtd is away.  A call that
 * took effect just before the connection died is retried too: a create
 * then finds its domain already there and takes it (op_run), and a
 * destroy finds nothing, which is success.
 */
static void
job_run(struct vm *vm, struct vm_job *j)
{
	uint64_t deadline = now_us() + CONN_WAIT_US;
	virConnectPtr c;
	bool retry = false;
	int code;

	for (;;) {
		if ((c = conn_get(vm, deadline, j->err, sizeof(j->err))) ==
		    NULL) {
			j->rc = -1;
			j->state = VM_DS_OTHER;		/* unknown */
			return;
		}
		if (op_run(vm, c, j, &code, retry) == 0 ||
		    !conn_lost(c, code)) {
			virConnectClose(c);
			return;
		}
		conn_mark_down(vm, c, j->err);
		virConnectClose(c);
		log_info("%s: retrying after the connection loss", j->domain);
		retry = true;
	}
}

static void *
lane_main(void *arg)
{
	struct lane *l = arg;
	struct vm *vm = l->vm;
	struct vm_job *j;
	uint64_t when;
	bool due;

	for (;;) {
		pthread_mutex_lock(&l->mtx);
		while (l->head == NULL && !l->stop) {
			if (l != &vm->lanes[LANE_STOP]) {
				pthread_cond_wait(&l->cv, &l->mtx);
				continue;
			}
			/* Idle stop lane: reconnect without waiting for a job. */
			pthread_mutex_lock(&vm->conn_mtx);
			due = !vm->up && !vm->busy && !vm->quit;
			when = vm->next_try_us;
			pthread_mutex_unlock(&vm->conn_mtx);
			if (!due)
				pthread_cond_wait(&l->cv, &l->mtx);
			else if (now_us() < when)
				cond_wait_until(&l->cv, &l->mtx, when);
			else {
				pthread_mutex_unlock(&l->mtx);
				conn_try(vm);
				pthread_mutex_lock(&l->mtx);
			}
		}
		if (l->stop) {
			pthread_mutex_unlock(&l->mtx);
			return NULL;
		}
		j = l->head;
		if ((l->head = j->next) == NULL)
			l->tail = NULL;
		pthread_mutex_unlock(&l->mtx);

		j->started_us = clock_mono_us();
		job_run(vm, j);
		j->finished_us = clock_mono_us();
		mailbox_post(vm->to_main, &j->back);
	}
}

/*
 * The ops.
 */
static void
vm_free(struct vm *vm)
{
	struct vm_asked *a;
	int i;

	mailbox_free(vm->to_main, drain);
	for (i = 0; i < NLANES; i++) {
		pthread_mutex_destroy(&vm->lanes[i].mtx);
		pthread_cond_destroy(&vm->lanes[i].cv);
	}
	while ((a = vm->asked) != NULL) {
		vm->asked = a->next;
		free(a);
	}
	pthread_mutex_destroy(&vm->cb_mtx);
	pthread_cond_destroy(&vm->cb_cv);
	pthread_mutex_destroy(&vm->conn_mtx);
	pthread_cond_destroy(&vm->conn_cv);
	free(vm->uri);
	free(vm);
}

/* Wait (bounded) until libvirt has let go of our event callback. */
static bool
callbacks_gone(struct vm *vm)
{
	uint64_t deadline = now_us() + 2 * 1000000;
	bool gone;

	pthread_mutex_lock(&vm->cb_mtx);
	while (vm->cb_live > 0 && now_us() < deadline)
		cond_wait_until(&vm->cb_cv, &vm->cb_mtx, deadline);
	gone = vm->cb_live == 0;
	pthread_mutex_unlock(&vm->cb_mtx);
	return gone;
}

static void
lvm_close(struct vm *vm)
{
	struct vm_job *j, *failed = NULL, **tailp = &failed;
	virConnectPtr c;
	bool gone;
	int i;

	if (vm->closing)
		return;
	vm->closing = true;

	/* No new jobs; wake everyone; running calls finish. */
	pthread_mutex_lock(&vm->conn_mtx);
	vm->quit = true;
	pthread_cond_broadcast(&vm->conn_cv);
	pthread_mutex_unlock(&vm->conn_mtx);
	for (i = 0; i < NLANES; i++) {
		pthread_mutex_lock(&vm->lanes[i].mtx);
		vm->lanes[i].stop = true;
		pthread_cond_broadcast(&vm->lanes[i].cv);
		pthread_mutex_unlock(&vm->lanes[i].mtx);
	}
	for (i = 0; i < NLANES; i++) {
		while (vm->lanes[i].started > 0)
			pthread_join(vm->lanes[i].threads[--vm->lanes[i].started],
			    NULL);
		*tailp = vm->lanes[i].head;
		while (*tailp != NULL)
			tailp = &(*tailp)->next;
		vm->lanes[i].head = vm->lanes[i].tail = NULL;
	}

	/* No callback may run once the connection and the loop are gone. */
	pthread_mutex_lock(&vm->conn_mtx);
	c = vm->conn;
	vm->conn = NULL;
	vm->up = false;
	pthread_mutex_unlock(&vm->conn_mtx);
	if (c != NULL)
		conn_drop(c, vm->ev_id);
	gone = callbacks_gone(vm);
	if (vm->evloop_held)
		evloop_release();
	vm->evloop_held = false;

	/* Before the jobs that never ran, as they finished first. */
	if (vm->to_main != NULL)
		mailbox_close(vm->to_main, drain);
	while ((j = failed) != NULL) {
		failed = j->next;
		j->next = NULL;
		j->rc = -1;
		snprintf(j->err, sizeof(j->err), "shutting down");
		j->state = VM_DS_OTHER;
		j->finished_us = clock_mono_us();
		j->done(j);
	}
	if (!gone) {
		log_warnx("libvirt kept a callback; leaking the vm backend");
		return;
	}
	if (vm->in_drain)
		vm->free_pending = true;
	else
		vm_free(vm);
}

static struct vm *
lvm_open(struct event_base *base, const char *uri,
    const struct vm_callbacks *cb, char *err, size_t errlen)
{
	struct vm *vm;
	long ncpu;
	int i;

	if ((vm = calloc(1, sizeof(*vm))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	vm->cb = *cb;
	vm->backoff_ms = BACKOFF_MIN_MS;
	pthread_mutex_init(&vm->cb_mtx, NULL);
	pthread_mutex_init(&vm->conn_mtx, NULL);
	for (i = 0; i < NLANES; i++) {
		vm->lanes[i].vm = vm;
		vm->lanes[i].nthreads = 1;
		pthread_mutex_init(&vm->lanes[i].mtx, NULL);
	}
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	vm->lanes[LANE_START].nthreads = ncpu < 2 ? 2 :
	    ncpu > START_THREADS_MAX ? START_THREADS_MAX : (int)ncpu;
	if (cond_init_mono(&vm->cb_cv) == -1 ||
	    cond_init_mono(&vm->conn_cv) == -1 ||
	    cond_init_mono(&vm->lanes[LANE_START].cv) == -1 ||
	    cond_init_mono(&vm->lanes[LANE_STOP].cv) == -1) {
		snprintf(err, errlen, "pthread_cond_init failed");
		goto fail;
	}
	if ((vm->uri = strdup(uri)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	if ((vm->to_main = mailbox_new(base, deliver, vm)) == NULL) {
		snprintf(err, errlen, "completion mailbox: %s",
		    strerror(errno));
		goto fail;
	}
	if (evloop_hold(err, errlen) == -1)
		goto fail;
	vm->evloop_held = true;
	if ((vm->conn = conn_open(vm, &vm->ev_id, err, errlen)) == NULL)
		goto fail;
	vm->up = true;
	for (i = 0; i < NLANES; i++) {
		struct lane *l = &vm->lanes[i];

		while (l->started < l->nthreads) {
			if (pthread_create(&l->threads[l->started], NULL,
			    lane_main, l) != 0) {
				snprintf(err, errlen, "cannot start a vm worker");
				goto fail;
			}
			l->started++;
		}
	}
	log_debug("connected to %s", uri);
	return vm;
fail:
	/* Nothing was submitted: close only stops what was started. */
	lvm_close(vm);
	return NULL;
}

static void
lvm_submit(struct vm *vm, struct vm_job *j)
{
	struct lane *l;

	j->rc = 0;
	j->err[0] = '\0';
	j->uuid[0] = '\0';
	j->state = VM_DS_OTHER;
	j->queued_us = clock_mono_us();
	j->started_us = j->finished_us = 0;
	j->next = NULL;
	if (vm->closing) {
		/* From a done() that close() runs: still on the main loop. */
		j->rc = -1;
		snprintf(j->err, sizeof(j->err), "shutting down");
		j->done(j);
		return;
	}
	switch (j->op) {
	case VM_SUSPEND:
	case VM_SAVE:
	case VM_SHUTDOWN:
	case VM_DESTROY:
		l = &vm->lanes[LANE_STOP];
		break;
	default:
		l = &vm->lanes[LANE_START];
		break;
	}
	pthread_mutex_lock(&l->mtx);
	if (l->tail != NULL)
		l->tail->next = j;
	else
		l->head = j;
	l->tail = j;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mtx);
}

static virConnectPtr
conn_ref(struct vm *vm, char *err, size_t errlen)
{
	virConnectPtr c = NULL;

	pthread_mutex_lock(&vm->conn_mtx);
	if (vm->up) {
		c = vm->conn;
		virConnectRef(c);
	} else
		snprintf(err, errlen, "not connected to %s", vm->uri);
	pthread_mutex_unlock(&vm->conn_mtx);
	return c;
}

/*
 * The value of attribute name in the first tag of xml, into out.  Our
 * own element, written by vm_add_metadata(): no entities to decode in a
 * valid service name or a number.
 */
static int
attr_get(const char *xml, const char *name, char *out, size_t outlen)
{
	const char *p, *end, *tag_end;
	size_t n = strlen(name);
	char q;

	if ((tag_end = strchr(xml, '>')) == NULL)
		return -1;
	for (p = xml; (p = strstr(p, name)) != NULL && p < tag_end; p++) {
		if (p == xml || (p[-1] != ' ' && p[-1] != '\t' &&
		    p[-1] != '\n' && p[-1] != '\r') || p[n] != '=')
			continue;
		q = p[n + 1];
		if (q != '"' && q != '\'')
			return -1;
		if ((end = strchr(p + n + 2, q)) == NULL ||
		    (size_t)(end - (p + n + 2)) >= outlen)
			return -1;
		memcpy(out, p + n + 2, (size_t)(end - (p + n + 2)));
		out[end - (p + n + 2)] = '\0';
		return 0;
	}
	return -1;
}

/*
 * An owner attribute (hex) of meta into out: "" when there is none, "?"
 * when there is one that is not what vm_add_metadata() writes, so that
 * it matches no owner.
 */
static void
owner_attr(const char *meta, const char *name, char *out, size_t outlen)
{
	char probe[64];

	if (attr_get(meta, name, out, outlen) == 0 && out[0] != '\0' &&
	    vm_owner_field_valid(out))
		return;
	snprintf(probe, sizeof(probe), " %s=", name);
	snprintf(out, outlen, "%s", strstr(meta, probe) != NULL ? "?" : "");
}

/* Our metadata of d into out; -1 when d is not ours. */
static int
dom_ours(virDomainPtr d, struct vm_domain *out)
{
	char *meta, id[32], *end;
	int rc = -1;

	meta = virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT,
	    VM_METADATA_URI, 0);
	if (meta == NULL)
		return -1;	/* VIR_ERR_NO_DOMAIN_METADATA: not ours */
	owner_attr(meta, "owner", out->owner.id, sizeof(out->owner.id));
	owner_attr(meta, "state", out->owner.state, sizeof(out->owner.state));
	if (attr_get(meta, "service", out->service,
	    sizeof(out->service)) == -1 ||
	    !config_valid_service_name(out->service) ||
	    attr_get(meta, "id", id, sizeof(id)) == -1) {
		log_warnx("%s: unreadable summon metadata", virDomainGetName(d));
		goto out;
	}
	errno = 0;
	out->instance = strtoll(id, &end, 10);
	if (errno != 0 || end == id || *end != '\0') {
		log_warnx("%s: bad instance id in metadata", virDomainGetName(d));
		goto out;
	}
	rc = 0;
out:
	free(meta);
	return rc;
}

/*
 * Blocking: it calls libvirt on the calling (main) thread, a few calls
 * per domain.  Only for start-up and after a reconnect, before clients
 * are served, as vm.h says.
 */
static struct vm_domain *
lvm_list(struct vm *vm, size_t *n, char *err, size_t errlen)
{
	struct vm_domain *out = NULL, *o;
	virDomainPtr *doms = NULL;
	virConnectPtr c;
	int i, nd;

	*n = 0;
	if ((c = conn_ref(vm, err, errlen)) == NULL)
		return NULL;
	if ((nd = virConnectListAllDomains(c, &doms, 0)) == -1) {
		lv_error(err, errlen);
		goto out;
	}
	if ((out = calloc(nd > 0 ? (size_t)nd : 1, sizeof(*out))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (i = 0; i < nd; i++) {
		o = &out[*n];
		memset(o, 0, sizeof(*o));
		if (dom_ours(doms[i], o) == -1)
			continue;
		snprintf(o->name, sizeof(o->name), "%s",
		    virDomainGetName(doms[i]));
		if (virDomainGetUUIDString(doms[i], o->uuid) == -1)
			o->uuid[0] = '\0';
		o->state = dom_state(doms[i]);
		o->persistent = virDomainIsPersistent(doms[i]) == 1;
		(*n)++;
	}
out:
	for (i = 0; doms != NULL && i < nd; i++)
		virDomainFree(doms[i]);
	free(doms);
	virConnectClose(c);
	return out;
}

/*
 * An isolated network: a bridge with the gateway address on the host
 * side, no forwarding, no DHCP (guests have static addresses on their
 * command line), no DNS (summond answers DNS), hence no dnsmasq.
 */
static char *
network_xml(const struct vm_network *n, char *err, size_t errlen)
{
	struct vm_buf b = { .limit = 64 * 1024 };
	char gw[INET_ADDRSTRLEN], tail[64];
	/* Alternately literal text and a value to escape. */
	const char *parts[] = { "<network><name>", n->name,
	    "</name><bridge name='", n->bridge,
	    "' stp='off' delay='0'/><dns enable='no'/><ip address='", gw,
	    tail };
	size_t i;

	inet_ntop(AF_INET, &n->gateway, gw, sizeof(gw));
	snprintf(tail, sizeof(tail), "' prefix='%u'/></network>",
	    n->prefix);
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if ((i % 2 == 0 ? vm_buf_add(&b, parts[i], strlen(parts[i])) :
		    vm_buf_add_escaped(&b, parts[i])) == -1) {
			snprintf(err, errlen, "out of memory");
			free(b.p);
			return NULL;
		}
	return b.p;
}

/* Blocking, at start-up only (vm.h). */
static int
lvm_ensure_network(struct vm *vm, const struct vm_network *n, char *err,
    size_t errlen)
{
	virNetworkPtr net = NULL;
	virConnectPtr c;
	char *xml = NULL;
	int rc = -1, active;

	if (n->name == NULL || n->bridge == NULL) {
		snprintf(err, errlen, "no network name or bridge");
		return -1;
	}
	if ((c = conn_ref(vm, err, errlen)) == NULL)
		return -1;
	if ((net = virNetworkLookupByName(c, n->name)) == NULL) {
		if (virGetLastErrorCode() != VIR_ERR_NO_NETWORK) {
			lv_error(err, errlen);
			goto out;
		}
		if ((xml = network_xml(n, err, errlen)) == NULL)
			goto out;
		if ((net = virNetworkDefineXML(c, xml)) == NULL) {
			lv_error(err, errlen);
			goto out;
		}
		log_info("defined network %s (bridge %s)", n->name,
		    n->bridge);
	}
	if ((active = virNetworkIsActive(net)) == -1) {
		lv_error(err, errlen);
		goto out;
	}
	if (active == 0) {
		if (virNetworkCreate(net) == -1) {
			lv_error(err, errlen);
			goto out;
		}
		log_info("started network %s", n->name);
	}
	rc = 0;
out:
	if (net != NULL)
		virNetworkFree(net);
	free(xml);
	virConnectClose(c);
	return rc;
}

static bool
lvm_connected(struct vm *vm)
{
	bool up;

	pthread_mutex_lock(&vm->conn_mtx);
	up = vm->up;
	pthread_mutex_unlock(&vm->conn_mtx);
	return up;
}

const struct vm_backend_ops vm_libvirt_ops = {
	.name = "libvirt",
	.open = lvm_open,
	.submit = lvm_submit,
	.list = lvm_list,
	.ensure_network = lvm_ensure_network,
	.connected = lvm_connected,
	.close = lvm_close,
};
