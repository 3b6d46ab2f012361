// SPDX-License-Identifier: GPL-2.0
/*
 * Interrupts, NMIs and HLT: what is injected at the next VM entry.
 *
 * Contract. Event sources: the runner (SHADOWVM_INTERRUPT: one queued
 * external interrupt vector, KVM_INTERRUPT's meaning; SHADOWVM_NMI), the
 * in-kernel LAPIC (shv_lapic_pending_irq()/shv_lapic_ack_irq()), the
 * exit handlers (exceptions, shv_queue_exception() in vcpu.c) and an
 * event whose delivery a VM exit cut (IDT-vectoring information, put
 * back into vcpu->event by run.c). Other threads only set ext_irq or
 * nmi_queued and call shv_vcpu_kick(); everything else here belongs to
 * the vCPU's thread.
 *
 * Before each entry shv_events_prepare() picks at most one event, in
 * priority order: an event already in vcpu->event (exception or
 * re-injection), then an NMI (held or queued) when no NMI, STI or MOV-SS
 * blocking is in effect, then an interrupt held back by an exception,
 * the runner's ExtINT, the LAPIC's vector, each only when RFLAGS.IF=1
 * and no STI/MOV-SS blocking. What cannot be injected yet arms
 * NMI-window or interrupt-window exiting; a window exit just comes back
 * here. HLT with IF=1 sleeps in the kernel (interruptibly; a signal ends
 * RUN with -EINTR and the vCPU stays halted) until an event can wake it,
 * unless the VM was created with SHADOWVM_VM_HLT_EXITS or the runner
 * drives interrupts itself (run->request_interrupt_window).
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>
#include <linux/ktime.h>
#include <linux/smp.h>
#include <asm/processor-flags.h>
#include "shadowvm.h"
#include "lapic.h"
#include "vmx_defs.h"
#include "compat.h"

#define WINDOWS	(CPU_INTR_WINDOW_EXITING | CPU_NMI_WINDOW_EXITING)

void shv_events_init(struct shv_vcpu *vcpu)
{
	init_waitqueue_head(&vcpu->evt.wq);
}

/*
 * Another thread changed what this vCPU should see. kicked is set first:
 * the vCPU clears it before it looks at the requests (prepare, halt) and
 * tests it again with in_guest set and interrupts off, so a request is
 * either seen there or the vCPU is in the guest and gets the IPI. The
 * caller keeps the vCPU alive (an open vCPU fd, or the VM's vcpus[] under
 * the rules of kmod/shadowvm.h). Safe from hard-irq context: no sleeping,
 * and the IPI is the scheduler's reschedule IPI (no waiting for it).
 */
void shv_vcpu_kick(struct shv_vcpu *vcpu)
{
	int cpu;

	WRITE_ONCE(vcpu->evt.kicked, true);
	smp_mb();	/* kicked before in_guest; pairs with run.c */
	wake_up_interruptible(&vcpu->evt.wq);
	if (!READ_ONCE(vcpu->in_guest))
		return;
	smp_rmb();	/* in_guest before cpu (see mmu/tlb.c) */
	cpu = READ_ONCE(vcpu->cpu);
	if (cpu >= 0 && cpu != raw_smp_processor_id())
		shv_send_reschedule(cpu);
}

bool shv_events_kicked(struct shv_vcpu *vcpu)
{
	return READ_ONCE(vcpu->evt.kicked);
}

long shv_events_ioctl(struct shv_vcpu *vcpu, unsigned int ioctl, void __user *argp)
{
	struct shadowvm_interrupt irq;

	if (ioctl == SHADOWVM_NMI) {
		if (argp)
			return -EINVAL;
		if (!shv_caps.has_vnmi)
			return -EOPNOTSUPP;
		/* one NMI in service plus one latched, as the CPU keeps */
		atomic_add_unless(&vcpu->evt.nmi_queued, 1, 2);
		shv_vcpu_kick(vcpu);
		return 0;
	}
	if (copy_from_user(&irq, argp, sizeof(irq)))
		return -EFAULT;
	if (irq.reserved || irq.irq > 255)
		return -EINVAL;
	if (atomic_cmpxchg(&vcpu->evt.ext_irq, 0, SHV_EXT_IRQ_QUEUED | irq.irq))
		return -EEXIST;
	shv_vcpu_kick(vcpu);
	return 0;
}

static bool irq_window_open(struct shv_vcpu *vcpu)
{
	return (vmcs_read(GUEST_RFLAGS) & X86_EFLAGS_IF) &&
	       !(vmcs_read(GUEST_INTERRUPTIBILITY_INFO) &
		 (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS));
}

static bool nmi_window_open(struct shv_vcpu *vcpu)
{
	return !(vmcs_read(GUEST_INTERRUPTIBILITY_INFO) &
		 (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS | GUEST_INTR_STATE_NMI));
}

