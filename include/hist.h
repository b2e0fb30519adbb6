/*
 * hist.h - fixed-bucket histograms of durations, for the metrics.
 */
#ifndef SUMMON_HIST_H
#define SUMMON_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_BUCKETS	14

struct hist {
	uint64_t	count[HIST_BUCKETS + 1];	/* last: above all */
	uint64_t	total;
	uint64_t	sum_us;
};

/*
 * The upper bounds (microseconds) shared by every histogram: from 1 ms
 * to 30 s, dense around the tens of milliseconds that cold starts take.
 */
extern const uint64_t hist_bounds_us[HIST_BUCKETS];

void	hist_observe(struct hist *, uint64_t us);

#endif
