/*
 * lc_host.c - the libvirt hosts guests run on: their connections, where
 * a new instance goes, and what happens when a host goes away and comes
 * back.
 *
 * Each host is one vm backend connection (libvirt's remote driver for
 * another machine: qemu+ssh://, qemu+tls://) with a subnet and a pool
 * of its own.  A host is up when it is connected and its domains have
 * been reconciled; only then does placement choose it:
 *
 *   placement   a host up, allowed by the service's hosts, below its
 *               caps, with the most free memory (libvirt's figure, less
 *               what was placed since it came); a standby goes first to
 *               the host with the fewest standbys of its service, so that
 *               one host going takes at most its share of them.  When no
 *               host up can take a wake, not even by evicting an idle
 *               instance, a host that is down may: the job waits for its
 *               connection, as with one host.
 *   down        the connection is lost.  With several hosts its instances
 *               are lost (recorded, rows closed; LE_HOST_DOWN), since
 *               nothing can be stopped or reaped there, and wakes go to
 *               the other hosts.  With one host there is nowhere else to
 *               go: its instances stay and its jobs wait for the
 *               connection, as before hosts.
 *   back        the backend reconnects with back-off; a VM_LIST job (the
 *               network ensured first) brings the host's domains to
 *               lc_resync(), which adopts a running domain of an instance
 *               lost with the host when its service has none active, and
 *               destroys what no instance stands for; then the host is up.
 *
 * Free memory comes from a VM_HOST_INFO job per host and tick, so the
 * main loop never waits on a host.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "config.h"
#include "lc_internal.h"
#include "log.h"

static void	host_info(struct lc_host *);

/* conf in one allocation, strings included; free() releases it. */
static struct cfg_host *
conf_copy(const struct cfg_host *conf)
{
	const char *src[] = { conf->name, conf->uri, conf->net_name,
	    conf->net_bridge };
	size_t len[4], total = sizeof(*conf), i;
	struct cfg_host *c;
	char *p, **dst[4];

	for (i = 0; i < 4; i++)
		total += (len[i] = src[i] != NULL ? strlen(src[i]) + 1 : 0);
	if ((c = malloc(total)) == NULL)
		return NULL;
	*c = *conf;
	dst[0] = &c->name;
	dst[1] = &c->uri;
	dst[2] = &c->net_name;
	dst[3] = &c->net_bridge;
	p = (char *)(c + 1);
	for (i = 0; i < 4; i++) {
		*dst[i] = NULL;
		if (src[i] == NULL)
			continue;
		memcpy(p, src[i], len[i]);
		*dst[i] = p;
		p += len[i];
	}
	return c;
}

/*
 * h takes conf and frees the copy it had, unless h's VM_LIST job, which
 * a worker thread reads, is out with that copy's network names: then
 * at sync_done.
 */
static void
set_conf(struct lc_host *h, struct cfg_host *conf)
{
	if (h->conf != conf && h->syncing && h->sync_conf == NULL)
		h->sync_conf = h->conf;
	else if (h->conf != conf)
		free(h->conf);
	h->conf = conf;
	h->net.name = conf->net_name;
	h->net.bridge = conf->net_bridge;
	h->net.gateway = conf->gateway;
	h->net.prefix = conf->prefix;
}

struct lc_host *
lc_host_find(struct lifecycle *lc, const char *name)
{
	size_t i;

	if (*name == '\0')
		return &lc->hosts[0];
	for (i = 0; i < lc->nhosts; i++)
		if (strcmp(lc->hosts[i].conf->name, name) == 0)
			return &lc->hosts[i];
	return NULL;
}

void
lc_host_count(struct instance *in, int sign)
{
	struct lc_host *h = in->host;

	if (h == NULL)
		return;
	if (sign > 0) {
		h->ninstances++;
		h->memory_used += in->memory;
		h->placed_since += in->memory;	/* libvirt has not seen it */
	} else {
		h->ninstances--;
		h->memory_used -= in->memory;
	}
}

