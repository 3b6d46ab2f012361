// SPDX-License-Identifier: GPL-2.0
/*
 * Guest MSR accesses. Every RDMSR/WRMSR exits (the MSR bitmap is all
 * ones); the MSRs listed here are emulated (Documentation/msr.rst has the
 * table), anything else is #GP in the guest, counted per index for the
 * VM's debugfs file unknown_msrs and named in a rate-limited log line. A
 * guest MSR write reaches the hardware only through VMCS guest-state
 * fields (SYSENTER_*, FS/GS base, the TSC offset), or for the MSRs that
 * vcpu.c/run.c keep live while the vCPU is loaded (STAR, LSTAR, CSTAR,
 * FMASK, KERNEL_GS_BASE, and IA32_TSC_AUX here through
 * shv_msr_swap_in/out()), after the SDM's canonical/reserved-bit checks.
 *
 * Contract: shv_get_msr()/shv_set_msr() return 0 on success, 1 to make the
 * caller inject #GP(0); they run with the vCPU's VMCS current. The
 * per-vCPU state (struct shv_msr_vcpu) is allocated at vCPU creation and
 * freed with the vCPU, only ever touched by that vCPU's ioctl; the per-VM
 * unknown-MSR table (struct shv_msr_vm) is written by any vCPU under its
 * spinlock and read by debugfs under it, and freed after the debugfs
 * directory is gone (vm.c removes it first, which waits for readers).
 */
#include <linux/kernel.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/spinlock.h>
#include <asm/msr-index.h>
#include <asm/msr.h>
#include <asm/processor.h>
#include "shadowvm.h"
#include "vmx/vmx_defs.h"

#define SHV_MCE_BANKS		10
#define MCG_CTL_P		BIT_ULL(8)
#define MCG_STATUS_WRITABLE	0x7ULL		/* RIPV, EIPV, MCIP (no LMCE) */
#define SHV_UNKNOWN_MSRS	64

struct shv_msr_vcpu {
	s64 tsc_offset;			/* guest TSC - host TSC (VMCS TSC_OFFSET) */
	u64 tsc_adjust;			/* IA32_TSC_ADJUST */
	u64 tsc_aux;			/* IA32_TSC_AUX, live while loaded */
	u64 host_tsc_aux;		/* the host's, saved at swap-in */
	bool aux_loaded;
	u64 mcg_status, mcg_ctl;
	u64 mce_banks[SHV_MCE_BANKS * 4];	/* CTL, STATUS, ADDR, MISC per bank */
};

struct shv_unknown_msr {
	u32 index;
	u64 reads, writes;
};

struct shv_msr_vm {
	spinlock_t lock;
	int nr;
	struct shv_unknown_msr ent[SHV_UNKNOWN_MSRS];
	u64 other_reads, other_writes;	/* indexes past the table */
};

/* ---- guest CPUID as the MSRs need it ---- */

static bool guest_has(struct shv_vcpu *vcpu, u32 leaf, int reg, int bit)
{
	u32 out[4];

	shv_cpuid(vcpu, leaf, 0, out);
	return out[reg] & BIT(bit);
}

#define R_EBX 1
#define R_ECX 2
#define R_EDX 3

static bool guest_has_tsc_aux(struct shv_vcpu *vcpu)
{
	return guest_has(vcpu, 0x80000001, R_EDX, 27) || guest_has(vcpu, 7, R_ECX, 22);
}

/* ---- vCPU lifetime ---- */

int shv_msr_vcpu_init(struct shv_vcpu *vcpu)
{
	struct shv_msr_vcpu *m;
	int i;

	m = shv_zalloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->mcg_ctl = ~0ULL;
	for (i = 0; i < SHV_MCE_BANKS; i++)
		m->mce_banks[i * 4] = ~0ULL;	/* MCi_CTL: every error reported */
	vcpu->msrs = m;
	vcpu->msr_misc_enable = MSR_IA32_MISC_ENABLE_FAST_STRING |
				MSR_IA32_MISC_ENABLE_BTS_UNAVAIL |
				MSR_IA32_MISC_ENABLE_PEBS_UNAVAIL;
	/* the guest's TSC starts as the host's: all vCPUs of a VM agree */
	vmcs_write(TSC_OFFSET, 0);
	return 0;
}

