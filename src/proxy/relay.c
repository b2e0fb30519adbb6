/*
 * relay.c - relay threads: the bytes of established connections.
 *
 * The loop accepts, holds and connects; once a client is connected to
 * its guest, both sockets are handed to one of N relay threads (the one
 * relaying fewest connections), each running its own event_base, which
 * no other thread touches.  A relay thread owns the sockets from then
 * on: it moves bytes, passes FINs on, enforces the idle timeout and
 * closes them.  It reports back to the loop through one mailbox: the
 * bytes moved (batched, at most every REPORT_MS per thread, which is the
 * delay of the byte counters and of the reaper's activity time), and the
 * end of each relay.  The loop alone touches the service's counters and
 * the lifecycle.  New relays, and the word to stop, reach a thread
 * through a mailbox of its own, delivered on its event_base.
 *
 * Why threads: one loop relaying for every client was held to one core,
 * while HAProxy (a thread per CPU by default) used both of this
 * machine's; see docs/benchmarks.md.
 *
 * Each direction is a read() into a stack buffer and an immediate
 * write() to the other socket: two syscalls a message, no event churn.
 * With `relay = splice` the same two steps are splice(2) calls through a
 * pipe per direction, so the bytes never enter user space.  Only what
 * the receiver does not take is kept (in an evbuffer, or left in the
 * pipe); while it waits, the sender is not read (back-pressure, at most
 * RELAY_CHUNK bytes held per direction).  A FIN is passed on
 * (shutdown(SHUT_WR)) once what preceded it is written; the relay ends
 * when both directions have ended.
 *
 * Locks: none of its own; the mailboxes' (mailbox.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "clock.h"
#include "compat_queue.h"
#include "log.h"
#include "mailbox.h"
#include "relay.h"

#define RELAY_CHUNK	(64 * 1024)	/* one read() */
#define REPORT_MS	100		/* bytes reported at most this late */

struct relay;
struct worker;
TAILQ_HEAD(relay_list, relay);

/* One direction: bytes read from `from` are written to `to`. */
struct relay_dir {
	int		 from, to;
	struct event	*rd;		/* readable `from` */
	struct event	*wr;		/* writable `to`, while pending */
	struct evbuffer	*pending;	/* what `to` did not take yet */
	int		 pipe[2];	/* splice: from -> pipe -> to */
	size_t		 in_pipe;	/* bytes waiting in the pipe */
	bool		 spliced;	/* pipe[] is open */
	bool		 eof;		/* `from` sent its FIN */
	bool		 shut;		/* and it was passed on */
	uint64_t	 unreported;	/* bytes moved, not yet reported */
	struct relay	*r;
};

struct relay {
	struct mailbox_item	 handed;	/* w->inbox */
	TAILQ_ENTRY(relay)	 link;		/* w->relays */
	TAILQ_ENTRY(relay)	 dirty_link;	/* w->dirty */
	bool			 dirty;
	struct worker		*w;
	void			*owner;		/* the loop's, opaque */
	struct relay_spec	 spec;
	struct relay_dir	 up, down;	/* client->guest, guest->client */
	struct event		*idle;
	uint64_t		 last_byte_us;
	struct report		*end;		/* made early: cannot fail */
};

struct report {
	struct mailbox_item	 item;		/* pool->reports */
	struct worker		*w;
	void			*owner;
	uint64_t		 bytes_in, bytes_out;
	bool			 done;
};

struct worker {
	struct relay_pool	*pool;
	pthread_t		 thread;
	bool			 started;
	struct event_base	*base;
	struct mailbox		*inbox;		/* relays to begin, and stop */
	struct mailbox_item	 stop;		/* posted last, by the loop */
	struct event		*flush;		/* report the dirty ones */
	struct relay_list	 relays;	/* this thread's only */
	struct relay_list	 dirty;		/* unreported bytes */
	unsigned		 load;		/* relays; the loop's only */
};

struct relay_pool {
	relay_report_fn		*report;
	void			*arg;
	struct mailbox		*reports;	/* delivered on base */
	unsigned		 nworkers;
	struct worker		 workers[];
};

static void	relay_read(evutil_socket_t, short, void *);
static void	relay_write(evutil_socket_t, short, void *);

/* ---- the relay thread ------------------------------------------------ */

