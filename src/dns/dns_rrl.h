/*
 * dns_rrl.h - response rate limiting per client network.
 *
 * A token bucket per client /24 (IPv4) or /56 (IPv6), refilled at rate
 * responses a second with a burst of one second's worth.  The buckets
 * live in one fixed table: a network whose slot another network takes
 * starts afresh, so memory never grows with the number of clients.
 * Over the limit, every second response "slips" out with TC=1 (a real
 * client retries over TCP) and the others are dropped.  Time comes from
 * clock_mono_ms().  Private to src/dns/.
 */
#ifndef SUMMON_DNS_RRL_H
#define SUMMON_DNS_RRL_H

#include <sys/socket.h>

enum dns_rrl_verdict {
	DNS_RRL_PASS,		/* within the limit: answer */
	DNS_RRL_SLIP,		/* over: answer with TC=1 and no records */
	DNS_RRL_DROP,		/* over: send nothing */
};

struct dns_rrl;

/* A limiter of rate (> 0) responses/s per network; NULL on ENOMEM. */
struct dns_rrl	*dns_rrl_new(unsigned rate);
/* Change the rate, keeping the buckets (reload). */
void		 dns_rrl_set_rate(struct dns_rrl *, unsigned rate);
/* Account one response to the client at sa (AF_INET or AF_INET6). */
enum dns_rrl_verdict dns_rrl_check(struct dns_rrl *,
		    const struct sockaddr *sa);
void		 dns_rrl_free(struct dns_rrl *);

#endif
