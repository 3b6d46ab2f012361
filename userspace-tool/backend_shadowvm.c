// SPDX-License-Identifier: GPL-2.0
/*
 * shadowvm backend: drives /dev/shadowvm through the uapi in
 * uapi/linux/shadowvm.h. A new shadowvm vCPU already starts in the common
 * flat 32-bit state, so nothing is set up at vCPU creation. Counters come
 * from GET_VM_STATS / GET_VCPU_STATS, named by shadowvm_stat_names[].
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/shadowvm.h>

#include "backend.h"
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
};

static int neg_errno(void)
{
	return errno ? -errno : -EIO;
}

static int svm_open(struct backend *be, const char *path)
{
	int ret;

	be->fd = open(path ? path : be->ops->dev_path, O_RDWR | O_CLOEXEC);
	if (be->fd < 0)
		return neg_errno();
	ret = ioctl(be->fd, SHADOWVM_GET_API_VERSION, 0);
	if (ret != SHADOWVM_API_VERSION) {
		close(be->fd);
		be->fd = -1;
		errno = EPROTO;
		return -EPROTO;
	}
	ret = ioctl(be->fd, SHADOWVM_GET_VCPU_MMAP_SIZE, 0);
	if (ret <= 0) {
		ret = neg_errno();
		close(be->fd);
		be->fd = -1;
		return ret;
	}
	be->vcpu_mmap_size = ret;
	return 0;
}

static void svm_close(struct backend *be)
{
	if (be->fd >= 0)
		close(be->fd);
	be->fd = -1;
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
	}
	vm->be = be;
	vm->fd = ioctl(be->fd, SHADOWVM_CREATE_VM, cfg ? &c : NULL);
	if (vm->fd < 0)
		return neg_errno();
	return 0;
}

static void svm_destroy_vm(struct be_vm *vm)
{
	if (vm->fd >= 0)
		close(vm->fd);
	vm->fd = -1;
}

static int svm_set_memory(struct be_vm *vm, uint32_t slot, uint64_t gpa,
			  uint64_t size, void *hva, bool readonly)
{
	struct shadowvm_memory_region r = {
		.slot = slot,
		.flags = readonly ? SHADOWVM_MEM_READONLY : 0,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	if (ioctl(vm->fd, SHADOWVM_SET_MEMORY_REGION, &r) < 0)
		return neg_errno();
	return 0;
}

static int svm_create_vcpu(struct be_vm *vm, uint32_t id,
			   struct be_vcpu *vcpu)
{
	int ret;

	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->run = NULL;
	vcpu->run_size = vm->be->vcpu_mmap_size;
	vcpu->fd = ioctl(vm->fd, SHADOWVM_CREATE_VCPU, (unsigned long)id);
	if (vcpu->fd < 0)
		return neg_errno();
	vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, vcpu->fd, 0);
	if (vcpu->run == MAP_FAILED) {
		ret = neg_errno();
		close(vcpu->fd);
		vcpu->fd = -1;
		vcpu->run = NULL;
		errno = -ret;
		return ret;
	}
	return 0;
}

static void svm_destroy_vcpu(struct be_vcpu *vcpu)
{
	if (vcpu->run)
		munmap(vcpu->run, vcpu->run_size);
	vcpu->run = NULL;
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->fd = -1;
}

static void svm_translate_exit(struct be_vcpu *vcpu, struct be_exit *e)
{
	struct shadowvm_run *run = vcpu->run;

	memset(e, 0, sizeof(*e));
	e->raw_reason = run->exit_reason;
	switch (run->exit_reason) {
	case SHADOWVM_EXIT_IO:
		e->reason = BE_EXIT_IO;
		e->io.direction = run->io.direction == SHADOWVM_EXIT_IO_OUT ?
				  BE_IO_OUT : BE_IO_IN;
		e->io.size = run->io.size;
		e->io.port = run->io.port;
		e->io.count = run->io.count;
		if (run->io.data_offset >= vcpu->run_size ||
		    (uint64_t)run->io.size * run->io.count >
		    vcpu->run_size - run->io.data_offset) {
			/* would point outside the run page */
			e->reason = BE_EXIT_UNKNOWN;
			break;
		}
		e->io.data = (uint8_t *)run + run->io.data_offset;
		break;
	case SHADOWVM_EXIT_MMIO:
		e->reason = BE_EXIT_MMIO;
		e->mmio.phys_addr = run->mmio.phys_addr;
		e->mmio.data = run->mmio.data;
		e->mmio.len = run->mmio.len;
		e->mmio.is_write = run->mmio.is_write;
		if (e->mmio.len > sizeof(run->mmio.data))
			e->reason = BE_EXIT_UNKNOWN;
		break;
	case SHADOWVM_EXIT_HLT:
		e->reason = BE_EXIT_HLT;
		break;
	case SHADOWVM_EXIT_SHUTDOWN:
		e->reason = BE_EXIT_SHUTDOWN;
		break;
	case SHADOWVM_EXIT_FAIL_ENTRY:
		e->reason = BE_EXIT_FAIL_ENTRY;
		e->fail_entry.reason =
			run->fail_entry.hardware_entry_failure_reason;
		e->fail_entry.qualification = run->fail_entry.exit_qualification;
		break;
	case SHADOWVM_EXIT_INTERNAL_ERROR:
		e->reason = BE_EXIT_INTERNAL;
		e->internal.suberror = run->internal.suberror;
		e->internal.ndata = run->internal.ndata;
		if (e->internal.ndata > 16)
			e->internal.ndata = 16;
		memcpy(e->internal.data, run->internal.data,
		       e->internal.ndata * sizeof(uint64_t));
		break;
	case SHADOWVM_EXIT_INTR:
		e->reason = BE_EXIT_INTR;
		break;
	default:
		e->reason = BE_EXIT_UNKNOWN;
		break;
	}
}

