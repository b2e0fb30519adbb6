/*
 * hist.c - fixed-bucket duration histograms.
 */
#include "hist.h"

const uint64_t hist_bounds_us[HIST_BUCKETS] = {
	1000, 2500, 5000, 10000, 15000, 25000, 50000, 100000, 250000,
	500000, 1000000, 2500000, 10000000, 30000000,
};

void
hist_observe(struct hist *h, uint64_t us)
{
	size_t i;

	for (i = 0; i < HIST_BUCKETS && us > hist_bounds_us[i]; i++)
		;
	h->count[i]++;
	h->total++;
	h->sum_us += us;
}
