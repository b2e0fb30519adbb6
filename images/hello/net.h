/*
 * net.h - the network interface and Ethernet, shared by every layer.
 *
 * One interface, one IPv4 address.  Outgoing packets are built in place
 * in one frame buffer (net_tx) from the transport header down, then
 * copied to the NIC; nothing is ever built while another is in progress.
 */
#ifndef HELLO_NET_H
#define HELLO_NET_H

#include <stddef.h>
#include <stdint.h>

#include "virtio_net.h"

#define ETH_HDR_LEN 14
#define ETHERTYPE_IPV4 0x0800
#define ETHERTYPE_ARP 0x0806

struct net_if {
	uint32_t ip;		/* host byte order, as all addresses here */
	uint32_t netmask;
	uint32_t gateway;
	uint8_t mac[6];
};

/* Set once by net_init(), read by every layer. */
extern struct net_if netif;

/* The frame under construction; its IPv4 packet starts at ETH_HDR_LEN. */
extern uint8_t net_tx[ETH_FRAME_MAX];

/* Configures the interface and announces it with a gratuitous ARP. */
void net_init(uint32_t ip, uint32_t prefix, uint32_t gateway, const uint8_t mac[6]);

/* Runs the ARP and TCP timers; call at least every few milliseconds. */
void net_tick(uint32_t now_ms);

/* Dispatches one received frame (the virtio_net_poll callback). */
void eth_input(uint8_t *frame, size_t len);

/*
 * Fills in the Ethernet header at frame[0..13] and transmits the frame,
 * whose l3len bytes of payload follow the header.  A full transmit ring
 * drops the frame: TCP retransmits, ARP retries.
 */
void eth_output(uint8_t *frame, const uint8_t dst[6], uint16_t type, size_t l3len);

static inline uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

#endif
