/*
 * control_internal.h - what control.c (the socket and its clients) and
 * control_cmd.c (the commands) share; not for other modules.
 */
#ifndef SUMMON_CONTROL_INTERNAL_H
#define SUMMON_CONTROL_INTERNAL_H

#include <stdint.h>

#include <jansson.h>

#include "control.h"

struct client;
struct config;
struct evbuffer;
struct lc_waiter;
struct store_event;

/* What the commands act on and read; the control keeps it current. */
struct cmd_ctx {
	struct control_env	 env;		/* control_start() */
	const struct config	*cfg;		/* control_set_config() */
};

/* A "boot" request waiting for its service. */
struct boot_wait {
	struct boot_wait	*next;
	struct client		*client;
	struct lc_waiter	*waiter;
	int64_t			 id;
	uint64_t		 started_us;
};

/* control.c: what a command may do with its client. */
/*
 * Queue line (an answer or push with its newline; freed) for c.
 * Returns 0, or -1 if c does not read its answers and was dropped (it
 * gets nothing more, and is freed later from the loop).  A NULL line
 * (encoding failed) is logged and skipped.
 */
int	client_send(struct client *, char *line);
/*
 * Before a large answer is built: 0, or -1 if c has been dropped, now
 * (too much of what was queued for it before waits unread) or earlier.
 */
int	client_check_output(struct client *);
/* Queue what is in buf (emptying it) as c's next answer. */
void	client_queue(struct client *, struct evbuffer *buf);
/* Push every event of service ("" every service) to c, as request id. */
void	client_follow(struct client *, int64_t id, const char *service);
/*
 * c waits for the boot of b (allocated with malloc, its waiter set): c
 * owns b from now on and frees it with client_boot_end() or when it
 * closes, cancelling the waiter then.  While c has PENDING_MAX boots in
 * flight (control.c) its further requests are not read.
 */
void	client_boot_add(struct client *, struct boot_wait *b);
/* b's boot ended and its answer was sent: free b, read on. */
void	client_boot_end(struct boot_wait *b);

/* control_cmd.c */
/*
 * Answer req (decoded, allowed; cleared here) for c: now, or for a boot
 * not yet ready when it ends.  Returns -1 if c was dropped.
 */
int	cmd_run(struct cmd_ctx *, struct client *, struct ctl_request *req);
/* An event as "events" answers it and pushes it to followers. */
json_t	*cmd_event_json(const struct store_event *);

#endif
