/*
 * cmdline.c - parsing of ip= and gw=.
 */
#include "cmdline.h"
#include "kstring.h"

static int is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Parses a decimal number of at most max; advances *s past it. */
static int parse_uint(const char **s, uint32_t max, uint32_t *out)
{
	uint32_t v = 0;
	const char *p = *s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (uint32_t)(*p - '0');
		if (v > max)
			return -1;
	}
	*s = p;
	*out = v;
	return 0;
}

static int parse_ipv4(const char **s, uint32_t *out)
{
	uint32_t addr = 0, octet;

	for (int i = 0; i < 4; i++) {
		if (i > 0 && *(*s)++ != '.')
			return -1;
		if (parse_uint(s, 255, &octet) < 0)
			return -1;
		addr = addr << 8 | octet;
	}
	*out = addr;
	return 0;
}

static int word_end(const char *s)
{
	return *s == '\0' || is_space(*s);
}

int cmdline_parse(const char *cmdline, struct cmdline_net *out, const char **err)
{
	const char *s = cmdline;
	int have_ip = 0, have_gw = 0;
	uint32_t mask;

	while (*s && !is_space(*s))	/* the kernel path */
		s++;
	for (;;) {
		while (is_space(*s))
			s++;
		if (*s == '\0')
			break;
		if (memcmp(s, "ip=", 3) == 0) {
			s += 3;
			if (parse_ipv4(&s, &out->ip) < 0 || *s++ != '/' ||
			    parse_uint(&s, 31, &out->prefix) < 0 || out->prefix == 0 ||
			    !word_end(s)) {
				*err = "bad ip= (want ip=A.B.C.D/N, N from 1 to 31)";
				return -1;
			}
			have_ip = 1;
		} else if (memcmp(s, "gw=", 3) == 0) {
			s += 3;
			if (parse_ipv4(&s, &out->gateway) < 0 || !word_end(s)) {
				*err = "bad gw= (want gw=A.B.C.D)";
				return -1;
			}
			have_gw = 1;
		}
		while (*s && !is_space(*s))
			s++;
	}
	if (!have_ip) {
		*err = "missing ip=A.B.C.D/N";
		return -1;
	}
	if (!have_gw) {
		*err = "missing gw=A.B.C.D";
		return -1;
	}
	mask = ~0u << (32 - out->prefix);
	if ((out->ip & mask) != (out->gateway & mask) || out->ip == out->gateway) {
		*err = "gw= is not another address on the ip= subnet";
		return -1;
	}
	if ((out->ip & ~mask) == 0 || (out->ip & ~mask) == ~mask) {
		if (out->prefix < 31) {
			*err = "ip= is the subnet's network or broadcast address";
			return -1;
		}
	}
	return 0;
}
