/*
 * config.c - summond.conf parsing and validation.
 *
 * inih splits the file into (section, key, value) triples; we feed it
 * through our own line reader so that every triple carries its line
 * number, long lines and syntax errors are caught, and sections without
 * keys are still seen.  Parsing runs in two passes: the first collects
 * raw entries (merging indented continuation lines), the second walks a
 * table of keys, converts and checks each value, then checks the
 * configuration as a whole.  All errors are reported, not just the first.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "build_config.h"
#include "config.h"

#define LINE_MAX_LEN	4096	/* longest line we accept */
/*
 * Longest value, continuation lines joined: room for MAX_NAMES names of
 * 255 bytes.  Anything longer is an error, never a truncation.
 */
#define VALUE_MAX	65536
#define FILE_MAX	(64 << 20)	/* 40,000 services take ~4 MB */

enum sect { S_NONE, S_SUMMOND, S_DNS, S_PROXY, S_NETWORK, S_METRICS,
	    S_SERVICE, S_UNKNOWN };

static const char *const sect_names[] = {
	[S_SUMMOND] = "summond", [S_DNS] = "dns", [S_PROXY] = "proxy",
	[S_NETWORK] = "network", [S_METRICS] = "metrics",
	[S_SERVICE] = "service",
};

/* One raw "key = value" from the file. */
struct entry {
	enum sect	 sect;
	size_t		 section;	/* index into parser.sections */
	char		*key;
	char		*value;
	int		 line;
	bool		 used;
	bool		 bad;		/* already reported: not applied */
};

/* One [section] header as it appeared. */
struct section {
	enum sect	 sect;
	char		 name[CFG_SERVICE_NAME_MAX + 1];	/* service name */
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
	int		*keyline;	/* line of each global key, or 0 */
	const struct entry *cur;	/* the entry being applied */
};

static void *xreallocarray(void *, size_t, size_t);
static void vmsg(struct parser *, int, const char *, const char *, va_list)
    __attribute__((format(printf, 4, 0)));
static void perr(struct parser *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));
static void pwarn(struct parser *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));
static int seterr(char *, size_t, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
vmsg(struct parser *p, int line, const char *prefix, const char *fmt,
    va_list ap)
{
	struct perror *e;
	char *msg;

	p->errs = xreallocarray(p->errs, (size_t)p->nmsgs + 1,
	    sizeof(*p->errs));
	e = &p->errs[p->nmsgs];
	e->line = line;
	e->seq = p->nmsgs++;
	e->msg = NULL;
	if (vasprintf(&msg, fmt, ap) == -1)
		return;
	if (asprintf(&e->msg, "%s%s", prefix, msg) == -1)
		e->msg = NULL;
	free(msg);
}

static void
perr(struct parser *p, int line, const char *fmt, ...)
{
	va_list ap;

	p->nerrors++;
	va_start(ap, fmt);
	vmsg(p, line, "", fmt, ap);
	va_end(ap);
}

/* Something that may stop a boot, which the file cannot settle. */
static void
pwarn(struct parser *p, int line, const char *fmt, ...)
{
	va_list ap;

	p->nwarnings++;
	va_start(ap, fmt);
	vmsg(p, line, "warning: ", fmt, ap);
	va_end(ap);
}

static int
perror_cmp(const void *a, const void *b)
{
	const struct perror *x = a, *y = b;

	return x->line != y->line ? x->line - y->line : x->seq - y->seq;
}

/*
 * Print the errors and warnings in line order (then in the order found),
 * and free them.
 */
static void
print_errors(struct parser *p)
{
	int i;

	if (p->nmsgs == 0)
		return;
	qsort(p->errs, (size_t)p->nmsgs, sizeof(*p->errs), perror_cmp);
	for (i = 0; i < p->nmsgs; i++) {
		if (p->errf != NULL)
			fprintf(p->errf, "%s:%d: %s\n", p->file,
			    p->errs[i].line, p->errs[i].msg ? p->errs[i].msg :
			    "(out of memory)");
		free(p->errs[i].msg);
	}
	free(p->errs);
	p->errs = NULL;
}

static void *
xcalloc(size_t n, size_t sz)
{
	void *v = calloc(n == 0 ? 1 : n, sz);

	if (v == NULL) {
		perror("summond: calloc");
		exit(1);
	}
	return v;
}

static void *
xreallocarray(void *ptr, size_t n, size_t sz)
{
	void *v = reallocarray(ptr, n == 0 ? 1 : n, sz);

	if (v == NULL) {
		perror("summond: realloc");
		exit(1);
	}
	return v;
}

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL) {
		perror("summond: strdup");
		exit(1);
	}
	return d;
}

/*
 * ---- the configuration's memory ------------------------------------
 *
 * Strings and small arrays are carved from blocks that the configuration
 * frees all at once, and equal strings are stored once.  With 10,000
 * services a malloc'd copy of every value cost ~200 bytes a service:
 * chunk headers, and the same kernel, cmdline and template strings
 * 10,000 times over.  Values replaced while parsing (a default, then
 * the file's value) stay in the blocks until config_free.
 */

#define POOL_BLOCK	16384
#define POOL_ALIGN	_Alignof(void *)

/* The arrays a configuration holds need no more (max_align_t is 16). */
_Static_assert(_Alignof(struct cfg_addr) <= POOL_ALIGN &&
    _Alignof(struct cfg_port) <= POOL_ALIGN &&
    _Alignof(char *) <= POOL_ALIGN, "pool alignment");

struct pool_block {
	struct pool_block	*next;
	size_t			 used, size;
	max_align_t		 data[];
};

struct cfg_pool {
	struct pool_block	*blocks;	/* the current one first */
	/* Strings stored so far, while parsing: open addressing. */
	char			**strs;
	size_t			  nstrs, mask;
};

static void
pool_free(struct cfg_pool *pool)
{
	struct pool_block *b;

	if (pool == NULL)
		return;
	while ((b = pool->blocks) != NULL) {
		pool->blocks = b->next;
		free(b);
	}
	free(pool->strs);
	free(pool);
}

/* size bytes, aligned for the arrays above (align) or for chars; zeroed. */
static void *
pool_get(struct cfg_pool *pool, size_t size, bool align)
{
	const size_t a = POOL_ALIGN;
	struct pool_block *b = pool->blocks;
	size_t at;

	if (size == 0)
		size = 1;
	at = b == NULL ? 0 : align ? (b->used + a - 1) / a * a : b->used;
	if (b == NULL || at + size > b->size) {
		size_t bsize = size > POOL_BLOCK / 4 ? size : POOL_BLOCK;

		b = xcalloc(1, sizeof(*b) + bsize);
		b->size = bsize;
		if (size > POOL_BLOCK / 4 && pool->blocks != NULL) {
			/* A big one of its own; keep filling the current. */
			b->next = pool->blocks->next;
			pool->blocks->next = b;
		} else {
			b->next = pool->blocks;
			pool->blocks = b;
		}
		at = 0;
	}
	b->used = at + size;
	return (char *)b->data + at;
}

static void *
pcalloc(struct parser *p, size_t n, size_t sz)
{
	if (sz != 0 && n > SIZE_MAX / sz) {
		fprintf(stderr, "summond: calloc: too large\n");
		exit(1);
	}
	return pool_get(p->cfg->pool, n * sz, true);
}

static uint32_t
str_hash(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return h;
}

/* Where s is in a table of strings, or the empty slot where it goes. */
static size_t
str_slot(char **strs, size_t mask, const char *s)
{
	size_t i;

	for (i = str_hash(s) & mask; strs[i] != NULL &&
	    strcmp(strs[i], s) != 0; i = (i + 1) & mask)
		;
	return i;
}

/* A copy of s in the pool, or the equal string stored before. */
static char *
pstrdup(struct parser *p, const char *s)
{
	struct cfg_pool *pool = p->cfg->pool;
	size_t i, n, len;
	char **strs;

	if (2 * (pool->nstrs + 1) > pool->mask + 1) {	/* half full */
		n = pool->strs == NULL ? 64 : 2 * (pool->mask + 1);
		strs = xcalloc(n, sizeof(*strs));
		for (i = 0; pool->strs != NULL && i <= pool->mask; i++)
			if (pool->strs[i] != NULL)
				strs[str_slot(strs, n - 1, pool->strs[i])] =
				    pool->strs[i];
		free(pool->strs);
		pool->strs = strs;
		pool->mask = n - 1;
	}
	i = str_slot(pool->strs, pool->mask, s);
	if (pool->strs[i] == NULL) {
		len = strlen(s) + 1;
		pool->strs[i] = memcpy(pool_get(pool, len, false), s, len);
		pool->nstrs++;
	}
	return pool->strs[i];
}

/* Parsing is over: the table of stored strings is not needed any more. */
static void
pool_seal(struct cfg_pool *pool)
{
	free(pool->strs);
	pool->strs = NULL;
	pool->nstrs = pool->mask = 0;
}

/* ---- pass 1: lines, sections and raw entries ---------------------- */

