/*
 * vm_libvirt.c - the libvirt backend of vm.h: its ops table, opening
 * and closing it, and the completion mailbox through which the lanes
 * and libvirt's event thread hand the main loop what happened.  The
 * threads, what each touches and the lock order: vm_libvirt.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "clock.h"
#include "log.h"
#include "mailbox.h"
#include "vm.h"
#include "vm_libvirt.h"

/*
 * Waits and back-off use CLOCK_MONOTONIC directly, not clock_mono_us():
 * a test that freezes the replaceable clock must not turn a 50 ms poll
 * into a spin or a 60 s deadline into forever.  The job timing fields
 * do use clock_mono_us().
 */
uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

void
cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mtx, uint64_t us)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(us / 1000000);
	ts.tv_nsec = (long)(us % 1000000) * 1000;
	pthread_cond_timedwait(cv, mtx, &ts);
}

int
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

void
sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

int
lv_error(char *err, size_t errlen)
{
	virErrorPtr e = virGetLastError();

	snprintf(err, errlen, "%s", virGetLastErrorMessage());
	return e != NULL ? e->code : VIR_ERR_OK;
}

/*
 * The completion mailbox.
 */
static void
item_done(struct vm_job *j)
{
	struct vm_item *it = (struct vm_item *)j;
	struct vm *vm = it->vm;

	switch (it->kind) {
	case ITEM_RECONNECT:
		if (vm->cb.on_reconnect != NULL)
			vm->cb.on_reconnect(vm->cb.arg);
		break;
	case ITEM_DOWN:
		if (vm->cb.on_down != NULL)
			vm->cb.on_down(vm->cb.arg);
		break;
	case ITEM_EVENT:
		if (vm->cb.on_event != NULL)
			vm->cb.on_event(vm->cb.arg, it->job.domain, it->ev);
		break;
	}
	free(it);
}

void
item_post(struct vm *vm, enum item_kind kind, const char *domain,
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
	it->kind = kind;
	it->ev = ev;
	mailbox_post(vm->to_main, &it->job.back);
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
    const struct vm_callbacks *cb, int flags, char *err, size_t errlen)
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
	if ((vm->conn = conn_open(vm, &vm->ev_id, err, errlen)) != NULL)
		vm->up = true;
	else if (!(flags & VM_OPEN_LAZY))
		goto fail;
	else	/* the idle stop lane tries again, with back-off */
		vm->next_try_us = now_us() + BACKOFF_MIN_MS * 1000;
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
	if (vm->up)
		log_debug("connected to %s", uri);
	return vm;
fail:
	/* Nothing was submitted: close only stops what was started. */
	lvm_close(vm);
	return NULL;
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
