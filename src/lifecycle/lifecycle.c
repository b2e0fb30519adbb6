/*
 * lifecycle.c - per-service state machines: the table, wakes, waiters,
 * reload, the reaper's tick and what list/status/metrics read.
 *
 * A service has at most one active instance (starting, ready, stopping,
 * suspended or saved) and any number of standby instances (created
 * paused, or booted to ready and then paused).  Its state is the active
 * instance's, else "standby" when it has a standby domain paused, else
 * "failed" after a failed boot, else "stopped".  Services are found
 * through a hash table by name, so a wake costs the same with 10,000
 * services as with 10; periodic work walks the live instances only.
 * An instance moves only through its state table (lc_fsm.c);
 * lc_instance.c makes instances and turns what the vm backend reports
 * into events of that table, lc_probe.c decides readiness,
 * lc_reconcile.c adopts what an earlier summond left.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "lc_internal.h"
#include "nameidx.h"
#include "log.h"
#include "store.h"

struct lc_waiter {
	struct lc_waiter	*next, *prev;
	struct lc_service	*svc;
	lc_notify_fn		 fn;
	void			*arg;
};

static const char *const state_names[] = {
	[LC_STOPPED] = "stopped", [LC_STANDBY] = "standby",
	[LC_STARTING] = "starting", [LC_READY] = "ready",
	[LC_STOPPING] = "stopping", [LC_SUSPENDED] = "suspended",
	[LC_SAVED] = "saved", [LC_FAILED] = "failed",
};

static const char *const source_names[] = {
	[LC_SRC_DNS] = "dns", [LC_SRC_CONNECT] = "connect",
	[LC_SRC_CTL] = "ctl",
};

static const char *const served_names[] = {
	[LC_BY_RUNNING] = "running", [LC_BY_STANDBY] = "standby",
	[LC_BY_SUSPENDED] = "suspended", [LC_BY_CREATE] = "create",
};

const char *
lifecycle_served_name(enum lc_served by)
{
	return (unsigned)by < LC_NSERVED ? served_names[by] : "?";
}

const char *
lifecycle_state_name(enum lc_state s)
{
	return (unsigned)s < LC_NSTATES ? state_names[s] : "?";
}

static const char *const reason_names[LC_NREASONS] = { LC_REASONS };

const char *
lifecycle_reason_name(size_t i)
{
	return i < LC_NREASONS ? reason_names[i] : NULL;
}

void
lc_count_stop(struct lifecycle *lc, const char *reason)
{
	size_t i;

	for (i = 0; i < LC_NREASONS; i++)
		if (strcmp(reason_names[i], reason) == 0) {
			lc->stats.stops[i]++;
			return;
		}
}

const struct lc_stats *
lifecycle_stats(struct lifecycle *lc)
{
	return &lc->stats;
}

const char *
lifecycle_source_name(enum lc_source s)
{
	return (unsigned)s < LC_NSOURCES ? source_names[s] : "?";
}

enum lc_state
lc_service_state(const struct lc_service *s)
{
	struct instance *in;

	if (s->active != NULL)
		return lc_istate_public(s->active->state);
	TAILQ_FOREACH(in, &s->standby, sby)
		if (in->state == SB_COLD || in->state == SB_WARM)
			return LC_STANDBY;	/* created, paused, usable */
	return s->failed ? LC_FAILED : LC_STOPPED;
}

void
lc_record(struct lifecycle *lc, const char *service, int64_t instance,
    const char *kind, const char *fmt, ...)
{
	char detail[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	log_info("%s: %s%s%s", service, kind, detail[0] ? ": " : "", detail);
	if (store_event_add(lc->store, clock_wall_ms(), service, instance,
	    kind, detail) == -1)
		log_warnx("store: %s", store_errmsg(lc->store));
}


struct lc_service *
lc_find(struct lifecycle *lc, const char *name)
{
	return nameidx_get(&lc->byname, name);
}

static void
retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct lc_service *s = arg;

	/* Back-off is over: boot if someone still waits for it. */
	if (s->waiters != NULL && s->active == NULL && s->cfg != NULL)
		lc_boot(s);
}

