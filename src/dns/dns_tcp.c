/*
 * dns_tcp.c - DNS over TCP, RFC 7766.
 *
 * Messages carry a 2-byte length.  A client may pipeline queries; each
 * is answered as soon as it can be, so replies to held or forwarded
 * queries may overtake earlier ones (the ID tells them apart).  Reading
 * stops while a connection has DNS_TCP_PENDING queries waiting or
 * TCP_OUT_HIGH bytes unsent, so a client costs at most one message of
 * input plus that much output.  A connection with no query waiting
 * closes after dns_tcp_idle_ms without a byte; after the client's FIN
 * it closes once everything owed has been written.  At dns_tcp_max
 * connections the listeners stop accepting until one closes.
 */
#include <stdlib.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "dns_server.h"

#define TCP_OUT_HIGH	(64 * 1024)

struct dns_tcp {
	struct dns		*d;
	struct bufferevent	*bev;
	TAILQ_ENTRY(dns_tcp)	 entry;
	struct dns_pending_list	 pending;
	size_t			 npending;
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
	uint8_t hdr[2], *msg;
	size_t mlen, len;

	if (t->busy)
		return;		/* a reply sent from inside the loop */
	t->busy = true;
	while (!stalled(t) && evbuffer_copyout(in, hdr, 2) == 2) {
		mlen = (size_t)hdr[0] << 8 | hdr[1];
		if (evbuffer_get_length(in) < 2 + mlen)
			break;
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
	if (t->eof || stalled(t))
		bufferevent_disable(t->bev, EV_READ);
	else
		bufferevent_enable(t->bev, EV_READ);
}

static void
tcp_read(struct bufferevent *bev, void *arg)
{
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
	tcp_free(t);	/* error, idle, or a client that does not read */
}

void
dns_tcp_accept(struct dns *d, int fd)
{
	struct timeval tv = clock_tv(d->cfg->dns_tcp_idle_ms);
	struct dns_tcp *t;

	if (d->nconns >= d->cfg->dns_tcp_max) {
		close(fd);	/* the cap was lowered by a reload */
		return;
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
	TAILQ_INIT(&t->pending);
	bufferevent_setcb(t->bev, tcp_read, tcp_write, tcp_event, t);
	bufferevent_set_timeouts(t->bev, &tv, &tv);
	bufferevent_enable(t->bev, EV_READ);
	TAILQ_INSERT_TAIL(&d->conns, t, entry);
	d->nconns++;
	d->stats.tcp_accepted++;
	if (d->nconns >= d->cfg->dns_tcp_max)
		dns_accept_pause(d, true);
}

void
dns_tcp_send(struct dns_tcp *t, const uint8_t *pkt, size_t len)
{
	uint8_t hdr[2] = { (uint8_t)(len >> 8), len & 0xff };

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
	t->npending--;
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
	bufferevent_free(t->bev);
	TAILQ_REMOVE(&d->conns, t, entry);
	free(t);
	d->nconns--;
	if (d->accept_paused && d->nconns < d->cfg->dns_tcp_max)
		dns_accept_pause(d, false);
}

void
dns_tcp_free_all(struct dns *d)
{
	struct dns_tcp *t;

	while ((t = TAILQ_FIRST(&d->conns)) != NULL)
		tcp_free(t);
}
