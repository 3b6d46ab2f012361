// SPDX-License-Identifier: GPL-2.0
/*
 * vCPUs: the vCPU fd, register state, VMCS setup and the run loop.
 *
 * Contract: a vCPU's VMCS is current on a CPU only while an ioctl of that
 * vCPU runs; preemption moves it (VMCLEAR at sched-out, VMPTRLD and the
 * per-CPU host fields at sched-in), and the host segment/GDT/TSS state that
 * a VM exit clobbers is restored before anything else runs in that task.
 * RUN enters the guest until an exit needs userspace, a signal is pending
 * (-EINTR, exit INTR) or an error occurs. SET_SREGS refuses every state VMX
 * could not enter with -EINVAL (Documentation/uapi.rst lists them).
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

extern void shv_vmx_exit_target(void);
asmlinkage int shv_vmx_enter(unsigned long *regs, bool launched);

#define CR0_RESERVED_HI	(~0xffffffffULL)
#define EFER_ALLOWED	(EFER_SCE | EFER_LME | EFER_LMA | EFER_NX)

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
}

static void swap_out_msrs(struct shv_vcpu *vcpu)
{
	int i;

	rdmsrl(MSR_KERNEL_GS_BASE, vcpu->msr_kgs_base);	/* guest SWAPGS */
	for (i = 0; i < SHV_NR_SWAP_MSRS; i++)
		wrmsrl(swap_msrs[i], vcpu->host_msrs[i]);
}

/*
 * Make the VMCS current here; preemption disabled. Not on a CPU that has
 * left VMX operation (hotplug offline, reboot): vcpu->cpu stays -1 and
 * vcpu_run() refuses to enter.
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
	vcpu_load_here(pn_to_vcpu(pn));
}

static void shv_sched_out(struct preempt_notifier *pn, struct task_struct *next)
{
	vcpu_put_here(pn_to_vcpu(pn));
}

static struct preempt_ops shv_preempt_ops = {
	.sched_in = shv_sched_in,
	.sched_out = shv_sched_out,
};

static void vcpu_load(struct shv_vcpu *vcpu)
{
	preempt_disable();
	preempt_notifier_init(&vcpu->pn, &shv_preempt_ops);
	preempt_notifier_register(&vcpu->pn);
	vcpu_load_here(vcpu);
	preempt_enable();
}

static void vcpu_put(struct shv_vcpu *vcpu)
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

/* ---- register helpers ---- */

unsigned long shv_rip(struct shv_vcpu *vcpu)
{
	return vmcs_read(GUEST_RIP);
}

void shv_set_rip(struct shv_vcpu *vcpu, unsigned long rip)
{
	vmcs_write(GUEST_RIP, rip);
}

bool shv_long_mode(struct shv_vcpu *vcpu)
{
	return vcpu->efer & EFER_LMA;
}

int shv_cpl(struct shv_vcpu *vcpu)
{
	return (vmcs_read(GUEST_SS_AR_BYTES) >> 5) & 3;
}

/* Advance RIP past the instruction that exited; it completed. */
void shv_skip_insn(struct shv_vcpu *vcpu)
{
	unsigned long rip = shv_rip(vcpu) + vmcs_read(VM_EXIT_INSTRUCTION_LEN);
	u32 intr;

	if (!shv_long_mode(vcpu) || !((vmcs_read(GUEST_CS_AR_BYTES) >> 13) & 1))
		rip = (u32)rip;
	shv_set_rip(vcpu, rip);
	intr = vmcs_read(GUEST_INTERRUPTIBILITY_INFO);
	if (intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS))
		vmcs_write(GUEST_INTERRUPTIBILITY_INFO,
			   intr & ~(GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS));
}

/* ---- exceptions ---- */

enum exc_class { EXC_BENIGN, EXC_CONTRIBUTORY, EXC_PF };

static enum exc_class exc_class(int vector)
{
	switch (vector) {
	case DE_VECTOR: case TS_VECTOR: case NP_VECTOR: case SS_VECTOR: case GP_VECTOR:
		return EXC_CONTRIBUTORY;
	case PF_VECTOR:
		return EXC_PF;
	default:
		return EXC_BENIGN;
	}
}

static bool exc_has_error_code(int vector)
{
	switch (vector) {
	case DF_VECTOR: case TS_VECTOR: case NP_VECTOR: case SS_VECTOR:
	case GP_VECTOR: case PF_VECTOR: case AC_VECTOR:
		return true;
	default:
		return false;
	}
}

/*
 * Queue a hardware exception. If an event whose delivery was interrupted
 * by this exit is pending, apply the SDM's double-fault rules (table 6-5):
 * the result is the new exception, #DF, or a triple fault (shutdown).
 */
void shv_queue_exception(struct shv_vcpu *vcpu, int vector, bool has_error, u32 error)
{
	struct shv_pending_event *ev = &vcpu->event;

	if (ev->valid && ((ev->info & INTR_INFO_TYPE_MASK) == INTR_TYPE_HARD_EXCEPTION)) {
		int prev = ev->info & INTR_INFO_VECTOR_MASK;
		enum exc_class pc = exc_class(prev), nc = exc_class(vector);

		if (prev == DF_VECTOR) {
			ev->valid = false;
			vcpu->pending_shutdown = true;
			return;
		}
		if ((pc == EXC_CONTRIBUTORY && nc == EXC_CONTRIBUTORY) ||
		    (pc == EXC_PF && nc != EXC_BENIGN)) {
			vector = DF_VECTOR;
			has_error = true;
			error = 0;
		}
	}
	shv_stat_inc(vcpu, INJECTED_EXCEPTIONS);
	ev->valid = true;
	ev->info = INTR_INFO_VALID | INTR_TYPE_HARD_EXCEPTION | vector;
	if (has_error && exc_has_error_code(vector))
		ev->info |= INTR_INFO_DELIVER_CODE;
	ev->error_code = error;
	ev->insn_len = 0;
}

void shv_queue_pf(struct shv_vcpu *vcpu, u64 cr2, u32 error)
{
	vcpu->cr2 = cr2;
	shv_queue_exception(vcpu, PF_VECTOR, true, error);
}

