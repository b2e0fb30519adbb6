/*
 * config_keys.c - pass 2: the table of the keys the file may set, and
 * what converts, checks and stores each key's value.
 *
 * A key's row names its section, its handler, where its value goes and
 * the bounds or the names it accepts.  A handler returns 0, or -1 with a
 * message in err that apply_entry() reports at the entry's line; a list
 * reports each bad word itself and goes on with the next.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_internal.h"

#define MAX_WORDS	64	/* addresses, zones, ports */
#define MAX_NAMES	256	/* names of one service */

struct key;
typedef int (*key_fn)(struct parser *, const struct key *,
    struct cfg_service *, const char *value, char *err, size_t errlen);

struct key {
	enum sect	 sect;
	const char	*name;
	key_fn		 fn;
	size_t		 off;		/* into config or cfg_service */
	uint64_t	 min, max;	/* bounds for numbers */
	const char *const *choices;	/* enum names, NULL-terminated */
};

/*
 * Where a key's value goes: the service or the host being parsed, or
 * the config.
 */
static void *
field(struct parser *p, const struct key *k, struct cfg_service *svc)
{
	void *base = k->sect == S_SERVICE ? (void *)svc :
	    k->sect == S_HOST ? (void *)p->host : (void *)p->cfg;

	return (char *)base + k->off;
}

/*
 * A list reports each bad word on its own, at the line of the entry
 * being applied, and goes on with the next word.
 */
static void
word_err(struct parser *p, const char *msg)
{
	perr(p, p->cur->line, "%s: %s", p->cur->key, msg);
}

/* The end of a list: -1 with an empty err when words were reported. */
static int
words_done(struct words *wl, size_t nbad, char *err)
{
	words_free(wl);
	if (nbad == 0)
		return 0;
	err[0] = '\0';
	return -1;
}

static int
store_string(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	char **f = field(p, k, svc);

	if (k->min > 0 && *v == '\0')
		return seterr(err, errlen, "must not be empty");
	*f = pstrdup(p, v);
	return 0;
}

/*
 * A path, URI or name: a tab in one is refused, because the XML parser
 * turns a tab in an attribute (<source path='${serial_log}'/>) into a
 * space, and because tabs elsewhere only separate words of a list.
 */
static int
k_string(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	if (strchr(v, '\t') != NULL)
		return seterr(err, errlen, "tab in value (tabs only separate "
		    "the words of a list)");
	return store_string(p, k, svc, v, err, errlen);
}

static int
k_path(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	if (v[0] != '/')
		return seterr(err, errlen, "'%s' is not an absolute path", v);
	return k_string(p, k, svc, v, err, errlen);
}

static int
k_uint(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	const char *end;
	uint64_t n;

	if (parse_u64(v, &end, &n) == -1 || *end != '\0')
		return seterr(err, errlen, "'%s' is not a number", v);
	if (n < k->min || n > k->max)
		return seterr(err, errlen, "%" PRIu64 " is out of range "
		    "(%" PRIu64 "-%" PRIu64 ")", n, k->min, k->max);
	if (k->max > UINT32_MAX)
		*(uint64_t *)field(p, k, svc) = n;
	else
		*(unsigned *)field(p, k, svc) = (unsigned)n;
	return 0;
}

/* A thread count, or "auto" (stored as 0): one per CPU. */
static int
k_threads(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	const char *end;
	uint64_t n;

	if (strcmp(v, "auto") == 0) {
		*(unsigned *)field(p, k, svc) = 0;
		return 0;
	}
	if (parse_u64(v, &end, &n) == -1 || *end != '\0')
		return seterr(err, errlen, "'%s' is not a number or auto", v);
	if (n < 1 || n > k->max)
		return seterr(err, errlen, "%" PRIu64 " is out of range "
		    "(1-%" PRIu64 " or auto)", n, k->max);
	*(unsigned *)field(p, k, svc) = (unsigned)n;
	return 0;
}

static int
k_duration(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	uint64_t ms;

	if (config_parse_duration(v, &ms, err, errlen) == -1)
		return -1;
	if (ms < k->min || ms > k->max)
		return seterr(err, errlen, "'%s' is out of range "
		    "(%" PRIu64 "ms-%" PRIu64 "s)", v, k->min, k->max / 1000);
	*(uint64_t *)field(p, k, svc) = ms;
	return 0;
}

