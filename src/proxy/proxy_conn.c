/*
 * proxy_conn.c - one proxied connection: held, connecting, relaying.
 *
 * Held: the client's bufferevent reads at most HOLD_READ_MAX bytes (so
 * a hang-up is still noticed) and a timer enforces hold-timeout.
 * Released: when the lifecycle reports ready, held clients connect to
 * the guest in arrival order, at most CONNECT_PACE at a time per
 * service: a unikernel's accept queue is small, and a burst of SYNs
 * beyond it is refused or dropped, which costs a retry (or a one-second
 * SYN retransmit) per connection.  Refused connects are retried every
 * RETRY_MS until the service's boot-timeout.
 * Relaying: once connected, the two sockets leave their bufferevents
 * and go, with what the client sent while held, to a relay thread
 * (relay.c), which reports the bytes it moves and, at the end, that it
 * closed them; only then is the connection freed here.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "lifecycle.h"
#include "log.h"
#include "proxy_internal.h"
#include "relay.h"

#define HOLD_READ_MAX	(16 * 1024)	/* read from a held client */
#define CONNECT_PACE	8		/* connects in flight per service */
#define RETRY_MS	20		/* after a refused connect */

static void	start_connect(struct pconn *);
static int	relay_start(struct pconn *);

static struct lifecycle *
lc_of(struct pconn *c)
{
	return c->ps->proxy->lc;
}

static struct event_base *
base_of(struct pconn *c)
{
	return c->ps->proxy->base;
}

void
pconn_free(struct pconn *c)
{
	struct pservice *ps = c->ps;
	bool was_connecting = c->state == PC_CONNECTING;

	switch (c->state) {
	case PC_HELD:
		TAILQ_REMOVE(&ps->held, c, link);
		ps->stats->held--;
		break;
	case PC_CONNECTING:
		TAILQ_REMOVE(&ps->active, c, link);
		ps->connecting--;
		break;
	case PC_RELAYING:
		TAILQ_REMOVE(&ps->active, c, link);
		ps->stats->open--;
		lifecycle_conn(lc_of(c), ps->name, -1);
		break;
	}
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->client != NULL)
		bufferevent_free(c->client);
	if (c->guest != NULL)
		bufferevent_free(c->guest);
	free(c);
	/*
	 * A connect slot came free: let the next held client have it, from
	 * the loop rather than from here, so that a run of failing connects
	 * cannot recurse.
	 */
	if (was_connecting && ps->waiter == NULL && !TAILQ_EMPTY(&ps->held))
		pservice_release_later(ps);
	pservice_unref(ps);
}

static void
refuse(struct pconn *c, enum proxy_refusal why)
{
	c->ps->stats->refused[why]++;
	if (why == PROXY_REFUSED_REMOVED)
		c->ps->proxy->removed++;	/* ps's own stats go with it */
	log_debug("%s: client closed: %s", c->ps->name,
	    proxy_refusal_name(why));
	pconn_free(c);
}

static void
arm(struct pconn *c, event_callback_fn fn, uint64_t ms)
{
	struct timeval tv = clock_tv(ms);

	if (c->timer != NULL)
		event_free(c->timer);
	c->timer = evtimer_new(base_of(c), fn, c);
	if (c->timer != NULL)
		evtimer_add(c->timer, &tv);
}

/* ---- held ------------------------------------------------------------ */

static void
hold_expired(evutil_socket_t fd, short ev, void *arg)
{
	refuse(arg, PROXY_REFUSED_HOLD_TIMEOUT);
}

static void
held_read(struct bufferevent *bev, void *arg)
{
	/* Kept for the guest; the high watermark stops further reads. */
}

/*
 * A FIN from a client that is not relayed yet: if it sent something
 * first, it is a half-close (request sent, answer awaited) and the
 * connection goes on; with nothing sent, the client has gone, and is
 * forgotten (not counted as refused).
 */
static void
held_event(struct bufferevent *bev, short what, void *arg)
{
	struct pconn *c = arg;

	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
		c->client_eof = true;
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		log_debug("%s: client went away before it was relayed",
		    c->ps->name);
		pconn_free(c);
	}
}

