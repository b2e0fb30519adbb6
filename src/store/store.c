/*
 * store.c - the state database on SQLite.
 *
 * One connection, owned by the main thread.  The schema is built by an
 * ordered list of migrations keyed by PRAGMA user_version.  Statements
 * are prepared on first use and kept for the life of the store.
 *
 * Every write is described by a struct op before it runs, so that a
 * write failing for a reason that may pass (disk full, I/O error, a
 * lock) can be kept as is in a FIFO and replayed later, in order.  For
 * that to work, row ids are chosen here rather than by SQLite: summond
 * is the only writer of its database (one daemon per state file), so
 * MAX(id) + 1 read at open stays right for the life of the process.
 */
#include <sys/queue.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "store.h"

#define STORE_BUSY_MS		2000	/* wait for a lock before giving up */
#define STORE_QUEUE_MAX		100000	/* pending writes before events go */
#define STORE_FLUSH_BATCH	1000	/* pending writes per transaction */
#define STORE_EVENT_PAGE	64	/* events read per statement run */
#define STORE_CACHE_KIB		"-256"	/* page cache, KiB (negative) */
#define STORE_FILE_MODE		0640	/* a new database; umask applies */

/*
 * Migration n (counting from 0) takes the schema from version n to
 * n + 1.  Never edit a step that has shipped; append a new one.
 */
static const char *const migrations[] = {
	/* 1: services, instances and the event log */
	"CREATE TABLE services ("
	"  name TEXT PRIMARY KEY,"
	"  added_ms INTEGER NOT NULL,"
	"  removed_ms INTEGER);"
	"CREATE TABLE instances ("
	"  id INTEGER PRIMARY KEY,"
	"  service TEXT NOT NULL REFERENCES services(name),"
	"  domain TEXT NOT NULL DEFAULT '',"
	"  uuid TEXT NOT NULL DEFAULT '',"
	"  guest_address TEXT NOT NULL DEFAULT '',"
	"  mac TEXT NOT NULL DEFAULT '',"
	"  state TEXT NOT NULL DEFAULT '',"
	"  created_ms INTEGER,"
	"  ready_ms INTEGER,"
	"  stopped_ms INTEGER,"
	"  create_dur_ms INTEGER,"
	"  boot_dur_ms INTEGER,"
	"  stop_reason TEXT);"
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY,"
	"  at_ms INTEGER NOT NULL,"
	"  service TEXT NOT NULL DEFAULT '',"
	"  instance INTEGER NOT NULL DEFAULT 0,"
	"  kind TEXT NOT NULL,"
	"  detail TEXT NOT NULL DEFAULT '');",

	/*
	 * 2: user-mode port forwards; the address pool is enforced here so
	 * that a live guest address can never be handed out twice.
	 */
	"ALTER TABLE instances ADD COLUMN host_port INTEGER NOT NULL"
	"  DEFAULT 0;"
	"CREATE UNIQUE INDEX instances_live_address ON instances(guest_address)"
	"  WHERE stopped_ms IS NULL AND guest_address <> '';"
	"CREATE INDEX instances_service ON instances(service, stopped_ms);"
	"CREATE INDEX events_service ON events(service, id);",

	/*
	 * 3: who owns the domains this database stands for, written into
	 * their metadata, so that two summonds on one libvirtd leave each
	 * other's domains alone.  Made once, with the database.
	 */
	("CREATE TABLE owner (id TEXT NOT NULL);"
	"INSERT INTO owner VALUES (lower(hex(randomblob(16))));"),

	/*
	 * 4: the host an instance runs on ([host] sections); '' is the
	 * one host of a configuration without them.
	 */
	"ALTER TABLE instances ADD COLUMN host TEXT NOT NULL DEFAULT '';",
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) ==
    STORE_SCHEMA_VERSION, "one migration per schema version");

/* The tables of summon's schema and the version that made each. */
static const struct {
	const char	*name;
	int		 since;
} store_tables[] = {
	{ "services",	1 },
	{ "instances",	1 },
	{ "events",	1 },
	{ "owner",	3 },
};

enum stmt {
	S_SVC_REMOVE_ALL,
	S_SVC_UPSERT,
	S_INST_ADD,
	S_INST_UPDATE,
	S_INST_CLOSE,
	S_INST_REOPEN,
	S_INST_GET,
	S_INST_LIVE,
	S_INST_LIVE_ADDR,
	S_EVENT_ADD,
	S_EVENT_START,
	S_EVENT_START_SVC,
	S_EVENT_PAGE,
	S_EVENT_PAGE_SVC,
	S_STATS_BOOTS,
	S_STATS_LAST,
	S_COUNT
};

#define INST_COLUMNS							\
	"id, service, domain, uuid, guest_address, mac, host_port, state, " \
	"created_ms, ready_ms, stopped_ms, create_dur_ms, boot_dur_ms, "  \
	"stop_reason, host"
#define EVENT_COLUMNS	"id, at_ms, service, instance, kind, detail"

