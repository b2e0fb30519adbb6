/*
 * config.h - summond.conf: parsing, validation and the immutable result.
 *
 * A configuration is parsed once into a struct config and never changed
 * afterwards; a reload parses a new one and swaps the pointer.  Every
 * value is validated at parse time, so the rest of the daemon can trust
 * it.  Errors are reported as "FILE:LINE: message", all of them.
 *
 * Its strings and small arrays belong to the configuration as a whole
 * (config_free frees them together) and equal strings may be shared:
 * treat every pointer in it as read-only.
 */
#ifndef SUMMON_CONFIG_H
#define SUMMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define CFG_SERVICE_NAME_MAX	63	/* [a-z0-9][a-z0-9-]{0,62} */
/*
 * A template file, and the XML it expands to: a few KiB; 1 MiB is
 * hostile.  The check at load and the backend's read agree on it.
 */
#define CFG_TEMPLATE_MAX	(1024 * 1024)
#define CFG_HOSTS_MAX		64	/* [host] sections: a service's mask */
#define CFG_DNS_NAME_MAX	255	/* presentation form, with the dot */

/* An IPv4 or IPv6 socket address, as written in the file. */
struct cfg_addr {
	struct sockaddr_storage	ss;	/* port in network order inside */
	socklen_t		len;
	char			text[64];	/* "127.0.0.1:53", "[::1]:53" */
};

enum cfg_on_exit	{ CFG_ON_EXIT_KEEP, CFG_ON_EXIT_STOP };
enum cfg_net_mode	{ CFG_NET_BRIDGE, CFG_NET_USER };
enum cfg_ready		{ CFG_READY_TCP, CFG_READY_SERIAL };
enum cfg_idle_conn	{ CFG_IDLE_KEEPALIVE, CFG_IDLE_IGNORE };
enum cfg_stop_mode	{ CFG_STOP_DESTROY, CFG_STOP_SHUTDOWN,
			  CFG_STOP_SUSPEND, CFG_STOP_SAVE };
enum cfg_dns_answer	{ CFG_DNS_ANSWER_PROXY, CFG_DNS_ANSWER_GUEST };
enum cfg_relay		{ CFG_RELAY_COPY, CFG_RELAY_SPLICE };
/* How a shared listener picks the service: none, TLS SNI, HTTP Host. */
enum cfg_route		{ CFG_ROUTE_NONE, CFG_ROUTE_SNI, CFG_ROUTE_HOST };

struct cfg_port {
	uint16_t	public_port;	/* the proxy listens here */
	uint16_t	guest_port;	/* and relays to this guest port */
	enum cfg_route	route;		/* NONE: the port is this service's */
};

/*
 * One per service: with 10,000 services the array of them is the
 * configuration's largest part, so the fields are ordered to leave the
 * least padding there can be (3 bytes, at the end) and the two address
 * forms share their storage.
 */
struct cfg_service {
	char		*name;		/* at most CFG_SERVICE_NAME_MAX */

	/*
	 * Fully qualified DNS names, lower case, with the trailing dot.
	 * A relative name in the file is expanded under every zone.
	 */
	char		**names;
	size_t		  nnames;

	char		*kernel;
	char		*initrd;	/* NULL: none */
	char		*cmdline;	/* still holds ${...} variables */
	char		*template;	/* "microvm", "pc" or an absolute path */
	uint64_t	 memory;	/* bytes */
	uint64_t	 hosts;		/* bit i: may run on hosts[i]; 0: any */
	unsigned	 vcpus;
	int		 line;		/* line of the [service "..."] header */
	int		 kernel_line;	/* line of its key, 0 when not set */
	int		 initrd_line;
	int		 template_line;

	/* Public address: DNS answers it, the proxy listens on it. */
	int		 family;	/* AF_INET or AF_INET6 */
	union {				/* the one family says */
		struct in_addr	 address4;
		struct in6_addr	 address6;
	};
	struct in_addr	 guest_address;	/* has_guest_address: bridge mode */
	uint16_t	 ready_port;	/* CFG_READY_TCP: guest port */
	bool		 has_guest_address;	/* static address */
	bool		 standby_booted;	/* boot standbys, then pause */
	char		*address_text;	/* as written */

	struct cfg_port	*ports;
	size_t		 nports;

	char		*ready_text;	/* CFG_READY_SERIAL: line to wait for */
	uint64_t	 boot_timeout_ms;
	uint64_t	 idle_timeout_ms;
	enum cfg_ready	 ready;
	enum cfg_idle_conn idle_connections;
	enum cfg_stop_mode stop_mode;
	unsigned	 standby;
	enum cfg_dns_answer dns_answer;
	bool		 route_default;	/* taken on its shared listeners when
					   no name matches */
};

/*
 * A libvirt host that guests run on, and the network they attach to
 * there: its own subnet, routed to from where summond runs.  Without
 * [host] sections the configuration has one, "default", made of
 * [summond] hypervisor and [network].
 */
struct cfg_host {
	char		*name;
	char		*uri;		/* libvirt URI */
	char		*net_name;	/* the libvirt network there */
	char		*net_bridge;	/* its bridge, when summond creates it */
	struct in_addr	 gateway;	/* the host's address on it */
	unsigned	 prefix;
	struct in_addr	 pool_lo, pool_hi;	/* guests' addresses, inclusive */
	unsigned	 max_instances;	/* 0: no cap of its own */
	uint64_t	 max_memory;	/* bytes of guest memory; 0: none */
	int		 line;		/* its header's; 0 for "default" */
	bool		 net_create;	/* define and start the network */
};