static char *
skip_blank(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/*
 * Read one physical line into buf (with its newline) from file or text.
 * A NUL byte is kept in buf but noted in *nul: inih and everything after
 * it see C strings, which would end the line there without a word.  A
 * read error ends the file and is kept in p->readerr.
 */
static bool
next_line(struct parser *p, char *buf, size_t size, bool *toolong,
    bool *nul)
{
	size_t n = 0;
	int c;

	*toolong = *nul = false;
	if (p->readerr != 0)
		return false;
	for (;;) {
		if (p->in != NULL) {
			errno = 0;
			c = getc(p->in);
		} else
			c = p->text[p->textpos] != '\0' ?
			    (unsigned char)p->text[p->textpos++] : EOF;
		if (c == EOF) {
			if (p->in != NULL && ferror(p->in))
				p->readerr = errno != 0 ? errno : EIO;
			break;
		}
		if (++p->nread > FILE_MAX) {
			p->readerr = EFBIG;	/* or /dev/zero, for ever */
			break;
		}
		if (c == '\0')
			*nul = true;
		if (n + 2 < size)
			buf[n++] = (char)c;
		else
			*toolong = true;
		if (c == '\n')
			break;
	}
	buf[n] = '\0';
	return n > 0 || *toolong;
}

/* A new section at the current line, unknown until its header is read. */
static struct section *
add_section(struct parser *p)
{
	struct section *sec;

	if (p->nsections == p->capsections) {
		p->capsections = p->capsections ? p->capsections * 2 : 16;
		p->sections = xreallocarray(p->sections, p->capsections,
		    sizeof(*p->sections));
	}
	sec = &p->sections[p->nsections++];
	memset(sec, 0, sizeof(*sec));
	sec->line = p->lineno;
	sec->sect = S_UNKNOWN;
	return sec;
}

static void
parse_section_header(struct parser *p, char *s)
{
	struct section *sec = add_section(p);
	char *end, *name;
	size_t i, len;

	end = strchr(s, ']');
	if (end == NULL) {
		perr(p, p->lineno, "section header without ']'");
		sec->bad = true;
		return;
	}
	*end = '\0';
	s = skip_blank(s + 1);
	for (i = S_SUMMOND; i <= S_METRICS; i++)
		if (strcmp(s, sect_names[i]) == 0) {
			sec->sect = i;
			return;
		}
	if (strncmp(s, "service", 7) == 0 && (s[7] == ' ' || s[7] == '\t')) {
		name = skip_blank(s + 7);
		len = strlen(name);
		while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
			name[--len] = '\0';
		if (len < 2 || name[0] != '"' || name[len - 1] != '"') {
			perr(p, p->lineno, "service name must be quoted: "
			    "[service \"NAME\"]");
			sec->bad = true;
			sec->sect = S_SERVICE;
			return;
		}
		name[len - 1] = '\0';
		name++;
		sec->sect = S_SERVICE;
		if (!config_valid_service_name(name)) {
			perr(p, p->lineno, "invalid service name \"%s\" "
			    "(want [a-z0-9][a-z0-9-]{0,62})", name);
			sec->bad = true;
			return;
		}
		snprintf(sec->name, sizeof(sec->name), "%s", name);
		return;
	}
	perr(p, p->lineno, "unknown section [%s]", s);
	sec->bad = true;
}

/*
 * The length of the UTF-8 sequence at s (1 to 4), or 0 if it is not
 * one: a stray continuation byte, an overlong form, a surrogate, past
 * U+10FFFF, or cut short.
 */
static size_t
utf8_len(const unsigned char *s)
{
	size_t n, i;
	uint32_t c;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, c = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, c = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, c = s[0] & 0x07;
	else
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
	    (n == 4 && (c < 0x10000 || c > 0x10ffff)))
		return 0;
	return n;
}

/*
 * The first byte of line that the file may not hold, or NULL: a control
 * character other than tab, a carriage return other than a CRLF line
 * end, or a byte that is not UTF-8.  XML 1.0 forbids the first two in
 * the domain XML even escaped, and libvirt's parser refuses the last;
 * all of them would reach terminals, logs and JSON raw.
 */
static const char *
find_control(const char *line)
{
	const unsigned char *s;
	size_t n;

	for (s = (const unsigned char *)line; *s != '\0'; s += n) {
		if ((*s < 0x20 && *s != '\t' && *s != '\n' &&
		    !(*s == '\r' && (s[1] == '\n' || s[1] == '\0'))) ||
		    *s == 0x7f || (n = utf8_len(s)) == 0)
			return (const char *)s;
	}
	return NULL;
}

/* Report bad, a control character in line, with its key where known. */
static void
report_control(struct parser *p, char *line, const char *bad)
{
	const struct entry *last = p->nentries > 0 ?
	    &p->entries[p->nentries - 1] : NULL;
	unsigned c = (unsigned char)*bad;
	const char *what = c >= 0x80 ? "byte that is not UTF-8" :
	    "control character";
	char *s = skip_blank(line), *sep;
	int len;

	if (p->indented && last != NULL &&
	    last->section + 1 == p->nsections) {
		perr(p, p->lineno, "%s: %s 0x%02x in value", last->key, what,
		    c);
		return;
	}
	if (*s != '[' && *s != ';' && *s != '#' &&
	    (sep = strpbrk(s, "=:")) != NULL && sep < bad) {
		for (len = (int)(sep - s); len > 0 && (s[len - 1] == ' ' ||
		    s[len - 1] == '\t'); len--)
			;
		perr(p, p->lineno, "%.*s: %s 0x%02x in value", len, s, what,
		    c);
		return;
	}
	perr(p, p->lineno, "%s 0x%02x", what, c);
}

/*
 * inih's line source.  Besides counting lines it notes section headers
 * and rejects what inih would silently truncate or skip.  A rejected
 * line reaches inih as an empty one.
 */
static char *
reader(char *str, int num, void *stream)
{
	struct parser *p = stream;
	char line[LINE_MAX_LEN + 2], copy[LINE_MAX_LEN + 2], *s;
	const char *bad = NULL;
	bool toolong, nul;
	size_t len;

	if (!next_line(p, line, sizeof(line), &toolong, &nul))
		return NULL;
	p->lineno++;
	p->indented = line[0] == ' ' || line[0] == '\t';
	len = strlen(line);
	/* inih's buffer holds num bytes: the line, '\n' and NUL. */
	toolong = toolong || len >= (size_t)num - 1;
	if (nul)
		perr(p, p->lineno, "NUL byte");
	else if (toolong)
		perr(p, p->lineno, "line too long (at most %d characters)",
		    num - 3 < LINE_MAX_LEN ? num - 3 : LINE_MAX_LEN);
	else if ((bad = find_control(line)) != NULL)
		report_control(p, line, bad);
	if (nul || toolong || bad != NULL) {
		/* The keys under a rejected header go with it, unreported. */
		if (*skip_blank(line) == '[')
			add_section(p)->bad = true;
		snprintf(str, (size_t)num, "\n");
		return str;
	}
	memcpy(copy, line, len + 1);
	s = skip_blank(copy);
	if (*s == '[')
		parse_section_header(p, s);
	else if (*s != '\0' && *s != '\n' && *s != '\r' && *s != ';' &&
	    *s != '#' && !p->indented && strpbrk(s, "=:") == NULL)
		perr(p, p->lineno, "expected 'key = value'");
	memcpy(str, line, len + 1);
	return str;
}

static int
handler(void *user, const char *section, const char *key, const char *value)
{
	struct parser *p = user;
	struct entry *last, *e;
	size_t vlen;

	if (p->nsections == 0) {
		perr(p, p->lineno, "'%s' outside of any section", key);
		return 1;
	}
	(void)section;	/* our own header parse is authoritative */

	/* An indented line continues the previous value. */
	last = p->nentries > 0 ? &p->entries[p->nentries - 1] : NULL;
	if (p->indented && last != NULL && strcmp(last->key, key) == 0 &&
	    last->section == p->nsections - 1) {
		if (last->bad)
			return 1;
		vlen = strlen(last->value) + 1 + strlen(value);
		if (vlen > VALUE_MAX) {
			perr(p, p->lineno, "%s: value longer than %d bytes",
			    key, VALUE_MAX);
			last->bad = true;
			return 1;
		}
		last->value = xreallocarray(last->value, vlen + 1, 1);
		strcat(last->value, " ");
		strcat(last->value, value);
		return 1;
	}
	if (p->nentries == p->capentries) {
		p->capentries = p->capentries ? p->capentries * 2 : 64;
		p->entries = xreallocarray(p->entries, p->capentries,
		    sizeof(*p->entries));
	}
	if (p->sections[p->nsections - 1].count++ == 0)
		p->sections[p->nsections - 1].first = p->nentries;
	e = &p->entries[p->nentries++];
	memset(e, 0, sizeof(*e));
	e->section = p->nsections - 1;
	e->sect = p->sections[e->section].sect;
	e->key = xstrdup(key);
	e->value = xstrdup(value);
	e->line = p->lineno;
	return 1;
}

/* ---- value parsers ------------------------------------------------ */

