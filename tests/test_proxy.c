/*
 * test_proxy.c - the proxy with real sockets and a simulated guest.
 *
 * The lifecycle runs on the scripted vm backend in user network mode,
 * so a "ready" guest is reached at 127.0.0.1:<first user port>; the
 * test listens there itself (an echo server on a thread) and makes
 * boots succeed by writing the ready line into the serial log.  Clients
 * are threads with blocking sockets; the main thread runs the loop.
 */
#include <check.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "lifecycle.h"
#include "proxy.h"
#include "store.h"
#include "vm.h"
#include "vm_script.h"
#include "check_main.h"


struct fixture {
	char			 dir[64];
	struct config		*cfg;
	struct store		*store;
	struct event_base	*base;
	struct lifecycle	*lc;
	struct proxy		*proxy;
	uint16_t		 port;		/* the proxy's public port */
	uint16_t		 port2;		/* a second public port (route) */
	uint16_t		 guest_port;	/* the guest's: first user port */
	int			 guest_fd[2];	/* the simulated guest's ports */
	pthread_t		 guest[2];
	int			 nguest;
};

static struct fixture F;

static uint16_t
free_port(in_addr_t host)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(host);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	close(fd);
	return ntohs(sin.sin_port);
}

/* A free port whose next one is free too (a guest with two ports). */
static uint16_t
free_port_pair(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	uint16_t port;
	int fd, ok;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	do {
		port = free_port(INADDR_LOOPBACK);
		sin.sin_port = htons(port + 1);
		fd = socket(AF_INET, SOCK_STREAM, 0);
		ok = port < 65535 &&
		    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(fd);
	} while (!ok);
	return port;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void
guest_of_boots(const char *service, int instance)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/serial/summon-%s-%d.log", F.dir,
	    service, instance);
	write_file(path, "READY\n");
}

static void
guest_boots(int instance)
{
	guest_of_boots("a", instance);
}

/* The guest: echo every byte back, half-close after the client does. */
static void *
echo_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		ssize_t off = 0;
		while (off < n) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));
			if (w <= 0)
				goto done;
			off += w;
		}
	}
	shutdown(fd, SHUT_WR);
done:
	close(fd);
	return NULL;
}

static void *
guest_main(void *arg)
{
	int lfd = (int)(intptr_t)arg, fd;
	pthread_t t;

	while ((fd = accept(lfd, NULL, NULL)) != -1) {
		pthread_create(&t, NULL, echo_conn, (void *)(intptr_t)fd);
		pthread_detach(t);
	}
	return NULL;
}

/* The guest's i-th port (from guest_port up) echoes. */
static void
start_guest_port(int i)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int one = 1, fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(F.guest_port + i);
	fd = F.guest_fd[i] = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	ck_assert_int_eq(listen(fd, 128), 0);
	pthread_create(&F.guest[i], NULL, guest_main, (void *)(intptr_t)fd);
	F.nguest = i + 1;
}

/* The test's configuration, with its one service called name. */
static struct config *
make_config(const char *proxy_extra, const char *name, const char *svc_extra)
{
	struct config *cfg;
	char text[4096];
	int n;

	snprintf(text, sizeof(text),
	    "[summond]\nstate = %s/state.db\nhypervisor = script:///\n"
	    "serial-dir = %s/serial\n"
	    "[dns]\nlisten =\n[metrics]\nlisten =\n"
	    "[proxy]\n%s"
	    "[network]\nmode = user\nuser-ports = %d-%d\n"
	    "[service \"%s\"]\nkernel = /k\naddress = 127.0.0.2\n"
	    "ports = %u:80\ntemplate = %s/test.xml\nready = serial:READY\n%s",
	    F.dir, F.dir, proxy_extra, F.guest_port, F.guest_port + 9, name,
	    F.port, F.dir, svc_extra);
	cfg = config_load_string("test.conf", text, stderr, &n);
	ck_assert_ptr_nonnull(cfg);
	return cfg;
}

