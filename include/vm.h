/*
 * vm.h - the hypervisor backend: libvirt behind an ops table.
 *
 * The lifecycle describes a guest (struct vm_guest: kernel, command
 * line, memory, addresses, ...) and asks for operations on it; how a
 * backend runs it (libvirt's domain XML from a template, QEMU's
 * arguments) is the backend's own business and stays behind this seam.
 *
 * The main loop never calls libvirt.  It submits jobs; worker threads
 * run the blocking calls in two lanes (starts, which a client may be
 * waiting on, on one thread a CPU; stops, which take ~200 ms each in
 * libvirt and must not queue in front of a start, on one), and one more
 * thread runs libvirt's event loop.  Results and domain lifecycle events come back to the main
 * loop through one mailbox (mailbox.h); every callback below runs on the
 * main loop.  libvirt's error text is copied on the thread that got it.
 *
 * A lost connection to libvirtd (close callback, or a call failing with
 * a connection error) is reported (on_down) and reconnected with
 * back-off; jobs wait meanwhile and run once the connection is back;
 * on_reconnect then tells the lifecycle to re-read the state of its
 * domains (a VM_LIST job).  Each libvirt host is one backend opened on
 * its URI; they share libvirt's one event thread.
 */
#ifndef SUMMON_VM_H
#define SUMMON_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "mailbox.h"

struct event_base;
struct vm;

/* The metadata namespace summon puts in every domain it creates. */
#define VM_METADATA_URI		"urn:x-summon:instance:1"
#define VM_METADATA_PREFIX	"summon"
#define VM_OWNER_MAX		40

enum vm_op {
	VM_CREATE,		/* guest: start a transient domain */
	VM_CREATE_PAUSED,	/* guest: the same, its CPUs paused */
	VM_DEFINE_START,	/* guest: define persistent, then start (save mode) */
	VM_RESUME,		/* paused -> running */
	VM_SUSPEND,		/* running -> paused */
	VM_SAVE,		/* virDomainManagedSave (persistent domains) */
	VM_RESTORE,		/* start a managed-saved domain */
	VM_SHUTDOWN,		/* ACPI; destroy after shutdown_ms */
	VM_DESTROY,		/* destroy (and undefine if persistent) */
	VM_STATE,		/* read the state */
	VM_LIST,		/* network set: ensure it; then list ours */
	VM_HOST_INFO,		/* the host's free memory */
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

/* How a guest is networked. */
enum vm_net {
	VM_NET_BRIDGE,		/* on a hypervisor network, at its address */
	VM_NET_USER,		/* no bridge: its ports forwarded from loopback */
};

/* User mode: 127.0.0.1:host on the host reaches the guest's port guest. */
struct vm_forward {
	uint16_t	 host;
	uint16_t	 guest;
};

/*
 * A guest as the lifecycle describes it to a backend: what to run, not
 * how.  The command line is as configured: its ${ip}, ${gateway}, ...
 * are the backend's to fill in (in user mode the guest's address is the
 * backend's, e.g. QEMU's 10.0.2.15).  A job carries a copy made by
 * vm_guest_copy(), whose strings live as long as it does, so that a
 * reload freeing the configuration cannot pull them from under a
 * worker thread.
 */
struct vm_guest {
	const char	*name;		/* the domain's */
	const char	*service;	/* in the domain's metadata */
	int64_t		 instance;	/* in the domain's metadata */
	struct vm_owner	 owner;		/* in the domain's metadata */
	const char	*template;	/* built-in name, or a path ("/...") */
	const char	*templates;	/* directory of the built-in ones */
	const char	*kernel;
	const char	*initrd;	/* the kernel's initramfs; NULL: none */
	const char	*cmdline;
	uint64_t	 memory;	/* bytes */
	unsigned	 vcpus;
	char		 mac[18];
	enum vm_net	 net;
	const char	*network;	/* bridge: the hypervisor's network */
	struct in_addr	 address;	/* bridge: the guest's */
	struct in_addr	 gateway;	/* bridge */
	unsigned	 prefix;	/* bridge: of address and gateway */
	const struct vm_forward *forwards;	/* user mode */
	size_t		 nforwards;
	const char	*serial_log;	/* a file that receives serial port 0 */
};

/*
 * A copy of g in one allocation, strings and forwards included; free()
 * releases it.  NULL when out of memory.
 */
struct vm_guest	*vm_guest_copy(const struct vm_guest *g);

/* The network guests attach to in bridge mode (ensure_network). */
struct vm_network {
	const char	*name;		/* the hypervisor's name for it */
	const char	*bridge;	/* the host's bridge device */
	struct in_addr	 gateway;	/* the host's address on it */
	unsigned	 prefix;
};

struct vm_domain;
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
	struct vm_guest	*guest;		/* VM_CREATE*, VM_DEFINE_START */
	uint64_t	 shutdown_ms;	/* VM_SHUTDOWN: wait before destroy */
	const struct vm_network *network;	/* VM_LIST: ensure it first
					   (NULL: do not); the caller's */
	vm_done_fn	 done;
	void		*arg;