/* ---- control registers ---- */

static u64 guest_cr4_allowed(void)
{
	u64 ok = X86_CR4_PSE | X86_CR4_PAE | X86_CR4_PGE | X86_CR4_DE | X86_CR4_TSD |
		 X86_CR4_PCE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;

	if (boot_cpu_has(X86_FEATURE_SMEP))
		ok |= X86_CR4_SMEP;
	if (boot_cpu_has(X86_FEATURE_SMAP))
		ok |= X86_CR4_SMAP;
	if (boot_cpu_has(X86_FEATURE_PCID))
		ok |= X86_CR4_PCIDE;
	return ok;
}

/* CR0.TS is guest-owned (no exit on CLTS or a TS-only MOV): read it back. */
void shv_sync_cr0_ts(struct shv_vcpu *vcpu)
{
	vcpu->cr0 = (vcpu->cr0 & ~(u64)X86_CR0_TS) | (vmcs_read(GUEST_CR0) & X86_CR0_TS);
}

/* Recompute the hardware CR0/CR4/EFER and entry controls from guest state. */
void shv_update_hw_cr(struct shv_vcpu *vcpu)
{
	bool paging = vcpu->cr0 & X86_CR0_PG;
	u64 cr0, cr4, efer;
	u32 entry = shv_caps.entry;

	cr0 = (vcpu->cr0 & ~(X86_CR0_CD | X86_CR0_NW)) | X86_CR0_PE | X86_CR0_PG |
	      X86_CR0_NE | X86_CR0_WP;
	cr0 |= shv_caps.cr0_fixed0 & ~(u64)(X86_CR0_CD | X86_CR0_NW);
	cr0 &= shv_caps.cr0_fixed1 | X86_CR0_PE | X86_CR0_PG;
	/*
	 * CR0.WP: with guest WP=0 the shadow maps supervisor writes to
	 * read-only guest pages as writable supervisor-only entries, so the
	 * hardware always runs with WP=1.
	 */
	cr4 = vcpu->cr4 & (X86_CR4_DE | X86_CR4_TSD | X86_CR4_PCE | X86_CR4_OSFXSR |
			   X86_CR4_OSXMMEXCPT);
	if (paging)
		cr4 |= vcpu->cr4 & (X86_CR4_PGE | X86_CR4_SMEP | X86_CR4_SMAP);
	/* guest PCIDs tag the hardware TLB: a no-flush CR3 load keeps them */
	if (vcpu->efer & EFER_LMA)
		cr4 |= vcpu->cr4 & X86_CR4_PCIDE;
	cr4 |= X86_CR4_PAE | X86_CR4_VMXE | shv_caps.cr4_fixed0;
	cr4 &= shv_caps.cr4_fixed1;

	efer = (vcpu->efer & (EFER_SCE | EFER_LME | EFER_LMA)) | EFER_NX;
	if (vcpu->efer & EFER_LMA)
		entry |= ENTRY_IA32E_MODE;
	else
		efer &= ~(EFER_LME | EFER_LMA);

	vmcs_write(GUEST_CR0, cr0);
	vmcs_write(CR0_READ_SHADOW, vcpu->cr0);
	vmcs_write(GUEST_CR4, cr4);
	vmcs_write(CR4_READ_SHADOW, vcpu->cr4);
	vmcs_write(GUEST_IA32_EFER, efer);
	vmcs_write(VM_ENTRY_CONTROLS, entry);
}

/* PAE paging (not IA-32e): the PDPTE registers are in use. */
static bool pae_paging(struct shv_vcpu *vcpu)
{
	return (vcpu->cr0 & X86_CR0_PG) && (vcpu->cr4 & X86_CR4_PAE) &&
	       !(vcpu->efer & EFER_LMA);
}

/*
 * Load the PDPTE registers from guest CR3 (SDM 4.4.1). 1: #GP (the PDPT is
 * not in RAM, or a present entry has a reserved bit set); nothing changes.
 */
static int load_pdptrs(struct shv_vcpu *vcpu)
{
	u64 p[4];
	int i;

	if (shv_read_gpa(vcpu->vm, vcpu->cr3 & 0xffffffe0ULL, p, sizeof(p)))
		return 1;
	for (i = 0; i < 4; i++)
		if (shv_pae_pdpte_bad(vcpu, p[i]))
			return 1;
	memcpy(vcpu->pdptrs, p, sizeof(p));
	return 0;
}

/*
 * CR0, CR4 or EFER changed: recompute the hardware registers and the MMU
 * context. The PDPTE registers are reloaded from memory only when the SDM
 * says the instruction loads them (reload_pdptrs): MOV to CR0/CR4 changing
 * CR0.PG/CD/NW or CR4.PAE/PGE/PSE/SMEP with PAE paging in use afterwards.
 * Toggling CR0.WP, CR4.SMAP or EFER.NXE keeps the registers as they are,
 * even if the guest has since changed its PDPT in memory (the MMU uses
 * the registers, never the PDPT in memory). Returns 0, 1 (#GP: bad
 * PDPTEs) or -errno.
 */
static int mmu_context_changed(struct shv_vcpu *vcpu, bool reload_pdptrs)
{
	if (reload_pdptrs && pae_paging(vcpu) && load_pdptrs(vcpu))
		return 1;
	shv_update_hw_cr(vcpu);
	return shv_mmu_reset_context(vcpu);
}

/* Put back CR0, CR4 and EFER after a refused change. */
static void restore_cr(struct shv_vcpu *vcpu, u64 cr0, u64 cr4, u64 efer,
		       const u64 *pdptrs)
{
	vcpu->cr0 = cr0;
	vcpu->cr4 = cr4;
	vcpu->efer = efer;
	memcpy(vcpu->pdptrs, pdptrs, sizeof(vcpu->pdptrs));
	mmu_context_changed(vcpu, false);
}

#define CR0_PDPTR_BITS	(X86_CR0_PG | X86_CR0_CD | X86_CR0_NW)
#define CR0_MMU_BITS	(CR0_PDPTR_BITS | X86_CR0_WP | X86_CR0_PE)
#define CR4_PDPTR_BITS	(X86_CR4_PSE | X86_CR4_PAE | X86_CR4_PGE | X86_CR4_SMEP)
#define CR4_MMU_BITS	(CR4_PDPTR_BITS | X86_CR4_SMAP | X86_CR4_PCIDE)

