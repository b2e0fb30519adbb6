/*
 * test_config.c - the configuration parser: every key, bad values and
 * the line numbers of errors.
 */
#include <check.h>
#include <ftw.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>

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
	ck_assert_ptr_null(s->initrd);
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
	    "initrd = /img/web.initrd\n"
	    "cmdline = ip=${ip} name=${name} i=${initrd}\n"
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
	ck_assert_str_eq(s->initrd, "/img/web.initrd");
	ck_assert_str_eq(s->cmdline, "ip=${ip} name=${name} i=${initrd}");
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
	{ "[service \"x\"]\ninitrd = i.img", "t.conf:2: initrd: 'i.img' is not an absolute path" },
	{ "[service \"x\"]\ninitrd = /i\tb.img", "t.conf:2: initrd: tab in value (tabs only separate the words of a list)" },
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
	{ "[service \"x\"]\nnames = bad_name!", "t.conf:2: names: bad DNS name 'bad_name!' (character '!')" },
	{ "[service \"x\"]\nnames = a.elsewhere.", "t.conf:1: service \"x\": name a.elsewhere. is in no zone served" },
	{ "[service \"Bad\"]", "t.conf:1: invalid service name \"Bad\"" },
	{ "[service hello]", "t.conf:1: service name must be quoted" },
	{ "[servers]", "t.conf:1: unknown section [servers]" },
	{ "[dns\nttl = 1", "t.conf:1: section header without ']'" },
	{ "ttl = 1", "t.conf:1: 'ttl' outside of any section" },
	{ "[dns]\njust words", "t.conf:2: expected 'key = value'" },
	{ "[dns]\nttl = 1\nttl = 2", "t.conf:3: duplicate key 'ttl' (first set at line 2)" },
	{ "[dns]\nbogus = 1", "t.conf:2: unknown key 'bogus' in [dns]" },
	/* Control characters would break the domain XML and the events. */
	{ "[service \"x\"]\ncmdline = a\x1b[31mb", "t.conf:2: cmdline: control character 0x1b in value" },
	{ "[service \"x\"]\nready = serial:\x01up", "t.conf:2: ready: control character 0x01 in value" },
	{ "[dns]\nzone = a\x7f.test", "t.conf:2: zone: control character 0x7f in value" },
	{ "[summond]\nstate = /x\r/y", "t.conf:2: state: control character 0x0d in value" },
	{ "; red \x1b[31m comment", "t.conf:1: control character 0x1b\n" },
	{ "[summond]\nstate = /s.db\n\tmore\x02", "t.conf:3: state: control character 0x02 in value" },
	/* A tab separates words; a path or name cannot hold one. */
	{ "[summond]\nserial-dir = /var/log/a\tb", "t.conf:2: serial-dir: tab in value" },
	{ "[service \"x\"]\nkernel = /k/a\tb.elf", "t.conf:2: kernel: tab in value" },
	{ "[network]\nbridge = br\t0", "t.conf:2: bridge: tab in value" },
	/* Cut at 63 bytes this read as /24. */
	{ "[network]\ngateway = 10.99.0.1/"
	    "000000000000000000000000000000000000000000000000000240",
	    "t.conf:2: gateway: '10.99.0.1/0000000000000000000000...' is too long (at most 63 characters)" },
	/* summond unlinks the control path before it binds. */
	{ "[summond]\nstate = /v/state.db\ncontrol = /v//./state.db", "t.conf:3: control: /v//./state.db is the state database's path" },
	{ "[summond]\nstate = /v/s.db\ncontrol = /v/s.db-wal", "t.conf:3: control: /v/s.db-wal is the state database's -wal file" },
	{ "[summond]\nstate = /v/s.db\ncontrol = /v/s.db-shm", "t.conf:3: control: /v/s.db-shm is the state database's -shm file" },
	{ "[summond]\nstate = /v/s.db/\ncontrol = /v/s.db.lock", "t.conf:3: control: /v/s.db.lock is the state database's .lock file" },
	{ "[summond]\nstate = /run/summon/summond.sock", "t.conf:2: control: /run/summon/summond.sock is the state database's path" },
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

/* What the caller gets from config_load() on a file: errors, config. */
struct loaded {
	char		 path[64];	/* the file written */
	char		 errs[8192];
	int		 n;
	struct config	*c;
};

static void
write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(text, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
}

static void
write_str(const char *path, const char *text)
{
	write_file(path, text, strlen(text));
}

/* text (len bytes, NULs and all) written to a file, then loaded. */
static void
load_file(struct loaded *l, const char *text, size_t len)
{
	FILE *f;
	int fd;

	snprintf(l->path, sizeof(l->path), "/tmp/test_config.XXXXXX");
	ck_assert_int_ne(fd = mkstemp(l->path), -1);
	close(fd);
	write_file(l->path, text, len);
	memset(l->errs, 0, sizeof(l->errs));
	ck_assert_ptr_nonnull(f = fmemopen(l->errs, sizeof(l->errs), "w"));
	l->c = config_load(l->path, f, &l->n);
	fclose(f);
	unlink(l->path);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	chmod(path, 0700);
	return remove(path);
}

