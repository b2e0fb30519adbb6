/*
 * summonctl.c - summonctl(8): the operator's command line for summond.
 *
 * One request over the control socket, then the answer printed as an
 * aligned table or, with --json, as JSON.  Exit 0 on success, 1 on an
 * error (one line on stderr), 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "build_config.h"
#include "control.h"
#include "ctl_format.h"

#define DEFAULT_SOCKET	"/run/summon/summond.sock"
#define DEFAULT_TIMEOUT_MS 10000
#define EX_OK		0
#define EX_ERR		1
#define EX_USAGE	2

static const char *socket_path = DEFAULT_SOCKET;
static bool json_out;
static int64_t timeout_ms = DEFAULT_TIMEOUT_MS;	/* 0: none */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: summonctl [-s SOCKET] [-t SECONDS] [--json] list\n"
	    "       summonctl [-s SOCKET] [-t SECONDS] [--json] status "
	    "SERVICE\n"
	    "       summonctl [-s SOCKET] [-t SECONDS] boot SERVICE\n"
	    "       summonctl [-s SOCKET] [-t SECONDS] reap SERVICE... | "
	    "--idle | --all\n"
	    "       summonctl [-s SOCKET] [-t SECONDS] [--json] events "
	    "[-n N] [--follow] [SERVICE]\n"
	    "       summonctl [-s SOCKET] [-t SECONDS] reload\n"
	    "       summonctl [-s SOCKET] [-t SECONDS] [--json] hosts\n");
}

static int
die_usage(const char *msg)
{
	if (msg != NULL)
		fprintf(stderr, "summonctl: %s\n", msg);
	usage(stderr);
	return EX_USAGE;
}

/*
 * The connection to summond: the socket, what was read beyond the last
 * line, and the deadline (monotonic ms, -1 for none) by which the
 * answer must be in.
 */
struct conn {
	int		 fd;
	char		*buf;
	size_t		 len, cap;
	int64_t		 deadline_ms;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
timed_out(const char *what)
{
	fprintf(stderr, "summonctl: %s within %.3g s (-t SECONDS to wait "
	    "longer)\n", what, (double)timeout_ms / 1000);
	exit(EX_ERR);
}

/* Milliseconds left for poll(): -1 for no deadline; exits once passed. */
static int
time_left(const struct conn *c, const char *what)
{
	int64_t left;

	if (c->deadline_ms < 0)
		return -1;
	if ((left = c->deadline_ms - now_ms()) <= 0)
		timed_out(what);
	return left > INT_MAX ? INT_MAX : (int)left;
}

/* Wait until c's socket is ready for events, or exit at the deadline. */
static void
wait_fd(struct conn *c, short events, const char *what)
{
	struct pollfd pfd = { .fd = c->fd, .events = events };
	int n;

	while ((n = poll(&pfd, 1, time_left(c, what))) <= 0) {
		if (n == 0)
			timed_out(what);
		if (errno != EINTR) {
			fprintf(stderr, "summonctl: poll: %s\n",
			    strerror(errno));
			exit(EX_ERR);
		}
	}
}

/* The one connection of this run, closed at exit. */
static struct conn the_conn = { .fd = -1 };

static void
conn_close(void)
{
	if (the_conn.fd != -1)
		close(the_conn.fd);
	free(the_conn.buf);
}

/*
 * Connect to summond, within the deadline; on failure print why, in one
 * line, and exit 1.  A summond whose listen queue is full (it accepts
 * nobody) makes connect() fail with EAGAIN: retried until the deadline.
 */
static struct conn *
connect_daemon(void)
{
	struct conn *c = &the_conn;
	struct sockaddr_un sun;
	const char *what = "summond did not accept the connection";

	c->deadline_ms = timeout_ms > 0 ? now_ms() + timeout_ms : -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(socket_path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "summonctl: socket path too long: %s\n",
		    socket_path);
		exit(EX_ERR);
	}
	strcpy(sun.sun_path, socket_path);
	if ((c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0)) == -1) {
		fprintf(stderr, "summonctl: socket: %s\n", strerror(errno));
		exit(EX_ERR);
	}
	while (connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (errno == EAGAIN || errno == EINTR) {
			int left = time_left(c, what);

			poll(NULL, 0, left >= 0 && left < 20 ? left : 20);
			continue;
		}
		if (errno == ENOENT || errno == ECONNREFUSED)
			fprintf(stderr, "summonctl: summond is not running "
			    "(nothing listens on %s)\n", socket_path);
		else if (errno == EACCES || errno == EPERM)
			fprintf(stderr, "summonctl: permission denied on %s "
			    "(need its owner or group)\n", socket_path);
		else
			fprintf(stderr, "summonctl: %s: %s\n", socket_path,
			    strerror(errno));
		exit(EX_ERR);
	}
	return c;
}

