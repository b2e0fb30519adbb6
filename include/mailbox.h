/*
 * mailbox.h - how work crosses from a thread to an event loop.
 *
 * A mailbox belongs to one event_base, its receiver.  Any thread posts
 * items to it; the receiver's loop hands them to a deliver function, one
 * at a time, in the order they were posted: posts are ordered by the
 * mailbox's mutex, so of two posts, by one thread or by two, the one
 * that took it first is delivered first.  Posting takes the mutex, links
 * the item and, when the queue was empty, writes an eventfd that the
 * receiver's loop watches.  It never allocates, never calls libevent and
 * cannot fail, so a thread can hand over its last word (a relay's end,
 * a job's result) without a way to lose it; libevent is called from the
 * receiver's thread only.
 *
 * When the eventfd fires, the receiver takes everything queued at once
 * (one lock) and delivers that batch; what is posted meanwhile, by other
 * threads or by deliver itself, comes with the next turn of the loop,
 * still after what was posted before it.
 *
 * Items are the caller's: embed a struct mailbox_item in what is posted
 * and find the container again with MAILBOX_ENTRY().  An item is in one
 * mailbox at most, from its post until it is delivered or drained, and
 * the mailbox never frees one.
 *
 * This is memcached's connection queue (cq_push, cq_pop and one notify
 * descriptor per receiving thread) with the queue's links in the items.
 */
#ifndef SUMMON_MAILBOX_H
#define SUMMON_MAILBOX_H

#include <stddef.h>

#include "compat_queue.h"

struct event_base;
struct mailbox;

struct mailbox_item {
	STAILQ_ENTRY(mailbox_item) link;	/* the mailbox's */
};

/* The struct of type that holds item as its member field. */
#define MAILBOX_ENTRY(item, type, field)				\
	((type *)(void *)((char *)(item) - offsetof(type, field)))

/* Receives one item; arg is mailbox_new()'s. */
typedef void	mailbox_fn(void *arg, struct mailbox_item *);

/*
 * A mailbox whose items are handed to deliver(arg, item) on receiver's
 * loop.  Called on the receiver's thread, or before its loop runs.
 * NULL with errno set when an eventfd or an event cannot be made.
 */
struct mailbox	*mailbox_new(struct event_base *receiver, mailbox_fn *deliver,
		    void *arg);
/*
 * Queue item for delivery; from any thread, while the mailbox exists.
 * Blocks on nothing but the mailbox's mutex, which is never held across
 * a call out.
 */
void		 mailbox_post(struct mailbox *, struct mailbox_item *item);
/*
 * Stop delivering: every item still queued, and the rest of the batch
 * being delivered when called from deliver, is handed to drain(arg,
 * item) in order before this returns.  What is posted afterwards stays
 * queued (mailbox_free() drains it).  On the receiver's thread: how a
 * receiver that shuts down takes back what it was sent, while threads
 * it cannot stop may still post.
 */
void		 mailbox_close(struct mailbox *, mailbox_fn *drain);
/*
 * Close (drain as above) and free the mailbox, on the receiver's thread
 * or once its loop has stopped for good, when no thread posts to it any
 * more.  Called from deliver, the memory goes when deliver returns.
 * NULL is ignored.
 */
void		 mailbox_free(struct mailbox *, mailbox_fn *drain);

#endif
