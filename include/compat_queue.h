/*
 * compat_queue.h - <sys/queue.h> with the BSD macros glibc lacks.
 */
#ifndef SUMMON_COMPAT_QUEUE_H
#define SUMMON_COMPAT_QUEUE_H

#include <sys/queue.h>

#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

#endif
