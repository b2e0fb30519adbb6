/*
 * dns_forward.c - relay queries outside our zones to the forwarder.
 *
 * One connected UDP socket; each relayed query gets a fresh random ID
 * (the client's is restored on the way back) and a slot in a fixed
 * table of DNS_FWD_MAX, so memory is bounded and a full table means
 * SERVFAIL, not waiting.  A reply is taken only if it comes from the
 * forwarder (the socket is connected), carries an ID we are waiting on
 * and repeats the question we sent.  No reply within
 * DNS_FWD_TIMEOUT_MS: SERVFAIL.  TCP clients are relayed over UDP too;
 * a truncated reply reaches them as it is.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "clock.h"
#include "log.h"
#include "dns_server.h"

#define ID_TRIES	32
#define READ_BUDGET	64	/* replies per wakeup */

struct relayed {
	struct dns_pending	 p;		/* first: abandon() casts */
	struct dns_fwd		*f;
	struct dns_query	 q;		/* what we asked */
	uint16_t		 client_id;
	uint16_t		 our_id;
	struct event		 deadline;
	int			 next_free;
	bool			 used;
};

struct dns_fwd {
	struct dns		*d;
	struct cfg_addr		 to;
	int			 fd;
	struct event		*ev;
	int			 free_head;	/* -1: full */
	uint16_t		 by_id[65536];	/* our ID -> slot + 1 */
	struct relayed		 slot[DNS_FWD_MAX];
	uint8_t			 buf[DNS_TCP_MAX];
};

static void	fwd_read(evutil_socket_t, short, void *);

struct dns_fwd *
dns_fwd_new(struct dns *d, const struct cfg_addr *to)
{
	struct dns_fwd *f;
	int i;

	if ((f = calloc(1, sizeof(*f))) == NULL) {
		log_warn("dns: forwarder %s", to->text);
		return NULL;
	}
	f->d = d;
	f->to = *to;
	for (i = 0; i < DNS_FWD_MAX; i++) {
		f->slot[i].f = f;
		f->slot[i].next_free = i + 1 < DNS_FWD_MAX ? i + 1 : -1;
	}
	f->free_head = 0;
	f->fd = socket(to->ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (f->fd == -1 ||
	    connect(f->fd, (const struct sockaddr *)&to->ss, to->len) == -1 ||
	    (f->ev = event_new(d->base, f->fd, EV_READ | EV_PERSIST,
	    fwd_read, f)) == NULL || event_add(f->ev, NULL) == -1) {
		log_warn("dns: forwarder %s", to->text);
		if (f->ev != NULL)
			event_free(f->ev);
		if (f->fd != -1)
			close(f->fd);
		free(f);
		return NULL;
	}
	return f;
}

const struct cfg_addr *
dns_fwd_addr(const struct dns_fwd *f)
{
	return &f->to;
}

static void
release(struct relayed *s)
{
	struct dns_fwd *f = s->f;

	evtimer_del(&s->deadline);
	f->by_id[s->our_id] = 0;
	s->used = false;
	s->next_free = f->free_head;
	f->free_head = (int)(s - f->slot);
}

static void
servfail(struct relayed *s)
{
	struct dns *d = s->f->d;
	struct dns_result r = { .q = s->q, .has_question = true };
	bool tcp = s->p.client.tcp != NULL;

	dns_answer_rcode(&r, DNS_RCODE_SERVFAIL, tcp, d->reply,
	    tcp ? DNS_TCP_MAX : DNS_EDNS_SIZE);
	dns_pending_reply(d, &s->p, d->reply, r.len, r.rcode);
	release(s);
}

static void
timeout(evutil_socket_t fd, short what, void *arg)
{
	struct relayed *s = arg;

	log_debug("dns: forwarder %s: no reply in time, SERVFAIL",
	    s->f->to.text);
	servfail(s);
}

static void
abandon(struct dns_pending *p)
{
	release((struct relayed *)p);
}

int
dns_fwd_query(struct dns_fwd *f, const uint8_t *pkt, size_t len,
    const struct dns_result *r, const struct dns_client *c)
{
	struct timeval tv = clock_tv(DNS_FWD_TIMEOUT_MS);
	struct relayed *s;
	uint8_t id[2];
	struct iovec iov[2] = { { id, 2 }, { (void *)(pkt + 2), len - 2 } };
	uint32_t n;
	int i;

	if (f->free_head == -1)
		return -1;
	for (i = 0; i < ID_TRIES; i++)
		if (f->by_id[n = arc4random_uniform(65536)] == 0)
			break;
	if (i == ID_TRIES)
		return -1;
	id[0] = (uint8_t)(n >> 8);
	id[1] = n & 0xff;
	if (writev(f->fd, iov, 2) == -1) {
		log_debug("dns: forwarder %s: %s", f->to.text,
		    strerror(errno));
		return -1;
	}
	s = &f->slot[f->free_head];
	f->free_head = s->next_free;
	s->used = true;
	s->q = r->q;
	s->client_id = r->q.id;
	s->our_id = (uint16_t)n;
	f->by_id[n] = (uint16_t)(s - f->slot + 1);
	evtimer_assign(&s->deadline, f->d->base, timeout, s);
	evtimer_add(&s->deadline, &tv);
	dns_pending_begin(f->d, &s->p, c, abandon);
	return 0;
}

/* Whether the reply's question is the one we sent, case aside. */
static bool
same_question(const struct dns_query *q, const uint8_t *pkt, size_t len)
{
	size_t i, n = q->qnamelen;
	uint8_t a, b;

	if (len < DNS_HDR_LEN + n + 4 || pkt[4] != 0 || pkt[5] != 1)
		return false;
	for (i = 0; i < n; i++) {
		a = pkt[DNS_HDR_LEN + i];
		b = q->qname[i];
		/* Label lengths are below 'A', so this folds only text. */
		if (a >= 'A' && a <= 'Z')
			a += 'a' - 'A';
		if (b >= 'A' && b <= 'Z')
			b += 'a' - 'A';
		if (a != b)
			return false;
	}
	pkt += DNS_HDR_LEN + n;
	return (pkt[0] << 8 | pkt[1]) == q->qtype &&
	    (pkt[2] << 8 | pkt[3]) == q->qclass;
}

static void
fwd_read(evutil_socket_t fd, short what, void *arg)
{
	struct dns_fwd *f = arg;
	struct relayed *s;
	ssize_t n;
	uint16_t slot;
	int i;

	for (i = 0; i < READ_BUDGET; i++) {
		n = recv(fd, f->buf, sizeof(f->buf), MSG_DONTWAIT);
		if (n == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* ECONNREFUSED and the like: the deadlines fire. */
			log_debug("dns: forwarder %s: %s", f->to.text,
			    strerror(errno));
			continue;
		}
		if (n < DNS_HDR_LEN)
			continue;
		slot = f->by_id[f->buf[0] << 8 | f->buf[1]];
		if (slot == 0)
			continue;
		s = &f->slot[slot - 1];
		if (!same_question(&s->q, f->buf, (size_t)n))
			continue;
		f->buf[0] = (uint8_t)(s->client_id >> 8);
		f->buf[1] = s->client_id & 0xff;
		dns_pending_reply(f->d, &s->p, f->buf, (size_t)n,
		    f->buf[3] & 0x0f);
		release(s);
	}
}

void
dns_fwd_free(struct dns_fwd *f)
{
	int i;

	if (f == NULL)
		return;
	for (i = 0; i < DNS_FWD_MAX; i++)
		if (f->slot[i].used)
			servfail(&f->slot[i]);
	event_free(f->ev);
	close(f->fd);
	free(f);
}
