/*
 * test_config.c - the configuration parser: every key, bad values and
 * the line numbers of errors.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "config.h"
#include "check_main.h"

/* Parse text; return the config (or NULL) and the error output. */
static struct config *
parse(const char *text, char *errs, size_t errlen, int *nerr)
{
	FILE *f = fmemopen(errs, errlen, "w");
	struct config *c;

	ck_assert_ptr_nonnull(f);
	memset(errs, 0, errlen);
	c = config_load_string("t.conf", text, f, nerr);
	fclose(f);
	return c;
}

static const char *minimal =
    "[dns]\n"
    "zone = svc.test\n"
    "[service \"hello\"]\n"
    "kernel = /k.elf\n"
    "address = 127.0.0.2\n"
    "ports = 80\n";

START_TEST(defaults)
{
	char errs[4096];
	int n;
	struct config *c = parse(minimal, errs, sizeof(errs), &n);
	const struct cfg_service *s;

	ck_assert_msg(c != NULL, "%s", errs);
	ck_assert_int_eq(n, 0);
	ck_assert_str_eq(c->state, "/var/lib/summon/state.db");
	ck_assert_str_eq(c->control, "/run/summon/summond.sock");
	ck_assert_str_eq(c->hypervisor, "qemu:///system");
	ck_assert_int_eq(c->on_exit, CFG_ON_EXIT_KEEP);
	ck_assert_uint_eq(c->max_instances, 64);
	ck_assert_uint_eq(c->memory_budget, 4ull << 30);
	ck_assert_uint_eq(c->ndns_listen, 2);
	ck_assert_str_eq(c->dns_listen[0].text, "127.0.0.1:53");
	ck_assert_str_eq(c->dns_listen[1].text, "[::1]:53");
	ck_assert_uint_eq(c->nzones, 1);
	ck_assert_str_eq(c->zones[0], "svc.test.");
	ck_assert_uint_eq(c->ttl, 30);
	ck_assert(!c->has_forwarder);
	ck_assert_uint_eq(c->rate_limit, 200);
	ck_assert_uint_eq(c->hold_timeout_ms, 10000);
	ck_assert_uint_eq(c->max_held, 256);
	ck_assert_uint_eq(c->proxy_idle_timeout_ms, 600000);
	ck_assert_uint_eq(c->relay_threads, 0);		/* auto */
	ck_assert_int_eq(c->net_mode, CFG_NET_BRIDGE);
	ck_assert_uint_eq(c->user_port_lo, 20000);
	ck_assert_uint_eq(c->user_port_hi, 20999);
	ck_assert_str_eq(c->net_name, "summon");
	ck_assert_str_eq(c->net_bridge, "summon0");
	ck_assert_uint_eq(c->prefix, 24);
	ck_assert(c->net_create);
	ck_assert(c->has_metrics);
	ck_assert_str_eq(c->metrics_listen.text, "127.0.0.1:9153");

	ck_assert_uint_eq(c->nservices, 1);
	s = config_service(c, "hello");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->nnames, 1);
	ck_assert_str_eq(s->names[0], "hello.svc.test.");
	ck_assert_str_eq(s->cmdline, "ip=${ip}/${prefix} gw=${gateway}");
	ck_assert_uint_eq(s->memory, 32u << 20);
	ck_assert_uint_eq(s->vcpus, 1);
	ck_assert_str_eq(s->template, "microvm");
	ck_assert_int_eq(s->ready, CFG_READY_TCP);
	ck_assert_uint_eq(s->ready_port, 80);
	ck_assert_uint_eq(s->boot_timeout_ms, 5000);
	ck_assert_uint_eq(s->idle_timeout_ms, 60000);
	ck_assert_int_eq(s->idle_connections, CFG_IDLE_KEEPALIVE);
	ck_assert_int_eq(s->stop_mode, CFG_STOP_DESTROY);
	ck_assert_uint_eq(s->standby, 0);
	ck_assert(!s->standby_booted);
	ck_assert_int_eq(s->dns_answer, CFG_DNS_ANSWER_PROXY);
	ck_assert_ptr_null(config_service(c, "nope"));
	config_free(c);
}
END_TEST