static const char *const stmt_sql[S_COUNT] = {
	/*
	 * A sync marks every live service removed, then brings the
	 * configured ones back, in one transaction: names no longer
	 * configured keep the time of this sync, earlier removals keep
	 * theirs.
	 */
	[S_SVC_REMOVE_ALL] =
	    "UPDATE services SET removed_ms = ?1 WHERE removed_ms IS NULL",
	[S_SVC_UPSERT] =
	    "INSERT INTO services (name, added_ms) VALUES (?1, ?2)"
	    " ON CONFLICT (name) DO UPDATE SET removed_ms = NULL",
	[S_INST_ADD] =
	    "INSERT INTO instances (" INST_COLUMNS ")"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, NULL, ?11, ?12,"
	    " NULL, ?13)",
	[S_INST_UPDATE] =
	    "UPDATE instances SET domain = ?2, uuid = ?3, mac = ?4,"
	    " host_port = ?5, state = ?6, created_ms = ?7, ready_ms = ?8,"
	    " create_dur_ms = ?9, boot_dur_ms = ?10 WHERE id = ?1",
	[S_INST_CLOSE] =
	    "UPDATE instances SET stopped_ms = ?2, stop_reason = ?3,"
	    " state = 'stopped' WHERE id = ?1",
	[S_INST_REOPEN] =
	    "UPDATE instances SET stopped_ms = NULL, stop_reason = NULL,"
	    " state = ?2 WHERE id = ?1 AND stopped_ms IS NOT NULL",
	[S_INST_GET] =
	    "SELECT " INST_COLUMNS " FROM instances WHERE id = ?1",
	[S_INST_LIVE] =
	    "SELECT " INST_COLUMNS " FROM instances WHERE stopped_ms IS NULL"
	    " ORDER BY id",
	[S_INST_LIVE_ADDR] =
	    "SELECT id FROM instances WHERE guest_address = ?1"
	    " AND stopped_ms IS NULL",
	[S_EVENT_ADD] =
	    "INSERT INTO events (" EVENT_COLUMNS ")"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	/* The id just before the last ?2 events after ?1, if there are more. */
	[S_EVENT_START] =
	    "SELECT id FROM events WHERE id > ?1"
	    " ORDER BY id DESC LIMIT 1 OFFSET ?2",
	[S_EVENT_START_SVC] =
	    "SELECT id FROM events WHERE service = ?3 AND id > ?1"
	    " ORDER BY id DESC LIMIT 1 OFFSET ?2",
	[S_EVENT_PAGE] =
	    "SELECT " EVENT_COLUMNS " FROM events WHERE id > ?1 AND id <= ?2"
	    " ORDER BY id LIMIT ?3",
	[S_EVENT_PAGE_SVC] =
	    "SELECT " EVENT_COLUMNS " FROM events WHERE service = ?4"
	    " AND id > ?1 AND id <= ?2 ORDER BY id LIMIT ?3",
	[S_STATS_BOOTS] =
	    "SELECT COUNT(*) FROM instances WHERE service = ?1"
	    " AND ready_ms > 0",
	[S_STATS_LAST] =
	    "SELECT boot_dur_ms FROM instances WHERE service = ?1"
	    " AND ready_ms > 0 ORDER BY id DESC LIMIT 1",
};

enum op_kind { OP_SYNC, OP_INST_ADD, OP_INST_UPDATE, OP_INST_CLOSE,
	       OP_EVENT };

/* One write, complete enough to be replayed later. */
struct op {
	TAILQ_ENTRY(op)	 entry;		/* store.queue, oldest first */
	TAILQ_ENTRY(op)	 evlink;	/* store.events, for OP_EVENT */
	enum op_kind	 kind;
	union {
		struct {
			const char *const *names;
			char	**owned;	/* names, when queued */
			size_t	  n;
			int64_t	  now_ms;
		} sync;
		struct store_instance	inst;
		struct {
			int64_t	  id;
			int64_t	  stopped_ms;
			char	  reason[16];
		} close;
		struct store_event	ev;
	} u;
};

TAILQ_HEAD(opq, op);

struct store {
	sqlite3		*db;
	char		*path;
	int		 version;
	sqlite3_stmt	*stmts[S_COUNT];
	int64_t		 next_instance;
	int64_t		 next_event;
	int		 in_batch;	/* store_flush holds a transaction */
	char		 owner[STORE_OWNER_MAX];	/* "" before version 3 */

	struct opq	 queue;		/* pending writes, oldest first */
	struct opq	 events;	/* the OP_EVENT ones among them */
	size_t		 npending;
	uint64_t	 ndropped;	/* events dropped from a full queue */

	char		 reason[256];	/* the last error itself */
	char		 errmsg[512];	/* reason, plus the queue's state */

	void		(*event_hook)(void *, const struct store_event *);
	void		 *event_hook_arg;
};

static void	 set_err(struct store *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* Copy at most len - 1 bytes of src (NULL is ""), always terminated. */
static void
copy_str(char *dst, size_t len, const char *src)
{
	size_t n;

	if (src == NULL)
		src = "";
	n = strnlen(src, len - 1);
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/*
 * The caller's fields need not be terminated; what is stored is what a
 * read gives back, so cut them where a read would.
 */
static void
terminate_inst(struct store_instance *in)
{
	in->service[sizeof(in->service) - 1] = '\0';
	in->domain[sizeof(in->domain) - 1] = '\0';
	in->uuid[sizeof(in->uuid) - 1] = '\0';
	in->guest_address[sizeof(in->guest_address) - 1] = '\0';
	in->mac[sizeof(in->mac) - 1] = '\0';
	in->state[sizeof(in->state) - 1] = '\0';
	in->stop_reason[sizeof(in->stop_reason) - 1] = '\0';
}

static void
set_err(struct store *st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->reason, sizeof(st->reason), fmt, ap);
	va_end(ap);
	copy_str(st->errmsg, sizeof(st->errmsg), st->reason);
}

/*
 * Record SQLite's message for rc; returns rc.  "disk I/O error" alone
 * does not tell a full disk from a failing one: add the system's word.
 */
static int
db_err(struct store *st, int rc)
{
	int sys;

	if (rc == SQLITE_NOTFOUND)
		set_err(st, "row not found");
	else if (((rc & 0xff) == SQLITE_IOERR ||
	    (rc & 0xff) == SQLITE_CANTOPEN) &&
	    (sys = sqlite3_system_errno(st->db)) != 0)
		set_err(st, "%s (%s)", sqlite3_errmsg(st->db), strerror(sys));
	else
		set_err(st, "%s", sqlite3_errmsg(st->db));
	return rc;
}

/*
 * The failures worth waiting out: space may be freed, a device may come
 * back, a lock may be released.  Everything else (constraints, misuse,
 * a corrupt file) would fail the same way again.
 */
static int
transient(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_CANTOPEN:
		return 1;
	}
	return 0;
}

/* Run SQL without results; the error is recorded. */
static int
exec_sql(struct store *st, const char *sql)
{
	int rc;

	if ((rc = sqlite3_exec(st->db, sql, NULL, NULL, NULL)) != SQLITE_OK)
		db_err(st, rc);
	return rc;
}

/* Like exec_sql, for clean-up after a failure whose message counts. */
static void
exec_quiet(struct store *st, const char *sql)
{
	(void)sqlite3_exec(st->db, sql, NULL, NULL, NULL);
}

static sqlite3_stmt *
stmt_get(struct store *st, enum stmt s, int *rc)
{
	*rc = SQLITE_OK;
	if (st->stmts[s] == NULL) {
		*rc = sqlite3_prepare_v3(st->db, stmt_sql[s], -1,
		    SQLITE_PREPARE_PERSISTENT, &st->stmts[s], NULL);
		if (*rc != SQLITE_OK) {
			db_err(st, *rc);
			st->stmts[s] = NULL;
		}
	}
	return st->stmts[s];
}

