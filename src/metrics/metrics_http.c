/*
 * metrics_http.c - the HTTP/1.x responder behind /metrics.
 *
 * One request a connection: GET or HEAD of /metrics is answered with
 * the exposition, anything else with an error, and the connection is
 * closed once the answer is written (Connection: close).  evhttp, which
 * served this before, has in libevent 2.1 neither a connection cap nor
 * a deadline for a whole request, and its listener spins on EMFILE
 * (docs/architecture.md).  Every connection is bounded in bytes, time
 * and number:
 * - the request line and headers are at most METRICS_HEAD_MAX bytes (a
 *   431 answer), and a request may not have a body (413);
 * - the whole request must arrive within REQUEST_MS of the accept, and
 *   the whole answer be taken within ANSWER_MS of the request;
 * - once the answer is written, the connection is shut down for writing
 *   and what the client still sends is read and dropped until it
 *   closes, for at most LINGER_MS and LINGER_MAX bytes: closing with
 *   unread input would send a reset, which discards an answer still on
 *   its way (RFC 9112 9.6), but a body streamed on is not read for long;
 * - at CONNS_MAX connections, a new one takes the place of the oldest
 *   that has not sent its request yet (a scraper sends it in its first
 *   packet, so that one is idle or slow) or has had its answer; when
 *   every connection is being answered, accepting waits until one is
 *   done, so that memory stays bounded by CONNS_MAX answers;
 * - accept pauses for a second when out of descriptors or memory
 *   instead of spinning.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>

#include "clock.h"
#include "compat_queue.h"
#include "config.h"
#include "heap.h"
#include "log.h"
#include "metrics.h"
#include "metrics_http.h"

#define CONNS_MAX	16
#define REQUEST_MS	5000	/* accept to the end of the request */
#define ANSWER_MS	10000	/* the request to the answer's last byte */
#define LINGER_MS	2000	/* the answer's last byte to the close */
#define LINGER_MAX	(64 * 1024)	/* bytes dropped after the answer */
#define BACKLOG		128
#define ACCEPT_BATCH	8	/* below CONNS_MAX: see conn_oldest_idle() */
#define PAUSE_MS	1000	/* accept paused on EMFILE and the like */
#define BIG_ANSWER	(1024 * 1024)	/* memory is released after it */

struct listener {
	struct metrics		*m;
	int			 fd;
	uint16_t		 port;
	struct cfg_addr		 addr;
	struct event		 ev_accept;
	struct event		 ev_pause;
};

enum conn_state { CONN_REQUEST, CONN_ANSWER, CONN_LINGER };

struct conn {
	TAILQ_ENTRY(conn)	 link;		/* oldest first */
	struct metrics		*m;
	struct bufferevent	*bev;
	struct event		 ev_deadline;	/* of the state */
	enum conn_state		 state;
	size_t			 scanned;	/* see metrics_http_request */
	size_t			 dropped;	/* after the answer */
	bool			 big;		/* an answer >= BIG_ANSWER */
};

struct metrics {
	struct event_base	*base;
	metrics_render_fn	 render;
	void			*arg;
	struct listener		*cur;
	struct listener		*next;		/* prepared, not committed */
	TAILQ_HEAD(, conn)	 conns;
	size_t			 nconns;
	bool			 full;		/* all answering */
};

