/*
 * lc_fsm.c - an instance's life as one table: (state, event) -> next
 * state and the steps that go with it.
 *
 * Every pair has a cell, and a cell that changes nothing says why.
 * lc_fire() is the only way an instance moves; the steps, each a small
 * function below, run in one fixed order.  docs/architecture.md shows
 * the same table, and tests/test_lifecycle.c checks that the two agree
 * and drives every cell on the scripted backend.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "clock.h"
#include "config.h"
#include "lc_internal.h"
#include "log.h"
#include "store.h"

/* Step sets that read as one thing. */
#define DESTROY		S_DESTROY_ALL
#define FAIL_GONE	(S_QUIET | S_REC_FAILED | S_FAIL | S_GONE)
#define FAIL_DESTROY	(S_QUIET | S_REC_FAILED | S_FAIL | DESTROY)
#define FAIL_CANCEL	(S_QUIET | S_REC_FAILED | S_FAIL | S_ROW)
#define CRASH_CANCEL	(S_QUIET | S_REC_CRASH | S_FAIL | S_ROW)
#define CRASH_GONE	(S_QUIET | S_REC_CRASH | S_FAIL | S_GONE)
#define LOST_GONE	(S_QUIET | S_REC_LOST | S_GONE)
#define CANCEL		(S_QUIET | S_NOTIFY_FAIL | S_ROW)
#define SBY_FAIL_GONE	(S_REC_SBY_FAILED | S_POOL_FAIL | S_GONE)
#define SBY_FAIL_DESTROY (S_REC_SBY_FAILED | S_POOL_FAIL | S_UNLINK | DESTROY)
#define SBY_CRASH_CANCEL (S_REC_CRASH | S_POOL_FAIL | S_UNLINK | S_ROW)
#define CLAIM		(S_UNLINK | S_CLAIM | S_BOOT)

#define T(n, s, w)	{ (n), (s), (w) }
#define KEEP(w)		{ IS_SAME, 0, (w) }

/* Why cells change nothing, said once. */
#define NO_JOB		"no job is out"
#define JOB_OUT		"a job is out: its result settles it"
#define NO_PROBE	"no readiness probe runs"
#define NO_DEADLINE	"no boot deadline is armed"
#define NO_STOP_FAILED	"no stop has failed"
#define STOPPING_NOW	"a stop is under way"
#define POOL		"a standby is its pool's: not reaped"
#define JOINS		"joins the boot under way"
#define WOKEN		"woken already"
#define HOST_JOB	"a job is out: it waits for the host, and its " \
			"result settles it"

/*
 * A start whose job is out (create, resume): all but what its job's
 * result does are the same.
 */
#define STARTING_ROW(ok, fail, runs, stays)				\
	[LE_WAKE] = KEEP(JOINS),					\
	[LE_OK] = ok, [LE_FAIL] = fail,					\
	[LE_FAIL_RUNS] = runs, [LE_FAIL_STAYS] = stays,			\
	[LE_READY] = KEEP(NO_PROBE),					\
	[LE_TIMEOUT] = T(IS_CANCELLED, FAIL_CANCEL,			\
	    "not ready in time: destroyed once its job returns"),	\
	[LE_REAP] = T(IS_CANCELLED, CANCEL, "destroyed once its job returns"), \
	[LE_REAP_SUSPEND] = T(IS_CANCELLED, CANCEL,			\
	    "not ready: destroyed once its job returns"),		\
	[LE_REAP_SAVE] = T(IS_CANCELLED, CANCEL,			\
	    "not ready: destroyed once its job returns"),		\
	[LE_STOP] = T(IS_CANCELLED, CANCEL, "destroyed once its job returns"), \
	[LE_CRASH] = T(IS_CANCELLED, CRASH_CANCEL,			\
	    "destroyed once its job returns"),				\
	[LE_RETRY] = KEEP(NO_STOP_FAILED),				\
	[LE_LOST] = KEEP(JOB_OUT), [LE_HOST_DOWN] = KEEP(HOST_JOB)

/* An idle suspend or save whose job is out. */
#define PAUSING_ROW(woken, done)					\
	[LE_WAKE] = T(woken, 0, "resumed once its job is done"),	\
	[LE_OK] = T(done, S_SUSPENDED | S_ROW, NULL),			\
	[LE_FAIL] = T(IS_GONE, S_GONE, "gone anyway"),			\
	[LE_FAIL_RUNS] = T(IS_STOP_FAILED, 0, "the tick destroys it"),	\
	[LE_FAIL_STAYS] = T(IS_STOP_FAILED, 0, "the tick destroys it"),	\
	[LE_READY] = KEEP(NO_PROBE), [LE_TIMEOUT] = KEEP(NO_DEADLINE),	\
	[LE_REAP] = KEEP(STOPPING_NOW),					\
	[LE_REAP_SUSPEND] = KEEP(STOPPING_NOW),				\
	[LE_REAP_SAVE] = KEEP(STOPPING_NOW),				\
	[LE_STOP] = T(IS_CANCELLED, 0, "destroyed once its job returns"), \
	[LE_CRASH] = KEEP(JOB_OUT), [LE_RETRY] = KEEP(NO_STOP_FAILED),	\
	[LE_LOST] = KEEP(JOB_OUT), [LE_HOST_DOWN] = KEEP(HOST_JOB)

