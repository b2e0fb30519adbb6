/*
 * dns_hold.c - replies held until a guest is ready (dns-answer = guest).
 *
 * A fixed table of DNS_HOLD_MAX slots; when it is full the query gets
 * SERVFAIL at once rather than memory.  Each slot keeps the parsed
 * query, a lifecycle waiter and a deadline of the service's
 * boot-timeout.  The answer is built when the guest is ready, from the
 * index current at that time, with the guest address the lifecycle
 * reports.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "clock.h"
#include "lifecycle.h"
#include "log.h"
#include "dns_server.h"

struct held {
	struct dns_pending	 p;		/* first: abandon() casts */
	struct dns_hold		*h;
	struct dns_result	 r;
	char			 service[CFG_SERVICE_NAME_MAX + 1];
	struct lc_waiter	*w;		/* NULL once it has fired */
	struct event		 deadline;
	int			 next_free;
	bool			 used;
};

/*
 * Slots from fresh on were never used.  They are not linked in advance:
 * calloc hands a block this size (0.7 MB) over as untouched zero pages
 * of its own mapping, and a slot's pages become resident only when a
 * query first needs it.
 */
struct dns_hold {
	struct dns		*d;
	int			 free_head;	/* released slots, -1: none */
	int			 fresh;		/* first never used slot */
	struct held		 slot[DNS_HOLD_MAX];
};

struct dns_hold *
dns_hold_new(struct dns *d)
{
	struct dns_hold *h;

	if ((h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->d = d;
	h->free_head = -1;
	return h;
}

static void
release(struct held *s)
{
	struct dns_hold *h = s->h;

	if (s->w != NULL)
		lifecycle_wait_cancel(h->d->lc, s->w);
	s->w = NULL;
	evtimer_del(&s->deadline);
	s->used = false;
	s->next_free = h->free_head;
	h->free_head = (int)(s - h->slot);
}

/* Reply with the guest's address (ok) or SERVFAIL, and free the slot. */
static void
answer(struct held *s, bool ok)
{
	struct dns *d = s->h->d;
	bool tcp = s->p.client.tcp != NULL;
	size_t cap = tcp ? DNS_TCP_MAX : DNS_EDNS_SIZE;
	struct lc_info info;
	uint8_t addr[16];
	int family = AF_UNSPEC;

	if (ok && lifecycle_info(d->lc, s->service, &info) == 0) {
		if (inet_pton(AF_INET, info.guest_address, addr) == 1)
			family = AF_INET;
		else if (inet_pton(AF_INET6, info.guest_address, addr) == 1)
			family = AF_INET6;
	}
	if (family == AF_UNSPEC) {
		if (ok)
			log_warnx("dns: %s is ready but has no guest "
			    "address", s->service);
		dns_answer_rcode(&s->r, DNS_RCODE_SERVFAIL, tcp, d->reply,
		    cap);
	} else
		dns_answer_guest(d->ix, &s->r, family, addr, tcp, d->reply,
		    cap);
	dns_pending_reply(d, &s->p, d->reply, s->r.len, s->r.rcode);
	release(s);
}

static void
ready(void *arg, const char *service, bool ok)
{
	struct held *s = arg;

	s->w = NULL;	/* the lifecycle frees it */
	answer(s, ok);
}

static void
timeout(evutil_socket_t fd, short what, void *arg)
{
	struct held *s = arg;

	log_debug("dns: %s: boot timeout, SERVFAIL", s->service);
	answer(s, false);
}

/* The TCP connection closed: drop the query without a reply. */
static void
abandon(struct dns_pending *p)
{
	release((struct held *)p);
}

int
dns_hold_add(struct dns_hold *h, const struct dns_result *r,
    const struct dns_client *c)
{
	struct dns *d = h->d;
	const struct cfg_service *svc = dns_index_service(d->ix,
	    (size_t)r->svc);
	struct timeval tv = clock_tv(svc->boot_timeout_ms);
	struct held *s;
	int i = h->free_head != -1 ? h->free_head : h->fresh;

	if (d->lc == NULL || i == DNS_HOLD_MAX)
		return -1;
	s = &h->slot[i];
	s->h = h;
	s->r = *r;
	snprintf(s->service, sizeof(s->service), "%s", svc->name);
	s->w = lifecycle_wait(d->lc, s->service, ready, s);
	if (s->w == NULL && errno != EALREADY)
		return -1;
	if (i == h->free_head)
		h->free_head = s->next_free;
	else
		h->fresh++;
	s->used = true;
	evtimer_assign(&s->deadline, d->base, timeout, s);
	dns_pending_begin(d, &s->p, c, abandon);
	if (s->w == NULL)
		answer(s, true);	/* ready already */
	else
		evtimer_add(&s->deadline, &tv);
	return 0;
}

void
dns_hold_free(struct dns_hold *h)
{
	int i;

	if (h == NULL)
		return;
	for (i = 0; i < h->fresh; i++)
		if (h->slot[i].used)
			answer(&h->slot[i], false);
	free(h);
}
