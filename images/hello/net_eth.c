/*
 * net_eth.c - Ethernet framing and the interface itself.
 */
#include "arp.h"
#include "ip.h"
#include "kstring.h"
#include "net.h"
#include "tcp.h"

struct net_if netif;
uint8_t net_tx[ETH_FRAME_MAX];

static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

void net_init(uint32_t ip, uint32_t prefix, uint32_t gateway, const uint8_t mac[6])
{
	netif.ip = ip;
	netif.netmask = ~0u << (32 - prefix);
	netif.gateway = gateway;
	memcpy(netif.mac, mac, 6);
	arp_announce();
}

void net_tick(uint32_t now_ms)
{
	arp_tick(now_ms);
	tcp_tick(now_ms);
}

void eth_input(uint8_t *frame, size_t len)
{
	if (len < ETH_HDR_LEN)
		return;
	/* The NIC is not promiscuous, but a bridge may still flood to us. */
	if (memcmp(frame, netif.mac, 6) != 0 && memcmp(frame, broadcast, 6) != 0)
		return;
	switch (get_be16(frame + 12)) {
	case ETHERTYPE_ARP:
		arp_input(frame + ETH_HDR_LEN, len - ETH_HDR_LEN);
		break;
	case ETHERTYPE_IPV4:
		ip_input(frame + ETH_HDR_LEN, len - ETH_HDR_LEN);
		break;
	}
}

void eth_output(uint8_t *frame, const uint8_t dst[6], uint16_t type, size_t l3len)
{
	memcpy(frame, dst, 6);
	memcpy(frame + 6, netif.mac, 6);
	put_be16(frame + 12, type);
	virtio_net_send(frame, ETH_HDR_LEN + l3len);
}
