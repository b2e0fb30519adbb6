/*
 * control_cmd.c - the control socket's commands: list, status, boot,
 * reap, events, reload, hosts.
 *
 * Each acts on the lifecycle and the store and reads the configuration
 * of the moment (struct cmd_ctx); what it knows of its client is
 * control.c's: an answer to send, a boot to wait for, events to follow.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "clock.h"
#include "config.h"
#include "control.h"
#include "control_internal.h"
#include "lifecycle.h"
#include "proxy.h"
#include "store.h"

static json_t *
json_ms_or_null(int64_t ms)
{
	return ms < 0 ? json_null() : json_integer(ms);
}

/* One service as list and status show it. */
static json_t *
service_json(struct cmd_ctx *x, const struct cfg_service *s)
{
	struct lc_info info;
	json_t *o;

	if (lifecycle_info(x->env.lc, s->name, &info) == -1)
		return NULL;
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}",
	    "service", s->name,
	    "state", lifecycle_state_name(info.state),
	    "address", s->address_text,
	    "guest_address", info.guest_address,
	    "domain", info.domain,
	    "host", info.host != NULL ? info.host : "");
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "uptime_s", info.uptime_ms < 0 ? json_null() :
	    json_integer(info.uptime_ms / 1000));
	json_object_set_new(o, "idle_s", info.idle_ms < 0 ? json_null() :
	    json_integer(info.idle_ms / 1000));
	json_object_set_new(o, "boots", json_integer((json_int_t)info.boots));
	json_object_set_new(o, "last_boot_ms",
	    json_ms_or_null(info.last_boot_ms));
	/* Only where there are some: list's keys stay the same otherwise. */
	if (info.budget_standbys > 0)
		json_object_set_new(o, "budget_standbys",
		    json_integer(info.budget_standbys));
	return o;
}

static json_t *
list_item(void *arg, size_t i)
{
	struct cmd_ctx *x = arg;

	return service_json(x, &x->cfg->services[i]);
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
cmd_list(struct cmd_ctx *x, struct client *c, int64_t id)
{
	struct evbuffer *buf;

	if (client_check_output(c) == -1)
		return -1;
	if ((buf = evbuffer_new()) == NULL)
		return client_send(c, ctl_answer_error(id, "out of memory"));
	if (ctl_answer_ok_array(id, "services", x->cfg->nservices,
	    list_item, x, append_evbuffer, buf) == -1) {
		evbuffer_free(buf);
		return client_send(c, ctl_answer_error(id, "cannot encode "
		    "the list"));
	}
	client_queue(c, buf);
	evbuffer_free(buf);
	return 0;
}

static void
shared_json(void *arg, const struct proxy_shared_stats *st)
{
	json_t *refused = json_object();
	size_t i;

	for (i = 0; i < PROXY_NROUTE_REFUSALS; i++)
		json_object_set_new(refused, proxy_route_refusal_name(i),
		    json_integer((json_int_t)st->refused[i]));
	json_array_append_new(arg, json_pack("{s:s, s:s, s:I, s:I, s:o}",
	    "listener", st->listener, "route", st->route,
	    "connections", (json_int_t)st->connections,
	    "peeking", (json_int_t)st->peeking, "refused", refused));
}

/*
 * What the proxy counted for service: its connections, and the shared
 * listeners it is on, whose refusals come before any service is known.
 */
static json_t *
proxy_json(struct cmd_ctx *x, const char *service)
{
	struct proxy_stats st;
	json_t *shared = json_array(), *refused = json_object();
	size_t i;

	proxy_service_stats(x->env.proxy, service, &st);
	for (i = 0; i < PROXY_NREFUSALS; i++)
		json_object_set_new(refused, proxy_refusal_name(i),
		    json_integer((json_int_t)st.refused[i]));
	proxy_foreach_shared(x->env.proxy, service, shared_json, shared);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:{s:I, s:I}, s:o, s:o}",
	    "connections", (json_int_t)st.connections,
	    "held", (json_int_t)st.held,
	    "open", (json_int_t)st.open,
	    "bytes_in", (json_int_t)st.bytes_in,
	    "bytes_out", (json_int_t)st.bytes_out,
	    "routed", "name", (json_int_t)st.routed_name,
	    "default", (json_int_t)st.routed_default,
	    "refused", refused, "shared", shared);
}

