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
 * Relaying: once connected, the two sockets leave their bufferevents and
 * each direction is a read() into a stack buffer and an immediate
 * write() to the other socket: two syscalls a message, no event churn.
 * With `relay = splice` the same two steps are splice(2) calls through a
 * pipe per direction, so the bytes never enter user space.  Only what
 * the receiver does not take is kept (in an evbuffer, or left in the
 * pipe); while it waits, the sender is not read (back-pressure, at most
 * RELAY_CHUNK bytes held per direction).  A FIN is passed on
 * (shutdown(SHUT_WR)) once what preceded it is written; the connection
 * ends when both directions have ended.  (Both were measured against
 * bufferevents on both sides, which re-arm a write event for every
 * message: docs/benchmarks.md.)
 */
#include <errno.h>
#include <fcntl.h>
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

#define HOLD_READ_MAX	(16 * 1024)	/* read from a held client */
#define RELAY_CHUNK	(64 * 1024)	/* one read() */
#define CONNECT_PACE	8		/* connects in flight per service */
#define RETRY_MS	20		/* after a refused connect */

static void	start_connect(struct pconn *);
static void	relay_start(struct pconn *);
static void	relay_dir_free(struct relay_dir *);

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
		ps->stats.held--;
		break;
	case PC_CONNECTING:
		TAILQ_REMOVE(&ps->active, c, link);
		ps->connecting--;
		break;
	case PC_RELAYING:
	case PC_DRAINING:
		TAILQ_REMOVE(&ps->active, c, link);
		ps->stats.open--;
		lifecycle_conn(lc_of(c), ps->name, -1);
		break;
	}
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->client != NULL)
		bufferevent_free(c->client);
	if (c->guest != NULL)
		bufferevent_free(c->guest);
	relay_dir_free(&c->up);
	relay_dir_free(&c->down);
	if (c->up.from != -1)
		close(c->up.from);
	if (c->up.to != -1)
		close(c->up.to);
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
relay_dir_free(struct relay_dir *d)
{
	if (d->rd != NULL)
		event_free(d->rd);
	if (d->wr != NULL)
		event_free(d->wr);
	if (d->pending != NULL)
		evbuffer_free(d->pending);
	if (d->spliced) {
		close(d->pipe[0]);
		close(d->pipe[1]);
		d->spliced = false;
	}
	d->rd = d->wr = NULL;
	d->pending = NULL;
}

static void
refuse(struct pconn *c, enum proxy_refusal why)
{
	c->ps->stats.refused[why]++;
	log_debug("%s: client closed: %s", c->ps->name,
	    proxy_refusal_name(why));
	pconn_free(c);
}

static void
arm(struct pconn *c, event_callback_fn fn, uint64_t ms)
{
	struct timeval tv = { (time_t)(ms / 1000),
	    (suseconds_t)(ms % 1000) * 1000 };

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
	struct proxy *p = ps->proxy;
	struct pconn *c;
	int state;

	ps->stats.connections++;
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("%s: connection", ps->name);
		close(fd);
		return;
	}
	c->ps = ps;
	ps->refs++;
	c->up.from = c->up.to = c->down.from = c->down.to = -1;
	c->guest_port = guest_port;
	c->accepted_us = clock_mono_us();
	c->client = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->client == NULL) {
		log_warnx("%s: bufferevent", ps->name);
		close(fd);
		ps->refs--;
		free(c);
		return;
	}
	state = lifecycle_wake(p->lc, ps->name, LC_SRC_CONNECT);
	c->state = PC_HELD;
	TAILQ_INSERT_TAIL(&ps->held, c, link);
	ps->stats.held++;
	if (state != LC_READY && ps->stats.held > p->cfg->max_held) {
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

	while (ps->connecting < CONNECT_PACE &&
	    (c = TAILQ_FIRST(&ps->held)) != NULL) {
		TAILQ_REMOVE(&ps->held, c, link);
		ps->stats.held--;
		c->state = PC_CONNECTING;
		TAILQ_INSERT_TAIL(&ps->active, c, link);
		ps->connecting++;
		c->connect_deadline_us = clock_mono_us() +
		    (ps->cfg != NULL ? ps->cfg->boot_timeout_ms : 5000) * 1000;
		start_connect(c);
	}
}

