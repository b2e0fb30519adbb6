/*
 * test_vm.c - the libvirt backend against libvirt's in-process test
 * driver (test:///default), driven by a real libevent loop: jobs,
 * states, lifecycle events, list, errors, close with queued jobs; the
 * same against real libvirt (qemu:///system, skipped where no libvirtd
 * answers) for what the test driver cannot do, starting a guest with
 * its CPUs paused; and the pure helpers: guest descriptions, domain
 * XML, template expansion, metadata, MAC addresses.
 *
 * Fork mode gives each test a fresh process, hence a fresh test driver
 * and a fresh libvirt event loop registration.
 */
#include <check.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <event2/event.h>
#include <libvirt/libvirt.h>

#include "config.h"
#include "vm.h"
#include "src/vm/vm_xml.h"
#include "check_main.h"

#define URI	"test:///default"
#define QEMU_URI "qemu:///system"
#define WAIT_MS	5000
#define QEMU_WAIT_MS 60000	/* a TCG create is ~1 s; room to spare */

/* The guests' templates: the test driver's, and a real microvm. */
static const char *test_template =
    "<domain type='test'><name>${name}</name><memory>65536</memory>"
    "<os><type>hvm</type></os></domain>\n";
static const char *qemu_template =
    "<domain type='${domain_type}'><name>${name}</name>"
    "<memory unit='KiB'>${memory_kib}</memory><vcpu>${vcpus}</vcpu>"
    "<os><type arch='x86_64' machine='microvm'>hvm</type></os>"
    "<devices><controller type='usb' model='none'/>"
    "<memballoon model='none'/></devices></domain>\n";
static char dir[64];		/* the templates; a serial log path */
static const char *uri = URI;
static int wait_ms = WAIT_MS;

static struct event_base *base;
static struct vm *vm;
static const struct vm_backend_ops *ops = &vm_libvirt_ops;

#define MAXEV	64
static struct {
	char		domain[128];
	enum vm_event	ev;
} events[MAXEV];
static int nevents;
static int nreconnects;

static void
on_event(void *arg, const char *domain, enum vm_event ev)
{
	if (nevents < MAXEV) {
		snprintf(events[nevents].domain, sizeof(events[0].domain),
		    "%s", domain);
		events[nevents].ev = ev;
		nevents++;
	}
}

static void
on_reconnect(void *arg)
{
	nreconnects++;
}

static const struct vm_callbacks cbs = { on_event, on_reconnect, NULL,
    NULL };

