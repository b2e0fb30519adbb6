/*
 * net_icmp.c - echo reply (RFC 792).
 */
#include "icmp.h"
#include "ip.h"
#include "kstring.h"
#include "net.h"

#define ICMP_ECHO_REPLY 0
#define ICMP_ECHO_REQUEST 8
#define ICMP_HDR_LEN 8

void icmp_input(uint32_t src, const uint8_t *msg, size_t len)
{
	uint8_t *out = ip_tx_payload();

	if (len < ICMP_HDR_LEN || len > IP_PAYLOAD_MAX || msg[0] != ICMP_ECHO_REQUEST ||
	    msg[1] != 0 || ip_checksum_fold(ip_checksum_add(0, msg, len)) != 0)
		return;
	/* Same identifier, sequence and data; only type and checksum change. */
	memcpy(out, msg, len);
	out[0] = ICMP_ECHO_REPLY;
	put_be16(out + 2, 0);
	put_be16(out + 2, ip_checksum_fold(ip_checksum_add(0, out, len)));
	ip_output(src, IP_PROTO_ICMP, len);
}
