/*
 * fmt.c - a small vsnprintf.
 */
#include "fmt.h"

struct out {
	char *buf;
	size_t size;
	size_t len;
};

static void put(struct out *o, char c)
{
	if (o->len + 1 < o->size)
		o->buf[o->len] = c;
	o->len++;
}

static void put_uint(struct out *o, uint32_t v, unsigned base, unsigned width, char pad,
		     int negative)
{
	char digits[12];
	unsigned n = 0;

	do {
		digits[n++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (negative)
		digits[n++] = '-';
	while (width > n) {
		put(o, pad);
		width--;
	}
	while (n)
		put(o, digits[--n]);
}

int fmt_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = {buf, size, 0};

	for (; *fmt; fmt++) {
		unsigned width = 0;
		char pad = ' ';

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		if (*fmt == '0')
			pad = '0';
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (unsigned)(*fmt++ - '0');
		if (*fmt == 'l')
			fmt++;
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			unsigned n = 0;

			while (s[n])
				n++;
			for (; width > n; width--)
				put(&o, ' ');
			while (*s)
				put(&o, *s++);
			break;
		}
		case 'c':
			put(&o, (char)va_arg(ap, int));
			break;
		case 'd': {
			int32_t v = va_arg(ap, int32_t);

			put_uint(&o, v < 0 ? 0u - (uint32_t)v : (uint32_t)v, 10, width, pad, v < 0);
			break;
		}
		case 'u':
			put_uint(&o, va_arg(ap, uint32_t), 10, width, pad, 0);
			break;
		case 'x':
			put_uint(&o, va_arg(ap, uint32_t), 16, width, pad, 0);
			break;
		case '%':
			put(&o, '%');
			break;
		case '\0':
			fmt--;
			break;
		default:
			put(&o, '?');
			break;
		}
	}
	if (o.size)
		o.buf[o.len < o.size ? o.len : o.size - 1] = '\0';
	return (int)o.len;
}

int fmt_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = fmt_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

void fmt_ipv4(char buf[16], uint32_t addr)
{
	fmt_snprintf(buf, 16, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xff,
		     (addr >> 8) & 0xff, addr & 0xff);
}
