/*
 * log.c - logging to stderr, the journal or syslog.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>

#include "log.h"

#define JOURNAL_SOCKET	"/run/systemd/journal/socket"

enum sink { SINK_STDERR, SINK_JOURNAL, SINK_SYSLOG };

static enum sink sink = SINK_STDERR;
static int verbosity;
static const char *ident = "summon";
static int journal_fd = -1;

void
log_init(const char *name, int foreground, int verbose)
{
	ident = name;
	verbosity = verbose;
	if (foreground)
		sink = SINK_STDERR;
	else if (getenv("JOURNAL_STREAM") != NULL) {
		sink = SINK_JOURNAL;
		/* Opened here, before other threads log, not on first use. */
		if (journal_fd == -1)
			journal_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC,
			    0);
	} else {
		sink = SINK_SYSLOG;
		openlog(name, LOG_PID | LOG_NDELAY, LOG_DAEMON);
	}
}

void
log_setverbose(int v)
{
	verbosity = v;
}

int
log_getverbose(void)
{
	return verbosity;
}

/*
 * One entry in the journal's native protocol, what sd_journal_print()
 * sends, without linking libsystemd for it (see src/daemon/notify.c):
 * a datagram of fields.  MESSAGE goes in the binary form (name, newline,
 * its length in 64 bits little-endian, the bytes, newline), which
 * carries any text, newlines included.  Lost if the journal is not
 * listening, as with sd_journal_print().
 */
static void
journal_send(int pri, const char *msg)
{
	static const struct sockaddr_un sun = {
		.sun_family = AF_UNIX, .sun_path = JOURNAL_SOCKET };
	char head[128];
	uint8_t len[8];
	uint64_t n = strlen(msg);
	struct iovec iov[4];
	struct msghdr mh;
	int i;

	if (journal_fd == -1)
		return;
	snprintf(head, sizeof(head), "PRIORITY=%d\nSYSLOG_IDENTIFIER=%s\n"
	    "MESSAGE\n", pri, ident);
	for (i = 0; i < 8; i++)
		len[i] = (uint8_t)(n >> (8 * i));
	iov[0] = (struct iovec){ head, strlen(head) };
	iov[1] = (struct iovec){ len, sizeof(len) };
	iov[2] = (struct iovec){ (void *)msg, n };
	iov[3] = (struct iovec){ "\n", 1 };
	memset(&mh, 0, sizeof(mh));
	mh.msg_name = (void *)&sun;
	mh.msg_namelen = sizeof(sun);
	mh.msg_iov = iov;
	mh.msg_iovlen = 4;
	sendmsg(journal_fd, &mh, MSG_NOSIGNAL);
}

static void	vlog(int, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));
static void	vlog_errno(int, int, const char *, va_list)
		    __attribute__((format(printf, 3, 0)));
static void	logmsg(int, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static void
vlog(int pri, const char *fmt, va_list ap)
{
	char msg[2048];
	struct timespec ts;
	struct tm tm;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	switch (sink) {
	case SINK_STDERR:
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		fprintf(stderr, "%02d:%02d:%02d.%03ld %s: %s\n", tm.tm_hour,
		    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000, ident, msg);
		break;
	case SINK_JOURNAL:
		journal_send(pri, msg);
		break;
	case SINK_SYSLOG:
		syslog(pri, "%s", msg);
		break;
	}
}

static void
logmsg(int pri, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(pri, fmt, ap);
	va_end(ap);
}

/* Like vlog, with ": strerror(saved)" appended when saved is set. */
static void
vlog_errno(int pri, int saved, const char *fmt, va_list ap)
{
	char buf[1536];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (saved != 0)
		logmsg(pri, "%s: %s", buf, strerror(saved));
	else
		logmsg(pri, "%s", buf);
}

void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog_errno(LOG_WARNING, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	if (verbosity < 1)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog_errno(LOG_CRIT, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}
