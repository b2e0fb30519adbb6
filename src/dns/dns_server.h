/*
 * dns_server.h - what the parts of the responder share: struct dns,
 * where a reply goes, and queries answered later.  Private to src/dns/.
 *
 * dns_server.c owns struct dns, the listeners and the UDP path;
 * dns_tcp.c the TCP connections; dns_hold.c the replies held for a
 * guest; dns_forward.c the queries relayed to the forwarder.
 */
#ifndef SUMMON_DNS_SERVER_H
#define SUMMON_DNS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "config.h"
#include "dns.h"
#include "dns_handler.h"

#define DNS_UDP_BATCH	64	/* datagrams per recvmmsg/sendmmsg */
#define DNS_UDP_SLOT	1500	/* a batch slot; longer queries overflow */
#define DNS_HOLD_MAX	1024	/* replies held for guests, in all */
#define DNS_FWD_MAX	1024	/* queries at the forwarder at once */
#define DNS_FWD_TIMEOUT_MS 3000
#define DNS_TCP_PENDING	64	/* per connection, before we stop reading */
#define DNS_TCP_MSG_MS	3000	/* to finish a message once begun, at most */
#define DNS_TCP_SRC_BITS 10	/* 1 << this buckets of conns by source */

struct dns_batch;
struct dns_listener;
struct dns_tcp;
struct dns_hold;
struct dns_fwd;
struct dns_rrl;

/* Where a reply goes: a UDP peer or a TCP connection. */
struct dns_client {
	struct dns_tcp		*tcp;		/* NULL for UDP */
	struct dns_listener	*udp;		/* the socket it came in on */
	struct sockaddr_storage	 ss;		/* UDP peer */
	socklen_t		 sslen;
};

/*
 * A query answered later (held for a guest, at the forwarder).  While
 * it waits it keeps its UDP socket open or sits on its TCP
 * connection's list; if the connection closes first, abandon() is
 * called and the owner frees it without replying.
 */
struct dns_pending {
	struct dns_client	 client;
	TAILQ_ENTRY(dns_pending) entry;
	void			(*abandon)(struct dns_pending *);
};
TAILQ_HEAD(dns_pending_list, dns_pending);

struct dns {
	struct event_base	*base;
	const struct config	*cfg;
	struct lifecycle	*lc;
	struct dns_index	*ix;
	struct dns_listener	**listeners;	/* as cfg->dns_listen */
	size_t			 nlisteners;
	struct dns_rrl		*rrl;		/* NULL: no rate limit */
	struct dns_fwd		*fwd;		/* NULL: no forwarder */
	struct dns_hold		*hold;
	struct dns_stats	 stats;

	/* TCP connections (dns_tcp.c). */
	TAILQ_HEAD(, dns_tcp)	 conns;		/* least recently used first */
	size_t			 nconns;
	LIST_HEAD(, dns_tcp)	 by_src[1 << DNS_TCP_SRC_BITS];
	uint64_t		 tcp_seed;	/* keys the by_src hash */
	bool			 accept_paused;	/* full, none evictable */
	struct event		*accept_retry;	/* after EMFILE */

	/* Buffers: one loop, one query at a time. */
	struct dns_batch	*batch;		/* UDP (dns_server.c) */
	uint8_t			 tcp_out[2 + DNS_TCP_MAX];
	uint8_t			 reply[DNS_TCP_MAX];
};

/*
 * Answer the query pkt from client c into out (cap bytes): rate limit,
 * wake, hold or forward as the handler says.  Returns the length of
 * the response to send now, 0 for none.
 */
size_t		 dns_query(struct dns *, const uint8_t *pkt, size_t len,
		    const struct dns_client *c, uint8_t *out, size_t cap);

/*
 * Begin a later answer to c: p->client becomes a copy of c, holding
 * its UDP socket open or joining its TCP connection's list.
 */
void		 dns_pending_begin(struct dns *, struct dns_pending *p,
		    const struct dns_client *c,
		    void (*abandon)(struct dns_pending *));
/*
 * Send pkt (len bytes, rcode for the counters) to p's client and end
 * p.  The TCP connection may close inside: do not use it after.
 */
void		 dns_pending_reply(struct dns *, struct dns_pending *p,
		    const uint8_t *pkt, size_t len, int rcode);

/*
 * TCP connections (dns_tcp.c).  Take a socket accepted from sa (owns
 * fd): closed at once over the per-source limit; at the cap it evicts
 * the connection idle longest, or is closed and pauses the listeners
 * if every connection has a query waiting.
 */
void		 dns_tcp_accept(struct dns *, int fd,
		    const struct sockaddr *sa);
/* Queue pkt on the connection, with its 2-byte length. */
void		 dns_tcp_send(struct dns_tcp *, const uint8_t *pkt,
		    size_t len);
/*
 * Add p to (or remove it from) the connection's waiting queries; a
 * removal may resume reading or close a finished connection.
 */
void		 dns_tcp_pending(struct dns_tcp *, struct dns_pending *p,
		    bool add);
/* Close every connection, abandoning what waits on them. */
void		 dns_tcp_free_all(struct dns *);

/* Pause (full, none evictable) or resume accepting (dns_server.c). */
void		 dns_accept_pause(struct dns *, bool pause);

/* Held replies for dns-answer = guest (dns_hold.c). */
struct dns_hold	*dns_hold_new(struct dns *);
/*
 * Hold r (a DNS_ACT_HOLD result) for client c until service r->svc is
 * ready, or answer now if it is.  Returns -1 if it can be neither held
 * nor answered (table full, no lifecycle): send the SERVFAIL in out.
 */
int		 dns_hold_add(struct dns_hold *, const struct dns_result *r,
		    const struct dns_client *c);
/* Answer every held query SERVFAIL, cancel the waiters, free. */
void		 dns_hold_free(struct dns_hold *);

/* The forwarder (dns_forward.c). */
struct dns_fwd	*dns_fwd_new(struct dns *, const struct cfg_addr *to);
/*
 * Relay pkt (the query r was made from) for client c.  Returns -1 if
 * it cannot (table full, send failed): send the SERVFAIL in out.
 */
int		 dns_fwd_query(struct dns_fwd *, const uint8_t *pkt,
		    size_t len, const struct dns_result *r,
		    const struct dns_client *c);
/* The address it relays to. */
const struct cfg_addr *dns_fwd_addr(const struct dns_fwd *);
/* Answer every waiting query SERVFAIL and free. */
void		 dns_fwd_free(struct dns_fwd *);

#endif