static int
k_size(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	uint64_t b;

	if (config_parse_size(v, &b, err, errlen) == -1)
		return -1;
	if (b < k->min || b > k->max)
		return seterr(err, errlen, "'%s' is out of range (%" PRIu64
		    "M-%" PRIu64 "G)", v, k->min >> 20, k->max >> 30);
	*(uint64_t *)field(p, k, svc) = b;
	return 0;
}

static int
k_choice(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	char list[256] = "";
	size_t i;

	for (i = 0; k->choices[i] != NULL; i++) {
		if (strcmp(v, k->choices[i]) == 0) {
			*(int *)field(p, k, svc) = (int)i;
			return 0;
		}
		if (i > 0)
			strncat(list, " | ", sizeof(list) - strlen(list) - 1);
		strncat(list, k->choices[i], sizeof(list) - strlen(list) - 1);
	}
	return seterr(err, errlen, "'%s' is not one of %s", v, list);
}

static int
k_bool(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	bool *f = field(p, k, svc);

	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
	    strcmp(v, "on") == 0)
		*f = true;
	else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
	    strcmp(v, "off") == 0)
		*f = false;
	else
		return seterr(err, errlen, "'%s' is not yes or no", v);
	return 0;
}

static int
k_listen(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	struct config *c = p->cfg;
	struct words wl;
	size_t i, nbad = 0;

	words_split(&wl, v);
	if (wl.n > MAX_WORDS) {
		words_free(&wl);
		return seterr(err, errlen, "too many addresses (at most %d)",
		    MAX_WORDS);
	}
	c->dns_listen = pcalloc(p, wl.n, sizeof(*c->dns_listen));
	c->ndns_listen = 0;
	for (i = 0; i < wl.n; i++) {
		if (config_parse_addr(wl.w[i], 53,
		    &c->dns_listen[c->ndns_listen], err, errlen) == -1) {
			word_err(p, err);
			nbad++;
			continue;
		}
		c->ndns_listen++;
	}
	return words_done(&wl, nbad, err);
}

static int
k_zone(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	struct config *c = p->cfg;
	char name[CFG_DNS_NAME_MAX + 2];
	struct words wl;
	size_t i, j, nbad = 0;

	words_split(&wl, v);
	if (wl.n > MAX_WORDS) {
		words_free(&wl);
		return seterr(err, errlen, "too many zones (at most %d)",
		    MAX_WORDS);
	}
	c->zones = pcalloc(p, wl.n, sizeof(*c->zones));
	c->nzones = 0;
	for (i = 0; i < wl.n; i++) {
		if (normalise_dname(wl.w[i], name, sizeof(name), err,
		    errlen) == -1) {
			word_err(p, err);
			nbad++;
			continue;
		}
		for (j = 0; j < c->nzones; j++)
			if (strcmp(c->zones[j], name) == 0)
				break;
		if (j < c->nzones) {
			seterr(err, errlen, "zone %s listed twice", name);
			word_err(p, err);
			nbad++;
			continue;
		}
		c->zones[c->nzones++] = pstrdup(p, name);
	}
	return words_done(&wl, nbad, err);
}

static int
k_forwarder(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	struct config *c = p->cfg;

	c->has_forwarder = false;
	if (*v == '\0')
		return 0;
	if (config_parse_addr(v, 53, &c->forwarder, err, errlen) == -1)
		return -1;
	c->has_forwarder = true;
	return 0;
}

static int
k_metrics(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	struct config *c = p->cfg;

	c->has_metrics = false;
	if (*v == '\0')
		return 0;
	if (config_parse_addr(v, 9153, &c->metrics_listen, err,
	    errlen) == -1)
		return -1;
	c->has_metrics = true;
	return 0;
}

static int
k_port_range(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	struct config *c = p->cfg;
	char buf[64], *dash;

	if (copy_value(buf, sizeof(buf), v, err, errlen) == -1)
		return -1;
	dash = strchr(buf, '-');
	if (dash == NULL)
		return seterr(err, errlen, "'%s' is not a range LO-HI", v);
	*dash = '\0';
	if (parse_port(buf, &c->user_port_lo, false) == -1 ||
	    parse_port(dash + 1, &c->user_port_hi, false) == -1 ||
	    c->user_port_lo > c->user_port_hi)
		return seterr(err, errlen, "'%s' is not a port range LO-HI",
		    v);
	return 0;
}

