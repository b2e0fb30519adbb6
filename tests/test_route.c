/*
 * test_route.c - the host name in a ClientHello or an HTTP/1.x request
 * head (src/proxy/route.c), over buffers.
 *
 * The ClientHellos are real ones, captured from openssl s_client and
 * curl by a local listener (tests/fuzz/corpus/route/, the fuzzer's
 * seeds too); the tests cut them into other records, feed them a byte
 * at a time, and break them one field at a time.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "src/proxy/route.h"
#include "check_main.h"

typedef enum route_result (*parser)(struct route_state *, const uint8_t *,
    size_t);

struct bytes {
	uint8_t		 b[2 * ROUTE_PEEK_MAX];
	size_t		 n;
};

static void
load(const char *name, struct bytes *out)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/route/%s", SRCDIR,
	    name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "%s", path);
	out->n = fread(out->b, 1, sizeof(out->b), f);
	fclose(f);
}

static void
text(const char *s, struct bytes *out)
{
	out->n = strlen(s);
	memcpy(out->b, s, out->n);
}

/* The whole buffer at once. */
static enum route_result
whole(parser fn, const struct bytes *in, struct route_state *st)
{
	memset(st, 0, sizeof(*st));
	return fn(st, in->b, in->n);
}

/*
 * The buffer as a connection delivers it, step bytes at a time: the
 * parser is called when st->want bytes are in, as the proxy calls it,
 * and must say ROUTE_MORE until the last piece is in.  Returns the
 * result and, in *calls, how often the parser ran.
 */
static enum route_result
fed(parser fn, const struct bytes *in, size_t step, struct route_state *st,
    size_t *calls)
{
	enum route_result r = ROUTE_MORE;
	size_t len = 0;

	memset(st, 0, sizeof(*st));
	*calls = 0;
	while (r == ROUTE_MORE && len < in->n) {
		len = len + step < in->n ? len + step : in->n;
		if (len < st->want)
			continue;
		r = fn(st, in->b, len);
		(*calls)++;
	}
	return r;
}

/* The ClientHello's handshake message re-cut into records of k bytes. */
static void
recut(const struct bytes *in, size_t k, struct bytes *out)
{
	uint8_t hs[ROUTE_PEEK_MAX];
	size_t n = 0, pos = 0, rlen, i;

	while (pos + 5 <= in->n) {
		rlen = (size_t)in->b[pos + 3] << 8 | in->b[pos + 4];
		memcpy(hs + n, in->b + pos + 5, rlen);
		n += rlen;
		pos += 5 + rlen;
	}
	out->n = 0;
	for (i = 0; i < n; i += k) {
		size_t c = n - i < k ? n - i : k;
		uint8_t *h = out->b + out->n;
		h[0] = 22;
		h[1] = 3;
		h[2] = 1;
		h[3] = (uint8_t)(c >> 8);
		h[4] = (uint8_t)c;
		memcpy(h + 5, hs + i, c);
		out->n += 5 + c;
	}
}

/* Where the ClientHello's extensions start, in a one-record hello. */
static size_t
extensions_at(const struct bytes *in)
{
	size_t p = 5 + 4 + 2 + 32;

	p += 1 + in->b[p];				/* session id */
	p += 2 + ((size_t)in->b[p] << 8 | in->b[p + 1]);	/* suites */
	p += 1 + in->b[p];				/* compression */
	return p;
}

/* Where extension type starts (its type field), or 0. */
static size_t
find_extension(const struct bytes *in, unsigned type)
{
	size_t p = extensions_at(in) + 2, end;

	end = p + ((size_t)in->b[p - 2] << 8 | in->b[p - 1]);
	while (p + 4 <= end) {
		if (((unsigned)in->b[p] << 8 | in->b[p + 1]) == type)
			return p;
		p += 4 + ((size_t)in->b[p + 2] << 8 | in->b[p + 3]);
	}
	return 0;
}

/* Add by to the big-endian length of nbytes bytes at p. */
static void
grow(uint8_t *p, size_t nbytes, size_t by)
{
	size_t v = 0, i;

	for (i = 0; i < nbytes; i++)
		v = v << 8 | p[i];
	v += by;
	for (i = nbytes; i-- > 0; v >>= 8)
		p[i] = (uint8_t)v;
}

