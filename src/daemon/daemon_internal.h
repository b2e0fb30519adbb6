/*
 * daemon_internal.h - what the daemon's files share; not for other
 * modules.
 */
#ifndef SUMMON_DAEMON_INTERNAL_H
#define SUMMON_DAEMON_INTERNAL_H

struct evbuffer;

/* daemon_metrics.c */
/*
 * A metrics_render_fn: the exposition of daemon (a struct daemon *),
 * appended to out.
 */
void	daemon_metrics_render(void *daemon, struct evbuffer *out);

#endif
