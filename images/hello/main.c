/*
 * main.c - summon-hello: boot, configure, serve HTTP forever.
 *
 * One CPU, one address space, no scheduler: a loop polls the NIC and runs
 * the timers.  While traffic flows the loop spins; after SPIN_MS without
 * any it halts until the next 1 ms timer tick, so an idle instance costs
 * its host almost nothing.
 */
#include <stdint.h>

#include "clock.h"
#include "cmdline.h"
#include "cpu.h"
#include "fmt.h"
#include "http.h"
#include "intr.h"
#include "multiboot.h"
#include "net.h"
#include "serial.h"
#include "virtio_net.h"

#define HELLO_VERSION "0.1.0"
#define CMDLINE_MAX 512
#define SPIN_MS 10

void kmain(uint32_t magic, const struct multiboot_info *mbi);

static char cmdline[CMDLINE_MAX];

/* Copies the command line before anything can overwrite the loader's copy. */
static void save_cmdline(uint32_t magic, const struct multiboot_info *mbi)
{
	const char *src;
	unsigned i = 0;

	if (magic != MULTIBOOT_BOOTLOADER_MAGIC || !(mbi->flags & MULTIBOOT_INFO_CMDLINE))
		return;
	src = (const char *)(uintptr_t)mbi->cmdline;
	while (src[i] && i < CMDLINE_MAX - 1) {
		cmdline[i] = src[i];
		i++;
	}
	cmdline[i] = '\0';
}

static __attribute__((noreturn)) void fail(const char *what, const char *why)
{
	kprintf("summon-hello: error: %s: %s; halted\n", what, why);
	cpu_halt_forever();
}

static __attribute__((noreturn)) void serve_forever(void)
{
	uint32_t last_tick = clock_ms(), last_work = last_tick;

	for (;;) {
		uint32_t now;

		if (virtio_net_poll(eth_input))
			last_work = clock_ms();
		now = clock_ms();
		if (now != last_tick) {
			last_tick = now;
			net_tick(now);
			http_tick(now);
		}
		if (now - last_work >= SPIN_MS)
			intr_idle();
		else
			cpu_relax();
	}
}

void kmain(uint32_t magic, const struct multiboot_info *mbi)
{
	struct cmdline_net cfg;
	const char *err;
	char ip[16], gw[16];
	const uint8_t *mac;

	save_cmdline(magic, mbi);
	serial_init();
	kprintf("summon-hello " HELLO_VERSION ": booting\n");
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		fail("boot", "not started by a Multiboot loader");

	intr_init();
	clock_init();
	if (cmdline_parse(cmdline, &cfg, &err) < 0)
		fail("command line", err);
	if (virtio_net_init(&err) < 0)
		fail("network", err);

	mac = virtio_net_mac();
	net_init(cfg.ip, cfg.prefix, cfg.gateway, mac);
	http_init();

	fmt_ipv4(ip, cfg.ip);
	fmt_ipv4(gw, cfg.gateway);
	kprintf("summon-hello: %s mac %02x:%02x:%02x:%02x:%02x:%02x ip %s/%u gw %s tsc %u kHz\n",
		virtio_net_transport(), mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], ip,
		cfg.prefix, gw, clock_tsc_khz());
	kprintf("summon-hello: ready ip=%s boot_us=%u\n", ip, clock_us());
	serve_forever();
}
