/*
 * lc_instance.c - instances: create, resume, stop, crash, evict.
 *
 * Every change of an instance is written to the store before the job
 * that makes it is submitted, so a summond killed at any moment leaves
 * a row that names the domain; lc_reconcile.c settles it at the next
 * start.  At most one vm job is in flight per instance; an instance is
 * never freed while its job is out.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "lc_internal.h"
#include "log.h"
#include "store.h"

#define SHUTDOWN_GRACE_MS	5000	/* ACPI shutdown, then destroy */

static void	job_done(struct vm_job *);

/* Take in off its service's standby list, if it is on it. */
static void
standby_unlink(struct instance *in)
{
	if (!in->in_standby)
		return;
	TAILQ_REMOVE(&in->svc->standby, in, sby);
	in->svc->nstandby--;
	in->in_standby = false;
}
static void	deadline_cb(evutil_socket_t, short, void *);

void
lc_save_row(struct instance *in)
{
	struct store_instance r;
	struct lifecycle *lc = in->lc;

	memset(&r, 0, sizeof(r));
	r.id = in->id;
	snprintf(r.service, sizeof(r.service), "%s", in->svc->name);
	snprintf(r.domain, sizeof(r.domain), "%s", in->domain);
	snprintf(r.uuid, sizeof(r.uuid), "%s", in->uuid);
	vm_mac(in->svc->name, in->id, r.mac);
	r.host_port = in->nhost_ports > 0 ? in->host_ports[0] : 0;
	snprintf(r.state, sizeof(r.state), "%s",
	    lifecycle_state_name(in->state));
	r.created_ms = in->created_wall;
	r.ready_ms = in->ready_wall;
	r.create_dur_ms = in->create_dur_ms;
	r.boot_dur_ms = in->ready_us != 0 && in->woke_us != 0 ?
	    (int64_t)((in->ready_us - in->woke_us) / 1000) : -1;
	if (store_instance_update(lc->store, &r) == -1)
		log_warnx("store: instance %lld: %s", (long long)in->id,
		    store_errmsg(lc->store));
}

