/*
 * vm.h - the hypervisor backend: libvirt behind an ops table.
 *
 * The main loop never calls libvirt.  It submits jobs; two worker
 * threads run the blocking calls (one for starts, which a client may be
 * waiting on, one for stops, which take ~200 ms each in libvirt and must
 * not queue in front of a start), and a third thread runs libvirt's
 * event loop.  Results and domain lifecycle events come back to the main
 * loop through a queue and an eventfd; every callback below runs on the
 * main loop.  libvirt's error text is copied on the thread that got it.
 *
 * A lost connection to libvirtd (close callback, or a call failing with
 * a connection error) is reconnected with back-off; jobs wait meanwhile
 * and run once the connection is back; on_reconnect then tells the
 * lifecycle to re-read the state of its domains.
 */
#ifndef SUMMON_VM_H
#define SUMMON_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config;
struct event_base;
struct vm;

/* The metadata namespace summon puts in every domain it creates. */
#define VM_METADATA_URI		"urn:x-summon:instance:1"
#define VM_METADATA_PREFIX	"summon"
#define VM_OWNER_MAX		40

enum vm_op {
	VM_CREATE,		/* xml: start a transient domain */
	VM_CREATE_PAUSED,	/* xml: the same, VIR_DOMAIN_START_PAUSED */
	VM_DEFINE_START,	/* xml: define persistent, then start (save mode) */
	VM_RESUME,		/* paused -> running */
	VM_SUSPEND,		/* running -> paused */
	VM_SAVE,		/* virDomainManagedSave (persistent domains) */
	VM_RESTORE,		/* start a managed-saved domain */
	VM_SHUTDOWN,		/* ACPI; destroy after shutdown_ms */
	VM_DESTROY,		/* destroy (and undefine if persistent) */
	VM_STATE,		/* read the state */
};

enum vm_dstate {
	VM_DS_NONE,		/* no such domain */
	VM_DS_RUNNING,
	VM_DS_PAUSED,
	VM_DS_SHUTOFF,		/* defined, not running (may be saved) */
	VM_DS_SAVED,		/* shut off with a managed save image */
	VM_DS_OTHER,
};

/* Domain lifecycle events the lifecycle cares about. */
enum vm_event {
	VM_EV_STARTED, VM_EV_SUSPENDED, VM_EV_RESUMED, VM_EV_STOPPED,
	VM_EV_CRASHED,		/* stopped by a crash or a killed QEMU */
	VM_EV_SHUTDOWN,		/* the guest shut itself down */
};

struct vm_job;
typedef void (*vm_done_fn)(struct vm_job *);

/*
 * A job: filled by the caller, owned by the caller, and untouched by the
 * caller until done() runs on the main loop.  The backend fills the
 * result fields.
 */
struct vm_job {
	enum vm_op	 op;
	char		 domain[128];	/* domain name */
	char		*xml;		/* VM_CREATE*, VM_DEFINE_START; borrowed */
	uint64_t	 shutdown_ms;	/* VM_SHUTDOWN: wait before destroy */
	vm_done_fn	 done;
	void		*arg;

	/* results */
	int		 rc;		/* 0, or -1 with err */
	char		 err[512];	/* libvirt's message */
	char		 uuid[40];	/* VM_CREATE*, VM_DEFINE_START */
	enum vm_dstate	 state;		/* VM_STATE, and after every op (a
					   successful one: the state it leaves) */
	uint64_t	 queued_us;	/* when submitted (clock_mono_us) */
	uint64_t	 started_us;	/* when a worker took it */
	uint64_t	 finished_us;	/* when the call returned */

	struct vm_job	*next;		/* backend's queue link */
};

/*
 * Whose a domain is, in lowercase hex: the state database's random id
 * (store_owner()) and a hash of the database's path, so that a database
 * made again at the same path still knows the domains of the one before.
 * "" when the metadata has none (a summond from before owners); "?" when
 * it has one that cannot be read.
 */
struct vm_owner {
	char		 id[VM_OWNER_MAX];
	char		 state[VM_OWNER_MAX];
};

/* One domain of ours, as vm_list() reports it. */
struct vm_domain {
	char		 name[128];
	char		 uuid[40];
	struct vm_owner	 owner;		/* from our metadata */
	char		 service[64];	/* from our metadata */
	int64_t		 instance;	/* from our metadata */
	enum vm_dstate	 state;
	bool		 persistent;
};

struct vm_callbacks {
	/* A domain of ours changed state without being asked to (or was). */
	void	(*on_event)(void *arg, const char *domain, enum vm_event);
	/* The connection came back after being lost. */
	void	(*on_reconnect)(void *arg);
	void	 *arg;
};

/*
 * The backend ops table.  libvirt is the one backend; the table is the
 * seam for another (a Firecracker or raw-QEMU backend) and for tests.
 */
struct vm_backend_ops {
	const char	*name;
	/* Connect to uri (blocking; at start-up only).  NULL + err. */
	struct vm	*(*open)(struct event_base *, const char *uri,
			    const struct vm_callbacks *, char *err,
			    size_t errlen);
	/* Queue job; done() will run on the main loop, always. */
	void		 (*submit)(struct vm *, struct vm_job *);
	/*
	 * List our domains (those carrying our metadata), blocking: for
	 * start-up reconciliation and after a reconnect, from the main loop
	 * before it serves clients.  Returns a malloc'd array, count in *n,
	 * or NULL + err.
	 */
	struct vm_domain *(*list)(struct vm *, size_t *n, char *err,
			    size_t errlen);
	/*
	 * Define and start the guests' network of cfg ([network] name,
	 * bridge, gateway; no DHCP, no DNS) unless it exists; start it if
	 * it is defined but inactive.  Blocking, at start-up only.
	 */
	int		 (*ensure_network)(struct vm *, const struct config *cfg,
			    char *err, size_t errlen);
	/* Whether the connection is up right now. */
	bool		 (*connected)(struct vm *);
	/* Whether guests run under KVM (else TCG: domain type 'qemu'). */
	bool		 (*kvm)(struct vm *);
	/* Finish running jobs, drop queued ones (done() with rc -1). */
	void		 (*close)(struct vm *);
};

extern const struct vm_backend_ops vm_libvirt_ops;

/*
 * Template expansion (vm_template.c): replace each ${name} in tmpl by
 * the value of the variable of that name, XML-escaped.  names and values
 * are n parallel arrays.  The variable named "cmdline" is itself a
 * template: the caller passes the command line as written; its
 * variables are filled in raw and the whole line escaped once
 * (${cmdline} inside it is an error).  Returns a malloc'd string, or
 * NULL with a message in err for an unknown variable or an unterminated
 * "${".
 */
char	*vm_template_expand(const char *tmpl, const char *const *names,
	    const char *const *values, size_t n, char *err, size_t errlen);

/* A locally administered MAC, stable for (service, instance). */
void	 vm_mac(const char *service, int64_t instance, char out[18]);

/*
 * Add summon's metadata element (owner, service, instance) to a domain
 * XML, just before its closing </domain>; owner's fields are left out
 * when "" (owner NULL: both).  Templates must not have a <metadata>
 * element of their own.  Returns a malloc'd string, or NULL with a
 * message in err.
 */
char	*vm_add_metadata(const char *xml, const struct vm_owner *owner,
	    const char *service,
	    int64_t instance, char *err, size_t errlen);

#endif
