/*
 * control.h - the control protocol (shared by summond and summonctl)
 * and summond's control socket.
 *
 * One JSON object a line, each way.  A request:
 *   {"v":1,"id":7,"cmd":"status","service":"hello"}
 * its answer:
 *   {"v":1,"id":7,"ok":true,"result":{...}}
 *   {"v":1,"id":7,"ok":false,"error":"unknown service \"x\""}
 * and, for "boot" and "events" with follow, pushes before (or instead
 * of) the answer:
 *   {"v":1,"id":7,"progress":{"state":"starting"}}
 *   {"v":1,"id":7,"event":{...}}
 * A client may pipeline requests; answers carry the request's id.
 */
#ifndef SUMMON_CONTROL_H
#define SUMMON_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CTL_VERSION	1
#define CTL_LINE_MAX	65536	/* longest request line accepted */

enum ctl_cmd {
	CTL_LIST, CTL_STATUS, CTL_BOOT, CTL_REAP, CTL_EVENTS, CTL_RELOAD,
	CTL_HOSTS,
};

struct ctl_request {
	int64_t		 id;
	enum ctl_cmd	 cmd;
	char		 service[64];	/* status, boot, events ("" all) */
	char		**services;	/* reap SERVICE... */
	size_t		 nservices;
	bool		 idle;		/* reap --idle */
	bool		 all;		/* reap --all */
	bool		 follow;	/* events --follow */
	unsigned	 n;		/* events -n */
};

/* The command's name on the wire, e.g. "list". */
const char	*ctl_cmd_name(enum ctl_cmd);
/* Whether cmd changes something (and so needs the socket's uid/gid). */
bool		 ctl_cmd_changes(enum ctl_cmd);

/*
 * Decode one request line (without its newline).  On success fills req
 * (free its services with ctl_request_clear) and returns 0.  On failure
 * returns -1 with a message in err; req->id holds the id if one could
 * be read, else 0, so the error can still be answered.
 */
int		 ctl_request_decode(const char *line, size_t len,
		    struct ctl_request *req, char *err, size_t errlen);
void		 ctl_request_clear(struct ctl_request *);

/* Encode a request as one line with its newline; free() the result. */
char		*ctl_request_encode(const struct ctl_request *);

/* Encode answers and pushes, newline included; free() the result.
 * ctl_answer_ok takes the reference to result. */
char		*ctl_answer_ok(int64_t id, json_t *result);
char		*ctl_answer_error(int64_t id, const char *fmt, ...)
		    __attribute__((format(printf, 2, 3)));
char		*ctl_push(int64_t id, const char *kind, json_t *body);

/*
 * The same line as ctl_answer_ok(id, {"key": [item(arg, 0), ...,
 * item(arg, n - 1)]}), written through out one item at a time, so that
 * no JSON tree of the whole answer is built (a list of 10,000 services
 * as one tree is ~17 MB of jansson objects).  item returns a new
 * reference, or NULL to leave that item out.  Returns 0, or -1 if out
 * failed or an item could not be encoded.
 */
int		 ctl_answer_ok_array(int64_t id, const char *key, size_t n,
		    json_t *(*item)(void *arg, size_t i), void *arg,
		    json_dump_callback_t out, void *outarg);

/*
 * Decode an answer or push line.  kind is set to "result", "error",
 * "progress" or "event"; *body receives a new reference (the result,
 * the push body, or a JSON string with the error message).
 * Returns 0, or -1 with a message in err for a malformed line.
 */
int		 ctl_answer_decode(const char *line, int64_t *id,
		    const char **kind, json_t **body, char *err,
		    size_t errlen);

struct config;
struct control;
struct event_base;
struct lifecycle;
struct proxy;
struct store;
struct store_event;

/* What the commands act on; the control keeps none of it alive. */
struct control_env {
	struct lifecycle	*lc;
	struct store		*store;
	struct proxy		*proxy;		/* status reads its counters */
	/*
	 * Re-read the configuration and apply it (reload), calling
	 * control_set_config() if it commits.  Returns 0 or -1; either way
	 * *msg is NULL or a text the control frees, one line each: the
	 * errors that rejected the file, or the settings that wait for a
	 * restart.
	 */
	int			(*reload)(void *arg, char **msg);
	void			*reload_arg;
};

/*
 * Listen on path (mode 0660, parent directory created) with base's
 * loop.  A live socket of another summond is an error; a stale one is
 * replaced.  Clients wait in the backlog until control_start(), so the
 * socket can come first, before what the commands act on exists: a
 * second summond on the same socket stops before it touches any of
 * it.  NULL and a log line on failure.
 */
struct control	*control_new(struct event_base *base, const char *path);
/*
 * Serve the protocol from now on: the commands act on env (copied) and
 * read cfg, which must stay valid until control_set_config() replaces
 * it.  Returns 0, or -1 after logging why.
 */
int		 control_start(struct control *, const struct control_env *env,
		    const struct config *cfg);
/*
 * The configuration the commands read from now on (a reload committed);
 * the control no longer reads the one before, which may be freed.
 */
void		 control_set_config(struct control *, const struct config *cfg);
/* Close every client and the socket, and unlink it. */
void		 control_free(struct control *);
/* Push an event to every client following events (of its service). */
void		 control_publish(struct control *, const struct store_event *);

#endif
