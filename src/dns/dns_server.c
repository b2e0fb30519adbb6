/*
 * dns_server.c - listeners, the UDP path, and the life of struct dns.
 *
 * Each listen address gets a UDP socket and a TCP listener on the same
 * port.  UDP is read and answered in batches (recvmmsg, sendmmsg): on
 * these machines throughput is decided by system calls per packet.  On
 * a wildcard address the reply leaves from the address the query came
 * to (IP_PKTINFO / IPV6_PKTINFO).  A listener dropped by a reload stays
 * open, unread, until the last reply that owes it has been sent.
 * Queries are read up to the longest a datagram can carry.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "clock.h"
#include "config.h"
#include "lifecycle.h"
#include "log.h"
#include "dns_rrl.h"
#include "dns_server.h"

#define UDP_ROUNDS	4		/* batches per wakeup, then yield */
#define UDP_RCVBUF	(1 << 20)
#define BIND_TRIES	8		/* port 0: UDP and TCP must agree */
#define ACCEPT_RETRY_MS	1000
#define BIG_STRIDE	65536		/* a slot's room for any query */

struct dns_listener {
	struct dns		*d;
	struct cfg_addr		 addr;		/* as configured */
	char			 name[INET6_ADDRSTRLEN + 8];	/* as bound */
	uint16_t		 port;
	int			 udp;
	bool			 pktinfo;	/* wildcard address */
	struct event		*ev_udp;
	struct evconnlistener	*tcp;
	unsigned		 refs;		/* replies owed on udp */
	bool			 retired;	/* dropped by a reload */
};

union pktinfo_cmsg {
	struct cmsghdr		 hdr;
	uint8_t			 buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
};

/*
 * One batch of datagrams in and responses out.  It is set up for one
 * listener at a time; after a recvmmsg only the fields the kernel
 * wrote in the first `dirty' headers need resetting.
 *
 * A query longer than DNS_UDP_SLOT runs on through a second iovec into
 * its slot's part of `big', where the two parts are then joined.  big
 * is 64 KiB of address space a slot, mapped untouched: only the pages
 * a long query lands on become resident, and they are given back as
 * soon as it is answered.  So queries of any length are read in the
 * same batches, the usual short ones cost what they did, and a flood
 * of long ones holds at most what the socket buffer held, briefly.
 */
struct dns_batch {
	const struct dns_listener *owner;
	unsigned		 dirty;
	struct mmsghdr		 in[DNS_UDP_BATCH];
	struct mmsghdr		 out[DNS_UDP_BATCH];
	struct iovec		 iov_in[DNS_UDP_BATCH][2];
	struct iovec		 iov_out[DNS_UDP_BATCH];
	struct dns_client	 client[DNS_UDP_BATCH];
	union pktinfo_cmsg	 cmsg[DNS_UDP_BATCH];
	uint8_t			 query[DNS_UDP_BATCH][DNS_UDP_SLOT];
	uint8_t			 resp[DNS_UDP_BATCH][DNS_EDNS_SIZE];
	uint8_t			*big;		/* BIG_STRIDE a slot */
};

static const char *const stat_names[DNS_NSTATS] = {
	[DNS_STAT_NOERROR] = "NOERROR", [DNS_STAT_FORMERR] = "FORMERR",
	[DNS_STAT_SERVFAIL] = "SERVFAIL", [DNS_STAT_NXDOMAIN] = "NXDOMAIN",
	[DNS_STAT_NOTIMP] = "NOTIMP", [DNS_STAT_REFUSED] = "REFUSED",
	[DNS_STAT_NOTAUTH] = "NOTAUTH", [DNS_STAT_BADVERS] = "BADVERS",
	[DNS_STAT_OTHER] = "OTHER", [DNS_STAT_DROPPED] = "dropped",
};

