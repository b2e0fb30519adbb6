/*
 * dns_handler.c - parse a query and write the response, by hand.
 *
 * The header and question are read directly from the wire and the
 * response is written with compression pointers into the echoed
 * question, so one answer is a few dozen stores into the caller's
 * buffer: no allocation, no copy of the packet, about 0.1 us where
 * ldns_wire2pkt + ldns_pkt2wire take about 1.5 us (docs/dns.md).  ldns
 * checks every response in the tests and the fuzzer; summond itself does
 * not link it (docs/architecture.md).
 *
 * Every read is bounds-checked against the packet length; a name in
 * the question may not use compression, and names elsewhere are only
 * skipped, or copied out of a TSIG, following pointers backwards only
 * and for 255 bytes at most, so no input can make us loop.
 */
#include <string.h>
#include <sys/socket.h>

#include "dns_handler.h"

#define T_A		1
#define T_NS		2
#define T_SOA		6
#define T_AAAA		28
#define T_OPT		41
#define T_TSIG		250
#define T_IXFR		251
#define T_AXFR		252
#define T_ANY		255
#define C_IN		1
#define C_ANY		255

#define F_QR		0x8000
#define F_OPCODE	0x7800
#define F_AA		0x0400
#define F_TC		0x0200
#define F_RD		0x0100
#define F_CD		0x0010

#define OPT_LEN		11
/* A TSIG RR with an empty MAC: two names, RR header, 16 fixed bytes. */
#define TSIG_RR_MAX	(2 * DNS_NAME_MAX + 10 + 16)
#define TSIG_BADKEY	17
#define PTR(off)	(0xc000 | (off))

/* SOA timers: fixed; only the serial and the negative TTL vary. */
#define SOA_REFRESH	3600
#define SOA_RETRY	600
#define SOA_EXPIRE	86400

enum parse { P_OK, P_DROP, P_FORMERR, P_NOTIMP };

/* A bounded writer: once full it stops, and the response is cut. */
struct wbuf {
	uint8_t		*p;
	size_t		 len;
	size_t		 cap;
	bool		 full;
};

static void
put(struct wbuf *w, const void *b, size_t n)
{
	if (w->full || n > w->cap - w->len) {
		w->full = true;
		return;
	}
	memcpy(w->p + w->len, b, n);
	w->len += n;
}

static void
put16(struct wbuf *w, uint16_t v)
{
	uint8_t b[2] = { v >> 8, v & 0xff };

	put(w, b, 2);
}

