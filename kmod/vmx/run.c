// SPDX-License-Identifier: GPL-2.0
/*
 * Entering and leaving the guest. Contract: a vCPU's VMCS is current on
 * a CPU only while an ioctl of that vCPU runs; preemption moves it
 * (VMCLEAR at sched-out, VMPTRLD and the per-CPU host fields at
 * sched-in), and the host segment/GDT/TSS state and MSRs that a VM exit
 * clobbers are restored before anything else runs in that task.
 * shv_vcpu_run() enters the guest until an exit needs userspace, a
 * signal is pending (-EINTR, exit INTR) or an error occurs; each exit
 * goes to vmx/exits.c. Also the VPID-tagged TLB flushes.
 */
#include <linux/module.h>
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/io.h>
#include <linux/uaccess.h>
#include <linux/sched/signal.h>
#include <linux/preempt.h>
#include <asm/desc.h>
#include <asm/fpu/api.h>
#include <asm/msr.h>
#include <asm/tlbflush.h>
#include <asm/special_insns.h>
#include <asm/segment.h>
#include <asm/cpu_entry_area.h>
#include <asm/debugreg.h>
#include "shadowvm.h"
#include "vmx/vmx_defs.h"
#include "compat.h"
#include "emulate/emulate.h"
#include "mmu/walker.h"
#include "vmx/exits.h"
#include "trace.h"

static inline struct shv_vcpu *pn_to_vcpu(struct preempt_notifier *pn)
{
	return container_of(pn, struct shv_vcpu, pn);
}

/* ---- host state ---- */

static void write_percpu_host_state(struct shv_vcpu *vcpu, int cpu)
{
	struct desc_ptr idt;
	unsigned long fsbase, gsbase;
	u64 v;

	vmcs_write(HOST_TR_BASE, (unsigned long)&get_cpu_entry_area(cpu)->tss.x86_tss);
	vmcs_write(HOST_GDTR_BASE, (unsigned long)get_cpu_gdt_ro(cpu));
	store_idt(&idt);
	vmcs_write(HOST_IDTR_BASE, idt.address);
	rdmsrl(MSR_FS_BASE, fsbase);
	rdmsrl(MSR_GS_BASE, gsbase);
	vmcs_write(HOST_FS_BASE, fsbase);
	vmcs_write(HOST_GS_BASE, gsbase);
	rdmsrl(MSR_IA32_SYSENTER_CS, v);
	vmcs_write(HOST_IA32_SYSENTER_CS, v);
	rdmsrl(MSR_IA32_SYSENTER_ESP, v);
	vmcs_write(HOST_IA32_SYSENTER_ESP, v);
	rdmsrl(MSR_IA32_SYSENTER_EIP, v);
	vmcs_write(HOST_IA32_SYSENTER_EIP, v);
	rdmsrl(MSR_EFER, v);
	vmcs_write(HOST_IA32_EFER, v);
	vmcs_write(HOST_CR0, read_cr0());
	vcpu->host_cr3 = __read_cr3();
	vmcs_write(HOST_CR3, vcpu->host_cr3);
	vcpu->host_cr4 = cr4_read_shadow();
	vmcs_write(HOST_CR4, vcpu->host_cr4);
}

static void save_host_segments(struct shv_vcpu *vcpu)
{
	savesegment(ds, vcpu->host_ds);
	savesegment(es, vcpu->host_es);
	savesegment(fs, vcpu->host_fs);
	savesegment(gs, vcpu->host_gs);
	asm volatile("sldt %0" : "=r"(vcpu->host_ldt));
}

