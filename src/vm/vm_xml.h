/*
 * vm_xml.h - private to src/vm/: the libvirt backend's XML.  Domain XML
 * from templates and guests, summon's metadata, and the escaping they
 * and the network definition share.  Pure functions over strings
 * (vm_domain_xml reads the template file), so the tests need no
 * libvirt.
 */
#ifndef SUMMON_VM_XML_H
#define SUMMON_VM_XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm.h"

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

/*
 * The libvirt domain XML of guest (vm_domain.c): its template read from
 * the file system and every variable filled in (domain_type is "kvm"
 * when kvm, else "qemu"), summon's metadata added.  Blocking file I/O:
 * the backend's threads call it.  A malloc'd string, or NULL with a
 * message in err.
 */
char	*vm_domain_xml(const struct vm_guest *guest, bool kvm, char *err,
	    size_t errlen);

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
