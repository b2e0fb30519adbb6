/*
 * test_dns.c - the DNS responder: the packet handler over buffers (apex
 * SOA and NS, service names and their case, NXDOMAIN and NODATA, REFUSED
 * and forwarding, FORMERR and NOTIMP, EDNS0, truncation, TSIG, held
 * answers, malformed packets), the name index, response rate limiting,
 * and the server on real sockets with a fake lifecycle.
 *
 * Queries are built and responses parsed with ldns, so what we send
 * is checked by an independent DNS implementation.
 */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <ldns/ldns.h>

#include "clock.h"
#include "config.h"
#include "dns.h"
#include "lifecycle.h"
#include "src/dns/dns_handler.h"
#include "src/dns/dns_index.h"
#include "src/dns/dns_rrl.h"
#include "check_main.h"

#define SERIAL		2024061501u
#define L60		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
/* 254 bytes in wire form: the longest NXDOMAIN answer. */
#define LONGNAME	L60 "." L60 "." L60 "." L60 ".svc.test."

static const char *conf_text =
    "[dns]\n"
    "listen = 127.0.0.1:0\n"
    "zone = svc.test example.org apex.test\n"
    "ttl = 30\n"
    "rate-limit = 0\n"
    "[service \"hello\"]\n"
    "names = hello www deep.sub\n"
    "kernel = /k.elf\n"
    "address = 127.0.0.2\n"
    "ports = 80\n"
    "[service \"six\"]\n"
    "kernel = /k.elf\n"
    "address = 2001:db8::6\n"
    "ports = 80\n"
    "[service \"late\"]\n"
    "kernel = /k.elf\n"
    "address = 127.0.0.3\n"
    "ports = 80\n"
    "boot-timeout = 2s\n"
    "dns-answer = guest\n"
    "[service \"apex\"]\n"
    "names = apex.test.\n"
    "kernel = /k.elf\n"
    "address = 127.0.0.4\n"
    "ports = 80\n";

static struct config *cfg;
static struct dns_index *ix;

static struct config *
load(const char *text)
{
	char errs[4096] = "";
	FILE *f = fmemopen(errs, sizeof(errs) - 1, "w");
	struct config *c;

	ck_assert_ptr_nonnull(f);
	c = config_load_string("t.conf", text, f, NULL);
	fclose(f);
	ck_assert_msg(c != NULL, "%s", errs);
	return c;
}

static void
setup(void)
{
	cfg = load(conf_text);
	ix = dns_index_new(cfg, SERIAL);
	ck_assert_ptr_nonnull(ix);
}

static void
teardown(void)
{
	dns_index_free(ix);
	config_free(cfg);
}

static long
svc_index(const char *name)
{
	size_t i;

	for (i = 0; i < dns_index_nservices(ix); i++)
		if (strcmp(dns_index_service(ix, i)->name, name) == 0)
			return (long)i;
	return -2;
}

/* A query in wire format; edns_size 0: no OPT. */
static size_t
make_query(uint8_t *buf, size_t cap, const char *name, ldns_rr_type type,
    ldns_rr_class class, uint16_t edns_size, bool dnssec_ok)
{
	ldns_pkt *p;
	uint8_t *wire;
	size_t len;

	ck_assert_int_eq(ldns_pkt_query_new_frm_str(&p, name, type, class,
	    LDNS_RD), LDNS_STATUS_OK);
	ldns_pkt_set_id(p, 0x1234);
	if (edns_size != 0) {
		ldns_pkt_set_edns_udp_size(p, edns_size);
		ldns_pkt_set_edns_do(p, dnssec_ok);
	}
	ck_assert_int_eq(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	ck_assert_uint_le(len, cap);
	memcpy(buf, wire, len);
	free(wire);
	ldns_pkt_free(p);
	return len;
}

/* Answer pkt; the response must parse.  Caller frees the result. */
static ldns_pkt *
answer_pkt(const uint8_t *pkt, size_t len, bool tcp, size_t cap,
    struct dns_result *r, uint8_t *out)
{
	ldns_pkt *resp = NULL;

	dns_answer(ix, pkt, len, tcp, out, cap, r);
	if (r->len == 0)
		return NULL;
	ck_assert_uint_le(r->len, cap);
	ck_assert_msg(ldns_wire2pkt(&resp, out, r->len) == LDNS_STATUS_OK,
	    "response does not parse");
	return resp;
}

static ldns_pkt *
ask(const char *name, ldns_rr_type type, struct dns_result *r)
{
	static uint8_t out[DNS_TCP_MAX];
	uint8_t q[512];
	size_t len = make_query(q, sizeof(q), name, type, LDNS_RR_CLASS_IN,
	    0, false);

	return answer_pkt(q, len, false, sizeof(out), r, out);
}

static void
check_header(const ldns_pkt *p, ldns_pkt_rcode rcode, bool aa)
{
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(ldns_pkt_id(p), 0x1234);
	ck_assert(ldns_pkt_qr(p));
	ck_assert_int_eq(ldns_pkt_get_rcode(p), rcode);
	ck_assert_int_eq(ldns_pkt_aa(p), aa);
	ck_assert(!ldns_pkt_ra(p));
	ck_assert(ldns_pkt_rd(p));	/* copied */
	ck_assert(!ldns_pkt_tc(p));
}

static void
check_soa_authority(const ldns_pkt *p, const char *zone)
{
	ldns_rr_list *ns = ldns_pkt_authority(p);
	ldns_rr *soa;
	char *s;

	ck_assert_uint_eq(ldns_pkt_ancount(p), 0);
	ck_assert_uint_eq(ldns_rr_list_rr_count(ns), 1);
	soa = ldns_rr_list_rr(ns, 0);
	ck_assert_int_eq(ldns_rr_get_type(soa), LDNS_RR_TYPE_SOA);
	ck_assert_uint_eq(ldns_rr_ttl(soa), 30);
	s = ldns_rdf2str(ldns_rr_owner(soa));
	ck_assert_str_eq(s, zone);
	free(s);
}

static char *
rr_text(const ldns_pkt *p, size_t i)
{
	return ldns_rr2str(ldns_rr_list_rr(ldns_pkt_answer(p), i));
}

/* dns_reload_prepare() and, when it worked, commit: 0 or -1. */
static int
dns_reload_whole(struct dns *d, const struct config *c)
{
	struct dns_reload *r;
	char err[256];

	if ((r = dns_reload_prepare(d, c, err, sizeof(err))) == NULL)
		return -1;
	dns_reload_commit(d, r);
	return 0;
}

START_TEST(apex_soa_and_ns)
{
	struct dns_result r;
	ldns_pkt *p = ask("svc.test.", LDNS_RR_TYPE_SOA, &r);
	char *s;

	check_header(p, LDNS_RCODE_NOERROR, true);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	s = rr_text(p, 0);
	ck_assert_str_eq(s, "svc.test.\t30\tIN\tSOA\tsvc.test. "
	    "hostmaster.svc.test. 2024061501 3600 600 86400 30\n");
	free(s);
	ck_assert_int_eq(r.svc, -1);
	ldns_pkt_free(p);

	p = ask("example.org.", LDNS_RR_TYPE_NS, &r);
	check_header(p, LDNS_RCODE_NOERROR, true);
	s = rr_text(p, 0);
	ck_assert_str_eq(s, "example.org.\t30\tIN\tNS\texample.org.\n");
	free(s);
	ldns_pkt_free(p);

	p = ask("svc.test.", LDNS_RR_TYPE_ANY, &r);
	check_header(p, LDNS_RCODE_NOERROR, true);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 2);
	ldns_pkt_free(p);

	p = ask("svc.test.", LDNS_RR_TYPE_A, &r);	/* NODATA */
	check_header(p, LDNS_RCODE_NOERROR, true);
	check_soa_authority(p, "svc.test.");
	ldns_pkt_free(p);
}
END_TEST

START_TEST(service_a_proxy)
{
	struct dns_result r;
	ldns_pkt *p;
	char *s;

	p = ask("hello.svc.test.", LDNS_RR_TYPE_A, &r);
	check_header(p, LDNS_RCODE_NOERROR, true);
	ck_assert_int_eq(r.action, DNS_ACT_SEND);
	ck_assert_int_eq(r.svc, svc_index("hello"));
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ck_assert_uint_eq(ldns_pkt_nscount(p), 0);
	s = rr_text(p, 0);
	ck_assert_str_eq(s, "hello.svc.test.\t30\tIN\tA\t127.0.0.2\n");
	free(s);
	ldns_pkt_free(p);

	/* Every expanded name is the same service. */
	p = ask("www.example.org.", LDNS_RR_TYPE_A, &r);
	check_header(p, LDNS_RCODE_NOERROR, true);
	ck_assert_int_eq(r.svc, svc_index("hello"));
	ldns_pkt_free(p);
	p = ask("deep.sub.svc.test.", LDNS_RR_TYPE_ANY, &r);
	check_header(p, LDNS_RCODE_NOERROR, true);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ck_assert_int_eq(r.svc, svc_index("hello"));
	ldns_pkt_free(p);

	/* The other address type: NODATA with SOA, still a wake. */
	p = ask("hello.svc.test.", LDNS_RR_TYPE_AAAA, &r);
	check_header(p, LDNS_RCODE_NOERROR, true);
	check_soa_authority(p, "svc.test.");
	ck_assert_int_eq(r.svc, svc_index("hello"));
	ldns_pkt_free(p);

	/* Another type: NODATA, and no wake. */
	p = ask("hello.svc.test.", LDNS_RR_TYPE_MX, &r);
	check_header(p, LDNS_RCODE_NOERROR, true);
	check_soa_authority(p, "svc.test.");
	ck_assert_int_eq(r.svc, -1);
	ldns_pkt_free(p);
}
END_TEST

/*
 * Services sharing one address and its ports by name: each name is its
 * own service (a wake of that one), answered with the shared address.
 * The index is keyed by name, not by address.
 */
START_TEST(shared_address_names)
{
	struct dns_result r;
	char text[8192], name[64], want[96], *rr;
	size_t n, i;
	ldns_pkt *p;

	n = (size_t)snprintf(text, sizeof(text),
	    "[dns]\nlisten = 127.0.0.1:0\nzone = svc.test\n");
	for (i = 0; i < 20; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
		    "[service \"s%zu\"]\nnames = s%zu alias%zu\nkernel = /k\n"
		    "address = 127.0.0.9\nports = 80/host 443/sni\n", i, i, i);
	dns_index_free(ix);
	config_free(cfg);
	cfg = load(text);
	ix = dns_index_new(cfg, SERIAL);
	ck_assert_ptr_nonnull(ix);
	for (i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), i % 2 ? "s%zu.svc.test." :
		    "alias%zu.svc.test.", i);
		p = ask(name, LDNS_RR_TYPE_A, &r);
		check_header(p, LDNS_RCODE_NOERROR, true);
		snprintf(want, sizeof(want), "s%zu", i);
		ck_assert_int_eq(r.svc, svc_index(want));
		ck_assert_str_eq(dns_index_service(ix, (size_t)r.svc)->name,
		    want);
		snprintf(want, sizeof(want), "%s\t30\tIN\tA\t127.0.0.9\n", name);
		rr = rr_text(p, 0);
		ck_assert_str_eq(rr, want);
		free(rr);
		ldns_pkt_free(p);
	}
}
END_TEST

