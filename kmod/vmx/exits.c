// SPDX-License-Identifier: GPL-2.0
/*
 * VM-exit handlers.
 *
 * Contract: shv_handle_exit() returns >0 to re-enter the guest, 0 to
 * return to userspace with run->exit_reason filled, <0 for an ioctl error.
 * Every exit reason either has a handler here or ends the run with
 * SHADOWVM_EXIT_INTERNAL_ERROR/UNHANDLED_EXIT (never a host crash, never a
 * silent loop). Port I/O and the completion of userspace exits are in
 * io.c; a #PF goes to the MMU, which says what is left to do here.
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/mm.h>
#include <asm/processor-flags.h>
#include <asm/cpu.h>
#include "shadowvm.h"
#include "vmx_defs.h"
#include "exits.h"

void shv_internal_error(struct shv_vcpu *vcpu, u32 sub, int n, const u64 *data)
{
	struct shadowvm_run *run = vcpu->run;
	int i;

	run->exit_reason = SHADOWVM_EXIT_INTERNAL_ERROR;
	run->internal.suberror = sub;
	run->internal.ndata = min(n, 16);
	for (i = 0; i < run->internal.ndata; i++)
		run->internal.data[i] = data[i];
}

/* ---- CPUID, HLT, simple instructions ---- */

static int handle_cpuid(struct shv_vcpu *vcpu)
{
	u32 out[4];

	shv_stat_inc(vcpu, EXIT_CPUID);
	shv_cpuid(vcpu, (u32)vcpu->regs[SHV_RAX], (u32)vcpu->regs[SHV_RCX], out);
	vcpu->regs[SHV_RAX] = out[0];
	vcpu->regs[SHV_RBX] = out[1];
	vcpu->regs[SHV_RCX] = out[2];
	vcpu->regs[SHV_RDX] = out[3];
	shv_skip_insn(vcpu);
	return 1;
}

/*
 * VMCALL (Documentation/uapi.rst, "Hypercalls"): never #UD. The number is
 * in RAX, the result goes to RAX; CPL > 0 gets SHADOWVM_HC_EPERM, an
 * unknown number SHADOWVM_HC_ENOSYS; PING is answered here, the runner's
 * range exits to userspace when the VM asked for it.
 */
static int handle_vmcall(struct shv_vcpu *vcpu)
{
	static const int arg_reg[6] = { SHV_RBX, SHV_RCX, SHV_RDX, SHV_RSI, SHV_RDI, SHV_R8 };
	bool l64 = cs_64bit(vcpu);
	u64 nr = vcpu->regs[SHV_RAX];
	s64 ret = SHADOWVM_HC_ENOSYS;
	int i;

	shv_stat_inc(vcpu, HYPERCALLS);
	if (!l64)
		nr = (u32)nr;
	shv_skip_insn(vcpu);
	if (shv_cpl(vcpu)) {
		ret = SHADOWVM_HC_EPERM;
	} else if (nr == SHADOWVM_HC_PING) {
		ret = 0;
	} else if (nr >= SHADOWVM_HC_USER_FIRST && nr <= SHADOWVM_HC_USER_LAST &&
		   (vcpu->vm->cfg.flags & SHADOWVM_VM_USER_HYPERCALLS)) {
		struct shadowvm_run *run = vcpu->run;

		run->exit_reason = SHADOWVM_EXIT_HYPERCALL;
		run->hypercall.nr = nr;
		for (i = 0; i < 6; i++)
			run->hypercall.args[i] = l64 ? vcpu->regs[arg_reg[i]] :
						 (u32)vcpu->regs[arg_reg[i]];
		if (!l64)
			run->hypercall.args[5] = 0;	/* no R8 outside 64-bit code */
		run->hypercall.ret = (u64)(s64)SHADOWVM_HC_ENOSYS;
		vcpu->evt.hypercall_pending = true;
		shv_stat_inc(vcpu, USER_EXIT_HYPERCALL);
		return 0;
	}
	vcpu->regs[SHV_RAX] = l64 ? (u64)ret : (u32)ret;
	return 1;
}

