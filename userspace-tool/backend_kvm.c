// SPDX-License-Identifier: GPL-2.0
/*
 * KVM backend: drives /dev/kvm so the same runner, devices and tests can be
 * compared against an upstream hypervisor. KVM resets a vCPU to real mode,
 * so create_vcpu loads the common flat 32-bit state (be_flat32_sregs) and
 * the host-supported CPUID. The in-kernel local APICs (a split irqchip:
 * no in-kernel I/O APIC or PIC, as on shadowvm) are created only when
 * be_vm_config.irqchip asks for them: without them HLT exits to userspace
 * like on shadowvm, with them HLT waits in the kernel (halted() tells the
 * runner when a vCPU sleeps there) and device interrupts are MSIs
 * (KVM_SIGNAL_MSI). The guest gets shadowvm's CPUID, not KVM's paravirt
 * one (kvm_be_setup_cpuid). vm_stats reads KVM's per-VM debugfs counters
 * (exits, pf_fixed, ...); vcpu_stats returns -EOPNOTSUPP.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/kvm.h>

#include "backend_abi.h"

/* Three pages KVM/VMX needs for its real-mode TSS, outside guest RAM. */
#define KVM_TSS_ADDR	0xfffbd000UL

static int kvm_be_open(struct backend *be, const char *path)
{
	return be_dev_open(be, path, KVM_GET_API_VERSION, KVM_API_VERSION,
			   KVM_GET_VCPU_MMAP_SIZE);
}

/*
 * The local APICs in the kernel, no in-kernel I/O APIC or PIC
 * (KVM_CAP_SPLIT_IRQCHIP): the guest gets the same platform as on
 * shadowvm, with the runner's I/O APIC, and no 8259 whose unprogrammed
 * vectors could surprise a guest.
 */
static int kvm_be_split_irqchip(struct be_vm *vm)
{
	struct kvm_enable_cap cap;

	memset(&cap, 0, sizeof(cap));
	cap.cap = KVM_CAP_SPLIT_IRQCHIP;
	cap.args[0] = 24;		/* IOAPIC routes reserved */
	return ioctl(vm->fd, KVM_ENABLE_CAP, &cap);
}

static int kvm_be_create_vm(struct backend *be, const struct be_vm_config *cfg,
			    struct be_vm *vm)
{
	int ret;

	vm->be = be;
	vm->fd = -1;
	if (cfg && (cfg->mmu_policy || cfg->root_cache_size ||
		    cfg->max_shadow_pages)) {
		errno = EINVAL;
		return -EINVAL;
	}
	vm->irqchip = false;
	vm->fd = ioctl(be->fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0)
		return be_neg_errno();
	/* Only meaningful (and required) on VMX without unrestricted guest. */
	if (ioctl(vm->fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0 ||
	    (cfg && cfg->irqchip && kvm_be_split_irqchip(vm) < 0)) {
		ret = be_neg_errno();
		close(vm->fd);
		vm->fd = -1;
		errno = -ret;
		return ret;
	}
	vm->irqchip = cfg && cfg->irqchip;
	return 0;
}

BE_DEFINE_SET_MEMORY(kvm_be, struct kvm_userspace_memory_region,
		     KVM_MEM_READONLY, KVM_SET_USER_MEMORY_REGION)

/*
 * The guest's CPUID: shadowvm's (kmod/cpuid.c, Documentation/cpuid.rst),
 * built from what KVM supports, so that a guest sees one platform on both
 * backends and a comparison of the two is one of their MMUs, not of
 * paravirt features. Same allow-lists, same leaves, same timing leaves;
 * KVM's own paravirt leaves (0x40000000 "KVMKVMKVM" and 0x40000001:
 * kvmclock, PV EOI, async PF, steal time, PV spinlocks/TLB flush/IPIs)
 * are replaced by shadowvm's signature leaf. What still differs is listed
 * in Documentation/cpuid.rst ("The KVM backend").
 */
#define KB_MAX_BASIC	0x16
#define KB_MAX_EXT	0x80000008
#define KB_HV_BASE	0x40000000
/* KVM's LAPIC timer counts at 1 GHz (APIC_BUS_CYCLE_NS = 1), as shadowvm's */
#define KB_LAPIC_BUS_HZ	1000000000u
#define KB_GPA_BITS	46	/* SHADOWVM_GPA_BITS */
#define B(n)		(1u << (n))
/* kmod/cpuid.c's allow-lists, bit for bit */
#define KB_L1_EDX_OK	(B(0) | B(2) | B(3) | B(4) | B(5) | B(6) | B(7) | \
			 B(8) | B(11) | B(13) | B(14) | B(15) | B(16) | \
			 B(17) | B(19) | B(23) | B(24) | B(25) | B(26) | B(27))