static void
setup_with(const char *proxy_extra, const char *svc_extra)
{
	char path[128], err[256];

	snprintf(F.dir, sizeof(F.dir), "/tmp/test_proxy.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(F.dir));
	snprintf(path, sizeof(path), "%s/serial", F.dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/test.xml", F.dir);
	write_file(path, "<domain type='test'><name>${name}</name>"
	    "<memory unit='KiB'>${memory_kib}</memory><os><type>hvm</type>"
	    "</os></domain>\n");
	F.port = free_port(INADDR_LOOPBACK + 1);	/* the service's */
	/* Ephemeral, so that two runs at once do not collide. */
	F.guest_port = free_port_pair();
	F.cfg = make_config(proxy_extra, "a", svc_extra);
	snprintf(path, sizeof(path), "%s/state.db", F.dir);
	F.store = store_open(path, err, sizeof(err));
	ck_assert_ptr_nonnull(F.store);
	F.base = event_base_new();
	F.lc = lifecycle_new(F.base, F.cfg, F.store, &vm_script_ops, err,
	    sizeof(err));
	ck_assert_msg(F.lc != NULL, "%s", err);
	F.proxy = proxy_new(F.base, F.cfg, F.lc);
	ck_assert_ptr_nonnull(F.proxy);
	start_guest_port(0);
}

static void setup(void) { setup_with("", "boot-timeout = 10s\n"); }

static void
teardown(void)
{
	char cmd[128];
	int i;

	proxy_free(F.proxy);
	lifecycle_free(F.lc);
	event_base_free(F.base);
	store_close(F.store);
	config_free(F.cfg);
	for (i = 0; i < F.nguest; i++) {
		shutdown(F.guest_fd[i], SHUT_RDWR);
		close(F.guest_fd[i]);
		pthread_join(F.guest[i], NULL);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", F.dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* ---- clients on threads ------------------------------------------- */

struct client {
	pthread_t	 t;
	size_t		 nbytes;	/* to send, then expect back */
	bool		 hangup_early;	/* connect, then close at once */
	atomic_int	 done;
	int		 result;	/* 0 ok; else what went wrong */
	size_t		 got;
	uint64_t	 sum_sent, sum_got;
};

static int
connect_proxy(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { 30, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, "127.0.0.2", &sin.sin_addr);
	sin.sin_port = htons(F.port);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1) {
		close(fd);
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static uint8_t
pattern(size_t i)
{
	return (uint8_t)(i * 2654435761u >> 13);
}

struct sender { int fd; size_t n; uint64_t sum; };

static void *
send_all(void *arg)
{
	struct sender *s = arg;
	uint8_t buf[65536];
	size_t off = 0, i, k;

	while (off < s->n) {
		k = s->n - off < sizeof(buf) ? s->n - off : sizeof(buf);
		for (i = 0; i < k; i++) {
			buf[i] = pattern(off + i);
			s->sum = s->sum * 31 + buf[i];
		}
		if (write(s->fd, buf, k) != (ssize_t)k)
			return NULL;
		off += k;
	}
	shutdown(s->fd, SHUT_WR);	/* half-close: the echo goes on */
	return NULL;
}

static void *
client_main(void *arg)
{
	struct client *c = arg;
	struct sender s;
	pthread_t t;
	uint8_t buf[65536];
	ssize_t n, i;
	int fd = connect_proxy();

	if (fd == -1) {
		c->result = 1;
		goto out;
	}
	if (c->hangup_early) {
		close(fd);
		goto out;
	}
	s.fd = fd;
	s.n = c->nbytes;
	s.sum = 0;
	pthread_create(&t, NULL, send_all, &s);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < n; i++) {
			if (buf[i] != pattern(c->got + (size_t)i) && !c->result)
				c->result = 3;
			c->sum_got = c->sum_got * 31 + buf[i];
		}
		c->got += (size_t)n;
	}
	if (n < 0)
		c->result = c->result ? c->result : 4;
	pthread_join(t, NULL);
	c->sum_sent = s.sum;
	close(fd);
out:
	atomic_store(&c->done, 1);
	return NULL;
}

static void
run_until_done(struct client *cs, size_t n, int seconds)
{
	time_t end = time(NULL) + seconds;
	size_t i, ndone;

	do {
		event_base_loop(F.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		for (i = 0, ndone = 0; i < n; i++)
			ndone += (size_t)atomic_load(&cs[i].done);
		if (ndone < n)
			usleep(200);
	} while (ndone < n && time(NULL) < end);
	ck_assert_msg(ndone == n, "%zu of %zu clients finished", ndone, n);
	for (i = 0; i < n; i++)
		pthread_join(cs[i].t, NULL);
}

static void
run_for_ms(int ms)
{
	int i;

	for (i = 0; i < ms * 5; i++) {
		event_base_loop(F.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(200);
	}
}

static struct proxy_stats
stats(void)
{
	struct proxy_stats st;

	proxy_service_stats(F.proxy, "a", &st);
	return st;
}

/*
 * Run the loop until no connection is held or relayed: the relay
 * threads report a connection's last bytes when they have closed it,
 * which may be after its client saw the end.
 */
static void
run_until_closed(void)
{
	time_t end = time(NULL) + 10;

	while ((stats().open > 0 || stats().held > 0) && time(NULL) < end)
		run_for_ms(1);
	ck_assert_uint_eq(stats().open, 0);
	ck_assert_uint_eq(stats().held, 0);
}

/* ---- tests --------------------------------------------------------- */

START_TEST(cold_client_held_then_relayed)
{
	struct client c = { .nbytes = 1000 };

	pthread_create(&c.t, NULL, client_main, &c);
	run_for_ms(200);		/* the boot "takes" 200 ms */
	ck_assert_uint_eq(stats().held, 1);
	guest_boots(1);
	run_until_done(&c, 1, 20);
	ck_assert_int_eq(c.result, 0);
	ck_assert_uint_eq(c.got, 1000);
	ck_assert_uint_eq(c.sum_got, c.sum_sent);
	ck_assert_uint_eq(stats().connections, 1);
	ck_assert_uint_eq(stats().held, 0);
	ck_assert_uint_eq(proxy_hold_hist(F.proxy)->total, 1);
	ck_assert_uint_ge(proxy_hold_hist(F.proxy)->sum_us, 200000);
}
END_TEST

/* 100 MB each way, byte-exact, ended by a half-close from the client. */
START_TEST(bulk_both_ways_byte_exact)
{
	struct client c = { .nbytes = 100u << 20 };

	guest_boots(1);
	pthread_create(&c.t, NULL, client_main, &c);
	run_until_done(&c, 1, 120);
	ck_assert_int_eq(c.result, 0);
	ck_assert_uint_eq(c.got, 100u << 20);
	ck_assert_uint_eq(c.sum_got, c.sum_sent);
	run_until_closed();
	ck_assert_uint_eq(stats().bytes_in, 100u << 20);
	ck_assert_uint_eq(stats().bytes_out, 100u << 20);
}
END_TEST

START_TEST(stampede_one_boot)
{
	struct client cs[64];
	struct lc_info info;
	size_t i;

	memset(cs, 0, sizeof(cs));
	for (i = 0; i < 64; i++) {
		cs[i].nbytes = 5000 + i;
		pthread_create(&cs[i].t, NULL, client_main, &cs[i]);
	}
	run_for_ms(100);
	guest_boots(1);
	run_until_done(cs, 64, 30);
	for (i = 0; i < 64; i++) {
		ck_assert_int_eq(cs[i].result, 0);
		ck_assert_uint_eq(cs[i].got, 5000 + i);
	}
	ck_assert_int_eq(lifecycle_info(F.lc, "a", &info), 0);
	ck_assert_uint_eq(info.boots, 1);
	ck_assert_uint_eq(stats().connections, 64);
}
END_TEST

static void setup_max_held(void)
{
	/* Long enough for all three to be there under valgrind too. */
	setup_with("max-held = 2\nhold-timeout = 2s\n",
	    "boot-timeout = 10s\n");
}

START_TEST(max_held_and_hold_timeout)
{
	struct client cs[3];
	size_t i;

	memset(cs, 0, sizeof(cs));
	for (i = 0; i < 3; i++) {
		cs[i].nbytes = 10;
		pthread_create(&cs[i].t, NULL, client_main, &cs[i]);
		run_for_ms(20);
	}
	run_until_done(cs, 3, 10);
	for (i = 0; i < 3; i++)
		ck_assert_uint_eq(cs[i].got, 0);	/* closed, not served */
	ck_assert_uint_eq(stats().refused[PROXY_REFUSED_MAX_HELD], 1);
	ck_assert_uint_eq(stats().refused[PROXY_REFUSED_HOLD_TIMEOUT], 2);
	ck_assert_uint_eq(stats().held, 0);
}
END_TEST

static void setup_short_boot(void)
{
	setup_with("hold-timeout = 60s\n", "boot-timeout = 300ms\n");
}

START_TEST(failed_boot_closes_promptly)
{
	struct client c = { .nbytes = 10 };
	time_t t0 = time(NULL);

	pthread_create(&c.t, NULL, client_main, &c);
	run_until_done(&c, 1, 20);	/* never ready: boot-timeout 300 ms */
	ck_assert_int_le(time(NULL) - t0, 5);	/* not hold-timeout's 60 s */
	ck_assert_uint_eq(c.got, 0);
	ck_assert_uint_eq(stats().refused[PROXY_REFUSED_BOOT_FAILED], 1);
}
END_TEST

START_TEST(client_leaving_while_held)
{
	struct client cs[10];
	size_t i;

	memset(cs, 0, sizeof(cs));
	for (i = 0; i < 10; i++) {
		cs[i].hangup_early = true;
		pthread_create(&cs[i].t, NULL, client_main, &cs[i]);
	}
	run_until_done(cs, 10, 10);
	run_for_ms(100);
	ck_assert_uint_eq(stats().connections, 10);
	ck_assert_uint_eq(stats().held, 0);
	ck_assert_uint_eq(stats().open, 0);
}
END_TEST

/* proxy_reload_prepare() and, when it worked, commit: 0 or -1. */
static int
reload(const struct config *cfg)
{
	struct proxy_reload *r;
	char err[256];

	if ((r = proxy_reload_prepare(F.proxy, cfg, err, sizeof(err))) ==
	    NULL)
		return -1;
	proxy_reload_commit(F.proxy, r);
	return 0;
}

START_TEST(reload_keeps_listener_and_connections)
{
	struct client c = { .nbytes = 2000 };

	pthread_create(&c.t, NULL, client_main, &c);
	run_for_ms(100);
	ck_assert_uint_eq(stats().held, 1);
	/* The same configuration again: the held client stays held. */
	ck_assert_int_eq(reload(F.cfg), 0);
	ck_assert_uint_eq(stats().held, 1);
	ck_assert_uint_eq(proxy_bound_port(F.proxy, "a", F.port), F.port);
	guest_boots(1);
	run_until_done(&c, 1, 20);
	ck_assert_int_eq(c.result, 0);
	ck_assert_uint_eq(c.got, 2000);
}
END_TEST

/* A service renamed on the same address and port takes the listener
 * over (binding the port twice would fail the reload). */
START_TEST(rename_takes_the_listener_over)
{
	struct config *renamed = make_config("", "b", "boot-timeout = 10s\n");

	ck_assert_int_eq(reload(renamed), 0);
	ck_assert_uint_eq(proxy_bound_port(F.proxy, "b", F.port), F.port);
	ck_assert_uint_eq(proxy_bound_port(F.proxy, "a", F.port), 0);
	ck_assert_int_eq(reload(F.cfg), 0);
	ck_assert_uint_eq(proxy_bound_port(F.proxy, "a", F.port), F.port);
	ck_assert_uint_eq(proxy_bound_port(F.proxy, "b", F.port), 0);
	config_free(renamed);
	/* And it still serves, under the old name again. */
	struct client c = { .nbytes = 2000 };

	guest_boots(1);
	pthread_create(&c.t, NULL, client_main, &c);
	run_until_done(&c, 1, 20);
	ck_assert_int_eq(c.result, 0);
	ck_assert_uint_eq(c.got, 2000);
}
END_TEST

static int
count_pipes(void)
{
	char path[64], target[64];
	int fd, n = 0;
	ssize_t k;

	for (fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		k = readlink(path, target, sizeof(target) - 1);
		if (k > 0) {
			target[k] = '\0';
			n += strncmp(target, "pipe:", 5) == 0;
		}
	}
	return n;
}

/* relay = splice: a pipe per direction while relaying, none after. */
START_TEST(splice_pipes_per_direction)
{
	struct client c = { .nbytes = 20u << 20 };
	int before = count_pipes(), most = before, now, i;

	guest_boots(1);
	pthread_create(&c.t, NULL, client_main, &c);
	for (i = 0; i < 200000 && !atomic_load(&c.done); i++) {
		event_base_loop(F.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		if (i % 64 == 0 && (now = count_pipes()) > most)
			most = now;
		usleep(50);
	}
	run_until_done(&c, 1, 60);
	ck_assert_int_eq(c.result, 0);
	ck_assert_uint_eq(c.sum_got, c.sum_sent);
	ck_assert_int_eq(most - before, 4);	/* two pipes, two ends each */
	run_until_closed();
	ck_assert_int_eq(count_pipes(), before);
}
END_TEST

static void setup_splice(void)
{
	setup_with("relay = splice\n", "boot-timeout = 10s\n");
}

/* ---- shared listeners ------------------------------------------------ */

#define ROUTE_HEAD \
	"[summond]\nstate = %s/state.db\nhypervisor = script:///\n" \
	"serial-dir = %s/serial\n" \
	"[dns]\nlisten =\nzone = svc.example\n[metrics]\nlisten =\n" \
	"[network]\nmode = user\nuser-ports = %d-%d\n"
#define ROUTE_SERVICE \
	"[service \"%s\"]\nkernel = /k\naddress = 127.0.0.2\n" \
	"template = %s/test.xml\nready = serial:READY\n" \
	"boot-timeout = 10s\n"

/*
 * web and b share port (Host) and port2 (SNI), their guest ports 80 and
 * 443 the guest's first two; c is the default on port only.
 */
static struct config *
route_config(void)
{
	struct config *cfg;
	char text[4096];
	size_t n = 0;
	int nerr;

	n += (size_t)snprintf(text + n, sizeof(text) - n, ROUTE_HEAD, F.dir,
	    F.dir, F.guest_port, F.guest_port + 9);
	n += (size_t)snprintf(text + n, sizeof(text) - n, ROUTE_SERVICE
	    "ports = %u:80/host %u:443/sni\n", "web", F.dir, F.port, F.port2);
	n += (size_t)snprintf(text + n, sizeof(text) - n, ROUTE_SERVICE
	    "ports = %u:80/host %u:443/sni\nnames = b b2\n", "b", F.dir,
	    F.port, F.port2);
	snprintf(text + n, sizeof(text) - n, ROUTE_SERVICE
	    "ports = %u:80/host\nroute-default = yes\n", "c", F.dir, F.port);
	cfg = config_load_string("route.conf", text, stderr, &nerr);
	ck_assert_ptr_nonnull(cfg);
	return cfg;
}

static void
setup_route(void)
{
	char err[256];

	setup_with("", "boot-timeout = 10s\n");
	/* The same fixture, on the shared configuration instead. */
	proxy_free(F.proxy);
	lifecycle_free(F.lc);
	config_free(F.cfg);
	F.port2 = free_port(INADDR_LOOPBACK + 1);	/* the services' */
	F.cfg = route_config();
	F.lc = lifecycle_new(F.base, F.cfg, F.store, &vm_script_ops, err,
	    sizeof(err));
	ck_assert_msg(F.lc != NULL, "%s", err);
	F.proxy = proxy_new(F.base, F.cfg, F.lc);
	ck_assert_ptr_nonnull(F.proxy);
	/* setup_with() started the guest's first port, this its second. */
	start_guest_port(1);
}

/* A client that sends its bytes a few at a time, then reads to the end. */
struct rclient {
	pthread_t	 t;
	uint16_t	 port;
	const uint8_t	*data;
	size_t		 n, step;
	uint8_t		 got[65536];
	size_t		 ngot;
	atomic_int	 done;
};

static void *
rclient_main(void *arg)
{
	struct rclient *c = arg;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct timeval tv = { 30, 0 };
	size_t off, k;
	ssize_t n;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	inet_pton(AF_INET, "127.0.0.2", &sin.sin_addr);
	sin.sin_port = htons(c->port);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		goto out;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* Each piece its own segment. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (off = 0; off < c->n; off += k) {
		k = c->n - off < c->step ? c->n - off : c->step;
		if (write(fd, c->data + off, k) != (ssize_t)k)
			break;
		usleep(1000);
	}
	shutdown(fd, SHUT_WR);
	while (c->ngot < sizeof(c->got) && (n = read(fd, c->got + c->ngot,
	    sizeof(c->got) - c->ngot)) > 0)
		c->ngot += (size_t)n;
out:
	close(fd);
	atomic_store(&c->done, 1);
	return NULL;
}

/* Send data to port step bytes at a time; booting service, if any. */
static void
route_one(struct rclient *c, uint16_t port, const void *data, size_t n,
    size_t step, const char *boots)
{
	time_t end = time(NULL) + 20;

	memset(c, 0, sizeof(*c));
	c->port = port;
	c->data = data;
	c->n = n;
	c->step = step;
	pthread_create(&c->t, NULL, rclient_main, c);
	if (boots != NULL) {
		run_for_ms(100);
		guest_of_boots(boots, 1);
	}
	while (!atomic_load(&c->done) && time(NULL) < end)
		run_for_ms(1);
	ck_assert(atomic_load(&c->done));
	pthread_join(c->t, NULL);
}

static uint64_t
wakes(const char *service)
{
	struct lc_info info;

	ck_assert_int_eq(lifecycle_info(F.lc, service, &info), 0);
	return info.wakes[LC_SRC_CONNECT];
}

static struct proxy_stats
stats_of(const char *service)
{
	struct proxy_stats st;

	proxy_service_stats(F.proxy, service, &st);
	return st;
}

static void
load_hello(const char *name, uint8_t *buf, size_t *n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/route/%s", SRCDIR,
	    name);
	ck_assert_ptr_nonnull(f = fopen(path, "rb"));
	*n = fread(buf, 1, 65536, f);
	fclose(f);
}

START_TEST(route_by_host_header)
{
	static const char req[] = "POST /x HTTP/1.1\r\nHost: B2.svc.example."
	    ":8080\r\nContent-Length: 5\r\n\r\nhello";
	static struct rclient c;

	route_one(&c, F.port, req, sizeof(req) - 1, 5, "b");
	/* The guest (an echo) got the request as it was sent. */
	ck_assert_uint_eq(c.ngot, sizeof(req) - 1);
	ck_assert_mem_eq(c.got, req, sizeof(req) - 1);
	ck_assert_uint_eq(stats_of("b").routed_name, 1);
	ck_assert_uint_eq(stats_of("b").connections, 1);
	ck_assert_uint_eq(stats_of("web").connections, 0);
	ck_assert_uint_eq(wakes("b"), 1);
	ck_assert_uint_eq(wakes("web"), 0);
	ck_assert_uint_eq(wakes("c"), 0);
}
END_TEST

/* A real ClientHello, a few bytes a segment: the guest reads it whole. */
START_TEST(route_by_sni_replays_the_hello)
{
	static uint8_t hello[65536];
	static struct rclient c;
	size_t n;

	load_hello("tls13-openssl", hello, &n);		/* web.svc.example */
	route_one(&c, F.port2, hello, n, 7, "web");
	ck_assert_uint_eq(c.ngot, n);
	ck_assert_mem_eq(c.got, hello, n);
	ck_assert_uint_eq(stats_of("web").routed_name, 1);
	ck_assert_uint_eq(wakes("web"), 1);
	ck_assert_uint_eq(wakes("b"), 0);
	ck_assert_uint_eq(proxy_bound_port(F.proxy, "web", F.port2), F.port2);
	ck_assert_uint_eq(proxy_bound_port(F.proxy, "c", F.port2), 0);
}
END_TEST

struct shared { struct proxy_shared_stats st[4]; char at[4][64]; int n; };

static void
shared_add(void *arg, const struct proxy_shared_stats *st)
{
	struct shared *sh = arg;

	snprintf(sh->at[sh->n], sizeof(sh->at[0]), "%s %s", st->listener,
	    st->route);
	sh->st[sh->n++] = *st;
}

/* The stats of the listener on port, checking that it is known. */
static struct proxy_shared_stats
shared_of(const char *service, uint16_t port, const char *route)
{
	struct shared sh = { .n = 0 };
	char want[64];
	int i;

	proxy_foreach_shared(F.proxy, service, shared_add, &sh);
	snprintf(want, sizeof(want), "127.0.0.2:%u %s", port, route);
	for (i = 0; i < sh.n; i++)
		if (strcmp(sh.at[i], want) == 0)
			return sh.st[i];
	ck_abort_msg("no shared listener %s", want);
	return sh.st[0];
}

START_TEST(route_default_and_refusals)
{
	static const char no_host[] = "GET / HTTP/1.0\r\n\r\n";
	static const uint8_t alert[] = { 21, 3, 3, 0, 2, 2, 112 };
	static const uint8_t junk[] = { 22, 3, 1, 0, 0 };
	static uint8_t hello[65536];
	static struct rclient c;
	struct shared sh = { .n = 0 };
	size_t n;

	/* Port has a default (c), port2 has none. */
	route_one(&c, F.port, no_host, sizeof(no_host) - 1, 100, "c");
	ck_assert_uint_eq(c.ngot, sizeof(no_host) - 1);
	ck_assert_uint_eq(stats_of("c").routed_default, 1);
	load_hello("tls-no-sni", hello, &n);
	route_one(&c, F.port2, hello, n, 1000, NULL);
	ck_assert_uint_eq(c.ngot, sizeof(alert));
	ck_assert_mem_eq(c.got, alert, sizeof(alert));
	load_hello("tls13-openssl", hello, &n);
	memcpy(memmem(hello, n, "web.svc", 7), "xyz", 3);
	route_one(&c, F.port2, hello, n, 1000, NULL);
	ck_assert_uint_eq(c.ngot, sizeof(alert));
	route_one(&c, F.port2, junk, sizeof(junk), 100, NULL);
	ck_assert_uint_eq(c.ngot, 0);
	/* A ClientHello is no request head; no default for that. */
	route_one(&c, F.port, hello, n, 1000, NULL);
	ck_assert_uint_eq(c.ngot, 0);

	ck_assert_uint_eq(shared_of(NULL, F.port2, "sni").refused[
	    PROXY_ROUTE_NO_NAME], 1);
	ck_assert_uint_eq(shared_of(NULL, F.port2, "sni").refused[
	    PROXY_ROUTE_NO_MATCH], 1);
	ck_assert_uint_eq(shared_of(NULL, F.port2, "sni").refused[
	    PROXY_ROUTE_MALFORMED], 1);
	ck_assert_uint_eq(shared_of(NULL, F.port2, "sni").connections, 3);
	ck_assert_uint_eq(shared_of("c", F.port, "host").refused[
	    PROXY_ROUTE_MALFORMED], 1);
	ck_assert_uint_eq(shared_of("c", F.port, "host").peeking, 0);
	/* c is on the Host port only. */
	proxy_foreach_shared(F.proxy, "c", shared_add, &sh);
	ck_assert_int_eq(sh.n, 1);
	ck_assert_uint_eq(wakes("web") + wakes("b"), 0);
	ck_assert_str_eq(proxy_route_refusal_name(PROXY_ROUTE_PEEK_TIMEOUT),
	    "peek_timeout");
}
END_TEST

/*
 * A port of one service becomes shared, and back, by reloads: the
 * socket is handed over each time (binding it again would fail), and
 * it serves throughout.
 */
START_TEST(reload_shares_a_port_and_back)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: a.svc.example"
	    "\r\n\r\n";
	static struct rclient c;
	struct config *shared;
	char text[4096];
	size_t n = 0;
	int nerr;

	n += (size_t)snprintf(text + n, sizeof(text) - n, ROUTE_HEAD, F.dir,
	    F.dir, F.guest_port, F.guest_port + 9);
	n += (size_t)snprintf(text + n, sizeof(text) - n, ROUTE_SERVICE
	    "ports = %u:80/host\n", "a", F.dir, F.port);
	snprintf(text + n, sizeof(text) - n, ROUTE_SERVICE
	    "ports = %u:80/host\n", "b", F.dir, F.port);
	shared = config_load_string("shared.conf", text, stderr, &nerr);
	ck_assert_ptr_nonnull(shared);

	ck_assert_int_eq(reload(shared), 0);
	ck_assert_uint_eq(proxy_bound_port(F.proxy, "a", F.port), F.port);
	ck_assert_uint_eq(proxy_bound_port(F.proxy, "b", F.port), F.port);
	route_one(&c, F.port, req, sizeof(req) - 1, 100, "a");
	ck_assert_uint_eq(c.ngot, sizeof(req) - 1);
	ck_assert_uint_eq(stats().routed_name, 1);

	ck_assert_int_eq(reload(F.cfg), 0);
	ck_assert_uint_eq(proxy_bound_port(F.proxy, "a", F.port), F.port);
	ck_assert_uint_eq(proxy_bound_port(F.proxy, "b", F.port), 0);
	config_free(shared);
	route_one(&c, F.port, req, sizeof(req) - 1, 100, NULL);
	ck_assert_uint_eq(c.ngot, sizeof(req) - 1);
	ck_assert_uint_eq(stats().routed_name, 1);
	ck_assert_uint_eq(stats().connections, 2);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("proxy");
	TCase *tc;

	tc = tcase_create("relay");
	tcase_set_timeout(tc, 180);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, cold_client_held_then_relayed);
	tcase_add_test(tc, bulk_both_ways_byte_exact);
	tcase_add_test(tc, stampede_one_boot);
	tcase_add_test(tc, client_leaving_while_held);
	tcase_add_test(tc, reload_keeps_listener_and_connections);
	tcase_add_test(tc, rename_takes_the_listener_over);
	tcase_add_test(tc, reload_shares_a_port_and_back);
	suite_add_tcase(s, tc);

	tc = tcase_create("splice");
	tcase_set_timeout(tc, 180);
	tcase_add_checked_fixture(tc, setup_splice, teardown);
	tcase_add_test(tc, cold_client_held_then_relayed);
	tcase_add_test(tc, bulk_both_ways_byte_exact);
	tcase_add_test(tc, splice_pipes_per_direction);
	suite_add_tcase(s, tc);

	tc = tcase_create("limits");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup_max_held, teardown);
	tcase_add_test(tc, max_held_and_hold_timeout);
	suite_add_tcase(s, tc);

	tc = tcase_create("route");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup_route, teardown);
	tcase_add_test(tc, route_by_host_header);
	tcase_add_test(tc, route_by_sni_replays_the_hello);
	tcase_add_test(tc, route_default_and_refusals);
	suite_add_tcase(s, tc);

	tc = tcase_create("failure");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup_short_boot, teardown);
	tcase_add_test(tc, failed_boot_closes_promptly);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
