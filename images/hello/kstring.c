/*
 * kstring.c - byte-wise memory and string routines.
 *
 * Deliberately simple loops: the buffers handled here are packets and
 * small HTTP requests, and rep-prefixed instructions would buy little.
 */
#include "kstring.h"

void *memcpy(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
	unsigned char *d = dst;
	const unsigned char *s = src;

	if (d < s) {
		while (n--)
			*d++ = *s++;
	} else {
		while (n--)
			d[n] = s[n];
	}
	return dst;
}

void *memset(void *dst, int c, size_t n)
{
	unsigned char *d = dst;

	while (n--)
		*d++ = (unsigned char)c;
	return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
	const unsigned char *p = a, *q = b;

	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p - *q;
	return 0;
}

size_t strlen(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

const char *kmemmem(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
	size_t i;

	if (nlen > hlen)
		return NULL;
	for (i = 0; i + nlen <= hlen; i++)
		if (memcmp(hay + i, needle, nlen) == 0)
			return hay + i;
	return NULL;
}

static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c + 'a' - 'A') : c;
}

int kstrncasecmp(const char *a, const char *b, size_t n)
{
	for (; n; n--, a++, b++)
		if (lower(*a) != lower(*b))
			return 1;
	return 0;
}
