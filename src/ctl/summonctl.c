/*
 * summonctl.c - summonctl(8): the operator's command line for summond.
 *
 * One request over the control socket, then the answer printed as an
 * aligned table or, with --json, as JSON.  Exit 0 on success, 1 on an
 * error (one line on stderr), 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
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
#define EX_OK		0
#define EX_ERR		1
#define EX_USAGE	2

static const char *socket_path = DEFAULT_SOCKET;
static bool json_out;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: summonctl [-s SOCKET] [--json] list\n"
	    "       summonctl [-s SOCKET] [--json] status SERVICE\n"
	    "       summonctl [-s SOCKET] boot SERVICE\n"
	    "       summonctl [-s SOCKET] reap SERVICE... | --idle | --all\n"
	    "       summonctl [-s SOCKET] [--json] events [-n N] [--follow] "
	    "[SERVICE]\n"
	    "       summonctl [-s SOCKET] reload\n");
}

static int
die_usage(const char *msg)
{
	if (msg != NULL)
		fprintf(stderr, "summonctl: %s\n", msg);
	usage(stderr);
	return EX_USAGE;
}

/* Connect to summond; on failure print why, in one line, and exit 1. */
static FILE *
connect_daemon(void)
{
	struct sockaddr_un sun;
	FILE *f;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(socket_path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "summonctl: socket path too long: %s\n",
		    socket_path);
		exit(EX_ERR);
	}
	strcpy(sun.sun_path, socket_path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		fprintf(stderr, "summonctl: socket: %s\n", strerror(errno));
		exit(EX_ERR);
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
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
	if ((f = fdopen(fd, "r+")) == NULL) {
		fprintf(stderr, "summonctl: fdopen: %s\n", strerror(errno));
		exit(EX_ERR);
	}
	return f;
}

/*
 * Send req, then read lines until its answer.  Pushes go to on_push
 * (which may be NULL).  Returns the result (new reference), or prints the
 * error and exits 1.
 */