/* RFC 9110 tchar: the characters of a method and a header name. */
static bool
is_tchar(unsigned char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
	    (ch >= 'A' && ch <= 'Z') ||
	    (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static bool
all_tchar(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
		if (!is_tchar((unsigned char)s[i]))
			return false;
	return true;
}

/*
 * The next line at *pos, without its CRLF (or bare LF, which RFC 9112
 * lets a server accept); a CR anywhere else is malformed.  The head
 * ends in a blank line, so every line up to end has its LF.
 */
static int
next_line(const char **pos, const char *end, const char **line,
    size_t *len)
{
	const char *lf = memchr(*pos, '\n', (size_t)(end - *pos));
	const char *cr = memchr(*pos, '\r', (size_t)(lf - *pos));

	*line = *pos;
	*len = (size_t)(lf - *pos);
	*pos = lf + 1;
	if (cr == NULL)
		return 0;
	if (cr != lf - 1)
		return -1;
	(*len)--;
	return 0;
}

/* Is the request target /metrics (origin or absolute form)? */
static bool
is_metrics(const char *t, size_t len)
{
	const char *slash;
	size_t skip;

	if (len >= 7 && strncasecmp(t, "http://", 7) == 0)
		skip = 7;
	else if (len >= 8 && strncasecmp(t, "https://", 8) == 0)
		skip = 8;
	else
		skip = 0;
	if (skip > 0) {
		if ((slash = memchr(t + skip, '/', len - skip)) == NULL)
			return false;
		len -= (size_t)(slash - t);
		t = slash;
	}
	return len >= 8 && memcmp(t, "/metrics", 8) == 0 &&
	    (len == 8 || t[8] == '?');
}

/*
 * The header fields from pos to the blank line before end: 0, 413 for
 * a body (a Content-Length other than 0, or any Transfer-Encoding), 400
 * for a malformed line: a name that is not a token (which takes in
 * blanks before the colon and a folded line, one that starts with
 * blanks) or a control character in a value.
 */
static int
parse_fields(const char *pos, const char *end)
{
	const char *line, *colon, *v, *ve;
	bool body = false;
	size_t len, nlen, i;

	for (;;) {
		if (next_line(&pos, end, &line, &len) == -1)
			return 400;
		if (len == 0)
			break;
		if ((colon = memchr(line, ':', len)) == NULL ||
		    !all_tchar(line, (nlen = (size_t)(colon - line))))
			return 400;
		ve = line + len;
		for (v = colon + 1; v < ve; v++)
			if (((unsigned char)*v < ' ' && *v != '\t') ||
			    *v == 0x7f)
				return 400;
		v = colon + 1;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		if (nlen == 14 && strncasecmp(line, "Content-Length", 14) ==
		    0) {
			if (v == ve)
				return 400;
			for (i = 0; i < (size_t)(ve - v); i++) {
				if (v[i] < '0' || v[i] > '9')
					return 400;
				if (v[i] != '0')
					body = true;
			}
		} else if (nlen == 17 &&
		    strncasecmp(line, "Transfer-Encoding", 17) == 0)
			body = true;
	}
	return body ? 413 : 0;
}

/* The answer to the whole head [head, end), blank line included. */
static int
parse_head(const char *head, const char *end, bool *is_head)
{
	const char *pos = head, *line, *sp1, *sp2, *ver;
	size_t len, i;
	int version = 0, fields;
	bool get;

	if (next_line(&pos, end, &line, &len) == -1 ||
	    (sp1 = memchr(line, ' ', len)) == NULL ||
	    (sp2 = memchr(sp1 + 1, ' ', (size_t)(line + len - sp1 - 1))) ==
	    NULL || !all_tchar(line, (size_t)(sp1 - line)) || sp2 == sp1 + 1)
		return 400;
	for (i = 1; sp1 + i < sp2; i++)
		if ((unsigned char)sp1[i] <= ' ' || sp1[i] == 0x7f)
			return 400;
	ver = sp2 + 1;
	if (line + len - ver != 8 || memcmp(ver, "HTTP/", 5) != 0 ||
	    ver[5] < '0' || ver[5] > '9' || ver[6] != '.' ||
	    ver[7] < '0' || ver[7] > '9')
		return 400;
	if (ver[5] != '1')
		version = 505;
	*is_head = sp1 - line == 4 && memcmp(line, "HEAD", 4) == 0;
	get = sp1 - line == 3 && memcmp(line, "GET", 3) == 0;
	if ((fields = parse_fields(pos, end)) == 400)
		return 400;
	if (version != 0)
		return version;
	if (!get && !*is_head)
		return 405;
	if (fields != 0)
		return fields;
	return is_metrics(sp1 + 1, (size_t)(sp2 - sp1 - 1)) ? 200 : 404;
}

int
metrics_http_request(const char *buf, size_t len, size_t *scanned,
    bool *head)
{
	size_t n = len < METRICS_HEAD_MAX ? len : METRICS_HEAD_MAX;
	size_t i, end = 0;

	*head = false;
	for (i = *scanned; i < n && end == 0; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 == n || (buf[i + 1] == '\r' && i + 2 == n))
			break;		/* the next line is not all here */
		if (buf[i + 1] == '\n')
			end = i + 2;
		else if (buf[i + 1] == '\r' && buf[i + 2] == '\n')
			end = i + 3;
	}
	*scanned = i;
	if (end == 0)
		return len >= METRICS_HEAD_MAX ? 431 : 0;
	return parse_head(buf, buf + end, head);
}

static void	accept_update(struct metrics *);

/* The answer's memory has gone: give it back to the system. */
static void
conn_release(struct conn *c)
{
	/* 3.4 MB with 10,000 services, kept resident once freed (holes). */
	if (c->big)
		heap_release();
	c->big = false;
}

/* A connection is no longer answered: room for a new one. */
static void
conn_room(struct metrics *m)
{
	if (m->full) {
		m->full = false;
		accept_update(m);
	}
}

static void
conn_free(struct conn *c)
{
	struct metrics *m = c->m;

	TAILQ_REMOVE(&m->conns, c, link);
	m->nconns--;
	event_del(&c->ev_deadline);
	bufferevent_free(c->bev);
	conn_release(c);
	free(c);
	conn_room(m);
}

static void
conn_deadline(evutil_socket_t fd, short ev, void *arg)
{
	struct conn *c = arg;

	if (c->state != CONN_LINGER)
		log_debug("metrics: closing a client that took too long to "
		    "%s", c->state == CONN_ANSWER ? "read its answer" :
		    "send its request");
	conn_free(c);
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	conn_free(arg);
}

/* Drop what the client sends after its answer, up to LINGER_MAX. */
static void
conn_discard(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	c->dropped += evbuffer_get_length(in);
	evbuffer_drain(in, evbuffer_get_length(in));
	if (c->dropped > LINGER_MAX)
		conn_free(c);
}

/* All written: end our side, and drop what comes until the client's. */
static void
conn_written(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct timeval tv = clock_tv(LINGER_MS);

	if (shutdown(bufferevent_getfd(bev), SHUT_WR) == -1) {
		conn_free(c);
		return;
	}
	c->state = CONN_LINGER;
	conn_release(c);
	conn_room(c->m);
	evtimer_add(&c->ev_deadline, &tv);
	/* What came with the request, read before the answer. */
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
	bufferevent_disable(bev, EV_WRITE);
	bufferevent_setcb(bev, conn_discard, NULL, conn_event, c);
	bufferevent_enable(bev, EV_READ);
}

static const char *
reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Content Too Large";
	case 431:
		return "Request Header Fields Too Large";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Internal Server Error";
	}
}