static const char *const tcp_close_names[DNS_TCP_NCLOSE] = {
	[DNS_TCP_IDLE] = "idle-timeout", [DNS_TCP_SLOW] = "message-timeout",
	[DNS_TCP_EVICTED] = "evicted", [DNS_TCP_PER_SOURCE] = "per-source",
	[DNS_TCP_FULL] = "full",
};

const char *
dns_stat_name(enum dns_stat s)
{
	return (unsigned)s < DNS_NSTATS ? stat_names[s] : "?";
}

const char *
dns_tcp_close_name(enum dns_tcp_close c)
{
	return (unsigned)c < DNS_TCP_NCLOSE ? tcp_close_names[c] : "?";
}

const struct dns_stats *
dns_stats(struct dns *d)
{
	return &d->stats;
}

/* Count a response with rcode (-1: dropped). */
static void
dns_count(struct dns *d, int rcode)
{
	enum dns_stat s;

	switch (rcode) {
	case -1:			s = DNS_STAT_DROPPED; break;
	case DNS_RCODE_NOERROR:		s = DNS_STAT_NOERROR; break;
	case DNS_RCODE_FORMERR:		s = DNS_STAT_FORMERR; break;
	case DNS_RCODE_SERVFAIL:	s = DNS_STAT_SERVFAIL; break;
	case DNS_RCODE_NXDOMAIN:	s = DNS_STAT_NXDOMAIN; break;
	case DNS_RCODE_NOTIMP:		s = DNS_STAT_NOTIMP; break;
	case DNS_RCODE_REFUSED:		s = DNS_STAT_REFUSED; break;
	case DNS_RCODE_NOTAUTH:		s = DNS_STAT_NOTAUTH; break;
	case DNS_RCODE_BADVERS:		s = DNS_STAT_BADVERS; break;
	default:			s = DNS_STAT_OTHER; break;
	}
	d->stats.queries[s]++;
}

size_t
dns_query(struct dns *d, const uint8_t *pkt, size_t len,
    const struct dns_client *c, uint8_t *out, size_t cap)
{
	struct dns_result r;
	enum dns_rrl_verdict v = DNS_RRL_PASS;

	dns_answer(d->ix, pkt, len, c->tcp != NULL, out, cap, &r);
	if (r.action == DNS_ACT_DROP) {
		dns_count(d, -1);
		return 0;
	}
	/* Only UDP sources can be forged, so only UDP is limited. */
	if (c->tcp == NULL && d->rrl != NULL)
		v = dns_rrl_check(d->rrl, (const struct sockaddr *)&c->ss);
	if (v != DNS_RRL_PASS) {
		/* Nor woken, held or forwarded: it may be a flood. */
		d->stats.rate_limited++;
		if (v == DNS_RRL_DROP) {
			dns_count(d, -1);
			return 0;
		}
		dns_count(d, r.rcode);
		return dns_truncate(&r, out);
	}
	if (r.svc >= 0 && d->lc != NULL)
		lifecycle_wake(d->lc,
		    dns_index_service(d->ix, (size_t)r.svc)->name, LC_SRC_DNS);
	if (r.action == DNS_ACT_FORWARD && d->fwd != NULL &&
	    dns_fwd_query(d->fwd, pkt, len, &r, c) == 0) {
		d->stats.forwarded++;
		return 0;
	}
	if (r.action == DNS_ACT_HOLD && dns_hold_add(d->hold, &r, c) == 0) {
		d->stats.held++;
		return 0;
	}
	dns_count(d, r.rcode);
	return r.len;
}

/*
 * Reply from the address the query came to: the received pktinfo,
 * with the interface cleared for IPv4 so that routing picks it.
 */
static void
reply_cmsg(struct msghdr *out, const struct msghdr *in)
{
	struct cmsghdr *cm = CMSG_FIRSTHDR(in);
	struct in_pktinfo *pi;

	out->msg_control = NULL;
	out->msg_controllen = 0;
	if (cm == NULL)
		return;
	if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
		pi = (struct in_pktinfo *)CMSG_DATA(cm);
		pi->ipi_spec_dst = pi->ipi_addr;
		pi->ipi_ifindex = 0;
	} else if (cm->cmsg_level != IPPROTO_IPV6 ||
	    cm->cmsg_type != IPV6_PKTINFO)
		return;
	out->msg_control = in->msg_control;
	out->msg_controllen = in->msg_controllen;
}