static int inject_gp(struct shv_vcpu *vcpu)
{
	shv_queue_exception(vcpu, GP_VECTOR, true, 0);
	return 1;
}

/* ---- control and debug registers ---- */

static int handle_cr(struct shv_vcpu *vcpu)
{
	unsigned long q = vmcs_read(EXIT_QUALIFICATION);
	int cr = q & 15, type = (q >> 4) & 3, reg = (q >> 8) & 15;
	unsigned long val;
	int r = 0;

	shv_stat_inc(vcpu, EXIT_CR_ACCESS);
	shv_sync_cr0_ts(vcpu);
	switch (type) {
	case 0:		/* MOV to CR */
		val = get_gpr(vcpu, reg);
		if (!cs_64bit(vcpu))
			val = (u32)val;
		switch (cr) {
		case 0:
			r = shv_set_cr0(vcpu, val);
			break;
		case 3:
			shv_stat_inc(vcpu, EXIT_CR3_LOAD);
			r = shv_set_cr3(vcpu, val);
			break;
		case 4:
			r = shv_set_cr4(vcpu, val);
			break;
		case 8:
			if (val > 15)
				r = 1;
			else
				shv_lapic_set_cr8(vcpu, val);	/* TPR[7:4] */
			break;
		default:
			return inject_ud(vcpu);
		}
		break;
	case 1:		/* MOV from CR */
		if (cr == 3) {
			shv_stat_inc(vcpu, EXIT_CR3_STORE);
			set_gpr(vcpu, reg, vcpu->cr3);
		} else if (cr == 8) {
			set_gpr(vcpu, reg, shv_lapic_get_cr8(vcpu));
		} else {
			return inject_ud(vcpu);
		}
		break;
	case 2:		/* CLTS */
		r = shv_set_cr0(vcpu, vcpu->cr0 & ~X86_CR0_TS);
		break;
	case 3:		/* LMSW: only PE, MP, EM, TS; cannot clear PE */
		val = (q >> 16) & 0xf;
		val |= vcpu->cr0 & X86_CR0_PE;
		r = shv_set_cr0(vcpu, (vcpu->cr0 & ~0xeUL) | val);
		break;
	}
	if (r == -EOPNOTSUPP) {
		u64 d[2] = { shv_rip(vcpu), vcpu->cr0 };

		shv_info_rl("guest left protected mode with segments real mode cannot hold\n");
		shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_BAD_STATE, 2, d);
		return 0;
	}
	if (r < 0)
		return r;
	if (r > 0)
		return inject_gp(vcpu);
	shv_skip_insn(vcpu);
	return 1;
}

/* MOV from (from) or to DRn, GPR reg; also real mode's (vmx/rmode.c) */
int shv_dr_access(struct shv_vcpu *vcpu, int dr, bool from, int reg)
{
	unsigned long val;

	shv_stat_inc(vcpu, EXIT_DR_ACCESS);
	if (shv_cpl(vcpu))
		return inject_gp(vcpu);
	if (dr == 4 || dr == 5) {
		if (vcpu->cr4 & X86_CR4_DE)
			return inject_ud(vcpu);
		dr += 2;
	}
	if (from) {
		if (dr < 4)
			val = vcpu->dr[dr];
		else if (dr == 6)
			val = vcpu->dr6 | 0xffff0ff0;
		else
			val = vcpu->dr7;
		set_gpr(vcpu, reg, val);
	} else {
		val = get_gpr(vcpu, reg);
		if (dr < 4) {
			vcpu->dr[dr] = val;	/* loaded before entry when DR7 arms one */
		} else if (dr == 6) {
			if (val >> 32)
				return inject_gp(vcpu);
			vcpu->dr6 = val;
		} else {
			if (val >> 32)
				return inject_gp(vcpu);
			/* loaded at entry (VMCS); DR0-3 by run.c when armed */
			vcpu->dr7 = (val & 0xffff2bff) | 0x400;
			vmcs_write(GUEST_DR7, vcpu->dr7);
		}
	}
	shv_skip_insn(vcpu);
	return 1;
}

