/*
 * http.h - the HTTP/1.1 server on TCP port 80.
 *
 *   GET|HEAD /         200, a small page naming the instance
 *   GET|HEAD /healthz  200, "ok"
 *   other paths        404;  other methods 405
 *   malformed          400, then the connection is closed
 *
 * Keep-alive (HTTP/1.1 by default, HTTP/1.0 on request), pipelining, and
 * Content-Length on every response; a request body given by
 * Content-Length is skipped, a chunked one is refused (501).  A connection
 * idle for 30 s is closed.
 */
#ifndef HELLO_HTTP_H
#define HELLO_HTTP_H

#include <stdint.h>

/* Starts listening on port 80. */
void http_init(void);

/* Closes idle keep-alive connections; call with the current time. */
void http_tick(uint32_t now_ms);

#endif