static void set_event(struct shv_vcpu *vcpu, u32 info)
{
	vcpu->event.valid = true;
	vcpu->event.info = info;
	vcpu->event.error_code = 0;
	vcpu->event.insn_len = 0;
}

static void set_windows(struct shv_vcpu *vcpu, u32 want)
{
	u32 ctl;

	if (vcpu->evt.windows == want)
		return;
	ctl = vmcs_read(CPU_BASED_VM_EXEC_CONTROL);
	vmcs_write(CPU_BASED_VM_EXEC_CONTROL, (ctl & ~WINDOWS) | want);
	vcpu->evt.windows = want;
}

/* An interrupt may be waiting for the window (any source). */
static bool irq_waiting(struct shv_vcpu *vcpu)
{
	return vcpu->evt.held || atomic_read(&vcpu->evt.ext_irq) || shv_lapic_pending_irq(vcpu) >= 0;
}

static bool nmi_waiting(struct shv_vcpu *vcpu)
{
	return vcpu->evt.held_nmi || atomic_read(&vcpu->evt.nmi_queued);
}

static void inject_nmi(struct shv_vcpu *vcpu)
{
	u32 intr = vmcs_read(GUEST_INTERRUPTIBILITY_INFO);

	set_event(vcpu, INTR_INFO_VALID | INTR_TYPE_NMI | NMI_VECTOR_X86);
	/* the entry checks want it clear; delivery sets it again */
	if (intr & GUEST_INTR_STATE_NMI)
		vmcs_write(GUEST_INTERRUPTIBILITY_INFO, intr & ~GUEST_INTR_STATE_NMI);
	shv_stat_inc(vcpu, NMI_INJECTED);
}

static void inject_irq(struct shv_vcpu *vcpu, int vector)
{
	set_event(vcpu, INTR_INFO_VALID | INTR_TYPE_EXT_INTR | (u8)vector);
	shv_stat_inc(vcpu, IRQ_INJECTED);
}

void shv_events_prepare(struct shv_vcpu *vcpu)
{
	struct shv_events *e = &vcpu->evt;
	u32 want = 0;
	int v;

	WRITE_ONCE(e->kicked, false);
	smp_mb();	/* clear kicked before reading the requests */

	/*
	 * Nothing to inject from any source and no window wanted (most
	 * exits): what the steps below would conclude, without reading the
	 * guest's RFLAGS and interruptibility or scanning IRR twice.
	 */
	if (!e->held_nmi && !e->held && !atomic_read(&e->nmi_queued) &&
	    !atomic_read(&e->ext_irq) && !READ_ONCE(vcpu->run->request_interrupt_window) &&
	    (shv_lapic_irr_empty(vcpu) || shv_lapic_pending_irq(vcpu) < 0)) {
		set_windows(vcpu, 0);
		return;
	}
	if (!vcpu->event.valid && e->held_nmi && nmi_window_open(vcpu)) {
		inject_nmi(vcpu);
		e->held_nmi = false;
	}
	if (!vcpu->event.valid && e->held && irq_window_open(vcpu)) {
		set_event(vcpu, e->held);
		e->held = 0;
	}
	if (!vcpu->event.valid && atomic_read(&e->nmi_queued) && nmi_window_open(vcpu)) {
		atomic_dec(&e->nmi_queued);
		inject_nmi(vcpu);
	}
	if (!vcpu->event.valid && !e->held && irq_window_open(vcpu)) {
		v = atomic_xchg(&e->ext_irq, 0);
		if (v) {
			inject_irq(vcpu, v & 0xff);
		} else {
			v = shv_lapic_pending_irq(vcpu);
			if (v >= 0) {
				shv_lapic_ack_irq(vcpu, v);
				inject_irq(vcpu, v);
			}
		}
	}

	if (shv_caps.has_vnmi && nmi_waiting(vcpu))
		want |= CPU_NMI_WINDOW_EXITING;
	if (irq_waiting(vcpu) || READ_ONCE(vcpu->run->request_interrupt_window))
		want |= CPU_INTR_WINDOW_EXITING;
	set_windows(vcpu, want);
}

/*
 * After an exit, before its handler. A fault in an IRET that had already
 * unblocked NMIs (SDM 27.2.3, bit 12 of the exit interruption
 * information): the IRET runs again, so NMIs are blocked again.
 */
void shv_events_after_exit(struct shv_vcpu *vcpu, u32 reason)
{
	u32 info;

	if (vcpu->event.valid)
		shv_stat_inc(vcpu, EVENTS_REINJECTED);
	else
		vcpu->evt.delivery_unprotects = 0;	/* a delivery completed */
	if ((u16)reason != EXIT_REASON_EXCEPTION_NMI || !shv_caps.has_vnmi)
		return;
	info = vmcs_read(VM_EXIT_INTR_INFO);
	if ((info & INTR_INFO_VALID) && (info & INTR_INFO_NMI_UNBLOCK_IRET) &&
	    (info & INTR_INFO_VECTOR_MASK) != DF_VECTOR)
		vmcs_write(GUEST_INTERRUPTIBILITY_INFO,
			   vmcs_read(GUEST_INTERRUPTIBILITY_INFO) | GUEST_INTR_STATE_NMI);
}

