/*
 * serial.c - 16550 UART console on COM1.
 */
#include <stdarg.h>

#include "cpu.h"
#include "fmt.h"
#include "serial.h"

#define COM1 0x3f8

enum {
	UART_DATA = 0,	/* THR/RBR, or divisor low with DLAB */
	UART_IER = 1,	/* interrupt enable, or divisor high with DLAB */
	UART_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
};

#define LSR_THR_EMPTY 0x20

void serial_init(void)
{
	outb(COM1 + UART_IER, 0x00);	/* polled: no UART interrupts */
	outb(COM1 + UART_LCR, 0x80);	/* DLAB on to set the divisor */
	outb(COM1 + UART_DATA, 1);	/* 115200 baud */
	outb(COM1 + UART_IER, 0);
	outb(COM1 + UART_LCR, 0x03);	/* 8N1, DLAB off */
	outb(COM1 + UART_FCR, 0x07);	/* enable and clear the FIFOs */
	outb(COM1 + UART_MCR, 0x03);	/* DTR, RTS */
}

static void serial_putc(char c)
{
	/*
	 * Bounded wait: an emulated UART is always ready, and a missing one
	 * (reads as 0xff or 0) must not hang the kernel.
	 */
	for (unsigned spins = 0; spins < 100000; spins++) {
		if (inb(COM1 + UART_LSR) & LSR_THR_EMPTY)
			break;
		cpu_relax();
	}
	outb(COM1 + UART_DATA, (uint8_t)c);
}

static void serial_write(const char *s, int n)
{
	for (int i = 0; i < n; i++) {
		if (s[i] == '\n')
			serial_putc('\r');
		serial_putc(s[i]);
	}
}

static void vprint(const char *fmt, va_list ap)
{
	char line[256];
	int n = fmt_vsnprintf(line, sizeof(line), fmt, ap);

	serial_write(line, n < (int)sizeof(line) ? n : (int)sizeof(line) - 1);
}

void kprintf(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
}

void panic(const char *fmt, ...)
{
	va_list ap;

	kprintf("summon-hello: panic: ");
	va_start(ap, fmt);
	vprint(fmt, ap);
	va_end(ap);
	kprintf("\n");
	cpu_halt_forever();
}