START_TEST(every_key)
{
	const char *text =
	    "; every key, none at its default\n"
	    "[summond]\n"
	    "state = /tmp/s.db\n"
	    "control = /tmp/s.sock\n"
	    "hypervisor = test:///default\n"
	    "templates = /tmp/tpl\n"
	    "serial-dir = /tmp/serial\n"
	    "on-exit = stop\n"
	    "max-instances = 8\n"
	    "memory-budget = 1G\n"
	    "[dns]\n"
	    "listen = 127.0.0.1:5353 [::1]:5354  ; two\n"
	    "zone = Svc.Example. other.test\n"
	    "ttl = 5\n"
	    "forwarder = 127.0.0.53\n"
	    "rate-limit = 0\n"
	    "tcp-idle-timeout = 3s\n"
	    "tcp-clients = 9\n"
	    "[proxy]\n"
	    "hold-timeout = 250ms\n"
	    "max-held = 7\n"
	    "idle-timeout = 2m\n"
	    "relay-threads = 3\n"
	    "[network]\n"
	    "mode = bridge\n"
	    "user-ports = 30000-30100\n"
	    "name = net1\n"
	    "bridge = br1\n"
	    "gateway = 10.5.0.1/16\n"
	    "pool = 10.5.1.1-10.5.1.9\n"
	    "create = no\n"
	    "[metrics]\n"
	    "listen = [::1]:9999\n"
	    "[service \"web-1\"]\n"
	    "names = www Web api.other.test.\n"
	    "kernel = /img/web.elf\n"
	    "cmdline = ip=${ip} name=${name}\n"
	    "memory = 64M\n"
	    "vcpus = 2\n"
	    "template = /etc/summon/t.xml\n"
	    "address = ::2\n"
	    "ports = 80 8443:443\n"
	    "guest-address = 10.5.2.2\n"
	    "ready = serial:up and running\n"
	    "boot-timeout = 1500ms\n"
	    "idle-timeout = 1h\n"
	    "idle-connections = ignore\n"
	    "stop-mode = suspend\n"
	    "standby = 2\n"
	    "standby-booted = yes\n"
	    "dns-answer = guest\n";
	char errs[4096], a[64];
	int n;
	struct config *c = parse(text, errs, sizeof(errs), &n);
	const struct cfg_service *s;

	ck_assert_msg(c != NULL, "%s", errs);
	ck_assert_str_eq(c->state, "/tmp/s.db");
	ck_assert_str_eq(c->control, "/tmp/s.sock");
	ck_assert_str_eq(c->hypervisor, "test:///default");
	ck_assert_str_eq(c->templates, "/tmp/tpl");
	ck_assert_str_eq(c->serial_dir, "/tmp/serial");
	ck_assert_int_eq(c->on_exit, CFG_ON_EXIT_STOP);
	ck_assert_uint_eq(c->max_instances, 8);
	ck_assert_uint_eq(c->memory_budget, 1u << 30);
	ck_assert_uint_eq(c->ndns_listen, 2);
	ck_assert_str_eq(c->dns_listen[0].text, "127.0.0.1:5353");
	ck_assert_str_eq(c->dns_listen[1].text, "[::1]:5354");
	ck_assert_uint_eq(c->nzones, 2);
	ck_assert_str_eq(c->zones[0], "svc.example.");
	ck_assert_str_eq(c->zones[1], "other.test.");
	ck_assert_uint_eq(c->ttl, 5);
	ck_assert(c->has_forwarder);
	ck_assert_str_eq(c->forwarder.text, "127.0.0.53:53");
	ck_assert_uint_eq(c->rate_limit, 0);
	ck_assert_uint_eq(c->dns_tcp_idle_ms, 3000);
	ck_assert_uint_eq(c->dns_tcp_max, 9);
	ck_assert_uint_eq(c->hold_timeout_ms, 250);
	ck_assert_uint_eq(c->max_held, 7);
	ck_assert_uint_eq(c->proxy_idle_timeout_ms, 120000);
	ck_assert_uint_eq(c->relay_threads, 3);
	ck_assert_uint_eq(c->user_port_lo, 30000);
	ck_assert_uint_eq(c->user_port_hi, 30100);
	ck_assert_str_eq(c->net_name, "net1");
	ck_assert_str_eq(c->net_bridge, "br1");
	inet_ntop(AF_INET, &c->gateway, a, sizeof(a));
	ck_assert_str_eq(a, "10.5.0.1");
	ck_assert_uint_eq(c->prefix, 16);
	inet_ntop(AF_INET, &c->pool_lo, a, sizeof(a));
	ck_assert_str_eq(a, "10.5.1.1");
	inet_ntop(AF_INET, &c->pool_hi, a, sizeof(a));
	ck_assert_str_eq(a, "10.5.1.9");
	ck_assert(!c->net_create);
	ck_assert_str_eq(c->metrics_listen.text, "[::1]:9999");

	s = config_service(c, "web-1");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->nnames, 5);
	ck_assert_str_eq(s->names[0], "www.svc.example.");
	ck_assert_str_eq(s->names[1], "www.other.test.");
	ck_assert_str_eq(s->names[2], "web.svc.example.");
	ck_assert_str_eq(s->names[3], "web.other.test.");
	ck_assert_str_eq(s->names[4], "api.other.test.");
	ck_assert_str_eq(s->kernel, "/img/web.elf");
	ck_assert_str_eq(s->cmdline, "ip=${ip} name=${name}");
	ck_assert_uint_eq(s->memory, 64u << 20);
	ck_assert_uint_eq(s->vcpus, 2);
	ck_assert_str_eq(s->template, "/etc/summon/t.xml");
	ck_assert_int_eq(s->family, AF_INET6);
	ck_assert_str_eq(s->address_text, "::2");
	ck_assert_uint_eq(s->nports, 2);
	ck_assert_uint_eq(s->ports[0].public_port, 80);
	ck_assert_uint_eq(s->ports[0].guest_port, 80);
	ck_assert_uint_eq(s->ports[1].public_port, 8443);
	ck_assert_uint_eq(s->ports[1].guest_port, 443);
	ck_assert(s->has_guest_address);
	ck_assert_int_eq(s->ready, CFG_READY_SERIAL);
	ck_assert_str_eq(s->ready_text, "up and running");
	ck_assert_uint_eq(s->boot_timeout_ms, 1500);
	ck_assert_uint_eq(s->idle_timeout_ms, 3600000);
	ck_assert_int_eq(s->idle_connections, CFG_IDLE_IGNORE);
	ck_assert_int_eq(s->stop_mode, CFG_STOP_SUSPEND);
	ck_assert_uint_eq(s->standby, 2);
	ck_assert(s->standby_booted);
	ck_assert_int_eq(s->dns_answer, CFG_DNS_ANSWER_GUEST);
	config_free(c);
}
END_TEST

