/*
 * vm_script.c - the tests' scripted vm backend (vm_script.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "compat_queue.h"
#include "vm_script.h"

/* A domain as the script's hypervisor keeps it. */
struct sdom {
	TAILQ_ENTRY(sdom)	 link;
	char			 name[128];
	char			 uuid[40];
	enum vm_dstate		 state;
	bool			 persistent;
	struct vm_guest		*guest;		/* our metadata, for list() */
};

/* A scripted outcome for the next matching job. */
struct rule {
	TAILQ_ENTRY(rule)	 link;
	enum vm_op		 op;
	char			 domain[128];	/* "" any */
	int			 delay_ms;
	int			 rc;
	char			 err[256];
};

/* A job not done yet. */
struct sjob {
	TAILQ_ENTRY(sjob)	 link;
	struct vm		*vm;
	struct vm_job		*job;
	struct event		*ev;		/* completes it; NULL: waits */
	int			 delay_ms;	/* from its rule */
	int			 rc;		/* from its rule */
	char			 err[256];
};

/* An event to deliver later. */
struct sevent {
	struct vm		*vm;
	struct event		*ev;
	char			 domain[128];
	enum vm_event		 what;
};

TAILQ_HEAD(sdom_list, sdom);
TAILQ_HEAD(rule_list, rule);
TAILQ_HEAD(sjob_list, sjob);

struct vm {
	TAILQ_ENTRY(vm)		 all;		/* every backend open */
	char			 uri[256];
	uint64_t		 free_memory;	/* VM_HOST_INFO's answer */
	char			 listed_net[64];	/* last VM_LIST's */
	struct event_base	*base;
	struct vm_callbacks	 cbs;
	struct sdom_list	 doms;
	struct rule_list	 rules;
	struct sjob_list	 jobs;		/* submitted, not done */
	bool			 manual;
	bool			 up;
	unsigned		 uuids;
	unsigned		 count[VM_HOST_INFO + 1];
};

static struct vm *last;
static TAILQ_HEAD(, vm) open_vms = TAILQ_HEAD_INITIALIZER(open_vms);

struct vm *
vm_script_find(const char *uri)
{
	struct vm *vm;

	TAILQ_FOREACH(vm, &open_vms, all)
		if (strcmp(vm->uri, uri) == 0)
			return vm;
	return NULL;
}

void
vm_script_set_free_memory(struct vm *vm, uint64_t bytes)
{
	vm->free_memory = bytes;
}

const char *
vm_script_listed_network(struct vm *vm)
{
	return vm->listed_net;
}

struct vm *
vm_script_last(void)
{
	return last;
}

static struct sdom *
dom_find(struct vm *vm, const char *name)
{
	struct sdom *d;

	TAILQ_FOREACH(d, &vm->doms, link)
		if (strcmp(d->name, name) == 0)
			return d;
	return NULL;
}

static void
dom_free(struct vm *vm, struct sdom *d)
{
	TAILQ_REMOVE(&vm->doms, d, link);
	free(d->guest);
	free(d);
}

static void
fail(struct vm_job *j, const char *why)
{
	j->rc = -1;
	snprintf(j->err, sizeof(j->err), "%s", why);
}

static struct vm_domain *script_list(struct vm *, size_t *, char *, size_t);

/*
 * What op does to the script's domains, as libvirt would; forced (the
 * test said it succeeds), whatever the domain's state.
 */