static uint64_t
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
write_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static void
setup(void)
{
	char err[256];

	nevents = nreconnects = 0;
	snprintf(dir, sizeof(dir), "/tmp/test_vm.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	write_file("test.xml", test_template);
	write_file("qemu.xml", qemu_template);
	ck_assert_ptr_nonnull(base = event_base_new());
	vm = ops->open(base, uri, &cbs, 0, err, sizeof(err));
	ck_assert_msg(vm != NULL, "open: %s", err);
}

static void
teardown(void)
{
	char cmd[128];

	if (vm != NULL)
		ops->close(vm);
	vm = NULL;
	event_base_free(base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Turn the loop until *flag, at most wait_ms. */
static void
loop_until(const int *flag)
{
	uint64_t deadline = ms_now() + (uint64_t)wait_ms;
	struct timeval tv = { 0, 20000 };

	while (!*flag && ms_now() < deadline) {
		/* EVLOOP_ONCE blocks until something fires: bound it. */
		event_base_loopexit(base, &tv);
		event_base_loop(base, EVLOOP_ONCE);
	}
}

static int job_done_count;

static void
job_done(struct vm_job *j)
{
	(*(int *)j->arg)++;
	job_done_count++;
}

/* Submit op on domain and wait for its done(); returns the job. */
static struct vm_job *
run(enum vm_op op, const char *domain, struct vm_guest *guest)
{
	static struct vm_job j;
	static int flag;

	memset(&j, 0, sizeof(j));
	flag = 0;
	j.op = op;
	snprintf(j.domain, sizeof(j.domain), "%s", domain);
	j.guest = guest;
	j.shutdown_ms = 1000;
	j.done = job_done;
	j.arg = &flag;
	ops->submit(vm, &j);
	loop_until(&flag);
	ck_assert_msg(flag == 1, "job %d on %s: done() ran %d times", op,
	    domain, flag);
	ck_assert_uint_ge(j.started_us, j.queued_us);
	ck_assert_uint_ge(j.finished_us, j.started_us);
	return &j;
}

/* Wait for an event ev on domain; its index, or -1. */
static int
wait_event(const char *domain, enum vm_event ev)
{
	uint64_t deadline = ms_now() + (uint64_t)wait_ms;
	struct timeval tv = { 0, 20000 };
	int i;

	for (;;) {
		for (i = 0; i < nevents; i++)
			if (events[i].ev == ev &&
			    strcmp(events[i].domain, domain) == 0)
				return i;
		if (ms_now() >= deadline)
			return -1;
		event_base_loopexit(base, &tv);
		event_base_loop(base, EVLOOP_ONCE);
	}
}

static const struct vm_owner owner = {
	"0123456789abcdef0123456789abcdef", "00112233aabbccdd"
};

/*
 * A guest named name of the template tmpl ("test.xml" for the test
 * driver, "qemu.xml" for a real one); the caller frees it.
 */
static struct vm_guest *
guest_of(const char *name, const char *service, int64_t id,
    const char *tmpl)
{
	char path[128], serial[128];
	struct vm_guest g = {
		.name = name, .service = service, .instance = id,
		.owner = owner, .template = path, .templates = dir,
		.kernel = "/k", .cmdline = "", .memory = 32 << 20,
		.vcpus = 1, .net = VM_NET_USER, .serial_log = serial,
	}, *copy;

	snprintf(path, sizeof(path), "%s/%s", dir, tmpl);
	snprintf(serial, sizeof(serial), "%s/%s.log", dir, name);
	vm_mac(service, id, g.mac);
	ck_assert_ptr_nonnull(copy = vm_guest_copy(&g));
	return copy;
}

/* A test-driver guest named name with our metadata; caller frees. */
static struct vm_guest *
domain_xml(const char *name, const char *service, int64_t id)
{
	return guest_of(name, service, id, "test.xml");
}

static const struct vm_domain *
find_domain(const struct vm_domain *d, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(d[i].name, name) == 0)
			return &d[i];
	return NULL;
}

START_TEST(create_list_suspend_resume_destroy)
{
	const struct vm_domain *d;
	struct vm_domain *doms;
	struct vm_job *j;
	struct vm_guest *xml;
	char err[256];
	size_t n;

	ck_assert(ops->connected(vm));

	xml = domain_xml("summon-t-1", "hello", 42);
	j = run(VM_CREATE, "summon-t-1", xml);
	ck_assert_msg(j->rc == 0, "create: %s", j->err);
	ck_assert_int_eq(j->state, VM_DS_RUNNING);
	ck_assert_uint_eq(strlen(j->uuid), 36);
	ck_assert_int_ge(wait_event("summon-t-1", VM_EV_STARTED), 0);

	doms = ops->list(vm, &n, err, sizeof(err));
	ck_assert_msg(doms != NULL, "list: %s", err);
	/* test:///default has its own "test" domain: not ours. */
	ck_assert_ptr_null(find_domain(doms, n, "test"));
	ck_assert_ptr_nonnull(d = find_domain(doms, n, "summon-t-1"));
	ck_assert_str_eq(d->owner.id, owner.id);
	ck_assert_str_eq(d->owner.state, owner.state);
	ck_assert_str_eq(d->service, "hello");
	ck_assert_int_eq(d->instance, 42);
	ck_assert_int_eq(d->state, VM_DS_RUNNING);
	ck_assert(!d->persistent);
	ck_assert_uint_eq(strlen(d->uuid), 36);
	free(doms);

	j = run(VM_SUSPEND, "summon-t-1", NULL);
	ck_assert_msg(j->rc == 0, "suspend: %s", j->err);
	ck_assert_int_eq(j->state, VM_DS_PAUSED);
	ck_assert_int_ge(wait_event("summon-t-1", VM_EV_SUSPENDED), 0);
	/* What the op reported is what libvirt says. */
	j = run(VM_STATE, "summon-t-1", NULL);
	ck_assert_int_eq(j->state, VM_DS_PAUSED);

	j = run(VM_RESUME, "summon-t-1", NULL);
	ck_assert_msg(j->rc == 0, "resume: %s", j->err);
	ck_assert_int_eq(j->state, VM_DS_RUNNING);
	ck_assert_int_ge(wait_event("summon-t-1", VM_EV_RESUMED), 0);

	j = run(VM_STATE, "summon-t-1", NULL);
	ck_assert_int_eq(j->rc, 0);
	ck_assert_int_eq(j->state, VM_DS_RUNNING);

	j = run(VM_DESTROY, "summon-t-1", NULL);
	ck_assert_msg(j->rc == 0, "destroy: %s", j->err);
	ck_assert_int_eq(j->state, VM_DS_NONE);
	/* We asked for it: a plain stop, not a crash. */
	ck_assert_int_ge(wait_event("summon-t-1", VM_EV_STOPPED), 0);
	for (int i = 0; i < nevents; i++)
		ck_assert_int_ne(events[i].ev, VM_EV_CRASHED);

	j = run(VM_STATE, "summon-t-1", NULL);
	ck_assert_int_eq(j->rc, 0);
	ck_assert_int_eq(j->state, VM_DS_NONE);

	doms = ops->list(vm, &n, err, sizeof(err));
	ck_assert_ptr_nonnull(doms);
	ck_assert_ptr_null(find_domain(doms, n, "summon-t-1"));
	free(doms);
	free(xml);
}
END_TEST

START_TEST(destroy_missing)
{
	struct vm_job *j;

	j = run(VM_DESTROY, "summon-nothing-here", NULL);
	ck_assert_int_eq(j->rc, 0);
	ck_assert_int_eq(j->state, VM_DS_NONE);
	j = run(VM_SHUTDOWN, "summon-nothing-here", NULL);
	ck_assert_int_eq(j->rc, 0);
	ck_assert_int_eq(j->state, VM_DS_NONE);
	/* Other ops on a missing domain are errors, with libvirt's text. */
	j = run(VM_RESUME, "summon-nothing-here", NULL);
	ck_assert_int_eq(j->rc, -1);
	ck_assert_str_ne(j->err, "");
	ck_assert_int_eq(j->state, VM_DS_NONE);
}
END_TEST

/*
 * Real libvirt (qemu:///system), for what the test driver refuses:
 * VIR_DOMAIN_START_PAUSED.  Skipped, with a line saying so, where no
 * libvirtd answers; every domain made is destroyed by the teardown.
 */
static bool no_qemu;
static char qemu_prefix[64];

static void
setup_qemu(void)
{
	virConnectPtr c;

	uri = QEMU_URI;
	wait_ms = QEMU_WAIT_MS;
	snprintf(qemu_prefix, sizeof(qemu_prefix), "summon-vmtest-%ld-",
	    (long)getpid());
	if ((no_qemu = (c = virConnectOpen(QEMU_URI)) == NULL)) {
		fprintf(stderr, "test_vm: no libvirtd answers on %s: the "
		    "real-libvirt tests are skipped\n", QEMU_URI);
		uri = URI;	/* setup() still needs a connection */
	} else
		virConnectClose(c);
	setup();
}

static void
teardown_qemu(void)
{
	virConnectPtr c;
	virDomainPtr *doms;
	int i, n;

	if (!no_qemu && (c = virConnectOpen(QEMU_URI)) != NULL) {
		n = virConnectListAllDomains(c, &doms, 0);
		for (i = 0; i < n; i++) {
			if (strncmp(virDomainGetName(doms[i]), qemu_prefix,
			    strlen(qemu_prefix)) == 0)
				virDomainDestroy(doms[i]);
			virDomainFree(doms[i]);
		}
		if (n >= 0)
			free(doms);	/* NULL-terminated, even when empty */
		virConnectClose(c);
	}
	teardown();
	uri = URI;
	wait_ms = WAIT_MS;
}

/* A real guest's name in this process's range. */
static const char *
qemu_name(int n)
{
	static char name[96];

	snprintf(name, sizeof(name), "%s%d", qemu_prefix, n);
	return name;
}

START_TEST(create_paused)
{
	struct vm_job *j;
	struct vm_guest *xml;
	char name[96];

	if (no_qemu)
		return;
	snprintf(name, sizeof(name), "%s", qemu_name(2));
	xml = guest_of(name, "hello", 2, "qemu.xml");
	j = run(VM_CREATE_PAUSED, name, xml);
	ck_assert_msg(j->rc == 0, "create paused: %s", j->err);
	ck_assert_int_eq(j->state, VM_DS_PAUSED);
	ck_assert_uint_eq(strlen(j->uuid), 36);
	j = run(VM_STATE, name, NULL);
	ck_assert_int_eq(j->state, VM_DS_PAUSED);
	j = run(VM_RESUME, name, NULL);
	ck_assert_int_eq(j->rc, 0);
	ck_assert_int_eq(j->state, VM_DS_RUNNING);
	/* Resuming a running domain is libvirt's error, reported. */
	j = run(VM_RESUME, name, NULL);
	ck_assert_int_eq(j->rc, -1);
	ck_assert_str_ne(j->err, "");
	ck_assert_int_eq(j->state, VM_DS_RUNNING);
	j = run(VM_DESTROY, name, NULL);
	ck_assert_int_eq(j->rc, 0);
	free(xml);
}
END_TEST

START_TEST(define_save_restore)
{
	const struct vm_domain *d;
	struct vm_domain *doms;
	struct vm_job *j;
	struct vm_guest *xml;
	char err[256];
	size_t n;

	xml = domain_xml("summon-t-3", "saver", 3);
	j = run(VM_DEFINE_START, "summon-t-3", xml);
	ck_assert_msg(j->rc == 0, "define+start: %s", j->err);
	ck_assert_int_eq(j->state, VM_DS_RUNNING);
	ck_assert_uint_eq(strlen(j->uuid), 36);

	j = run(VM_SAVE, "summon-t-3", NULL);
	ck_assert_msg(j->rc == 0, "save: %s", j->err);
	ck_assert_int_eq(j->state, VM_DS_SAVED);
	ck_assert_int_ge(wait_event("summon-t-3", VM_EV_STOPPED), 0);

	doms = ops->list(vm, &n, err, sizeof(err));
	ck_assert_ptr_nonnull(doms);
	ck_assert_ptr_nonnull(d = find_domain(doms, n, "summon-t-3"));
	ck_assert_int_eq(d->state, VM_DS_SAVED);
	ck_assert(d->persistent);
	ck_assert_str_eq(d->service, "saver");
	free(doms);

	j = run(VM_RESTORE, "summon-t-3", NULL);
	ck_assert_msg(j->rc == 0, "restore: %s", j->err);
	ck_assert_int_eq(j->state, VM_DS_RUNNING);
	j = run(VM_STATE, "summon-t-3", NULL);
	ck_assert_int_eq(j->state, VM_DS_RUNNING);

	/* Save again, then destroy: undefines, managed save image too. */
	j = run(VM_SAVE, "summon-t-3", NULL);
	ck_assert_int_eq(j->rc, 0);
	j = run(VM_DESTROY, "summon-t-3", NULL);
	ck_assert_msg(j->rc == 0, "destroy: %s", j->err);
	ck_assert_int_eq(j->state, VM_DS_NONE);
	free(xml);
}
END_TEST

START_TEST(shutdown_obeyed)
{
	struct vm_job *j;
	struct vm_guest *xml;

	/* The test driver obeys a shutdown at once. */
	xml = domain_xml("summon-t-4", "hello", 4);
	j = run(VM_CREATE, "summon-t-4", xml);
	ck_assert_int_eq(j->rc, 0);
	j = run(VM_SHUTDOWN, "summon-t-4", NULL);
	ck_assert_msg(j->rc == 0, "shutdown: %s", j->err);
	ck_assert_int_eq(j->state, VM_DS_NONE);
	ck_assert_uint_lt(j->finished_us - j->started_us, 900000);
	ck_assert_int_ge(wait_event("summon-t-4", VM_EV_SHUTDOWN), 0);
	free(xml);

	/* Persistent: shut down, then undefined. */
	xml = domain_xml("summon-t-5", "hello", 5);
	j = run(VM_DEFINE_START, "summon-t-5", xml);
	ck_assert_int_eq(j->rc, 0);
	j = run(VM_SHUTDOWN, "summon-t-5", NULL);
	ck_assert_msg(j->rc == 0, "shutdown: %s", j->err);
	ck_assert_int_eq(j->state, VM_DS_NONE);
	free(xml);
}
END_TEST

START_TEST(shutdown_paused_falls_back_to_destroy)
{
	struct vm_job *j;
	struct vm_guest *xml;
	char name[96];

	if (no_qemu)
		return;
	/* A paused guest cannot act on ACPI: this is the microvm case. */
	snprintf(name, sizeof(name), "%s", qemu_name(6));
	xml = guest_of(name, "hello", 6, "qemu.xml");
	j = run(VM_CREATE_PAUSED, name, xml);
	ck_assert_msg(j->rc == 0, "create paused: %s", j->err);
	j = run(VM_SHUTDOWN, name, NULL);
	ck_assert_msg(j->rc == 0, "shutdown: %s", j->err);
	ck_assert_int_eq(j->state, VM_DS_NONE);
	free(xml);
}
END_TEST

START_TEST(errors)
{
	struct vm_job *j;
	struct vm_guest *xml;

	/* A template libvirt cannot parse: its message, nothing made. */
	write_file("bad.xml", "<domain type='test'><name>${name}</name>");
	xml = guest_of("summon-bad", "hello", 1, "bad.xml");
	j = run(VM_CREATE, "summon-bad", xml);
	ck_assert_int_eq(j->rc, -1);
	ck_assert_str_ne(j->err, "");
	ck_assert_int_eq(j->state, VM_DS_NONE);
	free(xml);
	/* A template that is not there: its path and why. */
	xml = guest_of("summon-bad", "hello", 1, "none.xml");
	j = run(VM_CREATE, "summon-bad", xml);
	ck_assert_int_eq(j->rc, -1);
	ck_assert_ptr_nonnull(strstr(j->err, "none.xml: No such file"));
	free(xml);

	j = run(VM_CREATE, "summon-bad", NULL);
	ck_assert_int_eq(j->rc, -1);
	ck_assert_str_eq(j->err, "no guest to create");

	xml = domain_xml("summon-t-7", "hello", 7);
	j = run(VM_CREATE, "summon-t-7", xml);
	ck_assert_int_eq(j->rc, 0);
	j = run(VM_CREATE, "summon-t-7", xml);
	ck_assert_int_eq(j->rc, -1);
	ck_assert_ptr_nonnull(strstr(j->err, "summon-t-7"));
	ck_assert_int_eq(j->state, VM_DS_RUNNING);	/* the first one */
	j = run(VM_DEFINE_START, "summon-t-7", xml);
	ck_assert_int_eq(j->rc, -1);
	j = run(VM_DESTROY, "summon-t-7", NULL);
	ck_assert_int_eq(j->rc, 0);
	free(xml);
}
END_TEST

/* A destroy we did not ask for (another client) reads as a crash. */
START_TEST(foreign_destroy_is_crash)
{
	virConnectPtr c;
	virDomainPtr d;
	struct vm_job *j;
	struct vm_guest *xml;

	xml = domain_xml("summon-t-8", "hello", 8);
	j = run(VM_CREATE, "summon-t-8", xml);
	ck_assert_int_eq(j->rc, 0);
	/* test:///default is one driver per process, shared by connections. */
	ck_assert_ptr_nonnull(c = virConnectOpen(URI));
	ck_assert_ptr_nonnull(d = virDomainLookupByName(c, "summon-t-8"));
	ck_assert_int_eq(virDomainDestroy(d), 0);
	virDomainFree(d);
	virConnectClose(c);
	ck_assert_int_ge(wait_event("summon-t-8", VM_EV_CRASHED), 0);
	free(xml);
}
END_TEST

/* Domains not named summon-* are not reported. */
START_TEST(foreign_domains_filtered)
{
	struct vm_job *j;
	struct vm_guest *xml;

	xml = domain_xml("other-1", "hello", 9);
	j = run(VM_CREATE, "other-1", xml);
	ck_assert_int_eq(j->rc, 0);
	j = run(VM_DESTROY, "other-1", NULL);
	ck_assert_int_eq(j->rc, 0);
	free(xml);
	xml = domain_xml("summon-t-9", "hello", 9);
	j = run(VM_CREATE, "summon-t-9", xml);
	ck_assert_int_eq(j->rc, 0);
	ck_assert_int_ge(wait_event("summon-t-9", VM_EV_STARTED), 0);
	for (int i = 0; i < nevents; i++)
		ck_assert_str_ne(events[i].domain, "other-1");
	free(xml);
}
END_TEST

/* Every job submitted before close gets exactly one done(). */
START_TEST(close_with_queued_jobs)
{
	struct vm_job jobs[40];
	int flags[40], i, ok = 0, down = 0;
	struct vm_guest *xml;

	xml = domain_xml("summon-t-10", "hello", 10);
	job_done_count = 0;
	memset(jobs, 0, sizeof(jobs));
	for (i = 0; i < 40; i++) {
		flags[i] = 0;
		jobs[i].op = i % 2 == 0 ? VM_CREATE : VM_DESTROY;
		snprintf(jobs[i].domain, sizeof(jobs[i].domain),
		    "summon-t-10");
		jobs[i].guest = xml;
		jobs[i].done = job_done;
		jobs[i].arg = &flags[i];
		ops->submit(vm, &jobs[i]);
	}
	ops->close(vm);
	vm = NULL;
	ck_assert_int_eq(job_done_count, 40);
	for (i = 0; i < 40; i++) {
		ck_assert_int_eq(flags[i], 1);
		if (jobs[i].rc == -1 && strcmp(jobs[i].err,
		    "shutting down") == 0)
			down++;
		else
			ok++;
	}
	ck_assert_int_eq(ok + down, 40);
	free(xml);
}
END_TEST

/* close() from inside a done(), as a daemon shutting down may do. */
static void
close_in_done(struct vm_job *j)
{
	(*(int *)j->arg)++;
	ops->close(vm);
	vm = NULL;
}

START_TEST(close_from_done)
{
	struct vm_job j, k;
	int flag = 0, flag2 = 0;

	memset(&j, 0, sizeof(j));
	memset(&k, 0, sizeof(k));
	j.op = k.op = VM_STATE;
	snprintf(j.domain, sizeof(j.domain), "summon-x");
	snprintf(k.domain, sizeof(k.domain), "summon-y");
	j.done = close_in_done;
	j.arg = &flag;
	k.done = job_done;
	k.arg = &flag2;
	ops->submit(vm, &j);
	ops->submit(vm, &k);
	loop_until(&flag);
	ck_assert_int_eq(flag, 1);
	ck_assert_int_eq(flag2, 1);
	ck_assert_ptr_null(vm);
}
END_TEST

START_TEST(ensure_network)
{
	struct vm_network cfg = { "summon-net", "summonbr0", { 0 }, 24 };
	char err[256];
	virConnectPtr c;
	virNetworkPtr net;
	char *xml;

	inet_pton(AF_INET, "10.77.0.1", &cfg.gateway);
	ck_assert_msg(ops->ensure_network(vm, &cfg, err, sizeof(err)) == 0,
	    "ensure_network: %s", err);
	/* Again: it exists and runs; nothing to do. */
	ck_assert_int_eq(ops->ensure_network(vm, &cfg, err, sizeof(err)), 0);

	ck_assert_ptr_nonnull(c = virConnectOpen(URI));
	ck_assert_ptr_nonnull(net = virNetworkLookupByName(c, "summon-net"));
	ck_assert_int_eq(virNetworkIsActive(net), 1);
	ck_assert_ptr_nonnull(xml = virNetworkGetXMLDesc(net, 0));
	ck_assert_ptr_nonnull(strstr(xml, "summonbr0"));
	ck_assert_ptr_nonnull(strstr(xml, "10.77.0.1"));
	ck_assert_ptr_null(strstr(xml, "<dhcp"));
	free(xml);
	/* Defined but stopped: started again. */
	ck_assert_int_eq(virNetworkDestroy(net), 0);
	ck_assert_int_eq(ops->ensure_network(vm, &cfg, err, sizeof(err)), 0);
	ck_assert_int_eq(virNetworkIsActive(net), 1);
	virNetworkDestroy(net);
	virNetworkUndefine(net);
	virNetworkFree(net);
	virConnectClose(c);
}
END_TEST

START_TEST(open_bad_uri)
{
	char err[256] = "";
	struct vm *v;

	v = ops->open(base, "nosuchdriver:///x", &cbs, 0, err,
	    sizeof(err));
	ck_assert_ptr_null(v);
	ck_assert_str_ne(err, "");
}
END_TEST

/* A host that does not answer: lazy open returns it down. */
START_TEST(open_lazy)
{
	char err[256] = "";
	struct vm *v;

	v = ops->open(base, "qemu+tcp://127.0.0.1:1/system", &cbs, 0, err,
	    sizeof(err));
	ck_assert_ptr_null(v);
	err[0] = '\0';
	v = ops->open(base, "qemu+tcp://127.0.0.1:1/system", &cbs,
	    VM_OPEN_LAZY, err, sizeof(err));
	ck_assert_ptr_nonnull(v);
	ck_assert_str_ne(err, "");
	ck_assert(!ops->connected(v));
	ops->close(v);
}
END_TEST

/* The jobs of a host: its domains, its free memory. */
START_TEST(list_and_host_info_jobs)
{
	struct vm_guest *g = domain_xml("summon-lj-1", "lj", 1);
	struct vm_job *j;

	ck_assert_int_eq(run(VM_CREATE, "summon-lj-1", g)->rc, 0);
	j = run(VM_LIST, "(host)", NULL);
	ck_assert_msg(j->rc == 0, "%s", j->err);
	ck_assert_ptr_nonnull(find_domain(j->domains, j->ndomains,
	    "summon-lj-1"));
	free(j->domains);
	j = run(VM_HOST_INFO, "(host)", NULL);
	ck_assert_msg(j->rc == 0, "%s", j->err);
	ck_assert_uint_gt(j->free_memory, 0);
	ck_assert_int_eq(run(VM_DESTROY, "summon-lj-1", NULL)->rc, 0);
	free(g);
}
END_TEST

/*
 * The pure helpers.
 */
static const char *const names[] = { "name", "memory", "cmdline", "x" };

START_TEST(template_expand)
{
	const char *values[] = { "summon-hello-1", "32768",
	    "\"/><evil/>&'", "" };
	char err[256], *out;

	out = vm_template_expand("<name>${name}</name><m>${memory}</m>"
	    "<c>${cmdline}</c>${x}$5 $ ${name}$", names, values, 4, err,
	    sizeof(err));
	ck_assert_msg(out != NULL, "%s", err);
	ck_assert_str_eq(out, "<name>summon-hello-1</name><m>32768</m>"
	    "<c>&quot;/&gt;&lt;evil/&gt;&amp;&apos;</c>$5 $ summon-hello-1$");
	free(out);

	out = vm_template_expand("", names, values, 4, err, sizeof(err));
	ck_assert_ptr_nonnull(out);
	ck_assert_str_eq(out, "");
	free(out);

	/* A value holding "${...}" is not expanded again. */
	values[0] = "${memory}";
	out = vm_template_expand("${name}", names, values, 4, err,
	    sizeof(err));
	ck_assert_str_eq(out, "${memory}");
	free(out);
}
END_TEST

START_TEST(template_errors)
{
	const char *values[] = { "a", "b", "c", "d" };
	char err[256], *big, *out;
	size_t i;

	out = vm_template_expand("<a>${nope}</a>", names, values, 4, err,
	    sizeof(err));
	ck_assert_ptr_null(out);
	ck_assert_ptr_nonnull(strstr(err, "nope"));

	out = vm_template_expand("<a>${}</a>", names, values, 4, err,
	    sizeof(err));
	ck_assert_ptr_null(out);

	out = vm_template_expand("<a>${name</a>", names, values, 4, err,
	    sizeof(err));
	ck_assert_ptr_null(out);
	ck_assert_ptr_nonnull(strstr(err, "unterminated"));
	ck_assert_ptr_nonnull(strstr(err, "name"));

	/* 1 MiB of output is the limit, through a value... */
	ck_assert_ptr_nonnull(big = malloc(1024 * 1024 + 2));
	memset(big, 'v', 1024 * 1024 + 1);
	big[1024 * 1024 + 1] = '\0';
	values[0] = big;
	out = vm_template_expand("${name}", names, values, 4, err,
	    sizeof(err));
	ck_assert_ptr_null(out);
	ck_assert_ptr_nonnull(strstr(err, "exceeds"));
	/* ...or by escaping growth... */
	for (i = 0; i < 300 * 1024; i++)
		big[i] = '&';
	big[300 * 1024] = '\0';
	out = vm_template_expand("${name}", names, values, 4, err,
	    sizeof(err));
	ck_assert_ptr_null(out);
	/* ...and exactly 1 MiB is fine. */
	memset(big, 't', 1024 * 1024);
	big[1024 * 1024] = '\0';
	out = vm_template_expand(big, names, values, 4, err, sizeof(err));
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(strlen(out), 1024 * 1024);
	free(out);
	free(big);
}
END_TEST

/*
 * The command line is a template inside the template: ${kernel} in it
 * is filled in raw and the line escaped as a whole, so a kernel path
 * with ' and & comes out escaped once (not "&amp;apos;"), in both
 * places.
 */
START_TEST(template_cmdline_escaped_once)
{
	static const char *const vars[] = { "name", "kernel", "cmdline" };
	const char *values[] = { "summon-web-1", "/img/it's&co.elf",
	    "k=${kernel} n=${name} a<b \"q\"" };
	char err[256], *out;

	out = vm_template_expand("<kernel>${kernel}</kernel>"
	    "<cmdline>${cmdline}</cmdline>", vars, values, 3, err,
	    sizeof(err));
	ck_assert_msg(out != NULL, "%s", err);
	ck_assert_str_eq(out, "<kernel>/img/it&apos;s&amp;co.elf</kernel>"
	    "<cmdline>k=/img/it&apos;s&amp;co.elf n=summon-web-1 a&lt;b "
	    "&quot;q&quot;</cmdline>");
	free(out);

	/* A value holding "${...}" is not expanded again, nor escaped twice. */
	values[1] = "/img/${name}&";
	out = vm_template_expand("${cmdline}", vars, values, 3, err,
	    sizeof(err));
	ck_assert_msg(out != NULL, "%s", err);
	ck_assert_str_eq(out, "k=/img/${name}&amp; n=summon-web-1 a&lt;b "
	    "&quot;q&quot;");
	free(out);

	/* The command line may not hold itself, nor an unknown variable. */
	values[2] = "x=${cmdline}";
	out = vm_template_expand("${cmdline}", vars, values, 3, err,
	    sizeof(err));
	ck_assert_ptr_null(out);
	ck_assert_str_eq(err, "cmdline: unknown variable \"${cmdline}\"");
	values[2] = "x=${nope";
	out = vm_template_expand("<c>${cmdline}</c>", vars, values, 3, err,
	    sizeof(err));
	ck_assert_ptr_null(out);
	ck_assert_ptr_nonnull(strstr(err, "cmdline: unterminated"));
}
END_TEST

START_TEST(metadata)
{
	struct vm_owner o;
	char err[256], *out;

	out = vm_add_metadata("<domain><name>a</name></domain>\n", NULL,
	    "hello", -7, err, sizeof(err));
	ck_assert_msg(out != NULL, "%s", err);
	ck_assert_str_eq(out, "<domain><name>a</name><metadata>"
	    "<summon:instance xmlns:summon=\"urn:x-summon:instance:1\" "
	    "service=\"hello\" id=\"-7\"/></metadata></domain>\n");
	free(out);
	o = (struct vm_owner){ "00ff", "1a" };
	out = vm_add_metadata("<domain></domain>", &o, "a", 2, err,
	    sizeof(err));
	ck_assert_msg(out != NULL, "%s", err);
	ck_assert_str_eq(out, "<domain><metadata><summon:instance "
	    "xmlns:summon=\"urn:x-summon:instance:1\" owner=\"00ff\" "
	    "state=\"1a\" service=\"a\" id=\"2\"/></metadata></domain>");
	free(out);

	/* Before the last </domain>, when a comment holds another. */
	out = vm_add_metadata("<domain><!-- </domain> --></domain>", NULL, "a",
	    1, err, sizeof(err));
	ck_assert_ptr_nonnull(out);
	ck_assert_ptr_nonnull(strstr(out, "--><metadata>"));
	free(out);

	ck_assert_ptr_null(vm_add_metadata("<domain><name>a</name>", NULL,
	    "hello", 1, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "</domain>"));
	ck_assert_ptr_null(vm_add_metadata("<domain><metadata/></domain>",
	    NULL, "hello", 1, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "metadata"));
	ck_assert_ptr_null(vm_add_metadata("<domain></domain>", NULL,
	    "a\" evil=\"1", 1, err, sizeof(err)));
	ck_assert_ptr_null(vm_add_metadata("<domain></domain>", NULL, "", 1,
	    err, sizeof(err)));
	ck_assert_ptr_null(vm_add_metadata("<domain></domain>", NULL, "Hello",
	    1, err, sizeof(err)));
	o = (struct vm_owner){ "a\" x=\"", "" };
	ck_assert_ptr_null(vm_add_metadata("<domain></domain>", &o, "a", 1,
	    err, sizeof(err)));
	ck_assert_str_eq(err, "invalid owner id");
}
END_TEST

START_TEST(mac)
{
	char a[18], b[18], c[18], d[18];
	unsigned o[6];

	vm_mac("hello", 1, a);
	vm_mac("hello", 1, b);
	ck_assert_str_eq(a, b);
	ck_assert_int_eq(sscanf(a, "%2x:%2x:%2x:%2x:%2x:%2x", &o[0], &o[1],
	    &o[2], &o[3], &o[4], &o[5]), 6);
	ck_assert_uint_eq(strlen(a), 17);
	ck_assert(strncmp(a, "52:54:00:", 9) == 0);
	ck_assert(o[0] & 0x02);		/* locally administered */
	ck_assert(!(o[0] & 0x01));	/* unicast */
	vm_mac("hello", 2, c);
	vm_mac("hell", 1, d);
	ck_assert_str_ne(a, c);
	ck_assert_str_ne(a, d);
	/* "ab"+1 and "a"+"b1" must not collide by concatenation. */
	vm_mac("ab", 1, c);
	vm_mac("a", 11, d);
	ck_assert_str_ne(c, d);
}
END_TEST

START_TEST(mac_spread)
{
	static char seen[1000][18];
	int i, k, same = 0;

	/* 1000 instances of one service: no two alike. */
	for (i = 0; i < 1000; i++) {
		vm_mac("web", i, seen[i]);
		for (k = 0; k < i; k++)
			same += strcmp(seen[i], seen[k]) == 0;
	}
	ck_assert_int_eq(same, 0);
}
END_TEST

/* One allocation that outlives what it was copied from. */
START_TEST(guest_copy)
{
	struct vm_forward fwd[2] = { { 20001, 80 }, { 20002, 443 } };
	char name[32] = "summon-a-1", kernel[32] = "/k", initrd[32] = "/i";
	struct vm_guest g = { .name = name, .service = "a", .instance = 1,
	    .template = "microvm", .templates = "/t", .kernel = kernel,
	    .initrd = initrd, .cmdline = "x=${ip}", .memory = 1 << 25,
	    .vcpus = 1,
	    .net = VM_NET_USER, .forwards = fwd, .nforwards = 2,
	    .serial_log = "/s/summon-a-1.log" }, *c;

	ck_assert_ptr_nonnull(c = vm_guest_copy(&g));
	memset(name, 'x', sizeof(name) - 1);
	memset(kernel, 'y', sizeof(kernel) - 1);
	memset(initrd, 'z', sizeof(initrd) - 1);
	fwd[1].host = 1;
	ck_assert_str_eq(c->name, "summon-a-1");
	ck_assert_str_eq(c->kernel, "/k");
	ck_assert_str_eq(c->initrd, "/i");
	ck_assert_str_eq(c->cmdline, "x=${ip}");
	ck_assert_ptr_null(c->network);
	ck_assert_uint_eq(c->nforwards, 2);
	ck_assert_uint_eq(c->forwards[1].host, 20002);
	ck_assert_uint_eq(c->forwards[1].guest, 443);
	free(c);
}
END_TEST

/*
 * The domain XML a guest becomes: every variable, the user-mode
 * address, forwards of every port (a fixed buffer once cut them after
 * ~29), the command line escaped once, the metadata.
 */
START_TEST(domain_xml_of_guest)
{
	struct vm_forward fwd[64];
	char tdir[64], path[128], path2[128], err[256], *xml, want[64];
	struct vm_guest g = { .name = "summon-a-1", .service = "a",
	    .instance = 1, .owner = owner, .template = "t",
	    .templates = tdir, .kernel = "/img/it's&co.elf",
	    .cmdline = "ip=${ip}/${prefix} gw=${gateway} k=${kernel}",
	    .memory = 32 << 20, .vcpus = 2, .net = VM_NET_USER,
	    .forwards = fwd, .nforwards = 64, .serial_log = "/s/a.log" };
	FILE *f;
	int i;

	for (i = 0; i < 64; i++) {
		fwd[i].host = (uint16_t)(20000 + i);
		fwd[i].guest = (uint16_t)(1000 + i);
	}
	vm_mac("a", 1, g.mac);
	snprintf(tdir, sizeof(tdir), "/tmp/test_vmx.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tdir));
	/* Built-in names take the "-user" file in user mode. */
	snprintf(path, sizeof(path), "%s/t-user.xml", tdir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("<domain type='${domain_type}'><name>${name}</name>"
	    "<m>${memory_kib}</m><v>${vcpus}</v><mac>${mac}</mac>"
	    "<s>${serial_log}</s><c>${cmdline}</c><f>${hostfwd}</f>"
	    "</domain>\n", f);
	fclose(f);
	xml = vm_domain_xml(&g, false, err, sizeof(err));
	ck_assert_msg(xml != NULL, "%s", err);
	ck_assert_ptr_nonnull(strstr(xml, "<domain type='qemu'>"
	    "<name>summon-a-1</name><m>32768</m><v>2</v>"));
	ck_assert_ptr_nonnull(strstr(xml, "<c>ip=10.0.2.15/24 gw=10.0.2.2 "
	    "k=/img/it&apos;s&amp;co.elf</c>"));
	ck_assert_ptr_nonnull(strstr(xml, "<f>hostfwd=tcp:127.0.0.1:20000-"
	    ":1000,hostfwd=tcp:127.0.0.1:20001-:1001,"));
	snprintf(want, sizeof(want), "hostfwd=tcp:127.0.0.1:20063-:1063</f>");
	ck_assert_ptr_nonnull(strstr(xml, want));
	ck_assert_ptr_nonnull(strstr(xml, "service=\"a\""));
	ck_assert_ptr_nonnull(strstr(xml, owner.id));
	free(xml);
	/* Bridge mode: its own address, the built-in name as it is. */
	g.net = VM_NET_BRIDGE;
	g.nforwards = 0;
	g.network = "summon";
	inet_pton(AF_INET, "10.99.0.12", &g.address);
	inet_pton(AF_INET, "10.99.0.1", &g.gateway);
	g.prefix = 24;
	ck_assert_ptr_null(vm_domain_xml(&g, true, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "/t.xml: No such file"));
	snprintf(path2, sizeof(path2), "%s/t.xml", tdir);
	ck_assert_int_eq(rename(path, path2), 0);
	xml = vm_domain_xml(&g, true, err, sizeof(err));
	ck_assert_msg(xml != NULL, "%s", err);
	ck_assert_ptr_nonnull(strstr(xml, "<domain type='kvm'>"));
	ck_assert_ptr_nonnull(strstr(xml, "<c>ip=10.99.0.12/24 gw=10.99.0.1"));
	ck_assert_ptr_nonnull(strstr(xml, "<f></f>"));
	free(xml);
	/* 300 KiB, which the check at load allows (1 MiB): rendered. */
	ck_assert_ptr_nonnull(f = fopen(path2, "w"));
	fputs("<domain type='${domain_type}'><name>${name}</name><!--", f);
	for (i = 0; i < 300 * 16; i++)
		fputs("................................................"
		    "...............\n", f);
	fputs("--></domain>\n", f);
	fclose(f);
	xml = vm_domain_xml(&g, true, err, sizeof(err));
	ck_assert_msg(xml != NULL, "%s", err);
	free(xml);
	/* Replaced by a FIFO since that check: refused, not waited on. */
	unlink(path2);
	ck_assert_int_eq(mkfifo(path2, 0600), 0);
	ck_assert_ptr_null(vm_domain_xml(&g, true, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a regular file") != NULL, "%s", err);
	unlink(path2);
	rmdir(tdir);
}
END_TEST

/*
 * ${initrd} is the path, escaped like every value; a guest without one
 * gets no <initrd> element at all (the line goes when the element is
 * alone on it), in a template of its own and in each shipped one.
 */
START_TEST(domain_xml_initrd)
{
	static const char *const shipped[] = { "microvm", "pc" };
	char tdir[64], path[128], err[256], *xml;
	struct vm_guest g = { .name = "summon-a-1", .service = "a",
	    .instance = 1, .owner = owner, .template = path,
	    .kernel = "/k", .initrd = "/img/a&b.img", .cmdline = "c",
	    .memory = 32 << 20, .vcpus = 1, .net = VM_NET_BRIDGE,
	    .network = "n", .serial_log = "/s/a.log" };
	FILE *f;
	size_t i, u;

	snprintf(tdir, sizeof(tdir), "/tmp/test_vmi.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tdir));
	snprintf(path, sizeof(path), "%s/t.xml", tdir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("<domain><os>\n    <kernel>${kernel}</kernel>\n"
	    "    <initrd>${initrd}</initrd>\n    <cmdline>${cmdline}</cmdline>"
	    "\n  </os><x><initrd>${initrd}</initrd></x></domain>\n", f);
	fclose(f);
	xml = vm_domain_xml(&g, false, err, sizeof(err));
	ck_assert_msg(xml != NULL, "%s", err);
	ck_assert_ptr_nonnull(strstr(xml, "<kernel>/k</kernel>\n"
	    "    <initrd>/img/a&amp;b.img</initrd>\n    <cmdline>"));
	ck_assert_ptr_nonnull(strstr(xml,
	    "<x><initrd>/img/a&amp;b.img</initrd></x>"));
	free(xml);
	for (i = 0; i < 2; i++) {
		g.initrd = i == 0 ? NULL : "";
		xml = vm_domain_xml(&g, false, err, sizeof(err));
		ck_assert_msg(xml != NULL, "%s", err);
		ck_assert_ptr_null(strstr(xml, "initrd"));
		ck_assert_ptr_nonnull(strstr(xml, "<kernel>/k</kernel>\n"
		    "    <cmdline>c</cmdline>\n  </os><x></x>"));
		free(xml);
	}
	unlink(path);
	rmdir(tdir);

	g.template = NULL;
	g.templates = SRCDIR "/images/templates";
	for (i = 0; i < sizeof(shipped) / sizeof(shipped[0]); i++)
		for (u = 0; u < 2; u++) {
			g.template = shipped[i];
			g.net = u == 0 ? VM_NET_BRIDGE : VM_NET_USER;
			g.initrd = "/i.img";
			xml = vm_domain_xml(&g, false, err, sizeof(err));
			ck_assert_msg(xml != NULL, "%s", err);
			ck_assert_ptr_nonnull(strstr(xml,
			    "<initrd>/i.img</initrd>"));
			free(xml);
			g.initrd = NULL;
			xml = vm_domain_xml(&g, false, err, sizeof(err));
			ck_assert_msg(xml != NULL, "%s", err);
			ck_assert_ptr_null(strstr(xml, "initrd"));
			ck_assert_ptr_nonnull(strstr(xml,
			    "<kernel>/k</kernel>\n    <cmdline>"));
			free(xml);
		}
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("vm");
	TCase *tc;

	tc = tcase_create("pure");
	tcase_add_test(tc, template_expand);
	tcase_add_test(tc, template_errors);
	tcase_add_test(tc, template_cmdline_escaped_once);
	tcase_add_test(tc, metadata);
	tcase_add_test(tc, mac);
	tcase_add_test(tc, mac_spread);
	tcase_add_test(tc, guest_copy);
	tcase_add_test(tc, domain_xml_of_guest);
	tcase_add_test(tc, domain_xml_initrd);
	suite_add_tcase(s, tc);

	tc = tcase_create("libvirt");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, create_list_suspend_resume_destroy);
	tcase_add_test(tc, destroy_missing);
	tcase_add_test(tc, define_save_restore);
	tcase_add_test(tc, shutdown_obeyed);
	tcase_add_test(tc, errors);
	tcase_add_test(tc, foreign_destroy_is_crash);
	tcase_add_test(tc, foreign_domains_filtered);
	tcase_add_test(tc, close_with_queued_jobs);
	tcase_add_test(tc, close_from_done);
	tcase_add_test(tc, ensure_network);
	tcase_add_test(tc, open_bad_uri);
	tcase_add_test(tc, open_lazy);
	tcase_add_test(tc, list_and_host_info_jobs);
	suite_add_tcase(s, tc);

	tc = tcase_create("qemu");
	tcase_add_checked_fixture(tc, setup_qemu, teardown_qemu);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, create_paused);
	tcase_add_test(tc, shutdown_paused_falls_back_to_destroy);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
