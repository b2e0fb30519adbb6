/*
 * net_arp.c - the ARP cache.
 */
#include "arp.h"
#include "kstring.h"
#include "net.h"

#define ARP_ENTRIES 16
#define ARP_RETRY_MS 1000
#define ARP_TRIES 3
/*
 * Entries are refreshed whenever the peer ARPs us; past this age one is
 * resolved again before use, so a moved address heals itself.
 */
#define ARP_LIFETIME_MS (5 * 60 * 1000)

#define ARP_PKT_LEN 28
#define ARP_OP_REQUEST 1
#define ARP_OP_REPLY 2

enum arp_state { ARP_FREE, ARP_PENDING, ARP_RESOLVED };

struct arp_entry {
	uint32_t ip;
	uint8_t mac[6];
	uint8_t state;
	uint8_t tries;		/* requests sent while pending */
	uint32_t stamp;		/* last request sent, or when resolved */
	uint16_t held_len;	/* IPv4 bytes of the held frame; 0 = none */
	uint8_t held[ETH_FRAME_MAX];
};

static struct arp_entry cache[ARP_ENTRIES];
static uint32_t now;

static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
static const uint8_t zero_mac[6];

static void send_arp(uint16_t op, const uint8_t *eth_dst, const uint8_t *tha, uint32_t tpa)
{
	uint8_t frame[ETH_HDR_LEN + ARP_PKT_LEN];
	uint8_t *p = frame + ETH_HDR_LEN;

	put_be16(p, 1);			/* hardware: Ethernet */
	put_be16(p + 2, ETHERTYPE_IPV4);
	p[4] = 6;
	p[5] = 4;
	put_be16(p + 6, op);
	memcpy(p + 8, netif.mac, 6);
	put_be32(p + 14, netif.ip);
	memcpy(p + 18, tha, 6);
	put_be32(p + 24, tpa);
	eth_output(frame, eth_dst, ETHERTYPE_ARP, ARP_PKT_LEN);
}

static struct arp_entry *lookup(uint32_t ip)
{
	for (unsigned i = 0; i < ARP_ENTRIES; i++)
		if (cache[i].state != ARP_FREE && cache[i].ip == ip)
			return &cache[i];
	return NULL;
}

/* A free entry, else the one least recently refreshed. */
static struct arp_entry *allocate(uint32_t ip)
{
	struct arp_entry *victim = &cache[0];

	for (unsigned i = 0; i < ARP_ENTRIES; i++) {
		if (cache[i].state == ARP_FREE) {
			victim = &cache[i];
			break;
		}
		if ((uint32_t)(now - cache[i].stamp) > (uint32_t)(now - victim->stamp))
			victim = &cache[i];
	}
	victim->ip = ip;
	victim->held_len = 0;
	victim->tries = 0;
	return victim;
}

static void resolved(struct arp_entry *e, const uint8_t *mac)
{
	memcpy(e->mac, mac, 6);
	e->state = ARP_RESOLVED;
	e->stamp = now;
	if (e->held_len) {
		eth_output(e->held, e->mac, ETHERTYPE_IPV4, e->held_len);
		e->held_len = 0;
	}
}

void arp_input(const uint8_t *p, size_t len)
{
	uint16_t op;
	uint32_t spa, tpa;
	struct arp_entry *e;

	if (len < ARP_PKT_LEN || get_be16(p) != 1 || get_be16(p + 2) != ETHERTYPE_IPV4 ||
	    p[4] != 6 || p[5] != 4)
		return;
	op = get_be16(p + 6);
	spa = get_be32(p + 14);
	tpa = get_be32(p + 24);
	if (op != ARP_OP_REQUEST && op != ARP_OP_REPLY)
		return;

	/*
	 * RFC 826's merge: refresh a sender we already know; learn a new one
	 * only when it talks to us.  Address probes (sender 0.0.0.0) teach
	 * nothing.
	 */
	if (spa != 0 && spa != netif.ip) {
		e = lookup(spa);
		if (!e && tpa == netif.ip)
			e = allocate(spa);
		if (e)
			resolved(e, p + 8);
	}
	if (op == ARP_OP_REQUEST && tpa == netif.ip)
		send_arp(ARP_OP_REPLY, p + 8, p + 8, spa);
}

void arp_output(uint32_t next_hop, uint8_t *frame, size_t l3len)
{
	struct arp_entry *e = lookup(next_hop);

	if (e && e->state == ARP_RESOLVED) {
		if ((uint32_t)(now - e->stamp) < ARP_LIFETIME_MS) {
			eth_output(frame, e->mac, ETHERTYPE_IPV4, l3len);
			return;
		}
		e->state = ARP_PENDING;
		e->tries = 0;
	}
	if (!e) {
		e = allocate(next_hop);
		e->state = ARP_PENDING;
	}
	memcpy(e->held, frame, ETH_HDR_LEN + l3len);
	e->held_len = (uint16_t)l3len;
	if (e->tries == 0) {
		send_arp(ARP_OP_REQUEST, broadcast, zero_mac, next_hop);
		e->tries = 1;
		e->stamp = now;
	}
}

void arp_announce(void)
{
	send_arp(ARP_OP_REQUEST, broadcast, zero_mac, netif.ip);
}

void arp_tick(uint32_t now_ms)
{
	now = now_ms;
	for (unsigned i = 0; i < ARP_ENTRIES; i++) {
		struct arp_entry *e = &cache[i];

		if (e->state != ARP_PENDING || (uint32_t)(now - e->stamp) < ARP_RETRY_MS)
			continue;
		if (e->tries >= ARP_TRIES) {
			e->state = ARP_FREE;
			e->held_len = 0;
			continue;
		}
		send_arp(ARP_OP_REQUEST, broadcast, zero_mac, e->ip);
		e->tries++;
		e->stamp = now;
	}
}
