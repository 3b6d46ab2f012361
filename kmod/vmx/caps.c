// SPDX-License-Identifier: GPL-2.0
/*
 * VMX capability probing and per-CPU VMX operation.
 *
 * Contract: shv_vmx_probe() runs once at module load and refuses (with one
 * log line naming the reason) a CPU without what we need. VMX operation is
 * entered on every online CPU while at least one VM exists: shv_vmx_get()
 * by the first VM, shv_vmx_put() by the last one. CPUs coming online in
 * between enter VMX operation through a CPU-hotplug state; a CPU that goes
 * offline leaves it. If another hypervisor already owns VMX (CR4.VMXE set,
 * or VMXON fails), shv_vmx_get() returns -EBUSY and leaves nothing behind.
 *
 * Host safety: a CPU is left (VMCLEAR of the VMCS current there, VMXOFF,
 * CR4.VMXE cleared) on hotplug offline, on reboot/kexec (reboot notifier,
 * every CPU) and on crash or emergency reboot (the kernel's emergency
 * virtualization callback, NMI context); after that shv_vmx_cpu_on() is
 * false there and nothing loads a VMCS on it. A VMX instruction that still
 * runs on a CPU without VMX faults into the wrappers' fixups and is counted
 * here (shv_vmx_insn_error()), never an oops. The CPU also remembers which
 * VM ran last so that a vCPU of another VM gets an IBPB first.
 */
#include <linux/module.h>
#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <linux/gfp.h>
#include <linux/mm.h>
#include <linux/spinlock.h>
#include <linux/bitmap.h>
#include <linux/reboot.h>
#include <linux/notifier.h>
#include <linux/string.h>
#include <asm/msr.h>
#include <asm/processor.h>
#include <asm/tlbflush.h>
#include <asm/cpufeature.h>
#include <asm/tsc.h>
#include "shadowvm.h"
#include "vmx_defs.h"
#include "compat.h"

struct shv_vmx_caps shv_caps;

static DEFINE_PER_CPU(void *, vmxon_region);
static DEFINE_PER_CPU(bool, vmx_on);
static DEFINE_PER_CPU(void *, cur_vmcs);	/* VMCS current on this CPU */
static DEFINE_PER_CPU(const void *, last_vm);	/* VM whose vCPU ran here last */
static bool shv_rebooting;	/* reboot/crash: VMX instructions may fault */
static atomic_long_t vmx_insn_fails, vmx_insn_faults;
static DEFINE_MUTEX(vmx_users_lock);
static int vmx_users;
static enum cpuhp_state vmx_hp_state;
static atomic_t vmxon_busy;	/* a CPU found VMX held by someone else */

#define SHV_MAX_VPID 1024
static DECLARE_BITMAP(vpid_map, SHV_MAX_VPID);
static DEFINE_SPINLOCK(vpid_lock);

/*
 * Compute a control value: @want are bits we need, @opt bits we take when
 * available. Returns -EOPNOTSUPP naming the first missing bit.
 */
static int adjust_ctl(const char *what, u32 msr, u32 want, u32 opt, u32 *out)
{
	u64 v;
	u32 allowed0, allowed1, ctl;

	rdmsrl(msr, v);
	allowed0 = (u32)v;		/* bits that must be 1 */
	allowed1 = (u32)(v >> 32);	/* bits that may be 1 */
	ctl = want | opt;
	ctl &= allowed1;
	ctl |= allowed0;
	if ((ctl & want) != want) {
		pr_err(SHV_NAME ": CPU lacks required VMX %s control(s) 0x%x\n",
		       what, want & ~ctl);
		return -EOPNOTSUPP;
	}
	*out = ctl;
	return 0;
}

/* The allowed-1 settings of a VMX control MSR. */
static u32 vmx_allowed1(u32 msr)
{
	u64 v;

	rdmsrl(msr, v);
	return v >> 32;
}

