/*
 * store.h - the state database (SQLite): services, instances, events.
 *
 * A domain-level API: no SQL leaves src/store/.  One row in instances
 * per VM incarnation, closed (stopped_ms set) when the VM is gone; the
 * events table is append-only.  Writes are small autocommit statements
 * in WAL mode, cheap enough for the main loop.
 *
 * Writes never lose a record: ids are assigned in memory, so a write
 * that fails for a reason that may pass (disk full, I/O error, busy)
 * is kept in an in-memory queue, in order, and retried by the next
 * write or by store_flush().  Callers see success; store_pending()
 * tells how many writes wait and store_errmsg() why.  The queue holds
 * 100000 writes; past that the oldest queued events are dropped (never
 * instance or service writes) and the count shows in store_errmsg().
 * A queued write that later fails for good (a constraint) is dropped
 * and logged.
 *
 * Reads first try to flush what waits; if writes still wait, reads
 * return what is on disk and do not see them.
 */
#ifndef SUMMON_STORE_H
#define SUMMON_STORE_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* The schema version this build writes (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION	4
#define STORE_OWNER_MAX		33	/* 32 hex digits and a NUL */

struct store_instance {
	int64_t		id;		/* assigned by store_instance_add */
	char		service[64];
	char		domain[128];	/* libvirt domain name */
	char		uuid[40];	/* libvirt domain UUID, "" unknown */
	char		guest_address[64];	/* "" none */
	char		mac[24];	/* "" none */
	uint16_t	host_port;	/* user-mode forward of the first port */
	char		state[16];	/* lifecycle state name */
	int64_t		created_ms;	/* wall clock; 0 unset */
	int64_t		ready_ms;	/* wall clock; 0 unset */
	int64_t		stopped_ms;	/* wall clock; 0 while live */
	int64_t		create_dur_ms;	/* domain create/resume took; -1 unset */
	int64_t		boot_dur_ms;	/* first wake to ready; -1 unset */
	char		stop_reason[16];	/* idle manual crash lost shutdown
						   evicted failed; "" while live */
	char		host[64];	/* [host] name; "" the one host */
};

struct store_event {
	int64_t		id;
	int64_t		at_ms;		/* wall clock */
	char		service[64];	/* "" for daemon-wide events */
	int64_t		instance;	/* 0 for none */
	char		kind[32];	/* "boot", "ready", "stop", ... */
	char		detail[256];
};

/*
 * Open (creating if needed) the database at path and migrate it to
 * STORE_SCHEMA_VERSION.  A new file is made mode 0640 (less what the
 * umask takes), and SQLite gives its -wal and -shm the same mode; an
 * existing file keeps its mode (a warning is logged if every user may
 * read it).  Refused: a database written by a newer summond, and one
 * that is not summon's (tables but no schema version, or a schema
 * version without summon's tables), both left as they were, journal
 * mode included; one summond cannot write (the file, its -wal or -shm, or the
 * directory SQLite makes them in), which SQLite would open for reading
 * and fail every write of, and one it cannot read.  On failure returns
 * NULL with "path: reason" in err.
 */
struct store	*store_open(const char *path, char *err, size_t errlen);
/*
 * As store_open, but migrate only up to version (tests use it to make a
 * database of an older schema).
 */
struct store	*store_open_version(const char *path, int version, char *err,
		    size_t errlen);
/* Flush what is pending (best effort) and close. */
void		 store_close(struct store *);

int		 store_schema_version(struct store *);
/*
 * This database's owner id (32 hex digits, random, made with the
 * database), which marks its domains; "" below schema version 3.
 */
const char	*store_owner(struct store *);
/* Writes waiting in memory after a failure; 0 when all is on disk. */
size_t		 store_pending(struct store *);
/* Retry the pending writes; 0 when none remain, else -1. */
int		 store_flush(struct store *);
/* The last error, for logs; "" if none. */
const char	*store_errmsg(struct store *);

/*
 * Record the configured services: new names are added, names no longer
 * configured are marked removed (their history stays).
 */
int		 store_sync_services(struct store *, const char *const *names,
		    size_t n, int64_t now_ms);

/* Boots so far and the last boot duration (-1 if none) of a service. */
int		 store_service_stats(struct store *, const char *service,
		    uint64_t *boots, int64_t *last_boot_ms);

/*
 * Add a live instance; sets inst->id.  stopped_ms and stop_reason are
 * ignored.  -1 if the service is unknown or another live instance holds
 * the same non-empty guest_address.
 */
int		 store_instance_add(struct store *, struct store_instance *inst);
/*
 * Update domain, uuid, mac, host_port, state, created_ms, ready_ms and
 * the durations of the existing row inst->id.  service, host and
 * guest_address are fixed at add; stopped_ms and stop_reason are set
 * by store_instance_close.  -1 if there is no such row.
 */
int		 store_instance_update(struct store *,
		    const struct store_instance *inst);
/* Close a row: stopped_ms and reason set, state "stopped". */
int		 store_instance_close(struct store *, int64_t id,
		    int64_t stopped_ms, const char *reason);
/*
 * Make the closed row id live again in state (a domain lost with its
 * host found running when the host came back).  Written at once, never
 * queued: -1 when the disk cannot take it now, when the row is not
 * closed, or when a live row holds its guest address.
 */
int		 store_instance_reopen(struct store *, int64_t id,
		    const char *state);
int		 store_instance_get(struct store *, int64_t id,
		    struct store_instance *out);
/*
 * Call fn for every live instance (stopped_ms == 0), oldest first.
 * fn returns 0 to go on, non-zero to stop.
 */
int		 store_instances_live(struct store *,
		    int (*fn)(void *arg, const struct store_instance *),
		    void *arg);

/* Append an event; id assigned. */
int		 store_event_add(struct store *, int64_t at_ms,
		    const char *service, int64_t instance, const char *kind,
		    const char *detail);
/*
 * Have fn called with every event as it is appended (on the caller's
 * thread, after it is written or queued); NULL to stop.  summond uses it
 * to push events to `summonctl events --follow`.
 */
void		 store_set_event_hook(struct store *,
		    void (*fn)(void *arg, const struct store_event *),
		    void *arg);

/*
 * Call fn for the last limit events (of service, or all if NULL) with id
 * greater than after_id, oldest first.
 */
int		 store_events(struct store *, const char *service,
		    int64_t after_id, size_t limit,
		    int (*fn)(void *arg, const struct store_event *),
		    void *arg);

/*
 * Tests only: cap the database at pages pages (PRAGMA max_page_count,
 * never below its current size) so that writes fail with "disk full".
 */
int		 store_test_set_max_pages(struct store *, int pages);

#endif
