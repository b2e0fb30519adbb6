/*
 * lc_instance.c - instances: their rows, addresses and ports, the boots
 * and standbys that make them, eviction, and what comes back from the
 * vm backend (job results, domain events, the boot deadline), which
 * becomes events of the state table (lc_fsm.c).
 *
 * Every change of an instance is written to the store before the job
 * that makes it is submitted, so a summond killed at any moment leaves
 * a row that names the domain; lc_reconcile.c settles it at the next
 * start.  At most one vm job is out per instance (its state says when);
 * an instance is never freed while its job is out.
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
static void	deadline_cb(evutil_socket_t, short, void *);

static const char *const op_names[] = {
	[VM_CREATE] = "create", [VM_CREATE_PAUSED] = "create paused",
	[VM_DEFINE_START] = "define and start", [VM_RESUME] = "resume",
	[VM_SUSPEND] = "suspend", [VM_SAVE] = "save", [VM_RESTORE] = "restore",
	[VM_SHUTDOWN] = "shutdown", [VM_DESTROY] = "destroy",
	[VM_STATE] = "state",
};

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
	    lifecycle_state_name(lc_istate_public(in->state)));
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
	struct lc_host *h = in->host;
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
	for (i = 0; i < h->pool_size && h->pool_used[i]; i++)
		;
	if (i == h->pool_size) {
		if (cfg->host_sections)
			snprintf(err, errlen, "host %s: pool is exhausted",
			    h->conf->name);
		else
			snprintf(err, errlen, "[network] pool is exhausted");
		return -1;
	}
	h->pool_used[i] = 1;
	in->guest.s_addr = htonl(ntohl(h->conf->pool_lo.s_addr) +
	    (uint32_t)i);
	return 0;
nomem:
	snprintf(err, errlen, "out of memory");
	return -1;
}

/* Mark in's address in its host's pool map as used (1) or free (0). */
static void
mark_address(struct instance *in, uint8_t used)
{
	struct lc_host *h = in->host;
	uint32_t lo, a;

	if (h == NULL || in->guest.s_addr == 0)
		return;
	lo = ntohl(h->conf->pool_lo.s_addr);
	a = ntohl(in->guest.s_addr);
	if (a >= lo && a - lo < h->pool_size)
		h->pool_used[a - lo] = used;
}

static void
release_network(struct instance *in)
{
	struct lifecycle *lc = in->lc;
	size_t i;

	mark_address(in, 0);
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
	size_t i;

	mark_address(in, 1);
	for (i = 0; i < in->nhost_ports; i++)
		if (in->host_ports[i] >= lc->cfg->user_port_lo &&
		    (size_t)(in->host_ports[i] - lc->cfg->user_port_lo) <
		    lc->ports_size)
			lc->ports_used[in->host_ports[i] -
			    lc->cfg->user_port_lo] = 1;
}


/*
 * A bare instance on h in state st on the live list, counted in the
 * budget and on its host.
 */
struct instance *
lc_instance_adopt(struct lc_service *s, enum lc_istate st, struct lc_host *h)
{
	struct lifecycle *lc = s->lc;
	struct instance *in;

	if ((in = calloc(1, sizeof(*in))) == NULL)
		return NULL;
	in->svc = s;
	in->lc = lc;
	in->host = h;
	in->state = st;
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
	lc_host_count(in, 1);
	if (lc_istate_standby(st)) {
		TAILQ_INSERT_TAIL(&s->standby, in, sby);
		s->nstandby++;
	}
	return in;
}

struct instance *
lc_instance_new(struct lc_service *s, enum lc_istate st, struct lc_host *h)
{
	struct lifecycle *lc = s->lc;
	struct store_instance r;
	struct instance *in;
	char err[256];

	if ((in = lc_instance_adopt(s, st, h)) == NULL) {
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
	if (lc->cfg->host_sections)
		snprintf(r.host, sizeof(r.host), "%s", h->conf->name);
	if (lc->cfg->net_mode == CFG_NET_BRIDGE)
		inet_ntop(AF_INET, &in->guest, r.guest_address,
		    sizeof(r.guest_address));
	snprintf(r.state, sizeof(r.state), "%s",
	    lifecycle_state_name(lc_istate_public(st)));
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
lc_standby_unlink(struct instance *in)
{
	TAILQ_REMOVE(&in->svc->standby, in, sby);
	in->svc->nstandby--;
	lc_budget_unlink(in);
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
	if (lc_istate_standby(in->state))
		lc_standby_unlink(in);
	TAILQ_REMOVE(&lc->instances, in, live);
	lc->ninstances--;
	lc->memory_used -= in->memory;
	lc_host_count(in, -1);
	event_free(in->deadline);
	free(in->job.guest);
	free(in->host_ports);
	free(in);
}

/*
 * What the backend needs to create in: the service's guest with this
 * instance's name, addresses and ports, in a copy the job owns (a
 * reload may free the configuration while the job is out).
 */
struct vm_guest *
lc_describe(struct instance *in)
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
		.initrd = sc->initrd,
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
		g.network = in->host->conf->net_name;
		g.address = in->guest;
		g.gateway = in->host->conf->gateway;
		g.prefix = in->host->conf->prefix;
	}
	copy = vm_guest_copy(&g);
	free(fwd);
	return copy;
}