/*
 * Guest MOV to CR0 (also CLTS and LMSW). 1: #GP, with nothing changed.
 * The caller has synced CR0.TS from the hardware (shv_sync_cr0_ts()).
 */
int shv_set_cr0(struct shv_vcpu *vcpu, u64 val)
{
	u64 old = vcpu->cr0, old_efer = vcpu->efer, pdptrs[4];
	int r;

	val |= X86_CR0_ET;
	if (val & CR0_RESERVED_HI)
		return 1;
	if ((val & X86_CR0_NW) && !(val & X86_CR0_CD))
		return 1;
	if ((val & X86_CR0_PG) && !(val & X86_CR0_PE))
		return 1;
	/* SDM MOV CR0: clearing PG while CR4.PCIDE=1 is #GP(0) */
	if (!(val & X86_CR0_PG) && (vcpu->cr4 & X86_CR4_PCIDE))
		return 1;
	if (!(val & X86_CR0_PE))
		return -EOPNOTSUPP;	/* real mode: not virtualized */
	if ((val & X86_CR0_PG) && !(old & X86_CR0_PG) && (vcpu->efer & EFER_LME)) {
		if (!(vcpu->cr4 & X86_CR4_PAE))
			return 1;
		if ((vmcs_read(GUEST_CS_AR_BYTES) >> 13) & 1)
			return 1;	/* CS.L=1 */
		vcpu->efer |= EFER_LMA;
	}
	if (!(val & X86_CR0_PG) && (old & X86_CR0_PG) && (vcpu->efer & EFER_LMA)) {
		if ((vmcs_read(GUEST_CS_AR_BYTES) >> 13) & 1)
			return 1;	/* in 64-bit mode */
		vcpu->efer &= ~EFER_LMA;
	}
	vcpu->cr0 = val;
	if (!((old ^ val) & CR0_MMU_BITS) && vcpu->efer == old_efer) {
		shv_update_hw_cr(vcpu);
		return 0;
	}
	memcpy(pdptrs, vcpu->pdptrs, sizeof(pdptrs));
	r = mmu_context_changed(vcpu, (old ^ val) & CR0_PDPTR_BITS);
	if (r > 0)
		restore_cr(vcpu, old, vcpu->cr4, old_efer, pdptrs);
	return r;
}

int shv_set_cr4(struct shv_vcpu *vcpu, u64 val)
{
	u64 old = vcpu->cr4, pdptrs[4];
	int r;

	if (val & ~guest_cr4_allowed())
		return 1;
	if (shv_long_mode(vcpu) && !(val & X86_CR4_PAE))
		return 1;
	if ((val & X86_CR4_PCIDE) && !(old & X86_CR4_PCIDE) &&
	    (!shv_long_mode(vcpu) || (vcpu->cr3 & 0xfff)))
		return 1;
	vcpu->cr4 = val;
	if (!((old ^ val) & CR4_MMU_BITS)) {
		shv_update_hw_cr(vcpu);
		return 0;
	}
	/* clearing PCIDE flushes every PCID: the context reset flushes */
	memcpy(pdptrs, vcpu->pdptrs, sizeof(pdptrs));
	r = mmu_context_changed(vcpu, (old ^ val) & CR4_PDPTR_BITS);
	if (r > 0)
		restore_cr(vcpu, vcpu->cr0, old, vcpu->efer, pdptrs);
	return r;
}

int shv_set_cr3(struct shv_vcpu *vcpu, u64 val)
{
	int maxphy = shv_guest_maxphyaddr();
	bool noflush = false;
	u64 old;
	int r;

	if (vcpu->cr4 & X86_CR4_PCIDE) {
		noflush = val & BIT_ULL(63);
		val &= ~BIT_ULL(63);
	}
	if (shv_long_mode(vcpu)) {
		if (val >> maxphy)
			return 1;
	} else {
		val &= 0xffffffffULL;
	}
	old = vcpu->cr3;
	vcpu->cr3 = val;
	/* MOV to CR3 with PAE paging loads the PDPTE registers (SDM 4.4.1) */
	if (pae_paging(vcpu) && load_pdptrs(vcpu)) {
		vcpu->cr3 = old;
		return 1;
	}
	r = shv_mmu_new_cr3(vcpu, noflush);
	if (r > 0)
		vcpu->cr3 = old;
	return r;
}

/*
 * WRMSR(EFER). 1: #GP, with EFER and everything derived from it unchanged.
 * CR0.TS is guest-owned: sync it first, or shv_update_hw_cr() would put a
 * stale TS back into the guest's CR0.
 */
int shv_set_efer(struct shv_vcpu *vcpu, u64 val)
{
	u64 old = vcpu->efer, pdptrs[4];
	int r;

	if (val & ~EFER_ALLOWED)
		return 1;
	if ((val & EFER_NX) && !shv_cpuid_has_nx())
		return 1;
	if ((vcpu->cr0 & X86_CR0_PG) && ((old ^ val) & EFER_LME))
		return 1;
	shv_sync_cr0_ts(vcpu);
	/* LMA is read-only to WRMSR */
	val = (val & ~EFER_LMA) | (old & EFER_LMA);
	vcpu->efer = val;
	if (!((old ^ val) & EFER_NX)) {
		shv_update_hw_cr(vcpu);
		return 0;
	}
	/* NXE changes the walk, not the PDPTE registers */
	memcpy(pdptrs, vcpu->pdptrs, sizeof(pdptrs));
	r = mmu_context_changed(vcpu, false);
	if (r)
		restore_cr(vcpu, vcpu->cr0, vcpu->cr4, old, pdptrs);
	return r;
}

/* ---- segments and SREGS ---- */

struct seg_fields {
	u32 sel, base, limit, ar;
};

