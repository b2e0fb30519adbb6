/*
 * metrics.h - Prometheus metrics at http://[metrics] listen/metrics.
 *
 * Served by libevent's evhttp on the main loop; every value is read
 * from the modules' counters at scrape time, so nothing is kept twice.
 */
#ifndef SUMMON_METRICS_H
#define SUMMON_METRICS_H

struct daemon;
struct evbuffer;
struct metrics;

/* Listen on d->cfg's [metrics] listen.  NULL after logging why. */
struct metrics	*metrics_new(struct daemon *);
void		 metrics_free(struct metrics *);
/* The port bound (tests ask for port 0). */
int		 metrics_port(struct metrics *);
/* Append the whole exposition to out (also used by tests). */
void		 metrics_render(struct daemon *, struct evbuffer *out);

#endif
