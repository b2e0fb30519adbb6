/*
 * control.c - summond's control socket: clients, permissions, limits.
 *
 * An AF_UNIX stream socket, mode 0660.  Each client gets a bufferevent;
 * requests are JSON lines (control_proto.c), answered in any order by
 * id by the commands (control_cmd.c).  Read commands are open to
 * whoever can connect; commands that change something need the peer
 * (SO_PEERCRED, SO_PEERGROUPS) to be root, the socket's owner, or a
 * member of the socket's group.
 *
 * Every client is bounded in bytes, time and number, so that no client
 * (nor 256 of them) can lock the operator out:
 * - a request line is at most CTL_LINE_MAX bytes, and must arrive whole
 *   within REQUEST_MS of its first byte;
 * - a client with nothing in flight (no boot it waits for, not
 *   following events) is closed IDLE_MS after its last request;
 * - reading stops while a client has PENDING_MAX boots in flight (a
 *   pipelining client is slowed down, not served without bound);
 * - a client that does not read is dropped when an answer is due while
 *   OUTPUT_MAX of earlier ones wait, or when what it was sent has not
 *   all been taken WRITE_MS after it began to wait;
 * - at CLIENTS_MAX clients, a new one takes the place of the client that
 *   has been idle longest (one with nothing in flight first), rather
 *   than wait: the newest client is the operator's summonctl.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "clock.h"
#include "control.h"
#include "control_internal.h"
#include "lifecycle.h"
#include "log.h"
#include "store.h"

#define OUTPUT_MAX	(4 * 1024 * 1024)	/* unread answers per client */
#define PENDING_MAX	64		/* boots in flight per client */
#define CLIENTS_MAX	256
#define REQUEST_MS	10000		/* a request line, first byte to last */
#define IDLE_MS		60000		/* nothing in flight, no request */
#define WRITE_MS	30000		/* answers queued, none taken */
#define CLOSING_MS	5000		/* to hang up after our last answer */
#define SWEEP_MS	1000		/* how often the deadlines are checked */
#define PEER_GROUPS_MAX	1024		/* SO_PEERGROUPS read at most */

struct client {
	struct client		*next, *prev;
	struct control		*control;
	struct bufferevent	*bev;
	uid_t			 uid;
	gid_t			 gid;
	pid_t			 pid;
	bool			 may_change;
	bool			 following;
	bool			 closing;	/* answer sent, then EOF */
	bool			 dropped;	/* freed by reap_dropped() */
	int64_t			 follow_id;
	char			 follow_service[64];	/* "" all */
	struct boot_wait	*boots;
	unsigned		 nboots;
	uint64_t		 active_us;	/* connect or last request */
	uint64_t		 line_us;	/* a partial line began; 0 none */
	uint64_t		 write_us;	/* output began to wait; 0 none */
};

struct control {
	struct cmd_ctx		 cmds;		/* what commands act on */
	struct event_base	*base;
	char			*path;
	int			 fd;
	struct event		*ev_accept;
	struct event		*ev_pause;	/* accept paused on EMFILE */
	struct event		*ev_reap;	/* frees dropped clients */
	struct event		*ev_sweep;	/* request and idle deadlines */
	struct client		*clients;
	size_t			 nclients;
	uid_t			 owner_uid;
	gid_t			 owner_gid;
	unsigned		 evicted;	/* since the last sweep */
};

static void	client_free(struct client *);
static void	client_process(struct client *);


/* The loop frees the clients dropped since it last ran. */
static void
reap_dropped(evutil_socket_t fd, short ev, void *arg)
{
	struct control *ctl = arg;
	struct client *c, *next;

	for (c = ctl->clients; c != NULL; c = next) {
		next = c->next;
		if (c->dropped)
			client_free(c);
	}
}

