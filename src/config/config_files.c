/*
 * config_files.c - what a parsed configuration names, checked on this
 * host: the templates that services use, their kernels and initrds and
 * whether the user QEMU runs as can reach them, and the control socket
 * against the state database through symbolic links.  config_load()
 * leaves these alone so that it stays a parse of the file.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_internal.h"

/* libvirt's configuration of its QEMU driver: the user QEMU runs as. */
#define QEMU_CONF	"/etc/libvirt/qemu.conf"
/* Debian's libvirt runs QEMU as these when qemu.conf does not say. */
#define QEMU_USER	"libvirt-qemu"
#define QEMU_GROUP	"libvirt-qemu"

/* The 1-based line of text that offset at is on. */
static size_t
line_of(const char *text, size_t at)
{
	size_t i, line = 1;

	for (i = 0; i < at; i++)
		if (text[i] == '\n')
			line++;
	return line;
}

/*
 * Check the template at path for what each boot would find out too
 * late: that it is a readable file, that every ${...} in it is a known
 * variable, and that it has the </domain> and not the <metadata> that
 * vm_add_metadata() needs.  0, or -1 with a message in err.
 */
static int
check_template_file(const char *path, char *err, size_t errlen)
{
	char msg[128], *text = NULL, *s;
	struct stat st;
	size_t len = 0, at;
	ssize_t n;
	int fd, rc = -1;

	/* Not blocking: the path may name a FIFO. */
	if ((fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		seterr(err, errlen, "%s: %s", path, S_ISDIR(st.st_mode) ?
		    strerror(EISDIR) : "not a regular file");
		goto done;
	}
	if (st.st_size > CFG_TEMPLATE_MAX) {
		seterr(err, errlen, "%s: larger than %d bytes", path,
		    CFG_TEMPLATE_MAX);
		goto done;
	}
	text = xcalloc(1, (size_t)st.st_size + 1);
	while (len < (size_t)st.st_size &&
	    (n = read(fd, text + len, (size_t)st.st_size - len)) != 0) {
		if (n == -1) {
			seterr(err, errlen, "%s: %s", path, strerror(errno));
			goto done;
		}
		len += (size_t)n;
	}
	if ((s = memchr(text, '\0', len)) != NULL) {
		seterr(err, errlen, "%s:%zu: NUL byte", path,
		    line_of(text, (size_t)(s - text)));
		goto done;
	}
	if (check_vars(text, true, &at, msg, sizeof(msg)) == -1) {
		seterr(err, errlen, "%s:%zu: %s", path, line_of(text, at), msg);
		goto done;
	}
	if (strstr(text, "</domain>") == NULL) {
		seterr(err, errlen, "%s: no </domain>", path);
		goto done;
	}
	if ((s = strstr(text, "<metadata")) != NULL) {
		seterr(err, errlen, "%s:%zu: a <metadata> element (summon adds "
		    "its own)", path, line_of(text, (size_t)(s - text)));
		goto done;
	}
	rc = 0;
done:
	if (fd != -1)
		close(fd);
	free(text);
	return rc;
}

/* A file that services name: a template, a kernel or an initrd. */
enum file_kind { FILE_TEMPLATE, FILE_KERNEL, FILE_INITRD };

struct file_ref {
	const char	*name;
	int		 line;
	size_t		 svc;
};

static int
file_ref_cmp(const void *a, const void *b)
{
	const struct file_ref *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	return r != 0 ? r : x->line - y->line;
}

/*
 * The files of one kind that services name (an initrd is optional), *n
 * of them, sorted by name and then line, so that a file that 10,000
 * services share is checked once, at the first.
 */
static struct file_ref *
file_refs(const struct config *c, enum file_kind kind, size_t *n)
{
	struct file_ref *r = xcalloc(c->nservices, sizeof(*r));
	size_t i;

	*n = 0;
	for (i = 0; i < c->nservices; i++) {
		const struct cfg_service *s = &c->services[i];
		struct file_ref *f = &r[*n];

		switch (kind) {
		case FILE_TEMPLATE:
			f->name = s->template;
			f->line = s->template_line;
			break;
		case FILE_KERNEL:
			f->name = s->kernel;
			f->line = s->kernel_line;
			break;
		case FILE_INITRD:
			f->name = s->initrd;
			f->line = s->initrd_line;
			break;
		}
		if (f->name == NULL)
			continue;
		if (f->line == 0)
			f->line = s->line;
		f->svc = i;
		(*n)++;
	}
	qsort(r, *n, sizeof(*r), file_ref_cmp);
	return r;
}

/* 0 if path is a directory, else the errno that says why not. */
static int
dir_error(const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return errno;
	return S_ISDIR(st.st_mode) ? 0 : ENOTDIR;
}

/*
 * Every template in use: a path of its own, at the service's template
 * line, or a built-in one in the templates directory, at that key's line
 * (the first service using it when the default directory is at fault).
 */
static void
check_templates(struct parser *p, const struct config *c)
{
	const char *suffix = c->net_mode == CFG_NET_USER ? "-user" : "";
	char err[512], *path, who[CFG_SERVICE_NAME_MAX + 32];
	bool dir_checked = false, dir_bad = false;
	struct file_ref *r;
	size_t i, n;
	int line, e;

	r = file_refs(c, FILE_TEMPLATE, &n);
	for (i = 0; i < n; i++) {
		if (i > 0 && strcmp(r[i].name, r[i - 1].name) == 0)
			continue;
		if (r[i].name[0] == '/') {
			if (check_template_file(r[i].name, err,
			    sizeof(err)) == -1)
				perr(p, r[i].line, "template: %s", err);
			continue;
		}
		line = c->templates_line > 0 ? c->templates_line : r[i].line;
		if (c->templates_line > 0)
			snprintf(who, sizeof(who), "templates");
		else
			snprintf(who, sizeof(who), "service \"%s\": "
			    "template %s", c->services[r[i].svc].name,
			    r[i].name);
		if (!dir_checked) {
			dir_checked = true;
			if ((e = dir_error(c->templates)) != 0) {
				perr(p, line, "%s: %s: %s", who, c->templates,
				    strerror(e));
				dir_bad = true;
			}
		}
		if (dir_bad)
			continue;
		if (asprintf(&path, "%s/%s%s.xml", c->templates, r[i].name,
		    suffix) == -1) {
			perror("summond: asprintf");
			exit(1);
		}
		if (check_template_file(path, err, sizeof(err)) == -1)
			perr(p, line, "%s: %s", who, err);
		free(path);
	}
	free(r);
}

/* Who QEMU runs as, for a local qemu:///system. */
struct qemu_id {
	char		 name[64];
	uid_t		 uid;
	gid_t		*gids;		/* its group and supplementary ones */
	int		 ngids;
	bool		 chown;		/* libvirt chowns the kernel to it */
};

/* The value of "key = value" in a line of qemu.conf, unquoted, or NULL. */
static const char *
qemu_conf_value(const char *line, const char *key, char *buf, size_t size)
{
	size_t n = strlen(key);
	const char *s = line, *e;

	while (*s == ' ' || *s == '\t')
		s++;
	if (strncmp(s, key, n) != 0)
		return NULL;
	for (s += n; *s == ' ' || *s == '\t'; s++)
		;
	if (*s++ != '=')
		return NULL;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '"')
		e = strchr(++s, '"');
	else
		e = s + strspn(s, "0123456789");
	if (e == NULL || e == s || (size_t)(e - s) >= size)
		return NULL;
	memcpy(buf, s, (size_t)(e - s));
	buf[e - s] = '\0';
	return buf;
}

