/*
 * net_tcp.c - TCP connections of the passive server.
 *
 * Section references are to RFC 9293 ("segment arrives", 3.10.7) unless
 * noted.  Sequence numbers are compared modulo 2^32.
 */
#include "clock.h"
#include "cpu.h"
#include "ip.h"
#include "kstring.h"
#include "net.h"
#include "tcp.h"

#define TCP_HDR_LEN 20
#define TCP_OPT_MSS_LEN 4

#define TH_FIN 0x01
#define TH_SYN 0x02
#define TH_RST 0x04
#define TH_PSH 0x08
#define TH_ACK 0x10

#define MSS_DEFAULT 536		/* when the SYN carries no MSS option */
#define MSS_OURS (IP_PAYLOAD_MAX - TCP_HDR_LEN)

#define RTO_INITIAL_MS 1000
/* RFC 6298 asks for 1 s; like Linux we allow 200 ms on a virtual link. */
#define RTO_MIN_MS 200
#define RTO_MAX_MS 30000
#define SYN_RETRIES 5
#define MAX_RETRIES 8
#define TIME_WAIT_MS 10000
#define FIN_WAIT_2_MS 30000
#define IDLE_ABORT_MS (10 * 60 * 1000)

#define SEQ_LT(a, b) ((int32_t)((a) - (b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((a) - (b)) <= 0)
#define SEQ_GT(a, b) ((int32_t)((a) - (b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((a) - (b)) >= 0)

enum tcp_state {
	CLOSED,		/* the slot is free */
	SYN_RECEIVED,
	ESTABLISHED,
	FIN_WAIT_1,
	FIN_WAIT_2,
	CLOSE_WAIT,
	CLOSING,
	LAST_ACK,
	TIME_WAIT,
};

enum {
	F_ACK_NOW = 1 << 0,	/* an ACK is owed to the peer */
	F_FIN_QUEUED = 1 << 1,	/* the app closed: FIN follows the data */
	F_FIN_ACKED = 1 << 2,
	F_OPENED = 1 << 3,	/* the app saw TCP_EV_OPEN */
	F_TIMER = 1 << 4,	/* rexmit_at is armed */
	F_RTT_TIMING = 1 << 5,	/* rtt_seq/rtt_start measure a segment */
	F_RTT_VALID = 1 << 6,	/* srtt/rttvar hold a sample */
};

struct tcp_conn {
	uint8_t state;
	uint8_t flags;
	uint8_t retries;	/* timer expiries without progress */
	uint8_t dupacks;
	uint16_t rport;
	uint16_t mss;		/* largest segment we send */
	uint32_t raddr;

	uint32_t iss, snd_una, snd_nxt, snd_max;
	uint32_t snd_wnd, snd_wl1, snd_wl2;
	uint32_t cwnd, ssthresh;
	uint32_t irs, rcv_nxt;

	uint32_t rto, srtt, rttvar;	/* milliseconds */
	uint32_t rtt_seq, rtt_start;
	uint32_t rexmit_at;	/* retransmission or probe deadline */
	uint32_t state_since;	/* entry into FIN-WAIT-2 or TIME-WAIT */
	uint32_t last_rx;

	uint16_t slen;		/* sbuf[0] is the byte at snd_una */
	uint16_t rlen;
	uint8_t sbuf[TCP_SBUF_SIZE];
	uint8_t rbuf[TCP_RBUF_SIZE];
};

static struct tcp_conn conns[TCP_MAX_CONNS];
static uint16_t listen_port;
static tcp_event_fn app_event;
static uint32_t now;
static uint32_t isn_secret;

static uint32_t min32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static uint32_t max32(uint32_t a, uint32_t b)
{
	return a > b ? a : b;
}

void tcp_listen(uint16_t port, tcp_event_fn fn)
{
	listen_port = port;
	app_event = fn;
	isn_secret = (uint32_t)rdtsc() * 2654435761u;
}

unsigned tcp_conn_index(const struct tcp_conn *c)
{
	return (unsigned)(c - conns);
}