/* Write all of line, within the deadline. */
static void
conn_write(struct conn *c, const char *line)
{
	size_t off = 0, len = strlen(line);
	ssize_t n;

	while (off < len) {
		if ((n = write(c->fd, line + off, len - off)) > 0) {
			off += (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
			wait_fd(c, POLLOUT, "summond did not take the request");
			continue;
		}
		fprintf(stderr, "summonctl: write: %s\n", strerror(errno));
		exit(EX_ERR);
	}
}

/*
 * The next line from summond (NUL-terminated, newline removed; valid
 * until the next call), or NULL once summond closed the connection.
 * Exits at the deadline.
 */
static char *
conn_readline(struct conn *c)
{
	static size_t used;	/* the line returned last time */
	char *nl, *grown;
	ssize_t n;

	if (used > 0) {
		memmove(c->buf, c->buf + used, c->len - used);
		c->len -= used;
		used = 0;
	}
	while ((nl = c->len > 0 ? memchr(c->buf, '\n', c->len) : NULL) ==
	    NULL) {
		if (c->cap - c->len < 65536) {
			if ((grown = realloc(c->buf, c->cap * 2 + 65536)) ==
			    NULL) {
				fprintf(stderr, "summonctl: out of memory\n");
				exit(EX_ERR);
			}
			c->buf = grown;
			c->cap = c->cap * 2 + 65536;
		}
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
		if (n > 0)
			c->len += (size_t)n;
		else if (n == 0)
			return NULL;
		else if (errno == EAGAIN || errno == EINTR)
			wait_fd(c, POLLIN, "no answer from summond");
		else {
			fprintf(stderr, "summonctl: read: %s\n",
			    strerror(errno));
			exit(EX_ERR);
		}
	}
	*nl = '\0';
	used = (size_t)(nl - c->buf) + 1;
	return c->buf;
}

/*
 * Send req, then read lines until its answer.  Pushes go to on_push
 * (which may be NULL).  Returns the result (new reference), or prints the
 * error and exits 1.
 */
static json_t *
call(struct conn *c, struct ctl_request *req,
    void (*on_push)(struct conn *, const char *kind, json_t *body))
{
	char *line, err[256];
	const char *kind;
	json_t *body;
	int64_t id;
	char *out;

	req->id = 1;
	if ((out = ctl_request_encode(req)) == NULL) {
		fprintf(stderr, "summonctl: cannot encode the request\n");
		exit(EX_ERR);
	}
	conn_write(c, out);
	free(out);
	for (;;) {
		if ((line = conn_readline(c)) == NULL) {
			fprintf(stderr, "summonctl: summond closed the "
			    "connection\n");
			exit(EX_ERR);
		}
		if (ctl_answer_decode(line, &id, &kind, &body, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "summonctl: %s\n", err);
			exit(EX_ERR);
		}
		if (strcmp(kind, "result") == 0)
			break;
		if (strcmp(kind, "error") == 0) {
			fprintf(stderr, "summonctl: %s\n",
			    json_string_value(body));
			exit(EX_ERR);
		}
		if (on_push != NULL)
			on_push(c, kind, body);
		json_decref(body);
	}
	return body;
}

static void
print_json(json_t *j)
{
	json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
}

static size_t
term_width(void)
{
	struct winsize ws;

	if (isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0
	    && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

static const char *
str_or_dash(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s == NULL || *s == '\0' ? "-" : s;
}

static int64_t
int_or_neg(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* A duration the daemon gives in whole seconds ("-" when null). */
static char *
fmt_seconds(json_t *o, const char *key, char *buf, size_t len)
{
	int64_t s = int_or_neg(o, key);

	if (s == 0) {		/* under a second: not "0ms" */
		snprintf(buf, len, "0s");
		return buf;
	}
	return fmt_duration(s < 0 ? -1 : s * 1000, buf, len);
}

#define LIST_COLS	10

static int
cmd_list(struct conn *conn)
{
	static const char *const header[LIST_COLS] = { "SERVICE", "STATE",
	    "ADDRESS", "GUEST", "HOST", "DOMAIN", "UPTIME", "IDLE", "BOOTS",
	    "LAST-BOOT" };
	struct ctl_request req = { .cmd = CTL_LIST };
	json_t *res = call(conn, &req, NULL), *svcs, *s;
	const char **cells;
	char (*bufs)[5][24];
	size_t i, n, c;

	svcs = json_object_get(res, "services");
	if (json_out) {
		print_json(svcs);
		json_decref(res);
		return EX_OK;
	}
	n = json_array_size(svcs);
	cells = calloc((n + 1) * LIST_COLS, sizeof(*cells));
	bufs = calloc(n + 1, sizeof(*bufs));
	if (cells == NULL || bufs == NULL) {
		fprintf(stderr, "summonctl: out of memory\n");
		return EX_ERR;
	}
	for (c = 0; c < LIST_COLS; c++)
		cells[c] = header[c];
	json_array_foreach(svcs, i, s) {
		const char **row = &cells[(i + 1) * LIST_COLS];
		row[0] = str_or_dash(s, "service");
		/* "*": it holds a standby of the standby budget. */
		snprintf(bufs[i][4], 24, "%s%s", str_or_dash(s, "state"),
		    int_or_neg(s, "budget_standbys") > 0 ? "*" : "");
		row[1] = bufs[i][4];
		row[2] = str_or_dash(s, "address");
		row[3] = str_or_dash(s, "guest_address");
		row[4] = str_or_dash(s, "host");
		row[5] = str_or_dash(s, "domain");
		row[6] = fmt_seconds(s, "uptime_s", bufs[i][0], 24);
		row[7] = fmt_seconds(s, "idle_s", bufs[i][1], 24);
		snprintf(bufs[i][2], 24, "%lld",
		    (long long)int_or_neg(s, "boots"));
		row[8] = bufs[i][2];
		row[9] = fmt_duration(int_or_neg(s, "last_boot_ms"), bufs[i][3],
		    24);
	}
	fmt_table(stdout, cells, n + 1, LIST_COLS, term_width(), 4);
	free(cells);
	free(bufs);
	json_decref(res);
	return EX_OK;
}

#define HOSTS_COLS	6

static int
cmd_hosts(struct conn *conn)
{
	static const char *const header[HOSTS_COLS] = { "NAME", "URI",
	    "STATE", "INSTANCES", "MEMORY", "FREE" };
	struct ctl_request req = { .cmd = CTL_HOSTS };
	json_t *res = call(conn, &req, NULL), *hosts, *h;
	const char **cells;
	char (*bufs)[4][32];
	size_t i, n, c;

	hosts = json_object_get(res, "hosts");
	if (json_out) {
		print_json(hosts);
		json_decref(res);
		return EX_OK;
	}
	n = json_array_size(hosts);
	cells = calloc((n + 1) * HOSTS_COLS, sizeof(*cells));
	bufs = calloc(n + 1, sizeof(*bufs));
	if (cells == NULL || bufs == NULL) {
		fprintf(stderr, "summonctl: out of memory\n");
		return EX_ERR;
	}
	for (c = 0; c < HOSTS_COLS; c++)
		cells[c] = header[c];
	json_array_foreach(hosts, i, h) {
		const char **row = &cells[(i + 1) * HOSTS_COLS];
		json_int_t max = int_or_neg(h, "max_instances");
		json_int_t maxm = int_or_neg(h, "max_memory_bytes");
		char mem[16];

		row[0] = str_or_dash(h, "host");
		row[1] = str_or_dash(h, "uri");
		row[2] = str_or_dash(h, "state");
		if (max > 0)
			snprintf(bufs[i][0], 32, "%lld/%lld",
			    (long long)int_or_neg(h, "instances"),
			    (long long)max);
		else
			snprintf(bufs[i][0], 32, "%lld",
			    (long long)int_or_neg(h, "instances"));
		row[3] = bufs[i][0];
		fmt_bytes(int_or_neg(h, "memory_bytes"), mem, sizeof(mem));
		if (maxm > 0)
			snprintf(bufs[i][1], 32, "%s/%s", mem,
			    fmt_bytes(maxm, bufs[i][3], 32));
		else
			snprintf(bufs[i][1], 32, "%s", mem);
		row[4] = bufs[i][1];
		/* 0: not asked (one host), or not answered yet. */
		row[5] = int_or_neg(h, "free_memory_bytes") > 0 ?
		    fmt_bytes(int_or_neg(h, "free_memory_bytes"), bufs[i][2],
		    32) : "-";
	}
	fmt_table(stdout, cells, n + 1, HOSTS_COLS, term_width(), 1);
	free(cells);
	free(bufs);
	json_decref(res);
	return EX_OK;
}

/* " reason=n ..." of an object of counts. */
static void
print_counts(json_t *o)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v)
		printf(" %s=%lld", k, (long long)json_integer_value(v));
}

/* The proxy's lines of status: its connections and shared listeners. */
static void
print_proxy(json_t *p)
{
	json_t *routed = json_object_get(p, "routed"), *sh;
	size_t i;

	printf("proxy:      %lld connections, %lld held, %lld open; routed "
	    "%lld by name, %lld by default\n",
	    (long long)int_or_neg(p, "connections"),
	    (long long)int_or_neg(p, "held"), (long long)int_or_neg(p, "open"),
	    (long long)int_or_neg(routed, "name"),
	    (long long)int_or_neg(routed, "default"));
	printf("refused:   ");
	print_counts(json_object_get(p, "refused"));
	printf("\n");
	json_array_foreach(json_object_get(p, "shared"), i, sh) {
		printf("shared:     %s %s: %lld connections, %lld reading; "
		    "refused", str_or_dash(sh, "listener"),
		    str_or_dash(sh, "route"),
		    (long long)int_or_neg(sh, "connections"),
		    (long long)int_or_neg(sh, "peeking"));
		print_counts(json_object_get(sh, "refused"));
		printf("\n");
	}
}

static int
cmd_status(struct conn *c, const char *service)
{
	struct ctl_request req = { .cmd = CTL_STATUS };
	json_t *res, *v, *wakes, *proxy;
	char buf[32];
	size_t i;

	snprintf(req.service, sizeof(req.service), "%s", service);
	res = call(c, &req, NULL);
	if (json_out) {
		print_json(res);
		json_decref(res);
		return EX_OK;
	}
	printf("service:    %s\n", str_or_dash(res, "service"));
	printf("state:      %s\n", str_or_dash(res, "state"));
	printf("address:    %s\n", str_or_dash(res, "address"));
	printf("guest:      %s\n", str_or_dash(res, "guest_address"));
	printf("host:       %s\n", str_or_dash(res, "host"));
	printf("domain:     %s\n", str_or_dash(res, "domain"));
	printf("names:     ");
	json_array_foreach(json_object_get(res, "names"), i, v)
		printf(" %s", json_string_value(v));
	printf("\nports:     ");
	json_array_foreach(json_object_get(res, "ports"), i, v)
		printf(" %lld->%lld%s%s", (long long)int_or_neg(v, "public"),
		    (long long)int_or_neg(v, "guest"),
		    json_object_get(v, "route") != NULL ? "/" : "",
		    json_object_get(v, "route") != NULL ?
		    str_or_dash(v, "route") : "");
	if (json_is_true(json_object_get(res, "route_default")))
		printf(" (route-default)");
	printf("\nuptime:     %s\n", fmt_seconds(res, "uptime_s", buf,
	    sizeof(buf)));
	printf("idle:       %s", fmt_seconds(res, "idle_s", buf,
	    sizeof(buf)));
	printf(" (reaped after %s)\n", fmt_duration(int_or_neg(res,
	    "idle_timeout_ms"), buf, sizeof(buf)));
	printf("boots:      %lld", (long long)int_or_neg(res, "boots"));
	printf(" (last %s)\n", fmt_duration(int_or_neg(res, "last_boot_ms"),
	    buf, sizeof(buf)));
	printf("stop-mode:  %s, standby %lld\n", str_or_dash(res,
	    "stop_mode"), (long long)int_or_neg(res, "standby"));
	printf("budget:     %lld standbys, score %.2f\n",
	    (long long)int_or_neg(res, "budget_standbys"),
	    json_number_value(json_object_get(res, "score")));
	printf("wakes:     ");
	wakes = json_object_get(res, "wakes");
	print_counts(wakes);
	printf("\n");
	printf("served:    ");
	print_counts(json_object_get(res, "served"));
	printf("\n");
	if ((proxy = json_object_get(res, "proxy")) != NULL)
		print_proxy(proxy);
	json_decref(res);
	return EX_OK;
}

/*
 * A boot's progress: printed on a terminal, and the first one extends
 * the deadline by the service's boot-timeout, which it carries.
 */
static void
boot_progress(struct conn *c, const char *kind, json_t *body)
{
	int64_t boot_ms = int_or_neg(body, "boot_timeout_ms");

	if (strcmp(kind, "progress") != 0)
		return;
	if (c->deadline_ms >= 0 && boot_ms > 0) {
		c->deadline_ms += boot_ms;
		timeout_ms += boot_ms;	/* for the message */
	}
	if (!json_out && isatty(STDOUT_FILENO)) {
		printf("%s … ", str_or_dash(body, "state"));
		fflush(stdout);
	}
}

static int
cmd_boot(struct conn *c, const char *service)
{
	struct ctl_request req = { .cmd = CTL_BOOT };
	json_t *res;
	char buf[32];

	snprintf(req.service, sizeof(req.service), "%s", service);
	res = call(c, &req, boot_progress);
	if (json_out)
		print_json(res);
	else
		printf("%s: ready in %s\n", service, fmt_duration(
		    int_or_neg(res, "ms"), buf, sizeof(buf)));
	json_decref(res);
	return EX_OK;
}

static int
cmd_reap(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "idle", no_argument, NULL, 'i' },
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_request req = { .cmd = CTL_REAP };
	json_t *res, *v;
	size_t i;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (ch == 'i')
			req.idle = true;
		else if (ch == 'a')
			req.all = true;
		else
			return die_usage(NULL);
	}
	req.services = argv + optind;
	req.nservices = (size_t)(argc - optind);
	if ((req.nservices > 0) + req.idle + req.all != 1)
		return die_usage("reap needs SERVICE..., --idle or --all");
	res = call(connect_daemon(), &req, NULL);
	if (json_out) {
		print_json(res);
		json_decref(res);
		return EX_OK;
	}
	if (json_array_size(json_object_get(res, "stopping")) == 0)
		printf("nothing to reap\n");
	json_array_foreach(json_object_get(res, "stopping"), i, v)
		printf("%s: stopping\n", json_string_value(v));
	json_decref(res);
	return EX_OK;
}