/*
 * Before an answer is queued: drop c if too much of what was queued for
 * it before waits unread.  One answer may be larger by itself (list with
 * tens of thousands of services), so memory is bounded by OUTPUT_MAX
 * plus one answer.  A dropped client is freed later, from the loop, so
 * that whoever is sending to it (a request being answered, an event
 * being published) may go on using it; it gets nothing more.
 */
static void
client_drop(struct client *c)
{
	static const struct timeval now = { 0, 0 };

	log_warnx("control: client pid %ld does not read its answers; "
	    "dropped", (long)c->pid);
	c->dropped = true;
	c->following = false;
	bufferevent_disable(c->bev, EV_READ | EV_WRITE);
	evtimer_add(c->control->ev_reap, &now);
}

int
client_check_output(struct client *c)
{
	if (c->dropped)
		return -1;
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) >
	    OUTPUT_MAX) {
		client_drop(c);
		return -1;
	}
	return 0;
}

void
client_queue(struct client *c, struct evbuffer *buf)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (evbuffer_get_length(out) == 0)
		c->write_us = clock_mono_us();
	evbuffer_add_buffer(out, buf);
}

int
client_send(struct client *c, char *line)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	if (line == NULL) {
		log_warnx("control: cannot encode an answer");
		return 0;
	}
	if (client_check_output(c) == -1) {
		free(line);
		return -1;
	}
	if (evbuffer_get_length(out) == 0)
		c->write_us = clock_mono_us();
	evbuffer_add(out, line, strlen(line));
	free(line);
	return 0;
}

void
client_follow(struct client *c, int64_t id, const char *service)
{
	c->following = true;
	c->follow_id = id;
	snprintf(c->follow_service, sizeof(c->follow_service), "%s", service);
}

void
client_boot_add(struct client *c, struct boot_wait *b)
{
	b->client = c;
	b->next = c->boots;
	c->boots = b;
	c->nboots++;
}

void
client_boot_end(struct boot_wait *b)
{
	struct client *c = b->client;
	struct boot_wait **pp;

	for (pp = &c->boots; *pp != NULL; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
	c->nboots--;
	free(b);
	/*
	 * Its reading may have waited for this boot.  Not from inside the
	 * lifecycle's callback: the next request may wake a service.
	 */
	if (!c->dropped)
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

/* Handle one request line; returns -1 if c was dropped. */
static int
client_request(struct client *c, const char *line, size_t len)
{
	struct ctl_request req;
	char err[256], *answer;

	if (ctl_request_decode(line, len, &req, err, sizeof(err)) == -1)
		return client_send(c, ctl_answer_error(req.id, "%s", err));
	if (ctl_cmd_changes(req.cmd) && !c->may_change) {
		answer = ctl_answer_error(req.id, "permission denied: '%s' "
		    "needs the socket's owner or group", ctl_cmd_name(req.cmd));
		ctl_request_clear(&req);
		return client_send(c, answer);
	}
	log_debug("control: pid %ld: %s %s", (long)c->pid,
	    ctl_cmd_name(req.cmd), req.service);
	return cmd_run(&c->control->cmds, c, &req);
}

/* Whether c must wait before its next request is read. */
static bool
client_stalled(struct client *c)
{
	return c->nboots >= PENDING_MAX;
}

/* Nothing in flight for c, nothing half sent or unsent. */
static bool
client_idle(struct client *c)
{
	return c->nboots == 0 && !c->following &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) == 0 &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0;
}

/*
 * Answer why, then close once the answer is out and the peer is done:
 * closing with unread input would reset the connection and lose the
 * answer.  What the peer still sends is discarded; the sweep closes the
 * connection CLOSING_MS later in any case.
 */
static void
client_close_with(struct client *c, const char *why)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);

	evbuffer_drain(in, evbuffer_get_length(in));
	c->closing = true;
	c->active_us = clock_mono_us();
	c->line_us = 0;
	client_send(c, ctl_answer_error(0, "%s", why));
}

