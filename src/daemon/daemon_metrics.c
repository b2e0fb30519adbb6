/*
 * daemon_metrics.c - what summond exports at /metrics: every module's
 * counters, read at scrape time, in the text format of metrics.c.  The
 * daemon renders it because it is the one module that knows the others;
 * metrics/ serves it without including any of them.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "config.h"
#include "daemon_internal.h"
#include "dns.h"
#include "hist.h"
#include "lifecycle.h"
#include "metrics.h"
#include "proxy.h"
#include "reaper.h"

struct snapshot {
	struct {
		const char		*name;
		struct proxy_stats	 st;
	}			*v;
	size_t			 n;
};

static void
snap_add(void *arg, const char *service, const struct proxy_stats *st)
{
	struct snapshot *snap = arg;

	snap->v[snap->n].name = service;
	snap->v[snap->n++].st = *st;
}

static void
shared_peeking(void *arg, const struct proxy_shared_stats *st)
{
	evbuffer_add_printf(arg, "summon_proxy_peeking{listener=\"%s\","
	    "route=\"%s\"} %llu\n", st->listener, st->route,
	    (unsigned long long)st->peeking);
}

/*
 * A counter family of every service with a label per slot of one of
 * lc_info's arrays: name{service="s",label="slot"} n.
 */
static void
service_counts(struct daemon *d, struct evbuffer *b, const char *name,
    const char *help, const char *label, const char *const *slot,
    size_t nslots, size_t at)
{
	const struct config *cfg = d->cfg;
	struct lc_info info;
	const uint64_t *n;
	size_t i, j;

	metrics_family(b, name, "counter", help);
	for (i = 0; i < cfg->nservices; i++) {
		if (lifecycle_info(d->lc, cfg->services[i].name, &info) == -1)
			continue;
		n = (const uint64_t *)((const char *)&info + at);
		for (j = 0; j < nslots; j++)
			evbuffer_add_printf(b, "%s{service=\"%s\",%s=\"%s\"} "
			    "%llu\n", name, info.service, label,
			    slot[j], (unsigned long long)n[j]);
	}
}

