/*
 * daemon.c - summond's top level: modules, signals, reload, notify.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "control.h"
#include "daemon.h"
#include "daemon_internal.h"
#include "dns.h"
#include "heap.h"
#include "lifecycle.h"
#include "log.h"
#include "metrics.h"
#include "proxy.h"
#include "reaper.h"
#include "store.h"
#include "vm.h"

#define FLUSH_INTERVAL_S	1	/* retry of pending store writes */
#define EXIT_GRACE_S		30	/* longest wait for VMs to stop */
#define RELOAD_MSG_MAX		(256 * 1024)	/* reload errors answered */

static int	daemon_reload(void *, char **);

/* Make the directory that will hold path, if it is missing. */
static int
make_parent(const char *path)
{
	char dir[PATH_MAX], *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0750) == -1 && errno != EEXIST) {
		log_warn("mkdir %s", dir);
		return -1;
	}
	return 0;
}

/*
 * One summond per state database: a second one (with another control
 * socket) would fight the first over the same domains.
 */
static int
lock_state(struct daemon *d, const char *state)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s.lock", state);
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (d->lock_fd == -1) {
		log_warn("%s", path);
		return -1;
	}
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) == -1) {
		log_warnx("another summond uses %s (%s is locked)", state,
		    path);
		return -1;
	}
	return 0;
}

/* Every event recorded is pushed to `summonctl events --follow`. */
static void
publish_event(void *arg, const struct store_event *ev)
{
	struct daemon *d = arg;

	if (d->control != NULL)
		control_publish(d->control, ev);
}

static void
notify_status(struct daemon *d)
{
	char status[64];

	snprintf(status, sizeof(status), "STATUS=%zu services",
	    d->cfg->nservices);
	daemon_notify(status);
}

static void
shutdown_done(void *arg)
{
	struct daemon *d = arg;

	event_base_loopexit(d->base, NULL);
}

static void
exit_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct daemon *d = arg;

	log_warnx("instances still stopping after %d s; exiting anyway",
	    EXIT_GRACE_S);
	event_base_loopexit(d->base, NULL);
}

static void
on_terminate(evutil_socket_t sig, short ev, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv = { EXIT_GRACE_S, 0 };

	if (d->stopping) {
		log_warnx("%s again: exiting now", strsignal((int)sig));
		event_base_loopexit(d->base, NULL);
		return;
	}
	d->stopping = true;
	log_info("%s: shutting down", strsignal((int)sig));
	daemon_notify("STOPPING=1");
	d->ev_exit = evtimer_new(d->base, exit_timeout, d);
	if (d->ev_exit != NULL)
		evtimer_add(d->ev_exit, &tv);
	lifecycle_shutdown(d->lc, shutdown_done, d);
}

static void
on_hup(evutil_socket_t sig, short ev, void *arg)
{
	struct daemon *d = arg;
	char *msg;

	if (daemon_reload(d, &msg) == -1)
		log_warnx("reload: configuration rejected; the old one stays");
	free(msg);
}

static void
on_watchdog(evutil_socket_t fd, short ev, void *arg)
{
	daemon_notify("WATCHDOG=1");
}

/* Retry store writes that failed (disk full, I/O error) until done. */
static void
on_flush(evutil_socket_t fd, short ev, void *arg)
{
	struct daemon *d = arg;
	size_t before = store_pending(d->store);

	if (before == 0)
		return;
	if (store_flush(d->store) == 0)
		log_info("store: %zu delayed writes are on disk now", before);
}

/*
 * Log each line of *text (errors or warnings of a reload) and cut it to
 * RELOAD_MSG_MAX bytes for the control client, saying how much more the
 * log has: a file with an error on each of a million lines must not
 * become a 50 MB answer.
 */
static void
reload_lines(char **text, size_t len)
{
	char *t = *text, *line, *nl, *cut = NULL, *shorter;
	size_t more = 0, keep;

	for (line = t; line < t + len; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			nl = t + len;
		log_warnx("reload: %.*s", (int)(nl - line), line);
		if (nl + 1 - t > RELOAD_MSG_MAX) {
			if (cut == NULL)
				cut = line;
			more++;
		}
	}
	if (cut == NULL)
		return;
	keep = (size_t)(cut - t);
	if ((shorter = realloc(t, keep + 64)) == NULL)
		return;		/* the whole text, then */
	snprintf(shorter + keep, 64, "(%zu more lines in the log)\n", more);
	*text = shorter;
}

/*
 * Re-read the configuration file and apply it (SIGHUP, or summonctl
 * reload as the control's env.reload; arg is the daemon).  A file with
 * errors is rejected whole: the old configuration stays.  Returns 0 or
 * -1; either way *msg is NULL or a text the caller frees, one line each
 * (every one also logged): the errors that rejected the file, or the
 * settings that wait for a restart.
 */