/* Undo what a VM exit did to this CPU's segment, GDT and TSS state. */
static void restore_host_segments(struct shv_vcpu *vcpu)
{
	if (vcpu->host_ldt)
		asm volatile("lldt %0" : : "r"(vcpu->host_ldt));
	if (vcpu->host_ds)
		loadsegment(ds, vcpu->host_ds);
	if (vcpu->host_es)
		loadsegment(es, vcpu->host_es);
	if (vcpu->host_fs) {
		unsigned long base;

		rdmsrl(MSR_FS_BASE, base);
		loadsegment(fs, vcpu->host_fs);
		wrmsrl(MSR_FS_BASE, base);
	}
	if (vcpu->host_gs) {
		unsigned long kbase;

		rdmsrl(MSR_KERNEL_GS_BASE, kbase);
		load_gs_index(vcpu->host_gs);
		wrmsrl(MSR_KERNEL_GS_BASE, kbase);
	}
	load_fixmap_gdt(raw_smp_processor_id());
	invalidate_tss_limit();
}

/*
 * SYSCALL and SWAPGS use these MSRs directly, so the guest's values are
 * live in the hardware while the vCPU is loaded (no syscall can come from
 * this task until the ioctl returns, and a context switch puts them back).
 */
static const u32 swap_msrs[SHV_NR_SWAP_MSRS] = {
	MSR_STAR, MSR_LSTAR, MSR_CSTAR, MSR_SYSCALL_MASK, MSR_KERNEL_GS_BASE,
};

static u64 *guest_swap_msr(struct shv_vcpu *vcpu, int i)
{
	u64 *v[SHV_NR_SWAP_MSRS] = { &vcpu->msr_star, &vcpu->msr_lstar, &vcpu->msr_cstar,
				     &vcpu->msr_fmask, &vcpu->msr_kgs_base };
	return v[i];
}

static void swap_in_msrs(struct shv_vcpu *vcpu)
{
	int i;

	for (i = 0; i < SHV_NR_SWAP_MSRS; i++) {
		rdmsrl(swap_msrs[i], vcpu->host_msrs[i]);
		wrmsrl(swap_msrs[i], *guest_swap_msr(vcpu, i));
	}
	shv_msr_swap_in(vcpu);		/* TSC_AUX (msr.c) */
}

static void swap_out_msrs(struct shv_vcpu *vcpu)
{
	int i;

	shv_msr_swap_out(vcpu);
	rdmsrl(MSR_KERNEL_GS_BASE, vcpu->msr_kgs_base);	/* guest SWAPGS */
	for (i = 0; i < SHV_NR_SWAP_MSRS; i++)
		wrmsrl(swap_msrs[i], vcpu->host_msrs[i]);
}

/*
 * Make the VMCS current here; preemption disabled. Not on a CPU that has
 * left VMX operation (hotplug offline, reboot): vcpu->cpu stays -1 and
 * shv_vcpu_run() refuses to enter.
 */
static void vcpu_load_here(struct shv_vcpu *vcpu)
{
	int cpu = smp_processor_id();

	if (vcpu->cpu == cpu)
		return;
	WARN_ON_ONCE(vcpu->cpu != -1);
	if (!shv_vmx_cpu_on())
		return;
	shv_vmx_switch_vm(vcpu->vm);
	shv_vmx_set_current(vcpu->vmcs);
	if (shv_vmptrld(__pa(vcpu->vmcs))) {
		shv_vmx_set_current(NULL);
		return;
	}
	WRITE_ONCE(vcpu->cpu, cpu);	/* read by other vCPUs' kicks */
	save_host_segments(vcpu);
	swap_in_msrs(vcpu);
	write_percpu_host_state(vcpu, cpu);
	vcpu->host_debugctl = get_debugctlmsr();
	if (vcpu->last_cpu != cpu && vcpu->vpid)
		shv_flush_tlb(vcpu);
	vcpu->last_cpu = cpu;
}

/* VMCLEAR here and give the CPU's host state back; preemption disabled. */
static void vcpu_put_here(struct shv_vcpu *vcpu)
{
	if (vcpu->cpu == -1)
		return;
	WARN_ON_ONCE(vcpu->cpu != smp_processor_id());
	shv_vmclear(__pa(vcpu->vmcs));
	shv_vmx_set_current(NULL);
	vcpu->launched = false;
	WRITE_ONCE(vcpu->cpu, -1);
	swap_out_msrs(vcpu);
	restore_host_segments(vcpu);
}