static int handle_dr(struct shv_vcpu *vcpu)
{
	unsigned long q = vmcs_read(EXIT_QUALIFICATION);

	return shv_dr_access(vcpu, q & 7, (q >> 4) & 1, (q >> 8) & 15);
}

/* ---- MSRs ---- */

static int handle_rdmsr(struct shv_vcpu *vcpu)
{
	u64 val;

	shv_stat_inc(vcpu, EXIT_MSR_READ);
	if (shv_get_msr(vcpu, (u32)vcpu->regs[SHV_RCX], &val))
		return inject_gp(vcpu);
	vcpu->regs[SHV_RAX] = (u32)val;
	vcpu->regs[SHV_RDX] = val >> 32;
	shv_skip_insn(vcpu);
	return 1;
}

static int handle_wrmsr(struct shv_vcpu *vcpu)
{
	u64 val = (u32)vcpu->regs[SHV_RAX] | ((u64)(u32)vcpu->regs[SHV_RDX] << 32);
	int r;

	shv_stat_inc(vcpu, EXIT_MSR_WRITE);
	r = shv_set_msr(vcpu, (u32)vcpu->regs[SHV_RCX], val);
	if (r == -EOPNOTSUPP) {
		u64 d[2] = { shv_rip(vcpu), vcpu->cr0 };

		shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_BAD_STATE, 2, d);
		return 0;
	}
	if (r < 0)
		return r;
	if (r)
		return inject_gp(vcpu);
	shv_skip_insn(vcpu);
	return 1;
}

/* ---- exceptions ---- */

/*
 * #PF: the MMU classifies and fixes what it can, and says what is left
 * to do here: emulate (MMIO; a write to a write-protected guest table,
 * which is unprotected if it cannot be emulated; a write no shadow entry
 * may grant) or report an internal error.
 */
static int handle_pf(struct shv_vcpu *vcpu)
{
	u64 la = vmcs_read(EXIT_QUALIFICATION);
	struct shv_pf_result pf = { 0 };
	int r;

	r = shv_mmu_page_fault(vcpu, la, vmcs_read(VM_EXIT_INTR_ERROR_CODE), &pf);
	/*
	 * The fault hit the delivery of an event (IDT, GDT, TSS or stack
	 * access; the event is back in vcpu->event). Nothing at RIP may be
	 * emulated: a write-protected guest table is unprotected and the
	 * event delivered again. Beyond repair: MMIO there, and a guest table
	 * the delivery itself needs shadowed (it maps the IDT, GDT or stack
	 * as well as being written by the delivery): under strict write
	 * protection the fill re-protects what was unprotected, so after a
	 * few rounds with no delivery completed the run ends with DELIVERY.
	 */
	if (r == SHV_PF_EMULATE_PT && vcpu->event.valid &&
	    ++vcpu->evt.delivery_unprotects > 4)
		r = SHV_PF_EMULATE_MMIO;	/* reported as a delivery error below */
	if (r == SHV_PF_EMULATE_PT && vcpu->event.valid) {
		if (!shv_mmu_unprotect(vcpu, pf.gfn))
			return 1;
		mutex_lock(&vcpu->vm->mmu_lock);
		shv_mmu_zap_all(vcpu->vm);
		mutex_unlock(&vcpu->vm->mmu_lock);
		if (!shv_mmu_unprotect(vcpu, pf.gfn))
			return 1;
		r = SHV_PF_EMULATE_MMIO;	/* reported as a delivery error below */
	}
	switch (r) {
	case SHV_PF_EMULATE_MMIO:
	case SHV_PF_EMULATE_WRITE:	/* no fallback: undecodable is an error */
		return shv_emulate_insn(vcpu, la, true);
	case SHV_PF_EMULATE_PT:
		r = shv_emulate_insn(vcpu, la, false);
		if (r != -ENOEXEC)
			return r;
		if (shv_mmu_unprotect(vcpu, pf.gfn)) {
			u64 d[2] = { shv_rip(vcpu), pf.addr };

			shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_EMULATION, 2, d);
			return 0;
		}
		return 1;	/* re-execute natively */
	case SHV_PF_NO_MEMORY: {
		u64 d[3] = { pf.addr, pf.err, shv_rip(vcpu) };

		shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_NO_MEMORY, 3, d);
		return 0;
	}
	default:
		return r;	/* SHV_PF_RESUME (1) or -EINTR */
	}
}

