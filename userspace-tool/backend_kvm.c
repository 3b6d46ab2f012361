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
 * (KVM_SIGNAL_MSI). KVM exposes no counters here: the stats hooks return
 * -EOPNOTSUPP.
 */
#include <errno.h>
#include <fcntl.h>
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

/* Give the vCPU what the host KVM supports; failure is not fatal. */
static void kvm_be_setup_cpuid(struct be_vcpu *vcpu)
{
	struct kvm_cpuid2 *cpuid;
	int nent = 128;
	__u32 i;

	for (;;) {
		cpuid = calloc(1, sizeof(*cpuid) +
			       nent * sizeof(struct kvm_cpuid_entry2));
		if (!cpuid)
			return;
		cpuid->nent = nent;
		if (ioctl(vcpu->vm->be->fd, KVM_GET_SUPPORTED_CPUID,
			  cpuid) == 0)
			break;
		free(cpuid);
		if (errno != E2BIG || nent >= 4096)
			return;
		nent *= 2;
	}
	/* initial APIC id = vCPU id, as on shadowvm */
	for (i = 0; i < cpuid->nent; i++)
		if (cpuid->entries[i].function == 1)
			cpuid->entries[i].ebx = (cpuid->entries[i].ebx &
						 0x00ffffff) | (vcpu->id << 24);
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

static int kvm_be_vm_stats(struct be_vm *vm, struct be_stats *st)
{
	(void)vm;
	(void)st;
	errno = EOPNOTSUPP;
	return -EOPNOTSUPP;
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