/*
 * Host debug state around guest execution (interrupts off). A VM exit
 * sets DR7 to 0x400 and clears IA32_DEBUGCTL. As KVM does: host
 * breakpoints are disarmed before entry (they must not hit guest
 * addresses where the guest's DR7 is not loaded) and re-armed from the
 * kernel's per-CPU breakpoint state after the exit; DEBUGCTL (LBR, BTF,
 * ...) is written back when the host had it non-zero.
 */
static void host_debug_before_entry(void)
{
	if (hw_breakpoint_active())
		set_debugreg(0, 7);
}

static void host_debug_after_exit(struct shv_vcpu *vcpu)
{
	if (vcpu->host_debugctl)
		update_debugctlmsr(vcpu->host_debugctl);
	if (hw_breakpoint_active())
		hw_breakpoint_restore();
}

/*
 * Work that must happen right after a VM exit, interrupts still off: host
 * debug state; a machine check or NMI that hit the guest goes to the host.
 */
static void handle_exit_irqoff(struct shv_vcpu *vcpu, u32 reason)
{
	u32 intr_info;

	host_debug_after_exit(vcpu);
	shv_vmexit_ibpb_to_user();
	if ((u16)reason == EXIT_REASON_MCE_DURING_VMENTRY) {
		shv_host_machine_check();
	} else if ((u16)reason == EXIT_REASON_EXCEPTION_NMI) {
		intr_info = vmcs_read(VM_EXIT_INTR_INFO);
		if ((intr_info & INTR_INFO_TYPE_MASK) == INTR_TYPE_NMI) {
			shv_stat_inc(vcpu, EXIT_NMI);
			shv_self_nmi();
		} else if ((intr_info & INTR_INFO_TYPE_MASK) == INTR_TYPE_HARD_EXCEPTION &&
			   (intr_info & INTR_INFO_VECTOR_MASK) == MC_VECTOR) {
			shv_host_machine_check();
		}
	}
}

static void shv_sched_in(struct preempt_notifier *pn, int cpu)
{
	shv_pause_sched_in(pn_to_vcpu(pn));
	vcpu_load_here(pn_to_vcpu(pn));
}

static void shv_sched_out(struct preempt_notifier *pn, struct task_struct *next)
{
	shv_pause_sched_out(pn_to_vcpu(pn));
	vcpu_put_here(pn_to_vcpu(pn));
}

static struct preempt_ops shv_preempt_ops = {
	.sched_in = shv_sched_in,
	.sched_out = shv_sched_out,
};

void shv_vcpu_load(struct shv_vcpu *vcpu)
{
	preempt_disable();
	preempt_notifier_init(&vcpu->pn, &shv_preempt_ops);
	preempt_notifier_register(&vcpu->pn);
	vcpu_load_here(vcpu);
	preempt_enable();
}

void shv_vcpu_put(struct shv_vcpu *vcpu)
{
	preempt_disable();
	vcpu_put_here(vcpu);
	preempt_notifier_unregister(&vcpu->pn);
	preempt_enable();
}

/* ---- TLB ---- */

void shv_flush_tlb(struct shv_vcpu *vcpu)
{
	shv_stat_inc(vcpu, TLB_FLUSHES);
	if (!vcpu->vpid)
		return;		/* every VM entry flushes VPID 0 */
	if (shv_caps.ept_vpid_cap & VPID_CAP_SINGLE_CONTEXT)
		shv_invvpid(INVVPID_SINGLE_CONTEXT, vcpu->vpid, 0);
	else
		shv_invvpid(INVVPID_ALL_CONTEXT, 0, 0);
}

void shv_flush_tlb_gva(struct shv_vcpu *vcpu, u64 gva)
{
	if (vcpu->vpid && (shv_caps.ept_vpid_cap & VPID_CAP_INDIVIDUAL_ADDR) &&
	    !(gva >> 47 && (gva >> 47) != 0x1ffff))
		shv_invvpid(INVVPID_INDIVIDUAL_ADDR, vcpu->vpid, gva);
	else
		shv_flush_tlb(vcpu);
}