static const struct seg_fields seg_field[] = {
	[0] = { GUEST_CS_SELECTOR, GUEST_CS_BASE, GUEST_CS_LIMIT, GUEST_CS_AR_BYTES },
	[1] = { GUEST_DS_SELECTOR, GUEST_DS_BASE, GUEST_DS_LIMIT, GUEST_DS_AR_BYTES },
	[2] = { GUEST_ES_SELECTOR, GUEST_ES_BASE, GUEST_ES_LIMIT, GUEST_ES_AR_BYTES },
	[3] = { GUEST_FS_SELECTOR, GUEST_FS_BASE, GUEST_FS_LIMIT, GUEST_FS_AR_BYTES },
	[4] = { GUEST_GS_SELECTOR, GUEST_GS_BASE, GUEST_GS_LIMIT, GUEST_GS_AR_BYTES },
	[5] = { GUEST_SS_SELECTOR, GUEST_SS_BASE, GUEST_SS_LIMIT, GUEST_SS_AR_BYTES },
	[6] = { GUEST_TR_SELECTOR, GUEST_TR_BASE, GUEST_TR_LIMIT, GUEST_TR_AR_BYTES },
	[7] = { GUEST_LDTR_SELECTOR, GUEST_LDTR_BASE, GUEST_LDTR_LIMIT, GUEST_LDTR_AR_BYTES },
};

static struct shadowvm_segment *sregs_seg(struct shadowvm_sregs *s, int i)
{
	struct shadowvm_segment *segs[] = { &s->cs, &s->ds, &s->es, &s->fs, &s->gs,
					    &s->ss, &s->tr, &s->ldt };
	return segs[i];
}

static u32 seg_to_ar(const struct shadowvm_segment *s)
{
	if (s->unusable || !s->present)
		return AR_UNUSABLE;
	return (s->type & 15) | (s->s & 1) << 4 | (s->dpl & 3) << 5 | 1 << 7 |
	       (s->avl & 1) << 12 | (s->l & 1) << 13 | (s->db & 1) << 14 |
	       (s->g & 1) << 15;
}

static void ar_to_seg(u32 ar, struct shadowvm_segment *s)
{
	s->unusable = !!(ar & AR_UNUSABLE);
	s->type = ar & 15;
	s->s = (ar >> 4) & 1;
	s->dpl = (ar >> 5) & 3;
	s->present = s->unusable ? 0 : (ar >> 7) & 1;
	s->avl = (ar >> 12) & 1;
	s->l = (ar >> 13) & 1;
	s->db = (ar >> 14) & 1;
	s->g = (ar >> 15) & 1;
	s->padding = 0;
}

static bool is_canonical(u64 a)
{
	return (u64)(((s64)a << 16) >> 16) == a;
}

static bool limit_g_ok(const struct shadowvm_segment *s)
{
	if ((s->limit & 0xfff) != 0xfff && s->g)
		return false;
	if ((s->limit & 0xfff00000) && !s->g)
		return false;
	return true;
}

/* VMX guest-state checks (SDM 27.3.1) for a protected-mode, non-VM86 guest. */
static int check_sregs(struct shv_vcpu *vcpu, struct shadowvm_sregs *s, const char **why)
{
	bool lma = s->efer & EFER_LMA;
	int i;

#define BAD(msg) do { *why = msg; return -EINVAL; } while (0)
	for (i = 0; i < ARRAY_SIZE(s->reserved); i++)
		if (s->reserved[i])
			BAD("reserved field not zero");
	for (i = 0; i < ARRAY_SIZE(seg_field); i++)
		if (sregs_seg(s, i)->padding)
			BAD("segment padding not zero");
	for (i = 0; i < ARRAY_SIZE(s->gdt.padding); i++)
		if (s->gdt.padding[i] || s->idt.padding[i])
			BAD("descriptor-table padding not zero");
	if (s->cr0 & CR0_RESERVED_HI)
		BAD("CR0 bits 63:32 set");
	if (!(s->cr0 & X86_CR0_PE))
		BAD("CR0.PE=0: real mode is not supported");
	if ((s->cr0 & X86_CR0_NW) && !(s->cr0 & X86_CR0_CD))
		BAD("CR0.NW=1 with CR0.CD=0");
	if (s->cr4 & ~guest_cr4_allowed())
		BAD("CR4 has a reserved or unsupported bit");
	if (s->efer & ~EFER_ALLOWED)
		BAD("EFER has a reserved bit");
	if ((s->efer & EFER_NX) && !shv_cpuid_has_nx())
		BAD("EFER.NXE without NX");
	if ((s->efer & EFER_LME) && (s->cr0 & X86_CR0_PG) && !(s->cr4 & X86_CR4_PAE))
		BAD("EFER.LME with paging and CR4.PAE=0");
	if (lma != ((s->efer & EFER_LME) && (s->cr0 & X86_CR0_PG)))
		BAD("EFER.LMA != EFER.LME && CR0.PG");
	if (s->cr3 >> shv_guest_maxphyaddr())
		BAD("CR3 above MAXPHYADDR");
	if (s->cr8 > 15)
		BAD("CR8 > 15");
	if ((s->cr4 & X86_CR4_PCIDE) && !lma)
		BAD("CR4.PCIDE outside long mode");

	/* CS */
	if (s->cs.unusable || !s->cs.present)
		BAD("CS unusable");
	if (!(s->cs.type & 8) || !s->cs.s)
		BAD("CS is not a code segment");
	if (lma && s->cs.l && s->cs.db)
		BAD("CS.L and CS.D both set");
	if (!lma && s->cs.l)
		BAD("CS.L outside long mode");
	if (s->cs.type & 4) {		/* conforming */
		if (s->cs.dpl > s->ss.dpl && !s->ss.unusable)
			BAD("conforming CS.DPL > SS.DPL");
	} else if (!s->ss.unusable && s->cs.dpl != s->ss.dpl) {
		BAD("SS.DPL != CS.DPL");
	}
	/* SS */
	if (!s->ss.unusable && s->ss.present) {
		if ((s->ss.type != 3 && s->ss.type != 7 && s->ss.type != 2 && s->ss.type != 6) ||
		    !s->ss.s)
			BAD("SS is not a writable data segment");
		if (s->ss.dpl != (s->ss.selector & 3))
			BAD("SS.DPL != SS.RPL");
	} else if (!lma) {
		BAD("SS unusable outside long mode");
	}
	/* data segments */
	for (i = 1; i <= 5; i++) {
		struct shadowvm_segment *g = sregs_seg(s, i);

		if (g->unusable || !g->present)
			continue;
		if (!g->s)
			BAD("data segment with S=0");
		if ((g->type & 8) && !(g->type & 2))
			BAD("execute-only code segment in a data register");
		if (i != 5 && g->type < 12 && g->dpl < (g->selector & 3))
			BAD("data segment DPL < RPL");
		if (!limit_g_ok(g))
			BAD("segment limit inconsistent with G");
	}
	if (!limit_g_ok(&s->cs))
		BAD("CS limit inconsistent with G");
	if (!is_canonical(s->fs.base) || !is_canonical(s->gs.base))
		BAD("FS/GS base not canonical");
	if ((s->cs.base | s->ss.base | s->ds.base | s->es.base) >> 32)
		BAD("CS/SS/DS/ES base above 4 GiB");
	/* TR */
	if (s->tr.unusable || !s->tr.present || s->tr.s)
		BAD("TR unusable");
	if (s->tr.type != 11 && (lma || s->tr.type != 3))
		BAD("TR is not a busy TSS");
	if (s->tr.selector & 4)
		BAD("TR selector has TI=1");
	if (!limit_g_ok(&s->tr) || !is_canonical(s->tr.base))
		BAD("TR limit/base invalid");
	/* LDTR */
	if (!s->ldt.unusable && s->ldt.present) {
		if (s->ldt.type != 2 || s->ldt.s || (s->ldt.selector & 4))
			BAD("LDTR is not an LDT");
		if (!limit_g_ok(&s->ldt) || !is_canonical(s->ldt.base))
			BAD("LDTR limit/base invalid");
	}
	if (!is_canonical(s->gdt.base) || !is_canonical(s->idt.base))
		BAD("GDTR/IDTR base not canonical");
#undef BAD
	return 0;
}