/* A 32-bit integer hash (Chris Wellons' "lowbias32"). */
static uint32_t mix32(uint32_t h)
{
	h ^= h >> 16;
	h *= 0x7feb352du;
	h ^= h >> 15;
	h *= 0x846ca68bu;
	h ^= h >> 16;
	return h;
}

/* RFC 6528: a 4 us clock plus a keyed hash of the connection's ports. */
static uint32_t initial_seq(uint32_t raddr, uint16_t rport)
{
	return (clock_us() >> 2) + mix32(raddr ^ mix32(rport ^ isn_secret));
}

static uint16_t rcv_window(const struct tcp_conn *c)
{
	return (uint16_t)(TCP_RBUF_SIZE - c->rlen);
}

/* Builds one segment in net_tx and sends it. */
static void emit(uint32_t dst, uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack,
		 uint8_t flags, uint16_t wnd, uint16_t mss_option, const uint8_t *data, size_t len)
{
	uint8_t *h = ip_tx_payload();
	size_t hlen = TCP_HDR_LEN + (mss_option ? TCP_OPT_MSS_LEN : 0);
	uint32_t sum;

	put_be16(h, sport);
	put_be16(h + 2, dport);
	put_be32(h + 4, seq);
	put_be32(h + 8, ack);
	h[12] = (uint8_t)(hlen / 4 << 4);
	h[13] = flags;
	put_be16(h + 14, wnd);
	put_be16(h + 16, 0);
	put_be16(h + 18, 0);
	if (mss_option) {
		h[20] = 2;
		h[21] = TCP_OPT_MSS_LEN;
		put_be16(h + 22, mss_option);
	}
	if (len)
		memcpy(h + hlen, data, len);
	sum = ip_pseudo_sum(netif.ip, dst, IP_PROTO_TCP, hlen + len);
	put_be16(h + 16, ip_checksum_fold(ip_checksum_add(sum, h, hlen + len)));
	ip_output(dst, IP_PROTO_TCP, hlen + len);
}

static void send_segment(struct tcp_conn *c, uint32_t seq, uint8_t flags, const uint8_t *data,
			 size_t len)
{
	emit(c->raddr, listen_port, c->rport, seq, c->rcv_nxt, flags, rcv_window(c), 0, data, len);
}

static void send_ack(struct tcp_conn *c)
{
	send_segment(c, c->snd_nxt, TH_ACK, NULL, 0);
	c->flags &= (uint8_t)~F_ACK_NOW;
}

static void send_synack(struct tcp_conn *c)
{
	emit(c->raddr, listen_port, c->rport, c->iss, c->rcv_nxt, TH_SYN | TH_ACK, rcv_window(c),
	     MSS_OURS, NULL, 0);
}

static void arm_timer(struct tcp_conn *c)
{
	c->rexmit_at = now + c->rto;
	c->flags |= F_TIMER;
}

static void free_conn(struct tcp_conn *c)
{
	int opened = c->flags & F_OPENED;

	c->state = CLOSED;
	c->flags = 0;
	if (opened)
		app_event(c, TCP_EV_CLOSED);
}

static void abort_conn(struct tcp_conn *c)
{
	send_segment(c, c->snd_max, TH_RST, NULL, 0);
	free_conn(c);
}

/*
 * Sends what the send buffer, the peer's window and the congestion window
 * allow, the FIN once all data is out, and any ACK still owed.
 */
