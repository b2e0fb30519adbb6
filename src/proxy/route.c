/*
 * route.c - the host name in a ClientHello or an HTTP/1.x request head.
 *
 * Both parsers are called again with the same bytes and more each time
 * a connection's bytes arrive, and go on where they stopped: a client
 * that sends its 16 KiB a byte at a time must not cost 16 Ki parses of
 * up to 16 KiB.  TLS records are walked once each, and a ClientHello is
 * assembled and read once it is whole; request lines are read once each,
 * and a line's end is looked for only in bytes not searched before.
 * Every read of a length-prefixed field is checked against what encloses
 * it, through struct rd.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "route.h"

#define TLS_HEADER		5	/* type, version, length */
#define TLS_RECORD_MAX		16384	/* 2^14: RFC 8446 5.1 */
#define TLS_HANDSHAKE		22	/* ContentType handshake */
#define TLS_CLIENT_HELLO	1	/* HandshakeType client_hello */
#define TLS_EXT_SERVER_NAME	0	/* RFC 6066 3 */
#define TLS_NAME_HOST		0	/* NameType host_name */
#define DNS_LABEL_MAX		63

/*
 * A name into st->name: lower case, one trailing dot dropped, each
 * label 1-63 letters, digits, '-' or '_'.  Returns false for anything
 * else (an empty name too), leaving st->name empty.
 */
