/*
 * vm_template.c - domain XML from templates: ${variable} expansion, the
 * summon metadata element, and the guests' MAC addresses.
 *
 * Pure functions over strings, so that the tests need no libvirt.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "vm.h"
#include "vm_xml.h"

int
vm_buf_add(struct vm_buf *b, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (n > b->limit || b->len > b->limit - n) {
		errno = E2BIG;
		return -1;
	}
	if (b->len + n + 1 > b->cap) {
		cap = b->cap == 0 ? 256 : b->cap;
		while (cap < b->len + n + 1)
			cap *= 2;
		if ((p = realloc(b->p, cap)) == NULL) {
			errno = ENOMEM;
			return -1;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

int
vm_buf_add_escaped(struct vm_buf *b, const char *s)
{
	const char *run, *ent;

	for (run = s; *s != '\0'; s++) {
		switch (*s) {
		case '&':	ent = "&amp;"; break;
		case '<':	ent = "&lt;"; break;
		case '>':	ent = "&gt;"; break;
		case '"':	ent = "&quot;"; break;
		case '\'':	ent = "&apos;"; break;
		default:	continue;
		}
		if (vm_buf_add(b, run, (size_t)(s - run)) == -1 ||
		    vm_buf_add(b, ent, strlen(ent)) == -1)
			return -1;
		run = s + 1;
	}
	return vm_buf_add(b, run, (size_t)(s - run));
}

static void
buf_error(char *err, size_t errlen)
{
	if (errno == E2BIG)
		snprintf(err, errlen, "expanded template exceeds %d bytes",
		    CFG_TEMPLATE_MAX);
	else
		snprintf(err, errlen, "out of memory");
}

/* The variable that holds the command line, itself a template. */
#define CMDLINE_VAR	"cmdline"

static int expand(struct vm_buf *, const char *, const char *const *,
    const char *const *, size_t, bool, char *, size_t);

/*
 * Add the command line v: its own variables filled in raw, then the
 * whole line escaped, so that each byte is escaped once.  0, or -1 with
 * a message in err.
 */
static int
add_cmdline(struct vm_buf *b, const char *v, const char *const *names,
    const char *const *values, size_t n, char *err, size_t errlen)
{
	struct vm_buf line = { .limit = CFG_TEMPLATE_MAX };
	int rc = -1;

	if (expand(&line, v, names, values, n, true, err, errlen) == -1)
		goto done;
	if (vm_buf_add_escaped(b, line.p != NULL ? line.p : "") == -1) {
		buf_error(err, errlen);
		goto done;
	}
	rc = 0;
done:
	free(line.p);
	return rc;
}

/*
 * Expand tmpl into b: the domain XML, whose values are escaped, or
 * (in_cmdline) the command line, whose values go in raw because the
 * whole line is escaped afterwards.  0, or -1 with a message in err.
 */
static int
expand(struct vm_buf *b, const char *tmpl, const char *const *names,
    const char *const *values, size_t n, bool in_cmdline, char *err,
    size_t errlen)
{
	const char *s, *end, *v, *where = in_cmdline ? "cmdline: " : "";
	size_t i, len;
	int rc;

	for (s = tmpl; *s != '\0'; ) {
		/* Copy up to the next "${"; a lone '$' is literal text. */
		for (end = s; *end != '\0' &&
		    !(end[0] == '$' && end[1] == '{'); end++)
			;
		if (vm_buf_add(b, s, (size_t)(end - s)) == -1)
			goto nobuf;
		if (*end == '\0')
			break;
		s = end + 2;
		if ((end = strchr(s, '}')) == NULL) {
			snprintf(err, errlen, "%sunterminated \"${%.32s\" at "
			    "offset %zu", where, s, (size_t)(s - 2 - tmpl));
			return -1;
		}
		len = (size_t)(end - s);
		for (i = 0; i < n; i++)
			if (strncmp(names[i], s, len) == 0 &&
			    names[i][len] == '\0')
				break;
		/* The command line may not hold itself. */
		if (i == n || (in_cmdline &&
		    strcmp(names[i], CMDLINE_VAR) == 0)) {
			snprintf(err, errlen, "%sunknown variable \"${%.*s}\"",
			    where, len > 64 ? 64 : (int)len, s);
			return -1;
		}
		v = values[i] != NULL ? values[i] : "";
		if (in_cmdline)
			rc = vm_buf_add(b, v, strlen(v));
		else if (strcmp(names[i], CMDLINE_VAR) == 0) {
			if (add_cmdline(b, v, names, values, n, err,
			    errlen) == -1)
				return -1;
			rc = 0;
		} else
			rc = vm_buf_add_escaped(b, v);
		if (rc == -1)
			goto nobuf;
		s = end + 1;
	}
	return 0;
nobuf:
	buf_error(err, errlen);
	return -1;
}

/*
 * Each value is escaped once.  The one named "cmdline" is the service's
 * command line, a template of its own: the caller passes it as written
 * and it is filled in here, so that a ${kernel} inside it is not escaped
 * twice (&amp;apos;).
 */
