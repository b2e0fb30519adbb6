/*
 * config.c - summond.conf: a parse as a whole and the configuration it
 * makes.
 *
 * inih splits the file into (section, key, value) triples; we feed it
 * through our own line reader (config_read.c) so that every triple
 * carries its line number, long lines and syntax errors are caught, and
 * sections without keys are still seen.  Parsing runs in two passes: the
 * first collects raw entries (merging indented continuation lines), the
 * second walks a table of keys (config_keys.c), converts and checks each
 * value, then checks the configuration as a whole (config_check.c).  All
 * errors are reported, not just the first: they are kept here and
 * printed in line order at the end.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_config.h"
#include "config.h"
#include "config_internal.h"

static void vmsg(struct parser *, int, const char *, const char *, va_list)
    __attribute__((format(printf, 4, 0)));

static void
vmsg(struct parser *p, int line, const char *prefix, const char *fmt,
    va_list ap)
{
	struct perror *e;
	char *msg;

	p->errs = xreallocarray(p->errs, (size_t)p->nmsgs + 1,
	    sizeof(*p->errs));
	e = &p->errs[p->nmsgs];
	e->line = line;
	e->seq = p->nmsgs++;
	e->msg = NULL;
	if (vasprintf(&msg, fmt, ap) == -1)
		return;
	if (asprintf(&e->msg, "%s%s", prefix, msg) == -1)
		e->msg = NULL;
	free(msg);
}

void
perr(struct parser *p, int line, const char *fmt, ...)
{
	va_list ap;

	p->nerrors++;
	va_start(ap, fmt);
	vmsg(p, line, "", fmt, ap);
	va_end(ap);
}

/* Something that may stop a boot, which the file cannot settle. */
void
pwarn(struct parser *p, int line, const char *fmt, ...)
{
	va_list ap;

	p->nwarnings++;
	va_start(ap, fmt);
	vmsg(p, line, "warning: ", fmt, ap);
	va_end(ap);
}

static int
perror_cmp(const void *a, const void *b)
{
	const struct perror *x = a, *y = b;

	return x->line != y->line ? x->line - y->line : x->seq - y->seq;
}

/*
 * Print the errors and warnings in line order (then in the order found),
 * and free them.
 */
void
print_errors(struct parser *p)
{
	int i;

	if (p->nmsgs == 0)
		return;
	qsort(p->errs, (size_t)p->nmsgs, sizeof(*p->errs), perror_cmp);
	for (i = 0; i < p->nmsgs; i++) {
		if (p->errf != NULL)
			fprintf(p->errf, "%s:%d: %s\n", p->file,
			    p->errs[i].line, p->errs[i].msg ? p->errs[i].msg :
			    "(out of memory)");
		free(p->errs[i].msg);
	}
	free(p->errs);
	p->errs = NULL;
}

/* ---- defaults: the one place they live ---------------------------- */

static void
config_defaults(struct parser *p)
{
	struct config *c = p->cfg;
	char err[128];

	c->state = pstrdup(p, "/var/lib/summon/state.db");
	c->control = pstrdup(p, "/run/summon/summond.sock");
	c->hypervisor = pstrdup(p, "qemu:///system");
	c->templates = pstrdup(p, SUMMON_DATADIR "/templates");
	c->serial_dir = pstrdup(p, "/var/log/summon");
	c->on_exit = CFG_ON_EXIT_KEEP;
	c->max_instances = 64;
	c->memory_budget = GIB(4);
	c->standby_half_life = 100;

	c->ndns_listen = 2;
	c->dns_listen = pcalloc(p, 2, sizeof(*c->dns_listen));
	config_parse_addr("127.0.0.1:53", 53, &c->dns_listen[0], err,
	    sizeof(err));
	config_parse_addr("[::1]:53", 53, &c->dns_listen[1], err, sizeof(err));
	c->ttl = 30;
	c->rate_limit = 200;
	c->dns_tcp_idle_ms = SEC(10);
	c->dns_tcp_max = 256;
	c->dns_tcp_per_source = 16;

	c->hold_timeout_ms = SEC(10);
	c->max_held = 256;
	c->proxy_idle_timeout_ms = SEC(600);

	c->net_mode = CFG_NET_BRIDGE;
	c->user_port_lo = 20000;
	c->user_port_hi = 20999;
	c->net_name = pstrdup(p, "summon");
	c->net_bridge = pstrdup(p, "summon0");
	inet_pton(AF_INET, "10.99.0.1", &c->gateway);
	c->prefix = 24;
	inet_pton(AF_INET, "10.99.0.10", &c->pool_lo);
	inet_pton(AF_INET, "10.99.0.250", &c->pool_hi);
	c->net_create = true;

	c->has_metrics = true;
	config_parse_addr("127.0.0.1:9153", 9153, &c->metrics_listen, err,
	    sizeof(err));
}

