/*
 * proxy.c - listeners and per-service state of the proxy; reload.
 *
 * A listener per (service, port), bound to the service's public
 * address; a port shared by name has one listener for its services
 * (proxy_route.c).  On reload the listeners of services that keep their
 * address and port are kept (held and relayed connections are not
 * disturbed), new ones are bound first, and only when all of them bound
 * are the old ones closed; a port that cannot be bound fails the reload
 * and names the service.  A port that becomes shared, or stops being
 * shared, is taken over with the socket, so that it never stops
 * listening.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "config.h"
#include "lifecycle.h"
#include "log.h"
#include "proxy_internal.h"
#include "relay.h"

#define BACKLOG		1024
#define ACCEPT_BATCH	64	/* accepts per wake-up, then others' turn */
#define RELAY_THREADS_AUTO_MAX	16	/* relay-threads = auto */

static const char *const refusal_names[] = {
	[PROXY_REFUSED_MAX_HELD] = "max-held",
	[PROXY_REFUSED_HOLD_TIMEOUT] = "hold-timeout",
	[PROXY_REFUSED_BOOT_FAILED] = "boot-failed",
	[PROXY_REFUSED_CONNECT] = "connect-failed",
	[PROXY_REFUSED_REMOVED] = "removed",
};

const char *
proxy_refusal_name(enum proxy_refusal r)
{
	return (unsigned)r < PROXY_NREFUSALS ? refusal_names[r] : "?";
}

static void
release_cb(evutil_socket_t fd, short ev, void *arg)
{
	pconn_release_held(arg);
}

void
pservice_release_later(struct pservice *ps)
{
	/* Made on first need: most services never hold anyone. */
	if (ps->release == NULL &&
	    (ps->release = event_new(ps->proxy->base, -1, 0, release_cb,
	    ps)) == NULL) {
		log_warnx("%s: cannot defer releasing held clients", ps->name);
		return;
	}
	event_active(ps->release, 0, 0);
}

static struct pservice *
pservice_find(struct proxy *p, const char *name)
{
	return nameidx_get(&p->byname, name);
}

struct pservice *
pservice_get(struct proxy *p, const struct cfg_service *cfg)
{
	struct pservice *ps = pservice_find(p, cfg->name);

	if (ps != NULL)
		return ps;
	if ((ps = calloc(1, sizeof(*ps) + strlen(cfg->name) + 1)) == NULL)
		return NULL;
	ps->proxy = p;
	ps->cfg = cfg;
	memcpy(ps->name, cfg->name, strlen(cfg->name) + 1);
	if (nameidx_put(&p->byname, ps) == -1) {
		free(ps);
		return NULL;
	}
	TAILQ_INIT(&ps->held);
	TAILQ_INIT(&ps->active);
	TAILQ_INIT(&ps->listeners);
	TAILQ_INSERT_TAIL(&p->services, ps, link);
	return ps;
}

void
pservice_unref(struct pservice *ps)
{
	if (--ps->refs > 0)
		return;
	if (ps->waiter != NULL)
		lifecycle_wait_cancel(ps->proxy->lc, ps->waiter);
	TAILQ_REMOVE(&ps->proxy->services, ps, link);
	nameidx_del(&ps->proxy->byname, ps->name);
	if (ps->release != NULL)
		event_free(ps->release);
	free(ps->stats);
	free(ps);
}

struct proxy_stats *
pservice_stats(struct pservice *ps)
{
	if (ps->stats == NULL &&
	    (ps->stats = calloc(1, sizeof(*ps->stats))) == NULL)
		log_warnx("%s: out of memory for a client", ps->name);
	return ps->stats;
}

