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

struct nameidx_slot {
	const char	*name;		/* NULL: empty */
	void		*value;
};

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

/* The slot holding name, or the empty slot where it would go. */
static struct nameidx_slot *
probe(const struct nameidx *x, const char *name)
{
	size_t mask = x->size - 1, i;

	for (i = nameidx_hash(name) & mask; x->slots[i].name != NULL;
	    i = (i + 1) & mask)
		if (strcmp(x->slots[i].name, name) == 0)
			break;
	return &x->slots[i];
}

static int
grow(struct nameidx *x)
{
	struct nameidx bigger = { 0 };
	size_t i;

	bigger.size = x->size ? x->size * 2 : 16;
	if ((bigger.slots = calloc(bigger.size, sizeof(*bigger.slots))) == NULL)
		return -1;
	for (i = 0; i < x->size; i++)
		if (x->slots[i].name != NULL)
			*probe(&bigger, x->slots[i].name) = x->slots[i];
	bigger.count = x->count;
	free(x->slots);
	*x = bigger;
	return 0;
}

void
nameidx_clear(struct nameidx *x)
{
	free(x->slots);
	memset(x, 0, sizeof(*x));
}

int
nameidx_put(struct nameidx *x, const char *name, void *value)
{
	struct nameidx_slot *s;

	if ((x->count + 1) * 4 > x->size * 3 && grow(x) == -1) {
		errno = ENOMEM;
		return -1;
	}
	s = probe(x, name);
	if (s->name == NULL)
		x->count++;
	s->name = name;
	s->value = value;
	return 0;
}

void *
nameidx_get(const struct nameidx *x, const char *name)
{
	return x->size > 0 ? probe(x, name)->value : NULL;
}

void
nameidx_del(struct nameidx *x, const char *name)
{
	static const struct nameidx_slot empty;
	size_t mask = x->size - 1, i, j, home;

	if (x->size == 0)
		return;
	i = (size_t)(probe(x, name) - x->slots);
	if (x->slots[i].name == NULL)
		return;
	x->slots[i] = empty;
	x->count--;
	/* Move back each later entry of the run that may now be unreachable. */
	for (j = (i + 1) & mask; x->slots[j].name != NULL; j = (j + 1) & mask) {
		home = nameidx_hash(x->slots[j].name) & mask;
		/* Leave it if its home lies cyclically in (i, j]. */
		if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
			continue;
		x->slots[i] = x->slots[j];
		x->slots[j] = empty;
		i = j;
	}
}