static int handle_exception(struct shv_vcpu *vcpu)
{
	u32 info = vmcs_read(VM_EXIT_INTR_INFO);
	int vector = info & INTR_INFO_VECTOR_MASK;
	u32 type = info & INTR_INFO_TYPE_MASK;

	if (type == INTR_TYPE_NMI)
		return 1;	/* re-raised on the host already */
	if (vector == MC_VECTOR) {
		/* the host's machine-check handler ran at the exit */
		shv_stat_inc(vcpu, EXIT_OTHER);
		return 1;
	}
	if (vector == PF_VECTOR) {
		shv_stat_inc(vcpu, EXIT_PF);
		return handle_pf(vcpu);
	}
	shv_stat_inc(vcpu, EXIT_EXCEPTION);
	/* not intercepted otherwise: reflect it */
	shv_queue_exception(vcpu, vector, info & INTR_INFO_DELIVER_CODE,
			    vmcs_read(VM_EXIT_INTR_ERROR_CODE));
	return 1;
}

/* DR6 bits a #DB exit reports in its exit qualification (SDM 28.2.1) */
#define DR6_TRAP_BITS	0xfULL
#define DR6_BD_BIT	(1ULL << 13)
#define DR6_BS_BIT	(1ULL << 14)

/*
 * #DB: intercepted so that the hardware DR6 never changes under the guest
 * (a #DB that causes a VM exit does not write DR6; its bits are in the
 * exit qualification). They go into the guest's software DR6, which MOV
 * from DR6 reads, and the exception is reflected.
 */
static int handle_db(struct shv_vcpu *vcpu, u32 info)
{
	u64 q = vmcs_read(EXIT_QUALIFICATION);
	struct shv_pending_event *ev = &vcpu->event;

	shv_stat_inc(vcpu, EXIT_EXCEPTION);
	vcpu->dr6 &= ~DR6_TRAP_BITS;
	vcpu->dr6 |= q & (DR6_TRAP_BITS | DR6_BD_BIT | DR6_BS_BIT);
	/* delivery of a general-detect #DB clears DR7.GD (a #DB exit does not) */
	if (q & DR6_BD_BIT) {
		vcpu->dr7 &= ~(1ULL << 13);
		vmcs_write(GUEST_DR7, vcpu->dr7);
	}
	if ((info & INTR_INFO_TYPE_MASK) == INTR_TYPE_PRIV_SW_EXCEPTION) {
		/* INT1 (ICEBP): re-inject as the same event, past the insn */
		shv_stat_inc(vcpu, INJECTED_EXCEPTIONS);
		ev->valid = true;
		ev->info = INTR_INFO_VALID | INTR_TYPE_PRIV_SW_EXCEPTION | DB_VECTOR;
		ev->error_code = 0;
		ev->insn_len = vmcs_read(VM_EXIT_INSTRUCTION_LEN);
		return 1;
	}
	shv_queue_exception(vcpu, DB_VECTOR, false, 0);
	return 1;
}

/*
 * #AC: the guest's own alignment check (CR0.AM, EFLAGS.AC, CPL 3) is
 * reflected. Any other #AC comes from the host's split-lock detection,
 * which stays armed while the guest runs: as KVM does, the kernel's
 * handle_guest_split_lock() decides (warn mode: it warns, lets this task
 * run without detection and the guest retries the instruction); if it
 * refuses (fatal mode), RUN exits with SHADOWVM_INTERNAL_ERROR_SPLIT_LOCK.
 */