void
lc_submit(struct instance *in, enum vm_op op)
{
	struct lifecycle *lc = in->lc;

	in->job.op = op;
	snprintf(in->job.domain, sizeof(in->job.domain), "%s", in->domain);
	in->job.shutdown_ms = SHUTDOWN_GRACE_MS;
	lc->vmops->submit(in->host->vm, &in->job);
}

void
lc_arm_deadline(struct instance *in)
{
	struct timeval tv = clock_tv(in->svc->cfg != NULL ?
	    in->svc->cfg->boot_timeout_ms : 5000);

	evtimer_add(in->deadline, &tv);
}

enum lc_event
lc_reap_event(const struct lc_service *s)
{
	if (s->cfg == NULL)
		return LE_REAP;
	switch (s->cfg->stop_mode) {
	case CFG_STOP_SUSPEND:
		return LE_REAP_SUSPEND;
	case CFG_STOP_SAVE:
		return LE_REAP_SAVE;
	default:
		return LE_REAP;
	}
}

/* Count what is live and not on its way out. */
static void
usage(struct lifecycle *lc, size_t *n, uint64_t *mem)
{
	struct instance *in;
	enum lc_state st;

	*n = 0;
	*mem = 0;
	TAILQ_FOREACH(in, &lc->instances, live) {
		st = lc_istate_public(in->state);
		if (st != LC_STOPPING && st != LC_SAVED) {
			(*n)++;
			*mem += in->memory;
		}
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
		if (in->state == SB_WARM)
			return in;
		if (idle == NULL && !lc_istate_busy(in->state))
			idle = in;
	}
	return idle != NULL ? idle : TAILQ_FIRST(&s->standby);
}

/*
 * The instance to evict: suspended ones first, then idle ready ones,
 * least recently used first; for_svc: only on a host up that it may
 * run on.
 */
static struct instance *
eviction_victim(struct lifecycle *lc, const struct lc_service *for_svc)
{
	struct instance *in, *best = NULL;
	int rank, best_rank = 0;

	TAILQ_FOREACH(in, &lc->instances, live) {
		if (in->svc->conns > 0)
			continue;
		if (for_svc != NULL && (!in->host->up ||
		    (for_svc->cfg->hosts != 0 &&
		    !(for_svc->cfg->hosts & (1ULL << in->host->index)))))
			continue;
		if (in->state == IS_SUSPENDED)
			rank = 2;
		else if (in->state == IS_READY)
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
		if (!evict || (victim = eviction_victim(lc, NULL)) == NULL)
			return false;
		lc_fire(victim, LE_STOP, "evicted");
	}
}

/*
 * A host for a new instance of s (lc_place()): one up; for a wake
 * (evict), one up once idle instances where s may run are evicted, else
 * one that is down, whose job waits for it.
 */
static struct lc_host *
place(struct lc_service *s, bool standby, bool evict)
{
	struct instance *victim;
	struct lc_host *h;

	while ((h = lc_place(s, s->cfg->memory, standby, false)) == NULL) {
		if (!evict || (victim = eviction_victim(s->lc, s)) == NULL)
			break;
		lc_fire(victim, LE_STOP, "evicted");
	}
	if (h == NULL && evict)
		h = lc_place(s, s->cfg->memory, standby, true);
	return h;
}