static int
k_gateway(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	struct in_addr *gw = k->sect == S_HOST ? &p->host->gateway :
	    &p->cfg->gateway;
	unsigned *prefix = k->sect == S_HOST ? &p->host->prefix :
	    &p->cfg->prefix;
	char buf[64], *slash;
	const char *end;
	uint64_t pfx;

	if (copy_value(buf, sizeof(buf), v, err, errlen) == -1)
		return -1;
	slash = strchr(buf, '/');
	if (slash == NULL)
		return seterr(err, errlen, "'%s' needs a prefix length "
		    "(e.g. 10.99.0.1/24)", v);
	*slash = '\0';
	if (inet_pton(AF_INET, buf, gw) != 1)
		return seterr(err, errlen, "'%s' is not an IPv4 address", buf);
	if (parse_u64(slash + 1, &end, &pfx) == -1 || *end != '\0' ||
	    pfx < 8 || pfx > 30) {
		gw->s_addr = 0;
		return seterr(err, errlen, "bad prefix length '%s' (8-30)",
		    slash + 1);
	}
	*prefix = (unsigned)pfx;
	return 0;
}

static int
k_pool(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	struct in_addr *lo = k->sect == S_HOST ? &p->host->pool_lo :
	    &p->cfg->pool_lo;
	struct in_addr *hi = k->sect == S_HOST ? &p->host->pool_hi :
	    &p->cfg->pool_hi;
	struct in_addr a, b;
	char buf[64], *dash;

	if (copy_value(buf, sizeof(buf), v, err, errlen) == -1)
		return -1;
	dash = strchr(buf, '-');
	if (dash == NULL)
		return seterr(err, errlen, "'%s' is not a range FIRST-LAST", v);
	*dash = '\0';
	if (inet_pton(AF_INET, buf, &a) != 1 ||
	    inet_pton(AF_INET, dash + 1, &b) != 1)
		return seterr(err, errlen, "'%s' is not a range of IPv4 "
		    "addresses", v);
	if (ntohl(a.s_addr) > ntohl(b.s_addr))
		return seterr(err, errlen, "pool '%s' is empty (first > last)",
		    v);
	*lo = a;
	*hi = b;
	return 0;
}

/* ---- service keys --------------------------------------------------- */

static int
k_names(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	char name[CFG_DNS_NAME_MAX + 2];
	struct words wl;
	size_t i, nbad = 0;

	words_split(&wl, v);
	if (wl.n > MAX_NAMES) {
		words_free(&wl);
		return seterr(err, errlen, "too many names (at most %d)",
		    MAX_NAMES);
	}
	if (wl.n == 0) {
		words_free(&wl);
		return seterr(err, errlen, "must not be empty");
	}
	/*
	 * Kept raw here: relative names are expanded once the zones are
	 * known, which may be later in the file.  Their spelling is
	 * checked now, at this line.
	 */
	svc->names = pcalloc(p, wl.n, sizeof(char *));
	svc->nnames = 0;
	for (i = 0; i < wl.n; i++) {
		if (normalise_dname(wl.w[i], name, sizeof(name), err,
		    errlen) == -1) {
			word_err(p, err);
			nbad++;
			continue;
		}
		svc->names[svc->nnames++] = pstrdup(p, wl.w[i]);
	}
	return words_done(&wl, nbad, err);
}

static int
k_address(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	if (inet_pton(AF_INET, v, &svc->address4) == 1)
		svc->family = AF_INET;
	else if (inet_pton(AF_INET6, v, &svc->address6) == 1)
		svc->family = AF_INET6;
	else
		return seterr(err, errlen, "'%s' is not an IPv4 or IPv6 "
		    "address", v);
	svc->address_text = pstrdup(p, v);
	return 0;
}

static int
k_guest_address(struct parser *p, const struct key *k,
    struct cfg_service *svc, const char *v, char *err, size_t errlen)
{
	svc->has_guest_address = false;
	if (*v == '\0')
		return 0;
	if (inet_pton(AF_INET, v, &svc->guest_address) != 1)
		return seterr(err, errlen, "'%s' is not an IPv4 address", v);
	svc->has_guest_address = true;
	return 0;
}

static const char *const route_names[] = { "", "sni", "host", NULL };

/*
 * One word of ports, PUBLIC[:GUEST][/sni|/host], into pt; w is cut up.
 * -1 with a message that quotes word, w as it was.
 */