static void
print_event(json_t *ev)
{
	char when[32];
	time_t t;
	struct tm tm;
	const char *svc;

	if (json_out) {
		json_dumpf(ev, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		fflush(stdout);
		return;
	}
	t = (time_t)(int_or_neg(ev, "at_ms") / 1000);
	localtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	svc = str_or_dash(ev, "service");
	printf("%s.%03lld  %-16s %-10s %s\n", when,
	    (long long)(int_or_neg(ev, "at_ms") % 1000), svc,
	    str_or_dash(ev, "kind"), json_string_value(json_object_get(ev,
	    "detail")) ? json_string_value(json_object_get(ev, "detail")) : "");
	fflush(stdout);
}

static int
cmd_events(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_request req = { .cmd = CTL_EVENTS, .n = 20 };
	char *line, err[256], *end;
	const char *kind;
	struct conn *c;
	size_t i;
	json_t *res, *ev, *body;
	int64_t id;
	long n;
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "+n:f", opts, NULL)) != -1) {
		switch (ch) {
		case 'n':
			n = strtol(optarg, &end, 10);
			if (*optarg == '\0' || *end != '\0' || n < 0 ||
			    n > 10000)
				return die_usage("-n wants a number 0-10000");
			req.n = (unsigned)n;
			break;
		case 'f':
			req.follow = true;
			break;
		default:
			return die_usage(NULL);
		}
	}
	if (argc - optind > 1)
		return die_usage("events takes at most one SERVICE");
	if (argc - optind == 1)
		snprintf(req.service, sizeof(req.service), "%s", argv[optind]);
	c = connect_daemon();
	res = call(c, &req, NULL);
	if (json_out && !req.follow)
		print_json(json_object_get(res, "events"));
	else
		json_array_foreach(json_object_get(res, "events"), i, ev)
			print_event(ev);
	json_decref(res);
	if (!req.follow)
		return EX_OK;
	/* Events are pushed as they happen, until Ctrl-C or summond exits. */
	c->deadline_ms = -1;
	while ((line = conn_readline(c)) != NULL) {
		if (ctl_answer_decode(line, &id, &kind, &body, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "summonctl: %s\n", err);
			return EX_ERR;
		}
		if (strcmp(kind, "event") == 0)
			print_event(body);
		json_decref(body);
	}
	fprintf(stderr, "summonctl: summond closed the connection\n");
	return EX_ERR;
}