void shv_msr_vcpu_free(struct shv_vcpu *vcpu)
{
	shv_kfree(vcpu->msrs);
	vcpu->msrs = NULL;
}

/*
 * IA32_TSC_AUX: RDTSCP and RDPID read it without an exit, so the guest's
 * value is in the CPU while the vCPU is loaded (the kernel itself does not
 * read TSC_AUX; user space does, and this task gets back to user space,
 * or another task runs here, only after shv_msr_swap_out()). Preemption
 * is off; both run on the same CPU.
 */
void shv_msr_swap_in(struct shv_vcpu *vcpu)
{
	struct shv_msr_vcpu *m = vcpu->msrs;

	if (!shv_cpuid_host_tsc_aux() || !m)
		return;
	rdmsrl(MSR_TSC_AUX, m->host_tsc_aux);
	if (m->host_tsc_aux != m->tsc_aux)
		wrmsrl(MSR_TSC_AUX, m->tsc_aux);
	m->aux_loaded = true;
}

void shv_msr_swap_out(struct shv_vcpu *vcpu)
{
	struct shv_msr_vcpu *m = vcpu->msrs;

	if (!m || !m->aux_loaded)
		return;
	if (m->host_tsc_aux != m->tsc_aux)
		wrmsrl(MSR_TSC_AUX, m->host_tsc_aux);
	m->aux_loaded = false;
}

/* ---- TSC ---- */

static u64 guest_tsc(struct shv_vcpu *vcpu)
{
	return rdtsc() + vcpu->msrs->tsc_offset;
}

static void set_tsc_offset(struct shv_vcpu *vcpu, s64 offset)
{
	vcpu->msrs->tsc_offset = offset;
	vmcs_write(TSC_OFFSET, offset);
}

/*
 * A guest write to IA32_TSC moves IA32_TSC_ADJUST by the same amount
 * (SDM vol. 3 17.17.3), and a write to IA32_TSC_ADJUST moves the TSC.
 */
static void write_tsc(struct shv_vcpu *vcpu, u64 val)
{
	struct shv_msr_vcpu *m = vcpu->msrs;
	s64 offset = val - rdtsc();

	m->tsc_adjust += offset - m->tsc_offset;
	set_tsc_offset(vcpu, offset);
}

static void write_tsc_adjust(struct shv_vcpu *vcpu, u64 val)
{
	struct shv_msr_vcpu *m = vcpu->msrs;

	set_tsc_offset(vcpu, m->tsc_offset + (s64)(val - m->tsc_adjust));
	m->tsc_adjust = val;
}

/*
 * RDTSC/RDTSCP exits, only on a CPU without TSC offsetting (caps.c then
 * sets RDTSC exiting); counted in EXIT_RDTSC.
 */
int shv_handle_rdtsc(struct shv_vcpu *vcpu, bool rdtscp)
{
	u64 tsc;

	shv_stat_inc(vcpu, EXIT_RDTSC);
	if ((vcpu->cr4 & X86_CR4_TSD) && shv_cpl(vcpu)) {
		shv_queue_exception(vcpu, GP_VECTOR, true, 0);
		return 1;
	}
	tsc = guest_tsc(vcpu);
	vcpu->regs[SHV_RAX] = (u32)tsc;
	vcpu->regs[SHV_RDX] = tsc >> 32;
	if (rdtscp)
		vcpu->regs[SHV_RCX] = (u32)vcpu->msrs->tsc_aux;
	shv_skip_insn(vcpu);
	return 1;
}

/* ---- machine check ---- */

static bool is_mce_bank_msr(u32 msr)
{
	return msr >= MSR_IA32_MC0_CTL && msr < MSR_IA32_MC0_CTL + 4 * SHV_MCE_BANKS;
}