static void
dir_free(struct relay_dir *d)
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
	}
}

/* Close and free r; tell the loop unless the pool is being torn down. */
static void
relay_end(struct relay *r, bool tell)
{
	struct worker *w = r->w;
	struct report *end = r->end;

	TAILQ_REMOVE(&w->relays, r, link);
	if (r->dirty)
		TAILQ_REMOVE(&w->dirty, r, dirty_link);
	end->bytes_in = r->up.unreported;
	end->bytes_out = r->down.unreported;
	if (r->spec.held != NULL)
		evbuffer_free(r->spec.held);
	dir_free(&r->up);
	dir_free(&r->down);
	close(r->spec.client_fd);
	close(r->spec.guest_fd);
	if (r->idle != NULL)
		event_free(r->idle);
	free(r);
	/*
	 * The report of the end, once the sockets are closed, is what lets
	 * the loop free the connection; it was allocated with the relay so
	 * that it cannot fail now.
	 */
	if (tell)
		mailbox_post(w->pool->reports, &end->item);
	else
		free(end);
}

static void
flush_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct worker *w = arg;
	struct relay *r;

	while ((r = TAILQ_FIRST(&w->dirty)) != NULL) {
		struct report *rp = calloc(1, sizeof(*rp));

		if (rp == NULL) {
			struct timeval tv = clock_tv(REPORT_MS);

			evtimer_add(w->flush, &tv);	/* try again later */
			return;
		}
		rp->w = w;
		rp->owner = r->owner;
		rp->bytes_in = r->up.unreported;
		rp->bytes_out = r->down.unreported;
		mailbox_post(w->pool->reports, &rp->item);
		r->up.unreported = r->down.unreported = 0;
		TAILQ_REMOVE(&w->dirty, r, dirty_link);
		r->dirty = false;
	}
}

static void
idle_check(evutil_socket_t fd, short ev, void *arg)
{
	struct relay *r = arg;
	uint64_t since = (clock_mono_us() - r->last_byte_us) / 1000;
	struct timeval tv;

	if (since >= r->spec.idle_ms) {
		log_debug("%s: relay idle for %llu ms; closed", r->spec.name,
		    (unsigned long long)since);
		relay_end(r, true);
		return;
	}
	tv = clock_tv(r->spec.idle_ms - since);
	evtimer_add(r->idle, &tv);
}

static size_t
dir_pending(const struct relay_dir *d)
{
	return evbuffer_get_length(d->pending) + d->in_pipe;
}

/* Pass the FIN on once everything before it is written. */
static void
dir_pass_fin(struct relay_dir *d)
{
	if (d->eof && !d->shut && dir_pending(d) == 0) {
		shutdown(d->to, SHUT_WR);
		d->shut = true;
	}
}

/* Both directions ended and nothing waits: the relay is done. */
static void
relay_check_done(struct relay *r)
{
	if (r->up.shut && r->down.shut)
		relay_end(r, true);
}

/*
 * One message, `from` to `to`: read() then write(), or splice() into the
 * pipe then out of it.  Returns the bytes read (0 at EOF, -1 with errno
 * set); what `to` did not take is left pending.  A failed write sets
 * *broken.
 */
static ssize_t
dir_move(struct relay_dir *d, bool *broken)
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
	}
	*broken = w < 0 && errno != EAGAIN && errno != EINTR;
	if (!d->spliced && w < n && !*broken) {
		size_t done = w > 0 ? (size_t)w : 0;

		/* Bytes that cannot be kept would corrupt the stream. */
		if (evbuffer_add(d->pending, buf + done, (size_t)n - done) ==
		    -1)
			*broken = true;
	}
	return n;
}

static void
relay_read(evutil_socket_t fd, short what, void *arg)
{
	struct relay_dir *d = arg;
	struct relay *r = d->r;
	struct worker *w = r->w;
	bool broken = false;
	ssize_t n;

	n = dir_move(d, &broken);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		relay_end(r, true);	/* reset: nothing more to relay */
		return;
	}
	if (n == 0) {
		d->eof = true;
		event_del(d->rd);
		dir_pass_fin(d);
		relay_check_done(r);
		return;
	}
	if (broken) {
		relay_end(r, true);
		return;
	}
	d->unreported += (uint64_t)n;
	r->last_byte_us = clock_mono_us();
	if (!r->dirty) {
		r->dirty = true;
		TAILQ_INSERT_TAIL(&w->dirty, r, dirty_link);
		if (!evtimer_pending(w->flush, NULL)) {
			struct timeval tv = clock_tv(REPORT_MS);

			evtimer_add(w->flush, &tv);
		}
	}
	if (dir_pending(d) > 0) {
		/* The receiver is slow: keep the rest, stop reading. */
		event_del(d->rd);
		event_add(d->wr, NULL);
	}
}

