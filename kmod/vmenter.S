/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VM entry and exit.
 *
 * Contract: svm_vmx_enter(regs, launched) loads the guest GPRs from
 * regs[] (hardware order, RSP slot unused: RSP is in the VMCS), enters the
 * guest with VMLAUNCH (launched == 0) or VMRESUME, and returns 0 after a VM
 * exit with the guest GPRs stored back into regs[], or 1 if the entry
 * instruction failed (VMfail; VM_INSTRUCTION_ERROR tells why). The caller
 * runs with interrupts disabled and the vCPU's VMCS current. HOST_RIP must
 * point at svm_vmx_exit_target; HOST_RSP is written here on every entry.
 */
#include <linux/linkage.h>
#include <asm/asm.h>
#include <asm/unwind_hints.h>
#include <asm/nospec-branch.h>
#ifdef __has_include
#if __has_include(<asm/ibt.h>)
#include <asm/ibt.h>
#endif
#endif
#ifndef ENDBR
#define ENDBR
#endif

#define R_RAX	(0 * 8)
#define R_RCX	(1 * 8)
#define R_RDX	(2 * 8)
#define R_RBX	(3 * 8)
#define R_RBP	(5 * 8)
#define R_RSI	(6 * 8)
#define R_RDI	(7 * 8)
#define R_R8	(8 * 8)
#define R_R9	(9 * 8)
#define R_R10	(10 * 8)
#define R_R11	(11 * 8)
#define R_R12	(12 * 8)
#define R_R13	(13 * 8)
#define R_R14	(14 * 8)
#define R_R15	(15 * 8)

#define VMCS_HOST_RSP	0x6c14

	.section .text, "ax"

SYM_FUNC_START(svm_vmx_enter)
	push	%rbp
	mov	%rsp, %rbp
	push	%r15
	push	%r14
	push	%r13
	push	%r12
	push	%rbx
	/* regs pointer, found again at (%rsp) after the exit */
	push	%rdi

	mov	$VMCS_HOST_RSP, %eax
	vmwrite	%rsp, %rax

	/* ZF tells VMLAUNCH from VMRESUME; movs below keep the flags. */
	test	%sil, %sil

	mov	%rdi, %rax
	mov	R_RCX(%rax), %rcx
	mov	R_RDX(%rax), %rdx
	mov	R_RBX(%rax), %rbx
	mov	R_RBP(%rax), %rbp
	mov	R_RSI(%rax), %rsi
	mov	R_RDI(%rax), %rdi
	mov	R_R8(%rax), %r8
	mov	R_R9(%rax), %r9
	mov	R_R10(%rax), %r10
	mov	R_R11(%rax), %r11
	mov	R_R12(%rax), %r12
	mov	R_R13(%rax), %r13
	mov	R_R14(%rax), %r14
	mov	R_R15(%rax), %r15
	mov	R_RAX(%rax), %rax

	/*
	 * A successful entry comes back at svm_vmx_exit_target through
	 * HOST_RIP, with the stack as it is here.
	 */
	UNWIND_HINT_SAVE
	jnz	.Lresume
	vmlaunch
	jmp	.Lfail
.Lresume:
	vmresume
.Lfail:
	/* VMfail: nothing of the guest ran; drop regs pointer, return 1. */
	add	$8, %rsp
	mov	$1, %eax
	jmp	.Lout

SYM_INNER_LABEL(svm_vmx_exit_target, SYM_L_GLOBAL)
	UNWIND_HINT_RESTORE
	ENDBR
	push	%rax
	mov	8(%rsp), %rax
	popq	R_RAX(%rax)
	mov	%rcx, R_RCX(%rax)
	mov	%rdx, R_RDX(%rax)
	mov	%rbx, R_RBX(%rax)
	mov	%rbp, R_RBP(%rax)
	mov	%rsi, R_RSI(%rax)
	mov	%rdi, R_RDI(%rax)
	mov	%r8, R_R8(%rax)
	mov	%r9, R_R9(%rax)
	mov	%r10, R_R10(%rax)
	mov	%r11, R_R11(%rax)
	mov	%r12, R_R12(%rax)
	mov	%r13, R_R13(%rax)
	mov	%r14, R_R14(%rax)
	mov	%r15, R_R15(%rax)
	add	$8, %rsp
	xor	%eax, %eax

.Lout:
	/* Leave no guest value in a register the host may speculate on. */
	xor	%ecx, %ecx
	xor	%edx, %edx
	xor	%esi, %esi
	xor	%edi, %edi
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET
SYM_FUNC_END(svm_vmx_enter)