static bool
copy_name(struct route_state *st, const uint8_t *s, size_t n)
{
	size_t i, label = 0;
	uint8_t ch;

	st->name[0] = '\0';
	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > ROUTE_NAME_MAX)
		return false;
	for (i = 0; i < n; i++) {
		ch = s[i];
		if (ch == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if ((ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')
			label++;
		else if (ch >= 'A' && ch <= 'Z') {
			ch = (uint8_t)(ch - 'A' + 'a');
			label++;
		} else
			return false;
		if (label > DNS_LABEL_MAX)
			return false;
		st->name[i] = (char)ch;
	}
	if (label == 0)
		return false;
	st->name[n] = '\0';
	return true;
}

/* ---- TLS ------------------------------------------------------------ */

/* A bounded reader over one length-prefixed field. */
struct rd {
	const uint8_t	*p;
	size_t		 left;
	bool		 bad;	/* a read went past the end */
};

static uint32_t
rd_uint(struct rd *r, size_t nbytes)
{
	uint32_t v = 0;

	if (r->bad || r->left < nbytes) {
		r->bad = true;
		return 0;
	}
	while (nbytes-- > 0) {
		v = v << 8 | *r->p++;
		r->left--;
	}
	return v;
}

/* The next n bytes as a reader of their own; r moves past them. */
static struct rd
rd_sub(struct rd *r, size_t n)
{
	struct rd sub = { r->p, n, false };

	if (r->bad || r->left < n) {
		r->bad = true;
		sub.left = 0;
		sub.bad = true;
		return sub;
	}
	r->p += n;
	r->left -= n;
	return sub;
}

/* A field of a length prefixed by nbytes bytes, as a reader. */
static struct rd
rd_vec(struct rd *r, size_t nbytes)
{
	return rd_sub(r, rd_uint(r, nbytes));
}

/*
 * The first n handshake bytes of the records that buf starts with,
 * into out; the records are known to be whole and to hold them.
 */
static void
handshake_bytes(const uint8_t *buf, uint8_t *out, size_t n)
{
	size_t pos = 0, rlen, k;

	while (n > 0) {
		rlen = (size_t)buf[pos + 3] << 8 | buf[pos + 4];
		k = rlen < n ? rlen : n;
		memcpy(out, buf + pos + TLS_HEADER, k);
		out += k;
		n -= k;
		pos += TLS_HEADER + rlen;
	}
}

/* The server_name extension's data (RFC 6066 3). */
static enum route_result
server_name(struct route_state *st, struct rd ext)
{
	struct rd list = rd_vec(&ext, 2), name;
	bool found = false;
	uint32_t type;

	if (list.bad || ext.left != 0 || list.left == 0)
		return ROUTE_MALFORMED;
	while (list.left > 0) {
		type = rd_uint(&list, 1);
		name = rd_vec(&list, 2);
		if (list.bad)
			return ROUTE_MALFORMED;
		if (type != TLS_NAME_HOST)
			continue;
		/* "MUST NOT contain more than one name of the same type" */
		if (found || !copy_name(st, name.p, name.left))
			return ROUTE_MALFORMED;
		found = true;
	}
	return found ? ROUTE_FOUND : ROUTE_NO_NAME;
}

/* A whole ClientHello's body (RFC 8446 4.1.2). */
static enum route_result
client_hello(struct route_state *st, const uint8_t *body, size_t n)
{
	struct rd r = { body, n, false }, exts, ext, cs;
	enum route_result res = ROUTE_NO_NAME;
	bool seen = false;
	uint32_t type;

	if (rd_uint(&r, 1) != 3)		/* legacy_version 3.x */
		return ROUTE_MALFORMED;
	rd_sub(&r, 1 + 32);			/* its minor; random */
	if (rd_vec(&r, 1).left > 32)		/* legacy_session_id */
		return ROUTE_MALFORMED;
	cs = rd_vec(&r, 2);			/* cipher_suites */
	if (cs.left < 2 || cs.left % 2 != 0)
		return ROUTE_MALFORMED;
	if (rd_vec(&r, 1).left < 1)		/* compression_methods */
		return ROUTE_MALFORMED;
	if (r.bad)
		return ROUTE_MALFORMED;
	if (r.left == 0)			/* no extensions (TLS 1.2) */
		return ROUTE_NO_NAME;
	exts = rd_vec(&r, 2);
	if (exts.bad || r.left != 0)
		return ROUTE_MALFORMED;
	while (exts.left > 0) {
		type = rd_uint(&exts, 2);
		ext = rd_vec(&exts, 2);
		if (exts.bad)
			return ROUTE_MALFORMED;
		if (type != TLS_EXT_SERVER_NAME)
			continue;
		/* "There MUST NOT be more than one extension of the same type" */
		if (seen)
			return ROUTE_MALFORMED;
		seen = true;
		if ((res = server_name(st, ext)) == ROUTE_MALFORMED)
			return res;
	}
	return res;
}

enum route_result
route_sni(struct route_state *st, const uint8_t *buf, size_t len)
{
	uint8_t hs[ROUTE_PEEK_MAX];
	size_t rlen;

	while (st->hello == 0 || st->scan < st->hello) {
		if (len < st->pos + TLS_HEADER) {
			st->want = st->pos + TLS_HEADER;
			return ROUTE_MORE;
		}
		if (buf[st->pos] != TLS_HANDSHAKE || buf[st->pos + 1] != 3)
			return ROUTE_MALFORMED;
		rlen = (size_t)buf[st->pos + 3] << 8 | buf[st->pos + 4];
		/* No empty handshake fragments: RFC 8446 5.1. */
		if (rlen == 0 || rlen > TLS_RECORD_MAX ||
		    st->pos + TLS_HEADER + rlen > ROUTE_PEEK_MAX)
			return ROUTE_MALFORMED;
		if (len < st->pos + TLS_HEADER + rlen) {
			st->want = st->pos + TLS_HEADER + rlen;
			return ROUTE_MORE;
		}
		st->pos += TLS_HEADER + rlen;
		st->scan += rlen;
		if (st->hello != 0 || st->scan < 4)
			continue;
		handshake_bytes(buf, hs, 4);
		if (hs[0] != TLS_CLIENT_HELLO)
			return ROUTE_MALFORMED;
		st->hello = 4 + ((size_t)hs[1] << 16 | (size_t)hs[2] << 8 |
		    hs[3]);
		/* What is missing cannot come within what is read. */
		if (st->scan < st->hello && st->pos + TLS_HEADER +
		    (st->hello - st->scan) > ROUTE_PEEK_MAX)
			return ROUTE_MALFORMED;
	}
	handshake_bytes(buf, hs, st->hello);
	return client_hello(st, hs + 4, st->hello - 4);
}

/* ---- HTTP ----------------------------------------------------------- */

/* RFC 9110 5.6.2: the characters of a token (a method, a field name). */
static bool
is_tchar(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || (c != '\0' &&
	    strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* METHOD SP request-target SP HTTP/1.x (RFC 9112 3). */
static bool
request_line(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n && is_tchar(s[i]))
		i++;
	if (i == 0 || i == n || s[i++] != ' ')
		return false;
	if (i == n || s[i] == ' ')
		return false;
	while (i < n && s[i] != ' ')
		i++;
	if (n - i != 9 || memcmp(s + i, " HTTP/1.", 8) != 0 ||
	    s[i + 8] < '0' || s[i + 8] > '9')
		return false;
	return true;
}

/*
 * A Host value, its blanks trimmed: uri-host [":" port] (RFC 9110 7.2,
 * RFC 3986 3.2.2); an empty one names no host.
 */
static bool
host_value(struct route_state *st, const uint8_t *v, size_t n)
{
	size_t host, i;

	st->name[0] = '\0';
	if (n == 0)
		return true;
	if (v[0] == '[') {
		for (i = 1; i < n && v[i] != ']'; i++)
			if (!((v[i] >= '0' && v[i] <= '9') ||
			    (v[i] >= 'a' && v[i] <= 'f') ||
			    (v[i] >= 'A' && v[i] <= 'F') || v[i] == ':' ||
			    v[i] == '.'))
				return false;
		if (i == n || i == 1 || i > ROUTE_NAME_MAX - 1)
			return false;
		host = ++i;
		for (i = 0; i < host; i++)
			st->name[i] = (char)(v[i] >= 'A' && v[i] <= 'F' ?
			    v[i] - 'A' + 'a' : v[i]);
		st->name[host] = '\0';
	} else {
		for (host = 0; host < n && v[host] != ':'; host++)
			;
		if (!copy_name(st, v, host))
			return false;
	}
	if (host == n)
		return true;
	if (v[host] != ':')
		return false;
	for (i = host + 1; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return false;
	return true;
}

/*
 * One header line, name ":" OWS value OWS (RFC 9112 5): false if it is
 * malformed.
 */
static bool
header_line(struct route_state *st, const uint8_t *s, size_t n)
{
	size_t i = 0, end;

	while (i < n && is_tchar(s[i]))
		i++;
	/* No blank before the colon, no fold: RFC 9112 5.1, 5.2. */
	if (i == 0 || i == n || s[i] != ':')
		return false;
	if (i != 4 || strncasecmp((const char *)s, "host", 4) != 0)
		return true;
	if (st->host)		/* RFC 9112 3.2: more than one is a 400 */
		return false;
	st->host = true;
	for (i++; i < n && (s[i] == ' ' || s[i] == '\t'); i++)
		;
	for (end = n; end > i && (s[end - 1] == ' ' || s[end - 1] == '\t');
	    end--)
		;
	return host_value(st, s + i, end - i);
}

enum route_result
route_host(struct route_state *st, const uint8_t *buf, size_t len)
{
	const uint8_t *nl, *s;
	size_t n, i;

	for (;;) {
		nl = st->scan < len ?
		    memchr(buf + st->scan, '\n', len - st->scan) : NULL;
		if (nl == NULL)
			break;
		s = buf + st->pos;
		n = (size_t)(nl - s);
		st->pos = st->scan = (size_t)(nl - buf) + 1;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		for (i = 0; i < n; i++)
			if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f)
				return ROUTE_MALFORMED;
		if (!st->started) {
			/* RFC 9112 2.2: empty lines before it are ignored. */
			if (n == 0)
				continue;
			if (!request_line(s, n))
				return ROUTE_MALFORMED;
			st->started = true;
			continue;
		}
		if (n == 0)
			return st->name[0] != '\0' ? ROUTE_FOUND : ROUTE_NO_NAME;
		if (!header_line(st, s, n))
			return ROUTE_MALFORMED;
	}
	/*
	 * Not a request if its first byte cannot begin a method (a
	 * ClientHello, a binary protocol): said now, not at the deadline.
	 */
	if (!st->started && st->pos < len && !is_tchar(buf[st->pos]) &&
	    buf[st->pos] != '\r')
		return ROUTE_MALFORMED;
	st->scan = len;
	st->want = len + 1;
	return ROUTE_MORE;
}