static void
send_batch(struct dns_listener *l, struct mmsghdr *msgs, unsigned n)
{
	unsigned off = 0;
	int sent;

	while (off < n) {
		sent = sendmmsg(l->udp, msgs + off, n - off, 0);
		if (sent > 0) {
			off += (unsigned)sent;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			/* Socket buffer full: UDP may lose the rest. */
			log_debug("dns: %s: %u responses not sent", l->name,
			    n - off);
			return;
		}
		/* This one datagram failed (e.g. no route): skip it. */
		log_debug("dns: %s: sendmmsg: %s", l->name, strerror(errno));
		off++;
	}
}

static struct dns_batch *
batch_new(void)
{
	struct dns_batch *b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->big = mmap(NULL, (size_t)DNS_UDP_BATCH * BIG_STRIDE,
	    PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (b->big == MAP_FAILED) {
		free(b);
		return NULL;
	}
	return b;
}

static void
batch_free(struct dns_batch *b)
{
	if (b == NULL)
		return;
	munmap(b->big, (size_t)DNS_UDP_BATCH * BIG_STRIDE);
	free(b);
}

static void
batch_prepare(struct dns_batch *b, struct dns_listener *l)
{
	unsigned i;

	if (b->owner != l) {
		for (i = 0; i < DNS_UDP_BATCH; i++) {
			b->client[i] = (struct dns_client){ .udp = l };
			b->iov_in[i][0] = (struct iovec){ b->query[i],
			    DNS_UDP_SLOT };
			b->iov_in[i][1] = (struct iovec){
			    b->big + i * BIG_STRIDE + DNS_UDP_SLOT,
			    DNS_TCP_MAX - DNS_UDP_SLOT };
			b->in[i].msg_hdr = (struct msghdr){
				.msg_name = &b->client[i].ss,
				.msg_iov = b->iov_in[i], .msg_iovlen = 2,
				.msg_control = l->pktinfo ? b->cmsg[i].buf :
				    NULL,
			};
		}
		b->owner = l;
		b->dirty = DNS_UDP_BATCH;
	}
	for (i = 0; i < b->dirty; i++) {
		b->in[i].msg_hdr.msg_namelen = sizeof(b->client[i].ss);
		b->in[i].msg_hdr.msg_controllen = l->pktinfo ?
		    sizeof(b->cmsg[i]) : 0;
	}
	b->dirty = 0;
}

static void
udp_read(evutil_socket_t fd, short what, void *arg)
{
	struct dns_listener *l = arg;
	struct dns *d = l->d;
	struct dns_batch *b = d->batch;
	struct msghdr *h;
	unsigned i, k, round;
	uint8_t *pkt;
	size_t len;
	int n;

	for (round = 0; round < UDP_ROUNDS; round++) {
		batch_prepare(b, l);
		n = recvmmsg(fd, b->in, DNS_UDP_BATCH, MSG_DONTWAIT, NULL);
		if (n <= 0) {
			if (n == -1 && errno != EAGAIN &&
			    errno != EWOULDBLOCK && errno != EINTR)
				log_warn("dns: %s: recvmmsg", l->name);
			return;
		}
		b->dirty = (unsigned)n;
		for (i = 0, k = 0; i < (unsigned)n; i++) {
			h = &b->in[i].msg_hdr;
			b->client[i].sslen = h->msg_namelen;
			if (h->msg_flags & MSG_TRUNC) {
				dns_count(d, -1);	/* over 65535 bytes */
				continue;
			}
			pkt = b->query[i];
			if (b->in[i].msg_len > DNS_UDP_SLOT) {
				pkt = b->big + i * BIG_STRIDE;
				memcpy(pkt, b->query[i], DNS_UDP_SLOT);
			}
			len = dns_query(d, pkt, b->in[i].msg_len,
			    &b->client[i], b->resp[k], DNS_EDNS_SIZE);
			/* Nothing keeps the query: give its pages back. */
			if (pkt != b->query[i])
				madvise(pkt, b->in[i].msg_len, MADV_DONTNEED);
			if (len == 0)
				continue;
			b->iov_out[k] = (struct iovec){ b->resp[k], len };
			b->out[k].msg_hdr = (struct msghdr){
				.msg_name = &b->client[i].ss,
				.msg_namelen = h->msg_namelen,
				.msg_iov = &b->iov_out[k], .msg_iovlen = 1,
			};
			if (l->pktinfo)
				reply_cmsg(&b->out[k].msg_hdr, h);
			k++;
		}
		send_batch(l, b->out, k);
		if (n < DNS_UDP_BATCH)
			return;
	}
}

void
dns_pending_begin(struct dns *d, struct dns_pending *p,
    const struct dns_client *c, void (*abandon)(struct dns_pending *))
{
	p->client = *c;
	p->abandon = abandon;
	if (c->tcp != NULL)
		dns_tcp_pending(c->tcp, p, true);
	else
		c->udp->refs++;
}

static void
listener_close(struct dns_listener *l)
{
	if (l->d->batch != NULL && l->d->batch->owner == l)
		l->d->batch->owner = NULL;	/* the address may be reused */
	if (l->ev_udp != NULL)
		event_free(l->ev_udp);
	if (l->tcp != NULL)
		evconnlistener_free(l->tcp);
	if (l->udp != -1)
		close(l->udp);
	free(l);
}

static void
listener_unref(struct dns_listener *l)
{
	if (--l->refs == 0 && l->retired)
		listener_close(l);
}

static void
pending_end(struct dns *d, struct dns_pending *p)
{
	if (p->client.tcp != NULL)
		dns_tcp_pending(p->client.tcp, p, false);
	else
		listener_unref(p->client.udp);
}

void
dns_pending_reply(struct dns *d, struct dns_pending *p, const uint8_t *pkt,
    size_t len, int rcode)
{
	struct dns_client *c = &p->client;

	dns_count(d, rcode);
	if (c->tcp != NULL)
		dns_tcp_send(c->tcp, pkt, len);
	else if (sendto(c->udp->udp, pkt, len, 0,
	    (struct sockaddr *)&c->ss, c->sslen) == -1)
		log_debug("dns: %s: sendto: %s", c->udp->name,
		    strerror(errno));
	pending_end(d, p);
}

static void
accept_cb(struct evconnlistener *el, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct dns_listener *l = arg;

	dns_tcp_accept(l->d, fd, sa);
}

/* Accept on every listener unless full, none evictable, or after an error. */
static void
accept_update(struct dns *d)
{
	bool on = !d->accept_paused &&
	    !evtimer_pending(d->accept_retry, NULL);
	size_t i;

	for (i = 0; i < d->nlisteners; i++) {
		if (on)
			evconnlistener_enable(d->listeners[i]->tcp);
		else
			evconnlistener_disable(d->listeners[i]->tcp);
	}
}

void
dns_accept_pause(struct dns *d, bool pause)
{
	d->accept_paused = pause;
	accept_update(d);
}

/*
 * Out of descriptors (or memory): the pending connection would make the
 * listener fire again at once.  Stop accepting for a second instead of
 * spinning, as OpenBSD daemons do.
 */
static void
accept_error(struct evconnlistener *el, void *arg)
{
	struct dns_listener *l = arg;
	struct timeval tv = { ACCEPT_RETRY_MS / 1000, 0 };

	log_warn("dns: %s: accept", l->name);
	if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS &&
	    errno != ENOMEM)
		return;
	evtimer_add(l->d->accept_retry, &tv);
	accept_update(l->d);
}