/*
 * A qemu.conf "user" or "group": "+N" is the id N, a name is looked up,
 * and a number that is no name is an id.  0, or -1 when unknown here.
 */
static int
qemu_conf_id(const char *v, bool group, unsigned *id)
{
	char buf[4096], *end;
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	unsigned long n;

	if (v[0] != '+') {
		if (group)
			getgrnam_r(v, &gr, buf, sizeof(buf), &grp);
		else
			getpwnam_r(v, &pw, buf, sizeof(buf), &pwp);
		if (grp != NULL || pwp != NULL) {
			*id = group ? grp->gr_gid : pwp->pw_uid;
			return 0;
		}
	} else
		v++;
	errno = 0;
	n = strtoul(v, &end, 10);
	if (*v == '\0' || *end != '\0' || errno != 0 || n > UINT_MAX - 1)
		return -1;
	*id = (unsigned)n;
	return 0;
}

/*
 * Who QEMU runs as under qemu:///system, from qemu_conf.  false when
 * that cannot be known here (no such user) or needs no check (root).
 */
static bool
qemu_identity(const char *qemu_conf, struct qemu_id *q)
{
	char line[512], user[64] = QEMU_USER, group[64] = QEMU_GROUP;
	char val[64], buf[4096];
	struct passwd pw, *pwp = NULL;
	unsigned uid, gid;
	FILE *f;
	int n;

	memset(q, 0, sizeof(*q));
	q->chown = true;
	if ((f = fopen(qemu_conf, "re")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			if (qemu_conf_value(line, "user", val,
			    sizeof(val)) != NULL)
				snprintf(user, sizeof(user), "%s", val);
			else if (qemu_conf_value(line, "group", val,
			    sizeof(val)) != NULL)
				snprintf(group, sizeof(group), "%s", val);
			else if (qemu_conf_value(line, "dynamic_ownership",
			    val, sizeof(val)) != NULL)
				q->chown = strcmp(val, "0") != 0;
		}
		fclose(f);
	}
	if (qemu_conf_id(user, false, &uid) == -1 || uid == 0)
		return false;
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &pwp) != 0 || pwp == NULL)
		return false;
	if (qemu_conf_id(group, true, &gid) == -1)
		gid = pw.pw_gid;
	snprintf(q->name, sizeof(q->name), "%s", pw.pw_name);
	q->uid = uid;
	/* libvirt gives QEMU the user's supplementary groups as well. */
	n = 16;
	for (;;) {
		int want = n;

		q->gids = xreallocarray(q->gids, (size_t)n, sizeof(*q->gids));
		if (getgrouplist(pw.pw_name, gid, q->gids, &n) != -1)
			break;
		if (n <= want)
			n = want * 2;
	}
	q->ngids = n;
	return true;
}

