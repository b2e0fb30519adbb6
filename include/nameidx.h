/*
 * nameidx.h - find things by name in constant time.
 *
 * An open-addressing hash table from a NUL-terminated name to a pointer.
 * Names are not copied: each must stay valid, unchanged, while it is in
 * the index (it is usually a field of the value itself).  Names come
 * from the configuration, not from the network, so the hash makes no
 * attempt to resist chosen collisions.
 */
#ifndef SUMMON_NAMEIDX_H
#define SUMMON_NAMEIDX_H

#include <stddef.h>
#include <stdint.h>

struct nameidx {
	struct nameidx_slot	*slots;	/* NULL until the first put */
	size_t			 size;	/* a power of two */
	size_t			 count;
};

/* An empty index is all zeros; nameidx_clear() frees its memory. */
void	 nameidx_clear(struct nameidx *);
/* Add or replace name's value; -1 (ENOMEM) leaves the index as it was. */
int	 nameidx_put(struct nameidx *, const char *name, void *value);
/* The value for name, or NULL. */
void	*nameidx_get(const struct nameidx *, const char *name);
/* Remove name if present. */
void	 nameidx_del(struct nameidx *, const char *name);
/* The hash it uses (FNV-1a), for tables of their own. */
uint32_t nameidx_hash(const char *name);

#endif