static void output(struct tcp_conn *c)
{
	if (c->state == SYN_RECEIVED) {
		if (c->flags & F_ACK_NOW)
			send_ack(c);
		return;
	}
	for (;;) {
		uint32_t off = c->snd_nxt - c->snd_una;
		uint32_t wnd = min32(c->snd_wnd, c->cwnd);
		uint32_t usable, n;
		int fin;

		if (off > c->slen)
			break;	/* the FIN is already in flight */
		usable = wnd > off ? wnd - off : 0;
		n = min32(min32(c->slen - off, usable), c->mss);
		fin = (c->flags & (F_FIN_QUEUED | F_FIN_ACKED)) == F_FIN_QUEUED &&
		      off + n == c->slen;
		if (n == 0 && !fin)
			break;
		send_segment(c, c->snd_nxt,
			     (uint8_t)(TH_ACK | (n && off + n == c->slen ? TH_PSH : 0) |
				       (fin ? TH_FIN : 0)),
			     c->sbuf + off, n);
		c->flags &= (uint8_t)~F_ACK_NOW;
		/* Time one fresh segment at a time; never a retransmission (Karn). */
		if (n && c->snd_nxt == c->snd_max && !(c->flags & F_RTT_TIMING)) {
			c->flags |= F_RTT_TIMING;
			c->rtt_seq = c->snd_nxt + n;
			c->rtt_start = now;
		}
		c->snd_nxt += n + (fin ? 1 : 0);
		if (SEQ_GT(c->snd_nxt, c->snd_max))
			c->snd_max = c->snd_nxt;
		if (fin && c->state == ESTABLISHED)
			c->state = FIN_WAIT_1;
		else if (fin && c->state == CLOSE_WAIT)
			c->state = LAST_ACK;
		if (!(c->flags & F_TIMER))
			arm_timer(c);
		if (fin)
			break;
	}
	/* Data held back by a zero window: the timer becomes a persist timer. */
	if (!(c->flags & F_TIMER) && c->snd_nxt - c->snd_una < c->slen)
		arm_timer(c);
	if (c->flags & F_ACK_NOW)
		send_ack(c);
}

static void rtt_sample(struct tcp_conn *c, uint32_t r)
{
	if (!(c->flags & F_RTT_VALID)) {
		c->srtt = r;
		c->rttvar = r / 2;
		c->flags |= F_RTT_VALID;
	} else {
		uint32_t delta = c->srtt > r ? c->srtt - r : r - c->srtt;

		c->rttvar = (3 * c->rttvar + delta) / 4;
		c->srtt = (7 * c->srtt + r) / 8;
	}
	c->rto = min32(max32(c->srtt + max32(1, 4 * c->rttvar), RTO_MIN_MS), RTO_MAX_MS);
}

/* Handles an ACK that covers new data (or our FIN).  Returns data bytes freed. */
static uint32_t new_ack(struct tcp_conn *c, uint32_t ack)
{
	uint32_t acked = ack - c->snd_una;

	if ((c->flags & F_FIN_QUEUED) && SEQ_GT(c->snd_max, c->snd_una + c->slen) &&
	    ack == c->snd_una + c->slen + 1) {
		c->flags |= F_FIN_ACKED;
		acked--;
	}
	memmove(c->sbuf, c->sbuf + acked, c->slen - acked);
	c->slen = (uint16_t)(c->slen - acked);
	c->snd_una = ack;
	if (SEQ_LT(c->snd_nxt, c->snd_una))
		c->snd_nxt = c->snd_una;	/* acked what go-back-N re-queued */
	c->retries = 0;
	c->dupacks = 0;

	if ((c->flags & F_RTT_TIMING) && SEQ_GEQ(ack, c->rtt_seq)) {
		c->flags &= (uint8_t)~F_RTT_TIMING;
		rtt_sample(c, now - c->rtt_start);
	}
	if (c->cwnd < c->ssthresh)
		c->cwnd += min32(acked ? acked : 1, c->mss);
	else
		c->cwnd += max32(1, (uint32_t)c->mss * c->mss / c->cwnd);
	c->cwnd = min32(c->cwnd, 0xffff);

	c->flags &= (uint8_t)~F_TIMER;
	if (c->snd_una != c->snd_max)
		arm_timer(c);
	return acked;
}

