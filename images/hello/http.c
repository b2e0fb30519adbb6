/*
 * http.c - request parsing and the responses.
 *
 * Requests are parsed straight out of the TCP receive buffer, which also
 * bounds their size: a header block that does not fit is refused (431).
 * A response is only started when the send buffer can hold it whole, so
 * a client that pipelines without reading is paced by its own window.
 */
#include "clock.h"
#include "fmt.h"
#include "http.h"
#include "kstring.h"
#include "net.h"
#include "tcp.h"

#define HTTP_PORT 80
#define HTTP_IDLE_MS 30000
#define RESPONSE_MAX 1024
#define METHOD_MAX 16

enum parse_result { PARSE_MORE, PARSE_DONE, PARSE_BAD, PARSE_TOO_BIG };

struct request {
	const char *method;
	size_t method_len;
	const char *path;	/* up to the query string */
	size_t path_len;
	int http10;
	int bad_version;	/* HTTP/2.0 and the like */
	int conn_close, conn_keep_alive, has_host, chunked;
	uint32_t content_length;
	size_t header_len;	/* bytes through the empty line */
};

struct http_conn {
	struct tcp_conn *tcp;	/* NULL when the slot is unused */
	uint8_t closing;	/* we closed: whatever else arrives is dropped */
	uint8_t eof;		/* the client will send nothing more */
	uint8_t sink;		/* POST /sink: hash the body, then answer */
	uint8_t sink_close;	/* and close after that answer */
	uint32_t discard;	/* request body bytes still to skip */
	uint32_t sink_len;	/* POST /sink: the body's length */
	uint32_t sink_hash;	/* FNV-1a of the body so far */
	uint32_t stream_left;	/* GET /bytes/N: bytes still to send */
	uint32_t stream_off;	/* and the offset of the next one */
	uint8_t stream_close;	/* close once they are sent */
	uint32_t last_active;
};

#define STREAM_MAX (1u << 30)	/* GET /bytes/N: N at most 1 GiB */

/* The bytes of GET /bytes/N: byte i of the pattern (tests recompute it). */
static uint8_t pattern(uint32_t i)
{
	return (uint8_t)(i ^ (i >> 8) ^ (i >> 16));
}

static struct http_conn conns[TCP_MAX_CONNS];
static uint32_t requests_served;
static uint32_t now;

static int is_tchar(char c)
{
	/* RFC 9110 token characters. */
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c != '\0' && kmemmem("!#$%&'*+-.^_`|~", 15, &c, 1) != NULL);
}

static int is_vchar(char c)
{
	return c > 0x20 && c < 0x7f;
}

static int token_is(const char *s, size_t n, const char *lit)
{
	return n == strlen(lit) && kstrncasecmp(s, lit, n) == 0;
}

/* Strips leading and trailing spaces and tabs from [*s, *s + *n). */
static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* Does a comma-separated header value contain the token tok? */
static int list_has(const char *v, size_t n, const char *tok)
{
	while (n) {
		const char *comma = kmemmem(v, n, ",", 1);
		size_t item = comma ? (size_t)(comma - v) : n;
		const char *s = v;
		size_t len = item;

		trim(&s, &len);
		if (token_is(s, len, tok))
			return 1;
		if (!comma)
			break;
		v += item + 1;
		n -= item + 1;
	}
	return 0;
}

static int parse_request_line(const char *line, size_t n, struct request *r)
{
	const char *sp1 = kmemmem(line, n, " ", 1), *sp2, *q;
	size_t target_len;

	if (!sp1 || sp1 == line || (size_t)(sp1 - line) > METHOD_MAX)
		return -1;
	r->method = line;
	r->method_len = (size_t)(sp1 - line);
	for (size_t i = 0; i < r->method_len; i++)
		if (!is_tchar(line[i]))
			return -1;
	sp2 = kmemmem(sp1 + 1, n - r->method_len - 1, " ", 1);
	if (!sp2 || sp2 == sp1 + 1)
		return -1;
	target_len = (size_t)(sp2 - sp1 - 1);
	for (size_t i = 0; i < target_len; i++)
		if (!is_vchar(sp1[1 + i]))
			return -1;
	if (sp1[1] != '/')
		return -1;	/* origin-form only: we are nobody's proxy */
	r->path = sp1 + 1;
	q = kmemmem(r->path, target_len, "?", 1);
	r->path_len = q ? (size_t)(q - r->path) : target_len;

	line = sp2 + 1;
	n -= (size_t)(line - r->method);
	if (n != 8 || memcmp(line, "HTTP/", 5) != 0 || line[6] != '.' || line[5] < '0' ||
	    line[5] > '9' || line[7] < '0' || line[7] > '9')
		return -1;
	r->bad_version = line[5] != '1';
	r->http10 = line[5] == '1' && line[7] == '0';
	return 0;
}