/*
 * What msr.c and cpuid.c build on, where the CPU has it: the guest's TSC
 * is the host's plus the VMCS TSC offset, so RDTSC needs no exit (RDTSC
 * exiting only on a CPU without offsetting, counted in EXIT_RDTSC);
 * RDTSCP/RDPID and INVPCID are enabled when CPUID shows them to the guest
 * (INVPCID then exits exactly when INVLPG does).
 */
static void probe_tsc_rdtscp_invpcid(bool truectl)
{
	u32 cpu1 = vmx_allowed1(truectl ? SHV_MSR_VMX_TRUE_PROCBASED : SHV_MSR_VMX_PROCBASED);
	u32 cpu2 = vmx_allowed1(SHV_MSR_VMX_PROCBASED2);
	u32 a, b, c, d;

	if (cpu1 & CPU_USE_TSC_OFFSETTING)
		shv_caps.cpu |= CPU_USE_TSC_OFFSETTING;
	else if (cpu1 & CPU_RDTSC_EXITING)
		shv_caps.cpu |= CPU_RDTSC_EXITING;
	if (cpuid_eax(0x80000000) >= 0x80000001) {
		cpuid(0x80000001, &a, &b, &c, &d);
		if ((cpu2 & CPU2_ENABLE_RDTSCP) && (d & BIT(27)))
			shv_caps.cpu2 |= CPU2_ENABLE_RDTSCP;
	}
	if (cpuid_eax(0) >= 7) {
		cpuid_count(7, 0, &a, &b, &c, &d);
		if ((cpu2 & CPU2_ENABLE_INVPCID) && (b & BIT(10)))
			shv_caps.cpu2 |= CPU2_ENABLE_INVPCID;
	}
}

