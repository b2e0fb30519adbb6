/*
 * heap.c - give the heap's free memory back to the system.
 */
#include <stdlib.h>	/* first: with glibc, it defines __GLIBC__ */
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "heap.h"

void
heap_release(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}