static int parse_header(const char *line, size_t n, struct request *r)
{
	const char *colon = kmemmem(line, n, ":", 1);
	const char *v;
	size_t name_len, vlen;

	if (!colon || colon == line)
		return -1;
	name_len = (size_t)(colon - line);
	for (size_t i = 0; i < name_len; i++)
		if (!is_tchar(line[i]))
			return -1;	/* also rejects space before the colon */
	v = colon + 1;
	vlen = n - name_len - 1;
	trim(&v, &vlen);
	for (size_t i = 0; i < vlen; i++)
		if (!is_vchar(v[i]) && v[i] != ' ' && v[i] != '\t')
			return -1;

	if (token_is(line, name_len, "host")) {
		if (r->has_host)
			return -1;
		r->has_host = 1;
	} else if (token_is(line, name_len, "connection")) {
		r->conn_close |= list_has(v, vlen, "close");
		r->conn_keep_alive |= list_has(v, vlen, "keep-alive");
	} else if (token_is(line, name_len, "transfer-encoding")) {
		r->chunked = 1;
	} else if (token_is(line, name_len, "content-length")) {
		uint32_t cl = 0;

		if (vlen == 0 || vlen > 9)
			return -1;
		for (size_t i = 0; i < vlen; i++) {
			if (v[i] < '0' || v[i] > '9')
				return -1;
			cl = cl * 10 + (uint32_t)(v[i] - '0');
		}
		r->content_length = cl;
	}
	return 0;
}

/*
 * Parses one request head from buf.  A request line is judged as soon as
 * it is complete, so that garbage is answered without waiting for an
 * empty line that may never come.
 */
static enum parse_result parse(const char *buf, size_t len, struct request *r)
{
	size_t pos = 0;
	int first = 1;

	memset(r, 0, sizeof(*r));
	for (;;) {
		const char *nl = kmemmem(buf + pos, len - pos, "\n", 1);
		size_t n;

		if (!nl) {
			for (size_t i = pos; i < len; i++)
				if (!is_vchar(buf[i]) && buf[i] != ' ' && buf[i] != '\t' &&
				    buf[i] != '\r')
					return PARSE_BAD;
			return len >= TCP_RBUF_SIZE ? PARSE_TOO_BIG : PARSE_MORE;
		}
		n = (size_t)(nl - (buf + pos));
		if (n && buf[pos + n - 1] == '\r')
			n--;
		if (first) {
			if (parse_request_line(buf + pos, n, r) < 0)
				return PARSE_BAD;
			first = 0;
		} else if (n == 0) {
			r->header_len = (size_t)(nl + 1 - buf);
			/* RFC 9112 3.2: an HTTP/1.1 request without Host is bad. */
			return (!r->http10 && !r->has_host) ? PARSE_BAD : PARSE_DONE;
		} else if (parse_header(buf + pos, n, r) < 0) {
			return PARSE_BAD;
		}
		pos = (size_t)(nl + 1 - buf);
	}
}

static const char *status_text(unsigned status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	default:
		return "HTTP Version Not Supported";
	}
}

/* Sends one whole response; the caller checked the send space. */
static void respond(struct tcp_conn *c, unsigned status, const char *type, const char *body,
		    int head, int close, int http10_keep_alive)
{
	char buf[RESPONSE_MAX];
	size_t body_len = strlen(body);
	int n;

	n = fmt_snprintf(buf, sizeof(buf),
			 "HTTP/1.1 %u %s\r\n"
			 "Server: summon-hello\r\n"
			 "Content-Type: %s\r\n"
			 "Content-Length: %u\r\n"
			 "Cache-Control: no-store\r\n"
			 "%s%s\r\n"
			 "%s",
			 status, status_text(status), type, (uint32_t)body_len,
			 status == 405 ? "Allow: GET, HEAD\r\n" : "",
			 close ? "Connection: close\r\n"
			       : http10_keep_alive ? "Connection: keep-alive\r\n" : "",
			 head ? "" : body);
	if (n >= (int)sizeof(buf))
		n = (int)sizeof(buf) - 1;
	tcp_send(c, buf, (size_t)n);
}