/* ---- TLS ------------------------------------------------------------ */

START_TEST(sni_of_real_client_hellos)
{
	static const struct { const char *file; enum route_result r;
	    const char *name; } cases[] = {
		{ "tls13-openssl", ROUTE_FOUND, "web.svc.example" },
		{ "tls12-openssl", ROUTE_FOUND, "web.svc.example" },
		{ "tls-curl", ROUTE_FOUND, "web.svc.example" },
		{ "tls13-three-records", ROUTE_FOUND, "web.svc.example" },
		{ "tls-no-sni", ROUTE_NO_NAME, "" },
	};
	struct route_state st;
	struct bytes in;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		load(cases[i].file, &in);
		ck_assert_msg(whole(route_sni, &in, &st) == cases[i].r, "%s",
		    cases[i].file);
		ck_assert_str_eq(st.name, cases[i].name);
	}
}
END_TEST

START_TEST(sni_across_records_and_segments)
{
	static const size_t cuts[] = { 1, 2, 3, 4, 5, 7, 100, 16384 };
	struct route_state st;
	struct bytes in, cut;
	size_t i, step, calls;

	load("tls13-openssl", &in);
	for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		recut(&in, cuts[i], &cut);
		ck_assert_int_eq(whole(route_sni, &cut, &st), ROUTE_FOUND);
		ck_assert_str_eq(st.name, "web.svc.example");
		for (step = 1; step <= 13; step += 6) {
			ck_assert_int_eq(fed(route_sni, &cut, step, &st,
			    &calls), ROUTE_FOUND);
			ck_assert_str_eq(st.name, "web.svc.example");
			/* A call per record header and body at most. */
			ck_assert_uint_le(calls, 2 * (cut.n /
			    (5 + cuts[i]) + 1) + 1);
		}
	}
}
END_TEST

START_TEST(sni_every_prefix_wants_more)
{
	struct route_state st;
	struct bytes in, cut;
	size_t len;

	load("tls-curl", &in);
	recut(&in, 50, &cut);
	for (len = 0; len < cut.n; len++) {
		memset(&st, 0, sizeof(st));
		ck_assert_int_eq(route_sni(&st, cut.b, len), ROUTE_MORE);
		ck_assert_uint_gt(st.want, len);
		ck_assert_uint_le(st.want, cut.n);
	}
}
END_TEST

START_TEST(sni_malformed)
{
	struct route_state st;
	struct bytes in, bad;
	size_t sni, p;

	load("tls13-openssl", &in);
	sni = find_extension(&in, 0);
	ck_assert_uint_gt(sni, 0);

	bad = in;
	bad.b[0] = 23;				/* application data */
	ck_assert_int_eq(whole(route_sni, &bad, &st), ROUTE_MALFORMED);
	bad = in;
	bad.b[1] = 2;				/* SSL 2 */
	ck_assert_int_eq(whole(route_sni, &bad, &st), ROUTE_MALFORMED);
	bad = in;
	bad.b[5] = 2;				/* a ServerHello */
	ck_assert_int_eq(whole(route_sni, &bad, &st), ROUTE_MALFORMED);
	bad = in;
	bad.b[3] = 0x40;			/* a record over 2^14 */
	bad.b[4] = 0x01;
	ck_assert_int_eq(whole(route_sni, &bad, &st), ROUTE_MALFORMED);
	bad = in;
	bad.b[3] = bad.b[4] = 0;		/* an empty fragment */
	ck_assert_int_eq(whole(route_sni, &bad, &st), ROUTE_MALFORMED);

	/* A name that is not a host name. */
	bad = in;
	bad.b[sni + 9] = '/';
	ck_assert_int_eq(whole(route_sni, &bad, &st), ROUTE_MALFORMED);
	bad = in;
	bad.b[sni + 9 + 3] = '.';		/* "web..vc" */
	bad.b[sni + 9 + 4] = '.';
	ck_assert_int_eq(whole(route_sni, &bad, &st), ROUTE_MALFORMED);
	/* The list's length beyond the extension. */
	bad = in;
	bad.b[sni + 5]++;
	ck_assert_int_eq(whole(route_sni, &bad, &st), ROUTE_MALFORMED);
	/* The extensions' length beyond the message. */
	bad = in;
	p = extensions_at(&in);
	bad.b[p + 1]++;
	ck_assert_int_eq(whole(route_sni, &bad, &st), ROUTE_MALFORMED);
	/* The extensions' length short of the message's end. */
	bad = in;
	bad.b[p + 1]--;
	ck_assert_int_eq(whole(route_sni, &bad, &st), ROUTE_MALFORMED);
	/* An odd cipher suites length. */
	bad = in;
	p = 5 + 4 + 2 + 32;
	p += 1 + in.b[p];
	bad.b[p + 1]++;
	ck_assert_int_eq(whole(route_sni, &bad, &st), ROUTE_MALFORMED);
}
END_TEST

