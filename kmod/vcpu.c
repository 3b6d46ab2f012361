// SPDX-License-Identifier: GPL-2.0
/*
 * vCPUs: creation, the vCPU fd and its ioctls, register helpers and
 * exception queueing. Contract: every ioctl runs with the vCPU's lock and
 * its VMCS current (vmx/run.c loads it), inside a vm->srcu read section;
 * RUN is vmx/run.c, register state regs.c, control registers cr.c. An
 * exception queued while another is pending merges as the SDM says (#DF,
 * then a triple fault: a shutdown exit).
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
	if (vcpu->rmode.active)
		return 0;	/* real mode, run in v86 mode (vmx/rmode.c) */
	return (vmcs_read(GUEST_SS_AR_BYTES) >> 5) & 3;
}

/*
 * The instruction at RIP completed here, not on the CPU (an exit handler,
 * the emulator or its page-table fast path did it; RIP already points past
 * it), with RFLAGS @rflags when it started. As after any retired
 * instruction: blocking by STI or MOV SS ends (SDM vol. 3 25.4.2), and with
 * TF set the single-step #DB the CPU raises after it follows (DR6.BS,
 * 18.3.1.4), delivered before the next instruction.
 */
void shv_insn_retired(struct shv_vcpu *vcpu, unsigned long rflags)
{
	u32 intr = vmcs_read(GUEST_INTERRUPTIBILITY_INFO);

	if (intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS))
		vmcs_write(GUEST_INTERRUPTIBILITY_INFO,
			   intr & ~(GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS));
	if (rflags & X86_EFLAGS_TF) {
		vcpu->dr6 |= DR_STEP;	/* DR6.BS */
		shv_queue_exception(vcpu, DB_VECTOR, false, 0);
	}
}

/*
 * An exit in the shadow of an STI or MOV SS leaves that blocking in the
 * VMCS (e.g. an unfinished REP INSB right after STI: events_test), and
 * VM entry checks it against RFLAGS (SDM vol. 3 26.3.1.5): blocking by
 * STI needs IF=1 (with IF clear there is no STI shadow, so it ends), and
 * in either shadow the pending single-step (BS) must be set exactly when
 * TF=1 and DEBUGCTL.BTF=0: the step of the shadowed instruction then comes
 * after it, once. Called where RFLAGS changes under a kept shadow
 * (SET_REGS) and before an event is injected (an intercepted #DB in an STI
 * shadow with TF=1 is saved with BS=0 and refused on re-entry: Xen's
 * XSA-308; KVM stuffs BS likewise; a vectoring entry discards pending
 * debug exceptions, so the guest sees no difference). Bochs checks only
 * the IF rule; a real CPU checks both. The VMCS must be loaded.
 */
void shv_shadow_sync_rflags(void)
{
	u32 intr = vmcs_read(GUEST_INTERRUPTIBILITY_INFO);
	unsigned long rflags;
	u64 dbg, bs;

	if (likely(!(intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS))))
		return;		/* no shadow: nothing to keep consistent */
	rflags = vmcs_read(GUEST_RFLAGS);
	if ((intr & GUEST_INTR_STATE_STI) && !(rflags & X86_EFLAGS_IF)) {
		intr &= ~GUEST_INTR_STATE_STI;
		vmcs_write(GUEST_INTERRUPTIBILITY_INFO, intr);
	}
	if (!(intr & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS)))
		return;
	dbg = vmcs_read(GUEST_PENDING_DBG_EXCEPTIONS);
	bs = (rflags & X86_EFLAGS_TF) &&
	     !(vmcs_read(GUEST_IA32_DEBUGCTL) & DEBUGCTLMSR_BTF) ? DR_STEP : 0;
	if ((dbg & DR_STEP) != bs)	/* pending BS: DR6's bit */
		vmcs_write(GUEST_PENDING_DBG_EXCEPTIONS, (dbg & ~DR_STEP) | bs);
}

/*
 * Advance RIP past the instruction that exited; it completed (with
 * RFLAGS.TF set, a single-step #DB follows it, as on the CPU).
 */
void shv_skip_insn(struct shv_vcpu *vcpu)
{
	unsigned long rip;

	/* real mode: the instruction came as a #GP, vmx/rmode.c decoded it */
	if (vcpu->rmode.insn_len)
		rip = (shv_rip(vcpu) + vcpu->rmode.insn_len) & 0xffff;
	else
		rip = shv_rip(vcpu) + vmcs_read(VM_EXIT_INSTRUCTION_LEN);
	if (!shv_long_mode(vcpu) || !((vmcs_read(GUEST_CS_AR_BYTES) >> 13) & 1))
		rip = (u32)rip;
	shv_set_rip(vcpu, rip);
	shv_insn_retired(vcpu, vmcs_read(GUEST_RFLAGS));
}