/* Run a bound write statement to its end and make it ready for reuse. */
static int
step_done(struct store *st, sqlite3_stmt *s)
{
	int rc;

	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		rc = SQLITE_OK;
	else {
		if (rc == SQLITE_ROW)
			rc = SQLITE_MISUSE;
		db_err(st, rc);
	}
	sqlite3_reset(s);
	return rc;
}

/* Bind a char array field, never reading past its size. */
static void
bind_field(sqlite3_stmt *s, int i, const char *f, size_t len)
{
	sqlite3_bind_text(s, i, f, (int)strnlen(f, len), SQLITE_STATIC);
}
#define BIND_FIELD(s, i, f)	bind_field((s), (i), (f), sizeof(f))

/* A wall-clock time: 0 is unset, kept as NULL. */
static void
bind_ms(sqlite3_stmt *s, int i, int64_t v)
{
	if (v == 0)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_int64(s, i, v);
}

/* A duration: negative is unset, kept as NULL. */
static void
bind_dur(sqlite3_stmt *s, int i, int64_t v)
{
	if (v < 0)
		sqlite3_bind_null(s, i);
	else
		sqlite3_bind_int64(s, i, v);
}

static void
col_str(sqlite3_stmt *s, int i, char *dst, size_t len)
{
	copy_str(dst, len, (const char *)sqlite3_column_text(s, i));
}

static int64_t
col_dur(sqlite3_stmt *s, int i)
{
	if (sqlite3_column_type(s, i) == SQLITE_NULL)
		return -1;
	return sqlite3_column_int64(s, i);
}

static void
row_instance(sqlite3_stmt *s, struct store_instance *in)
{
	memset(in, 0, sizeof(*in));
	in->id = sqlite3_column_int64(s, 0);
	col_str(s, 1, in->service, sizeof(in->service));
	col_str(s, 2, in->domain, sizeof(in->domain));
	col_str(s, 3, in->uuid, sizeof(in->uuid));
	col_str(s, 4, in->guest_address, sizeof(in->guest_address));
	col_str(s, 5, in->mac, sizeof(in->mac));
	in->host_port = (uint16_t)sqlite3_column_int(s, 6);
	col_str(s, 7, in->state, sizeof(in->state));
	in->created_ms = sqlite3_column_int64(s, 8);
	in->ready_ms = sqlite3_column_int64(s, 9);
	in->stopped_ms = sqlite3_column_int64(s, 10);
	in->create_dur_ms = col_dur(s, 11);
	in->boot_dur_ms = col_dur(s, 12);
	col_str(s, 13, in->stop_reason, sizeof(in->stop_reason));
	col_str(s, 14, in->host, sizeof(in->host));
}

static void
row_event(sqlite3_stmt *s, struct store_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->id = sqlite3_column_int64(s, 0);
	ev->at_ms = sqlite3_column_int64(s, 1);
	col_str(s, 2, ev->service, sizeof(ev->service));
	ev->instance = sqlite3_column_int64(s, 3);
	col_str(s, 4, ev->kind, sizeof(ev->kind));
	col_str(s, 5, ev->detail, sizeof(ev->detail));
}

/* A one-value query run once (open, tests); not worth caching. */
static int
query_int64(struct store *st, const char *sql, int64_t *out)
{
	sqlite3_stmt *s;
	int rc;

	if ((rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL)) != SQLITE_OK)
		return db_err(st, rc);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		*out = sqlite3_column_int64(s, 0);
		rc = SQLITE_OK;
	} else
		db_err(st, rc == SQLITE_DONE ? SQLITE_NOTFOUND : rc);
	sqlite3_finalize(s);
	return rc;
}

static int
read_owner(struct store *st)
{
	sqlite3_stmt *s;
	const char *id;
	int rc;

	rc = sqlite3_prepare_v2(st->db, "SELECT id FROM owner", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return db_err(st, rc);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW)
		db_err(st, rc == SQLITE_DONE ? SQLITE_NOTFOUND : rc);
	else if ((id = (const char *)sqlite3_column_text(s, 0)) == NULL ||
	    strlen(id) != STORE_OWNER_MAX - 1) {
		set_err(st, "the owner id is damaged");
		rc = SQLITE_CORRUPT;
	} else {
		copy_str(st->owner, sizeof(st->owner), id);
		rc = SQLITE_OK;
	}
	sqlite3_finalize(s);
	return rc;
}

/* journal_mode answers with the mode it got, which may not be WAL. */
static int
set_wal(struct store *st)
{
	sqlite3_stmt *s;
	const char *mode;
	int rc;

	rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s,
	    NULL);
	if (rc != SQLITE_OK)
		return db_err(st, rc);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW)
		db_err(st, rc);
	else if ((mode = (const char *)sqlite3_column_text(s, 0)) == NULL ||
	    sqlite3_stricmp(mode, "wal") != 0) {
		set_err(st, "cannot use write-ahead logging (journal mode %s)",
		    mode ? mode : "unknown");
		rc = SQLITE_CANTOPEN;
	} else
		rc = SQLITE_OK;
	sqlite3_finalize(s);
	return rc;
}

/*
 * SQLite makes and removes the -wal and -shm files (and, while a new
 * database turns to WAL, a -journal) beside the database.  In a
 * directory summond cannot write, it would get by while they exist and
 * fail every write once they are gone: refuse it now.
 */