int shv_vmx_probe(void)
{
	u64 fc, basic;
	bool truectl;
	int r;

	if (!boot_cpu_has(X86_FEATURE_VMX)) {
		pr_err(SHV_NAME ": no VT-x: CPUID.1:ECX.VMX is clear\n");
		return -ENODEV;
	}
	if (rdmsrl_safe(SHV_MSR_FEATURE_CONTROL, &fc)) {
		pr_err(SHV_NAME ": cannot read IA32_FEATURE_CONTROL\n");
		return -ENODEV;
	}
	if (!(fc & SHV_FC_LOCKED) || !(fc & SHV_FC_VMX_OUTSIDE_SMX)) {
		pr_err(SHV_NAME ": VT-x disabled by firmware (IA32_FEATURE_CONTROL=0x%llx)\n",
		       fc);
		return -EPERM;
	}

	rdmsrl(SHV_MSR_VMX_BASIC, basic);
	shv_caps.revision_id = basic & 0x7fffffff;
	shv_caps.vmcs_size = (basic >> 32) & 0x1fff;
	if (shv_caps.vmcs_size > PAGE_SIZE || ((basic >> 50) & 0xf) != 6) {
		pr_err(SHV_NAME ": unsupported VMCS size %u or memory type\n",
		       shv_caps.vmcs_size);
		return -EOPNOTSUPP;
	}
	if (basic & (1ULL << 48)) {
		pr_err(SHV_NAME ": CPU limits VMX structures to 32-bit addresses\n");
		return -EOPNOTSUPP;
	}
	truectl = basic & SHV_BASIC_TRUE_CTLS;
	shv_caps.inout_info = basic & SHV_BASIC_INOUT_INFO;

	r = adjust_ctl("pin-based", truectl ? SHV_MSR_VMX_TRUE_PINBASED : SHV_MSR_VMX_PINBASED,
		       PIN_EXT_INTR_EXITING | PIN_NMI_EXITING, PIN_PREEMPT_TIMER | PIN_VIRTUAL_NMIS,
		       &shv_caps.pin);
	if (r)
		return r;
	r = adjust_ctl("processor-based",
		       truectl ? SHV_MSR_VMX_TRUE_PROCBASED : SHV_MSR_VMX_PROCBASED,
		       CPU_HLT_EXITING | CPU_INVLPG_EXITING | CPU_MWAIT_EXITING |
		       CPU_RDPMC_EXITING | CPU_CR3_LOAD_EXITING | CPU_CR3_STORE_EXITING |
		       CPU_CR8_LOAD_EXITING | CPU_CR8_STORE_EXITING | CPU_MOV_DR_EXITING |
		       CPU_USE_IO_BITMAPS | CPU_USE_MSR_BITMAPS | CPU_MONITOR_EXITING |
		       CPU_ACTIVATE_SECONDARY, CPU_NMI_WINDOW_EXITING | CPU_TPR_SHADOW,
		       &shv_caps.cpu);
	if (r)
		return r;
	/* NMI injection needs virtual NMIs and NMI-window exiting (vmx/inject.c) */
	shv_caps.has_vnmi = (shv_caps.pin & PIN_VIRTUAL_NMIS) &&
			    (shv_caps.cpu & CPU_NMI_WINDOW_EXITING);
	if (!shv_caps.has_vnmi)
		shv_caps.pin &= ~PIN_VIRTUAL_NMIS;
	shv_caps.cpu &= ~(CPU_INTR_WINDOW_EXITING | CPU_NMI_WINDOW_EXITING |
			  CPU_RDTSC_EXITING | CPU_USE_TSC_OFFSETTING |
			  CPU_MONITOR_TRAP_FLAG | CPU_PAUSE_EXITING | CPU_UNCOND_IO_EXITING);
	r = adjust_ctl("secondary", SHV_MSR_VMX_PROCBASED2, 0,
		       CPU2_ENABLE_VPID | CPU2_WBINVD_EXITING | CPU2_PAUSE_LOOP_EXITING,
		       &shv_caps.cpu2);
	if (r)
		return r;
	probe_tsc_rdtscp_invpcid(truectl);
	if (shv_caps.cpu2 & (CPU2_ENABLE_EPT | CPU2_UNRESTRICTED_GUEST)) {
		pr_err(SHV_NAME ": CPU forces EPT on; shadowvm runs with EPT off\n");
		return -EOPNOTSUPP;
	}
	r = adjust_ctl("VM-exit", truectl ? SHV_MSR_VMX_TRUE_EXIT : SHV_MSR_VMX_EXIT,
		       EXIT_HOST_ADDR_SPACE_SIZE | EXIT_SAVE_EFER | EXIT_LOAD_EFER,
		       EXIT_SAVE_DEBUG_CTLS, &shv_caps.exit);
	if (r)
		return r;
	shv_caps.exit &= ~(EXIT_ACK_INTR_ON_EXIT | EXIT_SAVE_PAT | EXIT_LOAD_PAT |
			   EXIT_LOAD_PERF_GLOBAL);
	r = adjust_ctl("VM-entry", truectl ? SHV_MSR_VMX_TRUE_ENTRY : SHV_MSR_VMX_ENTRY,
		       ENTRY_LOAD_EFER, ENTRY_LOAD_DEBUG_CTLS, &shv_caps.entry);
	if (r)
		return r;
	shv_caps.entry &= ~(ENTRY_IA32E_MODE | ENTRY_LOAD_PAT);

	rdmsrl(SHV_MSR_VMX_CR0_FIXED0, shv_caps.cr0_fixed0);
	rdmsrl(SHV_MSR_VMX_CR0_FIXED1, shv_caps.cr0_fixed1);
	rdmsrl(SHV_MSR_VMX_CR4_FIXED0, shv_caps.cr4_fixed0);
	rdmsrl(SHV_MSR_VMX_CR4_FIXED1, shv_caps.cr4_fixed1);

	shv_caps.ept_vpid_cap = 0;
	if (shv_caps.cpu2 & CPU2_ENABLE_VPID) {
		rdmsrl(SHV_MSR_VMX_EPT_VPID_CAP, shv_caps.ept_vpid_cap);
		if ((shv_caps.ept_vpid_cap & VPID_CAP_INVVPID) &&
		    (shv_caps.ept_vpid_cap & (VPID_CAP_SINGLE_CONTEXT | VPID_CAP_ALL_CONTEXT)))
			shv_caps.has_vpid = true;
		else
			shv_caps.cpu2 &= ~CPU2_ENABLE_VPID;
	}
	/*
	 * The VMX-preemption timer bounds every stay in the guest to about a
	 * millisecond. Real CPUs exit on a host interrupt by themselves; the
	 * timer is a watchdog that also covers emulators (Bochs 2.7) that do
	 * not exit on an interrupt left pending across VM entry while the
	 * guest runs with RFLAGS.IF=0.
	 */
	if (shv_caps.pin & PIN_PREEMPT_TIMER) {
		u64 misc;
		u64 ticks = tsc_khz ? tsc_khz : 1000000;

		rdmsrl(SHV_MSR_VMX_MISC, misc);
		shv_caps.preempt_value = max_t(u64, 1, min_t(u64, ticks >> (misc & 0x1f),
							 0xffffffffULL));
	}

	shv_pause_probe();
	pr_info(SHV_NAME ": VMX revision 0x%x, VPID %s, pin 0x%x cpu 0x%x cpu2 0x%x exit 0x%x entry 0x%x\n",
		shv_caps.revision_id, shv_caps.has_vpid ? "on" : "off",
		shv_caps.pin, shv_caps.cpu, shv_caps.cpu2, shv_caps.exit,
		shv_caps.entry);
	return 0;
}

