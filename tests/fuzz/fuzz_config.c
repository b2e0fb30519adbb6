/*
 * fuzz_config.c - libFuzzer target: the configuration parser on any
 * bytes.  It must return a config or errors, never crash or leak.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	char *text;
	int n;

	if (len > 65536 || (text = malloc(len + 1)) == NULL)
		return 0;
	memcpy(text, data, len);
	text[len] = '\0';
	config_free(config_load_string("fuzz.conf", text, NULL, &n));
	free(text);
	return 0;
}
