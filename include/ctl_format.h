/*
 * ctl_format.h - how summonctl shows things to people: durations, sizes
 * and aligned tables that fit a terminal.
 */
#ifndef SUMMON_CTL_FORMAT_H
#define SUMMON_CTL_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * A duration for people: "850ms", "3.2s", "4m", "1h12m", "3d"; "-" when
 * ms is negative (unknown).  Writes at most len bytes to buf; returns buf.
 */
char	*fmt_duration(int64_t ms, char *buf, size_t len);

/*
 * A size in bytes for people: "512", "1.5K", "32M", "7.8G", "2.0T"; "-"
 * when negative (unknown).  Writes at most len bytes to buf; returns buf.
 */
char	*fmt_bytes(int64_t b, char *buf, size_t len);

/*
 * A table of rows x cols cells (row 0 is the header), printed with each
 * column as wide as its widest cell and two blanks between columns.  If
 * the table is wider than width, the column shrink (if >= 0) is cut to
 * fit, its cells ending in "~".
 */
void	fmt_table(FILE *, const char *const *cells, size_t rows, size_t cols,
	    size_t width, int shrink);

#endif