/* A bad value and the message expected for it, at the line given. */
static const struct {
	const char	*line;
	const char	*message;
} bad_values[] = {
	{ "[summond]\nstate = relative.db", "t.conf:2: state: 'relative.db' is not an absolute path" },
	{ "[summond]\non-exit = maybe", "t.conf:2: on-exit: 'maybe' is not one of keep | stop" },
	{ "[summond]\nmax-instances = 0", "t.conf:2: max-instances: 0 is out of range" },
	{ "[summond]\nmax-instances = ten", "t.conf:2: max-instances: 'ten' is not a number" },
	{ "[summond]\nmemory-budget = 4X", "t.conf:2: memory-budget: bad size '4X'" },
	{ "[summond]\nmemory-budget = 99999999999999999999G", "t.conf:2: memory-budget: bad size" },
	{ "[summond]\nhypervisor =", "t.conf:2: hypervisor: must not be empty" },
	{ "[dns]\nlisten = localhost:53", "t.conf:2: listen: bad address 'localhost'" },
	{ "[dns]\nlisten = 127.0.0.1:99999", "t.conf:2: listen: bad port" },
	{ "[dns]\nlisten = [::1:53", "t.conf:2: listen: bad address '[::1:53': missing ']'" },
	{ "[dns]\nzone = bad..name", "t.conf:2: zone: bad DNS name 'bad..name' (empty label)" },
	{ "[dns]\nzone = a.b a.b.", "t.conf:2: zone: zone a.b. listed twice" },
	{ "[dns]\nzone = .", "t.conf:2: zone: the root zone cannot be served" },
	{ "[dns]\nzone = sp ace!", "t.conf:2: zone: bad DNS name 'ace!' (character '!')" },
	{ "[dns]\nttl = -1", "t.conf:2: ttl: '-1' is not a number" },
	{ "[dns]\nforwarder = 1.2.3", "t.conf:2: forwarder: bad address '1.2.3'" },
	{ "[proxy]\nhold-timeout = 10", "t.conf:2: hold-timeout: bad duration '10'" },
	{ "[proxy]\nhold-timeout = 5ms", "t.conf:2: hold-timeout: '5ms' is out of range" },
	{ "[proxy]\nidle-timeout = 1d", "t.conf:2: idle-timeout: bad duration '1d'" },
	{ "[proxy]\nrelay-threads = 0", "t.conf:2: relay-threads: 0 is out of range (1-256 or auto)" },
	{ "[proxy]\nrelay-threads = 257", "t.conf:2: relay-threads: 257 is out of range (1-256 or auto)" },
	{ "[proxy]\nrelay-threads = many", "t.conf:2: relay-threads: 'many' is not a number or auto" },
	{ "[network]\nmode = nat", "t.conf:2: mode: 'nat' is not one of bridge | user" },
	{ "[network]\nuser-ports = 200-100", "t.conf:2: user-ports: '200-100' is not a port range LO-HI" },
	{ "[network]\ngateway = 10.0.0.1", "t.conf:2: gateway: '10.0.0.1' needs a prefix length" },
	{ "[network]\ngateway = 10.0.0.1/33", "t.conf:2: gateway: bad prefix length '33'" },
	{ "[network]\npool = 10.99.0.9-10.99.0.1", "t.conf:2: pool: pool '10.99.0.9-10.99.0.1' is empty" },
	{ "[network]\npool = 10.98.0.2-10.98.0.9", "t.conf:2: [network] pool is not inside the gateway's subnet" },
	{ "[network]\npool = 10.99.0.1-10.99.0.9", "t.conf:2: [network] pool contains the gateway address" },
	{ "[network]\ncreate = perhaps", "t.conf:2: create: 'perhaps' is not yes or no" },
	{ "[metrics]\nlisten = nowhere", "t.conf:2: listen: bad address 'nowhere'" },
	{ "[service \"x\"]\nkernel = k.elf", "t.conf:2: kernel: 'k.elf' is not an absolute path" },
	{ "[service \"x\"]\nmemory = 512K", "t.conf:2: memory: '512K' is out of range" },
	{ "[service \"x\"]\nvcpus = 65", "t.conf:2: vcpus: 65 is out of range (1-64)" },
	{ "[service \"x\"]\ntemplate = fast", "t.conf:2: template: 'fast' is not microvm, pc or an absolute path" },
	{ "[service \"x\"]\naddress = 1.2.3.4.5", "t.conf:2: address: '1.2.3.4.5' is not an IPv4 or IPv6 address" },
	{ "[service \"x\"]\nports = 80 80", "t.conf:2: ports: public port 80 listed twice" },
	{ "[service \"x\"]\nports = 0", "t.conf:2: ports: bad port '0'" },
	{ "[service \"x\"]\nports = 80:x", "t.conf:2: ports: bad port '80:x'" },
	{ "[service \"x\"]\nguest-address = 10.99.0.1", "t.conf:1: service \"x\": guest-address is not a host address" },
	{ "[service \"x\"]\nready = http:80", "t.conf:2: ready: 'http:80' is not tcp:PORT or serial:TEXT" },
	{ "[service \"x\"]\nready = serial:", "t.conf:2: ready: serial: needs the text" },
	{ "[service \"x\"]\ncmdline = ip=${addr}", "t.conf:2: cmdline: unknown variable '${addr}'" },
	{ "[service \"x\"]\ncmdline = ip=${ip", "t.conf:2: cmdline: unterminated '${'" },
	{ "[service \"x\"]\nstop-mode = pause", "t.conf:2: stop-mode: 'pause' is not one of destroy | shutdown | suspend | save" },
	{ "[service \"x\"]\nidle-connections = maybe", "t.conf:2: idle-connections: 'maybe' is not one of keep-alive | ignore" },
	{ "[service \"x\"]\ndns-answer = both", "t.conf:2: dns-answer: 'both' is not one of proxy | guest" },
	{ "[service \"x\"]\nstandby = 65", "t.conf:2: standby: 65 is out of range" },
	{ "[service \"x\"]\nstandby-booted = maybe", "t.conf:2: standby-booted: 'maybe' is not yes or no" },
	{ "[service \"x\"]\nnames = bad_name!", "t.conf:1: service \"x\": names: bad DNS name" },
	{ "[service \"x\"]\nnames = a.elsewhere.", "t.conf:1: service \"x\": name a.elsewhere. is in no zone served" },
	{ "[service \"Bad\"]", "t.conf:1: invalid service name \"Bad\"" },
	{ "[service hello]", "t.conf:1: service name must be quoted" },
	{ "[servers]", "t.conf:1: unknown section [servers]" },
	{ "[dns\nttl = 1", "t.conf:1: section header without ']'" },
	{ "ttl = 1", "t.conf:1: 'ttl' outside of any section" },
	{ "[dns]\njust words", "t.conf:2: expected 'key = value'" },
	{ "[dns]\nttl = 1\nttl = 2", "t.conf:3: duplicate key 'ttl' (first set at line 2)" },
	{ "[dns]\nbogus = 1", "t.conf:2: unknown key 'bogus' in [dns]" },
};

