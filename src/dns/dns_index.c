/*
 * dns_index.c - an open-addressing hash table of lower-case wire names.
 *
 * Every entry points into one arena holding the wire form of each zone
 * and service name; an empty non-terminal is a suffix of a service name,
 * so it points inside that name's bytes and costs no extra storage.  The
 * table is sized once from an upper bound on the number of entries (a
 * name and the empty non-terminals down to its zone), so the build makes
 * four allocations whatever the configuration.  It is at most 3/4 full:
 * with 16-byte slots, a sparser table costs more memory (256 KiB with
 * 10,000 services) than its shorter probes save time.  Services are not
 * copied: the index hands out the configuration's.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dns_index.h"

#define ENT_APEX	0x01	/* the name is a zone apex */
#define NO_SVC		(-1)

struct entry {
	uint32_t	 hash;
	uint32_t	 off;		/* into arena */
	uint8_t		 len;		/* 0: slot is empty */
	uint8_t		 flags;
	uint16_t	 zone;		/* closest enclosing zone */
	int32_t		 svc;		/* service, or NO_SVC */
};

struct zone {
	uint32_t	 off;		/* into arena */
	uint8_t		 len;
};

struct dns_index {
	struct entry	*table;
	size_t		 mask;		/* table size - 1 */
	uint8_t		*arena;
	struct zone	*zones;
	size_t		 nzones;
	const struct cfg_service *svcs;	/* the configuration's */
	size_t		 nsvcs;
	unsigned	 maxlabels;	/* of any entry */
	uint32_t	 ttl;
	uint32_t	 serial;
	bool		 forwards;
};

/* FNV-1a: the keys are short and come from the configuration. */
static uint32_t
hash_name(const uint8_t *p, size_t len)
{
	uint32_t h = 2166136261u;

	while (len-- > 0) {
		h ^= *p++;
		h *= 16777619u;
	}
	return h;
}

static struct entry *
find(const struct dns_index *ix, const uint8_t *name, size_t len,
    uint32_t h)
{
	size_t i = h & ix->mask;
	struct entry *e;

	for (;; i = (i + 1) & ix->mask) {
		e = &ix->table[i];
		if (e->len == 0)
			return NULL;
		if (e->hash == h && e->len == len &&
		    memcmp(ix->arena + e->off, name, len) == 0)
			return e;
	}
}

/* Find the entry for arena bytes [off, off+len), adding it if missing. */
static struct entry *
insert(struct dns_index *ix, uint32_t off, size_t len, uint16_t zone,
    bool *added)
{
	const uint8_t *name = ix->arena + off;
	uint32_t h = hash_name(name, len);
	size_t i = h & ix->mask;
	struct entry *e;

	for (;; i = (i + 1) & ix->mask) {
		e = &ix->table[i];
		if (e->len == 0)
			break;
		if (e->hash == h && e->len == len &&
		    memcmp(ix->arena + e->off, name, len) == 0) {
			*added = false;
			return e;
		}
	}
	*e = (struct entry){ .hash = h, .off = off, .len = (uint8_t)len,
	    .zone = zone, .svc = NO_SVC };
	*added = true;
	return e;
}

static unsigned
count_labels(const uint8_t *name)
{
	unsigned n = 0;

	for (; *name != 0; name += *name + 1)
		n++;
	return n;
}

size_t
dns_name_to_wire(const char *text, uint8_t *out)
{
	size_t len = 0, label;

	if (strcmp(text, ".") == 0) {
		out[0] = 0;
		return 1;
	}
	while (*text != '\0') {
		label = strcspn(text, ".");
		/* Escapes (\. \DDD) never come from the configuration. */
		if (label == 0 || label > 63 || len + label + 2 > DNS_NAME_MAX ||
		    memchr(text, '\\', label) != NULL)
			return 0;
		out[len++] = (uint8_t)label;
		memcpy(out + len, text, label);
		len += label;
		text += label;
		if (*text == '.')
			text++;
	}
	if (len == 0)
		return 0;
	out[len++] = 0;
	return len;
}

/* The closest zone enclosing a name: its longest suffix that is an apex. */
static int
enclosing_zone(const struct dns_index *ix, const uint8_t *p, size_t len,
    uint16_t *zone)
{
	struct entry *e;

	for (; *p != 0; len -= *p + 1u, p += *p + 1) {
		e = find(ix, p, len, hash_name(p, len));
		if (e != NULL && (e->flags & ENT_APEX)) {
			*zone = e->zone;
			return 0;
		}
	}
	return -1;
}

/*
 * Add the name at arena bytes [off, off+len) for service svc, and the
 * empty non-terminals between it and its zone's apex.
 */
static void
add_name(struct dns_index *ix, uint32_t off, size_t len, int32_t svc)
{
	const uint8_t *p = ix->arena + off;
	struct entry *e;
	uint16_t zone;
	unsigned labels = count_labels(p);
	bool added;

	if (enclosing_zone(ix, p, len, &zone) == -1)
		return;		/* config.c allows no such name */
	if (labels > ix->maxlabels)
		ix->maxlabels = labels;
	e = insert(ix, off, len, zone, &added);
	if (e->svc == NO_SVC)
		e->svc = svc;	/* config.c rejects a name given twice */
	while (len > ix->zones[zone].len) {
		len -= *p + 1u;
		off += *p + 1u;
		p += *p + 1;
		if (len == ix->zones[zone].len)
			break;
		e = insert(ix, off, len, zone, &added);
		if (!added)
			break;	/* it was added with the names above it */
	}
}