static int
parse_port_word(char *w, const char *word, struct cfg_port *pt, char *err,
    size_t errlen)
{
	char *colon, *slash;
	size_t i;

	if ((slash = strchr(w, '/')) != NULL) {
		*slash++ = '\0';
		for (i = 1; route_names[i] != NULL; i++)
			if (strcmp(slash, route_names[i]) == 0)
				break;
		if (route_names[i] == NULL)
			return seterr(err, errlen, "bad route '%s' in '%s' "
			    "(want /sni or /host)", slash, word);
		pt->route = (enum cfg_route)i;
	}
	if ((colon = strchr(w, ':')) != NULL)
		*colon++ = '\0';
	if (parse_port(w, &pt->public_port, false) == -1 ||
	    (colon != NULL && parse_port(colon, &pt->guest_port, false) == -1))
		return seterr(err, errlen, "bad port '%s' (want PUBLIC or "
		    "PUBLIC:GUEST, 1-65535)", word);
	if (colon == NULL)
		pt->guest_port = pt->public_port;
	return 0;
}

static int
k_ports(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	struct words wl;
	char *word;
	size_t i, j, nbad = 0;
	bool bad;

	words_split(&wl, v);
	if (wl.n > MAX_WORDS) {
		words_free(&wl);
		return seterr(err, errlen, "too many ports (at most %d)",
		    MAX_WORDS);
	}
	svc->ports = pcalloc(p, wl.n, sizeof(*svc->ports));
	svc->nports = 0;
	for (i = 0; i < wl.n; i++) {
		struct cfg_port *pt = &svc->ports[svc->nports];
		/* A bad word's slot is used again by the next one. */
		*pt = (struct cfg_port){ 0 };
		/* Parsed in a copy, so that an error quotes it whole. */
		word = xstrdup(wl.w[i]);
		bad = parse_port_word(word, wl.w[i], pt, err, errlen) == -1;
		free(word);
		if (bad) {
			word_err(p, err);
			nbad++;
			continue;
		}
		for (j = 0; j < svc->nports; j++)
			if (svc->ports[j].public_port == pt->public_port)
				break;
		if (j < svc->nports) {
			seterr(err, errlen, "public port %u listed twice",
			    pt->public_port);
			word_err(p, err);
			nbad++;
			continue;
		}
		svc->nports++;
	}
	return words_done(&wl, nbad, err);
}

/* The hosts a service may run on, by name: a mask of cfg->hosts. */
static int
k_hosts(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	struct config *c = p->cfg;
	struct words wl;
	size_t i, nbad = 0;
	int h;

	if (!c->host_sections)
		return seterr(err, errlen, "there are no [host] sections to "
		    "choose from");
	words_split(&wl, v);
	if (wl.n == 0) {
		words_free(&wl);
		return seterr(err, errlen, "must not be empty (leave it out "
		    "for any host)");
	}
	svc->hosts = 0;
	for (i = 0; i < wl.n; i++) {
		if ((h = config_host(c, wl.w[i])) == -1) {
			seterr(err, errlen, "no [host \"%s\"]", wl.w[i]);
			word_err(p, err);
			nbad++;
			continue;
		}
		svc->hosts |= 1ULL << h;
	}
	return words_done(&wl, nbad, err);
}

static int
k_ready(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	if (strncmp(v, "tcp:", 4) == 0) {
		if (parse_port(v + 4, &svc->ready_port, false) == -1)
			return seterr(err, errlen, "bad port in '%s'", v);
		svc->ready = CFG_READY_TCP;
		return 0;
	}
	if (strncmp(v, "serial:", 7) == 0) {
		if (v[7] == '\0')
			return seterr(err, errlen, "serial: needs the text "
			    "to wait for");
		svc->ready_text = pstrdup(p, v + 7);
		svc->ready = CFG_READY_SERIAL;
		return 0;
	}
	return seterr(err, errlen, "'%s' is not tcp:PORT or serial:TEXT", v);
}

/*
 * The command line goes inside the domain XML and on to the guest: tabs
 * are blanks there, so unlike a path it may hold them.
 */
static int
k_cmdline(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	if (check_vars(v, false, NULL, err, errlen) == -1)
		return -1;
	return store_string(p, k, svc, v, err, errlen);
}

static int
k_template(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "microvm") != 0 && strcmp(v, "pc") != 0 && v[0] != '/')
		return seterr(err, errlen, "'%s' is not microvm, pc or an "
		    "absolute path to a domain XML template", v);
	svc->template_line = p->cur->line;
	return k_string(p, k, svc, v, err, errlen);
}

static int
k_kernel(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	svc->kernel_line = p->cur->line;
	return k_path(p, k, svc, v, err, errlen);
}