static void
relay_write(evutil_socket_t fd, short what, void *arg)
{
	struct relay_dir *d = arg;
	struct relay *r = d->r;
	ssize_t n = 0;

	/* What was held before relaying began goes first. */
	if (evbuffer_get_length(d->pending) > 0)
		n = evbuffer_write(d->pending, d->to);
	else if (d->in_pipe > 0) {
		n = splice(d->pipe[0], NULL, d->to, NULL, d->in_pipe,
		    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n > 0)
			d->in_pipe -= (size_t)n;
	}
	if (n < 0 && errno != EAGAIN && errno != EINTR) {
		relay_end(r, true);
		return;
	}
	if (n > 0)
		r->last_byte_us = clock_mono_us();	/* still moving */
	if (dir_pending(d) > 0)
		return;			/* still waiting */
	event_del(d->wr);
	if (!d->eof)
		event_add(d->rd, NULL);
	dir_pass_fin(d);
	relay_check_done(r);
}

static int
dir_init(struct relay *r, struct relay_dir *d, int from, int to)
{
	struct event_base *base = r->w->base;

	d->r = r;
	d->from = from;
	d->to = to;
	d->rd = event_new(base, from, EV_READ | EV_PERSIST, relay_read, d);
	d->wr = event_new(base, to, EV_WRITE | EV_PERSIST, relay_write, d);
	d->pending = evbuffer_new();
	if (r->spec.splice) {
		/* Out of descriptors for a pipe: this one copies instead. */
		if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) == 0)
			d->spliced = true;
		else
			log_debug("%s: no pipe for splice (%s); copying",
			    r->spec.name, strerror(errno));
	}
	return d->rd != NULL && d->wr != NULL && d->pending != NULL ? 0 : -1;
}

/* Start relaying r on this thread: what the client sent while held first. */
static void
relay_begin(struct worker *w, struct relay *r)
{
	struct relay_spec *s = &r->spec;

	TAILQ_INSERT_TAIL(&w->relays, r, link);
	r->last_byte_us = clock_mono_us();
	if (dir_init(r, &r->up, s->client_fd, s->guest_fd) == -1 ||
	    dir_init(r, &r->down, s->guest_fd, s->client_fd) == -1 ||
	    (r->idle = evtimer_new(w->base, idle_check, r)) == NULL) {
		log_warnx("%s: cannot start relaying", s->name);
		relay_end(r, true);
		return;
	}
	if (s->held != NULL) {
		evbuffer_add_buffer(r->up.pending, s->held);
		evbuffer_free(s->held);
		s->held = NULL;
	}
	r->up.eof = s->client_eof;
	if (s->idle_ms > 0) {
		struct timeval tv = clock_tv(s->idle_ms);

		evtimer_add(r->idle, &tv);
	}
	event_add(r->down.rd, NULL);
	if (dir_pending(&r->up) > 0)
		event_add(r->up.wr, NULL);
	else if (!r->up.eof)
		event_add(r->up.rd, NULL);
	else
		dir_pass_fin(&r->up);
}

/* From the loop: a relay to begin, or (last) the word to stop. */
static void
inbox_deliver(void *arg, struct mailbox_item *it)
{
	struct worker *w = arg;

	if (it == &w->stop)
		event_base_loopbreak(w->base);
	else
		relay_begin(w, MAILBOX_ENTRY(it, struct relay, handed));
}

/* A relay handed over and never begun: closed, untold. */
static void
inbox_drop(void *arg, struct mailbox_item *it)
{
	struct worker *w = arg;
	struct relay *r;

	if (it == &w->stop)
		return;
	r = MAILBOX_ENTRY(it, struct relay, handed);
	TAILQ_INSERT_TAIL(&w->relays, r, link);
	relay_end(r, false);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct relay *r;

	event_base_dispatch(w->base);
	/* Stopped: the pool is being freed, and nobody waits for reports. */
	mailbox_close(w->inbox, inbox_drop);
	while ((r = TAILQ_FIRST(&w->relays)) != NULL)
		relay_end(r, false);
	return NULL;
}