START_TEST(service_aaaa)
{
	struct dns_result r;
	ldns_pkt *p;
	char *s;

	p = ask("six.svc.test.", LDNS_RR_TYPE_AAAA, &r);
	check_header(p, LDNS_RCODE_NOERROR, true);
	s = rr_text(p, 0);
	ck_assert_str_eq(s, "six.svc.test.\t30\tIN\tAAAA\t2001:db8::6\n");
	free(s);
	ck_assert_int_eq(r.svc, svc_index("six"));
	ldns_pkt_free(p);

	p = ask("six.example.org.", LDNS_RR_TYPE_A, &r);
	check_header(p, LDNS_RCODE_NOERROR, true);
	check_soa_authority(p, "example.org.");
	ldns_pkt_free(p);
}
END_TEST

START_TEST(case_0x20_echoed)
{
	static const char name[] = "HeLLo.SvC.tEsT.";
	uint8_t q[512], out[1232];
	struct dns_result r;
	size_t len = make_query(q, sizeof(q), name, LDNS_RR_TYPE_A,
	    LDNS_RR_CLASS_IN, 0, false);
	ldns_pkt *p = answer_pkt(q, len, false, sizeof(out), &r, out);
	char *s;

	check_header(p, LDNS_RCODE_NOERROR, true);
	/* The question, byte for byte, case included. */
	ck_assert_mem_eq(out + 12, q + 12, len - 12);
	s = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_answer(p),
	    0)));
	ck_assert_str_eq(s, name);
	free(s);
	ldns_pkt_free(p);

	p = ask("NOPE.svc.TEST.", LDNS_RR_TYPE_A, &r);
	check_header(p, LDNS_RCODE_NXDOMAIN, true);
	check_soa_authority(p, "svc.TEST.");	/* pointer into question */
	ldns_pkt_free(p);
}
END_TEST

START_TEST(nxdomain_and_nodata)
{
	struct dns_result r;
	ldns_pkt *p;

	p = ask("nope.svc.test.", LDNS_RR_TYPE_A, &r);
	check_header(p, LDNS_RCODE_NXDOMAIN, true);
	check_soa_authority(p, "svc.test.");
	ck_assert_int_eq(r.svc, -1);
	ldns_pkt_free(p);

	/* Below a service name: nothing there. */
	p = ask("x.hello.svc.test.", LDNS_RR_TYPE_A, &r);
	check_header(p, LDNS_RCODE_NXDOMAIN, true);
	check_soa_authority(p, "svc.test.");
	ldns_pkt_free(p);

	/* An empty non-terminal (above deep.sub.svc.test.) exists. */
	p = ask("sub.svc.test.", LDNS_RR_TYPE_A, &r);
	check_header(p, LDNS_RCODE_NOERROR, true);
	check_soa_authority(p, "svc.test.");
	ldns_pkt_free(p);

	p = ask("a.b.c.d.e.f.g.example.org.", LDNS_RR_TYPE_TXT, &r);
	check_header(p, LDNS_RCODE_NXDOMAIN, true);
	check_soa_authority(p, "example.org.");
	ldns_pkt_free(p);
}
END_TEST

START_TEST(refused)
{
	static const ldns_rr_type xfr[] = { LDNS_RR_TYPE_AXFR,
	    LDNS_RR_TYPE_IXFR };
	uint8_t q[512], out[1232];
	struct dns_result r;
	ldns_pkt *p;
	size_t i, len;

	p = ask("example.com.", LDNS_RR_TYPE_A, &r);
	check_header(p, LDNS_RCODE_REFUSED, false);
	ck_assert_int_eq(r.action, DNS_ACT_SEND);
	ldns_pkt_free(p);
	p = ask("test.", LDNS_RR_TYPE_A, &r);	/* above a zone */
	check_header(p, LDNS_RCODE_REFUSED, false);
	ldns_pkt_free(p);
	p = ask(".", LDNS_RR_TYPE_NS, &r);
	check_header(p, LDNS_RCODE_REFUSED, false);
	ldns_pkt_free(p);

	for (i = 0; i < 2; i++) {
		p = ask("svc.test.", xfr[i], &r);
		check_header(p, LDNS_RCODE_REFUSED, false);
		ldns_pkt_free(p);
	}

	len = make_query(q, sizeof(q), "hello.svc.test.", LDNS_RR_TYPE_A,
	    LDNS_RR_CLASS_CH, 0, false);
	p = answer_pkt(q, len, false, sizeof(out), &r, out);
	check_header(p, LDNS_RCODE_REFUSED, false);
	ck_assert_int_eq(r.svc, -1);
	ldns_pkt_free(p);
}
END_TEST

START_TEST(forward_action)
{
	static uint8_t out[1232];
	struct config *c = load("[dns]\nzone = svc.test\n"
	    "forwarder = 127.0.0.1:5353\n");
	struct dns_index *fx = dns_index_new(c, 1);
	struct dns_result r;
	uint8_t q[512];
	size_t len;
	ldns_pkt *p;

	len = make_query(q, sizeof(q), "example.com.", LDNS_RR_TYPE_A,
	    LDNS_RR_CLASS_IN, 0, false);
	dns_answer(fx, q, len, false, out, sizeof(out), &r);
	ck_assert_int_eq(r.action, DNS_ACT_FORWARD);
	ck_assert(r.has_question);
	/* The fallback if the forwarder fails. */
	ck_assert_int_eq(ldns_wire2pkt(&p, out, r.len), LDNS_STATUS_OK);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(p);

	/* Transfers are never forwarded. */
	len = make_query(q, sizeof(q), "example.com.", LDNS_RR_TYPE_AXFR,
	    LDNS_RR_CLASS_IN, 0, false);
	dns_answer(fx, q, len, false, out, sizeof(out), &r);
	ck_assert_int_eq(r.action, DNS_ACT_SEND);
	ck_assert_int_eq(r.rcode, DNS_RCODE_REFUSED);
	dns_index_free(fx);
	config_free(c);
}
END_TEST

START_TEST(guest_hold)
{
	static uint8_t out[1232];
	static const uint8_t guest[4] = { 10, 99, 0, 7 };
	struct dns_result r;
	ldns_pkt *p;
	char *s;

	p = ask("late.svc.test.", LDNS_RR_TYPE_A, &r);
	ck_assert_int_eq(r.action, DNS_ACT_HOLD);
	ck_assert_int_eq(r.svc, svc_index("late"));
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(p);

	dns_answer_guest(ix, &r, AF_INET, guest, false, out, sizeof(out));
	ck_assert_int_eq(r.action, DNS_ACT_SEND);
	ck_assert_int_eq(ldns_wire2pkt(&p, out, r.len), LDNS_STATUS_OK);
	check_header(p, LDNS_RCODE_NOERROR, true);
	s = rr_text(p, 0);
	ck_assert_str_eq(s, "late.svc.test.\t30\tIN\tA\t10.99.0.7\n");
	free(s);
	ldns_pkt_free(p);

	dns_answer_rcode(&r, DNS_RCODE_SERVFAIL, false, out, sizeof(out));
	ck_assert_int_eq(ldns_wire2pkt(&p, out, r.len), LDNS_STATUS_OK);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ck_assert_uint_eq(ldns_pkt_qdcount(p), 1);
	ck_assert_uint_eq(ldns_pkt_id(p), 0x1234);
	ldns_pkt_free(p);

	/* Other types are not held. */
	p = ask("late.svc.test.", LDNS_RR_TYPE_TXT, &r);
	ck_assert_int_eq(r.action, DNS_ACT_SEND);
	check_header(p, LDNS_RCODE_NOERROR, true);
	ldns_pkt_free(p);
}
END_TEST

START_TEST(opcode_qdcount_qr)
{
	uint8_t q[512], out[1232];
	struct dns_result r;
	size_t len = make_query(q, sizeof(q), "hello.svc.test.",
	    LDNS_RR_TYPE_A, LDNS_RR_CLASS_IN, 0, false);
	ldns_pkt *p;
	int op;

	for (op = 1; op < 16; op++) {
		q[2] = (uint8_t)((q[2] & 0x87) | op << 3);
		p = answer_pkt(q, len, false, sizeof(out), &r, out);
		ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOTIMPL);
		ck_assert_int_eq(ldns_pkt_get_opcode(p), op);
		ck_assert_int_eq(r.svc, -1);
		ldns_pkt_free(p);
	}
	q[2] &= 0x87;

	q[5] = 0;	/* QDCOUNT 0 */
	p = answer_pkt(q, len, false, sizeof(out), &r, out);
	check_header(p, LDNS_RCODE_FORMERR, false);
	ldns_pkt_free(p);
	q[5] = 2;
	p = answer_pkt(q, len, false, sizeof(out), &r, out);
	check_header(p, LDNS_RCODE_FORMERR, false);
	ldns_pkt_free(p);
	q[5] = 1;

	q[2] |= 0x80;	/* QR=1: a response, never answered */
	ck_assert_ptr_null(answer_pkt(q, len, false, sizeof(out), &r, out));
	ck_assert_int_eq(r.action, DNS_ACT_DROP);
	ck_assert_int_eq(r.svc, -1);
}
END_TEST

START_TEST(edns)
{
	uint8_t q[512], out[4096];
	struct dns_result r;
	size_t len;
	ldns_pkt *p;

	len = make_query(q, sizeof(q), "hello.svc.test.", LDNS_RR_TYPE_A,
	    LDNS_RR_CLASS_IN, 4096, true);
	p = answer_pkt(q, len, false, sizeof(out), &r, out);
	check_header(p, LDNS_RCODE_NOERROR, true);
	ck_assert(ldns_pkt_edns(p));
	ck_assert_uint_eq(ldns_pkt_edns_udp_size(p), DNS_EDNS_SIZE);
	ck_assert(ldns_pkt_edns_do(p));
	ck_assert_uint_eq(ldns_pkt_edns_version(p), 0);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);

	/* A tiny EDNS size counts as 512 (RFC 6891 6.2.5). */
	len = make_query(q, sizeof(q), "hello.svc.test.", LDNS_RR_TYPE_A,
	    LDNS_RR_CLASS_IN, 100, false);
	p = answer_pkt(q, len, false, sizeof(out), &r, out);
	check_header(p, LDNS_RCODE_NOERROR, true);
	ck_assert(!ldns_pkt_edns_do(p));
	ldns_pkt_free(p);

	/* Version 1: BADVERS, with our OPT. */
	len = make_query(q, sizeof(q), "hello.svc.test.", LDNS_RR_TYPE_A,
	    LDNS_RR_CLASS_IN, 1232, false);
	q[len - 5] = 1;		/* OPT TTL: ext-rcode, version, flags */
	p = answer_pkt(q, len, false, sizeof(out), &r, out);
	ck_assert_int_eq(r.rcode, DNS_RCODE_BADVERS);
	ck_assert_uint_eq(ldns_pkt_edns_extended_rcode(p), 1);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 0);
	ck_assert_int_eq(r.svc, -1);
	ldns_pkt_free(p);

	/* No OPT in, no OPT out. */
	p = ask("hello.svc.test.", LDNS_RR_TYPE_A, &r);
	ck_assert(!ldns_pkt_edns(p));
	ck_assert_uint_eq(ldns_pkt_arcount(p), 0);
	ldns_pkt_free(p);
}
END_TEST