/* The head of GET /bytes/N; the body is streamed by send_stream(). */
static void stream_header(struct tcp_conn *c, uint32_t n, int close, int keep10)
{
	char buf[RESPONSE_MAX];
	int len;

	len = fmt_snprintf(buf, sizeof(buf),
			   "HTTP/1.1 200 OK\r\n"
			   "Server: summon-hello\r\n"
			   "Content-Type: application/octet-stream\r\n"
			   "Content-Length: %u\r\n"
			   "Cache-Control: no-store\r\n"
			   "%s\r\n",
			   n, close ? "Connection: close\r\n"
				    : keep10 ? "Connection: keep-alive\r\n" : "");
	tcp_send(c, buf, (size_t)len);
}

/* Sends as much of a GET /bytes/N body as the send buffer takes. */
static void send_stream(struct tcp_conn *c, struct http_conn *h)
{
	uint8_t chunk[1024];

	while (h->stream_left > 0) {
		size_t space = tcp_send_space(c), n, sent, i;

		n = h->stream_left < sizeof(chunk) ? h->stream_left : sizeof(chunk);
		if (space < n)
			n = space;
		if (n == 0)
			return;		/* resumed by TCP_EV_SENT */
		for (i = 0; i < n; i++)
			chunk[i] = pattern(h->stream_off + (uint32_t)i);
		sent = tcp_send(c, chunk, n);
		if (sent == 0)
			return;
		h->stream_off += (uint32_t)sent;
		h->stream_left -= (uint32_t)sent;
	}
}

static void page(char *buf, size_t size)
{
	char ip[16];

	fmt_ipv4(ip, netif.ip);
	fmt_snprintf(buf, size,
		     "<!doctype html>\n"
		     "<html><head><title>summon-hello %s</title></head><body>\n"
		     "<h1>summon-hello</h1>\n"
		     "<p>Instance %s, up %u s, %u requests served.</p>\n"
		     "</body></html>\n",
		     ip, ip, now / 1000, requests_served);
}

/* Answers one parsed request.  Returns 1 if the connection must close. */
static int serve(struct tcp_conn *c, struct http_conn *h, const struct request *r)
{
	/* Methods are case-sensitive (RFC 9110 9.1): "get" is not GET. */
	int head = r->method_len == 4 && memcmp(r->method, "HEAD", 4) == 0;
	int get = r->method_len == 3 && memcmp(r->method, "GET", 3) == 0;
	int close = r->http10 ? !r->conn_keep_alive : r->conn_close;
	int keep10 = r->http10 && !close;
	char body[512];

	requests_served++;
	if (r->bad_version) {
		respond(c, 505, "text/plain", "http version not supported\n", head, 1, 0);
		return 1;
	}
	if (r->chunked) {
		/* Without parsing chunks we cannot find the next request. */
		respond(c, 501, "text/plain", "chunked bodies not supported\n", head, 1, 0);
		return 1;
	}
	if (r->method_len == 4 && memcmp(r->method, "POST", 4) == 0 &&
	    r->path_len == 5 && memcmp(r->path, "/sink", 5) == 0) {
		/* Answered once the whole body is in: see process(). */
		h->sink = 1;
		h->sink_close = (uint8_t)close;
		h->sink_len = r->content_length;
		h->sink_hash = 2166136261u;
		return 0;
	}
	if (!get && !head) {
		respond(c, 405, "text/plain", "method not allowed\n", 0, close, keep10);
		return close;
	}
	if (r->path_len > 7 && memcmp(r->path, "/bytes/", 7) == 0) {
		uint32_t n = 0;
		size_t i;

		for (i = 7; i < r->path_len && r->path[i] >= '0' && r->path[i] <= '9' &&
		     n <= STREAM_MAX / 10; i++)
			n = n * 10 + (uint32_t)(r->path[i] - '0');
		if (i != r->path_len || i == 7 || n > STREAM_MAX) {
			respond(c, 400, "text/plain", "bad byte count\n", head, close, keep10);
			return close;
		}
		stream_header(c, n, close, keep10);
		if (!head) {
			h->stream_left = n;
			h->stream_off = 0;
			h->stream_close = (uint8_t)close;
			return 0;	/* the body follows from process() */
		}
		return close;
	}
	if (r->path_len == 1) {
		page(body, sizeof(body));
		respond(c, 200, "text/html; charset=utf-8", body, head, close, keep10);
	} else if (r->path_len == 8 && memcmp(r->path, "/healthz", 8) == 0) {
		respond(c, 200, "text/plain", "ok\n", head, close, keep10);
	} else {
		respond(c, 404, "text/plain", "not found\n", head, close, keep10);
	}
	return close;
}