static int
check_dir(struct store *st)
{
	char dir[PATH_MAX], *slash;

	snprintf(dir, sizeof(dir), "%s", st->path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	if (access(dir, W_OK | X_OK) == 0)
		return 0;
	if (errno == ENOENT || errno == ENOTDIR)
		set_err(st, "%s", strerror(errno));
	else
		set_err(st, "its directory %s is not writable (%s); SQLite "
		    "keeps the -wal and -shm files there", dir,
		    strerror(errno));
	return -1;
}

/*
 * Make the database if it is new, readable by owner and group only:
 * SQLite would make it 0666 less the umask, and it gives the -wal and
 * -shm files the mode of the database, so this one open decides all
 * three.  An existing file keeps the mode its operator gave it; *mode
 * is set to it.  Only a regular file will do.
 */
static int
prepare_file(struct store *st, mode_t *mode)
{
	struct stat sb;
	int fd;

	/* O_NONBLOCK: a FIFO given as the path must not hang the open. */
	fd = open(st->path, O_RDONLY | O_CREAT | O_NONBLOCK | O_CLOEXEC,
	    STORE_FILE_MODE);
	if (fd == -1) {
		set_err(st, "%s", strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1) {
		set_err(st, "%s", strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	if (!S_ISREG(sb.st_mode)) {
		set_err(st, "not a regular file");
		return -1;
	}
	*mode = sb.st_mode & 07777;
	return 0;
}

/*
 * SQLite cannot use the database as summond needs: it opens what it
 * cannot write for reading and says so only at the first write
 * (SQLITE_READONLY), and fails the first read on a -wal or -shm it
 * cannot open (SQLITE_CANTOPEN).  Name the file, as far as access(2)
 * tells, else keep SQLite's word, which is in st->reason.
 */
static void
file_err(struct store *st, int rc)
{
	static const char *const suffix[] = { "", "-wal", "-shm" };
	char p[PATH_MAX], why[sizeof(st->reason)];
	const char *what;
	size_t i;

	if ((rc & 0xff) == SQLITE_READONLY)
		what = "the database is read-only";
	else if ((rc & 0xff) == SQLITE_CANTOPEN)
		what = "cannot open the database";
	else
		return;
	copy_str(why, sizeof(why), st->reason);
	for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", st->path, suffix[i]);
		if (access(p, R_OK | W_OK) == 0 || errno == ENOENT)
			continue;
		if (i == 0)
			set_err(st, "%s (%s)", what, strerror(errno));
		else
			set_err(st, "%s (%s: %s)", what, p, strerror(errno));
		return;
	}
	if ((rc & 0xff) == SQLITE_READONLY)
		set_err(st, "%s (%s)", what, why);
}

/*
 * Take the write lock once, writing nothing.  In WAL mode that needs a
 * writable -wal and -shm, which another user may have left behind: a
 * database SQLite can only read is refused here rather than losing every
 * write later.
 */
static int
check_writable(struct store *st)
{
	int rc;

	if ((rc = exec_sql(st, "BEGIN IMMEDIATE")) == SQLITE_OK &&
	    (rc = exec_sql(st, "COMMIT")) == SQLITE_OK)
		return SQLITE_OK;
	if (!sqlite3_get_autocommit(st->db))
		exec_quiet(st, "ROLLBACK");
	file_err(st, rc);
	return rc;
}

/* A name read from a file someone else may have made, fit for a log. */
static void
copy_printable(char *dst, size_t len, const unsigned char *src)
{
	size_t i;

	if (src == NULL)
		src = (const unsigned char *)"";
	for (i = 0; i < len - 1 && src[i] != '\0'; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f && src[i] != '"' ?
		    (char)src[i] : '?';
	dst[i] = '\0';
}

/*
 * Is this summon's database?  At schema version 0 it holds nothing
 * (each migration is one transaction, so no summond leaves half a
 * schema behind); from version 1 it has the tables of its version.
 * Anything else is another program's database given as `state` by
 * mistake, and is refused before anything changes it, the journal mode
 * included.  Returns SQLITE_NOTADB for a database that is not ours.
 */
static int
check_ours(struct store *st, int64_t version)
{
	sqlite3_stmt *s;
	char type[16], name[64];
	size_t i;
	int rc;

	if (version == 0) {
		rc = sqlite3_prepare_v2(st->db, "SELECT type, name FROM"
		    " sqlite_master ORDER BY type <> 'table', rowid LIMIT 1",
		    -1, &s, NULL);
		if (rc != SQLITE_OK)
			return db_err(st, rc);
		if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			copy_printable(type, sizeof(type),
			    sqlite3_column_text(s, 0));
			copy_printable(name, sizeof(name),
			    sqlite3_column_text(s, 1));
			set_err(st, "not a summon state database (no schema "
			    "version, yet it holds %s \"%s\"); refusing to "
			    "touch it", type, name);
			rc = SQLITE_NOTADB;
		} else if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
		else
			db_err(st, rc);
		sqlite3_finalize(s);
		return rc;
	}

	rc = sqlite3_prepare_v2(st->db, "SELECT 1 FROM sqlite_master"
	    " WHERE type = 'table' AND name = ?1", -1, &s, NULL);
	if (rc != SQLITE_OK)
		return db_err(st, rc);
	for (i = 0; i < sizeof(store_tables) / sizeof(store_tables[0]);
	    i++) {
		if (store_tables[i].since > version)
			continue;
		sqlite3_bind_text(s, 1, store_tables[i].name, -1,
		    SQLITE_STATIC);
		if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
			sqlite3_reset(s);
			continue;
		}
		if (rc == SQLITE_DONE) {
			set_err(st, "not a summon state database (schema "
			    "version %" PRId64 " without table \"%s\"); "
			    "refusing to touch it", version,
			    store_tables[i].name);
			rc = SQLITE_NOTADB;
		} else
			db_err(st, rc);
		sqlite3_finalize(s);
		return rc;
	}
	sqlite3_finalize(s);
	return SQLITE_OK;
}

static int
migrate(struct store *st, int from, int to)
{
	char sql[64], why[sizeof(((struct store *)0)->reason)];
	int v, rc;

	for (v = from; v < to; v++) {
		/* IMMEDIATE: two summonds starting at once must not race. */
		if ((rc = exec_sql(st, "BEGIN IMMEDIATE")) != SQLITE_OK)
			return rc;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if ((rc = exec_sql(st, migrations[v])) != SQLITE_OK ||
		    (rc = exec_sql(st, sql)) != SQLITE_OK ||
		    (rc = exec_sql(st, "COMMIT")) != SQLITE_OK) {
			copy_str(why, sizeof(why), st->reason);
			exec_quiet(st, "ROLLBACK");
			set_err(st, "migrating the schema to version %d: %s",
			    v + 1, why);
			return rc;
		}
	}
	return SQLITE_OK;
}

static void
op_free(struct op *op)
{
	size_t i;

	if (op->kind == OP_SYNC && op->u.sync.owned != NULL) {
		for (i = 0; i < op->u.sync.n; i++)
			free(op->u.sync.owned[i]);
		free(op->u.sync.owned);
	}
	free(op);
}

static void
store_free(struct store *st)
{
	struct op *op;
	int i;

	while ((op = TAILQ_FIRST(&st->queue)) != NULL) {
		TAILQ_REMOVE(&st->queue, op, entry);
		op_free(op);
	}
	for (i = 0; i < S_COUNT; i++)
		sqlite3_finalize(st->stmts[i]);
	if (st->db != NULL && sqlite3_close(st->db) != SQLITE_OK)
		log_warnx("store: %s: close: %s", st->path,
		    sqlite3_errmsg(st->db));
	free(st->path);
	free(st);
}

struct store *
store_open(const char *path, char *err, size_t errlen)
{
	return store_open_version(path, STORE_SCHEMA_VERSION, err, errlen);
}

struct store *
store_open_version(const char *path, int version, char *err, size_t errlen)
{
	struct store *st;
	int64_t v;
	mode_t mode;
	int rc;

	if (version < 1 || version > STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "%s: no schema version %d", path,
		    version);
		return NULL;
	}
	if ((st = calloc(1, sizeof(*st))) == NULL ||
	    (st->path = strdup(path)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		free(st);
		return NULL;
	}
	TAILQ_INIT(&st->queue);
	TAILQ_INIT(&st->events);

	if (strlen(path) + sizeof("-wal") > PATH_MAX) {
		set_err(st, "path too long");
		goto fail;
	}
	if (check_dir(st) == -1 || prepare_file(st, &mode) == -1)
		goto fail;
	/* Without CREATE: the file is made above, with its mode. */
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_EXRESCODE, NULL);
	if (rc != SQLITE_OK) {
		if (st->db == NULL)
			set_err(st, "%s", sqlite3_errstr(rc));
		else
			db_err(st, rc);
		goto fail;
	}
	sqlite3_busy_timeout(st->db, STORE_BUSY_MS);
	if (sqlite3_db_readonly(st->db, "main") != 0) {
		set_err(st, "SQLite can open it only for reading");
		file_err(st, SQLITE_READONLY);
		goto fail;
	}

	/* Before anything changes the file: it may not be ours to touch. */
	if ((rc = query_int64(st, "PRAGMA user_version", &v)) != SQLITE_OK) {
		file_err(st, rc);
		goto fail;
	}
	if (v > STORE_SCHEMA_VERSION) {
		set_err(st, "schema version %" PRId64 " was written by a newer "
		    "summond (this one knows %d); refusing to open", v,
		    STORE_SCHEMA_VERSION);
		goto fail;
	}
	if (v < 0) {
		set_err(st, "schema version %" PRId64 " is not ours", v);
		goto fail;
	}
	if (check_ours(st, v) != SQLITE_OK)
		goto fail;
	/*
	 * WAL: readers never wait for the writer, and a commit is an append
	 * to the log.  synchronous=NORMAL gives up only the last commits on
	 * a power loss, never on a crash of summond, which is what we must
	 * survive.
	 *
	 * The page cache is bounded well below SQLite's default of 2 MB,
	 * which the growing event log would fill in the long run: every
	 * write appends near the end of a table or index, and the file is
	 * in the kernel's page cache anyway.
	 */
	if ((rc = set_wal(st)) != SQLITE_OK) {
		file_err(st, rc);
		goto fail;
	}
	if (exec_sql(st, "PRAGMA synchronous = NORMAL") != SQLITE_OK ||
	    exec_sql(st, "PRAGMA foreign_keys = ON") != SQLITE_OK ||
	    exec_sql(st, "PRAGMA cache_size = " STORE_CACHE_KIB) != SQLITE_OK)
		goto fail;
	if (check_writable(st) != SQLITE_OK ||
	    migrate(st, (int)v, version) != SQLITE_OK)
		goto fail;
	if (query_int64(st, "PRAGMA user_version", &v) != SQLITE_OK ||
	    query_int64(st, "SELECT COALESCE(MAX(id), 0) + 1 FROM instances",
	    &st->next_instance) != SQLITE_OK ||
	    query_int64(st, "SELECT COALESCE(MAX(id), 0) + 1 FROM events",
	    &st->next_event) != SQLITE_OK)
		goto fail;
	st->version = (int)v;
	if (st->version >= 3 && read_owner(st) != SQLITE_OK)
		goto fail;
	/* The operator's choice, but one worth a word. */
	if (mode & S_IRWXO)
		log_warnx("store: %s: mode %04o lets every user read the "
		    "state; summond makes a new database %04o", path,
		    (unsigned int)mode, STORE_FILE_MODE);
	st->reason[0] = st->errmsg[0] = '\0';
	return st;

fail:
	snprintf(err, errlen, "%s: %s", path, st->reason);
	store_free(st);
	return NULL;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	if (st->npending > 0 && store_flush(st) == -1)
		log_warnx("store: %s: closing with writes not on disk: %s",
		    st->path, st->errmsg);
	store_free(st);
}

const char *
store_owner(struct store *st)
{
	return st->owner;
}

int
store_schema_version(struct store *st)
{
	return st->version;
}

size_t
store_pending(struct store *st)
{
	return st->npending;
}

const char *
store_errmsg(struct store *st)
{
	return st->errmsg;
}

/* errmsg: the reason and what waits because of it. */
static void
note_queue(struct store *st)
{
	if (st->ndropped > 0)
		snprintf(st->errmsg, sizeof(st->errmsg),
		    "%s; %zu writes wait in memory, %" PRIu64 " events "
		    "dropped", st->reason, st->npending, st->ndropped);
	else
		snprintf(st->errmsg, sizeof(st->errmsg),
		    "%s; %zu writes wait in memory", st->reason, st->npending);
}

static int
exec_sync(struct store *st, const char *const *names, size_t n,
    int64_t now_ms)
{
	sqlite3_stmt *s;
	size_t i;
	int rc;

	/* A savepoint nests inside a flush's transaction, or is one. */
	if ((rc = exec_sql(st, "SAVEPOINT sync")) != SQLITE_OK)
		return rc;
	if ((s = stmt_get(st, S_SVC_REMOVE_ALL, &rc)) == NULL)
		goto fail;
	sqlite3_bind_int64(s, 1, now_ms);
	if ((rc = step_done(st, s)) != SQLITE_OK)
		goto fail;
	if ((s = stmt_get(st, S_SVC_UPSERT, &rc)) == NULL)
		goto fail;
	for (i = 0; i < n; i++) {
		sqlite3_bind_text(s, 1, names[i], -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 2, now_ms);
		if ((rc = step_done(st, s)) != SQLITE_OK)
			goto fail;
	}
	if ((rc = exec_sql(st, "RELEASE sync")) != SQLITE_OK)
		goto fail;
	return SQLITE_OK;

fail:
	/* Either may fail if SQLite already undid the whole transaction. */
	exec_quiet(st, "ROLLBACK TO sync");
	exec_quiet(st, "RELEASE sync");
	if (!st->in_batch && !sqlite3_get_autocommit(st->db))
		exec_quiet(st, "ROLLBACK");
	return rc;
}

static int
exec_inst_add(struct store *st, const struct store_instance *in)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = stmt_get(st, S_INST_ADD, &rc)) == NULL)
		return rc;
	sqlite3_bind_int64(s, 1, in->id);
	BIND_FIELD(s, 2, in->service);
	BIND_FIELD(s, 3, in->domain);
	BIND_FIELD(s, 4, in->uuid);
	BIND_FIELD(s, 5, in->guest_address);
	BIND_FIELD(s, 6, in->mac);
	sqlite3_bind_int(s, 7, in->host_port);
	BIND_FIELD(s, 8, in->state);
	bind_ms(s, 9, in->created_ms);
	bind_ms(s, 10, in->ready_ms);
	bind_dur(s, 11, in->create_dur_ms);
	bind_dur(s, 12, in->boot_dur_ms);
	BIND_FIELD(s, 13, in->host);
	return step_done(st, s);
}