START_TEST(any_at_apex_service)
{
	struct dns_result r;
	ldns_pkt *p = ask("apex.test.", LDNS_RR_TYPE_ANY, &r);

	check_header(p, LDNS_RCODE_NOERROR, true);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 3);	/* SOA, NS, A */
	ck_assert_int_eq(r.svc, svc_index("apex"));
	ldns_pkt_free(p);
}
END_TEST

/* The longest response: NXDOMAIN for a 254-byte name, with its SOA. */
START_TEST(truncation)
{
	uint8_t q[512], out[512];
	struct dns_result r;
	size_t len, full;
	ldns_pkt *p;

	len = make_query(q, sizeof(q), LONGNAME, LDNS_RR_TYPE_A,
	    LDNS_RR_CLASS_IN, 0, false);
	p = answer_pkt(q, len, false, sizeof(out), &r, out);
	check_header(p, LDNS_RCODE_NXDOMAIN, true);
	ck_assert_uint_eq(ldns_pkt_nscount(p), 1);
	full = r.len;
	ldns_pkt_free(p);

	/* One byte short: TC=1, question kept, no records. */
	p = answer_pkt(q, len, false, full - 1, &r, out);
	ck_assert(ldns_pkt_tc(p));
	ck_assert_uint_eq(ldns_pkt_qdcount(p), 1);
	ck_assert_uint_eq(ldns_pkt_ancount(p) + ldns_pkt_nscount(p), 0);
	ck_assert_uint_eq(r.len, len);
	ldns_pkt_free(p);

	/* With EDNS the OPT must fit too, and stays in the cut form. */
	len = make_query(q, sizeof(q), LONGNAME, LDNS_RR_TYPE_A,
	    LDNS_RR_CLASS_IN, 1232, false);
	p = answer_pkt(q, len, false, full + 10, &r, out);
	ck_assert(ldns_pkt_tc(p));
	ck_assert(ldns_pkt_edns(p));
	ck_assert_uint_eq(ldns_pkt_nscount(p), 0);
	ldns_pkt_free(p);
	p = answer_pkt(q, len, false, full + 11, &r, out);
	ck_assert(!ldns_pkt_tc(p));
	ck_assert_uint_eq(ldns_pkt_nscount(p), 1);
	ldns_pkt_free(p);

	/* Too small a buffer for any response: nothing is sent. */
	dns_answer(ix, q, len, false, out, DNS_MIN_CAP - 1, &r);
	ck_assert_int_eq(r.action, DNS_ACT_DROP);
	ck_assert_uint_eq(r.len, 0);
}
END_TEST

START_TEST(slip_truncates)
{
	uint8_t q[512], out[1232];
	struct dns_result r;
	size_t len;
	ldns_pkt *p;

	len = make_query(q, sizeof(q), "hello.svc.test.", LDNS_RR_TYPE_A,
	    LDNS_RR_CLASS_IN, 1232, false);
	dns_answer(ix, q, len, false, out, sizeof(out), &r);
	ck_assert_uint_eq(dns_truncate(&r, out), len);
	ck_assert_int_eq(ldns_wire2pkt(&p, out, r.len), LDNS_STATUS_OK);
	ck_assert(ldns_pkt_tc(p));
	ck_assert(ldns_pkt_edns(p));
	ck_assert_uint_eq(ldns_pkt_ancount(p), 0);
	ck_assert_uint_eq(ldns_pkt_qdcount(p), 1);
	ldns_pkt_free(p);
}
END_TEST

/* Hand-made packets, each FORMERR or dropped. */
struct bad {
	const char	*what;
	uint8_t		 pkt[400];
	size_t		 len;
	int		 rcode;		/* -1: dropped */
};

#define HDR(an, ns, ar)	0x12, 0x34, 0x01, 0x00, 0, 1, 0, an, 0, ns, 0, ar
#define QN		5, 'h', 'e', 'l', 'l', 'o', 3, 's', 'v', 'c', 4, 't', 'e', 's', 't', 0
#define QT		0, 1, 0, 1
#define OPT		0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0
/*
 * A TSIG RR (34 bytes): key "k.", algorithm "x.", time signed 12345,
 * fudge 300, a 2-byte MAC, original ID 0x1234, no error, no other.
 */
#define TSIG_RD		1, 'x', 0, 0, 0, 0, 0, 0x30, 0x39, 0x01, 0x2c, \
			0, 2, 0xaa, 0xbb, 0x12, 0x34, 0, 0, 0, 0
#define TSIG_AS(class, ttl) 1, 'k', 0, 0, 250, 0, class, 0, 0, 0, ttl, \
			0, 21, TSIG_RD
#define TSIG		TSIG_AS(255, 0)

static const struct bad bad[] = {
	{ "zero length", { 0 }, 0, -1 },
	{ "short header", { 0x12, 0x34, 0x01, 0, 0, 1 }, 6, -1 },
	{ "11 bytes", { HDR(0, 0, 0) }, 11, -1 },
	{ "header only", { HDR(0, 0, 0) }, 12, 1 },
	{ "question cut in name", { HDR(0, 0, 0), 5, 'h', 'e' }, 15, 1 },
	{ "question without type", { HDR(0, 0, 0), QN }, 28, 1 },
	{ "question cut in class", { HDR(0, 0, 0), QN, 0, 1, 0 }, 31, 1 },
	{ "pointer loop in question", { HDR(0, 0, 0), 0xc0, 12, QT }, 18, 1 },
	{ "pointer forward in question", { HDR(0, 0, 0), 0xc0, 14, 0, QT },
	    19, 1 },
	{ "extended label type", { HDR(0, 0, 0), 0x41, 'a', 0, QT }, 19, 1 },
	{ "overlong name", { HDR(0, 0, 0),
	    63, [13 ... 75] = 'a', 63, [77 ... 139] = 'b',
	    63, [141 ... 203] = 'c', 63, [205 ... 267] = 'd', 1, 'e', 0,
	    0, 1, 0, 1 }, 275, 1 },
	{ "arcount past the end", { HDR(0, 0, 5), QN, QT }, 32, 1 },
	{ "ancount 255, no records", { HDR(255, 0, 0), QN, QT }, 32, 1 },
	{ "nscount 255, one record", { HDR(0, 255, 0), QN, QT, 0xc0, 12,
	    0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 1, 2, 3, 4 }, 48, 1 },
	{ "rdlength past the end", { HDR(1, 0, 0), QN, QT, 0xc0, 12,
	    0, 1, 0, 1, 0, 0, 0, 30, 0, 40, 1, 2, 3, 4 }, 48, 1 },
	{ "pointer loop in a record", { HDR(1, 0, 0), QN, QT, 0xc0, 32,
	    0, 1, 0, 1, 0, 0, 0, 30, 0, 4, 1, 2, 3, 4 }, 48, 1 },
	{ "two-pointer loop in a record", { HDR(1, 0, 0), QN, QT,
	    0xc0, 34, 0xc0, 32, 0, 1, 0, 1, 0, 0, 0, 30, 0, 0 }, 46, 1 },
	{ "trailing garbage", { HDR(0, 0, 0), QN, QT, 0xde, 0xad }, 34, 1 },
	{ "two OPT", { HDR(0, 0, 2), QN, QT, OPT, OPT }, 54, 1 },
	{ "OPT not at the root", { HDR(0, 0, 1), QN, QT, 1, 'x', OPT },
	    45, 1 },
	{ "OPT cut", { HDR(0, 0, 1), QN, QT, OPT }, 40, 1 },
	/* RFC 8945: one TSIG, the last record, class ANY, TTL 0, exact. */
	{ "TSIG not last", { HDR(0, 0, 2), QN, QT, TSIG, OPT }, 77, 1 },
	{ "two TSIG", { HDR(0, 0, 2), QN, QT, TSIG, TSIG }, 100, 1 },
	{ "TSIG in answer", { HDR(1, 0, 0), QN, QT, TSIG }, 66, 1 },
	{ "TSIG in authority", { HDR(0, 1, 0), QN, QT, TSIG }, 66, 1 },
	{ "TSIG of class IN", { HDR(0, 0, 1), QN, QT, TSIG_AS(1, 0) }, 66,
	    1 },
	{ "TSIG with a TTL", { HDR(0, 0, 1), QN, QT, TSIG_AS(255, 1) }, 66,
	    1 },
	{ "TSIG MAC past its RDATA", { HDR(0, 0, 1), QN, QT, 1, 'k', 0,
	    0, 250, 0, 255, 0, 0, 0, 0, 0, 21, 1, 'x', 0, 0, 0, 0, 0, 0, 1,
	    0x01, 0x2c, 0, 9, 0xaa, 0xbb, 0x12, 0x34, 0, 0, 0, 0 }, 66, 1 },
	{ "TSIG other length past its RDATA", { HDR(0, 0, 1), QN, QT, 1,
	    'k', 0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 21, 1, 'x', 0, 0, 0, 0, 0,
	    0, 1, 0x01, 0x2c, 0, 2, 0xaa, 0xbb, 0x12, 0x34, 0, 0, 0, 1 }, 66,
	    1 },
	{ "TSIG RDATA longer than its fields", { HDR(0, 0, 1), QN, QT, 1,
	    'k', 0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 22, TSIG_RD, 0 }, 67, 1 },
	{ "TSIG algorithm past its RDATA", { HDR(0, 0, 1), QN, QT, 1, 'k',
	    0, 0, 250, 0, 255, 0, 0, 0, 0, 0, 2, 1, 'x' }, 47, 1 },
	{ "response (QR=1)", { 0x12, 0x34, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0,
	    QN, QT }, 32, -1 },
};

START_TEST(malformed)
{
	const struct bad *b = &bad[_i];
	uint8_t out[1232], *copy;
	struct dns_result r;
	ldns_pkt *p;

	/* An exact-size heap copy, so ASan sees any overread. */
	copy = malloc(b->len > 0 ? b->len : 1);
	memcpy(copy, b->pkt, b->len);
	p = answer_pkt(copy, b->len, false, sizeof(out), &r, out);
	free(copy);
	if (b->rcode == -1) {
		ck_assert_msg(p == NULL, "%s: answered", b->what);
		ck_assert_int_eq(r.action, DNS_ACT_DROP);
		return;
	}
	ck_assert_msg(p != NULL, "%s: dropped", b->what);
	ck_assert_msg((int)ldns_pkt_get_rcode(p) == b->rcode,
	    "%s: rcode %d", b->what, ldns_pkt_get_rcode(p));
	ck_assert_uint_eq(ldns_pkt_id(p), 0x1234);
	ck_assert_uint_eq(r.len, DNS_HDR_LEN);
	ck_assert_int_eq(r.svc, -1);
	ldns_pkt_free(p);
}
END_TEST