/* Hand out a pool address (bridge) or loopback ports (user mode). */
static int
allocate_network(struct instance *in, char *err, size_t errlen)
{
	struct lifecycle *lc = in->lc;
	const struct config *cfg = lc->cfg;
	const struct cfg_service *sc = in->svc->cfg;
	struct instance *o;
	size_t i, j;

	if (cfg->net_mode == CFG_NET_USER) {
		/*
		 * A run of consecutive ports, so that the store's first port
		 * is enough to find them all again after a restart.
		 */
		size_t want = sc->nports, run = 0;
		in->host_ports = calloc(want ? want : 1, sizeof(uint16_t));
		if (in->host_ports == NULL)
			goto nomem;
		for (j = 0; j < lc->ports_size && run < want; j++)
			run = lc->ports_used[j] ? 0 : run + 1;
		if (run < want) {
			snprintf(err, errlen, "no %zu free consecutive ports "
			    "left in [network] user-ports", want);
			return -1;
		}
		for (i = 0; i < want; i++) {
			lc->ports_used[j - want + i] = 1;
			in->host_ports[in->nhost_ports++] =
			    (uint16_t)(cfg->user_port_lo + j - want + i);
		}
		return 0;
	}
	if (sc->has_guest_address) {
		TAILQ_FOREACH(o, &lc->instances, live)
			if (o != in && o->guest.s_addr ==
			    sc->guest_address.s_addr) {
				snprintf(err, errlen, "guest-address %s is "
				    "still used by %s", inet_ntoa(o->guest),
				    o->domain);
				return -1;
			}
		in->guest = sc->guest_address;
		return 0;
	}
	for (i = 0; i < lc->pool_size && lc->pool_used[i]; i++)
		;
	if (i == lc->pool_size) {
		snprintf(err, errlen, "[network] pool is exhausted");
		return -1;
	}
	lc->pool_used[i] = 1;
	in->guest.s_addr = htonl(ntohl(cfg->pool_lo.s_addr) + (uint32_t)i);
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

static void
release_network(struct instance *in)
{
	struct lifecycle *lc = in->lc;
	uint32_t lo = ntohl(lc->cfg->pool_lo.s_addr), a;
	size_t i;

	a = ntohl(in->guest.s_addr);
	if (in->guest.s_addr != 0 && a >= lo && a - lo < lc->pool_size)
		lc->pool_used[a - lo] = 0;
	for (i = 0; i < in->nhost_ports; i++)
		if (in->host_ports[i] >= lc->cfg->user_port_lo &&
		    (size_t)(in->host_ports[i] - lc->cfg->user_port_lo) <
		    lc->ports_size)
			lc->ports_used[in->host_ports[i] -
			    lc->cfg->user_port_lo] = 0;
	in->guest.s_addr = 0;
	in->nhost_ports = 0;
}

/* Mark the network resources of an adopted instance as taken. */
void
lc_claim_network(struct instance *in)
{
	struct lifecycle *lc = in->lc;
	uint32_t lo = ntohl(lc->cfg->pool_lo.s_addr), a;
	size_t i;

	a = ntohl(in->guest.s_addr);
	if (in->guest.s_addr != 0 && a >= lo && a - lo < lc->pool_size)
		lc->pool_used[a - lo] = 1;
	for (i = 0; i < in->nhost_ports; i++)
		if (in->host_ports[i] >= lc->cfg->user_port_lo &&
		    (size_t)(in->host_ports[i] - lc->cfg->user_port_lo) <
		    lc->ports_size)
			lc->ports_used[in->host_ports[i] -
			    lc->cfg->user_port_lo] = 1;
}

/* A bare instance on the live list, counted in the budget. */
struct instance *
lc_instance_adopt(struct lc_service *s, enum lc_state state)
{
	struct lifecycle *lc = s->lc;
	struct instance *in;

	if ((in = calloc(1, sizeof(*in))) == NULL)
		return NULL;
	in->svc = s;
	in->lc = lc;
	in->state = state;
	in->memory = s->cfg != NULL ? s->cfg->memory : 0;
	in->create_dur_ms = -1;
	in->job.arg = in;
	in->job.done = job_done;
	if ((in->deadline = evtimer_new(lc->base, deadline_cb, in)) == NULL) {
		free(in);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&lc->instances, in, live);
	lc->ninstances++;
	lc->memory_used += in->memory;
	return in;
}

struct instance *
lc_instance_new(struct lc_service *s, enum lc_state state)
{
	struct lifecycle *lc = s->lc;
	struct store_instance r;
	struct instance *in;
	char err[256];

	if ((in = lc_instance_adopt(s, state)) == NULL) {
		lc_record(lc, s->name, 0, "boot-failed", "out of memory");
		return NULL;
	}
	if (allocate_network(in, err, sizeof(err)) == -1) {
		lc_record(lc, s->name, 0, "boot-failed", "%s", err);
		lc_instance_free(in);
		return NULL;
	}
	memset(&r, 0, sizeof(r));
	snprintf(r.service, sizeof(r.service), "%s", s->name);
	if (lc->cfg->net_mode == CFG_NET_BRIDGE)
		inet_ntop(AF_INET, &in->guest, r.guest_address,
		    sizeof(r.guest_address));
	snprintf(r.state, sizeof(r.state), "%s", lifecycle_state_name(state));
	r.created_ms = in->created_wall = clock_wall_ms();
	r.create_dur_ms = r.boot_dur_ms = -1;
	if (store_instance_add(lc->store, &r) == -1) {
		lc_record(lc, s->name, 0, "boot-failed", "store: %s",
		    store_errmsg(lc->store));
		lc_instance_free(in);
		return NULL;
	}
	in->id = r.id;
	/* Names are never reused: libvirt needs time to forget one. */
	snprintf(in->domain, sizeof(in->domain), "summon-%s-%lld", s->name,
	    (long long)in->id);
	lc_save_row(in);
	return in;
}

void
lc_instance_free(struct instance *in)
{
	struct lifecycle *lc = in->lc;
	struct lc_service *s = in->svc;

	lc_probe_stop(in);
	release_network(in);
	if (s->active == in)
		s->active = NULL;
	standby_unlink(in);
	TAILQ_REMOVE(&lc->instances, in, live);
	lc->ninstances--;
	lc->memory_used -= in->memory;
	event_free(in->deadline);
	free(in->host_ports);
	free(in);
}

/*
 * What the backend needs to create in: the service's guest with this
 * instance's name, addresses and ports, in a copy the job owns (a
 * reload may free the configuration while the job is out).
 */
static struct vm_guest *
describe(struct instance *in)
{
	struct lifecycle *lc = in->lc;
	const struct config *cfg = lc->cfg;
	const struct cfg_service *sc = in->svc->cfg;
	struct vm_forward *fwd = NULL;
	struct vm_guest *copy;
	char serial[1024];
	struct vm_guest g = {
		.name = in->domain,
		.service = sc->name,
		.instance = in->id,
		.owner = lc->owner,
		.template = sc->template,
		.templates = cfg->templates,
		.kernel = sc->kernel,
		.cmdline = sc->cmdline,
		.memory = sc->memory,
		.vcpus = sc->vcpus,
		.serial_log = serial,
	};
	size_t i;

	vm_mac(sc->name, in->id, g.mac);
	snprintf(serial, sizeof(serial), "%s/%s.log", cfg->serial_dir,
	    in->domain);
	if (cfg->net_mode == CFG_NET_USER) {
		g.net = VM_NET_USER;
		if (in->nhost_ports > 0 &&
		    (fwd = calloc(in->nhost_ports, sizeof(*fwd))) == NULL)
			return NULL;
		for (i = 0; i < in->nhost_ports && i < sc->nports; i++) {
			fwd[i].host = in->host_ports[i];
			fwd[i].guest = sc->ports[i].guest_port;
		}
		g.forwards = fwd;
		g.nforwards = i;
	} else {
		g.net = VM_NET_BRIDGE;
		g.network = cfg->net_name;
		g.address = in->guest;
		g.gateway = cfg->gateway;
		g.prefix = cfg->prefix;
	}
	copy = vm_guest_copy(&g);
	free(fwd);
	return copy;
}

static void
submit(struct instance *in, enum vm_op op)
{
	struct lifecycle *lc = in->lc;

	in->job.op = op;
	snprintf(in->job.domain, sizeof(in->job.domain), "%s", in->domain);
	in->job.shutdown_ms = SHUTDOWN_GRACE_MS;
	in->job_busy = true;
	lc->vmops->submit(lc->vm, &in->job);
}

static void
arm_deadline(struct instance *in)
{
	struct timeval tv = clock_tv(in->svc->cfg->boot_timeout_ms);

	evtimer_add(in->deadline, &tv);
}

/* Count what is live and not on its way out. */
static void
usage(struct lifecycle *lc, size_t *n, uint64_t *mem)
{
	struct instance *in;

	*n = 0;
	*mem = 0;
	TAILQ_FOREACH(in, &lc->instances, live)
		if (in->state != LC_STOPPING && in->state != LC_SAVED) {
			(*n)++;
			*mem += in->memory;
		}
}

/*
 * The standby a wake should take: a warm one (booted and paused), else
 * one with no job out, else the first (its job is still out).
 */
static struct instance *
standby_pick(struct lc_service *s)
{
	struct instance *in, *idle = NULL;

	TAILQ_FOREACH(in, &s->standby, sby) {
		if (in->job_busy)
			continue;
		if (in->sby_phase == SBY_WARM)
			return in;
		if (idle == NULL)
			idle = in;
	}
	return idle != NULL ? idle : TAILQ_FIRST(&s->standby);
}

/* The instance to evict: suspended ones first, then idle ready ones,
 * least recently used first. */
static struct instance *
eviction_victim(struct lifecycle *lc)
{
	struct instance *in, *best = NULL;
	int rank, best_rank = 0;

	TAILQ_FOREACH(in, &lc->instances, live) {
		if (in->job_busy || in->svc->conns > 0)
			continue;
		if (in->state == LC_SUSPENDED)
			rank = 2;
		else if (in->state == LC_READY)
			rank = 1;
		else
			continue;
		if (best == NULL || rank > best_rank || (rank == best_rank &&
		    in->svc->last_activity_us < best->svc->last_activity_us)) {
			best = in;
			best_rank = rank;
		}
	}
	return best;
}

bool
lc_room_for(struct lifecycle *lc, uint64_t memory, bool evict)
{
	struct instance *victim;
	size_t n;
	uint64_t mem;

	for (;;) {
		usage(lc, &n, &mem);
		if (n + 1 <= lc->cfg->max_instances &&
		    mem + memory <= lc->cfg->memory_budget)
			return true;
		if (!evict || (victim = eviction_victim(lc)) == NULL)
			return false;
		lc_stop_instance(victim, "evicted");
	}
}

int
lc_boot(struct lc_service *s)
{
	struct lifecycle *lc = s->lc;
	struct instance *in = s->active;

	if (s->cfg == NULL || lc->shutting_down)
		return -1;
	if (in != NULL) {
		if (in->job_busy ||
		    (in->state != LC_SUSPENDED && in->state != LC_SAVED))
			return 0;
		in->woke_us = clock_mono_us();
		lc_record(lc, s->name, in->id, "boot", "%s %s",
		    in->state == LC_SUSPENDED ? "resume" : "restore",
		    in->domain);
		submit(in, in->state == LC_SUSPENDED ? VM_RESUME : VM_RESTORE);
		in->state = LC_STARTING;
		lc_save_row(in);
		arm_deadline(in);
		return 0;
	}
	/*
	 * A standby domain turns a boot into a resume.  One still being
	 * created (or booted, or paused) is claimed, and goes on from where
	 * it is: that is sooner than a create of our own.
	 */
	if ((in = standby_pick(s)) != NULL) {
		standby_unlink(in);
		s->active = in;
		in->state = LC_STARTING;
		in->woke_us = clock_mono_us();
		lc_record(lc, s->name, in->id, "boot", "%s standby %s",
		    in->sby_phase == SBY_BOOTING ? "booting" : "resume",
		    in->domain);
		lc_save_row(in);
		if (in->sby_phase == SBY_BOOTING)
			in->sby_phase = SBY_COLD;	/* its probe goes on */
		else if (!in->job_busy)
			submit(in, VM_RESUME);
		arm_deadline(in);
		return 0;
	}
	if (!lc_room_for(lc, s->cfg->memory, true)) {
		lc_record(lc, s->name, 0, "boot-failed", "max-instances (%u) "
		    "or memory-budget reached, and no idle instance to evict",
		    lc->cfg->max_instances);
		s->boot_failures++;
		lc_failed(s);
		return -1;
	}
	if ((in = lc_instance_new(s, LC_STARTING)) == NULL) {
		lc_failed(s);
		return -1;
	}
	s->active = in;
	in->woke_us = clock_mono_us();
	lc_record(lc, s->name, in->id, "boot", "create %s", in->domain);
	if ((in->job.guest = describe(in)) == NULL) {
		lc_instance_failed(in, "out of memory");
		return -1;
	}
	submit(in, s->cfg->stop_mode == CFG_STOP_SAVE ? VM_DEFINE_START :
	    VM_CREATE);
	in->persistent = s->cfg->stop_mode == CFG_STOP_SAVE;
	arm_deadline(in);
	return 0;
}

int
lc_make_standby(struct lc_service *s)
{
	struct lifecycle *lc = s->lc;
	bool booted = s->cfg->standby_booted;
	struct instance *in;

	if (lc->shutting_down || clock_mono_us() < s->sby_retry_at_us ||
	    !lc_room_for(lc, s->cfg->memory, false))
		return -1;
	if ((in = lc_instance_new(s, LC_STANDBY)) == NULL)
		return -1;
	TAILQ_INSERT_TAIL(&s->standby, in, sby);
	s->nstandby++;
	in->in_standby = true;
	if ((in->job.guest = describe(in)) == NULL) {
		lc_instance_failed(in, "out of memory");
		return -1;
	}
	in->sby_phase = booted ? SBY_BOOTING : SBY_COLD;
	submit(in, booted ? VM_CREATE : VM_CREATE_PAUSED);
	return 0;
}

void
lc_standby_booted(struct instance *in)
{
	lc_probe_stop(in);
	evtimer_del(in->deadline);
	lc_standby_outcome(in->svc, true);
	in->sby_phase = SBY_PAUSING;
	submit(in, VM_SUSPEND);
	lc_record(in->lc, in->svc->name, in->id, "standby-booted",
	    "%s ready %lld ms after its create; pausing it", in->domain,
	    (long long)(clock_wall_ms() - in->created_wall));
}

void
lc_stop_instance(struct instance *in, const char *reason)
{
	const struct cfg_service *sc = in->svc->cfg;
	enum vm_op op = VM_DESTROY;
	bool keep = strcmp(reason, "idle") == 0 ||
	    strcmp(reason, "manual") == 0;

	in->stop_reason = reason;
	evtimer_del(in->deadline);	/* a stop is coming either way */
	lc_probe_stop(in);
	if (in->svc->active == in && in->state == LC_STARTING)
		lc_notify(in->svc, false);
	if (in->job_busy)
		return;		/* job_done sees stop_reason */
	if (sc != NULL && keep && in->state == LC_READY && !in->stop_failed) {
		if (sc->stop_mode == CFG_STOP_SUSPEND)
			op = VM_SUSPEND;
		else if (sc->stop_mode == CFG_STOP_SAVE)
			op = VM_SAVE;
		else if (sc->stop_mode == CFG_STOP_SHUTDOWN)
			op = VM_SHUTDOWN;
	}
	in->stop_failed = false;
	standby_unlink(in);
	lc_record(in->lc, in->svc->name, in->id, "stop", "%s (%s)",
	    in->domain, reason);
	in->state = LC_STOPPING;
	in->stopping_on_purpose = true;
	lc_save_row(in);
	submit(in, op);
}

void
lc_instance_gone(struct instance *in, const char *reason)
{
	struct lifecycle *lc = in->lc;
	struct lc_service *s = in->svc;
	bool again;

	if (in->job_busy) {
		in->stop_reason = reason;	/* finish when the job is back */
		in->stopping_on_purpose = true;
		return;
	}
	if (store_instance_close(lc->store, in->id, clock_wall_ms(),
	    reason) == -1)
		log_warnx("store: instance %lld: %s", (long long)in->id,
		    store_errmsg(lc->store));
	lc_record(lc, s->name, in->id, "stopped", "%s (%s)", in->domain,
	    reason);
	lc_count_stop(lc, reason);
	again = s->active == in && s->rewake && s->cfg != NULL;
	if (s->active == in)
		s->rewake = false;
	lc_instance_free(in);
	lc_instance_left(lc);
	if (again)
		lc_boot(s);
}

void
lc_instance_failed(struct instance *in, const char *why)
{
	struct lc_service *s = in->svc;
	bool standby = in->state == LC_STANDBY;

	lc_record(in->lc, s->name, in->id, standby ? "standby-failed" :
	    "boot-failed", "%s", why);
	evtimer_del(in->deadline);
	lc_probe_stop(in);
	if (standby)
		/*
		 * Not made, booted or paused.  Back off, or a standby that
		 * cannot boot is made again every tick; held clients wait
		 * for the active instance, not for this one.
		 */
		lc_standby_outcome(s, false);
	else {
		s->boot_failures++;
		if (s->active == in)
			lc_failed(s);
	}
	if (in->uuid[0] != '\0' || in->job_busy)
		lc_stop_instance(in, "failed");	/* the domain may exist */
	else
		lc_instance_gone(in, "failed");
}

static void
deadline_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct instance *in = arg;
	char why[96];

	snprintf(why, sizeof(why), "not ready within %llu ms",
	    (unsigned long long)in->svc->cfg->boot_timeout_ms);
	lc_instance_failed(in, why);
}