/* The same with a wake waiting: the job's end resumes it. */
#define PAUSING_W_ROW(plain, resume)					\
	[LE_WAKE] = KEEP(WOKEN),					\
	[LE_OK] = T(IS_RESUMING_WARM, S_SUSPENDED | S_BOOT | S_ROW | resume, \
	    "then resumed for the wake"),				\
	[LE_FAIL] = T(IS_GONE, S_GONE | S_REBOOT, "gone; boots for the wake"), \
	[LE_FAIL_RUNS] = T(IS_STOP_FAILED_W, 0, "the tick destroys it"), \
	[LE_FAIL_STAYS] = T(IS_STOP_FAILED_W, 0, "the tick destroys it"), \
	[LE_READY] = KEEP(NO_PROBE), [LE_TIMEOUT] = KEEP(NO_DEADLINE),	\
	[LE_REAP] = T(plain, S_NOTIFY_FAIL, "the stop wins over the wake"), \
	[LE_REAP_SUSPEND] = T(plain, S_NOTIFY_FAIL,			\
	    "the stop wins over the wake"),				\
	[LE_REAP_SAVE] = T(plain, S_NOTIFY_FAIL,			\
	    "the stop wins over the wake"),				\
	[LE_STOP] = T(IS_CANCELLED, S_NOTIFY_FAIL,			\
	    "destroyed once its job returns; no boot for the wake"),	\
	[LE_CRASH] = KEEP(JOB_OUT), [LE_RETRY] = KEEP(NO_STOP_FAILED),	\
	[LE_LOST] = KEEP(JOB_OUT), [LE_HOST_DOWN] = KEEP(HOST_JOB)

/*
 * A stop (or a cancelled start) whose job is out: done, ok goes to with
 * steps_ok; failed with the domain still there, failed with failed_steps.
 */
#define STOPPING_ROW(woken, ok, steps_ok, failed, failed_steps)		\
	[LE_WAKE] = T(woken, 0, "boots again once stopped"),		\
	[LE_OK] = T(ok, steps_ok, NULL),				\
	[LE_FAIL] = T(IS_GONE, S_GONE, "gone anyway"),			\
	[LE_FAIL_RUNS] = T(failed, failed_steps, "the domain stays"),	\
	[LE_FAIL_STAYS] = T(failed, failed_steps, "the domain stays"),	\
	[LE_READY] = KEEP(NO_PROBE), [LE_TIMEOUT] = KEEP(NO_DEADLINE),	\
	[LE_REAP] = KEEP(STOPPING_NOW),					\
	[LE_REAP_SUSPEND] = KEEP(STOPPING_NOW),				\
	[LE_REAP_SAVE] = KEEP(STOPPING_NOW), [LE_STOP] = KEEP(STOPPING_NOW), \
	[LE_CRASH] = KEEP("our own stop, or its job's result says"),	\
	[LE_RETRY] = KEEP(JOB_OUT), [LE_LOST] = KEEP(JOB_OUT),		\
	[LE_HOST_DOWN] = KEEP(HOST_JOB)

/* The same with a wake waiting. */
#define STOPPING_W_ROW(plain, ok, steps_ok, failed, failed_steps)	\
	[LE_WAKE] = KEEP(WOKEN),					\
	[LE_OK] = T(ok, steps_ok, NULL),				\
	[LE_FAIL] = T(IS_GONE, S_GONE | S_REBOOT, "gone; boots for the wake"), \
	[LE_FAIL_RUNS] = T(failed, failed_steps, "the domain stays"),	\
	[LE_FAIL_STAYS] = T(failed, failed_steps, "the domain stays"),	\
	[LE_READY] = KEEP(NO_PROBE), [LE_TIMEOUT] = KEEP(NO_DEADLINE),	\
	[LE_REAP] = T(plain, S_NOTIFY_FAIL, "the stop wins over the wake"), \
	[LE_REAP_SUSPEND] = T(plain, S_NOTIFY_FAIL,			\
	    "the stop wins over the wake"),				\
	[LE_REAP_SAVE] = T(plain, S_NOTIFY_FAIL,			\
	    "the stop wins over the wake"),				\
	[LE_STOP] = T(plain, S_NOTIFY_FAIL, "the stop wins over the wake"), \
	[LE_CRASH] = KEEP("our own stop, or its job's result says"),	\
	[LE_RETRY] = KEEP(JOB_OUT), [LE_LOST] = KEEP(JOB_OUT),		\
	[LE_HOST_DOWN] = KEEP(HOST_JOB)