static struct lc_service *
service_new(struct lifecycle *lc, const struct cfg_service *cfg)
{
	struct lc_service *s;
	size_t len = strlen(cfg->name);
	struct lc_counts *n;
	uint64_t boots = 0;
	int64_t last_boot_ms = -1;

	if ((s = calloc(1, sizeof(*s) + len + 1)) == NULL)
		return NULL;
	memcpy(s->name, cfg->name, len + 1);
	s->cfg = cfg;
	s->lc = lc;
	s->rank = -HUGE_VAL;		/* never woken */
	TAILQ_INIT(&s->standby);
	if (lc->store != NULL)
		store_service_stats(lc->store, s->name, &boots, &last_boot_ms);
	if (boots > 0 || last_boot_ms != -1) {
		n = lc_n(s);
		n->boots = boots;
		n->last_boot_ms = last_boot_ms;
	}
	return s;
}

struct lc_counts *
lc_n(struct lc_service *s)
{
	/* Where counts go when there is no memory for them: nowhere. */
	static struct lc_counts lost;

	if (s->n == NULL && (s->n = calloc(1, sizeof(*s->n))) != NULL)
		s->n->last_boot_ms = -1;
	return s->n != NULL ? s->n : &lost;
}

static void
service_free(struct lc_service *s)
{
	if (s->retry != NULL)
		event_free(s->retry);
	/* Retired (rare) and woken before: walks that short list. */
	if (s->rank != -HUGE_VAL && !s->lc->closing)
		SLIST_REMOVE(&s->lc->ranked, s, lc_service, ranked);
	free(s->cold_start);
	free(s->n);
	free(s);
}

void
lc_observe_cold_start(struct lc_service *s, uint64_t us)
{
	if (s->cold_start == NULL &&
	    (s->cold_start = calloc(1, sizeof(*s->cold_start))) == NULL) {
		log_warn("%s: cold start histogram", s->name);
		return;
	}
	hist_observe(s->cold_start, us);
}

/* Record the configured services in the store (instances refer to them). */
static void
sync_store(struct lifecycle *lc, const struct config *cfg)
{
	const char **names = calloc(cfg->nservices + 1, sizeof(*names));
	size_t i;

	if (names == NULL) {
		log_warn("store: services");
		return;
	}
	for (i = 0; i < cfg->nservices; i++)
		names[i] = cfg->services[i].name;
	if (store_sync_services(lc->store, names, cfg->nservices,
	    clock_wall_ms()) == -1)
		log_warnx("store: cannot record services: %s",
		    store_errmsg(lc->store));
	free(names);
}

/*
 * A configuration prepared, not yet in effect: the new name index (the
 * services that stay and the new ones), the new ones themselves, and
 * the address and port maps made for cfg.
 */
struct lc_reload {
	const struct config	*cfg;
	struct nameidx		 byname;
	struct lc_service	**added;
	size_t			 nadded;
	struct lc_hosts_reload	*hosts;		/* each host's pool map */
	uint8_t			*ports_used;
	size_t			 ports_size;
};

/*
 * The address and port maps for cfg, with what the live instances hold
 * marked: a range that changed must not hand out an address or a port
 * an instance still has.  The hosts' pools are lc_host.c's (none yet at
 * start: lc_hosts_open() makes them).
 */
static int
prepare_maps(struct lifecycle *lc, const struct config *cfg,
    struct lc_reload *r)
{
	struct instance *in;
	size_t i;

	r->ports_size = (size_t)cfg->user_port_hi - cfg->user_port_lo + 1;
	if ((r->ports_used = calloc(r->ports_size, 1)) == NULL)
		return -1;
	if (lc->nhosts > 0 && (r->hosts = lc_hosts_prepare(lc, cfg)) == NULL)
		return -1;
	TAILQ_FOREACH(in, &lc->instances, live) {
		for (i = 0; i < in->nhost_ports; i++)
			if (in->host_ports[i] >= cfg->user_port_lo &&
			    (size_t)(in->host_ports[i] - cfg->user_port_lo) <
			    r->ports_size)
				r->ports_used[in->host_ports[i] -
				    cfg->user_port_lo] = 1;
	}
	return 0;
}

