/* SPDX-License-Identifier: GPL-2.0 */
/*
 * minios entry and low-level glue.
 *   _start: multiboot v1 entry (32-bit protected mode, paging off,
 *           EAX = 0x2BADB002, EBX = multiboot info): boot stack, kmain().
 *   vector_N: interrupt/exception stubs building struct trapframe, then
 *           trap(tf); trapret pops it and IRETs.
 *   swtch(&old_ksp, new_ksp): saves the callee-saved registers on the
 *           current kernel stack and resumes another one.
 *   forkret: first return of a new process: finish_switch(), trapret.
 */
#define MB_MAGIC	0x1BADB002
#define MB_FLAGS	0x00000003	/* page-aligned modules, memory info */
#define KDATA_SEL	0x10

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
	movl	$boot_stack_top, %esp
	pushl	$0
	popfl
	pushl	%ebx
	pushl	%eax
	call	kmain
1:	cli
	hlt
	jmp	1b

/* vectors without an error code push a 0 so the frame is uniform */
.macro VEC_NOERR n
	.globl vector_\n
vector_\n:
	pushl	$0
	pushl	$\n
	jmp	trap_common
.endm
.macro VEC_ERR n
	.globl vector_\n
vector_\n:
	pushl	$\n
	jmp	trap_common
.endm

VEC_NOERR 0
VEC_NOERR 1
VEC_NOERR 2
VEC_NOERR 3
VEC_NOERR 4
VEC_NOERR 5
VEC_NOERR 6
VEC_NOERR 7
VEC_ERR 8
VEC_NOERR 9
VEC_ERR 10
VEC_ERR 11
VEC_ERR 12
VEC_ERR 13
VEC_ERR 14
VEC_NOERR 15
VEC_NOERR 16
VEC_ERR 17
VEC_NOERR 18
VEC_NOERR 19
VEC_NOERR 20
VEC_ERR 21
VEC_NOERR 32
VEC_NOERR 33
VEC_NOERR 128
VEC_NOERR 255
	.globl vector_other
vector_other:
	pushl	$0
	pushl	$256
	jmp	trap_common

trap_common:
	pushal
	pushl	%ds
	pushl	%es
	pushl	%fs
	pushl	%gs
	movw	$KDATA_SEL, %ax
	movw	%ax, %ds
	movw	%ax, %es
	movw	%ax, %fs
	movw	%ax, %gs
	cld
	pushl	%esp
	call	trap
	addl	$4, %esp
	.globl trapret
trapret:
	popl	%gs
	popl	%fs
	popl	%es
	popl	%ds
	popal
	addl	$8, %esp
	iret

	.globl swtch
swtch:
	movl	4(%esp), %eax
	movl	8(%esp), %edx
	pushl	%ebp
	pushl	%ebx
	pushl	%esi
	pushl	%edi
	movl	%esp, (%eax)
	movl	%edx, %esp
	popl	%edi
	popl	%esi
	popl	%ebx
	popl	%ebp
	ret

	.globl forkret
forkret:
	call	finish_switch
	jmp	trapret

	.bss
	.align 16
	.space 16384
	.globl boot_stack_top
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