/* A standby whose create or pause is out. */
#define SBY_JOB_ROW(claimed, ok, ok_steps)				\
	[LE_WAKE] = T(claimed, CLAIM, "claimed: goes on as the active one"), \
	[LE_OK] = T(ok, ok_steps, NULL),				\
	[LE_FAIL] = T(IS_GONE, SBY_FAIL_GONE, NULL),			\
	[LE_FAIL_RUNS] = T(IS_STOPPING, SBY_FAIL_DESTROY, NULL),	\
	[LE_FAIL_STAYS] = T(IS_STOPPING, SBY_FAIL_DESTROY, NULL),	\
	[LE_READY] = KEEP(NO_PROBE), [LE_TIMEOUT] = KEEP(NO_DEADLINE),	\
	[LE_REAP] = KEEP(POOL), [LE_REAP_SUSPEND] = KEEP(POOL),		\
	[LE_REAP_SAVE] = KEEP(POOL),					\
	[LE_STOP] = T(IS_CANCELLED, S_UNLINK | S_ROW,			\
	    "destroyed once its job returns"),				\
	[LE_CRASH] = T(IS_CANCELLED, SBY_CRASH_CANCEL,			\
	    "destroyed once its job returns"),				\
	[LE_RETRY] = KEEP(NO_STOP_FAILED), [LE_LOST] = KEEP(JOB_OUT),	\
	[LE_HOST_DOWN] = KEEP(HOST_JOB)

/* A standby paused, no job out. */
#define SBY_PAUSED_ROW(resumed)						\
	[LE_WAKE] = T(resumed, CLAIM | S_ROW | S_RESUME, "claimed"),	\
	[LE_OK] = KEEP(NO_JOB), [LE_FAIL] = KEEP(NO_JOB),		\
	[LE_FAIL_RUNS] = KEEP(NO_JOB), [LE_FAIL_STAYS] = KEEP(NO_JOB),	\
	[LE_READY] = KEEP(NO_PROBE), [LE_TIMEOUT] = KEEP(NO_DEADLINE),	\
	[LE_REAP] = KEEP(POOL), [LE_REAP_SUSPEND] = KEEP(POOL),		\
	[LE_REAP_SAVE] = KEEP(POOL),					\
	[LE_STOP] = T(IS_STOPPING, S_UNLINK | DESTROY, NULL),		\
	[LE_CRASH] = T(IS_GONE, S_REC_CRASH | S_POOL_FAIL | S_GONE, NULL), \
	[LE_RETRY] = KEEP(NO_STOP_FAILED),				\
	[LE_LOST] = T(IS_GONE, LOST_GONE, NULL),			\
	[LE_HOST_DOWN] = T(IS_GONE, LOST_GONE, NULL)