/* Run a bound UPDATE of one instance; a missing row is an error. */
static int
step_update(struct store *st, sqlite3_stmt *s, int64_t id)
{
	int rc;

	if ((rc = step_done(st, s)) != SQLITE_OK)
		return rc;
	if (sqlite3_changes(st->db) == 0) {
		set_err(st, "no instance %" PRId64, id);
		return SQLITE_NOTFOUND;
	}
	return SQLITE_OK;
}

static int
exec_inst_update(struct store *st, const struct store_instance *in)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = stmt_get(st, S_INST_UPDATE, &rc)) == NULL)
		return rc;
	sqlite3_bind_int64(s, 1, in->id);
	BIND_FIELD(s, 2, in->domain);
	BIND_FIELD(s, 3, in->uuid);
	BIND_FIELD(s, 4, in->mac);
	sqlite3_bind_int(s, 5, in->host_port);
	BIND_FIELD(s, 6, in->state);
	bind_ms(s, 7, in->created_ms);
	bind_ms(s, 8, in->ready_ms);
	bind_dur(s, 9, in->create_dur_ms);
	bind_dur(s, 10, in->boot_dur_ms);
	return step_update(st, s, in->id);
}

static int
exec_inst_close(struct store *st, int64_t id, int64_t stopped_ms,
    const char *reason, size_t reasonlen)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = stmt_get(st, S_INST_CLOSE, &rc)) == NULL)
		return rc;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, stopped_ms);
	bind_field(s, 3, reason, reasonlen);
	return step_update(st, s, id);
}

