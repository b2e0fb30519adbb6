/*
 * log.h - logging for summond and summonctl.
 *
 * The only global state of the program.  Messages go to stderr in the
 * foreground (-d), else to the journal when stderr is a journal stream,
 * else to syslog.  log_warn appends strerror(errno); log_warnx does not.
 */
#ifndef SUMMON_LOG_H
#define SUMMON_LOG_H

#include <stdarg.h>

enum log_level { LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

/*
 * Start logging as ident.  foreground: write to stderr.  verbose: 0 logs
 * warnings and info, 1 and more adds debug.
 */
void	log_init(const char *ident, int foreground, int verbose);
void	log_setverbose(int verbose);
int	log_getverbose(void);

void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Log and exit(1). */
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
