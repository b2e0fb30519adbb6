/*
 * config_value.c - the parsers of one value: numbers, durations, sizes,
 * addresses, ports, service and DNS names, lists of words, and the
 * ${...} variables of a command line or a domain template.  Pure
 * functions over strings, so that the control protocol and the tests can
 * use the public ones (config.h) without a file.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_internal.h"

int
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Parse an unsigned decimal without sign, spaces or overflow. */
int
parse_u64(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	while (isdigit((unsigned char)*s)) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		s++;
	}
	*end = s;
	*out = v;
	return 0;
}

int
config_parse_duration(const char *s, uint64_t *ms, char *err, size_t errlen)
{
	static const struct { const char *unit; uint64_t mult; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	const char *end;
	uint64_t v;
	size_t i;

	if (parse_u64(s, &end, &v) == -1)
		goto bad;
	if (*end == '\0' && v == 0) {
		*ms = 0;
		return 0;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0) {
			if (v > UINT64_MAX / units[i].mult / 1000)
				break;
			*ms = v * units[i].mult;
			return 0;
		}
bad:
	return seterr(err, errlen, "bad duration '%s' (a number with ms, s, "
	    "m or h, e.g. 250ms, 10s, 2m)", s);
}

int
config_parse_size(const char *s, uint64_t *bytes, char *err, size_t errlen)
{
	const char *end;
	uint64_t v;
	unsigned shift;

	if (parse_u64(s, &end, &v) == -1)
		goto bad;
	switch (*end) {
	case '\0': shift = 0; break;
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	default:
		goto bad;
	}
	if (*end != '\0' && end[1] != '\0' && strcmp(end + 1, "iB") != 0 &&
	    strcmp(end + 1, "B") != 0)
		goto bad;
	if (shift > 0 && v > (UINT64_MAX >> shift))
		return seterr(err, errlen, "size '%s' is too large", s);
	*bytes = v << shift;
	return 0;
bad:
	return seterr(err, errlen, "bad size '%s' (a number with K, M, G or "
	    "T, e.g. 32M, 1G)", s);
}

int
config_parse_addr(const char *s, uint16_t default_port, struct cfg_addr *a,
    char *err, size_t errlen)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
	char host[INET6_ADDRSTRLEN + 1];
	const char *port = NULL, *close, *end;
	uint64_t pv;
	size_t hlen;

	memset(a, 0, sizeof(*a));
	if (s[0] == '[') {
		close = strchr(s, ']');
		if (close == NULL)
			return seterr(err, errlen, "bad address '%s': "
			    "missing ']'", s);
		hlen = (size_t)(close - s - 1);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return seterr(err, errlen, "bad address '%s'", s);
		s++;
	} else {
		const char *colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			/* bare IPv6 without a port */
			hlen = strlen(s);
		} else if (colon != NULL) {
			hlen = (size_t)(colon - s);
			port = colon + 1;
		} else
			hlen = strlen(s);
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return seterr(err, errlen, "bad address '%s'", s);
	memcpy(host, s, hlen);
	host[hlen] = '\0';

	if (port != NULL) {
		if (parse_u64(port, &end, &pv) == -1 || *end != '\0' ||
		    pv > 65535)
			return seterr(err, errlen, "bad port in '%s'", s);
	} else
		pv = default_port;

	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)pv);
		a->len = sizeof(*sin);
		snprintf(a->text, sizeof(a->text), "%s:%u", host,
		    (unsigned)pv);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)pv);
		a->len = sizeof(*sin6);
		snprintf(a->text, sizeof(a->text), "[%s]:%u", host,
		    (unsigned)pv);
		return 0;
	}
	return seterr(err, errlen, "bad address '%s' (want an IPv4 or IPv6 "
	    "address, not a host name)", host);
}

int
config_valid_service_name(const char *s)
{
	size_t i;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (i = 1; s[i] != '\0'; i++) {
		if (i > CFG_SERVICE_NAME_MAX - 1)
			return 0;
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	}
	return 1;
}

/*
 * Normalise a DNS name: lower case, trailing dot, labels of letters,
 * digits, '-' and '_', 1-63 bytes each, 255 bytes in all.
 */