static void
put32(struct wbuf *w, uint32_t v)
{
	uint8_t b[4] = { v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff,
	    v & 0xff };

	put(w, b, 4);
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
set16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/*
 * Step over a name outside the question, copying it uncompressed into
 * dst (DNS_NAME_MAX bytes) unless dst is NULL.  Returns its length in
 * wire form, or -1.  Compression pointers are followed to check what
 * they point at, but only backwards, to before the label holding them,
 * and the 255-byte bound on the whole name ends any other walk, so
 * they cannot loop.
 */
static int
read_name(const uint8_t *pkt, size_t len, size_t *off, uint8_t *dst)
{
	size_t o = *off, total = 0, end = 0;
	uint8_t c;

	for (;;) {
		if (o >= len)
			return -1;
		c = pkt[o];
		if ((c & 0xc0) == 0xc0) {
			if (o + 2 > len)
				return -1;
			if (end == 0)
				end = o + 2;
			if (((size_t)(c & 0x3f) << 8 | pkt[o + 1]) >= o)
				return -1;
			o = (size_t)(c & 0x3f) << 8 | pkt[o + 1];
			continue;
		}
		if (c & 0xc0)
			return -1;	/* extended label types */
		if (total + 1u + c > DNS_NAME_MAX || o + 1u + c > len)
			return -1;
		if (dst != NULL)
			memcpy(dst + total, pkt + o, 1u + c);
		total += 1u + c;
		o += 1u + c;
		if (c == 0)
			break;
	}
	*off = end != 0 ? end : o;
	return (int)total;
}

/* The question's name, uncompressed (nothing precedes it to point at). */
static int
read_qname(const uint8_t *pkt, size_t len, size_t *off, struct dns_query *q)
{
	size_t o = *off, n = 0;
	uint8_t c;

	for (;;) {
		if (o >= len)
			return -1;
		c = pkt[o];
		if (c & 0xc0)
			return -1;
		if (n + 1u + c > DNS_NAME_MAX || o + 1u + c > len)
			return -1;
		memcpy(q->qname + n, pkt + o, 1u + c);
		n += 1u + c;
		o += 1u + c;
		if (c == 0)
			break;
	}
	q->qnamelen = (uint16_t)n;
	*off = o;
	return 0;
}

/*
 * A request's TSIG RR (RFC 8945), as offsets into the packet of what a
 * BADKEY response copies; owner 0: the request has none.
 */
struct tsig {
	size_t		 owner;
	size_t		 alg;
	size_t		 time;		/* time signed and fudge: 8 bytes */
	size_t		 orig_id;
};

/* A TSIG's RDATA, at rd for rdlen bytes, must be whole and exact. */
static int
read_tsig(const uint8_t *pkt, size_t rd, uint16_t rdlen, struct tsig *t)
{
	size_t o = rd, end = rd + rdlen, mac;

	t->alg = o;
	if (read_name(pkt, end, &o, NULL) == -1 || end - o < 10)
		return -1;
	t->time = o;
	mac = get16(pkt + o + 8);
	o += 10;
	/* The MAC, then original ID, error and other length. */
	if (end - o < mac + 6)
		return -1;
	o += mac;
	t->orig_id = o;
	if (end - o - 6 != get16(pkt + o + 4))
		return -1;
	return 0;
}

/* Walk the answer, authority and additional sections; pick up OPT, TSIG. */
static int
read_records(const uint8_t *pkt, size_t len, size_t *off,
    struct dns_query *q, struct tsig *t)
{
	uint32_t i, n, an_ns;
	size_t o = *off, owner;
	uint16_t type, rdlen;

	an_ns = (uint32_t)get16(pkt + 6) + get16(pkt + 8);
	n = an_ns + get16(pkt + 10);
	for (i = 0; i < n; i++) {
		owner = o;
		if (read_name(pkt, len, &o, NULL) == -1 || len - o < 10)
			return -1;
		type = get16(pkt + o);
		rdlen = get16(pkt + o + 8);
		if (len - o - 10 < rdlen)
			return -1;
		if (type == T_OPT && i >= an_ns) {
			/* RFC 6891: one OPT, owned by the root. */
			if (q->edns || o - owner != 1 || pkt[owner] != 0)
				return -1;
			q->edns = true;
			q->udp_size = get16(pkt + o + 2);
			if (q->udp_size < DNS_UDP_MIN)
				q->udp_size = DNS_UDP_MIN;
			q->edns_version = pkt[o + 5];
			q->dnssec_ok = (pkt[o + 6] & 0x80) != 0;
		}
		if (type == T_TSIG) {
			/*
			 * RFC 8945: the last record of the additional
			 * section, class ANY, TTL 0; anywhere else, or a
			 * second one, is a format error.
			 */
			if (i < an_ns || i != n - 1 ||
			    get16(pkt + o + 2) != C_ANY ||
			    (get16(pkt + o + 4) | get16(pkt + o + 6)) != 0 ||
			    read_tsig(pkt, o + 10, rdlen, t) == -1)
				return -1;
			t->owner = owner;
		}
		o += 10u + rdlen;
	}
	*off = o;
	return 0;
}

static enum parse
parse(const uint8_t *pkt, size_t len, struct dns_result *r, struct tsig *t)
{
	struct dns_query *q = &r->q;
	size_t off = DNS_HDR_LEN;

	if (len < DNS_HDR_LEN)
		return P_DROP;
	q->id = get16(pkt);
	q->flags = get16(pkt + 2);
	if (q->flags & F_QR)
		return P_DROP;
	if (q->flags & F_OPCODE)
		return P_NOTIMP;
	if (get16(pkt + 4) != 1)
		return P_FORMERR;
	if (read_qname(pkt, len, &off, q) == -1 || len - off < 4)
		return P_FORMERR;
	q->qtype = get16(pkt + off);
	q->qclass = get16(pkt + off + 2);
	off += 4;
	if (read_records(pkt, len, &off, q, t) == -1 || off != len)
		return P_FORMERR;	/* short, or trailing garbage */
	r->has_question = true;
	return P_OK;
}

static size_t
udp_limit(const struct dns_query *q, bool tcp, size_t cap)
{
	size_t lim;

	if (tcp)
		lim = DNS_TCP_MAX;
	else
		lim = q->edns ? q->udp_size : DNS_UDP_MIN;
	return lim < cap ? lim : cap;
}

/* Header and, with has_question, the question as received. */
static void
put_head(struct wbuf *w, struct dns_result *r, bool aa)
{
	const struct dns_query *q = &r->q;
	uint16_t flags;

	flags = F_QR | (q->flags & (F_OPCODE | F_RD | F_CD)) |
	    (aa ? F_AA : 0) | (r->rcode & 0x0f);
	put16(w, q->id);
	put16(w, flags);
	put16(w, r->has_question ? 1 : 0);
	put16(w, 0);
	put16(w, 0);
	put16(w, 0);
	if (r->has_question) {
		put(w, q->qname, q->qnamelen);
		put16(w, q->qtype);
		put16(w, q->qclass);
	}
	r->qend = w->len;
}

static void
put_opt(struct wbuf *w, const struct dns_result *r)
{
	uint8_t opt[OPT_LEN] = { 0, T_OPT >> 8, T_OPT & 0xff,
	    DNS_EDNS_SIZE >> 8, DNS_EDNS_SIZE & 0xff,
	    (uint8_t)(r->rcode >> 4), 0, r->q.dnssec_ok ? 0x80 : 0, 0, 0, 0 };

	put(w, opt, sizeof(opt));
}

static void
put_rr_head(struct wbuf *w, uint16_t owner, uint16_t type, uint32_t ttl,
    uint16_t rdlen)
{
	put16(w, owner);
	put16(w, type);
	put16(w, C_IN);
	put32(w, ttl);
	put16(w, rdlen);
}

/*
 * The zone's SOA: mname is the apex itself, rname hostmaster.<apex>,
 * minimum (the negative-caching TTL) equal to the record TTL.
 */
static void
put_soa(struct wbuf *w, const struct dns_index *ix, uint16_t apex)
{
	static const uint8_t hostmaster[] = "\012hostmaster";
	uint32_t ttl = dns_index_ttl(ix);

	put_rr_head(w, PTR(apex), T_SOA, ttl,
	    2 + (sizeof(hostmaster) - 1) + 2 + 20);
	put16(w, PTR(apex));
	put(w, hostmaster, sizeof(hostmaster) - 1);
	put16(w, PTR(apex));
	put32(w, dns_index_serial(ix));
	put32(w, SOA_REFRESH);
	put32(w, SOA_RETRY);
	put32(w, SOA_EXPIRE);
	put32(w, ttl);
}

/*
 * Close the response: counts, OPT, tail (tlen bytes: a TSIG RR, the
 * last record), and TC=1 if it did not fit.
 */
static void
finish(struct wbuf *w, struct dns_result *r, uint16_t an, uint16_t ns,
    size_t limit, const uint8_t *tail, size_t tlen)
{
	uint16_t ar = 0;

	if (w->full || w->len + (r->q.edns ? OPT_LEN : 0) + tlen > limit) {
		/* Keep the question and OPT: the client retries over TCP. */
		w->full = false;
		w->cap = limit;
		w->len = r->qend;
		an = ns = 0;
		tlen = 0;
		w->p[2] |= F_TC >> 8;
	}
	set16(w->p + 6, an);
	set16(w->p + 8, ns);
	/* DNS_MIN_CAP leaves room for the OPT after any question. */
	r->opt = r->q.edns;
	if (r->opt) {
		put_opt(w, r);
		ar++;
	}
	if (tlen > 0) {
		put(w, tail, tlen);
		ar++;
	}
	set16(w->p + 10, ar);
	r->len = w->len;
}

static void
init_result(struct dns_result *r, size_t cap, uint8_t *out, struct wbuf *w)
{
	r->action = DNS_ACT_SEND;
	r->rcode = DNS_RCODE_NOERROR;
	r->svc = -1;
	r->len = r->qend = 0;
	r->opt = false;
	*w = (struct wbuf){ .p = out, .cap = cap };
}

/* An empty response with rcode: errors, REFUSED, SERVFAIL fallbacks. */
static void
respond_empty(struct dns_result *r, struct wbuf *w, size_t limit)
{
	put_head(w, r, false);
	finish(w, r, 0, 0, limit, NULL, 0);
}

/*
 * A signed query.  summond holds no keys, so every key is unknown (RFC
 * 8945 5.2.1): NOTAUTH, and the request's TSIG RR sent back unsigned
 * (5.3.2): the key and algorithm names, time signed, fudge and
 * original ID copied, MAC size 0, error BADKEY, no other data.  The
 * question is echoed, as in our other error responses.
 */
static void
respond_badkey(struct dns_result *r, struct wbuf *w, const uint8_t *pkt,
    size_t len, const struct tsig *t, size_t limit)
{
	uint8_t rr[TSIG_RR_MAX], name[DNS_NAME_MAX];
	struct wbuf tw = { .p = rr, .cap = sizeof(rr) };
	size_t off, rdlen_at;
	int n;

	/* parse() has checked the whole record: these reads succeed. */
	off = t->owner;
	n = read_name(pkt, len, &off, name);
	put(&tw, name, (size_t)n);
	put16(&tw, T_TSIG);
	put16(&tw, C_ANY);
	put32(&tw, 0);
	rdlen_at = tw.len;
	put16(&tw, 0);
	off = t->alg;
	n = read_name(pkt, len, &off, name);
	put(&tw, name, (size_t)n);
	put(&tw, pkt + t->time, 8);
	put16(&tw, 0);			/* MAC size */
	put(&tw, pkt + t->orig_id, 2);
	put16(&tw, TSIG_BADKEY);
	put16(&tw, 0);			/* other length */
	set16(rr + rdlen_at, (uint16_t)(tw.len - rdlen_at - 2));

	r->rcode = DNS_RCODE_NOTAUTH;
	put_head(w, r, false);
	finish(w, r, 0, 0, limit, rr, tw.len);
}

/*
 * The answer proper.  family/addr, when addr is not NULL, stand for a
 * ready guest's address in place of the service's public one.
 */
static void
respond(const struct dns_index *ix, struct dns_result *r, int family,
    const uint8_t *addr, bool tcp, uint8_t *out, size_t cap)
{
	const struct dns_query *q = &r->q;
	const struct cfg_service *svc = NULL;
	uint8_t lname[DNS_NAME_MAX];
	struct dns_lookup l;
	struct wbuf w;
	uint16_t an = 0, ns = 0, apex, t = q->qtype;
	size_t i, limit = udp_limit(q, tcp, cap);

	init_result(r, cap, out, &w);
	if (cap < DNS_MIN_CAP) {
		r->action = DNS_ACT_DROP;
		return;
	}
	if (q->edns && q->edns_version != 0) {
		r->rcode = DNS_RCODE_BADVERS;
		respond_empty(r, &w, limit);
		return;
	}
	for (i = 0; i < q->qnamelen; i++)
		lname[i] = (q->qname[i] >= 'A' && q->qname[i] <= 'Z') ?
		    q->qname[i] + ('a' - 'A') : q->qname[i];
	dns_index_lookup(ix, lname, q->qnamelen, &l);
	if (l.kind == DNS_LOOKUP_OUTSIDE) {
		if (dns_index_forwards(ix) && t != T_AXFR && t != T_IXFR) {
			r->action = DNS_ACT_FORWARD;
			r->rcode = DNS_RCODE_SERVFAIL;
		} else
			r->rcode = DNS_RCODE_REFUSED;
		respond_empty(r, &w, limit);
		return;
	}
	if ((q->qclass != C_IN && q->qclass != C_ANY) || t == T_AXFR ||
	    t == T_IXFR) {
		r->rcode = DNS_RCODE_REFUSED;
		respond_empty(r, &w, limit);
		return;
	}
	apex = (uint16_t)(DNS_HDR_LEN + l.zone_off);
	if (l.svc >= 0 && (t == T_A || t == T_AAAA || t == T_ANY)) {
		r->svc = l.svc;
		svc = dns_index_service(ix, (size_t)l.svc);
		if (addr == NULL && svc->dns_answer == CFG_DNS_ANSWER_GUEST) {
			r->action = DNS_ACT_HOLD;
			r->rcode = DNS_RCODE_SERVFAIL;
			respond_empty(r, &w, limit);
			return;
		}
		if (addr == NULL) {
			family = svc->family;
			addr = family == AF_INET ?
			    (const uint8_t *)&svc->address4 :
			    (const uint8_t *)&svc->address6;
		}
	}
	if (l.kind == DNS_LOOKUP_NXDOMAIN)
		r->rcode = DNS_RCODE_NXDOMAIN;
	/*
	 * We hold class IN only, so an answer to QCLASS ANY cannot be
	 * complete, and is never authoritative (RFC 1034 3.7.1, RFC 6895).
	 */
	put_head(&w, r, q->qclass != C_ANY);
	if (l.apex && (t == T_SOA || t == T_ANY)) {
		put_soa(&w, ix, apex);
		an++;
	}
	if (l.apex && (t == T_NS || t == T_ANY)) {
		/* The apex names itself: summond knows no public name. */
		put_rr_head(&w, PTR(apex), T_NS, dns_index_ttl(ix), 2);
		put16(&w, PTR(apex));
		an++;
	}
	if (svc != NULL && family == AF_INET && (t == T_A || t == T_ANY)) {
		put_rr_head(&w, PTR(DNS_HDR_LEN), T_A, dns_index_ttl(ix), 4);
		put(&w, addr, 4);
		an++;
	}
	if (svc != NULL && family == AF_INET6 &&
	    (t == T_AAAA || t == T_ANY)) {
		put_rr_head(&w, PTR(DNS_HDR_LEN), T_AAAA, dns_index_ttl(ix),
		    16);
		put(&w, addr, 16);
		an++;
	}
	if (an == 0) {
		/* NXDOMAIN or NODATA: the SOA says how long to cache it. */
		put_soa(&w, ix, apex);
		ns++;
	}
	finish(&w, r, an, ns, limit, NULL, 0);
}

void
dns_answer(const struct dns_index *ix, const uint8_t *pkt, size_t len,
    bool tcp, uint8_t *out, size_t cap, struct dns_result *r)
{
	struct tsig t = { 0 };
	struct wbuf w;

	memset(&r->q, 0, sizeof(r->q));
	r->has_question = false;
	init_result(r, cap, out, &w);
	if (cap < DNS_MIN_CAP) {
		r->action = DNS_ACT_DROP;
		return;
	}
	switch (parse(pkt, len, r, &t)) {
	case P_OK:
		/* Before anything else: the query is not processed. */
		if (t.owner != 0)
			respond_badkey(r, &w, pkt, len, &t,
			    udp_limit(&r->q, tcp, cap));
		else
			respond(ix, r, AF_UNSPEC, NULL, tcp, out, cap);
		return;
	case P_DROP:
		r->action = DNS_ACT_DROP;
		return;
	case P_FORMERR:
		r->rcode = DNS_RCODE_FORMERR;
		break;
	case P_NOTIMP:
		r->rcode = DNS_RCODE_NOTIMP;
		break;
	}
	/* Errors echo the header only: the rest may be what is wrong. */
	r->q.edns = false;
	respond_empty(r, &w, cap);
}

void
dns_answer_guest(const struct dns_index *ix, struct dns_result *r,
    int family, const uint8_t *addr, bool tcp, uint8_t *out, size_t cap)
{
	respond(ix, r, family, addr, tcp, out, cap);
}

void
dns_answer_rcode(struct dns_result *r, int rcode, bool tcp, uint8_t *out,
    size_t cap)
{
	struct wbuf w;

	init_result(r, cap, out, &w);
	if (cap < DNS_MIN_CAP) {
		r->action = DNS_ACT_DROP;
		return;
	}
	r->rcode = rcode;
	respond_empty(r, &w, udp_limit(&r->q, tcp, cap));
}

size_t
dns_truncate(struct dns_result *r, uint8_t *out)
{
	struct wbuf w = { .p = out, .len = r->qend,
	    .cap = r->qend + OPT_LEN };

	if (r->len == 0 || r->qend == 0)
		return r->len;
	out[2] |= F_TC >> 8;
	set16(out + 6, 0);
	set16(out + 8, 0);
	/* Only the OPT stays of the additional section (not a TSIG). */
	set16(out + 10, r->opt ? 1 : 0);
	if (r->opt)
		put_opt(&w, r);
	r->len = w.len;
	return r->len;
}