static void get_sregs(struct shv_vcpu *vcpu, struct shadowvm_sregs *s)
{
	int i;

	memset(s, 0, sizeof(*s));
	shv_sync_cr0_ts(vcpu);
	for (i = 0; i < ARRAY_SIZE(seg_field); i++) {
		struct shadowvm_segment *g = sregs_seg(s, i);

		g->selector = vmcs_read(seg_field[i].sel);
		g->base = vmcs_read(seg_field[i].base);
		g->limit = vmcs_read(seg_field[i].limit);
		ar_to_seg(vmcs_read(seg_field[i].ar), g);
	}
	s->gdt.base = vmcs_read(GUEST_GDTR_BASE);
	s->gdt.limit = vmcs_read(GUEST_GDTR_LIMIT);
	s->idt.base = vmcs_read(GUEST_IDTR_BASE);
	s->idt.limit = vmcs_read(GUEST_IDTR_LIMIT);
	s->cr0 = vcpu->cr0;
	s->cr2 = vcpu->cr2;
	s->cr3 = vcpu->cr3;
	s->cr4 = vcpu->cr4;
	s->cr8 = vcpu->cr8;
	s->efer = vcpu->efer;
	s->apic_base = vcpu->apic_base;
}

static int set_sregs(struct shv_vcpu *vcpu, struct shadowvm_sregs *s)
{
	const char *why = NULL;
	u64 pdpte[4] = { 0 };
	int i, r;

	r = check_sregs(vcpu, s, &why);
	if (!r && (s->cr0 & X86_CR0_PG) && (s->cr4 & X86_CR4_PAE) && !(s->efer & EFER_LMA)) {
		why = "PAE PDPTEs at CR3 are invalid";
		r = -EINVAL;
		if (!shv_read_gpa(vcpu->vm, s->cr3 & 0xffffffe0ULL, pdpte, sizeof(pdpte))) {
			r = 0;
			for (i = 0; i < 4; i++)
				if (shv_pae_pdpte_bad(vcpu, pdpte[i]))
					r = -EINVAL;
		}
	}
	if (r) {
		shv_info_rl("SET_SREGS refused: %s\n", why);
		return r;
	}
	for (i = 0; i < ARRAY_SIZE(seg_field); i++) {
		struct shadowvm_segment *g = sregs_seg(s, i);
		u32 ar = seg_to_ar(g);

		/* descriptor loads set the accessed bit; VMX requires it */
		if (!(ar & AR_UNUSABLE) && g->s)
			ar |= 1;
		vmcs_write(seg_field[i].sel, g->selector);
		vmcs_write(seg_field[i].base, g->base);
		vmcs_write(seg_field[i].limit, g->limit);
		vmcs_write(seg_field[i].ar, ar);
	}
	vmcs_write(GUEST_GDTR_BASE, s->gdt.base);
	vmcs_write(GUEST_GDTR_LIMIT, s->gdt.limit);
	vmcs_write(GUEST_IDTR_BASE, s->idt.base);
	vmcs_write(GUEST_IDTR_LIMIT, s->idt.limit);
	vcpu->cr0 = s->cr0 | X86_CR0_ET;
	vcpu->cr2 = s->cr2;
	vcpu->cr3 = s->cr3;
	vcpu->cr4 = s->cr4;
	vcpu->cr8 = s->cr8;
	vcpu->efer = s->efer;
	vcpu->apic_base = s->apic_base;
	memcpy(vcpu->pdptrs, pdpte, sizeof(pdpte));	/* checked above */
	shv_update_hw_cr(vcpu);
	return shv_mmu_reset_context(vcpu);
}

