/*
 * lc_reconcile.c - agree with libvirt about what exists.
 *
 * At start-up the store's live rows and libvirt's domains carrying our
 * metadata are matched by domain name:
 *   row and domain, service configured   adopted in the domain's state
 *   row and domain, service gone         domain destroyed, row "removed"
 *   row, no domain                       row closed as "lost"
 *   domain, no live row                  destroyed ("orphan"): no row
 *                                        means no address we could use
 * After a lost libvirtd connection comes back, lc_resync() drops the
 * instances whose domain vanished meanwhile and destroys domains of ours
 * that no instance stands for.  Listing blocks; both run
 * only at start-up or right after a reconnect.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "lc_internal.h"
#include "log.h"
#include "store.h"

struct rows {
	struct store_instance	*v;
	size_t			 n, cap;
};

static int
collect_row(void *arg, const struct store_instance *r)
{
	struct rows *rows = arg;
	struct store_instance *v;

	if (rows->n == rows->cap) {
		rows->cap = rows->cap ? rows->cap * 2 : 16;
		v = reallocarray(rows->v, rows->cap, sizeof(*v));
		if (v == NULL)
			return -1;
		rows->v = v;
	}
	rows->v[rows->n++] = *r;
	return 0;
}

static void
orphan_done(struct vm_job *job)
{
	if (job->rc == -1)
		log_warnx("%s: destroy failed: %s", job->domain, job->err);
	free(job);
}

/* Destroy a domain no instance stands for, in the background. */
static void
destroy_domain(struct lifecycle *lc, const char *domain)
{
	struct vm_job *job = calloc(1, sizeof(*job));

	if (job == NULL) {
		log_warnx("%s: cannot destroy: out of memory", domain);
		return;
	}
	job->op = VM_DESTROY;
	snprintf(job->domain, sizeof(job->domain), "%s", domain);
	job->done = orphan_done;
	lc->vmops->submit(lc->vm, job);
}