/* Well-formed extras are accepted: a compressed record in additional. */
START_TEST(wellformed_extras)
{
	static const uint8_t q[] = { HDR(0, 0, 2), QN, QT, 0xc0, 12,
	    0, 16, 0, 1, 0, 0, 0, 0, 0, 0, OPT };
	uint8_t out[1232];
	struct dns_result r;
	ldns_pkt *p = answer_pkt(q, sizeof(q), false, sizeof(out), &r, out);

	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ck_assert(ldns_pkt_edns(p));
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);
}
END_TEST

/*
 * QCLASS ANY: we hold class IN only, so the answer cannot be
 * authoritative (AA=0), whatever it holds; the records are class IN.
 */
START_TEST(qclass_any_not_authoritative)
{
	static const struct {
		const char	*name;
		ldns_rr_type	 type;
		ldns_pkt_rcode	 rcode;
		size_t		 an, ns;
	} c[] = {
		{ "hello.svc.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NOERROR, 1, 0 },
		{ "hello.svc.test.", LDNS_RR_TYPE_AAAA, LDNS_RCODE_NOERROR, 0,
		    1 },
		{ "nope.svc.test.", LDNS_RR_TYPE_A, LDNS_RCODE_NXDOMAIN, 0, 1 },
		{ "svc.test.", LDNS_RR_TYPE_SOA, LDNS_RCODE_NOERROR, 1, 0 },
		{ "apex.test.", LDNS_RR_TYPE_ANY, LDNS_RCODE_NOERROR, 3, 0 },
	};
	static const uint8_t guest[4] = { 10, 99, 0, 7 };
	uint8_t q[512], out[1232];
	struct dns_result r;
	size_t i, len;
	ldns_pkt *p;

	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		len = make_query(q, sizeof(q), c[i].name, c[i].type,
		    LDNS_RR_CLASS_ANY, 0, false);
		p = answer_pkt(q, len, false, sizeof(out), &r, out);
		check_header(p, c[i].rcode, false);
		ck_assert_uint_eq(ldns_pkt_ancount(p), c[i].an);
		ck_assert_uint_eq(ldns_pkt_nscount(p), c[i].ns);
		ck_assert_int_eq(ldns_rr_get_class(ldns_rr_list_rr(
		    c[i].an > 0 ? ldns_pkt_answer(p) : ldns_pkt_authority(p),
		    0)), LDNS_RR_CLASS_IN);
		ck_assert_int_eq(ldns_rr_get_class(ldns_rr_list_rr(
		    ldns_pkt_question(p), 0)), LDNS_RR_CLASS_ANY);
		ldns_pkt_free(p);
	}
	/* Still a wake; a held answer is not authoritative either. */
	len = make_query(q, sizeof(q), "late.svc.test.", LDNS_RR_TYPE_A,
	    LDNS_RR_CLASS_ANY, 0, false);
	dns_answer(ix, q, len, false, out, sizeof(out), &r);
	ck_assert_int_eq(r.action, DNS_ACT_HOLD);
	ck_assert_int_eq(r.svc, svc_index("late"));
	dns_answer_guest(ix, &r, AF_INET, guest, false, out, sizeof(out));
	ck_assert_int_eq(ldns_wire2pkt(&p, out, r.len), LDNS_STATUS_OK);
	check_header(p, LDNS_RCODE_NOERROR, false);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);
}
END_TEST

#define TSIG_KEY	"c2VjcmV0IGtleSBzdW1tb25kIGRvZXMgbm90IGtub3c="

/*
 * A query for name signed with TSIG by ldns, under a key (named key)
 * that we cannot know.
 */
static size_t
make_signed(uint8_t *buf, size_t cap, const char *name, const char *key,
    uint16_t edns_size, ldns_pkt **signed_pkt)
{
	ldns_pkt *p;
	uint8_t *wire;
	size_t len;

	ck_assert_int_eq(ldns_pkt_query_new_frm_str(&p, name, LDNS_RR_TYPE_A,
	    LDNS_RR_CLASS_IN, LDNS_RD), LDNS_STATUS_OK);
	ldns_pkt_set_id(p, 0x1234);
	if (edns_size != 0)
		ldns_pkt_set_edns_udp_size(p, edns_size);
	ck_assert_int_eq(ldns_pkt_tsig_sign(p, key, TSIG_KEY, 300,
	    "hmac-sha256.", NULL), LDNS_STATUS_OK);
	ck_assert_int_eq(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
	ck_assert_uint_le(len, cap);
	memcpy(buf, wire, len);
	free(wire);
	*signed_pkt = p;
	return len;
}

/*
 * What RFC 8945 5.3.2 has a server send back: the request's TSIG with
 * the MAC emptied, error BADKEY and no other data, in wire form.
 */
static size_t
badkey_rr(const ldns_pkt *signed_pkt, uint8_t **wire)
{
	ldns_rr *rr = ldns_rr_clone(ldns_pkt_tsig(signed_pkt));
	static const uint8_t empty[2];
	size_t len;

	ck_assert_ptr_nonnull(rr);
	ldns_rdf_deep_free(ldns_rr_set_rdf(rr, ldns_rdf_new_frm_data(
	    LDNS_RDF_TYPE_INT16_DATA, 2, empty), 3));
	ldns_rdf_deep_free(ldns_rr_set_rdf(rr, ldns_native2rdf_int16(
	    LDNS_RDF_TYPE_INT16, 17), 5));
	ldns_rdf_deep_free(ldns_rr_set_rdf(rr, ldns_rdf_new_frm_data(
	    LDNS_RDF_TYPE_INT16_DATA, 2, empty), 6));
	ck_assert_int_eq(ldns_rr2wire(wire, rr, LDNS_SECTION_ADDITIONAL,
	    &len), LDNS_STATUS_OK);
	ldns_rr_free(rr);
	return len;
}

/*
 * A TSIG-signed query: we hold no keys, so NOTAUTH with the TSIG sent
 * back unsigned, error BADKEY (RFC 8945 5.2.1), before anything else
 * about the query is looked at: no wake, no hold, no forward.
 */
START_TEST(tsig_badkey)
{
	static const char *names[] = { "hello.svc.test.", "late.svc.test.",
	    "nope.svc.test.", "example.com." };
	uint8_t q[1024], out[1232], *want;
	struct dns_result r;
	ldns_pkt *sp, *p;
	size_t i, len, wlen;
	ldns_rr *t;

	for (i = 0; i < 2 * sizeof(names) / sizeof(names[0]); i++) {
		len = make_signed(q, sizeof(q), names[i / 2], "Key.Example.",
		    i % 2 ? 1232 : 0, &sp);
		p = answer_pkt(q, len, false, sizeof(out), &r, out);
		ck_assert_int_eq(r.action, DNS_ACT_SEND);
		ck_assert_int_eq(r.svc, -1);
		ck_assert_int_eq(r.rcode, DNS_RCODE_NOTAUTH);
		check_header(p, LDNS_RCODE_NOTAUTH, false);
		ck_assert_uint_eq(ldns_pkt_qdcount(p), 1);
		ck_assert_uint_eq(ldns_pkt_ancount(p), 0);
		ck_assert_uint_eq(ldns_pkt_nscount(p), 0);
		/* OPT (if asked), then the TSIG, last. */
		ck_assert_int_eq(ldns_pkt_edns(p), i % 2 == 1);
		ck_assert_uint_eq(out[10] << 8 | out[11], 1 + i % 2);
		t = ldns_pkt_tsig(p);
		ck_assert_ptr_nonnull(t);
		ck_assert_uint_eq(ldns_rdf2native_int16(ldns_rr_rdf(t, 5)), 17);
		/* Byte for byte what RFC 8945 asks, ending the response. */
		wlen = badkey_rr(sp, &want);
		ck_assert_uint_ge(r.len, wlen);
		ck_assert_mem_eq(out + r.len - wlen, want, wlen);
		free(want);
		ldns_pkt_free(p);
		ldns_pkt_free(sp);
	}
}
END_TEST

/*
 * The TSIG's names are written uncompressed, whatever the request did;
 * the rest is checked byte for byte.
 */
START_TEST(tsig_badkey_wire)
{
	static const uint8_t q[] = { HDR(0, 0, 1), QN, QT,
	    0xc0, 12, 0, 250, 0, 255, 0, 0, 0, 0, 0, 20,
	    0xc0, 18, 0, 0, 0, 0, 0x30, 0x39, 0x01, 0x2c, 0, 2, 0xaa, 0xbb,
	    0x77, 0x66, 0, 0, 0, 0 };
	static const uint8_t want[] = { 0x12, 0x34, 0x81, 0x09, 0, 1, 0, 0,
	    0, 0, 0, 1, QN, QT,
	    QN, 0, 250, 0, 255, 0, 0, 0, 0, 0, 26,
	    3, 's', 'v', 'c', 4, 't', 'e', 's', 't', 0,
	    0, 0, 0, 0, 0x30, 0x39, 0x01, 0x2c, 0, 0, 0x77, 0x66, 0, 17, 0, 0 };
	uint8_t out[1232];
	struct dns_result r;
	ldns_pkt *p = answer_pkt(q, sizeof(q), false, sizeof(out), &r, out);

	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(r.len, sizeof(want));
	ck_assert_mem_eq(out, want, sizeof(want));
	ldns_pkt_free(p);
}
END_TEST

/*
 * A BADKEY response too large for the client's UDP size is cut like
 * any other: TC=1, the question and OPT, no TSIG; over TCP it is
 * whole.  A rate-limited client's slip drops the TSIG too.
 */
START_TEST(tsig_badkey_truncated)
{
	uint8_t q[2048], out[DNS_TCP_MAX];
	struct dns_result r;
	ldns_pkt *sp, *p;
	size_t len, full;

	/* Two names of over 240 bytes: more than 512 without EDNS. */
	len = make_signed(q, sizeof(q), LONGNAME, L60 "." L60 "." L60 "."
	    L60 ".", 0, &sp);
	p = answer_pkt(q, len, true, sizeof(out), &r, out);
	ck_assert(!ldns_pkt_tc(p));
	ck_assert_ptr_nonnull(ldns_pkt_tsig(p));
	full = r.len;
	ldns_pkt_free(p);

	p = answer_pkt(q, len, false, sizeof(out), &r, out);
	ck_assert_uint_gt(full, DNS_UDP_MIN);
	ck_assert(ldns_pkt_tc(p));
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOTAUTH);
	ck_assert_ptr_null(ldns_pkt_tsig(p));
	ck_assert_uint_eq(ldns_pkt_qdcount(p), 1);
	ck_assert_uint_eq(out[10] << 8 | out[11], 0);
	ldns_pkt_free(p);
	ldns_pkt_free(sp);

	len = make_signed(q, sizeof(q), "hello.svc.test.", "k.", 1232, &sp);
	dns_answer(ix, q, len, false, out, sizeof(out), &r);
	dns_truncate(&r, out);
	ck_assert_int_eq(ldns_wire2pkt(&p, out, r.len), LDNS_STATUS_OK);
	ck_assert(ldns_pkt_tc(p));
	ck_assert(ldns_pkt_edns(p));
	ck_assert_ptr_null(ldns_pkt_tsig(p));
	ck_assert_uint_eq(out[10] << 8 | out[11], 1);
	ldns_pkt_free(p);
	ldns_pkt_free(sp);
}
END_TEST

/*
 * A query for hello.svc.test. of exactly size bytes (at least 47): its
 * OPT, last, carries one padding option (RFC 7830) making up the rest.
 */
