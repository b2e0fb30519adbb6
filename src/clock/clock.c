/*
 * clock.c - the replaceable clock.
 */
#include <stddef.h>
#include <time.h>

#include "clock.h"

static struct clock_source source;
static int replaced;

void
clock_set_source(const struct clock_source *s)
{
	replaced = s != NULL;
	if (s != NULL)
		source = *s;
}

uint64_t
clock_mono_us(void)
{
	struct timespec ts;

	if (replaced)
		return source.mono_us(source.arg);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t
clock_mono_ms(void)
{
	return clock_mono_us() / 1000;
}

int64_t
clock_wall_ms(void)
{
	struct timespec ts;

	if (replaced)
		return source.wall_ms(source.arg);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