static char *
cmd_status(struct cmd_ctx *x, const struct ctl_request *req)
{
	const struct cfg_service *s = config_service(x->cfg, req->service);
	struct lc_info info;
	json_t *o, *ports, *names, *wakes, *served;
	size_t i;

	if (s == NULL)
		return ctl_answer_error(req->id, "unknown service \"%s\"",
		    req->service);
	o = service_json(x, s);
	lifecycle_info(x->env.lc, s->name, &info);
	names = json_array();
	for (i = 0; i < s->nnames; i++)
		json_array_append_new(names, json_string(s->names[i]));
	ports = json_array();
	for (i = 0; i < s->nports; i++) {
		json_t *pt = json_pack("{s:i, s:i}",
		    "public", s->ports[i].public_port,
		    "guest", s->ports[i].guest_port);
		if (s->ports[i].route != CFG_ROUTE_NONE)
			json_object_set_new(pt, "route", json_string(
			    config_route_name(s->ports[i].route)));
		json_array_append_new(ports, pt);
	}
	wakes = json_object();
	for (i = 0; i < LC_NSOURCES; i++)
		json_object_set_new(wakes, lifecycle_source_name(i),
		    json_integer((json_int_t)info.wakes[i]));
	json_object_set_new(o, "names", names);
	json_object_set_new(o, "ports", ports);
	json_object_set_new(o, "wakes", wakes);
	json_object_set_new(o, "route_default",
	    json_boolean(s->route_default));
	json_object_set_new(o, "stop_mode",
	    json_string(config_stop_mode_name(s->stop_mode)));
	json_object_set_new(o, "standby", json_integer(s->standby));
	json_object_set_new(o, "budget_standbys",
	    json_integer(info.budget_standbys));
	json_object_set_new(o, "score", json_real(info.score));
	served = json_object();
	for (i = 0; i < LC_NSERVED; i++)
		json_object_set_new(served, lifecycle_served_name(i),
		    json_integer((json_int_t)info.served[i]));
	json_object_set_new(o, "served", served);
	json_object_set_new(o, "idle_timeout_ms",
	    json_integer((json_int_t)s->idle_timeout_ms));
	json_object_set_new(o, "memory", json_integer((json_int_t)s->memory));
	if (x->env.proxy != NULL)
		json_object_set_new(o, "proxy", proxy_json(x, s->name));
	return ctl_answer_ok(req->id, o);
}

json_t *
cmd_event_json(const struct store_event *ev)
{
	return json_pack("{s:I, s:I, s:s, s:I, s:s, s:s}",
	    "id", (json_int_t)ev->id, "at_ms", (json_int_t)ev->at_ms,
	    "service", ev->service, "instance", (json_int_t)ev->instance,
	    "kind", ev->kind, "detail", ev->detail);
}

static int
collect_event(void *arg, const struct store_event *ev)
{
	json_array_append_new(arg, cmd_event_json(ev));
	return 0;
}

static char *
cmd_events(struct cmd_ctx *x, struct client *c, const struct ctl_request *req)
{
	json_t *a = json_array();

	if (req->service[0] != '\0' &&
	    config_service(x->cfg, req->service) == NULL) {
		json_decref(a);
		return ctl_answer_error(req->id, "unknown service \"%s\"",
		    req->service);
	}
	if (req->n > 0 && store_events(x->env.store,
	    req->service[0] ? req->service : NULL, 0, req->n, collect_event,
	    a) == -1) {
		json_decref(a);
		return ctl_answer_error(req->id, "cannot read events: %s",
		    store_errmsg(x->env.store));
	}
	if (req->follow)
		client_follow(c, req->id, req->service);
	return ctl_answer_ok(req->id, json_pack("{s:o, s:b}", "events", a,
	    "following", req->follow));
}

static char *
cmd_reap(struct cmd_ctx *x, const struct ctl_request *req)
{
	const struct config *cfg = x->cfg;
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
			if (lifecycle_stop(x->env.lc, req->services[i],
			    "manual") == 0)
				json_array_append_new(stopped,
				    json_string(req->services[i]));
	} else {
		for (i = 0; i < cfg->nservices; i++) {
			const char *name = cfg->services[i].name;
			if (req->idle && !lifecycle_is_idle(x->env.lc, name))
				continue;
			if (lifecycle_stop(x->env.lc, name, "manual") == 0)
				json_array_append_new(stopped,
				    json_string(name));
		}
	}
	return ctl_answer_ok(req->id, json_pack("{s:o}", "stopping", stopped));
}