static json_t *
call(FILE *f, struct ctl_request *req,
    void (*on_push)(const char *kind, json_t *body))
{
	char *line = NULL, err[256];
	size_t cap = 0;
	const char *kind;
	json_t *body;
	int64_t id;
	char *out;

	req->id = 1;
	if ((out = ctl_request_encode(req)) == NULL) {
		fprintf(stderr, "summonctl: cannot encode the request\n");
		exit(EX_ERR);
	}
	if (fputs(out, f) == EOF || fflush(f) == EOF) {
		fprintf(stderr, "summonctl: write: %s\n", strerror(errno));
		exit(EX_ERR);
	}
	free(out);
	for (;;) {
		if (getline(&line, &cap, f) == -1) {
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
			on_push(kind, body);
		json_decref(body);
	}
	free(line);
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

#define LIST_COLS	9

static int
cmd_list(FILE *f)
{
	static const char *const header[LIST_COLS] = { "SERVICE", "STATE",
	    "ADDRESS", "GUEST", "DOMAIN", "UPTIME", "IDLE", "BOOTS",
	    "LAST-BOOT" };
	struct ctl_request req = { .cmd = CTL_LIST };
	json_t *res = call(f, &req, NULL), *svcs, *s;
	const char **cells;
	char (*bufs)[4][24];
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
		row[1] = str_or_dash(s, "state");
		row[2] = str_or_dash(s, "address");
		row[3] = str_or_dash(s, "guest_address");
		row[4] = str_or_dash(s, "domain");
		row[5] = fmt_seconds(s, "uptime_s", bufs[i][0], 24);
		row[6] = fmt_seconds(s, "idle_s", bufs[i][1], 24);
		snprintf(bufs[i][2], 24, "%lld",
		    (long long)int_or_neg(s, "boots"));
		row[7] = bufs[i][2];
		row[8] = fmt_duration(int_or_neg(s, "last_boot_ms"), bufs[i][3],
		    24);
	}
	fmt_table(stdout, cells, n + 1, LIST_COLS, term_width(), 4);
	free(cells);
	free(bufs);
	json_decref(res);
	return EX_OK;
}

static int
cmd_status(FILE *f, const char *service)
{
	struct ctl_request req = { .cmd = CTL_STATUS };
	json_t *res, *v, *wakes;
	const char *k;
	char buf[32];
	size_t i;

	snprintf(req.service, sizeof(req.service), "%s", service);
	res = call(f, &req, NULL);
	if (json_out) {
		print_json(res);
		json_decref(res);
		return EX_OK;
	}
	printf("service:    %s\n", str_or_dash(res, "service"));
	printf("state:      %s\n", str_or_dash(res, "state"));
	printf("address:    %s\n", str_or_dash(res, "address"));
	printf("guest:      %s\n", str_or_dash(res, "guest_address"));
	printf("domain:     %s\n", str_or_dash(res, "domain"));
	printf("names:     ");
	json_array_foreach(json_object_get(res, "names"), i, v)
		printf(" %s", json_string_value(v));
	printf("\nports:     ");
	json_array_foreach(json_object_get(res, "ports"), i, v)
		printf(" %lld->%lld", (long long)int_or_neg(v, "public"),
		    (long long)int_or_neg(v, "guest"));
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
	printf("wakes:     ");
	wakes = json_object_get(res, "wakes");
	json_object_foreach(wakes, k, v)
		printf(" %s=%lld", k, (long long)json_integer_value(v));
	printf("\n");
	json_decref(res);
	return EX_OK;
}

static void
boot_progress(const char *kind, json_t *body)
{
	if (strcmp(kind, "progress") == 0 && isatty(STDOUT_FILENO))
		printf("%s … ", str_or_dash(body, "state"));
	fflush(stdout);
}

static int
cmd_boot(FILE *f, const char *service)
{
	struct ctl_request req = { .cmd = CTL_BOOT };
	json_t *res;
	char buf[32];

	snprintf(req.service, sizeof(req.service), "%s", service);
	res = call(f, &req, json_out ? NULL : boot_progress);
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
	char *line = NULL, err[256], *end;
	const char *kind;
	size_t cap = 0, i;
	json_t *res, *ev, *body;
	int64_t id;
	FILE *f;
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
	f = connect_daemon();
	res = call(f, &req, NULL);
	if (json_out && !req.follow)
		print_json(json_object_get(res, "events"));
	else
		json_array_foreach(json_object_get(res, "events"), i, ev)
			print_event(ev);
	json_decref(res);
	if (!req.follow)
		return EX_OK;
	/* Events are pushed as they happen, until Ctrl-C or summond exits. */
	while (getline(&line, &cap, f) != -1) {
		if (ctl_answer_decode(line, &id, &kind, &body, err,
		    sizeof(err)) == -1) {
			fprintf(stderr, "summonctl: %s\n", err);
			return EX_ERR;
		}
		if (strcmp(kind, "event") == 0)
			print_event(body);
		json_decref(body);
	}
	free(line);
	fprintf(stderr, "summonctl: summond closed the connection\n");
	return EX_ERR;
}

static int
cmd_reload(FILE *f)
{
	struct ctl_request req = { .cmd = CTL_RELOAD };
	json_t *res = call(f, &req, NULL);

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
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd, *env;
	FILE *f;
	int ch;

	if ((env = getenv("SUMMON_SOCKET")) != NULL && *env != '\0')
		socket_path = env;
	while ((ch = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			socket_path = optarg;
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
		f = connect_daemon();
		return cmd_list(f);
	}
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "boot") == 0) {
		if (argc != 2)
			return die_usage("one SERVICE is needed");
		f = connect_daemon();
		return cmd[0] == 's' ? cmd_status(f, argv[1]) :
		    cmd_boot(f, argv[1]);
	}
	if (strcmp(cmd, "reap") == 0)
		return cmd_reap(argc, argv);
	if (strcmp(cmd, "events") == 0)
		return cmd_events(argc, argv);
	if (strcmp(cmd, "reload") == 0) {
		if (argc != 1)
			return die_usage("reload takes no arguments");
		f = connect_daemon();
		return cmd_reload(f);
	}
	fprintf(stderr, "summonctl: unknown command '%s'\n", cmd);
	usage(stderr);
	return EX_USAGE;
}