static int set_mce(struct shv_vcpu *vcpu, u32 msr, u64 val)
{
	struct shv_msr_vcpu *m = vcpu->msrs;
	u32 i;

	switch (msr) {
	case MSR_IA32_MCG_STATUS:
		if (val & ~MCG_STATUS_WRITABLE)
			return 1;
		m->mcg_status = val;
		return 0;
	case MSR_IA32_MCG_CTL:
		if (val != 0 && val != ~0ULL)
			return 1;
		m->mcg_ctl = val;
		return 0;
	}
	i = msr - MSR_IA32_MC0_CTL;
	switch (i & 3) {
	case 0:
		/*
		 * MCi_CTL: 0 or all ones. As KVM does, tolerate a clear bit
		 * 10 (Linux's AMD K8 GART workaround) and bit 0 (UnixWare).
		 */
		if (val != 0 && (val | BIT_ULL(10) | 1) != ~0ULL)
			return 1;
		break;
	case 1:
		/* MCi_STATUS: software may only clear it */
		if (val)
			return 1;
		break;
	}
	m->mce_banks[i] = val;
	return 0;
}

static int get_mce(struct shv_vcpu *vcpu, u32 msr, u64 *val)
{
	struct shv_msr_vcpu *m = vcpu->msrs;

	switch (msr) {
	case MSR_IA32_MCG_CAP:
		*val = SHV_MCE_BANKS | MCG_CTL_P;
		return 0;
	case MSR_IA32_MCG_STATUS:
		*val = m->mcg_status;
		return 0;
	case MSR_IA32_MCG_CTL:
		*val = m->mcg_ctl;
		return 0;
	}
	*val = m->mce_banks[msr - MSR_IA32_MC0_CTL];
	return 0;
}

/* ---- unknown MSRs ---- */

static void count_unknown(struct shv_vcpu *vcpu, u32 msr, bool write)
{
	struct shv_msr_vm *t = vcpu->vm->msr;
	int i;

	shv_stat_inc(vcpu, UNKNOWN_MSR);
	if (!t)
		return;
	spin_lock(&t->lock);
	for (i = 0; i < t->nr; i++)
		if (t->ent[i].index == msr)
			break;
	if (i == t->nr && t->nr < SHV_UNKNOWN_MSRS)
		t->ent[t->nr++].index = msr;
	if (i < t->nr) {
		if (write)
			t->ent[i].writes++;
		else
			t->ent[i].reads++;
	} else if (write) {
		t->other_writes++;
	} else {
		t->other_reads++;
	}
	spin_unlock(&t->lock);
}

static int unknown_msrs_show(struct seq_file *s, void *unused)
{
	struct shv_msr_vm *t = ((struct shv_vm *)s->private)->msr;
	int i;

	seq_puts(s, "index reads writes\n");
	spin_lock(&t->lock);
	for (i = 0; i < t->nr; i++)
		seq_printf(s, "0x%x %llu %llu\n", t->ent[i].index, t->ent[i].reads,
			   t->ent[i].writes);
	if (t->other_reads || t->other_writes)
		seq_printf(s, "other %llu %llu\n", t->other_reads, t->other_writes);
	spin_unlock(&t->lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(unknown_msrs);

int shv_msr_vm_init(struct shv_vm *vm)
{
	vm->msr = shv_zalloc(sizeof(*vm->msr));
	if (!vm->msr)
		return -ENOMEM;
	spin_lock_init(&vm->msr->lock);
	debugfs_create_file("unknown_msrs", 0444, vm->debugfs, vm, &unknown_msrs_fops);
	return 0;
}

/* After debugfs_remove_recursive(vm->debugfs): no reader is left. */
void shv_msr_vm_free(struct shv_vm *vm)
{
	shv_kfree(vm->msr);
	vm->msr = NULL;
}

/* ---- RDMSR / WRMSR ---- */

static bool pat_valid(u64 pat)
{
	int i;

	for (i = 0; i < 8; i++) {
		u8 t = pat >> (i * 8);

		if (t == 2 || t == 3 || t > 7)
			return false;
	}
	return true;
}

static bool canonical(u64 val)
{
	return (u64)(((s64)val << 16) >> 16) == val;
}

/* MISC_ENABLE bits that read as set and ignore writes (no BTS, no PEBS) */
#define MISC_ENABLE_RO_SET	(MSR_IA32_MISC_ENABLE_BTS_UNAVAIL | \
				 MSR_IA32_MISC_ENABLE_PEBS_UNAVAIL)
/*
 * ... and bits that read as clear and ignore writes: MONITOR/MWAIT cannot
 * be enabled, NX cannot be hidden, CPUID cannot be limited to leaf 2.
 */
#define MISC_ENABLE_RO_CLEAR	(MSR_IA32_MISC_ENABLE_MWAIT | \
				 MSR_IA32_MISC_ENABLE_XD_DISABLE | \
				 MSR_IA32_MISC_ENABLE_LIMIT_CPUID)

