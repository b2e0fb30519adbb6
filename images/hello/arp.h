/*
 * arp.h - ARP (RFC 826) for one IPv4 interface: answers requests for our
 * address, resolves next hops into a small cache, holds one packet per
 * unresolved next hop.
 */
#ifndef HELLO_ARP_H
#define HELLO_ARP_H

#include <stddef.h>
#include <stdint.h>

/* Handles one ARP packet (the Ethernet payload). */
void arp_input(const uint8_t *pkt, size_t len);

/*
 * Sends an IPv4 frame (Ethernet header space, then l3len bytes) to the
 * on-link next hop.  With the next hop unresolved the frame is copied
 * and held, replacing an older held frame, until a reply arrives.
 */
void arp_output(uint32_t next_hop, uint8_t *frame, size_t l3len);

/* Broadcasts a gratuitous ARP for our address (after configuration). */
void arp_announce(void);

/* Retries requests once a second, gives up after 3, ages entries out. */
void arp_tick(uint32_t now_ms);

#endif