static int
cmd_reload(struct conn *c)
{
	struct ctl_request req = { .cmd = CTL_RELOAD };
	json_t *res = call(c, &req, NULL);
	const char *warnings = json_string_value(json_object_get(res,
	    "warnings"));

	/* Settings that wait for a restart. */
	if (warnings != NULL && *warnings != '\0')
		fprintf(stderr, "%s", warnings);
	if (json_out)
		print_json(res);
	else
		printf("reloaded: %lld services\n",
		    (long long)int_or_neg(res, "services"));
	json_decref(res);
	return EX_OK;
}

int
main(int argc, char *argv[])
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd, *env;
	double secs;
	char *end;
	int ch;

	atexit(conn_close);
	if ((env = getenv("SUMMON_SOCKET")) != NULL && *env != '\0')
		socket_path = env;
	while ((ch = getopt_long(argc, argv, "+s:t:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			socket_path = optarg;
			break;
		case 't':
			secs = strtod(optarg, &end);
			if (*optarg == '\0' || *end != '\0' || !(secs >= 0) ||
			    secs > 86400)
				return die_usage("-t wants seconds, 0-86400 "
				    "(0: wait for ever)");
			timeout_ms = (int64_t)(secs * 1000);
			if (secs > 0 && timeout_ms == 0)
				timeout_ms = 1;
			break;
		case 'j':
			json_out = true;
			break;
		case 'h':
			usage(stdout);
			return EX_OK;
		case 'V':
			printf("summonctl %s\n", SUMMON_VERSION);
			return EX_OK;
		default:
			return die_usage(NULL);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return die_usage("a command is needed");
	cmd = argv[0];
	if (strcmp(cmd, "list") == 0) {
		if (argc != 1)
			return die_usage("list takes no arguments");
		return cmd_list(connect_daemon());
	}
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "boot") == 0) {
		if (argc != 2)
			return die_usage("one SERVICE is needed");
		return cmd[0] == 's' ? cmd_status(connect_daemon(), argv[1]) :
		    cmd_boot(connect_daemon(), argv[1]);
	}
	if (strcmp(cmd, "reap") == 0)
		return cmd_reap(argc, argv);
	if (strcmp(cmd, "events") == 0)
		return cmd_events(argc, argv);
	if (strcmp(cmd, "reload") == 0) {
		if (argc != 1)
			return die_usage("reload takes no arguments");
		return cmd_reload(connect_daemon());
	}
	if (strcmp(cmd, "hosts") == 0) {
		if (argc != 1)
			return die_usage("hosts takes no arguments");
		return cmd_hosts(connect_daemon());
	}
	fprintf(stderr, "summonctl: unknown command '%s'\n", cmd);
	usage(stderr);
	return EX_USAGE;
}
