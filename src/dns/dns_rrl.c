/*
 * dns_rrl.c - token buckets in a fixed hash table.
 *
 * Tokens are counted in thousandths so that a refill of rate/1000 a
 * millisecond stays exact.  The table index is a keyed multiplicative
 * hash of the network prefix, the key drawn at start, so that an
 * outsider cannot choose which networks share a slot.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "clock.h"
#include "dns_rrl.h"

#define RRL_BITS	13		/* 8192 buckets, 256 KiB */
#define RRL_SIZE	(1u << RRL_BITS)
#define MILLI		1000u		/* one token */

struct bucket {
	uint64_t	 net;		/* family tag and prefix; 0 unused */
	uint64_t	 stamp_ms;	/* last refill */
	uint64_t	 milli;		/* tokens, in thousandths */
	uint32_t	 over;		/* responses over the limit */
};

struct dns_rrl {
	uint64_t	 rate;
	uint64_t	 seed;
	struct bucket	 b[RRL_SIZE];
};

struct dns_rrl *
dns_rrl_new(unsigned rate)
{
	struct dns_rrl *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->rate = rate;
	r->seed = (uint64_t)arc4random() << 32 | arc4random();
	return r;
}

void
dns_rrl_set_rate(struct dns_rrl *r, unsigned rate)
{
	r->rate = rate;
}

void
dns_rrl_free(struct dns_rrl *r)
{
	free(r);
}

/* The client's /24 or /56, tagged with its family in the top byte. */
static uint64_t
network(const struct sockaddr *sa)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	uint64_t net = 0;
	int i;

	if (sa->sa_family == AF_INET)
		return 4ull << 56 | ntohl(sin->sin_addr.s_addr) >> 8;
	for (i = 0; i < 7; i++)
		net = net << 8 | sin6->sin6_addr.s6_addr[i];
	return 6ull << 56 | net;
}

enum dns_rrl_verdict
dns_rrl_check(struct dns_rrl *r, const struct sockaddr *sa)
{
	uint64_t net = network(sa), now = clock_mono_ms(), full, elapsed;
	struct bucket *b;

	b = &r->b[((net ^ r->seed) * 0x9e3779b97f4a7c15ull) >>
	    (64 - RRL_BITS)];
	full = r->rate * MILLI;
	if (b->net != net) {
		*b = (struct bucket){ .net = net, .stamp_ms = now,
		    .milli = full };
	} else {
		elapsed = now - b->stamp_ms;
		if (elapsed >= 1000 || b->milli + elapsed * r->rate >= full)
			b->milli = full;
		else
			b->milli += elapsed * r->rate;
		b->stamp_ms = now;
	}
	if (b->milli >= MILLI) {
		b->milli -= MILLI;
		b->over = 0;
		return DNS_RRL_PASS;
	}
	return ++b->over % 2 == 0 ? DNS_RRL_SLIP : DNS_RRL_DROP;
}
