/*
 * clock.h - time since boot, from the TSC calibrated against the PIT, and
 * a 1 ms local APIC tick that wakes the idle CPU.
 */
#ifndef HELLO_CLOCK_H
#define HELLO_CLOCK_H

#include <stdint.h>

/*
 * Measures the TSC and local APIC timer rates against the 8254 PIT
 * (~2 ms) and starts the periodic APIC tick.  Needs intr_init() first.
 * Panics if either counter does not advance.
 */
void clock_init(void);

/* Microseconds since the kernel's first instruction (boot_tsc). */
uint32_t clock_us(void);

/* Milliseconds since the kernel's first instruction; wraps after 49 days. */
uint32_t clock_ms(void);

/* TSC frequency in kHz, as calibrated. */
uint32_t clock_tsc_khz(void);

/* Divides a 64-bit value by a 32-bit one without libgcc's __udivdi3. */
uint64_t udiv64_32(uint64_t n, uint32_t d);

#endif