/* Each bad value is reported with its line; the rest stays valid. */
START_TEST(bad_value)
{
	const char *tail =
	    "\n[dns]\nzone = svc.test\n[service \"x\"]\nkernel = /k\n"
	    "address = 127.0.0.9\nports = 8080\n";
	char text[1024], errs[4096];
	int n;
	struct config *c;

	snprintf(text, sizeof(text), "%s%s", bad_values[_i].line, tail);
	c = parse(text, errs, sizeof(errs), &n);
	ck_assert_msg(c == NULL, "accepted: %s", bad_values[_i].line);
	ck_assert_int_ge(n, 1);
	ck_assert_msg(strstr(errs, bad_values[_i].message) != NULL,
	    "for %s\nwanted: %s\ngot: %s", bad_values[_i].line,
	    bad_values[_i].message, errs);
}
END_TEST

/* The issue's example: three errors at once, each with its line. */
START_TEST(all_errors_reported)
{
	const char *text =
	    "[summond]\n"			/* 1 */
	    "colour = blue\n"			/* 2 */
	    "[dns]\n"				/* 3 */
	    "zone = svc.test\n"			/* 4 */
	    "[service \"a\"]\n"			/* 5 */
	    "kernel = /k\n"			/* 6 */
	    "address = 127.0.0.2\n"		/* 7 */
	    "ports = 80\n"			/* 8 */
	    "idle-timeout = soon\n"		/* 9 */
	    "[service \"a\"]\n"			/* 10 */
	    "kernel = /k\n";			/* 11 */
	char errs[4096];
	int n;
	struct config *c = parse(text, errs, sizeof(errs), &n);

	ck_assert_ptr_null(c);
	ck_assert_int_eq(n, 3);
	ck_assert_ptr_nonnull(strstr(errs,
	    "t.conf:2: unknown key 'colour' in [summond]\n"));
	ck_assert_ptr_nonnull(strstr(errs,
	    "t.conf:9: idle-timeout: bad duration 'soon'"));
	ck_assert_ptr_nonnull(strstr(errs,
	    "t.conf:10: duplicate service \"a\" (first defined at line 5)\n"));
}
END_TEST

