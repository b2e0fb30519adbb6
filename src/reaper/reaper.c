/*
 * reaper.c - the periodic tick.
 */
#include <stdlib.h>

#include <event2/event.h>

#include "clock.h"
#include "lifecycle.h"
#include "log.h"
#include "reaper.h"

struct reaper {
	struct lifecycle	*lc;
	struct event		*ev;
	struct reaper_stats	 stats;
};

void
reaper_tick(struct reaper *r)
{
	uint64_t start = clock_mono_us(), took;
	size_t n;

	n = lifecycle_tick(r->lc);
	took = clock_mono_us() - start;
	r->stats.ticks++;
	r->stats.reaped += n;
	r->stats.last_tick_us = took;
	if (took > r->stats.max_tick_us)
		r->stats.max_tick_us = took;
	if (n > 0)
		log_debug("reaper: stopping %zu idle instances (%llu us)", n,
		    (unsigned long long)took);
}

static void
tick_cb(evutil_socket_t fd, short ev, void *arg)
{
	reaper_tick(arg);
}

struct reaper *
reaper_new(struct event_base *base, struct lifecycle *lc)
{
	struct timeval tv = { 0, REAPER_INTERVAL_MS * 1000 };
	struct reaper *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->lc = lc;
	r->ev = event_new(base, -1, EV_PERSIST, tick_cb, r);
	if (r->ev == NULL || event_add(r->ev, &tv) == -1) {
		reaper_free(r);
		return NULL;
	}
	return r;
}

void
reaper_free(struct reaper *r)
{
	if (r == NULL)
		return;
	if (r->ev != NULL)
		event_free(r->ev);
	free(r);
}

const struct reaper_stats *
reaper_stats(const struct reaper *r)
{
	return &r->stats;
}
