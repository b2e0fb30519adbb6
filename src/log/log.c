/*
 * log.c - logging to stderr, the journal or syslog.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

#include "log.h"

enum sink { SINK_STDERR, SINK_JOURNAL, SINK_SYSLOG };

static enum sink sink = SINK_STDERR;
static int verbosity;
static const char *ident = "summon";

void
log_init(const char *name, int foreground, int verbose)
{
	ident = name;
	verbosity = verbose;
	if (foreground)
		sink = SINK_STDERR;
	else if (getenv("JOURNAL_STREAM") != NULL)
		sink = SINK_JOURNAL;
	else {
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
		sd_journal_print(pri, "%s", msg);
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
