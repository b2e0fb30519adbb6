/*
 * mailbox.c - a queue under a mutex and an eventfd that the receiver's
 * loop watches.
 *
 * The eventfd is written only when a post finds the queue empty, and the
 * receiver reads it before it takes the queue: a post that lands after
 * the take finds the queue empty again and writes, so a wake-up is never
 * lost, and one that lands between the read and the take is delivered
 * now and leaves at most one wake-up that finds nothing.
 */
#include <sys/eventfd.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "mailbox.h"

STAILQ_HEAD(mailbox_list, mailbox_item);

struct mailbox {
	pthread_mutex_t		 lock;
	struct mailbox_list	 queue;		/* under lock */
	int			 efd;
	struct event		*ev;
	mailbox_fn		*deliver;
	void			*arg;
	/* The receiver's only. */
	struct mailbox_list	 batch;		/* taken, not yet delivered */
	bool			 delivering;
	bool			 closed;
	bool			 freed;		/* while delivering */
};

static void
release(struct mailbox *mb)
{
	if (mb->ev != NULL)
		event_free(mb->ev);
	if (mb->efd != -1)
		close(mb->efd);
	pthread_mutex_destroy(&mb->lock);
	free(mb);
}

static void
mailbox_wake(evutil_socket_t fd, short what, void *arg)
{
	struct mailbox *mb = arg;
	struct mailbox_item *it;
	uint64_t n;

	/* Nonblocking: a wake-up that finds nothing reads nothing. */
	(void)!read(mb->efd, &n, sizeof(n));
	pthread_mutex_lock(&mb->lock);
	STAILQ_CONCAT(&mb->batch, &mb->queue);
	pthread_mutex_unlock(&mb->lock);
	mb->delivering = true;
	while (!mb->closed && (it = STAILQ_FIRST(&mb->batch)) != NULL) {
		STAILQ_REMOVE_HEAD(&mb->batch, link);
		mb->deliver(mb->arg, it);
	}
	mb->delivering = false;
	if (mb->freed)
		release(mb);
}

struct mailbox *
mailbox_new(struct event_base *receiver, mailbox_fn *deliver, void *arg)
{
	struct mailbox *mb;
	int saved;

	if ((mb = calloc(1, sizeof(*mb))) == NULL)
		return NULL;
	pthread_mutex_init(&mb->lock, NULL);
	STAILQ_INIT(&mb->queue);
	STAILQ_INIT(&mb->batch);
	mb->deliver = deliver;
	mb->arg = arg;
	if ((mb->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		goto fail;
	if ((mb->ev = event_new(receiver, mb->efd, EV_READ | EV_PERSIST,
	    mailbox_wake, mb)) == NULL || event_add(mb->ev, NULL) == -1) {
		errno = ENOMEM;		/* libevent says no more */
		goto fail;
	}
	return mb;
fail:
	saved = errno;
	release(mb);
	errno = saved;
	return NULL;
}

void
mailbox_post(struct mailbox *mb, struct mailbox_item *it)
{
	uint64_t one = 1;
	bool was_empty;

	pthread_mutex_lock(&mb->lock);
	was_empty = STAILQ_EMPTY(&mb->queue);
	STAILQ_INSERT_TAIL(&mb->queue, it, link);
	pthread_mutex_unlock(&mb->lock);
	/* Fails only if the counter would overflow: it is nonzero then. */
	if (was_empty)
		(void)!write(mb->efd, &one, sizeof(one));
}

void
mailbox_close(struct mailbox *mb, mailbox_fn *drain)
{
	struct mailbox_item *it;

	if (!mb->closed) {
		mb->closed = true;
		event_del(mb->ev);
	}
	pthread_mutex_lock(&mb->lock);
	STAILQ_CONCAT(&mb->batch, &mb->queue);
	pthread_mutex_unlock(&mb->lock);
	while ((it = STAILQ_FIRST(&mb->batch)) != NULL) {
		STAILQ_REMOVE_HEAD(&mb->batch, link);
		drain(mb->arg, it);
	}
}

void
mailbox_free(struct mailbox *mb, mailbox_fn *drain)
{
	if (mb == NULL)
		return;
	mailbox_close(mb, drain);
	if (mb->delivering)
		mb->freed = true;	/* mailbox_wake() releases it */
	else
		release(mb);
}