/* Answer the complete requests in c's input, as far as its limits let. */
static void
client_process(struct client *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len;
	char *line;
	int gone;

	if (c->closing || c->dropped) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	while (!client_stalled(c) &&
	    (line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
		c->line_us = 0;
		c->active_us = clock_mono_us();
		if (len > CTL_LINE_MAX) {
			free(line);
			goto toolong;
		}
		gone = len > 0 ? client_request(c, line, len) : 0;
		free(line);
		if (gone == -1 || c->dropped)
			return;
	}
	if (client_stalled(c)) {
		/* Until boot_done runs this again. */
		bufferevent_disable(c->bev, EV_READ);
		c->line_us = 0;
		return;
	}
	bufferevent_enable(c->bev, EV_READ);
	if (evbuffer_get_length(in) > CTL_LINE_MAX)
		goto toolong;
	if (evbuffer_get_length(in) == 0)
		c->line_us = 0;
	else if (c->line_us == 0)
		c->line_us = clock_mono_us();
	return;
toolong:
	log_warnx("control: pid %ld sent a line over %d bytes; dropped",
	    (long)c->pid, CTL_LINE_MAX);
	client_close_with(c, "request line too long");
}

static void
client_read(struct bufferevent *bev, void *arg)
{
	client_process(arg);
}

/* The output drained: end a closing client's side. */
static void
client_written(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	c->write_us = 0;
	if (c->closing)
		shutdown(bufferevent_getfd(bev), SHUT_WR);
}

static void
client_event(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;

	if (what & BEV_EVENT_ERROR)
		log_debug("control: pid %ld: %s", (long)c->pid,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	client_free(c);
}

static void
client_free(struct client *c)
{
	struct control *ctl = c->control;
	struct boot_wait *b;

	while ((b = c->boots) != NULL) {
		c->boots = b->next;
		lifecycle_wait_cancel(ctl->cmds.env.lc, b->waiter);
		free(b);
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ctl->clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	ctl->nclients--;
	bufferevent_free(c->bev);
	free(c);
}

/*
 * Close the clients past a deadline: a request line not finished within
 * REQUEST_MS, nothing in flight for IDLE_MS, or a closing client that
 * did not hang up within CLOSING_MS.  Time is counted from the last
 * whole request, so trickling bytes buys nothing.
 */
static void
sweep(evutil_socket_t fd, short ev, void *arg)
{
	struct control *ctl = arg;
	struct client *c, *next;
	uint64_t now = clock_mono_us();

	if (ctl->evicted > 0) {
		log_warnx("control: %u clients closed to make room (at most "
		    "%d at once)", ctl->evicted, CLIENTS_MAX);
		ctl->evicted = 0;
	}
	for (c = ctl->clients; c != NULL; c = next) {
		next = c->next;
		if (c->dropped)
			continue;
		if (c->write_us != 0 &&
		    now - c->write_us > WRITE_MS * 1000ULL)
			client_drop(c);
		else if (c->closing) {
			if (now - c->active_us > CLOSING_MS * 1000ULL)
				client_free(c);
		} else if (c->line_us != 0 &&
		    now - c->line_us > REQUEST_MS * 1000ULL) {
			log_warnx("control: pid %ld did not finish a request "
			    "within %d s; closed", (long)c->pid,
			    REQUEST_MS / 1000);
			client_free(c);
		} else if (client_idle(c) &&
		    now - c->active_us > IDLE_MS * 1000ULL) {
			log_debug("control: pid %ld idle for %d s; closed",
			    (long)c->pid, IDLE_MS / 1000);
			client_free(c);
		}
	}
}

/*
 * The client to close when the table is full: the one idle longest,
 * first among those with nothing in flight, then those following
 * events, then those waiting for a boot.  NULL if every client is
 * already on its way out.
 */
static struct client *
client_victim(struct control *ctl)
{
	struct client *c, *best = NULL;
	int rank, best_rank = 3;

	for (c = ctl->clients; c != NULL; c = c->next) {
		if (c->dropped || c->closing)
			continue;
		rank = c->nboots > 0 ? 2 : c->following ? 1 : 0;
		if (rank < best_rank || (rank == best_rank &&
		    c->active_us < best->active_us)) {
			best = c;
			best_rank = rank;
		}
	}
	return best;
}

/*
 * Whether the peer on fd is in group gid through its supplementary
 * groups (SO_PEERGROUPS: the groups it had when it connected).
 */
static bool
peer_in_group(int fd, gid_t gid)
{
	gid_t stack[64], *groups = stack;
	socklen_t len = sizeof(stack);
	bool found = false;
	size_t i;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == -1) {
		if (errno != ERANGE || (groups = malloc(len)) == NULL ||
		    getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups,
		    &len) == -1) {
			log_warn("control: SO_PEERGROUPS");
			if (groups != stack)
				free(groups);
			return false;
		}
	}
	for (i = 0; i < len / sizeof(gid_t) && !found; i++)
		found = groups[i] == gid;
	if (groups != stack)
		free(groups);
	return found;
}

static void
accept_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct control *ctl = arg;

	event_add(ctl->ev_accept, NULL);
}

