/*
 * fmt.h - formatted output into a bounded buffer.
 *
 * Supports %s %c %d %u %x and %% with an optional field width and the
 * '0' flag, and the 'l' length modifier (long is 32 bits here).  Enough
 * for the console and the HTTP responses; anything else prints '?'.
 */
#ifndef HELLO_FMT_H
#define HELLO_FMT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Writes at most size bytes including the terminating NUL into buf and
 * returns the length the full output would have had (as C99 snprintf).
 */
int fmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
int fmt_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes the dotted quad of addr (host byte order) into buf (16 bytes). */
void fmt_ipv4(char buf[16], uint32_t addr);

#endif
