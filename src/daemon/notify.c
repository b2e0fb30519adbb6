/*
 * notify.c - the service manager's notification protocol without
 * libsystemd: a datagram to $NOTIFY_SOCKET, and $WATCHDOG_USEC read
 * back.  systemd documents the protocol as stable and meant to be spoken
 * directly (sd_notify(3)); linking libsystemd for it cost 0.8 MiB of
 * resident memory, the library and the libgcrypt, liblz4 and libcap it
 * loads (docs/benchmarks.md).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon_internal.h"

int
daemon_notify(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	size_t n;
	ssize_t sent;
	int fd, saved;

	if (path == NULL || path[0] == '\0')
		return 0;
	n = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || n > sizeof(sun.sun_path)) {
		errno = EAFNOSUPPORT;
		return -1;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, n);
	if (path[0] == '@')
		sun.sun_path[0] = '\0';		/* the abstract namespace */
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
	    (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
	saved = errno;
	close(fd);
	errno = saved;
	return sent == -1 ? -1 : 1;
}

uint64_t
daemon_watchdog_usec(void)
{
	const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long v;
	char *end;

	/* WATCHDOG_PID names the process meant, when it is set. */
	if (us == NULL || us[0] < '0' || us[0] > '9' ||
	    (pid != NULL && strtoll(pid, NULL, 10) != getpid()))
		return 0;
	errno = 0;
	v = strtoull(us, &end, 10);
	return errno != 0 || *end != '\0' ? 0 : v;
}