static void
control_accept(evutil_socket_t lfd, short ev, void *arg)
{
	struct control *ctl = arg;
	struct timeval pause = { 1, 0 };
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct client *c, *victim;
	int fd;

	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd == -1) {
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/* Stop spinning on a full table; retry in a second. */
			log_warn("control: accept");
			event_del(ctl->ev_accept);
			evtimer_add(ctl->ev_pause, &pause);
		} else if (errno != EAGAIN && errno != EINTR &&
		    errno != ECONNABORTED)
			log_warn("control: accept");
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == -1) {
		log_warn("control: SO_PEERCRED");
		close(fd);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("control: client");
		close(fd);
		return;
	}
	c->control = ctl;
	c->uid = cred.uid;
	c->gid = cred.gid;
	c->pid = cred.pid;
	c->may_change = cred.uid == 0 || cred.uid == ctl->owner_uid ||
	    cred.gid == ctl->owner_gid || peer_in_group(fd, ctl->owner_gid);
	c->active_us = clock_mono_us();
	c->bev = bufferevent_socket_new(ctl->base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_warnx("control: bufferevent");
		close(fd);
		free(c);
		return;
	}
	bufferevent_setcb(c->bev, client_read, client_written, client_event, c);
	/* At most one line (and its newline) waits unread. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, CTL_LINE_MAX + 2);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	if (ctl->nclients >= CLIENTS_MAX &&
	    (victim = client_victim(ctl)) != NULL) {
		log_debug("control: full; closing pid %ld for pid %ld",
		    (long)victim->pid, (long)c->pid);
		client_free(victim);
		ctl->evicted++;
	}
	c->next = ctl->clients;
	if (ctl->clients != NULL)
		ctl->clients->prev = c;
	ctl->clients = c;
	ctl->nclients++;
	log_debug("control: client pid %ld uid %ld", (long)c->pid,
	    (long)c->uid);
}

/*
 * Take over path: refuse if a summond answers there, remove it if it is
 * a stale socket, and make its directory if needed.
 */
static int
prepare_path(const char *path, struct sockaddr_un *sun)
{
	char dir[PATH_MAX], *slash;
	struct stat st;
	int fd;

	if (strlen(path) >= sizeof(sun->sun_path)) {
		log_warnx("control: socket path %s is too long", path);
		return -1;
	}
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	snprintf(sun->sun_path, sizeof(sun->sun_path), "%s", path);

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0755) == -1 && errno != EEXIST) {
			log_warn("control: mkdir %s", dir);
			return -1;
		}
	}
	/* Only ever remove a socket: path may be mistyped (the state). */
	if (lstat(path, &st) == -1) {
		if (errno == ENOENT)
			return 0;
		log_warn("control: %s", path);
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		log_warnx("control: %s exists and is not a socket; not "
		    "replacing it", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		log_warn("control: socket");
		return -1;
	}
	if (connect(fd, (struct sockaddr *)sun, sizeof(*sun)) == 0) {
		close(fd);
		log_warnx("control: another summond is listening on %s", path);
		return -1;
	}
	close(fd);
	if (unlink(path) == -1 && errno != ENOENT) {
		log_warn("control: unlink %s", path);
		return -1;
	}
	return 0;
}

