// SPDX-License-Identifier: GPL-2.0
/*
 * shadowvm backend: drives /dev/shadowvm through the uapi in
 * uapi/linux/shadowvm.h. A new shadowvm vCPU already starts in the common
 * flat 32-bit state, so nothing is set up at vCPU creation. Counters come
 * from GET_VM_STATS / GET_VCPU_STATS, named by shadowvm_stat_names[].
 * Interrupts: SHADOWVM_SIGNAL_MSI to the in-kernel local APICs (there is
 * no in-kernel I/O APIC: irq_line is absent, the runner emulates one).
 * INIT/SIPI for an AP comes back as BE_EXIT_SIPI.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/shadowvm.h>

#include "backend_abi.h"
#include "shadowvm_stats.h"

/* Lowercase SHADOWVM_STAT_* names without the prefix. */
const char *const shadowvm_stat_names[SHADOWVM_STAT_NR] = {
	[SHADOWVM_STAT_EXITS_TOTAL] = "exits_total",
	[SHADOWVM_STAT_EXIT_EXCEPTION] = "exit_exception",
	[SHADOWVM_STAT_EXIT_PF] = "exit_pf",
	[SHADOWVM_STAT_EXIT_EXTINT] = "exit_extint",
	[SHADOWVM_STAT_EXIT_NMI] = "exit_nmi",
	[SHADOWVM_STAT_EXIT_TRIPLE_FAULT] = "exit_triple_fault",
	[SHADOWVM_STAT_EXIT_INTR_WINDOW] = "exit_intr_window",
	[SHADOWVM_STAT_EXIT_CPUID] = "exit_cpuid",
	[SHADOWVM_STAT_EXIT_HLT] = "exit_hlt",
	[SHADOWVM_STAT_EXIT_INVLPG] = "exit_invlpg",
	[SHADOWVM_STAT_EXIT_RDTSC] = "exit_rdtsc",
	[SHADOWVM_STAT_EXIT_CR_ACCESS] = "exit_cr_access",
	[SHADOWVM_STAT_EXIT_CR3_LOAD] = "exit_cr3_load",
	[SHADOWVM_STAT_EXIT_CR3_STORE] = "exit_cr3_store",
	[SHADOWVM_STAT_EXIT_DR_ACCESS] = "exit_dr_access",
	[SHADOWVM_STAT_EXIT_IO] = "exit_io",
	[SHADOWVM_STAT_EXIT_MSR_READ] = "exit_msr_read",
	[SHADOWVM_STAT_EXIT_MSR_WRITE] = "exit_msr_write",
	[SHADOWVM_STAT_EXIT_VMX_INSN] = "exit_vmx_insn",
	[SHADOWVM_STAT_EXIT_PREEMPT_TIMER] = "exit_preempt_timer",
	[SHADOWVM_STAT_EXIT_OTHER] = "exit_other",
	[SHADOWVM_STAT_USER_EXIT_IO] = "user_exit_io",
	[SHADOWVM_STAT_USER_EXIT_MMIO] = "user_exit_mmio",
	[SHADOWVM_STAT_SIGNAL_EXITS] = "signal_exits",
	[SHADOWVM_STAT_PF_TRUE] = "pf_true",
	[SHADOWVM_STAT_PF_HIDDEN] = "pf_hidden",
	[SHADOWVM_STAT_PF_HIDDEN_FILL] = "pf_hidden_fill",
	[SHADOWVM_STAT_PF_HIDDEN_AD] = "pf_hidden_ad",
	[SHADOWVM_STAT_PF_HIDDEN_PT_WRITE] = "pf_hidden_pt_write",
	[SHADOWVM_STAT_PF_HIDDEN_MMIO] = "pf_hidden_mmio",
	[SHADOWVM_STAT_PF_HIDDEN_UNSYNC] = "pf_hidden_unsync",
	[SHADOWVM_STAT_PF_HIDDEN_RESYNC] = "pf_hidden_resync",
	[SHADOWVM_STAT_PF_SPURIOUS] = "pf_spurious",
	[SHADOWVM_STAT_SP_CREATED] = "sp_created",
	[SHADOWVM_STAT_SP_ZAPPED] = "sp_zapped",
	[SHADOWVM_STAT_SP_RECYCLED] = "sp_recycled",
	[SHADOWVM_STAT_SP_LIVE] = "sp_live",
	[SHADOWVM_STAT_PT_WRITE_FLOODED] = "pt_write_flooded",
	[SHADOWVM_STAT_PT_UNPROTECT] = "pt_unprotect",
	[SHADOWVM_STAT_ROOT_HITS] = "root_hits",
	[SHADOWVM_STAT_ROOT_MISSES] = "root_misses",
	[SHADOWVM_STAT_INVLPG] = "invlpg",
	[SHADOWVM_STAT_CR3_LOADS] = "cr3_loads",
	[SHADOWVM_STAT_ADDRESS_SPACES] = "address_spaces",
	[SHADOWVM_STAT_TLB_FLUSHES] = "tlb_flushes",
	[SHADOWVM_STAT_PAGES_PINNED] = "pages_pinned",
	[SHADOWVM_STAT_EMULATED_INSNS] = "emulated_insns",
	[SHADOWVM_STAT_INJECTED_EXCEPTIONS] = "injected_exceptions",
	[SHADOWVM_STAT_CR3_NOFLUSH] = "cr3_noflush",
	[SHADOWVM_STAT_EMULATED_LOCKED] = "emulated_locked",
	[SHADOWVM_STAT_LOCKED_AS_WRITE] = "locked_as_write",
	[SHADOWVM_STAT_PF_PREFETCHED] = "pf_prefetched",
	[SHADOWVM_STAT_PF_PREFETCH_UNUSED] = "pf_prefetch_unused",
	[SHADOWVM_STAT_MMIO_KERNEL] = "mmio_kernel",
	[SHADOWVM_STAT_EMULATED_STRING] = "emulated_string",
	[SHADOWVM_STAT_EXIT_INVPCID] = "exit_invpcid",
	[SHADOWVM_STAT_UNKNOWN_MSR] = "unknown_msr",
	[SHADOWVM_STAT_LAPIC_IRQS_ACCEPTED] = "lapic_irqs_accepted",
	[SHADOWVM_STAT_LAPIC_EOIS] = "lapic_eois",
	[SHADOWVM_STAT_LAPIC_TIMER_FIRES] = "lapic_timer_fires",
	[SHADOWVM_STAT_LAPIC_IPIS] = "lapic_ipis",
	[SHADOWVM_STAT_LAPIC_UNSUPPORTED] = "lapic_unsupported",
	[SHADOWVM_STAT_PF_NOTRAP] = "pf_notrap",
	[SHADOWVM_STAT_LARGE_MAPPED] = "large_mapped",
	[SHADOWVM_STAT_LARGE_NO_HOST] = "large_no_host",
	[SHADOWVM_STAT_LARGE_NO_WP] = "large_no_wp",
	[SHADOWVM_STAT_LARGE_ZAPPED] = "large_zapped",
	[SHADOWVM_STAT_REALMODE_ENTRIES] = "realmode_entries",
	[SHADOWVM_STAT_REALMODE_EMULATED] = "realmode_emulated",
	[SHADOWVM_STAT_REALMODE_INTS] = "realmode_ints",
	[SHADOWVM_STAT_PF_WP0_EMULATED] = "pf_wp0_emulated",
	[SHADOWVM_STAT_EXIT_PAUSE] = "exit_pause",
	[SHADOWVM_STAT_PAUSE_YIELDS] = "pause_yields",
	[SHADOWVM_STAT_IRQ_INJECTED] = "irq_injected",
	[SHADOWVM_STAT_NMI_INJECTED] = "nmi_injected",
	[SHADOWVM_STAT_EVENTS_REINJECTED] = "events_reinjected",
	[SHADOWVM_STAT_EXIT_NMI_WINDOW] = "exit_nmi_window",
	[SHADOWVM_STAT_HALTS_IN_KERNEL] = "halts_in_kernel",
	[SHADOWVM_STAT_HALT_WAKEUPS] = "halt_wakeups",
	[SHADOWVM_STAT_HALT_NS] = "halt_ns",
	[SHADOWVM_STAT_USER_EXIT_IRQ_WINDOW] = "user_exit_irq_window",
	[SHADOWVM_STAT_HYPERCALLS] = "hypercalls",
	[SHADOWVM_STAT_USER_EXIT_HYPERCALL] = "user_exit_hypercall",
};

