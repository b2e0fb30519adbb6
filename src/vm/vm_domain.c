/*
 * vm_domain.c - a guest description, and the libvirt domain XML made of
 * it: the template read, every ${variable} filled in, summon's metadata
 * added.  The backend's threads run this, so the template's file I/O
 * stays off the main loop.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "vm.h"
#include "vm_xml.h"


/* The guest's address on the network QEMU's user mode makes. */
#define USER_IP		"10.0.2.15"
#define USER_GATEWAY	"10.0.2.2"
#define USER_PREFIX	"24"

/* Room for s (and its NUL) in a copy: 0 for NULL. */
static size_t
str_room(const char *s)
{
	return s != NULL ? strlen(s) + 1 : 0;
}

/* Copy *s to *at and point *s there (NULL stays NULL). */
static void
str_move(const char **s, char **at)
{
	size_t n;

	if (*s == NULL)
		return;
	n = strlen(*s) + 1;
	memcpy(*at, *s, n);
	*s = *at;
	*at += n;
}

struct vm_guest *
vm_guest_copy(const struct vm_guest *g)
{
	const char **strs[9];
	struct vm_guest *c;
	size_t room, fwd, i, n = 0;
	char *at;

	fwd = g->nforwards * sizeof(*g->forwards);
	room = sizeof(*c) + fwd + str_room(g->name) + str_room(g->service) +
	    str_room(g->template) + str_room(g->templates) +
	    str_room(g->kernel) + str_room(g->initrd) + str_room(g->cmdline) +
	    str_room(g->network) + str_room(g->serial_log);
	if ((c = malloc(room)) == NULL)
		return NULL;
	*c = *g;
	at = (char *)(c + 1);
	/* struct vm_forward is two uint16_t: any address past c will do. */
	if (fwd > 0) {
		memcpy(at, g->forwards, fwd);
		c->forwards = (const struct vm_forward *)(void *)at;
		at += fwd;
	} else
		c->forwards = NULL;
	strs[n++] = &c->name;
	strs[n++] = &c->service;
	strs[n++] = &c->template;
	strs[n++] = &c->templates;
	strs[n++] = &c->kernel;
	strs[n++] = &c->initrd;
	strs[n++] = &c->cmdline;
	strs[n++] = &c->network;
	strs[n++] = &c->serial_log;
	for (i = 0; i < n; i++)
		str_move(strs[i], &at);
	return c;
}

static int
read_file(const char *path, char **out, char *err, size_t errlen)
{
	struct stat st;
	char *buf;
	ssize_t n;
	int fd;

	/* Checked at load, but it may have been replaced since. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1 ||
	    fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%.400s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%.400s: not a regular file", path);
		close(fd);
		return -1;
	}
	if (st.st_size > CFG_TEMPLATE_MAX) {
		snprintf(err, errlen, "%.400s: larger than %d bytes", path,
		    CFG_TEMPLATE_MAX);
		close(fd);
		return -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	n = buf != NULL ? read(fd, buf, (size_t)st.st_size) : -1;
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "%.400s: %s", path, strerror(errno));
		free(buf);
		return -1;
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}

/*
 * Remove from xml, in place, each empty <initrd></initrd>: what a
 * template's <initrd>${initrd}</initrd> becomes for a guest without an
 * initramfs.  libvirt 9.0 reads an empty one as none, but that is its
 * parser's leniency, not its schema; the domain summon hands it says
 * what it means.  An element alone on its line goes with the line.
 */
static void
drop_empty_initrd(char *xml)
{
	static const char tag[] = "<initrd></initrd>";
	char *at, *from, *to;

	while ((at = strstr(xml, tag)) != NULL) {
		to = at + sizeof(tag) - 1;
		for (from = at; from > xml && (from[-1] == ' ' ||
		    from[-1] == '\t'); from--)
			;
		if ((from == xml || from[-1] == '\n') && *to == '\n')
			to++;
		else
			from = at;
		memmove(from, to, strlen(to) + 1);
	}
}

/*
 * The path of g's template: a path as it is, a built-in name in the
 * template directory (its "-user" variant in user mode, which forwards
 * ports through ${hostfwd}).
 */
static void
template_path(const struct vm_guest *g, char *path, size_t len)
{
	if (g->template[0] == '/')
		snprintf(path, len, "%s", g->template);
	else
		snprintf(path, len, "%s/%s%s.xml", g->templates, g->template,
		    g->net == VM_NET_USER ? "-user" : "");
}

char *
vm_domain_xml(const struct vm_guest *g, bool kvm, char *err, size_t errlen)
{
	static const char *const names[] = { "name", "kernel", "memory_kib",
	    "vcpus", "mac", "ip", "prefix", "gateway", "network",
	    "serial_log", "domain_type", "hostfwd", "initrd", "cmdline" };
	const char *values[sizeof(names) / sizeof(names[0])];
	char path[1024], mem[32], vcpus[16], ip[INET_ADDRSTRLEN];
	char gw[INET_ADDRSTRLEN], prefix[8];
	struct vm_buf fwd = { .limit = CFG_TEMPLATE_MAX };
	char *tmpl = NULL, *xml = NULL, *full = NULL;
	size_t i;
	int rc = 0;

	template_path(g, path, sizeof(path));
	if (read_file(path, &tmpl, err, errlen) == -1)
		return NULL;
	snprintf(mem, sizeof(mem), "%llu",
	    (unsigned long long)(g->memory / 1024));
	snprintf(vcpus, sizeof(vcpus), "%u", g->vcpus);
	if (g->net == VM_NET_USER) {
		snprintf(ip, sizeof(ip), USER_IP);
		snprintf(gw, sizeof(gw), USER_GATEWAY);
		snprintf(prefix, sizeof(prefix), USER_PREFIX);
	} else {
		inet_ntop(AF_INET, &g->address, ip, sizeof(ip));
		inet_ntop(AF_INET, &g->gateway, gw, sizeof(gw));
		snprintf(prefix, sizeof(prefix), "%u", g->prefix);
	}
	/* QEMU's -netdev user: hostfwd=tcp:127.0.0.1:HOST-:GUEST,... */
	for (i = 0; i < g->nforwards && rc == 0; i++) {
		char one[64];

		snprintf(one, sizeof(one), "%shostfwd=tcp:127.0.0.1:%u-:%u",
		    i > 0 ? "," : "", g->forwards[i].host,
		    g->forwards[i].guest);
		rc = vm_buf_add(&fwd, one, strlen(one));
	}
	if (rc == -1) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	values[0] = g->name;
	values[1] = g->kernel;
	values[2] = mem;
	values[3] = vcpus;
	values[4] = g->mac;
	values[5] = ip;
	values[6] = prefix;
	values[7] = gw;
	values[8] = g->network != NULL ? g->network : "";
	values[9] = g->serial_log;
	values[10] = kvm ? "kvm" : "qemu";
	values[11] = fwd.p != NULL ? fwd.p : "";
	values[12] = g->initrd != NULL ? g->initrd : "";
	/* A template too: the expansion fills it in, then escapes it once. */
	values[13] = g->cmdline;
	xml = vm_template_expand(tmpl, names, values,
	    sizeof(names) / sizeof(names[0]), err, errlen);
	if (xml == NULL)
		goto done;
	if (values[12][0] == '\0')
		drop_empty_initrd(xml);
	full = vm_add_metadata(xml, &g->owner, g->service, g->instance, err,
	    errlen);
done:
	free(fwd.p);
	free(tmpl);
	free(xml);
	return full;
}