const struct lc_transition lc_fsm[LC_NISTATES][LC_NEVENTS] = {
	[IS_CREATING] = { STARTING_ROW(
	    T(IS_PROBING, S_ROW | S_PROBE, NULL),
	    T(IS_GONE, FAIL_GONE, NULL),
	    T(IS_STOPPING, FAIL_DESTROY, "made, but unusable"),
	    T(IS_STOPPING, FAIL_DESTROY, "made, but unusable")) },
	[IS_CREATING_PAUSED] = { STARTING_ROW(
	    T(IS_RESUMING, S_ROW | S_RESUME, "made: resumed for the wake"),
	    T(IS_GONE, FAIL_GONE, NULL),
	    T(IS_STOPPING, FAIL_DESTROY, "made, but unusable"),
	    T(IS_STOPPING, FAIL_DESTROY, "made, but unusable")) },
	[IS_PAUSING_CLAIMED] = { STARTING_ROW(
	    T(IS_RESUMING_WARM, S_RESUME, "paused: resumed for the wake"),
	    T(IS_GONE, FAIL_GONE, NULL),
	    T(IS_READY, S_QUIET | S_READY,
	    "not paused: it runs, and passed its probe already"),
	    T(IS_RESUMING_WARM, S_RESUME, "paused after all: resumed")) },
	[IS_RESUMING] = { STARTING_ROW(
	    T(IS_PROBING, S_ROW | S_PROBE, NULL),
	    T(IS_GONE, FAIL_GONE, NULL),
	    T(IS_PROBING, S_ROW | S_PROBE, "not paused after all: probed"),
	    T(IS_STOPPING, FAIL_DESTROY, NULL)) },
	[IS_RESUMING_WARM] = { STARTING_ROW(
	    T(IS_READY, S_QUIET | S_READY,
	    "it served before: ready as soon as it runs"),
	    T(IS_GONE, FAIL_GONE, NULL),
	    T(IS_READY, S_QUIET | S_READY, "not paused after all: ready"),
	    T(IS_STOPPING, FAIL_DESTROY, NULL)) },
	[IS_PROBING] = {
		[LE_WAKE] = KEEP(JOINS),
		[LE_OK] = KEEP(NO_JOB), [LE_FAIL] = KEEP(NO_JOB),
		[LE_FAIL_RUNS] = KEEP(NO_JOB), [LE_FAIL_STAYS] = KEEP(NO_JOB),
		[LE_READY] = T(IS_READY, S_QUIET | S_READY, NULL),
		[LE_TIMEOUT] = T(IS_STOPPING, FAIL_DESTROY, NULL),
		[LE_REAP] = T(IS_STOPPING, CANCEL | DESTROY,
		    "not ready: destroyed"),
		[LE_REAP_SUSPEND] = T(IS_STOPPING, CANCEL | DESTROY,
		    "not ready: destroyed"),
		[LE_REAP_SAVE] = T(IS_STOPPING, CANCEL | DESTROY,
		    "not ready: destroyed"),
		[LE_STOP] = T(IS_STOPPING, CANCEL | DESTROY, NULL),
		[LE_CRASH] = T(IS_GONE, CRASH_GONE, NULL),
		[LE_RETRY] = KEEP(NO_STOP_FAILED),
		[LE_LOST] = T(IS_GONE, LOST_GONE | S_FAIL, NULL),
		[LE_HOST_DOWN] = T(IS_GONE, LOST_GONE | S_REBOOT,
		    "boots again on another host"),
	},
	[IS_READY] = {
		[LE_WAKE] = KEEP("serving"),
		[LE_OK] = KEEP(NO_JOB), [LE_FAIL] = KEEP(NO_JOB),
		[LE_FAIL_RUNS] = KEEP(NO_JOB), [LE_FAIL_STAYS] = KEEP(NO_JOB),
		[LE_READY] = KEEP(NO_PROBE), [LE_TIMEOUT] = KEEP(NO_DEADLINE),
		[LE_REAP] = T(IS_STOPPING, S_REC_STOP | S_ROW | S_STOP, NULL),
		[LE_REAP_SUSPEND] = T(IS_SUSPENDING,
		    S_REC_STOP | S_ROW | S_SUSPEND, NULL),
		[LE_REAP_SAVE] = T(IS_SAVING, S_REC_STOP | S_ROW | S_SAVE,
		    NULL),
		[LE_STOP] = T(IS_STOPPING, DESTROY, NULL),
		[LE_CRASH] = T(IS_GONE, CRASH_GONE, NULL),
		[LE_RETRY] = KEEP(NO_STOP_FAILED),
		[LE_LOST] = T(IS_GONE, LOST_GONE, NULL),
		[LE_HOST_DOWN] = T(IS_GONE, LOST_GONE,
		    "the next wake boots on another host"),
	},
	[IS_SUSPENDING] = { PAUSING_ROW(IS_SUSPENDING_W, IS_SUSPENDED) },
	[IS_SUSPENDING_W] = { PAUSING_W_ROW(IS_SUSPENDING, S_RESUME) },
	[IS_SAVING] = { PAUSING_ROW(IS_SAVING_W, IS_SAVED) },
	[IS_SAVING_W] = { PAUSING_W_ROW(IS_SAVING, S_RESTORE) },
	[IS_SUSPENDED] = {
		[LE_WAKE] = T(IS_RESUMING_WARM, S_BOOT | S_ROW | S_RESUME,
		    NULL),
		[LE_OK] = KEEP(NO_JOB), [LE_FAIL] = KEEP(NO_JOB),
		[LE_FAIL_RUNS] = KEEP(NO_JOB), [LE_FAIL_STAYS] = KEEP(NO_JOB),
		[LE_READY] = KEEP(NO_PROBE), [LE_TIMEOUT] = KEEP(NO_DEADLINE),
		[LE_REAP] = T(IS_STOPPING, DESTROY,
		    "stop-mode is no longer suspend: destroyed"),
		[LE_REAP_SUSPEND] = KEEP("suspended already"),
		[LE_REAP_SAVE] = T(IS_STOPPING, DESTROY,
		    "stop-mode is no longer suspend: destroyed"),
		[LE_STOP] = T(IS_STOPPING, DESTROY, NULL),
		[LE_CRASH] = T(IS_GONE, CRASH_GONE, NULL),
		[LE_RETRY] = KEEP(NO_STOP_FAILED),
		[LE_LOST] = T(IS_GONE, LOST_GONE, NULL),
		[LE_HOST_DOWN] = T(IS_GONE, LOST_GONE, NULL),
	},
	[IS_SAVED] = {
		[LE_WAKE] = T(IS_RESUMING_WARM, S_BOOT | S_ROW | S_RESTORE,
		    NULL),
		[LE_OK] = KEEP(NO_JOB), [LE_FAIL] = KEEP(NO_JOB),
		[LE_FAIL_RUNS] = KEEP(NO_JOB), [LE_FAIL_STAYS] = KEEP(NO_JOB),
		[LE_READY] = KEEP(NO_PROBE), [LE_TIMEOUT] = KEEP(NO_DEADLINE),
		[LE_REAP] = KEEP("saved: nothing runs"),
		[LE_REAP_SUSPEND] = KEEP("saved: nothing runs"),
		[LE_REAP_SAVE] = KEEP("saved already"),
		[LE_STOP] = T(IS_STOPPING, DESTROY, NULL),
		[LE_CRASH] = KEEP("a saved domain does not run: the stop was "
		    "its save"),
		[LE_RETRY] = KEEP(NO_STOP_FAILED),
		[LE_LOST] = T(IS_GONE, LOST_GONE, NULL),
		[LE_HOST_DOWN] = T(IS_GONE, LOST_GONE, NULL),
	},
	[IS_STOPPING] = { STOPPING_ROW(IS_STOPPING_W, IS_GONE, S_GONE,
	    IS_STOP_FAILED, 0) },
	[IS_STOPPING_W] = { STOPPING_W_ROW(IS_STOPPING, IS_GONE,
	    S_GONE | S_REBOOT, IS_STOP_FAILED_W, 0) },
	[IS_STOP_FAILED] = {
		[LE_WAKE] = T(IS_STOP_FAILED_W, 0, "boots again once stopped"),
		[LE_OK] = KEEP(NO_JOB), [LE_FAIL] = KEEP(NO_JOB),
		[LE_FAIL_RUNS] = KEEP(NO_JOB), [LE_FAIL_STAYS] = KEEP(NO_JOB),
		[LE_READY] = KEEP(NO_PROBE), [LE_TIMEOUT] = KEEP(NO_DEADLINE),
		[LE_REAP] = KEEP("the tick destroys it"),
		[LE_REAP_SUSPEND] = KEEP("the tick destroys it"),
		[LE_REAP_SAVE] = KEEP("the tick destroys it"),
		[LE_STOP] = KEEP("the tick destroys it"),
		[LE_CRASH] = T(IS_GONE, S_GONE, "stopped: what the stop wanted"),
		[LE_RETRY] = T(IS_STOPPING, DESTROY, NULL),
		[LE_LOST] = T(IS_GONE, S_GONE, "gone: what the stop wanted"),
		[LE_HOST_DOWN] = T(IS_GONE, S_GONE, "gone with its host; "
		    "destroyed there if it comes back"),
	},
	[IS_STOP_FAILED_W] = {
		[LE_WAKE] = KEEP(WOKEN),
		[LE_OK] = KEEP(NO_JOB), [LE_FAIL] = KEEP(NO_JOB),
		[LE_FAIL_RUNS] = KEEP(NO_JOB), [LE_FAIL_STAYS] = KEEP(NO_JOB),
		[LE_READY] = KEEP(NO_PROBE), [LE_TIMEOUT] = KEEP(NO_DEADLINE),
		[LE_REAP] = T(IS_STOP_FAILED, S_NOTIFY_FAIL,
		    "the stop wins over the wake"),
		[LE_REAP_SUSPEND] = T(IS_STOP_FAILED, S_NOTIFY_FAIL,
		    "the stop wins over the wake"),
		[LE_REAP_SAVE] = T(IS_STOP_FAILED, S_NOTIFY_FAIL,
		    "the stop wins over the wake"),
		[LE_STOP] = T(IS_STOP_FAILED, S_NOTIFY_FAIL,
		    "the stop wins over the wake"),
		[LE_CRASH] = T(IS_GONE, S_GONE | S_REBOOT,
		    "stopped; boots for the wake"),
		[LE_RETRY] = T(IS_STOPPING_W, DESTROY, NULL),
		[LE_LOST] = T(IS_GONE, S_GONE | S_REBOOT,
		    "gone; boots for the wake"),
		[LE_HOST_DOWN] = T(IS_GONE, S_GONE | S_REBOOT,
		    "gone with its host; boots for the wake on another"),
	},
	[IS_CANCELLED] = { STOPPING_ROW(IS_CANCELLED_W, IS_STOPPING, DESTROY,
	    IS_STOPPING, DESTROY) },
	[IS_CANCELLED_W] = { STOPPING_W_ROW(IS_CANCELLED, IS_STOPPING_W,
	    DESTROY, IS_STOPPING_W, DESTROY) },
	[SB_CREATING] = { SBY_JOB_ROW(IS_CREATING_PAUSED, SB_COLD,
	    S_POOL_OK | S_ROW) },
	[SB_BOOTING] = { SBY_JOB_ROW(IS_CREATING, SB_PROBING,
	    S_ROW | S_DEADLINE | S_PROBE) },
	[SB_PROBING] = {
		[LE_WAKE] = T(IS_PROBING, CLAIM,
		    "claimed: its probe goes on"),
		[LE_OK] = KEEP(NO_JOB), [LE_FAIL] = KEEP(NO_JOB),
		[LE_FAIL_RUNS] = KEEP(NO_JOB), [LE_FAIL_STAYS] = KEEP(NO_JOB),
		[LE_READY] = T(SB_PAUSING,
		    S_QUIET | S_POOL_OK | S_REC_BOOTED | S_SUSPEND, NULL),
		[LE_TIMEOUT] = T(IS_STOPPING, S_QUIET | SBY_FAIL_DESTROY,
		    NULL),
		[LE_REAP] = KEEP(POOL), [LE_REAP_SUSPEND] = KEEP(POOL),
		[LE_REAP_SAVE] = KEEP(POOL),
		[LE_STOP] = T(IS_STOPPING, S_QUIET | S_UNLINK | DESTROY, NULL),
		[LE_CRASH] = T(IS_GONE, S_QUIET | S_REC_CRASH | S_POOL_FAIL |
		    S_GONE, NULL),
		[LE_RETRY] = KEEP(NO_STOP_FAILED),
		[LE_LOST] = T(IS_GONE, LOST_GONE, NULL),
		[LE_HOST_DOWN] = T(IS_GONE, LOST_GONE, NULL),
	},
	[SB_PAUSING] = { SBY_JOB_ROW(IS_PAUSING_CLAIMED, SB_WARM, S_ROW) },
	[SB_COLD] = { SBY_PAUSED_ROW(IS_RESUMING) },
	[SB_WARM] = { SBY_PAUSED_ROW(IS_RESUMING_WARM) },
};