static void
accept_retry(evutil_socket_t fd, short what, void *arg)
{
	accept_update(arg);
}

static bool
is_wildcard(const struct cfg_addr *a)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;

	if (a->ss.ss_family == AF_INET)
		return sin->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
}

static int
open_socket(const struct cfg_addr *a, int type, uint16_t port)
{
	struct sockaddr_storage ss = a->ss;
	int fd, on = 1;

	/* The port sits at the same offset in both families. */
	((struct sockaddr_in *)&ss)->sin_port = htons(port);
	fd = socket(a->ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	if ((type == SOCK_STREAM && setsockopt(fd, SOL_SOCKET,
	    SO_REUSEADDR, &on, sizeof(on)) == -1) ||
	    (a->ss.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1) ||
	    bind(fd, (struct sockaddr *)&ss, a->len) == -1) {
		int saved = errno;

		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* Bind TCP then UDP on the port TCP got; retried if port 0 collides. */
static int
bind_pair(struct dns_listener *l, int *tcp)
{
	const struct cfg_addr *a = &l->addr;
	uint16_t want = ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
	struct sockaddr_storage ss;
	socklen_t sslen;
	int try;

	for (try = 0; try < BIND_TRIES; try++) {
		if ((*tcp = open_socket(a, SOCK_STREAM, want)) == -1)
			return -1;
		sslen = sizeof(ss);
		if (getsockname(*tcp, (struct sockaddr *)&ss, &sslen) == -1)
			break;
		l->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		l->udp = open_socket(a, SOCK_DGRAM, l->port);
		if (l->udp != -1)
			return 0;
		if (want != 0 || errno != EADDRINUSE)
			break;
		close(*tcp);
		*tcp = -1;
	}
	if (*tcp != -1) {
		int saved = errno;

		close(*tcp);
		errno = saved;
	}
	*tcp = -1;
	return -1;
}

static struct dns_listener *
listener_open(struct dns *d, const struct cfg_addr *a)
{
	struct dns_listener *l;
	char host[INET6_ADDRSTRLEN];
	int tcp = -1, on = 1, rcvbuf = UDP_RCVBUF;
	const void *ip;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		log_warn("dns: %s", a->text);
		return NULL;
	}
	l->d = d;
	l->addr = *a;
	l->udp = -1;
	if (bind_pair(l, &tcp) == -1) {
		log_warn("dns: cannot listen on %s", a->text);
		free(l);
		return NULL;
	}
	ip = a->ss.ss_family == AF_INET ?
	    (const void *)&((const struct sockaddr_in *)&a->ss)->sin_addr :
	    (const void *)&((const struct sockaddr_in6 *)&a->ss)->sin6_addr;
	inet_ntop(a->ss.ss_family, ip, host, sizeof(host));
	snprintf(l->name, sizeof(l->name), a->ss.ss_family == AF_INET ?
	    "%s:%u" : "[%s]:%u", host, l->port);
	/* A bigger buffer rides out bursts; the kernel may cap it. */
	setsockopt(l->udp, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	l->pktinfo = is_wildcard(a);
	if (l->pktinfo && setsockopt(l->udp,
	    a->ss.ss_family == AF_INET ? IPPROTO_IP : IPPROTO_IPV6,
	    a->ss.ss_family == AF_INET ? IP_PKTINFO : IPV6_RECVPKTINFO,
	    &on, sizeof(on)) == -1)
		goto fail;
	l->tcp = evconnlistener_new(d->base, accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, tcp);
	if (l->tcp == NULL)
		goto fail;
	tcp = -1;
	evconnlistener_set_error_cb(l->tcp, accept_error);
	l->ev_udp = event_new(d->base, l->udp, EV_READ | EV_PERSIST,
	    udp_read, l);
	if (l->ev_udp == NULL || event_add(l->ev_udp, NULL) == -1)
		goto fail;
	log_info("dns: listening on %s (udp+tcp)", l->name);
	return l;
fail:
	log_warn("dns: cannot listen on %s", a->text);
	if (tcp != -1)
		close(tcp);
	listener_close(l);
	return NULL;
}

/* Stop reading; close now unless replies are still owed on it. */
static void
listener_retire(struct dns_listener *l)
{
	log_info("dns: no longer listening on %s", l->name);
	l->retired = true;
	event_del(l->ev_udp);
	evconnlistener_free(l->tcp);
	l->tcp = NULL;
	if (l->refs == 0)
		listener_close(l);
}

static bool
same_addr(const struct cfg_addr *a, const struct cfg_addr *b)
{
	return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

/* Whether l is one of the n listeners of ls. */
static bool
listener_among(struct dns_listener *const *ls, size_t n,
    const struct dns_listener *l)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ls[i] == l)
			return true;
	return false;
}

/* Free ls (n), closing the listeners that old (nold) does not share. */
static void
listeners_free_new(struct dns_listener **ls, size_t n,
    struct dns_listener *const *old, size_t nold)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ls[i] != NULL && !listener_among(old, nold, ls[i]))
			listener_close(ls[i]);
	free(ls);
}