static int svm_open(struct backend *be, const char *path)
{
	return be_dev_open(be, path, SHADOWVM_GET_API_VERSION,
			   SHADOWVM_API_VERSION, SHADOWVM_GET_VCPU_MMAP_SIZE);
}

static int svm_create_vm(struct backend *be, const struct be_vm_config *cfg,
			 struct be_vm *vm)
{
	struct shadowvm_vm_config c;

	memset(&c, 0, sizeof(c));
	if (cfg) {
		c.mmu_policy = cfg->mmu_policy;
		c.root_cache_size = cfg->root_cache_size;
		c.max_shadow_pages = cfg->max_shadow_pages;
		c.flags = cfg->shadowvm_flags;
	}
	vm->be = be;
	vm->irqchip = false;
	vm->fd = ioctl(be->fd, SHADOWVM_CREATE_VM, cfg ? &c : NULL);
	if (vm->fd < 0)
		return be_neg_errno();
	return 0;
}

BE_DEFINE_SET_MEMORY(svm, struct shadowvm_memory_region, SHADOWVM_MEM_READONLY,
		     SHADOWVM_SET_MEMORY_REGION)

static int svm_create_vcpu(struct be_vm *vm, uint32_t id,
			   struct be_vcpu *vcpu)
{
	return be_vcpu_map(vm, id, ioctl(vm->fd, SHADOWVM_CREATE_VCPU,
					 (unsigned long)id), vcpu);
}

