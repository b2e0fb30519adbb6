/*
 * lc_probe.c - readiness: is the guest serving yet?
 *
 * tcp:PORT connects to the guest (bridge: its address; user mode: the
 * loopback port forwarded to it) every PROBE_RETRY_MS until a connect
 * succeeds.  An attempt is abandoned after PROBE_CONNECT_MS, doubled
 * after each time-out: a SYN sent before the guest's NIC was up is lost,
 * and the kernel would only resend it after a second; a fresh attempt
 * goes out as soon as the guest has announced itself.  (Measured: 250 ms
 * per attempt cost ~240 ms on every cold start; 20 ms, ~10 ms.)  In user
 * mode slirp accepts on the guest's behalf before the guest listens and
 * then hangs up, so a connect there counts only once the connection has
 * stayed open for USER_SETTLE_MS.  serial:TEXT
 * watches the guest's serial log for a line containing TEXT.  The
 * instance's boot deadline bounds both.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "lc_internal.h"
#include "log.h"
#include "store.h"

#define PROBE_RETRY_MS		5	/* between connects */
#define PROBE_CONNECT_MS	20	/* first connect attempt's limit */
#define PROBE_CONNECT_MAX_MS	500	/* doubling up to this */
#define USER_SETTLE_MS		30	/* slirp: stays open = guest there */
#define SERIAL_POLL_MS		5
#define SERIAL_LINE_MAX		1024

struct lc_probe {
	struct instance	*in;
	struct event	*ev;		/* socket or poll timer */
	int		 fd;
	bool		 settling;	/* user mode: connected, watching */
	bool		 warned;	/* serial: the log could not be read */
	unsigned	 attempt_ms;	/* limit of the next connect */
	off_t		 off;		/* serial: bytes read so far */
	char		 line[SERIAL_LINE_MAX];
	size_t		 linelen;
};

static void	tcp_attempt(struct lc_probe *);

static void
tcp_retry(evutil_socket_t fd, short what, void *arg)
{
	tcp_attempt(arg);
}

static void
probe_close_fd(struct lc_probe *p)
{
	if (p->ev != NULL) {
		event_free(p->ev);
		p->ev = NULL;
	}
	if (p->fd != -1) {
		close(p->fd);
		p->fd = -1;
	}
}

static void
retry_later(struct lc_probe *p, int ms)
{
	struct timeval tv = { 0, ms * 1000 };

	probe_close_fd(p);
	p->settling = false;
	p->ev = evtimer_new(p->in->lc->base, tcp_retry, p);
	if (p->ev == NULL || evtimer_add(p->ev, &tv) == -1)
		log_warnx("%s: cannot re-arm the readiness probe",
		    p->in->domain);
}

static void
tcp_event(evutil_socket_t fd, short what, void *arg)
{
	struct lc_probe *p = arg;
	struct timeval tv = { 0, USER_SETTLE_MS * 1000 };
	socklen_t len = sizeof(int);
	int err = 0;
	char c;

	if (p->settling) {
		/* Readable means slirp hung up (or the guest spoke). */
		if ((what & EV_TIMEOUT) ||
		    recv(p->fd, &c, 1, MSG_PEEK) > 0) {
			lc_fire(p->in, LE_READY, NULL);
			return;
		}
		retry_later(p, PROBE_RETRY_MS);
		return;
	}
	if (what & EV_TIMEOUT) {
		if (p->attempt_ms < PROBE_CONNECT_MAX_MS)
			p->attempt_ms *= 2;	/* maybe just slow */
		retry_later(p, PROBE_RETRY_MS);
		return;
	}
	if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 ||
	    err != 0) {
		retry_later(p, PROBE_RETRY_MS);
		return;
	}
	if (p->in->lc->cfg->net_mode == CFG_NET_BRIDGE) {
		lc_fire(p->in, LE_READY, NULL);
		return;
	}
	p->settling = true;
	event_free(p->ev);
	p->ev = event_new(p->in->lc->base, p->fd, EV_READ, tcp_event, p);
	if (p->ev == NULL || event_add(p->ev, &tv) == -1)
		retry_later(p, PROBE_RETRY_MS);
}