static const struct {
	const char	*name;
	enum lc_state	 public;
	bool		 busy;		/* a job of its is out */
	bool		 woken;		/* a wake waits for its stop */
} states[LC_NISTATES] = {
	[IS_CREATING] = { "creating", LC_STARTING, true, false },
	[IS_CREATING_PAUSED] = { "creating-paused", LC_STARTING, true,
	    false },
	[IS_PAUSING_CLAIMED] = { "pausing-claimed", LC_STARTING, true,
	    false },
	[IS_RESUMING] = { "resuming", LC_STARTING, true, false },
	[IS_RESUMING_WARM] = { "resuming-warm", LC_STARTING, true,
	    false },
	[IS_PROBING] = { "probing", LC_STARTING, false, false },
	[IS_READY] = { "ready", LC_READY, false, false },
	[IS_SUSPENDING] = { "suspending", LC_STOPPING, true, false },
	[IS_SUSPENDING_W] = { "suspending+wake", LC_STOPPING, true,
	    true },
	[IS_SAVING] = { "saving", LC_STOPPING, true, false },
	[IS_SAVING_W] = { "saving+wake", LC_STOPPING, true, true },
	[IS_SUSPENDED] = { "suspended", LC_SUSPENDED, false, false },
	[IS_SAVED] = { "saved", LC_SAVED, false, false },
	[IS_STOPPING] = { "stopping", LC_STOPPING, true, false },
	[IS_STOPPING_W] = { "stopping+wake", LC_STOPPING, true, true },
	[IS_STOP_FAILED] = { "stop-failed", LC_STOPPING, false,
	    false },
	[IS_STOP_FAILED_W] = { "stop-failed+wake", LC_STOPPING, false,
	    true },
	[IS_CANCELLED] = { "cancelled", LC_STOPPING, true, false },
	[IS_CANCELLED_W] = { "cancelled+wake", LC_STOPPING, true,
	    true },
	[SB_CREATING] = { "standby-creating", LC_STANDBY, true, false },
	[SB_BOOTING] = { "standby-booting", LC_STANDBY, true, false },
	[SB_PROBING] = { "standby-probing", LC_STANDBY, false, false },
	[SB_PAUSING] = { "standby-pausing", LC_STANDBY, true, false },
	[SB_COLD] = { "standby-cold", LC_STANDBY, false, false },
	[SB_WARM] = { "standby-warm", LC_STANDBY, false, false },
};