/* Wait for the guest's readiness (lc_probe.c). */
static void
probe(struct instance *in)
{
	if (lc_probe_start(in) == -1)
		lc_instance_failed(in, "cannot start the readiness probe");
}

/*
 * Adopted as starting with its domain paused: summond went between a
 * wake and its resume (a claimed standby, a suspended instance), and
 * nothing else would run its CPUs.  Resume it, then probe.  (If it was
 * a create libvirt was still finishing, libvirt runs the CPUs itself,
 * and a resume that fails on a running domain is probed: job_done.)
 */
void
lc_adopt_resume(struct instance *in)
{
	submit(in, VM_RESUME);
}

/*
 * The pause of a booted standby came back.  It may have been claimed
 * (resume it, or probe it if the pause failed and it still runs) or
 * stopped meanwhile.
 */
static void
standby_paused(struct instance *in, const struct vm_job *job,
    const char *pending)
{
	in->sby_phase = job->rc == 0 ? SBY_WARM : SBY_COLD;
	if (in->state == LC_STOPPING || pending != NULL)
		lc_stop_instance(in, pending != NULL ? pending : "failed");
	else if (in->state == LC_STARTING && job->rc == 0)
		submit(in, VM_RESUME);
	else if (in->state == LC_STARTING)
		probe(in);
	else if (job->rc == -1)
		lc_instance_failed(in, job->err);
}

