/*
 * test_metrics.c - the /metrics responder: the request parser on a
 * table of requests, then the server on a real loop and loopback
 * sockets: its answers, the connection cap, accepting again after
 * EMFILE, and the two-phase rebind of a reload.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "config.h"
#include "metrics.h"
#include "src/metrics/metrics_http.h"
#include "check_main.h"

/* Requests whole, and the status each gets. */
static const struct {
	const char	*req;
	int		 status;
	int		 head;
} requests[] = {
	{ "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200, 0 },
	{ "GET /metrics HTTP/1.0\r\n\r\n", 200, 0 },
	{ "GET /metrics HTTP/1.1\nHost: x\n\n", 200, 0 },
	{ "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n", 200, 1 },
	{ "GET /metrics?x=1 HTTP/1.1\r\n\r\n", 200, 0 },
	{ "GET http://h:9153/metrics HTTP/1.1\r\n\r\n", 200, 0 },
	{ "GET /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 200, 0 },
	{ "GET /metrics HTTP/1.1\r\nContent-Length:  000 \r\n\r\n", 200, 0 },
	{ "GET /metrics HTTP/1.1\r\nUser-Agent: a\x80\xff\r\n\r\n", 200, 0 },
	{ "GET / HTTP/1.1\r\n\r\n", 404, 0 },
	{ "GET /metrics/ HTTP/1.1\r\n\r\n", 404, 0 },
	{ "GET /metricsx HTTP/1.1\r\n\r\n", 404, 0 },
	{ "GET http://h HTTP/1.1\r\n\r\n", 404, 0 },
	{ "HEAD /nothing HTTP/1.1\r\n\r\n", 404, 1 },
	{ "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 405, 0 },
	{ "PUT /metrics HTTP/1.1\r\n\r\n", 405, 0 },
	{ "get /metrics HTTP/1.1\r\n\r\n", 405, 0 },
	{ "OPTIONS * HTTP/1.1\r\n\r\n", 405, 0 },
	{ "GET /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 413, 0 },
	{ "GET /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 413,
	    0 },
	{ "HEAD /metrics HTTP/1.1\r\ncontent-length: 1\r\n\r\n", 413, 1 },
	{ "GET /metrics HTTP/2.0\r\n\r\n", 505, 0 },
	{ "GET /metrics HTTP/0.9\r\n\r\n", 505, 0 },
	{ "\r\n\r\n", 400, 0 },
	{ "GET /metrics\r\n\r\n", 400, 0 },
	{ "GET /metrics HTTP/1.1 \r\n\r\n", 400, 0 },
	{ "GET  /metrics HTTP/1.1\r\n\r\n", 400, 0 },
	{ "GET /metrics HTTP/11\r\n\r\n", 400, 0 },
	{ "GET /metrics http/1.1\r\n\r\n", 400, 0 },
	{ "G(T /metrics HTTP/1.1\r\n\r\n", 400, 0 },
	{ "GET /me\ttrics HTTP/1.1\r\n\r\n", 400, 0 },
	{ "GET /metrics HTTP/1.1\r\nHost x\r\n\r\n", 400, 0 },
	{ "GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n", 400, 0 },
	{ "GET /metrics HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400, 0 },
	{ "GET /metrics HTTP/1.1\r\nA: b\rc\r\n\r\n", 400, 0 },
	{ "GET /metrics HTTP/1.1\r\nA: b\x01\r\n\r\n", 400, 0 },
	{ "GET /metrics HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400, 0 },
	{ "GET /metrics HTTP/1.1\r\nContent-Length:\r\n\r\n", 400, 0 },
	{ "GET /metrics HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, 0 },
	{ "GET /metrics HTTP/1.1\r\nContent-Length: 0, 0\r\n\r\n", 400, 0 },
};

START_TEST(parse_table)
{
	const char *req = requests[_i].req;
	size_t scanned = 0;
	bool head;

	ck_assert_msg(metrics_http_request(req, strlen(req), &scanned,
	    &head) == requests[_i].status, "%s", req);
	ck_assert_int_eq(head, requests[_i].head);
}
END_TEST

START_TEST(parse_a_byte_at_a_time)
{
	const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	size_t i, scanned = 0, len = strlen(req);
	bool head;

	for (i = 0; i < len - 1; i++)
		ck_assert_int_eq(metrics_http_request(req, i, &scanned, &head),
		    0);
	ck_assert_int_le(scanned, len);
	ck_assert_int_eq(metrics_http_request(req, len, &scanned, &head),
	    200);
	/* A NUL is malformed, not the end of the head. */
	ck_assert_int_eq(metrics_http_request("GET /m\0 HTTP/1.1\r\n\r\n",
	    21, &(size_t){ 0 }, &head), 400);
}
END_TEST

START_TEST(parse_limit)
{
	char buf[METRICS_HEAD_MAX + 64];
	size_t scanned = 0, n;
	bool head;

	n = (size_t)snprintf(buf, sizeof(buf), "GET /metrics HTTP/1.1\r\n"
	    "X: ");
	memset(buf + n, 'a', sizeof(buf) - n);
	/* Just below the limit it waits for more; at the limit it is 431. */
	ck_assert_int_eq(metrics_http_request(buf, METRICS_HEAD_MAX - 1,
	    &scanned, &head), 0);
	ck_assert_int_eq(metrics_http_request(buf, METRICS_HEAD_MAX,
	    &scanned, &head), 431);
	/* A head that ends beyond the limit, read in one piece: 431 too. */
	memcpy(buf + METRICS_HEAD_MAX, "\r\n\r\n", 4);
	scanned = 0;
	ck_assert_int_eq(metrics_http_request(buf, METRICS_HEAD_MAX + 4,
	    &scanned, &head), 431);
	/* One that ends exactly at it is read. */
	memcpy(buf + METRICS_HEAD_MAX - 4, "\r\n\r\n", 4);
	scanned = 0;
	ck_assert_int_eq(metrics_http_request(buf, METRICS_HEAD_MAX + 4,
	    &scanned, &head), 200);
}
END_TEST

/* The server on a real loop. */
static struct {
	struct event_base	*base;
	struct metrics		*m;
	size_t			 size;		/* of the answer; 0: small */
	int			 renders;
} F;

#define SMALL	"summon_test 1\n"

static void
render(void *arg, struct evbuffer *out)
{
	char line[1024];
	size_t left;

	ck_assert_ptr_eq(arg, &F);
	F.renders++;
	if (F.size == 0) {
		evbuffer_add(out, SMALL, strlen(SMALL));
		return;
	}
	memset(line, 'x', sizeof(line));
	for (left = F.size; left > 0; left -= left < sizeof(line) ? left :
	    sizeof(line))
		evbuffer_add(out, line, left < sizeof(line) ? left :
		    sizeof(line));
}

static struct cfg_addr
addr(const char *text)
{
	struct cfg_addr a;
	char err[128];

	ck_assert_msg(config_parse_addr(text, 9153, &a, err, sizeof(err)) ==
	    0, "%s", err);
	return a;
}

static void
setup(void)
{
	struct cfg_addr a = addr("127.0.0.1:0");

	signal(SIGPIPE, SIG_IGN);
	memset(&F, 0, sizeof(F));
	ck_assert_ptr_nonnull(F.base = event_base_new());
	ck_assert_ptr_nonnull(F.m = metrics_new(F.base, &a, render, &F));
	ck_assert_int_gt(metrics_port(F.m), 0);
}

static void
teardown(void)
{
	metrics_free(F.m);
	event_base_free(F.base);
}

/* Run the loop for ms milliseconds. */
static void
run(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(F.base, &tv);
	event_base_dispatch(F.base);
}

static int
free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	close(fd);
	return ntohs(sin.sin_port);
}

/* A connected client, non-blocking; -1 if the connection is refused. */
static int
client(int port, int rcvbuf)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	if (rcvbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		    sizeof(rcvbuf));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	/* The backlog completes the handshake before the loop runs. */
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		ck_assert_int_eq(errno, ECONNREFUSED);
		close(fd);
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

static void
send_all(int fd, const char *s)
{
	ck_assert_int_eq(send(fd, s, strlen(s), 0), (ssize_t)strlen(s));
}

/*
 * Run the loop until the server closes fd (or ms pass); what it sent,
 * NUL-terminated (the caller frees), and *closed whether it closed.
 * reset, when not NULL, tells whether it closed with a reset.
 */
static char *
receive_reset(int fd, int ms, bool *closed, bool *reset)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t n;
	int waited;

	ck_assert_ptr_nonnull(buf);
	*closed = false;
	for (waited = 0; waited < ms && !*closed; waited += 5) {
		run(5);
		for (;;) {
			if (cap - len < 4096 &&
			    (buf = realloc(buf, cap *= 2)) == NULL)
				ck_abort_msg("out of memory");
			n = recv(fd, buf + len, cap - len - 1, 0);
			if (n > 0) {
				len += (size_t)n;
				continue;
			}
			if (n == 0 || errno == ECONNRESET)
				*closed = true;
			if (reset != NULL)
				*reset = n == -1 && errno == ECONNRESET;
			break;
		}
	}
	buf[len] = '\0';
	return buf;
}

static char *
receive(int fd, int ms, bool *closed)
{
	return receive_reset(fd, ms, closed, NULL);
}

/* One request on a new connection; the whole answer. */
static char *
exchange(int port, const char *req)
{
	int fd = client(port, 0);
	bool closed;
	char *answer;

	ck_assert_int_ge(fd, 0);
	send_all(fd, req);
	answer = receive(fd, 5000, &closed);
	ck_assert_msg(closed, "not closed after %s", answer);
	close(fd);
	return answer;
}

/* Does answer start with status line s and is it served whole? */
static void
assert_answer(const char *answer, const char *status, const char *body)
{
	const char *end = strstr(answer, "\r\n\r\n");
	char cl[64];

	ck_assert_msg(strncmp(answer, status, strlen(status)) == 0, "%s",
	    answer);
	ck_assert_ptr_nonnull(end);
	ck_assert_ptr_nonnull(strstr(answer, "\r\nConnection: close\r\n"));
	ck_assert_ptr_nonnull(strstr(answer, "\r\nDate: "));
	ck_assert_str_eq(end + 4, body);
	snprintf(cl, sizeof(cl), "\r\nContent-Length: %zu\r\n", strlen(body));
	if (body[0] != '\0')
		ck_assert_msg(strstr(answer, cl) != NULL, "%s", answer);
}

START_TEST(answers)
{
	int port = metrics_port(F.m);
	char *a;

	a = exchange(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_answer(a, "HTTP/1.1 200 OK\r\n", SMALL);
	ck_assert_ptr_nonnull(strstr(a, "\r\nContent-Type: text/plain; "
	    "version=0.0.4; charset=utf-8\r\n"));
	free(a);

	/* HEAD: the length GET would get, no body. */
	a = exchange(port, "HEAD /metrics HTTP/1.1\r\n\r\n");
	assert_answer(a, "HTTP/1.1 200 OK\r\n", "");
	ck_assert_ptr_nonnull(strstr(a, "\r\nContent-Length: 14\r\n"));
	free(a);

	a = exchange(port, "POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n"
	    "\r\nab");
	assert_answer(a, "HTTP/1.1 405 Method Not Allowed\r\n",
	    "405 Method Not Allowed\n");
	ck_assert_ptr_nonnull(strstr(a, "\r\nAllow: GET, HEAD\r\n"));
	free(a);

	a = exchange(port, "GET /other HTTP/1.1\r\n\r\n");
	assert_answer(a, "HTTP/1.1 404 Not Found\r\n", "404 Not Found\n");
	free(a);

	a = exchange(port, "GET /metrics HTTP/1.1\r\nContent-Length: 99\r\n"
	    "\r\n");
	assert_answer(a, "HTTP/1.1 413 ", "413 Content Too Large\n");
	free(a);

	a = exchange(port, "hello\r\n\r\n");
	assert_answer(a, "HTTP/1.1 400 Bad Request\r\n",
	    "400 Bad Request\n");
	free(a);
	ck_assert_int_eq(F.renders, 2);
}
END_TEST

START_TEST(header_too_large)
{
	int fd = client(metrics_port(F.m), 0);
	char chunk[1024];
	bool closed;
	char *a;
	int i;

	ck_assert_int_ge(fd, 0);
	send_all(fd, "GET /metrics HTTP/1.1\r\nX: ");
	memset(chunk, 'a', sizeof(chunk) - 1);
	chunk[sizeof(chunk) - 1] = '\0';
	for (i = 0; i < 8; i++)
		send_all(fd, chunk);
	a = receive(fd, 5000, &closed);
	ck_assert(closed);
	ck_assert_msg(strncmp(a, "HTTP/1.1 431 ", 13) == 0, "%s", a);
	free(a);
	close(fd);
}
END_TEST

/*
 * A client that sends more while it is answered gets its whole answer
 * and then an orderly close: closing with its bytes unread would send a
 * reset, which discards what is not yet delivered.
 */
START_TEST(answer_whole_despite_unread_input)
{
	int fd = client(metrics_port(F.m), 4096);
	bool closed, reset;
	char first[4096], *a, *body;
	ssize_t n = -1;
	int i;

	F.size = 1 << 20;
	ck_assert_int_ge(fd, 0);
	send_all(fd, "GET /metrics HTTP/1.1\r\n\r\n");
	for (i = 0; i < 1000 && n <= 0; i++) {
		run(5);
		n = recv(fd, first, sizeof(first) - 1, 0);
	}
	ck_assert_int_gt(n, 0);
	first[n] = '\0';
	ck_assert_ptr_nonnull(strstr(first, "\r\n\r\n"));
	send_all(fd, "GET /metrics HTTP/1.1\r\n\r\n");
	a = receive_reset(fd, 10000, &closed, &reset);
	ck_assert(closed && !reset);
	body = strstr(first, "\r\n\r\n") + 4;
	ck_assert_uint_eq(strlen(body) + strlen(a), F.size);
	ck_assert_int_eq(F.renders, 1);
	free(a);
	close(fd);
}
END_TEST

/*
 * More idle clients than the cap: the oldest are closed, and a client
 * that sends its request is served.
 */
START_TEST(cap_closes_the_oldest_idle)
{
	int idle[24], i, closed_n = 0;
	bool closed;
	char *a;

	for (i = 0; i < 24; i++) {
		ck_assert_int_ge(idle[i] = client(metrics_port(F.m), 0), 0);
		run(5);
	}
	a = exchange(metrics_port(F.m), "GET /metrics HTTP/1.0\r\n\r\n");
	assert_answer(a, "HTTP/1.1 200 OK\r\n", SMALL);
	free(a);
	for (i = 0; i < 24; i++) {
		free(receive(idle[i], i < 9 ? 1000 : 10, &closed));
		/* The first 9 went to make room; the newest 15 are held. */
		ck_assert_msg(closed == (i < 9), "client %d", i);
		closed_n += closed;
		close(idle[i]);
	}
	ck_assert_int_eq(closed_n, 9);
}
END_TEST

/*
 * Every connection answering a client that does not read: the next
 * client waits in the backlog (nothing is cut for it) and is served as
 * soon as one of them goes.
 */
START_TEST(cap_waits_when_all_answer)
{
	int slow[16], fd, i;
	bool closed;
	char *a;

	F.size = 8 << 20;	/* far more than the socket buffers take */
	for (i = 0; i < 16; i++) {
		ck_assert_int_ge(slow[i] = client(metrics_port(F.m), 4096), 0);
		send_all(slow[i], "GET /metrics HTTP/1.1\r\n\r\n");
	}
	for (i = 0; i < 1000 && F.renders < 16; i++)
		run(10);
	ck_assert_int_eq(F.renders, 16);
	F.size = 0;
	ck_assert_int_ge(fd = client(metrics_port(F.m), 0), 0);
	send_all(fd, "GET /metrics HTTP/1.1\r\n\r\n");
	a = receive(fd, 300, &closed);
	ck_assert_msg(!closed && a[0] == '\0', "answered: %.40s", a);
	free(a);
	ck_assert_int_eq(F.renders, 16);
	close(slow[0]);
	a = receive(fd, 5000, &closed);
	ck_assert(closed);
	assert_answer(a, "HTTP/1.1 200 OK\r\n", SMALL);
	free(a);
	close(fd);
	for (i = 1; i < 16; i++)
		close(slow[i]);
}
END_TEST

/* Out of descriptors: the client waits and is served once there are. */
START_TEST(accepts_again_after_emfile)
{
	struct rlimit rl;
	const char *preload = getenv("LD_PRELOAD");
	int fd, fill[64], n = 0, i;
	bool closed;
	char *a;

	/*
	 * valgrind keeps a limit of its own, and closes what the kernel
	 * accepted over it: the client would be lost.
	 */
	if (preload != NULL && strstr(preload, "valgrind") != NULL)
		return;
	ck_assert_int_ge(fd = client(metrics_port(F.m), 0), 0);
	send_all(fd, "GET /metrics HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = (rlim_t)dup(0) + 32;	/* the lowest free one, +32 */
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	while (n < 64 && (fill[n] = dup(0)) != -1)
		n++;
	ck_assert_int_eq(errno, EMFILE);
	a = receive(fd, 300, &closed);
	ck_assert(!closed && a[0] == '\0');
	free(a);
	for (i = 0; i < n; i++)
		close(fill[i]);
	a = receive(fd, 5000, &closed);
	ck_assert(closed);
	assert_answer(a, "HTTP/1.1 200 OK\r\n", SMALL);
	free(a);
	close(fd);
}
END_TEST

static void
assert_served(int port)
{
	char *a = exchange(port, "GET /metrics HTTP/1.1\r\n\r\n");

	assert_answer(a, "HTTP/1.1 200 OK\r\n", SMALL);
	free(a);
}

START_TEST(rebind_unchanged)
{
	struct cfg_addr same = addr("127.0.0.1:0");
	int port = metrics_port(F.m);

	ck_assert_int_eq(metrics_rebind_prepare(F.m, &same), 0);
	metrics_rebind_commit(F.m);
	ck_assert_int_eq(metrics_port(F.m), port);
	assert_served(port);
}
END_TEST

START_TEST(rebind_commit)
{
	int old = metrics_port(F.m), new = free_port(), early, busy;
	char text[64];
	struct cfg_addr a;
	bool closed;
	char *ans;

	snprintf(text, sizeof(text), "127.0.0.1:%d", new);
	a = addr(text);
	ck_assert_int_eq(metrics_rebind_prepare(F.m, &a), 0);
	/* Both bound; the old one serves until the commit. */
	ck_assert_int_eq(metrics_port(F.m), old);
	assert_served(old);
	ck_assert_int_ge(early = client(new, 0), 0);
	send_all(early, "GET /metrics HTTP/1.1\r\n\r\n");
	/* A request under way on the old listener is finished after it. */
	ck_assert_int_ge(busy = client(old, 0), 0);
	send_all(busy, "GET /metrics HTTP/1.1\r\n");
	run(20);

	metrics_rebind_commit(F.m);
	ck_assert_int_eq(metrics_port(F.m), new);
	ck_assert_int_eq(client(old, 0), -1);
	send_all(busy, "\r\n");
	ans = receive(busy, 5000, &closed);
	assert_answer(ans, "HTTP/1.1 200 OK\r\n", SMALL);
	free(ans);
	ans = receive(early, 5000, &closed);
	assert_answer(ans, "HTTP/1.1 200 OK\r\n", SMALL);
	free(ans);
	close(busy);
	close(early);
	assert_served(new);
	/* Nothing prepared: a second commit changes nothing. */
	metrics_rebind_commit(F.m);
	ck_assert_int_eq(metrics_port(F.m), new);
	assert_served(new);
}
END_TEST

START_TEST(rebind_address_in_use)
{
	int old = metrics_port(F.m), in_use = free_port(), fd;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char text[64];
	struct cfg_addr a;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)in_use);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 1), 0);
	snprintf(text, sizeof(text), "127.0.0.1:%d", in_use);
	a = addr(text);
	ck_assert_int_eq(metrics_rebind_prepare(F.m, &a), -1);
	metrics_rebind_commit(F.m);
	ck_assert_int_eq(metrics_port(F.m), old);
	assert_served(old);
	close(fd);
}
END_TEST

START_TEST(rebind_abort)
{
	int old = metrics_port(F.m), first = free_port(), second;
	char text[64];
	struct cfg_addr a;

	snprintf(text, sizeof(text), "127.0.0.1:%d", first);
	a = addr(text);
	ck_assert_int_eq(metrics_rebind_prepare(F.m, &a), 0);
	/* A second prepare replaces the first. */
	second = free_port();
	snprintf(text, sizeof(text), "127.0.0.1:%d", second);
	a = addr(text);
	ck_assert_int_eq(metrics_rebind_prepare(F.m, &a), 0);
	ck_assert_int_eq(client(first, 0), -1);
	metrics_rebind_abort(F.m);
	ck_assert_int_eq(client(second, 0), -1);
	metrics_rebind_commit(F.m);
	ck_assert_int_eq(metrics_port(F.m), old);
	assert_served(old);
	/* Aborting with nothing prepared is harmless too. */
	metrics_rebind_abort(F.m);
	assert_served(old);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("parse");

	tcase_add_loop_test(tc, parse_table, 0,
	    sizeof(requests) / sizeof(requests[0]));
	tcase_add_test(tc, parse_a_byte_at_a_time);
	tcase_add_test(tc, parse_limit);
	suite_add_tcase(s, tc);

	tc = tcase_create("server");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, answers);
	tcase_add_test(tc, header_too_large);
	tcase_add_test(tc, answer_whole_despite_unread_input);
	tcase_add_test(tc, cap_closes_the_oldest_idle);
	tcase_add_test(tc, cap_waits_when_all_answer);
	tcase_add_test(tc, accepts_again_after_emfile);
	tcase_add_test(tc, rebind_unchanged);
	tcase_add_test(tc, rebind_commit);
	tcase_add_test(tc, rebind_address_in_use);
	tcase_add_test(tc, rebind_abort);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