static int
seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* Parse an unsigned decimal without sign, spaces or overflow. */
static int
parse_u64(const char *s, const char **end, uint64_t *out)
{
	uint64_t v = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	while (isdigit((unsigned char)*s)) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		s++;
	}
	*end = s;
	*out = v;
	return 0;
}

int
config_parse_duration(const char *s, uint64_t *ms, char *err, size_t errlen)
{
	static const struct { const char *unit; uint64_t mult; } units[] = {
		{ "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 },
	};
	const char *end;
	uint64_t v;
	size_t i;

	if (parse_u64(s, &end, &v) == -1)
		goto bad;
	if (*end == '\0' && v == 0) {
		*ms = 0;
		return 0;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].unit) == 0) {
			if (v > UINT64_MAX / units[i].mult / 1000)
				break;
			*ms = v * units[i].mult;
			return 0;
		}
bad:
	return seterr(err, errlen, "bad duration '%s' (a number with ms, s, "
	    "m or h, e.g. 250ms, 10s, 2m)", s);
}

int
config_parse_size(const char *s, uint64_t *bytes, char *err, size_t errlen)
{
	const char *end;
	uint64_t v;
	unsigned shift;

	if (parse_u64(s, &end, &v) == -1)
		goto bad;
	switch (*end) {
	case '\0': shift = 0; break;
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	default:
		goto bad;
	}
	if (*end != '\0' && end[1] != '\0' && strcmp(end + 1, "iB") != 0 &&
	    strcmp(end + 1, "B") != 0)
		goto bad;
	if (shift > 0 && v > (UINT64_MAX >> shift))
		return seterr(err, errlen, "size '%s' is too large", s);
	*bytes = v << shift;
	return 0;
bad:
	return seterr(err, errlen, "bad size '%s' (a number with K, M, G or "
	    "T, e.g. 32M, 1G)", s);
}

int
config_parse_addr(const char *s, uint16_t default_port, struct cfg_addr *a,
    char *err, size_t errlen)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
	char host[INET6_ADDRSTRLEN + 1];
	const char *port = NULL, *close, *end;
	uint64_t pv;
	size_t hlen;

	memset(a, 0, sizeof(*a));
	if (s[0] == '[') {
		close = strchr(s, ']');
		if (close == NULL)
			return seterr(err, errlen, "bad address '%s': "
			    "missing ']'", s);
		hlen = (size_t)(close - s - 1);
		if (close[1] == ':')
			port = close + 2;
		else if (close[1] != '\0')
			return seterr(err, errlen, "bad address '%s'", s);
		s++;
	} else {
		const char *colon = strchr(s, ':');
		if (colon != NULL && strchr(colon + 1, ':') != NULL) {
			/* bare IPv6 without a port */
			hlen = strlen(s);
		} else if (colon != NULL) {
			hlen = (size_t)(colon - s);
			port = colon + 1;
		} else
			hlen = strlen(s);
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return seterr(err, errlen, "bad address '%s'", s);
	memcpy(host, s, hlen);
	host[hlen] = '\0';

	if (port != NULL) {
		if (parse_u64(port, &end, &pv) == -1 || *end != '\0' ||
		    pv > 65535)
			return seterr(err, errlen, "bad port in '%s'", s);
	} else
		pv = default_port;

	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)pv);
		a->len = sizeof(*sin);
		snprintf(a->text, sizeof(a->text), "%s:%u", host,
		    (unsigned)pv);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)pv);
		a->len = sizeof(*sin6);
		snprintf(a->text, sizeof(a->text), "[%s]:%u", host,
		    (unsigned)pv);
		return 0;
	}
	return seterr(err, errlen, "bad address '%s' (want an IPv4 or IPv6 "
	    "address, not a host name)", host);
}

int
config_valid_service_name(const char *s)
{
	size_t i;

	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return 0;
	for (i = 1; s[i] != '\0'; i++) {
		if (i > CFG_SERVICE_NAME_MAX - 1)
			return 0;
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	}
	return 1;
}

/*
 * Normalise a DNS name: lower case, trailing dot, labels of letters,
 * digits, '-' and '_', 1-63 bytes each, 255 bytes in all.
 */
static int
normalise_dname(const char *in, char *out, size_t outlen, char *err,
    size_t errlen)
{
	size_t len = strlen(in), i, label = 0;

	if (strcmp(in, ".") == 0)
		return seterr(err, errlen, "the root zone cannot be served");
	if (len == 0 || len + 2 > outlen || len + 1 > CFG_DNS_NAME_MAX)
		return seterr(err, errlen, "bad DNS name '%s' (too long)", in);
	for (i = 0; i < len; i++) {
		char c = in[i];
		if (c == '.') {
			if (label == 0)
				return seterr(err, errlen, "bad DNS name "
				    "'%s' (empty label)", in);
			label = 0;
		} else if (isalnum((unsigned char)c) || c == '-' || c == '_') {
			if (++label > 63)
				return seterr(err, errlen, "bad DNS name "
				    "'%s' (label longer than 63)", in);
		} else
			return seterr(err, errlen, "bad DNS name '%s' "
			    "(character '%c')", in, c);
		out[i] = (char)tolower((unsigned char)c);
	}
	if (out[len - 1] != '.')
		out[len++] = '.';
	out[len] = '\0';
	return 0;
}

/* The words of a blank-separated list. */
struct words {
	char		*buf;	/* a copy of the value, cut at the blanks */
	char		**w;	/* into buf */
	size_t		 n;	/* 0 for an empty list */
};

/* Split v at spaces and tabs into wl, which words_free() frees. */
static void
words_split(struct words *wl, const char *v)
{
	size_t cap = 0;
	char *tok, *save = NULL;

	memset(wl, 0, sizeof(*wl));
	wl->buf = xstrdup(v);
	for (tok = strtok_r(wl->buf, " \t", &save); tok != NULL;
	    tok = strtok_r(NULL, " \t", &save)) {
		if (wl->n == cap) {
			cap = cap == 0 ? 8 : 2 * cap;
			wl->w = xreallocarray(wl->w, cap, sizeof(*wl->w));
		}
		wl->w[wl->n++] = tok;
	}
}

static void
words_free(struct words *wl)
{
	free(wl->w);
	free(wl->buf);
}

#define MAX_WORDS	64	/* addresses, zones, ports */
#define MAX_NAMES	256	/* names of one service */

/* ---- the key table ------------------------------------------------ */

struct key;
typedef int (*key_fn)(struct parser *, const struct key *,
    struct cfg_service *, const char *value, char *err, size_t errlen);

struct key {
	enum sect	 sect;
	const char	*name;
	key_fn		 fn;
	size_t		 off;		/* into config or cfg_service */
	uint64_t	 min, max;	/* bounds for numbers */
	const char *const *choices;	/* enum names, NULL-terminated */
};

/* Where a key's value goes: the config or the service being parsed. */
static void *
field(struct parser *p, const struct key *k, struct cfg_service *svc)
{
	return (char *)(k->sect == S_SERVICE ? (void *)svc : (void *)p->cfg) +
	    k->off;
}

/*
 * A list reports each bad word on its own, at the line of the entry
 * being applied, and goes on with the next word.
 */
static void
word_err(struct parser *p, const char *msg)
{
	perr(p, p->cur->line, "%s: %s", p->cur->key, msg);
}

/* The end of a list: -1 with an empty err when words were reported. */
static int
words_done(struct words *wl, size_t nbad, char *err)
{
	words_free(wl);
	if (nbad == 0)
		return 0;
	err[0] = '\0';
	return -1;
}

static int
store_string(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	char **f = field(p, k, svc);

	if (k->min > 0 && *v == '\0')
		return seterr(err, errlen, "must not be empty");
	*f = pstrdup(p, v);
	return 0;
}

/*
 * A path, URI or name: a tab in one is refused, because the XML parser
 * turns a tab in an attribute (<source path='${serial_log}'/>) into a
 * space, and because tabs elsewhere only separate words of a list.
 */
static int
k_string(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	if (strchr(v, '\t') != NULL)
		return seterr(err, errlen, "tab in value (tabs only separate "
		    "the words of a list)");
	return store_string(p, k, svc, v, err, errlen);
}

static int
k_path(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	if (v[0] != '/')
		return seterr(err, errlen, "'%s' is not an absolute path", v);
	return k_string(p, k, svc, v, err, errlen);
}

static int
k_uint(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	const char *end;
	uint64_t n;

	if (parse_u64(v, &end, &n) == -1 || *end != '\0')
		return seterr(err, errlen, "'%s' is not a number", v);
	if (n < k->min || n > k->max)
		return seterr(err, errlen, "%" PRIu64 " is out of range "
		    "(%" PRIu64 "-%" PRIu64 ")", n, k->min, k->max);
	if (k->max > UINT32_MAX)
		*(uint64_t *)field(p, k, svc) = n;
	else
		*(unsigned *)field(p, k, svc) = (unsigned)n;
	return 0;
}