/* What each module has prepared for a configuration. */
struct prepared {
	struct metrics		*metrics;	/* [metrics] turned on */
	bool			 rebound;	/* a new metrics address bound */
	struct dns		*dns;		/* [dns] listen turned on */
	struct dns_reload	*dns_r;
	struct proxy_reload	*proxy_r;
	struct lc_reload	*lc_r;
};

/* Release what prepare() took, the reload being off. */
static void
abort_prepared(struct daemon *d, struct prepared *p)
{
	lifecycle_reload_abort(d->lc, p->lc_r);
	proxy_reload_abort(d->proxy, p->proxy_r);
	if (p->dns_r != NULL)
		dns_reload_abort(d->dns, p->dns_r);
	dns_free(p->dns);
	if (p->rebound)
		metrics_rebind_abort(d->metrics);
	metrics_free(p->metrics);
	memset(p, 0, sizeof(*p));
}

/*
 * Prepare every module for cfg, all or none: 0, or -1 with the reason
 * in why and nothing changed.
 */
static int
prepare(struct daemon *d, const struct config *cfg, struct prepared *p,
    char *why, size_t whylen)
{
	memset(p, 0, sizeof(*p));
	if (cfg->has_metrics && d->metrics == NULL &&
	    (p->metrics = metrics_new(d->base, &cfg->metrics_listen,
	    daemon_metrics_render, d)) == NULL) {
		snprintf(why, whylen, "[metrics] listen %s cannot be bound "
		    "(see the log)", cfg->metrics_listen.text);
		goto fail;
	}
	if (cfg->has_metrics && d->metrics != NULL) {
		if (metrics_rebind_prepare(d->metrics,
		    &cfg->metrics_listen) == -1) {
			snprintf(why, whylen, "[metrics] listen %s cannot be "
			    "bound (see the log)", cfg->metrics_listen.text);
			goto fail;
		}
		p->rebound = true;
	}
	if (d->dns == NULL && cfg->ndns_listen > 0 &&
	    (p->dns = dns_new(d->base, cfg, d->lc)) == NULL) {
		snprintf(why, whylen, "[dns] listen: an address cannot be "
		    "bound (see the log)");
		goto fail;
	}
	if (d->dns != NULL && cfg->ndns_listen > 0 &&
	    (p->dns_r = dns_reload_prepare(d->dns, cfg, why, whylen)) ==
	    NULL)
		goto fail;
	if ((p->proxy_r = proxy_reload_prepare(d->proxy, cfg, why,
	    whylen)) == NULL)
		goto fail;
	if ((p->lc_r = lifecycle_reload_prepare(d->lc, cfg, why,
	    whylen)) == NULL)
		goto fail;
	return 0;
fail:
	abort_prepared(d, p);
	return -1;
}

/*
 * Move every module to cfg; nothing here can fail.  The proxy closes the
 * held clients of removed services (counted as removed) before the
 * lifecycle stops their instances, which would tell them the boot
 * failed.
 */
static void
commit(struct daemon *d, const struct config *cfg, struct prepared *p)
{
	if (p->metrics != NULL)
		d->metrics = p->metrics;
	else if (p->rebound)
		metrics_rebind_commit(d->metrics);
	else if (!cfg->has_metrics && d->metrics != NULL) {
		metrics_free(d->metrics);
		d->metrics = NULL;
	}
	control_set_config(d->control, cfg);
	if (p->dns != NULL)
		d->dns = p->dns;
	else if (p->dns_r != NULL)
		dns_reload_commit(d->dns, p->dns_r);
	else if (d->dns != NULL) {
		dns_free(d->dns);	/* [dns] listen turned off */
		d->dns = NULL;
	}
	proxy_reload_commit(d->proxy, p->proxy_r);
	lifecycle_reload_commit(d->lc, p->lc_r);
	memset(p, 0, sizeof(*p));
}

/*
 * The hosts are those summond started with: a host added, removed or
 * given another URI waits for a restart (the rest of a host's settings
 * follow a reload).
 */