START_TEST(cross_service_checks)
{
	const char *text =
	    "[dns]\nzone = svc.test\n"
	    "[service \"a\"]\nkernel = /k\naddress = 127.0.0.2\nports = 80\n"
	    "names = www\n"
	    "[service \"b\"]\nkernel = /k\naddress = 127.0.0.2\n"
	    "ports = 81 80\nnames = www.svc.test.\n"
	    "[service \"c\"]\naddress = 127.0.0.3\n";
	char errs[4096];
	int n;

	ck_assert_ptr_null(parse(text, errs, sizeof(errs), &n));
	ck_assert_ptr_nonnull(strstr(errs, "t.conf:8: service \"b\": name "
	    "www.svc.test. already belongs to service \"a\""));
	ck_assert_ptr_nonnull(strstr(errs, "t.conf:8: service \"b\": "
	    "127.0.0.2 port 80 is already used by service \"a\""));
	ck_assert_ptr_nonnull(strstr(errs, "t.conf:13: service \"c\": "
	    "'kernel' is required"));
	ck_assert_ptr_nonnull(strstr(errs, "t.conf:13: service \"c\": no "
	    "ports, so 'ready' must name"));
	ck_assert_int_eq(n, 4);
}
END_TEST

START_TEST(continuation_and_long_lines)
{
	char text[8192], errs[4096];
	int n;
	struct config *c;

	/* An indented line continues a list. */
	c = parse("[dns]\nzone = a.test\n  b.test\n"
	    "[service \"x\"]\nkernel = /k\naddress = 127.0.0.2\n"
	    "ports = 80\n   81:8081\n", errs, sizeof(errs), &n);
	ck_assert_msg(c != NULL, "%s", errs);
	ck_assert_uint_eq(c->nzones, 2);
	ck_assert_uint_eq(c->services[0].nports, 2);
	config_free(c);

	/* A line longer than inih's buffer is an error, not a truncation. */
	memset(text, 0, sizeof(text));
	strcpy(text, "[dns]\nzone = ");
	memset(text + strlen(text), 'a', 300);
	strcat(text, "\n");
	ck_assert_ptr_null(parse(text, errs, sizeof(errs), &n));
	ck_assert_ptr_nonnull(strstr(errs, "t.conf:2: line too long"));
}
END_TEST