/* Three duplicate ACKs: resend the first unacknowledged segment (RFC 5681). */
static void fast_retransmit(struct tcp_conn *c)
{
	uint32_t flight = c->snd_max - c->snd_una;

	c->ssthresh = max32(flight / 2, 2u * c->mss);
	c->cwnd = c->ssthresh;
	c->flags &= (uint8_t)~F_RTT_TIMING;
	if (c->slen)
		send_segment(c, c->snd_una, TH_ACK, c->sbuf, min32(c->slen, c->mss));
}

static void on_timer(struct tcp_conn *c)
{
	c->flags &= (uint8_t)~F_TIMER;
	if (c->state == SYN_RECEIVED) {
		if (++c->retries > SYN_RETRIES) {
			free_conn(c);
			return;
		}
		c->rto = min32(c->rto * 2, RTO_MAX_MS);
		c->flags &= (uint8_t)~F_RTT_TIMING;
		send_synack(c);
		arm_timer(c);
		return;
	}
	if (c->snd_una == c->snd_max && c->snd_nxt - c->snd_una >= c->slen)
		return;		/* nothing in flight, nothing waiting */
	if (++c->retries > MAX_RETRIES) {
		abort_conn(c);
		return;
	}
	c->rto = min32(c->rto * 2, RTO_MAX_MS);
	if (c->snd_una != c->snd_max) {
		/* Retransmission timeout: go back to the first unacked byte. */
		c->ssthresh = max32((c->snd_max - c->snd_una) / 2, 2u * c->mss);
		c->cwnd = c->mss;
		c->snd_nxt = c->snd_una;
		c->dupacks = 0;
		c->flags &= (uint8_t)~F_RTT_TIMING;
		output(c);
	} else {
		/*
		 * Zero-window probe: a segment just below the window, which the
		 * peer must answer with an ACK carrying its current window.
		 */
		send_segment(c, c->snd_una - 1, TH_ACK, NULL, 0);
		arm_timer(c);
	}
}

void tcp_tick(uint32_t now_ms)
{
	now = now_ms;
	for (unsigned i = 0; i < TCP_MAX_CONNS; i++) {
		struct tcp_conn *c = &conns[i];

		if (c->state == CLOSED)
			continue;
		if ((c->flags & F_TIMER) && SEQ_GEQ(now, c->rexmit_at)) {
			on_timer(c);
			if (c->state == CLOSED)
				continue;
		}
		if ((c->state == TIME_WAIT && now - c->state_since >= TIME_WAIT_MS) ||
		    (c->state == FIN_WAIT_2 && now - c->state_since >= FIN_WAIT_2_MS))
			free_conn(c);
		else if (now - c->last_rx >= IDLE_ABORT_MS)
			abort_conn(c);
	}
}

static struct tcp_conn *lookup(uint32_t raddr, uint16_t rport)
{
	for (unsigned i = 0; i < TCP_MAX_CONNS; i++)
		if (conns[i].state != CLOSED && conns[i].raddr == raddr &&
		    conns[i].rport == rport)
			return &conns[i];
	return NULL;
}

/* A free slot, else the oldest TIME-WAIT one (RFC 1122 4.2.2.13 reuse). */
static struct tcp_conn *allocate(void)
{
	struct tcp_conn *oldest = NULL;

	for (unsigned i = 0; i < TCP_MAX_CONNS; i++) {
		struct tcp_conn *c = &conns[i];

		if (c->state == CLOSED)
			return c;
		if (c->state == TIME_WAIT &&
		    (!oldest || SEQ_LT(c->state_since, oldest->state_since)))
			oldest = c;
	}
	if (oldest)
		free_conn(oldest);
	return oldest;
}

static uint16_t parse_mss(const uint8_t *opt, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (opt[i] == 0)
			break;
		if (opt[i] == 1) {
			i++;
			continue;
		}
		if (i + 1 >= len || opt[i + 1] < 2 || i + opt[i + 1] > len)
			break;
		if (opt[i] == 2 && opt[i + 1] == 4)
			return get_be16(opt + i + 2);
		i += opt[i + 1];
	}
	return MSS_DEFAULT;
}