void shv_events_hold(struct shv_vcpu *vcpu)
{
	u32 type = vcpu->event.info & INTR_INFO_TYPE_MASK;

	if (!vcpu->event.valid)
		return;
	/*
	 * An interrupt is held only while none is (it is injected only when
	 * nothing is held); an NMI likewise.
	 */
	if (type == INTR_TYPE_NMI)
		vcpu->evt.held_nmi = true;
	else if (type == INTR_TYPE_EXT_INTR)
		vcpu->evt.held = vcpu->event.info & (INTR_INFO_VALID | INTR_INFO_TYPE_MASK |
						     INTR_INFO_VECTOR_MASK);
	else
		return;
	vcpu->event.valid = false;
}

/* Something that ends a halt: an event the guest can take now. */
static bool halt_wakes(struct shv_vcpu *vcpu)
{
	if (vcpu->event.valid || vcpu->pending_shutdown || shv_lapic_init_pending(vcpu))
		return true;	/* lapic: INIT ends HLT */
	if (nmi_waiting(vcpu) && nmi_window_open(vcpu))
		return true;
	return (vmcs_read(GUEST_RFLAGS) & X86_EFLAGS_IF) && irq_waiting(vcpu);
}

int shv_handle_hlt(struct shv_vcpu *vcpu)
{
	shv_stat_inc(vcpu, EXIT_HLT);
	shv_skip_insn(vcpu);
	if ((vcpu->vm->cfg.flags & SHADOWVM_VM_HLT_EXITS) ||
	    READ_ONCE(vcpu->run->request_interrupt_window))
		goto user;
	if (!(vmcs_read(GUEST_RFLAGS) & X86_EFLAGS_IF)) {
		/* only an NMI can end this halt: run it now, or let userspace see HLT */
		if (nmi_waiting(vcpu) && nmi_window_open(vcpu))
			return 1;
		goto user;
	}
	vcpu->evt.halted = true;
	return 1;
user:
	vcpu->run->exit_reason = SHADOWVM_EXIT_HLT;
	return 0;
}

/*
 * Sleep in HLT. The slot read section is left while asleep (slot updates
 * wait for it); the VMCS stays current through the preempt notifiers.
 */
int shv_halt_wait(struct shv_vcpu *vcpu)
{
	struct shv_events *e = &vcpu->evt;
	u64 t0 = ktime_get_ns();
	bool slept = false;
	int r = 1;

	for (;;) {
		WRITE_ONCE(e->kicked, false);
		smp_mb();	/* clear kicked before reading the requests */
		if (halt_wakes(vcpu))
			break;
		if (signal_pending(current)) {
			r = -EINTR;
			break;
		}
		if (!slept)
			shv_stat_inc(vcpu, HALTS_IN_KERNEL);
		slept = true;
		srcu_read_unlock(&vcpu->vm->srcu, vcpu->srcu_idx);
		wait_event_interruptible(e->wq, READ_ONCE(e->kicked));
		vcpu->srcu_idx = srcu_read_lock(&vcpu->vm->srcu);
	}
	if (slept)
		WRITE_ONCE(vcpu->stats[SHADOWVM_STAT_HALT_NS],
			   vcpu->stats[SHADOWVM_STAT_HALT_NS] + ktime_get_ns() - t0);
	if (r < 0) {
		vcpu->run->exit_reason = SHADOWVM_EXIT_INTR;
		shv_stat_inc(vcpu, SIGNAL_EXITS);
		return r;	/* still halted at the next RUN */
	}
	if (slept)
		shv_stat_inc(vcpu, HALT_WAKEUPS);
	e->halted = false;
	return 1;
}

static bool ready_for_injection(struct shv_vcpu *vcpu)
{
	return irq_window_open(vcpu) && !atomic_read(&vcpu->evt.ext_irq) &&
	       !vcpu->event.valid && !vcpu->evt.held && !vcpu->evt.held_nmi;
}

int shv_events_window_check(struct shv_vcpu *vcpu)
{
	if (!READ_ONCE(vcpu->run->request_interrupt_window) || !ready_for_injection(vcpu))
		return 1;
	vcpu->run->exit_reason = SHADOWVM_EXIT_IRQ_WINDOW_OPEN;
	shv_stat_inc(vcpu, USER_EXIT_IRQ_WINDOW);
	return 0;
}

void shv_events_to_user(struct shv_vcpu *vcpu)
{
	vcpu->run->if_flag = !!(vmcs_read(GUEST_RFLAGS) & X86_EFLAGS_IF);
	vcpu->run->ready_for_interrupt_injection = ready_for_injection(vcpu);
}
