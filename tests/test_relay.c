/*
 * test_relay.c - the relay threads on their own: real TCP sockets on
 * loopback, the reports the loop gets, spreading, idle timeout, and
 * what stopping the pool does to open relays.
 *
 * Each relay is two connected pairs: the "client" application talks to
 * client_fd's peer, the "guest" application to guest_fd's peer.
 */
#include <check.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "src/proxy/relay.h"
#include "check_main.h"

struct pair { int app, proxy; };	/* two ends of one connection */

struct conn {
	struct pair	 client, guest;
	uint64_t	 in, out;	/* reported */
	int		 reports_done;
};

static struct event_base *base;
static struct relay_pool *pool;

static void
report(void *arg, void *owner, uint64_t in, uint64_t out, bool done)
{
	struct conn *c = owner;

	ck_assert_ptr_eq(arg, &pool);
	c->in += in;
	c->out += out;
	c->reports_done += done;
}

static struct pair
tcp_pair(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	struct timeval tv = { 10, 0 };
	struct pair p;
	int l = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(l, 1), 0);
	getsockname(l, (struct sockaddr *)&sin, &len);
	p.app = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(p.app, (struct sockaddr *)&sin, len), 0);
	p.proxy = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	ck_assert_int_ge(p.proxy, 0);
	close(l);
	/* A test that goes wrong fails instead of hanging. */
	setsockopt(p.app, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return p;
}

static void
conn_open(struct conn *c)
{
	memset(c, 0, sizeof(*c));
	c->client = tcp_pair();
	c->guest = tcp_pair();
}

static void
conn_add(struct conn *c, const char *held, bool client_eof, bool splice,
    uint64_t idle_ms)
{
	struct relay_spec spec = {
		.client_fd = c->client.proxy,
		.guest_fd = c->guest.proxy,
		.client_eof = client_eof,
		.splice = splice,
		.idle_ms = idle_ms,
		.name = "t",
	};

	if (held != NULL) {
		spec.held = evbuffer_new();
		evbuffer_add(spec.held, held, strlen(held));
	}
	ck_assert_int_eq(relay_pool_add(pool, c, &spec), 0);
}

