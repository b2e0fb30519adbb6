/*
 * test_store.c - the state database: schema and migrations, instances,
 * services, events, a kill -9 in the middle of writes, and writes kept
 * in memory while the disk is full; files it must not touch (read-only,
 * another program's), and the mode of the files it makes.
 */
#include <sys/types.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"
#include "check_main.h"

static char dir[64];
static char path[128];

/* Each test gets an empty directory, removed with what it holds. */
static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_store.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/state.db", dir);
}

static void
teardown(void)
{
	char p[512];
	struct dirent *de;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
}

static struct store *
open_ok(void)
{
	char err[512];
	struct store *st = store_open(path, err, sizeof(err));

	ck_assert_msg(st != NULL, "%s", err);
	return st;
}

/* Raw SQL on the file, behind the store's back. */
static void
raw_exec(const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK,
	    "%s: %s", sql, msg);
	sqlite3_close(db);
}

static int64_t
raw_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	int64_t v = -999;

	ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
	ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &s, NULL) == SQLITE_OK,
	    "%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_type(s, 0) == SQLITE_NULL ? -1 :
		    sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return v;
}

static void
sync_names(struct store *st, int64_t now)
{
	static const char *const names[] = { "web", "api", "db" };

	ck_assert_int_eq(store_sync_services(st, names, 3, now), 0);
}

static struct store_instance
mkinst(const char *service, const char *addr)
{
	struct store_instance in;

	memset(&in, 0, sizeof(in));
	snprintf(in.service, sizeof(in.service), "%s", service);
	snprintf(in.guest_address, sizeof(in.guest_address), "%s", addr);
	snprintf(in.state, sizeof(in.state), "starting");
	in.created_ms = 1000;
	in.create_dur_ms = -1;
	in.boot_dur_ms = -1;
	return in;
}

/* Collects what the iterators deliver. */
struct seen {
	int64_t	ids[4096];
	char	kinds[4096][32];
	size_t	n;
	size_t	stop_after;	/* 0: never stop */
	struct store *st;	/* if set, fn writes to the store */
};

static int
seen_inst(void *arg, const struct store_instance *in)
{
	struct seen *s = arg;

	s->ids[s->n++] = in->id;
	if (s->st != NULL)
		ck_assert_int_eq(store_instance_close(s->st, in->id, 9000,
		    "lost"), 0);
	return s->stop_after != 0 && s->n >= s->stop_after;
}

static int
seen_event(void *arg, const struct store_event *ev)
{
	struct seen *s = arg;

	s->ids[s->n] = ev->id;
	snprintf(s->kinds[s->n], sizeof(s->kinds[0]), "%s", ev->kind);
	s->n++;
	if (s->st != NULL)
		ck_assert_int_eq(store_event_add(s->st, 1, "web", 0, "echo",
		    ""), 0);
	return s->stop_after != 0 && s->n >= s->stop_after;
}

static struct seen *
seen_new(void)
{
	struct seen *s = calloc(1, sizeof(*s));

	ck_assert_ptr_nonnull(s);
	return s;
}

START_TEST(open_create_reopen)
{
	char owner[STORE_OWNER_MAX];
	struct store *st;
	struct store_instance in = mkinst("web", "10.0.0.2"), out;

	st = open_ok();
	ck_assert_int_eq(store_schema_version(st), STORE_SCHEMA_VERSION);
	/* Made with the database: 32 hex digits, kept from then on. */
	ck_assert_uint_eq(strlen(store_owner(st)), STORE_OWNER_MAX - 1);
	ck_assert_uint_eq(strspn(store_owner(st), "0123456789abcdef"),
	    STORE_OWNER_MAX - 1);
	snprintf(owner, sizeof(owner), "%s", store_owner(st));
	ck_assert_uint_eq(store_pending(st), 0);
	ck_assert_str_eq(store_errmsg(st), "");
	ck_assert_int_eq(store_flush(st), 0);
	sync_names(st, 1);
	ck_assert_int_eq(store_instance_add(st, &in), 0);
	ck_assert_int_eq(in.id, 1);
	store_close(st);

	ck_assert_int_eq(raw_int("PRAGMA user_version"), STORE_SCHEMA_VERSION);
	ck_assert_int_eq(raw_int("SELECT journal_mode = 'wal' FROM"
	    " pragma_journal_mode"), 1);

	/* Reopened: the row is there and ids go on from it. */
	st = open_ok();
	ck_assert_str_eq(store_owner(st), owner);
	ck_assert_int_eq(store_instance_get(st, 1, &out), 0);
	ck_assert_str_eq(out.guest_address, "10.0.0.2");
	in = mkinst("web", "10.0.0.3");
	ck_assert_int_eq(store_instance_add(st, &in), 0);
	ck_assert_int_eq(in.id, 2);
	store_close(st);
	store_close(NULL);
}
END_TEST

