/*
 * net_ip.c - IPv4 input and output, and the Internet checksum.
 */
#include "arp.h"
#include "icmp.h"
#include "ip.h"
#include "net.h"
#include "tcp.h"

#define IP_FLAG_MF 0x2000
#define IP_FRAG_OFFSET 0x1fff
#define IP_TTL 64

static uint16_t next_id;

uint32_t ip_checksum_add(uint32_t sum, const uint8_t *data, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(data[i] << 8 | data[i + 1]);
	if (i < len)
		sum += (uint32_t)data[i] << 8;
	return sum;
}

uint16_t ip_checksum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint32_t ip_pseudo_sum(uint32_t src, uint32_t dst, uint8_t proto, size_t l4len)
{
	return (src >> 16) + (src & 0xffff) + (dst >> 16) + (dst & 0xffff) + proto +
	       (uint32_t)l4len;
}

void ip_input(const uint8_t *p, size_t len)
{
	size_t hlen, total;
	uint32_t src;

	if (len < IP_HDR_LEN || (p[0] >> 4) != 4)
		return;
	hlen = (size_t)(p[0] & 0x0f) * 4;
	total = get_be16(p + 2);
	/* Frames may carry Ethernet padding beyond the IP length. */
	if (hlen < IP_HDR_LEN || total < hlen || total > len)
		return;
	if (ip_checksum_fold(ip_checksum_add(0, p, hlen)) != 0)
		return;
	if (get_be16(p + 6) & (IP_FLAG_MF | IP_FRAG_OFFSET))
		return;
	if (get_be32(p + 16) != netif.ip)
		return;
	src = get_be32(p + 12);
	/* Never answer a broadcast or multicast source. */
	if (src == 0 || src == 0xffffffffu || (src >> 28) == 0xe ||
	    (((src ^ netif.ip) & netif.netmask) == 0 &&
	     (src & ~netif.netmask) == ~netif.netmask))
		return;

	switch (p[9]) {
	case IP_PROTO_ICMP:
		icmp_input(src, p + hlen, total - hlen);
		break;
	case IP_PROTO_TCP:
		tcp_input(src, p + hlen, total - hlen);
		break;
	}
}

uint8_t *ip_tx_payload(void)
{
	return net_tx + ETH_HDR_LEN + IP_HDR_LEN;
}

void ip_output(uint32_t dst, uint8_t proto, size_t l4len)
{
	uint8_t *h = net_tx + ETH_HDR_LEN;
	size_t total = IP_HDR_LEN + l4len;
	uint32_t next_hop;

	h[0] = 0x45;		/* version 4, 20-byte header */
	h[1] = 0;
	put_be16(h + 2, (uint16_t)total);
	put_be16(h + 4, next_id++);
	put_be16(h + 6, 0x4000);	/* DF: we never fragment */
	h[8] = IP_TTL;
	h[9] = proto;
	put_be16(h + 10, 0);
	put_be32(h + 12, netif.ip);
	put_be32(h + 16, dst);
	put_be16(h + 10, ip_checksum_fold(ip_checksum_add(0, h, IP_HDR_LEN)));

	next_hop = ((dst ^ netif.ip) & netif.netmask) == 0 ? dst : netif.gateway;
	arp_output(next_hop, net_tx, total);
}