/*
 * Listeners for cfg: those of old (nold) with the same address are
 * shared (old is left as it is), the others opened.  On failure the
 * opened ones are closed and NULL is returned.
 */
static struct dns_listener **
listeners_for(struct dns *d, const struct config *cfg,
    struct dns_listener *const *old, size_t nold)
{
	struct dns_listener **ls;
	size_t i, j;

	if ((ls = calloc(cfg->ndns_listen + 1, sizeof(*ls))) == NULL) {
		log_warn("dns: listeners");
		return NULL;
	}
	for (i = 0; i < cfg->ndns_listen; i++) {
		for (j = 0; j < nold; j++)
			if (old[j] != NULL &&
			    same_addr(&old[j]->addr, &cfg->dns_listen[i]))
				break;
		if (j < nold)
			ls[i] = old[j];
		else if ((ls[i] = listener_open(d, &cfg->dns_listen[i])) ==
		    NULL)
			goto fail;
	}
	return ls;
fail:
	listeners_free_new(ls, cfg->ndns_listen, old, nold);
	return NULL;
}

/* A SOA serial that moves forward with every load. */
static uint32_t
next_serial(const struct dns *d)
{
	uint32_t now = (uint32_t)(clock_wall_ms() / 1000);

	if (d->ix != NULL && (int32_t)(now - dns_index_serial(d->ix)) <= 0)
		return dns_index_serial(d->ix) + 1;
	return now;
}

