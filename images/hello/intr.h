/*
 * intr.h - interrupt descriptor table, the 8259 PICs and the local APIC.
 *
 * The kernel polls its devices; interrupts exist only to wake the CPU from
 * hlt when idle (the local APIC timer) and to report CPU exceptions.
 */
#ifndef HELLO_INTR_H
#define HELLO_INTR_H

#include <stdint.h>

/* The CPU state pushed by the stubs in boot.S, lowest address first. */
struct intr_frame {
	uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax;	/* pushal */
	uint32_t vector, error;
	uint32_t eip, cs, eflags;
};

/*
 * Loads the IDT, remaps the legacy PICs away from the exception vectors
 * and masks them, and software-enables the local APIC.  Interrupts stay
 * disabled (IF=0) except inside intr_idle().
 */
void intr_init(void);

/* Vector of the local APIC timer (see clock.c). */
#define INTR_VECTOR_TIMER 0x40

/* Local APIC register access (offsets from the APIC base). */
uint32_t lapic_read(uint32_t reg);
void lapic_write(uint32_t reg, uint32_t v);

#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CURRENT 0x390
#define LAPIC_TIMER_DIVIDE 0x3e0

/*
 * Halts until the next interrupt (at the latest the next timer tick), then
 * returns with interrupts disabled again.
 */
void intr_idle(void);

/* Called from boot.S for every vector. */
void intr_dispatch(struct intr_frame *f);

#endif
