/*
 * dns_index.h - the names summond answers for, in a hash table.
 *
 * Built once from a configuration and never changed; a reload builds a
 * new one.  Keys are lower-case wire-format names: every zone apex,
 * every service name and every empty non-terminal between a service
 * name and its zone, so that a lookup costs one hash probe per label
 * whatever the number of services.  Private to src/dns/.
 */
#ifndef SUMMON_DNS_INDEX_H
#define SUMMON_DNS_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define DNS_NAME_MAX	255	/* wire format, with the root label */

struct dns_index;

enum dns_lookup_kind {
	DNS_LOOKUP_OUTSIDE,	/* in none of our zones */
	DNS_LOOKUP_NXDOMAIN,	/* in a zone, no such name */
	DNS_LOOKUP_NAME,	/* the name exists (maybe with no data) */
};

struct dns_lookup {
	enum dns_lookup_kind kind;
	bool		 apex;		/* the name is a zone apex */
	long		 svc;		/* service index, or -1 */
	size_t		 zone_off;	/* where the zone's apex starts in name */
};

/*
 * Build the index of cfg's zones and service names.  serial is the SOA
 * serial of every zone.  The names are copied, but the services are
 * cfg's own (dns_index_service): cfg must outlive the index, as the
 * configuration the DNS module runs with always does.  Returns NULL with
 * errno set on allocation failure.
 */
struct dns_index *dns_index_new(const struct config *cfg, uint32_t serial);
void		 dns_index_free(struct dns_index *);

/*
 * Find name (wire format, lower case, len bytes including the root
 * label).  Never fails: fills *l with what the name is to us.
 */
void		 dns_index_lookup(const struct dns_index *, const uint8_t *name,
		    size_t len, struct dns_lookup *l);

/* Service i (0 <= i < dns_index_nservices()), the configuration's. */
const struct cfg_service *dns_index_service(const struct dns_index *,
		    size_t i);
size_t		 dns_index_nservices(const struct dns_index *);

/* The values that go into answers. */
uint32_t	 dns_index_ttl(const struct dns_index *);
uint32_t	 dns_index_serial(const struct dns_index *);
/* Whether names outside our zones go to the forwarder (else REFUSED). */
bool		 dns_index_forwards(const struct dns_index *);

/*
 * Convert a presentation name ("a.b.", lower case, trailing dot, as in
 * struct config) to wire format in out (DNS_NAME_MAX bytes).  Returns
 * the length, or 0 if the name is not valid (an empty label, a label
 * over 63 bytes, over DNS_NAME_MAX in all, or an escape).
 */
size_t		 dns_name_to_wire(const char *text, uint8_t *out);

#endif