struct cfg_pool;

struct config {
	char		*path;
	struct cfg_pool	*pool;		/* owns the strings and arrays */

	/* [summond] */
	char		*state;		/* SQLite file */
	char		*control;	/* control socket path */
	char		*hypervisor;	/* libvirt URI */
	char		*templates;	/* directory of the built-in templates */
	int		 templates_line;	/* line of the key, 0 if unset */
	int		 control_line;
	int		 state_line;
	char		*serial_dir;	/* where guests' serial logs go */
	enum cfg_on_exit on_exit;
	unsigned	 max_instances;
	uint64_t	 memory_budget;	/* bytes */
	unsigned	 standby_budget;	/* standbys shared by all; 0 none */
	uint64_t	 standby_memory;	/* their guest memory; 0 any */
	unsigned	 standby_half_life;	/* wakes, for the budget's ranks */

	/* [dns] */
	struct cfg_addr	*dns_listen;
	size_t		 ndns_listen;
	char		**zones;	/* lower case, trailing dot */
	size_t		 nzones;
	uint32_t	 ttl;
	bool		 has_forwarder;
	struct cfg_addr	 forwarder;
	unsigned	 rate_limit;	/* responses/s per /24 or /56; 0 off */
	uint64_t	 dns_tcp_idle_ms;
	unsigned	 dns_tcp_max;	/* concurrent TCP clients */
	unsigned	 dns_tcp_per_source; /* from one source; 0: off */

	/* [proxy] */
	uint64_t	 hold_timeout_ms;
	unsigned	 max_held;
	uint64_t	 proxy_idle_timeout_ms;
	enum cfg_relay	 relay;		/* how bytes cross the proxy */
	unsigned	 relay_threads;	/* 0: one per CPU */

	/* [network] */
	enum cfg_net_mode net_mode;
	uint16_t	 user_port_lo, user_port_hi;
	char		*net_name;
	char		*net_bridge;
	struct in_addr	 gateway;
	unsigned	 prefix;
	struct in_addr	 pool_lo, pool_hi;	/* inclusive */
	bool		 net_create;

	/* [metrics] */
	bool		 has_metrics;
	struct cfg_addr	 metrics_listen;

	/* [host "NAME"], or the one made of hypervisor and [network] */
	struct cfg_host	*hosts;
	size_t		 nhosts;	/* 1 to CFG_HOSTS_MAX */
	bool		 host_sections;	/* hosts come from [host] sections */

	struct cfg_service *services;
	size_t		 nservices;
};

/*
 * Parse and validate the file at path.  On success returns a new config
 * that the caller frees with config_free().  On failure returns NULL and
 * writes every error, one "FILE:LINE: message" a line, to errf (which may
 * be NULL to discard them).  *nerrors, when not NULL, receives the count.
 */
struct config	*config_load(const char *path, FILE *errf, int *nerrors);

/* Same as config_load(), from a string; name is used in messages. */
struct config	*config_load_string(const char *name, const char *text,
		    FILE *errf, int *nerrors);

/*
 * Check on this host what cfg names, which config_load() leaves alone so
 * that it stays a parse of the file.  Errors: a template that a service
 * uses (its own path, or microvm/pc in the templates directory) that
 * cannot be read or has an unknown ${variable}, an unterminated "${", no
 * </domain> or a <metadata> of its own; control naming the state
 * database or a file beside it through a symbolic link.  Warnings, as
 * the hypervisor may be elsewhere or see other files: a kernel or
 * initrd missing here when the hypervisor is a local qemu:/// one, and,
 * for qemu:///system, one that the user QEMU runs as (user and group in
 * qemu_conf, libvirt's qemu.conf, NULL for the installed one; Debian's
 * libvirt-qemu when unset) cannot reach by the mode bits.  Each is
 * written to errf (NULL: discarded) as "FILE:LINE: message", warnings
 * as "FILE:LINE: warning: message", in line order.  Returns the number
 * of errors; *nwarnings, when not NULL, receives the warnings'.
 */
int		 config_check_files(const struct config *cfg,
		    const char *qemu_conf, FILE *errf, int *nwarnings);

void		 config_free(struct config *);

/* The index in cfg->hosts of the host called name, or -1. */
int		 config_host(const struct config *, const char *name);

/* The service called name, or NULL: a linear search, for one-off look-ups. */
const struct cfg_service *config_service(const struct config *,
		    const char *name);

/* Names for enums, as written in the file. */
const char	*config_stop_mode_name(enum cfg_stop_mode);
const char	*config_route_name(enum cfg_route);	/* "sni", "host" */

/*
 * The i-th key the parser knows, as "section.key" (e.g. "dns.ttl",
 * "service.kernel"), or NULL past the end.  Lets tests check that every
 * key is documented.
 */
const char	*config_key_name(size_t i);

/*
 * Value parsers shared with the control protocol and tests.  Each returns
 * 0 on success, -1 with a message in err (errlen bytes) on failure.
 */
int		 config_parse_duration(const char *, uint64_t *ms,
		    char *err, size_t errlen);
int		 config_parse_size(const char *, uint64_t *bytes,
		    char *err, size_t errlen);
int		 config_parse_addr(const char *, uint16_t default_port,
		    struct cfg_addr *, char *err, size_t errlen);
int		 config_valid_service_name(const char *);

#endif