static void
apply(struct vm *vm, struct vm_job *j, bool forced)
{
	struct sdom *d = dom_find(vm, j->domain);
	char why[256];

	switch (j->op) {
	case VM_CREATE:
	case VM_CREATE_PAUSED:
	case VM_DEFINE_START:
		if (j->guest == NULL) {
			fail(j, "no guest to create");
			break;
		}
		if (d != NULL && forced)
			dom_free(vm, d);
		else if (d != NULL) {
			snprintf(why, sizeof(why), "domain '%s' already exists",
			    j->domain);
			fail(j, why);
			break;
		}
		if ((d = calloc(1, sizeof(*d))) == NULL ||
		    (d->guest = vm_guest_copy(j->guest)) == NULL) {
			free(d);
			fail(j, "out of memory");
			break;
		}
		snprintf(d->name, sizeof(d->name), "%s", j->domain);
		snprintf(d->uuid, sizeof(d->uuid),
		    "00000000-0000-4000-8000-%012x", ++vm->uuids);
		d->state = j->op == VM_CREATE_PAUSED ? VM_DS_PAUSED :
		    VM_DS_RUNNING;
		d->persistent = j->op == VM_DEFINE_START;
		TAILQ_INSERT_TAIL(&vm->doms, d, link);
		snprintf(j->uuid, sizeof(j->uuid), "%s", d->uuid);
		break;
	case VM_RESUME:
	case VM_SUSPEND:
	case VM_SAVE:
	case VM_RESTORE:
		if (d == NULL && forced) {
			if ((d = calloc(1, sizeof(*d))) == NULL)
				abort();
			snprintf(d->name, sizeof(d->name), "%s", j->domain);
			TAILQ_INSERT_TAIL(&vm->doms, d, link);
		}
		if (d == NULL) {
			snprintf(why, sizeof(why), "no domain with matching "
			    "name '%s'", j->domain);
			fail(j, why);
		} else if (forced)
			d->state = j->op == VM_RESUME || j->op == VM_RESTORE ?
			    VM_DS_RUNNING : j->op == VM_SUSPEND ?
			    VM_DS_PAUSED : VM_DS_SAVED;
		else if (j->op == VM_RESUME && d->state == VM_DS_PAUSED)
			d->state = VM_DS_RUNNING;
		else if (j->op == VM_SUSPEND && d->state == VM_DS_RUNNING)
			d->state = VM_DS_PAUSED;
		else if (j->op == VM_SAVE && d->persistent &&
		    (d->state == VM_DS_RUNNING || d->state == VM_DS_PAUSED))
			d->state = VM_DS_SAVED;
		else if (j->op == VM_RESTORE && (d->state == VM_DS_SAVED ||
		    d->state == VM_DS_SHUTOFF))
			d->state = VM_DS_RUNNING;
		else
			fail(j, "Requested operation is not valid: domain is "
			    "not in the right state");
		break;
	case VM_SHUTDOWN:
	case VM_DESTROY:
		if (d != NULL)
			dom_free(vm, d);	/* persistent ones undefined */
		break;
	case VM_STATE:
		break;
	case VM_LIST:
		snprintf(vm->listed_net, sizeof(vm->listed_net), "%s",
		    j->network != NULL ? j->network->name : "");
		if ((j->domains = script_list(vm, &j->ndomains, why,
		    sizeof(why))) == NULL)
			fail(j, why);
		return;
	case VM_HOST_INFO:
		j->free_memory = vm->free_memory;
		return;
	}
	d = dom_find(vm, j->domain);
	j->state = d != NULL ? d->state : VM_DS_NONE;
}

static void
job_complete(struct sjob *sj, int rc, const char *err, bool forced)
{
	struct vm *vm = sj->vm;
	struct vm_job *j = sj->job;
	struct sdom *d;

	TAILQ_REMOVE(&vm->jobs, sj, link);
	if (sj->ev != NULL)
		event_free(sj->ev);
	free(sj);
	j->started_us = j->queued_us;
	j->finished_us = clock_mono_us();
	j->rc = 0;
	j->err[0] = '\0';
	if (rc == 0)
		apply(vm, j, forced);
	else {
		fail(j, err != NULL && *err != '\0' ? err : "scripted failure");
		d = dom_find(vm, j->domain);
		j->state = d != NULL ? d->state : VM_DS_NONE;
	}
	j->done(j);
}

static void
job_due(evutil_socket_t fd, short what, void *arg)
{
	struct sjob *sj = arg;

	job_complete(sj, sj->rc, sj->err, false);
}

/* Arm sj to complete after ms (0: the next turn of the loop). */
static void
job_arm(struct sjob *sj, int ms)
{
	struct timeval tv = clock_tv((uint64_t)ms);

	sj->ev = evtimer_new(sj->vm->base, job_due, sj);
	if (sj->ev != NULL)
		evtimer_add(sj->ev, &tv);
}