/* The sync job is back: the host's domains, or why there are none. */
static void
sync_done(struct vm_job *j)
{
	struct lc_host *h = j->arg;
	struct lifecycle *lc = h->lc;

	h->syncing = false;
	free(h->sync_conf);
	h->sync_conf = NULL;
	if (lc->closing) {
		free(j->domains);
		return;
	}
	if (j->rc == -1) {
		/* The next reconnect, or the tick, tries again. */
		log_warnx("host %s: cannot list its domains: %s",
		    h->conf->name, j->err);
		free(j->domains);
		return;
	}
	lc_resync(h, j->domains, j->ndomains);
	free(j->domains);
	j->domains = NULL;
	if (!h->up)
		log_info("host %s is up (%s)", h->conf->name, h->conf->uri);
	h->up = true;
	h->ever_up = true;
	host_info(h);
}

/* Ask h for its domains (ensuring its network first), unless asked. */
static void
host_sync(struct lc_host *h)
{
	struct lifecycle *lc = h->lc;

	if (h->syncing || lc->closing)
		return;
	memset(&h->sync, 0, sizeof(h->sync));
	h->sync.op = VM_LIST;
	snprintf(h->sync.domain, sizeof(h->sync.domain), "(host %s)",
	    h->conf->name);
	h->sync_net = h->net;	/* a reload may change net meanwhile */
	h->sync.network = lc->cfg->net_mode == CFG_NET_BRIDGE &&
	    h->conf->net_create ? &h->sync_net : NULL;
	h->sync.done = sync_done;
	h->sync.arg = h;
	h->syncing = true;
	lc->vmops->submit(h->vm, &h->sync);
}

static void
on_reconnect(void *arg)
{
	struct lc_host *h = arg;

	log_info("host %s: connected again; reconciling", h->conf->name);
	host_sync(h);
}

static void
on_down(void *arg)
{
	struct lc_host *h = arg;
	struct lifecycle *lc = h->lc;
	struct instance *in, *next;
	size_t n = 0;

	if (lc->closing)
		return;
	h->up = false;
	h->free_memory = 0;
	if (lc->nhosts == 1) {
		log_warnx("host %s is down: its jobs wait for it",
		    h->conf->name);
		return;
	}
	TAILQ_FOREACH_SAFE(in, &lc->instances, live, next)
		if (in->host == h && lc_fire(in, LE_HOST_DOWN, "lost"))
			n++;
	log_warnx("host %s is down: %zu instances lost; wakes go to the "
	    "other hosts", h->conf->name, n);
}

