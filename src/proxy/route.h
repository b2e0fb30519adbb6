/*
 * route.h - the host name a connection asks for, read from the first
 * bytes a client sends: the server name of a TLS ClientHello (RFC 8446
 * 4.1.2, RFC 6066 3) or the Host header of an HTTP/1.x request head
 * (RFC 9112 3, RFC 9110 7.2).  Pure functions over a buffer, for the
 * proxy's shared listeners (proxy_route.c); nothing is decrypted or
 * answered here.
 */
#ifndef SUMMON_ROUTE_H
#define SUMMON_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The most a shared listener reads before it must know the name: a
 * TLS record's largest plaintext (2^14), well beyond a ClientHello with
 * a post-quantum key share (about 1.8 KB), and twice the line that HTTP
 * servers accept in a request head (nginx and Apache: 8 KiB).
 */
#define ROUTE_PEEK_MAX	(16 * 1024)
/* A host name, without its trailing dot (RFC 1035: 255 with the root). */
#define ROUTE_NAME_MAX	253

enum route_result {
	ROUTE_MORE,		/* the name may be in bytes not yet read */
	ROUTE_FOUND,		/* st->name holds it */
	ROUTE_NO_NAME,		/* complete, and it names no host */
	ROUTE_MALFORMED,	/* not a ClientHello or request head we read */
};

/*
 * A parse in progress.  Zero it for a new connection, then call the
 * parser with the connection's bytes from the first one each time more
 * arrive (the same bytes, and more after them): it goes on where it
 * stopped, so bytes that trickle in cost linear time in all.
 */
struct route_state {
	size_t		 want;		/* ROUTE_MORE: nothing new before this */
	size_t		 pos;		/* where the parse goes on: a record, a line */
	size_t		 scan;		/* sni: handshake bytes before pos;
					   host: no line end before this */
	size_t		 hello;		/* sni: the ClientHello's length with
					   its header, once known */
	bool		 started;	/* host: the request line was read */
	bool		 host;		/* host: a Host header was read */
	char		 name[ROUTE_NAME_MAX + 1];	/* lower case */
};

/*
 * The server name of the TLS ClientHello that buf (len bytes, the
 * first bytes of a connection) starts with: its handshake records up
 * to the end of the ClientHello, which may span several records.
 * ROUTE_FOUND: st->name is the host_name of the server_name extension,
 * in lower case without a trailing dot.  ROUTE_NO_NAME: a whole
 * ClientHello without that extension or a host_name in it.
 * ROUTE_MALFORMED: anything else a ClientHello may not be, or one that
 * claims more than ROUTE_PEEK_MAX bytes.  ROUTE_MORE: call again when
 * at least st->want bytes are in.
 */
enum route_result route_sni(struct route_state *st, const uint8_t *buf,
		    size_t len);

/*
 * The Host header of the HTTP/1.x request head that buf (len bytes, the
 * first bytes of a connection) starts with, read up to the empty line
 * that ends the head.  ROUTE_FOUND: st->name is the host in lower case,
 * without a :port or a trailing dot (an IPv6 literal keeps its
 * brackets).  ROUTE_NO_NAME: a whole head without a Host header (an
 * HTTP/1.0 request) or with an empty one.  ROUTE_MALFORMED: a request
 * line that is not METHOD TARGET HTTP/1.x, a header line without a
 * name and a colon, a line folded or with a stray CR or control byte,
 * two Host headers, or a host that is not a DNS name or IP literal.
 * ROUTE_MORE: the head has not ended in buf.
 */
enum route_result route_host(struct route_state *st, const uint8_t *buf,
		    size_t len);

#endif