static void
job_done(struct vm_job *job)
{
	struct instance *in = job->arg;
	struct lc_service *s = in->svc;
	struct lifecycle *lc = in->lc;
	const char *pending = in->stop_reason;

	in->job_busy = false;
	free(job->guest);
	job->guest = NULL;
	if (lc->closing)
		return;		/* the rows stay; the next start settles them */
	if (job->uuid[0] != '\0')
		snprintf(in->uuid, sizeof(in->uuid), "%s", job->uuid);

	switch (job->op) {
	case VM_CREATE:
	case VM_DEFINE_START:
	case VM_CREATE_PAUSED:
	case VM_RESUME:
	case VM_RESTORE:
		if (job->rc == -1 && job->op == VM_RESUME &&
		    job->state == VM_DS_RUNNING && in->state == LC_STARTING &&
		    pending == NULL) {
			/* Not paused after all: it runs, so wait for it. */
			log_info("%s: resume: %s; it runs: probing",
			    in->domain, job->err);
			probe(in);
			return;
		}
		if (job->rc == -1) {
			if (in->state == LC_STOPPING)
				lc_instance_gone(in, pending);
			else
				lc_instance_failed(in, job->err);
			return;
		}
		in->create_dur_ms = (int64_t)((job->finished_us -
		    job->started_us) / 1000);
		if (job->op != VM_RESUME && job->op != VM_RESTORE)
			hist_observe(&lc->stats.domain_create,
			    job->finished_us - job->started_us);
		if (pending != NULL && in->state != LC_STOPPING) {
			lc_stop_instance(in, pending);
			return;
		}
		if (in->state == LC_STANDBY) {
			lc_save_row(in);
			if (in->sby_phase == SBY_BOOTING) {	/* standby-booted */
				arm_deadline(in);
				probe(in);
			} else
				lc_standby_outcome(s, true);
			return;
		}
		if (job->op == VM_CREATE_PAUSED) {
			/* A standby claimed while it was being created. */
			submit(in, VM_RESUME);
			return;
		}
		if (in->state == LC_STOPPING) {	/* stopped meanwhile */
			lc_stop_instance(in, pending != NULL ? pending :
			    "failed");
			return;
		}
		lc_save_row(in);
		probe(in);
		return;
	case VM_SUSPEND:
	case VM_SAVE:
		if (in->sby_phase == SBY_PAUSING) {
			standby_paused(in, job, pending);
			return;
		}
		if (job->rc == -1) {
			log_warnx("%s: %s failed: %s; the tick destroys "
			    "it", in->domain, job->op == VM_SAVE ? "save" :
			    "suspend", job->err);
			in->stop_failed = true;
			return;
		}
		in->state = job->op == VM_SAVE ? LC_SAVED : LC_SUSPENDED;
		lc_count_stop(lc, pending != NULL ? pending : "idle");
		in->stopping_on_purpose = false;
		in->stop_reason = NULL;
		lc_record(lc, s->name, in->id, in->state == LC_SAVED ?
		    "saved" : "suspended", "%s", in->domain);
		lc_save_row(in);
		lc_instance_left(lc);
		if (s->rewake) {
			s->rewake = false;
			lc_boot(s);
		}
		return;
	case VM_SHUTDOWN:
	case VM_DESTROY:
		if (job->rc == -1 && job->state != VM_DS_NONE) {
			/* The tick will try again; the row stays live. */
			log_warnx("%s: stop failed: %s", in->domain, job->err);
			in->stop_failed = true;
			return;
		}
		lc_instance_gone(in, pending != NULL ? pending : "manual");
		return;
	case VM_STATE:
		return;
	}
}