/* ---- run loop ---- */

/* Fault-class exceptions: the CPU pushes RFLAGS.RF=1 for them (SDM 6.13) */
static bool is_fault(int vector)
{
	switch (vector) {
	case DE_VECTOR: case BR_VECTOR: case UD_VECTOR: case NM_VECTOR:
	case TS_VECTOR: case NP_VECTOR: case SS_VECTOR: case GP_VECTOR:
	case PF_VECTOR: case MF_VECTOR: case AC_VECTOR: case XM_VECTOR:
	case 20: case 21:	/* #VE, #CP */
		return true;
	default:
		return false;	/* #DB (instruction breakpoints excepted), traps, aborts */
	}
}

static void inject_pending_event(struct shv_vcpu *vcpu)
{
	struct shv_pending_event *ev = &vcpu->event;

	if (!ev->valid)
		return;
	shv_shadow_sync_rflags();	/* VM entry's shadow checks (vcpu.c) */
	/* event injection pushes the RFLAGS of the VMCS as they are */
	if ((ev->info & INTR_INFO_TYPE_MASK) == INTR_TYPE_HARD_EXCEPTION &&
	    is_fault(ev->info & INTR_INFO_VECTOR_MASK))
		vmcs_write(GUEST_RFLAGS, vmcs_read(GUEST_RFLAGS) | X86_EFLAGS_RF);
	trace_inject(ev->info, ev->error_code);
	vmcs_write(VM_ENTRY_INTR_INFO_FIELD, ev->info);
	if (ev->info & INTR_INFO_DELIVER_CODE)
		vmcs_write(VM_ENTRY_EXCEPTION_ERROR_CODE, ev->error_code);
	vmcs_write(VM_ENTRY_INSTRUCTION_LEN, ev->insn_len);
	ev->valid = false;
}

/* Remember an event whose delivery the exit interrupted: it is redone. */
static void record_vectoring(struct shv_vcpu *vcpu)
{
	u32 info = vmcs_read(IDT_VECTORING_INFO_FIELD);
	u32 type;

	vcpu->event.valid = false;
	if (!(info & INTR_INFO_VALID))
		return;
	type = info & INTR_INFO_TYPE_MASK;
	vcpu->event.valid = true;
	vcpu->event.info = info & ~INTR_INFO_NMI_UNBLOCK_IRET;
	if (info & INTR_INFO_DELIVER_CODE)
		vcpu->event.error_code = vmcs_read(IDT_VECTORING_ERROR_CODE);
	vcpu->event.insn_len = 0;
	if (type == INTR_TYPE_SOFT_INTR || type == INTR_TYPE_SOFT_EXCEPTION ||
	    type == INTR_TYPE_PRIV_SW_EXCEPTION)
		vcpu->event.insn_len = vmcs_read(VM_EXIT_INSTRUCTION_LEN);
}

/*
 * Guest debug registers: DR7 (and DEBUGCTL) come from the VMCS at entry;
 * DR0-3 are loaded by hand when the guest arms a breakpoint and the
 * host's are put back after the exit when the host uses them (as KVM).
 * DR6 stays in software: every #DB exits and MOV DR is intercepted.
 */
static void guest_debug_before_entry(struct shv_vcpu *vcpu)
{
	if (!(vcpu->dr7 & 0xff))
		return;
	set_debugreg(vcpu->dr[0], 0);
	set_debugreg(vcpu->dr[1], 1);
	set_debugreg(vcpu->dr[2], 2);
	set_debugreg(vcpu->dr[3], 3);
}

static int run_loop(struct shv_vcpu *vcpu);

int shv_vcpu_run(struct shv_vcpu *vcpu)
{
	int r = run_loop(vcpu);

	shv_events_to_user(vcpu);
	return r;
}

