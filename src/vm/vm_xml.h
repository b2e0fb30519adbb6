/*
 * vm_xml.h - private to src/vm/: the XML escaping that templates,
 * metadata and the network definition share.
 */
#ifndef SUMMON_VM_XML_H
#define SUMMON_VM_XML_H

#include <stdbool.h>
#include <stddef.h>

/* A growing string with a hard size limit. */
struct vm_buf {
	char	*p;		/* NUL-terminated once anything was added */
	size_t	 len;
	size_t	 cap;
	size_t	 limit;		/* refuse to grow len past this */
};

/* Append n bytes of s.  0, or -1 when out of memory or over the limit. */
int	vm_buf_add(struct vm_buf *, const char *s, size_t n);
/* Append s with & < > " ' replaced by entities.  0 or -1 as above. */
int	vm_buf_add_escaped(struct vm_buf *, const char *s);
/* Whether s is lowercase hex that fits a struct vm_owner field ("" is). */
bool	vm_owner_field_valid(const char *s);

#endif