void
daemon_metrics_render(void *daemon, struct evbuffer *b)
{
	struct daemon *d = daemon;
	const struct config *cfg = d->cfg;
	const struct dns_stats *ds = d->dns != NULL ? dns_stats(d->dns) : NULL;
	const struct lc_stats *ls = lifecycle_stats(d->lc);
	struct lc_totals tot;
	struct lc_host_info hi;
	struct lc_info info;
	struct snapshot snap;
	uint64_t shared[PROXY_NROUTE_REFUSALS];
	const char *sources[LC_NSOURCES], *served[LC_NSERVED];
	char labels[96];
	size_t i, j;

	metrics_family(b, "summon_dns_queries_total", "counter",
	    "DNS queries, by the response code sent (or dropped).");
	for (i = 0; i < DNS_NSTATS; i++)
		evbuffer_add_printf(b, "summon_dns_queries_total{rcode=\"%s\"} "
		    "%llu\n", dns_stat_name(i), (unsigned long long)(ds ?
		    ds->queries[i] : 0));
	metrics_family(b, "summon_dns_tcp_closed_total", "counter",
	    "DNS-over-TCP connections summond closed or refused, by reason.");
	for (i = 0; i < DNS_TCP_NCLOSE; i++)
		evbuffer_add_printf(b, "summon_dns_tcp_closed_total{reason="
		    "\"%s\"} %llu\n", dns_tcp_close_name(i),
		    (unsigned long long)(ds ? ds->tcp_closed[i] : 0));

	for (i = 0; i < LC_NSOURCES; i++)
		sources[i] = lifecycle_source_name(i);
	for (i = 0; i < LC_NSERVED; i++)
		served[i] = lifecycle_served_name(i);
	service_counts(d, b, "summon_wakes_total",
	    "Wakes of a service, by what woke it.", "source", sources,
	    LC_NSOURCES, offsetof(struct lc_info, wakes));
	service_counts(d, b, "summon_wakes_served_total",
	    "Wakes, by what served them: running, a standby, a suspended or "
	    "saved instance, a create.", "by", served, LC_NSERVED,
	    offsetof(struct lc_info, served));

	metrics_family(b, "summon_boots_total", "counter",
	    "Boots (create, resume or restore to ready), by result.");
	for (i = 0; i < cfg->nservices; i++) {
		if (lifecycle_info(d->lc, cfg->services[i].name, &info) == -1)
			continue;
		evbuffer_add_printf(b, "summon_boots_total{service=\"%s\","
		    "result=\"ok\"} %llu\nsummon_boots_total{service=\"%s\","
		    "result=\"failed\"} %llu\n", info.service,
		    (unsigned long long)info.boots, info.service,
		    (unsigned long long)info.boot_failures);
	}

	/*
	 * Histograms and refusals only for services that have some: 10,000
	 * services that never booted would be 170,000 lines of zeros.
	 */
	metrics_family(b, "summon_cold_start_seconds", "histogram",
	    "From the first wake to ready.");
	for (i = 0; i < cfg->nservices; i++) {
		if (lifecycle_info(d->lc, cfg->services[i].name, &info) == -1 ||
		    info.cold_start->total == 0)
			continue;
		snprintf(labels, sizeof(labels), "service=\"%s\",",
		    info.service);
		metrics_histogram(b, "summon_cold_start_seconds", labels,
		    info.cold_start);
	}

	metrics_family(b, "summon_domain_create_seconds", "histogram",
	    "How long libvirt took to create a domain.");
	metrics_histogram(b, "summon_domain_create_seconds", "",
	    &ls->domain_create);

	metrics_family(b, "summon_instances", "gauge",
	    "Live instances by state; services with none count as stopped "
	    "or failed.");
	lifecycle_totals(d->lc, &tot);
	for (i = 0; i < LC_NSTATES; i++)
		evbuffer_add_printf(b, "summon_instances{state=\"%s\"} %llu\n",
		    lifecycle_state_name(i),
		    (unsigned long long)tot.instances[i]);

	metrics_family(b, "summon_host_up", "gauge",
	    "1 while summond is connected to the host and has reconciled "
	    "its domains.");
	for (i = 0; lifecycle_host_info(d->lc, i, &hi) == 0; i++)
		evbuffer_add_printf(b, "summon_host_up{host=\"%s\"} %d\n",
		    hi.name, hi.up ? 1 : 0);
	metrics_family(b, "summon_host_instances", "gauge",
	    "Live instances on the host.");
	for (i = 0; lifecycle_host_info(d->lc, i, &hi) == 0; i++)
		evbuffer_add_printf(b, "summon_host_instances{host=\"%s\"} "
		    "%zu\n", hi.name, hi.instances);
	metrics_family(b, "summon_host_memory_bytes", "gauge",
	    "Guest memory of the live instances on the host.");
	for (i = 0; lifecycle_host_info(d->lc, i, &hi) == 0; i++)
		evbuffer_add_printf(b, "summon_host_memory_bytes{host=\"%s\"} "
		    "%llu\n", hi.name, (unsigned long long)hi.memory);

	/* One pass over the proxy's services, then a family at a time. */
	snap.n = 0;
	snap.v = calloc(cfg->nservices + 1, sizeof(*snap.v));
	if (snap.v != NULL)
		proxy_foreach_stats(d->proxy, snap_add, &snap);
	metrics_family(b, "summon_proxy_connections_total", "counter",
	    "Client connections accepted by the proxy.");
	for (i = 0; i < snap.n; i++)
		evbuffer_add_printf(b, "summon_proxy_connections_total{"
		    "service=\"%s\"} %llu\n", snap.v[i].name,
		    (unsigned long long)snap.v[i].st.connections);
	metrics_family(b, "summon_proxy_held", "gauge",
	    "Clients held now while their service boots.");
	for (i = 0; i < snap.n; i++)
		evbuffer_add_printf(b, "summon_proxy_held{service=\"%s\"} "
		    "%llu\n", snap.v[i].name,
		    (unsigned long long)snap.v[i].st.held);
	metrics_family(b, "summon_proxy_hold_seconds", "histogram",
	    "From accept to relaying (held time).");
	metrics_histogram(b, "summon_proxy_hold_seconds", "",
	    proxy_hold_hist(d->proxy));
	metrics_family(b, "summon_proxy_refused_total", "counter",
	    "Client connections closed without being relayed, by reason.");
	for (i = 0; i < snap.n; i++)
		for (j = 0; j < PROXY_NREFUSALS; j++)
			if (snap.v[i].st.refused[j] > 0)
				evbuffer_add_printf(b,
				    "summon_proxy_refused_total{service="
				    "\"%s\",reason=\"%s\"} %llu\n",
				    snap.v[i].name, proxy_refusal_name(j),
				    (unsigned long long)
				    snap.v[i].st.refused[j]);
	/*
	 * What shared listeners refused, before any service was known: so
	 * under an empty service label (summonctl status has them per
	 * listener).
	 */
	if (proxy_route_refused_total(d->proxy, shared))
		for (i = 0; i < PROXY_NROUTE_REFUSALS; i++)
			evbuffer_add_printf(b, "summon_proxy_refused_total{"
			    "service=\"\",reason=\"%s\"} %llu\n",
			    proxy_route_refusal_name(i),
			    (unsigned long long)shared[i]);
	metrics_family(b, "summon_proxy_routed_total", "counter",
	    "Connections a shared listener gave a service, by the name they "
	    "asked for or as its route-default.");
	for (i = 0; i < snap.n; i++)
		if (snap.v[i].st.routed_name + snap.v[i].st.routed_default > 0)
			evbuffer_add_printf(b, "summon_proxy_routed_total{"
			    "service=\"%s\",by=\"name\"} %llu\n"
			    "summon_proxy_routed_total{service=\"%s\","
			    "by=\"default\"} %llu\n", snap.v[i].name,
			    (unsigned long long)snap.v[i].st.routed_name,
			    snap.v[i].name,
			    (unsigned long long)snap.v[i].st.routed_default);
	free(snap.v);
	metrics_family(b, "summon_proxy_peeking", "gauge",
	    "Connections a shared listener is reading for the host they "
	    "name.");
	proxy_foreach_shared(d->proxy, NULL, shared_peeking, b);
	metrics_family(b, "summon_proxy_removed_total", "counter",
	    "Held or connecting clients closed because a reload removed "
	    "their service.");
	evbuffer_add_printf(b, "summon_proxy_removed_total %llu\n",
	    (unsigned long long)proxy_removed_total(d->proxy));

	if (d->reaper != NULL) {
		const struct reaper_stats *rs = reaper_stats(d->reaper);
		metrics_family(b, "summon_reaper_tick_seconds", "gauge",
		    "How long the reaper's tick took: the last one and the "
		    "longest.");
		evbuffer_add_printf(b, "summon_reaper_tick_seconds{tick="
		    "\"last\"} %.6f\nsummon_reaper_tick_seconds{tick=\"max\"} "
		    "%.6f\n", (double)rs->last_tick_us / 1e6,
		    (double)rs->max_tick_us / 1e6);
	}

	metrics_family(b, "summon_reaps_total", "counter",
	    "Instances stopped, by reason.");
	for (i = 0; i < LC_NREASONS; i++)
		evbuffer_add_printf(b, "summon_reaps_total{reason=\"%s\"} "
		    "%llu\n", lifecycle_reason_name(i),
		    (unsigned long long)ls->stops[i]);
}