/* A thread count, or "auto" (stored as 0): one per CPU. */
static int
k_threads(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	const char *end;
	uint64_t n;

	if (strcmp(v, "auto") == 0) {
		*(unsigned *)field(p, k, svc) = 0;
		return 0;
	}
	if (parse_u64(v, &end, &n) == -1 || *end != '\0')
		return seterr(err, errlen, "'%s' is not a number or auto", v);
	if (n < 1 || n > k->max)
		return seterr(err, errlen, "%" PRIu64 " is out of range "
		    "(1-%" PRIu64 " or auto)", n, k->max);
	*(unsigned *)field(p, k, svc) = (unsigned)n;
	return 0;
}

static int
k_duration(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	uint64_t ms;

	if (config_parse_duration(v, &ms, err, errlen) == -1)
		return -1;
	if (ms < k->min || ms > k->max)
		return seterr(err, errlen, "'%s' is out of range "
		    "(%" PRIu64 "ms-%" PRIu64 "s)", v, k->min, k->max / 1000);
	*(uint64_t *)field(p, k, svc) = ms;
	return 0;
}

static int
k_size(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	uint64_t b;

	if (config_parse_size(v, &b, err, errlen) == -1)
		return -1;
	if (b < k->min || b > k->max)
		return seterr(err, errlen, "'%s' is out of range (%" PRIu64
		    "M-%" PRIu64 "G)", v, k->min >> 20, k->max >> 30);
	*(uint64_t *)field(p, k, svc) = b;
	return 0;
}

static int
k_choice(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	char list[256] = "";
	size_t i;

	for (i = 0; k->choices[i] != NULL; i++) {
		if (strcmp(v, k->choices[i]) == 0) {
			*(int *)field(p, k, svc) = (int)i;
			return 0;
		}
		if (i > 0)
			strncat(list, " | ", sizeof(list) - strlen(list) - 1);
		strncat(list, k->choices[i], sizeof(list) - strlen(list) - 1);
	}
	return seterr(err, errlen, "'%s' is not one of %s", v, list);
}

static int
k_bool(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	bool *f = field(p, k, svc);

	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 ||
	    strcmp(v, "on") == 0)
		*f = true;
	else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 ||
	    strcmp(v, "off") == 0)
		*f = false;
	else
		return seterr(err, errlen, "'%s' is not yes or no", v);
	return 0;
}

static int
k_listen(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	struct config *c = p->cfg;
	struct words wl;
	size_t i, nbad = 0;

	words_split(&wl, v);
	if (wl.n > MAX_WORDS) {
		words_free(&wl);
		return seterr(err, errlen, "too many addresses (at most %d)",
		    MAX_WORDS);
	}
	c->dns_listen = pcalloc(p, wl.n, sizeof(*c->dns_listen));
	c->ndns_listen = 0;
	for (i = 0; i < wl.n; i++) {
		if (config_parse_addr(wl.w[i], 53,
		    &c->dns_listen[c->ndns_listen], err, errlen) == -1) {
			word_err(p, err);
			nbad++;
			continue;
		}
		c->ndns_listen++;
	}
	return words_done(&wl, nbad, err);
}

static int
k_zone(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	struct config *c = p->cfg;
	char name[CFG_DNS_NAME_MAX + 2];
	struct words wl;
	size_t i, j, nbad = 0;

	words_split(&wl, v);
	if (wl.n > MAX_WORDS) {
		words_free(&wl);
		return seterr(err, errlen, "too many zones (at most %d)",
		    MAX_WORDS);
	}
	c->zones = pcalloc(p, wl.n, sizeof(*c->zones));
	c->nzones = 0;
	for (i = 0; i < wl.n; i++) {
		if (normalise_dname(wl.w[i], name, sizeof(name), err,
		    errlen) == -1) {
			word_err(p, err);
			nbad++;
			continue;
		}
		for (j = 0; j < c->nzones; j++)
			if (strcmp(c->zones[j], name) == 0)
				break;
		if (j < c->nzones) {
			seterr(err, errlen, "zone %s listed twice", name);
			word_err(p, err);
			nbad++;
			continue;
		}
		c->zones[c->nzones++] = pstrdup(p, name);
	}
	return words_done(&wl, nbad, err);
}

static int
k_forwarder(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	struct config *c = p->cfg;

	c->has_forwarder = false;
	if (*v == '\0')
		return 0;
	if (config_parse_addr(v, 53, &c->forwarder, err, errlen) == -1)
		return -1;
	c->has_forwarder = true;
	return 0;
}

static int
k_metrics(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	struct config *c = p->cfg;

	c->has_metrics = false;
	if (*v == '\0')
		return 0;
	if (config_parse_addr(v, 9153, &c->metrics_listen, err,
	    errlen) == -1)
		return -1;
	c->has_metrics = true;
	return 0;
}

static int
parse_port(const char *s, uint16_t *port, bool zero_ok)
{
	const char *end;
	uint64_t v;

	if (parse_u64(s, &end, &v) == -1 || *end != '\0' || v > 65535 ||
	    (v == 0 && !zero_ok))
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* v into buf, or -1: a value cut short could read as another one. */
static int
copy_value(char *buf, size_t size, const char *v, char *err, size_t errlen)
{
	size_t len = strlen(v);

	if (len >= size)
		return seterr(err, errlen, "'%.32s...' is too long (at most "
		    "%zu characters)", v, size - 1);
	memcpy(buf, v, len + 1);
	return 0;
}

static int
k_port_range(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	struct config *c = p->cfg;
	char buf[64], *dash;

	if (copy_value(buf, sizeof(buf), v, err, errlen) == -1)
		return -1;
	dash = strchr(buf, '-');
	if (dash == NULL)
		return seterr(err, errlen, "'%s' is not a range LO-HI", v);
	*dash = '\0';
	if (parse_port(buf, &c->user_port_lo, false) == -1 ||
	    parse_port(dash + 1, &c->user_port_hi, false) == -1 ||
	    c->user_port_lo > c->user_port_hi)
		return seterr(err, errlen, "'%s' is not a port range LO-HI",
		    v);
	return 0;
}

static int
k_gateway(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	struct config *c = p->cfg;
	char buf[64], *slash;
	const char *end;
	uint64_t pfx;

	if (copy_value(buf, sizeof(buf), v, err, errlen) == -1)
		return -1;
	slash = strchr(buf, '/');
	if (slash == NULL)
		return seterr(err, errlen, "'%s' needs a prefix length "
		    "(e.g. 10.99.0.1/24)", v);
	*slash = '\0';
	if (inet_pton(AF_INET, buf, &c->gateway) != 1)
		return seterr(err, errlen, "'%s' is not an IPv4 address", buf);
	if (parse_u64(slash + 1, &end, &pfx) == -1 || *end != '\0' ||
	    pfx < 8 || pfx > 30)
		return seterr(err, errlen, "bad prefix length '%s' (8-30)",
		    slash + 1);
	c->prefix = (unsigned)pfx;
	return 0;
}

static int
k_pool(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	struct config *c = p->cfg;
	char buf[64], *dash;

	if (copy_value(buf, sizeof(buf), v, err, errlen) == -1)
		return -1;
	dash = strchr(buf, '-');
	if (dash == NULL)
		return seterr(err, errlen, "'%s' is not a range FIRST-LAST", v);
	*dash = '\0';
	if (inet_pton(AF_INET, buf, &c->pool_lo) != 1 ||
	    inet_pton(AF_INET, dash + 1, &c->pool_hi) != 1)
		return seterr(err, errlen, "'%s' is not a range of IPv4 "
		    "addresses", v);
	if (ntohl(c->pool_lo.s_addr) > ntohl(c->pool_hi.s_addr))
		return seterr(err, errlen, "pool '%s' is empty (first > last)",
		    v);
	return 0;
}

/* ---- service keys --------------------------------------------------- */

static int
k_names(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	char name[CFG_DNS_NAME_MAX + 2];
	struct words wl;
	size_t i, nbad = 0;

	words_split(&wl, v);
	if (wl.n > MAX_NAMES) {
		words_free(&wl);
		return seterr(err, errlen, "too many names (at most %d)",
		    MAX_NAMES);
	}
	if (wl.n == 0) {
		words_free(&wl);
		return seterr(err, errlen, "must not be empty");
	}
	/*
	 * Kept raw here: relative names are expanded once the zones are
	 * known, which may be later in the file.  Their spelling is
	 * checked now, at this line.
	 */
	svc->names = pcalloc(p, wl.n, sizeof(char *));
	svc->nnames = 0;
	for (i = 0; i < wl.n; i++) {
		if (normalise_dname(wl.w[i], name, sizeof(name), err,
		    errlen) == -1) {
			word_err(p, err);
			nbad++;
			continue;
		}
		svc->names[svc->nnames++] = pstrdup(p, wl.w[i]);
	}
	return words_done(&wl, nbad, err);
}

static int
k_address(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	if (inet_pton(AF_INET, v, &svc->address4) == 1)
		svc->family = AF_INET;
	else if (inet_pton(AF_INET6, v, &svc->address6) == 1)
		svc->family = AF_INET6;
	else
		return seterr(err, errlen, "'%s' is not an IPv4 or IPv6 "
		    "address", v);
	svc->address_text = pstrdup(p, v);
	return 0;
}

static int
k_guest_address(struct parser *p, const struct key *k,
    struct cfg_service *svc, const char *v, char *err, size_t errlen)
{
	svc->has_guest_address = false;
	if (*v == '\0')
		return 0;
	if (inet_pton(AF_INET, v, &svc->guest_address) != 1)
		return seterr(err, errlen, "'%s' is not an IPv4 address", v);
	svc->has_guest_address = true;
	return 0;
}

static int
k_ports(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	struct words wl;
	char *colon;
	size_t i, j, nbad = 0;

	words_split(&wl, v);
	if (wl.n > MAX_WORDS) {
		words_free(&wl);
		return seterr(err, errlen, "too many ports (at most %d)",
		    MAX_WORDS);
	}
	svc->ports = pcalloc(p, wl.n, sizeof(*svc->ports));
	svc->nports = 0;
	for (i = 0; i < wl.n; i++) {
		struct cfg_port *pt = &svc->ports[svc->nports];
		colon = strchr(wl.w[i], ':');
		if (colon != NULL)
			*colon = '\0';
		if (parse_port(wl.w[i], &pt->public_port, false) == -1 ||
		    (colon != NULL &&
		    parse_port(colon + 1, &pt->guest_port, false) == -1)) {
			seterr(err, errlen, "bad port '%s%s%s' (want "
			    "PUBLIC or PUBLIC:GUEST, 1-65535)", wl.w[i],
			    colon ? ":" : "", colon ? colon + 1 : "");
			word_err(p, err);
			nbad++;
			continue;
		}
		if (colon == NULL)
			pt->guest_port = pt->public_port;
		for (j = 0; j < svc->nports; j++)
			if (svc->ports[j].public_port == pt->public_port)
				break;
		if (j < svc->nports) {
			seterr(err, errlen, "public port %u listed twice",
			    pt->public_port);
			word_err(p, err);
			nbad++;
			continue;
		}
		svc->nports++;
	}
	return words_done(&wl, nbad, err);
}

static int
k_ready(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	if (strncmp(v, "tcp:", 4) == 0) {
		if (parse_port(v + 4, &svc->ready_port, false) == -1)
			return seterr(err, errlen, "bad port in '%s'", v);
		svc->ready = CFG_READY_TCP;
		return 0;
	}
	if (strncmp(v, "serial:", 7) == 0) {
		if (v[7] == '\0')
			return seterr(err, errlen, "serial: needs the text "
			    "to wait for");
		svc->ready_text = pstrdup(p, v + 7);
		svc->ready = CFG_READY_SERIAL;
		return 0;
	}
	return seterr(err, errlen, "'%s' is not tcp:PORT or serial:TEXT", v);
}

/* Variables a domain template may use (docs/configuration.md). */
static const char *const template_vars[] = {
	"name", "kernel", "cmdline", "memory_kib", "vcpus", "mac", "ip",
	"prefix", "gateway", "network", "serial_log", "domain_type",
	"hostfwd", NULL,
};

/* A command line may use all but itself and the two about the domain. */
static bool
template_only(const char *var)
{
	return strcmp(var, "cmdline") == 0 ||
	    strcmp(var, "domain_type") == 0 || strcmp(var, "hostfwd") == 0;
}

/*
 * Up to n bytes of s for a message, on one line: a template file may
 * hold anything after a "${".
 */
static const char *
excerpt(char *buf, size_t size, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < size && s[i] != '\0'; i++)
		buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}