static void
lifecycle_outcome(void *arg, const char *service, bool ok)
{
	struct pservice *ps = arg;

	ps->waiter = NULL;
	if (ok)
		pconn_release_held(ps);
	else
		pconn_refuse_held(ps, PROXY_REFUSED_BOOT_FAILED);
}

/* Make sure the lifecycle tells ps when the service is ready. */
static void
want_ready(struct pservice *ps)
{
	if (ps->waiter != NULL)
		return;
	ps->waiter = lifecycle_wait(ps->proxy->lc, ps->name,
	    lifecycle_outcome, ps);
	if (ps->waiter == NULL && errno == EALREADY)
		pconn_release_held(ps);
	else if (ps->waiter == NULL)
		pconn_refuse_held(ps, PROXY_REFUSED_BOOT_FAILED);
}

void
pconn_accept(struct pservice *ps, uint16_t guest_port, int fd)
{
	struct bufferevent *bev;

	bev = bufferevent_socket_new(ps->proxy->base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		log_warnx("%s: bufferevent", ps->name);
		close(fd);
		return;
	}
	pconn_hold(ps, guest_port, bev, clock_mono_us());
}

void
pconn_hold(struct pservice *ps, uint16_t guest_port,
    struct bufferevent *client, uint64_t accepted_us)
{
	struct proxy *p = ps->proxy;
	struct pconn *c;
	int state;

	if (pservice_stats(ps) == NULL ||
	    (c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("%s: connection", ps->name);
		bufferevent_free(client);
		return;
	}
	ps->stats->connections++;
	c->ps = ps;
	ps->refs++;
	c->guest_port = guest_port;
	c->accepted_us = accepted_us;
	c->client = client;
	state = lifecycle_wake(p->lc, ps->name, LC_SRC_CONNECT);
	c->state = PC_HELD;
	TAILQ_INSERT_TAIL(&ps->held, c, link);
	ps->stats->held++;
	if (state != LC_READY && ps->stats->held > p->cfg->max_held) {
		refuse(c, PROXY_REFUSED_MAX_HELD);
		return;
	}
	bufferevent_setcb(c->client, held_read, NULL, held_event, c);
	bufferevent_setwatermark(c->client, EV_READ, 0, HOLD_READ_MAX);
	bufferevent_enable(c->client, EV_READ);
	arm(c, hold_expired, p->cfg->hold_timeout_ms);
	if (state == LC_READY)
		pconn_release_held(ps);
	else
		want_ready(ps);
}

void
pconn_release_held(struct pservice *ps)
{
	struct pconn *c;

	ps->refs++;		/* a refused connect may free the last client */
	while (ps->connecting < CONNECT_PACE &&
	    (c = TAILQ_FIRST(&ps->held)) != NULL) {
		TAILQ_REMOVE(&ps->held, c, link);
		ps->stats->held--;
		c->state = PC_CONNECTING;
		TAILQ_INSERT_TAIL(&ps->active, c, link);
		ps->connecting++;
		c->connect_deadline_us = clock_mono_us() +
		    (ps->cfg != NULL ? ps->cfg->boot_timeout_ms : 5000) * 1000;
		start_connect(c);
	}
	pservice_unref(ps);
}

void
pconn_refuse_held(struct pservice *ps, enum proxy_refusal why)
{
	struct pconn *c;

	/* The held clients may hold ps's last references (a removed one). */
	ps->refs++;
	while ((c = TAILQ_FIRST(&ps->held)) != NULL)
		refuse(c, why);
	pservice_unref(ps);
}

/* ---- connecting -------------------------------------------------------- */

static void
retry_connect(evutil_socket_t fd, short ev, void *arg)
{
	start_connect(arg);
}

static void
connect_failed(struct pconn *c, int err)
{
	if (c->guest != NULL) {
		bufferevent_free(c->guest);
		c->guest = NULL;
	}
	if (clock_mono_us() + RETRY_MS * 1000 < c->connect_deadline_us &&
	    (err == ECONNREFUSED || err == ECONNRESET || err == ETIMEDOUT ||
	    err == EHOSTUNREACH || err == ENETUNREACH || err == ENOTCONN)) {
		arm(c, retry_connect, RETRY_MS);
		return;
	}
	log_warnx("%s: cannot reach the guest: %s", c->ps->name,
	    strerror(err));
	refuse(c, PROXY_REFUSED_CONNECT);
}

static void
connected(struct pconn *c)
{
	struct pservice *ps = c->ps;

	ps->connecting--;
	c->state = PC_RELAYING;
	ps->stats->open++;
	lifecycle_conn(lc_of(c), ps->name, 1);
	hist_observe(&ps->proxy->hist, clock_mono_us() - c->accepted_us);
	if (c->timer != NULL) {
		event_free(c->timer);
		c->timer = NULL;
	}
	/* c may hold ps's last reference (a service a reload removed). */
	ps->refs++;
	if (relay_start(c) == -1) {
		log_warnx("%s: cannot start relaying", ps->name);
		pconn_free(c);
	}
	pconn_release_held(ps);
	pservice_unref(ps);
}

static void
connect_event(struct bufferevent *bev, short what, void *arg)
{
	struct pconn *c = arg;
	int err = EVUTIL_SOCKET_ERROR();

	if (what & BEV_EVENT_CONNECTED) {
		connected(c);
		return;
	}
	connect_failed(c, err != 0 ? err : ECONNRESET);
}

static void
start_connect(struct pconn *c)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (c->timer != NULL) {
		event_free(c->timer);
		c->timer = NULL;
	}
	if (c->ps->cfg == NULL) {
		refuse(c, PROXY_REFUSED_REMOVED);
		return;
	}
	if (lifecycle_endpoint(lc_of(c), c->ps->name, c->guest_port, &ss,
	    &len) == -1) {
		/* Not ready any more (stopped meanwhile): hold again. */
		connect_failed(c, ENOTCONN);
		return;
	}
	bufferevent_setcb(c->client, held_read, NULL, held_event, c);
	c->guest = bufferevent_socket_new(base_of(c), -1,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->guest == NULL) {
		refuse(c, PROXY_REFUSED_CONNECT);
		return;
	}
	bufferevent_setcb(c->guest, NULL, NULL, connect_event, c);
	if (bufferevent_socket_connect(c->guest, (struct sockaddr *)&ss,
	    (int)len) == -1)
		connect_failed(c, errno != 0 ? errno : ECONNREFUSED);
}