void
lc_vm_event(void *arg, const char *domain, enum vm_event ev)
{
	struct lifecycle *lc = arg;
	struct instance *in;

	TAILQ_FOREACH(in, &lc->instances, live)
		if (strcmp(in->domain, domain) == 0)
			break;
	if (in == NULL) {
		log_debug("event for a domain we do not track: %s", domain);
		return;
	}
	/*
	 * VM_EV_STOPPED is a stop someone asked for (our destroy, or the
	 * managed save of stop-mode = save, whose event may come after the
	 * restore began): not a crash.
	 */
	if (ev != VM_EV_CRASHED && ev != VM_EV_SHUTDOWN)
		return;
	if (in->stopping_on_purpose || in->state == LC_STOPPING ||
	    in->state == LC_SAVED)
		return;		/* our own stop: job_done settles it */
	lc_record(lc, in->svc->name, in->id, "crash", "%s stopped (%s)",
	    in->domain, ev == VM_EV_SHUTDOWN ? "guest shut down" :
	    "crashed or killed");
	evtimer_del(in->deadline);
	lc_probe_stop(in);
	if (in->svc->active == in)
		lc_failed(in->svc);
	else if (in->in_standby)
		lc_standby_outcome(in->svc, false);
	standby_unlink(in);
	in->state = LC_STOPPING;
	lc_instance_gone(in, "crash");
}
