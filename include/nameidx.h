/*
 * nameidx.h - find things by name in constant time.
 *
 * An open-addressing hash table of pointers to values that carry their
 * own NUL-terminated name, at an offset fixed for the index (usually a
 * flexible `char name[]` at the end of the struct).  A slot is one
 * pointer: with 10,000 services an index costs 128 KiB, not twice that.
 * Names are not copied: a value's name must stay valid, unchanged, while
 * it is in the index.  Names come from the configuration, not from the
 * network, so the hash makes no attempt to resist chosen collisions.
 * The lifecycle and the proxy find their services through one each.
 */
#ifndef SUMMON_NAMEIDX_H
#define SUMMON_NAMEIDX_H

#include <stddef.h>
#include <stdint.h>

struct nameidx {
	void		**slots;	/* NULL until the first put */
	size_t		 size;		/* a power of two */
	size_t		 count;
	size_t		 name_off;	/* where a value keeps its name */
};

/* An empty index of values whose name is at offset off. */
#define NAMEIDX_INIT(off)	{ NULL, 0, 0, (off) }

/* Free the index's memory; it is empty (and keeps its offset). */
void	 nameidx_clear(struct nameidx *);
/*
 * Add value, or replace the value of the same name; -1 (ENOMEM) leaves
 * the index as it was.  Room for n entries can be made first with
 * nameidx_reserve(), after which n puts cannot fail.
 */
int	 nameidx_put(struct nameidx *, void *value);
/* Make room for n entries in all; -1 (ENOMEM) changes nothing. */
int	 nameidx_reserve(struct nameidx *, size_t n);
/* The value named name, or NULL. */
void	*nameidx_get(const struct nameidx *, const char *name);
/* Remove the value named name, if present. */
void	 nameidx_del(struct nameidx *, const char *name);
/* The hash it uses (FNV-1a), for the few tables of their own. */
uint32_t nameidx_hash(const char *name);

#endif
