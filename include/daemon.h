/*
 * daemon.h - summond's top level: one struct owns the loop and modules.
 *
 * The daemon is the module on top: it makes every other module and
 * hands each what it acts on (the control socket a struct control_env,
 * the metrics endpoint a render function), so none of them includes
 * this header.  What it holds is private to src/daemon/.
 */
#ifndef SUMMON_DAEMON_H
#define SUMMON_DAEMON_H

struct config;
struct daemon;

/*
 * Bring up every module for cfg (taking ownership of it, also on
 * failure): the control socket, the store, the lifecycle, the proxy,
 * DNS, the reaper, metrics, signals.  config_path is the file a reload
 * reads again.  Returns the daemon, or NULL after logging why, with
 * whatever was brought up taken down again.
 */
struct daemon	*daemon_new(const char *config_path, struct config *cfg);
/* Run the loop until SIGTERM/SIGINT; returns the exit code. */
int		 daemon_run(struct daemon *);
/* Take every module down and free the daemon. */
void		 daemon_free(struct daemon *);

#endif