START_TEST(sni_duplicates_are_malformed)
{
	struct route_state st;
	struct bytes in, bad;
	size_t sni, elen, p;

	load("tls13-openssl", &in);
	sni = find_extension(&in, 0);
	elen = (size_t)in.b[sni + 2] << 8 | in.b[sni + 3];

	/* The server_name extension twice: the hello grows by its size. */
	bad.n = 0;
	memcpy(bad.b, in.b, sni + 4 + elen);
	memcpy(bad.b + sni + 4 + elen, in.b + sni, in.n - sni);
	bad.n = in.n + 4 + elen;
	p = extensions_at(&in);
	grow(bad.b + 3, 2, 4 + elen);
	grow(bad.b + 6, 3, 4 + elen);
	grow(bad.b + p, 2, 4 + elen);
	ck_assert_int_eq(whole(route_sni, &bad, &st), ROUTE_MALFORMED);

	/* Two host_names in one list. */
	memcpy(bad.b, in.b, sni + 4 + elen);
	memcpy(bad.b + sni + 4 + elen, in.b + sni + 6, elen - 2);
	memcpy(bad.b + sni + 4 + elen + elen - 2, in.b + sni + 4 + elen,
	    in.n - sni - 4 - elen);
	bad.n = in.n + elen - 2;
	grow(bad.b + 3, 2, elen - 2);
	grow(bad.b + 6, 3, elen - 2);
	grow(bad.b + p, 2, elen - 2);
	grow(bad.b + sni + 2, 2, elen - 2);
	grow(bad.b + sni + 4, 2, elen - 2);
	ck_assert_int_eq(whole(route_sni, &bad, &st), ROUTE_MALFORMED);
}
END_TEST

START_TEST(sni_huge_claims_fail_at_once)
{
	static const uint8_t huge_hs[] = { 22, 3, 1, 0, 4, 1, 0xff, 0xff,
	    0xff };
	/* A record whose end is past what a shared listener reads. */
	static const uint8_t beyond[] = { 22, 3, 1, 0x3f, 0xfc };
	static const uint8_t within[] = { 22, 3, 1, 0x3f, 0xfb };
	struct route_state st;
	uint8_t hs[5 + 4] = { 22, 3, 1, 0, 4, 1, 0, 0x3f, 0xf8 };

	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(route_sni(&st, huge_hs, sizeof(huge_hs)),
	    ROUTE_MALFORMED);
	/* 16 KiB of hello in records of 4: cannot fit with its headers. */
	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(route_sni(&st, hs, sizeof(hs)), ROUTE_MALFORMED);
	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(route_sni(&st, beyond, sizeof(beyond)),
	    ROUTE_MALFORMED);
	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(route_sni(&st, within, sizeof(within)), ROUTE_MORE);
	ck_assert_uint_eq(st.want, ROUTE_PEEK_MAX);
	/* After the first record, a second one cannot end in time. */
	{
		struct bytes in;
		uint8_t *b = in.b;
		size_t n;

		n = 5 + 0x3e80;
		memset(b, 0, n + 5);
		b[0] = 22; b[1] = 3; b[2] = 1; b[3] = 0x3e; b[4] = 0x80;
		b[5] = 1; b[6] = 0; b[7] = 0x3f; b[8] = 0x00;
		b[n] = 22; b[n + 1] = 3; b[n + 2] = 1;
		b[n + 3] = 0x02; b[n + 4] = 0x00;
		memset(&st, 0, sizeof(st));
		ck_assert_int_eq(route_sni(&st, b, n + 5), ROUTE_MALFORMED);
	}
}
END_TEST