static void
hosts_warnings(struct daemon *d, const struct config *new, const char *path,
    FILE *ef)
{
	struct lc_host_info hi;
	uint64_t running = 0;	/* bit h: new->hosts[h] runs */
	size_t i, k;
	int h;

	for (i = 0; lifecycle_host_info(d->lc, i, &hi) == 0; i++) {
		if ((h = config_host(new, hi.name)) == -1) {
			fprintf(ef, "%s: host %s stays until summond "
			    "restarts\n", path, hi.name);
			continue;
		}
		running |= 1ULL << h;
		if (strcmp(new->hosts[h].uri, hi.uri) == 0)
			continue;
		if (!new->host_sections)
			fprintf(ef, "%s: hypervisor is still %s until summond "
			    "restarts\n", path, hi.uri);
		else
			fprintf(ef, "%s: host %s: uri is still %s until "
			    "summond restarts\n", path, hi.name, hi.uri);
	}
	for (k = 0; k < new->nhosts; k++)
		if ((running & (1ULL << k)) == 0)
			fprintf(ef, "%s: host %s is not used until summond "
			    "restarts\n", path, new->hosts[k].name);
}

static int
daemon_reload(void *arg, char **msg)
{
	struct daemon *d = arg;
	struct config *new, *old = d->cfg;
	const char *path = d->config_path;
	struct prepared p;
	char why[512];
	size_t len = 0;
	FILE *ef;
	int rc = -1;

	*msg = NULL;
	if ((ef = open_memstream(msg, &len)) == NULL) {
		log_warn("reload");
		return -1;
	}
	if ((new = config_load(path, ef, NULL)) == NULL ||
	    config_check_files(new, NULL, ef, NULL) > 0)
		goto done;
	/* Settings that only a restart applies: compared with the running. */
	if (strcmp(new->state, d->run_state) != 0)
		fprintf(ef, "%s: state is still %s until summond restarts\n",
		    path, d->run_state);
	if (strcmp(new->control, d->run_control) != 0)
		fprintf(ef, "%s: control is still %s until summond restarts\n",
		    path, d->run_control);
	if (new->relay_threads != d->run_relay_threads) {
		char was[16] = "auto";

		if (d->run_relay_threads > 0)
			snprintf(was, sizeof(was), "%u", d->run_relay_threads);
		fprintf(ef, "%s: relay-threads is still %s until summond "
		    "restarts\n", path, was);
	}
	hosts_warnings(d, new, path, ef);
	/*
	 * Every module prepares (what can fail: binding, allocating,
	 * checking against the running state) before any commits (what
	 * cannot fail); one that cannot prepare aborts them all, and the
	 * daemon is exactly as it was.
	 */
	if (prepare(d, new, &p, why, sizeof(why)) == -1) {
		fprintf(ef, "%s: %s\n", path, why);
		goto done;
	}
	commit(d, new, &p);
	d->cfg = new;
	new = NULL;
	config_free(old);
	d->reloads++;
	rc = 0;
done:
	config_free(new);
	if (fclose(ef) == EOF) {
		log_warn("reload");
		free(*msg);
		*msg = NULL;
		len = 0;
	}
	if (len > 0)
		reload_lines(msg, len);
	else {
		free(*msg);
		*msg = NULL;
	}
	if (rc == -1) {
		d->reload_failures++;
		return -1;
	}
	heap_release();	/* ~3 MB with 10,000 services */
	log_info("reloaded %s: %zu services", path, d->cfg->nservices);
	notify_status(d);
	return 0;
}

