/*
 * config_check.c - the checks of a parsed configuration as a whole: the
 * global sections together, each service against them, names and public
 * ports across services, services defined twice.  A service's errors are
 * reported at its header's line, a global one at its key's (or at the
 * end of the file when the key is not set).
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_internal.h"

uint32_t
subnet_mask(unsigned prefix)
{
	return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

bool
in_subnet(struct in_addr a, struct in_addr net, unsigned prefix)
{
	uint32_t mask = subnet_mask(prefix);

	return (ntohl(a.s_addr) & mask) == (ntohl(net.s_addr) & mask);
}

/* Expand the service's names to absolute ones and check each. */
static void
expand_names(struct parser *p, struct cfg_service *s, int line)
{
	struct config *c = p->cfg;
	char name[CFG_DNS_NAME_MAX + 2], fq[2 * CFG_DNS_NAME_MAX + 4];
	char err[256], **out;
	size_t i, z, n = 0, zl, nl;

	if (s->nnames == 0) {
		/* Default: the service's own name in every zone. */
		s->names = pcalloc(p, 1, sizeof(char *));
		s->names[0] = s->name;
		s->nnames = 1;
	}
	out = pcalloc(p, s->nnames * (c->nzones > 0 ? c->nzones : 1),
	    sizeof(char *));
	for (i = 0; i < s->nnames; i++) {
		const char *raw = s->names[i];
		bool absolute = raw[strlen(raw) - 1] == '.';

		if (normalise_dname(raw, name, sizeof(name), err,
		    sizeof(err)) == -1) {
			perr(p, line, "service \"%s\": names: %s", s->name,
			    err);
			continue;
		}
		if (absolute) {
			nl = strlen(name);
			for (z = 0; z < c->nzones; z++) {
				zl = strlen(c->zones[z]);
				if (strcmp(name, c->zones[z]) == 0 ||
				    (nl > zl && name[nl - zl - 1] == '.' &&
				    strcmp(name + nl - zl, c->zones[z]) == 0))
					break;
			}
			if (z == c->nzones)
				perr(p, line, "service \"%s\": name %s is in "
				    "no zone served", s->name, name);
			else
				out[n++] = pstrdup(p, name);
			continue;
		}
		for (z = 0; z < c->nzones; z++) {
			snprintf(fq, sizeof(fq), "%s%s", name, c->zones[z]);
			if (strlen(fq) > CFG_DNS_NAME_MAX) {
				perr(p, line, "service \"%s\": name %s is "
				    "too long", s->name, fq);
				continue;
			}
			out[n++] = pstrdup(p, fq);
		}
	}
	s->names = out;
	s->nnames = n;
}

void
check_service(struct parser *p, struct cfg_service *s)
{
	struct config *c = p->cfg;
	int line = s->line;
	size_t i, routed = 0;

	if (s->kernel == NULL)
		perr(p, line, "service \"%s\": 'kernel' is required", s->name);
	if (s->family == 0)
		perr(p, line, "service \"%s\": 'address' is required (the "
		    "public address DNS answers and the proxy listens on)",
		    s->name);
	if (s->ready == CFG_READY_TCP && s->ready_port == 0) {
		if (s->nports > 0)
			s->ready_port = s->ports[0].guest_port;
		else
			perr(p, line, "service \"%s\": no ports, so 'ready' "
			    "must name a tcp:PORT or serial:TEXT", s->name);
	}
	if (s->memory > c->memory_budget)
		perr(p, line, "service \"%s\": memory is larger than "
		    "[summond] memory-budget", s->name);
	if (s->standby > c->max_instances)
		perr(p, line, "service \"%s\": standby %u exceeds "
		    "max-instances %u", s->name, s->standby, c->max_instances);
	if (s->has_guest_address && c->net_mode == CFG_NET_USER)
		perr(p, line, "service \"%s\": guest-address has no "
		    "meaning in [network] mode = user", s->name);
	check_service_hosts(p, s);
	if (s->standby > 0 && s->stop_mode == CFG_STOP_SAVE)
		perr(p, line, "service \"%s\": standby cannot be combined "
		    "with stop-mode = save (saved domains are persistent, "
		    "standby ones transient)", s->name);
	if (c->net_mode == CFG_NET_USER && s->ready == CFG_READY_TCP &&
	    s->ready_port != 0) {
		for (i = 0; i < s->nports; i++)
			if (s->ports[i].guest_port == s->ready_port)
				break;
		if (i == s->nports)
			perr(p, line, "service \"%s\": in user mode the "
			    "ready port %u must be one of the guest ports",
			    s->name, s->ready_port);
	}
	if (s->dns_answer == CFG_DNS_ANSWER_GUEST &&
	    c->net_mode == CFG_NET_USER)
		perr(p, line, "service \"%s\": dns-answer = guest needs "
		    "[network] mode = bridge (user-mode guests have no "
		    "reachable address)", s->name);
	expand_names(p, s, line);
	for (i = 0; i < s->nports; i++)
		if (s->ports[i].route != CFG_ROUTE_NONE)
			routed++;
	if (s->route_default && routed == 0)
		perr(p, line, "service \"%s\": route-default, but no port of "
		    "it routes by name (/sni or /host)", s->name);
	else if (routed > 0 && s->dns_answer == CFG_DNS_ANSWER_GUEST)
		perr(p, line, "service \"%s\": dns-answer = guest sends "
		    "clients to the guest, past its ports shared by name",
		    s->name);
	else if (routed > 0 && s->nnames == 0 && !s->route_default)
		perr(p, line, "service \"%s\": its ports route by name, but "
		    "it has none (relative names need a [dns] zone) and is "
		    "not route-default", s->name);
}

