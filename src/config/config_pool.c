/*
 * config_pool.c - the configuration's memory.
 *
 * Strings and small arrays are carved from blocks that the configuration
 * frees all at once, and equal strings are stored once.  With 10,000
 * services a malloc'd copy of every value cost ~200 bytes a service:
 * chunk headers, and the same kernel, cmdline and template strings
 * 10,000 times over.  Values replaced while parsing (a default, then
 * the file's value) stay in the blocks until config_free.
 *
 * What only the parse needs (lines, entries, messages) is malloc'd
 * through the x*() functions, which end summond when memory runs out.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_internal.h"

void *
xcalloc(size_t n, size_t sz)
{
	void *v = calloc(n == 0 ? 1 : n, sz);

	if (v == NULL) {
		perror("summond: calloc");
		exit(1);
	}
	return v;
}

void *
xreallocarray(void *ptr, size_t n, size_t sz)
{
	void *v = reallocarray(ptr, n == 0 ? 1 : n, sz);

	if (v == NULL) {
		perror("summond: realloc");
		exit(1);
	}
	return v;
}

char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL) {
		perror("summond: strdup");
		exit(1);
	}
	return d;
}

#define POOL_BLOCK	16384
#define POOL_ALIGN	_Alignof(void *)

/* The arrays a configuration holds need no more (max_align_t is 16). */
_Static_assert(_Alignof(struct cfg_addr) <= POOL_ALIGN &&
    _Alignof(struct cfg_port) <= POOL_ALIGN &&
    _Alignof(char *) <= POOL_ALIGN, "pool alignment");

struct pool_block {
	struct pool_block	*next;
	size_t			 used, size;
	max_align_t		 data[];
};

struct cfg_pool {
	struct pool_block	*blocks;	/* the current one first */
	/* Strings stored so far, while parsing: open addressing. */
	char			**strs;
	size_t			  nstrs, mask;
};

struct cfg_pool *
pool_new(void)
{
	return xcalloc(1, sizeof(struct cfg_pool));
}

void
pool_free(struct cfg_pool *pool)
{
	struct pool_block *b;

	if (pool == NULL)
		return;
	while ((b = pool->blocks) != NULL) {
		pool->blocks = b->next;
		free(b);
	}
	free(pool->strs);
	free(pool);
}

/* size bytes, aligned for the arrays above (align) or for chars; zeroed. */
static void *
pool_get(struct cfg_pool *pool, size_t size, bool align)
{
	const size_t a = POOL_ALIGN;
	struct pool_block *b = pool->blocks;
	size_t at;

	if (size == 0)
		size = 1;
	at = b == NULL ? 0 : align ? (b->used + a - 1) / a * a : b->used;
	if (b == NULL || at + size > b->size) {
		size_t bsize = size > POOL_BLOCK / 4 ? size : POOL_BLOCK;

		b = xcalloc(1, sizeof(*b) + bsize);
		b->size = bsize;
		if (size > POOL_BLOCK / 4 && pool->blocks != NULL) {
			/* A big one of its own; keep filling the current. */
			b->next = pool->blocks->next;
			pool->blocks->next = b;
		} else {
			b->next = pool->blocks;
			pool->blocks = b;
		}
		at = 0;
	}
	b->used = at + size;
	return (char *)b->data + at;
}

void *
pcalloc(struct parser *p, size_t n, size_t sz)
{
	if (sz != 0 && n > SIZE_MAX / sz) {
		fprintf(stderr, "summond: calloc: too large\n");
		exit(1);
	}
	return pool_get(p->cfg->pool, n * sz, true);
}

static uint32_t
str_hash(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return h;
}

/* Where s is in a table of strings, or the empty slot where it goes. */
static size_t
str_slot(char **strs, size_t mask, const char *s)
{
	size_t i;

	for (i = str_hash(s) & mask; strs[i] != NULL &&
	    strcmp(strs[i], s) != 0; i = (i + 1) & mask)
		;
	return i;
}

/* A copy of s in the pool, or the equal string stored before. */
char *
pstrdup(struct parser *p, const char *s)
{
	struct cfg_pool *pool = p->cfg->pool;
	size_t i, n, len;
	char **strs;

	if (2 * (pool->nstrs + 1) > pool->mask + 1) {	/* half full */
		n = pool->strs == NULL ? 64 : 2 * (pool->mask + 1);
		strs = xcalloc(n, sizeof(*strs));
		for (i = 0; pool->strs != NULL && i <= pool->mask; i++)
			if (pool->strs[i] != NULL)
				strs[str_slot(strs, n - 1, pool->strs[i])] =
				    pool->strs[i];
		free(pool->strs);
		pool->strs = strs;
		pool->mask = n - 1;
	}
	i = str_slot(pool->strs, pool->mask, s);
	if (pool->strs[i] == NULL) {
		len = strlen(s) + 1;
		pool->strs[i] = memcpy(pool_get(pool, len, false), s, len);
		pool->nstrs++;
	}
	return pool->strs[i];
}

/* Parsing is over: the table of stored strings is not needed any more. */
void
pool_seal(struct cfg_pool *pool)
{
	free(pool->strs);
	pool->strs = NULL;
	pool->nstrs = pool->mask = 0;
}