int shv_get_msr(struct shv_vcpu *vcpu, u32 msr, u64 *val)
{
	switch (msr) {
	case MSR_EFER:
		*val = vcpu->efer;
		return 0;
	case MSR_IA32_SYSENTER_CS:
		*val = vmcs_read(GUEST_SYSENTER_CS);
		return 0;
	case MSR_IA32_SYSENTER_ESP:
		*val = vmcs_read(GUEST_SYSENTER_ESP);
		return 0;
	case MSR_IA32_SYSENTER_EIP:
		*val = vmcs_read(GUEST_SYSENTER_EIP);
		return 0;
	case MSR_FS_BASE:
		*val = vmcs_read(GUEST_FS_BASE);
		return 0;
	case MSR_GS_BASE:
		*val = vmcs_read(GUEST_GS_BASE);
		return 0;
	case MSR_KERNEL_GS_BASE:
		rdmsrl(MSR_KERNEL_GS_BASE, *val);	/* live while loaded */
		return 0;
	case MSR_STAR:
		*val = vcpu->msr_star;
		return 0;
	case MSR_LSTAR:
		*val = vcpu->msr_lstar;
		return 0;
	case MSR_CSTAR:
		*val = vcpu->msr_cstar;
		return 0;
	case MSR_SYSCALL_MASK:
		*val = vcpu->msr_fmask;
		return 0;
	case MSR_IA32_CR_PAT:
		*val = vcpu->msr_pat;
		return 0;
	case MSR_IA32_TSC:
		*val = guest_tsc(vcpu);
		return 0;
	case MSR_IA32_TSC_ADJUST:
		if (!guest_has(vcpu, 7, R_EBX, 1))
			break;
		*val = vcpu->msrs->tsc_adjust;
		return 0;
	case MSR_TSC_AUX:
		if (!guest_has_tsc_aux(vcpu))
			break;
		*val = vcpu->msrs->tsc_aux;
		return 0;
	case MSR_IA32_APICBASE:
		*val = shv_lapic_get_base(vcpu);
		return 0;
	case MSR_IA32_TSC_DEADLINE:	/* lapic_timer.c */
		*val = shv_lapic_get_tsc_deadline(vcpu);
		return 0;
	case MSR_IA32_MISC_ENABLE:
		*val = (vcpu->msr_misc_enable | MISC_ENABLE_RO_SET) & ~MISC_ENABLE_RO_CLEAR;
		return 0;
	case MSR_IA32_DEBUGCTLMSR:
		*val = 0;
		return 0;
	case MSR_IA32_UCODE_REV:
		*val = 0x100000000ULL;
		return 0;
	case MSR_IA32_MCG_CAP:
	case MSR_IA32_MCG_STATUS:
	case MSR_IA32_MCG_CTL:
		return get_mce(vcpu, msr, val);
	default:
		if (is_mce_bank_msr(msr))
			return get_mce(vcpu, msr, val);
		break;
	}
	count_unknown(vcpu, msr, false);
	shv_info_rl("guest RDMSR 0x%x not emulated: #GP\n", msr);
	return 1;
}

