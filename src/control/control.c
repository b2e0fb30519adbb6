/*
 * control.c - summond's control socket: clients, permissions, commands.
 *
 * An AF_UNIX stream socket, mode 0660.  Each client gets a bufferevent;
 * requests are JSON lines (control_proto.c), answered in any order by
 * id.  Read commands are open to whoever can connect; commands that
 * change something need the peer (SO_PEERCRED) to be root, the socket's
 * owner or of the socket's group.  A client that does not read its
 * answers is dropped when one is due while OUTPUT_MAX of earlier ones
 * wait, so no client can make summond buffer without bound.
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
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "lifecycle.h"
#include "log.h"
#include "store.h"

#define OUTPUT_MAX	(4 * 1024 * 1024)	/* unread answers per client */
#define CLIENTS_MAX	256

struct client;

/* A "boot" request waiting for its service. */
struct boot_wait {
	struct boot_wait	*next;
	struct client		*client;
	struct lc_waiter	*waiter;
	int64_t			 id;
	uint64_t		 started_us;
	char			 service[64];
};

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
};

struct control {
	struct daemon		*d;
	char			*path;
	int			 fd;
	struct event		*ev_accept;
	struct event		*ev_pause;	/* accept paused on EMFILE */
	struct event		*ev_reap;	/* frees dropped clients */
	struct client		*clients;
	size_t			 nclients;
	uid_t			 owner_uid;
	gid_t			 owner_gid;
};

static void	client_free(struct client *);

/* How long a client we are closing may take to hang up. */
static const struct timeval closing_timeout = { 5, 0 };

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
static int
client_check_output(struct client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	static const struct timeval now = { 0, 0 };

	if (c->dropped)
		return -1;
	if (evbuffer_get_length(out) > OUTPUT_MAX) {
		log_warnx("control: client pid %ld does not read its answers; "
		    "dropped", (long)c->pid);
		c->dropped = true;
		c->following = false;
		bufferevent_disable(c->bev, EV_READ | EV_WRITE);
		evtimer_add(c->control->ev_reap, &now);
		return -1;
	}
	return 0;
}

/* Queue line (freeing it) for c; drop c if it stopped reading. */
static int
client_send(struct client *c, char *line)
{
	if (line == NULL) {
		log_warnx("control: cannot encode an answer");
		return 0;
	}
	if (client_check_output(c) == -1) {
		free(line);
		return -1;
	}
	evbuffer_add(bufferevent_get_output(c->bev), line, strlen(line));
	free(line);
	return 0;
}

static json_t *
json_ms_or_null(int64_t ms)
{
	return ms < 0 ? json_null() : json_integer(ms);
}

/* One service as list and status show it. */
static json_t *
service_json(struct control *ctl, const struct cfg_service *s)
{
	struct lc_info info;
	json_t *o;

	if (lifecycle_info(ctl->d->lc, s->name, &info) == -1)
		return NULL;
	o = json_pack("{s:s, s:s, s:s, s:s, s:s}",
	    "service", s->name,
	    "state", lifecycle_state_name(info.state),
	    "address", s->address_text,
	    "guest_address", info.guest_address,
	    "domain", info.domain);
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "uptime_s", info.uptime_ms < 0 ? json_null() :
	    json_integer(info.uptime_ms / 1000));
	json_object_set_new(o, "idle_s", info.idle_ms < 0 ? json_null() :
	    json_integer(info.idle_ms / 1000));
	json_object_set_new(o, "boots", json_integer((json_int_t)info.boots));
	json_object_set_new(o, "last_boot_ms",
	    json_ms_or_null(info.last_boot_ms));
	return o;
}

static json_t *
list_item(void *arg, size_t i)
{
	struct control *ctl = arg;

	return service_json(ctl, &ctl->d->cfg->services[i]);
}

static int
append_evbuffer(const char *buf, size_t len, void *arg)
{
	return evbuffer_add(arg, buf, len);
}