static void
make_padded(uint8_t *q, size_t size, uint16_t id)
{
	size_t len = make_query(q, size, "hello.svc.test.", LDNS_RR_TYPE_A,
	    LDNS_RR_CLASS_IN, 1232, false), pad;

	ck_assert_uint_ge(size, len + 4);
	pad = size - len - 4;
	q[0] = (uint8_t)(id >> 8);
	q[1] = id & 0xff;
	q[len - 2] = (uint8_t)((pad + 4) >> 8);
	q[len - 1] = (pad + 4) & 0xff;
	q[len] = 0;
	q[len + 1] = 12;
	q[len + 2] = (uint8_t)(pad >> 8);
	q[len + 3] = pad & 0xff;
	memset(q + len + 4, 0, pad);
}

/* A query as long as a DNS message can be is answered. */
START_TEST(large_query)
{
	static uint8_t q[DNS_TCP_MAX];
	uint8_t out[1232];
	struct dns_result r;
	ldns_pkt *p;

	make_padded(q, sizeof(q), 0x1234);
	p = answer_pkt(q, sizeof(q), false, sizeof(out), &r, out);
	check_header(p, LDNS_RCODE_NOERROR, true);
	ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
	ldns_pkt_free(p);
}
END_TEST

/* Names in wire format as ldns writes them; what it refuses, refused. */
START_TEST(name_to_wire)
{
	static const char *valid[] = { ".", "svc.test.", "a.", "x-1_y.b.c.",
	    "svc.test",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.",
	};
	static const char *invalid[] = { "", "a..b.", ".a.", "..",
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.",
	};
	uint8_t wire[DNS_NAME_MAX];
	char name[300];
	ldns_rdf *rdf;
	size_t i, len;

	for (i = 0; i < sizeof(valid) / sizeof(valid[0]); i++) {
		ck_assert_int_eq(ldns_str2rdf_dname(&rdf, valid[i]),
		    LDNS_STATUS_OK);
		len = dns_name_to_wire(valid[i], wire);
		ck_assert_uint_eq(len, ldns_rdf_size(rdf));
		ck_assert_mem_eq(wire, ldns_rdf_data(rdf), len);
		ldns_rdf_deep_free(rdf);
	}
	for (i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
		ck_assert_msg(dns_name_to_wire(invalid[i], wire) == 0, "%s",
		    invalid[i]);
	ck_assert_uint_eq(dns_name_to_wire("a\\.b.", wire), 0);

	/* 255 bytes in wire format at most: 127 labels "a." are 255. */
	for (i = 0; i < 127; i++)
		memcpy(name + 2 * i, "a.", 3);
	ck_assert_uint_eq(dns_name_to_wire(name, wire), 255);
	memcpy(name + 2 * i, "a.", 3);
	ck_assert_uint_eq(dns_name_to_wire(name, wire), 0);
}
END_TEST

START_TEST(index_10000)
{
	enum { N = 10000 };
	static char *zones[] = { "svc.test.", "other.test." };
	struct config c = { .zones = zones, .nzones = 2, .ttl = 30 };
	char name[64], (*names)[3][32] = calloc(N, sizeof(*names));
	char *(*ptrs)[2] = calloc(N, sizeof(*ptrs));
	uint8_t wire[DNS_NAME_MAX];
	struct dns_lookup l;
	struct dns_index *big;
	size_t i;

	/* Built in memory: the config parser is not under test here. */
	c.services = calloc(N, sizeof(*c.services));
	c.nservices = N;
	for (i = 0; i < N; i++) {
		struct cfg_service *s = &c.services[i];

		snprintf(names[i][2], 32, "s%zu", i);
		s->name = names[i][2];
		snprintf(names[i][0], 32, "s%zu.svc.test.", i);
		snprintf(names[i][1], 32, "s%zu.other.test.", i);
		ptrs[i][0] = names[i][0];
		ptrs[i][1] = names[i][1];
		s->names = ptrs[i];
		s->nnames = 2;
		s->family = AF_INET;
		s->address4.s_addr = htonl(0x0a000000u + (uint32_t)i);
	}
	big = dns_index_new(&c, 1);
	ck_assert_ptr_nonnull(big);
	ck_assert_uint_eq(dns_index_nservices(big), N);
	for (i = 0; i < N; i++) {
		snprintf(name, sizeof(name), "s%zu.%s.", i,
		    i % 2 ? "svc.test" : "other.test");
		dns_index_lookup(big, wire, dns_name_to_wire(name, wire), &l);
		ck_assert_int_eq(l.kind, DNS_LOOKUP_NAME);
		ck_assert_int_eq(l.svc, (long)i);
		ck_assert(!l.apex);
		ck_assert_uint_eq(l.zone_off, strlen(name) - (i % 2 ? 9 : 11));

		snprintf(name, sizeof(name), "x%zu.svc.test.", i);
		dns_index_lookup(big, wire, dns_name_to_wire(name, wire), &l);
		ck_assert_int_eq(l.kind, DNS_LOOKUP_NXDOMAIN);
	}
	dns_index_lookup(big, wire, dns_name_to_wire("svc.test.", wire), &l);
	ck_assert_int_eq(l.kind, DNS_LOOKUP_NAME);
	ck_assert(l.apex);
	ck_assert_int_eq(l.svc, -1);
	dns_index_lookup(big, wire, dns_name_to_wire("test.", wire), &l);
	ck_assert_int_eq(l.kind, DNS_LOOKUP_OUTSIDE);
	ck_assert_uint_eq(dns_index_serial(big), 1);
	dns_index_free(big);
	free(c.services);
	free(ptrs);
	free(names);
}
END_TEST


/* --- response rate limiting, on a clock the test moves ------------ */

static uint64_t fake_us;

static uint64_t
fake_mono_us(void *arg)
{
	return fake_us;
}

static int64_t
fake_wall_ms(void *arg)
{
	return 1700000000000;
}

static const struct clock_source fake_clock = { fake_mono_us, fake_wall_ms,
    NULL };

static struct sockaddr_storage
sa(const char *ip)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else {
		ck_assert_int_eq(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
	}
	return ss;
}

static enum dns_rrl_verdict
check_ip(struct dns_rrl *r, const char *ip)
{
	struct sockaddr_storage ss = sa(ip);

	return dns_rrl_check(r, (struct sockaddr *)&ss);
}

START_TEST(rrl_buckets)
{
	struct dns_rrl *r;
	int i;

	fake_us = 5000000;
	clock_set_source(&fake_clock);
	r = dns_rrl_new(10);
	ck_assert_ptr_nonnull(r);
	/* A burst of one second's worth, from anywhere in the /24. */
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(check_ip(r, i % 2 ? "192.0.2.1" :
		    "192.0.2.200"), DNS_RRL_PASS);
	/* Over: every second response slips, the others are dropped. */
	ck_assert_int_eq(check_ip(r, "192.0.2.7"), DNS_RRL_DROP);
	ck_assert_int_eq(check_ip(r, "192.0.2.7"), DNS_RRL_SLIP);
	ck_assert_int_eq(check_ip(r, "192.0.2.7"), DNS_RRL_DROP);
	ck_assert_int_eq(check_ip(r, "192.0.2.7"), DNS_RRL_SLIP);
	/* Another /24 has its own bucket. */
	ck_assert_int_eq(check_ip(r, "192.0.3.1"), DNS_RRL_PASS);
	/* 100 ms later: one more token (10/s). */
	fake_us += 100000;
	ck_assert_int_eq(check_ip(r, "192.0.2.1"), DNS_RRL_PASS);
	ck_assert_int_eq(check_ip(r, "192.0.2.1"), DNS_RRL_DROP);
	/* A long pause refills to the burst, no more. */
	fake_us += 3600ull * 1000000;
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(check_ip(r, "192.0.2.9"), DNS_RRL_PASS);
	ck_assert_int_ne(check_ip(r, "192.0.2.9"), DNS_RRL_PASS);

	/* IPv6 by /56. */
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(check_ip(r, i % 2 ? "2001:db8:0:ff::1" :
		    "2001:db8:0:1::2"), DNS_RRL_PASS);
	ck_assert_int_ne(check_ip(r, "2001:db8:0:42::3"), DNS_RRL_PASS);
	ck_assert_int_eq(check_ip(r, "2001:db8:0:100::1"), DNS_RRL_PASS);

	/* A new rate applies to the buckets in place. */
	dns_rrl_set_rate(r, 1000);
	fake_us += 1000;
	ck_assert_int_eq(check_ip(r, "192.0.2.9"), DNS_RRL_PASS);
	dns_rrl_free(r);
	clock_set_source(NULL);
}
END_TEST

/* --- the server on real sockets, with a fake lifecycle -------------- */

/*
 * The lifecycle is faked here (dns_server.c calls only these four), so
 * the test decides when a guest is ready.
 */
static struct {
	int		 wakes;
	char		 last[64];
	lc_notify_fn	 fn;
	void		*arg;
	int		 waiting;
	int		 cancelled;
	bool		 ready_now;
} lc;

int
lifecycle_wake(struct lifecycle *l, const char *service, enum lc_source src)
{
	ck_assert_int_eq(src, LC_SRC_DNS);
	lc.wakes++;
	snprintf(lc.last, sizeof(lc.last), "%s", service);
	return lc.ready_now ? LC_READY : LC_STARTING;
}

struct lc_waiter *
lifecycle_wait(struct lifecycle *l, const char *service, lc_notify_fn fn,
    void *arg)
{
	if (lc.ready_now) {
		errno = EALREADY;
		return NULL;
	}
	lc.fn = fn;
	lc.arg = arg;
	lc.waiting++;
	return (struct lc_waiter *)&lc;
}

void
lifecycle_wait_cancel(struct lifecycle *l, struct lc_waiter *w)
{
	lc.waiting--;
	lc.cancelled++;
}

int
lifecycle_info(struct lifecycle *l, const char *service,
    struct lc_info *info)
{
	memset(info, 0, sizeof(*info));
	info->service = service;
	info->state = LC_READY;
	snprintf(info->guest_address, sizeof(info->guest_address),
	    "10.99.0.7");
	return 0;
}

#define FAKE_LC		((struct lifecycle *)&lc)

static const char *server_conf =
    "[dns]\n"
    "listen = 127.0.0.1:0 [::1]:0\n"
    "zone = svc.test\n"
    "rate-limit = 0\n"
    "tcp-idle-timeout = 300ms\n"
    "tcp-clients = 2\n"
    "[service \"hello\"]\n"
    "kernel = /k.elf\n"
    "address = 127.0.0.2\n"
    "ports = 80\n"
    "[service \"six\"]\n"
    "kernel = /k.elf\n"
    "address = 2001:db8::6\n"
    "ports = 80\n"
    "[service \"late\"]\n"
    "kernel = /k.elf\n"
    "address = 127.0.0.3\n"
    "ports = 80\n"
    "boot-timeout = 300ms\n"
    "dns-answer = guest\n";

static struct event_base *base;
static struct dns *srv;

static void
server_setup(void)
{
	memset(&lc, 0, sizeof(lc));
	cfg = load(server_conf);
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	srv = dns_new(base, cfg, FAKE_LC);
	ck_assert_ptr_nonnull(srv);
}

static void
server_teardown(void)
{
	dns_free(srv);
	event_base_free(base);
	config_free(cfg);
}

/* Run the loop until fd is readable (true) or ms pass (false). */
static bool
pump(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	int i;

	for (i = 0; i < ms; i++) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		if (fd != -1 && poll(&pfd, 1, 1) == 1)
			return true;
		if (fd == -1)
			usleep(1000);
	}
	return false;
}

