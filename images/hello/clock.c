/*
 * clock.c - TSC and local APIC timer calibration.
 *
 * The PIT runs at a fixed 1.193182 MHz on every PC-compatible machine,
 * including QEMU's microvm, under KVM (in-kernel PIT) and TCG alike.  We
 * read PIT channel 0 counting down (mode 0, interrupt masked at the PIC)
 * and count TSC and APIC timer ticks over the same interval.  Polling the
 * counter avoids the speaker gate at port 0x61 that microvm lacks.  The
 * counter is reloaded at 0xffff and 2 ms are far from its wrap.
 */
#include "clock.h"
#include "cpu.h"
#include "intr.h"
#include "serial.h"

#define PIT_HZ 1193182u
#define PIT_CH0 0x40
#define PIT_CMD 0x43
#define PIT_CALIBRATE_TICKS 2386u	/* 2 ms */
#define PIT_SPIN_LIMIT 10000000u
#define CALIBRATE_TRIES 5

#define LAPIC_TIMER_PERIODIC (1u << 17)
#define LAPIC_TIMER_MASKED (1u << 16)
#define LAPIC_DIVIDE_BY_1 0x0b

extern uint64_t boot_tsc;	/* boot.S */

static uint32_t tsc_khz;

uint64_t udiv64_32(uint64_t n, uint32_t d)
{
	uint32_t hi = (uint32_t)(n >> 32), lo = (uint32_t)n;
	uint32_t qhi = hi / d, rem = hi % d, qlo;

	/* rem < d, so the second divide cannot overflow. */
	__asm__("divl %4" : "=a"(qlo), "=d"(rem) : "a"(lo), "d"(rem), "rm"(d));
	return ((uint64_t)qhi << 32) | qlo;
}

static uint16_t pit_read(void)
{
	uint8_t lo, hi;

	outb(PIT_CMD, 0x00);	/* latch channel 0 */
	lo = inb(PIT_CH0);
	hi = inb(PIT_CH0);
	return (uint16_t)(hi << 8 | lo);
}

struct sample {
	uint16_t pit;
	uint32_t apic;
	uint64_t tsc;		/* midpoint of the bracket */
	uint64_t error;		/* width of the bracket, in TSC ticks */
};

/*
 * Reads the PIT and the APIC timer between two TSC reads.  A vCPU that
 * the host preempts in between shows up as a wide bracket.
 */
static __attribute__((noinline)) void sample(struct sample *s)
{
	uint64_t before = rdtsc(), after;

	s->pit = pit_read();
	s->apic = lapic_read(LAPIC_TIMER_CURRENT);
	after = rdtsc();
	s->tsc = before + (after - before) / 2;
	s->error = after - before;
}

/*
 * One measurement over PIT_CALIBRATE_TICKS.  Returns the TSC and APIC
 * ticks elapsed and the PIT ticks they took, and the total bracket width.
 */
static uint64_t measure(uint64_t *tsc, uint32_t *apic, uint32_t *pit)
{
	struct sample a, b;
	uint32_t spins;

	sample(&a);
	for (spins = 0;; spins++) {
		sample(&b);
		*pit = (uint16_t)(a.pit - b.pit);
		if (*pit >= PIT_CALIBRATE_TICKS)
			break;
		/* Only turns a missing PIT into a panic instead of a hang. */
		if (spins > PIT_SPIN_LIMIT)
			panic("the PIT does not count");
	}
	*tsc = b.tsc - a.tsc;
	*apic = a.apic - b.apic;
	return a.error + b.error;
}

void clock_init(void)
{
	uint64_t tsc = 0, error = ~0ull;
	uint32_t apic = 0, pit = 1, apic_per_ms;
	struct sample warm;

	outb(PIT_CMD, 0x30);	/* channel 0, lo/hi byte, mode 0, binary */
	outb(PIT_CH0, 0xff);
	outb(PIT_CH0, 0xff);

	lapic_write(LAPIC_TIMER_DIVIDE, LAPIC_DIVIDE_BY_1);
	lapic_write(LAPIC_LVT_TIMER, LAPIC_TIMER_MASKED | INTR_VECTOR_TIMER);

	/* A first, discarded sample: TCG translates the code on first use. */
	sample(&warm);

	/*
	 * Keep the tightest of a few tries; stop at the first whose brackets
	 * are within 1/1024 of the interval.  Under TCG on a busy host a try
	 * can be off by a factor of several.
	 */
	for (unsigned i = 0; i < CALIBRATE_TRIES; i++) {
		uint64_t t, e;
		uint32_t a, p;

		lapic_write(LAPIC_TIMER_INIT, 0xffffffffu);
		e = measure(&t, &a, &p);
		if (e < error) {
			error = e;
			tsc = t;
			apic = a;
			pit = p;
		}
		if (error <= tsc / 1024)
			break;
	}

	tsc_khz = (uint32_t)udiv64_32(tsc * PIT_HZ, pit * 1000u);
	apic_per_ms = (uint32_t)udiv64_32((uint64_t)apic * PIT_HZ, pit * 1000u);
	if (tsc_khz == 0 || apic_per_ms == 0)
		panic("clock calibration failed (tsc %u kHz, apic %u/ms)", tsc_khz,
		      apic_per_ms);

	lapic_write(LAPIC_LVT_TIMER, LAPIC_TIMER_PERIODIC | INTR_VECTOR_TIMER);
	lapic_write(LAPIC_TIMER_INIT, apic_per_ms);
}

uint32_t clock_tsc_khz(void)
{
	return tsc_khz;
}

uint32_t clock_us(void)
{
	return (uint32_t)udiv64_32((rdtsc() - boot_tsc) * 1000u, tsc_khz);
}

uint32_t clock_ms(void)
{
	return (uint32_t)udiv64_32(rdtsc() - boot_tsc, tsc_khz);
}