/* A listener's address as text, for logs. */
static const char *
listener_addr(const struct listener *l, char *buf, size_t len)
{
	if (inet_ntop(l->family, &l->addr, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

static void
accept_resume(evutil_socket_t fd, short ev, void *arg)
{
	event_add(arg, NULL);
}

int
listen_accept(struct event_base *base, struct event *ev,
    struct event **pause, void (*take)(void *, int), void *arg)
{
	struct timeval tv = { 1, 0 };
	int fd, n, err;

	for (n = 0; n < ACCEPT_BATCH; n++) {
		fd = accept4(event_get_fd(ev), NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC);
		if (fd != -1) {
			take(arg, fd);
			continue;
		}
		if (errno == ECONNABORTED || errno == EPROTO || errno == EINTR)
			continue;		/* that client is gone */
		if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS &&
		    errno != ENOMEM)
			return 0;		/* EAGAIN: the backlog is empty */
		/* Out of descriptors or memory: pause instead of spinning. */
		err = errno;
		if (*pause == NULL &&
		    (*pause = evtimer_new(base, accept_resume, ev)) == NULL)
			return err;	/* keep accepting rather than stop */
		event_del(ev);
		evtimer_add(*pause, &tv);
		return err;
	}
	return 0;
}

static void
take_client(void *arg, int fd)
{
	struct listener *l = arg;

	if (l->ps->cfg == NULL) {
		close(fd);
		return;
	}
	pconn_accept(l->ps, l->guest_port, fd);
}

/* The listening socket is readable: take what the backlog holds. */
static void
accept_ready(evutil_socket_t lfd, short what, void *arg)
{
	struct listener *l = arg;
	char a[INET6_ADDRSTRLEN];
	int err;

	if ((err = listen_accept(l->ps->proxy->base, &l->ev, &l->pause,
	    take_client, l)) != 0)
		log_warnx("%s: accept on %s port %u: %s", l->ps->name,
		    listener_addr(l, a, sizeof(a)), l->public_port,
		    strerror(err));
}

static void
listener_free(struct listener *l)
{
	if (l->fd != -1) {
		event_del(&l->ev);
		close(l->fd);
	}
	if (l->pause != NULL)
		event_free(l->pause);
	TAILQ_REMOVE(&l->ps->listeners, l, ps_link);
	pservice_unref(l->ps);
	free(l);
}

/* Is l listening on port i of service cfg? */
static bool
listener_is_at(const struct listener *l, const struct cfg_service *cfg,
    size_t i)
{
	if (l->public_port != cfg->ports[i].public_port ||
	    l->family != cfg->family)
		return false;
	return cfg->family == AF_INET ?
	    l->addr.v4.s_addr == cfg->address4.s_addr :
	    memcmp(&l->addr.v6, &cfg->address6, sizeof(l->addr.v6)) == 0;
}

/* The port a socket is bound to. */
static uint16_t
socket_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return 0;
	return ntohs(ss.ss_family == AF_INET ?
	    ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
}

int
listen_socket(int family, const void *addr, uint16_t port, uint16_t *bound)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	int fd, one = 1, err;

	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, addr, sizeof(sin->sin_addr));
		sin->sin_port = htons(port);
		len = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, addr, sizeof(sin6->sin6_addr));
		sin6->sin6_port = htons(port);
		len = sizeof(*sin6);
	}
	if ((fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
	    sizeof(one)) == -1 ||
	    bind(fd, (struct sockaddr *)&ss, len) == -1 ||
	    listen(fd, BACKLOG) == -1) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	*bound = socket_port(fd);
	return fd;
}

const void *
service_addr(const struct cfg_service *cfg)
{
	return cfg->family == AF_INET ? (const void *)&cfg->address4 :
	    (const void *)&cfg->address6;
}

/*
 * A listener for port i of service cfg on socket fd, or on a socket of
 * its own when fd is -1; NULL with errno set (and fd closed).
 */
static struct listener *
listener_new(struct proxy *p, const struct cfg_service *cfg, size_t i,
    int fd)
{
	struct listener *l;
	int err;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		goto fail;
	l->fd = -1;
	if ((l->ps = pservice_get(p, cfg)) == NULL) {
		free(l);
		goto fail;
	}
	l->ps->refs++;
	TAILQ_INSERT_TAIL(&l->ps->listeners, l, ps_link);
	l->public_port = cfg->ports[i].public_port;
	l->guest_port = cfg->ports[i].guest_port;
	l->family = cfg->family;
	memcpy(&l->addr, service_addr(cfg), cfg->family == AF_INET ?
	    sizeof(l->addr.v4) : sizeof(l->addr.v6));
	if (fd != -1) {
		l->fd = fd;
		l->bound_port = socket_port(fd);
	} else
		l->fd = listen_socket(cfg->family, service_addr(cfg),
		    l->public_port, &l->bound_port);
	if (l->fd == -1 ||
	    event_assign(&l->ev, p->base, l->fd, EV_READ | EV_PERSIST,
	    accept_ready, l) == -1 || event_add(&l->ev, NULL) == -1) {
		err = errno;
		if (l->fd != -1) {
			close(l->fd);
			l->fd = -1;
		}
		listener_free(l);
		errno = err;
		return NULL;
	}
	log_debug("proxy: %s listening on %s port %u", cfg->name,
	    cfg->address_text, l->public_port);
	return l;
fail:
	err = errno;
	if (fd != -1)
		close(fd);
	errno = err;
	return NULL;
}

static struct listener *
listener_match(struct proxy *p, const struct cfg_service *cfg, size_t i)
{
	struct pservice *ps = pservice_find(p, cfg->name);
	struct listener *l;

	if (ps == NULL)
		return NULL;
	TAILQ_FOREACH(l, &ps->listeners, ps_link)
		if (!l->keep && listener_is_at(l, cfg, i))
			return l;
	return NULL;
}