static struct vm *
script_open(struct event_base *base, const char *uri,
    const struct vm_callbacks *cbs, int flags, char *err, size_t errlen)
{
	bool down = strcmp(uri, "script:///fail") == 0 ||
	    strncmp(uri, "script:///down", 14) == 0;
	struct vm *vm;

	if (down)
		snprintf(err, errlen, "cannot connect to %s", uri);
	if (down && !(flags & VM_OPEN_LAZY))
		return NULL;
	if ((vm = calloc(1, sizeof(*vm))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	snprintf(vm->uri, sizeof(vm->uri), "%s", uri);
	TAILQ_INSERT_TAIL(&open_vms, vm, all);
	vm->base = base;
	vm->cbs = *cbs;
	vm->up = !down;
	TAILQ_INIT(&vm->doms);
	TAILQ_INIT(&vm->rules);
	TAILQ_INIT(&vm->jobs);
	last = vm;
	return vm;
}

static void
script_submit(struct vm *vm, struct vm_job *j)
{
	struct rule *r;
	struct sjob *sj;

	j->queued_us = clock_mono_us();
	vm->count[j->op]++;
	if ((sj = calloc(1, sizeof(*sj))) == NULL)
		abort();	/* a test's own memory */
	sj->vm = vm;
	sj->job = j;
	TAILQ_INSERT_TAIL(&vm->jobs, sj, link);
	TAILQ_FOREACH(r, &vm->rules, link)
		if (r->op == j->op && (r->domain[0] == '\0' ||
		    strcmp(r->domain, j->domain) == 0))
			break;
	if (r != NULL) {
		sj->rc = r->rc;
		snprintf(sj->err, sizeof(sj->err), "%s", r->err);
		sj->delay_ms = r->delay_ms;
		TAILQ_REMOVE(&vm->rules, r, link);
		free(r);
	}
	if (!vm->manual && vm->up)
		job_arm(sj, sj->delay_ms);
}

static struct vm_domain *
script_list(struct vm *vm, size_t *n, char *err, size_t errlen)
{
	struct vm_domain *out;
	struct sdom *d;
	size_t i = 0;

	if (!vm->up) {
		snprintf(err, errlen, "the connection is down");
		return NULL;
	}
	*n = 0;
	TAILQ_FOREACH(d, &vm->doms, link)
		if (d->guest != NULL)
			(*n)++;
	if ((out = calloc(*n + 1, sizeof(*out))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	TAILQ_FOREACH(d, &vm->doms, link) {
		if (d->guest == NULL)
			continue;	/* made by the test: no metadata */
		snprintf(out[i].name, sizeof(out[i].name), "%s", d->name);
		snprintf(out[i].uuid, sizeof(out[i].uuid), "%s", d->uuid);
		out[i].owner = d->guest->owner;
		snprintf(out[i].service, sizeof(out[i].service), "%s",
		    d->guest->service);
		out[i].instance = d->guest->instance;
		out[i].state = d->state;
		out[i].persistent = d->persistent;
		i++;
	}
	return out;
}

static int
script_ensure_network(struct vm *vm, const struct vm_network *net,
    char *err, size_t errlen)
{
	return 0;
}

static bool
script_connected(struct vm *vm)
{
	return vm->up;
}

static void
script_close(struct vm *vm)
{
	struct sjob *sj;
	struct sdom *d;
	struct rule *r;

	/* As the real backend: every job out gets its done(). */
	while ((sj = TAILQ_FIRST(&vm->jobs)) != NULL)
		job_complete(sj, -1, "shutting down", false);
	while ((d = TAILQ_FIRST(&vm->doms)) != NULL)
		dom_free(vm, d);
	while ((r = TAILQ_FIRST(&vm->rules)) != NULL) {
		TAILQ_REMOVE(&vm->rules, r, link);
		free(r);
	}
	if (last == vm)
		last = NULL;
	TAILQ_REMOVE(&open_vms, vm, all);
	free(vm);
}

const struct vm_backend_ops vm_script_ops = {
	.name = "script",
	.open = script_open,
	.submit = script_submit,
	.list = script_list,
	.ensure_network = script_ensure_network,
	.connected = script_connected,
	.close = script_close,
};

void
vm_script_on(struct vm *vm, enum vm_op op, const char *domain, int delay_ms,
    int rc, const char *err)
{
	struct rule *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		abort();
	r->op = op;
	snprintf(r->domain, sizeof(r->domain), "%s", domain ? domain : "");
	r->delay_ms = delay_ms;
	r->rc = rc;
	snprintf(r->err, sizeof(r->err), "%s", err ? err : "");
	TAILQ_INSERT_TAIL(&vm->rules, r, link);
}

void
vm_script_manual(struct vm *vm, bool on)
{
	vm->manual = on;
}

size_t
vm_script_pending(struct vm *vm, struct vm_job **out, size_t max)
{
	struct sjob *sj;
	size_t n = 0;

	TAILQ_FOREACH(sj, &vm->jobs, link) {
		if (n < max)
			out[n] = sj->job;
		n++;
	}
	return n;
}

struct vm_job *
vm_script_job(struct vm *vm, const char *domain)
{
	struct sjob *sj;

	TAILQ_FOREACH(sj, &vm->jobs, link)
		if (strcmp(sj->job->domain, domain) == 0)
			return sj->job;
	return NULL;
}

void
vm_script_finish(struct vm *vm, struct vm_job *j, int rc, const char *err)
{
	struct sjob *sj;

	TAILQ_FOREACH(sj, &vm->jobs, link)
		if (sj->job == j) {
			job_complete(sj, rc, err, true);
			return;
		}
	abort();	/* the test finished a job that is not out */
}

static void
deliver(struct vm *vm, const char *domain, enum vm_event ev)
{
	struct sdom *d = dom_find(vm, domain);

	/* A guest that crashed or shut down is gone (or off, if defined). */
	if (d != NULL && (ev == VM_EV_CRASHED || ev == VM_EV_SHUTDOWN ||
	    ev == VM_EV_STOPPED)) {
		if (d->persistent)
			d->state = VM_DS_SHUTOFF;
		else
			dom_free(vm, d);
	}
	vm->cbs.on_event(vm->cbs.arg, domain, ev);
}

static void
event_due(evutil_socket_t fd, short what, void *arg)
{
	struct sevent *se = arg;

	deliver(se->vm, se->domain, se->what);
	event_free(se->ev);
	free(se);
}

void
vm_script_event(struct vm *vm, const char *domain, enum vm_event ev,
    int delay_ms)
{
	struct timeval tv = clock_tv((uint64_t)delay_ms);
	struct sevent *se;

	if (delay_ms == 0) {
		deliver(vm, domain, ev);
		return;
	}
	if ((se = calloc(1, sizeof(*se))) == NULL)
		abort();
	se->vm = vm;
	se->what = ev;
	snprintf(se->domain, sizeof(se->domain), "%s", domain);
	se->ev = evtimer_new(vm->base, event_due, se);
	evtimer_add(se->ev, &tv);
}

void
vm_script_lose(struct vm *vm, const char *domain)
{
	struct sdom *d = dom_find(vm, domain);

	if (d != NULL)
		dom_free(vm, d);
}

void
vm_script_set_state(struct vm *vm, const char *domain, enum vm_dstate st)
{
	struct sdom *d = dom_find(vm, domain);

	if (st == VM_DS_NONE) {
		if (d != NULL)
			dom_free(vm, d);
		return;
	}
	if (d == NULL) {
		if ((d = calloc(1, sizeof(*d))) == NULL)
			abort();
		snprintf(d->name, sizeof(d->name), "%s", domain);
		TAILQ_INSERT_TAIL(&vm->doms, d, link);
	}
	d->state = st;
}

void
vm_script_disconnect(struct vm *vm)
{
	if (!vm->up)
		return;
	vm->up = false;
	if (vm->cbs.on_down != NULL)
		vm->cbs.on_down(vm->cbs.arg);
}

size_t
vm_script_finish_host_jobs(struct vm *vm)
{
	struct sjob *sj, *next;
	size_t n = 0;

	TAILQ_FOREACH_SAFE(sj, &vm->jobs, link, next)
		if (sj->job->op == VM_LIST || sj->job->op == VM_HOST_INFO) {
			job_complete(sj, 0, NULL, false);
			n++;
			next = TAILQ_FIRST(&vm->jobs);	/* done() may submit */
		}
	return n;
}

void
vm_script_reconnect(struct vm *vm)
{
	struct sjob *sj;

	vm->up = true;
	if (!vm->manual)
		TAILQ_FOREACH(sj, &vm->jobs, link)
			if (sj->ev == NULL)
				job_arm(sj, sj->delay_ms);
	vm->cbs.on_reconnect(vm->cbs.arg);
}

unsigned
vm_script_count(struct vm *vm, enum vm_op op)
{
	return vm->count[op];
}

enum vm_dstate
vm_script_state(struct vm *vm, const char *domain)
{
	struct sdom *d = dom_find(vm, domain);

	return d != NULL ? d->state : VM_DS_NONE;
}

const struct vm_guest *
vm_script_guest(struct vm *vm, const char *domain)
{
	struct sdom *d = dom_find(vm, domain);

	return d != NULL ? d->guest : NULL;
}