struct control *
control_new(struct event_base *base, const char *path)
{
	struct control *ctl;
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;

	if (prepare_path(path, &sun) == -1)
		return NULL;
	if ((ctl = calloc(1, sizeof(*ctl))) == NULL ||
	    (ctl->path = strdup(path)) == NULL) {
		log_warn("control");
		free(ctl);
		return NULL;
	}
	ctl->base = base;
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (ctl->fd == -1) {
		log_warn("control: socket");
		goto fail;
	}
	/* Never let the socket exist with looser permissions. */
	old = umask(S_IXUSR | S_IXGRP | S_IRWXO);
	if (bind(ctl->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		log_warn("control: bind %s", path);
		goto fail;
	}
	umask(old);
	if (chmod(path, 0660) == -1 || stat(path, &st) == -1) {
		log_warn("control: chmod %s", path);
		goto fail;
	}
	ctl->owner_uid = st.st_uid;
	ctl->owner_gid = st.st_gid;
	if (listen(ctl->fd, 64) == -1) {
		log_warn("control: listen %s", path);
		goto fail;
	}
	ctl->ev_accept = event_new(base, ctl->fd, EV_READ | EV_PERSIST,
	    control_accept, ctl);
	ctl->ev_pause = evtimer_new(base, accept_resume, ctl);
	ctl->ev_reap = evtimer_new(base, reap_dropped, ctl);
	ctl->ev_sweep = event_new(base, -1, EV_PERSIST, sweep, ctl);
	if (ctl->ev_accept == NULL || ctl->ev_pause == NULL ||
	    ctl->ev_reap == NULL || ctl->ev_sweep == NULL) {
		log_warnx("control: cannot add events");
		goto fail;
	}
	log_info("control: listening on %s", path);
	return ctl;
fail:
	control_free(ctl);
	return NULL;
}

int
control_start(struct control *ctl, const struct control_env *env,
    const struct config *cfg)
{
	struct timeval sweep_tv = clock_tv(SWEEP_MS);

	ctl->cmds.env = *env;
	ctl->cmds.cfg = cfg;
	if (event_add(ctl->ev_accept, NULL) == -1 ||
	    event_add(ctl->ev_sweep, &sweep_tv) == -1) {
		log_warnx("control: cannot add events");
		return -1;
	}
	return 0;
}

void
control_set_config(struct control *ctl, const struct config *cfg)
{
	ctl->cmds.cfg = cfg;
}

void
control_free(struct control *ctl)
{
	if (ctl == NULL)
		return;
	while (ctl->clients != NULL)
		client_free(ctl->clients);
	if (ctl->ev_accept != NULL)
		event_free(ctl->ev_accept);
	if (ctl->ev_pause != NULL)
		event_free(ctl->ev_pause);
	if (ctl->ev_reap != NULL)
		event_free(ctl->ev_reap);
	if (ctl->ev_sweep != NULL)
		event_free(ctl->ev_sweep);
	if (ctl->fd != -1) {
		close(ctl->fd);
		unlink(ctl->path);
	}
	free(ctl->path);
	free(ctl);
}

void
control_publish(struct control *ctl, const struct store_event *ev)
{
	struct client *c, *next;

	for (c = ctl->clients; c != NULL; c = next) {
		next = c->next;
		if (!c->following || (c->follow_service[0] != '\0' &&
		    strcmp(c->follow_service, ev->service) != 0))
			continue;
		client_send(c, ctl_push(c->follow_id, "event",
		    cmd_event_json(ev)));
	}
}
