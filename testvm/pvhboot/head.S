/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pvhboot entry: Multiboot v1 header, stack, call pvhboot_main(magic, info),
 * which loads vmlinux, fills boot_params and the identity map and returns
 * the kernel's startup_64 (physical). Then the x86-64 boot protocol: long
 * mode with paging on the identity map of the first 4 GiB, a flat 64-bit
 * code segment, %rsi = boot_params, jump to startup_64 (which loads its own
 * GDT, IDT, page tables and stack).
 */
#define MB_MAGIC	0x1BADB002
#define MB_FLAGS	0x00000003	/* page-align modules, memory map */

#define CR0_PE		0x00000001
#define CR0_PG		0x80000000
#define CR4_PAE		0x00000020
#define MSR_EFER	0xc0000080
#define EFER_LME	0x00000100
#define BOOT_CS		0x08
#define BOOT_DS		0x10

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.text
	.code32
	.globl _start
_start:
	cli
	cld
	movl	$stack_top, %esp
	pushl	%ebx			/* Multiboot information */
	pushl	%eax			/* Multiboot magic */
	call	pvhboot_main
	movl	%eax, %edi		/* startup_64 */
	movl	boot_params_addr, %esi

	lgdt	gdt_desc
	movl	%cr4, %eax
	orl	$CR4_PAE, %eax
	movl	%eax, %cr4
	movl	boot_cr3, %eax
	movl	%eax, %cr3
	movl	$MSR_EFER, %ecx
	rdmsr
	orl	$EFER_LME, %eax
	wrmsr
	movl	%cr0, %eax
	orl	$(CR0_PG | CR0_PE), %eax
	movl	%eax, %cr0
	ljmp	$BOOT_CS, $1f

	.code64
1:
	movl	$BOOT_DS, %eax
	movl	%eax, %ds
	movl	%eax, %es
	movl	%eax, %ss
	movl	%eax, %fs
	movl	%eax, %gs
	/* 32-bit moves clear the upper halves, undefined after the switch. */
	movl	%edi, %eax
	movl	%esi, %esi
	jmp	*%rax

	.section .rodata
	.align 8
gdt:
	.quad	0
	.quad	0x00af9a000000ffff	/* BOOT_CS: 64-bit code, DPL 0 */
	.quad	0x00cf92000000ffff	/* BOOT_DS: flat data */
gdt_desc:
	.word	gdt_desc - gdt - 1
	.long	gdt

	.bss
	.align 16
	.space 16384
stack_top:

	.section .note.GNU-stack, "", @progbits
