/*
 * proxy_route.c - shared listeners: one address and port for every
 * service that routes it by name (ports = 443/sni, 80/host).
 *
 * A connection accepted there is read, its bytes kept in its
 * bufferevent's input, until route.c finds the host it names; the
 * service with that name (else the port's route-default) then holds it
 * like a client of a port of its own (proxy_conn.c), and the guest gets
 * those bytes first, as the client sent them.  TLS is not terminated
 * and HTTP not answered: the proxy reads no more than the name.
 *
 * Reading is bounded in bytes (ROUTE_PEEK_MAX), in time (PEEK_TIMEOUT_MS
 * from the accept, so that trickling buys nothing) and in number
 * (PEEK_MAX_CONNS at once, all shared listeners together: beyond it the
 * one read longest is closed, as a client that names its host does so
 * in its first round trip and the oldest is the likeliest never to).
 * The deadlines come in accept order, so one timer, for the oldest,
 * serves them all.
 *
 * Each shared listener has a table of its services' names, built whole
 * by a reload's prepare and swapped in by its commit.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "log.h"
#include "proxy_internal.h"
#include "route.h"

/*
 * A client sends its ClientHello or request at once, one round trip
 * after the connect; 5 s leaves room for a lossy path's retransmits
 * (an initial RTO of 1 s, doubled twice) and is what a client that
 * never sends its name holds a slot for.
 */
#define PEEK_TIMEOUT_MS	5000
/* At most 16 MiB of reads (ROUTE_PEEK_MAX each) waiting for a name. */
#define PEEK_MAX_CONNS	1024

/* One name of a service on a shared listener. */
struct route_name {
	struct pservice	*ps;		/* a reference */
	uint16_t	 guest_port;
	char		 name[];	/* lower case, with its trailing dot */
};

/* A shared listener's services. */
struct table {
	struct nameidx	 byname;	/* struct route_name by name */
	struct route_name **names;	/* all of them, to free */
	size_t		 nnames, capnames;
	struct pservice	*dflt;		/* route-default (a reference), or NULL */
	uint16_t	 dflt_guest_port;
};

struct router {
	TAILQ_ENTRY(router)	 link;		/* proxy->routers */
	struct proxy		*proxy;
	struct event		 ev;		/* readable: accept */
	struct event		*pause;		/* accept paused on EMFILE */
	int			 fd;
	int			 family;
	union {
		struct in_addr	 v4;
		struct in6_addr	 v6;
	}			 addr;
	uint16_t		 public_port;
	uint16_t		 bound_port;
	enum cfg_route		 route;
	enum cfg_route		 next_route;	/* reload: cfg's */
	bool			 keep;		/* reload: cfg has it */
	bool			 fresh;		/* reload: bound by this prepare */
	struct table		*table;		/* in use */
	struct table		*next;		/* reload: cfg's */
	uint64_t		 connections;
	uint64_t		 peeking;
	uint64_t		 refused[PROXY_NROUTE_REFUSALS];
	char			 at[INET6_ADDRSTRLEN + 8];	/* its key:
						   "127.0.0.2:443", "[::1]:80" */
};

/* A connection being read for the name it asks for. */
struct peek {
	TAILQ_ENTRY(peek)	 link;		/* proxy->peeking, oldest first */
	struct router		*r;
	struct bufferevent	*bev;
	uint64_t		 accepted_us;
	enum cfg_route		 route;		/* the listener's at the accept */
	struct route_state	 st;
};

static const char *const route_refusal_names[] = {
	[PROXY_ROUTE_NO_NAME] = "no_name",
	[PROXY_ROUTE_NO_MATCH] = "no_match",
	[PROXY_ROUTE_MALFORMED] = "malformed",
	[PROXY_ROUTE_PEEK_TIMEOUT] = "peek_timeout",
};

/* What a client that names no host of ours is told before the close. */
static const char http_421[] = "HTTP/1.1 421 Misdirected Request\r\n"
    "Content-Length: 0\r\nConnection: close\r\n\r\n";
/* A fatal unrecognized_name alert: RFC 6066 3, RFC 8446 6. */
static const uint8_t tls_unrecognized_name[] = { 21, 3, 3, 0, 2, 2, 112 };