/* ---- HTTP ----------------------------------------------------------- */

START_TEST(host_of_real_requests)
{
	static const struct { const char *file; enum route_result r;
	    const char *name; } cases[] = {
		{ "http-curl", ROUTE_FOUND, "web.svc.example" },
		{ "http-post", ROUTE_FOUND, "web.svc.example" },
		{ "http10-no-host", ROUTE_NO_NAME, "" },
		{ "http-ipv6", ROUTE_FOUND, "[::1]" },
		{ "http-two-hosts", ROUTE_MALFORMED, "" },
		{ "tls13-openssl", ROUTE_MALFORMED, "" },
	};
	struct route_state st;
	struct bytes in;
	size_t i, step, calls;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		load(cases[i].file, &in);
		ck_assert_msg(whole(route_host, &in, &st) == cases[i].r, "%s",
		    cases[i].file);
		if (cases[i].r == ROUTE_FOUND)
			ck_assert_str_eq(st.name, cases[i].name);
		for (step = 1; step < 20; step += 9) {
			ck_assert_msg(fed(route_host, &in, step, &st,
			    &calls) == cases[i].r, "%s by %zu",
			    cases[i].file, step);
			if (cases[i].r == ROUTE_FOUND)
				ck_assert_str_eq(st.name, cases[i].name);
		}
	}
}
END_TEST

START_TEST(host_forms)
{
	static const struct { const char *req; enum route_result r;
	    const char *name; } cases[] = {
		{ "GET / HTTP/1.1\r\nHost: A.Example\r\n\r\n", ROUTE_FOUND,
		  "a.example" },
		{ "GET / HTTP/1.1\r\nhOsT:a.example.:8080 \t\r\n\r\n",
		  ROUTE_FOUND, "a.example" },
		{ "GET / HTTP/1.1\nHost: a.example:\n\n", ROUTE_FOUND,
		  "a.example" },
		{ "\r\n\r\nGET / HTTP/1.0\r\nHost: a.example\r\n\r\n",
		  ROUTE_FOUND, "a.example" },
		{ "OPTIONS * HTTP/1.1\r\nX-Host: b\r\nHost: a_b.example\r\n"
		  "\r\n", ROUTE_FOUND, "a_b.example" },
		{ "GET / HTTP/1.1\r\nHost: [2001:DB8::1]:80\r\n\r\n",
		  ROUTE_FOUND, "[2001:db8::1]" },
		{ "GET / HTTP/1.1\r\nHost: 127.0.0.2\r\n\r\n", ROUTE_FOUND,
		  "127.0.0.2" },
		{ "GET / HTTP/1.1\r\nHost:\r\n\r\n", ROUTE_NO_NAME, "" },
		{ "GET / HTTP/1.0\r\n\r\n", ROUTE_NO_NAME, "" },
		{ "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n",
		  ROUTE_MALFORMED, "" },
		{ "GET / HTTP/1.1\r\nHost : a\r\n\r\n", ROUTE_MALFORMED, "" },
		{ "GET / HTTP/1.1\r\nX: 1\r\n  folded\r\n\r\n",
		  ROUTE_MALFORMED, "" },
		{ "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", ROUTE_MALFORMED,
		  "" },
		{ "GET / HTTP/1.1\r\nX: \x01\r\n\r\n", ROUTE_MALFORMED, "" },
		{ "GET / HTTP/2.0\r\nHost: a\r\n\r\n", ROUTE_MALFORMED, "" },
		{ "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ROUTE_MALFORMED, "" },
		{ "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", ROUTE_MALFORMED, "" },
		{ "GET / HTTP/1.1 \r\nHost: a\r\n\r\n", ROUTE_MALFORMED, "" },
		{ "G(T / HTTP/1.1\r\nHost: a\r\n\r\n", ROUTE_MALFORMED, "" },
		{ "GET / HTTP/1.1\r\nHost: a..b\r\n\r\n", ROUTE_MALFORMED,
		  "" },
		{ "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", ROUTE_MALFORMED, "" },
		{ "GET / HTTP/1.1\r\nHost: a:8x\r\n\r\n", ROUTE_MALFORMED,
		  "" },
		{ "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", ROUTE_MALFORMED,
		  "" },
		{ "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", ROUTE_MALFORMED, "" },
		{ "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n", ROUTE_MALFORMED,
		  "" },
		{ "GET / HTTP/1.1\r\nHost: a\r\n", ROUTE_MORE, "" },
		{ "GET / HTTP/1.1", ROUTE_MORE, "" },
		{ "\x16\x03\x01", ROUTE_MALFORMED, "" },
		{ "", ROUTE_MORE, "" },
	};
	struct route_state st;
	struct bytes in;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text(cases[i].req, &in);
		ck_assert_msg(whole(route_host, &in, &st) == cases[i].r,
		    "case %zu: %s", i, cases[i].req);
		if (cases[i].r == ROUTE_FOUND)
			ck_assert_str_eq(st.name, cases[i].name);
	}
}
END_TEST

