/*
 * vm_libvirt_net.c - the network guests attach to in bridge mode,
 * defined and started at start-up unless libvirt has it already.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "log.h"
#include "vm.h"
#include "vm_libvirt.h"
#include "vm_xml.h"

/*
 * An isolated network: a bridge with the gateway address on the host
 * side, no forwarding, no DHCP (guests have static addresses on their
 * command line), no DNS (summond answers DNS), hence no dnsmasq.
 */
static char *
network_xml(const struct vm_network *n, char *err, size_t errlen)
{
	struct vm_buf b = { .limit = 64 * 1024 };
	char gw[INET_ADDRSTRLEN], tail[64];
	/* Alternately literal text and a value to escape. */
	const char *parts[] = { "<network><name>", n->name,
	    "</name><bridge name='", n->bridge,
	    "' stp='off' delay='0'/><dns enable='no'/><ip address='", gw,
	    tail };
	size_t i;

	inet_ntop(AF_INET, &n->gateway, gw, sizeof(gw));
	snprintf(tail, sizeof(tail), "' prefix='%u'/></network>",
	    n->prefix);
	for (i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
		if ((i % 2 == 0 ? vm_buf_add(&b, parts[i], strlen(parts[i])) :
		    vm_buf_add_escaped(&b, parts[i])) == -1) {
			snprintf(err, errlen, "out of memory");
			free(b.p);
			return NULL;
		}
	return b.p;
}

/*
 * Blocking: at start-up (ensure_network, vm.h) and on a start thread
 * for a VM_LIST job.
 */
int
network_on(virConnectPtr c, const struct vm_network *n, char *err,
    size_t errlen)
{
	virNetworkPtr net = NULL;
	char *xml = NULL;
	int rc = -1, active;

	if (n->name == NULL || n->bridge == NULL) {
		snprintf(err, errlen, "no network name or bridge");
		return -1;
	}
	if ((net = virNetworkLookupByName(c, n->name)) == NULL) {
		if (virGetLastErrorCode() != VIR_ERR_NO_NETWORK) {
			lv_error(err, errlen);
			goto out;
		}
		if ((xml = network_xml(n, err, errlen)) == NULL)
			goto out;
		if ((net = virNetworkDefineXML(c, xml)) == NULL) {
			lv_error(err, errlen);
			goto out;
		}
		log_info("defined network %s (bridge %s)", n->name,
		    n->bridge);
	}
	if ((active = virNetworkIsActive(net)) == -1) {
		lv_error(err, errlen);
		goto out;
	}
	if (active == 0) {
		if (virNetworkCreate(net) == -1) {
			lv_error(err, errlen);
			goto out;
		}
		log_info("started network %s", n->name);
	}
	rc = 0;
out:
	if (net != NULL)
		virNetworkFree(net);
	free(xml);
	return rc;
}

int
lvm_ensure_network(struct vm *vm, const struct vm_network *n, char *err,
    size_t errlen)
{
	virConnectPtr c;
	int rc;

	if ((c = conn_ref(vm, err, errlen)) == NULL)
		return -1;
	rc = network_on(c, n, err, errlen);
	virConnectClose(c);
	return rc;
}
