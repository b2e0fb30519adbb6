/*
 * fuzz_control.c - libFuzzer target: the control protocol's request
 * decoder and answer decoder on any line.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct ctl_request req;
	char err[256], *line, *again;
	const char *kind;
	json_t *body;
	int64_t id;

	if (ctl_request_decode((const char *)data, len, &req, err,
	    sizeof(err)) == 0) {
		/* What decodes must encode and decode the same way. */
		if ((again = ctl_request_encode(&req)) != NULL) {
			struct ctl_request r2;
			if (ctl_request_decode(again, strlen(again) - 1, &r2,
			    err, sizeof(err)) != 0 || r2.cmd != req.cmd)
				abort();
			ctl_request_clear(&r2);
			free(again);
		}
		ctl_request_clear(&req);
	}
	if ((line = malloc(len + 1)) == NULL)
		return 0;
	memcpy(line, data, len);
	line[len] = '\0';
	if (ctl_answer_decode(line, &id, &kind, &body, err, sizeof(err)) == 0)
		json_decref(body);
	free(line);
	return 0;
}
