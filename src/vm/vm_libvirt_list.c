/*
 * vm_libvirt_list.c - our domains: the metadata that marks a domain
 * ours (vm_add_metadata() writes it), read back, and the listing for
 * reconciliation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libvirt/libvirt.h>

#include "config.h"
#include "log.h"
#include "vm.h"
#include "vm_libvirt.h"
#include "vm_xml.h"

/*
 * The value of attribute name in the first tag of xml, into out.  Our
 * own element, written by vm_add_metadata(): no entities to decode in a
 * valid service name or a number.
 */
static int
attr_get(const char *xml, const char *name, char *out, size_t outlen)
{
	const char *p, *end, *tag_end;
	size_t n = strlen(name);
	char q;

	if ((tag_end = strchr(xml, '>')) == NULL)
		return -1;
	for (p = xml; (p = strstr(p, name)) != NULL && p < tag_end; p++) {
		if (p == xml || (p[-1] != ' ' && p[-1] != '\t' &&
		    p[-1] != '\n' && p[-1] != '\r') || p[n] != '=')
			continue;
		q = p[n + 1];
		if (q != '"' && q != '\'')
			return -1;
		if ((end = strchr(p + n + 2, q)) == NULL ||
		    (size_t)(end - (p + n + 2)) >= outlen)
			return -1;
		memcpy(out, p + n + 2, (size_t)(end - (p + n + 2)));
		out[end - (p + n + 2)] = '\0';
		return 0;
	}
	return -1;
}

/*
 * An owner attribute (hex) of meta into out: "" when there is none, "?"
 * when there is one that is not what vm_add_metadata() writes, so that
 * it matches no owner.
 */
static void
owner_attr(const char *meta, const char *name, char *out, size_t outlen)
{
	char probe[64];

	if (attr_get(meta, name, out, outlen) == 0 && out[0] != '\0' &&
	    vm_owner_field_valid(out))
		return;
	snprintf(probe, sizeof(probe), " %s=", name);
	snprintf(out, outlen, "%s", strstr(meta, probe) != NULL ? "?" : "");
}

/* Our metadata of d into out; -1 when d is not ours. */
static int
dom_ours(virDomainPtr d, struct vm_domain *out)
{
	char *meta, id[32], *end;
	int rc = -1;

	meta = virDomainGetMetadata(d, VIR_DOMAIN_METADATA_ELEMENT,
	    VM_METADATA_URI, 0);
	if (meta == NULL)
		return -1;	/* VIR_ERR_NO_DOMAIN_METADATA: not ours */
	owner_attr(meta, "owner", out->owner.id, sizeof(out->owner.id));
	owner_attr(meta, "state", out->owner.state, sizeof(out->owner.state));
	if (attr_get(meta, "service", out->service,
	    sizeof(out->service)) == -1 ||
	    !config_valid_service_name(out->service) ||
	    attr_get(meta, "id", id, sizeof(id)) == -1) {
		log_warnx("%s: unreadable summon metadata", virDomainGetName(d));
		goto out;
	}
	errno = 0;
	out->instance = strtoll(id, &end, 10);
	if (errno != 0 || end == id || *end != '\0') {
		log_warnx("%s: bad instance id in metadata", virDomainGetName(d));
		goto out;
	}
	rc = 0;
out:
	free(meta);
	return rc;
}

struct vm_domain *
list_on(virConnectPtr c, size_t *n, char *err, size_t errlen)
{
	struct vm_domain *out = NULL, *o;
	virDomainPtr *doms = NULL;
	int i, nd;

	*n = 0;
	if ((nd = virConnectListAllDomains(c, &doms, 0)) == -1) {
		lv_error(err, errlen);
		goto out;
	}
	if ((out = calloc(nd > 0 ? (size_t)nd : 1, sizeof(*out))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (i = 0; i < nd; i++) {
		o = &out[*n];
		memset(o, 0, sizeof(*o));
		if (dom_ours(doms[i], o) == -1)
			continue;
		snprintf(o->name, sizeof(o->name), "%s",
		    virDomainGetName(doms[i]));
		if (virDomainGetUUIDString(doms[i], o->uuid) == -1)
			o->uuid[0] = '\0';
		o->state = dom_state(doms[i]);
		o->persistent = virDomainIsPersistent(doms[i]) == 1;
		(*n)++;
	}
out:
	for (i = 0; doms != NULL && i < nd; i++)
		virDomainFree(doms[i]);
	free(doms);
	return out;
}

/*
 * Blocking: it calls libvirt on the calling (main) thread, a few calls
 * per domain.  Only for start-up, before clients are served, as vm.h
 * says; after a reconnect the lifecycle lists with a VM_LIST job.
 */
struct vm_domain *
lvm_list(struct vm *vm, size_t *n, char *err, size_t errlen)
{
	struct vm_domain *out;
	virConnectPtr c;

	*n = 0;
	if ((c = conn_ref(vm, err, errlen)) == NULL)
		return NULL;
	out = list_on(c, n, err, errlen);
	virConnectClose(c);
	return out;
}
