/*
 * test_lifecycle.c - the lifecycle against the scripted vm backend.
 *
 * The scripted backend (vm_script.h), a real store, a real event loop;
 * the guest is simulated: services use ready = serial:READY and the test
 * writes that line into a domain's serial log to make it "boot".  Idle
 * time comes from a replaced clock.
 */
#include <check.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "lifecycle.h"
#include "store.h"
#include "vm.h"
#include "vm_script.h"
#include "src/lifecycle/lc_internal.h"
#include "check_main.h"

static const char *template_xml =
    "<domain type='test'>\n"
    "  <name>${name}</name>\n"
    "  <memory unit='KiB'>${memory_kib}</memory>\n"
    "  <vcpu>${vcpus}</vcpu>\n"
    "  <os><type>hvm</type><cmdline>${cmdline}</cmdline></os>\n"
    "</domain>\n";

struct fixture {
	char			 dir[64];
	struct config		*cfg;
	struct store		*store;
	struct event_base	*base;
	struct lifecycle	*lc;
	struct config		*cfg2;		/* after a reload */
};

static struct fixture F;
static uint64_t clock_skew_us;

static uint64_t
skewed_mono_us(void *arg)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000 +
	    clock_skew_us;
}

static int64_t
real_wall_ms(void *arg)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

/* Guests that will print READY: instances 1..n of service svc. */
static void
guests_will_boot(const char *svc, int from, int to)
{
	char path[256];
	int i;

	for (i = from; i <= to; i++) {
		snprintf(path, sizeof(path), "%s/serial/summon-%s-%d.log",
		    F.dir, svc, i);
		write_file(path, "summon-hello: booting\nREADY ip=x\n");
	}
}

/*
 * The test configuration: service a (left out if !with_a; svc_extra is
 * added to it, e.g. "stop-mode = suspend\n") and service b.
 */
static struct config *
test_config(const char *global, const char *svc_extra, bool with_a)
{
	char text[4096], a[1024];
	struct config *cfg;
	int n;

	snprintf(a, sizeof(a),
	    "[service \"a\"]\nkernel = /k\naddress = 127.0.0.2\nports = 80\n"
	    "template = %s/test.xml\nready = serial:READY\n"
	    "boot-timeout = 500ms\nidle-timeout = 1s\n%s", F.dir, svc_extra);
	snprintf(text, sizeof(text),
	    "[summond]\nstate = %s/state.db\nhypervisor = script:///\n"
	    "serial-dir = %s/serial\nmemory-budget = 1G\n%s"
	    "[dns]\nlisten =\n[metrics]\nlisten =\n"
	    "[network]\nmode = user\nuser-ports = 30000-30099\n%s"
	    "[service \"b\"]\nkernel = /k\naddress = 127.0.0.3\nports = 80\n"
	    "template = %s/test.xml\nready = serial:READY\n"
	    "boot-timeout = 500ms\nidle-timeout = 1s\n",
	    F.dir, F.dir, global, with_a ? a : "", F.dir);
	cfg = config_load_string("test.conf", text, stderr, &n);
	ck_assert_ptr_nonnull(cfg);
	return cfg;
}