static void get_regs(struct shv_vcpu *vcpu, struct shadowvm_regs *r)
{
	r->rax = vcpu->regs[SHV_RAX];
	r->rbx = vcpu->regs[SHV_RBX];
	r->rcx = vcpu->regs[SHV_RCX];
	r->rdx = vcpu->regs[SHV_RDX];
	r->rsi = vcpu->regs[SHV_RSI];
	r->rdi = vcpu->regs[SHV_RDI];
	r->rsp = vmcs_read(GUEST_RSP);
	r->rbp = vcpu->regs[SHV_RBP];
	r->r8 = vcpu->regs[SHV_R8];
	r->r9 = vcpu->regs[SHV_R9];
	r->r10 = vcpu->regs[SHV_R10];
	r->r11 = vcpu->regs[SHV_R11];
	r->r12 = vcpu->regs[SHV_R12];
	r->r13 = vcpu->regs[SHV_R13];
	r->r14 = vcpu->regs[SHV_R14];
	r->r15 = vcpu->regs[SHV_R15];
	r->rip = vmcs_read(GUEST_RIP);
	r->rflags = vmcs_read(GUEST_RFLAGS);
}

#define RFLAGS_RESERVED (~0x3f7fd7ULL)	/* bits 3, 5, 15, 22-63 */

static int set_regs(struct shv_vcpu *vcpu, struct shadowvm_regs *r)
{
	if (r->rflags & RFLAGS_RESERVED) {
		shv_info_rl("SET_REGS refused: reserved RFLAGS bits 0x%llx\n", r->rflags);
		return -EINVAL;
	}
	if (r->rflags & X86_EFLAGS_VM) {
		shv_info_rl("SET_REGS refused: virtual-8086 mode is not supported\n");
		return -EINVAL;
	}
	vcpu->regs[SHV_RAX] = r->rax;
	vcpu->regs[SHV_RBX] = r->rbx;
	vcpu->regs[SHV_RCX] = r->rcx;
	vcpu->regs[SHV_RDX] = r->rdx;
	vcpu->regs[SHV_RSI] = r->rsi;
	vcpu->regs[SHV_RDI] = r->rdi;
	vcpu->regs[SHV_RBP] = r->rbp;
	vcpu->regs[SHV_R8] = r->r8;
	vcpu->regs[SHV_R9] = r->r9;
	vcpu->regs[SHV_R10] = r->r10;
	vcpu->regs[SHV_R11] = r->r11;
	vcpu->regs[SHV_R12] = r->r12;
	vcpu->regs[SHV_R13] = r->r13;
	vcpu->regs[SHV_R14] = r->r14;
	vcpu->regs[SHV_R15] = r->r15;
	vmcs_write(GUEST_RSP, r->rsp);
	vmcs_write(GUEST_RIP, r->rip);
	vmcs_write(GUEST_RFLAGS, r->rflags | X86_EFLAGS_FIXED);
	/* a new context: any half-done event or user exit is void */
	vcpu->event.valid = false;
	vcpu->pending = SHV_PENDING_NONE;
	return 0;
}

/* ---- VMCS initialisation ---- */

static void setup_vmcs(struct shv_vcpu *vcpu)
{
	u64 pat;

	vmcs_write(VMCS_LINK_POINTER, ~0UL);
	vmcs_write(PIN_BASED_VM_EXEC_CONTROL, shv_caps.pin);
	/*
	 * Under strict write-protection the shadow never goes stale, so a
	 * guest INVLPG only has to flush the (VPID-tagged) hardware TLB,
	 * which it does when it runs natively: no INVLPG exits. The policy
	 * says whether it needs to see every INVLPG.
	 */
	if (!shv_mmu_intercept_invlpg(vcpu->vm))
		vmcs_write(CPU_BASED_VM_EXEC_CONTROL, shv_caps.cpu & ~CPU_INVLPG_EXITING);
	else
		vmcs_write(CPU_BASED_VM_EXEC_CONTROL, shv_caps.cpu);
	vmcs_write(SECONDARY_VM_EXEC_CONTROL,
		   vcpu->vpid ? shv_caps.cpu2 : shv_caps.cpu2 & ~CPU2_ENABLE_VPID);
	if (vcpu->vpid)
		vmcs_write(VIRTUAL_PROCESSOR_ID, vcpu->vpid);
	vmcs_write(VM_EXIT_CONTROLS, shv_caps.exit);
	vmcs_write(VM_ENTRY_CONTROLS, shv_caps.entry);
	/*
	 * #MC exits so the host's machine-check handler sees it; #DB keeps
	 * the host's DR6 the host's; #AC catches split locks.
	 */
	vmcs_write(EXCEPTION_BITMAP, (1u << PF_VECTOR) | (1u << MC_VECTOR) |
		   (1u << DB_VECTOR) | (1u << AC_VECTOR));
	vmcs_write(PAGE_FAULT_ERROR_CODE_MASK, 0);
	vmcs_write(PAGE_FAULT_ERROR_CODE_MATCH, 0);
	vmcs_write(CR3_TARGET_COUNT, 0);
	vmcs_write(VM_EXIT_MSR_STORE_COUNT, 0);
	vmcs_write(VM_EXIT_MSR_LOAD_COUNT, 0);
	vmcs_write(VM_ENTRY_MSR_LOAD_COUNT, 0);
	vmcs_write(VM_ENTRY_INTR_INFO_FIELD, 0);
	vmcs_write(IO_BITMAP_A, page_to_phys(vcpu->io_bitmap));
	vmcs_write(IO_BITMAP_B, page_to_phys(vcpu->io_bitmap + 1));
	vmcs_write(MSR_BITMAP, page_to_phys(vcpu->msr_bitmap));
	vmcs_write(CR0_GUEST_HOST_MASK, ~(unsigned long)X86_CR0_TS);
	vmcs_write(CR4_GUEST_HOST_MASK, ~0UL);

	/* host state that does not change per CPU */
	vmcs_write(HOST_CS_SELECTOR, __KERNEL_CS);
	vmcs_write(HOST_SS_SELECTOR, __KERNEL_DS);
	vmcs_write(HOST_DS_SELECTOR, 0);
	vmcs_write(HOST_ES_SELECTOR, 0);
	vmcs_write(HOST_FS_SELECTOR, 0);
	vmcs_write(HOST_GS_SELECTOR, 0);
	vmcs_write(HOST_TR_SELECTOR, GDT_ENTRY_TSS * 8);
	vmcs_write(HOST_RIP, (unsigned long)shv_vmx_exit_target);
	rdmsrl(MSR_IA32_CR_PAT, pat);
	vmcs_write(HOST_IA32_PAT, pat);

	/* guest: flat 32-bit protected mode, paging off */
	vmcs_write(GUEST_ACTIVITY_STATE, 0);
	vmcs_write(GUEST_INTERRUPTIBILITY_INFO, 0);
	vmcs_write(GUEST_PENDING_DBG_EXCEPTIONS, 0);
	vmcs_write(GUEST_IA32_DEBUGCTL, 0);
	vmcs_write(GUEST_DR7, 0x400);
	vmcs_write(GUEST_SYSENTER_CS, 0);
	vmcs_write(GUEST_SYSENTER_ESP, 0);
	vmcs_write(GUEST_SYSENTER_EIP, 0);
	vmcs_write(GUEST_RFLAGS, X86_EFLAGS_FIXED);
	vmcs_write(GUEST_RIP, 0);
	vmcs_write(GUEST_RSP, 0);
}