/* The reply to a segment for which no connection exists (3.10.7.1). */
static void reset_unknown(uint32_t src, uint16_t sport, uint16_t dport, uint32_t seq,
			  uint32_t ack, uint8_t flags, size_t seg_len)
{
	if (flags & TH_RST)
		return;
	if (flags & TH_ACK)
		emit(src, dport, sport, ack, 0, TH_RST, 0, 0, NULL, 0);
	else
		emit(src, dport, sport, 0, seq + (uint32_t)seg_len, TH_RST | TH_ACK, 0, 0, NULL,
		     0);
}

/* LISTEN (3.10.7.2): a SYN creates a connection in SYN-RECEIVED. */
static void listen_input(uint32_t src, uint16_t sport, uint32_t seq, uint32_t ack,
			 uint8_t flags, uint16_t wnd, const uint8_t *opt, size_t optlen,
			 size_t seg_len)
{
	struct tcp_conn *c;

	if (flags & (TH_RST | TH_ACK) || !(flags & TH_SYN)) {
		if (flags & TH_ACK)
			reset_unknown(src, sport, listen_port, seq, ack, flags, seg_len);
		return;
	}
	c = allocate();
	if (!c)
		return;		/* table full: the client's SYN retry may find room */
	memset(c, 0, offsetof(struct tcp_conn, sbuf));
	c->state = SYN_RECEIVED;
	c->raddr = src;
	c->rport = sport;
	/* Data on the SYN is not queued; the peer sends it again. */
	c->irs = seq;
	c->rcv_nxt = seq + 1;
	c->iss = initial_seq(src, sport);
	c->snd_una = c->iss;
	c->snd_nxt = c->snd_max = c->iss + 1;
	c->snd_wnd = wnd;
	c->snd_wl1 = seq;
	c->mss = (uint16_t)min32(max32(parse_mss(opt, optlen), 64), MSS_OURS);
	c->cwnd = min32(10u * c->mss, max32(2u * c->mss, 14600));	/* RFC 6928 */
	c->ssthresh = 0xffff;
	c->rto = RTO_INITIAL_MS;
	c->last_rx = now;
	c->flags = F_RTT_TIMING;
	c->rtt_seq = c->iss + 1;
	c->rtt_start = now;
	send_synack(c);
	arm_timer(c);
}

/* 3.10.7.4 first check: is any of the segment inside our window? */
static int acceptable(const struct tcp_conn *c, uint32_t seq, uint32_t seg_len)
{
	uint32_t wnd = rcv_window(c);

	if (seg_len == 0)
		return wnd == 0 ? seq == c->rcv_nxt
				: SEQ_GEQ(seq, c->rcv_nxt) && SEQ_LT(seq, c->rcv_nxt + wnd);
	if (wnd == 0)
		return 0;
	return (SEQ_GEQ(seq, c->rcv_nxt) && SEQ_LT(seq, c->rcv_nxt + wnd)) ||
	       (SEQ_GEQ(seq + seg_len - 1, c->rcv_nxt) &&
		SEQ_LT(seq + seg_len - 1, c->rcv_nxt + wnd));
}

/* Acts on a peer's FIN that arrived in order (3.10.7.4, eighth check). */
static int fin_received(struct tcp_conn *c)
{
	c->rcv_nxt++;
	c->flags |= F_ACK_NOW;
	switch (c->state) {
	case ESTABLISHED:
		c->state = CLOSE_WAIT;
		return 1;
	case FIN_WAIT_1:
		c->state = (c->flags & F_FIN_ACKED) ? TIME_WAIT : CLOSING;
		c->state_since = now;
		return 0;
	case FIN_WAIT_2:
		c->state = TIME_WAIT;
		c->state_since = now;
		return 0;
	default:
		return 0;
	}
}