/* daemon_new() with d allocated: 0, or -1 for daemon_free() to undo. */
static int
daemon_init(struct daemon *d, const char *config_path, struct config *cfg)
{
	struct control_env env;
	char err[512];
	uint64_t wd_us;
	struct timeval tv;

	d->lock_fd = -1;
	d->cfg = cfg;
	d->started_ms = clock_wall_ms();
	d->run_relay_threads = cfg->relay_threads;
	if ((d->run_state = strdup(cfg->state)) == NULL ||
	    (d->run_control = strdup(cfg->control)) == NULL) {
		log_warn("daemon");
		return -1;
	}
	if ((d->config_path = realpath(config_path, NULL)) == NULL) {
		log_warn("%s", config_path);
		return -1;
	}
	signal(SIGPIPE, SIG_IGN);
	if ((d->base = event_base_new()) == NULL) {
		log_warnx("cannot create the event loop");
		return -1;
	}
	/* Signals before anything a test or systemd can see (the socket). */
	d->ev_sigterm = evsignal_new(d->base, SIGTERM, on_terminate, d);
	d->ev_sigint = evsignal_new(d->base, SIGINT, on_terminate, d);
	d->ev_sighup = evsignal_new(d->base, SIGHUP, on_hup, d);
	d->ev_flush = event_new(d->base, -1, EV_PERSIST, on_flush, d);
	if (d->ev_sigterm == NULL || d->ev_sigint == NULL ||
	    d->ev_sighup == NULL || d->ev_flush == NULL ||
	    evsignal_add(d->ev_sigterm, NULL) == -1 ||
	    evsignal_add(d->ev_sigint, NULL) == -1 ||
	    evsignal_add(d->ev_sighup, NULL) == -1) {
		log_warnx("cannot install signal handlers");
		return -1;
	}
	/*
	 * The control socket first: a second summond on the same socket
	 * must stop here, before it touches the store or libvirt (its
	 * reconciliation would destroy the first one's domains).  Clients
	 * are served once control_start() below has given the commands
	 * what they act on, and the loop runs.
	 */
	if ((d->control = control_new(d->base, cfg->control)) == NULL)
		return -1;
	if (make_parent(cfg->state) == -1 || lock_state(d, cfg->state) == -1)
		return -1;
	if ((d->store = store_open(cfg->state, err, sizeof(err))) == NULL) {
		log_warnx("store: %s", err);
		return -1;
	}
	store_set_event_hook(d->store, publish_event, d);
	if (make_parent(cfg->serial_dir) == -1 ||
	    (mkdir(cfg->serial_dir, 0750) == -1 && errno != EEXIST)) {
		log_warn("mkdir %s", cfg->serial_dir);
		return -1;
	}
	d->lc = lifecycle_new(d->base, cfg, d->store, &vm_libvirt_ops, err,
	    sizeof(err));
	if (d->lc == NULL) {
		log_warnx("%s: %s", cfg->host_sections ? "hosts" :
		    cfg->hypervisor, err);
		return -1;
	}
	if ((d->proxy = proxy_new(d->base, cfg, d->lc)) == NULL)
		return -1;
	if (cfg->ndns_listen > 0 &&
	    (d->dns = dns_new(d->base, cfg, d->lc)) == NULL)
		return -1;
	if ((d->reaper = reaper_new(d->base, d->lc)) == NULL) {
		log_warnx("cannot start the reaper");
		return -1;
	}
	env.lc = d->lc;
	env.store = d->store;
	env.proxy = d->proxy;
	env.reload = daemon_reload;
	env.reload_arg = d;
	if (control_start(d->control, &env, cfg) == -1)
		return -1;
	if (cfg->has_metrics && (d->metrics = metrics_new(d->base,
	    &cfg->metrics_listen, daemon_metrics_render, d)) == NULL)
		return -1;

	tv.tv_sec = FLUSH_INTERVAL_S;
	tv.tv_usec = 0;
	event_add(d->ev_flush, &tv);

	/* systemd asks for a heartbeat at WatchdogSec; beat twice as often. */
	if ((wd_us = daemon_watchdog_usec()) > 0) {
		d->ev_watchdog = event_new(d->base, -1, EV_PERSIST,
		    on_watchdog, d);
		tv.tv_sec = (time_t)(wd_us / 2 / 1000000);
		tv.tv_usec = (suseconds_t)(wd_us / 2 % 1000000);
		if (d->ev_watchdog == NULL ||
		    event_add(d->ev_watchdog, &tv) == -1) {
			log_warnx("cannot arm the watchdog timer");
			return -1;
		}
	}
	return 0;
}

struct daemon *
daemon_new(const char *config_path, struct config *cfg)
{
	struct daemon *d;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		log_warn("daemon");
		config_free(cfg);
		return NULL;
	}
	if (daemon_init(d, config_path, cfg) == -1) {
		daemon_free(d);
		return NULL;
	}
	return d;
}

int
daemon_run(struct daemon *d)
{
	log_info("summond ready: %zu services, config %s", d->cfg->nservices,
	    d->config_path);
	daemon_notify("READY=1");
	notify_status(d);
	if (event_base_dispatch(d->base) == -1) {
		log_warnx("event loop failed");
		return 1;
	}
	return d->exit_code;
}

void
daemon_free(struct daemon *d)
{
	struct event **evs[] = { &d->ev_sigterm, &d->ev_sigint, &d->ev_sighup,
	    &d->ev_watchdog, &d->ev_flush, &d->ev_exit };
	size_t i;

	/* Events recorded while tearing down go to the store only. */
	if (d->store != NULL)
		store_set_event_hook(d->store, NULL, NULL);
	metrics_free(d->metrics);
	control_free(d->control);
	dns_free(d->dns);
	proxy_free(d->proxy);
	reaper_free(d->reaper);
	lifecycle_free(d->lc);
	for (i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (*evs[i] != NULL)
			event_free(*evs[i]);
	if (d->store != NULL) {
		if (store_pending(d->store) > 0)
			log_warnx("store: %zu writes could not be saved: %s",
			    store_pending(d->store), store_errmsg(d->store));
		store_close(d->store);
	}
	if (d->base != NULL)
		event_base_free(d->base);
	config_free(d->cfg);
	free(d->config_path);
	free(d->run_state);
	free(d->run_control);
	if (d->lock_fd != -1)
		close(d->lock_fd);
	free(d);
}