/* ---- relaying ------------------------------------------------------ */

/*
 * Hand both sockets, and what the client sent while held, to a relay
 * thread.  On failure both are closed, and the caller frees c.
 */
static int
relay_start(struct pconn *c)
{
	struct proxy *p = c->ps->proxy;
	struct relay_spec spec = {
		.client_fd = bufferevent_getfd(c->client),
		.guest_fd = bufferevent_getfd(c->guest),
		.client_eof = c->client_eof,
		.splice = p->cfg->relay == CFG_RELAY_SPLICE,
		.idle_ms = p->cfg->proxy_idle_timeout_ms,
		.name = c->ps->name,
	};
	struct evbuffer *in = bufferevent_get_input(c->client);
	size_t held = evbuffer_get_length(in);
	int one = 1;

	/* Requests and answers are small: no Nagle delay on either side. */
	setsockopt(spec.client_fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one));
	setsockopt(spec.guest_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (held > 0) {
		if ((spec.held = evbuffer_new()) == NULL)
			return -1;
		evbuffer_add_buffer(spec.held, in);
	}
	/*
	 * Out of this loop's epoll before the relay thread may close them
	 * (and the numbers be reused); from here the sockets are ours to
	 * close until the relay thread has them.
	 */
	bufferevent_setfd(c->client, -1);
	bufferevent_setfd(c->guest, -1);
	if (relay_pool_add(p->relays, c, &spec) == -1) {
		if (spec.held != NULL)
			evbuffer_free(spec.held);
		close(spec.client_fd);
		close(spec.guest_fd);
		return -1;
	}
	c->ps->stats->bytes_in += held;
	bufferevent_free(c->client);
	bufferevent_free(c->guest);
	c->client = c->guest = NULL;
	return 0;
}

void
pconn_relay_report(void *proxy, void *pconn, uint64_t bytes_in,
    uint64_t bytes_out, bool done)
{
	struct pconn *c = pconn;
	struct pservice *ps = c->ps;

	ps->stats->bytes_in += bytes_in;
	ps->stats->bytes_out += bytes_out;
	if (bytes_in + bytes_out > 0)
		lifecycle_touch(lc_of(c), ps->name);
	if (done)
		pconn_free(c);
}