/* Runs on the target CPU (hotplug callback or cpuhp_setup_state). */
static int vmx_cpu_online(unsigned int cpu)
{
	void *region = per_cpu(vmxon_region, cpu);
	unsigned long flags;
	int r;

	if (!region)
		return -ENOMEM;
	if (READ_ONCE(shv_rebooting))
		return 0;	/* stays out of VMX operation; nothing loads here */
	local_irq_save(flags);
	if (cr4_read_shadow() & X86_CR4_VMXE) {
		local_irq_restore(flags);
		atomic_set(&vmxon_busy, 1);
		pr_warn_ratelimited(SHV_NAME ": CPU %u: VMX already in use by another hypervisor\n",
				    cpu);
		return -EBUSY;
	}
	cr4_set_bits_irqsoff(X86_CR4_VMXE);
	r = shv_vmxon(__pa(region));
	if (r) {
		cr4_clear_bits_irqsoff(X86_CR4_VMXE);
		local_irq_restore(flags);
		atomic_set(&vmxon_busy, 1);
		pr_warn_ratelimited(SHV_NAME ": CPU %u: VMXON failed; another hypervisor holds VT-x\n",
				    cpu);
		return -EBUSY;
	}
	this_cpu_write(vmx_on, true);
	if (shv_caps.has_vpid && (shv_caps.ept_vpid_cap & VPID_CAP_ALL_CONTEXT))
		shv_invvpid(INVVPID_ALL_CONTEXT, 0, 0);
	local_irq_restore(flags);
	return 0;
}

/*
 * Leave VMX operation on this CPU: VMCLEAR the VMCS current here (so its
 * cached state reaches memory), then VMXOFF. Interrupts off, or NMI
 * context (emergency path): no locks, per-CPU state only. vmx_on goes
 * false first, so a vCPU scheduled in here afterwards does not VMPTRLD.
 */
static void vmx_cpu_leave(void)
{
	void *vmcs = this_cpu_read(cur_vmcs);

	if (!this_cpu_read(vmx_on))
		return;
	this_cpu_write(vmx_on, false);
	if (vmcs)
		shv_vmclear(__pa(vmcs));
	shv_vmxoff();
	cr4_clear_bits(X86_CR4_VMXE);
}

/*
 * Teardown of the dynamic hotplug state, in the CPU's hotplug thread.
 * Every vCPU task that ran here was switched out before this thread ran
 * (sched-out VMCLEARs), so no VMCS is current. The CPU is no longer
 * active: a vCPU task may still be switched in once before the scheduler
 * pushes it away (balance_push), but shv_vmx_cpu_on() is false by then and
 * its sched-in skips VMPTRLD.
 */
static int vmx_cpu_offline(unsigned int cpu)
{
	unsigned long flags;

	local_irq_save(flags);
	vmx_cpu_leave();
	local_irq_restore(flags);
	return 0;
}