static void
service_defaults(struct parser *p, struct cfg_service *s)
{
	s->cmdline = pstrdup(p, "ip=${ip}/${prefix} gw=${gateway}");
	s->memory = MIB(32);
	s->vcpus = 1;
	s->template = pstrdup(p, "microvm");
	s->ready = CFG_READY_TCP;
	s->ready_port = 0;	/* 0: the first guest port, set in checks */
	s->boot_timeout_ms = SEC(5);
	s->idle_timeout_ms = SEC(60);
	s->idle_connections = CFG_IDLE_KEEPALIVE;
	s->stop_mode = CFG_STOP_DESTROY;
	s->standby = 0;
	s->standby_booted = false;
	s->dns_answer = CFG_DNS_ANSWER_PROXY;
}

static struct config *
parse(struct parser *p)
{
	struct config *c;
	struct entry **seen;
	struct cfg_service *svc;
	size_t i, s, nservice_sections = 0;

	c = p->cfg = xcalloc(1, sizeof(*c));
	c->pool = pool_new();
	c->path = pstrdup(p, p->file);
	config_defaults(p);

	read_entries(p);

	seen = xcalloc(nkeys, sizeof(*seen));
	p->keyline = xcalloc(nkeys, sizeof(*p->keyline));

	/* Global sections first: service checks depend on them. */
	for (i = 0; i < p->nentries; i++) {
		struct entry *e = &p->entries[i];
		if (e->sect != S_SERVICE && e->sect != S_HOST &&
		    e->sect != S_UNKNOWN)
			apply_entry(p, e, NULL, seen);
	}
	/* Then the hosts, which services name. */
	parse_hosts(p, seen);

	for (s = 0; s < p->nsections; s++)
		if (p->sections[s].sect == S_SERVICE)
			nservice_sections++;
	c->services = xcalloc(nservice_sections, sizeof(*c->services));
	mark_duplicates(p, S_SERVICE);
	for (s = 0; s < p->nsections; s++) {
		struct section *sec = &p->sections[s];
		if (sec->sect != S_SERVICE || sec->bad)
			continue;
		svc = &c->services[c->nservices++];
		svc->name = pstrdup(p, sec->name);
		svc->line = sec->line;
		service_defaults(p, svc);
		memset(seen, 0, nkeys * sizeof(*seen));
		for (i = sec->first; i < sec->first + sec->count; i++)
			apply_entry(p, &p->entries[i], svc, seen);
	}
	free(seen);

	check_global(p);
	check_hosts(p);
	for (i = 0; i < c->nservices; i++)
		check_service(p, &c->services[i]);
	check_across(p);
	/* For config_check_files(), which runs after this parser is gone. */
	c->templates_line = p->keyline[key_index(S_SUMMOND, "templates")];
	c->control_line = p->keyline[key_index(S_SUMMOND, "control")];
	c->state_line = p->keyline[key_index(S_SUMMOND, "state")];
	pool_seal(c->pool);
	return c;
}

static void
parser_free(struct parser *p)
{
	size_t i;

	for (i = 0; i < p->nentries; i++) {
		free(p->entries[i].key);
		free(p->entries[i].value);
	}
	free(p->entries);
	free(p->sections);
	free(p->keyline);
}

static struct config *
finish(struct parser *p, int *nerrors)
{
	struct config *c = parse(p);
	int i;

	if (p->readerr != 0) {
		/*
		 * What was read is not the file: its errors ("needs a zone"
		 * in an empty read of a directory) would mislead.
		 */
		for (i = 0; i < p->nmsgs; i++)
			free(p->errs[i].msg);
		free(p->errs);
		p->errs = NULL;
		p->nmsgs = 0;
		if (p->errf != NULL && p->readerr == EFBIG)
			fprintf(p->errf, "%s: larger than %d MiB\n", p->file,
			    FILE_MAX >> 20);
		else if (p->errf != NULL)
			fprintf(p->errf, "%s: %s\n", p->file,
			    strerror(p->readerr));
		p->nerrors = 1;
	}
	print_errors(p);
	parser_free(p);
	if (nerrors != NULL)
		*nerrors = p->nerrors;
	if (p->nerrors > 0) {
		config_free(c);
		return NULL;
	}
	return c;
}

struct config *
config_load(const char *path, FILE *errf, int *nerrors)
{
	struct parser p = { .file = path, .errf = errf };
	struct config *c;

	if ((p.in = fopen(path, "r")) == NULL) {
		if (errf != NULL)
			fprintf(errf, "%s: %s\n", path, strerror(errno));
		if (nerrors != NULL)
			*nerrors = 1;
		return NULL;
	}
	c = finish(&p, nerrors);
	fclose(p.in);
	return c;
}

struct config *
config_load_string(const char *name, const char *text, FILE *errf,
    int *nerrors)
{
	struct parser p = { .file = name, .errf = errf, .text = text };

	return finish(&p, nerrors);
}

int
config_host(const struct config *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nhosts; i++)
		if (strcmp(c->hosts[i].name, name) == 0)
			return (int)i;
	return -1;
}

const struct cfg_service *
config_service(const struct config *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nservices; i++)
		if (strcmp(c->services[i].name, name) == 0)
			return &c->services[i];
	return NULL;
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	free(c->services);
	free(c->hosts);
	pool_free(c->pool);
	free(c);
}
