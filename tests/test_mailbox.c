/*
 * test_mailbox.c - the thread-to-loop mailbox: order within a thread and
 * across threads, many posters at once with the loop running (a lost
 * wake-up hangs the loop until a deadline fails the test), a post from
 * inside deliver, and closing or freeing with items still queued, also
 * from inside deliver.
 */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "mailbox.h"
#include "check_main.h"

#define DEADLINE_S	60	/* a lost wake-up fails, instead of hanging */
#define MAXTHREADS	8	/* posting at once */

struct titem {
	struct mailbox_item	 mi;
	int			 thread;
	int			 seq;	/* within its thread, or overall */
};

static struct event_base *base;
static struct mailbox *mb;

/* What deliver and drain saw. */
static struct titem **got, **drained;
static int ngot, ndrained, want;
static int last_seq[MAXTHREADS];	/* by thread; -1 before the first */
static bool timed_out;

/* The items of posting threads, one array a thread. */
static struct titem *posted[MAXTHREADS];
static int nthreads, nposts;

/* What deliver does besides recording. */
static struct titem *post_once;		/* post this from deliver, once */
static bool free_in_deliver, close_in_deliver;

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	timed_out = true;
	event_base_loopbreak(base);
}

static void
drain(void *arg, struct mailbox_item *mi)
{
	ck_assert_ptr_eq(arg, &mb);
	drained[ndrained++] = MAILBOX_ENTRY(mi, struct titem, mi);
}

static void
deliver(void *arg, struct mailbox_item *mi)
{
	struct titem *t = MAILBOX_ENTRY(mi, struct titem, mi);

	ck_assert_ptr_eq(arg, &mb);
	/* Each poster's items arrive in the order it posted them. */
	ck_assert_int_gt(t->seq, last_seq[t->thread]);
	last_seq[t->thread] = t->seq;
	got[ngot++] = t;
	if (post_once != NULL) {
		mailbox_post(mb, &post_once->mi);
		post_once = NULL;
	}
	if (close_in_deliver) {
		close_in_deliver = false;
		mailbox_close(mb, drain);
	}
	if (free_in_deliver) {
		free_in_deliver = false;
		mailbox_free(mb, drain);
		mb = NULL;
	}
	if (ngot == want)
		event_base_loopbreak(base);
}

/* Run the loop until want items were delivered, or the deadline. */
static void
run(int n)
{
	struct timeval tv = { DEADLINE_S, 0 };
	struct event *deadline;

	want = n;
	deadline = evtimer_new(base, on_deadline, NULL);
	evtimer_add(deadline, &tv);
	if (ngot < want)
		event_base_dispatch(base);
	event_free(deadline);
	ck_assert_msg(!timed_out, "%d of %d delivered in %d s", ngot, want,
	    DEADLINE_S);
	ck_assert_int_eq(ngot, want);
}