static void
boot_done(void *arg, const char *service, bool ok)
{
	struct boot_wait *b = arg;
	uint64_t ms = (clock_mono_us() - b->started_us) / 1000;

	if (ok)
		client_send(b->client, ctl_answer_ok(b->id, json_pack("{s:s, "
		    "s:s, s:I}", "service", service, "state", "ready", "ms",
		    (json_int_t)ms)));
	else
		client_send(b->client, ctl_answer_error(b->id, "%s: boot "
		    "failed after %llu ms", service, (unsigned long long)ms));
	client_boot_end(b);
}

static char *
cmd_boot(struct cmd_ctx *x, struct client *c, const struct ctl_request *req)
{
	const struct cfg_service *s;
	struct boot_wait *b;
	int state;

	if ((s = config_service(x->cfg, req->service)) == NULL)
		return ctl_answer_error(req->id, "unknown service \"%s\"",
		    req->service);
	state = lifecycle_wake(x->env.lc, req->service, LC_SRC_CTL);
	if (state == LC_READY)
		return ctl_answer_ok(req->id, json_pack("{s:s, s:s, s:i}",
		    "service", req->service, "state", "ready", "ms", 0));
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return ctl_answer_error(req->id, "out of memory");
	b->id = req->id;
	b->started_us = clock_mono_us();
	b->waiter = lifecycle_wait(x->env.lc, req->service, boot_done, b);
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
	client_boot_add(c, b);
	/* The boot-timeout lets summonctl's deadline grow by as much. */
	client_send(c, ctl_push(req->id, "progress", json_pack("{s:s, s:I}",
	    "state", lifecycle_state_name((enum lc_state)state),
	    "boot_timeout_ms", (json_int_t)s->boot_timeout_ms)));
	return NULL;	/* answered when the lifecycle calls back */
}

static char *
cmd_reload(struct cmd_ctx *x, const struct ctl_request *req)
{
	char *msg, *answer;

	/* The reload replaces x->cfg when it commits. */
	if (x->env.reload(x->env.reload_arg, &msg) == -1)
		answer = ctl_answer_error(req->id, "configuration rejected, "
		    "the old one stays:\n%s", msg != NULL ? msg : "");
	else
		answer = ctl_answer_ok(req->id, json_pack("{s:i, s:s}",
		    "services", (int)x->cfg->nservices, "warnings",
		    msg != NULL ? msg : ""));
	free(msg);
	return answer;
}

/* The hosts: up or down, what is placed there, what libvirt says. */
static char *
cmd_hosts(struct cmd_ctx *x, const struct ctl_request *req)
{
	struct lc_host_info hi;
	json_t *hosts = json_array(), *h;
	size_t i;

	for (i = 0; lifecycle_host_info(x->env.lc, i, &hi) == 0; i++) {
		h = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I}",
		    "host", hi.name, "uri", hi.uri,
		    "state", hi.up ? "up" : "down",
		    "instances", (json_int_t)hi.instances,
		    "memory_bytes", (json_int_t)hi.memory,
		    "free_memory_bytes", (json_int_t)hi.free_memory,
		    "max_instances", (json_int_t)hi.max_instances,
		    "max_memory_bytes", (json_int_t)hi.max_memory);
		json_array_append_new(hosts, h);
	}
	return ctl_answer_ok(req->id, json_pack("{s:o}", "hosts", hosts));
}

int
cmd_run(struct cmd_ctx *x, struct client *c, struct ctl_request *req)
{
	char *answer = NULL;
	int64_t id = req->id;

	switch (req->cmd) {
	case CTL_LIST:
		ctl_request_clear(req);		/* holds nothing list needs */
		return cmd_list(x, c, id);
	case CTL_STATUS:
		answer = cmd_status(x, req);
		break;
	case CTL_BOOT:
		answer = cmd_boot(x, c, req);
		break;
	case CTL_REAP:
		answer = cmd_reap(x, req);
		break;
	case CTL_EVENTS:
		answer = cmd_events(x, c, req);
		break;
	case CTL_RELOAD:
		answer = cmd_reload(x, req);
		break;
	case CTL_HOSTS:
		answer = cmd_hosts(x, req);
		break;
	}
	ctl_request_clear(req);
	return answer != NULL ? client_send(c, answer) : 0;
}