static void
rm_tree(const char *dir)
{
	chmod(dir, 0700);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Each control character is an error of its line; the rest parses. */
START_TEST(control_characters)
{
	const char *text =
	    "[dns]\n"					/* 1 */
	    "zone = svc.test\n"			/* 2 */
	    "[service \"a\x1b\"]\n"			/* 3 */
	    "kernel = /k\n"				/* 4 */
	    "[service \"b\"]\n"			/* 5 */
	    "kernel = /img/\x1b]0;owned\x07.elf\n"	/* 6 */
	    "cmdline = x=1\x01\n"			/* 7 */
	    "address = 127.0.0.2\n"			/* 8 */
	    "ports = 80\n";				/* 9 */
	char errs[4096];
	int n;

	ck_assert_ptr_null(parse(text, errs, sizeof(errs), &n));
	/* Nothing of [service "a\x1b"]; b's kernel is rejected, so unset. */
	ck_assert_str_eq(errs,
	    "t.conf:3: control character 0x1b\n"
	    "t.conf:5: service \"b\": 'kernel' is required\n"
	    "t.conf:6: kernel: control character 0x1b in value\n"
	    "t.conf:7: cmdline: control character 0x01 in value\n");
	ck_assert_int_eq(n, 4);
}
END_TEST

/*
 * Bytes that are not UTF-8 (libvirt's XML parser refuses them, JSON
 * cannot carry them), while UTF-8 itself passes.
 */
START_TEST(not_utf8)
{
	const char *text =
	    "[dns]\n"					/* 1 */
	    "zone = svc.test\n"			/* 2 */
	    "[service \"a\"]\n"			/* 3 */
	    "kernel = /img/caf\xc3\xa9.elf\n"		/* 4: é, fine */
	    "cmdline = x=\xff\n"			/* 5 */
	    "address = 127.0.0.2\n"			/* 6 */
	    "ports = 80\n"				/* 7 */
	    "; \xc0\xaf overlong\n"			/* 8 */
	    "[service \"b\"]\n"			/* 9 */
	    "kernel = /k\xed\xa0\x80\n"		/* 10: a surrogate */
	    "address = 127.0.0.3\n"			/* 11 */
	    "ports = 80\n";				/* 12 */
	char errs[4096];
	int n;

	ck_assert_ptr_null(parse(text, errs, sizeof(errs), &n));
	ck_assert_str_eq(errs,
	    "t.conf:5: cmdline: byte that is not UTF-8 0xff in value\n"
	    "t.conf:8: byte that is not UTF-8 0xc0\n"
	    "t.conf:9: service \"b\": 'kernel' is required\n"
	    "t.conf:10: kernel: byte that is not UTF-8 0xed in value\n");
	ck_assert_int_eq(n, 4);
}
END_TEST

/* CRLF line ends, and tabs as blanks in lists and the command line. */
START_TEST(crlf_and_tabs)
{
	const char *text =
	    "[dns]\r\n"
	    "zone =\tsvc.test\t\tother.test\r\n"
	    "[service \"a\"]\r\n"
	    "names = www\tapi\r\n"
	    "kernel = /k\r\n"
	    "cmdline = a=1\tb=2\r\n"
	    "address = 127.0.0.2\r\n"
	    "ports = 80\t81\r\n";
	char errs[4096];
	int n;
	struct config *c = parse(text, errs, sizeof(errs), &n);

	ck_assert_msg(c != NULL, "%s", errs);
	ck_assert_uint_eq(c->nzones, 2);
	ck_assert_uint_eq(c->services[0].nnames, 4);
	ck_assert_str_eq(c->services[0].kernel, "/k");
	ck_assert_str_eq(c->services[0].cmdline, "a=1\tb=2");
	ck_assert_uint_eq(c->services[0].nports, 2);
	config_free(c);
}
END_TEST

/* A NUL byte would end the value there, silently: it is an error. */
START_TEST(nul_byte)
{
	static const char text[] =
	    "[dns]\nzone = svc.test\n"
	    "[service \"a\"]\nkernel = /img/a.elf\n"
	    "cmdline = x=1\0 y=2\n"
	    "address = 127.0.0.2\nports = 80\n";
	struct loaded l;
	char want[128];

	load_file(&l, text, sizeof(text) - 1);
	ck_assert_ptr_null(l.c);
	snprintf(want, sizeof(want), "%s:5: NUL byte\n", l.path);
	ck_assert_str_eq(l.errs, want);
	ck_assert_int_eq(l.n, 1);
}
END_TEST

/* A directory or an unreadable file says so, not "needs a zone". */
START_TEST(read_errors)
{
	char dir[] = "/tmp/test_config.XXXXXX", want[128], errs[256];
	struct config *c;
	FILE *f;
	int n;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_ptr_nonnull(f = fmemopen(errs, sizeof(errs), "w"));
	memset(errs, 0, sizeof(errs));
	c = config_load(dir, f, &n);
	fclose(f);
	rmdir(dir);
	ck_assert_ptr_null(c);
	snprintf(want, sizeof(want), "%s: Is a directory\n", dir);
	ck_assert_str_eq(errs, want);
	ck_assert_int_eq(n, 1);
}
END_TEST

/* One long DNS name (82 bytes), the i-th. */
static void
long_name(char *buf, size_t size, size_t i)
{
	snprintf(buf, size, "n%03zu-%.36s.%.40s", i,
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
}

/*
 * Continued values are joined whole: 100 long names (8 KiB, twice what
 * was once cut at 4096 bytes) all come through; past 64 KiB a value is
 * an error at the line that crosses it, never cut.
 */
START_TEST(long_values)
{
	size_t cap = 1 << 20, len = 0, i;
	char *text = malloc(cap), name[96], want[160], errs[4096];
	struct config *c;
	int n, line;

	ck_assert_ptr_nonnull(text);
	len += (size_t)snprintf(text + len, cap - len, "[dns]\nzone = "
	    "svc.test\n[service \"a\"]\nkernel = /k\naddress = 127.0.0.2\n"
	    "ports = 80\nnames =");
	for (i = 0; i < 100; i++) {
		long_name(name, sizeof(name), i);
		len += (size_t)snprintf(text + len, cap - len, "%s%s\n",
		    i == 0 ? " " : "  ", name);
	}
	c = parse(text, errs, sizeof(errs), &n);
	ck_assert_msg(c != NULL, "%s", errs);
	ck_assert_uint_eq(c->services[0].nnames, 100);
	long_name(name, sizeof(name), 59);
	snprintf(want, sizeof(want), "%s.svc.test.", name);
	ck_assert_str_eq(c->services[0].names[59], want);
	long_name(name, sizeof(name), 99);
	snprintf(want, sizeof(want), "%s.svc.test.", name);
	ck_assert_str_eq(c->services[0].names[99], want);
	config_free(c);

	/* 257 names: too many, said once. */
	len = (size_t)snprintf(text, cap, "[service \"a\"]\nnames =");
	for (i = 0; i < 257; i++)
		len += (size_t)snprintf(text + len, cap - len, "\n  n%zu", i);
	ck_assert_ptr_null(parse(text, errs, sizeof(errs), &n));
	ck_assert_ptr_nonnull(strstr(errs, "t.conf:2: names: too many names "
	    "(at most 256)\n"));

	/* 83 bytes a line with its blank: the 790th crosses 65536. */
	len = (size_t)snprintf(text, cap, "[dns]\nlisten =\n[service \"a\"]\n"
	    "kernel = /k\naddress = 127.0.0.2\nready = tcp:80\ncmdline =");
	for (i = 0; i < 1000; i++) {
		long_name(name, sizeof(name), i);
		len += (size_t)snprintf(text + len, cap - len, "\n  %s", name);
	}
	ck_assert_ptr_null(parse(text, errs, sizeof(errs), &n));
	line = 7 + 65536 / 83 + 1;
	snprintf(want, sizeof(want), "t.conf:%d: cmdline: value longer than "
	    "65536 bytes\n", line);
	ck_assert_str_eq(errs, want);
	ck_assert_int_eq(n, 1);
	free(text);
}
END_TEST

/* A list reports each of its bad words, all at the list's line. */
START_TEST(each_bad_word)
{
	const char *text =
	    "[dns]\n"						/* 1 */
	    "listen = 1.2.3 127.0.0.1:5353 [::1:5 ::1\n"		/* 2 */
	    "zone = a..b ok.test c!d ok.test\n"			/* 3 */
	    "[service \"a\"]\n"					/* 4 */
	    "kernel = /k\n"						/* 5 */
	    "address = 127.0.0.2\n"					/* 6 */
	    "ports = 0 80 x\n"						/* 7 */
	    "  81:0 80 90\n"						/* 8 */
	    "names = ok b!ad x..y\n";					/* 9 */
	char errs[4096];
	int n;

	ck_assert_ptr_null(parse(text, errs, sizeof(errs), &n));
	ck_assert_str_eq(errs,
	    "t.conf:2: listen: bad address '1.2.3' (want an IPv4 or IPv6 "
	    "address, not a host name)\n"
	    "t.conf:2: listen: bad address '[::1:5': missing ']'\n"
	    "t.conf:3: zone: bad DNS name 'a..b' (empty label)\n"
	    "t.conf:3: zone: bad DNS name 'c!d' (character '!')\n"
	    "t.conf:3: zone: zone ok.test. listed twice\n"
	    "t.conf:7: ports: bad port '0' (want PUBLIC or PUBLIC:GUEST, "
	    "1-65535)\n"
	    "t.conf:7: ports: bad port 'x' (want PUBLIC or PUBLIC:GUEST, "
	    "1-65535)\n"
	    "t.conf:7: ports: bad port '81:0' (want PUBLIC or PUBLIC:GUEST, "
	    "1-65535)\n"
	    "t.conf:7: ports: public port 80 listed twice\n"
	    "t.conf:9: names: bad DNS name 'b!ad' (character '!')\n"
	    "t.conf:9: names: bad DNS name 'x..y' (empty label)\n");
	ck_assert_int_eq(n, 11);
}
END_TEST

/* A test directory with templates good and bad. */
static void
make_templates(char *dir)
{
	char path[128];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/tpl", dir);
	ck_assert_int_eq(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/tpl/microvm.xml", dir);
	write_str(path, "<domain><name>${name}</name>\n"
	    "<cmdline>${cmdline}</cmdline>${domain_type}</domain>\n");
	snprintf(path, sizeof(path), "%s/bad.xml", dir);
	write_str(path, "<domain>\n<a/>\n<b>${nope}</b></domain>\n");
	snprintf(path, sizeof(path), "%s/unterm.xml", dir);
	write_str(path, "<domain>${name</domain>\n");
	snprintf(path, sizeof(path), "%s/meta.xml", dir);
	write_str(path, "<domain><metadata/></domain>\n");
	snprintf(path, sizeof(path), "%s/open.xml", dir);
	write_str(path, "<domain>\n");
}

/* tmpl with each @D@ replaced by dir and each @U@ by uri, into out. */
static void
fill(char *out, size_t size, const char *tmpl, const char *dir,
    const char *uri)
{
	size_t len = 0;
	const char *s, *v;

	for (s = tmpl; *s != '\0'; s++) {
		v = strncmp(s, "@D@", 3) == 0 ? dir :
		    strncmp(s, "@U@", 3) == 0 ? uri : NULL;
		if (v != NULL) {
			ck_assert_uint_lt(len + strlen(v), size);
			memcpy(out + len, v, strlen(v));
			len += strlen(v);
			s += 2;
		} else {
			ck_assert_uint_lt(len + 1, size);
			out[len++] = *s;
		}
	}
	out[len] = '\0';
}

static struct config *
parse_fmt(char *errs, size_t errlen, const char *tmpl, const char *dir)
{
	char text[2048];
	int n;

	fill(text, sizeof(text), tmpl, dir, NULL);
	return parse(text, errs, errlen, &n);
}

static int
check_files(const struct config *c, const char *qemu_conf, char *errs,
    size_t errlen, int *nwarn)
{
	FILE *f = fmemopen(errs, errlen, "w");
	int n;

	ck_assert_ptr_nonnull(f);
	memset(errs, 0, errlen);
	n = config_check_files(c, qemu_conf, f, nwarn);
	fclose(f);
	return n;
}

/* Every template in use is read and checked once, at its key's line. */
START_TEST(check_templates)
{
	const char *fmt =
	    "[summond]\n"				/* 1 */
	    "hypervisor = test:///default\n"		/* 2 */
	    "templates = @D@/tpl\n"			/* 3 */
	    "[dns]\n"					/* 4 */
	    "listen =\n"				/* 5 */
	    "[service \"a\"]\n"			/* 6 */
	    "kernel = /k\naddress = 127.0.0.2\nports = 80\n"
	    "[service \"b\"]\n"			/* 10 */
	    "template = @D@/bad.xml\n"			/* 11 */
	    "kernel = /k\naddress = 127.0.0.3\nports = 80\n"
	    "[service \"c\"]\n"			/* 15 */
	    "template = @D@/unterm.xml\n"		/* 16 */
	    "kernel = /k\naddress = 127.0.0.4\nports = 80\n"
	    "[service \"d\"]\n"			/* 20 */
	    "template = @D@/missing.xml\n"		/* 21 */
	    "kernel = /k\naddress = 127.0.0.5\nports = 80\n"
	    "[service \"e\"]\n"			/* 25 */
	    "template = @D@/meta.xml\n"			/* 26 */
	    "kernel = /k\naddress = 127.0.0.6\nports = 80\n"
	    "[service \"f\"]\n"			/* 30 */
	    "template = @D@/bad.xml\n"			/* 31: once is enough */
	    "kernel = /k\naddress = 127.0.0.7\nports = 80\n"
	    "[service \"g\"]\n"			/* 35 */
	    "template = @D@/open.xml\n"			/* 36 */
	    "kernel = /k\naddress = 127.0.0.8\nports = 80\n";
	char dir[] = "/tmp/test_config.XXXXXX", errs[4096], want[2048];
	struct config *c;
	int nwarn;

	make_templates(dir);
	c = parse_fmt(errs, sizeof(errs), fmt, dir);
	ck_assert_msg(c != NULL, "%s", errs);
	ck_assert_int_eq(check_files(c, NULL, errs, sizeof(errs), &nwarn), 5);
	ck_assert_int_eq(nwarn, 0);
	snprintf(want, sizeof(want),
	    "t.conf:11: template: %s/bad.xml:3: unknown variable '${nope}'\n"
	    "t.conf:16: template: %s/unterm.xml:1: unterminated '${' at "
	    "'${name</domain>?'\n"
	    "t.conf:21: template: %s/missing.xml: No such file or directory\n"
	    "t.conf:26: template: %s/meta.xml:1: a <metadata> element (summon "
	    "adds its own)\n"
	    "t.conf:36: template: %s/open.xml: no </domain>\n",
	    dir, dir, dir, dir, dir);
	ck_assert_str_eq(errs, want);
	config_free(c);

	/* In user mode the -user template is the one used. */
	c = parse_fmt(errs, sizeof(errs), "[summond]\nhypervisor = "
	    "test:///default\ntemplates = @D@/tpl\n[dns]\nlisten =\n"
	    "[network]\nmode = user\n[service \"a\"]\nkernel = /k\n"
	    "address = 127.0.0.2\nports = 80\n", dir);
	ck_assert_msg(c != NULL, "%s", errs);
	ck_assert_int_eq(check_files(c, NULL, errs, sizeof(errs), NULL), 1);
	snprintf(want, sizeof(want), "t.conf:3: templates: %s/tpl/"
	    "microvm-user.xml: No such file or directory\n", dir);
	ck_assert_str_eq(errs, want);
	config_free(c);

	/* A missing directory is said once, not once a service. */
	c = parse_fmt(errs, sizeof(errs), "[summond]\nhypervisor = "
	    "test:///default\ntemplates = @D@/none\n[dns]\nlisten =\n"
	    "[service \"a\"]\nkernel = /k\naddress = 127.0.0.2\n"
	    "ports = 80\n[service \"b\"]\ntemplate = pc\nkernel = /k\n"
	    "address = 127.0.0.3\nports = 80\n", dir);
	ck_assert_msg(c != NULL, "%s", errs);
	ck_assert_int_eq(check_files(c, NULL, errs, sizeof(errs), NULL), 1);
	snprintf(want, sizeof(want), "t.conf:3: templates: %s/none: No such "
	    "file or directory\n", dir);
	ck_assert_str_eq(errs, want);
	config_free(c);

	/* Unset, the default directory is blamed at the service. */
	c = parse_fmt(errs, sizeof(errs), "[summond]\nhypervisor = "
	    "test:///default\n[dns]\nlisten =\n[service \"a\"]\n"
	    "template = pc\nkernel = @D@/k\naddress = 127.0.0.2\n"
	    "ports = 80\n", dir);
	ck_assert_msg(c != NULL, "%s", errs);
	if (access(c->templates, F_OK) == -1) {
		ck_assert_int_eq(check_files(c, NULL, errs, sizeof(errs),
		    NULL), 1);
		snprintf(want, sizeof(want), "t.conf:6: service \"a\": "
		    "template pc: %s: No such file or directory\n",
		    c->templates);
		ck_assert_str_eq(errs, want);
	}
	config_free(c);
	rm_tree(dir);
}
END_TEST

/*
 * A kernel the hypervisor's user cannot reach is a warning (QEMU may be
 * elsewhere, or run as another user), and only for a local QEMU.
 */
START_TEST(check_kernels)
{
	const char *fmt =
	    "[summond]\n"				/* 1 */
	    "hypervisor = @U@\n"			/* 2 */
	    "templates = @D@/tpl\n"			/* 3 */
	    "[dns]\nlisten =\n"			/* 4, 5 */
	    "[service \"a\"]\n"			/* 6 */
	    "kernel = @D@/k.elf\n"			/* 7 */
	    "address = 127.0.0.2\nports = 80\n"
	    "[service \"b\"]\n"			/* 10 */
	    "address = 127.0.0.3\nports = 80\n"
	    "kernel = /nonexistent/k.elf\n"		/* 13 */
	    "[service \"c\"]\n"			/* 14 */
	    "kernel = @D@/k.elf\n"			/* 15: checked at 7 */
	    "address = 127.0.0.4\nports = 80\n";
	char dir[] = "/tmp/test_config.XXXXXX", errs[4096], want[1024];
	char text[2048], qconf[128], kernel[128];
	const char *uris[] = { "qemu:///system", "test:///default",
	    "qemu+ssh://elsewhere/system" };
	struct passwd *pw = getpwnam("nobody");
	struct config *c;
	size_t i;
	int n, nwarn;

	if (pw == NULL || getuid() == pw->pw_uid)
		return;		/* no other user to check for */
	make_templates(dir);
	snprintf(kernel, sizeof(kernel), "%s/k.elf", dir);
	write_str(kernel, "ELF");
	snprintf(qconf, sizeof(qconf), "%s/qemu.conf", dir);
	write_str(qconf, "# QEMU as nobody\nuser = \"nobody\"\n"
	    "group = \"+65534\"\n");
	for (i = 0; i < 3; i++) {
		fill(text, sizeof(text), fmt, dir, uris[i]);
		c = parse(text, errs, sizeof(errs), &n);
		ck_assert_msg(c != NULL, "%s", errs);
		ck_assert_int_eq(check_files(c, qconf, errs, sizeof(errs),
		    &nwarn), 0);
		if (i > 0) {
			/* test:///default and remote QEMU: not our files. */
			ck_assert_str_eq(errs, "");
			ck_assert_int_eq(nwarn, 0);
		} else {
			/* mkdtemp made dir 0700. */
			snprintf(want, sizeof(want), "t.conf:7: warning: "
			    "kernel %s: nobody, the user QEMU runs as, cannot "
			    "search %s\nt.conf:13: warning: kernel "
			    "/nonexistent/k.elf: No such file or directory\n",
			    kernel, dir);
			ck_assert_str_eq(errs, want);
			ck_assert_int_eq(nwarn, 2);
		}
		config_free(c);
	}

	/* Reachable: nothing to say about it. */
	fill(text, sizeof(text), fmt, dir, uris[0]);
	c = parse(text, errs, sizeof(errs), &n);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(chmod(dir, 0755), 0);
	ck_assert_int_eq(chmod(kernel, 0600), 0);
	ck_assert_int_eq(check_files(c, qconf, errs, sizeof(errs), &nwarn), 0);
	ck_assert_int_eq(nwarn, 1);
	ck_assert_ptr_null(strstr(errs, "t.conf:7:"));
	/* Unreadable counts only when libvirt does not chown it to QEMU. */
	write_str(qconf, "user = \"nobody\"\ndynamic_ownership = 0\n");
	ck_assert_int_eq(check_files(c, qconf, errs, sizeof(errs), &nwarn), 0);
	ck_assert_int_eq(nwarn, 2);
	snprintf(want, sizeof(want), "t.conf:7: warning: kernel %s: nobody, "
	    "the user QEMU runs as, cannot read it\n", kernel);
	ck_assert_ptr_nonnull(strstr(errs, want));
	/* Root QEMU reads anything. */
	write_str(qconf, "user = \"+0\"\n");
	ck_assert_int_eq(check_files(c, qconf, errs, sizeof(errs), &nwarn), 0);
	ck_assert_int_eq(nwarn, 1);
	config_free(c);
	rm_tree(dir);
}
END_TEST

/*
 * An initrd is checked as a kernel is, each file once; a service without
 * one ("initrd =" empty, or no key) has nothing to check.
 */
START_TEST(check_initrds)
{
	const char *fmt =
	    "[summond]\n"				/* 1 */
	    "hypervisor = @U@\n"			/* 2 */
	    "templates = @D@/tpl\n"			/* 3 */
	    "[dns]\nlisten =\n"			/* 4, 5 */
	    "[service \"a\"]\n"			/* 6 */
	    "kernel = @D@/k.elf\n"			/* 7 */
	    "initrd = @D@/i.img\n"			/* 8 */
	    "address = 127.0.0.2\nports = 80\n"
	    "[service \"b\"]\n"			/* 11 */
	    "kernel = @D@/k.elf\n"
	    "initrd = /nonexistent/i.img\n"		/* 13 */
	    "address = 127.0.0.3\nports = 80\n"
	    "[service \"c\"]\n"			/* 16 */
	    "kernel = @D@/k.elf\n"
	    "initrd = @D@/i.img\n"			/* 18: checked at 8 */
	    "address = 127.0.0.4\nports = 80\n"
	    "[service \"d\"]\n"			/* 21 */
	    "kernel = @D@/k.elf\n"
	    "initrd =\n"
	    "address = 127.0.0.5\nports = 80\n";
	char dir[] = "/tmp/test_config.XXXXXX", errs[4096], want[1024];
	char text[2048], qconf[128], path[128];
	struct passwd *pw = getpwnam("nobody");
	struct config *c;
	int n, nwarn;

	if (pw == NULL || getuid() == pw->pw_uid)
		return;		/* no other user to check for */
	make_templates(dir);
	ck_assert_int_eq(chmod(dir, 0755), 0);
	snprintf(path, sizeof(path), "%s/k.elf", dir);
	write_str(path, "ELF");
	ck_assert_int_eq(chmod(path, 0644), 0);
	snprintf(path, sizeof(path), "%s/i.img", dir);
	write_str(path, "cpio");
	ck_assert_int_eq(chmod(path, 0600), 0);
	snprintf(qconf, sizeof(qconf), "%s/qemu.conf", dir);
	write_str(qconf, "user = \"nobody\"\ndynamic_ownership = 0\n");
	fill(text, sizeof(text), fmt, dir, "qemu:///system");
	c = parse(text, errs, sizeof(errs), &n);
	ck_assert_msg(c != NULL, "%s", errs);
	ck_assert_ptr_null(config_service(c, "d")->initrd);
	ck_assert_int_eq(check_files(c, qconf, errs, sizeof(errs), &nwarn), 0);
	snprintf(want, sizeof(want), "t.conf:8: warning: initrd %s: nobody, "
	    "the user QEMU runs as, cannot read it\nt.conf:13: warning: "
	    "initrd /nonexistent/i.img: No such file or directory\n", path);
	ck_assert_str_eq(errs, want);
	ck_assert_int_eq(nwarn, 2);
	/* Readable: only the missing one is left. */
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(check_files(c, qconf, errs, sizeof(errs), &nwarn), 0);
	ck_assert_int_eq(nwarn, 1);
	ck_assert_ptr_nonnull(strstr(errs, "t.conf:13: warning: initrd "));
	config_free(c);
	rm_tree(dir);
}
END_TEST

/* control may not reach the state database through a symbolic link. */
START_TEST(check_control_through_link)
{
	char dir[] = "/tmp/test_config.XXXXXX", errs[1024], want[512];
	char real[64], link[64], text[1024];
	struct config *c;
	int n;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(real, sizeof(real), "%s/real", dir);
	snprintf(link, sizeof(link), "%s/link", dir);
	ck_assert_int_eq(mkdir(real, 0700), 0);
	ck_assert_int_eq(symlink(real, link), 0);
	snprintf(text, sizeof(text), "[summond]\nhypervisor = test:///default"
	    "\nstate = %s/state.db\ncontrol = %s/state.db-shm\n[dns]\n"
	    "listen =\n", real, link);
	c = parse(text, errs, sizeof(errs), &n);
	ck_assert_msg(c != NULL, "%s", errs);
	ck_assert_int_eq(check_files(c, NULL, errs, sizeof(errs), NULL), 1);
	snprintf(want, sizeof(want), "t.conf:4: control: %s/state.db-shm is "
	    "the state database's -shm file\n", link);
	ck_assert_str_eq(errs, want);
	config_free(c);
	rm_tree(dir);
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

/* Without [host] sections the one host is hypervisor and [network]. */
START_TEST(hosts_default)
{
	char errs[4096];
	int n;
	struct config *c = parse(minimal, errs, sizeof(errs), &n);
	const struct cfg_host *h;
	char a[16];

	ck_assert_msg(c != NULL, "%s", errs);
	ck_assert(!c->host_sections);
	ck_assert_uint_eq(c->nhosts, 1);
	h = &c->hosts[0];
	ck_assert_str_eq(h->name, "default");
	ck_assert_str_eq(h->uri, "qemu:///system");
	ck_assert_str_eq(h->net_name, "summon");
	ck_assert_str_eq(h->net_bridge, "summon0");
	ck_assert_str_eq(inet_ntop(AF_INET, &h->gateway, a, sizeof(a)),
	    "10.99.0.1");
	ck_assert_uint_eq(h->prefix, 24);
	ck_assert_str_eq(inet_ntop(AF_INET, &h->pool_hi, a, sizeof(a)),
	    "10.99.0.250");
	ck_assert(h->net_create);
	ck_assert_uint_eq(h->max_instances, 0);
	ck_assert_uint_eq(h->max_memory, 0);
	ck_assert_int_eq(config_host(c, "default"), 0);
	ck_assert_uint_eq(c->services[0].hosts, 0);
	config_free(c);
}
END_TEST

/* Ports with a route, and services sharing an address and port. */
START_TEST(shared_ports)
{
	const char *text =
	    "[dns]\nzone = svc.test\n"
	    "[service \"a\"]\nkernel = /k\naddress = 127.0.0.2\n"
	    "ports = 80/host 443:8443/sni 22\n"
	    "[service \"b\"]\nkernel = /k\naddress = 127.0.0.2\n"
	    "ports = 80:8080/host 443/sni\nnames = b b2.svc.test.\n"
	    "route-default = yes\n"
	    "[service \"c\"]\nkernel = /k\naddress = ::1\n"
	    "ports = 80/host\n";
	struct config *c;
	char errs[4096];
	int n;

	c = parse(text, errs, sizeof(errs), &n);
	ck_assert_msg(c != NULL, "%s", errs);
	ck_assert_int_eq(c->services[0].ports[0].route, CFG_ROUTE_HOST);
	ck_assert_int_eq(c->services[0].ports[0].guest_port, 80);
	ck_assert_int_eq(c->services[0].ports[1].route, CFG_ROUTE_SNI);
	ck_assert_int_eq(c->services[0].ports[1].guest_port, 8443);
	ck_assert_int_eq(c->services[0].ports[2].route, CFG_ROUTE_NONE);
	ck_assert_int_eq(c->services[1].ports[0].guest_port, 8080);
	ck_assert(!c->services[0].route_default);
	ck_assert(c->services[1].route_default);
	ck_assert_str_eq(config_route_name(CFG_ROUTE_SNI), "sni");
	ck_assert_str_eq(config_route_name(CFG_ROUTE_HOST), "host");
	config_free(c);
}
END_TEST

START_TEST(hosts_sections)
{
	const char *text =
	    "[network]\nname = guests\ncreate = no\n"
	    "[dns]\nzone = svc.test\n"
	    "[host \"east\"]\nuri = qemu+tcp://10.98.1.2/system\n"
	    "gateway = 10.99.1.1/24\npool = 10.99.1.10-10.99.1.20\n"
	    "max-instances = 8\nmax-memory = 1G\n"
	    "[host \"west\"]\nuri = qemu:///system\nnetwork = other\n"
	    "bridge = br7\ncreate = yes\n"
	    "gateway = 10.99.2.1/24\npool = 10.99.2.10-10.99.2.20\n"
	    "[service \"a\"]\nkernel = /k\naddress = 127.0.0.2\nports = 80\n"
	    "hosts = west\n"
	    "[service \"b\"]\nkernel = /k\naddress = 127.0.0.3\nports = 80\n"
	    "hosts = east west\n"
	    "[service \"c\"]\nkernel = /k\naddress = 127.0.0.4\nports = 80\n";
	char errs[4096], a[16];
	int n;
	struct config *c = parse(text, errs, sizeof(errs), &n);

	ck_assert_msg(c != NULL, "%s", errs);
	ck_assert(c->host_sections);
	ck_assert_uint_eq(c->nhosts, 2);
	ck_assert_str_eq(c->hosts[0].name, "east");
	ck_assert_str_eq(c->hosts[0].uri, "qemu+tcp://10.98.1.2/system");
	ck_assert_str_eq(c->hosts[0].net_name, "guests");	/* [network]'s */
	ck_assert(!c->hosts[0].net_create);
	ck_assert_uint_eq(c->hosts[0].max_instances, 8);
	ck_assert_uint_eq(c->hosts[0].max_memory, 1ULL << 30);
	ck_assert_int_eq(c->hosts[0].line, 6);
	ck_assert_str_eq(c->hosts[1].net_name, "other");
	ck_assert_str_eq(c->hosts[1].net_bridge, "br7");
	ck_assert(c->hosts[1].net_create);
	ck_assert_str_eq(inet_ntop(AF_INET, &c->hosts[1].pool_lo, a,
	    sizeof(a)), "10.99.2.10");
	ck_assert_uint_eq(c->hosts[1].max_instances, 0);
	ck_assert_int_eq(config_host(c, "west"), 1);
	ck_assert_int_eq(config_host(c, "north"), -1);
	ck_assert_uint_eq(config_service(c, "a")->hosts, 2);
	ck_assert_uint_eq(config_service(c, "b")->hosts, 3);
	ck_assert_uint_eq(config_service(c, "c")->hosts, 0);
	config_free(c);
}
END_TEST

/* What is wrong with hosts, each at its line. */
START_TEST(hosts_errors)
{
	const char *text =
	    "[summond]\nhypervisor = qemu:///system\n"		/* 1-2 */
	    "[dns]\nzone = svc.test\n"				/* 3-4 */
	    "[host \"east\"]\nuri = qemu:///system\n"		/* 5-6 */
	    "gateway = 10.99.1.1/24\npool = 10.99.1.10-10.99.1.20\n"
	    "[host \"west\"]\n"					/* 9 */
	    "gateway = 10.99.1.129/25\npool = 10.99.1.130-10.99.1.140\n"
	    "[host \"north\"]\nuri = x\ngateway = 10.99.3.1/24\n"	/* 12 */
	    "pool = 10.99.4.10-10.99.4.20\n"
	    "[host \"south\"]\nuri = x\npool = 10.99.5.1-10.99.5.9\n" /* 16 */
	    "[host \"east\"]\nuri = y\n"				/* 19 */
	    "[host \"Bad\"]\n"					/* 21 */
	    "[service \"a\"]\nkernel = /k\naddress = 127.0.0.2\n"	/* 22 */
	    "ports = 80\nhosts = east nowhere\n"			/* 25-26 */
	    "[service \"b\"]\nkernel = /k\naddress = 127.0.0.3\n"	/* 27 */
	    "ports = 80\nhosts = east\nguest-address = 10.99.2.5\n"
	    "[service \"c\"]\nkernel = /k\naddress = 127.0.0.4\n"	/* 33 */
	    "ports = 80\nhosts =\n";
	char errs[8192];
	int n;

	ck_assert_ptr_null(parse(text, errs, sizeof(errs), &n));
	ck_assert_msg(strstr(errs, "t.conf:2: hypervisor: not with [host] "
	    "sections") != NULL, "%s", errs);
	ck_assert_msg(strstr(errs, "t.conf:9: host \"west\": 'uri' is "
	    "required") != NULL, "%s", errs);
	ck_assert_msg(strstr(errs, "t.conf:9: host \"west\": its subnet "
	    "overlaps host \"east\"'s") != NULL, "%s", errs);
	ck_assert_msg(strstr(errs, "t.conf:12: host \"north\": pool is not "
	    "inside the gateway's subnet") != NULL, "%s", errs);
	ck_assert_msg(strstr(errs, "t.conf:16: host \"south\": 'gateway' is "
	    "required") != NULL, "%s", errs);
	ck_assert_msg(strstr(errs, "t.conf:19: duplicate host \"east\" "
	    "(first defined at line 5)") != NULL, "%s", errs);
	ck_assert_msg(strstr(errs, "t.conf:21: invalid host name \"Bad\"") !=
	    NULL, "%s", errs);
	ck_assert_msg(strstr(errs, "t.conf:26: hosts: no [host \"nowhere\"]")
	    != NULL, "%s", errs);
	ck_assert_msg(strstr(errs, "t.conf:27: service \"b\": guest-address "
	    "is not a host address of host \"east\"'s subnet") != NULL,
	    "%s", errs);
	ck_assert_msg(strstr(errs, "t.conf:37: hosts: must not be empty") !=
	    NULL, "%s", errs);
	ck_assert_msg(n == 10, "%d errors:\n%s", n, errs);

	/* hosts without [host] sections; hosts in user mode. */
	ck_assert_ptr_null(parse("[dns]\nzone = t\n[service \"a\"]\n"
	    "kernel = /k\naddress = 127.0.0.2\nports = 80\nhosts = a\n",
	    errs, sizeof(errs), &n));
	ck_assert_msg(strstr(errs, "t.conf:7: hosts: there are no [host] "
	    "sections to choose from") != NULL, "%s", errs);
	ck_assert_ptr_null(parse("[network]\nmode = user\n[dns]\nzone = t\n"
	    "[host \"a\"]\nuri = x\ngateway = 10.99.1.1/24\n"
	    "pool = 10.99.1.10-10.99.1.20\n", errs, sizeof(errs), &n));
	ck_assert_msg(strstr(errs, "t.conf:5: [host] sections need [network] "
	    "mode = bridge") != NULL, "%s", errs);
	ck_assert_int_eq(n, 1);
	/* A service larger than every host it may use. */
	ck_assert_ptr_null(parse("[dns]\nzone = t\n"
	    "[host \"a\"]\nuri = x\ngateway = 10.99.1.1/24\n"
	    "pool = 10.99.1.10-10.99.1.20\nmax-memory = 64M\n"
	    "[service \"s\"]\nkernel = /k\naddress = 127.0.0.2\n"
	    "ports = 80\nmemory = 128M\n", errs, sizeof(errs), &n));
	ck_assert_msg(strstr(errs, "t.conf:8: service \"s\": memory is "
	    "larger than the max-memory of every host") != NULL, "%s", errs);
}
END_TEST

START_TEST(shared_port_errors)
{
	const char *text =
	    "[dns]\nzone = svc.test\n"
	    "[service \"a\"]\nkernel = /k\naddress = 127.0.0.2\n"	/* 3 */
	    "ports = 80/host 443/sni 22 8/tls 9/\nroute-default = yes\n"
	    "[service \"b\"]\nkernel = /k\naddress = 127.0.0.2\n"	/* 8 */
	    "ports = 80/sni 443/sni 22/host\nroute-default = yes\n"
	    "[service \"c\"]\nkernel = /k\naddress = 127.0.0.2\n"	/* 13 */
	    "ports = 443/sni 80\nroute-default = yes\n"
	    "[service \"d\"]\nkernel = /k\naddress = 127.0.0.3\n"	/* 18 */
	    "ports = 80\nroute-default = yes\n"
	    "[service \"e\"]\nkernel = /k\naddress = 127.0.0.3\n"	/* 23 */
	    "ports = 81/host\nnames = e.other.\n";
	char errs[4096];
	int n;

	ck_assert_ptr_null(parse(text, errs, sizeof(errs), &n));
	ck_assert_str_eq(errs,
	    "t.conf:6: ports: bad route 'tls' in '8/tls' (want /sni or "
	    "/host)\n"
	    "t.conf:6: ports: bad route '' in '9/' (want /sni or /host)\n"
	    "t.conf:8: service \"b\": 127.0.0.2 port 22 is already used by "
	    "service \"a\"\n"
	    "t.conf:8: service \"b\": 127.0.0.2 port 80 routes by sni, but "
	    "service \"a\" routes by host there\n"
	    "t.conf:8: service \"b\": route-default on 127.0.0.2 port 443, "
	    "where service \"a\" is the default already\n"
	    "t.conf:13: service \"c\": 127.0.0.2 port 80 is already used by "
	    "service \"b\"\n"
	    "t.conf:13: service \"c\": route-default on 127.0.0.2 port 443, "
	    "where service \"a\" is the default already\n"
	    "t.conf:18: service \"d\": route-default, but no port of it "
	    "routes by name (/sni or /host)\n"
	    "t.conf:23: service \"e\": name e.other. is in no zone served\n"
	    "t.conf:23: service \"e\": its ports route by name, but it has "
	    "none (relative names need a [dns] zone) and is not "
	    "route-default\n");
	ck_assert_int_eq(n, 10);

	/* DNS would send clients past the shared port, to the guest. */
	ck_assert_ptr_null(parse("[network]\nmode = bridge\n"
	    "[dns]\nzone = svc.test\n"
	    "[service \"g\"]\nkernel = /k\naddress = 127.0.0.2\n"
	    "ports = 80/host\ndns-answer = guest\n", errs, sizeof(errs), &n));
	ck_assert_str_eq(errs, "t.conf:5: service \"g\": dns-answer = guest "
	    "sends clients to the guest, past its ports shared by name\n");
	ck_assert_int_eq(n, 1);
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
	tcase_add_test(tc, shared_ports);
	tcase_add_test(tc, shared_port_errors);
	tcase_add_test(tc, continuation_and_long_lines);
	tcase_add_test(tc, control_characters);
	tcase_add_test(tc, not_utf8);
	tcase_add_test(tc, crlf_and_tabs);
	tcase_add_test(tc, nul_byte);
	tcase_add_test(tc, read_errors);
	tcase_add_test(tc, long_values);
	tcase_add_test(tc, each_bad_word);
	tcase_add_test(tc, check_templates);
	tcase_add_test(tc, check_kernels);
	tcase_add_test(tc, check_initrds);
	tcase_add_test(tc, check_control_through_link);
	tcase_add_test(tc, value_parsers);
	tcase_add_test(tc, shipped_files);
	tcase_add_test(tc, keys_documented);
	tcase_add_test(tc, hosts_default);
	tcase_add_test(tc, hosts_sections);
	tcase_add_test(tc, hosts_errors);
	tcase_add_test(tc, many_services);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