static void finish(struct tcp_conn *c, struct http_conn *h)
{
	const uint8_t *data;

	h->closing = 1;
	tcp_recv_consume(c, tcp_recv_peek(c, &data));
	tcp_close(c);
}

static void process(struct tcp_conn *c, struct http_conn *h)
{
	for (;;) {
		const uint8_t *data;
		size_t len = tcp_recv_peek(c, &data);
		struct request r;
		int close;

		if (h->closing) {
			tcp_recv_consume(c, len);
			return;
		}
		if (h->stream_left) {
			send_stream(c, h);
			if (h->stream_left)
				return;	/* resumed by TCP_EV_SENT */
			if (h->stream_close) {
				finish(c, h);
				return;
			}
			continue;
		}
		if (h->discard) {
			size_t n = len < h->discard ? len : h->discard;

			if (h->sink)
				for (size_t i = 0; i < n; i++)
					h->sink_hash = (h->sink_hash ^ data[i]) * 16777619u;
			tcp_recv_consume(c, n);
			h->discard -= (uint32_t)n;
			if (h->discard)
				break;
			continue;
		}
		if (h->sink) {
			char body[64];

			if (tcp_send_space(c) < RESPONSE_MAX)
				return;	/* resumed by TCP_EV_SENT */
			h->sink = 0;
			fmt_snprintf(body, sizeof(body), "bytes=%u fnv=%x\n", h->sink_len,
				     h->sink_hash);
			respond(c, 200, "text/plain", body, 0, h->sink_close, 0);
			if (h->sink_close) {
				finish(c, h);
				return;
			}
			continue;
		}
		if (len == 0)
			break;
		if (tcp_send_space(c) < RESPONSE_MAX)
			return;	/* resumed by TCP_EV_SENT */
		switch (parse((const char *)data, len, &r)) {
		case PARSE_MORE:
			goto drained;
		case PARSE_BAD:
			requests_served++;
			respond(c, 400, "text/plain", "bad request\n", 0, 1, 0);
			finish(c, h);
			return;
		case PARSE_TOO_BIG:
			requests_served++;
			respond(c, 431, "text/plain", "request header too large\n", 0, 1, 0);
			finish(c, h);
			return;
		case PARSE_DONE:
			break;
		}
		/*
		 * r points into the receive buffer: serve before consuming,
		 * which moves what follows the head (a body, the next
		 * request) over it.
		 */
		h->discard = r.content_length;
		close = serve(c, h, &r);
		tcp_recv_consume(c, r.header_len);
		if (close) {
			finish(c, h);
			return;
		}
	}
drained:
	/* Everything complete is answered; a half request will never end. */
	if (h->eof)
		finish(c, h);
}

static void on_event(struct tcp_conn *c, enum tcp_event ev)
{
	struct http_conn *h = &conns[tcp_conn_index(c)];

	switch (ev) {
	case TCP_EV_OPEN:
		memset(h, 0, sizeof(*h));
		h->tcp = c;
		h->last_active = now;
		break;
	case TCP_EV_DATA:
		h->last_active = now;
		process(c, h);
		break;
	case TCP_EV_SENT:
		process(c, h);
		break;
	case TCP_EV_EOF:
		h->eof = 1;
		process(c, h);
		break;
	case TCP_EV_CLOSED:
		h->tcp = NULL;
		break;
	}
}

void http_init(void)
{
	tcp_listen(HTTP_PORT, on_event);
}

void http_tick(uint32_t now_ms)
{
	now = now_ms;
	for (unsigned i = 0; i < TCP_MAX_CONNS; i++) {
		struct http_conn *h = &conns[i];

		if (h->tcp && !h->closing && now - h->last_active >= HTTP_IDLE_MS)
			finish(h->tcp, h);
	}
}