/* The directory of a test: serial logs, the template. */
static void
make_dir(void)
{
	char path[128];
	struct clock_source cs = { skewed_mono_us, real_wall_ms, NULL };

	clock_skew_us = 0;
	clock_set_source(&cs);
	snprintf(F.dir, sizeof(F.dir), "/tmp/test_lc.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(F.dir));
	snprintf(path, sizeof(path), "%s/serial", F.dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/test.xml", F.dir);
	write_file(path, template_xml);
}

/* Start a lifecycle on F.cfg, with its store in the test's directory. */
static void
start(void)
{
	char path[128], err[256];

	snprintf(path, sizeof(path), "%s/state.db", F.dir);
	F.store = store_open(path, err, sizeof(err));
	ck_assert_msg(F.store != NULL, "%s", err);
	F.base = event_base_new();
	F.lc = lifecycle_new(F.base, F.cfg, F.store, &vm_script_ops, err,
	    sizeof(err));
	ck_assert_msg(F.lc != NULL, "%s", err);
}

/* Start a lifecycle on test_config(global, svc_extra, true). */
static void
setup_with(const char *global, const char *svc_extra)
{
	make_dir();
	F.cfg = test_config(global, svc_extra, true);
	start();
}

static void
setup(void)
{
	setup_with("", "");
}

static void
teardown(void)
{
	char cmd[128];

	lifecycle_free(F.lc);
	event_base_free(F.base);
	store_close(F.store);
	config_free(F.cfg);
	config_free(F.cfg2);
	F.cfg2 = NULL;
	clock_set_source(NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", F.dir);
	ck_assert_int_eq(system(cmd), 0);
}

static enum lc_state
state_of(const char *svc)
{
	struct lc_info info;

	ck_assert_int_eq(lifecycle_info(F.lc, svc, &info), 0);
	return info.state;
}

/* Run the loop until svc is in state want, or fail after ms. */
static void
run_until_state(const char *svc, enum lc_state want, int ms)
{
	struct timespec t0, t;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (state_of(svc) != want) {
		event_base_loop(F.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
		clock_gettime(CLOCK_MONOTONIC, &t);
		ck_assert_msg((t.tv_sec - t0.tv_sec) * 1000 +
		    (t.tv_nsec - t0.tv_nsec) / 1000000 < ms,
		    "%s: still %s, wanted %s", svc,
		    lifecycle_state_name(state_of(svc)),
		    lifecycle_state_name(want));
	}
}

static void
run_for(int ms)
{
	int i;

	for (i = 0; i < ms; i++) {
		event_base_loop(F.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

struct rowcount { int live; };

static int
count_row(void *arg, const struct store_instance *r)
{
	((struct rowcount *)arg)->live++;
	return 0;
}

static int
live_rows(void)
{
	struct rowcount c = { 0 };

	ck_assert_int_eq(store_instances_live(F.store, count_row, &c), 0);
	return c.live;
}

static void
assert_row(int64_t id, const char *state, const char *reason)
{
	struct store_instance r;

	ck_assert_int_eq(store_instance_get(F.store, id, &r), 0);
	ck_assert_str_eq(r.state, state);
	ck_assert_str_eq(r.stop_reason, reason);
}

struct eventcount { const char *kind; int n; };

static int
count_event(void *arg, const struct store_event *e)
{
	struct eventcount *c = arg;

	if (strcmp(e->kind, c->kind) == 0)
		c->n++;
	return 0;
}

/* How many events of kind service svc has recorded. */
static int
events_of(const char *svc, const char *kind)
{
	struct eventcount c = { kind, 0 };

	ck_assert_int_eq(store_events(F.store, svc, 0, 10000, count_event,
	    &c), 0);
	return c.n;
}

/* Run the loop until svc has n events of kind, or fail after ms. */
static void
run_until_events(const char *svc, const char *kind, int n, int ms)
{
	int waited;

	for (waited = 0; events_of(svc, kind) < n; waited++) {
		ck_assert_msg(waited < ms, "%s: %d %s events, wanted %d", svc,
		    events_of(svc, kind), kind, n);
		event_base_loop(F.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
}

struct outcome { int ok, failed; };

static void
note_outcome(void *arg, const char *svc, bool ok)
{
	struct outcome *o = arg;

	if (ok)
		o->ok++;
	else
		o->failed++;
}

START_TEST(boot_to_ready)
{
	struct lc_info info;
	struct store_instance r;

	guests_will_boot("a", 1, 1);
	ck_assert_int_eq(state_of("a"), LC_STOPPED);
	ck_assert_int_eq(lifecycle_wake(F.lc, "a", LC_SRC_DNS), LC_STARTING);
	run_until_state("a", LC_READY, 5000);
	ck_assert_int_eq(lifecycle_info(F.lc, "a", &info), 0);
	ck_assert_str_eq(info.domain, "summon-a-1");
	ck_assert_str_eq(info.guest_address, "127.0.0.1:30000");
	ck_assert_uint_eq(info.boots, 1);
	ck_assert_int_ge(info.last_boot_ms, 0);
	ck_assert_uint_eq(info.wakes[LC_SRC_DNS], 1);
	ck_assert_int_eq(store_instance_get(F.store, 1, &r), 0);
	ck_assert_str_eq(r.state, "ready");
	ck_assert_str_eq(r.domain, "summon-a-1");
	ck_assert_int_gt(r.ready_ms, 0);
	ck_assert_int_ge(r.create_dur_ms, 0);
	ck_assert_int_eq(r.host_port, 30000);
	ck_assert_int_eq(state_of("b"), LC_STOPPED);
	ck_assert_int_eq(lifecycle_wake(F.lc, "nope", LC_SRC_DNS), -1);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(single_flight)
{
	struct outcome o = { 0, 0 };
	int i;

	guests_will_boot("a", 1, 3);
	for (i = 0; i < 200; i++) {
		lifecycle_wake(F.lc, "a", i % 2 ? LC_SRC_DNS : LC_SRC_CONNECT);
		if (i % 4 == 0)
			ck_assert_ptr_nonnull(lifecycle_wait(F.lc, "a",
			    note_outcome, &o));
	}
	run_until_state("a", LC_READY, 5000);
	ck_assert_int_eq(o.ok, 50);
	ck_assert_int_eq(o.failed, 0);
	ck_assert_int_eq(live_rows(), 1);
	/* Ready now: waiting is pointless, and says so. */
	ck_assert_ptr_null(lifecycle_wait(F.lc, "a", note_outcome, &o));
	ck_assert_int_eq(errno, EALREADY);
}
END_TEST

/* Ready, then idle past idle-timeout: the tick stops it. */
static void
boot_then_idle(void)
{
	guests_will_boot("a", 1, 5);
	lifecycle_wake(F.lc, "a", LC_SRC_CTL);
	run_until_state("a", LC_READY, 5000);
	ck_assert_uint_eq(lifecycle_tick(F.lc), 0);	/* not idle yet */
	ck_assert(!lifecycle_is_idle(F.lc, "a"));
	clock_skew_us += 1500000;
	ck_assert(lifecycle_is_idle(F.lc, "a"));
	ck_assert_uint_eq(lifecycle_tick(F.lc), 1);
}

START_TEST(reap_destroy)
{
	boot_then_idle();
	run_until_state("a", LC_STOPPED, 5000);
	assert_row(1, "stopped", "idle");
	ck_assert_int_eq(live_rows(), 0);
}
END_TEST

START_TEST(keepalive_connection_blocks_reap)
{
	guests_will_boot("a", 1, 1);
	lifecycle_wake(F.lc, "a", LC_SRC_CONNECT);
	run_until_state("a", LC_READY, 5000);
	lifecycle_conn(F.lc, "a", 1);
	clock_skew_us += 5000000;
	ck_assert_uint_eq(lifecycle_tick(F.lc), 0);
	lifecycle_conn(F.lc, "a", -1);
	clock_skew_us += 5000000;
	ck_assert_uint_eq(lifecycle_tick(F.lc), 1);
}
END_TEST

static void setup_suspend(void) { setup_with("", "stop-mode = suspend\n"); }
static void setup_save(void) { setup_with("", "stop-mode = save\n"); }
static void setup_shutdown(void) { setup_with("", "stop-mode = shutdown\n"); }
static void setup_standby(void) { setup_with("", "standby = 1\n"); }
static void
setup_standby_booted(void)
{
	setup_with("", "standby = 1\nstandby-booted = yes\n");
}
static void setup_max1(void) { setup_with("max-instances = 1\n", ""); }

START_TEST(reap_suspend_then_resume)
{
	struct lc_info info;

	boot_then_idle();
	run_until_state("a", LC_SUSPENDED, 5000);
	ck_assert_int_eq(live_rows(), 1);
	lifecycle_wake(F.lc, "a", LC_SRC_DNS);
	run_until_state("a", LC_READY, 5000);
	ck_assert_int_eq(lifecycle_info(F.lc, "a", &info), 0);
	ck_assert_str_eq(info.domain, "summon-a-1");	/* same domain */
	ck_assert_uint_eq(info.boots, 2);
	ck_assert_int_eq(live_rows(), 1);
	/* A manual reap of a suspended service has nothing to do. */
	clock_skew_us += 1500000;
	ck_assert_uint_eq(lifecycle_tick(F.lc), 1);
	run_until_state("a", LC_SUSPENDED, 5000);
	ck_assert_int_eq(lifecycle_stop(F.lc, "a", "manual"), 1);
}
END_TEST

START_TEST(reap_save_then_restore)
{
	boot_then_idle();
	run_until_state("a", LC_SAVED, 5000);
	lifecycle_wake(F.lc, "a", LC_SRC_DNS);
	run_until_state("a", LC_READY, 5000);
	ck_assert_int_eq(live_rows(), 1);
}
END_TEST

START_TEST(reap_shutdown)
{
	boot_then_idle();
	run_until_state("a", LC_STOPPED, 10000);
	assert_row(1, "stopped", "idle");
}
END_TEST

START_TEST(wake_during_stopping)
{
	struct outcome o = { 0, 0 };

	guests_will_boot("a", 1, 2);
	lifecycle_wake(F.lc, "a", LC_SRC_CTL);
	run_until_state("a", LC_READY, 5000);
	ck_assert_int_eq(lifecycle_stop(F.lc, "a", "manual"), 0);
	ck_assert_int_eq(state_of("a"), LC_STOPPING);
	ck_assert_int_eq(lifecycle_wake(F.lc, "a", LC_SRC_DNS), LC_STOPPING);
	ck_assert_ptr_nonnull(lifecycle_wait(F.lc, "a", note_outcome, &o));
	/* Not dropped: the waiter sees the second boot through. */
	run_until_state("a", LC_READY, 5000);
	ck_assert_int_eq(o.ok, 1);
	ck_assert_int_eq(o.failed, 0);
	assert_row(1, "stopped", "manual");
	assert_row(2, "ready", "");
}
END_TEST

START_TEST(boot_timeout_and_backoff)
{
	struct outcome o = { 0, 0 };

	/* No READY ever: each boot times out after 500 ms. */
	lifecycle_wake(F.lc, "a", LC_SRC_DNS);
	lifecycle_wait(F.lc, "a", note_outcome, &o);
	run_until_state("a", LC_FAILED, 5000);
	ck_assert_int_eq(o.failed, 1);
	assert_row(1, "stopped", "failed");
	/* The first retry is immediate. */
	ck_assert_int_eq(lifecycle_wake(F.lc, "a", LC_SRC_DNS), LC_STARTING);
	lifecycle_wait(F.lc, "a", note_outcome, &o);
	run_until_state("a", LC_FAILED, 5000);
	ck_assert_int_eq(o.failed, 2);
	/* After two failures in a row, the next boot waits. */
	ck_assert_int_eq(lifecycle_wake(F.lc, "a", LC_SRC_DNS), LC_FAILED);
	guests_will_boot("a", 3, 3);
	lifecycle_wait(F.lc, "a", note_outcome, &o);
	run_until_state("a", LC_READY, 5000);
	ck_assert_int_eq(o.ok, 1);
	ck_assert_int_eq(live_rows(), 1);
}
END_TEST

START_TEST(evicts_least_recently_used)
{
	guests_will_boot("a", 1, 1);
	guests_will_boot("b", 2, 2);
	lifecycle_wake(F.lc, "a", LC_SRC_DNS);
	run_until_state("a", LC_READY, 5000);
	lifecycle_wake(F.lc, "b", LC_SRC_DNS);
	run_until_state("b", LC_READY, 5000);
	run_until_state("a", LC_STOPPED, 5000);
	assert_row(1, "stopped", "evicted");
}
END_TEST

START_TEST(no_room_fails_clearly)
{
	struct outcome o = { 0, 0 };

	guests_will_boot("a", 1, 1);
	lifecycle_wake(F.lc, "a", LC_SRC_DNS);
	run_until_state("a", LC_READY, 5000);
	lifecycle_conn(F.lc, "a", 1);	/* busy: not evictable */
	ck_assert_int_eq(lifecycle_wake(F.lc, "b", LC_SRC_DNS), LC_FAILED);
	/* Nothing under way: a waiter is told at once, not left hanging. */
	ck_assert_ptr_null(lifecycle_wait(F.lc, "b", note_outcome, &o));
	ck_assert_int_eq(errno, ECANCELED);
	ck_assert_int_eq(o.failed, 0);
	ck_assert_int_eq(state_of("a"), LC_READY);
}
END_TEST

START_TEST(standby_makes_wake_a_resume)
{
	struct lc_info info;

	guests_will_boot("a", 1, 3);
	lifecycle_tick(F.lc);		/* fills the pool */
	run_until_state("a", LC_STANDBY, 5000);
	lifecycle_wake(F.lc, "a", LC_SRC_DNS);
	run_until_state("a", LC_READY, 5000);
	ck_assert_int_eq(lifecycle_info(F.lc, "a", &info), 0);
	ck_assert_str_eq(info.domain, "summon-a-1");
	lifecycle_tick(F.lc);		/* and refills it */
	run_for(200);
	ck_assert_int_eq(lifecycle_info(F.lc, "a", &info), 0);
	ck_assert_uint_eq(info.standby, 1);
	ck_assert_int_eq(live_rows(), 2);
}
END_TEST

/*
 * standby-booted: the standby boots to ready, then is paused; a wake
 * resumes a guest that is ready at once.  Its serial log loses the READY
 * line before the wake, so a probe after the resume would time out.
 */
START_TEST(standby_booted_is_ready_on_resume)
{
	struct lc_info info;
	char path[256];

	guests_will_boot("a", 1, 3);
	lifecycle_tick(F.lc);
	run_until_state("a", LC_STANDBY, 5000);	/* booted and paused */
	ck_assert_int_eq(events_of("a", "standby-booted"), 1);
	snprintf(path, sizeof(path), "%s/serial/summon-a-1.log", F.dir);
	write_file(path, "summon-hello: booting\n");
	lifecycle_wake(F.lc, "a", LC_SRC_CONNECT);
	run_until_state("a", LC_READY, 5000);
	ck_assert_int_eq(lifecycle_info(F.lc, "a", &info), 0);
	ck_assert_str_eq(info.domain, "summon-a-1");
	ck_assert_uint_eq(info.boots, 1);
	ck_assert_uint_eq(info.boot_failures, 0);
	assert_row(1, "ready", "");
}
END_TEST

/* On "standby-booted": the serial log loses READY, and a is woken. */
static void
forget_ready_and_wake(void *arg, const struct store_event *e)
{
	char path[256];

	if (strcmp(e->kind, "standby-booted") != 0)
		return;
	snprintf(path, sizeof(path), "%s/serial/summon-a-1.log", F.dir);
	write_file(path, "summon-hello: booting\n");
	ck_assert_int_eq(lifecycle_wake(F.lc, "a", LC_SRC_DNS), LC_STARTING);
}

/*
 * Claimed while its pause is out (woken from the event recorded right
 * after the pause was submitted): resumed once the pause is back, with
 * no probe, since the serial log has lost its READY line.
 */
START_TEST(standby_booted_claimed_while_pausing)
{
	struct lc_info info;

	guests_will_boot("a", 1, 1);
	store_set_event_hook(F.store, forget_ready_and_wake, NULL);
	lifecycle_tick(F.lc);
	run_until_events("a", "standby-booted", 1, 5000);
	store_set_event_hook(F.store, NULL, NULL);
	run_until_state("a", LC_READY, 5000);
	ck_assert_int_eq(lifecycle_info(F.lc, "a", &info), 0);
	ck_assert_str_eq(info.domain, "summon-a-1");
	ck_assert_uint_eq(info.boot_failures, 0);
}
END_TEST

/* Claimed before its boot finished: it boots on as the active one. */
START_TEST(standby_booted_claimed_while_booting)
{
	struct lc_info info;

	lifecycle_tick(F.lc);		/* no READY line yet */
	run_for(50);
	lifecycle_wake(F.lc, "a", LC_SRC_DNS);
	ck_assert_int_eq(state_of("a"), LC_STARTING);
	guests_will_boot("a", 1, 1);
	run_until_state("a", LC_READY, 5000);
	ck_assert_int_eq(lifecycle_info(F.lc, "a", &info), 0);
	ck_assert_str_eq(info.domain, "summon-a-1");
	ck_assert_int_eq(events_of("a", "standby-booted"), 0);
}
END_TEST

/*
 * A standby whose guest never gets ready is destroyed at boot-timeout
 * without failing the service, and the next ones come after a back-off
 * that grows.
 */
START_TEST(standby_booted_never_ready_backs_off)
{
	struct lc_info info;
	int i;

	for (i = 1; i <= 3; i++) {
		clock_skew_us += 60 * 1000000ULL;	/* past any back-off */
		lifecycle_tick(F.lc);
		run_until_events("a", "stopped", i, 5000);
	}
	ck_assert_int_eq(events_of("a", "standby-failed"), 3);
	ck_assert_int_eq(state_of("a"), LC_STOPPED);
	ck_assert_int_eq(lifecycle_info(F.lc, "a", &info), 0);
	ck_assert_uint_eq(info.boot_failures, 0);
	ck_assert_uint_eq(info.standby, 0);
	ck_assert_int_eq(live_rows(), 0);
	/*
	 * Within the back-off (500 ms after the third failure), however
	 * slow the machine: the clock goes back 10 s.  No standby is made,
	 * and a wake still boots at once: boots have their own back-off.
	 */
	clock_skew_us -= 10 * 1000000ULL;
	lifecycle_tick(F.lc);
	ck_assert_int_eq(lifecycle_info(F.lc, "a", &info), 0);
	ck_assert_uint_eq(info.standby, 0);
	ck_assert_int_eq(lifecycle_wake(F.lc, "a", LC_SRC_DNS), LC_STARTING);
	clock_skew_us += 70 * 1000000ULL;
	lifecycle_tick(F.lc);
	ck_assert_int_eq(lifecycle_info(F.lc, "a", &info), 0);
	ck_assert_uint_eq(info.standby, 1);
}
END_TEST

/* Reload to a configuration that has service b only. */
static void
reload_without_a(void)
{
	struct lc_reload *r;
	char err[256];

	F.cfg2 = test_config("", "", false);
	r = lifecycle_reload_prepare(F.lc, F.cfg2, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	lifecycle_reload_commit(F.lc, r);
}

/*
 * A service removed by a reload while its instance waits for readiness
 * (its probe reads the configuration) or while its create is out: the
 * instance is stopped, and summond does not crash.
 */
static void
remove_booting_service(int after_ms)
{
	lifecycle_wake(F.lc, "a", LC_SRC_DNS);	/* never prints READY */
	run_for(after_ms);
	ck_assert_int_eq(live_rows(), 1);
	reload_without_a();
	ck_assert_int_eq(state_of("b"), LC_STOPPED);
	run_until_events("a", "stopped", 1, 5000);
	assert_row(1, "stopped", "removed");
	run_for(600);			/* past a's boot-timeout */
	ck_assert_int_eq(events_of("a", "boot-failed"), 0);
}

/*
 * A reload removes a service with a standby: the standby is destroyed,
 * and the tick lets the service go only once that destroy is back (it
 * used to free the service under the destroy: a use-after-free that
 * valgrind and ASan report).
 */
START_TEST(reload_removes_service_with_standby)
{
	lifecycle_tick(F.lc);
	run_until_state("a", LC_STANDBY, 5000);
	reload_without_a();
	lifecycle_tick(F.lc);		/* the destroy is out */
	run_until_events("a", "stopped", 1, 5000);
	lifecycle_tick(F.lc);		/* and back: a goes */
	assert_row(1, "stopped", "removed");
	ck_assert_int_eq(live_rows(), 0);
}
END_TEST

START_TEST(reload_removes_service_while_probing)
{
	remove_booting_service(50);
}
END_TEST

START_TEST(reload_removes_service_while_creating)
{
	remove_booting_service(0);
}
END_TEST

START_TEST(lost_rows_closed_on_start)
{
	char err[256];

	guests_will_boot("a", 1, 1);
	lifecycle_wake(F.lc, "a", LC_SRC_DNS);
	run_until_state("a", LC_READY, 5000);
	/*
	 * The scripted backend forgets its domains when it is closed: the
	 * next lifecycle finds the row but no domain.
	 */
	lifecycle_free(F.lc);
	F.lc = lifecycle_new(F.base, F.cfg, F.store, &vm_script_ops, err,
	    sizeof(err));
	ck_assert_msg(F.lc != NULL, "%s", err);
	assert_row(1, "stopped", "lost");
	ck_assert_int_eq(state_of("a"), LC_STOPPED);
}
END_TEST

/* ---- the standby budget (lc_budget.c) ------------------------------ */

#define NB	12	/* services b0 .. b11 */

/*
 * NB services and f, which has a standby of its own (a floor); the
 * budget is global (standby-budget, standby-memory, half-life).
 */
static struct config *
budget_config(const char *global, int without)
{
	struct config *c;
	char text[8192];
	size_t len;
	int i, n;

	len = (size_t)snprintf(text, sizeof(text),
	    "[summond]\nstate = %s/state.db\nhypervisor = script:///\n"
	    "serial-dir = %s/serial\nmemory-budget = 1G\n%s"
	    "[dns]\nlisten =\n[metrics]\nlisten =\n"
	    "[network]\nmode = user\nuser-ports = 30000-30099\n"
	    "[service \"f\"]\nkernel = /k\naddress = 127.0.0.2\nports = 80\n"
	    "template = /t.xml\nready = serial:READY\nstandby = 1\n",
	    F.dir, F.dir, global);
	for (i = 0; i < NB; i++)
		if (i != without)
			len += (size_t)snprintf(text + len, sizeof(text) - len,
			    "[service \"b%d\"]\nkernel = /k\n"
			    "address = 127.0.1.%d\nports = 80\n"
			    "template = /t.xml\nready = serial:READY\n",
			    i, i + 1);
	c = config_load_string("test.conf", text, stderr, &n);
	ck_assert_ptr_nonnull(c);
	return c;
}

static void
setup_budget_with(const char *global)
{
	make_dir();
	F.cfg = budget_config(global, -1);
	start();
}

static void
setup_budget(void)
{
	setup_budget_with("standby-budget = 3\nstandby-half-life = 20\n");
}

static void
setup_budget_memory(void)
{
	/* Room for two 32 MiB standbys, whatever the count allows. */
	setup_budget_with("standby-budget = 10\nstandby-memory = 64M\n");
}

static const char *
bname(int i)
{
	static char name[8];

	snprintf(name, sizeof(name), "b%d", i);
	return name;
}

/* A wake of svc that brings it up, then a reap: it is down again. */
static void
wake_once(const char *svc)
{
	lifecycle_wake(F.lc, svc, LC_SRC_DNS);
	lifecycle_stop(F.lc, svc, "manual");
	while (state_of(svc) == LC_STARTING || state_of(svc) == LC_STOPPING)
		event_base_loop(F.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

/* Let the budget settle: ticks, time past the residence, loop turns. */
static void
settle(int ticks)
{
	int i, j;

	for (i = 0; i < ticks; i++) {
		clock_skew_us += 11 * 1000000ULL;	/* past MIN_RESIDENCE */
		lifecycle_tick(F.lc);
		for (j = 0; j < 5; j++)
			event_base_loop(F.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	}
}

static unsigned
budget_of(const char *svc)
{
	struct lc_info info;

	ck_assert_int_eq(lifecycle_info(F.lc, svc, &info), 0);
	return info.budget_standbys;
}

static unsigned
budget_total(void)
{
	unsigned n = budget_of("f");
	int i;

	for (i = 0; i < NB; i++)
		n += budget_of(bname(i));
	return n;
}

/* The budget's standbys sit on the hot set, then follow it when it moves. */
START_TEST(budget_follows_the_workload)
{
	int round, i;

	for (round = 0; round < 6; round++)
		for (i = 0; i < 3; i++)
			wake_once(bname(i));
	wake_once(bname(7));		/* once: colder than b0-b2 */
	settle(8);
	for (i = 0; i < 3; i++)
		ck_assert_uint_eq(budget_of(bname(i)), 1);
	ck_assert_uint_eq(budget_total(), 3);
	ck_assert_uint_eq(budget_of("f"), 0);	/* its floor is its own */
	/* The hot set moves to b9-b11 (claiming b0-b2's standbys once). */
	for (round = 0; round < 10; round++)
		for (i = 9; i < 12; i++)
			wake_once(bname(i));
	settle(12);
	for (i = 9; i < 12; i++)
		ck_assert_msg(budget_of(bname(i)) == 1, "%s has no standby",
		    bname(i));
	ck_assert_uint_eq(budget_total(), 3);
	ck_assert_int_ge(events_of("b9", "budget"), 1);
}
END_TEST

/* A claimed budget standby is made again for the next service ranked. */
START_TEST(budget_refills_after_a_claim)
{
	struct lc_info info;
	char path[256];
	int round, i;

	for (round = 0; round < 4; round++)
		for (i = 0; i < 4; i++)
			wake_once(bname(i));
	for (i = 0; i < 3; i++)		/* b0-b2 rank over b3 */
		wake_once(bname(i));
	settle(6);
	ck_assert_uint_eq(budget_of(bname(3)), 0);
	/* A wake of b0 takes its standby: b0 runs, b3 gets one. */
	lifecycle_wake(F.lc, "b0", LC_SRC_DNS);
	ck_assert_int_eq(lifecycle_info(F.lc, "b0", &info), 0);
	ck_assert_uint_eq(info.served[LC_BY_STANDBY], 1);
	ck_assert_uint_eq(info.budget_standbys, 0);
	snprintf(path, sizeof(path), "%s/serial/%s.log", F.dir, info.domain);
	write_file(path, "READY\n");
	run_until_state("b0", LC_READY, 5000);	/* no move while it boots */
	settle(3);
	ck_assert_uint_eq(budget_of(bname(3)), 1);
	ck_assert_uint_eq(budget_total(), 3);
}
END_TEST

/*
 * A reload removes a service the budget has ranked (and given a
 * standby): it goes, and the budget goes on with the others.
 */
START_TEST(budget_forgets_a_removed_service)
{
	struct lc_reload *r;
	char err[256];
	int round, i;

	for (round = 0; round < 4; round++)
		for (i = 0; i < 3; i++)
			wake_once(bname(i));
	settle(6);
	ck_assert_uint_eq(budget_of("b1"), 1);
	F.cfg2 = budget_config("standby-budget = 3\nstandby-half-life = 20\n",
	    1);
	r = lifecycle_reload_prepare(F.lc, F.cfg2, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	lifecycle_reload_commit(F.lc, r);
	settle(6);			/* b1's standby goes, then b1 */
	ck_assert_ptr_null(lc_find(F.lc, "b1"));
	for (round = 0; round < 4; round++)
		wake_once(bname(5));
	settle(6);
	ck_assert_uint_eq(budget_of("b5"), 1);
	ck_assert_uint_eq(budget_of("b0") + budget_of("b2") + budget_of("b5"),
	    3);
}
END_TEST

/* One-off wakes of many services do not move the standbys around. */
START_TEST(budget_does_not_churn_under_a_scan)
{
	int round, i, moves;

	for (round = 0; round < 8; round++)
		for (i = 0; i < 3; i++)
			wake_once(bname(i));
	settle(6);
	moves = events_of("b0", "budget") + events_of("b1", "budget") +
	    events_of("b2", "budget");
	/* A scan: each other service once, the budget ticking all along. */
	for (i = 3; i < NB; i++) {
		wake_once(bname(i));
		settle(1);
	}
	for (i = 0; i < 3; i++)
		ck_assert_uint_eq(budget_of(bname(i)), 1);
	ck_assert_int_eq(events_of("b0", "budget") + events_of("b1",
	    "budget") + events_of("b2", "budget"), moves);
	ck_assert_uint_eq(budget_total(), 3);
}
END_TEST

/* standby-memory caps the budget too. */
START_TEST(budget_respects_its_memory)
{
	int round, i;

	for (round = 0; round < 3; round++)
		for (i = 0; i < 6; i++)
			wake_once(bname(i));
	settle(10);
	ck_assert_uint_eq(budget_total(), 2);
}
END_TEST

/* ---- the state table, cell by cell (lc_fsm.c) ---------------------- */

/*
 * For each event, three services: aN boots on demand, sN keeps one
 * standby created paused, wN one booted to ready, then paused.  A test
 * takes one state, brings the instance of each event's service there,
 * then fires each its event.  The scripted backend is in manual mode and
 * the loop never runs: every job waits for the test, no timer fires,
 * and each cell is reached and fired the same way every time.
 */
static void
setup_table(void)
{
	char text[16384];
	size_t len;
	int i, n;

	make_dir();
	len = (size_t)snprintf(text, sizeof(text),
	    "[summond]\nstate = %s/state.db\nhypervisor = script:///\n"
	    "serial-dir = %s/serial\nmax-instances = 1000\n"
	    "memory-budget = 100G\n[dns]\nlisten =\n[metrics]\nlisten =\n"
	    "[network]\nmode = user\nuser-ports = 30000-30999\n", F.dir,
	    F.dir);
	for (i = 0; i < 3 * LC_NEVENTS; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
		    "[service \"%c%d\"]\nkernel = /k\naddress = 127.0.1.%d\n"
		    "ports = 80\ntemplate = /t.xml\nready = serial:READY\n"
		    "boot-timeout = 60s\nidle-timeout = 1h\n%s",
		    "asw"[i / LC_NEVENTS], i % LC_NEVENTS, i + 1,
		    i / LC_NEVENTS == 0 ? "" : i / LC_NEVENTS == 1 ?
		    "standby = 1\n" : "standby = 1\nstandby-booted = yes\n");
	F.cfg = config_load_string("test.conf", text, stderr, &n);
	ck_assert_ptr_nonnull(F.cfg);
	start();
	vm_script_manual(vm_script_last(), true);
}

/* How the table test reaches each state: from a state, by an event. */
static const struct {
	enum lc_istate	 from;		/* IS_NONE: made by wake or tick */
	enum lc_event	 ev;
	char		 kind;		/* its service: a, s or w (above) */
} path[LC_NISTATES] = {
	[IS_CREATING] = { IS_NONE, LE_WAKE, 'a' },
	[IS_PROBING] = { IS_CREATING, LE_OK, 'a' },
	[IS_READY] = { IS_PROBING, LE_READY, 'a' },
	[IS_SUSPENDING] = { IS_READY, LE_REAP_SUSPEND, 'a' },
	[IS_SUSPENDING_W] = { IS_SUSPENDING, LE_WAKE, 'a' },
	[IS_SAVING] = { IS_READY, LE_REAP_SAVE, 'a' },
	[IS_SAVING_W] = { IS_SAVING, LE_WAKE, 'a' },
	[IS_SUSPENDED] = { IS_SUSPENDING, LE_OK, 'a' },
	[IS_SAVED] = { IS_SAVING, LE_OK, 'a' },
	[IS_RESUMING_WARM] = { IS_SUSPENDED, LE_WAKE, 'a' },
	[IS_STOPPING] = { IS_READY, LE_STOP, 'a' },
	[IS_STOPPING_W] = { IS_STOPPING, LE_WAKE, 'a' },
	[IS_STOP_FAILED] = { IS_STOPPING, LE_FAIL_RUNS, 'a' },
	[IS_STOP_FAILED_W] = { IS_STOP_FAILED, LE_WAKE, 'a' },
	[IS_CANCELLED] = { IS_CREATING, LE_STOP, 'a' },
	[IS_CANCELLED_W] = { IS_CANCELLED, LE_WAKE, 'a' },
	[SB_CREATING] = { IS_NONE, LE_RETRY, 's' },	/* the tick */
	[SB_COLD] = { SB_CREATING, LE_OK, 's' },
	[IS_CREATING_PAUSED] = { SB_CREATING, LE_WAKE, 's' },
	[IS_RESUMING] = { SB_COLD, LE_WAKE, 's' },
	[SB_BOOTING] = { IS_NONE, LE_RETRY, 'w' },	/* the tick */
	[SB_PROBING] = { SB_BOOTING, LE_OK, 'w' },
	[SB_PAUSING] = { SB_PROBING, LE_READY, 'w' },
	[SB_WARM] = { SB_PAUSING, LE_OK, 'w' },
	[IS_PAUSING_CLAIMED] = { SB_PAUSING, LE_WAKE, 'w' },
};

/* The instance of svc in the test: its active one, else its standby. */
static struct instance *
instance_of(const char *svc)
{
	struct lc_service *s = lc_find(F.lc, svc);

	ck_assert_ptr_nonnull(s);
	return s->active != NULL ? s->active : TAILQ_FIRST(&s->standby);
}

/*
 * Deliver ev to in the way it comes in summond: a wake through
 * lifecycle_wake(), a job's result through the backend (the domain put
 * in the state the result says), a crash as a libvirt event, a lost
 * domain through a reconnect; what a timer or the tick would fire,
 * directly.
 */
static void
deliver(struct instance *in, enum lc_event ev)
{
	struct vm *vm = vm_script_last();
	struct vm_job *job = vm_script_job(vm, in->domain);
	char domain[128];

	snprintf(domain, sizeof(domain), "%s", in->domain);
	switch (ev) {
	case LE_WAKE:
		lifecycle_wake(F.lc, in->svc->name, LC_SRC_DNS);
		return;
	case LE_OK:
	case LE_FAIL:
	case LE_FAIL_RUNS:
	case LE_FAIL_STAYS:
		if (job == NULL)
			break;		/* none out: the table ignores it */
		if (ev != LE_OK)
			vm_script_set_state(vm, domain, ev == LE_FAIL ?
			    VM_DS_NONE : ev == LE_FAIL_RUNS ? VM_DS_RUNNING :
			    VM_DS_PAUSED);
		vm_script_finish(vm, job, ev == LE_OK ? 0 : -1,
		    "scripted failure");
		return;
	case LE_CRASH:
		vm_script_event(vm, domain, VM_EV_CRASHED, 0);
		return;
	case LE_LOST:
		vm_script_lose(vm, domain);
		vm_script_disconnect(vm);
		vm_script_reconnect(vm);
		vm_script_finish_host_jobs(vm);	/* lc_resync() */
		return;
	default:
		break;
	}
	lc_fire(in, ev, ev == LE_STOP ? "removed" : ev == LE_REAP ||
	    ev == LE_REAP_SUSPEND || ev == LE_REAP_SAVE ? "manual" : NULL);
}

/* Bring the instance of the service of kind and number k into st. */
static struct instance *
reach(enum lc_istate st, int k)
{
	struct instance *in;
	char svc[16];

	snprintf(svc, sizeof(svc), "%c%d", path[st].kind, k);
	if (path[st].from == IS_NONE) {
		if (path[st].ev == LE_WAKE)
			lifecycle_wake(F.lc, svc, LC_SRC_DNS);
		else
			lifecycle_tick(F.lc);
	} else {
		in = reach(path[st].from, k);
		deliver(in, path[st].ev);
	}
	in = instance_of(svc);
	ck_assert_msg(in != NULL && in->state == st, "reaching %s: %s",
	    lc_istate_name(st), in != NULL ? lc_istate_name(in->state) :
	    "no instance");
	return in;
}

/* Every job the backend was given so far. */
static unsigned
jobs_submitted(void)
{
	unsigned n = 0;
	int op;

	for (op = VM_CREATE; op <= VM_STATE; op++)
		n += vm_script_count(vm_script_last(), (enum vm_op)op);
	return n;
}

/* The op a transition's steps submit, or -1 for none. */
static int
step_op(unsigned steps, enum lc_istate next)
{
	if (steps & S_CREATE)
		return next == SB_CREATING ? VM_CREATE_PAUSED : VM_CREATE;
	if (steps & S_RESUME)
		return VM_RESUME;
	if (steps & S_RESTORE)
		return VM_RESTORE;
	if (steps & S_SUSPEND)
		return VM_SUSPEND;
	if (steps & S_SAVE)
		return VM_SAVE;
	if (steps & (S_STOP | S_DESTROY))
		return VM_DESTROY;	/* stop-mode destroy */
	return -1;
}

/* What each recording step writes to the event log. */
static const struct {
	unsigned	 step;
	const char	*kind;
} records[] = {
	{ S_BOOT, "boot" }, { S_REC_FAILED, "boot-failed" },
	{ S_REC_SBY_FAILED, "standby-failed" }, { S_REC_CRASH, "crash" },
	{ S_REC_LOST, "lost" }, { S_REC_BOOTED, "standby-booted" },
	{ S_REC_STOP, "stop" }, { S_READY, "ready" }, { S_GONE, "stopped" },
	{ S_SUSPENDED, "suspended" },
};
#define NRECORDS	(sizeof(records) / sizeof(records[0]))

static bool
in_pool(const struct instance *in)
{
	const struct instance *o;

	TAILQ_FOREACH(o, &in->svc->standby, sby)
		if (o == in)
			return true;
	return false;
}

static const char *
row_state(int64_t id)
{
	static struct store_instance r;

	ck_assert_int_eq(store_instance_get(F.store, id, &r), 0);
	return r.state;
}

/*
 * One cell: fire ev at in, which is in state st, and check that the
 * instance is where the table says, with the job, the records, the row,
 * the pool and the waiters its steps mean.
 */
static void
check_cell(enum lc_istate st, enum lc_event ev, struct instance *in)
{
	const struct lc_transition *t = &lc_fsm[st][ev];
	const char *cell = lc_istate_name(st), *evn = lc_event_name(ev);
	struct outcome o = { 0, 0 };
	struct lc_waiter *w;
	struct instance *now;
	int before[NRECORDS], want, op;
	unsigned jobs;
	size_t i;
	int64_t id;
	char svc[64], domain[128];

	ck_assert_msg(t->next != IS_NONE, "%s x %s: no cell", cell, evn);
	ck_assert_msg(t->why != NULL || t->steps != 0 || t->next != IS_SAME,
	    "%s x %s: ignored without a reason", cell, evn);
	id = in->id;
	snprintf(svc, sizeof(svc), "%s", in->svc->name);
	snprintf(domain, sizeof(domain), "%s", in->domain);
	for (i = 0; i < NRECORDS; i++)
		before[i] = events_of(svc, records[i].kind) +
		    (records[i].step == S_SUSPENDED ? events_of(svc, "saved") :
		    0);
	jobs = jobs_submitted();
	w = lifecycle_wait(F.lc, svc, note_outcome, &o);

	deliver(in, ev);

	/* Where it is now. */
	TAILQ_FOREACH(now, &F.lc->instances, live)
		if (now->id == id)
			break;
	if (t->next == IS_GONE) {
		ck_assert_msg(now == NULL, "%s x %s: not gone", cell, evn);
		ck_assert_str_eq(row_state(id), "stopped");
	} else {
		ck_assert_msg(now != NULL, "%s x %s: gone", cell, evn);
		ck_assert_msg(now->state == (t->next == IS_SAME ? st :
		    t->next), "%s x %s: in %s, the table says %s", cell, evn,
		    lc_istate_name(now->state), lc_istate_name(t->next));
		/* A standby is in its pool; a claimed one is the active. */
		ck_assert_int_eq(lc_istate_standby(now->state),
		    in_pool(now));
		if (t->steps & S_CLAIM)
			ck_assert_ptr_eq(now->svc->active, now);
		if (t->steps & S_ROW)
			ck_assert_str_eq(row_state(id), lifecycle_state_name(
			    lc_istate_public(now->state)));
		/*
		 * What every state means, whatever the cell: a job out
		 * exactly when the state says so, a probe while probing,
		 * a boot deadline while starting.
		 */
		ck_assert_msg(lc_istate_busy(now->state) ==
		    (vm_script_job(vm_script_last(), domain) != NULL),
		    "%s x %s: %s with%s a job out", cell, evn,
		    lc_istate_name(now->state), lc_istate_busy(now->state) ?
		    "out" : "");
		ck_assert_msg((now->probe != NULL) ==
		    (now->state == IS_PROBING || now->state == SB_PROBING),
		    "%s x %s: %s with%s a probe", cell, evn,
		    lc_istate_name(now->state), now->probe ? "" : "out");
		ck_assert_msg(evtimer_pending(now->deadline, NULL) ==
		    (lc_istate_public(now->state) == LC_STARTING ||
		    now->state == SB_PROBING), "%s x %s: %s with%s a deadline",
		    cell, evn, lc_istate_name(now->state),
		    evtimer_pending(now->deadline, NULL) ? "" : "out");
	}
	/* The job its steps submit, and no other. */
	op = step_op(t->steps, t->next);
	if (op == -1 && !(t->steps & S_REBOOT))
		ck_assert_msg(jobs_submitted() == jobs, "%s x %s: a job was "
		    "submitted", cell, evn);
	else if (op != -1) {
		ck_assert_uint_eq(jobs_submitted(), jobs + 1);
		ck_assert_ptr_nonnull(vm_script_job(vm_script_last(), domain));
		ck_assert_int_eq(vm_script_job(vm_script_last(), domain)->op,
		    op);
	}
	/* The records its steps write, and no others. */
	for (i = 0; i < NRECORDS; i++) {
		if (records[i].step == S_BOOT && (t->steps & S_REBOOT))
			continue;	/* the new boot records its own */
		want = before[i] + ((t->steps & records[i].step) ? 1 : 0);
		ck_assert_msg(events_of(svc, records[i].kind) +
		    (records[i].step == S_SUSPENDED ? events_of(svc,
		    "saved") : 0) == want, "%s x %s: %s records", cell, evn,
		    records[i].kind);
	}
	/* Waiters: told ready, told no boot is coming, or still waiting. */
	if (w != NULL) {
		if (t->steps & S_READY)
			ck_assert(o.ok == 1 && o.failed == 0);
		else if (t->steps & (S_FAIL | S_NOTIFY_FAIL))
			ck_assert_msg(o.ok == 0 && o.failed == 1, "%s x %s: "
			    "waiters not told", cell, evn);
		else
			ck_assert_msg(o.ok == 0 && o.failed == 0, "%s x %s: "
			    "waiters told", cell, evn);
		/* One still waiting waits for something that will come. */
		if (o.ok + o.failed == 0) {
			struct lc_service *sv = lc_find(F.lc, svc);
			ck_assert_msg(sv->active != NULL &&
			    (lc_istate_public(sv->active->state) ==
			    LC_STARTING || lc_istate_woken(sv->active->state)),
			    "%s x %s: a waiter waits for nothing", cell, evn);
			lifecycle_wait_cancel(F.lc, w);
		}
	}
	/* A wake that waited on a stop boots again once it is gone. */
	if (t->steps & S_REBOOT)
		ck_assert_ptr_nonnull(lc_find(F.lc, svc)->active);
}

/*
 * One state's row: the instance of each event's service brought into
 * it, then each fired its event (lost last: a reconnect looks at every
 * domain).
 */
START_TEST(table_row)
{
	enum lc_istate st = (enum lc_istate)(1 + _i);
	struct instance *in[LC_NEVENTS];
	int ev;

	for (ev = 0; ev < LC_NEVENTS; ev++)
		in[ev] = reach(st, ev);
	for (ev = 0; ev < LC_NEVENTS; ev++)
		check_cell(st, (enum lc_event)ev, in[ev]);
}
END_TEST

/*
 * The table as docs/architecture.md shows it: per state, its public
 * name and what it holds, each event that moves it (-> next: steps;
 * why), then the events it ignores and why.
 */
static void
render_table(FILE *f)
{
	const struct lc_transition *t;
	int st, ev, n;
	unsigned b;

	for (st = IS_NONE + 1; st < LC_NISTATES; st++) {
		fprintf(f, "**%s** (%s%s%s%s)\n", lc_istate_name(st),
		    lifecycle_state_name(lc_istate_public(st)),
		    lc_istate_busy(st) ? ", a job out" : "",
		    lc_istate_standby(st) ? ", in the pool" : "",
		    lc_istate_woken(st) ? ", a wake waiting" : "");
		for (ev = 0; ev < LC_NEVENTS; ev++) {
			t = &lc_fsm[st][ev];
			if (t->next == IS_SAME && t->steps == 0)
				continue;
			fprintf(f, "- %s -> %s:", lc_event_name(ev),
			    lc_istate_name(t->next));
			for (b = 0, n = 0; b < LC_NSTEPS; b++)
				if (t->steps & (1u << b))
					fprintf(f, "%s %s", n++ ? "," : "",
					    lc_step_name(1u << b));
			fprintf(f, "%s%s\n", t->why != NULL ? "; " : "",
			    t->why != NULL ? t->why : "");
		}
		for (ev = 0, n = 0; ev < LC_NEVENTS; ev++) {
			t = &lc_fsm[st][ev];
			if (t->next != IS_SAME || t->steps != 0)
				continue;
			fprintf(f, "%s%s (%s)", n++ ? "; " : "- ignored: ",
			    lc_event_name(ev), t->why);
		}
		fprintf(f, "%s\n", n > 0 ? "\n" : "");
	}
}

/* docs/architecture.md shows the table the code has. */
START_TEST(table_documented)
{
	const char *begin = "<!-- state table: begin -->\n";
	const char *end = "<!-- state table: end -->";
	char *doc = NULL, *want = NULL, *b, *e;
	size_t doclen = 0, wantlen = 0;
	FILE *f;

	ck_assert_ptr_nonnull(f = open_memstream(&want, &wantlen));
	render_table(f);
	fclose(f);
	ck_assert_ptr_nonnull(f = fopen(SRCDIR "/docs/architecture.md", "r"));
	ck_assert(getdelim(&doc, &doclen, '\0', f) > 0);
	fclose(f);
	ck_assert_msg((b = strstr(doc, begin)) != NULL &&
	    (e = strstr(b, end)) != NULL, "docs/architecture.md has no "
	    "state table markers");
	b += strlen(begin);
	*e = '\0';
	if (strcmp(b, want) != 0) {
		/* The table to paste, for whoever changed lc_fsm.c. */
		if ((f = fopen("lifecycle-table.md", "w")) != NULL) {
			fputs(want, f);
			fclose(f);
		}
		ck_abort_msg("docs/architecture.md's state table differs from "
		    "lc_fsm[] (the code's is in lifecycle-table.md, in the "
		    "test's directory)");
	}
	free(doc);
	free(want);
}
END_TEST


/*
 * Three hosts: east (two instances at most) and west, up; north, down at
 * start.  Service c may run on north only, d on east only; s keeps two
 * standbys.
 */
static struct config *
hosts_config(const char *west_net)
{
	struct config *c;
	char text[4096];
	size_t len;
	int n;

	len = (size_t)snprintf(text, sizeof(text),
	    "[summond]\nstate = %s/state.db\nserial-dir = %s/serial\n"
	    "memory-budget = 100G\nmax-instances = 100\n"
	    "[dns]\nlisten =\n[metrics]\nlisten =\n[network]\ncreate = no\n"
	    "[host \"east\"]\nuri = script:///east\n"
	    "gateway = 10.98.1.1/24\npool = 10.98.1.10-10.98.1.20\n"
	    "max-instances = 2\n"
	    "[host \"west\"]\nuri = script:///west\n"
	    "gateway = 10.98.2.1/24\npool = 10.98.2.10-10.98.2.20\n"
	    "create = yes\nnetwork = %s\n"
	    "[host \"north\"]\nuri = script:///down-north\n"
	    "gateway = 10.98.3.1/24\npool = 10.98.3.10-10.98.3.20\n",
	    F.dir, F.dir, west_net);
	len += (size_t)snprintf(text + len, sizeof(text) - len,
	    "[service \"a\"]\nkernel = /k\naddress = 127.0.0.2\nports = 80\n"
	    "template = %s/test.xml\nready = serial:READY\n"
	    "[service \"b\"]\nkernel = /k\naddress = 127.0.0.3\nports = 80\n"
	    "template = %s/test.xml\nready = serial:READY\n"
	    "[service \"c\"]\nkernel = /k\naddress = 127.0.0.4\nports = 80\n"
	    "template = %s/test.xml\nready = serial:READY\nhosts = north\n"
	    "boot-timeout = 60s\n"
	    "[service \"d\"]\nkernel = /k\naddress = 127.0.0.5\nports = 80\n"
	    "template = %s/test.xml\nready = serial:READY\nhosts = east\n"
	    "[service \"s\"]\nkernel = /k\naddress = 127.0.0.6\nports = 80\n"
	    "template = %s/test.xml\nready = serial:READY\nstandby = 2\n",
	    F.dir, F.dir, F.dir, F.dir, F.dir);
	c = config_load_string("test.conf", text, stderr, &n);
	ck_assert_ptr_nonnull(c);
	return c;
}

static void
setup_hosts(void)
{
	make_dir();
	F.cfg = hosts_config("west-a");
	start();
}

static struct vm *
host_vm(const char *name)
{
	char uri[64];

	snprintf(uri, sizeof(uri), "script:///%s%s",
	    strcmp(name, "north") == 0 ? "down-" : "", name);
	ck_assert_ptr_nonnull(vm_script_find(uri));
	return vm_script_find(uri);
}

/* The host of svc's active instance ("" none). */
static const char *
host_of(const char *svc)
{
	struct lc_info info;

	ck_assert_int_eq(lifecycle_info(F.lc, svc, &info), 0);
	return info.host != NULL ? info.host : "";
}

static bool
host_up(const char *name)
{
	struct lc_host_info hi;
	size_t i;

	for (i = 0; lifecycle_host_info(F.lc, i, &hi) == 0; i++)
		if (strcmp(hi.name, name) == 0)
			return hi.up;
	ck_abort_msg("no host %s", name);
	return false;
}

/* Each host's free memory as libvirt would say, asked for by a tick. */
static void
hosts_free(uint64_t east, uint64_t west)
{
	vm_script_set_free_memory(host_vm("east"), east);
	vm_script_set_free_memory(host_vm("west"), west);
	lifecycle_tick(F.lc);
	run_for(20);
}

/* Boot svc and check it runs on host; its domain's name into domain. */
static void
boot_on(const char *svc, const char *host, char domain[128])
{
	struct lc_info info;

	guests_will_boot(svc, 1, 40);
	lifecycle_wake(F.lc, svc, LC_SRC_CTL);
	run_until_state(svc, LC_READY, 5000);
	ck_assert_str_eq(host_of(svc), host);
	ck_assert_int_eq(lifecycle_info(F.lc, svc, &info), 0);
	snprintf(domain, 128, "%s", info.domain);
}

START_TEST(hosts_placement)
{
	struct lc_host_info hi;
	struct lc_info info;
	struct instance *in;
	bool east = false, west = false;
	char dom[128];

	ck_assert_uint_eq(lifecycle_nhosts(F.lc), 3);
	ck_assert(host_up("east") && host_up("west") && !host_up("north"));
	ck_assert_int_eq(lifecycle_host_info(F.lc, 2, &hi), 0);
	ck_assert_str_eq(hi.uri, "script:///down-north");
	ck_assert_int_eq(lifecycle_host_info(F.lc, 3, &hi), -1);

	/* The most free memory, as libvirt says. */
	hosts_free(1ULL << 30, 4ULL << 30);
	ck_assert_int_eq(lifecycle_host_info(F.lc, 1, &hi), 0);
	ck_assert_uint_eq(hi.free_memory, 4ULL << 30);
	boot_on("a", "west", dom);
	ck_assert_int_eq(lifecycle_info(F.lc, "a", &info), 0);
	ck_assert(strncmp(info.guest_address, "10.98.2.", 8) == 0);
	hosts_free(8ULL << 30, 4ULL << 30);
	boot_on("b", "east", dom);
	/* s's two standbys (the first tick's), one a host, none on north. */
	TAILQ_FOREACH(in, &lc_find(F.lc, "s")->standby, sby) {
		east |= strcmp(in->host->conf->name, "east") == 0;
		west |= strcmp(in->host->conf->name, "west") == 0;
	}
	ck_assert_uint_eq(lc_find(F.lc, "s")->nstandby, 2);
	ck_assert(east && west);
	/* east is full (b, a standby): d, pinned to it, evicts idle b. */
	ck_assert_int_eq(lifecycle_host_info(F.lc, 0, &hi), 0);
	ck_assert_uint_eq(hi.instances, 2);
	boot_on("d", "east", dom);
	ck_assert_int_ne(state_of("b"), LC_READY);
	ck_assert_int_eq(events_of("b", "stop"), 1);

	/* c may run on north only: its create waits for north. */
	guests_will_boot("c", 1, 10);
	ck_assert_int_eq(lifecycle_wake(F.lc, "c", LC_SRC_CTL), LC_STARTING);
	run_for(50);
	ck_assert_int_eq(state_of("c"), LC_STARTING);
	ck_assert_str_eq(host_of("c"), "north");
	vm_script_reconnect(host_vm("north"));
	run_until_state("c", LC_READY, 5000);
	ck_assert(host_up("north"));
	ck_assert_int_eq(lifecycle_info(F.lc, "c", &info), 0);
	ck_assert(strncmp(info.guest_address, "10.98.3.", 8) == 0);
}
END_TEST

/* Before libvirt has said how much memory is free: the least used. */
START_TEST(hosts_spread_before_asked)
{
	char dom[128];

	boot_on("a", "east", dom);
	boot_on("b", "west", dom);
}
END_TEST

/* A host goes: its instances are lost, the next wake boots elsewhere. */
START_TEST(hosts_down_then_back)
{
	struct vm *west = host_vm("west");
	struct store_instance r;
	struct lc_info info;
	char dom[128], dom2[128];

	hosts_free(1ULL << 30, 4ULL << 30);
	boot_on("a", "west", dom);
	ck_assert_int_eq(lifecycle_info(F.lc, "a", &info), 0);
	vm_script_disconnect(west);
	ck_assert(!host_up("west"));
	ck_assert_int_eq(state_of("a"), LC_STOPPED);
	ck_assert_int_eq(events_of("a", "lost"), 1);
	ck_assert_int_eq(store_instance_get(F.store, atoi(strrchr(dom, '-') +
	    1), &r), 0);
	ck_assert_str_eq(r.stop_reason, "lost");
	ck_assert_str_eq(r.host, "west");

	/* Served by east meanwhile; the domain on west runs on. */
	boot_on("a", "east", dom2);
	ck_assert_int_eq(vm_script_state(west, dom), VM_DS_RUNNING);

	/* west is back: a is served by east, so its old domain goes. */
	vm_script_reconnect(west);
	run_for(50);
	ck_assert(host_up("west"));
	ck_assert_int_eq(vm_script_state(west, dom), VM_DS_NONE);
	ck_assert_int_eq(events_of("a", "orphan"), 1);
	ck_assert_str_eq(host_of("a"), "east");
	ck_assert_int_eq(live_rows(), 1 + (int)lc_find(F.lc, "s")->nstandby);
}
END_TEST

/*
 * A reload while a host's listing is out on a worker thread with that
 * host's network: the job keeps the network it went with (the reload
 * once freed its names under it).
 */
START_TEST(hosts_reload_while_listing)
{
	struct vm *west = host_vm("west");
	struct lc_reload *r;
	char err[256];

	vm_script_disconnect(west);
	vm_script_manual(west, true);
	vm_script_reconnect(west);
	run_for(20);
	ck_assert(!host_up("west"));
	F.cfg2 = hosts_config("west-b");
	r = lifecycle_reload_prepare(F.lc, F.cfg2, err, sizeof(err));
	ck_assert_msg(r != NULL, "%s", err);
	lifecycle_reload_commit(F.lc, r);
	ck_assert_uint_ge(vm_script_finish_host_jobs(west), 1);
	run_for(20);
	ck_assert_str_eq(vm_script_listed_network(west), "west-a");
	ck_assert(host_up("west"));
}
END_TEST

/* A host back with the domain of a lost instance running: adopted. */
START_TEST(hosts_back_revives)
{
	struct vm *west = host_vm("west");
	struct store_instance r;
	char dom[128];

	hosts_free(1ULL << 30, 4ULL << 30);
	boot_on("a", "west", dom);
	vm_script_disconnect(west);
	ck_assert_int_eq(state_of("a"), LC_STOPPED);
	vm_script_reconnect(west);
	run_until_state("a", LC_READY, 5000);
	ck_assert_str_eq(host_of("a"), "west");
	ck_assert_int_eq(events_of("a", "revived"), 1);
	ck_assert_int_eq(store_instance_get(F.store, atoi(strrchr(dom, '-') +
	    1), &r), 0);
	ck_assert_int_eq(r.stopped_ms, 0);
	ck_assert_str_eq(r.state, "ready");
	ck_assert_int_eq(vm_script_state(west, dom), VM_DS_RUNNING);
	/* It is the instance again: a reap destroys it. */
	ck_assert_int_eq(lifecycle_stop(F.lc, "a", "manual"), 0);
	run_until_state("a", LC_STOPPED, 5000);
	ck_assert_int_eq(vm_script_state(west, dom), VM_DS_NONE);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("lifecycle");
	TCase *tc;

	tc = tcase_create("basic");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, boot_to_ready);
	tcase_add_test(tc, single_flight);
	tcase_add_test(tc, reap_destroy);
	tcase_add_test(tc, keepalive_connection_blocks_reap);
	tcase_add_test(tc, wake_during_stopping);
	tcase_add_test(tc, boot_timeout_and_backoff);
	tcase_add_test(tc, lost_rows_closed_on_start);
	tcase_add_test(tc, reload_removes_service_while_probing);
	tcase_add_test(tc, reload_removes_service_while_creating);
	suite_add_tcase(s, tc);

	tc = tcase_create("suspend");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup_suspend, teardown);
	tcase_add_test(tc, reap_suspend_then_resume);
	suite_add_tcase(s, tc);

	tc = tcase_create("save");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup_save, teardown);
	tcase_add_test(tc, reap_save_then_restore);
	suite_add_tcase(s, tc);

	tc = tcase_create("shutdown");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup_shutdown, teardown);
	tcase_add_test(tc, reap_shutdown);
	suite_add_tcase(s, tc);

	tc = tcase_create("standby");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup_standby, teardown);
	tcase_add_test(tc, standby_makes_wake_a_resume);
	tcase_add_test(tc, reload_removes_service_with_standby);
	suite_add_tcase(s, tc);

	tc = tcase_create("standby-booted");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup_standby_booted, teardown);
	tcase_add_test(tc, standby_booted_is_ready_on_resume);
	tcase_add_test(tc, standby_booted_claimed_while_booting);
	tcase_add_test(tc, standby_booted_claimed_while_pausing);
	tcase_add_test(tc, standby_booted_never_ready_backs_off);
	suite_add_tcase(s, tc);

	tc = tcase_create("capacity");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup_max1, teardown);
	tcase_add_test(tc, evicts_least_recently_used);
	tcase_add_test(tc, no_room_fails_clearly);
	suite_add_tcase(s, tc);

	tc = tcase_create("budget");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup_budget, teardown);
	tcase_add_test(tc, budget_follows_the_workload);
	tcase_add_test(tc, budget_refills_after_a_claim);
	tcase_add_test(tc, budget_forgets_a_removed_service);
	tcase_add_test(tc, budget_does_not_churn_under_a_scan);
	suite_add_tcase(s, tc);
	tc = tcase_create("budget-memory");
	tcase_add_checked_fixture(tc, setup_budget_memory, teardown);
	tcase_add_test(tc, budget_respects_its_memory);
	suite_add_tcase(s, tc);

	tc = tcase_create("hosts");
	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup_hosts, teardown);
	tcase_add_test(tc, hosts_placement);
	tcase_add_test(tc, hosts_spread_before_asked);
	tcase_add_test(tc, hosts_down_then_back);
	tcase_add_test(tc, hosts_back_revives);
	tcase_add_test(tc, hosts_reload_while_listing);
	suite_add_tcase(s, tc);

	/* One test a row of the state table: a state, every event. */
	tc = tcase_create("table");
	tcase_add_checked_fixture(tc, setup_table, teardown);
	tcase_add_loop_test(tc, table_row, 0, LC_NISTATES - 1);
	suite_add_tcase(s, tc);
	tc = tcase_create("table-doc");
	tcase_add_test(tc, table_documented);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
