/*
 * cmdline.h - the kernel command line contract.
 *
 *   <kernel path> ip=A.B.C.D/N gw=A.B.C.D
 *
 * The first word is the kernel path QEMU's Multiboot loader puts there;
 * words other than ip= and gw= are ignored so that a template may add its
 * own.  N is 1-31 and the gateway must be on the guest's subnet.
 */
#ifndef HELLO_CMDLINE_H
#define HELLO_CMDLINE_H

#include <stdint.h>

struct cmdline_net {
	uint32_t ip;		/* host byte order */
	uint32_t prefix;	/* 1-31 */
	uint32_t gateway;
};

/*
 * Parses cmdline into *out.  Returns 0, or -1 with *err pointing at a
 * static message naming what is missing or wrong.
 */
int cmdline_parse(const char *cmdline, struct cmdline_net *out, const char **err);

#endif