static void conn_input(struct tcp_conn *c, uint32_t seq, uint32_t ack, uint8_t flags,
		       uint16_t wnd, const uint8_t *data, uint32_t dlen)
{
	uint32_t seg_len = dlen + !!(flags & TH_SYN) + !!(flags & TH_FIN);
	uint32_t freed = 0, skip;
	int new_data = 0, eof = 0;

	/* A retransmitted SYN: our SYN-ACK was lost. */
	if (c->state == SYN_RECEIVED && (flags & TH_SYN) && !(flags & TH_ACK) &&
	    seq == c->irs) {
		send_synack(c);
		return;
	}
	if (!acceptable(c, seq, seg_len)) {
		if (!(flags & TH_RST))
			send_ack(c);
		return;
	}
	/* RFC 5961: only an exact RST resets; others get a challenge ACK. */
	if (flags & TH_RST) {
		if (seq == c->rcv_nxt)
			free_conn(c);
		else
			send_ack(c);
		return;
	}
	if (flags & TH_SYN) {
		send_ack(c);
		return;
	}
	if (!(flags & TH_ACK))
		return;
	c->last_rx = now;

	/* Trim what we already have, and what does not fit the window. */
	if (SEQ_LT(seq, c->rcv_nxt)) {
		skip = c->rcv_nxt - seq;
		if (skip > dlen) {
			skip = dlen;
			flags &= (uint8_t)~TH_FIN;
		}
		data += skip;
		dlen -= skip;
		seq += skip;
		c->flags |= F_ACK_NOW;
	}
	if (dlen > rcv_window(c)) {
		dlen = rcv_window(c);
		flags &= (uint8_t)~TH_FIN;
	}

	if (c->state == SYN_RECEIVED) {
		if (SEQ_LEQ(ack, c->snd_una) || SEQ_GT(ack, c->snd_max)) {
			emit(c->raddr, listen_port, c->rport, ack, 0, TH_RST, 0, 0, NULL, 0);
			return;
		}
		c->state = ESTABLISHED;
		c->snd_una = ack;
		c->snd_wnd = wnd;
		c->snd_wl1 = seq;
		c->snd_wl2 = ack;
		c->retries = 0;
		c->flags &= (uint8_t)~F_TIMER;
		if (c->flags & F_RTT_TIMING) {
			c->flags &= (uint8_t)~F_RTT_TIMING;
			rtt_sample(c, now - c->rtt_start);
		}
		c->flags |= F_OPENED;
		app_event(c, TCP_EV_OPEN);
		if (c->state == CLOSED)
			return;
	} else if (SEQ_GT(ack, c->snd_max)) {
		send_ack(c);	/* acknowledges something we never sent */
		return;
	} else if (SEQ_GT(ack, c->snd_una)) {
		freed = new_ack(c, ack);
	} else if (ack == c->snd_una && dlen == 0 && !(flags & TH_FIN) &&
		   wnd == c->snd_wnd && c->snd_una != c->snd_max && ++c->dupacks == 3) {
		fast_retransmit(c);
	}

	/* Window update, unless the segment is older than the last one used. */
	if (SEQ_LT(c->snd_wl1, seq) || (c->snd_wl1 == seq && SEQ_LEQ(c->snd_wl2, ack))) {
		if (wnd > c->snd_wnd)
			c->retries = 0;	/* a window opening is progress too */
		c->snd_wnd = wnd;
		c->snd_wl1 = seq;
		c->snd_wl2 = ack;
	}

	if (c->flags & F_FIN_ACKED) {
		if (c->state == FIN_WAIT_1) {
			c->state = FIN_WAIT_2;
			c->state_since = now;
		} else if (c->state == CLOSING) {
			c->state = TIME_WAIT;
			c->state_since = now;
		} else if (c->state == LAST_ACK) {
			free_conn(c);
			return;
		}
	}

	if (dlen) {
		c->flags |= F_ACK_NOW;
		if (seq != c->rcv_nxt) {
			flags &= (uint8_t)~TH_FIN;	/* out of order: dropped */
		} else if (c->state == ESTABLISHED || c->state == FIN_WAIT_1 ||
			   c->state == FIN_WAIT_2) {
			memcpy(c->rbuf + c->rlen, data, dlen);
			c->rlen = (uint16_t)(c->rlen + dlen);
			c->rcv_nxt += dlen;
			new_data = 1;
		}
	}
	if ((flags & TH_FIN) && seq + dlen == c->rcv_nxt)
		eof = fin_received(c);

	if (new_data) {
		app_event(c, TCP_EV_DATA);
		if (c->state == CLOSED)
			return;
	}
	if (freed) {
		app_event(c, TCP_EV_SENT);
		if (c->state == CLOSED)
			return;
	}
	if (eof) {
		app_event(c, TCP_EV_EOF);
		if (c->state == CLOSED)
			return;
	}
	output(c);
}