static int svm_run(struct be_vcpu *vcpu, struct be_exit *exit)
{
	int ret = ioctl(vcpu->fd, SHADOWVM_RUN, 0);

	if (ret < 0) {
		ret = neg_errno();
		memset(exit, 0, sizeof(*exit));
		if (ret == -EINTR) {
			exit->reason = BE_EXIT_INTR;
			exit->raw_reason = SHADOWVM_EXIT_INTR;
		}
		errno = -ret;
		return ret;
	}
	svm_translate_exit(vcpu, exit);
	return 0;
}

static void svm_set_immediate_exit(struct be_vcpu *vcpu, bool on)
{
	struct shadowvm_run *run = vcpu->run;

	__atomic_store_n(&run->immediate_exit, on ? 1 : 0, __ATOMIC_SEQ_CST);
}

static int svm_get_regs(struct be_vcpu *vcpu, struct be_regs *regs)
{
	struct shadowvm_regs r;

	if (ioctl(vcpu->fd, SHADOWVM_GET_REGS, &r) < 0)
		return neg_errno();
	regs->rax = r.rax; regs->rbx = r.rbx; regs->rcx = r.rcx;
	regs->rdx = r.rdx; regs->rsi = r.rsi; regs->rdi = r.rdi;
	regs->rsp = r.rsp; regs->rbp = r.rbp; regs->r8 = r.r8;
	regs->r9 = r.r9; regs->r10 = r.r10; regs->r11 = r.r11;
	regs->r12 = r.r12; regs->r13 = r.r13; regs->r14 = r.r14;
	regs->r15 = r.r15; regs->rip = r.rip; regs->rflags = r.rflags;
	return 0;
}

static int svm_set_regs(struct be_vcpu *vcpu, const struct be_regs *regs)
{
	struct shadowvm_regs r = {
		.rax = regs->rax, .rbx = regs->rbx, .rcx = regs->rcx,
		.rdx = regs->rdx, .rsi = regs->rsi, .rdi = regs->rdi,
		.rsp = regs->rsp, .rbp = regs->rbp, .r8 = regs->r8,
		.r9 = regs->r9, .r10 = regs->r10, .r11 = regs->r11,
		.r12 = regs->r12, .r13 = regs->r13, .r14 = regs->r14,
		.r15 = regs->r15, .rip = regs->rip, .rflags = regs->rflags,
	};

	if (ioctl(vcpu->fd, SHADOWVM_SET_REGS, &r) < 0)
		return neg_errno();
	return 0;
}

static void seg_from(struct be_segment *d, const struct shadowvm_segment *s)
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

static void seg_to(struct shadowvm_segment *d, const struct be_segment *s)
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

static int svm_get_sregs(struct be_vcpu *vcpu, struct be_sregs *sr)
{
	struct shadowvm_sregs s;

	if (ioctl(vcpu->fd, SHADOWVM_GET_SREGS, &s) < 0)
		return neg_errno();
	memset(sr, 0, sizeof(*sr));
	seg_from(&sr->cs, &s.cs);
	seg_from(&sr->ds, &s.ds);
	seg_from(&sr->es, &s.es);
	seg_from(&sr->fs, &s.fs);
	seg_from(&sr->gs, &s.gs);
	seg_from(&sr->ss, &s.ss);
	seg_from(&sr->tr, &s.tr);
	seg_from(&sr->ldt, &s.ldt);
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

static int svm_set_sregs(struct be_vcpu *vcpu, const struct be_sregs *sr)
{
	struct shadowvm_sregs s;

	memset(&s, 0, sizeof(s));
	seg_to(&s.cs, &sr->cs);
	seg_to(&s.ds, &sr->ds);
	seg_to(&s.es, &sr->es);
	seg_to(&s.fs, &sr->fs);
	seg_to(&s.gs, &sr->gs);
	seg_to(&s.ss, &sr->ss);
	seg_to(&s.tr, &sr->tr);
	seg_to(&s.ldt, &sr->ldt);
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
	s.apic_base = sr->apic_base;
	if (ioctl(vcpu->fd, SHADOWVM_SET_SREGS, &s) < 0)
		return neg_errno();
	return 0;
}

static int svm_stats(int fd, unsigned long req, struct be_stats *st)
{
	struct shadowvm_stats s;
	unsigned int i;

	memset(&s, 0, sizeof(s));
	if (ioctl(fd, req, &s) < 0)
		return neg_errno();
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

const struct backend_ops be_shadowvm_ops = {
	.name = "shadowvm",
	.dev_path = "/dev/shadowvm",
	.open = svm_open,
	.close = svm_close,
	.create_vm = svm_create_vm,
	.destroy_vm = svm_destroy_vm,
	.set_memory = svm_set_memory,
	.create_vcpu = svm_create_vcpu,
	.destroy_vcpu = svm_destroy_vcpu,
	.run = svm_run,
	.set_immediate_exit = svm_set_immediate_exit,
	.get_regs = svm_get_regs,
	.set_regs = svm_set_regs,
	.get_sregs = svm_get_sregs,
	.set_sregs = svm_set_sregs,
	.vm_stats = svm_vm_stats,
	.vcpu_stats = svm_vcpu_stats,
};