char *
vm_template_expand(const char *tmpl, const char *const *names,
    const char *const *values, size_t n, char *err, size_t errlen)
{
	struct vm_buf b = { .limit = CFG_TEMPLATE_MAX };

	if (expand(&b, tmpl, names, values, n, false, err, errlen) == -1)
		goto fail;
	/* An empty template still yields a string. */
	if (b.p == NULL && vm_buf_add(&b, "", 0) == -1) {
		buf_error(err, errlen);
		goto fail;
	}
	return b.p;
fail:
	free(b.p);
	return NULL;
}

bool
vm_owner_field_valid(const char *s)
{
	size_t n = strlen(s);

	return n < VM_OWNER_MAX && strspn(s, "0123456789abcdef") == n;
}

/* ` name="value"`, or nothing when value is "" (hex: nothing to escape). */
static int
add_attr(struct vm_buf *b, const char *name, const char *value)
{
	if (value[0] == '\0')
		return 0;
	if (vm_buf_add(b, " ", 1) == -1 ||
	    vm_buf_add(b, name, strlen(name)) == -1 ||
	    vm_buf_add(b, "=\"", 2) == -1 ||
	    vm_buf_add(b, value, strlen(value)) == -1)
		return -1;
	return vm_buf_add(b, "\"", 1);
}

char *
vm_add_metadata(const char *xml, const struct vm_owner *owner,
    const char *service, int64_t instance, char *err, size_t errlen)
{
	static const char close_tag[] = "</domain>";
	static const char open_tag[] = "<metadata><" VM_METADATA_PREFIX
	    ":instance xmlns:" VM_METADATA_PREFIX "=\"" VM_METADATA_URI
	    "\"";
	struct vm_buf b = { .limit = CFG_TEMPLATE_MAX + 1024 };
	static const struct vm_owner none;
	const char *p, *last = NULL;
	char id[32];

	if (!config_valid_service_name(service)) {
		snprintf(err, errlen, "invalid service name");
		return NULL;
	}
	if (owner == NULL)
		owner = &none;
	if (!vm_owner_field_valid(owner->id) ||
	    !vm_owner_field_valid(owner->state)) {
		snprintf(err, errlen, "invalid owner id");
		return NULL;
	}
	for (p = xml; (p = strstr(p, close_tag)) != NULL; p++)
		last = p;
	if (last == NULL) {
		snprintf(err, errlen, "domain XML has no </domain>");
		return NULL;
	}
	/* libvirt keeps one <metadata>; a second would be merged or lost. */
	if (strstr(xml, "<metadata") != NULL) {
		snprintf(err, errlen, "domain XML already has a <metadata> "
		    "element");
		return NULL;
	}
	snprintf(id, sizeof(id), "%" PRId64, instance);
	if (vm_buf_add(&b, xml, (size_t)(last - xml)) == -1 ||
	    vm_buf_add(&b, open_tag, sizeof(open_tag) - 1) == -1 ||
	    add_attr(&b, "owner", owner->id) == -1 ||
	    add_attr(&b, "state", owner->state) == -1 ||
	    vm_buf_add(&b, " service=\"", 10) == -1 ||
	    vm_buf_add_escaped(&b, service) == -1 ||
	    vm_buf_add(&b, "\" id=\"", 6) == -1 ||
	    vm_buf_add(&b, id, strlen(id)) == -1 ||
	    vm_buf_add(&b, "\"/></metadata>", 14) == -1 ||
	    vm_buf_add(&b, last, strlen(last)) == -1) {
		buf_error(err, errlen);
		free(b.p);
		return NULL;
	}
	return b.p;
}

/*
 * 52:54:00 is the prefix QEMU and libvirt give their guests; its first
 * octet has the locally administered bit set and the multicast bit
 * clear, so it is a locally administered unicast MAC, and nothing in a
 * guest or in libvirt treats it specially.  The last three octets are
 * FNV-1a (32 bits, folded to 24) of "service\0instance": stable across
 * restarts of summond, so a guest's neighbours' ARP caches stay right,
 * and distinct enough for the few hundred instances of one bridge.
 */
void
vm_mac(const char *service, int64_t instance, char out[18])
{
	char id[32];
	uint32_t h = 2166136261u;
	size_t i, n;

	n = strlen(service) + 1;	/* the NUL separates the two */
	for (i = 0; i < n; i++) {
		h ^= (unsigned char)service[i];
		h *= 16777619u;
	}
	snprintf(id, sizeof(id), "%" PRId64, instance);
	for (i = 0; id[i] != '\0'; i++) {
		h ^= (unsigned char)id[i];
		h *= 16777619u;
	}
	h = (h >> 24) ^ (h & 0xffffff);
	snprintf(out, 18, "52:54:00:%02x:%02x:%02x", (unsigned)(h >> 16) & 0xff,
	    (unsigned)(h >> 8) & 0xff, (unsigned)h & 0xff);
}