static void vmx_cpu_leave_ipi(void *unused)
{
	vmx_cpu_leave();
}

bool shv_vmx_cpu_on(void)
{
	return this_cpu_read(vmx_on);
}

void shv_vmx_set_current(void *vmcs)
{
	this_cpu_write(cur_vmcs, vmcs);
}

/* Before a vCPU of @vm loads its VMCS here (preemption off). */
void shv_vmx_switch_vm(const void *vm)
{
	if (this_cpu_read(last_vm) != vm) {
		shv_ibpb_switch_vm();
		this_cpu_write(last_vm, vm);
	}
}

/*
 * A vCPU of @vm is being freed: forget @vm on every CPU, so that a new VM
 * allocated at the same address still gets its IBPB.
 */
void shv_vmx_forget_vm(const void *vm)
{
	int cpu;

	for_each_possible_cpu(cpu)
		cmpxchg(per_cpu_ptr(&last_vm, cpu), vm, NULL);
}

/* Called by the VMX instruction wrappers (vmx_defs.h) on VMfail or fault. */
void shv_vmx_insn_error(const char *insn, unsigned long arg, bool fault)
{
	atomic_long_inc(fault ? &vmx_insn_faults : &vmx_insn_fails);
	if (READ_ONCE(shv_rebooting))
		return;
	if (fault)
		pr_err_ratelimited(SHV_NAME ": %s (0x%lx) faulted on CPU %d: not in VMX operation\n",
				   insn, arg, raw_smp_processor_id());
	else
		pr_err_ratelimited(SHV_NAME ": %s (0x%lx) failed on CPU %d\n",
				   insn, arg, raw_smp_processor_id());
}

void shv_vmx_insn_errors(long *fails, long *faults)
{
	*fails = atomic_long_read(&vmx_insn_fails);
	*faults = atomic_long_read(&vmx_insn_faults);
}

/*
 * Emergency path (crash kexec, emergency reboot): the kernel calls this on
 * every CPU, in NMI context on all but the one that crashed. VMX blocks
 * INIT, so a CPU left in VMX operation would hang the next kernel's SMP
 * bring-up.
 */
static void vmx_emergency_disable(void)
{
	WRITE_ONCE(shv_rebooting, true);
	vmx_cpu_leave();
}

/*
 * The kernel has one emergency-callback slot and kvm_intel (6.1) or kvm
 * (6.12) takes it; a second registration warns and is dropped. So ours is
 * registered only while we hold VT-x and kvm.ko is not loaded, and given
 * back when kvm.ko starts to load. KVM's own callback leaves VMX operation
 * on any CPU with CR4.VMXE set, ours included.
 */
static DEFINE_MUTEX(emerg_lock);
static bool emerg_registered, emerg_wanted, kvm_present;

static void emerg_update(void)
{
	bool want = emerg_wanted && !kvm_present;

	lockdep_assert_held(&emerg_lock);
	if (want && !emerg_registered)
		shv_emergency_register(vmx_emergency_disable);
	else if (!want && emerg_registered)
		shv_emergency_unregister(vmx_emergency_disable);
	emerg_registered = want;
}

static void emerg_want(bool want)
{
	mutex_lock(&emerg_lock);
	emerg_wanted = want;
	emerg_update();
	mutex_unlock(&emerg_lock);
}

static int vmx_module_notify(struct notifier_block *nb, unsigned long state, void *data)
{
	struct module *mod = data;

	if (strcmp(mod->name, "kvm"))
		return NOTIFY_DONE;
	mutex_lock(&emerg_lock);
	if (state == MODULE_STATE_COMING)
		kvm_present = true;
	else if (state == MODULE_STATE_GOING)
		kvm_present = false;	/* after kvm_intel and kvm's exit */
	emerg_update();
	mutex_unlock(&emerg_lock);
	return NOTIFY_OK;
}

static struct notifier_block vmx_module_nb = {
	.notifier_call = vmx_module_notify,
};

