/*
 * config_hosts.c - the libvirt hosts guests run on: [host "NAME"]
 * sections, or the one host that [summond] hypervisor and [network]
 * make without them, and the checks that keep hosts apart.
 *
 * Each host has a subnet of its own, routed to from where summond runs,
 * so a guest's address says which host it is on: two hosts' subnets may
 * not overlap, nor a pool leave its host's subnet.  A host's network
 * settings default to [network]'s (name, bridge, create); its gateway
 * and pool do not, since no two hosts may share them.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "config_internal.h"

void
parse_hosts(struct parser *p, struct entry **seen)
{
	struct config *c = p->cfg;
	struct cfg_host *h;
	size_t s, i, n = 0;

	mark_duplicates(p, S_HOST);
	for (s = 0; s < p->nsections; s++)
		if (p->sections[s].sect == S_HOST && !p->sections[s].bad)
			n++;
	c->host_sections = n > 0;
	c->hosts = xcalloc(n > 0 ? n : 1, sizeof(*c->hosts));
	if (n == 0) {
		h = &c->hosts[c->nhosts++];
		h->name = pstrdup(p, "default");
		h->uri = c->hypervisor;
		h->net_name = c->net_name;
		h->net_bridge = c->net_bridge;
		h->gateway = c->gateway;
		h->prefix = c->prefix;
		h->pool_lo = c->pool_lo;
		h->pool_hi = c->pool_hi;
		h->net_create = c->net_create;
		return;
	}
	for (s = 0; s < p->nsections; s++) {
		struct section *sec = &p->sections[s];
		if (sec->sect != S_HOST || sec->bad)
			continue;
		if (c->nhosts == CFG_HOSTS_MAX) {
			perr(p, sec->line, "host \"%s\": more than %d hosts",
			    sec->name, CFG_HOSTS_MAX);
			continue;
		}
		h = &c->hosts[c->nhosts++];
		h->name = pstrdup(p, sec->name);
		h->line = sec->line;
		h->net_name = c->net_name;
		h->net_bridge = c->net_bridge;
		h->net_create = c->net_create;
		memset(seen, 0, nkeys * sizeof(*seen));
		p->host = h;
		for (i = sec->first; i < sec->first + sec->count; i++)
			apply_entry(p, &p->entries[i], NULL, seen);
		p->host = NULL;
	}
}

/* Whether the subnets of a and b share an address. */
static bool
subnets_meet(const struct cfg_host *a, const struct cfg_host *b)
{
	uint32_t m = subnet_mask(a->prefix < b->prefix ? a->prefix :
	    b->prefix);

	return (ntohl(a->gateway.s_addr) & m) ==
	    (ntohl(b->gateway.s_addr) & m);
}

static void
check_host(struct parser *p, const struct cfg_host *h)
{
	uint32_t lo = ntohl(h->pool_lo.s_addr), hi = ntohl(h->pool_hi.s_addr);
	uint32_t gw = ntohl(h->gateway.s_addr);

	if (h->uri == NULL)
		perr(p, h->line, "host \"%s\": 'uri' is required (a libvirt "
		    "URI, e.g. qemu+ssh://root@host/system)", h->name);
	if (h->gateway.s_addr == 0)
		perr(p, h->line, "host \"%s\": 'gateway' is required (the "
		    "host's address on its guests' subnet, ADDRESS/PREFIX)",
		    h->name);
	if (h->pool_lo.s_addr == 0)
		perr(p, h->line, "host \"%s\": 'pool' is required (its "
		    "guests' addresses, FIRST-LAST)", h->name);
	if (h->gateway.s_addr == 0 || h->pool_lo.s_addr == 0)
		return;
	if (!in_subnet(h->pool_lo, h->gateway, h->prefix) ||
	    !in_subnet(h->pool_hi, h->gateway, h->prefix))
		perr(p, h->line, "host \"%s\": pool is not inside the "
		    "gateway's subnet", h->name);
	else if (gw >= lo && gw <= hi)
		perr(p, h->line, "host \"%s\": pool contains the gateway "
		    "address", h->name);
}

void
check_hosts(struct parser *p)
{
	struct config *c = p->cfg;
	size_t i, j;

	if (!c->host_sections)
		return;
	if (c->net_mode == CFG_NET_USER)
		perr(p, c->hosts[0].line, "[host] sections need [network] "
		    "mode = bridge: a user-mode guest is reachable only from "
		    "its own host");
	if (p->keyline[key_index(S_SUMMOND, "hypervisor")] > 0)
		perr(p, p->keyline[key_index(S_SUMMOND, "hypervisor")],
		    "hypervisor: not with [host] sections (each host has "
		    "its own 'uri')");
	for (i = 0; i < c->nhosts; i++)
		check_host(p, &c->hosts[i]);
	for (i = 0; i < c->nhosts; i++)
		for (j = 0; j < i; j++) {
			const struct cfg_host *a = &c->hosts[j];
			const struct cfg_host *b = &c->hosts[i];
			if (a->gateway.s_addr == 0 || b->gateway.s_addr == 0)
				continue;
			if (subnets_meet(a, b))
				perr(p, b->line, "host \"%s\": its subnet "
				    "overlaps host \"%s\"'s (each host's "
				    "guests need a subnet of their own)",
				    b->name, a->name);
		}
}

/*
 * A service against the hosts it may run on: one must have room for
 * its memory, and its guest-address must be in the subnet of each.
 */
void
check_service_hosts(struct parser *p, struct cfg_service *s)
{
	const struct config *c = p->cfg;
	const struct cfg_host *h;
	bool fits = false, addr_ok = true;
	size_t i;

	for (i = 0; i < c->nhosts; i++) {
		h = &c->hosts[i];
		if (s->hosts != 0 && !(s->hosts & (1ULL << i)))
			continue;
		if (h->max_memory == 0 || h->max_memory >= s->memory)
			fits = true;
		if (!s->has_guest_address || h->gateway.s_addr == 0 ||
		    !addr_ok || c->net_mode == CFG_NET_USER)
			continue;
		if (in_subnet(s->guest_address, h->gateway, h->prefix) &&
		    s->guest_address.s_addr != h->gateway.s_addr)
			continue;
		addr_ok = false;
		if (c->host_sections)
			perr(p, s->line, "service \"%s\": guest-address is "
			    "not a host address of host \"%s\"'s subnet "
			    "(pin the service with 'hosts')", s->name,
			    h->name);
		else
			perr(p, s->line, "service \"%s\": guest-address is "
			    "not a host address of the gateway's subnet",
			    s->name);
	}
	if (!fits)
		perr(p, s->line, "service \"%s\": memory is larger than "
		    "the max-memory of every host it may run on", s->name);
}
