/*
 * lc_reconcile.c - agree with libvirt about what exists, host by host.
 *
 * At start-up the store's live rows and each host's domains carrying
 * our metadata are matched by domain name, a row looked for on its own
 * host:
 *   row and domain, service configured   adopted in the domain's state
 *   row and domain, service gone         domain destroyed, row "removed"
 *   row, no domain                       row closed as "lost"
 *   row of a host down (or not known)    row closed as "lost"; its
 *                                        domain is looked at when the
 *                                        host comes up
 *   domain, no live row                  revived (below), or destroyed
 *                                        ("orphan"): no row means no
 *                                        address we could use
 * When a host (re)connects, lc_resync() gets its domains from a VM_LIST
 * job: it drops the instances there whose domain vanished meanwhile,
 * revives what was lost with the host, and destroys domains of ours that
 * no instance stands for.  A domain is revived, its row live again and
 * the instance adopted as ready, when it runs, its row was closed as
 * "lost" on this host after it had been ready, and its service has no
 * active instance (another host took the wakes meanwhile: then it is
 * destroyed).  Start-up lists block (before clients are served); a
 * reconnect's list is a job, so no host ever holds up the loop.
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

void
lc_destroy_domain(struct lc_host *h, const char *domain)
{
	struct vm_job *job = calloc(1, sizeof(*job));

	if (job == NULL) {
		log_warnx("%s: cannot destroy: out of memory", domain);
		return;
	}
	job->op = VM_DESTROY;
	snprintf(job->domain, sizeof(job->domain), "%s", domain);
	job->done = orphan_done;
	h->lc->vmops->submit(h->vm, job);
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
drop_foreign(struct lc_host *h, struct vm_domain *doms, size_t *n)
{
	struct lifecycle *lc = h->lc;
	size_t i, kept = 0;

	for (i = 0; i < *n; i++) {
		if (!domain_ours(lc, &doms[i])) {
			log_debug("%s: made by another summond (owner %s); "
			    "left alone", doms[i].name, doms[i].owner.id);
			if (lc_find(lc, doms[i].service) != NULL)
				log_warnx("%s: another summond on %s has a "
				    "service %s too: their domain names "
				    "collide; give them different names",
				    doms[i].name, h->conf->uri,
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

/* Take over the instance of row r, whose domain d exists on h. */
static void
adopt(struct lc_host *h, struct lc_service *s,
    const struct store_instance *r, const struct vm_domain *d)
{
	struct lifecycle *lc = h->lc;
	enum lc_state st = adopted_state(d->state, r->state);
	enum lc_istate ist;
	unsigned steps = 0;
	struct instance *in;
	size_t i;

	if (st == LC_STOPPED ||
	    (st != LC_STANDBY && s->active != NULL)) {
		/* Shut off, or a second active one: nothing to keep. */
		lc_destroy_domain(h, d->name);
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
		steps = S_DESTROY_ALL;
		break;
	}
	if ((in = lc_instance_adopt(s, ist, h)) == NULL) {
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
	/* Only a stop under way has a reason yet: a later one gives its own. */
	lc_enter(in, ist, steps, ist == IS_STOPPING ? "manual" : NULL);
}

/*
 * A domain of ours on h that no live row or instance stands for: made
 * live again if it was lost with its host (see the top), else destroyed.
 */
static void
revive_or_destroy(struct lc_host *h, const struct vm_domain *d)
{
	struct lifecycle *lc = h->lc;
	struct store_instance r;
	struct lc_service *s = lc_find(lc, d->service);

	if (d->state == VM_DS_RUNNING && d->instance > 0 && s != NULL &&
	    s->cfg != NULL && s->active == NULL && !lc->shutting_down &&
	    store_instance_get(lc->store, d->instance, &r) == 0 &&
	    r.stopped_ms != 0 && strcmp(r.stop_reason, "lost") == 0 &&
	    r.ready_ms != 0 && strcmp(r.domain, d->name) == 0 &&
	    strcmp(r.service, d->service) == 0 &&
	    lc_host_find(lc, r.host) == h &&
	    store_instance_reopen(lc->store, r.id, "ready") == 0) {
		snprintf(r.state, sizeof(r.state), "ready");
		r.stopped_ms = 0;
		lc_record(lc, s->name, r.id, "revived", "%s: it ran on while "
		    "host %s was away", d->name, h->conf->name);
		adopt(h, s, &r, d);
		return;
	}
	lc_record(lc, d->service, d->instance, "orphan", "destroying %s on "
	    "host %s: no instance of ours stands for it", d->name,
	    h->conf->name);
	lc_destroy_domain(h, d->name);
}

/* Close row r as lost: why, for the event log. */
static void
row_lost(struct lifecycle *lc, const struct store_instance *r,
    const char *why)
{
	store_instance_close(lc->store, r->id, clock_wall_ms(), "lost");
	lc_record(lc, r->service, r->id, "lost", "%s: %s",
	    r->domain[0] ? r->domain : "(no domain)", why);
}

int
lc_reconcile(struct lifecycle *lc, char *err, size_t errlen)
{
	struct rows rows = { NULL, 0, 0 };
	struct vm_domain **doms;
	struct lc_service *s;
	struct lc_host *h;
	size_t *ndoms, i, j, k, lost = 0, orphans = 0, nd = 0;
	bool **matched, *listed;
	char why[512];
	int rc = -1;

	doms = calloc(lc->nhosts, sizeof(*doms));
	ndoms = calloc(lc->nhosts, sizeof(*ndoms));
	matched = calloc(lc->nhosts, sizeof(*matched));
	listed = calloc(lc->nhosts, sizeof(*listed));
	if (doms == NULL || ndoms == NULL || matched == NULL ||
	    listed == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (k = 0; k < lc->nhosts; k++) {
		h = &lc->hosts[k];
		if (!lc->vmops->connected(h->vm))
			continue;
		doms[k] = lc->vmops->list(h->vm, &ndoms[k], why, sizeof(why));
		if (doms[k] == NULL) {
			if (lc->nhosts == 1) {
				snprintf(err, errlen, "%s", why);
				goto fail;
			}
			log_warnx("host %s: cannot list its domains: %s",
			    h->conf->name, why);
			continue;
		}
		if (drop_foreign(h, doms[k], &ndoms[k]) > 0)
			log_info("host %s: domains of another summond left "
			    "alone", h->conf->name);
		if ((matched[k] = calloc(ndoms[k] + 1, 1)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		listed[k] = true;
		nd += ndoms[k];
	}
	if (store_instances_live(lc->store, collect_row, &rows) == -1) {
		snprintf(err, errlen, "store: %s", store_errmsg(lc->store));
		goto fail;
	}
	for (i = 0; i < rows.n; i++) {
		const struct store_instance *r = &rows.v[i];
		if ((h = lc_host_find(lc, r->host)) == NULL) {
			snprintf(why, sizeof(why), "host %s is no longer "
			    "configured", r->host);
			row_lost(lc, r, why);
			lost++;
			continue;
		}
		k = h->index;
		if (!listed[k]) {
			snprintf(why, sizeof(why), "host %s is down", h->conf->name);
			row_lost(lc, r, why);
			lost++;
			continue;
		}
		for (j = 0; j < ndoms[k]; j++)
			if (!matched[k][j] &&
			    strcmp(doms[k][j].name, r->domain) == 0)
				break;
		if (j == ndoms[k]) {
			row_lost(lc, r, "the domain is gone");
			lost++;
			continue;
		}
		matched[k][j] = true;
		if ((s = lc_find(lc, r->service)) == NULL) {
			lc_destroy_domain(h, doms[k][j].name);
			store_instance_close(lc->store, r->id, clock_wall_ms(),
			    "removed");
			lc_record(lc, r->service, r->id, "stop", "%s: service "
			    "no longer configured", doms[k][j].name);
			continue;
		}
		adopt(h, s, r, &doms[k][j]);
	}
	for (k = 0; k < lc->nhosts; k++) {
		if (!listed[k])
			continue;
		for (j = 0; j < ndoms[k]; j++)
			if (!matched[k][j]) {
				revive_or_destroy(&lc->hosts[k], &doms[k][j]);
				orphans++;
			}
		lc->hosts[k].up = lc->hosts[k].ever_up = true;
	}
	log_info("reconciled: %zu rows, %zu domains, %zu lost, %zu without "
	    "a row", rows.n, nd, lost, orphans);
	rc = 0;
fail:
	for (k = 0; doms != NULL && k < lc->nhosts; k++)
		free(doms[k]);
	for (k = 0; matched != NULL && k < lc->nhosts; k++)
		free(matched[k]);
	free(doms);
	free(ndoms);
	free(matched);
	free(listed);
	free(rows.v);
	return rc;
}

void
lc_resync(struct lc_host *h, const struct vm_domain *list, size_t n)
{
	struct lifecycle *lc = h->lc;
	struct instance *in, *next;
	struct vm_domain *doms;
	size_t j;

	if ((doms = calloc(n + 1, sizeof(*doms))) == NULL) {
		log_warnx("host %s: out of memory reconciling", h->conf->name);
		return;
	}
	if (n > 0)
		memcpy(doms, list, n * sizeof(*doms));
	drop_foreign(h, doms, &n);
	TAILQ_FOREACH_SAFE(in, &lc->instances, live, next) {
		if (in->host != h)
			continue;
		for (j = 0; j < n; j++)
			if (strcmp(doms[j].name, in->domain) == 0)
				break;
		if (j == n)
			lc_fire(in, LE_LOST, NULL);	/* if no job is out */
	}
	/* And the other way: a domain of ours that no instance stands for. */
	for (j = 0; j < n; j++) {
		TAILQ_FOREACH(in, &lc->instances, live)
			if (in->host == h &&
			    strcmp(doms[j].name, in->domain) == 0)
				break;
		if (in == NULL)
			revive_or_destroy(h, &doms[j]);
	}
	log_info("host %s: reconciled after connecting: %zu domains of "
	    "ours", h->conf->name, n);
	free(doms);
}