START_TEST(value_parsers)
{
	char err[256];
	uint64_t v;
	struct cfg_addr a;

	ck_assert_int_eq(config_parse_duration("250ms", &v, err, sizeof(err)), 0);
	ck_assert_uint_eq(v, 250);
	ck_assert_int_eq(config_parse_duration("10s", &v, err, sizeof(err)), 0);
	ck_assert_uint_eq(v, 10000);
	ck_assert_int_eq(config_parse_duration("2m", &v, err, sizeof(err)), 0);
	ck_assert_uint_eq(v, 120000);
	ck_assert_int_eq(config_parse_duration("0", &v, err, sizeof(err)), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(config_parse_duration("", &v, err, sizeof(err)), -1);
	ck_assert_int_eq(config_parse_duration("1.5s", &v, err, sizeof(err)), -1);
	ck_assert_int_eq(config_parse_duration(" 1s", &v, err, sizeof(err)), -1);
	ck_assert_int_eq(config_parse_duration("99999999999999999999h", &v,
	    err, sizeof(err)), -1);
	ck_assert_int_eq(config_parse_size("32M", &v, err, sizeof(err)), 0);
	ck_assert_uint_eq(v, 32u << 20);
	ck_assert_int_eq(config_parse_size("1G", &v, err, sizeof(err)), 0);
	ck_assert_uint_eq(v, 1u << 30);
	ck_assert_int_eq(config_parse_size("64MiB", &v, err, sizeof(err)), 0);
	ck_assert_uint_eq(v, 64u << 20);
	ck_assert_int_eq(config_parse_size("1Gx", &v, err, sizeof(err)), -1);
	ck_assert_int_eq(config_parse_size("-1", &v, err, sizeof(err)), -1);
	ck_assert_int_eq(config_parse_size("20000000T", &v, err, sizeof(err)), -1);
	ck_assert_int_eq(config_parse_addr("::1", 53, &a, err, sizeof(err)), 0);
	ck_assert_str_eq(a.text, "[::1]:53");
	ck_assert_int_eq(config_parse_addr("[fe80::1]:0", 53, &a, err,
	    sizeof(err)), 0);
	ck_assert_str_eq(a.text, "[fe80::1]:0");
	ck_assert_int_eq(config_parse_addr("10.0.0.1", 9, &a, err, sizeof(err)), 0);
	ck_assert_str_eq(a.text, "10.0.0.1:9");
	ck_assert_int_eq(config_parse_addr("10.0.0.1:", 9, &a, err, sizeof(err)), -1);
	ck_assert(config_valid_service_name("a"));
	ck_assert(config_valid_service_name("0-a-b"));
	ck_assert(!config_valid_service_name("-a"));
	ck_assert(!config_valid_service_name("A"));
	ck_assert(!config_valid_service_name(""));
	ck_assert(config_valid_service_name(
	    "a23456789012345678901234567890123456789012345678901234567890123"));
	ck_assert(!config_valid_service_name(
	    "a234567890123456789012345678901234567890123456789012345678901234"));
}
END_TEST

START_TEST(shipped_files)
{
	const char *files[] = { SRCDIR "/conf/summond.conf",
	    SRCDIR "/conf/demo.conf" };
	size_t i;
	int n;

	for (i = 0; i < 2; i++) {
		struct config *c = config_load(files[i], stderr, &n);
		ck_assert_msg(c != NULL, "%s: %d errors", files[i], n);
		config_free(c);
	}
	ck_assert_ptr_null(config_load("/nonexistent.conf", NULL, &n));
	ck_assert_int_eq(n, 1);
}
END_TEST

/* Every key the parser knows is documented in conf/summond.conf. */
START_TEST(keys_documented)
{
	FILE *f = fopen(SRCDIR "/conf/summond.conf", "r");
	char *doc;
	long len;
	size_t i;
	const char *k;

	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	doc = calloc(1, (size_t)len + 1);
	ck_assert_uint_eq(fread(doc, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	for (i = 0; (k = config_key_name(i)) != NULL; i++) {
		char want[96];
		const char *key = strchr(k, '.') + 1;
		snprintf(want, sizeof(want), "\n%s =", key);
		ck_assert_msg(strstr(doc, want) != NULL ||
		    (snprintf(want, sizeof(want), "\n;%s =", key),
		    strstr(doc, want) != NULL), "%s not in summond.conf", k);
	}
	ck_assert_uint_ge(i, 40);
	free(doc);
}
END_TEST

/* 10,000 services parse, and their cross checks stay cheap. */
START_TEST(many_services)
{
	size_t cap = 10000 * 120 + 64, len = 0, i;
	char *text = malloc(cap), errs[1024];
	struct config *c;
	int n;

	len += (size_t)snprintf(text + len, cap - len,
	    "[dns]\nzone = svc.test\n");
	for (i = 0; i < 10000; i++)
		len += (size_t)snprintf(text + len, cap - len,
		    "[service \"s%zu\"]\nkernel = /k\naddress = 127.1.%zu.%zu\n"
		    "ports = 80\n", i, i / 250, i % 250 + 1);
	c = parse(text, errs, sizeof(errs), &n);
	ck_assert_msg(c != NULL, "%s", errs);
	ck_assert_uint_eq(c->nservices, 10000);
	ck_assert_str_eq(c->services[9999].names[0], "s9999.svc.test.");
	config_free(c);
	free(text);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, every_key);
	tcase_add_loop_test(tc, bad_value, 0,
	    sizeof(bad_values) / sizeof(bad_values[0]));
	tcase_add_test(tc, all_errors_reported);
	tcase_add_test(tc, cross_service_checks);
	tcase_add_test(tc, continuation_and_long_lines);
	tcase_add_test(tc, value_parsers);
	tcase_add_test(tc, shipped_files);
	tcase_add_test(tc, keys_documented);
	tcase_add_test(tc, many_services);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