/* ---- exceptions ---- */

enum exc_class { EXC_BENIGN, EXC_CONTRIBUTORY, EXC_PF };

static enum exc_class exc_class(int vector)
{
	switch (vector) {
	case DE_VECTOR: case TS_VECTOR: case NP_VECTOR: case SS_VECTOR: case GP_VECTOR:
	case 21:	/* #CP */
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

	/* an NMI or interrupt whose delivery this exception cut waits for later */
	shv_events_hold(vcpu);
	if (ev->valid && ((ev->info & INTR_INFO_TYPE_MASK) == INTR_TYPE_HARD_EXCEPTION)) {
		int prev = ev->info & INTR_INFO_VECTOR_MASK;
		enum exc_class pc = exc_class(prev), nc = exc_class(vector);

		/* a contributory fault or #PF while delivering #DF: shutdown */
		if (prev == DF_VECTOR && nc != EXC_BENIGN) {
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
	case SHADOWVM_GET_LAPIC:	/* lapic.c takes the vCPU lock itself */
	case SHADOWVM_SET_LAPIC:
		return shv_lapic_ioctl(vcpu, ioctl, argp);
	case SHADOWVM_GET_MP_STATE:	/* lapic_ipi.c, the same */
	case SHADOWVM_SET_MP_STATE:
		return shv_lapic_mp_state_ioctl(vcpu, ioctl, argp);
	case SHADOWVM_RUN:
	case SHADOWVM_GET_REGS:
	case SHADOWVM_GET_SREGS:
	case SHADOWVM_GET_VCPU_STATS:
		break;
	case SHADOWVM_INTERRUPT:
	case SHADOWVM_NMI:
		/* no vcpu->lock: a halted vCPU holds it while it sleeps */
		return shv_events_ioctl(vcpu, ioctl, argp);
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
	shv_vcpu_load(vcpu);
	/* guest memory is reached only inside vm->srcu (vm.c, slot lifetime) */
	vcpu->srcu_idx = srcu_read_lock(&vcpu->vm->srcu);
	switch (ioctl) {
	case SHADOWVM_RUN:
		rcu_assign_pointer(vcpu->run_task, current);	/* vmx/pause.c */
		r = shv_vcpu_run(vcpu);
		RCU_INIT_POINTER(vcpu->run_task, NULL);
		break;
	case SHADOWVM_GET_REGS:
		shv_get_regs(vcpu, &u.regs);
		break;
	case SHADOWVM_SET_REGS:
		r = shv_set_regs(vcpu, &u.regs);
		break;
	case SHADOWVM_GET_SREGS:
		shv_get_sregs(vcpu, &u.sregs);
		break;
	case SHADOWVM_SET_SREGS:
		r = shv_set_sregs(vcpu, &u.sregs);
		break;
	}
	srcu_read_unlock(&vcpu->vm->srcu, vcpu->srcu_idx);
	shv_vcpu_put(vcpu);
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
	/* never grown or merged into a mapping ->mmap did not check */
	shv_vma_set_flags(vma, VM_DONTEXPAND);
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
	shv_lapic_destroy(vcpu);	/* first: its timer and senders may still kick us */
	shv_vmx_forget_vm(vcpu->vm);
	shv_mmu_vcpu_destroy(vcpu);
	shv_vpid_free(vcpu->vpid);
	shv_msr_vcpu_free(vcpu);
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
	shv_events_init(vcpu);
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
	r = shv_lapic_create(vcpu);
	if (r)
		goto fail;
	r = shv_mmu_vcpu_init(vcpu);
	if (r)
		goto fail;

	sregs = shv_zalloc(sizeof(*sregs));
	if (!sregs) {
		r = -ENOMEM;
		goto fail;
	}
	shv_default_sregs(sregs);
	sregs->apic_base = shv_lapic_get_base(vcpu);	/* BSP flag on vCPU 0 only */
	preempt_disable();
	shv_vmclear(__pa(vcpu->vmcs));	/* initialise the region, launch state clear */
	preempt_enable();
	shv_vcpu_load(vcpu);
	shv_vmcs_setup(vcpu);
	r = shv_msr_vcpu_init(vcpu);
	vcpu->srcu_idx = srcu_read_lock(&vm->srcu);
	if (!r)
		r = shv_set_sregs(vcpu, sregs);
	srcu_read_unlock(&vm->srcu, vcpu->srcu_idx);
	shv_vcpu_put(vcpu);
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