struct name_ref { const char *name; size_t svc; };

static int
name_ref_cmp(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	if (r != 0)
		return r;
	return x->svc < y->svc ? -1 : x->svc > y->svc;
}

struct bind_ref {
	int		 family;
	uint8_t		 addr[16];
	uint16_t	 port;
	enum cfg_route	 route;
	bool		 dflt;		/* the service is route-default */
	size_t		 svc;
};

static int
bind_ref_cmp(const void *a, const void *b)
{
	const struct bind_ref *x = a, *y = b;
	int r;

	if (x->family != y->family)
		return x->family - y->family;
	if ((r = memcmp(x->addr, y->addr, 16)) != 0)
		return r;
	if (x->port != y->port)
		return x->port - y->port;
	return x->svc < y->svc ? -1 : x->svc > y->svc;
}

/* Checks across services, sorted so that 10,000 services stay cheap. */
void
check_across(struct parser *p)
{
	struct config *c = p->cfg;
	struct name_ref *nr;
	struct bind_ref *br;
	size_t i, j, n = 0, nb = 0, total = 0, totalp = 0, dflt;

	for (i = 0; i < c->nservices; i++) {
		total += c->services[i].nnames;
		totalp += c->services[i].nports;
	}
	nr = xcalloc(total, sizeof(*nr));
	br = xcalloc(totalp, sizeof(*br));
	for (i = 0; i < c->nservices; i++) {
		struct cfg_service *s = &c->services[i];
		for (j = 0; j < s->nnames; j++)
			nr[n++] = (struct name_ref){ s->names[j], i };
		for (j = 0; j < s->nports && s->family != 0; j++) {
			struct bind_ref *b = &br[nb++];
			b->family = s->family;
			if (s->family == AF_INET)
				memcpy(b->addr, &s->address4, 4);
			else
				memcpy(b->addr, &s->address6, 16);
			b->port = s->ports[j].public_port;
			b->route = s->ports[j].route;
			b->dflt = s->route_default;
			b->svc = i;
		}
	}
	qsort(nr, n, sizeof(*nr), name_ref_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(nr[i].name, nr[i - 1].name) == 0 &&
		    nr[i].svc != nr[i - 1].svc)
			perr(p, c->services[nr[i].svc].line, "service \"%s\": "
			    "name %s already belongs to service \"%s\"",
			    c->services[nr[i].svc].name, nr[i].name,
			    c->services[nr[i - 1].svc].name);
	qsort(br, nb, sizeof(*br), bind_ref_cmp);
	/*
	 * Services on one address and port: a port without a route is one
	 * service's; a shared one has one route and at most one default.
	 * Two of them cannot have a name in common: no two services can.
	 */
	for (i = 1, dflt = nb > 0 && br[0].dflt ? 0 : SIZE_MAX; i < nb; i++) {
		const struct bind_ref *b = &br[i], *prev = &br[i - 1];
		const struct cfg_service *s = &c->services[b->svc];
		if (b->family != prev->family || b->port != prev->port ||
		    memcmp(b->addr, prev->addr, 16) != 0) {
			dflt = b->dflt ? i : SIZE_MAX;
			continue;
		}
		if (b->route == CFG_ROUTE_NONE || prev->route == CFG_ROUTE_NONE)
			perr(p, s->line, "service \"%s\": %s port %u is "
			    "already used by service \"%s\"", s->name,
			    s->address_text, b->port,
			    c->services[prev->svc].name);
		else if (b->route != prev->route)
			perr(p, s->line, "service \"%s\": %s port %u routes "
			    "by %s, but service \"%s\" routes by %s there",
			    s->name, s->address_text, b->port,
			    config_route_name(b->route),
			    c->services[prev->svc].name,
			    config_route_name(prev->route));
		else if (b->dflt && dflt != SIZE_MAX)
			perr(p, s->line, "service \"%s\": route-default on "
			    "%s port %u, where service \"%s\" is the default "
			    "already", s->name, s->address_text, b->port,
			    c->services[br[dflt].svc].name);
		else if (b->dflt)
			dflt = i;
	}
	free(nr);
	free(br);
}