/*
 * The answer is encoded a service at a time into a buffer that then
 * moves to c's output without a copy: with 10,000 services a JSON tree
 * of them all was ~17 MB of small allocations, freed again at once but
 * left behind as holes in the heap.
 */
static int
cmd_list(struct client *c, int64_t id)
{
	struct control *ctl = c->control;
	struct evbuffer *buf;

	if (client_check_output(c) == -1)
		return -1;
	if ((buf = evbuffer_new()) == NULL)
		return client_send(c, ctl_answer_error(id, "out of memory"));
	if (ctl_answer_ok_array(id, "services", ctl->d->cfg->nservices,
	    list_item, ctl, append_evbuffer, buf) == -1) {
		evbuffer_free(buf);
		return client_send(c, ctl_answer_error(id, "cannot encode "
		    "the list"));
	}
	evbuffer_add_buffer(bufferevent_get_output(c->bev), buf);
	evbuffer_free(buf);
	return 0;
}

static char *
cmd_status(struct control *ctl, const struct ctl_request *req)
{
	const struct cfg_service *s = config_service(ctl->d->cfg, req->service);
	struct lc_info info;
	json_t *o, *ports, *names, *wakes;
	size_t i;

	if (s == NULL)
		return ctl_answer_error(req->id, "unknown service \"%s\"",
		    req->service);
	o = service_json(ctl, s);
	lifecycle_info(ctl->d->lc, s->name, &info);
	names = json_array();
	for (i = 0; i < s->nnames; i++)
		json_array_append_new(names, json_string(s->names[i]));
	ports = json_array();
	for (i = 0; i < s->nports; i++)
		json_array_append_new(ports, json_pack("{s:i, s:i}",
		    "public", s->ports[i].public_port,
		    "guest", s->ports[i].guest_port));
	wakes = json_object();
	for (i = 0; i < LC_NSOURCES; i++)
		json_object_set_new(wakes, lifecycle_source_name(i),
		    json_integer((json_int_t)info.wakes[i]));
	json_object_set_new(o, "names", names);
	json_object_set_new(o, "ports", ports);
	json_object_set_new(o, "wakes", wakes);
	json_object_set_new(o, "stop_mode",
	    json_string(config_stop_mode_name(s->stop_mode)));
	json_object_set_new(o, "standby", json_integer(s->standby));
	json_object_set_new(o, "idle_timeout_ms",
	    json_integer((json_int_t)s->idle_timeout_ms));
	json_object_set_new(o, "memory", json_integer((json_int_t)s->memory));
	return ctl_answer_ok(req->id, o);
}

static json_t *
event_json(const struct store_event *ev)
{
	return json_pack("{s:I, s:I, s:s, s:I, s:s, s:s}",
	    "id", (json_int_t)ev->id, "at_ms", (json_int_t)ev->at_ms,
	    "service", ev->service, "instance", (json_int_t)ev->instance,
	    "kind", ev->kind, "detail", ev->detail);
}

static int
collect_event(void *arg, const struct store_event *ev)
{
	json_array_append_new(arg, event_json(ev));
	return 0;
}

static char *
cmd_events(struct client *c, const struct ctl_request *req)
{
	struct control *ctl = c->control;
	json_t *a = json_array();

	if (req->service[0] != '\0' &&
	    config_service(ctl->d->cfg, req->service) == NULL) {
		json_decref(a);
		return ctl_answer_error(req->id, "unknown service \"%s\"",
		    req->service);
	}
	if (req->n > 0 && store_events(ctl->d->store,
	    req->service[0] ? req->service : NULL, 0, req->n, collect_event,
	    a) == -1) {
		json_decref(a);
		return ctl_answer_error(req->id, "cannot read events: %s",
		    store_errmsg(ctl->d->store));
	}
	if (req->follow) {
		c->following = true;
		c->follow_id = req->id;
		snprintf(c->follow_service, sizeof(c->follow_service), "%s",
		    req->service);
	}
	return ctl_answer_ok(req->id, json_pack("{s:o, s:b}", "events", a,
	    "following", req->follow));
}