const char *
proxy_route_refusal_name(enum proxy_route_refusal r)
{
	return (unsigned)r < PROXY_NROUTE_REFUSALS ? route_refusal_names[r] :
	    "?";
}

/* ---- tables --------------------------------------------------------- */

static void
table_free(struct table *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nnames; i++) {
		pservice_unref(t->names[i]->ps);
		free(t->names[i]);
	}
	free(t->names);
	nameidx_clear(&t->byname);
	if (t->dflt != NULL)
		pservice_unref(t->dflt);
	free(t);
}

static struct table *
table_new(void)
{
	struct table *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->byname.name_off = offsetof(struct route_name, name);
	return t;
}

/* Service s, on the listener of its port i, into t; -1: no memory. */
static int
table_add(struct proxy *p, struct table *t, const struct cfg_service *s,
    size_t i)
{
	struct route_name *rn, **v;
	struct pservice *ps;
	size_t j, len;

	if ((ps = pservice_get(p, s)) == NULL)
		return -1;
	if (s->route_default) {
		t->dflt = ps;
		t->dflt_guest_port = s->ports[i].guest_port;
		ps->refs++;
	}
	for (j = 0; j < s->nnames; j++) {
		if (t->nnames == t->capnames) {
			if ((v = reallocarray(t->names, t->capnames * 2 + 4,
			    sizeof(*v))) == NULL)
				return -1;
			t->names = v;
			t->capnames = t->capnames * 2 + 4;
		}
		len = strlen(s->names[j]) + 1;
		if ((rn = malloc(sizeof(*rn) + len)) == NULL)
			return -1;
		rn->ps = ps;
		rn->guest_port = s->ports[i].guest_port;
		memcpy(rn->name, s->names[j], len);
		ps->refs++;
		t->names[t->nnames++] = rn;
		if (nameidx_put(&t->byname, rn) == -1)
			return -1;
	}
	return 0;
}

/* Whether ps is on the listener of t. */
static bool
table_has(const struct table *t, const struct pservice *ps)
{
	size_t i;

	if (t == NULL)
		return false;
	if (t->dflt == ps)
		return true;
	for (i = 0; i < t->nnames; i++)
		if (t->names[i]->ps == ps)
			return true;
	return false;
}

/* ---- reading for the name ------------------------------------------ */

static void
peek_close(struct peek *k)
{
	struct proxy *p = k->r->proxy;

	TAILQ_REMOVE(&p->peeking, k, link);
	p->npeeking--;
	k->r->peeking--;
	if (k->bev != NULL)
		bufferevent_free(k->bev);
	free(k);
}