static const char *const event_names[LC_NEVENTS] = {
	[LE_WAKE] = "wake", [LE_OK] = "ok", [LE_FAIL] = "fail",
	[LE_FAIL_RUNS] = "fail-runs", [LE_FAIL_STAYS] = "fail-stays",
	[LE_READY] = "ready", [LE_TIMEOUT] = "timeout", [LE_REAP] = "reap",
	[LE_REAP_SUSPEND] = "reap-suspend", [LE_REAP_SAVE] = "reap-save",
	[LE_STOP] = "stop", [LE_CRASH] = "crash", [LE_RETRY] = "retry",
	[LE_LOST] = "lost", [LE_HOST_DOWN] = "host-down",
};

static const char *const step_names[LC_NSTEPS] = {
	"quiet", "suspended", "unlink", "claim", "boot", "rec-failed",
	"rec-standby-failed", "rec-crash", "rec-lost", "rec-booted",
	"rec-stop", "ready", "row", "deadline", "probe", "create", "resume",
	"restore", "suspend", "save", "stop", "destroy", "fail", "pool-fail",
	"pool-ok", "notify-fail", "gone", "reboot",
};

const char *
lc_istate_name(enum lc_istate st)
{
	if (st == IS_GONE)
		return "gone";
	if (st == IS_SAME)
		return "=";
	return st > IS_NONE && st < LC_NISTATES ? states[st].name : "?";
}

