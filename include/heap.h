/*
 * heap.h - give the heap's free memory back to the system.
 *
 * A module of its own, below every other, so that whoever frees
 * megabytes (the daemon after a reload, the metrics endpoint after an
 * answer) can call it without including the daemon.
 */
#ifndef SUMMON_HEAP_H
#define SUMMON_HEAP_H

/*
 * Give the free memory inside the heap back to the system, after work
 * that allocated and freed megabytes: a reload, a /metrics answer of
 * 10,000 services.  glibc returns on its own only what is free at the
 * top of the heap, and a few small blocks allocated or cached up there
 * meanwhile keep everything below them resident.
 */
void	heap_release(void);

#endif