static void default_sregs(struct shadowvm_sregs *s)
{
	struct shadowvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x08, .type = 0xb,
		.present = 1, .s = 1, .db = 1, .g = 1,
	};
	struct shadowvm_segment data = code;

	memset(s, 0, sizeof(*s));
	data.selector = 0x10;
	data.type = 3;
	s->cs = code;
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	s->tr = (struct shadowvm_segment){ .selector = 0x18, .limit = 0x67, .type = 11,
					   .present = 1 };
	s->ldt = (struct shadowvm_segment){ .unusable = 1 };
	s->gdt.limit = 0xffff;
	s->idt.limit = 0xffff;
	s->cr0 = X86_CR0_PE | X86_CR0_ET;
	s->apic_base = 0xfee00900;	/* BSP, enabled */
}

/* ---- run loop ---- */

static void inject_pending_event(struct shv_vcpu *vcpu)
{
	struct shv_pending_event *ev = &vcpu->event;

	if (!ev->valid)
		return;
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

static int vcpu_run(struct shv_vcpu *vcpu)
{
	struct shadowvm_run *run = vcpu->run;
	int r;

	if (current->mm != vcpu->vm->mm)
		return -EIO;
	if (READ_ONCE(run->request_interrupt_window) ||
	    memchr_inv(run->padding1, 0, sizeof(run->padding1))) {
		shv_info_rl("RUN: request_interrupt_window and padding1 are reserved in API v1\n");
		return -EINVAL;
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
		if (vcpu->pending_shutdown) {
			vcpu->pending_shutdown = false;
			run->exit_reason = SHADOWVM_EXIT_SHUTDOWN;
			return 0;
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
		if (!root || need_resched() || signal_pending(current)) {
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
		/* set by other vCPUs' MMU work before their kick (mmu.c) */
		if (READ_ONCE(vcpu->flush_pending)) {
			WRITE_ONCE(vcpu->flush_pending, false);
			shv_flush_tlb(vcpu);
		}
		inject_pending_event(vcpu);
		if (shv_caps.preempt_value)
			vmcs_write(VMX_PREEMPTION_TIMER_VALUE, shv_caps.preempt_value);
		asm volatile("fxrstor64 %0" : : "m"(*(char (*)[512])vcpu->fx_area));
		if (native_read_cr2() != vcpu->cr2)
			native_write_cr2(vcpu->cr2);
		host_debug_before_entry();

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
		if (!(reason & EXIT_REASON_FAILED_VMENTRY))
			record_vectoring(vcpu);
		r = shv_handle_exit(vcpu, reason);
		if (r <= 0)
			return r;
	}
}

/* ---- the vCPU fd ---- */

static long shv_vcpu_ioctl(struct file *f, unsigned int ioctl, unsigned long arg)
{
	struct shv_vcpu *vcpu = f->private_data;
	void __user *argp = (void __user *)arg;
	union {
		struct shadowvm_regs regs;
		struct shadowvm_sregs sregs;
	} u;
	long r = 0;

	switch (ioctl) {
	case SHADOWVM_RUN:
	case SHADOWVM_GET_REGS:
	case SHADOWVM_GET_SREGS:
	case SHADOWVM_GET_VCPU_STATS:
		break;
	case SHADOWVM_SET_REGS:
		if (copy_from_user(&u.regs, argp, sizeof(u.regs)))
			return -EFAULT;
		break;
	case SHADOWVM_SET_SREGS:
		if (copy_from_user(&u.sregs, argp, sizeof(u.sregs)))
			return -EFAULT;
		break;
	default:
		return -ENOTTY;
	}
	if (ioctl == SHADOWVM_GET_VCPU_STATS) {
		struct shadowvm_stats *st = shv_zalloc(sizeof(*st));
		int i;

		if (!st)
			return -ENOMEM;
		st->nr_stats = SHADOWVM_STAT_NR;
		st->mmu_policy = vcpu->vm->cfg.mmu_policy;
		/* counters are read racily on purpose: RUN may be in progress */
		for (i = 0; i < SHADOWVM_STAT_NR; i++)
			st->val[i] = READ_ONCE(vcpu->stats[i]);
		if (copy_to_user(argp, st, sizeof(*st)))
			r = -EFAULT;
		shv_kfree(st);
		return r;
	}

	if (mutex_lock_killable(&vcpu->lock))
		return -EINTR;
	vcpu_load(vcpu);
	/* guest memory is reached only inside vm->srcu (vm.c, slot lifetime) */
	vcpu->srcu_idx = srcu_read_lock(&vcpu->vm->srcu);
	switch (ioctl) {
	case SHADOWVM_RUN:
		r = vcpu_run(vcpu);
		break;
	case SHADOWVM_GET_REGS:
		get_regs(vcpu, &u.regs);
		break;
	case SHADOWVM_SET_REGS:
		r = set_regs(vcpu, &u.regs);
		break;
	case SHADOWVM_GET_SREGS:
		get_sregs(vcpu, &u.sregs);
		break;
	case SHADOWVM_SET_SREGS:
		r = set_sregs(vcpu, &u.sregs);
		break;
	}
	srcu_read_unlock(&vcpu->vm->srcu, vcpu->srcu_idx);
	vcpu_put(vcpu);
	mutex_unlock(&vcpu->lock);

	if (!r && ioctl == SHADOWVM_GET_REGS && copy_to_user(argp, &u.regs, sizeof(u.regs)))
		r = -EFAULT;
	if (!r && ioctl == SHADOWVM_GET_SREGS && copy_to_user(argp, &u.sregs, sizeof(u.sregs)))
		r = -EFAULT;
	return r;
}

static vm_fault_t shv_vcpu_fault(struct vm_fault *vmf)
{
	struct shv_vcpu *vcpu = vmf->vma->vm_file->private_data;
	struct page *pg;

	if (vmf->pgoff != 0)
		return VM_FAULT_SIGBUS;
	pg = virt_to_page(vcpu->run);
	get_page(pg);
	vmf->page = pg;
	return 0;
}

static const struct vm_operations_struct shv_vcpu_vm_ops = {
	.fault = shv_vcpu_fault,
};

static int shv_vcpu_mmap(struct file *f, struct vm_area_struct *vma)
{
	if (vma->vm_pgoff != 0 || vma->vm_end - vma->vm_start > PAGE_SIZE ||
	    !(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	vma->vm_ops = &shv_vcpu_vm_ops;
	return 0;
}

static int shv_vcpu_release(struct inode *inode, struct file *f)
{
	struct shv_vcpu *vcpu = f->private_data;
	struct shv_vm *vm = vcpu->vm;

	mutex_lock(&vm->lock);
	WRITE_ONCE(vm->vcpus[vcpu->id], NULL);	/* mmu_lock holders may still use it */
	mutex_unlock(&vm->lock);
	shv_vcpu_free(vcpu);
	shv_vm_put(vm);
	return 0;
}

static const struct file_operations shv_vcpu_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= shv_vcpu_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= shv_vcpu_mmap,
	.release	= shv_vcpu_release,
	.llseek		= noop_llseek,
};

void shv_vcpu_free(struct shv_vcpu *vcpu)
{
	shv_vmx_forget_vm(vcpu->vm);
	shv_mmu_vcpu_destroy(vcpu);
	shv_vpid_free(vcpu->vpid);
	shv_free_vmcs(vcpu->vmcs);
	if (vcpu->run)
		shv_free_page(virt_to_page(vcpu->run));
	if (vcpu->fx_area)
		shv_free_page(virt_to_page(vcpu->fx_area));
	if (vcpu->io_bitmap) {
		__free_pages(vcpu->io_bitmap, 1);
		atomic_long_sub(2, &shv_global.live_pages);
	}
	shv_free_page(vcpu->msr_bitmap);
	shv_kfree(vcpu->emu);
	shv_kfree(vcpu);
	atomic_dec(&shv_global.live_vcpus);
}

long shv_create_vcpu(struct shv_vm *vm, unsigned long id)
{
	struct shadowvm_sregs *sregs;
	struct shv_vcpu *vcpu;
	struct page *pg;
	int r, fd;

	if (id >= SHADOWVM_MAX_VCPUS)
		return -EINVAL;
	if (current->mm != vm->mm)
		return -EIO;
	vcpu = shv_zalloc(sizeof(*vcpu));
	if (!vcpu)
		return -ENOMEM;
	atomic_inc(&shv_global.live_vcpus);
	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->cpu = -1;
	vcpu->last_cpu = -1;
	mutex_init(&vcpu->lock);
	r = -ENOMEM;
	vcpu->vmcs = shv_alloc_vmcs();
	pg = shv_alloc_page(0);
	if (pg)
		vcpu->run = page_address(pg);
	pg = shv_alloc_page(0);
	if (pg)
		vcpu->fx_area = page_address(pg);
	vcpu->io_bitmap = alloc_pages(GFP_KERNEL_ACCOUNT, 1);
	if (vcpu->io_bitmap) {
		atomic_long_add(2, &shv_global.live_pages);
		memset(page_address(vcpu->io_bitmap), 0xff, 2 * PAGE_SIZE);
	}
	vcpu->msr_bitmap = shv_alloc_page(0);
	vcpu->emu = shv_zalloc(sizeof(*vcpu->emu));
	if (!vcpu->emu || !vcpu->vmcs || !vcpu->run || !vcpu->fx_area || !vcpu->io_bitmap ||
	    !vcpu->msr_bitmap)
		goto fail;
	memset(page_address(vcpu->msr_bitmap), 0xff, PAGE_SIZE);
	/* FXSAVE image defaults: FCW 0x37f, MXCSR 0x1f80 */
	*(u16 *)vcpu->fx_area = 0x37f;
	*(u32 *)(vcpu->fx_area + 24) = 0x1f80;
	vcpu->vpid = shv_vpid_alloc();
	vcpu->msr_pat = 0x0007040600070406ULL;
	vcpu->dr7 = 0x400;
	r = shv_mmu_vcpu_init(vcpu);
	if (r)
		goto fail;

	sregs = shv_zalloc(sizeof(*sregs));
	if (!sregs) {
		r = -ENOMEM;
		goto fail;
	}
	default_sregs(sregs);
	preempt_disable();
	shv_vmclear(__pa(vcpu->vmcs));	/* initialise the region, launch state clear */
	preempt_enable();
	vcpu_load(vcpu);
	setup_vmcs(vcpu);
	vcpu->srcu_idx = srcu_read_lock(&vm->srcu);
	r = set_sregs(vcpu, sregs);
	srcu_read_unlock(&vm->srcu, vcpu->srcu_idx);
	vcpu_put(vcpu);
	shv_kfree(sregs);
	if (r)
		goto fail;

	mutex_lock(&vm->lock);
	if (vm->vcpus[id]) {
		mutex_unlock(&vm->lock);
		r = -EEXIST;
		goto fail;
	}
	shv_vm_get(vm);
	fd = anon_inode_getfd("shadowvm-vcpu", &shv_vcpu_fops, vcpu, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		mutex_unlock(&vm->lock);
		shv_vm_put(vm);
		r = fd;
		goto fail;
	}
	smp_store_release(&vm->vcpus[id], vcpu);	/* read locklessly by the MMU */
	mutex_unlock(&vm->lock);
	return fd;
fail:
	shv_vcpu_free(vcpu);
	return r;
}