/* An IMF-fixdate (RFC 9110), without the locale's day and month names. */
static void
http_date(char *buf, size_t len)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t now = (time_t)(clock_wall_ms() / 1000);
	struct tm tm;

	gmtime_r(&now, &tm);
	snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d GMT",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* Stop reading and queue the answer; conn_written() takes over. */
static void
conn_answer(struct conn *c, int status, bool head)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer *body;
	struct timeval tv = clock_tv(ANSWER_MS);
	char date[64];
	size_t len;

	bufferevent_disable(c->bev, EV_READ);
	if ((body = evbuffer_new()) == NULL) {
		log_warnx("metrics: out of memory");
		conn_free(c);
		return;
	}
	if (status == 200)
		c->m->render(c->m->arg, body);
	else
		evbuffer_add_printf(body, "%d %s\n", status, reason(status));
	len = evbuffer_get_length(body);
	http_date(date, sizeof(date));
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n"
	    "Content-Type: text/plain; %scharset=utf-8\r\n"
	    "Content-Length: %zu\r\n%sConnection: close\r\n\r\n", status,
	    reason(status), date, status == 200 ? "version=0.0.4; " : "",
	    len, status == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (!head)
		evbuffer_add_buffer(out, body);
	evbuffer_free(body);
	c->state = CONN_ANSWER;
	c->big = len >= BIG_ANSWER;
	evtimer_add(&c->ev_deadline, &tv);
	bufferevent_setcb(c->bev, NULL, conn_written, conn_event, c);
	bufferevent_enable(c->bev, EV_WRITE);
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	const char *buf;
	bool head;
	int status;

	/* At most METRICS_HEAD_MAX bytes: the read watermark. */
	if ((buf = (const char *)evbuffer_pullup(in, -1)) == NULL) {
		conn_free(c);
		return;
	}
	status = metrics_http_request(buf, len, &c->scanned, &head);
	if (status != 0)
		conn_answer(c, status, head);
}