static int
client(int family, int type, size_t i)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	int fd = socket(family, type, 0);

	ck_assert_int_ge(fd, 0);
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin->sin_port = htons((uint16_t)dns_bound_port(srv, i));
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		sin6->sin6_port = htons((uint16_t)dns_bound_port(srv, i));
	}
	/* TCP: the kernel completes it; the accept happens in pump(). */
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&ss,
	    family == AF_INET ? sizeof(*sin) : sizeof(*sin6)), 0);
	return fd;
}

/* The next UDP response within ms, parsed, or NULL. */
static ldns_pkt *
udp_recv(int fd, int ms)
{
	uint8_t buf[4096];
	ldns_pkt *p;
	ssize_t n;

	if (!pump(fd, ms))
		return NULL;
	n = recv(fd, buf, sizeof(buf), 0);
	ck_assert_int_gt(n, 0);
	ck_assert_int_eq(ldns_wire2pkt(&p, buf, (size_t)n), LDNS_STATUS_OK);
	return p;
}

/* Send a query over UDP; return the parsed response or NULL. */
static ldns_pkt *
udp_ask(int fd, const char *name, ldns_rr_type type, uint16_t id, int ms)
{
	uint8_t q[512];
	size_t len = make_query(q, sizeof(q), name, type, LDNS_RR_CLASS_IN,
	    0, false);
	ldns_pkt *p;

	q[0] = (uint8_t)(id >> 8);
	q[1] = id & 0xff;
	ck_assert_int_eq(send(fd, q, len, 0), (ssize_t)len);
	if ((p = udp_recv(fd, ms)) != NULL)
		ck_assert_uint_eq(ldns_pkt_id(p), id);
	return p;
}

/* Read one length-prefixed response from a TCP client, pumping. */
static ldns_pkt *
tcp_read_one(int fd, int ms)
{
	uint8_t buf[2 + 65535];
	size_t have = 0, want = 2;
	ldns_pkt *p;
	ssize_t n;

	while (have < want) {
		if (!pump(fd, ms))
			return NULL;
		n = recv(fd, buf + have, want - have, 0);
		if (n <= 0)
			return NULL;
		have += (size_t)n;
		if (have == 2 && want == 2)
			want = 2 + ((size_t)buf[0] << 8 | buf[1]);
	}
	ck_assert_int_eq(ldns_wire2pkt(&p, buf + 2, want - 2),
	    LDNS_STATUS_OK);
	return p;
}

static char *
answer_text(const ldns_pkt *p)
{
	return ldns_rdf2str(ldns_rr_rdf(ldns_rr_list_rr(ldns_pkt_answer(p),
	    0), 0));
}

START_TEST(udp_queries)
{
	int fd = client(AF_INET, SOCK_DGRAM, 0);
	ldns_pkt *p;
	char *s;

	ck_assert_int_gt(dns_bound_port(srv, 0), 0);
	ck_assert_int_gt(dns_bound_port(srv, 1), 0);
	ck_assert_int_eq(dns_bound_port(srv, 2), -1);
	p = udp_ask(fd, "Hello.Svc.Test.", LDNS_RR_TYPE_A, 1, 2000);
	ck_assert_ptr_nonnull(p);
	s = answer_text(p);
	ck_assert_str_eq(s, "127.0.0.2");
	free(s);
	ldns_pkt_free(p);
	ck_assert_int_eq(lc.wakes, 1);
	ck_assert_str_eq(lc.last, "hello");

	p = udp_ask(fd, "nope.svc.test.", LDNS_RR_TYPE_A, 2, 2000);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(p);
	ck_assert_int_eq(lc.wakes, 1);

	/* Garbage is dropped and counted. */
	ck_assert_int_eq(send(fd, "x", 1, 0), 1);
	ck_assert(!pump(fd, 50));
	ck_assert_uint_eq(dns_stats(srv)->queries[DNS_STAT_DROPPED], 1);
	ck_assert_uint_eq(dns_stats(srv)->queries[DNS_STAT_NOERROR], 1);
	ck_assert_uint_eq(dns_stats(srv)->queries[DNS_STAT_NXDOMAIN], 1);
	ck_assert_str_eq(dns_stat_name(DNS_STAT_NXDOMAIN), "NXDOMAIN");
	close(fd);

	/* And over IPv6. */
	fd = client(AF_INET6, SOCK_DGRAM, 1);
	p = udp_ask(fd, "six.svc.test.", LDNS_RR_TYPE_AAAA, 3, 2000);
	ck_assert_ptr_nonnull(p);
	s = answer_text(p);
	ck_assert_str_eq(s, "2001:db8::6");
	free(s);
	ldns_pkt_free(p);
	close(fd);
}
END_TEST

/*
 * UDP queries of any length a datagram can carry, several in one
 * batch, each answered (a 1500-byte read once dropped the long ones).
 */
START_TEST(udp_large_queries)
{
	static const size_t sizes[] = { 60, 4000, 65507, 100, 1501, 20000,
	    1500 };
	enum { N = sizeof(sizes) / sizeof(sizes[0]) };
	static uint8_t q[65527];
	int fd = client(AF_INET, SOCK_DGRAM, 0), seen = 0, i;
	int sndbuf = 1 << 20;
	ldns_pkt *p;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	/* All sent before the server reads: they share a recvmmsg. */
	for (i = 0; i < N; i++) {
		make_padded(q, sizes[i], (uint16_t)(i + 1));
		ck_assert_int_eq(send(fd, q, sizes[i], 0), (ssize_t)sizes[i]);
	}
	for (i = 0; i < N; i++) {
		p = udp_recv(fd, 2000);
		ck_assert_msg(p != NULL, "%d answers of %d", i, N);
		ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
		ck_assert_uint_eq(ldns_pkt_ancount(p), 1);
		seen |= 1 << (ldns_pkt_id(p) - 1);
		ldns_pkt_free(p);
	}
	ck_assert_int_eq(seen, (1 << N) - 1);
	ck_assert_uint_eq(dns_stats(srv)->queries[DNS_STAT_DROPPED], 0);
	close(fd);

	/* The longest over IPv6 (65535 less the UDP header). */
	fd = client(AF_INET6, SOCK_DGRAM, 1);
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	make_padded(q, sizeof(q), 99);
	ck_assert_int_eq(send(fd, q, sizeof(q), 0), (ssize_t)sizeof(q));
	p = udp_recv(fd, 2000);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(ldns_pkt_id(p), 99);
	ldns_pkt_free(p);
	close(fd);
}
END_TEST

/* Append a length-prefixed query to buf. */
static size_t
add_tcp_query(uint8_t *buf, const char *name, ldns_rr_type type,
    uint16_t id)
{
	size_t len = make_query(buf + 2, 512, name, type, LDNS_RR_CLASS_IN,
	    0, false);

	buf[0] = (uint8_t)(len >> 8);
	buf[1] = len & 0xff;
	buf[2] = (uint8_t)(id >> 8);
	buf[3] = id & 0xff;
	return 2 + len;
}

START_TEST(tcp_pipelined)
{
	uint8_t buf[3 * 600];
	size_t len = 0;
	int fd = client(AF_INET, SOCK_STREAM, 0), i;
	ldns_pkt *p;

	len += add_tcp_query(buf + len, "hello.svc.test.", LDNS_RR_TYPE_A, 10);
	len += add_tcp_query(buf + len, "nope.svc.test.", LDNS_RR_TYPE_A, 11);
	len += add_tcp_query(buf + len, "svc.test.", LDNS_RR_TYPE_SOA, 12);
	ck_assert_int_eq(send(fd, buf, len, 0), (ssize_t)len);
	for (i = 0; i < 3; i++) {
		p = tcp_read_one(fd, 2000);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq(ldns_pkt_id(p), 10 + i);
		ck_assert(!ldns_pkt_tc(p));
		ck_assert_int_eq(ldns_pkt_get_rcode(p), i == 1 ?
		    LDNS_RCODE_NXDOMAIN : LDNS_RCODE_NOERROR);
		ldns_pkt_free(p);
	}
	/* A message split across writes. */
	len = add_tcp_query(buf, "hello.svc.test.", LDNS_RR_TYPE_A, 13);
	ck_assert_int_eq(send(fd, buf, 1, 0), 1);
	ck_assert(!pump(fd, 30));
	ck_assert_int_eq(send(fd, buf + 1, len - 1, 0), (ssize_t)len - 1);
	p = tcp_read_one(fd, 2000);
	ck_assert_uint_eq(ldns_pkt_id(p), 13);
	ldns_pkt_free(p);
	ck_assert_uint_eq(dns_stats(srv)->tcp_accepted, 1);
	close(fd);
}
END_TEST

START_TEST(tcp_idle_timeout)
{
	uint8_t c;
	int fd = client(AF_INET, SOCK_STREAM, 0);

	/* Idle for tcp-idle-timeout (300 ms): closed by the server. */
	ck_assert(pump(fd, 2000));
	ck_assert_int_eq(recv(fd, &c, 1, 0), 0);
	ck_assert_uint_eq(dns_stats(srv)->tcp_closed[DNS_TCP_IDLE], 1);
	ck_assert_str_eq(dns_tcp_close_name(DNS_TCP_IDLE), "idle-timeout");
	close(fd);
}
END_TEST