void
lc_owner(struct vm_owner *o, struct store *st, const char *state_path)
{
	char real[PATH_MAX];
	const char *p = realpath(state_path, real) != NULL ? real : state_path;
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */

	for (; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
	snprintf(o->id, sizeof(o->id), "%s", store_owner(st));
	snprintf(o->state, sizeof(o->state), "%016" PRIx64, h);
}

/*
 * Whether d is ours: made by this state database (its id), or by one
 * that was at its path before (a database made again: its domains are
 * ours to adopt or destroy), or by a summond from before owners.
 */
static bool
domain_ours(const struct lifecycle *lc, const struct vm_domain *d)
{
	return d->owner.id[0] == '\0' ||
	    strcmp(d->owner.id, lc->owner.id) == 0 ||
	    strcmp(d->owner.state, lc->owner.state) == 0;
}

/*
 * Drop from doms[] the domains of another summond on this libvirtd;
 * returns how many.
 */
static size_t
drop_foreign(struct lifecycle *lc, struct vm_domain *doms, size_t *n)
{
	size_t i, kept = 0;

	for (i = 0; i < *n; i++) {
		if (!domain_ours(lc, &doms[i])) {
			log_debug("%s: made by another summond (owner %s); "
			    "left alone", doms[i].name, doms[i].owner.id);
			if (lc_find(lc, doms[i].service) != NULL)
				log_warnx("%s: another summond on %s has a "
				    "service %s too: their domain names "
				    "collide; give them different names",
				    doms[i].name, lc->cfg->hypervisor,
				    doms[i].service);
			continue;
		}
		if (kept != i)
			doms[kept] = doms[i];
		kept++;
	}
	i = *n - kept;
	*n = kept;
	return i;
}

static enum lc_state
adopted_state(enum vm_dstate ds, const char *row_state)
{
	switch (ds) {
	case VM_DS_RUNNING:
		/*
		 * A running "standby" was booting (standby-booted) when
		 * summond went: not worth finishing, and it must not become
		 * the active instance.  The tick makes a new one.
		 */
		return strcmp(row_state, "ready") == 0 ? LC_READY :
		    strcmp(row_state, "starting") == 0 ? LC_STARTING :
		    strcmp(row_state, "standby") == 0 ? LC_STOPPED :
		    LC_STOPPING;
	case VM_DS_PAUSED:
		/*
		 * "starting" and paused: a create still in flight (QEMU starts
		 * with its CPUs stopped, and libvirt finishes it without us),
		 * or a wake whose resume summond did not live to send (a
		 * claimed standby, a suspended instance).  adopt() resumes
		 * it, then probes (bounded by boot-timeout).
		 */
		if (strcmp(row_state, "standby") == 0)
			return LC_STANDBY;
		if (strcmp(row_state, "starting") == 0)
			return LC_STARTING;
		if (strcmp(row_state, "stopping") == 0)
			return LC_STOPPING;
		return LC_SUSPENDED;
	case VM_DS_SAVED:
		return LC_SAVED;
	default:
		return LC_STOPPED;
	}
}

/* Take over the instance of row r, whose domain d exists. */
static void
adopt(struct lifecycle *lc, struct lc_service *s,
    const struct store_instance *r, const struct vm_domain *d)
{
	enum lc_state st = adopted_state(d->state, r->state);
	enum lc_istate ist;
	unsigned steps = 0;
	struct instance *in;
	size_t i;

	if (st == LC_STOPPED ||
	    (st != LC_STANDBY && s->active != NULL)) {
		/* Shut off, or a second active one: nothing to keep. */
		destroy_domain(lc, d->name);
		store_instance_close(lc->store, r->id, clock_wall_ms(), "lost");
		return;
	}
	/* Where it enters its state table, and what that takes. */
	switch (st) {
	case LC_STANDBY:
		ist = SB_COLD;
		break;
	case LC_READY:
		ist = IS_READY;
		break;
	case LC_STARTING:
		/*
		 * Paused: summond went between a wake and its resume (a
		 * claimed standby, a suspended instance), and nothing else
		 * would run its CPUs.  (If it was a create libvirt was still
		 * finishing, libvirt runs the CPUs itself, and the resume
		 * that fails on a running domain is probed.)
		 */
		ist = d->state == VM_DS_PAUSED ? IS_RESUMING : IS_PROBING;
		steps = S_DEADLINE | (ist == IS_RESUMING ? S_RESUME : S_PROBE);
		break;
	case LC_SUSPENDED:
		ist = IS_SUSPENDED;
		break;
	case LC_SAVED:
		ist = IS_SAVED;
		break;
	default:
		ist = IS_STOPPING;
		steps = S_REC_STOP | S_ROW | S_DESTROY;
		break;
	}
	if ((in = lc_instance_adopt(s, ist)) == NULL) {
		log_warnx("%s: cannot adopt: out of memory", d->name);
		return;
	}
	in->id = r->id;
	snprintf(in->domain, sizeof(in->domain), "%s", d->name);
	snprintf(in->uuid, sizeof(in->uuid), "%s", d->uuid);
	in->created_wall = r->created_ms;
	in->create_dur_ms = r->create_dur_ms;
	if (r->guest_address[0] != '\0')
		inet_pton(AF_INET, r->guest_address, &in->guest);
	if (r->host_port != 0 && s->cfg->nports > 0) {
		in->host_ports = calloc(s->cfg->nports, sizeof(uint16_t));
		for (i = 0; in->host_ports != NULL && i < s->cfg->nports; i++)
			in->host_ports[in->nhost_ports++] =
			    (uint16_t)(r->host_port + i);
	}
	lc_claim_network(in);
	in->woke_us = clock_mono_us();
	if (st != LC_STANDBY)
		s->active = in;
	if (st == LC_READY) {
		/* Ready before: keep its times, idle from now. */
		in->ready_wall = r->ready_ms;
		in->ready_us = clock_mono_us() -
		    (uint64_t)(clock_wall_ms() - r->ready_ms) * 1000;
		s->last_activity_us = clock_mono_us();
	}
	lc_record(lc, s->name, in->id, "adopted", "%s as %s", d->name,
	    lifecycle_state_name(st));
	lc_enter(in, ist, steps, "manual");
}

int
lc_reconcile(struct lifecycle *lc, char *err, size_t errlen)
{
	struct rows rows = { NULL, 0, 0 };
	struct vm_domain *doms;
	struct lc_service *s;
	bool *matched;
	size_t ndoms, i, j, lost = 0, orphans = 0, foreign;

	if ((doms = lc->vmops->list(lc->vm, &ndoms, err, errlen)) == NULL)
		return -1;
	foreign = drop_foreign(lc, doms, &ndoms);
	if (store_instances_live(lc->store, collect_row, &rows) == -1) {
		snprintf(err, errlen, "store: %s", store_errmsg(lc->store));
		free(doms);
		free(rows.v);
		return -1;
	}
	matched = calloc(ndoms + 1, sizeof(*matched));
	if (matched == NULL) {
		snprintf(err, errlen, "out of memory");
		free(doms);
		free(rows.v);
		return -1;
	}
	for (i = 0; i < rows.n; i++) {
		const struct store_instance *r = &rows.v[i];
		for (j = 0; j < ndoms; j++)
			if (!matched[j] && strcmp(doms[j].name, r->domain) == 0)
				break;
		if (j == ndoms) {
			store_instance_close(lc->store, r->id, clock_wall_ms(),
			    "lost");
			lc_record(lc, r->service, r->id, "lost", "domain %s "
			    "is gone", r->domain[0] ? r->domain : "(none)");
			lost++;
			continue;
		}
		matched[j] = true;
		if ((s = lc_find(lc, r->service)) == NULL) {
			destroy_domain(lc, doms[j].name);
			store_instance_close(lc->store, r->id, clock_wall_ms(),
			    "removed");
			lc_record(lc, r->service, r->id, "stop", "%s: service "
			    "no longer configured", doms[j].name);
			continue;
		}
		adopt(lc, s, r, &doms[j]);
	}
	for (j = 0; j < ndoms; j++) {
		if (matched[j])
			continue;
		lc_record(lc, doms[j].service, doms[j].instance, "orphan",
		    "destroying %s: no instance of ours stands for it",
		    doms[j].name);
		destroy_domain(lc, doms[j].name);
		orphans++;
	}
	log_info("reconciled: %zu rows, %zu domains, %zu lost, %zu orphans",
	    rows.n, ndoms, lost, orphans);
	if (foreign > 0)
		log_info("%zu domains of another summond on %s left alone",
		    foreign, lc->cfg->hypervisor);
	free(matched);
	free(doms);
	free(rows.v);
	return 0;
}

void
lc_resync(void *arg)
{
	struct lifecycle *lc = arg;
	struct instance *in, *next;
	struct vm_domain *doms;
	char err[256];
	size_t n, j;

	if ((doms = lc->vmops->list(lc->vm, &n, err, sizeof(err))) == NULL) {
		log_warnx("after reconnecting: %s", err);
		return;
	}
	drop_foreign(lc, doms, &n);
	TAILQ_FOREACH_SAFE(in, &lc->instances, live, next) {
		for (j = 0; j < n; j++)
			if (strcmp(doms[j].name, in->domain) == 0)
				break;
		if (j == n)
			lc_fire(in, LE_LOST, NULL);	/* if no job is out */
	}
	/* And the other way: a domain of ours that no instance stands for. */
	for (j = 0; j < n; j++) {
		TAILQ_FOREACH(in, &lc->instances, live)
			if (strcmp(doms[j].name, in->domain) == 0)
				break;
		if (in != NULL)
			continue;
		lc_record(lc, doms[j].service, doms[j].instance, "orphan",
		    "destroying %s: no instance of ours stands for it",
		    doms[j].name);
		destroy_domain(lc, doms[j].name);
	}
	log_info("libvirt connection back: %zu domains of ours", n);
	free(doms);
}