static int handle_ac(struct shv_vcpu *vcpu)
{
	unsigned long rip = shv_rip(vcpu);

	shv_stat_inc(vcpu, EXIT_EXCEPTION);
	if ((vcpu->cr0 & X86_CR0_AM) && (vmcs_read(GUEST_RFLAGS) & X86_EFLAGS_AC) &&
	    shv_cpl(vcpu) == 3) {
		shv_queue_exception(vcpu, AC_VECTOR, true, 0);
		return 1;
	}
	if (handle_guest_split_lock(rip))
		return 1;
	{
		u64 d[1] = { rip };

		shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_SPLIT_LOCK, 1, d);
	}
	return 0;
}

/* The exceptions intercepted for this file's sake; -ENOENT: not one. */
static int handle_db_ac(struct shv_vcpu *vcpu)
{
	u32 info = vmcs_read(VM_EXIT_INTR_INFO);
	int vector = info & INTR_INFO_VECTOR_MASK;

	if ((info & INTR_INFO_TYPE_MASK) == INTR_TYPE_NMI)
		return -ENOENT;
	if (vector == DB_VECTOR)
		return handle_db(vcpu, info);
	if (vector == AC_VECTOR)
		return handle_ac(vcpu);
	return -ENOENT;
}

static int fail_entry(struct shv_vcpu *vcpu, u32 reason)
{
	struct shadowvm_run *run = vcpu->run;

	run->exit_reason = SHADOWVM_EXIT_FAIL_ENTRY;
	run->fail_entry.hardware_entry_failure_reason = reason & 0xffff;
	run->fail_entry.exit_qualification = vmcs_read(EXIT_QUALIFICATION);
	if ((u16)reason == EXIT_REASON_MCE_DURING_VMENTRY)
		shv_info_rl("VM entry failed: machine check during entry (host handler ran)\n");
	else
		/* with the guest state userspace cannot see (GET_REGS/SREGS do not show it) */
		shv_info_rl("VM entry failed: reason %u qualification %lu (invalid guest state): interruptibility 0x%lx activity %lu pending-dbg 0x%lx rflags 0x%lx debugctl 0x%lx entry-intr 0x%lx\n",
			    reason & 0xffff, vmcs_read(EXIT_QUALIFICATION),
			    vmcs_read(GUEST_INTERRUPTIBILITY_INFO), vmcs_read(GUEST_ACTIVITY_STATE),
			    vmcs_read(GUEST_PENDING_DBG_EXCEPTIONS), vmcs_read(GUEST_RFLAGS),
			    vmcs_read(GUEST_IA32_DEBUGCTL), vmcs_read(VM_ENTRY_INTR_INFO_FIELD));
	return 0;
}