void
pconn_refuse_held(struct pservice *ps, enum proxy_refusal why)
{
	struct pconn *c;

	while ((c = TAILQ_FIRST(&ps->held)) != NULL)
		refuse(c, why);
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
	ps->stats.open++;
	lifecycle_conn(lc_of(c), ps->name, 1);
	hist_observe(&ps->proxy->hist, clock_mono_us() - c->accepted_us);
	c->last_byte_us = clock_mono_us();
	if (c->timer != NULL) {
		event_free(c->timer);
		c->timer = NULL;
	}
	relay_start(c);
	if (c->up.from == -1) {
		pconn_free(c);
		pconn_release_held(ps);
		return;
	}
	pconn_release_held(ps);
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
		refuse(c, PROXY_REFUSED_UNKNOWN);
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

static void
idle_check(evutil_socket_t fd, short ev, void *arg)
{
	struct pconn *c = arg;
	uint64_t idle_ms = c->ps->proxy->cfg->proxy_idle_timeout_ms;
	uint64_t since = (clock_mono_us() - c->last_byte_us) / 1000;

	if (since >= idle_ms) {
		log_debug("%s: relay idle for %llu ms; closed", c->ps->name,
		    (unsigned long long)since);
		pconn_free(c);
		return;
	}
	arm(c, idle_check, idle_ms - since);
}

static void	relay_read(evutil_socket_t, short, void *);
static void	relay_write(evutil_socket_t, short, void *);

/* Both directions ended and nothing waits: the connection is done. */
static void
relay_check_done(struct pconn *c)
{
	if (c->up.shut && c->down.shut)
		pconn_free(c);
}

static size_t
relay_pending(const struct relay_dir *d)
{
	return evbuffer_get_length(d->pending) + d->in_pipe;
}

/* Pass the FIN on once everything before it is written. */
static void
relay_pass_fin(struct relay_dir *d)
{
	if (d->eof && !d->shut && relay_pending(d) == 0) {
		shutdown(d->to, SHUT_WR);
		d->shut = true;
	}
}

/*
 * One message, `from` to `to`: read() then write(), or splice() into the
 * pipe then out of it.  Returns the bytes read (0 at EOF, -1 with errno
 * set); what `to` did not take is left pending.  A failed write sets
 * *broken.
 */
static ssize_t
relay_move(struct relay_dir *d, bool *broken)
{
	char buf[RELAY_CHUNK];
	ssize_t n, w;

	if (d->spliced) {
		n = splice(d->from, NULL, d->pipe[1], NULL, RELAY_CHUNK,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n <= 0)
			return n;
		d->in_pipe += (size_t)n;
		w = splice(d->pipe[0], NULL, d->to, NULL, d->in_pipe,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (w > 0)
			d->in_pipe -= (size_t)w;
	} else {
		n = read(d->from, buf, sizeof(buf));
		if (n <= 0)
			return n;
		w = write(d->to, buf, (size_t)n);
		if (w < n) {
			size_t done = w > 0 ? (size_t)w : 0;

			evbuffer_add(d->pending, buf + done, (size_t)n - done);
		}
	}
	*broken = w < 0 && errno != EAGAIN && errno != EINTR;
	return n;
}

static void
relay_read(evutil_socket_t fd, short what, void *arg)
{
	struct relay_dir *d = arg;
	struct pconn *c = d->c;
	bool broken = false;
	ssize_t n;

	n = relay_move(d, &broken);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		pconn_free(c);		/* reset: nothing more to relay */
		return;
	}
	if (n == 0) {
		d->eof = true;
		event_del(d->rd);
		relay_pass_fin(d);
		relay_check_done(c);
		return;
	}
	if (broken) {
		pconn_free(c);
		return;
	}
	*d->bytes += (uint64_t)n;
	c->last_byte_us = clock_mono_us();
	lifecycle_touch(lc_of(c), c->ps->name);
	if (c->timer == NULL)
		arm(c, idle_check, c->ps->proxy->cfg->proxy_idle_timeout_ms);
	if (relay_pending(d) > 0) {
		/* The receiver is slow: keep the rest, stop reading. */
		event_del(d->rd);
		event_add(d->wr, NULL);
	}
}

static void
relay_write(evutil_socket_t fd, short what, void *arg)
{
	struct relay_dir *d = arg;
	struct pconn *c = d->c;
	ssize_t w = 0;

	/* What was held before relaying began goes first. */
	if (evbuffer_get_length(d->pending) > 0)
		w = evbuffer_write(d->pending, d->to);
	else if (d->in_pipe > 0) {
		w = splice(d->pipe[0], NULL, d->to, NULL, d->in_pipe,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (w > 0)
			d->in_pipe -= (size_t)w;
	}
	if (w < 0 && errno != EAGAIN && errno != EINTR) {
		pconn_free(c);
		return;
	}
	if (relay_pending(d) > 0)
		return;			/* still waiting */
	event_del(d->wr);
	if (!d->eof)
		event_add(d->rd, NULL);
	relay_pass_fin(d);
	relay_check_done(c);
}

static int
relay_dir_init(struct pconn *c, struct relay_dir *d, int from, int to,
    uint64_t *bytes)
{
	struct event_base *base = base_of(c);

	d->c = c;
	d->from = from;
	d->to = to;
	d->bytes = bytes;
	d->rd = event_new(base, from, EV_READ | EV_PERSIST, relay_read, d);
	d->wr = event_new(base, to, EV_WRITE | EV_PERSIST, relay_write, d);
	d->pending = evbuffer_new();
	if (c->ps->proxy->cfg->relay == CFG_RELAY_SPLICE) {
		/* Out of descriptors for a pipe: this one copies instead. */
		if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) == 0)
			d->spliced = true;
		else
			log_debug("%s: no pipe for splice (%s); copying",
			    c->ps->name, strerror(errno));
	}
	return d->rd != NULL && d->wr != NULL && d->pending != NULL ? 0 : -1;
}

