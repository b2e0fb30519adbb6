/*
 * tcp.h - a TCP server (RFC 9293, passive open only) for one listening
 * port.
 *
 * Each connection owns a linear receive buffer (its free space is the
 * advertised window) and a send buffer holding data until acknowledged.
 * Retransmission uses the RFC 6298 timer with go-back-N on timeout, fast
 * retransmit on three duplicate ACKs, slow start and congestion avoidance
 * (RFC 5681), zero-window probes, and RFC 5961 challenge ACKs.  Out-of-
 * order segments are dropped and re-requested with a duplicate ACK.  No
 * window scaling, timestamps or SACK: buffers here are a few KiB.
 *
 * Dead peers cost nothing for long: a handshake is abandoned after 5
 * SYN-ACKs, an established connection is reset after 8 retransmissions
 * without progress or 10 minutes without a segment, FIN-WAIT-2 ends after
 * 30 s, TIME-WAIT after 10 s (and is recycled early when the table fills).
 */
#ifndef HELLO_TCP_H
#define HELLO_TCP_H

#include <stddef.h>
#include <stdint.h>

#define TCP_MAX_CONNS 128
#define TCP_RBUF_SIZE 2048
#define TCP_SBUF_SIZE 8192

struct tcp_conn;

enum tcp_event {
	TCP_EV_OPEN,	/* the handshake completed: a new connection */
	TCP_EV_DATA,	/* new bytes wait in the receive buffer */
	TCP_EV_SENT,	/* acknowledged data left the send buffer */
	TCP_EV_EOF,	/* the peer sent FIN: no more data will come */
	TCP_EV_CLOSED,	/* the connection is gone; do not use it again */
};

/*
 * The application's one callback.  It runs inside tcp_input or tcp_tick
 * and may call any function below on the connection it is given; after
 * TCP_EV_CLOSED (delivered exactly once per opened connection, also after
 * tcp_abort) the connection belongs to TCP again.
 */
typedef void (*tcp_event_fn)(struct tcp_conn *c, enum tcp_event ev);

/* Accepts connections on port; every other port answers with RST. */
void tcp_listen(uint16_t port, tcp_event_fn fn);

/* A stable index below TCP_MAX_CONNS, for per-connection app state. */
unsigned tcp_conn_index(const struct tcp_conn *c);

/* Points *data at the received bytes not yet consumed; returns their count. */
size_t tcp_recv_peek(struct tcp_conn *c, const uint8_t **data);

/* Drops the first n received bytes, opening the window again. */
void tcp_recv_consume(struct tcp_conn *c, size_t n);

/* Bytes tcp_send() would accept now. */
size_t tcp_send_space(const struct tcp_conn *c);

/*
 * Queues up to len bytes and sends what the windows allow.  Returns the
 * number queued: 0 once the connection is closing or when full.
 */
size_t tcp_send(struct tcp_conn *c, const void *data, size_t len);

/* Sends FIN after the queued data (graceful close). */
void tcp_close(struct tcp_conn *c);

/* Sends RST and frees the connection (TCP_EV_CLOSED follows at once). */
void tcp_abort(struct tcp_conn *c);

/* Handles one TCP segment from src (the IPv4 payload). */
void tcp_input(uint32_t src, const uint8_t *seg, size_t len);

/* Runs retransmission, probe and time-out timers. */
void tcp_tick(uint32_t now_ms);

#endif
