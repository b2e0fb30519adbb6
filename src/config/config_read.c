/*
 * config_read.c - pass 1: the lines of the file, for inih, and the raw
 * entries inih makes of them.
 *
 * Each line is checked before inih sees it for what inih would truncate
 * or skip without a word and what the file may not hold: a NUL, a
 * control character, a byte that is not UTF-8, a line too long, more
 * than FILE_MAX bytes in all.  Section headers are parsed here too, so
 * that each is seen, with its line, even when no key follows it.  An
 * indented line continues the value before it.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <ini.h>

#include "config.h"
#include "config_internal.h"

#define LINE_MAX_LEN	4096	/* longest line we accept */
/*
 * Longest value, continuation lines joined: room for MAX_NAMES
 * (config_keys.c) names of 255 bytes.  Anything longer is an error,
 * never a truncation.
 */
#define VALUE_MAX	65536

const char *const sect_names[] = {
	[S_SUMMOND] = "summond", [S_DNS] = "dns", [S_PROXY] = "proxy",
	[S_NETWORK] = "network", [S_METRICS] = "metrics",
	[S_SERVICE] = "service", [S_HOST] = "host",
};

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

/*
 * A [service "NAME"] or [host "NAME"] header at s, if it is one of kind:
 * its name checked and kept in sec.  Returns false when s is not one.
 */
static bool
named_section(struct parser *p, struct section *sec, char *s,
    enum sect kind)
{
	const char *word = sect_names[kind];
	size_t wl = strlen(word), len;
	char *name;

	if (strncmp(s, word, wl) != 0 || (s[wl] != ' ' && s[wl] != '\t'))
		return false;
	sec->sect = kind;
	name = skip_blank(s + wl);
	len = strlen(name);
	while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
		name[--len] = '\0';
	if (len < 2 || name[0] != '"' || name[len - 1] != '"') {
		perr(p, p->lineno, "%s name must be quoted: [%s \"NAME\"]",
		    word, word);
		sec->bad = true;
		return true;
	}
	name[len - 1] = '\0';
	name++;
	if (!config_valid_service_name(name)) {
		perr(p, p->lineno, "invalid %s name \"%s\" "
		    "(want [a-z0-9][a-z0-9-]{0,62})", word, name);
		sec->bad = true;
		return true;
	}
	snprintf(sec->name, sizeof(sec->name), "%s", name);
	return true;
}

static void
parse_section_header(struct parser *p, char *s)
{
	struct section *sec = add_section(p);
	char *end;
	size_t i;

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
	if (named_section(p, sec, s, S_SERVICE) ||
	    named_section(p, sec, s, S_HOST))
		return;
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

void
read_entries(struct parser *p)
{
	ini_parse_stream(reader, p, handler, p);
}
