/*
 * dns_tcp.c - DNS over TCP, RFC 7766.
 *
 * Messages carry a 2-byte length.  A client may pipeline queries; each
 * is answered as soon as it can be, so replies to held or forwarded
 * queries may overtake earlier ones (the ID tells them apart).  Reading
 * stops while a connection has DNS_TCP_PENDING queries waiting or
 * TCP_OUT_HIGH bytes unsent, so a client costs at most one message of
 * input plus that much output.
 *
 * What clients can hold is bounded in time and in places (RFC 7766
 * section 10):
 * - A connection with no query waiting closes after dns_tcp_idle_ms
 *   without a byte.  Once the first byte of a message has come, the
 *   rest must follow within msg_deadline_ms(), so a byte now and then
 *   does not keep a connection.  After the client's FIN it closes once
 *   everything owed has been written.
 * - At most dns_tcp_per_source connections come from one source (an
 *   IPv4 address, an IPv6 /64); the next is closed at once.
 * - At dns_tcp_max connections a new one takes the place of the one
 *   idle longest that has no query waiting, so idle connections cannot
 *   lock a new client out.  d->conns is kept in order of last
 *   activity for that.  Only when every connection has a query
 *   waiting do the listeners pause, until one closes or its queries
 *   are answered.
 */
#include <stdlib.h>
#include <unistd.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "dns_server.h"

#define TCP_OUT_HIGH	(64 * 1024)

struct dns_tcp {
	struct dns		*d;
	struct bufferevent	*bev;
	TAILQ_ENTRY(dns_tcp)	 entry;		/* d->conns */
	LIST_ENTRY(dns_tcp)	 same_src;	/* d->by_src[] */
	struct dns_pending_list	 pending;
	size_t			 npending;
	struct event		 deadline;	/* for the message begun */
	uint64_t		 src;		/* IPv4 address, IPv6 /64 */
	sa_family_t		 family;
	bool			 eof;		/* the client will send no more */
	bool			 busy;		/* in tcp_process() */
};

static void	tcp_free(struct dns_tcp *);

static bool
stalled(struct dns_tcp *t)
{
	return t->npending >= DNS_TCP_PENDING ||
	    evbuffer_get_length(bufferevent_get_output(t->bev)) >
	    TCP_OUT_HIGH;
}

/*
 * How long the rest of a message may take once its first byte is in:
 * DNS_TCP_MSG_MS, or the idle timeout if that is shorter.
 */
static uint64_t
msg_deadline_ms(const struct dns *d)
{
	return d->cfg->dns_tcp_idle_ms < DNS_TCP_MSG_MS ?
	    d->cfg->dns_tcp_idle_ms : DNS_TCP_MSG_MS;
}

/* Last to be evicted: it has just been used. */
static void
touch(struct dns_tcp *t)
{
	TAILQ_REMOVE(&t->d->conns, t, entry);
	TAILQ_INSERT_TAIL(&t->d->conns, t, entry);
}

/* Close if the client is done and nothing is owed; true if closed. */
static bool
maybe_close(struct dns_tcp *t)
{
	if (t->busy || !t->eof || t->npending > 0 ||
	    evbuffer_get_length(bufferevent_get_output(t->bev)) > 0)
		return false;
	tcp_free(t);
	return true;
}

/* Answer every complete message in the input, unless stalled. */
static void
tcp_process(struct dns_tcp *t)
{
	struct dns *d = t->d;
	struct evbuffer *in = bufferevent_get_input(t->bev);
	struct dns_client c = { .tcp = t };
	struct timeval tv;
	uint8_t hdr[2], *msg;
	size_t mlen, len;

	if (t->busy)
		return;		/* a reply sent from inside the loop */
	t->busy = true;
	while (!stalled(t) && evbuffer_copyout(in, hdr, 2) == 2) {
		mlen = (size_t)hdr[0] << 8 | hdr[1];
		if (evbuffer_get_length(in) < 2 + mlen)
			break;
		/* Whole: the next message has a clock of its own. */
		evtimer_del(&t->deadline);
		msg = evbuffer_pullup(in, (ev_ssize_t)(2 + mlen));
		len = dns_query(d, msg + 2, mlen, &c, d->tcp_out + 2,
		    DNS_TCP_MAX);
		evbuffer_drain(in, 2 + mlen);
		if (len > 0) {
			d->tcp_out[0] = (uint8_t)(len >> 8);
			d->tcp_out[1] = len & 0xff;
			bufferevent_write(t->bev, d->tcp_out, 2 + len);
		}
	}
	t->busy = false;
	if (maybe_close(t))
		return;
	if (t->eof || stalled(t)) {
		/* Not reading: the client cannot finish a message. */
		bufferevent_disable(t->bev, EV_READ);
		evtimer_del(&t->deadline);
		return;
	}
	bufferevent_enable(t->bev, EV_READ);
	/* What is left is the start of a message: its clock runs. */
	if (evbuffer_get_length(in) > 0 &&
	    !evtimer_pending(&t->deadline, NULL)) {
		tv = clock_tv(msg_deadline_ms(d));
		evtimer_add(&t->deadline, &tv);
	}
}

static void
tcp_read(struct bufferevent *bev, void *arg)
{
	touch(arg);
	tcp_process(arg);
}

/* The output drained: read again, or close if the client is done. */
static void
tcp_write(struct bufferevent *bev, void *arg)
{
	tcp_process(arg);
}

