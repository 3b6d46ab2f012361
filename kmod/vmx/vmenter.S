/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VM entry and exit.
 *
 * Contract: shv_vmx_enter(regs, launched) loads the guest GPRs from
 * regs[] (hardware order, RSP slot unused: RSP is in the VMCS), enters the
 * guest with VMLAUNCH (launched == 0) or VMRESUME, and returns 0 after a VM
 * exit with the guest GPRs stored back into regs[], or 1 if the entry
 * instruction failed (VMfail; VM_INSTRUCTION_ERROR tells why) or faulted
 * (this CPU is not in VMX operation: reboot or hotplug took it out). The
 * caller runs with interrupts disabled and the vCPU's VMCS current.
 * HOST_RIP must point at shv_vmx_exit_target; HOST_RSP is written here on
 * every entry.
 *
 * Speculation (Documentation/architecture.rst, "Host safety"): VERW right
 * before entry when the kernel clears CPU buffers; after exit, before the
 * first RET: every GPR but RSP/RBX zeroed, the return stack buffer filled
 * as the kernel asks (X86_FEATURE_RSB_VMEXIT, _LITE), the host SPEC_CTRL
 * rewritten under legacy kernel IBRS, branch history cleared when the
 * kernel asks (X86_FEATURE_CLEAR_BHB_LOOP_ON_VMEXIT).
 */
#include <linux/linkage.h>
#include <asm/asm.h>
#include <asm/msr-index.h>
#include <asm/percpu.h>
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
#include "compat.h"

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

SYM_FUNC_START(shv_vmx_enter)
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
.Lhost_rsp:
	vmwrite	%rsp, %rax
	jna	.Lvmfail

	/* CF tells VMRESUME from VMLAUNCH; VERW below clobbers only ZF. */
	bt	$0, %esi

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

	/* VERW (clobbers ZF) when the kernel clears CPU buffers (compat.h) */
	ALTERNATIVE_2 "jmp .Lshv_skip_verw", "", X86_FEATURE_CLEAR_CPU_BUF, "", SHV_FEATURE_CLEAR_CPU_BUF_VM
	verw	x86_verw_sel(%rip)
.Lshv_skip_verw:

	/*
	 * A successful entry comes back at shv_vmx_exit_target through
	 * HOST_RIP, with the stack as it is here.
	 */
	UNWIND_HINT_SAVE
	jc	.Lresume
.Llaunch:
	vmlaunch
	jmp	.Lvmfail
.Lresume:
	vmresume
	jmp	.Lvmfail

	/* not in VMX operation (#UD): report it like a VMfail */
	_ASM_EXTABLE(.Lhost_rsp, .Lvmfail)
	_ASM_EXTABLE(.Llaunch, .Lvmfail)
	_ASM_EXTABLE(.Lresume, .Lvmfail)

SYM_INNER_LABEL(shv_vmx_exit_target, SYM_L_GLOBAL)
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
	/* return value, kept in RBX until the end */
	xor	%ebx, %ebx

.Lclear_regs:
	/* drop the regs pointer */
	pop	%rax
	/*
	 * Leave no guest value in a register the host may speculate on,
	 * including those about to be reloaded from the stack.
	 */
	xor	%eax, %eax
	xor	%ecx, %ecx
	xor	%edx, %edx
	xor	%ebp, %ebp
	xor	%esi, %esi
	xor	%edi, %edi
	xor	%r8d, %r8d
	xor	%r9d, %r9d
	xor	%r10d, %r10d
	xor	%r11d, %r11d
	xor	%r12d, %r12d
	xor	%r13d, %r13d
	xor	%r14d, %r14d
	xor	%r15d, %r15d

	/*
	 * Before the first unbalanced RET: refill the RSB (retpoline or
	 * IBRS; one CALL under eIBRS for PBRSB), as the kernel chose.
	 */
	FILL_RETURN_BUFFER %rcx, RSB_CLEAR_LOOPS, X86_FEATURE_RSB_VMEXIT, \
			   X86_FEATURE_RSB_VMEXIT_LITE

	/*
	 * SPEC_CTRL: the guest never sees the MSR (CPUID hides it, RDMSR and
	 * WRMSR of it raise #GP), so it ran with the host's value and the
	 * exit left that in place. Legacy IBRS alone needs IBRS written again
	 * after running less privileged code.
	 */
	ALTERNATIVE "jmp .Lspec_ctrl_done", "", X86_FEATURE_KERNEL_IBRS
	mov	$MSR_IA32_SPEC_CTRL, %ecx
	movl	PER_CPU_VAR(x86_spec_ctrl_current), %eax
	xor	%edx, %edx
	wrmsr
	lfence
.Lspec_ctrl_done:

	SHV_VMEXIT_CLEAR_BHB

	mov	%rbx, %rax
	pop	%rbx
	pop	%r12
	pop	%r13
	pop	%r14
	pop	%r15
	pop	%rbp
	RET

.Lvmfail:
	mov	$1, %ebx
	jmp	.Lclear_regs
SYM_FUNC_END(shv_vmx_enter)
