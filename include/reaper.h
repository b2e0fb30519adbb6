/*
 * reaper.h - the periodic tick that scales services to zero.
 *
 * Like Redis's cron: a timer that does bounded work each time.  Each
 * tick asks the lifecycle to stop instances idle past their
 * idle-timeout and to refill standby pools.
 */
#ifndef SUMMON_REAPER_H
#define SUMMON_REAPER_H

#include <stdint.h>

struct event_base;
struct lifecycle;
struct reaper;

#define REAPER_INTERVAL_MS	500

struct reaper_stats {
	uint64_t	ticks;
	uint64_t	reaped;		/* instances it began to stop */
	uint64_t	last_tick_us;	/* how long the last tick took */
	uint64_t	max_tick_us;
};

/* Start ticking every REAPER_INTERVAL_MS on base.  NULL on failure. */
struct reaper	*reaper_new(struct event_base *, struct lifecycle *);
void		 reaper_free(struct reaper *);
/* Run one tick now (tests, and summonctl reap --idle). */
void		 reaper_tick(struct reaper *);
const struct reaper_stats *reaper_stats(const struct reaper *);

#endif
