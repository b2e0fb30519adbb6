/*
 * kstring.h - the few string and memory routines of a C library that the
 * kernel and gcc itself need (gcc may emit calls to memcpy, memmove,
 * memset and memcmp even in freestanding code).
 */
#ifndef HELLO_KSTRING_H
#define HELLO_KSTRING_H

#include <stddef.h>

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

/* Returns the first occurrence of needle (nlen bytes) in hay, or NULL. */
const char *kmemmem(const char *hay, size_t hlen, const char *needle, size_t nlen);

/* Compares n bytes ignoring ASCII case; returns 0 when equal. */
int kstrncasecmp(const char *a, const char *b, size_t n);

#endif