int shv_set_msr(struct shv_vcpu *vcpu, u32 msr, u64 val)
{
	switch (msr) {
	case MSR_EFER:
		return shv_set_efer(vcpu, val);
	case MSR_IA32_SYSENTER_CS:
		vmcs_write(GUEST_SYSENTER_CS, val);
		return 0;
	case MSR_IA32_SYSENTER_ESP:
	case MSR_IA32_SYSENTER_EIP:
	case MSR_FS_BASE:
	case MSR_GS_BASE:
	case MSR_KERNEL_GS_BASE:
	case MSR_LSTAR:
	case MSR_CSTAR:
		if (!canonical(val))
			return 1;	/* non-canonical, in every mode */
		break;
	default:
		break;
	}
	switch (msr) {
	case MSR_IA32_SYSENTER_ESP:
		vmcs_write(GUEST_SYSENTER_ESP, val);
		return 0;
	case MSR_IA32_SYSENTER_EIP:
		vmcs_write(GUEST_SYSENTER_EIP, val);
		return 0;
	case MSR_FS_BASE:
		vmcs_write(GUEST_FS_BASE, val);
		return 0;
	case MSR_GS_BASE:
		vmcs_write(GUEST_GS_BASE, val);
		return 0;
	case MSR_KERNEL_GS_BASE:
		vcpu->msr_kgs_base = val;
		wrmsrl(MSR_KERNEL_GS_BASE, val);	/* the guest's value is live while loaded */
		return 0;
	case MSR_STAR:
		vcpu->msr_star = val;
		wrmsrl(MSR_STAR, val);	/* the guest's value is live while loaded */
		return 0;
	case MSR_LSTAR:
		vcpu->msr_lstar = val;
		wrmsrl(MSR_LSTAR, val);	/* the guest's value is live while loaded */
		return 0;
	case MSR_CSTAR:
		vcpu->msr_cstar = val;
		wrmsrl(MSR_CSTAR, val);	/* the guest's value is live while loaded */
		return 0;
	case MSR_SYSCALL_MASK:
		if (val >> 32)
			return 1;
		vcpu->msr_fmask = val;
		wrmsrl(MSR_SYSCALL_MASK, val);	/* the guest's value is live while loaded */
		return 0;
	case MSR_IA32_CR_PAT:
		if (!pat_valid(val))
			return 1;
		vcpu->msr_pat = val;	/* kept in software; guest RAM stays WB */
		return 0;
	case MSR_IA32_TSC:
		write_tsc(vcpu, val);
		return 0;
	case MSR_IA32_TSC_ADJUST:
		if (!guest_has(vcpu, 7, R_EBX, 1))
			break;
		write_tsc_adjust(vcpu, val);
		return 0;
	case MSR_TSC_AUX:
		if (!guest_has_tsc_aux(vcpu))
			break;
		if (val >> 32)
			return 1;	/* bits 63:32 are reserved */
		vcpu->msrs->tsc_aux = val;
		if (vcpu->msrs->aux_loaded)
			wrmsrl(MSR_TSC_AUX, val);	/* live while loaded */
		return 0;
	case MSR_IA32_APICBASE:
		return shv_lapic_set_base(vcpu, val, false);
	case MSR_IA32_TSC_DEADLINE:	/* lapic_timer.c */
		shv_lapic_set_tsc_deadline(vcpu, val);
		return 0;
	case MSR_IA32_MISC_ENABLE:
		vcpu->msr_misc_enable = (val | MISC_ENABLE_RO_SET) & ~MISC_ENABLE_RO_CLEAR;
		return 0;
	case MSR_IA32_DEBUGCTLMSR:
		return val ? 1 : 0;
	case MSR_IA32_MCG_CAP:
		return 1;		/* read-only */
	case MSR_IA32_MCG_STATUS:
	case MSR_IA32_MCG_CTL:
		return set_mce(vcpu, msr, val);
	case MSR_IA32_UCODE_REV:
		return 0;		/* BIOS_SIGN_ID: written before CPUID, ignored */
	default:
		if (is_mce_bank_msr(msr))
			return set_mce(vcpu, msr, val);
		break;
	}
	count_unknown(vcpu, msr, true);
	shv_info_rl("guest WRMSR 0x%x <- 0x%llx not emulated: #GP\n", msr, val);
	return 1;
}