/* Reboot and kexec: leave VMX operation on every CPU. */
static int vmx_reboot(struct notifier_block *nb, unsigned long code, void *unused)
{
	WRITE_ONCE(shv_rebooting, true);
	mutex_lock(&vmx_users_lock);
	cpus_read_lock();
	on_each_cpu(vmx_cpu_leave_ipi, NULL, 1);
	cpus_read_unlock();
	mutex_unlock(&vmx_users_lock);
	return NOTIFY_OK;
}

static struct notifier_block vmx_reboot_nb = {
	.notifier_call = vmx_reboot,
};

int shv_vmx_init(void)
{
	void *kvm_sym;
	int r;

	r = register_module_notifier(&vmx_module_nb);
	if (r)
		return r;
	kvm_sym = __symbol_get("kvm_rebooting");
	if (kvm_sym) {
		__symbol_put("kvm_rebooting");
		mutex_lock(&emerg_lock);
		kvm_present = true;
		mutex_unlock(&emerg_lock);
	}
	r = register_reboot_notifier(&vmx_reboot_nb);
	if (r)
		unregister_module_notifier(&vmx_module_nb);
	return r;
}

void shv_vmx_exit(void)
{
	unregister_reboot_notifier(&vmx_reboot_nb);
	unregister_module_notifier(&vmx_module_nb);
}

static void free_vmxon_regions(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		void *p = per_cpu(vmxon_region, cpu);

		if (p) {
			shv_free_page(virt_to_page(p));
			per_cpu(vmxon_region, cpu) = NULL;
		}
	}
}

int shv_vmx_get(void)
{
	int cpu, r = 0;

	mutex_lock(&vmx_users_lock);
	if (READ_ONCE(shv_rebooting)) {
		r = -EBUSY;
		goto out;
	}
	if (vmx_users++)
		goto out;
	for_each_possible_cpu(cpu) {
		struct page *pg = shv_alloc_page(0);

		if (!pg) {
			r = -ENOMEM;
			goto fail;
		}
		*(u32 *)page_address(pg) = shv_caps.revision_id;
		per_cpu(vmxon_region, cpu) = page_address(pg);
	}
	atomic_set(&vmxon_busy, 0);
	r = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "shadowvm/vmx:online",
			      vmx_cpu_online, vmx_cpu_offline);
	if (r < 0) {
		if (atomic_read(&vmxon_busy))
			r = -EBUSY;
		goto fail;
	}
	vmx_hp_state = r;
	r = 0;
	emerg_want(true);
	goto out;
fail:
	free_vmxon_regions();
	vmx_users--;
out:
	mutex_unlock(&vmx_users_lock);
	return r;
}

void shv_vmx_put(void)
{
	mutex_lock(&vmx_users_lock);
	if (!WARN_ON(vmx_users <= 0) && --vmx_users == 0) {
		cpuhp_remove_state(vmx_hp_state);
		emerg_want(false);
		free_vmxon_regions();
	}
	mutex_unlock(&vmx_users_lock);
}

int shv_vpid_alloc(void)
{
	int id;

	if (!shv_caps.has_vpid)
		return 0;
	spin_lock(&vpid_lock);
	id = find_next_zero_bit(vpid_map, SHV_MAX_VPID, 1);
	if (id < SHV_MAX_VPID)
		__set_bit(id, vpid_map);
	else
		id = 0;		/* run without VPID: every entry/exit flushes */
	spin_unlock(&vpid_lock);
	return id;
}

void shv_vpid_free(int vpid)
{
	if (!vpid)
		return;
	spin_lock(&vpid_lock);
	__clear_bit(vpid, vpid_map);
	spin_unlock(&vpid_lock);
}

void *shv_alloc_vmcs(void)
{
	struct page *pg = shv_alloc_page(0);
	void *p;

	if (!pg)
		return NULL;
	p = page_address(pg);
	*(u32 *)p = shv_caps.revision_id;
	return p;
}

void shv_free_vmcs(void *vmcs)
{
	if (vmcs)
		shv_free_page(virt_to_page(vmcs));
}