/*
 * Check the ${...} variables of a command line (in_template false) or of
 * a domain template.  On error *at, when not NULL, is the offset of the
 * "${" at fault.
 */
static int
check_vars(const char *v, bool in_template, size_t *at, char *err,
    size_t errlen)
{
	const char *s = v, *end;
	char buf[48];
	size_t i, len;

	while ((s = strstr(s, "${")) != NULL) {
		if (at != NULL)
			*at = (size_t)(s - v);
		end = strchr(s, '}');
		if (end == NULL)
			return seterr(err, errlen, "unterminated '${' at '%s'",
			    excerpt(buf, sizeof(buf), s, 32));
		len = (size_t)(end - s - 2);
		for (i = 0; template_vars[i] != NULL; i++)
			if (strlen(template_vars[i]) == len &&
			    strncmp(template_vars[i], s + 2, len) == 0)
				break;
		if (template_vars[i] == NULL ||
		    (!in_template && template_only(template_vars[i])))
			return seterr(err, errlen, "unknown variable "
			    "'${%s}'", excerpt(buf, sizeof(buf), s + 2,
			    len < 32 ? len : 32));
		s = end + 1;
	}
	return 0;
}

/*
 * The command line goes inside the domain XML and on to the guest: tabs
 * are blanks there, so unlike a path it may hold them.
 */
static int
k_cmdline(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	if (check_vars(v, false, NULL, err, errlen) == -1)
		return -1;
	return store_string(p, k, svc, v, err, errlen);
}

static int
k_template(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	if (strcmp(v, "microvm") != 0 && strcmp(v, "pc") != 0 && v[0] != '/')
		return seterr(err, errlen, "'%s' is not microvm, pc or an "
		    "absolute path to a domain XML template", v);
	svc->template_line = p->cur->line;
	return k_string(p, k, svc, v, err, errlen);
}

static int
k_kernel(struct parser *p, const struct key *k, struct cfg_service *svc,
    const char *v, char *err, size_t errlen)
{
	svc->kernel_line = p->cur->line;
	return k_path(p, k, svc, v, err, errlen);
}

static const char *const on_exit_names[] = { "keep", "stop", NULL };
static const char *const net_mode_names[] = { "bridge", "user", NULL };
static const char *const idle_conn_names[] = { "keep-alive", "ignore", NULL };
static const char *const stop_mode_names[] = {
	"destroy", "shutdown", "suspend", "save", NULL };
static const char *const dns_answer_names[] = { "proxy", "guest", NULL };
static const char *const relay_names[] = { "copy", "splice", NULL };

#define C(f)	offsetof(struct config, f)
#define V(f)	offsetof(struct cfg_service, f)
#define MS(x)	((uint64_t)(x))
#define SEC(x)	((uint64_t)(x) * 1000)
#define MIB(x)	((uint64_t)(x) << 20)
#define GIB(x)	((uint64_t)(x) << 30)

static const struct key keys[] = {
	{ S_SUMMOND, "state", k_path, C(state), 0, 0, NULL },
	{ S_SUMMOND, "control", k_path, C(control), 0, 0, NULL },
	{ S_SUMMOND, "hypervisor", k_string, C(hypervisor), 1, 0, NULL },
	{ S_SUMMOND, "templates", k_path, C(templates), 0, 0, NULL },
	{ S_SUMMOND, "serial-dir", k_path, C(serial_dir), 0, 0, NULL },
	{ S_SUMMOND, "on-exit", k_choice, C(on_exit), 0, 0, on_exit_names },
	{ S_SUMMOND, "max-instances", k_uint, C(max_instances), 1, 100000,
	    NULL },
	{ S_SUMMOND, "memory-budget", k_size, C(memory_budget), MIB(1),
	    GIB(1) << 10, NULL },

	{ S_DNS, "listen", k_listen, 0, 0, 0, NULL },
	{ S_DNS, "zone", k_zone, 0, 0, 0, NULL },
	{ S_DNS, "ttl", k_uint, C(ttl), 0, 86400, NULL },
	{ S_DNS, "forwarder", k_forwarder, 0, 0, 0, NULL },
	{ S_DNS, "rate-limit", k_uint, C(rate_limit), 0, 1000000, NULL },
	{ S_DNS, "tcp-idle-timeout", k_duration, C(dns_tcp_idle_ms),
	    MS(100), SEC(3600), NULL },
	{ S_DNS, "tcp-clients", k_uint, C(dns_tcp_max), 1, 65536, NULL },
	{ S_DNS, "tcp-clients-per-source", k_uint, C(dns_tcp_per_source), 0,
	    65536, NULL },

	{ S_PROXY, "hold-timeout", k_duration, C(hold_timeout_ms), MS(10),
	    SEC(3600), NULL },
	{ S_PROXY, "max-held", k_uint, C(max_held), 0, 1000000, NULL },
	{ S_PROXY, "idle-timeout", k_duration, C(proxy_idle_timeout_ms),
	    SEC(1), SEC(7 * 86400), NULL },
	{ S_PROXY, "relay", k_choice, C(relay), 0, 0, relay_names },
	{ S_PROXY, "relay-threads", k_threads, C(relay_threads), 0, 256,
	    NULL },

	{ S_NETWORK, "mode", k_choice, C(net_mode), 0, 0, net_mode_names },
	{ S_NETWORK, "user-ports", k_port_range, 0, 0, 0, NULL },
	{ S_NETWORK, "name", k_string, C(net_name), 1, 0, NULL },
	{ S_NETWORK, "bridge", k_string, C(net_bridge), 1, 0, NULL },
	{ S_NETWORK, "gateway", k_gateway, 0, 0, 0, NULL },
	{ S_NETWORK, "pool", k_pool, 0, 0, 0, NULL },
	{ S_NETWORK, "create", k_bool, C(net_create), 0, 0, NULL },

	{ S_METRICS, "listen", k_metrics, 0, 0, 0, NULL },

	{ S_SERVICE, "names", k_names, 0, 0, 0, NULL },
	{ S_SERVICE, "kernel", k_kernel, V(kernel), 0, 0, NULL },
	{ S_SERVICE, "cmdline", k_cmdline, V(cmdline), 0, 0, NULL },
	{ S_SERVICE, "memory", k_size, V(memory), MIB(1), GIB(1) << 10,
	    NULL },
	{ S_SERVICE, "vcpus", k_uint, V(vcpus), 1, 64, NULL },
	{ S_SERVICE, "template", k_template, V(template), 0, 0, NULL },
	{ S_SERVICE, "address", k_address, 0, 0, 0, NULL },
	{ S_SERVICE, "ports", k_ports, 0, 0, 0, NULL },
	{ S_SERVICE, "guest-address", k_guest_address, 0, 0, 0, NULL },
	{ S_SERVICE, "ready", k_ready, 0, 0, 0, NULL },
	{ S_SERVICE, "boot-timeout", k_duration, V(boot_timeout_ms), MS(100),
	    SEC(3600), NULL },
	{ S_SERVICE, "idle-timeout", k_duration, V(idle_timeout_ms), SEC(1),
	    SEC(30 * 86400), NULL },
	{ S_SERVICE, "idle-connections", k_choice, V(idle_connections), 0, 0,
	    idle_conn_names },
	{ S_SERVICE, "stop-mode", k_choice, V(stop_mode), 0, 0,
	    stop_mode_names },
	{ S_SERVICE, "standby", k_uint, V(standby), 0, 64, NULL },
	{ S_SERVICE, "standby-booted", k_bool, V(standby_booted), 0, 0, NULL },
	{ S_SERVICE, "dns-answer", k_choice, V(dns_answer), 0, 0,
	    dns_answer_names },
};