struct dns *
dns_new(struct event_base *base, const struct config *cfg,
    struct lifecycle *lc)
{
	struct dns *d;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		log_warn("dns");
		return NULL;
	}
	d->base = base;
	d->cfg = cfg;
	d->lc = lc;
	TAILQ_INIT(&d->conns);
	d->tcp_seed = (uint64_t)arc4random() << 32 | arc4random();
	if ((d->batch = batch_new()) == NULL ||
	    (d->ix = dns_index_new(cfg, next_serial(d))) == NULL ||
	    (d->hold = dns_hold_new(d)) == NULL ||
	    (d->accept_retry = evtimer_new(base, accept_retry, d)) == NULL ||
	    (cfg->rate_limit > 0 &&
	    (d->rrl = dns_rrl_new(cfg->rate_limit)) == NULL)) {
		log_warn("dns");
		goto fail;
	}
	if (cfg->has_forwarder &&
	    (d->fwd = dns_fwd_new(d, &cfg->forwarder)) == NULL)
		goto fail;
	if ((d->listeners = listeners_for(d, cfg, NULL, 0)) == NULL)
		goto fail;
	d->nlisteners = cfg->ndns_listen;
	return d;
fail:
	dns_free(d);
	return NULL;
}

/* A reload prepared: what the new configuration needs, made. */
struct dns_reload {
	const struct config	*cfg;
	struct dns_index	*ix;
	struct dns_listener	**ls;
	struct dns_rrl		*rrl;		/* a new limiter, or NULL */
	struct dns_fwd		*fwd;		/* a new forwarder, or NULL */
	bool			 new_fwd;
};

