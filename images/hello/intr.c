/*
 * intr.c - IDT, exception reporting, PIC masking, local APIC.
 */
#include "cpu.h"
#include "intr.h"
#include "serial.h"

#define KERNEL_CS 0x08
#define GATE_INTERRUPT_32 0x8e	/* present, ring 0, 32-bit interrupt gate */

#define PIC1_CMD 0x20
#define PIC1_DATA 0x21
#define PIC2_CMD 0xa0
#define PIC2_DATA 0xa1
#define PIC_VECTOR_BASE 0x20	/* IRQ 0-15 -> vectors 0x20-0x2f */

#define MSR_APIC_BASE 0x1b

struct idt_entry {
	uint16_t offset_lo;
	uint16_t selector;
	uint8_t zero;
	uint8_t type;
	uint16_t offset_hi;
} __attribute__((packed));

static struct idt_entry idt[256] __attribute__((aligned(8)));
static uintptr_t lapic_base;

extern char intr_stubs[];

uint32_t lapic_read(uint32_t reg)
{
	return mmio_read32(lapic_base + reg);
}

void lapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(lapic_base + reg, v);
}

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

/*
 * Firmware may leave the PICs on vectors 0x08-0x0f, where IRQ 0 would look
 * like a double fault.  Move them out of the way, then mask every line:
 * nothing here is interrupt driven.
 */
static void pic_disable(void)
{
	outb(PIC1_CMD, 0x11);	/* ICW1: init, ICW4 follows */
	outb(PIC2_CMD, 0x11);
	outb(PIC1_DATA, PIC_VECTOR_BASE);
	outb(PIC2_DATA, PIC_VECTOR_BASE + 8);
	outb(PIC1_DATA, 0x04);	/* slave on IRQ 2 */
	outb(PIC2_DATA, 0x02);
	outb(PIC1_DATA, 0x01);	/* 8086 mode */
	outb(PIC2_DATA, 0x01);
	outb(PIC1_DATA, 0xff);
	outb(PIC2_DATA, 0xff);
}

void intr_init(void)
{
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) idtr = {sizeof(idt) - 1, (uint32_t)(uintptr_t)idt};

	for (unsigned v = 0; v < 256; v++) {
		uint32_t stub = (uint32_t)(uintptr_t)(intr_stubs + 16 * v);

		idt[v].offset_lo = (uint16_t)stub;
		idt[v].selector = KERNEL_CS;
		idt[v].zero = 0;
		idt[v].type = GATE_INTERRUPT_32;
		idt[v].offset_hi = (uint16_t)(stub >> 16);
	}
	__asm__ volatile("lidt %0" : : "m"(idtr));

	pic_disable();

	lapic_base = (uintptr_t)(rdmsr(MSR_APIC_BASE) & 0xfffff000u);
	lapic_write(LAPIC_SVR, 0x100 | 0xff);	/* enable, spurious vector 0xff */
}

void intr_idle(void)
{
	/* sti's one-instruction shadow means no wake-up is lost before hlt. */
	__asm__ volatile("sti; hlt; cli" : : : "memory");
}

void intr_dispatch(struct intr_frame *f)
{
	if (f->vector < 32)
		panic("exception %u error %x at eip %x", f->vector, f->error, f->eip);
	/* Spurious APIC and PIC interrupts must not be acknowledged. */
	if (f->vector == 0xff || f->vector == PIC_VECTOR_BASE + 7 ||
	    f->vector == PIC_VECTOR_BASE + 15)
		return;
	/* The timer only needs to end hlt; the main loop does the rest. */
	lapic_write(LAPIC_EOI, 0);
}
