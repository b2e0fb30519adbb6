/*
 * serial.h - the console: COM1 (I/O port 0x3f8), 115200 8N1, polled.
 *
 * Every machine summon uses (microvm, pc) has a 16550 at COM1, and the
 * libvirt templates send it to a log file that summond may watch for the
 * readiness line.
 */
#ifndef HELLO_SERIAL_H
#define HELLO_SERIAL_H

/* Programs the UART.  Call once, before any other console function. */
void serial_init(void);

/* Prints a formatted line fragment (see fmt.h for the conversions). */
void kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints "summon-hello: panic: ...", then halts the CPU for good. */
__attribute__((noreturn)) void panic(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

#endif
