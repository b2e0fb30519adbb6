/*
 * daemon_internal.h - what the daemon's files share; not for other
 * modules.
 */
#ifndef SUMMON_DAEMON_INTERNAL_H
#define SUMMON_DAEMON_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

struct config;
struct control;
struct dns;
struct event;
struct event_base;
struct evbuffer;
struct lifecycle;
struct metrics;
struct proxy;
struct reaper;
struct store;

struct daemon {
	struct event_base	*base;
	struct config		*cfg;		/* replaced whole on reload */
	char			*config_path;
	struct store		*store;
	struct lifecycle	*lc;
	struct reaper		*reaper;
	struct proxy		*proxy;
	struct metrics		*metrics;
	struct dns		*dns;
	struct control		*control;

	struct event		*ev_sigterm, *ev_sigint, *ev_sighup;
	struct event		*ev_watchdog;	/* notify WATCHDOG=1 */
	struct event		*ev_flush;	/* retries pending store writes */
	struct event		*ev_exit;	/* bounds the shutdown */
	bool			 stopping;
	int64_t			 started_ms;	/* wall clock */
	int			 lock_fd;	/* flock on <state>.lock */
	uint64_t		 reloads, reload_failures;
	int			 exit_code;
	/* As started: what only a restart changes, whatever cfg now says. */
	char			*run_state, *run_control;
	unsigned		 run_relay_threads;
};

/* daemon_metrics.c */
/*
 * A metrics_render_fn: the exposition of daemon (a struct daemon *),
 * appended to out.
 */
void	daemon_metrics_render(void *daemon, struct evbuffer *out);

/* notify.c */
/*
 * Send state ("READY=1", "STATUS=...", ...) to the service manager, as
 * sd_notify(3) does: returns 1 when sent, 0 when $NOTIFY_SOCKET is not
 * set (not started by one), -1 with errno set on failure.
 */
int	daemon_notify(const char *state);
/*
 * The watchdog interval the service manager asks for ($WATCHDOG_USEC,
 * when $WATCHDOG_PID is unset or ours), in microseconds; 0 for none.
 */
uint64_t daemon_watchdog_usec(void);

#endif