struct dns_reload *
dns_reload_prepare(struct dns *d, const struct config *cfg, char *err,
    size_t errlen)
{
	struct dns_reload *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		goto nomem;
	r->cfg = cfg;
	if ((r->ix = dns_index_new(cfg, next_serial(d))) == NULL ||
	    (cfg->rate_limit > 0 && d->rrl == NULL &&
	    (r->rrl = dns_rrl_new(cfg->rate_limit)) == NULL))
		goto nomem;
	r->new_fwd = cfg->has_forwarder && (d->fwd == NULL ||
	    !same_addr(dns_fwd_addr(d->fwd), &cfg->forwarder));
	if (r->new_fwd && (r->fwd = dns_fwd_new(d, &cfg->forwarder)) == NULL) {
		snprintf(err, errlen, "[dns] forwarder %s: cannot set it up "
		    "(see the log)", cfg->forwarder.text);
		goto fail;
	}
	if ((r->ls = listeners_for(d, cfg, d->listeners, d->nlisteners)) ==
	    NULL) {
		snprintf(err, errlen, "[dns] listen: an address cannot be "
		    "bound (see the log)");
		goto fail;
	}
	return r;
nomem:
	snprintf(err, errlen, "dns: out of memory");
fail:
	dns_reload_abort(d, r);
	return NULL;
}

void
dns_reload_commit(struct dns *d, struct dns_reload *r)
{
	const struct config *cfg = r->cfg;
	size_t i;

	for (i = 0; i < d->nlisteners; i++)
		if (d->listeners[i] != NULL &&
		    !listener_among(r->ls, cfg->ndns_listen, d->listeners[i]))
			listener_retire(d->listeners[i]);
	free(d->listeners);
	d->listeners = r->ls;
	d->nlisteners = cfg->ndns_listen;
	dns_index_free(d->ix);
	d->ix = r->ix;
	if (cfg->rate_limit == 0) {
		dns_rrl_free(d->rrl);
		d->rrl = NULL;
	} else if (r->rrl != NULL)
		d->rrl = r->rrl;
	else
		dns_rrl_set_rate(d->rrl, cfg->rate_limit);
	if (r->new_fwd || !cfg->has_forwarder) {
		dns_fwd_free(d->fwd);
		d->fwd = r->fwd;
	}
	d->cfg = cfg;
	free(r);
	/* A full table with none evictable shows at the next accept. */
	dns_accept_pause(d, false);
}

void
dns_reload_abort(struct dns *d, struct dns_reload *r)
{
	if (r == NULL)
		return;
	/* The listeners kept are shared with the running set. */
	if (r->ls != NULL)
		listeners_free_new(r->ls, r->cfg->ndns_listen, d->listeners,
		    d->nlisteners);
	dns_fwd_free(r->fwd);
	dns_rrl_free(r->rrl);
	dns_index_free(r->ix);
	free(r);
}

void
dns_free(struct dns *d)
{
	size_t i;

	if (d == NULL)
		return;
	/* Owed replies first, while their sockets are open. */
	dns_hold_free(d->hold);
	dns_fwd_free(d->fwd);
	dns_tcp_free_all(d);
	for (i = 0; i < d->nlisteners; i++)
		if (d->listeners[i] != NULL)
			listener_close(d->listeners[i]);
	free(d->listeners);
	if (d->accept_retry != NULL)
		event_free(d->accept_retry);
	dns_rrl_free(d->rrl);
	dns_index_free(d->ix);
	batch_free(d->batch);
	free(d);
}

int
dns_bound_port(struct dns *d, size_t i)
{
	return i < d->nlisteners ? d->listeners[i]->port : -1;
}