	/* results */
	int		 rc;		/* 0, or -1 with err */
	char		 err[512];	/* libvirt's message */
	char		 uuid[40];	/* VM_CREATE*, VM_DEFINE_START */
	enum vm_dstate	 state;		/* VM_STATE, and after every op (a
					   successful one: the state it leaves) */
	struct vm_domain *domains;	/* VM_LIST: ours, malloc'd (the
					   caller frees them) */
	size_t		 ndomains;
	uint64_t	 free_memory;	/* VM_HOST_INFO: bytes free there */
	uint64_t	 queued_us;	/* when submitted (clock_mono_us) */
	uint64_t	 started_us;	/* when a worker took it */
	uint64_t	 finished_us;	/* when the call returned */

	struct vm_job	*next;		/* backend's queue link */
	struct mailbox_item back;	/* backend's: to the main loop */
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
	/* The connection came back after being lost (or came up late). */
	void	(*on_reconnect)(void *arg);
	void	 *arg;
	/* The connection was lost; on_reconnect follows when it is back. */
	void	(*on_down)(void *arg);
};

/* open() flags. */
#define VM_OPEN_LAZY	0x1	/* a failed first connect is retried in the
				   background, as after a loss */

/*
 * The backend ops table.  libvirt is the one backend; the table is the
 * seam for another (a Firecracker or raw-QEMU backend) and for the
 * tests' scripted one (tests/vm_script.c).
 */
struct vm_backend_ops {
	const char	*name;
	/*
	 * Connect to uri (blocking; at start-up only).  NULL + err; with
	 * VM_OPEN_LAZY a failed connect still returns the backend, not
	 * connected (err says why), and on_reconnect comes once it is.
	 */
	struct vm	*(*open)(struct event_base *, const char *uri,
			    const struct vm_callbacks *, int flags,
			    char *err, size_t errlen);
	/* Queue job; done() will run on the main loop, always. */
	void		 (*submit)(struct vm *, struct vm_job *);
	/*
	 * List our domains (those carrying our metadata), blocking: for
	 * start-up reconciliation, from the main loop before it serves
	 * clients (after a reconnect, a VM_LIST job does it off the loop).
	 * Returns a malloc'd array, count in *n, or NULL + err.
	 */
	struct vm_domain *(*list)(struct vm *, size_t *n, char *err,
			    size_t errlen);
	/*
	 * Define and start net (no DHCP, no DNS) unless it exists; start
	 * it if it is defined but inactive.  Blocking, at start-up only.
	 */
	int		 (*ensure_network)(struct vm *,
			    const struct vm_network *net, char *err,
			    size_t errlen);
	/* Whether the connection is up right now. */
	bool		 (*connected)(struct vm *);
	/* Finish running jobs, drop queued ones (done() with rc -1). */
	void		 (*close)(struct vm *);
};

extern const struct vm_backend_ops vm_libvirt_ops;

/* A locally administered MAC, stable for (service, instance). */
void	 vm_mac(const char *service, int64_t instance, char out[18]);

#endif