static void
tcp_attempt(struct lc_probe *p)
{
	struct instance *in = p->in;
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct timeval tv = clock_tv(p->attempt_ms);
	const struct cfg_service *sc = in->svc->cfg;
	size_t i;

	probe_close_fd(p);
	memset(&ss, 0, sizeof(ss));
	sin->sin_family = AF_INET;
	if (in->lc->cfg->net_mode == CFG_NET_BRIDGE) {
		sin->sin_addr = in->guest;
		sin->sin_port = htons(sc->ready_port);
	} else {
		for (i = 0; i < sc->nports && i < in->nhost_ports; i++)
			if (sc->ports[i].guest_port == sc->ready_port)
				break;
		if (i == sc->nports || i == in->nhost_ports) {
			/* The boot deadline fails it. */
			log_warnx("%s: the ready port %u is not forwarded",
			    in->domain, sc->ready_port);
			return;
		}
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin->sin_port = htons(in->host_ports[i]);
	}
	p->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd == -1) {
		log_warn("%s: probe socket", in->domain);
		retry_later(p, 100);
		return;
	}
	if (connect(p->fd, (struct sockaddr *)sin, sizeof(*sin)) == -1 &&
	    errno != EINPROGRESS) {
		retry_later(p, PROBE_RETRY_MS);
		return;
	}
	p->ev = event_new(in->lc->base, p->fd, EV_WRITE, tcp_event, p);
	if (p->ev == NULL || event_add(p->ev, &tv) == -1)
		retry_later(p, 100);
}

/* Read what the guest printed since last time; ready on the text. */
static void
serial_poll(evutil_socket_t unused, short what, void *arg)
{
	struct lc_probe *p = arg;
	struct instance *in = p->in;
	const char *text = in->svc->cfg->ready_text;
	char buf[4096], path[1024];
	struct timeval tv = { 0, SERIAL_POLL_MS * 1000 };
	ssize_t n, i;

	if (p->fd == -1) {
		snprintf(path, sizeof(path), "%s/%s.log",
		    in->lc->cfg->serial_dir, in->domain);
		p->fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		/*
		 * Not there yet is the usual start; one that is there and
		 * cannot be read fails the boot at boot-timeout: say why now.
		 */
		if (p->fd == -1 && errno != ENOENT && !p->warned) {
			log_warn("%s: ready = serial: %s", in->domain, path);
			p->warned = true;
		}
	}
	while (p->fd != -1 && (n = pread(p->fd, buf, sizeof(buf),
	    p->off)) > 0) {
		p->off += n;
		for (i = 0; i < n; i++) {
			if (buf[i] != '\n' && buf[i] != '\r') {
				if (p->linelen + 1 < sizeof(p->line))
					p->line[p->linelen++] = buf[i];
				continue;
			}
			p->line[p->linelen] = '\0';
			p->linelen = 0;
			if (strstr(p->line, text) != NULL) {
				lc_fire(in, LE_READY, NULL);
				return;
			}
		}
	}
	evtimer_add(p->ev, &tv);
}

int
lc_probe_start(struct instance *in)
{
	struct lc_probe *p;

	lc_probe_stop(in);
	if ((p = calloc(1, sizeof(*p))) == NULL) {
		/* The boot deadline fails it. */
		log_warn("%s: readiness probe", in->domain);
		return -1;
	}
	p->in = in;
	p->fd = -1;
	p->attempt_ms = PROBE_CONNECT_MS;
	in->probe = p;
	if (in->svc->cfg->ready == CFG_READY_SERIAL) {
		p->ev = evtimer_new(in->lc->base, serial_poll, p);
		if (p->ev == NULL) {
			lc_probe_stop(in);
			return -1;
		}
		serial_poll(-1, 0, p);
		return 0;
	}
	tcp_attempt(p);
	return 0;
}

void
lc_probe_stop(struct instance *in)
{
	struct lc_probe *p = in->probe;

	if (p == NULL)
		return;
	probe_close_fd(p);
	free(p);
	in->probe = NULL;
}