static int
exec_event(struct store *st, const struct store_event *ev)
{
	sqlite3_stmt *s;
	int rc;

	if ((s = stmt_get(st, S_EVENT_ADD, &rc)) == NULL)
		return rc;
	sqlite3_bind_int64(s, 1, ev->id);
	sqlite3_bind_int64(s, 2, ev->at_ms);
	BIND_FIELD(s, 3, ev->service);
	sqlite3_bind_int64(s, 4, ev->instance);
	BIND_FIELD(s, 5, ev->kind);
	BIND_FIELD(s, 6, ev->detail);
	return step_done(st, s);
}

/* Run one write; returns a SQLite result code, the error recorded. */
static int
op_exec(struct store *st, const struct op *op)
{
	switch (op->kind) {
	case OP_SYNC:
		return exec_sync(st, op->u.sync.names, op->u.sync.n,
		    op->u.sync.now_ms);
	case OP_INST_ADD:
		return exec_inst_add(st, &op->u.inst);
	case OP_INST_UPDATE:
		return exec_inst_update(st, &op->u.inst);
	case OP_INST_CLOSE:
		return exec_inst_close(st, op->u.close.id,
		    op->u.close.stopped_ms, op->u.close.reason,
		    sizeof(op->u.close.reason));
	case OP_EVENT:
		return exec_event(st, &op->u.ev);
	}
	return SQLITE_MISUSE;
}

static const char *
op_name(const struct op *op)
{
	switch (op->kind) {
	case OP_SYNC:
		return "service sync";
	case OP_INST_ADD:
		return "instance add";
	case OP_INST_UPDATE:
		return "instance update";
	case OP_INST_CLOSE:
		return "instance close";
	case OP_EVENT:
		return "event";
	}
	return "write";
}

/* Is instance id closed by a write still in the queue? */
static int
closed_in_queue(struct store *st, int64_t id)
{
	struct op *op;

	TAILQ_FOREACH(op, &st->queue, entry)
		if (op->kind == OP_INST_CLOSE && op->u.close.id == id)
			return 1;
	return 0;
}

/*
 * While writes wait, the unique index cannot guard the address pool, so
 * look for a live holder of addr here: on disk or queued, and not
 * closed by a queued write.  A failed read (the disk may be in trouble)
 * leaves only the queue to judge.
 */
static int
address_taken(struct store *st, const char *addr)
{
	sqlite3_stmt *s;
	struct op *op;
	int rc, taken = 0;

	if (addr[0] == '\0')
		return 0;
	TAILQ_FOREACH(op, &st->queue, entry)
		if (op->kind == OP_INST_ADD &&
		    strcmp(op->u.inst.guest_address, addr) == 0 &&
		    !closed_in_queue(st, op->u.inst.id))
			return 1;
	if ((s = stmt_get(st, S_INST_LIVE_ADDR, &rc)) == NULL)
		return 0;
	sqlite3_bind_text(s, 1, addr, -1, SQLITE_STATIC);
	while (!taken && sqlite3_step(s) == SQLITE_ROW)
		taken = !closed_in_queue(st, sqlite3_column_int64(s, 0));
	sqlite3_reset(s);
	return taken;
}