/* One turn of the loop, without waiting. */
static void
turn(void)
{
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

static struct titem *
items(int n, int thread)
{
	struct titem *t = calloc((size_t)n, sizeof(*t));
	int i;

	ck_assert_ptr_nonnull(t);
	for (i = 0; i < n; i++) {
		t[i].thread = thread;
		t[i].seq = i;
	}
	return t;
}

/*
 * n threads run fn, each over nposts items of its own (posted[]), while
 * the loop runs until all are delivered.
 */
static void
posters(int n, int posts, void *(*fn)(void *))
{
	pthread_t th[MAXTHREADS];
	int i;

	nposts = posts;
	for (i = 0; i < n; i++) {
		posted[nthreads] = items(posts, i);
		ck_assert_int_eq(pthread_create(&th[i], NULL, fn,
		    posted[nthreads++]), 0);
	}
	run(n * posts);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
}

static void
setup(void)
{
	int i;

	base = event_base_new();
	mb = mailbox_new(base, deliver, &mb);
	ck_assert_ptr_nonnull(mb);
	ngot = ndrained = 0;
	for (i = 0; i < MAXTHREADS; i++)
		last_seq[i] = -1;
	got = calloc(1 << 20, sizeof(*got));
	drained = calloc(1 << 20, sizeof(*drained));
}

static void
teardown(void)
{
	mailbox_free(mb, drain);
	event_base_free(base);
	while (nthreads > 0)
		free(posted[--nthreads]);
	free(got);
	free(drained);
}

/* Posted before the loop runs: all delivered in order, at one turn. */
START_TEST(fifo)
{
	struct titem *t = items(100, 0);
	int i;

	for (i = 0; i < 100; i++)
		mailbox_post(mb, &t[i].mi);
	ck_assert_int_eq(ngot, 0);		/* only the loop delivers */
	turn();
	ck_assert_int_eq(ngot, 100);
	for (i = 0; i < 100; i++)
		ck_assert_ptr_eq(got[i], &t[i]);
	turn();
	ck_assert_int_eq(ngot, 100);
	free(t);
}
END_TEST

/*
 * Posts from several threads come out in the order they went in: each
 * poster takes a ticket and posts under one lock, so the tickets are the
 * order of the posts.
 */
static pthread_mutex_t ticket_mtx = PTHREAD_MUTEX_INITIALIZER;
static int next_ticket;

static void *
post_ticketed(void *arg)
{
	struct titem *t = arg;
	int i;

	for (i = 0; i < nposts; i++) {
		pthread_mutex_lock(&ticket_mtx);
		t[i].seq = next_ticket++;
		mailbox_post(mb, &t[i].mi);
		pthread_mutex_unlock(&ticket_mtx);
	}
	return NULL;
}

START_TEST(fifo_across_threads)
{
	int i;

	posters(4, 5000, post_ticketed);
	for (i = 0; i < ngot; i++)
		ck_assert_int_eq(got[i]->seq, i);
}
END_TEST

/*
 * Many posters at once while the loop runs: every item is delivered,
 * exactly once, each poster's in its order.  A lost wake-up leaves the
 * loop asleep with items queued, which the deadline turns into a
 * failure.
 */
static void *
post_all(void *arg)
{
	struct titem *t = arg;
	int i;

	for (i = 0; i < nposts; i++) {
		mailbox_post(mb, &t[i].mi);
		if (i % 1000 == 0)
			sched_yield();	/* let the loop catch up, now and then */
	}
	return NULL;
}

START_TEST(many_posters)
{
	int i;

	posters(MAXTHREADS, 20000, post_all);
	/* None twice: deliver saw each thread's seq only rise. */
	for (i = 0; i < MAXTHREADS; i++)
		ck_assert_int_eq(last_seq[i], 20000 - 1);
	turn();
	ck_assert_int_eq(ngot, MAXTHREADS * 20000);
}
END_TEST

/*
 * Each post waits for the one before it to be delivered, so that every
 * post finds the queue empty and must wake the loop, racing with the
 * loop taking the queue: the case a lost wake-up would hit.
 */
static void *
post_one_by_one(void *arg)
{
	struct titem *t = arg;
	int i;

	for (i = 0; i < nposts; i++) {
		mailbox_post(mb, &t[i].mi);
		while (__atomic_load_n(&last_seq[t[i].thread],
		    __ATOMIC_ACQUIRE) < i)
			sched_yield();
	}
	return NULL;
}

static void
deliver_pingpong(void *arg, struct mailbox_item *mi)
{
	struct titem *t = MAILBOX_ENTRY(mi, struct titem, mi);

	ck_assert_int_eq(t->seq, last_seq[t->thread] + 1);
	got[ngot++] = t;
	__atomic_store_n(&last_seq[t->thread], t->seq, __ATOMIC_RELEASE);
	if (ngot == want)
		event_base_loopbreak(base);
}

START_TEST(one_at_a_time)
{
	mailbox_free(mb, drain);
	mb = mailbox_new(base, deliver_pingpong, &mb);
	ck_assert_ptr_nonnull(mb);
	posters(2, 3000, post_one_by_one);
}
END_TEST

/*
 * A post from inside deliver is delivered after the rest of the batch
 * (it was posted after them), at a later turn of the loop.
 */
START_TEST(post_from_deliver)
{
	struct titem *t = items(4, 0);

	mailbox_post(mb, &t[0].mi);
	mailbox_post(mb, &t[1].mi);
	mailbox_post(mb, &t[2].mi);
	post_once = &t[3];
	turn();
	ck_assert_int_eq(ngot, 3);
	run(4);
	ck_assert_ptr_eq(got[0], &t[0]);
	ck_assert_ptr_eq(got[1], &t[1]);
	ck_assert_ptr_eq(got[2], &t[2]);
	ck_assert_ptr_eq(got[3], &t[3]);
	free(t);
}
END_TEST

/* Freed with items queued: drain gets them in order; deliver none. */
START_TEST(free_with_items_queued)
{
	struct titem *t = items(5, 0);
	int i;

	for (i = 0; i < 5; i++)
		mailbox_post(mb, &t[i].mi);
	mailbox_free(mb, drain);
	mb = NULL;
	ck_assert_int_eq(ngot, 0);
	ck_assert_int_eq(ndrained, 5);
	for (i = 0; i < 5; i++)
		ck_assert_ptr_eq(drained[i], &t[i]);
	turn();
	ck_assert_int_eq(ngot, 0);
	free(t);
}
END_TEST

/*
 * Freed from inside deliver: the rest of the batch goes to drain, and
 * the mailbox goes once deliver returns (ASan and valgrind watch).
 */
START_TEST(free_from_deliver)
{
	struct titem *t = items(4, 0);
	int i;

	for (i = 0; i < 4; i++)
		mailbox_post(mb, &t[i].mi);
	free_in_deliver = true;
	turn();
	ck_assert_ptr_null(mb);
	ck_assert_int_eq(ngot, 1);
	ck_assert_ptr_eq(got[0], &t[0]);
	ck_assert_int_eq(ndrained, 3);
	for (i = 0; i < 3; i++)
		ck_assert_ptr_eq(drained[i], &t[i + 1]);
	free(t);
}
END_TEST

/*
 * Closed, from inside deliver: the rest goes to drain; what is posted
 * afterwards is never delivered, and free drains it.
 */
START_TEST(close_then_post)
{
	struct titem *t = items(4, 0);

	mailbox_post(mb, &t[0].mi);
	mailbox_post(mb, &t[1].mi);
	close_in_deliver = true;
	turn();
	ck_assert_int_eq(ngot, 1);
	ck_assert_int_eq(ndrained, 1);
	ck_assert_ptr_eq(drained[0], &t[1]);
	mailbox_post(mb, &t[2].mi);
	mailbox_post(mb, &t[3].mi);
	turn();
	ck_assert_int_eq(ngot, 1);
	mailbox_free(mb, drain);
	mb = NULL;
	ck_assert_int_eq(ndrained, 3);
	ck_assert_ptr_eq(drained[1], &t[2]);
	ck_assert_ptr_eq(drained[2], &t[3]);
	free(t);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("mailbox");
	TCase *tc = tcase_create("mailbox");

	tcase_set_timeout(tc, DEADLINE_S + 30);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fifo);
	tcase_add_test(tc, fifo_across_threads);
	tcase_add_test(tc, many_posters);
	tcase_add_test(tc, one_at_a_time);
	tcase_add_test(tc, post_from_deliver);
	tcase_add_test(tc, free_with_items_queued);
	tcase_add_test(tc, free_from_deliver);
	tcase_add_test(tc, close_then_post);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