int
normalise_dname(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	size_t len = strlen(in), i, label = 0;

	if (strcmp(in, ".") == 0)
		return seterr(err, errlen, "the root zone cannot be served");
	if (len == 0 || len + 2 > outlen || len + 1 > CFG_DNS_NAME_MAX)
		return seterr(err, errlen, "bad DNS name '%s' (too long)", in);
	for (i = 0; i < len; i++) {
		char c = in[i];
		if (c == '.') {
			if (label == 0)
				return seterr(err, errlen, "bad DNS name "
				    "'%s' (empty label)", in);
			label = 0;
		} else if (isalnum((unsigned char)c) || c == '-' || c == '_') {
			if (++label > 63)
				return seterr(err, errlen, "bad DNS name "
				    "'%s' (label longer than 63)", in);
		} else
			return seterr(err, errlen, "bad DNS name '%s' "
			    "(character '%c')", in, c);
		out[i] = (char)tolower((unsigned char)c);
	}
	if (out[len - 1] != '.')
		out[len++] = '.';
	out[len] = '\0';
	return 0;
}

/* Split v at spaces and tabs into wl, which words_free() frees. */
void
words_split(struct words *wl, const char *v)
{
	size_t cap = 0;
	char *tok, *save = NULL;

	memset(wl, 0, sizeof(*wl));
	wl->buf = xstrdup(v);
	for (tok = strtok_r(wl->buf, " \t", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t", &save)) {
		if (wl->n == cap) {
			cap = cap == 0 ? 8 : 2 * cap;
			wl->w = xreallocarray(wl->w, cap, sizeof(*wl->w));
		}
		wl->w[wl->n++] = tok;
	}
}

void
words_free(struct words *wl)
{
	free(wl->w);
	free(wl->buf);
}

int
parse_port(const char *s, uint16_t *port, bool zero_ok)
{
	const char *end;
	uint64_t v;

	if (parse_u64(s, &end, &v) == -1 || *end != '\0' || v > 65535 ||
	    (v == 0 && !zero_ok))
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* v into buf, or -1: a value cut short could read as another one. */
int
copy_value(char *buf, size_t size, const char *v, char *err, size_t errlen)
{
	size_t len = strlen(v);

	if (len >= size)
		return seterr(err, errlen, "'%.32s...' is too long (at most "
		    "%zu characters)", v, size - 1);
	memcpy(buf, v, len + 1);
	return 0;
}

/* Variables a domain template may use (docs/configuration.md). */
static const char *const template_vars[] = {
	"name", "kernel", "initrd", "cmdline", "memory_kib", "vcpus", "mac",
	"ip", "prefix", "gateway", "network", "serial_log", "domain_type",
	"hostfwd", NULL,
};

/* A command line may use all but itself and the two about the domain. */
static bool
template_only(const char *var)
{
	return strcmp(var, "cmdline") == 0 ||
	    strcmp(var, "domain_type") == 0 || strcmp(var, "hostfwd") == 0;
}

/*
 * Up to n bytes of s for a message, on one line: a template file may
 * hold anything after a "${".
 */
static const char *
excerpt(char *buf, size_t size, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < size && s[i] != '\0'; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/*
 * Check the ${...} variables of a command line (in_template false) or of
 * a domain template.  On error *at, when not NULL, is the offset of the
 * "${" at fault.
 */
int
check_vars(const char *v, bool in_template, size_t *at, char *err,
    size_t errlen)
{
	const char *s = v, *end;
	char buf[48];
	size_t i, len;

	while ((s = strstr(s, "${")) != NULL) {
		if (at != NULL)
			*at = (size_t)(s - v);
		end = strchr(s, '}');
		if (end == NULL)
			return seterr(err, errlen, "unterminated '${' at '%s'",
			    excerpt(buf, sizeof(buf), s, 32));
		len = (size_t)(end - s - 2);
		for (i = 0; template_vars[i] != NULL; i++)
			if (strlen(template_vars[i]) == len &&
			    strncmp(template_vars[i], s + 2, len) == 0)
				break;
		if (template_vars[i] == NULL ||
		    (!in_template && template_only(template_vars[i])))
			return seterr(err, errlen, "unknown variable "
			    "'${%s}'", excerpt(buf, sizeof(buf), s + 2,
			    len < 32 ? len : 32));
		s = end + 1;
	}
	return 0;
}