#define KB_L1_ECX_OK	(B(0) | B(1) | B(9) | B(13) | B(17) | B(19) | \
			 B(20) | B(22) | B(23) | B(25) | B(30))
#define KB_L1_EDX_APIC	B(9)
#define KB_L1_ECX_TSCDL	B(24)
#define KB_L1_ECX_HV	B(31)
/* INVPCID and RDPID: KVM lists them only when VMX can enable them */
#define KB_L7_EBX_OK	(B(1) | B(3) | B(6) | B(7) | B(8) | B(9) | B(10) | \
			 B(13) | B(18) | B(19) | B(20) | B(23) | B(24) | B(29))
#define KB_L7_ECX_OK	(B(0) | B(8) | B(22) | B(25))
#define KB_L7_EDX_OK	(B(4) | B(10) | B(14))
#define KB_LX1_EDX_OK	(B(11) | B(20) | B(26) | B(27) | B(29))
#define KB_LX1_ECX_OK	(B(0) | B(5) | B(8))
#define KB_L6_EAX_ARAT	B(2)
#define KB_LX7_EDX_INVTSC B(8)

/*
 * KVM's supported CPUID (calloc'ed, caller frees) with room for extra
 * more entries, or NULL
 */
static struct kvm_cpuid2 *kvm_be_supported_cpuid(int kvm_fd, int extra)
{
	struct kvm_cpuid2 *cpuid;
	int nent = 128;

	for (;;) {
		cpuid = calloc(1, sizeof(*cpuid) +
			       (nent + extra) * sizeof(struct kvm_cpuid_entry2));
		if (!cpuid)
			return NULL;
		cpuid->nent = nent;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
			return cpuid;
		free(cpuid);
		if (errno != E2BIG || nent >= 4096)
			return NULL;
		nent *= 2;
	}
}

static struct kvm_cpuid_entry2 *kvm_be_cpuid_add(struct kvm_cpuid2 *c,
						  uint32_t fn)
{
	struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];

	memset(e, 0, sizeof(*e));
	e->function = fn;
	return e;
}

/*
 * Leaf 0x15/0x16 as shadowvm: the "crystal" is the LAPIC timer's 1 GHz
 * clock, TSC = crystal * EBX / EAX with EBX = the TSC in MHz (Linux then
 * knows its TSC frequency and LAPIC timer period without a PIT); zero when
 * the TSC frequency is unknown or 4295 MHz or more.
 */
static void kvm_be_timing_leaf(struct kvm_cpuid_entry2 *e, uint32_t mhz)
{
	e->eax = e->ebx = e->ecx = e->edx = 0;
	if (!mhz || mhz >= 4295)
		return;
	if (e->function == 0x15) {
		e->eax = 1000;
		e->ebx = mhz;
		e->ecx = KB_LAPIC_BUS_HZ;
	} else {
		e->eax = e->ebx = mhz;
		e->ecx = KB_LAPIC_BUS_HZ / 1000000;
	}
}

/*
 * Rewrite entry *e in place as shadowvm would answer it; false when
 * shadowvm answers all zero (the entry is left out: KVM then answers zero
 * too, or the highest basic leaf above the maximum, as shadowvm).
 */
static bool kvm_be_cpuid_fix(struct kvm_cpuid_entry2 *e, uint32_t max_basic,
			     uint32_t max_ext, uint32_t id, bool lapic,
			     bool tsc_deadline, uint32_t mhz)
{
	uint32_t fn = e->function;

	if ((fn < KB_HV_BASE && fn > max_basic) ||
	    (fn >= KB_HV_BASE && fn < 0x80000000) ||
	    (fn >= 0x80000000 && fn > max_ext))
		return false;
	switch (fn) {
	case 0:
		e->eax = max_basic;
		return true;
	case 1:
		e->ebx = (e->ebx & 0xff00) | (1u << 16) | (id << 24);
		/* xAPIC only (no x2APIC), TSC-deadline with the LAPIC */
		e->ecx = (e->ecx & KB_L1_ECX_OK) | KB_L1_ECX_HV |
			 (tsc_deadline ? KB_L1_ECX_TSCDL : 0);
		e->edx = (e->edx & KB_L1_EDX_OK) | (lapic ? KB_L1_EDX_APIC : 0);
		return true;
	case 2:
		return true;
	case 4:
		e->eax &= 0x3ff;	/* one core, one thread per cache */
		return true;
	case 6:
		e->eax = KB_L6_EAX_ARAT;
		e->ebx = e->ecx = e->edx = 0;
		return true;
	case 7:
		if (e->index)
			return false;
		e->eax = 0;
		e->ebx &= KB_L7_EBX_OK;
		e->ecx &= KB_L7_ECX_OK;
		e->edx &= KB_L7_EDX_OK;
		return true;
	case 0x15:
	case 0x16:
		kvm_be_timing_leaf(e, mhz);
		return true;
	case 0x80000000:
		e->eax = max_ext;
		return true;
	case 0x80000001:
		e->eax = e->ebx = 0;
		e->ecx &= KB_LX1_ECX_OK;
		e->edx &= KB_LX1_EDX_OK;
		return true;
	case 0x80000002: case 0x80000003: case 0x80000004:
	case 0x80000006:
		return true;
	case 0x80000007:
		e->eax = e->ebx = e->ecx = 0;
		e->edx &= KB_LX7_EDX_INVTSC;
		return true;
	case 0x80000008: {
		uint32_t pa = e->eax & 0xff;

		if (pa > KB_GPA_BITS)
			pa = KB_GPA_BITS;
		e->eax = (e->eax & ~0xffffu) | (48u << 8) | pa;
		e->ebx = e->ecx = e->edx = 0;
		return true;
	}
	default:
		return false;
	}
}