void tcp_input(uint32_t src, const uint8_t *seg, size_t len)
{
	size_t doff;
	uint16_t sport;
	uint32_t seq, ack;
	uint8_t flags;
	struct tcp_conn *c;

	if (len < TCP_HDR_LEN)
		return;
	doff = (size_t)(seg[12] >> 4) * 4;
	if (doff < TCP_HDR_LEN || doff > len)
		return;
	if (ip_checksum_fold(ip_checksum_add(ip_pseudo_sum(src, netif.ip, IP_PROTO_TCP, len),
					     seg, len)) != 0)
		return;
	sport = get_be16(seg);
	seq = get_be32(seg + 4);
	ack = get_be32(seg + 8);
	flags = seg[13];
	if (get_be16(seg + 2) != listen_port || sport == 0) {
		reset_unknown(src, sport, get_be16(seg + 2), seq, ack, flags,
			      len - doff + !!(flags & TH_SYN) + !!(flags & TH_FIN));
		return;
	}

	c = lookup(src, sport);
	/* A new SYN may take over a connection in TIME-WAIT (RFC 1122). */
	if (c && c->state == TIME_WAIT && (flags & (TH_SYN | TH_ACK | TH_RST)) == TH_SYN &&
	    SEQ_GT(seq, c->rcv_nxt)) {
		free_conn(c);
		c = NULL;
	}
	if (!c) {
		listen_input(src, sport, seq, ack, flags, get_be16(seg + 14), seg + TCP_HDR_LEN,
			     doff - TCP_HDR_LEN,
			     len - doff + !!(flags & TH_SYN) + !!(flags & TH_FIN));
		return;
	}
	conn_input(c, seq, ack, flags, get_be16(seg + 14), seg + doff, (uint32_t)(len - doff));
}

size_t tcp_recv_peek(struct tcp_conn *c, const uint8_t **data)
{
	*data = c->rbuf;
	return c->rlen;
}

void tcp_recv_consume(struct tcp_conn *c, size_t n)
{
	uint16_t before = rcv_window(c);

	if (n > c->rlen)
		n = c->rlen;
	memmove(c->rbuf, c->rbuf + n, c->rlen - n);
	c->rlen = (uint16_t)(c->rlen - n);
	/* Tell a peer stalled on a small window that it may send again. */
	if (before < c->mss && rcv_window(c) >= c->mss) {
		c->flags |= F_ACK_NOW;
		output(c);
	}
}

size_t tcp_send_space(const struct tcp_conn *c)
{
	if ((c->state != ESTABLISHED && c->state != CLOSE_WAIT) || (c->flags & F_FIN_QUEUED))
		return 0;
	return TCP_SBUF_SIZE - c->slen;
}

size_t tcp_send(struct tcp_conn *c, const void *data, size_t len)
{
	size_t n = min32((uint32_t)len, (uint32_t)tcp_send_space(c));

	if (n == 0)
		return 0;
	memcpy(c->sbuf + c->slen, data, n);
	c->slen = (uint16_t)(c->slen + n);
	output(c);
	return n;
}

void tcp_close(struct tcp_conn *c)
{
	if (c->state != ESTABLISHED && c->state != CLOSE_WAIT)
		return;
	c->flags |= F_FIN_QUEUED;
	output(c);
}

void tcp_abort(struct tcp_conn *c)
{
	if (c->state != CLOSED)
		abort_conn(c);
}