#define NKEYS	(sizeof(keys) / sizeof(keys[0]))

const char *
config_key_name(size_t i)
{
	static char buf[64];

	if (i >= NKEYS)
		return NULL;
	snprintf(buf, sizeof(buf), "%s.%s", sect_names[keys[i].sect],
	    keys[i].name);
	return buf;
}

const char *
config_stop_mode_name(enum cfg_stop_mode m)
{
	return stop_mode_names[m];
}

/* ---- defaults: the one place they live ---------------------------- */

static void
config_defaults(struct parser *p)
{
	struct config *c = p->cfg;
	char err[128];

	c->state = pstrdup(p, "/var/lib/summon/state.db");
	c->control = pstrdup(p, "/run/summon/summond.sock");
	c->hypervisor = pstrdup(p, "qemu:///system");
	c->templates = pstrdup(p, SUMMON_DATADIR "/templates");
	c->serial_dir = pstrdup(p, "/var/log/summon");
	c->on_exit = CFG_ON_EXIT_KEEP;
	c->max_instances = 64;
	c->memory_budget = GIB(4);

	c->ndns_listen = 2;
	c->dns_listen = pcalloc(p, 2, sizeof(*c->dns_listen));
	config_parse_addr("127.0.0.1:53", 53, &c->dns_listen[0], err,
	    sizeof(err));
	config_parse_addr("[::1]:53", 53, &c->dns_listen[1], err, sizeof(err));
	c->ttl = 30;
	c->rate_limit = 200;
	c->dns_tcp_idle_ms = SEC(10);
	c->dns_tcp_max = 256;
	c->dns_tcp_per_source = 16;

	c->hold_timeout_ms = SEC(10);
	c->max_held = 256;
	c->proxy_idle_timeout_ms = SEC(600);

	c->net_mode = CFG_NET_BRIDGE;
	c->user_port_lo = 20000;
	c->user_port_hi = 20999;
	c->net_name = pstrdup(p, "summon");
	c->net_bridge = pstrdup(p, "summon0");
	inet_pton(AF_INET, "10.99.0.1", &c->gateway);
	c->prefix = 24;
	inet_pton(AF_INET, "10.99.0.10", &c->pool_lo);
	inet_pton(AF_INET, "10.99.0.250", &c->pool_hi);
	c->net_create = true;

	c->has_metrics = true;
	config_parse_addr("127.0.0.1:9153", 9153, &c->metrics_listen, err,
	    sizeof(err));
}

static void
service_defaults(struct parser *p, struct cfg_service *s)
{
	s->cmdline = pstrdup(p, "ip=${ip}/${prefix} gw=${gateway}");
	s->memory = MIB(32);
	s->vcpus = 1;
	s->template = pstrdup(p, "microvm");
	s->ready = CFG_READY_TCP;
	s->ready_port = 0;	/* 0: the first guest port, set in checks */
	s->boot_timeout_ms = SEC(5);
	s->idle_timeout_ms = SEC(60);
	s->idle_connections = CFG_IDLE_KEEPALIVE;
	s->stop_mode = CFG_STOP_DESTROY;
	s->standby = 0;
	s->standby_booted = false;
	s->dns_answer = CFG_DNS_ANSWER_PROXY;
}

/* ---- pass 2: apply entries, then whole-file checks ------------------ */