static int run_loop(struct shv_vcpu *vcpu)
{
	struct shadowvm_run *run = vcpu->run;
	int r;

	if (current->mm != vcpu->vm->mm)
		return -EIO;
	if (memchr_inv(run->padding1, 0, sizeof(run->padding1))) {
		shv_info_rl("RUN: padding1 is reserved\n");
		return -EINVAL;
	}
	/*
	 * Outside 64-bit code RIP is 32 bits: VM entry would refuse the
	 * state SET_REGS/SET_SREGS left (they may come in either order).
	 */
	if ((vmcs_read(GUEST_RIP) >> 32) &&
	    !(shv_long_mode(vcpu) && (vmcs_read(GUEST_CS_AR_BYTES) & (1u << 13)))) {
		shv_info_rl("RUN: RIP 0x%lx is above 4 GiB outside 64-bit mode\n",
			    vmcs_read(GUEST_RIP));
		return -EINVAL;
	}
	if (vcpu->rmode.active && vmcs_read(GUEST_RIP) > 0xffff) {
		shv_info_rl("RUN: IP 0x%lx is above 0xffff in real mode\n", vmcs_read(GUEST_RIP));
		return -EINVAL;
	}
	if (vcpu->evt.hypercall_pending) {
		u64 ret = READ_ONCE(run->hypercall.ret);

		vcpu->evt.hypercall_pending = false;
		vcpu->regs[SHV_RAX] = cs_64bit(vcpu) ? ret : (u32)ret;
	}
	r = shv_complete_user_exit(vcpu);
	if (r <= 0)
		return r;
	if (READ_ONCE(run->immediate_exit)) {
		run->exit_reason = SHADOWVM_EXIT_INTR;
		shv_stat_inc(vcpu, SIGNAL_EXITS);
		return -EINTR;
	}

	for (;;) {
		u32 reason;
		unsigned long cr3, cr4;
		u64 root;

		/* end the slot read section at every exit: slot updates wait for it */
		srcu_read_unlock(&vcpu->vm->srcu, vcpu->srcu_idx);
		vcpu->srcu_idx = srcu_read_lock(&vcpu->vm->srcu);
		if (signal_pending(current)) {
			run->exit_reason = SHADOWVM_EXIT_INTR;
			shv_stat_inc(vcpu, SIGNAL_EXITS);
			return -EINTR;
		}
		cond_resched();
		r = shv_lapic_run_check(vcpu);	/* lapic: INIT/wait-for-SIPI/SIPI */
		if (r <= 0)
			return r;
		if (vcpu->pending_shutdown) {
			vcpu->pending_shutdown = false;
			run->exit_reason = SHADOWVM_EXIT_SHUTDOWN;
			return 0;
		}
		if (vcpu->evt.halted) {
			r = shv_halt_wait(vcpu);
			if (r <= 0)
				return r;
			continue;	/* slots may have changed while asleep */
		}
		r = shv_mmu_load(vcpu);
		if (r == -ENOMEM) {
			u64 d[1] = { vcpu->cr3 };

			shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_NO_MEMORY, 1, d);
			return 0;
		}
		if (r < 0)
			return r;
		if (r > 0)
			return 0;
		shv_events_prepare(vcpu);
		if (vcpu->rmode.active) {
			/* real mode: through the vector table, now (vmx/rmode.c) */
			r = shv_rmode_deliver(vcpu);
			if (r <= 0)
				return r;
		}

		preempt_disable();
		kernel_fpu_begin();
		local_irq_disable();
		WRITE_ONCE(vcpu->in_guest, true);
		smp_mb();	/* pairs with the MMU's barrier before its kick */
		root = shv_mmu_root_hpa(vcpu);
		if (unlikely(vcpu->cpu != smp_processor_id() || !shv_vmx_cpu_on())) {
			/* VMX left this CPU (reboot) or the VMCS would not load */
			WRITE_ONCE(vcpu->in_guest, false);
			local_irq_enable();
			kernel_fpu_end();
			preempt_enable();
			shv_info_rl("RUN: VMX is off on this CPU (reboot or CPU hotplug)\n");
			return -EIO;
		}
		/* a kick after prepare: look again (shv_vcpu_kick()) */
		if (!root || need_resched() || signal_pending(current) ||
		    shv_events_kicked(vcpu)) {
			WRITE_ONCE(vcpu->in_guest, false);
			local_irq_enable();
			kernel_fpu_end();
			preempt_enable();
			continue;
		}
		cr3 = __read_cr3();
		if (cr3 != vcpu->host_cr3) {
			vmcs_write(HOST_CR3, cr3);
			vcpu->host_cr3 = cr3;
		}
		cr4 = cr4_read_shadow();
		if (cr4 != vcpu->host_cr4) {
			vmcs_write(HOST_CR4, cr4);
			vcpu->host_cr4 = cr4;
		}
		if (vcpu->cr4 & X86_CR4_PCIDE)
			root |= vcpu->cr3 & 0xfff;
		vmcs_write(GUEST_CR3, root);
		if (shv_mmu_pf_bypass(vcpu) != vcpu->pf_filter_on) {
			/* exit only for #PFs with P=1 (SDM 25.2: mask/match) */
			u32 p = vcpu->pf_filter_on ? 0 : PFERR_PRESENT;

			vmcs_write(PAGE_FAULT_ERROR_CODE_MASK, p);
			vmcs_write(PAGE_FAULT_ERROR_CODE_MATCH, p);
			vcpu->pf_filter_on = !vcpu->pf_filter_on;
		}
		/* set by other vCPUs' MMU work before their kick (mmu.c) */
		if (READ_ONCE(vcpu->flush_pending)) {
			WRITE_ONCE(vcpu->flush_pending, false);
			shv_flush_tlb(vcpu);
		}
		inject_pending_event(vcpu);
		shv_lapic_before_entry(vcpu);	/* lapic: TPR threshold */
		if (shv_caps.preempt_value)
			vmcs_write(VMX_PREEMPTION_TIMER_VALUE, shv_caps.preempt_value);
		asm volatile("fxrstor64 %0" : : "m"(*(char (*)[512])vcpu->fx_area));
		if (native_read_cr2() != vcpu->cr2)
			native_write_cr2(vcpu->cr2);
		host_debug_before_entry();
		guest_debug_before_entry(vcpu);

		r = shv_vmx_enter(vcpu->regs, vcpu->launched);

		WRITE_ONCE(vcpu->in_guest, false);
		vcpu->cr2 = native_read_cr2();
		asm volatile("fxsave64 %0" : "=m"(*(char (*)[512])vcpu->fx_area));
		if (r) {
			u32 err = vmcs_read(VM_INSTRUCTION_ERROR);

			host_debug_after_exit(vcpu);
			local_irq_enable();
			kernel_fpu_end();
			preempt_enable();
			pr_err_ratelimited(SHV_NAME ": VM entry instruction failed, error %u\n",
					   err);
			run->exit_reason = SHADOWVM_EXIT_FAIL_ENTRY;
			run->fail_entry.hardware_entry_failure_reason = 0x80000000u | err;
			run->fail_entry.exit_qualification = 0;
			return 0;
		}
		reason = vmcs_read(VM_EXIT_REASON);
		/* only a successful VMLAUNCH makes the VMCS "launched" */
		if (!(reason & EXIT_REASON_FAILED_VMENTRY))
			vcpu->launched = true;
		handle_exit_irqoff(vcpu, reason);
		local_irq_enable();
		kernel_fpu_end();
		preempt_enable();

		vcpu->exit_count++;
		run->exit_count = vcpu->exit_count;
		shv_stat_inc(vcpu, EXITS_TOTAL);
		/* the VMCS reads only while the event is on */
		if (trace_exit_enabled())
			trace_exit(reason, vmcs_read(GUEST_RIP),
				   vmcs_read(EXIT_QUALIFICATION));
		if (!(reason & EXIT_REASON_FAILED_VMENTRY)) {
			record_vectoring(vcpu);
			shv_events_after_exit(vcpu, reason);
		}
		r = shv_handle_exit(vcpu, reason);
		if (r > 0)
			r = shv_events_window_check(vcpu);
		if (r <= 0)
			return r;
	}
}
