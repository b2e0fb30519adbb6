/*
 * vm_libvirt_lane.c - the lanes: the start and stop worker threads,
 * each lane's queue of jobs, and a job run (and retried) across a lost
 * connection.  A finished job is posted to the main loop.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

#include <libvirt/libvirt.h>

#include "clock.h"
#include "log.h"
#include "mailbox.h"
#include "vm.h"
#include "vm_libvirt.h"

void
stop_lane_poke(struct vm *vm)
{
	struct lane *l = &vm->lanes[LANE_STOP];

	pthread_mutex_lock(&l->mtx);
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mtx);
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

void *
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

void
lvm_submit(struct vm *vm, struct vm_job *j)
{
	struct lane *l;

	j->rc = 0;
	j->err[0] = '\0';
	j->uuid[0] = '\0';
	j->state = VM_DS_OTHER;
	j->domains = NULL;
	j->ndomains = 0;
	j->free_memory = 0;
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
	case VM_HOST_INFO:
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