/*
 * The connection to close at CONNS_MAX for a new one: the oldest still
 * waiting for its request, or done with its answer.  A client accepted
 * in the same batch keeps its place, as a batch is smaller than the
 * cap, so its request is read before newer clients can push it out.
 * NULL when every connection is being answered.
 */
static struct conn *
conn_oldest_idle(struct metrics *m)
{
	struct conn *c;

	TAILQ_FOREACH(c, &m->conns, link)
		if (c->state != CONN_ANSWER)
			return c;
	return NULL;
}

static void
conn_new(struct metrics *m, int fd)
{
	struct timeval tv = clock_tv(REQUEST_MS);
	struct conn *c;

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->bev = bufferevent_socket_new(m->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		log_warnx("metrics: out of memory for a client");
		free(c);
		close(fd);
		return;
	}
	c->m = m;
	evtimer_assign(&c->ev_deadline, m->base, conn_deadline, c);
	evtimer_add(&c->ev_deadline, &tv);
	/* Reading stops at the limit; conn_read answers 431 there. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, METRICS_HEAD_MAX);
	bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
	bufferevent_enable(c->bev, EV_READ);
	TAILQ_INSERT_TAIL(&m->conns, c, link);
	m->nconns++;
}

/* Accept on the current listener unless all are answering or paused. */
static void
accept_update(struct metrics *m)
{
	struct listener *l = m->cur;

	if (l == NULL)
		return;
	if (!m->full && !evtimer_pending(&l->ev_pause, NULL))
		event_add(&l->ev_accept, NULL);
	else
		event_del(&l->ev_accept);
}

static void
accept_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct listener *l = arg;

	accept_update(l->m);
}

static void
accept_ready(evutil_socket_t lfd, short ev, void *arg)
{
	struct listener *l = arg;
	struct metrics *m = l->m;
	struct timeval tv = clock_tv(PAUSE_MS);
	struct conn *old;
	int fd, n;

	for (n = 0; n < ACCEPT_BATCH; n++) {
		old = NULL;
		if (m->nconns >= CONNS_MAX &&
		    (old = conn_oldest_idle(m)) == NULL) {
			m->full = true;
			accept_update(m);
			return;
		}
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* The client stays in the backlog; retry. */
				log_warn("metrics: accept");
				evtimer_add(&l->ev_pause, &tv);
				accept_update(m);
				return;
			}
			if (errno == ECONNABORTED || errno == EPROTO ||
			    errno == EINTR)
				continue;	/* that client is gone */
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_warn("metrics: accept");
			return;
		}
		if (old != NULL) {
			log_debug("metrics: %d clients; closing the oldest "
			    "idle one", CONNS_MAX);
			conn_free(old);
		}
		conn_new(m, fd);
	}
}