/* The kernel's initramfs; empty is none, as for guest-address. */
static int
k_initrd(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	if (*v == '\0')
		return 0;
	svc->initrd_line = p->cur->line;
	return k_path(p, k, svc, v, err, errlen);
}

static const char *const on_exit_names[] = { "keep", "stop", NULL };
static const char *const net_mode_names[] = { "bridge", "user", NULL };
static const char *const idle_conn_names[] = { "keep-alive", "ignore", NULL };
static const char *const stop_mode_names[] = {
	"destroy", "shutdown", "suspend", "save", NULL };
static const char *const dns_answer_names[] = { "proxy", "guest", NULL };
static const char *const relay_names[] = { "copy", "splice", NULL };

#define C(f)	offsetof(struct config, f)
#define V(f)	offsetof(struct cfg_service, f)
#define H(f)	offsetof(struct cfg_host, f)

static const struct key keys[] = {
	{ S_SUMMOND, "state", k_path, C(state), 0, 0, NULL },
	{ S_SUMMOND, "control", k_path, C(control), 0, 0, NULL },
	{ S_SUMMOND, "hypervisor", k_string, C(hypervisor), 1, 0, NULL },
	{ S_SUMMOND, "templates", k_path, C(templates), 0, 0, NULL },
	{ S_SUMMOND, "serial-dir", k_path, C(serial_dir), 0, 0, NULL },
	{ S_SUMMOND, "on-exit", k_choice, C(on_exit), 0, 0, on_exit_names },
	{ S_SUMMOND, "max-instances", k_uint, C(max_instances), 1, 100000,
	    NULL },
	{ S_SUMMOND, "memory-budget", k_size, C(memory_budget), MIB(1),
	    GIB(1) << 10, NULL },
	{ S_SUMMOND, "standby-budget", k_uint, C(standby_budget), 0, 10000,
	    NULL },
	{ S_SUMMOND, "standby-memory", k_size, C(standby_memory), 0,
	    GIB(1) << 10, NULL },
	{ S_SUMMOND, "standby-half-life", k_uint, C(standby_half_life), 1,
	    1000000, NULL },

	{ S_DNS, "listen", k_listen, 0, 0, 0, NULL },
	{ S_DNS, "zone", k_zone, 0, 0, 0, NULL },
	{ S_DNS, "ttl", k_uint, C(ttl), 0, 86400, NULL },
	{ S_DNS, "forwarder", k_forwarder, 0, 0, 0, NULL },
	{ S_DNS, "rate-limit", k_uint, C(rate_limit), 0, 1000000, NULL },
	{ S_DNS, "tcp-idle-timeout", k_duration, C(dns_tcp_idle_ms),
	    MS(100), SEC(3600), NULL },
	{ S_DNS, "tcp-clients", k_uint, C(dns_tcp_max), 1, 65536, NULL },
	{ S_DNS, "tcp-clients-per-source", k_uint, C(dns_tcp_per_source), 0,
	    65536, NULL },

	{ S_PROXY, "hold-timeout", k_duration, C(hold_timeout_ms), MS(10),
	    SEC(3600), NULL },
	{ S_PROXY, "max-held", k_uint, C(max_held), 0, 1000000, NULL },
	{ S_PROXY, "idle-timeout", k_duration, C(proxy_idle_timeout_ms),
	    SEC(1), SEC(7 * 86400), NULL },
	{ S_PROXY, "relay", k_choice, C(relay), 0, 0, relay_names },
	{ S_PROXY, "relay-threads", k_threads, C(relay_threads), 0, 256,
	    NULL },

	{ S_NETWORK, "mode", k_choice, C(net_mode), 0, 0, net_mode_names },
	{ S_NETWORK, "user-ports", k_port_range, 0, 0, 0, NULL },
	{ S_NETWORK, "name", k_string, C(net_name), 1, 0, NULL },
	{ S_NETWORK, "bridge", k_string, C(net_bridge), 1, 0, NULL },
	{ S_NETWORK, "gateway", k_gateway, 0, 0, 0, NULL },
	{ S_NETWORK, "pool", k_pool, 0, 0, 0, NULL },
	{ S_NETWORK, "create", k_bool, C(net_create), 0, 0, NULL },

	{ S_METRICS, "listen", k_metrics, 0, 0, 0, NULL },

	{ S_HOST, "uri", k_string, H(uri), 1, 0, NULL },
	{ S_HOST, "network", k_string, H(net_name), 1, 0, NULL },
	{ S_HOST, "bridge", k_string, H(net_bridge), 1, 0, NULL },
	{ S_HOST, "gateway", k_gateway, 0, 0, 0, NULL },
	{ S_HOST, "pool", k_pool, 0, 0, 0, NULL },
	{ S_HOST, "create", k_bool, H(net_create), 0, 0, NULL },
	{ S_HOST, "max-instances", k_uint, H(max_instances), 0, 100000,
	    NULL },
	{ S_HOST, "max-memory", k_size, H(max_memory), 0, GIB(1) << 10,
	    NULL },

	{ S_SERVICE, "names", k_names, 0, 0, 0, NULL },
	{ S_SERVICE, "kernel", k_kernel, V(kernel), 0, 0, NULL },
	{ S_SERVICE, "initrd", k_initrd, V(initrd), 0, 0, NULL },
	{ S_SERVICE, "cmdline", k_cmdline, V(cmdline), 0, 0, NULL },
	{ S_SERVICE, "memory", k_size, V(memory), MIB(1), GIB(1) << 10,
	    NULL },
	{ S_SERVICE, "vcpus", k_uint, V(vcpus), 1, 64, NULL },
	{ S_SERVICE, "template", k_template, V(template), 0, 0, NULL },
	{ S_SERVICE, "address", k_address, 0, 0, 0, NULL },
	{ S_SERVICE, "ports", k_ports, 0, 0, 0, NULL },
	{ S_SERVICE, "route-default", k_bool, V(route_default), 0, 0, NULL },
	{ S_SERVICE, "guest-address", k_guest_address, 0, 0, 0, NULL },
	{ S_SERVICE, "ready", k_ready, 0, 0, 0, NULL },
	{ S_SERVICE, "boot-timeout", k_duration, V(boot_timeout_ms), MS(100),
	    SEC(3600), NULL },
	{ S_SERVICE, "idle-timeout", k_duration, V(idle_timeout_ms), SEC(1),
	    SEC(30 * 86400), NULL },
	{ S_SERVICE, "idle-connections", k_choice, V(idle_connections), 0, 0,
	    idle_conn_names },
	{ S_SERVICE, "stop-mode", k_choice, V(stop_mode), 0, 0,
	    stop_mode_names },
	{ S_SERVICE, "standby", k_uint, V(standby), 0, 64, NULL },
	{ S_SERVICE, "standby-booted", k_bool, V(standby_booted), 0, 0, NULL },
	{ S_SERVICE, "dns-answer", k_choice, V(dns_answer), 0, 0,
	    dns_answer_names },
	{ S_SERVICE, "hosts", k_hosts, 0, 0, 0, NULL },
};

