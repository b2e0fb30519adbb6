/*
 * metrics_http.h - the request parser of the /metrics responder, a pure
 * function over the bytes read so far (tests/test_metrics.c).
 */
#ifndef SUMMON_METRICS_HTTP_H
#define SUMMON_METRICS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#define METRICS_HEAD_MAX	8192	/* request line and headers, bytes */

/*
 * Read the request head at the start of buf (len bytes, not
 * NUL-terminated: everything read on the connection so far).  Returns 0
 * while the head is incomplete and shorter than METRICS_HEAD_MAX, else
 * the status to answer: 200 (GET or HEAD of /metrics), 400 (malformed),
 * 404 (another path), 405 (another method), 413 (the request has a
 * body), 431 (no blank line within METRICS_HEAD_MAX) or 505 (not
 * HTTP/1.x).  *scanned is where the search for the blank line resumes:
 * 0 before the first call, kept by the caller between calls on the same
 * buffer, so that a head arriving a byte at a time is not searched
 * again and again.  *head is set for a HEAD request.
 */
int	metrics_http_request(const char *buf, size_t len, size_t *scanned,
	    bool *head);

#endif
