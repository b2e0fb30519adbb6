/*
 * multiboot.h - the parts of the Multiboot 1 contract the kernel uses.
 *
 * QEMU's -kernel loads a 32-bit ELF carrying this header and enters it in
 * protected mode, paging off, with EAX = MULTIBOOT_BOOTLOADER_MAGIC and
 * EBX pointing at struct multiboot_info.
 */
#ifndef HELLO_MULTIBOOT_H
#define HELLO_MULTIBOOT_H

#include <stdint.h>

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2badb002
#define MULTIBOOT_INFO_CMDLINE (1u << 2)

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower;
	uint32_t mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;	/* physical address of a NUL-terminated string */
};

#endif
