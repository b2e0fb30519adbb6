/*
 * nameidx.c - open addressing with linear probing; deletion shifts the
 * following run back, so there are no tombstones and a lookup never
 * probes further than the longest run.  The table doubles at 3/4 full.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nameidx.h"

uint32_t
nameidx_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return h;
}

static const char *
name_of(const struct nameidx *x, const void *value)
{
	return (const char *)value + x->name_off;
}

/* The slot holding the value named name, or the empty slot for it. */
static void **
probe(const struct nameidx *x, const char *name)
{
	size_t mask = x->size - 1, i;

	for (i = nameidx_hash(name) & mask; x->slots[i] != NULL;
	    i = (i + 1) & mask)
		if (strcmp(name_of(x, x->slots[i]), name) == 0)
			break;
	return &x->slots[i];
}

/* Resize to hold at least n entries at 3/4 full. */
static int
resize(struct nameidx *x, size_t n)
{
	struct nameidx bigger = NAMEIDX_INIT(x->name_off);
	size_t i;

	bigger.size = x->size ? x->size : 16;
	while (n * 4 > bigger.size * 3)
		bigger.size *= 2;
	if (bigger.size == x->size)
		return 0;
	if ((bigger.slots = calloc(bigger.size, sizeof(*bigger.slots))) == NULL)
		return -1;
	for (i = 0; i < x->size; i++)
		if (x->slots[i] != NULL)
			*probe(&bigger, name_of(x, x->slots[i])) = x->slots[i];
	bigger.count = x->count;
	free(x->slots);
	*x = bigger;
	return 0;
}

void
nameidx_clear(struct nameidx *x)
{
	size_t off = x->name_off;

	free(x->slots);
	memset(x, 0, sizeof(*x));
	x->name_off = off;
}

int
nameidx_reserve(struct nameidx *x, size_t n)
{
	if (resize(x, n) == -1) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

int
nameidx_put(struct nameidx *x, void *value)
{
	void **s;

	if (nameidx_reserve(x, x->count + 1) == -1)
		return -1;
	s = probe(x, name_of(x, value));
	if (*s == NULL)
		x->count++;
	*s = value;
	return 0;
}

void *
nameidx_get(const struct nameidx *x, const char *name)
{
	return x->size > 0 ? *probe(x, name) : NULL;
}

void
nameidx_del(struct nameidx *x, const char *name)
{
	size_t mask = x->size - 1, i, j, home;

	if (x->size == 0)
		return;
	i = (size_t)(probe(x, name) - x->slots);
	if (x->slots[i] == NULL)
		return;
	x->slots[i] = NULL;
	x->count--;
	/* Move back each later entry of the run that may now be unreachable. */
	for (j = (i + 1) & mask; x->slots[j] != NULL; j = (j + 1) & mask) {
		home = nameidx_hash(name_of(x, x->slots[j])) & mask;
		/* Leave it if its home lies cyclically in (i, j]. */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		x->slots[i] = x->slots[j];
		x->slots[j] = NULL;
		i = j;
	}
}