const size_t nkeys = sizeof(keys) / sizeof(keys[0]);

const char *
config_key_name(size_t i)
{
	static char buf[64];

	if (i >= nkeys)
		return NULL;
	snprintf(buf, sizeof(buf), "%s.%s", sect_names[keys[i].sect],
	    keys[i].name);
	return buf;
}

const char *
config_stop_mode_name(enum cfg_stop_mode m)
{
	return stop_mode_names[m];
}

const char *
config_route_name(enum cfg_route r)
{
	return route_names[r];
}

static const struct key *
find_key(enum sect s, const char *name)
{
	size_t i;

	for (i = 0; i < nkeys; i++)
		if (keys[i].sect == s && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

size_t
key_index(enum sect s, const char *name)
{
	return (size_t)(find_key(s, name) - keys);
}

void
apply_entry(struct parser *p, struct entry *e, struct cfg_service *svc,
    struct entry **seen)
{
	const struct key *k;
	char err[512];
	size_t ki;

	if (p->sections[e->section].bad || e->bad)
		return;	/* the header or the value was already reported */
	k = find_key(e->sect, e->key);
	if (k == NULL) {
		perr(p, e->line, "unknown key '%s' in [%s]", e->key,
		    sect_names[e->sect]);
		return;
	}
	ki = (size_t)(k - keys);
	if (seen[ki] != NULL) {
		perr(p, e->line, "duplicate key '%s' (first set at line %d)",
		    e->key, seen[ki]->line);
		return;
	}
	seen[ki] = e;
	if (k->sect != S_SERVICE && k->sect != S_HOST)
		p->keyline[ki] = e->line;
	p->cur = e;
	err[0] = '\0';
	/* An empty err: a list reported each of its bad words already. */
	if (k->fn(p, k, svc, e->value, err, sizeof(err)) == -1 &&
	    err[0] != '\0')
		perr(p, e->line, "%s: %s", e->key, err);
	p->cur = NULL;
}
