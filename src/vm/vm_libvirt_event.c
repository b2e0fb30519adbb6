/*
 * vm_libvirt_event.c - libvirt's event thread, the lifecycle callback it
 * runs, and the stops we asked for, which tell our own destroy from
 * someone else's.
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
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "log.h"
#include "vm.h"
#include "vm_libvirt.h"

#define DOMAIN_PREFIX	"summon-"
/* How long after our destroy its STOPPED/DESTROYED event is expected. */
#define ASKED_TTL_US	(10ULL * 1000000)

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

int
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

void
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

void
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
void
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
int
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
	item_post(vm, ITEM_EVENT, name, ev);
	return 0;
}

/* libvirt drops our lifecycle callback: it will not run again. */
void
on_lifecycle_free(void *arg)
{
	struct vm *vm = arg;

	pthread_mutex_lock(&vm->cb_mtx);
	vm->cb_live--;
	pthread_cond_broadcast(&vm->cb_cv);
	pthread_mutex_unlock(&vm->cb_mtx);
}