/* Run the loop (where reports arrive) until c is reported done. */
static void
wait_done(struct conn *c)
{
	time_t end = time(NULL) + 10;

	while (c->reports_done == 0 && time(NULL) < end) {
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
	ck_assert_int_eq(c->reports_done, 1);
}

static void
expect(int fd, const char *want)
{
	char buf[256];
	size_t got = 0, n = strlen(want);
	ssize_t k;

	while (got < n && (k = read(fd, buf + got, n - got)) > 0)
		got += (size_t)k;
	ck_assert_uint_eq(got, n);
	ck_assert(memcmp(buf, want, n) == 0);
}

static void
expect_eof(int fd)
{
	char c;

	ck_assert_int_eq(read(fd, &c, 1), 0);
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static void
setup3(void)
{
	base = event_base_new();
	pool = relay_pool_new(base, 3, report, &pool);
	ck_assert_ptr_nonnull(pool);
}

static void
teardown(void)
{
	relay_pool_free(pool);
	event_base_free(base);
}

static void
conn_close_apps(struct conn *c)
{
	close(c->client.app);
	close(c->guest.app);
}

/*
 * Both ways, the held bytes first, each FIN passed on once what came
 * before it is through; one report of the end, with every byte the
 * thread moved (the held ones are the loop's to count).  Run for copy
 * (_i = 0) and splice (_i = 1).
 */
START_TEST(both_ways_then_fins)
{
	struct conn c;
	int before = count_fds();

	conn_open(&c);
	conn_add(&c, "GET / ", false, _i == 1, 60000);
	ck_assert_int_eq(write(c.client.app, "HTTP/1.0\r\n", 10), 10);
	expect(c.guest.app, "GET / HTTP/1.0\r\n");
	ck_assert_int_eq(write(c.guest.app, "200 OK", 6), 6);
	expect(c.client.app, "200 OK");
	shutdown(c.client.app, SHUT_WR);
	expect_eof(c.guest.app);
	/* Half-closed: the guest may still answer. */
	ck_assert_int_eq(write(c.guest.app, " more", 5), 5);
	expect(c.client.app, " more");
	shutdown(c.guest.app, SHUT_WR);
	expect_eof(c.client.app);
	wait_done(&c);
	ck_assert_uint_eq(c.in, 10);
	ck_assert_uint_eq(c.out, 11);
	/* Reported done once its two sockets are closed. */
	ck_assert_int_eq(count_fds(), before + 2);
	ck_assert_uint_eq(relay_pool_load(pool, 0) + relay_pool_load(pool, 1) +
	    relay_pool_load(pool, 2), 0);
	conn_close_apps(&c);
}
END_TEST

/* A client that sent its request and its FIN while held. */
START_TEST(held_request_and_fin)
{
	struct conn c;

	conn_open(&c);
	conn_add(&c, "ping", true, false, 60000);
	expect(c.guest.app, "ping");
	expect_eof(c.guest.app);
	ck_assert_int_eq(write(c.guest.app, "pong", 4), 4);
	shutdown(c.guest.app, SHUT_WR);
	expect(c.client.app, "pong");
	expect_eof(c.client.app);
	wait_done(&c);
	ck_assert_uint_eq(c.in, 0);
	ck_assert_uint_eq(c.out, 4);
	conn_close_apps(&c);
}
END_TEST

/* Six relays on three threads: two each, and three named threads. */
START_TEST(spread_over_threads)
{
	struct conn c[6];
	struct dirent *e;
	char path[300], name[32];
	int i, named = 0;
	DIR *d;
	FILE *f;

	ck_assert_uint_eq(relay_pool_threads(pool), 3);
	for (i = 0; i < 6; i++) {
		conn_open(&c[i]);
		conn_add(&c[i], NULL, false, false, 60000);
	}
	for (i = 0; i < 3; i++)
		ck_assert_uint_eq(relay_pool_load(pool, (unsigned)i), 2);
	d = opendir("/proc/self/task");
	while ((e = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
		    e->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(name, sizeof(name), f) != NULL &&
		    strcmp(name, "summon-relay\n") == 0)
			named++;
		fclose(f);
	}
	closedir(d);
	ck_assert_int_eq(named, 3);
	/* Every one relays; a client that resets ends its relay. */
	for (i = 0; i < 6; i++) {
		ck_assert_int_eq(write(c[i].client.app, "x", 1), 1);
		expect(c[i].guest.app, "x");
		conn_close_apps(&c[i]);
		wait_done(&c[i]);
		ck_assert_uint_eq(c[i].in, 1);
	}
	for (i = 0; i < 3; i++)
		ck_assert_uint_eq(relay_pool_load(pool, (unsigned)i), 0);
}
END_TEST

/* No byte either way for idle_ms, not even a first one: closed. */
START_TEST(idle_relay_closed)
{
	struct conn c;

	conn_open(&c);
	conn_add(&c, NULL, false, false, 200);
	expect_eof(c.client.app);
	expect_eof(c.guest.app);
	wait_done(&c);
	conn_close_apps(&c);
}
END_TEST

/*
 * Stopping the pool closes what is still relayed (the peers see EOF),
 * leaks no descriptor, and reports nothing afterwards.
 */
START_TEST(free_closes_open_relays)
{
	struct conn c[2];
	int before = count_fds(), i;

	for (i = 0; i < 2; i++) {
		conn_open(&c[i]);
		conn_add(&c[i], "held", false, i == 1, 60000);
	}
	expect(c[0].guest.app, "held");
	relay_pool_free(pool);
	pool = relay_pool_new(base, 3, report, &pool);	/* as many fds */
	for (i = 0; i < 2; i++) {
		expect_eof(c[i].client.app);
		conn_close_apps(&c[i]);
		ck_assert_int_eq(c[i].reports_done, 0);
	}
	event_base_loop(base, EVLOOP_NONBLOCK);
	ck_assert_int_eq(c[0].reports_done + c[1].reports_done, 0);
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("relay");
	TCase *tc = tcase_create("relay");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup3, teardown);
	tcase_add_loop_test(tc, both_ways_then_fins, 0, 2);
	tcase_add_test(tc, held_request_and_fin);
	tcase_add_test(tc, spread_over_threads);
	tcase_add_test(tc, idle_relay_closed);
	tcase_add_test(tc, free_closes_open_relays);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