START_TEST(host_name_lengths)
{
	char req[1024], label[64], name[300];
	struct route_state st;
	struct bytes in;

	memset(label, 'a', 63);
	label[63] = '\0';
	/* 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253: the longest. */
	snprintf(name, sizeof(name), "%s.%s.%s.%.61s", label, label, label,
	    label);
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s.\r\n\r\n",
	    name);
	text(req, &in);
	ck_assert_int_eq(whole(route_host, &in, &st), ROUTE_FOUND);
	ck_assert_str_eq(st.name, name);
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %s.%s.%s.%.62s"
	    "\r\n\r\n", label, label, label, label);
	text(req, &in);
	ck_assert_int_eq(whole(route_host, &in, &st), ROUTE_MALFORMED);
	snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nHost: %sa.b\r\n\r\n",
	    label);
	text(req, &in);
	ck_assert_int_eq(whole(route_host, &in, &st), ROUTE_MALFORMED);
}
END_TEST

/*
 * A head trickled a byte at a time is read in linear time: each line
 * once, each byte searched for a line end once.
 */
START_TEST(host_trickled_is_linear)
{
	struct route_state st;
	struct bytes in;
	size_t len, lines = 0;

	text("GET / HTTP/1.1\r\n", &in);
	while (in.n + 40 < ROUTE_PEEK_MAX) {
		in.n += (size_t)snprintf((char *)in.b + in.n, 40,
		    "X-%zu: %s\r\n", lines, lines % 7 ? "v" :
		    "a long value of some kind");
		lines++;
	}
	in.n += (size_t)snprintf((char *)in.b + in.n, 40, "\r\n");
	memset(&st, 0, sizeof(st));
	for (len = 1; len < in.n; len++) {
		size_t scan = st.scan;
		ck_assert_int_eq(route_host(&st, in.b, len), ROUTE_MORE);
		/* Nothing before what the last call searched is searched. */
		ck_assert_uint_ge(st.scan, scan);
		ck_assert_uint_le(st.pos, st.scan);
	}
	ck_assert_int_eq(route_host(&st, in.b, in.n), ROUTE_NO_NAME);
}
END_TEST

static Suite *
route_suite(void)
{
	Suite *s = suite_create("route");
	TCase *tc = tcase_create("sni");

	tcase_add_test(tc, sni_of_real_client_hellos);
	tcase_add_test(tc, sni_across_records_and_segments);
	tcase_add_test(tc, sni_every_prefix_wants_more);
	tcase_add_test(tc, sni_malformed);
	tcase_add_test(tc, sni_duplicates_are_malformed);
	tcase_add_test(tc, sni_huge_claims_fail_at_once);
	suite_add_tcase(s, tc);
	tc = tcase_create("host");
	tcase_add_test(tc, host_of_real_requests);
	tcase_add_test(tc, host_forms);
	tcase_add_test(tc, host_name_lengths);
	tcase_add_test(tc, host_trickled_is_linear);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(route_suite)