/* ---- the loop's side --------------------------------------------------- */

static void
pool_deliver(void *arg, struct mailbox_item *it)
{
	struct relay_pool *pool = arg;
	struct report *rp = MAILBOX_ENTRY(it, struct report, item);

	if (rp->done)
		rp->w->load--;
	pool->report(pool->arg, rp->owner, rp->bytes_in, rp->bytes_out,
	    rp->done);
	free(rp);
}

/* The pool is being freed: no report follows. */
static void
pool_drop(void *arg, struct mailbox_item *it)
{
	free(MAILBOX_ENTRY(it, struct report, item));
}

static int
worker_init(struct relay_pool *pool, struct worker *w)
{
	w->pool = pool;
	TAILQ_INIT(&w->relays);
	TAILQ_INIT(&w->dirty);
	if ((w->base = event_base_new()) == NULL ||
	    (w->inbox = mailbox_new(w->base, inbox_deliver, w)) == NULL ||
	    (w->flush = evtimer_new(w->base, flush_cb, w)) == NULL)
		return -1;
	return 0;
}

static void
worker_fini(struct worker *w)
{
	if (w->started) {
		mailbox_post(w->inbox, &w->stop);
		pthread_join(w->thread, NULL);
	}
	if (w->flush != NULL)
		event_free(w->flush);
	mailbox_free(w->inbox, inbox_drop);
	if (w->base != NULL)
		event_base_free(w->base);
}

struct relay_pool *
relay_pool_new(struct event_base *base, unsigned nthreads,
    relay_report_fn *report, void *arg)
{
	struct relay_pool *pool;
	sigset_t all, old;
	unsigned i;

	if (nthreads == 0)
		nthreads = 1;
	pool = calloc(1, sizeof(*pool) + nthreads * sizeof(pool->workers[0]));
	if (pool == NULL)
		return NULL;
	pool->report = report;
	pool->arg = arg;
	if ((pool->reports = mailbox_new(base, pool_deliver, pool)) == NULL) {
		relay_pool_free(pool);
		return NULL;
	}
	/* Signals are the loop's: the threads start with all blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < nthreads; i++) {
		struct worker *w = &pool->workers[i];

		pool->nworkers++;
		if (worker_init(pool, w) == -1 ||
		    pthread_create(&w->thread, NULL, worker_main, w) != 0)
			break;
		w->started = true;
		/* Named here, so that it has its name once this returns. */
		pthread_setname_np(w->thread, "summon-relay");
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (i < nthreads) {
		log_warnx("cannot start relay thread %u of %u", i + 1,
		    nthreads);
		relay_pool_free(pool);
		return NULL;
	}
	return pool;
}

int
relay_pool_add(struct relay_pool *pool, void *owner,
    const struct relay_spec *spec)
{
	struct worker *w = &pool->workers[0];
	struct relay *r;
	unsigned i;

	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (r->end = calloc(1, sizeof(*r->end))) == NULL) {
		free(r);
		return -1;
	}
	for (i = 1; i < pool->nworkers; i++)
		if (pool->workers[i].load < w->load)
			w = &pool->workers[i];
	r->w = w;
	r->owner = owner;
	r->spec = *spec;
	r->end->w = w;
	r->end->owner = owner;
	r->end->done = true;
	r->up.from = r->up.to = r->down.from = r->down.to = -1;
	w->load++;
	mailbox_post(w->inbox, &r->handed);
	return 0;
}

void
relay_pool_free(struct relay_pool *pool)
{
	unsigned i;

	if (pool == NULL)
		return;
	/* The threads close their sockets as they stop. */
	for (i = 0; i < pool->nworkers; i++)
		worker_fini(&pool->workers[i]);
	mailbox_free(pool->reports, pool_drop);
	free(pool);
}

unsigned
relay_pool_threads(const struct relay_pool *pool)
{
	return pool->nworkers;
}

unsigned
relay_pool_load(const struct relay_pool *pool, unsigned thread)
{
	return thread < pool->nworkers ? pool->workers[thread].load : 0;
}