static const struct key *
find_key(enum sect s, const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (keys[i].sect == s && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static void
apply_entry(struct parser *p, struct entry *e, struct cfg_service *svc,
    struct entry **seen)
{
	const struct key *k;
	char err[512];
	size_t ki;

	if (p->sections[e->section].bad || e->bad)
		return;	/* the header or the value was already reported */
	k = find_key(e->sect, e->key);
	if (k == NULL) {
		perr(p, e->line, "unknown key '%s' in [%s]", e->key,
		    sect_names[e->sect]);
		return;
	}
	ki = (size_t)(k - keys);
	if (seen[ki] != NULL) {
		perr(p, e->line, "duplicate key '%s' (first set at line %d)",
		    e->key, seen[ki]->line);
		return;
	}
	seen[ki] = e;
	if (k->sect != S_SERVICE)
		p->keyline[ki] = e->line;
	p->cur = e;
	err[0] = '\0';
	/* An empty err: a list reported each of its bad words already. */
	if (k->fn(p, k, svc, e->value, err, sizeof(err)) == -1 &&
	    err[0] != '\0')
		perr(p, e->line, "%s: %s", e->key, err);
	p->cur = NULL;
}

static bool
in_subnet(struct in_addr a, struct in_addr net, unsigned prefix)
{
	uint32_t mask = prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);

	return (ntohl(a.s_addr) & mask) == (ntohl(net.s_addr) & mask);
}

/* Expand the service's names to absolute ones and check each. */
static void
expand_names(struct parser *p, struct cfg_service *s, int line)
{
	struct config *c = p->cfg;
	char name[CFG_DNS_NAME_MAX + 2], fq[2 * CFG_DNS_NAME_MAX + 4];
	char err[256], **out;
	size_t i, z, n = 0, zl, nl;

	if (s->nnames == 0) {
		/* Default: the service's own name in every zone. */
		s->names = pcalloc(p, 1, sizeof(char *));
		s->names[0] = s->name;
		s->nnames = 1;
	}
	out = pcalloc(p, s->nnames * (c->nzones > 0 ? c->nzones : 1),
	    sizeof(char *));
	for (i = 0; i < s->nnames; i++) {
		const char *raw = s->names[i];
		bool absolute = raw[strlen(raw) - 1] == '.';

		if (normalise_dname(raw, name, sizeof(name), err,
		    sizeof(err)) == -1) {
			perr(p, line, "service \"%s\": names: %s", s->name,
			    err);
			continue;
		}
		if (absolute) {
			nl = strlen(name);
			for (z = 0; z < c->nzones; z++) {
				zl = strlen(c->zones[z]);
				if (strcmp(name, c->zones[z]) == 0 ||
				    (nl > zl && name[nl - zl - 1] == '.' &&
				    strcmp(name + nl - zl, c->zones[z]) == 0))
					break;
			}
			if (z == c->nzones)
				perr(p, line, "service \"%s\": name %s is in "
				    "no zone served", s->name, name);
			else
				out[n++] = pstrdup(p, name);
			continue;
		}
		for (z = 0; z < c->nzones; z++) {
			snprintf(fq, sizeof(fq), "%s%s", name, c->zones[z]);
			if (strlen(fq) > CFG_DNS_NAME_MAX) {
				perr(p, line, "service \"%s\": name %s is "
				    "too long", s->name, fq);
				continue;
			}
			out[n++] = pstrdup(p, fq);
		}
	}
	s->names = out;
	s->nnames = n;
}

static void
check_service(struct parser *p, struct cfg_service *s)
{
	struct config *c = p->cfg;
	int line = s->line;

	if (s->kernel == NULL)
		perr(p, line, "service \"%s\": 'kernel' is required", s->name);
	if (s->family == 0)
		perr(p, line, "service \"%s\": 'address' is required (the "
		    "public address DNS answers and the proxy listens on)",
		    s->name);
	if (s->ready == CFG_READY_TCP && s->ready_port == 0) {
		if (s->nports > 0)
			s->ready_port = s->ports[0].guest_port;
		else
			perr(p, line, "service \"%s\": no ports, so 'ready' "
			    "must name a tcp:PORT or serial:TEXT", s->name);
	}
	if (s->memory > c->memory_budget)
		perr(p, line, "service \"%s\": memory is larger than "
		    "[summond] memory-budget", s->name);
	if (s->standby > c->max_instances)
		perr(p, line, "service \"%s\": standby %u exceeds "
		    "max-instances %u", s->name, s->standby, c->max_instances);
	if (s->has_guest_address) {
		if (c->net_mode == CFG_NET_USER)
			perr(p, line, "service \"%s\": guest-address has no "
			    "meaning in [network] mode = user", s->name);
		else if (!in_subnet(s->guest_address, c->gateway, c->prefix) ||
		    s->guest_address.s_addr == c->gateway.s_addr)
			perr(p, line, "service \"%s\": guest-address is not "
			    "a host address of the gateway's subnet", s->name);
	}
	if (s->standby > 0 && s->stop_mode == CFG_STOP_SAVE)
		perr(p, line, "service \"%s\": standby cannot be combined "
		    "with stop-mode = save (saved domains are persistent, "
		    "standby ones transient)", s->name);
	if (c->net_mode == CFG_NET_USER && s->ready == CFG_READY_TCP &&
	    s->ready_port != 0) {
		size_t i;
		for (i = 0; i < s->nports; i++)
			if (s->ports[i].guest_port == s->ready_port)
				break;
		if (i == s->nports)
			perr(p, line, "service \"%s\": in user mode the "
			    "ready port %u must be one of the guest ports",
			    s->name, s->ready_port);
	}
	if (s->dns_answer == CFG_DNS_ANSWER_GUEST &&
	    c->net_mode == CFG_NET_USER)
		perr(p, line, "service \"%s\": dns-answer = guest needs "
		    "[network] mode = bridge (user-mode guests have no "
		    "reachable address)", s->name);
	expand_names(p, s, line);
}

struct name_ref { const char *name; size_t svc; };

static int
name_ref_cmp(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int r = strcmp(x->name, y->name);

	if (r != 0)
		return r;
	return x->svc < y->svc ? -1 : x->svc > y->svc;
}

struct bind_ref { int family; uint8_t addr[16]; uint16_t port; size_t svc; };

static int
bind_ref_cmp(const void *a, const void *b)
{
	const struct bind_ref *x = a, *y = b;
	int r;

	if (x->family != y->family)
		return x->family - y->family;
	if ((r = memcmp(x->addr, y->addr, 16)) != 0)
		return r;
	if (x->port != y->port)
		return x->port - y->port;
	return x->svc < y->svc ? -1 : x->svc > y->svc;
}

/* Checks across services, sorted so that 10,000 services stay cheap. */
static void
check_across(struct parser *p)
{
	struct config *c = p->cfg;
	struct name_ref *nr;
	struct bind_ref *br;
	size_t i, j, n = 0, nb = 0, total = 0, totalp = 0;

	for (i = 0; i < c->nservices; i++) {
		total += c->services[i].nnames;
		totalp += c->services[i].nports;
	}
	nr = xcalloc(total, sizeof(*nr));
	br = xcalloc(totalp, sizeof(*br));
	for (i = 0; i < c->nservices; i++) {
		struct cfg_service *s = &c->services[i];
		for (j = 0; j < s->nnames; j++)
			nr[n++] = (struct name_ref){ s->names[j], i };
		for (j = 0; j < s->nports && s->family != 0; j++) {
			struct bind_ref *b = &br[nb++];
			b->family = s->family;
			if (s->family == AF_INET)
				memcpy(b->addr, &s->address4, 4);
			else
				memcpy(b->addr, &s->address6, 16);
			b->port = s->ports[j].public_port;
			b->svc = i;
		}
	}
	qsort(nr, n, sizeof(*nr), name_ref_cmp);
	for (i = 1; i < n; i++)
		if (strcmp(nr[i].name, nr[i - 1].name) == 0 &&
		    nr[i].svc != nr[i - 1].svc)
			perr(p, c->services[nr[i].svc].line, "service \"%s\": "
			    "name %s already belongs to service \"%s\"",
			    c->services[nr[i].svc].name, nr[i].name,
			    c->services[nr[i - 1].svc].name);
	qsort(br, nb, sizeof(*br), bind_ref_cmp);
	for (i = 1; i < nb; i++)
		if (bind_ref_cmp(&br[i], &br[i - 1]) != 0 &&
		    br[i].family == br[i - 1].family &&
		    memcmp(br[i].addr, br[i - 1].addr, 16) == 0 &&
		    br[i].port == br[i - 1].port)
			perr(p, c->services[br[i].svc].line, "service \"%s\": "
			    "%s port %u is already used by service \"%s\"",
			    c->services[br[i].svc].name,
			    c->services[br[i].svc].address_text, br[i].port,
			    c->services[br[i - 1].svc].name);
	free(nr);
	free(br);
}

/* Where a global key was set, else the end of the file. */
static int
key_line(struct parser *p, enum sect s, const char *name)
{
	const struct key *k = find_key(s, name);
	int line = p->keyline[k - keys];

	return line > 0 ? line : (p->lineno > 0 ? p->lineno : 1);
}

/*
 * A copy of path with runs of '/', "/./" and a trailing '/' folded away:
 * one file, however it is written.  ".." stays: after a symbolic link it
 * is not the parent that the text shows.
 */
static char *
path_fold(const char *path)
{
	char *out = xstrdup(path), *w = out;
	const char *r = path;

	while (*r != '\0') {
		if (r[0] == '/' && (r[1] == '/' || (r[1] == '.' &&
		    (r[2] == '/' || r[2] == '\0')))) {
			r += r[1] == '/' ? 1 : 2;
			continue;
		}
		*w++ = *r++;
	}
	if (w > out + 1 && w[-1] == '/')
		w--;
	*w = '\0';
	return out;
}

/*
 * The state database and the files that SQLite and summond keep beside
 * it, which summond creates, locks or deletes as its own.
 */
static const char *const state_files[] = {
	"", "-wal", "-shm", "-journal", ".lock", NULL,
};

/* The state_files entry that control names, or NULL. */
static const char *
state_clash(const char *control, const char *state)
{
	size_t i, n = strlen(state);

	for (i = 0; state_files[i] != NULL; i++)
		if (strncmp(control, state, n) == 0 &&
		    strcmp(control + n, state_files[i]) == 0)
			return state_files[i];
	return NULL;
}

static void
clash_err(struct parser *p, int line, const char *suffix,
    const char *control)
{
	if (*suffix == '\0')
		perr(p, line, "control: %s is the state database's path",
		    control);
	else
		perr(p, line, "control: %s is the state database's %s file",
		    control, suffix);
}

static void
check_global(struct parser *p)
{
	struct config *c = p->cfg;
	uint32_t lo = ntohl(c->pool_lo.s_addr), hi = ntohl(c->pool_hi.s_addr);
	uint32_t gw = ntohl(c->gateway.s_addr);
	char *control, *state;
	const char *suffix;
	int line;

	/*
	 * summond removes a stale socket at control before it binds: there
	 * it would delete the state database.  Compared as written, folded;
	 * config_check_files() compares them again through the file system.
	 */
	control = path_fold(c->control);
	state = path_fold(c->state);
	if ((suffix = state_clash(control, state)) != NULL) {
		/* At control's line; at state's when control is the default. */
		line = p->keyline[find_key(S_SUMMOND, "control") - keys];
		clash_err(p, line > 0 ? line : key_line(p, S_SUMMOND, "state"),
		    suffix, c->control);
	}
	free(control);
	free(state);

	if (c->ndns_listen > 0 && c->nzones == 0)
		perr(p, key_line(p, S_DNS, "zone"), "[dns] needs at least one 'zone' (or an empty "
		    "'listen' to turn DNS off)");
	if (c->net_mode == CFG_NET_BRIDGE) {
		if (!in_subnet(c->pool_lo, c->gateway, c->prefix) ||
		    !in_subnet(c->pool_hi, c->gateway, c->prefix))
			perr(p, key_line(p, S_NETWORK, "pool"), "[network] pool is not inside the "
			    "gateway's subnet");
		else if (gw >= lo && gw <= hi)
			perr(p, key_line(p, S_NETWORK, "pool"), "[network] pool contains the gateway "
			    "address");
	}
}

static struct parser *sort_parser;	/* qsort has no context argument */

static int
section_name_cmp(const void *a, const void *b)
{
	const struct section *x = &sort_parser->sections[*(const size_t *)a];
	const struct section *y = &sort_parser->sections[*(const size_t *)b];
	int r = strcmp(x->name, y->name);

	return r != 0 ? r : x->line - y->line;
}

/* Report and drop every service defined twice (sorted: n log n). */
static void
mark_duplicate_services(struct parser *p)
{
	size_t *idx = xcalloc(p->nsections, sizeof(*idx)), n = 0, i;

	for (i = 0; i < p->nsections; i++)
		if (p->sections[i].sect == S_SERVICE && !p->sections[i].bad)
			idx[n++] = i;
	sort_parser = p;
	qsort(idx, n, sizeof(*idx), section_name_cmp);
	for (i = 1; i < n; i++) {
		struct section *prev = &p->sections[idx[i - 1]];
		struct section *sec = &p->sections[idx[i]];
		if (strcmp(prev->name, sec->name) != 0)
			continue;
		/* idx[i - 1] may be a duplicate too: find the first. */
		size_t j = i - 1;
		while (j > 0 && strcmp(p->sections[idx[j - 1]].name,
		    sec->name) == 0)
			j--;
		perr(p, sec->line, "duplicate service \"%s\" (first defined "
		    "at line %d)", sec->name, p->sections[idx[j]].line);
		sec->bad = true;
	}
	free(idx);
}

static struct config *
parse(struct parser *p)
{
	struct config *c;
	struct entry **seen;
	struct cfg_service *svc;
	size_t i, s, nservice_sections = 0;

	c = p->cfg = xcalloc(1, sizeof(*c));
	c->pool = xcalloc(1, sizeof(*c->pool));
	c->path = pstrdup(p, p->file);
	config_defaults(p);

	ini_parse_stream(reader, p, handler, p);

	seen = xcalloc(NKEYS, sizeof(*seen));
	p->keyline = xcalloc(NKEYS, sizeof(*p->keyline));

	/* Global sections first: service checks depend on them. */
	for (i = 0; i < p->nentries; i++) {
		struct entry *e = &p->entries[i];
		if (e->sect != S_SERVICE && e->sect != S_UNKNOWN)
			apply_entry(p, e, NULL, seen);
	}

	for (s = 0; s < p->nsections; s++)
		if (p->sections[s].sect == S_SERVICE)
			nservice_sections++;
	c->services = xcalloc(nservice_sections, sizeof(*c->services));
	mark_duplicate_services(p);
	for (s = 0; s < p->nsections; s++) {
		struct section *sec = &p->sections[s];
		if (sec->sect != S_SERVICE || sec->bad)
			continue;
		svc = &c->services[c->nservices++];
		svc->name = pstrdup(p, sec->name);
		svc->line = sec->line;
		service_defaults(p, svc);
		memset(seen, 0, NKEYS * sizeof(*seen));
		for (i = sec->first; i < sec->first + sec->count; i++)
			apply_entry(p, &p->entries[i], svc, seen);
	}
	free(seen);

	check_global(p);
	for (i = 0; i < c->nservices; i++)
		check_service(p, &c->services[i]);
	check_across(p);
	/* For config_check_files(), which runs after this parser is gone. */
	c->templates_line = p->keyline[find_key(S_SUMMOND, "templates") -
	    keys];
	c->control_line = p->keyline[find_key(S_SUMMOND, "control") - keys];
	c->state_line = p->keyline[find_key(S_SUMMOND, "state") - keys];
	pool_seal(c->pool);
	return c;
}

static void
parser_free(struct parser *p)
{
	size_t i;

	for (i = 0; i < p->nentries; i++) {
		free(p->entries[i].key);
		free(p->entries[i].value);
	}
	free(p->entries);
	free(p->sections);
	free(p->keyline);
}

static struct config *
finish(struct parser *p, int *nerrors)
{
	struct config *c = parse(p);
	int i;

	if (p->readerr != 0) {
		/*
		 * What was read is not the file: its errors ("needs a zone"
		 * in an empty read of a directory) would mislead.
		 */
		for (i = 0; i < p->nmsgs; i++)
			free(p->errs[i].msg);
		free(p->errs);
		p->errs = NULL;
		p->nmsgs = 0;
		if (p->errf != NULL && p->readerr == EFBIG)
			fprintf(p->errf, "%s: larger than %d MiB\n", p->file,
			    FILE_MAX >> 20);
		else if (p->errf != NULL)
			fprintf(p->errf, "%s: %s\n", p->file,
			    strerror(p->readerr));
		p->nerrors = 1;
	}
	print_errors(p);
	parser_free(p);
	if (nerrors != NULL)
		*nerrors = p->nerrors;
	if (p->nerrors > 0) {
		config_free(c);
		return NULL;
	}
	return c;
}

/* ---- what the file names, on this host ------------------------------ */

/* libvirt's configuration of its QEMU driver: the user QEMU runs as. */
#define QEMU_CONF	"/etc/libvirt/qemu.conf"
/* Debian's libvirt runs QEMU as these when qemu.conf does not say. */
#define QEMU_USER	"libvirt-qemu"
#define QEMU_GROUP	"libvirt-qemu"

/* A template is a few KiB; vm_template_expand() refuses 1 MiB of XML. */
#define TEMPLATE_FILE_MAX	(1024 * 1024)

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
	if (st.st_size > TEMPLATE_FILE_MAX) {
		seterr(err, errlen, "%s: larger than %d bytes", path,
		    TEMPLATE_FILE_MAX);
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

/* A file that services name: a template or a kernel. */
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
 * Each service's template or kernel, sorted by name and then line, so
 * that a file that 10,000 services share is checked once, at the first.
 */
static struct file_ref *
file_refs(const struct config *c, bool kernels)
{
	struct file_ref *r = xcalloc(c->nservices, sizeof(*r));
	size_t i;

	for (i = 0; i < c->nservices; i++) {
		const struct cfg_service *s = &c->services[i];

		r[i].name = kernels ? s->kernel : s->template;
		r[i].line = kernels ? s->kernel_line : s->template_line;
		if (r[i].line == 0)
			r[i].line = s->line;
		r[i].svc = i;
	}
	qsort(r, c->nservices, sizeof(*r), file_ref_cmp);
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
	struct file_ref *r = file_refs(c, false);
	char err[512], *path, who[CFG_SERVICE_NAME_MAX + 32];
	bool dir_checked = false, dir_bad = false;
	size_t i;
	int line, e;

	for (i = 0; i < c->nservices; i++) {
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
 * Warn about a kernel that QEMU will not open: missing here, or, with q,
 * behind a directory q cannot search or (when libvirt does not chown
 * it) unreadable by q.  By the mode bits: ACLs are not read.
 */
static void
check_kernel(struct parser *p, int line, const char *kernel,
    const struct qemu_id *q)
{
	char *real, *dir = NULL;
	struct stat st;

	if (stat(kernel, &st) == -1) {
		pwarn(p, line, "kernel %s: %s", kernel, strerror(errno));
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		pwarn(p, line, "kernel %s: not a regular file", kernel);
		return;
	}
	if (q == NULL)
		return;
	/* QEMU opens the path as written, then whatever it links to. */
	if ((dir = qemu_blocked_dir(q, kernel)) == NULL &&
	    (real = realpath(kernel, NULL)) != NULL) {
		dir = qemu_blocked_dir(q, real);
		free(real);
	}
	if (dir != NULL)
		pwarn(p, line, "kernel %s: %s, the user QEMU runs as, cannot "
		    "search %s", kernel, q->name, dir);
	else if (!q->chown && !qemu_may(q, &st, 4))
		pwarn(p, line, "kernel %s: %s, the user QEMU runs as, cannot "
		    "read it", kernel, q->name);
	free(dir);
}

/*
 * Whether uri is a hypervisor on this host, whose QEMU opens the kernel
 * here; *system says whether it is the system instance.
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

static void
check_kernels(struct parser *p, const struct config *c,
    const char *qemu_conf)
{
	struct file_ref *r;
	struct qemu_id q;
	bool system, known = false;
	size_t i;

	if (!local_qemu(c->hypervisor, &system))
		return;		/* the kernel is another host's file */
	if (system)
		known = qemu_identity(qemu_conf, &q);
	r = file_refs(c, true);
	for (i = 0; i < c->nservices; i++)
		if (i == 0 || strcmp(r[i].name, r[i - 1].name) != 0)
			check_kernel(p, r[i].line, r[i].name,
			    known ? &q : NULL);
	free(r);
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
	check_kernels(&p, c, qemu_conf != NULL ? qemu_conf : QEMU_CONF);
	print_errors(&p);
	if (nwarnings != NULL)
		*nwarnings = p.nwarnings;
	return p.nerrors;
}

struct config *
config_load(const char *path, FILE *errf, int *nerrors)
{
	struct parser p = { .file = path, .errf = errf };
	struct config *c;

	if ((p.in = fopen(path, "r")) == NULL) {
		if (errf != NULL)
			fprintf(errf, "%s: %s\n", path, strerror(errno));
		if (nerrors != NULL)
			*nerrors = 1;
		return NULL;
	}
	c = finish(&p, nerrors);
	fclose(p.in);
	return c;
}

struct config *
config_load_string(const char *name, const char *text, FILE *errf,
    int *nerrors)
{
	struct parser p = { .file = name, .errf = errf, .text = text };

	return finish(&p, nerrors);
}

const struct cfg_service *
config_service(const struct config *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nservices; i++)
		if (strcmp(c->services[i].name, name) == 0)
			return &c->services[i];
	return NULL;
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	free(c->services);
	pool_free(c->pool);
	free(c);
}