int
lc_boot(struct lc_service *s)
{
	struct lifecycle *lc = s->lc;
	struct instance *in;
	struct lc_host *h;

	if (s->cfg == NULL || lc->shutting_down || s->active != NULL)
		return -1;
	/*
	 * A standby domain turns a boot into a resume.  One still being
	 * created (or booted, or paused) is claimed, and goes on from where
	 * it is: that is sooner than a create of our own.
	 */
	if ((in = standby_pick(s)) != NULL) {
		lc_n(s)->served[LC_BY_STANDBY]++;
		lc_budget_wake(s);
		lc_fire(in, LE_WAKE, NULL);
		return 0;
	}
	if (!lc_room_for(lc, s->cfg->memory, true)) {
		lc_record(lc, s->name, 0, "boot-failed", "max-instances (%u) "
		    "or memory-budget reached, and no idle instance to evict",
		    lc->cfg->max_instances);
		lc_n(s)->boot_failures++;
		lc_failed(s);
		return -1;
	}
	if ((h = place(s, false, true)) == NULL) {
		lc_record(lc, s->name, 0, "boot-failed", "no host it may run "
		    "on has room (max-instances, max-memory or free memory), "
		    "and none has an idle instance to evict");
		lc_n(s)->boot_failures++;
		lc_failed(s);
		return -1;
	}
	if ((in = lc_instance_new(s, IS_CREATING, h)) == NULL) {
		lc_failed(s);
		return -1;
	}
	lc_n(s)->served[LC_BY_CREATE]++;
	lc_budget_wake(s);
	lc_enter(in, IS_CREATING, S_CLAIM | S_BOOT | S_CREATE, NULL);
	return 0;
}

int
lc_make_standby(struct lc_service *s, bool budget)
{
	struct lifecycle *lc = s->lc;
	enum lc_istate st = s->cfg->standby_booted ? SB_BOOTING : SB_CREATING;
	struct instance *in;
	struct lc_host *h;

	if (lc->shutting_down || clock_mono_us() < s->sby_retry_at_us ||
	    !lc_room_for(lc, s->cfg->memory, false) ||
	    (h = place(s, true, false)) == NULL)
		return -1;
	if ((in = lc_instance_new(s, st, h)) == NULL)
		return -1;
	if (budget) {
		in->budget = true;
		in->placed_us = clock_mono_us();
		s->nbudget++;
		lc->budget_n++;
		lc->budget_memory += in->memory;
	}
	lc_enter(in, st, S_CREATE, NULL);
	return 0;
}

static void
deadline_cb(evutil_socket_t fd, short ev, void *arg)
{
	lc_fire(arg, LE_TIMEOUT, NULL);
}

/*
 * A job is back: what is true whatever the state (the domain's uuid,
 * the create's duration) is kept here, then its result is an event.
 */
static void
job_done(struct vm_job *job)
{
	struct instance *in = job->arg;
	struct lifecycle *lc = in->lc;
	enum lc_event ev;

	free(job->guest);
	job->guest = NULL;
	if (lc->closing)
		return;		/* the rows stay; the next start settles them */
	if (job->uuid[0] != '\0')
		snprintf(in->uuid, sizeof(in->uuid), "%s", job->uuid);
	if (job->rc == 0 && (job->op == VM_CREATE ||
	    job->op == VM_CREATE_PAUSED || job->op == VM_DEFINE_START ||
	    job->op == VM_RESUME || job->op == VM_RESTORE)) {
		in->create_dur_ms = (int64_t)((job->finished_us -
		    job->started_us) / 1000);
		if (job->op != VM_RESUME && job->op != VM_RESTORE)
			hist_observe(&lc->stats.domain_create,
			    job->finished_us - job->started_us);
	}
	if (job->rc == 0)
		ev = LE_OK;
	else {
		log_warnx("%s: %s failed: %s", in->domain,
		    op_names[job->op], job->err);
		ev = job->state == VM_DS_NONE ? LE_FAIL :
		    job->state == VM_DS_RUNNING ? LE_FAIL_RUNS : LE_FAIL_STAYS;
	}
	lc_fire(in, ev, NULL);
}

void
lc_vm_event(void *arg, const char *domain, enum vm_event ev)
{
	struct lc_host *h = arg;
	struct lifecycle *lc = h->lc;
	struct instance *in;

	TAILQ_FOREACH(in, &lc->instances, live)
		if (in->host == h && strcmp(in->domain, domain) == 0)
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
	log_info("%s: %s", domain, ev == VM_EV_SHUTDOWN ?
	    "the guest shut itself down" : "crashed or killed");
	lc_fire(in, LE_CRASH, NULL);
}