/* Give the vCPU shadowvm's CPUID out of KVM's; failure is not fatal. */
static void kvm_be_setup_cpuid(struct be_vcpu *vcpu)
{
	int kvm_fd = vcpu->vm->be->fd;
	struct kvm_cpuid2 *cpuid;
	struct kvm_cpuid_entry2 *e;
	uint32_t i, n, max_basic = 0, max_ext = 0, mhz = 0;
	bool lapic = vcpu->vm->irqchip, tsc_deadline, have15 = false,
	     have16 = false;
	int khz;

	cpuid = kvm_be_supported_cpuid(kvm_fd, 3);
	if (!cpuid)
		return;
	for (i = 0; i < cpuid->nent; i++) {
		e = &cpuid->entries[i];
		if (e->function == 0)
			max_basic = e->eax < KB_MAX_BASIC ? e->eax : KB_MAX_BASIC;
		else if (e->function == 0x80000000)
			max_ext = e->eax < KB_MAX_EXT ? e->eax : KB_MAX_EXT;
	}
	/* the guest's TSC ticks at this rate (KVM's default: the host's) */
	khz = ioctl(vcpu->fd, KVM_GET_TSC_KHZ, 0);
	if (khz > 0)
		mhz = ((uint32_t)khz + 500) / 1000;
	tsc_deadline = lapic && ioctl(kvm_fd, KVM_CHECK_EXTENSION,
				      KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	for (i = n = 0; i < cpuid->nent; i++) {
		e = &cpuid->entries[i];
		if (!kvm_be_cpuid_fix(e, max_basic, max_ext, vcpu->id, lapic,
				      tsc_deadline, mhz))
			continue;
		have15 |= e->function == 0x15;
		have16 |= e->function == 0x16;
		cpuid->entries[n++] = *e;
	}
	cpuid->nent = n;
	if (max_basic >= 0x15 && !have15)
		kvm_be_timing_leaf(kvm_be_cpuid_add(cpuid, 0x15), mhz);
	if (max_basic >= 0x16 && !have16)
		kvm_be_timing_leaf(kvm_be_cpuid_add(cpuid, 0x16), mhz);
	/* shadowvm's signature; 0x40000001 up: the highest basic leaf */
	e = kvm_be_cpuid_add(cpuid, KB_HV_BASE);
	e->eax = KB_HV_BASE;
	memcpy(&e->ebx, "shad", 4);
	memcpy(&e->ecx, "owvm", 4);
	ioctl(vcpu->fd, KVM_SET_CPUID2, cpuid);
	free(cpuid);
}

BE_DEFINE_SEG_FNS(kvm_be, struct kvm_segment)
BE_DEFINE_GET_SREGS(kvm_be, struct kvm_sregs, KVM_GET_SREGS)

static int kvm_be_set_sregs(struct be_vcpu *vcpu, const struct be_sregs *sr)
{
	struct kvm_sregs s;

	/* Start from KVM's view so interrupt_bitmap stays consistent. */
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0)
		return be_neg_errno();
	BE_SREGS_COPY(&s, sr, kvm_be_seg_to);
	/* keep KVM's APIC base unless the caller asks for one */
	if (sr->apic_base)
		s.apic_base = sr->apic_base;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &s) < 0)
		return be_neg_errno();
	return 0;
}

BE_DEFINE_REGS_FNS(kvm_be, struct kvm_regs, KVM_GET_REGS, KVM_SET_REGS)

static int kvm_be_create_vcpu(struct be_vm *vm, uint32_t id,
			      struct be_vcpu *vcpu)
{
	struct be_sregs sr;
	struct be_regs regs;
	int ret;

	ret = be_vcpu_map(vm, id, ioctl(vm->fd, KVM_CREATE_VCPU,
					(unsigned long)id), vcpu);
	if (ret)
		return ret;
	kvm_be_setup_cpuid(vcpu);

