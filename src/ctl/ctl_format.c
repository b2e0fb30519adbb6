/*
 * ctl_format.c - durations and tables for summonctl.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_format.h"

char *
fmt_duration(int64_t ms, char *buf, size_t len)
{
	if (ms < 0)
		snprintf(buf, len, "-");
	else if (ms < 1000)
		snprintf(buf, len, "%" PRId64 "ms", ms);
	else if (ms < 10000)
		snprintf(buf, len, "%" PRId64 ".%" PRId64 "s", ms / 1000,
		    ms % 1000 / 100);
	else if (ms < 60000)
		snprintf(buf, len, "%" PRId64 "s", ms / 1000);
	else if (ms < 3600000)
		snprintf(buf, len, "%" PRId64 "m", ms / 60000);
	else if (ms < 86400000) {
		if (ms / 60000 % 60 != 0)
			snprintf(buf, len, "%" PRId64 "h%" PRId64 "m",
			    ms / 3600000, ms / 60000 % 60);
		else
			snprintf(buf, len, "%" PRId64 "h", ms / 3600000);
	} else
		snprintf(buf, len, "%" PRId64 "d", ms / 86400000);
	return buf;
}

char *
fmt_bytes(int64_t b, char *buf, size_t len)
{
	static const char units[] = "KMGT";
	double v = (double)b;
	int u = -1;

	if (b < 0) {
		snprintf(buf, len, "-");
		return buf;
	}
	while (v >= 1024 && u < 3) {
		v /= 1024;
		u++;
	}
	if (u < 0)
		snprintf(buf, len, "%" PRId64, b);
	else
		snprintf(buf, len, "%.*f%c", v < 10 ? 1 : 0, v, units[u]);
	return buf;
}

void
fmt_table(FILE *f, const char *const *cells, size_t rows, size_t cols,
    size_t width, int shrink)
{
	size_t *w = calloc(cols, sizeof(*w)), r, c, total = 0, len;

	if (w == NULL)
		return;
	for (r = 0; r < rows; r++)
		for (c = 0; c < cols; c++) {
			len = strlen(cells[r * cols + c]);
			if (len > w[c])
				w[c] = len;
		}
	for (c = 0; c < cols; c++)
		total += w[c] + (c + 1 < cols ? 2 : 0);
	if (total > width && shrink >= 0 && (size_t)shrink < cols) {
		size_t over = total - width, min = 6;
		w[shrink] = w[shrink] > over + min ? w[shrink] - over :
		    (w[shrink] < min ? w[shrink] : min);
	}
	for (r = 0; r < rows; r++) {
		for (c = 0; c < cols; c++) {
			const char *s = cells[r * cols + c];
			len = strlen(s);
			if (len > w[c])	/* only the shrunk column */
				fprintf(f, "%.*s~", (int)w[c] - 1, s);
			else if (c + 1 < cols)
				fprintf(f, "%-*s", (int)w[c], s);
			else
				fputs(s, f);
			if (c + 1 < cols)
				fputs("  ", f);
		}
		fputc('\n', f);
	}
	free(w);
}
