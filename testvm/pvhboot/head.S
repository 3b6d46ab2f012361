/* SPDX-License-Identifier: GPL-2.0 */
/*
 * pvhboot entry: Multiboot v1 header, stack, call pvhboot_main(magic, info).
 * pvhboot_main() returns the PVH entry point; the start_info address is in
 * pvh_start_info_addr.
 */
#define MB_MAGIC	0x1BADB002
#define MB_FLAGS	0x00000003	/* page-align modules, memory map */

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.text
	.globl _start
_start:
	cli
	cld
	movl	$stack_top, %esp
	pushl	%ebx			/* Multiboot information */
	pushl	%eax			/* Multiboot magic */
	call	pvhboot_main
	/* Linux PVH entry: 32-bit protected mode, paging off, EBX = start_info. */
	movl	pvh_start_info_addr, %ebx
	jmp	*%eax

	.bss
	.align 16
	.space 16384
stack_top:

	.section .note.GNU-stack, "", @progbits