/* Whether q may read (bit 4) or search (bit 1) what st describes. */
static bool
qemu_may(const struct qemu_id *q, const struct stat *st, mode_t bit)
{
	int i;

	if (st->st_uid == q->uid)
		return (st->st_mode & (bit << 6)) != 0;
	for (i = 0; i < q->ngids; i++)
		if (st->st_gid == q->gids[i])
			return (st->st_mode & (bit << 3)) != 0;
	return (st->st_mode & bit) != 0;
}

/*
 * The first directory on the way to path (absolute) that q may not
 * search, or NULL.
 */
static char *
qemu_blocked_dir(const struct qemu_id *q, const char *path)
{
	char *dir = xstrdup(path), *slash;
	struct stat st;

	if (stat("/", &st) == 0 && !qemu_may(q, &st, 1)) {
		snprintf(dir, strlen(dir) + 1, "/");
		return dir;
	}
	for (slash = dir; (slash = strchr(slash + 1, '/')) != NULL; ) {
		*slash = '\0';
		if (stat(dir, &st) == 0 && !qemu_may(q, &st, 1))
			return dir;
		*slash = '/';
	}
	free(dir);
	return NULL;
}

/*
 * Warn about a kernel or initrd (what) that QEMU will not open: missing
 * here, or, with q, behind a directory q cannot search or (when libvirt
 * does not chown it) unreadable by q.  By the mode bits: ACLs are not
 * read.
 */
