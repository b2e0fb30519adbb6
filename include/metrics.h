/*
 * metrics.h - Prometheus metrics at http://[metrics] listen/metrics.
 *
 * Served on the main loop by a small HTTP/1.x responder of its own
 * (metrics_http.c): GET or HEAD of /metrics, one request a connection,
 * with limits on the request's size and time, on the answer's time and
 * on the number of connections.  What it exports is a render
 * function's (the daemon's, which knows every module), written with the
 * text-format helpers below.
 */
#ifndef SUMMON_METRICS_H
#define SUMMON_METRICS_H

struct cfg_addr;
struct event_base;
struct evbuffer;
struct hist;
struct metrics;

/* Append the whole exposition to out; arg is the one given to metrics_new. */
typedef void (*metrics_render_fn)(void *arg, struct evbuffer *out);

/*
 * Listen on addr (the configuration's [metrics] listen; copied) with
 * base's loop, and answer each scrape with what render(arg) appends.
 * NULL after logging why.
 */
struct metrics	*metrics_new(struct event_base *, const struct cfg_addr *addr,
		    metrics_render_fn render, void *arg);
/* Close the listeners and every connection; NULL is fine. */
void		 metrics_free(struct metrics *);
/* The port bound (tests ask for port 0). */
int		 metrics_port(struct metrics *);

/*
 * A change of [metrics] listen on reload, in two phases so that the
 * reload can still be refused after the new socket is bound.
 * prepare binds the listener for addr (the new configuration's [metrics]
 * listen) beside the current one: 0, or -1 after logging why with
 * nothing changed (e.g. the address is in use, as the wildcard address
 * is on the current port: 127.0.0.1:9153 to 0.0.0.0:9153 needs two
 * reloads or a restart).  If addr is the current address, it does
 * nothing and returns 0.  A second prepare replaces the first.
 */
int		 metrics_rebind_prepare(struct metrics *,
		    const struct cfg_addr *addr);
/*
 * Switch to the prepared listener and close the old one; cannot fail,
 * and does nothing if nothing was prepared.  Connections accepted on
 * the old listener are answered as usual.
 */
void		 metrics_rebind_commit(struct metrics *);
/* Close the prepared listener, if any, and keep the current one. */
void		 metrics_rebind_abort(struct metrics *);

/*
 * The text format, for a render function.  metrics_family appends the
 * HELP and TYPE lines of the family name (type "counter", "gauge" or
 * "histogram"); its samples follow.
 */
void		 metrics_family(struct evbuffer *out, const char *name,
		    const char *type, const char *help);
/*
 * Append the samples of histogram h as the family name: its buckets
 * (cumulative, "+Inf" last), _sum and _count, in seconds.  labels is ""
 * or the histogram's labels each followed by a comma, as in
 * 'service="x",'.
 */
void		 metrics_histogram(struct evbuffer *out, const char *name,
		    const char *labels, const struct hist *h);

#endif