START_TEST(open_errors)
{
	char err[512];
	FILE *f;

	/* No such directory. */
	ck_assert_ptr_null(store_open("/nonexistent/dir/state.db", err,
	    sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/dir/state.db: "));

	/* Not a database. */
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	for (int i = 0; i < 200; i++)
		fputs("this is not an SQLite database at all\n", f);
	fclose(f);
	ck_assert_ptr_null(store_open(path, err, sizeof(err)));
	ck_assert_msg(strstr(err, "not a database") != NULL, "%s", err);
	unlink(path);

	/* Versions this build does not know. */
	ck_assert_ptr_null(store_open_version(path, 0, err, sizeof(err)));
	ck_assert_ptr_null(store_open_version(path,
	    STORE_SCHEMA_VERSION + 1, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "no schema version"));
}
END_TEST

START_TEST(newer_schema_refused)
{
	char err[512], want[512];
	struct store *st;

	st = open_ok();
	store_close(st);
	raw_exec("PRAGMA user_version = 99");
	ck_assert_ptr_null(store_open(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: schema version 99 was written by a "
	    "newer summond (this one knows %d); refusing to open", path,
	    STORE_SCHEMA_VERSION);
	ck_assert_str_eq(err, want);
	/* And it was left alone. */
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 99);

	/* Even one that was never in WAL mode. */
	unlink(path);
	raw_exec("PRAGMA user_version = 7");
	ck_assert_ptr_null(store_open(path, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "schema version 7 was written"));
	ck_assert_int_eq(raw_int("SELECT journal_mode = 'delete' FROM"
	    " pragma_journal_mode"), 1);
}
END_TEST

/* The whole of a file, for byte-for-byte comparisons; *len its size. */
static char *
slurp(const char *file, size_t *len)
{
	char *buf;
	FILE *f;
	long n;

	ck_assert_ptr_nonnull(f = fopen(file, "rb"));
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	ck_assert_int_ge(n = ftell(f), 0);
	rewind(f);
	ck_assert_ptr_nonnull(buf = malloc((size_t)n + 1));
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return buf;
}

static int
exists(const char *file)
{
	return access(file, F_OK) == 0;
}

static mode_t
file_mode(const char *file)
{
	struct stat sb;

	ck_assert_msg(stat(file, &sb) == 0, "%s: %s", file, strerror(errno));
	return sb.st_mode & 07777;
}

/* path's -wal or -shm file. */
static const char *
side(const char *suffix)
{
	static char p[160];

	snprintf(p, sizeof(p), "%s%s", path, suffix);
	return p;
}

START_TEST(new_files_private)
{
	struct store *st;

	/* The umask outside systemd; the test runs in its own process. */
	umask(022);
	st = open_ok();
	ck_assert_int_eq(store_event_add(st, 1, "", 0, "boot", ""), 0);
	/* SQLite gives -wal and -shm the database's mode. */
	ck_assert_uint_eq(file_mode(path), 0640);
	ck_assert_uint_eq(file_mode(side("-wal")), 0640);
	ck_assert_uint_eq(file_mode(side("-shm")), 0640);
	store_close(st);
	ck_assert_uint_eq(file_mode(path), 0640);

	/* A tighter umask still narrows it. */
	unlink(path);
	umask(077);
	st = open_ok();
	ck_assert_uint_eq(file_mode(path), 0600);
	ck_assert_uint_eq(file_mode(side("-wal")), 0600);
	ck_assert_uint_eq(file_mode(side("-shm")), 0600);
	store_close(st);

	/* An existing file keeps the mode its operator chose. */
	ck_assert_int_eq(chmod(path, 0644), 0);
	st = open_ok();
	ck_assert_uint_eq(file_mode(path), 0644);
	store_close(st);
}
END_TEST

START_TEST(foreign_refused)
{
	char err[512], want[512];
	char *before, *after;
	size_t nbefore, nafter;

	/* Another program's database, journal mode delete. */
	raw_exec("CREATE TABLE foo (a TEXT); INSERT INTO foo VALUES ('mine')");
	before = slurp(path, &nbefore);
	/* Bytes 18 and 19: file format versions, 1 rollback journal, 2 WAL. */
	ck_assert_uint_ge(nbefore, 100);
	ck_assert_int_eq(before[18], 1);
	ck_assert_int_eq(before[19], 1);

	ck_assert_ptr_null(store_open(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: not a summon state database (no "
	    "schema version, yet it holds table \"foo\"); refusing to touch "
	    "it", path);
	ck_assert_str_eq(err, want);
	after = slurp(path, &nafter);
	ck_assert_uint_eq(nafter, nbefore);
	ck_assert_int_eq(memcmp(before, after, nbefore), 0);
	ck_assert_int_eq(after[18], 1);
	ck_assert_int_eq(after[19], 1);
	ck_assert(!exists(side("-wal")));
	ck_assert(!exists(side("-shm")));
	ck_assert_int_eq(raw_int("SELECT COUNT(*) FROM sqlite_master WHERE"
	    " name IN ('services', 'instances', 'events', 'owner')"), 0);
	free(after);

	/* One whose schema version says summon's, without summon's tables. */
	raw_exec("PRAGMA user_version = 3");
	free(before);
	before = slurp(path, &nbefore);
	ck_assert_ptr_null(store_open(path, err, sizeof(err)));
	ck_assert_msg(strstr(err, ": not a summon state database (schema "
	    "version 3 without table \"services\")") != NULL, "%s", err);
	after = slurp(path, &nafter);
	ck_assert_uint_eq(nafter, nbefore);
	ck_assert_int_eq(memcmp(before, after, nbefore), 0);
	ck_assert(!exists(side("-wal")));
	free(after);
	free(before);

	/* Not a name for a log line: control characters come out as '?'. */
	unlink(path);
	raw_exec("CREATE VIEW \"a\nb\" AS SELECT 1");
	ck_assert_ptr_null(store_open(path, err, sizeof(err)));
	ck_assert_msg(strstr(err, "holds view \"a?b\"") != NULL, "%s", err);

	/* Not a regular file. */
	unlink(path);
	ck_assert_int_eq(mkfifo(path, 0640), 0);
	ck_assert_ptr_null(store_open(path, err, sizeof(err)));
	snprintf(want, sizeof(want), "%s: not a regular file", path);
	ck_assert_str_eq(err, want);
}
END_TEST

/* An empty file and an empty WAL database are how a new state starts. */
START_TEST(empty_accepted)
{
	struct store *st;
	FILE *f;

	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fclose(f);
	st = open_ok();
	ck_assert_int_eq(store_schema_version(st), STORE_SCHEMA_VERSION);
	store_close(st);

	unlink(path);
	raw_exec("PRAGMA journal_mode = WAL");
	st = open_ok();
	ck_assert_int_eq(store_schema_version(st), STORE_SCHEMA_VERSION);
	store_close(st);
}
END_TEST

/* Every older schema summon wrote is still summon's, and migrates. */
START_TEST(migrate_each_version)
{
	char err[512];
	struct store *st;
	int v;

	for (v = 1; v < STORE_SCHEMA_VERSION; v++) {
		unlink(path);
		st = store_open_version(path, v, err, sizeof(err));
		ck_assert_msg(st != NULL, "%s", err);
		store_close(st);
		ck_assert_int_eq(raw_int("PRAGMA user_version"), v);
		st = open_ok();
		ck_assert_int_eq(store_schema_version(st),
		    STORE_SCHEMA_VERSION);
		store_close(st);
	}
}
END_TEST

#define NOBODY		65534
#define SKIPPED		77	/* exit status: cannot be another user here */

/*
 * store_open(path) in a child process, as user nobody when the test
 * runs as root (root writes any file whatever its mode, and a read-only
 * database is about the user summond runs as); the message in err.
 * Returns 0 if it opened, 1 if it was refused, SKIPPED if the child
 * could not drop its privileges.
 */
static int
open_in_child(char *err, size_t errlen)
{
	struct store *st;
	ssize_t n;
	size_t got = 0;
	int fds[2], status;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		close(fds[0]);
		if (geteuid() == 0 && (setgroups(0, NULL) == -1 ||
		    setgid(NOBODY) == -1 || setuid(NOBODY) == -1))
			_exit(SKIPPED);
		if ((st = store_open(path, err, errlen)) == NULL) {
			if (write(fds[1], err, strlen(err)) == -1)
				_exit(2);
			_exit(1);
		}
		store_close(st);
		_exit(0);
	}
	close(fds[1]);
	while (got < errlen - 1 &&
	    (n = read(fds[0], err + got, errlen - 1 - got)) > 0)
		got += (size_t)n;
	err[got] = '\0';
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "child status %d", status);
	return WEXITSTATUS(status);
}

/* Give the test directory and what it holds to nobody, when root. */
static int
give_away(void)
{
	const char *const files[] = { dir, path, side("-wal"), side("-shm") };
	size_t i;

	if (geteuid() != 0)
		return 0;
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (lchown(files[i], NOBODY, NOBODY) == -1 && errno != ENOENT)
			return -1;
	return 0;
}

/* A killed child's store, never closed on purpose (and not a leak). */
static struct store *volatile abandoned;

/* Leave a -wal and a -shm behind, as a summond killed with -9 does. */
static void
leave_wal(void)
{
	int status;
	pid_t pid;

	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		abandoned = open_ok();
		if (store_event_add(abandoned, 1, "", 0, "boot", "") == -1)
			_exit(2);
		kill(getpid(), SIGKILL);
		_exit(3);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	ck_assert(exists(side("-wal")) && exists(side("-shm")));
}

/*
 * Have another process (not a fork of one that will open the database:
 * SQLite shares a process's open files among its connections) hold path
 * open with a read done, until *release is closed.
 */
static pid_t
hold_open(int *release)
{
	sqlite3 *db;
	char c;
	int ready[2], hold[2];
	pid_t pid;

	ck_assert_int_eq(pipe(ready), 0);
	ck_assert_int_eq(pipe(hold), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		close(ready[0]);
		close(hold[1]);
		if (sqlite3_open(path, &db) != SQLITE_OK ||
		    sqlite3_exec(db, "SELECT COUNT(*) FROM events", NULL,
		    NULL, NULL) != SQLITE_OK)
			_exit(1);
		if (write(ready[1], "r", 1) != 1 || read(hold[0], &c, 1) == -1)
			_exit(1);
		sqlite3_close(db);
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	ck_assert_int_eq(read(ready[0], &c, 1), 1);
	close(ready[0]);
	*release = hold[1];
	return pid;
}

START_TEST(readonly_refused)
{
	char err[512], want[512];
	char *before, *after;
	size_t nbefore, nafter;
	pid_t holder;
	int release, status, rc;

	store_close(open_ok());
	if (give_away() == -1) {
		fprintf(stderr, "readonly_refused: skipped: cannot chown to "
		    "uid %d: %s\n", NOBODY, strerror(errno));
		return;
	}
	/* The user summond runs as writes all of it: opened. */
	if ((rc = open_in_child(err, sizeof(err))) == SKIPPED) {
		fprintf(stderr, "readonly_refused: skipped: cannot become uid "
		    "%d\n", NOBODY);
		return;
	}
	ck_assert_msg(rc == 0, "%s", err);

	/* The database itself: SQLite opens it for reading only. */
	ck_assert_int_eq(chmod(path, 0440), 0);
	before = slurp(path, &nbefore);
	ck_assert_int_eq(open_in_child(err, sizeof(err)), 1);
	snprintf(want, sizeof(want), "%s: the database is read-only "
	    "(Permission denied)", path);
	ck_assert_str_eq(err, want);
	after = slurp(path, &nafter);
	ck_assert_uint_eq(nafter, nbefore);
	ck_assert_int_eq(memcmp(before, after, nbefore), 0);
	ck_assert(!exists(side("-wal")));
	free(before);
	free(after);
	ck_assert_int_eq(chmod(path, 0640), 0);

	/* Its directory: no -wal or -shm could be made there. */
	ck_assert_int_eq(chmod(dir, 0500), 0);
	rc = open_in_child(err, sizeof(err));
	ck_assert_int_eq(chmod(dir, 0700), 0);
	ck_assert_int_eq(rc, 1);
	snprintf(want, sizeof(want), "%s: its directory %s is not writable "
	    "(Permission denied); SQLite keeps the -wal and -shm files there",
	    path, dir);
	ck_assert_str_eq(err, want);

	/*
	 * A -wal, then a -shm, summond cannot write (left by another user):
	 * SQLite reads, and refuses only the write lock, which store_open
	 * takes to find out.
	 */
	leave_wal();
	ck_assert_int_eq(give_away(), 0);
	ck_assert_int_eq(chmod(side("-wal"), 0440), 0);
	ck_assert_int_eq(open_in_child(err, sizeof(err)), 1);
	snprintf(want, sizeof(want), "%s: the database is read-only "
	    "(%s-wal: Permission denied)", path, path);
	ck_assert_str_eq(err, want);

	ck_assert_int_eq(chmod(side("-wal"), 0640), 0);
	ck_assert_int_eq(chmod(side("-shm"), 0440), 0);
	ck_assert_int_eq(open_in_child(err, sizeof(err)), 1);
	snprintf(want, sizeof(want), "%s: the database is read-only "
	    "(%s-shm: Permission denied)", path, path);
	ck_assert_str_eq(err, want);

	/* One it cannot even read: SQLite fails the first read. */
	ck_assert_int_eq(chmod(side("-shm"), 0), 0);
	ck_assert_int_eq(open_in_child(err, sizeof(err)), 1);
	snprintf(want, sizeof(want), "%s: cannot open the database "
	    "(%s-shm: Permission denied)", path, path);
	ck_assert_str_eq(err, want);

	/*
	 * The same while another process has it open (an operator's
	 * sqlite3, say), when SQLite has no log to recover first.
	 */
	ck_assert_int_eq(chmod(side("-shm"), 0640), 0);
	holder = hold_open(&release);
	ck_assert_int_eq(chmod(side("-wal"), 0440), 0);
	ck_assert_int_eq(open_in_child(err, sizeof(err)), 1);
	snprintf(want, sizeof(want), "%s: the database is read-only "
	    "(%s-wal: Permission denied)", path, path);
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(chmod(side("-wal"), 0640), 0);
	ck_assert_int_eq(chmod(side("-shm"), 0440), 0);
	ck_assert_int_eq(open_in_child(err, sizeof(err)), 1);
	snprintf(want, sizeof(want), "%s: the database is read-only "
	    "(%s-shm: Permission denied)", path, path);
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(chmod(side("-shm"), 0640), 0);
	close(release);
	ck_assert_int_eq(waitpid(holder, &status, 0), holder);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* Nothing was lost meanwhile. */
	ck_assert_int_eq(give_away(), 0);
	ck_assert_int_eq(open_in_child(err, sizeof(err)), 0);
	ck_assert_int_eq(raw_int("SELECT COUNT(*) FROM events"), 1);
}
END_TEST

START_TEST(migrate_from_v1)
{
	char err[512];
	struct store *st;
	struct store_instance in, out;
	struct seen *s = seen_new();

	st = store_open_version(path, 1, err, sizeof(err));
	ck_assert_msg(st != NULL, "%s", err);
	ck_assert_int_eq(store_schema_version(st), 1);
	/* What version 1 supports goes through the API. */
	sync_names(st, 5);
	ck_assert_int_eq(store_event_add(st, 10, "web", 1, "boot", "dns"), 0);
	ck_assert_int_eq(store_event_add(st, 11, "web", 1, "ready", ""), 0);
	/* Version 1 has no host_port: instance writes fail, not queue. */
	in = mkinst("web", "10.0.0.9");
	ck_assert_int_eq(store_instance_add(st, &in), -1);
	ck_assert_uint_eq(store_pending(st), 0);
	store_close(st);
	ck_assert_int_eq(raw_int("PRAGMA user_version"), 1);

	/* Rows written the way a version 1 summond did. */
	raw_exec("INSERT INTO instances (id, service, domain, uuid,"
	    " guest_address, mac, state, created_ms, ready_ms, stopped_ms,"
	    " create_dur_ms, boot_dur_ms, stop_reason) VALUES"
	    " (1, 'web', 'summon-web-1', 'u1', '10.0.0.2', 'm1', 'stopped',"
	    "  100, 200, 300, 5, 50, 'idle'),"
	    " (2, 'web', 'summon-web-2', 'u2', '10.0.0.2', 'm2', 'ready',"
	    "  400, 500, NULL, 6, 60, NULL),"
	    " (3, 'api', 'summon-api-3', '', '', '', 'starting',"
	    "  600, NULL, NULL, NULL, NULL, NULL)");

	st = open_ok();
	ck_assert_int_eq(store_schema_version(st), STORE_SCHEMA_VERSION);
	ck_assert_uint_eq(strlen(store_owner(st)), STORE_OWNER_MAX - 1);
	ck_assert_int_eq(store_instance_get(st, 2, &out), 0);
	ck_assert_str_eq(out.domain, "summon-web-2");
	ck_assert_str_eq(out.uuid, "u2");
	ck_assert_str_eq(out.mac, "m2");
	ck_assert_str_eq(out.state, "ready");
	ck_assert_uint_eq(out.host_port, 0);
	ck_assert_int_eq(out.created_ms, 400);
	ck_assert_int_eq(out.ready_ms, 500);
	ck_assert_int_eq(out.stopped_ms, 0);
	ck_assert_int_eq(out.create_dur_ms, 6);
	ck_assert_int_eq(out.boot_dur_ms, 60);
	ck_assert_str_eq(out.stop_reason, "");
	ck_assert_int_eq(store_instance_get(st, 1, &out), 0);
	ck_assert_int_eq(out.stopped_ms, 300);
	ck_assert_str_eq(out.stop_reason, "idle");
	ck_assert_int_eq(store_instance_get(st, 3, &out), 0);
	ck_assert_int_eq(out.ready_ms, 0);
	ck_assert_int_eq(out.boot_dur_ms, -1);

	ck_assert_int_eq(store_events(st, NULL, 0, 10, seen_event, s), 0);
	ck_assert_uint_eq(s->n, 2);
	ck_assert_str_eq(s->kinds[1], "ready");

	/* Version 2 in force: ids go on, the address pool is guarded. */
	in = mkinst("web", "10.0.0.2");
	ck_assert_int_eq(store_instance_add(st, &in), -1);
	in = mkinst("web", "10.0.0.4");
	in.host_port = 20001;
	ck_assert_int_eq(store_instance_add(st, &in), 0);
	ck_assert_int_eq(in.id, 4);
	ck_assert_int_eq(store_instance_get(st, 4, &out), 0);
	ck_assert_uint_eq(out.host_port, 20001);
	ck_assert_int_eq(store_event_add(st, 12, "web", 4, "boot", ""), 0);
	store_close(st);
	ck_assert_int_eq(raw_int("SELECT MAX(id) FROM events"), 3);
	free(s);
}
END_TEST

/*
 * The host of an instance ([host] sections) is written at add and kept;
 * a database from before hosts reads '' for its rows, the one host.
 */
START_TEST(instance_host)
{
	struct store_instance a = mkinst("web", "10.0.0.2");
	struct store_instance b = mkinst("api", "10.0.1.2");
	struct store_instance out;
	char err[512];
	struct store *st;

	st = store_open_version(path, 3, err, sizeof(err));
	ck_assert_msg(st != NULL, "%s", err);
	sync_names(st, 1);
	ck_assert_int_eq(store_instance_add(st, &a), -1);	/* no column */
	store_close(st);
	raw_exec("INSERT INTO instances (id, service, guest_address, state)"
	    " VALUES (1, 'web', '10.0.0.2', 'ready')");

	st = open_ok();
	ck_assert_int_eq(store_instance_get(st, 1, &out), 0);
	ck_assert_str_eq(out.host, "");
	snprintf(b.host, sizeof(b.host), "east");
	ck_assert_int_eq(store_instance_add(st, &b), 0);
	snprintf(b.host, sizeof(b.host), "west");	/* fixed at add */
	snprintf(b.state, sizeof(b.state), "ready");
	ck_assert_int_eq(store_instance_update(st, &b), 0);
	ck_assert_int_eq(store_instance_get(st, b.id, &out), 0);
	ck_assert_str_eq(out.host, "east");
	ck_assert_str_eq(out.state, "ready");
	store_close(st);
}
END_TEST

START_TEST(instances)
{
	struct store *st;
	struct store_instance a = mkinst("web", "10.0.0.2");
	struct store_instance b = mkinst("api", "10.0.0.3");
	struct store_instance c = mkinst("web", "");
	struct store_instance out;
	struct seen *s = seen_new();

	st = open_ok();
	sync_names(st, 1);
	ck_assert_int_eq(store_instance_add(st, &a), 0);
	ck_assert_int_eq(store_instance_add(st, &b), 0);
	ck_assert_int_eq(store_instance_add(st, &c), 0);
	ck_assert_int_eq(a.id, 1);
	ck_assert_int_eq(b.id, 2);
	ck_assert_int_eq(c.id, 3);

	ck_assert_int_eq(store_instance_get(st, 1, &out), 0);
	ck_assert_str_eq(out.service, "web");
	ck_assert_str_eq(out.state, "starting");
	ck_assert_str_eq(out.domain, "");
	ck_assert_int_eq(out.created_ms, 1000);
	ck_assert_int_eq(out.ready_ms, 0);
	ck_assert_int_eq(out.create_dur_ms, -1);

	/* Update: the mutable fields change, the rest stays. */
	snprintf(a.domain, sizeof(a.domain), "summon-web-1");
	snprintf(a.uuid, sizeof(a.uuid), "8c1a3f5e-0000-4000-8000-000000000001");
	snprintf(a.mac, sizeof(a.mac), "52:54:00:00:00:01");
	snprintf(a.state, sizeof(a.state), "ready");
	snprintf(a.guest_address, sizeof(a.guest_address), "10.9.9.9");
	a.host_port = 20000;
	a.ready_ms = 1400;
	a.create_dur_ms = 80;
	a.boot_dur_ms = 400;
	ck_assert_int_eq(store_instance_update(st, &a), 0);
	ck_assert_int_eq(store_instance_get(st, 1, &out), 0);
	ck_assert_str_eq(out.domain, "summon-web-1");
	ck_assert_str_eq(out.uuid, "8c1a3f5e-0000-4000-8000-000000000001");
	ck_assert_str_eq(out.mac, "52:54:00:00:00:01");
	ck_assert_str_eq(out.state, "ready");
	ck_assert_str_eq(out.guest_address, "10.0.0.2");
	ck_assert_uint_eq(out.host_port, 20000);
	ck_assert_int_eq(out.ready_ms, 1400);
	ck_assert_int_eq(out.create_dur_ms, 80);
	ck_assert_int_eq(out.boot_dur_ms, 400);
	ck_assert_int_eq(out.stopped_ms, 0);

	/* Live listing, oldest first; fn may stop it. */
	ck_assert_int_eq(store_instances_live(st, seen_inst, s), 0);
	ck_assert_uint_eq(s->n, 3);
	ck_assert_int_eq(s->ids[0], 1);
	ck_assert_int_eq(s->ids[1], 2);
	ck_assert_int_eq(s->ids[2], 3);
	s->n = 0;
	s->stop_after = 2;
	ck_assert_int_eq(store_instances_live(st, seen_inst, s), 0);
	ck_assert_uint_eq(s->n, 2);

	/* Close. */
	ck_assert_int_eq(store_instance_close(st, 2, 5000, "idle"), 0);
	ck_assert_int_eq(store_instance_get(st, 2, &out), 0);
	ck_assert_int_eq(out.stopped_ms, 5000);
	ck_assert_str_eq(out.stop_reason, "idle");
	ck_assert_str_eq(out.state, "stopped");
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(store_instances_live(st, seen_inst, s), 0);
	ck_assert_uint_eq(s->n, 2);
	ck_assert_int_eq(s->ids[0], 1);
	ck_assert_int_eq(s->ids[1], 3);

	/* fn may write: reconciliation closes what it walks. */
	memset(s, 0, sizeof(*s));
	s->st = st;
	ck_assert_int_eq(store_instances_live(st, seen_inst, s), 0);
	ck_assert_uint_eq(s->n, 2);
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(store_instances_live(st, seen_inst, s), 0);
	ck_assert_uint_eq(s->n, 0);
	ck_assert_int_eq(store_instance_get(st, 3, &out), 0);
	ck_assert_str_eq(out.stop_reason, "lost");

	/* Errors, none of them queued. */
	ck_assert_int_eq(store_instance_get(st, 42, &out), -1);
	ck_assert_ptr_nonnull(strstr(store_errmsg(st), "42"));
	a.id = 42;
	ck_assert_int_eq(store_instance_update(st, &a), -1);
	ck_assert_int_eq(store_instance_close(st, 42, 1, "idle"), -1);
	ck_assert_int_eq(store_instance_close(st, 1, 0, "idle"), -1);
	out = mkinst("nosuch", "");
	ck_assert_int_eq(store_instance_add(st, &out), -1);
	ck_assert_msg(strstr(store_errmsg(st), "FOREIGN KEY") != NULL, "%s",
	    store_errmsg(st));
	out = mkinst("", "");
	ck_assert_int_eq(store_instance_add(st, &out), -1);
	ck_assert_uint_eq(store_pending(st), 0);
	/* Fields filled to the brim are cut where a read would cut them. */
	out = mkinst("db", "");
	memset(out.domain, 'd', sizeof(out.domain));
	ck_assert_int_eq(store_instance_add(st, &out), 0);
	ck_assert_int_eq(store_instance_get(st, out.id, &out), 0);
	ck_assert_uint_eq(strlen(out.domain), sizeof(out.domain) - 1);
	/* A failed add does not use up an id. */
	out = mkinst("db", "");
	ck_assert_int_eq(store_instance_add(st, &out), 0);
	ck_assert_int_eq(out.id, 5);
	store_close(st);
	free(s);
}
END_TEST

START_TEST(unique_live_address)
{
	struct store *st;
	struct store_instance a = mkinst("web", "10.0.0.2");
	struct store_instance b = mkinst("api", "10.0.0.2");
	struct store_instance e1 = mkinst("web", "");
	struct store_instance e2 = mkinst("web", "");

	st = open_ok();
	sync_names(st, 1);
	ck_assert_int_eq(store_instance_add(st, &a), 0);
	ck_assert_int_eq(store_instance_add(st, &b), -1);
	ck_assert_msg(strstr(store_errmsg(st), "UNIQUE") != NULL, "%s",
	    store_errmsg(st));
	ck_assert_uint_eq(store_pending(st), 0);
	/* No address is not an address. */
	ck_assert_int_eq(store_instance_add(st, &e1), 0);
	ck_assert_int_eq(store_instance_add(st, &e2), 0);
	/* Once the holder is closed, the address is free again. */
	ck_assert_int_eq(store_instance_close(st, a.id, 2000, "idle"), 0);
	ck_assert_int_eq(store_instance_add(st, &b), 0);
	ck_assert_int_eq(raw_int("SELECT COUNT(*) FROM instances WHERE"
	    " guest_address = '10.0.0.2'"), 2);
	store_close(st);
}
END_TEST

START_TEST(services)
{
	static const char *const first[] = { "a", "b" };
	static const char *const second[] = { "b", "c" };
	static const char *const third[] = { "a" };
	struct store *st;

	st = open_ok();
	ck_assert_int_eq(store_sync_services(st, first, 2, 100), 0);
	ck_assert_int_eq(raw_int("SELECT COUNT(*) FROM services"), 2);
	ck_assert_int_eq(raw_int("SELECT COUNT(*) FROM services"
	    " WHERE removed_ms IS NULL"), 2);

	ck_assert_int_eq(store_sync_services(st, second, 2, 200), 0);
	ck_assert_int_eq(raw_int("SELECT removed_ms FROM services"
	    " WHERE name = 'a'"), 200);
	ck_assert_int_eq(raw_int("SELECT removed_ms FROM services"
	    " WHERE name = 'b'"), -1);
	ck_assert_int_eq(raw_int("SELECT added_ms FROM services"
	    " WHERE name = 'b'"), 100);
	ck_assert_int_eq(raw_int("SELECT added_ms FROM services"
	    " WHERE name = 'c'"), 200);

	/* Back again; an earlier removal keeps its time. */
	ck_assert_int_eq(store_sync_services(st, second, 2, 250), 0);
	ck_assert_int_eq(raw_int("SELECT removed_ms FROM services"
	    " WHERE name = 'a'"), 200);
	ck_assert_int_eq(store_sync_services(st, third, 1, 300), 0);
	ck_assert_int_eq(raw_int("SELECT removed_ms FROM services"
	    " WHERE name = 'a'"), -1);
	ck_assert_int_eq(raw_int("SELECT removed_ms FROM services"
	    " WHERE name = 'b'"), 300);
	ck_assert_int_eq(raw_int("SELECT removed_ms FROM services"
	    " WHERE name = 'c'"), 300);

	/* Nothing configured: all removed, history kept. */
	ck_assert_int_eq(store_sync_services(st, NULL, 0, 400), 0);
	ck_assert_int_eq(raw_int("SELECT COUNT(*) FROM services"
	    " WHERE removed_ms IS NULL"), 0);
	ck_assert_int_eq(raw_int("SELECT COUNT(*) FROM services"), 3);
	store_close(st);
}
END_TEST

START_TEST(service_stats)
{
	struct store *st;
	struct store_instance in;
	uint64_t boots = 99;
	int64_t last = 99;
	int i;

	st = open_ok();
	sync_names(st, 1);
	ck_assert_int_eq(store_service_stats(st, "web", &boots, &last), 0);
	ck_assert_uint_eq(boots, 0);
	ck_assert_int_eq(last, -1);

	for (i = 0; i < 3; i++) {
		in = mkinst("web", "");
		ck_assert_int_eq(store_instance_add(st, &in), 0);
		in.ready_ms = 2000 + i;
		in.boot_dur_ms = 100 + i;
		ck_assert_int_eq(store_instance_update(st, &in), 0);
		ck_assert_int_eq(store_instance_close(st, in.id, 3000 + i,
		    "idle"), 0);
	}
	/* One that never got ready does not count. */
	in = mkinst("web", "");
	ck_assert_int_eq(store_instance_add(st, &in), 0);
	in = mkinst("api", "");
	ck_assert_int_eq(store_instance_add(st, &in), 0);

	ck_assert_int_eq(store_service_stats(st, "web", &boots, &last), 0);
	ck_assert_uint_eq(boots, 3);
	ck_assert_int_eq(last, 102);
	ck_assert_int_eq(store_service_stats(st, "api", &boots, &last), 0);
	ck_assert_uint_eq(boots, 0);
	ck_assert_int_eq(last, -1);
	store_close(st);
}
END_TEST

static const char *const svc_of[3] = { "web", "api", "" };

START_TEST(events)
{
	struct store *st;
	struct seen *s = seen_new();
	char kind[32];
	int i;

	st = open_ok();
	/* Events of services not (yet) configured are fine. */
	for (i = 1; i <= 30; i++) {
		snprintf(kind, sizeof(kind), "k%d", i);
		ck_assert_int_eq(store_event_add(st, 1000 + i, svc_of[i % 3],
		    i, kind, "detail"), 0);
	}
	ck_assert_int_eq(store_event_add(st, 1, "web", 0, "", ""), -1);
	ck_assert_int_eq(store_event_add(st, 1, "web", 0, NULL, ""), -1);
	ck_assert_int_eq(store_event_add(st, 1, NULL, 0, "k31", NULL), 0);

	/* All, oldest first. */
	ck_assert_int_eq(store_events(st, NULL, 0, 100, seen_event, s), 0);
	ck_assert_uint_eq(s->n, 31);
	for (i = 0; i < 31; i++)
		ck_assert_int_eq(s->ids[i], i + 1);
	ck_assert_str_eq(s->kinds[30], "k31");

	/* The last 5, oldest first. */
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(store_events(st, NULL, 0, 5, seen_event, s), 0);
	ck_assert_uint_eq(s->n, 5);
	ck_assert_int_eq(s->ids[0], 27);
	ck_assert_int_eq(s->ids[4], 31);

	/* Of one service: ids 1, 4, ..., 28 are "api". */
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(store_events(st, "api", 0, 100, seen_event, s), 0);
	ck_assert_uint_eq(s->n, 10);
	for (i = 0; i < 10; i++)
		ck_assert_int_eq(s->ids[i], 3 * i + 1);
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(store_events(st, "api", 0, 3, seen_event, s), 0);
	ck_assert_uint_eq(s->n, 3);
	ck_assert_int_eq(s->ids[0], 22);
	ck_assert_int_eq(s->ids[2], 28);
	/* Daemon-wide events are the service "". */
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(store_events(st, "", 0, 100, seen_event, s), 0);
	ck_assert_uint_eq(s->n, 11);

	/* after_id. */
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(store_events(st, NULL, 25, 100, seen_event, s), 0);
	ck_assert_uint_eq(s->n, 6);
	ck_assert_int_eq(s->ids[0], 26);
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(store_events(st, NULL, 25, 2, seen_event, s), 0);
	ck_assert_uint_eq(s->n, 2);
	ck_assert_int_eq(s->ids[0], 30);
	ck_assert_int_eq(s->ids[1], 31);
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(store_events(st, "api", 20, 100, seen_event, s), 0);
	ck_assert_uint_eq(s->n, 3);
	ck_assert_int_eq(s->ids[0], 22);
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(store_events(st, NULL, 31, 100, seen_event, s), 0);
	ck_assert_uint_eq(s->n, 0);
	ck_assert_int_eq(store_events(st, NULL, 0, 0, seen_event, s), 0);
	ck_assert_uint_eq(s->n, 0);
	ck_assert_int_eq(store_events(st, "nosuch", 0, 10, seen_event, s), 0);
	ck_assert_uint_eq(s->n, 0);

	/* fn stops it. */
	s->stop_after = 4;
	ck_assert_int_eq(store_events(st, NULL, 0, 100, seen_event, s), 0);
	ck_assert_uint_eq(s->n, 4);
	store_close(st);
	free(s);
}
END_TEST

/* More events than one read holds, and an fn that appends. */
START_TEST(events_paged)
{
	struct store *st;
	struct seen *s = seen_new();
	int i;

	st = open_ok();
	for (i = 1; i <= 1000; i++)
		ck_assert_int_eq(store_event_add(st, i, svc_of[i % 2], 0, "e",
		    ""), 0);
	ck_assert_int_eq(store_events(st, NULL, 0, SIZE_MAX, seen_event, s),
	    0);
	ck_assert_uint_eq(s->n, 1000);
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(s->ids[i], i + 1);

	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(store_events(st, "api", 100, 300, seen_event, s), 0);
	ck_assert_uint_eq(s->n, 300);
	for (i = 0; i < 300; i++)
		ck_assert_int_eq(s->ids[i], 401 + 2 * i);

	/* What fn appends is not delivered in the same call. */
	memset(s, 0, sizeof(*s));
	s->st = st;
	ck_assert_int_eq(store_events(st, "web", 0, 500, seen_event, s), 0);
	ck_assert_uint_eq(s->n, 500);
	ck_assert_int_eq(s->ids[499], 1000);
	ck_assert_int_eq(raw_int("SELECT COUNT(*) FROM events"), 1500);
	store_close(st);
	free(s);
}
END_TEST

/*
 * kill -9 in the middle: every write that returned is on disk.  The
 * child writes without store_close and kills itself.
 */
#define ABRUPT_ROWS	300

START_TEST(abrupt_kill)
{
	struct store *st;
	struct seen *s;
	int status;
	pid_t pid;

	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		struct store_instance in;
		int i;

		st = abandoned = open_ok();
		sync_names(st, 1);
		for (i = 0; i < ABRUPT_ROWS; i++) {
			in = mkinst("web", "");
			if (store_instance_add(st, &in) == -1 ||
			    store_event_add(st, i, "web", in.id, "boot",
			    "") == -1)
				_exit(2);
		}
		if (store_pending(st) != 0)
			_exit(3);
		kill(getpid(), SIGKILL);
		_exit(4);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	    "child status %d", status);

	s = seen_new();
	st = open_ok();
	ck_assert_int_eq(store_instances_live(st, seen_inst, s), 0);
	ck_assert_uint_eq(s->n, ABRUPT_ROWS);
	ck_assert_int_eq(s->ids[ABRUPT_ROWS - 1], ABRUPT_ROWS);
	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(store_events(st, NULL, 0, SIZE_MAX, seen_event, s), 0);
	ck_assert_uint_eq(s->n, ABRUPT_ROWS);
	store_close(st);
	free(s);
}
END_TEST

/* Write events until one has to wait in memory. */
static int
fill_disk(struct store *st, int *next)
{
	char detail[200];

	memset(detail, 'x', sizeof(detail) - 1);
	detail[sizeof(detail) - 1] = '\0';
	while (store_pending(st) == 0) {
		ck_assert_int_lt(*next, 10000);
		ck_assert_int_eq(store_event_add(st, *next, "web", 0, "fill",
		    detail), 0);
		(*next)++;
	}
	return 0;
}

START_TEST(disk_full_queue)
{
	struct store *st;
	struct store_instance a = mkinst("web", "10.0.0.2");
	struct store_instance b = mkinst("web", "10.0.0.3");
	struct store_instance c = mkinst("api", "10.0.0.3");
	struct store_instance d, out;
	static const char *const more[] = { "web", "api", "db", "new" };
	struct seen *s = seen_new();
	uint64_t boots;
	int64_t last;
	int next = 1, i, nev;

	st = open_ok();
	sync_names(st, 1);
	ck_assert_int_eq(store_instance_add(st, &a), 0);
	ck_assert_int_eq(store_test_set_max_pages(st, 1), 0);

	fill_disk(st, &next);
	ck_assert_msg(strstr(store_errmsg(st), "full") != NULL, "%s",
	    store_errmsg(st));

	/* The caller sees success for every write; nothing is lost. */
	ck_assert_int_eq(store_instance_add(st, &b), 0);
	ck_assert_int_eq(b.id, 2);
	b.ready_ms = 5000;
	b.boot_dur_ms = 77;
	snprintf(b.state, sizeof(b.state), "ready");
	ck_assert_int_eq(store_instance_update(st, &b), 0);
	ck_assert_int_eq(store_instance_close(st, a.id, 6000, "idle"), 0);
	for (i = 0; i < 20; i++)
		ck_assert_int_eq(store_event_add(st, next++, "api", 0,
		    "queued", ""), 0);
	ck_assert_uint_eq(store_pending(st), 24);
	ck_assert_ptr_nonnull(strstr(store_errmsg(st),
	    "24 writes wait in memory"));

	/*
	 * The pool is still guarded: b holds 10.0.0.3 in the queue; a
	 * holds 10.0.0.2 on disk but is closed in the queue.
	 */
	ck_assert_int_eq(store_instance_add(st, &c), -1);
	ck_assert_ptr_nonnull(strstr(store_errmsg(st), "10.0.0.3"));
	c = mkinst("api", "10.0.0.2");
	ck_assert_int_eq(store_instance_add(st, &c), 0);
	ck_assert_int_eq(c.id, 3);
	ck_assert_uint_eq(store_pending(st), 25);

	/* A new service and its first instance wait in order. */
	ck_assert_int_eq(store_sync_services(st, more, 4, 7000), 0);
	d = mkinst("new", "");
	ck_assert_int_eq(store_instance_add(st, &d), 0);
	/* A write that will fail for good waits too, then is dropped. */
	out = b;
	out.id = 999;
	ck_assert_int_eq(store_instance_update(st, &out), 0);
	ck_assert_uint_eq(store_pending(st), 28);

	/* Reads see the disk only. */
	ck_assert_int_eq(store_instance_get(st, b.id, &out), -1);
	ck_assert_int_eq(store_instance_get(st, a.id, &out), 0);
	ck_assert_int_eq(out.stopped_ms, 0);
	ck_assert_int_eq(store_flush(st), -1);
	ck_assert_uint_eq(store_pending(st), 28);

	/* Space again: one flush writes it all, in order. */
	ck_assert_int_eq(store_test_set_max_pages(st, 1 << 30), 0);
	ck_assert_int_eq(store_flush(st), 0);
	ck_assert_uint_eq(store_pending(st), 0);
	ck_assert_int_eq(store_instance_get(st, a.id, &out), 0);
	ck_assert_int_eq(out.stopped_ms, 6000);
	ck_assert_int_eq(store_instance_get(st, b.id, &out), 0);
	ck_assert_str_eq(out.state, "ready");
	ck_assert_int_eq(out.ready_ms, 5000);
	ck_assert_int_eq(store_service_stats(st, "web", &boots, &last), 0);
	ck_assert_uint_eq(boots, 1);
	ck_assert_int_eq(last, 77);
	ck_assert_int_eq(store_instance_get(st, c.id, &out), 0);
	ck_assert_str_eq(out.guest_address, "10.0.0.2");
	ck_assert_int_eq(store_instance_get(st, d.id, &out), 0);
	ck_assert_str_eq(out.service, "new");
	ck_assert_int_eq(raw_int("SELECT added_ms FROM services"
	    " WHERE name = 'new'"), 7000);
	ck_assert_int_eq(store_instance_get(st, 999, &out), -1);

	nev = next - 1;
	ck_assert_int_eq(store_events(st, NULL, 0, SIZE_MAX, seen_event, s), 0);
	ck_assert_int_eq(s->n, nev);
	for (i = 0; i < nev; i++)
		ck_assert_int_eq(s->ids[i], i + 1);
	ck_assert_str_eq(s->kinds[nev - 1], "queued");
	ck_assert_str_eq(s->kinds[nev - 21], "fill");
	ck_assert_int_eq(raw_int("SELECT COUNT(*) FROM events WHERE"
	    " id <> at_ms"), 0);

	/* Writes go straight to disk again. */
	ck_assert_int_eq(store_event_add(st, next, "web", 0, "after", ""), 0);
	ck_assert_uint_eq(store_pending(st), 0);
	store_close(st);
	free(s);
}
END_TEST

/* The next write flushes what waits before itself; close flushes too. */
START_TEST(disk_full_retry_by_write_and_close)
{
	struct store *st;
	int next = 1;

	st = open_ok();
	ck_assert_int_eq(store_test_set_max_pages(st, 1), 0);
	fill_disk(st, &next);
	ck_assert_int_eq(store_event_add(st, next++, "web", 0, "w", ""), 0);
	ck_assert_uint_eq(store_pending(st), 2);
	ck_assert_int_eq(store_test_set_max_pages(st, 1 << 30), 0);
	ck_assert_int_eq(store_event_add(st, next++, "web", 0, "w", ""), 0);
	ck_assert_uint_eq(store_pending(st), 0);
	ck_assert_int_eq(raw_int("SELECT COUNT(*) FROM events"), next - 1);

	ck_assert_int_eq(store_test_set_max_pages(st, 1), 0);
	fill_disk(st, &next);
	ck_assert_int_eq(store_test_set_max_pages(st, 1 << 30), 0);
	store_close(st);
	ck_assert_int_eq(raw_int("SELECT COUNT(*) FROM events"), next - 1);
	ck_assert_int_eq(raw_int("SELECT MAX(id) FROM events"), next - 1);
}
END_TEST

/*
 * A queue past its bound gives up the oldest events, never instance
 * writes, and says how many.
 */
#define QUEUE_MAX	100000

START_TEST(queue_bound)
{
	struct store *st;
	struct store_instance in;
	char sql[128];
	int next = 1, i, first;

	st = open_ok();
	sync_names(st, 1);
	ck_assert_int_eq(store_test_set_max_pages(st, 1), 0);
	fill_disk(st, &next);
	first = next - 1;	/* the first event that waits */
	for (i = 0; i < 10; i++) {
		in = mkinst("web", "");
		ck_assert_int_eq(store_instance_add(st, &in), 0);
	}
	while (store_pending(st) < QUEUE_MAX)
		ck_assert_int_eq(store_event_add(st, next++, "web", 0, "q",
		    ""), 0);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(store_event_add(st, next++, "web", 0, "q",
		    ""), 0);
	ck_assert_uint_eq(store_pending(st), QUEUE_MAX);
	ck_assert_msg(strstr(store_errmsg(st), "5 events dropped") != NULL,
	    "%s", store_errmsg(st));

	ck_assert_int_eq(store_test_set_max_pages(st, 1 << 30), 0);
	ck_assert_int_eq(store_flush(st), 0);
	ck_assert_int_eq(raw_int("SELECT COUNT(*) FROM instances"), 10);
	/* The five oldest waiting events are gone, the rest are there. */
	ck_assert_int_eq(raw_int("SELECT COUNT(*) FROM events"), next - 1 - 5);
	ck_assert_int_eq(raw_int("SELECT MAX(id) FROM events"), next - 1);
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM events WHERE id"
	    " BETWEEN %d AND %d", first, first + 4);
	ck_assert_int_eq(raw_int(sql), 0);
	snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM events WHERE id"
	    " = %d", first + 5);
	ck_assert_int_eq(raw_int(sql), 1);
	store_close(st);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, open_create_reopen);
	tcase_add_test(tc, open_errors);
	tcase_add_test(tc, newer_schema_refused);
	tcase_add_test(tc, new_files_private);
	tcase_add_test(tc, foreign_refused);
	tcase_add_test(tc, empty_accepted);
	tcase_add_test(tc, migrate_each_version);
	tcase_add_test(tc, readonly_refused);
	tcase_add_test(tc, migrate_from_v1);
	tcase_add_test(tc, instances);
	tcase_add_test(tc, instance_host);
	tcase_add_test(tc, unique_live_address);
	tcase_add_test(tc, services);
	tcase_add_test(tc, service_stats);
	tcase_add_test(tc, events);
	tcase_add_test(tc, events_paged);
	tcase_add_test(tc, abrupt_kill);
	tcase_add_test(tc, disk_full_queue);
	tcase_add_test(tc, disk_full_retry_by_write_and_close);
	tcase_add_test(tc, queue_bound);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(suite)
