/*
 * fuzz_dns.c - libFuzzer target for the DNS packet handler.
 *
 * Every input is answered as UDP and as TCP, with a roomy buffer and a
 * tight one (to reach truncation); a held answer is completed with a
 * guest address, and every response is cut as a rate-limited client
 * would get it.  Each response must be well-formed by ldns's reading,
 * fit its limits and echo the query's ID.  Built with -Dfuzz=true
 * under clang; see docs/dns.md.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <ldns/ldns.h>

#include "config.h"
#include "src/dns/dns_handler.h"
#include "src/dns/dns_index.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char conf[] =
    "[dns]\n"
    "zone = svc.test example.org\n"
    "forwarder = 127.0.0.1:5353\n"
    "[service \"hello\"]\n"
    "names = hello www deep.sub\n"
    "kernel = /k\naddress = 127.0.0.2\nports = 80\n"
    "[service \"six\"]\n"
    "kernel = /k\naddress = 2001:db8::6\nports = 80\n"
    "[service \"late\"]\n"
    "kernel = /k\naddress = 127.0.0.3\nports = 80\n"
    "dns-answer = guest\n"
    "[service \"apex\"]\n"
    "names = example.org.\n"
    "kernel = /k\naddress = 127.0.0.4\nports = 80\n";

static uint8_t out[DNS_TCP_MAX];

static void
check(const struct dns_result *r, const uint8_t *q, size_t qlen,
    size_t limit)
{
	ldns_pkt *p;

	if (r->len == 0)
		return;
	if (r->len > limit)
		abort();
	if (ldns_wire2pkt(&p, out, r->len) != LDNS_STATUS_OK)
		abort();
	if (qlen >= 2 && memcmp(out, q, 2) != 0)
		abort();
	if (!ldns_pkt_qr(p))
		abort();
	ldns_pkt_free(p);
}

static void
answer(const struct dns_index *ix, const uint8_t *q, size_t len, bool tcp,
    size_t cap)
{
	static const uint8_t guest[16] = { 10, 99, 0, 7 };
	struct dns_result r;
	size_t limit;

	dns_answer(ix, q, len, tcp, out, cap, &r);
	limit = tcp ? cap : (r.q.edns ? r.q.udp_size : DNS_UDP_MIN);
	if (limit > cap)
		limit = cap;
	check(&r, q, len, limit);
	if (r.action == DNS_ACT_HOLD) {
		dns_answer_guest(ix, &r, q[len - 1] & 1 ? AF_INET6 : AF_INET,
		    guest, tcp, out, cap);
		check(&r, q, len, limit);
	}
	if (r.len > 0) {
		dns_truncate(&r, out);
		check(&r, q, len, limit);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config *cfg;
	static struct dns_index *ix;

	if (ix == NULL) {
		cfg = config_load_string("fuzz.conf", conf, stderr, NULL);
		if (cfg == NULL || (ix = dns_index_new(cfg, 1)) == NULL)
			abort();
	}
	answer(ix, data, size, false, sizeof(out));
	answer(ix, data, size, true, sizeof(out));
	/* A tight buffer: truncation paths. */
	answer(ix, data, size, false, DNS_MIN_CAP + size % 64);
	return 0;
}