static char *
cmd_reap(struct control *ctl, const struct ctl_request *req)
{
	const struct config *cfg = ctl->d->cfg;
	json_t *stopped = json_array();
	size_t i;

	for (i = 0; i < req->nservices; i++)
		if (config_service(cfg, req->services[i]) == NULL) {
			json_decref(stopped);
			return ctl_answer_error(req->id, "unknown service "
			    "\"%s\"", req->services[i]);
		}
	if (req->nservices > 0) {
		for (i = 0; i < req->nservices; i++)
			if (lifecycle_stop(ctl->d->lc, req->services[i],
			    "manual") == 0)
				json_array_append_new(stopped,
				    json_string(req->services[i]));
	} else {
		for (i = 0; i < cfg->nservices; i++) {
			const char *name = cfg->services[i].name;
			if (req->idle && !lifecycle_is_idle(ctl->d->lc, name))
				continue;
			if (lifecycle_stop(ctl->d->lc, name, "manual") == 0)
				json_array_append_new(stopped,
				    json_string(name));
		}
	}
	return ctl_answer_ok(req->id, json_pack("{s:o}", "stopping", stopped));
}

static void
boot_wait_unlink(struct boot_wait *b)
{
	struct boot_wait **pp;

	for (pp = &b->client->boots; *pp != NULL; pp = &(*pp)->next)
		if (*pp == b) {
			*pp = b->next;
			break;
		}
}

static void
boot_done(void *arg, const char *service, bool ok)
{
	struct boot_wait *b = arg;
	struct client *c = b->client;
	uint64_t ms = (clock_mono_us() - b->started_us) / 1000;

	boot_wait_unlink(b);
	if (ok)
		client_send(c, ctl_answer_ok(b->id, json_pack("{s:s, s:s, "
		    "s:I}", "service", service, "state", "ready", "ms",
		    (json_int_t)ms)));
	else
		client_send(c, ctl_answer_error(b->id, "%s: boot failed "
		    "after %llu ms", service, (unsigned long long)ms));
	free(b);
}

static char *
cmd_boot(struct client *c, const struct ctl_request *req)
{
	struct control *ctl = c->control;
	struct boot_wait *b;
	int state;

	if (config_service(ctl->d->cfg, req->service) == NULL)
		return ctl_answer_error(req->id, "unknown service \"%s\"",
		    req->service);
	state = lifecycle_wake(ctl->d->lc, req->service, LC_SRC_CTL);
	if (state == LC_READY)
		return ctl_answer_ok(req->id, json_pack("{s:s, s:s, s:i}",
		    "service", req->service, "state", "ready", "ms", 0));
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return ctl_answer_error(req->id, "out of memory");
	b->client = c;
	b->id = req->id;
	b->started_us = clock_mono_us();
	snprintf(b->service, sizeof(b->service), "%s", req->service);
	b->waiter = lifecycle_wait(ctl->d->lc, req->service, boot_done, b);
	if (b->waiter == NULL) {
		free(b);
		if (errno == EALREADY)
			return ctl_answer_ok(req->id, json_pack("{s:s, s:s, "
			    "s:i}", "service", req->service, "state", "ready",
			    "ms", 0));
		if (errno == ECANCELED)
			return ctl_answer_error(req->id, "%s: boot failed (see "
			    "summonctl events %s)", req->service,
			    req->service);
		return ctl_answer_error(req->id, "cannot wait for %s: %s",
		    req->service, strerror(errno));
	}
	b->next = c->boots;
	c->boots = b;
	client_send(c, ctl_push(req->id, "progress", json_pack("{s:s}",
	    "state", lifecycle_state_name((enum lc_state)state))));
	return NULL;	/* answered when the lifecycle calls back */
}

static char *
cmd_reload(struct control *ctl, const struct ctl_request *req)
{
	char err[4096];

	if (daemon_reload(ctl->d, err, sizeof(err)) == -1)
		return ctl_answer_error(req->id, "configuration rejected, the "
		    "old one stays:\n%s", err);
	return ctl_answer_ok(req->id, json_pack("{s:i}", "services",
	    (int)ctl->d->cfg->nservices));
}