/* Where a global key was set, else the end of the file. */
static int
key_line(struct parser *p, enum sect s, const char *name)
{
	int line = p->keyline[key_index(s, name)];

	return line > 0 ? line : (p->lineno > 0 ? p->lineno : 1);
}

/*
 * A copy of path with runs of '/', "/./" and a trailing '/' folded away:
 * one file, however it is written.  ".." stays: after a symbolic link it
 * is not the parent that the text shows.
 */
char *
path_fold(const char *path)
{
	char *out = xstrdup(path), *w = out;
	const char *r = path;

	while (*r != '\0') {
		if (r[0] == '/' && (r[1] == '/' || (r[1] == '.' &&
		    (r[2] == '/' || r[2] == '\0')))) {
			r += r[1] == '/' ? 1 : 2;
			continue;
		}
		*w++ = *r++;
	}
	if (w > out + 1 && w[-1] == '/')
		w--;
	*w = '\0';
	return out;
}

/*
 * The state database and the files that SQLite and summond keep beside
 * it, which summond creates, locks or deletes as its own.
 */
static const char *const state_files[] = {
	"", "-wal", "-shm", "-journal", ".lock", NULL,
};

/* The state_files entry that control names, or NULL. */
const char *
state_clash(const char *control, const char *state)
{
	size_t i, n = strlen(state);

	for (i = 0; state_files[i] != NULL; i++)
		if (strncmp(control, state, n) == 0 &&
		    strcmp(control + n, state_files[i]) == 0)
			return state_files[i];
	return NULL;
}

void
clash_err(struct parser *p, int line, const char *suffix,
    const char *control)
{
	if (*suffix == '\0')
		perr(p, line, "control: %s is the state database's path",
		    control);
	else
		perr(p, line, "control: %s is the state database's %s file",
		    control, suffix);
}

void
check_global(struct parser *p)
{
	struct config *c = p->cfg;
	uint32_t lo = ntohl(c->pool_lo.s_addr), hi = ntohl(c->pool_hi.s_addr);
	uint32_t gw = ntohl(c->gateway.s_addr);
	char *control, *state;
	const char *suffix;
	int line;

	/*
	 * summond removes a stale socket at control before it binds: there
	 * it would delete the state database.  Compared as written, folded;
	 * config_check_files() compares them again through the file system.
	 */
	control = path_fold(c->control);
	state = path_fold(c->state);
	if ((suffix = state_clash(control, state)) != NULL) {
		/* At control's line; at state's when control is the default. */
		line = p->keyline[key_index(S_SUMMOND, "control")];
		clash_err(p, line > 0 ? line : key_line(p, S_SUMMOND, "state"),
		    suffix, c->control);
	}
	free(control);
	free(state);

	if (c->ndns_listen > 0 && c->nzones == 0)
		perr(p, key_line(p, S_DNS, "zone"), "[dns] needs at least "
		    "one 'zone' (or an empty 'listen' to turn DNS off)");
	if (c->net_mode == CFG_NET_BRIDGE) {
		if (!in_subnet(c->pool_lo, c->gateway, c->prefix) ||
		    !in_subnet(c->pool_hi, c->gateway, c->prefix))
			perr(p, key_line(p, S_NETWORK, "pool"), "[network] "
			    "pool is not inside the gateway's subnet");
		else if (gw >= lo && gw <= hi)
			perr(p, key_line(p, S_NETWORK, "pool"), "[network] "
			    "pool contains the gateway address");
	}
}

static struct parser *sort_parser;	/* qsort has no context argument */

static int
section_name_cmp(const void *a, const void *b)
{
	const struct section *x = &sort_parser->sections[*(const size_t *)a];
	const struct section *y = &sort_parser->sections[*(const size_t *)b];
	int r = strcmp(x->name, y->name);

	return r != 0 ? r : x->line - y->line;
}

/* Report and drop every service (or host) defined twice: n log n. */
void
mark_duplicates(struct parser *p, enum sect kind)
{
	size_t *idx = xcalloc(p->nsections, sizeof(*idx)), n = 0, i;

	for (i = 0; i < p->nsections; i++)
		if (p->sections[i].sect == kind && !p->sections[i].bad)
			idx[n++] = i;
	sort_parser = p;
	qsort(idx, n, sizeof(*idx), section_name_cmp);
	for (i = 1; i < n; i++) {
		struct section *prev = &p->sections[idx[i - 1]];
		struct section *sec = &p->sections[idx[i]];
		if (strcmp(prev->name, sec->name) != 0)
			continue;
		/* idx[i - 1] may be a duplicate too: find the first. */
		size_t j = i - 1;
		while (j > 0 && strcmp(p->sections[idx[j - 1]].name,
		    sec->name) == 0)
			j--;
		perr(p, sec->line, "duplicate %s \"%s\" (first defined "
		    "at line %d)", sect_names[kind], sec->name,
		    p->sections[idx[j]].line);
		sec->bad = true;
	}
	free(idx);
}
