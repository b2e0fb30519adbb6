/*
 * dns_handler.h - DNS queries in, responses out, over plain buffers.
 *
 * No sockets, no lifecycle, no allocation, no clock: the server layer
 * (dns_server.c) and the unit tests and fuzzer call these directly.
 * The result says what else the query asks for (a wake, a hold until
 * the guest is ready, a forward) and the caller does it.  Private to
 * src/dns/.
 */
#ifndef SUMMON_DNS_HANDLER_H
#define SUMMON_DNS_HANDLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns_index.h"

#define DNS_HDR_LEN	12
#define DNS_UDP_MIN	512	/* without EDNS0, or a smaller EDNS0 size */
#define DNS_EDNS_SIZE	1232	/* the UDP payload size we advertise */
#define DNS_TCP_MAX	65535
/* The least out buffer: header, the longest question and OPT. */
#define DNS_MIN_CAP	(DNS_HDR_LEN + DNS_NAME_MAX + 4 + 11)

/*
 * Response codes, BADVERS being EDNS0's extended one; NOTAUTH answers
 * a TSIG-signed query (RFC 8945).
 */
enum dns_rcode {
	DNS_RCODE_NOERROR = 0, DNS_RCODE_FORMERR = 1, DNS_RCODE_SERVFAIL = 2,
	DNS_RCODE_NXDOMAIN = 3, DNS_RCODE_NOTIMP = 4, DNS_RCODE_REFUSED = 5,
	DNS_RCODE_NOTAUTH = 9, DNS_RCODE_BADVERS = 16,
};

enum dns_action {
	DNS_ACT_SEND,		/* send the response */
	DNS_ACT_DROP,		/* send nothing (QR=1, unreadable header) */
	DNS_ACT_FORWARD,	/* relay the query to the forwarder */
	DNS_ACT_HOLD,		/* answer once the guest is ready */
};

/* What a response is built from; small enough to keep while held. */
struct dns_query {
	uint16_t	 id;
	uint16_t	 flags;		/* the header's second 16 bits */
	uint16_t	 qtype;
	uint16_t	 qclass;
	uint8_t		 qname[DNS_NAME_MAX];	/* as received: 0x20 case */
	uint16_t	 qnamelen;
	bool		 edns;		/* the query carried an OPT RR */
	bool		 dnssec_ok;	/* its DO bit */
	uint8_t		 edns_version;
	uint16_t	 udp_size;	/* the client's, at least DNS_UDP_MIN */
};

struct dns_result {
	struct dns_query q;		/* valid when has_question */
	bool		 has_question;
	enum dns_action	 action;
	int		 rcode;		/* of the response in out */
	long		 svc;		/* service woken (index), or -1 */
	size_t		 len;		/* of the response in out, 0 if none */
	size_t		 qend;		/* end of the question in out */
	bool		 opt;		/* out has our OPT, maybe then a TSIG */
};

/*
 * Answer the query pkt (len bytes) from ix, writing the response into
 * out (cap bytes; below DNS_MIN_CAP nothing is sent, so that the
 * truncated form of any response fits).  tcp: the response may be as
 * large as cap, else it is limited by the client's UDP size and sent
 * with TC=1 when larger.  Fills *r; r->len == 0 means send nothing.
 * For DNS_ACT_FORWARD and DNS_ACT_HOLD, out holds a SERVFAIL to send
 * if the forward or the boot fails.  A TSIG-signed query is answered
 * NOTAUTH (BADKEY) and nothing else: no service, no forward.
 */
void		 dns_answer(const struct dns_index *ix, const uint8_t *pkt,
		    size_t len, bool tcp, uint8_t *out, size_t cap,
		    struct dns_result *r);

/*
 * Answer r->q again from ix, once a held query's guest is ready:
 * family/addr (AF_INET or AF_INET6, network order) replace the
 * service's public address.  Never holds.  Same out/cap/tcp as
 * dns_answer(); fills the rest of *r.
 */
void		 dns_answer_guest(const struct dns_index *ix,
		    struct dns_result *r, int family, const uint8_t *addr,
		    bool tcp, uint8_t *out, size_t cap);

/*
 * Write an empty response with rcode to r->q (SERVFAIL after a failed
 * boot or forward).  Same out/cap/tcp as dns_answer(); fills *r.
 */
void		 dns_answer_rcode(struct dns_result *r, int rcode, bool tcp,
		    uint8_t *out, size_t cap);

/*
 * Cut the response r describes in out down to its header, question and
 * OPT, with TC=1: what a rate-limited client gets instead of the answer
 * ("slip").  Returns the new length (r->len is updated too).
 */
size_t		 dns_truncate(struct dns_result *r, uint8_t *out);

#endif
