/*
 * ip.h - IPv4 (RFC 791) for one interface: header checksum checked,
 * options skipped, fragments dropped (nothing here needs them), unicast
 * to our address only.
 */
#ifndef HELLO_IP_H
#define HELLO_IP_H

#include <stddef.h>
#include <stdint.h>

#define IP_HDR_LEN 20
#define IP_PROTO_ICMP 1
#define IP_PROTO_TCP 6
#define IP_PAYLOAD_MAX (1500 - IP_HDR_LEN)

/* Handles one IPv4 packet (the Ethernet payload). */
void ip_input(const uint8_t *pkt, size_t len);

/* Where the transport layer writes an outgoing segment in net_tx. */
uint8_t *ip_tx_payload(void);

/*
 * Prepends the IPv4 header to the l4len bytes at ip_tx_payload() and
 * sends the packet to dst, through the gateway when dst is off-link.
 */
void ip_output(uint32_t dst, uint8_t proto, size_t l4len);

/*
 * Adds len bytes to a running one's-complement sum (RFC 1071).  Chain
 * calls on even-length pieces, then fold with ip_checksum_fold().
 */
uint32_t ip_checksum_add(uint32_t sum, const uint8_t *data, size_t len);
uint16_t ip_checksum_fold(uint32_t sum);

/* Sum of the TCP/UDP pseudo-header, to seed ip_checksum_add(). */
uint32_t ip_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, size_t l4len);

#endif