const char *
lc_event_name(enum lc_event ev)
{
	return (unsigned)ev < LC_NEVENTS ? event_names[ev] : "?";
}

const char *
lc_step_name(unsigned step)
{
	unsigned i;

	for (i = 0; i < LC_NSTEPS; i++)
		if (step == 1u << i)
			return step_names[i];
	return "?";
}

enum lc_state
lc_istate_public(enum lc_istate st)
{
	return st > IS_NONE && st < LC_NISTATES ? states[st].public :
	    LC_STOPPED;
}

bool
lc_istate_busy(enum lc_istate st)
{
	return st > IS_NONE && st < LC_NISTATES && states[st].busy;
}

bool
lc_istate_standby(enum lc_istate st)
{
	return st > IS_NONE && st < LC_NISTATES &&
	    states[st].public == LC_STANDBY;
}

bool
lc_istate_woken(enum lc_istate st)
{
	return st > IS_NONE && st < LC_NISTATES && states[st].woken;
}

/* The reason an event stops an instance for, when the caller gave none. */
static const char *
event_reason(enum lc_event ev)
{
	switch (ev) {
	case LE_CRASH:
		return "crash";
	case LE_LOST:
	case LE_HOST_DOWN:
		return "lost";
	case LE_FAIL:
	case LE_FAIL_RUNS:
	case LE_FAIL_STAYS:
	case LE_TIMEOUT:
		return "failed";
	default:
		return NULL;
	}
}

/* The "boot" event's detail: what the boot that begins is. */
static const char *
boot_kind(enum lc_istate from)
{
	switch (from) {
	case SB_BOOTING:
	case SB_PROBING:
		return "booting standby";
	case SB_CREATING:
	case SB_PAUSING:
	case SB_COLD:
	case SB_WARM:
		return "resume standby";
	case IS_SAVED:
	case IS_SAVING_W:
		return "restore";
	case IS_SUSPENDED:
	case IS_SUSPENDING_W:
		return "resume";
	default:
		return "create";
	}
}

static void
step_ready(struct instance *in)
{
	struct lc_service *s = in->svc;
	struct lc_counts *n;
	int64_t boot_ms;

	in->ready_us = clock_mono_us();
	in->ready_wall = clock_wall_ms();
	boot_ms = (int64_t)((in->ready_us - in->woke_us) / 1000);
	n = lc_n(s);
	n->boots++;
	n->last_boot_ms = boot_ms;
	lc_observe_cold_start(s, in->ready_us - in->woke_us);
	s->failed = false;
	s->failures = 0;
	s->last_activity_us = in->ready_us;
	lc_save_row(in);
	lc_record(in->lc, s->name, in->id, "ready", "%s in %lld ms (domain "
	    "%lld ms)", in->domain, (long long)boot_ms,
	    (long long)in->create_dur_ms);
	lc_notify(s, true);
}

/* Close in for good: its row, the counters, the live list. */
static void
step_gone(struct instance *in)
{
	struct lifecycle *lc = in->lc;
	const char *reason = in->reason != NULL ? in->reason : "manual";

	if (store_instance_close(lc->store, in->id, clock_wall_ms(),
	    reason) == -1)
		log_warnx("store: instance %lld: %s", (long long)in->id,
		    store_errmsg(lc->store));
	lc_record(lc, in->svc->name, in->id, "stopped", "%s (%s)", in->domain,
	    reason);
	lc_count_stop(lc, reason);
	lc_instance_free(in);
	lc_instance_left(lc);
}

/* The op of S_STOP: shutdown under stop-mode shutdown, else destroy. */
static enum vm_op
stop_op(const struct instance *in)
{
	const struct cfg_service *sc = in->svc->cfg;

	return sc != NULL && sc->stop_mode == CFG_STOP_SHUTDOWN ?
	    VM_SHUTDOWN : VM_DESTROY;
}

/* The create an instance entering st needs. */
static enum vm_op
create_op(const struct instance *in, enum lc_istate st)
{
	if (st == SB_CREATING)
		return VM_CREATE_PAUSED;
	if (st == SB_BOOTING)
		return VM_CREATE;
	return in->svc->cfg->stop_mode == CFG_STOP_SAVE ? VM_DEFINE_START :
	    VM_CREATE;
}

/*
 * Run steps for in, which was in from and is in its new state now, on
 * event ev (for the messages).  in may be freed (S_GONE).
 */