/* Run the loop for ms of wall time, however slow each turn is. */
static void
pump_for(int ms)
{
	uint64_t end = clock_mono_ms() + (uint64_t)ms;

	while (clock_mono_ms() < end) {
		event_base_loop(base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

/* True if the server has closed fd (EOF or reset) within ms. */
static bool
closed_within(int fd, int ms)
{
	uint8_t c;

	return pump(fd, ms) && recv(fd, &c, 1, MSG_DONTWAIT) <= 0;
}

/* The server of this test on a configuration of its own. */
static struct config *
reconfigure(const char *tcp)
{
	char text[1024];
	struct config *c;

	snprintf(text, sizeof(text), "[dns]\nlisten = 127.0.0.1:0 [::1]:0\n"
	    "zone = svc.test\nrate-limit = 0\n%s[service \"hello\"]\n"
	    "kernel = /k\naddress = 127.0.0.2\nports = 80\n"
	    "[service \"late\"]\nkernel = /k\naddress = 127.0.0.3\n"
	    "ports = 80\nboot-timeout = 300ms\ndns-answer = guest\n", tcp);
	c = load(text);
	ck_assert_int_eq(dns_reload_whole(srv, c), 0);
	return c;
}

/* Ask one query on a TCP client and check the answer comes. */
static void
tcp_ask_ok(int fd, uint16_t id)
{
	uint8_t buf[600];
	size_t len = add_tcp_query(buf, "hello.svc.test.", LDNS_RR_TYPE_A,
	    id);
	ldns_pkt *p;

	ck_assert_int_eq(send(fd, buf, len, 0), (ssize_t)len);
	p = tcp_read_one(fd, 2000);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(ldns_pkt_id(p), id);
	ldns_pkt_free(p);
}

/*
 * At tcp-clients a new client takes the place of the one idle longest
 * (RFC 7766 section 10): it is answered at once, long before an idle
 * timeout would have made room.
 */
START_TEST(tcp_full_evicts_idle)
{
	struct config *c = reconfigure("tcp-clients = 2\n"
	    "tcp-idle-timeout = 30s\n");
	int a, b, third;

	a = client(AF_INET, SOCK_STREAM, 0);
	pump(-1, 20);
	b = client(AF_INET, SOCK_STREAM, 0);
	tcp_ask_ok(b, 1);
	/* a has been idle longest. */
	third = client(AF_INET, SOCK_STREAM, 0);
	tcp_ask_ok(third, 2);
	ck_assert(closed_within(a, 2000));
	ck_assert(!pump(b, 50));
	tcp_ask_ok(b, 3);
	ck_assert_uint_eq(dns_stats(srv)->tcp_accepted, 3);
	ck_assert_uint_eq(dns_stats(srv)->tcp_closed[DNS_TCP_EVICTED], 1);
	close(a);
	close(b);
	close(third);
	dns_free(srv);
	srv = NULL;
	config_free(c);
}
END_TEST

/*
 * A connection with a query waiting is never evicted: when every one
 * has, a new client is closed at once and accepting pauses until one
 * is evictable again.
 */
START_TEST(tcp_full_of_waiting)
{
	struct config *c = reconfigure("tcp-clients = 2\n"
	    "tcp-idle-timeout = 30s\n");
	uint8_t buf[600];
	size_t len = add_tcp_query(buf, "late.svc.test.", LDNS_RR_TYPE_A, 9);
	int a = client(AF_INET, SOCK_STREAM, 0);
	int b = client(AF_INET, SOCK_STREAM, 0);
	int third, fourth;
	ldns_pkt *p;

	ck_assert_int_eq(send(a, buf, len, 0), (ssize_t)len);
	ck_assert_int_eq(send(b, buf, len, 0), (ssize_t)len);
	pump(-1, 50);
	ck_assert_int_eq(lc.waiting, 2);
	third = client(AF_INET, SOCK_STREAM, 0);
	ck_assert(closed_within(third, 2000));
	ck_assert_uint_eq(dns_stats(srv)->tcp_closed[DNS_TCP_FULL], 1);
	/* Paused: the next one waits in the backlog... */
	fourth = client(AF_INET, SOCK_STREAM, 0);
	ck_assert(!pump(fourth, 50));
	/* ...until boot-timeout (300 ms) answers a and b SERVFAIL. */
	p = tcp_read_one(a, 2000);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(p);
	tcp_ask_ok(fourth, 4);
	ck_assert_uint_eq(dns_stats(srv)->tcp_closed[DNS_TCP_FULL], 1);
	ck_assert_uint_eq(dns_stats(srv)->tcp_closed[DNS_TCP_EVICTED], 1);
	close(a);
	close(b);
	close(third);
	close(fourth);
	dns_free(srv);
	srv = NULL;
	config_free(c);
}
END_TEST

/* A TCP client connecting from src (an IPv4 loopback address). */
static int
client_from(const char *src)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(inet_pton(AF_INET, src, &sin.sin_addr), 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)dns_bound_port(srv, 0));
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	return fd;
}

/* Over tcp-clients-per-source, a connection is closed at once. */
START_TEST(tcp_per_source)
{
	struct config *c = reconfigure("tcp-clients = 8\n"
	    "tcp-clients-per-source = 2\ntcp-idle-timeout = 30s\n");
	int a = client_from("127.0.0.1"), b = client_from("127.0.0.1");
	int over, other, six[3], i;

	pump(-1, 20);
	over = client_from("127.0.0.1");
	ck_assert(closed_within(over, 2000));
	ck_assert_uint_eq(dns_stats(srv)->tcp_closed[DNS_TCP_PER_SOURCE], 1);
	/* The first two are still served, and so is another source. */
	tcp_ask_ok(a, 1);
	tcp_ask_ok(b, 2);
	other = client_from("127.0.0.2");
	tcp_ask_ok(other, 3);
	/* IPv6 counts by /64: ::1 is one source. */
	for (i = 0; i < 3; i++) {
		six[i] = client(AF_INET6, SOCK_STREAM, 1);
		pump(-1, 20);
	}
	ck_assert(closed_within(six[2], 2000));
	tcp_ask_ok(six[0], 4);
	ck_assert_uint_eq(dns_stats(srv)->tcp_closed[DNS_TCP_PER_SOURCE], 2);
	ck_assert_uint_eq(dns_stats(srv)->tcp_closed[DNS_TCP_EVICTED], 0);
	for (i = 0; i < 3; i++)
		close(six[i]);
	close(a);
	close(b);
	close(over);
	close(other);
	dns_free(srv);
	srv = NULL;
	config_free(c);
}
END_TEST

/*
 * A message begun must be whole within min(tcp-idle-timeout, 3 s):
 * one byte every 50 ms never lets the idle timeout (300 ms) run out,
 * but the message deadline closes the connection.
 */
START_TEST(tcp_message_deadline)
{
	uint8_t buf[600];
	size_t len = add_tcp_query(buf, "hello.svc.test.", LDNS_RR_TYPE_A, 1);
	int fd = client(AF_INET, SOCK_STREAM, 0);
	size_t i;
	bool closed = false;

	for (i = 0; i < len - 1 && !closed; i++) {
		if (send(fd, buf + i, 1, MSG_NOSIGNAL) != 1)
			break;
		pump_for(50);
		closed = closed_within(fd, 1);
	}
	ck_assert_msg(closed || i < len - 1, "still open after %zu bytes", i);
	ck_assert_uint_eq(dns_stats(srv)->tcp_closed[DNS_TCP_SLOW], 1);
	ck_assert_uint_eq(dns_stats(srv)->tcp_closed[DNS_TCP_IDLE], 0);
	close(fd);
}
END_TEST

/* Each message has its own deadline, from its own first byte. */
START_TEST(tcp_message_deadline_each)
{
	struct config *c = reconfigure("tcp-idle-timeout = 2s\n");
	uint8_t buf[3 * 600];
	size_t l1, l2, l3;
	int fd = client(AF_INET, SOCK_STREAM, 0), i;
	ldns_pkt *p;

	l1 = add_tcp_query(buf, "hello.svc.test.", LDNS_RR_TYPE_A, 1);
	l2 = add_tcp_query(buf + l1, "hello.svc.test.", LDNS_RR_TYPE_A, 2);
	l3 = add_tcp_query(buf + l1 + l2, "hello.svc.test.", LDNS_RR_TYPE_A,
	    3);
	/*
	 * 0 ms: 1 and the start of 2; 1200: the rest of 2, the start of 3;
	 * 2400: the rest of 3, past 2's first byte by more than the 2 s,
	 * not 3's.  Each margin is 800 ms, for a loaded machine.
	 */
	ck_assert_int_eq(send(fd, buf, l1 + 1, 0), (ssize_t)l1 + 1);
	pump_for(1200);
	ck_assert_int_eq(send(fd, buf + l1 + 1, l2, 0), (ssize_t)l2);
	pump_for(1200);
	ck_assert_int_eq(send(fd, buf + l1 + l2 + 1, l3 - 1, 0),
	    (ssize_t)l3 - 1);
	for (i = 1; i <= 3; i++) {
		p = tcp_read_one(fd, 2000);
		ck_assert_ptr_nonnull(p);
		ck_assert_uint_eq(ldns_pkt_id(p), i);
		ldns_pkt_free(p);
	}
	ck_assert_uint_eq(dns_stats(srv)->tcp_closed[DNS_TCP_SLOW], 0);
	close(fd);
	dns_free(srv);
	srv = NULL;
	config_free(c);
}
END_TEST

START_TEST(tcp_half_close)
{
	uint8_t buf[600], c;
	size_t len = add_tcp_query(buf, "hello.svc.test.", LDNS_RR_TYPE_A, 7);
	int fd = client(AF_INET, SOCK_STREAM, 0);
	ldns_pkt *p;

	/* Query, then FIN at once: the answer still comes, then FIN. */
	ck_assert_int_eq(send(fd, buf, len, 0), (ssize_t)len);
	shutdown(fd, SHUT_WR);
	p = tcp_read_one(fd, 2000);
	ck_assert_ptr_nonnull(p);
	ldns_pkt_free(p);
	ck_assert(pump(fd, 2000));
	ck_assert_int_eq(recv(fd, &c, 1, 0), 0);
	close(fd);
}
END_TEST

START_TEST(guest_held_until_ready)
{
	int fd = client(AF_INET, SOCK_DGRAM, 0);
	ldns_pkt *p;
	char *s;

	/* Held: nothing until the lifecycle says ready. */
	ck_assert_ptr_null(udp_ask(fd, "late.svc.test.", LDNS_RR_TYPE_A, 5,
	    50));
	ck_assert_int_eq(lc.wakes, 1);
	ck_assert_int_eq(lc.waiting, 1);
	ck_assert_uint_eq(dns_stats(srv)->held, 1);
	lc.fn(lc.arg, "late", true);
	lc.waiting--;
	p = udp_recv(fd, 2000);
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_eq(ldns_pkt_id(p), 5);
	ck_assert(ldns_pkt_aa(p));
	s = answer_text(p);
	ck_assert_str_eq(s, "10.99.0.7");
	free(s);
	ldns_pkt_free(p);

	/* Already ready: answered at once with the guest address. */
	lc.ready_now = true;
	p = udp_ask(fd, "late.svc.test.", LDNS_RR_TYPE_A, 9, 2000);
	ck_assert_ptr_nonnull(p);
	s = answer_text(p);
	ck_assert_str_eq(s, "10.99.0.7");
	free(s);
	ldns_pkt_free(p);
	ck_assert_uint_eq(dns_stats(srv)->queries[DNS_STAT_NOERROR], 2);
	close(fd);
}
END_TEST

START_TEST(guest_boot_fails_or_times_out)
{
	int fd = client(AF_INET, SOCK_DGRAM, 0);
	ldns_pkt *p;

	ck_assert_ptr_null(udp_ask(fd, "late.svc.test.", LDNS_RR_TYPE_A, 1,
	    20));
	lc.fn(lc.arg, "late", false);
	lc.waiting--;
	p = udp_recv(fd, 2000);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(p);

	/* boot-timeout = 300ms: SERVFAIL, and the waiter is cancelled. */
	p = udp_ask(fd, "late.svc.test.", LDNS_RR_TYPE_A, 2, 2000);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(p);
	ck_assert_int_eq(lc.cancelled, 1);
	ck_assert_int_eq(lc.waiting, 0);
	ck_assert_uint_eq(dns_stats(srv)->queries[DNS_STAT_SERVFAIL], 2);
	close(fd);
}
END_TEST

START_TEST(guest_held_tcp_reset)
{
	struct linger lg = { 1, 0 };
	uint8_t buf[600];
	size_t len = add_tcp_query(buf, "late.svc.test.", LDNS_RR_TYPE_A, 1);
	int fd = client(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_eq(send(fd, buf, len, 0), (ssize_t)len);
	ck_assert(!pump(fd, 50));
	ck_assert_int_eq(lc.waiting, 1);
	/* A reset, not a FIN: the client is gone, its waiter with it. */
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
	pump(-1, 50);
	ck_assert_int_eq(lc.waiting, 0);
	ck_assert_int_eq(lc.cancelled, 1);
}
END_TEST

START_TEST(rate_limited_udp)
{
	struct config *c = load("[dns]\nlisten = 127.0.0.1:0\nzone = svc.test\n"
	    "rate-limit = 4\n");
	int fd, i, answered = 0, truncated = 0;
	uint8_t tbuf[600];
	size_t len;
	ldns_pkt *p;

	fake_us = 1000000;
	clock_set_source(&fake_clock);
	ck_assert_int_eq(dns_reload_whole(srv, c), 0);
	fd = client(AF_INET, SOCK_DGRAM, 0);
	for (i = 0; i < 10; i++) {
		p = udp_ask(fd, "svc.test.", LDNS_RR_TYPE_SOA, (uint16_t)i,
		    i < 4 ? 2000 : 50);
		if (p == NULL)
			continue;
		if (ldns_pkt_tc(p))
			truncated++;
		else
			answered++;
		ldns_pkt_free(p);
	}
	ck_assert_int_eq(answered, 4);
	ck_assert_int_eq(truncated, 3);
	ck_assert_uint_eq(dns_stats(srv)->rate_limited, 6);
	close(fd);

	/* TCP is not limited. */
	fd = client(AF_INET, SOCK_STREAM, 0);
	len = add_tcp_query(tbuf, "svc.test.", LDNS_RR_TYPE_SOA, 99);
	ck_assert_int_eq(send(fd, tbuf, len, 0), (ssize_t)len);
	p = tcp_read_one(fd, 2000);
	ck_assert_ptr_nonnull(p);
	ck_assert(!ldns_pkt_tc(p));
	ldns_pkt_free(p);
	close(fd);
	clock_set_source(NULL);
	/* srv borrows c until freed. */
	dns_free(srv);
	srv = NULL;
	config_free(c);
}
END_TEST

START_TEST(reload)
{
	struct config *c2, *wrong;
	int port = dns_bound_port(srv, 0), fd;
	ldns_pkt *p;

	/* Same first address (port kept), IPv6 dropped, a new zone. */
	c2 = load("[dns]\nlisten = 127.0.0.1:0\nzone = new.test\n"
	    "rate-limit = 0\n[service \"fresh\"]\nkernel = /k\n"
	    "address = 127.0.0.9\nports = 80\n");
	ck_assert_int_eq(dns_reload_whole(srv, c2), 0);
	ck_assert_int_eq(dns_bound_port(srv, 0), port);
	ck_assert_int_eq(dns_bound_port(srv, 1), -1);
	fd = client(AF_INET, SOCK_DGRAM, 0);
	p = udp_ask(fd, "fresh.new.test.", LDNS_RR_TYPE_A, 1, 2000);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ldns_pkt_free(p);
	p = udp_ask(fd, "hello.svc.test.", LDNS_RR_TYPE_A, 2, 2000);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_REFUSED);
	ldns_pkt_free(p);

	/* An address we cannot bind: rejected, the old state stays. */
	wrong = load("[dns]\nlisten = 127.0.0.1:0 192.0.2.1:53\n"
	    "zone = other.test\n");
	ck_assert_int_eq(dns_reload_whole(srv, wrong), -1);
	ck_assert_int_eq(dns_bound_port(srv, 0), port);
	p = udp_ask(fd, "fresh.new.test.", LDNS_RR_TYPE_A, 3, 2000);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NOERROR);
	ldns_pkt_free(p);
	close(fd);
	config_free(wrong);
	dns_free(srv);
	srv = NULL;
	config_free(c2);
}
END_TEST