int shv_handle_exit(struct shv_vcpu *vcpu, u32 reason)
{
	u16 basic = reason & 0xffff;

	if (reason & EXIT_REASON_FAILED_VMENTRY)
		return fail_entry(vcpu, reason);

	switch (basic) {
	case EXIT_REASON_EXCEPTION_NMI: {
		int r = -ENOENT;

		if (vcpu->rmode.active)		/* vmx/rmode.c */
			r = shv_rmode_exception(vcpu, vmcs_read(VM_EXIT_INTR_INFO));
		if (r == -ENOENT)
			r = handle_db_ac(vcpu);

		if (r != -ENOENT)
			return r;
		return handle_exception(vcpu);
	}
	case EXIT_REASON_EXTERNAL_INTERRUPT:
		shv_stat_inc(vcpu, EXIT_EXTINT);
		return 1;
	case EXIT_REASON_INTERRUPT_WINDOW:
		shv_stat_inc(vcpu, EXIT_INTR_WINDOW);
		return 1;	/* vmx/inject.c injects at the next entry */
	case EXIT_REASON_NMI_WINDOW:
		shv_stat_inc(vcpu, EXIT_NMI_WINDOW);
		return 1;
	case EXIT_REASON_TRIPLE_FAULT:
		shv_stat_inc(vcpu, EXIT_TRIPLE_FAULT);
		vcpu->run->exit_reason = SHADOWVM_EXIT_SHUTDOWN;
		vcpu->event.valid = false;
		vcpu->evt.held = 0;
		vcpu->evt.held_nmi = false;
		return 0;
	case EXIT_REASON_PAUSE_INSTRUCTION:
		return shv_handle_pause(vcpu);
	case EXIT_REASON_PREEMPTION_TIMER:
		shv_stat_inc(vcpu, EXIT_PREEMPT_TIMER);
		return 1;
	case EXIT_REASON_INIT_SIGNAL:
	case EXIT_REASON_SIPI:
		shv_stat_inc(vcpu, EXIT_OTHER);
		return 1;
	case EXIT_REASON_TPR_BELOW_THRESHOLD:
		/* lapic: the guest lowered CR8; the next entry re-evaluates IRR */
		shv_stat_inc(vcpu, EXIT_OTHER);
		return 1;
	case EXIT_REASON_CPUID:
		return handle_cpuid(vcpu);
	case EXIT_REASON_HLT:
		return shv_handle_hlt(vcpu);
	case EXIT_REASON_VMCALL:
		return handle_vmcall(vcpu);
	case EXIT_REASON_INVLPG:
		shv_stat_inc(vcpu, EXIT_INVLPG);
		shv_stat_inc(vcpu, INVLPG);
		shv_mmu_invlpg(vcpu, vmcs_read(EXIT_QUALIFICATION));
		shv_flush_tlb_gva(vcpu, vmcs_read(EXIT_QUALIFICATION));
		shv_skip_insn(vcpu);
		return 1;
	case EXIT_REASON_INVD:
	case EXIT_REASON_WBINVD:
		shv_stat_inc(vcpu, EXIT_OTHER);
		shv_skip_insn(vcpu);	/* guest RAM is coherent: nothing to do */
		return 1;
	case EXIT_REASON_CR_ACCESS:
		return handle_cr(vcpu);
	case EXIT_REASON_DR_ACCESS:
		return handle_dr(vcpu);
	case EXIT_REASON_IO_INSTRUCTION:
		return shv_handle_io(vcpu);
	case EXIT_REASON_MSR_READ:
		return handle_rdmsr(vcpu);
	case EXIT_REASON_MSR_WRITE:
		return handle_wrmsr(vcpu);
	case EXIT_REASON_RDPMC:
		shv_stat_inc(vcpu, EXIT_OTHER);
		return inject_gp(vcpu);
	case EXIT_REASON_VMCLEAR: case EXIT_REASON_VMLAUNCH:
	case EXIT_REASON_VMPTRLD: case EXIT_REASON_VMPTRST: case EXIT_REASON_VMREAD:
	case EXIT_REASON_VMRESUME: case EXIT_REASON_VMWRITE: case EXIT_REASON_VMOFF:
	case EXIT_REASON_VMON: case EXIT_REASON_INVEPT: case EXIT_REASON_INVVPID:
	case EXIT_REASON_VMFUNC: case EXIT_REASON_GETSEC:
	case EXIT_REASON_MWAIT_INSTRUCTION: case EXIT_REASON_MONITOR_INSTRUCTION:
	case EXIT_REASON_XSETBV: case EXIT_REASON_RSM:
	case EXIT_REASON_XSAVES: case EXIT_REASON_XRSTORS:
		shv_stat_inc(vcpu, EXIT_VMX_INSN);
		return inject_ud(vcpu);
	case EXIT_REASON_INVPCID:	/* kmod/invpcid.c */
		return shv_handle_invpcid(vcpu);
	case EXIT_REASON_RDTSC:		/* kmod/msr.c: only without TSC offsetting */
	case EXIT_REASON_RDTSCP:
		return shv_handle_rdtsc(vcpu, basic == EXIT_REASON_RDTSCP);
	case EXIT_REASON_MSR_LOAD_FAIL:
	case EXIT_REASON_MCE_DURING_VMENTRY:
		return fail_entry(vcpu, reason);
	default: {
		u64 d[3] = { basic, vmcs_read(EXIT_QUALIFICATION), shv_rip(vcpu) };

		shv_stat_inc(vcpu, EXIT_OTHER);
		shv_info_rl("unhandled VM exit %u at rip 0x%llx\n", basic, d[2]);
		shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_UNHANDLED_EXIT, 3, d);
		return 0;
	}
	}
}