struct lc_reload *
lifecycle_reload_prepare(struct lifecycle *lc, const struct config *cfg,
    char *err, size_t errlen)
{
	struct lc_reload *r;
	struct lc_service *s;
	size_t i;

	/* What the running instances cannot follow. */
	if (lc->cfg != NULL && cfg->net_mode != lc->cfg->net_mode &&
	    lc->ninstances > 0) {
		snprintf(err, errlen, "[network] mode: %zu instances live in "
		    "%s mode; reap them first (summonctl reap --all)",
		    lc->ninstances, lc->cfg->net_mode == CFG_NET_USER ?
		    "user" : "bridge");
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto nomem;
	r->cfg = cfg;
	r->byname.name_off = offsetof(struct lc_service, name);
	/* At most 3/4 full: 128 KiB of slots with 10,000 services. */
	if (nameidx_reserve(&r->byname, cfg->nservices) == -1 ||
	    (r->added = calloc(cfg->nservices + 1, sizeof(*r->added))) ==
	    NULL || prepare_maps(lc, cfg, r) == -1)
		goto nomem;
	for (i = 0; i < cfg->nservices; i++) {
		const struct cfg_service *c = &cfg->services[i];
		if ((s = lc_find(lc, c->name)) == NULL) {
			if ((s = service_new(lc, c)) == NULL)
				goto nomem;
			r->added[r->nadded++] = s;
		}
		nameidx_put(&r->byname, s);	/* reserved: cannot fail */
	}
	return r;
nomem:
	lifecycle_reload_abort(lc, r);
	snprintf(err, errlen, "out of memory");
	return NULL;
}

void
lifecycle_reload_commit(struct lifecycle *lc, struct lc_reload *r)
{
	const struct config *cfg = r->cfg;
	struct instance *in, *next;
	struct lc_service *s;
	size_t i;

	TAILQ_FOREACH(s, &lc->services, all)
		s->cfg = NULL;
	for (i = 0; i < r->nadded; i++)
		TAILQ_INSERT_TAIL(&lc->services, r->added[i], all);
	for (i = 0; i < cfg->nservices; i++)
		((struct lc_service *)nameidx_get(&r->byname,
		    cfg->services[i].name))->cfg = &cfg->services[i];
	nameidx_clear(&lc->byname);
	lc->byname = r->byname;
	if (r->hosts != NULL)
		lc_hosts_commit(lc, r->hosts);
	free(lc->ports_used);
	lc->ports_used = r->ports_used;
	lc->ports_size = r->ports_size;
	lc->cfg = cfg;
	free(r->added);
	free(r);
	sync_store(lc, cfg);
	/*
	 * Instances of removed services stop now, not at the next tick: a
	 * probe or a boot deadline of theirs would read the configuration
	 * they no longer have.
	 */
	TAILQ_FOREACH_SAFE(in, &lc->instances, live, next)
		if (in->svc->cfg == NULL)
			lc_fire(in, LE_STOP, "removed");
}

void
lifecycle_reload_abort(struct lifecycle *lc, struct lc_reload *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->nadded; i++)
		service_free(r->added[i]);
	free(r->added);
	nameidx_clear(&r->byname);
	lc_hosts_abort(r->hosts);
	free(r->ports_used);
	free(r);
}