/*
 * The listener on port i's address and port that no service of the new
 * configuration has claimed yet: when binding finds the port in use, a
 * service renamed (or one replacing a removed one) takes it over.
 */
static struct listener *
listener_on(struct proxy *p, const struct cfg_service *cfg, size_t i)
{
	struct listener *l;

	TAILQ_FOREACH(l, &p->listeners, link)
		if (!l->keep && listener_is_at(l, cfg, i))
			return l;
	return NULL;
}

int
listener_take_fd(struct proxy *p, const struct cfg_service *cfg, size_t i)
{
	struct listener *l = listener_on(p, cfg, i);

	return l != NULL && l->fd != -1 ? fcntl(l->fd, F_DUPFD_CLOEXEC, 0) :
	    -1;
}

/* Commit a take-over: the listener moves to its heir. */
static void
listener_inherit(struct listener *l)
{
	struct pservice *old = l->ps;
	char a[INET6_ADDRSTRLEN];

	TAILQ_REMOVE(&old->listeners, l, ps_link);
	l->ps = l->heir;		/* the heir's reference moves with it */
	l->guest_port = l->heir_guest_port;
	l->heir = NULL;
	TAILQ_INSERT_TAIL(&l->ps->listeners, l, ps_link);
	log_info("proxy: %s port %u now serves service \"%s\"",
	    listener_addr(l, a, sizeof(a)), l->public_port, l->ps->name);
	pservice_unref(old);
}

/* A reload prepared: the new listeners, bound and not yet in use. */
struct proxy_reload {
	const struct config	*cfg;
	struct listener_list	 fresh;
};

struct proxy_reload *
proxy_reload_prepare(struct proxy *p, const struct config *cfg, char *err,
    size_t errlen)
{
	struct proxy_reload *r;
	struct listener *l;
	size_t i, j;
	int fd;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->cfg = cfg;
	TAILQ_INIT(&r->fresh);
	/* First, so that a port no longer shared can take its socket. */
	routers_keep(p, cfg);
	TAILQ_FOREACH(l, &p->listeners, link)
		l->keep = false;
	for (i = 0; i < cfg->nservices; i++) {
		const struct cfg_service *s = &cfg->services[i];
		for (j = 0; j < s->nports; j++) {
			if (s->ports[j].route != CFG_ROUTE_NONE)
				continue;
			if ((l = listener_match(p, s, j)) != NULL) {
				l->keep = true;
				continue;
			}
			if ((l = listener_new(p, s, j, -1)) != NULL) {
				l->keep = true;
				TAILQ_INSERT_TAIL(&r->fresh, l, link);
				continue;
			}
			if (errno == EADDRINUSE &&
			    (l = listener_on(p, s, j)) != NULL) {
				if ((l->heir = pservice_get(p, s)) == NULL) {
					snprintf(err, errlen, "out of memory");
					goto fail;
				}
				l->heir->refs++;
				l->heir_guest_port = s->ports[j].guest_port;
				l->keep = true;
				continue;
			}
			if (errno == EADDRINUSE &&
			    (fd = router_take_fd(p, s->family, service_addr(s),
			    s->ports[j].public_port)) != -1 &&
			    (l = listener_new(p, s, j, fd)) != NULL) {
				l->keep = true;
				TAILQ_INSERT_TAIL(&r->fresh, l, link);
				continue;
			}
			snprintf(err, errlen, "service \"%s\": cannot listen on "
			    "%s port %u: %s", s->name, s->address_text,
			    s->ports[j].public_port, strerror(errno));
			log_warnx("%s", err);
			goto fail;
		}
	}
	if (routers_prepare(p, cfg, err, errlen) == -1)
		goto fail;
	return r;
fail:
	proxy_reload_abort(p, r);
	return NULL;
}

void
proxy_reload_commit(struct proxy *p, struct proxy_reload *r)
{
	const struct config *cfg = r->cfg;
	struct listener *l, *next;
	struct pservice *ps, *pnext;
	size_t i, j;

	TAILQ_FOREACH_SAFE(l, &p->listeners, link, next)
		if (!l->keep) {
			TAILQ_REMOVE(&p->listeners, l, link);
			listener_free(l);
		}
	TAILQ_FOREACH(l, &p->listeners, link)
		if (l->heir != NULL)
			listener_inherit(l);
	TAILQ_CONCAT(&p->listeners, &r->fresh, link);
	free(r);
	routers_commit(p);
	TAILQ_FOREACH(ps, &p->services, link)
		ps->cfg = NULL;
	for (i = 0; i < cfg->nservices; i++) {
		if ((ps = pservice_find(p, cfg->services[i].name)) == NULL)
			continue;
		ps->cfg = &cfg->services[i];
		/* A kept port may lead to another guest port now. */
		TAILQ_FOREACH(l, &ps->listeners, ps_link)
			for (j = 0; j < ps->cfg->nports; j++)
				if (listener_is_at(l, ps->cfg, j))
					l->guest_port =
					    ps->cfg->ports[j].guest_port;
	}
	TAILQ_FOREACH_SAFE(ps, &p->services, link, pnext)
		if (ps->cfg == NULL)
			pconn_refuse_held(ps, PROXY_REFUSED_REMOVED);
	p->cfg = cfg;
}