int
lc_hosts_open(struct lifecycle *lc, const struct config *cfg, char *err,
    size_t errlen)
{
	struct vm_callbacks cbs = { lc_vm_event, on_reconnect, NULL, on_down };
	struct lc_host *h;
	char why[512];
	size_t i;
	int flags = cfg->nhosts > 1 ? VM_OPEN_LAZY : 0;

	if ((lc->hosts = calloc(cfg->nhosts, sizeof(*lc->hosts))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < cfg->nhosts; i++) {
		h = &lc->hosts[lc->nhosts];
		h->lc = lc;
		h->index = (unsigned)i;
		if ((h->conf = conf_copy(&cfg->hosts[i])) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		set_conf(h, h->conf);
		h->pool_size = ntohl(h->conf->pool_hi.s_addr) -
		    ntohl(h->conf->pool_lo.s_addr) + 1;
		if ((h->pool_used = calloc(h->pool_size, 1)) == NULL) {
			free(h->conf);
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		lc->nhosts++;
		cbs.arg = h;
		why[0] = '\0';
		h->vm = lc->vmops->open(lc->base, h->conf->uri, &cbs, flags,
		    why, sizeof(why));
		if (h->vm == NULL) {
			snprintf(err, errlen, "%s", why);
			return -1;
		}
		if (!lc->vmops->connected(h->vm)) {
			log_warnx("host %s: %s: %s; retrying in the "
			    "background", h->conf->name, h->conf->uri, why);
			continue;
		}
		if (cfg->net_mode != CFG_NET_BRIDGE || !h->conf->net_create)
			continue;
		if (lc->vmops->ensure_network(h->vm, &h->net, why,
		    sizeof(why)) == -1) {
			if (cfg->nhosts == 1) {
				snprintf(err, errlen, "%s", why);
				return -1;
			}
			log_warnx("host %s: network %s: %s", h->conf->name,
			    h->net.name, why);
		}
	}
	return 0;
}

void
lc_hosts_close_vms(struct lifecycle *lc)
{
	size_t i;

	/* Pending done()s run here (lc->closing makes them quiet). */
	for (i = 0; i < lc->nhosts; i++)
		if (lc->hosts[i].vm != NULL) {
			lc->vmops->close(lc->hosts[i].vm);
			lc->hosts[i].vm = NULL;
		}
}

void
lc_hosts_close(struct lifecycle *lc)
{
	size_t i;

	lc_hosts_close_vms(lc);
	for (i = 0; i < lc->nhosts; i++) {
		free(lc->hosts[i].conf);
		free(lc->hosts[i].sync_conf);
		free(lc->hosts[i].pool_used);
	}
	free(lc->hosts);
	lc->hosts = NULL;
	lc->nhosts = 0;
}

/*
 * Memory h has free for a guest now, as best we know: under its cap
 * (used: what counts there now), and what libvirt said less what was
 * placed since.
 */
static uint64_t
host_free(const struct lc_host *h, uint64_t used)
{
	uint64_t cap = UINT64_MAX, lv = UINT64_MAX - used;

	/* Not asked yet: the least used host is the freest. */
	if (h->conf->max_memory > 0)
		cap = h->conf->max_memory > used ?
		    h->conf->max_memory - used : 0;
	if (h->free_memory > 0)
		lv = h->free_memory > h->placed_since ?
		    h->free_memory - h->placed_since : 0;
	return cap < lv ? cap : lv;
}

static unsigned
standbys_on(const struct lc_service *s, const struct lc_host *h)
{
	const struct instance *in;
	unsigned n = 0;

	TAILQ_FOREACH(in, &s->standby, sby)
		if (in->host == h)
			n++;
	return n;
}

/*
 * What counts against each host's caps, as against [summond]'s: live
 * instances not on their way out (stopping) and not saved to disk.
 */
static void
host_usage(struct lifecycle *lc, size_t *n, uint64_t *mem)
{
	struct instance *in;
	enum lc_state st;

	memset(n, 0, lc->nhosts * sizeof(*n));
	memset(mem, 0, lc->nhosts * sizeof(*mem));
	TAILQ_FOREACH(in, &lc->instances, live) {
		st = lc_istate_public(in->state);
		if (in->host == NULL || st == LC_STOPPING || st == LC_SAVED)
			continue;
		n[in->host->index]++;
		mem[in->host->index] += in->memory;
	}
}

struct lc_host *
lc_place(struct lc_service *s, uint64_t memory, bool standby, bool down_ok)
{
	struct lifecycle *lc = s->lc;
	struct lc_host *h, *best = NULL, *fallback = NULL;
	size_t n[CFG_HOSTS_MAX], i;
	uint64_t mem[CFG_HOSTS_MAX], free_best = 0, f;
	unsigned sb_best = 0, sb;

	if (lc->nhosts == 1)	/* the one host takes what [summond] lets */
		return &lc->hosts[0];
	host_usage(lc, n, mem);
	for (i = 0; i < lc->nhosts; i++) {
		h = &lc->hosts[i];
		if (s->cfg->hosts != 0 && !(s->cfg->hosts & (1ULL << i)))
			continue;
		if (h->conf->max_instances > 0 &&
		    n[i] >= h->conf->max_instances)
			continue;
		if (h->conf->max_memory > 0 &&
		    mem[i] + memory > h->conf->max_memory)
			continue;
		if (!h->up) {
			if (fallback == NULL)
				fallback = h;
			continue;
		}
		if ((f = host_free(h, mem[i])) < memory)
			continue;
		sb = standby ? standbys_on(s, h) : 0;
		if (best == NULL || sb < sb_best ||
		    (sb == sb_best && f > free_best)) {
			best = h;
			free_best = f;
			sb_best = sb;
		}
	}
	/* No host up can: a wake may wait for one that is down. */
	return best != NULL ? best : down_ok ? fallback : NULL;
}

static void
info_done(struct vm_job *j)
{
	struct lc_host *h = j->arg;

	h->info_out = false;
	if (j->rc == 0) {
		h->free_memory = j->free_memory;
		h->placed_since = 0;
	}
}

/* Ask h for its free memory, unless asked (several hosts only). */
static void
host_info(struct lc_host *h)
{
	struct lifecycle *lc = h->lc;

	if (!h->up || h->info_out || lc->nhosts == 1 || lc->closing)
		return;
	memset(&h->info, 0, sizeof(h->info));
	h->info.op = VM_HOST_INFO;
	snprintf(h->info.domain, sizeof(h->info.domain), "(host %s)",
	    h->conf->name);
	h->info.done = info_done;
	h->info.arg = h;
	h->info_out = true;
	lc->vmops->submit(h->vm, &h->info);
}

void
lc_hosts_tick(struct lifecycle *lc)
{
	struct lc_host *h;
	size_t i;

	for (i = 0; i < lc->nhosts; i++) {
		h = &lc->hosts[i];
		/* A sync that failed while connected: try it again. */
		if (!h->up && !h->syncing && h->ever_up &&
		    lc->vmops->connected(h->vm))
			host_sync(h);
		host_info(h);
	}
}

void
lc_hosts_up(struct lifecycle *lc)
{
	size_t i;

	for (i = 0; i < lc->nhosts; i++)
		host_info(&lc->hosts[i]);
}

/*
 * Reload.  The set of hosts and their URIs are the ones summond started
 * with (a restart applies a change; the daemon says so); a host's
 * network, pool and caps follow the configuration, with a pool map that
 * keeps what its live instances hold.
 */
struct lc_hosts_reload {
	struct cfg_host	**conf;		/* by lc->hosts index; NULL: keep */
	uint8_t		**pool_used;
	size_t		 *pool_size;
	size_t		  n;
};

void
lc_hosts_abort(struct lc_hosts_reload *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++) {
		free(r->conf[i]);
		free(r->pool_used[i]);
	}
	free(r->conf);
	free(r->pool_used);
	free(r->pool_size);
	free(r);
}

struct lc_hosts_reload *
lc_hosts_prepare(struct lifecycle *lc, const struct config *cfg)
{
	struct lc_hosts_reload *r;
	const struct cfg_host *nc;
	struct cfg_host t;
	struct instance *in;
	uint32_t lo, a;
	size_t i;
	int k;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->n = lc->nhosts;
	if ((r->conf = calloc(r->n + 1, sizeof(*r->conf))) == NULL ||
	    (r->pool_used = calloc(r->n + 1, sizeof(*r->pool_used))) ==
	    NULL ||
	    (r->pool_size = calloc(r->n + 1, sizeof(*r->pool_size))) == NULL)
		goto fail;
	for (i = 0; i < r->n; i++) {
		/* The one host of a file without [host] is "default". */
		k = config_host(cfg, lc->hosts[i].conf->name);
		t = k >= 0 ? cfg->hosts[k] : *lc->hosts[i].conf;
		t.name = lc->hosts[i].conf->name;
		t.uri = lc->hosts[i].conf->uri;	/* the one connected to */
		nc = &t;
		if ((r->conf[i] = conf_copy(nc)) == NULL)
			goto fail;
		lo = ntohl(nc->pool_lo.s_addr);
		r->pool_size[i] = ntohl(nc->pool_hi.s_addr) - lo + 1;
		if ((r->pool_used[i] = calloc(r->pool_size[i], 1)) == NULL)
			goto fail;
		TAILQ_FOREACH(in, &lc->instances, live) {
			a = ntohl(in->guest.s_addr);
			if (in->host == &lc->hosts[i] && in->guest.s_addr != 0 &&
			    a >= lo && a - lo < r->pool_size[i])
				r->pool_used[i][a - lo] = 1;
		}
	}
	return r;
fail:
	lc_hosts_abort(r);
	return NULL;
}

void
lc_hosts_commit(struct lifecycle *lc, struct lc_hosts_reload *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(lc->hosts[i].pool_used);
		lc->hosts[i].pool_used = r->pool_used[i];
		lc->hosts[i].pool_size = r->pool_size[i];
		r->pool_used[i] = NULL;
		set_conf(&lc->hosts[i], r->conf[i]);
		r->conf[i] = NULL;
	}
	lc_hosts_abort(r);
}

size_t
lifecycle_nhosts(struct lifecycle *lc)
{
	return lc->nhosts;
}

int
lifecycle_host_info(struct lifecycle *lc, size_t i, struct lc_host_info *hi)
{
	const struct lc_host *h;

	if (i >= lc->nhosts)
		return -1;
	h = &lc->hosts[i];
	memset(hi, 0, sizeof(*hi));
	hi->name = h->conf->name;
	hi->uri = h->conf->uri;
	hi->up = h->up;
	hi->instances = h->ninstances;
	hi->memory = h->memory_used;
	hi->free_memory = h->free_memory;
	hi->max_instances = h->conf->max_instances;
	hi->max_memory = h->conf->max_memory;
	return 0;
}