struct lifecycle *
lifecycle_new(struct event_base *base, const struct config *cfg,
    struct store *store, const struct vm_backend_ops *ops, char *err,
    size_t errlen)
{
	struct lifecycle *lc;
	struct lc_reload *r;

	if ((lc = calloc(1, sizeof(*lc))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	lc->base = base;
	lc->store = store;
	lc->vmops = ops;
	lc_owner(&lc->owner, store, cfg->state);
	TAILQ_INIT(&lc->services);
	SLIST_INIT(&lc->ranked);
	TAILQ_INIT(&lc->instances);
	lc->byname.name_off = offsetof(struct lc_service, name);
	if ((r = lifecycle_reload_prepare(lc, cfg, err, errlen)) == NULL)
		goto fail;
	lifecycle_reload_commit(lc, r);
	if (lc_hosts_open(lc, cfg, err, errlen) == -1)
		goto fail;
	if (lc_reconcile(lc, err, errlen) == -1)
		goto fail;
	lc_hosts_up(lc);
	return lc;
fail:
	lifecycle_free(lc);
	return NULL;
}

static void
shutdown_check(struct lifecycle *lc)
{
	void (*done)(void *) = lc->on_idle;

	if (done == NULL || !TAILQ_EMPTY(&lc->instances))
		return;
	lc->on_idle = NULL;
	done(lc->on_idle_arg);
}

void
lifecycle_shutdown(struct lifecycle *lc, void (*done)(void *), void *arg)
{
	struct instance *in, *next;
	struct lc_service *s;

	lc->shutting_down = true;
	TAILQ_FOREACH(s, &lc->services, all)
		lc_notify(s, false);
	if (lc->cfg->on_exit == CFG_ON_EXIT_KEEP) {
		log_info("on-exit = keep: leaving %zu instances running",
		    lc->ninstances);
		done(arg);
		return;
	}
	lc->on_idle = done;
	lc->on_idle_arg = arg;
	TAILQ_FOREACH_SAFE(in, &lc->instances, live, next)
		lc_fire(in, LE_STOP, "shutdown");
	shutdown_check(lc);
}

void
lifecycle_free(struct lifecycle *lc)
{
	struct lc_service *s;
	struct instance *in;

	if (lc == NULL)
		return;
	lc->shutting_down = true;
	lc->closing = true;
	TAILQ_FOREACH(s, &lc->services, all)
		lc_notify(s, false);
	/* Pending done()s run in the close; their instances live till then. */
	lc_hosts_close_vms(lc);
	while ((in = TAILQ_FIRST(&lc->instances)) != NULL)
		lc_instance_free(in);
	lc_hosts_close(lc);
	while ((s = TAILQ_FIRST(&lc->services)) != NULL) {
		TAILQ_REMOVE(&lc->services, s, all);
		service_free(s);
	}
	nameidx_clear(&lc->byname);
	free(lc->ports_used);
	free(lc);
}

void
lc_instance_left(struct lifecycle *lc)
{
	shutdown_check(lc);
}

static uint64_t
backoff_us(unsigned failures)
{
	/* The first retry is immediate; then 250 ms doubling to 30 s. */
	uint64_t us = 250000;

	if (failures < 2)
		return 0;
	for (unsigned i = 2; i < failures && us < 30000000; i++)
		us *= 2;
	return us < 30000000 ? us : 30000000;
}

void
lc_wake(struct lc_service *s)
{
	struct lifecycle *lc = s->lc;
	uint64_t now = clock_mono_us(), wait;
	struct timeval tv;

	if (lc->shutting_down || s->cfg == NULL)
		return;
	if (s->active != NULL) {
		enum lc_istate st = s->active->state;

		if (st == IS_READY)
			lc_n(s)->served[LC_BY_RUNNING]++;
		else if (lc_fire(s->active, LE_WAKE, NULL) &&
		    (st == IS_SUSPENDED || st == IS_SAVED ||
		    st == IS_SUSPENDING || st == IS_SAVING)) {
			/* Comes back from RAM or disk; a stop's wake boots later. */
			lc_n(s)->served[LC_BY_SUSPENDED]++;
			lc_budget_wake(s);
		}
		return;
	}
	if (s->failed && now < s->retry_at_us) {
		/* Made on first need: 10,000 services rarely all back off. */
		if (s->retry == NULL &&
		    (s->retry = evtimer_new(lc->base, retry_cb, s)) == NULL) {
			log_warnx("%s: cannot arm the back-off timer", s->name);
			return;
		}
		if (!evtimer_pending(s->retry, NULL)) {
			wait = s->retry_at_us - now;
			tv.tv_sec = (time_t)(wait / 1000000);
			tv.tv_usec = (suseconds_t)(wait % 1000000);
			evtimer_add(s->retry, &tv);
		}
		return;
	}
	lc_boot(s);
}

int
lifecycle_wake(struct lifecycle *lc, const char *service,
    enum lc_source src)
{
	struct lc_service *s = lc_find(lc, service);

	if (s == NULL) {
		errno = ENOENT;
		return -1;
	}
	lc_n(s)->wakes[src]++;
	s->last_activity_us = clock_mono_us();
	lc_wake(s);
	return (int)lc_service_state(s);
}

void
lc_failed(struct lc_service *s)
{
	s->failed = true;
	s->failures++;
	s->retry_at_us = clock_mono_us() + backoff_us(s->failures);
	lc_notify(s, false);
}

void
lc_standby_outcome(struct lc_service *s, bool ok)
{
	if (ok)
		s->sby_failures = 0;
	else if (s->sby_failures < UINT8_MAX)
		s->sby_failures++;
	s->sby_retry_at_us = clock_mono_us() + backoff_us(s->sby_failures);
}

/*
 * Whether something under way will end in ready or failed: a boot in
 * flight, a boot queued behind a stop, or one waiting out its back-off.
 * A boot that failed inside the wake that started it (no room, no
 * template) leaves nothing to wait for.
 */
static bool
outcome_coming(const struct lc_service *s)
{
	const struct instance *in = s->active;

	if (in != NULL && (lc_istate_public(in->state) == LC_STARTING ||
	    lc_istate_woken(in->state)))
		return true;
	return s->retry != NULL && evtimer_pending(s->retry, NULL);
}

struct lc_waiter *
lifecycle_wait(struct lifecycle *lc, const char *service, lc_notify_fn fn,
    void *arg)
{
	struct lc_service *s = lc_find(lc, service);
	struct lc_waiter *w;

	if (s == NULL) {
		errno = ENOENT;
		return NULL;
	}
	if (s->active != NULL && s->active->state == IS_READY) {
		errno = EALREADY;
		return NULL;
	}
	if (!outcome_coming(s)) {
		errno = ECANCELED;	/* the boot failed already */
		return NULL;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return NULL;
	w->svc = s;
	w->fn = fn;
	w->arg = arg;
	w->next = s->waiters;
	if (s->waiters != NULL)
		s->waiters->prev = w;
	s->waiters = w;
	return w;
}

void
lifecycle_wait_cancel(struct lifecycle *lc, struct lc_waiter *w)
{
	struct lc_service *s = w->svc;

	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		s->waiters = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	free(w);
}

/*
 * Tell every waiter of s the outcome, oldest first (waiters are pushed
 * at the head, so walk from the tail), and forget them.  A callback may
 * add new waiters; they stay for the next outcome.
 */
void
lc_notify(struct lc_service *s, bool ok)
{
	struct lc_waiter *w = s->waiters, *last = NULL;

	s->waiters = NULL;
	for (; w != NULL; w = w->next)
		last = w;
	while ((w = last) != NULL) {
		last = w->prev;
		w->fn(w->arg, s->name, ok);
		free(w);
	}
}

int
lifecycle_stop(struct lifecycle *lc, const char *service, const char *reason)
{
	struct lc_service *s = lc_find(lc, service);
	struct instance *in;

	if (s == NULL) {
		errno = ENOENT;
		return -1;
	}
	in = s->active;
	if (in == NULL || !lc_fire(in, lc_reap_event(s), reason))
		return 1;
	return 0;
}

static bool
instance_idle(struct instance *in, uint64_t now)
{
	struct lc_service *s = in->svc;

	if (in->state != IS_READY || s->cfg == NULL)
		return false;
	if (s->conns > 0 && s->cfg->idle_connections == CFG_IDLE_KEEPALIVE)
		return false;
	return now - s->last_activity_us >= s->cfg->idle_timeout_ms * 1000;
}

bool
lifecycle_is_idle(struct lifecycle *lc, const char *service)
{
	struct lc_service *s = lc_find(lc, service);

	return s != NULL && s->active != NULL &&
	    instance_idle(s->active, clock_mono_us());
}

/*
 * Whether a live instance still points at s: not only its active and
 * standby ones, also a standby already unlinked whose destroy is out.
 * The live list is short (at most max-instances and what is stopping).
 */
static bool
service_in_use(const struct lifecycle *lc, const struct lc_service *s)
{
	const struct instance *in;

	TAILQ_FOREACH(in, &lc->instances, live)
		if (in->svc == s)
			return true;
	return false;
}

size_t
lifecycle_tick(struct lifecycle *lc)
{
	struct instance *in, *next;
	struct lc_service *s, *snext;
	uint64_t now = clock_mono_us();
	size_t stopped = 0;

	if (lc->shutting_down)
		return 0;
	lc_hosts_tick(lc);
	TAILQ_FOREACH_SAFE(in, &lc->instances, live, next) {
		s = in->svc;
		if (in->state == IS_STOP_FAILED ||
		    in->state == IS_STOP_FAILED_W)
			lc_fire(in, LE_RETRY, NULL);
		else if (s->cfg == NULL) {
			/* Its service was removed from the configuration. */
			if (lc_fire(in, LE_STOP, "removed"))
				stopped++;
		} else if (instance_idle(in, now) &&
		    lc_fire(in, lc_reap_event(s), "idle"))
			stopped++;
	}
	/* Keep the standby pools full, and let retired services go. */
	TAILQ_FOREACH_SAFE(s, &lc->services, all, snext) {
		if (s->cfg == NULL) {
			if (!service_in_use(lc, s)) {
				lc_notify(s, false);
				TAILQ_REMOVE(&lc->services, s, all);
				service_free(s);
			}
			continue;
		}
		while (s->cfg->standby > s->nstandby - s->nbudget &&
		    lc_make_standby(s, false) == 0)
			;
	}
	lc_budget_tick(lc);
	return stopped;
}

int
lifecycle_endpoint(struct lifecycle *lc, const char *service,
    uint16_t guest_port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct lc_service *s = lc_find(lc, service);
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct instance *in;
	size_t i;

	if (s == NULL || s->cfg == NULL) {
		errno = ENOENT;
		return -1;
	}
	in = s->active;
	if (in == NULL || in->state != IS_READY) {
		errno = ENOTCONN;
		return -1;
	}
	memset(ss, 0, sizeof(*ss));
	sin->sin_family = AF_INET;
	*len = sizeof(*sin);
	if (lc->cfg->net_mode == CFG_NET_BRIDGE) {
		sin->sin_addr = in->guest;
		sin->sin_port = htons(guest_port);
		return 0;
	}
	for (i = 0; i < s->cfg->nports && i < in->nhost_ports; i++)
		if (s->cfg->ports[i].guest_port == guest_port) {
			sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			sin->sin_port = htons(in->host_ports[i]);
			return 0;
		}
	errno = EADDRNOTAVAIL;
	return -1;
}

void
lifecycle_touch(struct lifecycle *lc, const char *service)
{
	struct lc_service *s = lc_find(lc, service);

	if (s != NULL)
		s->last_activity_us = clock_mono_us();
}

void
lifecycle_conn(struct lifecycle *lc, const char *service, int delta)
{
	struct lc_service *s = lc_find(lc, service);

	if (s != NULL) {
		s->conns += delta;
		s->last_activity_us = clock_mono_us();
	}
}

int
lifecycle_info(struct lifecycle *lc, const char *service,
    struct lc_info *info)
{
	static const struct hist no_boots;
	struct lc_service *s = lc_find(lc, service);
	struct instance *in;
	uint64_t now = clock_mono_us();

	if (s == NULL) {
		errno = ENOENT;
		return -1;
	}
	memset(info, 0, sizeof(*info));
	info->service = s->name;
	info->state = lc_service_state(s);
	info->uptime_ms = -1;
	info->idle_ms = s->last_activity_us == 0 ? -1 :
	    (int64_t)((now - s->last_activity_us) / 1000);
	info->last_boot_ms = -1;
	if (s->n != NULL) {
		info->boots = s->n->boots;
		info->last_boot_ms = s->n->last_boot_ms;
		info->boot_failures = s->n->boot_failures;
		memcpy(info->served, s->n->served, sizeof(info->served));
		memcpy(info->wakes, s->n->wakes, sizeof(info->wakes));
	}
	info->standby = (unsigned)s->nstandby;
	info->budget_standbys = s->nbudget;
	info->score = lc_budget_score(s);
	info->cold_start = s->cold_start != NULL ? s->cold_start : &no_boots;
	info->connections = s->conns;
	in = s->active;
	if (in != NULL) {
		snprintf(info->domain, sizeof(info->domain), "%s", in->domain);
		info->host = in->host->conf->name;
		if (lc->cfg->net_mode == CFG_NET_BRIDGE)
			inet_ntop(AF_INET, &in->guest, info->guest_address,
			    sizeof(info->guest_address));
		else if (in->nhost_ports > 0)
			snprintf(info->guest_address,
			    sizeof(info->guest_address), "127.0.0.1:%u",
			    in->host_ports[0]);
		if (in->state == IS_READY)
			info->uptime_ms = (int64_t)((now - in->ready_us) /
			    1000);
	}
	return 0;
}

void
lifecycle_totals(struct lifecycle *lc, struct lc_totals *t)
{
	struct instance *in;
	struct lc_service *s;

	memset(t, 0, sizeof(*t));
	TAILQ_FOREACH(in, &lc->instances, live)
		t->instances[lc_istate_public(in->state)]++;
	TAILQ_FOREACH(s, &lc->services, all)
		if (s->active == NULL && TAILQ_EMPTY(&s->standby))
			t->instances[s->failed ? LC_FAILED : LC_STOPPED]++;
	t->live = lc->ninstances;
	t->memory = lc->memory_used;
}
