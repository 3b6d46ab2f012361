// SPDX-License-Identifier: GPL-2.0
/*
 * KVM backend: drives /dev/kvm so the same runner, devices and tests can be
 * compared against an upstream hypervisor. KVM resets a vCPU to real mode,
 * so create_vcpu loads the common flat 32-bit state (be_flat32_sregs) and
 * the host-supported CPUID. No in-kernel irqchip is created, so HLT exits
 * to userspace like on shadowvm. KVM exposes no counters here: the stats
 * hooks return -EOPNOTSUPP.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/kvm.h>

#include "backend.h"

/* Three pages KVM/VMX needs for its real-mode TSS, outside guest RAM. */
#define KVM_TSS_ADDR	0xfffbd000UL

static int neg_errno(void)
{
	return errno ? -errno : -EIO;
}

static int kvm_be_open(struct backend *be, const char *path)
{
	int ret;

	be->fd = open(path ? path : be->ops->dev_path, O_RDWR | O_CLOEXEC);
	if (be->fd < 0)
		return neg_errno();
	ret = ioctl(be->fd, KVM_GET_API_VERSION, 0);
	if (ret != KVM_API_VERSION) {
		close(be->fd);
		be->fd = -1;
		errno = EPROTO;
		return -EPROTO;
	}
	ret = ioctl(be->fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (ret <= 0) {
		ret = neg_errno();
		close(be->fd);
		be->fd = -1;
		return ret;
	}
	be->vcpu_mmap_size = ret;
	return 0;
}

static void kvm_be_close(struct backend *be)
{
	if (be->fd >= 0)
		close(be->fd);
	be->fd = -1;
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
	vm->fd = ioctl(be->fd, KVM_CREATE_VM, 0);
	if (vm->fd < 0)
		return neg_errno();
	/* Only meaningful (and required) on VMX without unrestricted guest. */
	if (ioctl(vm->fd, KVM_SET_TSS_ADDR, KVM_TSS_ADDR) < 0) {
		ret = neg_errno();
		close(vm->fd);
		vm->fd = -1;
		errno = -ret;
		return ret;
	}
	return 0;
}

static void kvm_be_destroy_vm(struct be_vm *vm)
{
	if (vm->fd >= 0)
		close(vm->fd);
	vm->fd = -1;
}

static int kvm_be_set_memory(struct be_vm *vm, uint32_t slot, uint64_t gpa,
			     uint64_t size, void *hva, bool readonly)
{
	struct kvm_userspace_memory_region r = {
		.slot = slot,
		.flags = readonly ? KVM_MEM_READONLY : 0,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		return neg_errno();
	return 0;
}

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

static void seg_to_kvm(struct kvm_segment *d, const struct be_segment *s)
{
	memset(d, 0, sizeof(*d));
	d->base = s->base;
	d->limit = s->limit;
	d->selector = s->selector;
	d->type = s->type;
	d->present = s->present;
	d->dpl = s->dpl;
	d->db = s->db;
	d->s = s->s;
	d->l = s->l;
	d->g = s->g;
	d->avl = s->avl;
	d->unusable = s->unusable;
}

static void seg_from_kvm(struct be_segment *d, const struct kvm_segment *s)
{
	d->base = s->base;
	d->limit = s->limit;
	d->selector = s->selector;
	d->type = s->type;
	d->present = s->present;
	d->dpl = s->dpl;
	d->db = s->db;
	d->s = s->s;
	d->l = s->l;
	d->g = s->g;
	d->avl = s->avl;
	d->unusable = s->unusable;
}

static int kvm_be_get_sregs(struct be_vcpu *vcpu, struct be_sregs *sr)
{
	struct kvm_sregs s;

	if (ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0)
		return neg_errno();
	memset(sr, 0, sizeof(*sr));
	seg_from_kvm(&sr->cs, &s.cs);
	seg_from_kvm(&sr->ds, &s.ds);
	seg_from_kvm(&sr->es, &s.es);
	seg_from_kvm(&sr->fs, &s.fs);
	seg_from_kvm(&sr->gs, &s.gs);
	seg_from_kvm(&sr->ss, &s.ss);
	seg_from_kvm(&sr->tr, &s.tr);
	seg_from_kvm(&sr->ldt, &s.ldt);
	sr->gdt.base = s.gdt.base;
	sr->gdt.limit = s.gdt.limit;
	sr->idt.base = s.idt.base;
	sr->idt.limit = s.idt.limit;
	sr->cr0 = s.cr0;
	sr->cr2 = s.cr2;
	sr->cr3 = s.cr3;
	sr->cr4 = s.cr4;
	sr->cr8 = s.cr8;
	sr->efer = s.efer;
	sr->apic_base = s.apic_base;
	return 0;
}

static int kvm_be_set_sregs(struct be_vcpu *vcpu, const struct be_sregs *sr)
{
	struct kvm_sregs s;

	/* Start from KVM's view so interrupt_bitmap stays consistent. */
	if (ioctl(vcpu->fd, KVM_GET_SREGS, &s) < 0)
		return neg_errno();
	seg_to_kvm(&s.cs, &sr->cs);
	seg_to_kvm(&s.ds, &sr->ds);
	seg_to_kvm(&s.es, &sr->es);
	seg_to_kvm(&s.fs, &sr->fs);
	seg_to_kvm(&s.gs, &sr->gs);
	seg_to_kvm(&s.ss, &sr->ss);
	seg_to_kvm(&s.tr, &sr->tr);
	seg_to_kvm(&s.ldt, &sr->ldt);
	s.gdt.base = sr->gdt.base;
	s.gdt.limit = sr->gdt.limit;
	s.idt.base = sr->idt.base;
	s.idt.limit = sr->idt.limit;
	s.cr0 = sr->cr0;
	s.cr2 = sr->cr2;
	s.cr3 = sr->cr3;
	s.cr4 = sr->cr4;
	s.cr8 = sr->cr8;
	s.efer = sr->efer;
	/* keep KVM's APIC base unless the caller asks for one */
	if (sr->apic_base)
		s.apic_base = sr->apic_base;
	if (ioctl(vcpu->fd, KVM_SET_SREGS, &s) < 0)
		return neg_errno();
	return 0;
}

static int kvm_be_get_regs(struct be_vcpu *vcpu, struct be_regs *regs)
{
	struct kvm_regs r;

	if (ioctl(vcpu->fd, KVM_GET_REGS, &r) < 0)
		return neg_errno();
	regs->rax = r.rax; regs->rbx = r.rbx; regs->rcx = r.rcx;
	regs->rdx = r.rdx; regs->rsi = r.rsi; regs->rdi = r.rdi;
	regs->rsp = r.rsp; regs->rbp = r.rbp; regs->r8 = r.r8;
	regs->r9 = r.r9; regs->r10 = r.r10; regs->r11 = r.r11;
	regs->r12 = r.r12; regs->r13 = r.r13; regs->r14 = r.r14;
	regs->r15 = r.r15; regs->rip = r.rip; regs->rflags = r.rflags;
	return 0;
}

static int kvm_be_set_regs(struct be_vcpu *vcpu, const struct be_regs *regs)
{
	struct kvm_regs r = {
		.rax = regs->rax, .rbx = regs->rbx, .rcx = regs->rcx,
		.rdx = regs->rdx, .rsi = regs->rsi, .rdi = regs->rdi,
		.rsp = regs->rsp, .rbp = regs->rbp, .r8 = regs->r8,
		.r9 = regs->r9, .r10 = regs->r10, .r11 = regs->r11,
		.r12 = regs->r12, .r13 = regs->r13, .r14 = regs->r14,
		.r15 = regs->r15, .rip = regs->rip, .rflags = regs->rflags,
	};

	if (ioctl(vcpu->fd, KVM_SET_REGS, &r) < 0)
		return neg_errno();
	return 0;
}

static int kvm_be_create_vcpu(struct be_vm *vm, uint32_t id,
			      struct be_vcpu *vcpu)
{
	struct be_sregs sr;
	struct be_regs regs;
	int ret;

	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->run = NULL;
	vcpu->run_size = vm->be->vcpu_mmap_size;
	vcpu->fd = ioctl(vm->fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (vcpu->fd < 0)
		return neg_errno();
	vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		vcpu->run = NULL;
		ret = neg_errno();
		goto fail;
	}
	kvm_be_setup_cpuid(vcpu);

	be_flat32_sregs(&sr);
	ret = kvm_be_set_sregs(vcpu, &sr);
	if (ret)
		goto fail;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	ret = kvm_be_set_regs(vcpu, &regs);
	if (ret)
		goto fail;
	return 0;
fail:
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	vcpu->run = NULL;
	close(vcpu->fd);
	vcpu->fd = -1;
	errno = -ret;
	return ret;
}

static void kvm_be_destroy_vcpu(struct be_vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	vcpu->run = NULL;
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->fd = -1;
}

static void kvm_be_translate_exit(struct be_vcpu *vcpu, struct be_exit *e)
{
	struct kvm_run *run = vcpu->run;

	memset(e, 0, sizeof(*e));
	e->raw_reason = run->exit_reason;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		e->reason = BE_EXIT_IO;
		e->io.direction = run->io.direction == KVM_EXIT_IO_OUT ?
				  BE_IO_OUT : BE_IO_IN;
		e->io.size = run->io.size;
		e->io.port = run->io.port;
		e->io.count = run->io.count;
		if (run->io.data_offset >= vcpu->run_size ||
		    (uint64_t)run->io.size * run->io.count >
		    vcpu->run_size - run->io.data_offset) {
			e->reason = BE_EXIT_UNKNOWN;
			break;
		}
		e->io.data = (uint8_t *)run + run->io.data_offset;
		break;
	case KVM_EXIT_MMIO:
		e->reason = BE_EXIT_MMIO;
		e->mmio.phys_addr = run->mmio.phys_addr;
		e->mmio.data = run->mmio.data;
		e->mmio.len = run->mmio.len;
		e->mmio.is_write = run->mmio.is_write;
		if (e->mmio.len > sizeof(run->mmio.data))
			e->reason = BE_EXIT_UNKNOWN;
		break;
	case KVM_EXIT_HLT:
		e->reason = BE_EXIT_HLT;
		break;
	case KVM_EXIT_SHUTDOWN:
		e->reason = BE_EXIT_SHUTDOWN;
		break;
	case KVM_EXIT_FAIL_ENTRY:
		e->reason = BE_EXIT_FAIL_ENTRY;
		e->fail_entry.reason =
			run->fail_entry.hardware_entry_failure_reason;
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		e->reason = BE_EXIT_INTERNAL;
		e->internal.suberror = run->internal.suberror;
		e->internal.ndata = run->internal.ndata;
		if (e->internal.ndata > 16)
			e->internal.ndata = 16;
		memcpy(e->internal.data, run->internal.data,
		       e->internal.ndata * sizeof(uint64_t));
		break;
	case KVM_EXIT_INTR:
		e->reason = BE_EXIT_INTR;
		break;
	default:
		e->reason = BE_EXIT_UNKNOWN;
		break;
	}
}

static int kvm_be_run(struct be_vcpu *vcpu, struct be_exit *exit)
{
	int ret = ioctl(vcpu->fd, KVM_RUN, 0);

	if (ret < 0) {
		ret = neg_errno();
		memset(exit, 0, sizeof(*exit));
		if (ret == -EINTR) {
			exit->reason = BE_EXIT_INTR;
			exit->raw_reason = KVM_EXIT_INTR;
		}
		errno = -ret;
		return ret;
	}
	kvm_be_translate_exit(vcpu, exit);
	return 0;
}

static void kvm_be_set_immediate_exit(struct be_vcpu *vcpu, bool on)
{
	struct kvm_run *run = vcpu->run;

	__atomic_store_n(&run->immediate_exit, on ? 1 : 0, __ATOMIC_SEQ_CST);
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
	.close = kvm_be_close,
	.create_vm = kvm_be_create_vm,
	.destroy_vm = kvm_be_destroy_vm,
	.set_memory = kvm_be_set_memory,
	.create_vcpu = kvm_be_create_vcpu,
	.destroy_vcpu = kvm_be_destroy_vcpu,
	.run = kvm_be_run,
	.set_immediate_exit = kvm_be_set_immediate_exit,
	.get_regs = kvm_be_get_regs,
	.set_regs = kvm_be_set_regs,
	.get_sregs = kvm_be_get_sregs,
	.set_sregs = kvm_be_set_sregs,
	.vm_stats = kvm_be_vm_stats,
	.vcpu_stats = kvm_be_vcpu_stats,
};
