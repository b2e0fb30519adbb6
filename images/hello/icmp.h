/*
 * icmp.h - ICMP echo (ping) replies; other ICMP messages are ignored.
 */
#ifndef HELLO_ICMP_H
#define HELLO_ICMP_H

#include <stddef.h>
#include <stdint.h>

/* Handles one ICMP message from src (the IPv4 payload). */
void icmp_input(uint32_t src, const uint8_t *msg, size_t len);

#endif