/* exits only shadowvm has, when this uapi header defines them */
static void svm_translate_more(const struct shadowvm_run *run,
			       struct be_exit *e)
{
	switch (run->exit_reason) {
#ifdef SHADOWVM_EXIT_SIPI
	case SHADOWVM_EXIT_SIPI:
		e->reason = BE_EXIT_SIPI;
		e->sipi.vector = run->sipi.vector;
		break;
#endif
#ifdef SHADOWVM_EXIT_HYPERCALL
	case SHADOWVM_EXIT_HYPERCALL:
		e->reason = BE_EXIT_HYPERCALL;
		e->hypercall.nr = run->hypercall.nr;
		memcpy(e->hypercall.args, run->hypercall.args,
		       sizeof(e->hypercall.args));
		break;
#endif
	default:
		(void)run;
		(void)e;
		break;
	}
}

BE_DEFINE_RUN_FNS(svm, struct shadowvm_run, SHADOWVM,
	e->fail_entry.qualification = run->fail_entry.exit_qualification,
	svm_translate_more(run, e))

static void svm_complete_hypercall(struct be_vcpu *vcpu,
				   const struct be_exit *exit)
{
#ifdef SHADOWVM_EXIT_HYPERCALL
	struct shadowvm_run *run = vcpu->run;

	run->hypercall.ret = exit->hypercall.ret;
#else
	(void)vcpu;
	(void)exit;
#endif
}

/* SHADOWVM_SIGNAL_MSI (API 2); -EOPNOTSUPP when built without it */
static int svm_signal_msi(struct be_vm *vm, uint64_t addr, uint32_t data)
{
#ifdef SHADOWVM_SIGNAL_MSI
	struct shadowvm_msi m;

	memset(&m, 0, sizeof(m));
	m.address = addr;
	m.data = data;
	if (ioctl(vm->fd, SHADOWVM_SIGNAL_MSI, &m) < 0)
		return be_neg_errno();
	return 0;
#else
	(void)vm;
	(void)addr;
	(void)data;
	errno = EOPNOTSUPP;
	return -EOPNOTSUPP;
#endif
}

BE_DEFINE_REGS_FNS(svm, struct shadowvm_regs, SHADOWVM_GET_REGS,
		   SHADOWVM_SET_REGS)
BE_DEFINE_SEG_FNS(svm, struct shadowvm_segment)
BE_DEFINE_GET_SREGS(svm, struct shadowvm_sregs, SHADOWVM_GET_SREGS)

static int svm_set_sregs(struct be_vcpu *vcpu, const struct be_sregs *sr)
{
	struct shadowvm_sregs s;

	memset(&s, 0, sizeof(s));
	BE_SREGS_COPY(&s, sr, svm_seg_to);
	s.apic_base = sr->apic_base;
	if (ioctl(vcpu->fd, SHADOWVM_SET_SREGS, &s) < 0)
		return be_neg_errno();
	return 0;
}

static int svm_stats(int fd, unsigned long req, struct be_stats *st)
{
	struct shadowvm_stats s;
	unsigned int i;

	memset(&s, 0, sizeof(s));
	if (ioctl(fd, req, &s) < 0)
		return be_neg_errno();
	memset(st, 0, sizeof(*st));
	st->nr = s.nr_stats;
	if (st->nr > SHADOWVM_STAT_NR)
		st->nr = SHADOWVM_STAT_NR;	/* newer module: names unknown */
	st->mmu_policy = s.mmu_policy;
	for (i = 0; i < st->nr; i++)
		st->val[i] = s.val[i];
	st->names = shadowvm_stat_names;
	return 0;
}

static int svm_vm_stats(struct be_vm *vm, struct be_stats *st)
{
	return svm_stats(vm->fd, SHADOWVM_GET_VM_STATS, st);
}

static int svm_vcpu_stats(struct be_vcpu *vcpu, struct be_stats *st)
{
	return svm_stats(vcpu->fd, SHADOWVM_GET_VCPU_STATS, st);
}

static int svm_wait_sipi(struct be_vcpu *vcpu)
{
	struct shadowvm_mp_state st = { .mp_state = SHADOWVM_MP_STATE_WAIT_SIPI };

	return ioctl(vcpu->fd, SHADOWVM_SET_MP_STATE, &st) < 0 ? be_neg_errno() : 0;
}

const struct backend_ops be_shadowvm_ops = {
	.name = "shadowvm",
	.dev_path = "/dev/shadowvm",
	.open = svm_open,
	.close = be_dev_close,
	.create_vm = svm_create_vm,
	.destroy_vm = be_vm_close,
	.set_memory = svm_set_memory,
	.create_vcpu = svm_create_vcpu,
	.destroy_vcpu = be_vcpu_teardown,
	.run = svm_run,
	.set_immediate_exit = svm_set_immediate_exit,
	.get_regs = svm_get_regs,
	.set_regs = svm_set_regs,
	.get_sregs = svm_get_sregs,
	.set_sregs = svm_set_sregs,
	.vm_stats = svm_vm_stats,
	.vcpu_stats = svm_vcpu_stats,
	.signal_msi = svm_signal_msi,
	.complete_hypercall = svm_complete_hypercall,
	.wait_sipi = svm_wait_sipi,
};
