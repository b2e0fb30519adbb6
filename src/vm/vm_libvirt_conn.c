/*
 * vm_libvirt_conn.c - the connection to libvirtd: opened with a close
 * callback, the lifecycle callback and keepalive; marked down when it
 * closes or a call fails for want of it; opened again with back-off by
 * whichever thread needs it first (the idle stop lane otherwise).
 *
 * A libvirtd killed under us: the close callback fires at once (end of
 * file); reconnect attempts follow at 0, 0.1, 0.2, 0.4 ... 5 s.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "log.h"
#include "vm.h"
#include "vm_libvirt.h"

void
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
	item_post(vm, ITEM_DOWN, "", VM_EV_STOPPED);
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

virConnectPtr
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

void
conn_drop(virConnectPtr c, int ev_id)
{
	/* On a dead connection these fail remotely but drop locally. */
	if (virConnectDomainEventDeregisterAny(c, ev_id) == -1)
		log_debug("deregister: %s", virGetLastErrorMessage());
	virConnectUnregisterCloseCallback(c, on_close);
	virConnectClose(c);
}

void
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
		item_post(vm, ITEM_RECONNECT, "", VM_EV_STARTED);
	} else {
		log_debug("reconnect to %s: %s", vm->uri, err);
		/* A job's thread may give up waiting: keep the stop lane on it. */
		stop_lane_poke(vm);
	}
}

virConnectPtr
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

bool
conn_lost(virConnectPtr c, int code)
{
	if (code != VIR_ERR_SYSTEM_ERROR && code != VIR_ERR_NO_CONNECT &&
	    code != VIR_ERR_INTERNAL_ERROR && code != VIR_ERR_RPC)
		return false;
	return virConnectIsAlive(c) != 1;
}

virConnectPtr
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

bool
lvm_connected(struct vm *vm)
{
	bool up;

	pthread_mutex_lock(&vm->conn_mtx);
	up = vm->up;
	pthread_mutex_unlock(&vm->conn_mtx);
	return up;
}