static void
peek_refuse(struct peek *k, enum proxy_route_refusal why)
{
	int fd = bufferevent_getfd(k->bev);

	k->r->refused[why]++;
	/*
	 * A word on why, where the protocol has one.  The client sent all
	 * it meant to before this, so the socket's buffer takes it whole
	 * and the close that follows is a FIN.
	 */
	if (why == PROXY_ROUTE_NO_NAME || why == PROXY_ROUTE_NO_MATCH) {
		if (k->route == CFG_ROUTE_HOST)
			send(fd, http_421, sizeof(http_421) - 1,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
		else
			send(fd, tls_unrecognized_name,
			    sizeof(tls_unrecognized_name),
			    MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	log_debug("proxy: %s: client closed: %s%s%s", k->r->at,
	    proxy_route_refusal_name(why), k->st.name[0] != '\0' ? " " : "",
	    k->st.name);
	peek_close(k);
}

/* k goes to ps: held there, its bytes kept for the guest. */
static void
peek_route(struct peek *k, struct pservice *ps, uint16_t guest_port,
    bool by_default)
{
	struct bufferevent *bev = k->bev;
	uint64_t at = k->accepted_us;

	k->bev = NULL;
	peek_close(k);
	if (pservice_stats(ps) == NULL) {
		bufferevent_free(bev);
		return;
	}
	if (by_default)
		ps->stats->routed_default++;
	else
		ps->stats->routed_name++;
	pconn_hold(ps, guest_port, bev, at);
}

/* The name is known, or that there is none. */
static void
peek_decide(struct peek *k, enum route_result res)
{
	const struct table *t = k->r->table;
	const struct route_name *rn = NULL;
	char key[ROUTE_NAME_MAX + 2];
	size_t n;

	if (res == ROUTE_FOUND) {
		/* The table's names end with the root's dot. */
		n = strlen(k->st.name);
		memcpy(key, k->st.name, n);
		key[n] = '.';
		key[n + 1] = '\0';
		rn = nameidx_get(&t->byname, key);
	}
	if (rn != NULL)
		peek_route(k, rn->ps, rn->guest_port, false);
	else if (t->dflt != NULL)
		peek_route(k, t->dflt, t->dflt_guest_port, true);
	else
		peek_refuse(k, res == ROUTE_FOUND ? PROXY_ROUTE_NO_MATCH :
		    PROXY_ROUTE_NO_NAME);
}

static void
peek_read(struct bufferevent *bev, void *arg)
{
	struct peek *k = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	enum route_result res;
	const uint8_t *buf;

	if (len < k->st.want)
		return;
	/* One piece: what came since the last read is appended to it. */
	if ((buf = evbuffer_pullup(in, -1)) == NULL) {
		log_warnx("proxy: %s: out of memory", k->r->at);
		peek_close(k);
		return;
	}
	res = k->route == CFG_ROUTE_SNI ? route_sni(&k->st, buf, len) :
	    route_host(&k->st, buf, len);
	switch (res) {
	case ROUTE_MORE:
		/* The read watermark stops at the limit: nothing will come. */
		if (len >= ROUTE_PEEK_MAX)
			peek_refuse(k, PROXY_ROUTE_MALFORMED);
		break;
	case ROUTE_FOUND:
	case ROUTE_NO_NAME:
		peek_decide(k, res);
		break;
	case ROUTE_MALFORMED:
		peek_refuse(k, PROXY_ROUTE_MALFORMED);
		break;
	}
}

/*
 * A FIN or an error before the name: with nothing sent, the client has
 * gone (not counted); with a part sent, its name will never come.
 */
static void
peek_event(struct bufferevent *bev, short what, void *arg)
{
	struct peek *k = arg;

	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	if ((what & BEV_EVENT_EOF) &&
	    evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
		peek_refuse(k, PROXY_ROUTE_MALFORMED);
		return;
	}
	log_debug("proxy: %s: client went away before naming a host",
	    k->r->at);
	peek_close(k);
}

/* Arm the timer for the deadline of the oldest connection being read. */
static void
peek_arm(struct proxy *p)
{
	struct peek *k = TAILQ_FIRST(&p->peeking);
	uint64_t now = clock_mono_us(), end;
	struct timeval tv;

	if (k == NULL)
		return;
	end = k->accepted_us + PEEK_TIMEOUT_MS * 1000;
	tv = clock_tv(end > now ? (end - now + 999) / 1000 : 0);
	evtimer_add(p->peek_timer, &tv);
}

static void
peek_expired(evutil_socket_t fd, short ev, void *arg)
{
	struct proxy *p = arg;
	uint64_t now = clock_mono_us();
	struct peek *k;

	while ((k = TAILQ_FIRST(&p->peeking)) != NULL &&
	    k->accepted_us + PEEK_TIMEOUT_MS * 1000 <= now)
		peek_refuse(k, PROXY_ROUTE_PEEK_TIMEOUT);
	peek_arm(p);
}

static void
take_peek(void *arg, int fd)
{
	struct router *r = arg;
	struct proxy *p = r->proxy;
	struct peek *k;

	r->connections++;
	if (p->peek_timer == NULL && (p->peek_timer = evtimer_new(p->base,
	    peek_expired, p)) == NULL)
		goto fail;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		goto fail;
	if ((k->bev = bufferevent_socket_new(p->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		free(k);
		goto fail;
	}
	if (p->npeeking >= PEEK_MAX_CONNS)
		peek_refuse(TAILQ_FIRST(&p->peeking),
		    PROXY_ROUTE_PEEK_TIMEOUT);
	k->r = r;
	k->accepted_us = clock_mono_us();
	k->route = r->route;
	TAILQ_INSERT_TAIL(&p->peeking, k, link);
	p->npeeking++;
	r->peeking++;
	bufferevent_setcb(k->bev, peek_read, NULL, peek_event, k);
	bufferevent_setwatermark(k->bev, EV_READ, 0, ROUTE_PEEK_MAX);
	bufferevent_enable(k->bev, EV_READ);
	if (TAILQ_FIRST(&p->peeking) == k)
		peek_arm(p);
	return;
fail:
	log_warnx("proxy: %s: cannot take a connection: out of memory",
	    r->at);
	close(fd);
}

static void
router_accept(evutil_socket_t fd, short what, void *arg)
{
	struct router *r = arg;
	int err;

	if ((err = listen_accept(r->proxy->base, &r->ev, &r->pause, take_peek,
	    r)) != 0)
		log_warnx("proxy: accept on %s: %s", r->at, strerror(err));
}

/* ---- listeners and reload ------------------------------------------ */

/* The key of a shared listener: its address and port as text. */
static void
router_key(char *buf, size_t len, int family, const void *addr,
    uint16_t port)
{
	char a[INET6_ADDRSTRLEN];

	if (inet_ntop(family, addr, a, sizeof(a)) == NULL)
		snprintf(a, sizeof(a), "?");
	snprintf(buf, len, family == AF_INET6 ? "[%s]:%u" : "%s:%u", a, port);
}

static struct router *
router_find(struct proxy *p, int family, const void *addr, uint16_t port)
{
	char key[INET6_ADDRSTRLEN + 8];

	router_key(key, sizeof(key), family, addr, port);
	return nameidx_get(&p->routers_at, key);
}

static void
router_free(struct router *r)
{
	struct proxy *p = r->proxy;
	struct peek *k, *next;

	size_t i;

	TAILQ_FOREACH_SAFE(k, &p->peeking, link, next)
		if (k->r == r)
			peek_close(k);
	for (i = 0; i < PROXY_NROUTE_REFUSALS; i++)
		p->route_refused[i] += r->refused[i];
	if (r->fd != -1) {
		event_del(&r->ev);
		close(r->fd);
	}
	if (r->pause != NULL)
		event_free(r->pause);
	nameidx_del(&p->routers_at, r->at);
	TAILQ_REMOVE(&p->routers, r, link);
	table_free(r->table);
	table_free(r->next);
	free(r);
}

/*
 * The shared listener for port i of s, bound now, or on the socket of
 * a listener of s's own that the reload drops; NULL with err set.
 */
static struct router *
router_new(struct proxy *p, const struct cfg_service *s, size_t i,
    char *err, size_t errlen)
{
	struct router *r;
	int e;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->proxy = p;
	r->family = s->family;
	memcpy(&r->addr, service_addr(s), s->family == AF_INET ?
	    sizeof(r->addr.v4) : sizeof(r->addr.v6));
	r->public_port = s->ports[i].public_port;
	r->route = s->ports[i].route;
	r->keep = r->fresh = true;
	router_key(r->at, sizeof(r->at), r->family, &r->addr, r->public_port);
	r->fd = listen_socket(r->family, &r->addr, r->public_port,
	    &r->bound_port);
	if (r->fd == -1 && errno == EADDRINUSE &&
	    (r->fd = listener_take_fd(p, s, i)) != -1)
		r->bound_port = r->public_port;
	if (r->fd == -1 ||
	    event_assign(&r->ev, p->base, r->fd, EV_READ | EV_PERSIST,
	    router_accept, r) == -1 || event_add(&r->ev, NULL) == -1) {
		e = errno;
		snprintf(err, errlen, "service \"%s\": cannot listen on %s "
		    "port %u: %s", s->name, s->address_text, r->public_port,
		    strerror(e));
		log_warnx("%s", err);
		if (r->fd != -1)
			close(r->fd);
		free(r);
		return NULL;
	}
	if (nameidx_put(&p->routers_at, r) == -1) {
		snprintf(err, errlen, "out of memory");
		event_del(&r->ev);
		close(r->fd);
		free(r);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&p->routers, r, link);
	p->had_routers = true;
	log_debug("proxy: listening on %s, shared by %s", r->at,
	    config_route_name(r->route));
	return r;
}

void
routers_init(struct proxy *p)
{
	TAILQ_INIT(&p->routers);
	p->routers_at.name_off = offsetof(struct router, at);
	TAILQ_INIT(&p->peeking);
}

void
routers_keep(struct proxy *p, const struct config *cfg)
{
	struct router *r;
	size_t i, j;

	TAILQ_FOREACH(r, &p->routers, link)
		r->keep = false;
	for (i = 0; i < cfg->nservices; i++) {
		const struct cfg_service *s = &cfg->services[i];
		for (j = 0; j < s->nports; j++)
			if (s->ports[j].route != CFG_ROUTE_NONE &&
			    (r = router_find(p, s->family, service_addr(s),
			    s->ports[j].public_port)) != NULL)
				r->keep = true;
	}
}

int
routers_prepare(struct proxy *p, const struct config *cfg, char *err,
    size_t errlen)
{
	struct router *r;
	size_t i, j;

	for (i = 0; i < cfg->nservices; i++) {
		const struct cfg_service *s = &cfg->services[i];
		for (j = 0; j < s->nports; j++) {
			if (s->ports[j].route == CFG_ROUTE_NONE)
				continue;
			r = router_find(p, s->family, service_addr(s),
			    s->ports[j].public_port);
			if (r == NULL &&
			    (r = router_new(p, s, j, err, errlen)) == NULL)
				return -1;
			/* The checks gave all of a port's services one route. */
			r->next_route = s->ports[j].route;
			if ((r->next == NULL && (r->next = table_new()) ==
			    NULL) || table_add(p, r->next, s, j) == -1) {
				snprintf(err, errlen, "out of memory");
				return -1;
			}
		}
	}
	return 0;
}

void
routers_commit(struct proxy *p)
{
	struct router *r, *next;

	TAILQ_FOREACH_SAFE(r, &p->routers, link, next) {
		if (!r->keep) {
			log_debug("proxy: %s no longer listening", r->at);
			router_free(r);
			continue;
		}
		table_free(r->table);
		r->table = r->next;
		r->next = NULL;
		r->route = r->next_route;
		r->fresh = false;
	}
}

void
routers_abort(struct proxy *p)
{
	struct router *r, *next;

	TAILQ_FOREACH_SAFE(r, &p->routers, link, next) {
		if (r->fresh) {
			router_free(r);
			continue;
		}
		table_free(r->next);
		r->next = NULL;
		r->keep = false;
	}
}

void
routers_free(struct proxy *p)
{
	struct router *r;

	while ((r = TAILQ_FIRST(&p->routers)) != NULL)
		router_free(r);
	nameidx_clear(&p->routers_at);
	if (p->peek_timer != NULL)
		event_free(p->peek_timer);
	p->peek_timer = NULL;
}

int
router_take_fd(struct proxy *p, int family, const void *addr, uint16_t port)
{
	struct router *r = router_find(p, family, addr, port);

	if (r == NULL || r->keep || r->fd == -1)
		return -1;
	return fcntl(r->fd, F_DUPFD_CLOEXEC, 0);
}

uint16_t
router_bound_port(struct proxy *p, const struct pservice *ps,
    uint16_t public_port)
{
	struct router *r;

	TAILQ_FOREACH(r, &p->routers, link)
		if (r->public_port == public_port && table_has(r->table, ps))
			return r->bound_port;
	return 0;
}

bool
proxy_route_refused_total(struct proxy *p,
    uint64_t n[PROXY_NROUTE_REFUSALS])
{
	struct router *r;
	size_t i;

	memcpy(n, p->route_refused, sizeof(p->route_refused));
	TAILQ_FOREACH(r, &p->routers, link)
		for (i = 0; i < PROXY_NROUTE_REFUSALS; i++)
			n[i] += r->refused[i];
	return p->had_routers;
}

void
proxy_foreach_shared(struct proxy *p, const char *service,
    void (*fn)(void *, const struct proxy_shared_stats *), void *arg)
{
	struct proxy_shared_stats st;
	struct pservice *ps = NULL;
	struct router *r;

	if (service != NULL &&
	    (ps = nameidx_get(&p->byname, service)) == NULL)
		return;
	TAILQ_FOREACH(r, &p->routers, link) {
		if (ps != NULL && !table_has(r->table, ps))
			continue;
		st.listener = r->at;
		st.route = config_route_name(r->route);
		st.connections = r->connections;
		st.peeking = r->peeking;
		memcpy(st.refused, r->refused, sizeof(st.refused));
		fn(arg, &st);
	}
}