START_TEST(forwarder)
{
	struct sockaddr_storage up;
	socklen_t uplen = sizeof(up);
	struct config *c;
	uint8_t buf[1500];
	char text[512];
	int upfd, fd;
	ssize_t n;
	ldns_pkt *p;
	uint16_t id;

	/* A fake upstream server. */
	upfd = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&up, 0, sizeof(up));
	((struct sockaddr_in *)&up)->sin_family = AF_INET;
	((struct sockaddr_in *)&up)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(upfd, (struct sockaddr *)&up,
	    sizeof(struct sockaddr_in)), 0);
	ck_assert_int_eq(getsockname(upfd, (struct sockaddr *)&up, &uplen), 0);
	snprintf(text, sizeof(text), "[dns]\nlisten = 127.0.0.1:0\n"
	    "zone = svc.test\nrate-limit = 0\nforwarder = 127.0.0.1:%u\n",
	    ntohs(((struct sockaddr_in *)&up)->sin_port));
	c = load(text);
	ck_assert_int_eq(dns_reload_whole(srv, c), 0);

	fd = client(AF_INET, SOCK_DGRAM, 0);
	ck_assert_ptr_null(udp_ask(fd, "www.Example.com.", LDNS_RR_TYPE_A,
	    0x4242, 10));
	ck_assert(pump(upfd, 2000));
	uplen = sizeof(up);
	n = recvfrom(upfd, buf, sizeof(buf), 0, (struct sockaddr *)&up,
	    &uplen);
	ck_assert_int_gt(n, 12);
	id = (uint16_t)(buf[0] << 8 | buf[1]);
	/* A forged reply with another ID is ignored. */
	buf[2] |= 0x80;
	buf[0] ^= 0xff;
	sendto(upfd, buf, (size_t)n, 0, (struct sockaddr *)&up, uplen);
	ck_assert(!pump(fd, 50));
	/* The real one is relayed with the client's ID. */
	buf[0] = (uint8_t)(id >> 8);
	buf[1] = id & 0xff;
	buf[3] = (buf[3] & 0xf0) | LDNS_RCODE_NXDOMAIN;
	sendto(upfd, buf, (size_t)n, 0, (struct sockaddr *)&up, uplen);
	ck_assert(pump(fd, 2000));
	n = recv(fd, buf, sizeof(buf), 0);
	ck_assert_int_eq(ldns_wire2pkt(&p, buf, (size_t)n), LDNS_STATUS_OK);
	ck_assert_uint_eq(ldns_pkt_id(p), 0x4242);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_NXDOMAIN);
	ldns_pkt_free(p);
	ck_assert_uint_eq(dns_stats(srv)->forwarded, 1);

	/* No reply: SERVFAIL after the timeout. */
	p = udp_ask(fd, "quiet.example.com.", LDNS_RR_TYPE_A, 7,
	    5000);
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(ldns_pkt_get_rcode(p), LDNS_RCODE_SERVFAIL);
	ldns_pkt_free(p);
	close(fd);
	close(upfd);
	dns_free(srv);
	srv = NULL;
	config_free(c);
}
END_TEST

/*
 * On a wildcard address the reply must leave from the address the query
 * went to: the client's connected socket takes no other.
 */
START_TEST(wildcard_reply_source)
{
	struct config *c = load("[dns]\nlisten = 0.0.0.0:0 [::]:0\n"
	    "zone = svc.test\nrate-limit = 0\n[service \"hello\"]\n"
	    "kernel = /k\naddress = 127.0.0.2\nports = 80\n");
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
	    .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct dns *w = dns_new(base, c, NULL);
	int fd;
	ldns_pkt *p;

	ck_assert_ptr_nonnull(w);
	sin.sin_addr.s_addr = htonl(0x7f000005);	/* 127.0.0.5 */
	sin.sin_port = htons((uint16_t)dns_bound_port(w, 0));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	p = udp_ask(fd, "hello.svc.test.", LDNS_RR_TYPE_A, 1, 2000);
	ck_assert_ptr_nonnull(p);
	ldns_pkt_free(p);
	close(fd);

	sin6.sin6_port = htons((uint16_t)dns_bound_port(w, 1));
	fd = socket(AF_INET6, SOCK_DGRAM, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin6,
	    sizeof(sin6)), 0);
	p = udp_ask(fd, "hello.svc.test.", LDNS_RR_TYPE_A, 2, 2000);
	ck_assert_ptr_nonnull(p);
	ldns_pkt_free(p);
	close(fd);
	dns_free(w);
	config_free(c);
}
END_TEST

START_TEST(bind_failure_is_logged)
{
	struct config *c = load("[dns]\nlisten = 192.0.2.1:53\n"
	    "zone = svc.test\n");

	ck_assert_ptr_null(dns_new(base, c, NULL));
	config_free(c);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("dns");
	TCase *tc = tcase_create("handler");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, apex_soa_and_ns);
	tcase_add_test(tc, service_a_proxy);
	tcase_add_test(tc, shared_address_names);
	tcase_add_test(tc, service_aaaa);
	tcase_add_test(tc, case_0x20_echoed);
	tcase_add_test(tc, nxdomain_and_nodata);
	tcase_add_test(tc, refused);
	tcase_add_test(tc, forward_action);
	tcase_add_test(tc, guest_hold);
	tcase_add_test(tc, opcode_qdcount_qr);
	tcase_add_test(tc, edns);
	tcase_add_test(tc, any_at_apex_service);
	tcase_add_test(tc, truncation);
	tcase_add_test(tc, slip_truncates);
	tcase_add_loop_test(tc, malformed, 0, sizeof(bad) / sizeof(bad[0]));
	tcase_add_test(tc, wellformed_extras);
	tcase_add_test(tc, qclass_any_not_authoritative);
	tcase_add_test(tc, tsig_badkey);
	tcase_add_test(tc, tsig_badkey_wire);
	tcase_add_test(tc, tsig_badkey_truncated);
	tcase_add_test(tc, large_query);
	suite_add_tcase(s, tc);

	tc = tcase_create("index");
	tcase_add_test(tc, name_to_wire);
	tcase_add_test(tc, index_10000);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);

	tc = tcase_create("rrl");
	tcase_add_test(tc, rrl_buckets);
	suite_add_tcase(s, tc);

	tc = tcase_create("server");
	tcase_add_checked_fixture(tc, server_setup, server_teardown);
	tcase_add_test(tc, udp_queries);
	tcase_add_test(tc, udp_large_queries);
	tcase_add_test(tc, tcp_pipelined);
	tcase_add_test(tc, tcp_idle_timeout);
	tcase_add_test(tc, tcp_full_evicts_idle);
	tcase_add_test(tc, tcp_full_of_waiting);
	tcase_add_test(tc, tcp_per_source);
	tcase_add_test(tc, tcp_message_deadline);
	tcase_add_test(tc, tcp_message_deadline_each);
	tcase_add_test(tc, tcp_half_close);
	tcase_add_test(tc, guest_held_until_ready);
	tcase_add_test(tc, guest_boot_fails_or_times_out);
	tcase_add_test(tc, guest_held_tcp_reset);
	tcase_add_test(tc, rate_limited_udp);
	tcase_add_test(tc, reload);
	tcase_add_test(tc, forwarder);
	tcase_add_test(tc, wildcard_reply_source);
	tcase_add_test(tc, bind_failure_is_logged);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