static void
listener_close(struct listener *l)
{
	if (l == NULL)
		return;
	event_del(&l->ev_accept);
	event_del(&l->ev_pause);
	close(l->fd);
	free(l);
}

/* Bind and listen on a; accepting starts in accept_update(). */
static struct listener *
listener_open(struct metrics *m, const struct cfg_addr *a)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct listener *l;
	int on = 1;

	if ((l = calloc(1, sizeof(*l))) == NULL) {
		log_warn("metrics: %s", a->text);
		return NULL;
	}
	l->m = m;
	l->addr = *a;
	l->fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (l->fd == -1 || setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &on,
	    sizeof(on)) == -1 ||
	    bind(l->fd, (const struct sockaddr *)&a->ss, a->len) == -1 ||
	    listen(l->fd, BACKLOG) == -1 ||
	    getsockname(l->fd, (struct sockaddr *)&ss, &sslen) == -1) {
		log_warn("metrics: cannot listen on %s", a->text);
		if (l->fd != -1)
			close(l->fd);
		free(l);
		return NULL;
	}
	/* The port sits at the same offset in both families. */
	l->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	event_assign(&l->ev_accept, m->base, l->fd, EV_READ | EV_PERSIST,
	    accept_ready, l);
	evtimer_assign(&l->ev_pause, m->base, accept_resume, l);
	return l;
}

static bool
addr_equal(const struct cfg_addr *a, const struct cfg_addr *b)
{
	const struct sockaddr_in *a4 = (const void *)&a->ss;
	const struct sockaddr_in *b4 = (const void *)&b->ss;
	const struct sockaddr_in6 *a6 = (const void *)&a->ss;
	const struct sockaddr_in6 *b6 = (const void *)&b->ss;

	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET)
		return a4->sin_port == b4->sin_port &&
		    a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	return a6->sin6_port == b6->sin6_port &&
	    memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) ==
	    0 && a6->sin6_scope_id == b6->sin6_scope_id;
}

struct metrics *
metrics_new(struct event_base *base, const struct cfg_addr *addr,
    metrics_render_fn render, void *arg)
{
	struct metrics *m;

	if ((m = calloc(1, sizeof(*m))) == NULL) {
		log_warn("metrics");
		return NULL;
	}
	m->base = base;
	m->render = render;
	m->arg = arg;
	TAILQ_INIT(&m->conns);
	if ((m->cur = listener_open(m, addr)) == NULL) {
		free(m);
		return NULL;
	}
	accept_update(m);
	log_info("metrics: http://%s/metrics", addr->text);
	return m;
}

void
metrics_free(struct metrics *m)
{
	if (m == NULL)
		return;
	while (!TAILQ_EMPTY(&m->conns)) {
		m->full = false;	/* no accept_update() on the way out */
		conn_free(TAILQ_FIRST(&m->conns));
	}
	listener_close(m->cur);
	listener_close(m->next);
	free(m);
}

int
metrics_port(struct metrics *m)
{
	return m->cur->port;
}

int
metrics_rebind_prepare(struct metrics *m, const struct cfg_addr *addr)
{
	metrics_rebind_abort(m);
	if (addr_equal(addr, &m->cur->addr))
		return 0;
	if ((m->next = listener_open(m, addr)) == NULL)
		return -1;
	return 0;
}

void
metrics_rebind_commit(struct metrics *m)
{
	if (m->next == NULL)
		return;
	log_info("metrics: http://%s/metrics (was %s)", m->next->addr.text,
	    m->cur->addr.text);
	listener_close(m->cur);
	m->cur = m->next;
	m->next = NULL;
	accept_update(m);
}

void
metrics_rebind_abort(struct metrics *m)
{
	listener_close(m->next);
	m->next = NULL;
}