/* Handle one request line; returns -1 if c was freed. */
static int
client_request(struct client *c, const char *line, size_t len)
{
	struct control *ctl = c->control;
	struct ctl_request req;
	char err[256], *answer = NULL;
	int64_t id;

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
	id = req.id;
	switch (req.cmd) {
	case CTL_LIST:
		ctl_request_clear(&req);	/* holds nothing list needs */
		return cmd_list(c, id);
	case CTL_STATUS:
		answer = cmd_status(ctl, &req);
		break;
	case CTL_BOOT:
		answer = cmd_boot(c, &req);
		break;
	case CTL_REAP:
		answer = cmd_reap(ctl, &req);
		break;
	case CTL_EVENTS:
		answer = cmd_events(c, &req);
		break;
	case CTL_RELOAD:
		answer = cmd_reload(ctl, &req);
		break;
	}
	ctl_request_clear(&req);
	return answer != NULL ? client_send(c, answer) : 0;
}

static void
client_read(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;
	char *line;

	if (c->closing || c->dropped) {
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	while ((line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF)) != NULL) {
		int gone;
		if (len > CTL_LINE_MAX) {
			free(line);
			goto toolong;
		}
		gone = len > 0 ? client_request(c, line, len) : 0;
		free(line);
		if (gone == -1)
			return;
	}
	if (evbuffer_get_length(in) > CTL_LINE_MAX)
		goto toolong;
	return;
toolong:
	log_warnx("control: pid %ld sent a line over %d bytes; dropped",
	    (long)c->pid, CTL_LINE_MAX);
	/*
	 * Answer, then close once the answer is out and the peer is done:
	 * closing with unread input would reset the connection and lose the
	 * answer.  What the peer still sends is discarded.
	 */
	evbuffer_drain(in, evbuffer_get_length(in));
	c->closing = true;
	if (client_send(c, ctl_answer_error(0, "request line too long")) == 0)
		bufferevent_set_timeouts(c->bev, &closing_timeout, NULL);
}

/* Once a closing client's answer is written, end our side. */
static void
client_written(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

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
		lifecycle_wait_cancel(ctl->d->lc, b->waiter);
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
	if (ctl->nclients < CLIENTS_MAX && ctl->ev_accept != NULL &&
	    !event_pending(ctl->ev_accept,
	    EV_READ, NULL) && !evtimer_pending(ctl->ev_pause, NULL))
		event_add(ctl->ev_accept, NULL);
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
	struct client *c;
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
	    cred.gid == ctl->owner_gid;
	c->bev = bufferevent_socket_new(ctl->d->base, fd,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		log_warnx("control: bufferevent");
		close(fd);
		free(c);
		return;
	}
	bufferevent_setcb(c->bev, client_read, client_written, client_event, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->next = ctl->clients;
	if (ctl->clients != NULL)
		ctl->clients->prev = c;
	ctl->clients = c;
	if (++ctl->nclients >= CLIENTS_MAX) {
		log_warnx("control: %d clients; not accepting more for now",
		    CLIENTS_MAX);
		event_del(ctl->ev_accept);
	}
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
control_new(struct daemon *d, const char *path)
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
	ctl->d = d;
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
	ctl->ev_accept = event_new(d->base, ctl->fd, EV_READ | EV_PERSIST,
	    control_accept, ctl);
	ctl->ev_pause = evtimer_new(d->base, accept_resume, ctl);
	ctl->ev_reap = evtimer_new(d->base, reap_dropped, ctl);
	if (ctl->ev_accept == NULL || ctl->ev_pause == NULL ||
	    ctl->ev_reap == NULL ||
	    event_add(ctl->ev_accept, NULL) == -1) {
		log_warnx("control: cannot add events");
		goto fail;
	}
	log_info("control: listening on %s", path);
	return ctl;
fail:
	control_free(ctl);
	return NULL;
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
		client_send(c, ctl_push(c->follow_id, "event", event_json(ev)));
	}
}
