/*
 * boot.S - Multiboot entry, flat GDT and the interrupt entry stubs.
 *
 * The loader leaves us in 32-bit protected mode with paging off and
 * interrupts disabled, but with a GDT we must not rely on; we install our
 * own so that interrupt returns reload valid selectors.
 */

#define MB_HEADER_MAGIC 0x1badb002
#define MB_HEADER_FLAGS 0x00000003	/* page-aligned modules, memory info */

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10

	.section .multiboot, "a"
	.align 4
	.long MB_HEADER_MAGIC
	.long MB_HEADER_FLAGS
	.long -(MB_HEADER_MAGIC + MB_HEADER_FLAGS)

	.section .data
	.align 8
/* TSC at entry: boot_us in the readiness line counts from here. */
	.globl boot_tsc
boot_tsc:
	.quad 0

gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* KERNEL_CS: base 0, 4 GiB, exec/read */
	.quad 0x00cf92000000ffff	/* KERNEL_DS: base 0, 4 GiB, read/write */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt

	.section .text
	.globl _start
_start:
	/* EAX/EBX carry the Multiboot magic and info; keep them aside. */
	movl %eax, %esi
	movl %ebx, %ebp
	rdtsc
	movl %eax, boot_tsc
	movl %edx, boot_tsc + 4

	lgdt gdt_desc
	ljmp $KERNEL_CS, $1f
1:	movw $KERNEL_DS, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl $stack_top, %esp
	cld

	/* The ELF loader is not obliged to clear .bss. */
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	rep stosb

	pushl %ebp
	pushl %esi
	call kmain
	jmp cpu_halt

	.globl cpu_halt
cpu_halt:
	cli
	hlt
	jmp cpu_halt

/*
 * One 16-byte stub per vector, so that intr.c finds stub n at
 * intr_stubs + 16 * n.  Each pushes a zero where the CPU pushes no error
 * code, then the vector number, giving struct intr_frame one layout.
 */
	.align 16
	.globl intr_stubs
intr_stubs:
	.set vec, 0
	.rept 256
	.align 16
	.if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || \
	    (vec == 21) || (vec == 29) || (vec == 30)
	.else
	pushl $0
	.endif
	pushl $vec
	jmp intr_common
	.set vec, vec + 1
	.endr

intr_common:
	pushal
	cld
	pushl %esp
	call intr_dispatch
	addl $4, %esp
	popal
	addl $8, %esp	/* vector and error code */
	iret

	.section .bss
	.align 16
stack:
	.skip 65536
stack_top:

	/* No executable stack. */
	.section .note.GNU-stack, "", @progbits
