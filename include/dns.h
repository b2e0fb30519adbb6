/*
 * dns.h - the authoritative DNS responder for the zones of [dns].
 *
 * UDP and TCP on every [dns] listen address, on the daemon's event
 * loop.  A lookup of a service name wakes the service through the
 * lifecycle; with dns-answer = guest the reply waits for the guest.
 * Names outside our zones are refused or relayed to the forwarder.
 * Nothing here blocks or allocates per query: every table is sized
 * when the responder is created.  docs/dns.md has the whole behaviour.
 */
#ifndef SUMMON_DNS_H
#define SUMMON_DNS_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct event_base;
struct lifecycle;
struct dns;

/* Outcomes counted in struct dns_stats.queries[]. */
enum dns_stat {
	DNS_STAT_NOERROR, DNS_STAT_FORMERR, DNS_STAT_SERVFAIL,
	DNS_STAT_NXDOMAIN, DNS_STAT_NOTIMP, DNS_STAT_REFUSED,
	DNS_STAT_NOTAUTH,	/* TSIG-signed: we hold no keys (BADKEY) */
	DNS_STAT_BADVERS,
	DNS_STAT_OTHER,		/* any other rcode, from the forwarder */
	DNS_STAT_DROPPED,	/* nothing sent: malformed, QR=1, RRL */
};
#define DNS_NSTATS	(DNS_STAT_DROPPED + 1)

/* Why summond closed a TCP connection, counted in dns_stats.tcp_closed[]. */
enum dns_tcp_close {
	DNS_TCP_IDLE,		/* tcp-idle-timeout: no byte, or ours unread */
	DNS_TCP_SLOW,		/* a message not whole within its deadline */
	DNS_TCP_EVICTED,	/* the longest idle, to admit a new client */
	DNS_TCP_PER_SOURCE,	/* at accept: over tcp-clients-per-source */
	DNS_TCP_FULL,		/* at accept: tcp-clients, none evictable */
};
#define DNS_TCP_NCLOSE	(DNS_TCP_FULL + 1)

struct dns_stats {
	/* Every query once, by the rcode of its response or as dropped. */
	uint64_t	 queries[DNS_NSTATS];
	/* UDP queries over the rate limit (sent TC=1 or dropped). */
	uint64_t	 rate_limited;
	uint64_t	 forwarded;	/* relayed to the forwarder */
	uint64_t	 held;		/* waited for a guest to be ready */
	uint64_t	 tcp_accepted;	/* TCP connections */
	/* TCP connections summond closed (or refused), by why. */
	uint64_t	 tcp_closed[DNS_TCP_NCLOSE];
};

/*
 * Start answering for cfg on base: bind UDP and TCP on each of
 * cfg->dns_listen (port 0 picks a free port, the same for both).
 * base, cfg and lc are borrowed: cfg until the next dns_reload(), base
 * and lc until dns_free().  lc may be NULL: then nothing is woken and
 * dns-answer = guest names get SERVFAIL.  Returns NULL after logging
 * why (naming the address that failed).
 */
struct dns	*dns_new(struct event_base *base, const struct config *cfg,
		    struct lifecycle *lc);

/*
 * Reload in two phases.  Prepare builds the new name index and binds
 * the addresses that are new (an address present in both keeps its
 * sockets and port), makes a new forwarder or rate limiter if cfg needs
 * one, and changes nothing; NULL with the reason in err.  Commit cannot
 * fail: it swaps them in and closes the addresses that are gone.  Held
 * replies and open TCP connections survive.  Abort closes what prepare
 * opened.
 */
struct dns_reload;
struct dns_reload *dns_reload_prepare(struct dns *, const struct config *cfg,
		    char *err, size_t errlen);
void		 dns_reload_commit(struct dns *, struct dns_reload *);
void		 dns_reload_abort(struct dns *, struct dns_reload *);

/*
 * Close every socket and drop every held or forwarded query.  Call it
 * before lifecycle_free(): it cancels its lifecycle waiters.  NULL is
 * accepted.
 */
void		 dns_free(struct dns *);

/*
 * The port bound for the i-th address of cfg->dns_listen (the same for
 * UDP and TCP), or -1 if i is out of range.
 */
int		 dns_bound_port(struct dns *, size_t i);

/* Counters for the metrics; valid until dns_free(). */
const struct dns_stats *dns_stats(struct dns *);

/* The label of a counter: "NOERROR", ..., "OTHER", "dropped". */
const char	*dns_stat_name(enum dns_stat);

/*
 * The label of a TCP close reason: "idle-timeout", "message-timeout",
 * "evicted", "per-source", "full".
 */
const char	*dns_tcp_close_name(enum dns_tcp_close);

#endif
