/*
 * fuzz_route.c - libFuzzer target: the ClientHello and request-head
 * parsers of the proxy's shared listeners on any bytes, whole and as a
 * connection delivers them.
 *
 * Each parser reads the input once whole and once fed in pieces (of a
 * size the input's length picks, called when st.want bytes are in, as
 * the proxy calls it); both readings must agree, a found name must be a
 * lower-case host name, and a parser must not ask for more bytes than
 * a shared listener reads.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "src/proxy/route.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

typedef enum route_result (*parser)(struct route_state *, const uint8_t *,
    size_t);

static void
check(parser fn, const uint8_t *data, size_t len)
{
	struct route_state whole, fed;
	enum route_result a, b = ROUTE_MORE;
	size_t step = 1 + len % 13, n = 0;
	const char *c;

	memset(&whole, 0, sizeof(whole));
	a = fn(&whole, data, len);
	if (a == ROUTE_MORE && (whole.want <= len ||
	    (fn == route_sni && whole.want > ROUTE_PEEK_MAX)))
		abort();
	if (a == ROUTE_FOUND) {
		if (whole.name[0] == '\0' ||
		    strlen(whole.name) > ROUTE_NAME_MAX)
			abort();
		for (c = whole.name; *c != '\0'; c++)
			if (*c >= 'A' && *c <= 'Z')
				abort();
	}
	memset(&fed, 0, sizeof(fed));
	while (b == ROUTE_MORE && n < len) {
		n = n + step < len ? n + step : len;
		if (n >= fed.want)
			b = fn(&fed, data, n);
	}
	if (a != b)
		abort();
	if (b == ROUTE_FOUND && strcmp(whole.name, fed.name) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	if (len > 2 * ROUTE_PEEK_MAX)
		return 0;
	check(route_sni, data, len);
	check(route_host, data, len);
	return 0;
}