void
proxy_reload_abort(struct proxy *p, struct proxy_reload *r)
{
	struct listener *l;

	if (r == NULL)
		return;
	routers_abort(p);
	while ((l = TAILQ_FIRST(&r->fresh)) != NULL) {
		TAILQ_REMOVE(&r->fresh, l, link);
		listener_free(l);
	}
	TAILQ_FOREACH(l, &p->listeners, link) {
		if (l->heir != NULL)
			pservice_unref(l->heir);
		l->heir = NULL;
		l->keep = false;
	}
	free(r);
}

/* relay-threads, or one per CPU when it is 0 (auto). */
static unsigned
relay_threads(const struct config *cfg)
{
	long ncpu;

	if (cfg->relay_threads > 0)
		return cfg->relay_threads;
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	return ncpu < 1 ? 1 : ncpu > RELAY_THREADS_AUTO_MAX ?
	    RELAY_THREADS_AUTO_MAX : (unsigned)ncpu;
}

struct proxy *
proxy_new(struct event_base *base, const struct config *cfg,
    struct lifecycle *lc)
{
	struct proxy_reload *r;
	struct proxy *p;
	char err[256];

	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	p->base = base;
	p->lc = lc;
	p->cfg = cfg;
	TAILQ_INIT(&p->services);
	p->byname.name_off = offsetof(struct pservice, name);
	TAILQ_INIT(&p->listeners);
	routers_init(p);
	if ((p->relays = relay_pool_new(base, relay_threads(cfg),
	    pconn_relay_report, p)) == NULL) {
		log_warnx("proxy: cannot start the relay threads");
		free(p);
		return NULL;
	}
	if ((r = proxy_reload_prepare(p, cfg, err, sizeof(err))) == NULL) {
		proxy_free(p);
		return NULL;
	}
	proxy_reload_commit(p, r);
	return p;
}

void
proxy_free(struct proxy *p)
{
	struct listener *l;
	struct pservice *ps;
	struct pconn *c;

	if (p == NULL)
		return;
	/* The relay threads stop and close the relayed sockets first. */
	relay_pool_free(p->relays);
	/* Connections hold references; the last one frees the service. */
	TAILQ_FOREACH(ps, &p->services, link)
		ps->refs++;
	routers_free(p);
	while ((l = TAILQ_FIRST(&p->listeners)) != NULL) {
		TAILQ_REMOVE(&p->listeners, l, link);
		listener_free(l);
	}
	while ((ps = TAILQ_FIRST(&p->services)) != NULL) {
		while ((c = TAILQ_FIRST(&ps->held)) != NULL)
			pconn_free(c);
		while ((c = TAILQ_FIRST(&ps->active)) != NULL)
			pconn_free(c);
		pservice_unref(ps);
	}
	nameidx_clear(&p->byname);
	free(p);
}

void
proxy_service_stats(struct proxy *p, const char *service,
    struct proxy_stats *st)
{
	struct pservice *ps = pservice_find(p, service);

	if (ps != NULL && ps->stats != NULL)
		*st = *ps->stats;
	else
		memset(st, 0, sizeof(*st));
}

void
proxy_foreach_stats(struct proxy *p,
    void (*fn)(void *, const char *, const struct proxy_stats *), void *arg)
{
	static const struct proxy_stats none;
	struct pservice *ps;

	TAILQ_FOREACH(ps, &p->services, link)
		if (ps->cfg != NULL)
			fn(arg, ps->name, ps->stats != NULL ? ps->stats : &none);
}

uint64_t
proxy_removed_total(struct proxy *p)
{
	return p->removed;
}

const struct hist *
proxy_hold_hist(struct proxy *p)
{
	return &p->hist;
}

uint16_t
proxy_bound_port(struct proxy *p, const char *service, uint16_t public_port)
{
	struct pservice *ps = pservice_find(p, service);
	struct listener *l;

	if (ps == NULL)
		return 0;
	TAILQ_FOREACH(l, &ps->listeners, ps_link)
		if (l->public_port == public_port)
			return l->bound_port;
	return router_bound_port(p, ps, public_port);
}
