/*
 * config_internal.h - what the files of src/config/ share; not for other
 * modules.
 *
 * config.c drives a parse: defaults, then config_read.c's pass over the
 * lines, then config_keys.c's handler for each entry, then config_check.c's
 * checks of the whole.  config_files.c checks what a parsed configuration
 * names on this host.  All of them report through one struct parser.
 */
#ifndef SUMMON_CONFIG_INTERNAL_H
#define SUMMON_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <netinet/in.h>

#include "config.h"

#define FILE_MAX	(64 << 20)	/* 40,000 services take ~4 MB */

/* Units of the key table's bounds and of the defaults. */
#define MS(x)	((uint64_t)(x))
#define SEC(x)	((uint64_t)(x) * 1000)
#define MIB(x)	((uint64_t)(x) << 20)
#define GIB(x)	((uint64_t)(x) << 30)

enum sect { S_NONE, S_SUMMOND, S_DNS, S_PROXY, S_NETWORK, S_METRICS,
	    S_SERVICE, S_HOST, S_UNKNOWN };

/* Each section's name as its header spells it, by enum sect. */
extern const char *const sect_names[];

/* One raw "key = value" from the file. */
struct entry {
	enum sect	 sect;
	size_t		 section;	/* index into parser.sections */
	char		*key;
	char		*value;
	int		 line;
	bool		 bad;		/* already reported: not applied */
};

/* One [section] header as it appeared. */
struct section {
	enum sect	 sect;
	char		 name[CFG_SERVICE_NAME_MAX + 1];	/* service, host */
	int		 line;
	bool		 bad;		/* header already reported */
	size_t		 first, count;	/* its entries, contiguous */
};

/*
 * An error or a warning, kept until the end so that all are printed in
 * line order.
 */
struct perror {
	int		 line;
	int		 seq;
	char		*msg;
};

struct parser {
	const char	*file;
	FILE		*errf;
	int		 nerrors;
	int		 nwarnings;
	int		 nmsgs;		/* both, kept in errs */
	struct perror	*errs;
	int		 readerr;	/* errno of a failed read, or 0 */
	size_t		 nread;		/* bytes read, up to FILE_MAX */

	/* line source: a stdio stream or a string */
	FILE		*in;
	const char	*text;
	size_t		 textpos;
	int		 lineno;
	bool		 indented;	/* current line starts with blank */

	struct section	*sections;
	size_t		 nsections, capsections;
	struct entry	*entries;
	size_t		 nentries, capentries;

	struct config	*cfg;
	struct cfg_host	*host;		/* the [host] section being applied */
	int		*keyline;	/* line of each global key, or 0 */
	const struct entry *cur;	/* the entry being applied */
};

/* The words of a blank-separated list. */
struct words {
	char		*buf;	/* a copy of the value, cut at the blanks */
	char		**w;	/* into buf */
	size_t		 n;	/* 0 for an empty list */
};

/* config.c */
/* An error at line; all are printed, in line order, by print_errors(). */
void		 perr(struct parser *, int line, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
/* Something that may stop a boot, which the file cannot settle. */
void		 pwarn(struct parser *, int line, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
/* Write the errors and warnings to p->errf as FILE:LINE: and free them. */
void		 print_errors(struct parser *);

/* config_pool.c */
/* calloc, reallocarray and strdup that end summond when memory runs out. */
void		*xcalloc(size_t, size_t);
void		*xreallocarray(void *, size_t, size_t);
char		*xstrdup(const char *);
/* An empty pool for a new configuration; pool_free() frees it whole. */
struct cfg_pool	*pool_new(void);
void		 pool_free(struct cfg_pool *);
/* n zeroed elements of sz bytes from p->cfg's pool. */
void		*pcalloc(struct parser *p, size_t n, size_t sz);
/* s in p->cfg's pool, shared with an equal string stored before. */
char		*pstrdup(struct parser *p, const char *s);
/* Parsing is over: forget the table that pstrdup() looks strings up in. */
void		 pool_seal(struct cfg_pool *);

/* config_read.c */
/*
 * Pass 1: the lines that p reads (p->in or p->text) as p->sections and
 * p->entries; what is wrong with a line is reported at it.
 */
void		 read_entries(struct parser *p);

/* config_value.c */
/* Print fmt into err (errlen bytes); returns -1, for "return seterr()". */
int		 seterr(char *err, size_t errlen, const char *fmt, ...)
		    __attribute__((format(printf, 3, 4)));
/* The decimal at s into *out and its end into *end, or -1. */
int		 parse_u64(const char *s, const char **end, uint64_t *out);
/* A port number, 0 only if zero_ok, or -1. */
int		 parse_port(const char *s, uint16_t *port, bool zero_ok);
/* v into buf of size bytes, or -1 with a message when it is longer. */
int		 copy_value(char *buf, size_t size, const char *v, char *err,
		    size_t errlen);
/* The DNS name in, lower case with its trailing dot, into out; or -1. */
int		 normalise_dname(const char *in, char *out, size_t outlen,
		    char *err, size_t errlen);
/* The words of v, split at blanks; words_free() frees them. */
void		 words_split(struct words *, const char *v);
void		 words_free(struct words *);
/*
 * Whether every ${...} in v is a variable that a command line
 * (in_template false) or a domain template may use: 0, or -1 with a
 * message and, when at is not NULL, the offset of the "${" at fault.
 */
int		 check_vars(const char *v, bool in_template, size_t *at,
		    char *err, size_t errlen);

/* config_keys.c */
/* The number of keys: the size of p->keyline and of apply_entry()'s seen. */
extern const size_t nkeys;
/* The index of the key s.name, which must exist, into p->keyline. */
size_t		 key_index(enum sect s, const char *name);
/*
 * Convert e's value into the config, or into svc for a service key, and
 * report what is wrong with it.  seen[] holds the entry that set each
 * key in this section so far, for duplicates.
 */
void		 apply_entry(struct parser *p, struct entry *e,
		    struct cfg_service *svc, struct entry **seen);

/* config_check.c */
/*
 * Report every service (kind S_SERVICE) or host (S_HOST) defined twice
 * and mark its later sections bad.
 */
void		 mark_duplicates(struct parser *, enum sect kind);
/* The netmask of a prefix length, host order; whether a is in net/prefix. */
uint32_t	 subnet_mask(unsigned prefix);
bool		 in_subnet(struct in_addr a, struct in_addr net,
		    unsigned prefix);
/* Checks of the global sections, then of each service, then across them. */
void		 check_global(struct parser *);
void		 check_service(struct parser *, struct cfg_service *);
void		 check_across(struct parser *);
/* path with "//", "/./" and a trailing '/' folded; the caller frees it. */
char		*path_fold(const char *path);
/*
 * The suffix of the state database's file that control names ("" for
 * the database itself), or NULL; clash_err() reports it at line.
 */
const char	*state_clash(const char *control, const char *state);
void		 clash_err(struct parser *, int line, const char *suffix,
		    const char *control);

/* config_hosts.c */
/*
 * Apply the [host] sections (seen: scratch, nkeys entries), or make the
 * one host of [summond] hypervisor and [network] when there are none.
 */
void		 parse_hosts(struct parser *, struct entry **seen);
/* Checks of the hosts: what each needs, and pools and subnets apart. */
void		 check_hosts(struct parser *);
/*
 * A service against the hosts it may run on: room for its memory on
 * one, its guest-address in the subnet of each.
 */
void		 check_service_hosts(struct parser *, struct cfg_service *);

#endif