	be_flat32_sregs(&sr);
	ret = kvm_be_set_sregs(vcpu, &sr);
	if (!ret) {
		memset(&regs, 0, sizeof(regs));
		regs.rflags = 0x2;
		ret = kvm_be_set_regs(vcpu, &regs);
	}
	if (ret) {
		be_vcpu_teardown(vcpu);
		errno = -ret;
	}
	return ret;
}

BE_DEFINE_RUN_FNS(kvm_be, struct kvm_run, KVM, , )

static int kvm_be_signal_msi(struct be_vm *vm, uint64_t addr, uint32_t data)
{
	struct kvm_msi m;
	int ret;

	if (!vm->irqchip) {
		errno = EOPNOTSUPP;
		return -EOPNOTSUPP;
	}
	memset(&m, 0, sizeof(m));
	m.address_lo = (uint32_t)addr;
	m.address_hi = (uint32_t)(addr >> 32);
	m.data = data;
	ret = ioctl(vm->fd, KVM_SIGNAL_MSI, &m);
	return ret < 0 ? be_neg_errno() : 0;
}

static int kvm_be_halted(struct be_vcpu *vcpu)
{
	struct kvm_mp_state mp;

	if (!vcpu->vm->irqchip)
		return 0;
	if (ioctl(vcpu->fd, KVM_GET_MP_STATE, &mp) < 0)
		return be_neg_errno();
	return mp.mp_state == KVM_MP_STATE_HALTED;
}

/*
 * The VM's counters, summed over its vCPUs by KVM, from its debugfs
 * directory /sys/kernel/debug/kvm/PID-FD (one file per counter: exits,
 * pf_fixed, pf_guest, mmu_pte_write, mmu_cache_miss, ...). KVM keeps them
 * only while the VM lives (the global files sum the live VMs), so they are
 * read here, before the VM is destroyed. -EOPNOTSUPP without debugfs.
 */
#define KB_STAT_NAME	32
static char kvm_be_stat_names[BE_STATS_MAX][KB_STAT_NAME];
static const char *kvm_be_stat_ptrs[BE_STATS_MAX];

static int kvm_be_read_u64(int dirfd, const char *name, uint64_t *val)
{
	char buf[32], *end;
	ssize_t n;
	int fd;

	fd = openat(dirfd, name, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	*val = strtoull(buf, &end, 10);
	return end == buf ? -1 : 0;
}

static int kvm_be_vm_stats(struct be_vm *vm, struct be_stats *st)
{
	char path[64];
	struct dirent *de;
	DIR *dir;

	memset(st, 0, sizeof(*st));
	snprintf(path, sizeof(path), "/sys/kernel/debug/kvm/%d-%d",
		 (int)getpid(), vm->fd);
	dir = opendir(path);
	if (!dir) {
		errno = EOPNOTSUPP;
		return -EOPNOTSUPP;
	}
	while ((de = readdir(dir)) != NULL && st->nr < BE_STATS_MAX) {
		uint64_t v;

		if (de->d_name[0] == '.' || strlen(de->d_name) >= KB_STAT_NAME ||
		    kvm_be_read_u64(dirfd(dir), de->d_name, &v))
			continue;	/* also the vcpuN directories */
		strcpy(kvm_be_stat_names[st->nr], de->d_name);
		kvm_be_stat_ptrs[st->nr] = kvm_be_stat_names[st->nr];
		st->val[st->nr++] = v;
	}
	closedir(dir);
	st->names = kvm_be_stat_ptrs;
	return 0;
}

static int kvm_be_vcpu_stats(struct be_vcpu *vcpu, struct be_stats *st)
{
	(void)vcpu;
	(void)st;
	errno = EOPNOTSUPP;
	return -EOPNOTSUPP;
}

const struct backend_ops be_kvm_ops = {
	.name = "kvm",
	.dev_path = "/dev/kvm",
	.open = kvm_be_open,
	.close = be_dev_close,
	.create_vm = kvm_be_create_vm,
	.destroy_vm = be_vm_close,
	.set_memory = kvm_be_set_memory,
	.create_vcpu = kvm_be_create_vcpu,
	.destroy_vcpu = be_vcpu_teardown,
	.run = kvm_be_run,
	.set_immediate_exit = kvm_be_set_immediate_exit,
	.get_regs = kvm_be_get_regs,
	.set_regs = kvm_be_set_regs,
	.get_sregs = kvm_be_get_sregs,
	.set_sregs = kvm_be_set_sregs,
	.vm_stats = kvm_be_vm_stats,
	.vcpu_stats = kvm_be_vcpu_stats,
	.signal_msi = kvm_be_signal_msi,
	.halted = kvm_be_halted,
};
