/*
 * clock.h - the one source of time.
 *
 * Every module asks here, never the system directly, so that tests can
 * replace the clock and drive timeouts, idle reaping and back-off
 * without sleeping.
 */
#ifndef SUMMON_CLOCK_H
#define SUMMON_CLOCK_H

#include <stdint.h>
#include <sys/time.h>

/* Monotonic milliseconds, for durations and deadlines. */
uint64_t	clock_mono_ms(void);
/* Monotonic microseconds, for measuring short durations. */
uint64_t	clock_mono_us(void);
/* Wall-clock milliseconds since the epoch, for records. */
int64_t		clock_wall_ms(void);

/* ms as a struct timeval: a libevent timer's delay. */
static inline struct timeval
clock_tv(uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
	    (suseconds_t)(ms % 1000) * 1000 };

	return tv;
}

struct clock_source {
	uint64_t	(*mono_us)(void *arg);
	int64_t		(*wall_ms)(void *arg);
	void		 *arg;
};

/* Replace the clock (tests); NULL restores the system clock. */
void		clock_set_source(const struct clock_source *);

#endif