static void
run_steps(struct instance *in, enum lc_istate from, enum lc_event ev,
    unsigned steps)
{
	struct lc_service *s = in->svc;
	struct lifecycle *lc = in->lc;
	const char *why = in->job.err;
	char buf[96];

	if (ev == LE_TIMEOUT && s->cfg != NULL) {
		snprintf(buf, sizeof(buf), "not ready within %llu ms",
		    (unsigned long long)s->cfg->boot_timeout_ms);
		why = buf;
	}
	if (steps & S_QUIET) {
		lc_probe_stop(in);
		evtimer_del(in->deadline);
	}
	if (steps & S_SUSPENDED) {
		lc_count_stop(lc, in->reason != NULL ? in->reason : "idle");
		lc_record(lc, s->name, in->id, from == IS_SAVING ||
		    from == IS_SAVING_W ? "saved" : "suspended", "%s",
		    in->domain);
		in->reason = NULL;
		lc_instance_left(lc);
	}
	if (steps & S_UNLINK)
		lc_standby_unlink(in);
	if (steps & S_CLAIM)
		s->active = in;
	if (steps & S_BOOT) {
		in->woke_us = clock_mono_us();
		lc_record(lc, s->name, in->id, "boot", "%s %s",
		    boot_kind(from), in->domain);
		lc_arm_deadline(in);
	}
	if (steps & S_REC_FAILED)
		lc_record(lc, s->name, in->id, "boot-failed", "%s", why);
	if (steps & S_REC_SBY_FAILED)
		lc_record(lc, s->name, in->id, "standby-failed", "%s", why);
	if (steps & S_REC_CRASH)
		lc_record(lc, s->name, in->id, "crash", "%s stopped by itself",
		    in->domain);
	if ((steps & S_REC_LOST) && ev == LE_HOST_DOWN)
		lc_record(lc, s->name, in->id, "lost", "%s: host %s is down",
		    in->domain, in->host->conf->name);
	else if (steps & S_REC_LOST)
		lc_record(lc, s->name, in->id, "lost", "%s vanished while "
		    "libvirtd was away", in->domain);
	if (steps & S_REC_BOOTED)
		lc_record(lc, s->name, in->id, "standby-booted", "%s ready "
		    "%lld ms after its create; pausing it", in->domain,
		    (long long)(clock_wall_ms() - in->created_wall));
	if (steps & S_REC_STOP)
		lc_record(lc, s->name, in->id, "stop", "%s (%s)", in->domain,
		    in->reason != NULL ? in->reason : "manual");
	if (steps & S_READY)
		step_ready(in);
	if (steps & S_ROW)
		lc_save_row(in);
	if (steps & S_DEADLINE)
		lc_arm_deadline(in);
	if (steps & S_PROBE)
		lc_probe_start(in);
	if (steps & S_CREATE) {
		if ((in->job.guest = lc_describe(in)) == NULL)
			log_warnx("%s: out of memory", in->domain);
		lc_submit(in, create_op(in, in->state));
	}
	if (steps & S_RESUME)
		lc_submit(in, VM_RESUME);
	if (steps & S_RESTORE)
		lc_submit(in, VM_RESTORE);
	if (steps & S_SUSPEND)
		lc_submit(in, VM_SUSPEND);
	if (steps & S_SAVE)
		lc_submit(in, VM_SAVE);
	if (steps & S_STOP)
		lc_submit(in, stop_op(in));
	if (steps & S_DESTROY)
		lc_submit(in, VM_DESTROY);
	if (steps & S_FAIL) {
		if (ev != LE_CRASH && ev != LE_LOST)
			lc_n(s)->boot_failures++;
		lc_failed(s);
	}
	if (steps & S_POOL_FAIL)
		lc_standby_outcome(s, false);
	if (steps & S_POOL_OK)
		lc_standby_outcome(s, true);
	if (steps & S_NOTIFY_FAIL)
		lc_notify(s, false);
	if (steps & S_GONE) {
		step_gone(in);		/* in is freed */
		if ((steps & S_REBOOT) && s->cfg != NULL)
			lc_wake(s);
	}
}

bool
lc_fire(struct instance *in, enum lc_event ev, const char *reason)
{
	const struct lc_transition *t = &lc_fsm[in->state][ev];
	enum lc_istate from = in->state;

	if (t->next == IS_SAME && t->steps == 0) {
		log_debug("%s: %s in %s: %s", in->domain, lc_event_name(ev),
		    lc_istate_name(from), t->why);
		return false;
	}
	/* A stop keeps the first reason it was given. */
	if (in->reason == NULL && (t->next == IS_GONE ||
	    (t->next != IS_SAME &&
	    lc_istate_public(t->next) == LC_STOPPING)))
		in->reason = reason != NULL ? reason : event_reason(ev);
	log_debug("%s: %s in %s -> %s", in->domain, lc_event_name(ev),
	    lc_istate_name(from), lc_istate_name(t->next));
	if (t->next != IS_SAME && t->next != IS_GONE)
		in->state = t->next;
	run_steps(in, from, ev, t->steps);
	return true;
}

void
lc_enter(struct instance *in, enum lc_istate st, unsigned steps,
    const char *reason)
{
	enum lc_istate from = in->state;

	in->state = st;
	if (reason != NULL)
		in->reason = reason;
	run_steps(in, from, LE_WAKE, steps);
}