static void
check_boot_file(struct parser *p, int line, const char *what,
    const char *path, const struct qemu_id *q)
{
	char *real, *dir = NULL;
	struct stat st;

	if (stat(path, &st) == -1) {
		pwarn(p, line, "%s %s: %s", what, path, strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		pwarn(p, line, "%s %s: not a regular file", what, path);
		return;
	}
	if (q == NULL)
		return;
	/* QEMU opens the path as written, then whatever it links to. */
	if ((dir = qemu_blocked_dir(q, path)) == NULL &&
	    (real = realpath(path, NULL)) != NULL) {
		dir = qemu_blocked_dir(q, real);
		free(real);
	}
	if (dir != NULL)
		pwarn(p, line, "%s %s: %s, the user QEMU runs as, cannot "
		    "search %s", what, path, q->name, dir);
	else if (!q->chown && !qemu_may(q, &st, 4))
		pwarn(p, line, "%s %s: %s, the user QEMU runs as, cannot "
		    "read it", what, path, q->name);
	free(dir);
}

/*
 * Whether uri is a hypervisor on this host, whose QEMU opens the kernel
 * and initrd here; *system says whether it is the system instance.
 */
static bool
local_qemu(const char *uri, bool *system)
{
	const char *path;

	if (strncmp(uri, "qemu:///", 8) == 0)
		path = uri + 7;
	else if (strncmp(uri, "qemu+unix:///", 13) == 0)
		path = uri + 12;
	else
		return false;
	*system = strncmp(path, "/system", 7) == 0 &&
	    (path[7] == '\0' || path[7] == '?');
	return true;
}

/* Every kernel and initrd, each file once. */
static void
check_boot_files(struct parser *p, const struct config *c,
    const char *qemu_conf)
{
	static const struct {
		enum file_kind	 kind;
		const char	*what;
	} kinds[] = { { FILE_KERNEL, "kernel" }, { FILE_INITRD, "initrd" } };
	struct file_ref *r;
	struct qemu_id q;
	bool system, known = false;
	size_t i, k, n;

	if (!local_qemu(c->hypervisor, &system))
		return;		/* the files are another host's */
	if (system)
		known = qemu_identity(qemu_conf, &q);
	for (k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		r = file_refs(c, kinds[k].kind, &n);
		for (i = 0; i < n; i++)
			if (i == 0 || strcmp(r[i].name, r[i - 1].name) != 0)
				check_boot_file(p, r[i].line, kinds[k].what,
				    r[i].name, known ? &q : NULL);
		free(r);
	}
	if (known)
		free(q.gids);
}

/*
 * path with its directory resolved through the file system where it
 * exists, else folded as written.
 */
static char *
path_real(const char *path)
{
	char *dir = path_fold(path), *base, *real, *out;

	base = strrchr(dir, '/');
	if (base == NULL)
		return dir;
	*base++ = '\0';
	if ((real = realpath(dir[0] == '\0' ? "/" : dir, NULL)) == NULL) {
		free(dir);
		return path_fold(path);
	}
	if (asprintf(&out, "%s/%s", strcmp(real, "/") == 0 ? "" : real,
	    base) == -1) {
		perror("summond: asprintf");
		exit(1);
	}
	free(real);
	free(dir);
	return out;
}

int
config_check_files(const struct config *c, const char *qemu_conf,
    FILE *errf, int *nwarnings)
{
	struct parser p = { .file = c->path, .errf = errf };
	char *control, *state;
	const char *suffix;

	check_templates(&p, c);
	/* config_load() compared them as written; now through links. */
	control = path_real(c->control);
	state = path_real(c->state);
	if ((suffix = state_clash(control, state)) != NULL)
		clash_err(&p, c->control_line > 0 ? c->control_line :
		    c->state_line > 0 ? c->state_line : 1, suffix,
		    c->control);
	free(control);
	free(state);
	check_boot_files(&p, c, qemu_conf != NULL ? qemu_conf : QEMU_CONF);
	print_errors(&p);
	if (nwarnings != NULL)
		*nwarnings = p.nwarnings;
	return p.nerrors;
}