static void
tcp_event(struct bufferevent *bev, short what, void *arg)
{
	struct dns_tcp *t = arg;

	if (what & BEV_EVENT_EOF) {
		t->eof = true;
		tcp_process(t);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
	    t->npending > 0) {
		/* Not idle: the client waits for us. */
		bufferevent_enable(bev, EV_READ);
		return;
	}
	/* Idle, or a client that does not read; else an error. */
	if (what & BEV_EVENT_TIMEOUT)
		t->d->stats.tcp_closed[DNS_TCP_IDLE]++;
	tcp_free(t);
}

/* A message begun and not finished in time. */
static void
tcp_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct dns_tcp *t = arg;

	t->d->stats.tcp_closed[DNS_TCP_SLOW]++;
	tcp_free(t);
}

/* Whose connection: an IPv4 address or an IPv6 /64, and its bucket. */
static size_t
source(const struct dns *d, const struct sockaddr *sa, sa_family_t *family,
    uint64_t *src)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	int i;

	*family = sa->sa_family;
	*src = 0;
	if (sa->sa_family == AF_INET)
		*src = ntohl(sin->sin_addr.s_addr);
	else if (sa->sa_family == AF_INET6)
		for (i = 0; i < 8; i++)
			*src = *src << 8 | sin6->sin6_addr.s6_addr[i];
	/* Keyed, so that an outsider cannot choose who shares a bucket. */
	return ((*src ^ d->tcp_seed) * 0x9e3779b97f4a7c15ull) >>
	    (64 - DNS_TCP_SRC_BITS);
}

/* The connection idle longest with no query waiting, or NULL. */
static struct dns_tcp *
evictable(struct dns *d)
{
	struct dns_tcp *t;

	/*
	 * At most DNS_HOLD_MAX + DNS_FWD_MAX connections have a query
	 * waiting, so this walk is bounded whatever tcp-clients is.
	 */
	TAILQ_FOREACH(t, &d->conns, entry)
		if (t->npending == 0)
			return t;
	return NULL;
}

void
dns_tcp_accept(struct dns *d, int fd, const struct sockaddr *sa)
{
	struct timeval tv = clock_tv(d->cfg->dns_tcp_idle_ms);
	struct dns_tcp *t, *o;
	sa_family_t family;
	uint64_t src;
	unsigned same = 0;
	size_t b;

	b = source(d, sa, &family, &src);
	if (d->cfg->dns_tcp_per_source > 0) {
		LIST_FOREACH(o, &d->by_src[b], same_src)
			if (o->family == family && o->src == src)
				same++;
		if (same >= d->cfg->dns_tcp_per_source) {
			d->stats.tcp_closed[DNS_TCP_PER_SOURCE]++;
			close(fd);
			return;
		}
	}
	/* A loop: a reload may have lowered the cap. */
	while (d->nconns >= d->cfg->dns_tcp_max) {
		if ((o = evictable(d)) == NULL) {
			/* Every place waits on us: stop until one is free. */
			d->stats.tcp_closed[DNS_TCP_FULL]++;
			close(fd);
			dns_accept_pause(d, true);
			return;
		}
		d->stats.tcp_closed[DNS_TCP_EVICTED]++;
		tcp_free(o);
	}
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->bev = bufferevent_socket_new(d->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warn("dns: tcp");
		free(t);
		close(fd);
		return;
	}
	t->d = d;
	t->family = family;
	t->src = src;
	TAILQ_INIT(&t->pending);
	evtimer_assign(&t->deadline, d->base, tcp_deadline, t);
	bufferevent_setcb(t->bev, tcp_read, tcp_write, tcp_event, t);
	bufferevent_set_timeouts(t->bev, &tv, &tv);
	bufferevent_enable(t->bev, EV_READ);
	TAILQ_INSERT_TAIL(&d->conns, t, entry);
	LIST_INSERT_HEAD(&d->by_src[b], t, same_src);
	d->nconns++;
	d->stats.tcp_accepted++;
}

void
dns_tcp_send(struct dns_tcp *t, const uint8_t *pkt, size_t len)
{
	uint8_t hdr[2] = { (uint8_t)(len >> 8), len & 0xff };

	touch(t);
	bufferevent_write(t->bev, hdr, 2);
	bufferevent_write(t->bev, pkt, len);
}

void
dns_tcp_pending(struct dns_tcp *t, struct dns_pending *p, bool add)
{
	if (add) {
		TAILQ_INSERT_TAIL(&t->pending, p, entry);
		t->npending++;
		return;
	}
	TAILQ_REMOVE(&t->pending, p, entry);
	/* Evictable again: a paused listener may take a new client. */
	if (--t->npending == 0 && t->d->accept_paused)
		dns_accept_pause(t->d, false);
	tcp_process(t);
}

static void
tcp_free(struct dns_tcp *t)
{
	struct dns *d = t->d;
	struct dns_pending *p;

	while ((p = TAILQ_FIRST(&t->pending)) != NULL) {
		TAILQ_REMOVE(&t->pending, p, entry);
		p->client.tcp = NULL;
		p->abandon(p);
	}
	evtimer_del(&t->deadline);
	bufferevent_free(t->bev);
	TAILQ_REMOVE(&d->conns, t, entry);
	LIST_REMOVE(t, same_src);
	free(t);
	d->nconns--;
	if (d->accept_paused)
		dns_accept_pause(d, false);
}

void
dns_tcp_free_all(struct dns *d)
{
	struct dns_tcp *t;

	while ((t = TAILQ_FIRST(&d->conns)) != NULL)
		tcp_free(t);
}
