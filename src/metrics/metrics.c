/*
 * metrics.c - the Prometheus text exposition format (0.0.4): a family's
 * header, a histogram.  What summond exports is the daemon's
 * (daemon_metrics.c); metrics_http.c serves it.
 */
#include <string.h>

#include <event2/buffer.h>

#include "hist.h"
#include "metrics.h"

void
metrics_family(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

void
metrics_histogram(struct evbuffer *b, const char *name, const char *labels,
    const struct hist *h)
{
	uint64_t cum = 0;
	size_t i;

	for (i = 0; i < HIST_BUCKETS; i++) {
		cum += h->count[i];
		evbuffer_add_printf(b, "%s_bucket{%sle=\"%g\"} %llu\n", name,
		    labels, (double)hist_bounds_us[i] / 1e6,
		    (unsigned long long)cum);
	}
	evbuffer_add_printf(b, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels,
	    (unsigned long long)h->total);
	/* _sum and _count take the labels without the trailing comma. */
	if (labels[0] != '\0') {
		int n = (int)strlen(labels) - 1;
		evbuffer_add_printf(b, "%s_sum{%.*s} %.6f\n%s_count{%.*s} "
		    "%llu\n", name, n, labels, (double)h->sum_us / 1e6, name, n,
		    labels, (unsigned long long)h->total);
	} else
		evbuffer_add_printf(b, "%s_sum %.6f\n%s_count %llu\n", name,
		    (double)h->sum_us / 1e6, name,
		    (unsigned long long)h->total);
}