/* Keep a copy of op at the end of the queue. */
static int
enqueue(struct store *st, const struct op *src)
{
	struct op *op, *old;
	size_t i;

	if (src->kind == OP_INST_ADD &&
	    address_taken(st, src->u.inst.guest_address)) {
		set_err(st, "guest address %s is held by a live instance",
		    src->u.inst.guest_address);
		return -1;
	}
	/*
	 * A full queue gives up the oldest events: they are history, while
	 * instance rows are what the next summond needs to find its VMs.
	 */
	if (st->npending >= STORE_QUEUE_MAX) {
		if ((old = TAILQ_FIRST(&st->events)) != NULL) {
			TAILQ_REMOVE(&st->events, old, evlink);
			TAILQ_REMOVE(&st->queue, old, entry);
			op_free(old);
			st->npending--;
			st->ndropped++;
		} else if (src->kind == OP_EVENT) {
			st->ndropped++;
			note_queue(st);
			return 0;
		}
	}
	if ((op = malloc(sizeof(*op))) == NULL)
		goto nomem;
	*op = *src;
	if (op->kind == OP_SYNC) {
		op->u.sync.owned = calloc(src->u.sync.n + 1, sizeof(char *));
		if (op->u.sync.owned == NULL) {
			free(op);
			goto nomem;
		}
		for (i = 0; i < src->u.sync.n; i++)
			if ((op->u.sync.owned[i] =
			    strdup(src->u.sync.names[i])) == NULL) {
				op_free(op);
				goto nomem;
			}
		op->u.sync.names = (const char *const *)op->u.sync.owned;
	}
	if (st->npending == 0)
		log_warnx("store: %s: %s; keeping writes in memory", st->path,
		    st->reason);
	TAILQ_INSERT_TAIL(&st->queue, op, entry);
	if (op->kind == OP_EVENT)
		TAILQ_INSERT_TAIL(&st->events, op, evlink);
	st->npending++;
	note_queue(st);
	return 0;

nomem:
	set_err(st, "out of memory queueing a write");
	return -1;
}

static void
dequeue(struct store *st, struct op *op)
{
	TAILQ_REMOVE(&st->queue, op, entry);
	if (op->kind == OP_EVENT)
		TAILQ_REMOVE(&st->events, op, evlink);
	st->npending--;
	op_free(op);
}

/*
 * Every write goes through here: what waits goes first, so that the
 * database sees writes in the order they were made.
 */
static int
store_write(struct store *st, const struct op *op)
{
	int rc;

	if (st->npending > 0 && store_flush(st) == -1)
		return enqueue(st, op);
	if ((rc = op_exec(st, op)) == SQLITE_OK)
		return 0;
	if (transient(rc))
		return enqueue(st, op);
	return -1;
}

int
store_flush(struct store *st)
{
	struct op *op, *stop;
	size_t n, done = 0;
	int rc;

	while ((op = TAILQ_FIRST(&st->queue)) != NULL) {
		/*
		 * Batches in one transaction each: thousands of autocommits
		 * would hold the main loop for seconds.
		 */
		if (exec_sql(st, "BEGIN IMMEDIATE") != SQLITE_OK)
			goto fail;
		st->in_batch = 1;
		rc = SQLITE_OK;
		for (n = 0; op != NULL && n < STORE_FLUSH_BATCH;
		    op = TAILQ_NEXT(op, entry), n++) {
			if ((rc = op_exec(st, op)) == SQLITE_OK)
				continue;
			if (transient(rc))
				break;
			/* It would fail forever: give it up, say so. */
			log_warnx("store: %s: dropping a queued %s: %s",
			    st->path, op_name(op), st->reason);
			rc = SQLITE_OK;
		}
		stop = op;
		st->in_batch = 0;

		/* After some errors SQLite has rolled it all back itself. */
		if (sqlite3_get_autocommit(st->db))
			goto fail;
		if (exec_sql(st, "COMMIT") != SQLITE_OK) {
			exec_quiet(st, "ROLLBACK");
			goto fail;
		}
		while ((op = TAILQ_FIRST(&st->queue)) != stop) {
			dequeue(st, op);
			done++;
		}
		if (rc != SQLITE_OK)
			goto fail;
	}
	if (done > 0)
		log_info("store: %s: %zu waiting writes are on disk", st->path,
		    done);
	return 0;

fail:
	note_queue(st);
	return -1;
}

/* Reads see the disk: give waiting writes a chance to get there first. */
static void
flush_before_read(struct store *st)
{
	if (st->npending > 0)
		(void)store_flush(st);
}

int
store_sync_services(struct store *st, const char *const *names, size_t n,
    int64_t now_ms)
{
	struct op op;
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		if (names[i] == NULL || names[i][0] == '\0') {
			set_err(st, "empty service name");
			return -1;
		}
	memset(&op, 0, sizeof(op));
	op.kind = OP_SYNC;
	op.u.sync.names = names;
	op.u.sync.n = n;
	op.u.sync.now_ms = now_ms;
	rc = store_write(st, &op);
	/*
	 * The sync read and wrote every row of services: 370 KB of pages
	 * with 10,000 services, left in SQLite's cache and not needed again
	 * until the next sync.
	 */
	sqlite3_db_release_memory(st->db);
	return rc;
}

int
store_service_stats(struct store *st, const char *service, uint64_t *boots,
    int64_t *last_boot_ms)
{
	sqlite3_stmt *s;
	int rc;

	flush_before_read(st);
	if ((s = stmt_get(st, S_STATS_BOOTS, &rc)) == NULL)
		return -1;
	sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(s)) != SQLITE_ROW)
		goto fail;
	*boots = (uint64_t)sqlite3_column_int64(s, 0);
	sqlite3_reset(s);

	if ((s = stmt_get(st, S_STATS_LAST, &rc)) == NULL)
		return -1;
	sqlite3_bind_text(s, 1, service, -1, SQLITE_STATIC);
	*last_boot_ms = -1;
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		*last_boot_ms = col_dur(s, 0);
	else if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_reset(s);
	return 0;

fail:
	db_err(st, rc);
	sqlite3_reset(s);
	return -1;
}

int
store_instance_add(struct store *st, struct store_instance *inst)
{
	struct op op;

	memset(&op, 0, sizeof(op));
	op.kind = OP_INST_ADD;
	op.u.inst = *inst;
	terminate_inst(&op.u.inst);
	if (op.u.inst.service[0] == '\0') {
		set_err(st, "instance without a service");
		return -1;
	}
	op.u.inst.id = st->next_instance;
	op.u.inst.stopped_ms = 0;
	op.u.inst.stop_reason[0] = '\0';
	if (store_write(st, &op) == -1)
		return -1;
	inst->id = st->next_instance++;
	return 0;
}