/*
 * How many entries wire name p (len bytes) can add: itself and the
 * empty non-terminals down to its closest zone, the first suffix that
 * is an apex (zone apexes are the first nzones entries of zones[]).
 * Without one, every label: an upper bound all the same.
 */
static size_t
labels_above_zone(const struct dns_index *ix, const uint8_t *p, size_t len)
{
	size_t n = 0, z;

	for (; *p != 0; len -= *p + 1u, p += *p + 1, n++)
		for (z = 0; z < ix->nzones; z++)
			if (ix->zones[z].len == len && memcmp(ix->arena +
			    ix->zones[z].off, p, len) == 0)
				return n;
	return n;
}

struct dns_index *
dns_index_new(const struct config *cfg, uint32_t serial)
{
	struct dns_index *ix;
	size_t i, j, bound, arenalen = 0, size;
	uint8_t wire[DNS_NAME_MAX], *arena;
	uint32_t off = 0;
	struct entry *e;
	bool added;

	if (cfg->nzones > UINT16_MAX || cfg->nservices > INT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	if ((ix = calloc(1, sizeof(*ix))) == NULL)
		return NULL;
	ix->ttl = cfg->ttl;
	ix->serial = serial;
	ix->forwards = cfg->has_forwarder;

	/* The zones' wire forms first: the table's size depends on them. */
	for (i = 0; i < cfg->nzones; i++)
		arenalen += strlen(cfg->zones[i]) + 2;
	ix->arena = malloc(arenalen + 1);
	ix->zones = calloc(cfg->nzones + 1, sizeof(*ix->zones));
	if (ix->arena == NULL || ix->zones == NULL)
		goto nomem;
	for (i = 0; i < cfg->nzones; i++) {
		size = dns_name_to_wire(cfg->zones[i], ix->arena + off);
		if (size == 0)
			continue;	/* validated by config.c */
		ix->zones[ix->nzones++] = (struct zone){ off, (uint8_t)size };
		if (count_labels(ix->arena + off) > ix->maxlabels)
			ix->maxlabels = count_labels(ix->arena + off);
		off += size;
	}

	/*
	 * An upper bound on the entries: every apex, and each name with
	 * the empty non-terminals down to its zone.
	 */
	bound = ix->nzones;
	arenalen = 0;
	for (i = 0; i < cfg->nservices; i++) {
		for (j = 0; j < cfg->services[i].nnames; j++) {
			size = dns_name_to_wire(cfg->services[i].names[j],
			    wire);
			if (size == 0)
				continue;
			bound += labels_above_zone(ix, wire, size);
			arenalen += size;
		}
	}
	for (size = 16; size * 3 < bound * 4; size *= 2)
		;
	ix->mask = size - 1;
	ix->table = calloc(size, sizeof(*ix->table));
	if (ix->table == NULL ||
	    (arena = realloc(ix->arena, off + arenalen + 1)) == NULL)
		goto nomem;
	ix->arena = arena;	/* entries hold offsets: nothing moves */

	for (i = 0; i < ix->nzones; i++) {
		e = insert(ix, ix->zones[i].off, ix->zones[i].len, (uint16_t)i,
		    &added);
		e->flags |= ENT_APEX;
		e->zone = (uint16_t)i;
	}
	for (i = 0; i < cfg->nservices; i++) {
		for (j = 0; j < cfg->services[i].nnames; j++) {
			size = dns_name_to_wire(cfg->services[i].names[j],
			    ix->arena + off);
			if (size == 0)
				continue;
			add_name(ix, off, size, (int32_t)i);
			off += size;
		}
	}
	ix->svcs = cfg->services;
	ix->nsvcs = cfg->nservices;
	return ix;

nomem:
	dns_index_free(ix);
	errno = ENOMEM;
	return NULL;
}

void
dns_index_free(struct dns_index *ix)
{
	if (ix == NULL)
		return;
	free(ix->table);
	free(ix->arena);
	free(ix->zones);
	free(ix);
}

void
dns_index_lookup(const struct dns_index *ix, const uint8_t *name,
    size_t len, struct dns_lookup *l)
{
	const uint8_t *p = name;
	const struct entry *e;
	unsigned labels = count_labels(name);

	memset(l, 0, sizeof(*l));
	l->svc = -1;
	/* A suffix with more labels than any entry cannot match. */
	for (; labels > ix->maxlabels; labels--)
		p += *p + 1;
	for (; *p != 0; p += *p + 1) {
		e = find(ix, p, len - (size_t)(p - name),
		    hash_name(p, len - (size_t)(p - name)));
		if (e == NULL)
			continue;
		l->zone_off = len - ix->zones[e->zone].len;
		if (p != name) {
			l->kind = DNS_LOOKUP_NXDOMAIN;
			return;
		}
		l->kind = DNS_LOOKUP_NAME;
		l->apex = (e->flags & ENT_APEX) != 0;
		l->svc = e->svc;
		return;
	}
	l->kind = DNS_LOOKUP_OUTSIDE;
}

const struct cfg_service *
dns_index_service(const struct dns_index *ix, size_t i)
{
	return &ix->svcs[i];
}

size_t
dns_index_nservices(const struct dns_index *ix)
{
	return ix->nsvcs;
}

uint32_t
dns_index_ttl(const struct dns_index *ix)
{
	return ix->ttl;
}

uint32_t
dns_index_serial(const struct dns_index *ix)
{
	return ix->serial;
}

bool
dns_index_forwards(const struct dns_index *ix)
{
	return ix->forwards;
}