/*
 * Take both sockets out of their bufferevents and relay between them.
 * What the client sent while held goes first, then its FIN if it sent
 * one.  On failure up.from stays -1 and the caller frees c.
 */
static void
relay_start(struct pconn *c)
{
	struct evbuffer *held = bufferevent_get_input(c->client);
	int cfd = bufferevent_getfd(c->client);
	int gfd = bufferevent_getfd(c->guest);
	int one = 1;

	/* Requests and answers are small: no Nagle delay on either side. */
	setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(gfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (relay_dir_init(c, &c->up, cfd, gfd, &c->ps->stats.bytes_in) ||
	    relay_dir_init(c, &c->down, gfd, cfd, &c->ps->stats.bytes_out)) {
		log_warnx("%s: cannot start relaying", c->ps->name);
		relay_dir_free(&c->up);
		relay_dir_free(&c->down);
		c->up.from = c->up.to = c->down.from = c->down.to = -1;
		return;
	}
	c->ps->stats.bytes_in += evbuffer_get_length(held);
	evbuffer_add_buffer(c->up.pending, held);
	c->up.eof = c->client_eof;
	/* The sockets are ours now; the bufferevents must not close them. */
	bufferevent_setfd(c->client, -1);
	bufferevent_setfd(c->guest, -1);
	bufferevent_free(c->client);
	bufferevent_free(c->guest);
	c->client = c->guest = NULL;
	event_add(c->down.rd, NULL);
	if (evbuffer_get_length(c->up.pending) > 0)
		event_add(c->up.wr, NULL);
	else if (!c->up.eof)
		event_add(c->up.rd, NULL);
	else
		relay_pass_fin(&c->up);
}