int
store_instance_update(struct store *st, const struct store_instance *inst)
{
	struct op op;

	memset(&op, 0, sizeof(op));
	op.kind = OP_INST_UPDATE;
	op.u.inst = *inst;
	terminate_inst(&op.u.inst);
	return store_write(st, &op);
}

int
store_instance_close(struct store *st, int64_t id, int64_t stopped_ms,
    const char *reason)
{
	struct op op;

	if (stopped_ms <= 0) {
		set_err(st, "instance %" PRId64 " closed without a time", id);
		return -1;
	}
	memset(&op, 0, sizeof(op));
	op.kind = OP_INST_CLOSE;
	op.u.close.id = id;
	op.u.close.stopped_ms = stopped_ms;
	copy_str(op.u.close.reason, sizeof(op.u.close.reason), reason);
	return store_write(st, &op);
}

int
store_instance_reopen(struct store *st, int64_t id, const char *state)
{
	sqlite3_stmt *s;
	int rc;

	/* Not queued: a row live again must be on disk, or not at all. */
	if (st->npending > 0 && store_flush(st) == -1)
		return -1;
	if ((s = stmt_get(st, S_INST_REOPEN, &rc)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, state, -1, SQLITE_STATIC);
	return step_update(st, s, id) == SQLITE_OK ? 0 : -1;
}

int
store_instance_get(struct store *st, int64_t id, struct store_instance *out)
{
	sqlite3_stmt *s;
	int rc;

	flush_before_read(st);
	if ((s = stmt_get(st, S_INST_GET, &rc)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, id);
	if ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		row_instance(s, out);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		set_err(st, "no instance %" PRId64, id);
		rc = SQLITE_NOTFOUND;
	} else
		db_err(st, rc);
	sqlite3_reset(s);
	return rc == SQLITE_OK ? 0 : -1;
}

int
store_instances_live(struct store *st,
    int (*fn)(void *, const struct store_instance *), void *arg)
{
	struct store_instance *v = NULL, *nv;
	sqlite3_stmt *s;
	size_t n = 0, cap = 0, i;
	int rc;

	flush_before_read(st);
	if ((s = stmt_get(st, S_INST_LIVE, &rc)) == NULL)
		return -1;
	/*
	 * Read them all before calling fn, which may well write (closing
	 * rows of lost domains): a write under an open read would not
	 * commit until the read ends.
	 */
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL) {
				set_err(st, "out of memory");
				goto fail;
			}
			v = nv;
		}
		row_instance(s, &v[n++]);
	}
	if (rc != SQLITE_DONE) {
		db_err(st, rc);
		goto fail;
	}
	sqlite3_reset(s);
	for (i = 0; i < n; i++)
		if (fn(arg, &v[i]) != 0)
			break;
	free(v);
	return 0;

fail:
	sqlite3_reset(s);
	free(v);
	return -1;
}

int
store_event_add(struct store *st, int64_t at_ms, const char *service,
    int64_t instance, const char *kind, const char *detail)
{
	struct op op;

	if (kind == NULL || kind[0] == '\0') {
		set_err(st, "event without a kind");
		return -1;
	}
	memset(&op, 0, sizeof(op));
	op.kind = OP_EVENT;
	op.u.ev.id = st->next_event;
	op.u.ev.at_ms = at_ms;
	copy_str(op.u.ev.service, sizeof(op.u.ev.service), service);
	op.u.ev.instance = instance;
	copy_str(op.u.ev.kind, sizeof(op.u.ev.kind), kind);
	copy_str(op.u.ev.detail, sizeof(op.u.ev.detail), detail);
	if (store_write(st, &op) == -1)
		return -1;
	st->next_event++;
	if (st->event_hook != NULL)
		st->event_hook(st->event_hook_arg, &op.u.ev);
	return 0;
}

void
store_set_event_hook(struct store *st,
    void (*fn)(void *, const struct store_event *), void *arg)
{
	st->event_hook = fn;
	st->event_hook_arg = arg;
}

int
store_events(struct store *st, const char *service, int64_t after_id,
    size_t limit, int (*fn)(void *, const struct store_event *), void *arg)
{
	struct store_event page[STORE_EVENT_PAGE];
	sqlite3_stmt *s;
	int64_t lo, hi;
	size_t n, i;
	int rc;

	if (limit == 0)
		return 0;
	flush_before_read(st);
	/* Events fn appends while we read are not part of this answer. */
	hi = st->next_event - 1;

	/* Start after the newest event that is not among the last limit. */
	if ((s = stmt_get(st, service ? S_EVENT_START_SVC : S_EVENT_START,
	    &rc)) == NULL)
		return -1;
	sqlite3_bind_int64(s, 1, after_id);
	sqlite3_bind_int64(s, 2, limit > INT64_MAX ? INT64_MAX :
	    (int64_t)limit);
	if (service != NULL)
		sqlite3_bind_text(s, 3, service, -1, SQLITE_STATIC);
	lo = after_id;
	if ((rc = sqlite3_step(s)) == SQLITE_ROW)
		lo = sqlite3_column_int64(s, 0);
	else if (rc != SQLITE_DONE)
		goto fail;
	sqlite3_reset(s);

	/*
	 * Page by page, each statement reset before fn runs, so that fn may
	 * use the store and memory stays bounded whatever the limit.
	 */
	if ((s = stmt_get(st, service ? S_EVENT_PAGE_SVC : S_EVENT_PAGE,
	    &rc)) == NULL)
		return -1;
	for (;;) {
		sqlite3_bind_int64(s, 1, lo);
		sqlite3_bind_int64(s, 2, hi);
		sqlite3_bind_int64(s, 3, STORE_EVENT_PAGE);
		if (service != NULL)
			sqlite3_bind_text(s, 4, service, -1, SQLITE_STATIC);
		for (n = 0; (rc = sqlite3_step(s)) == SQLITE_ROW; n++)
			row_event(s, &page[n]);
		if (rc != SQLITE_DONE)
			goto fail;
		sqlite3_reset(s);
		for (i = 0; i < n; i++)
			if (fn(arg, &page[i]) != 0)
				return 0;
		if (n < STORE_EVENT_PAGE)
			return 0;
		lo = page[n - 1].id;
	}

fail:
	db_err(st, rc);
	sqlite3_reset(s);
	return -1;
}

int
store_test_set_max_pages(struct store *st, int pages)
{
	char sql[64];
	int64_t got;

	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %d", pages);
	return query_int64(st, sql, &got) == SQLITE_OK ? 0 : -1;
}
