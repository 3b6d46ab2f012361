// SPDX-License-Identifier: GPL-2.0
/*
 * Interrupt messages between local APICs (SDM vol. 3 11.6, 11.11): IPIs
 * written to the ICR, MSIs from the runner (SHADOWVM_SIGNAL_MSI), and the
 * INIT/SIPI protocol on the receiving vCPU.
 *
 * Contract: delivery runs on the sender's thread (a vCPU thread for an
 * IPI, any thread for an MSI). It finds targets in vm->vcpus[] under
 * rcu_read_lock() (shv_lapic_destroy() waits for a grace period before
 * anything is freed), reads their ID/LDR/DFR/PPR racily and changes them
 * only as lapic_internal.h allows: atomic IRR/TMR bits, vcpu->evt.nmi_queued,
 * ->req and ->sipi_vector, then a kick and a wake-up.
 *
 * INIT/SIPI: an INIT resets the target's LAPIC and puts the vCPU in
 * wait-for-SIPI: its RUN sleeps in the kernel (interruptibly) until a
 * SIPI arrives. The SIPI puts the vCPU in the architectural start state,
 * real mode at vector:0000 (vmx/rmode.c, shv_rmode_sipi()), and RUN
 * returns SHADOWVM_EXIT_SIPI with the vector as a notice: the next RUN
 * starts the AP there (a runner may set other state first). A SIPI to a
 * vCPU not waiting for one is ignored.
 */
#include <linux/kernel.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>
#include <linux/uaccess.h>
#include "shadowvm.h"
#include "lapic_internal.h"

static bool match_dest(struct shv_lapic *t, u32 dest, bool logical)
{
	u32 ldr, model;

	if (!logical)
		return dest == 0xff || (lapic_get(t, LAPIC_ID) >> 24) == dest;
	if (dest == 0xff)
		return true;
	ldr = lapic_get(t, LAPIC_LDR) >> 24;
	model = lapic_get(t, LAPIC_DFR) >> 28;
	if (model == 0xf)		/* flat: one bit per APIC */
		return ldr & dest;
	if (model == 0)			/* cluster: 4-bit cluster, 4 member bits */
		return (ldr >> 4) == (dest >> 4) && (ldr & dest & 0xf);
	return false;			/* reserved model: matches nothing */
}

static struct shv_lapic *vm_lapic(struct shv_vm *vm, int i)
{
	struct shv_vcpu *v = READ_ONCE(vm->vcpus[i]);

	return v ? READ_ONCE(v->lapic) : NULL;
}

/* INIT and SIPI at the target; other modes: lapic_accept(). */
static bool deliver_one(struct shv_lapic *t, int dm, int vector, bool level)
{
	unsigned long flags;

	if (!lapic_hw_enabled(t))
		return false;
	switch (dm) {
	case DM_INIT:
		clear_bit(REQ_SIPI, &t->req);	/* a SIPI before the INIT is void */
		set_bit(REQ_INIT, &t->req);
		break;
	case DM_SIPI:
		/* only a vCPU in (or entering) wait-for-SIPI takes a SIPI */
		if (!READ_ONCE(t->wait_sipi) && !test_bit(REQ_INIT, &t->req))
			return false;
		raw_spin_lock_irqsave(&t->lock, flags);
		t->sipi_vector = vector;
		raw_spin_unlock_irqrestore(&t->lock, flags);
		set_bit(REQ_SIPI, &t->req);
		break;
	default:
		return lapic_accept(t, dm, vector, level);
	}
	wake_up(&t->wq);
	shv_vcpu_kick(t->vcpu);
	return true;
}

/*
 * Deliver to every APIC the destination names (self = sender for the
 * shorthands, NULL for an MSI). Lowest priority: the matching APIC with
 * the lowest PPR (ties: the lowest vCPU index); focus processors are not
 * modelled. Returns how many APICs accepted it.
 */
static int deliver(struct shv_vm *vm, struct shv_lapic *self, int sh, u32 dest, bool logical,
		   int dm, int vector, bool level)
{
	struct shv_lapic *best = NULL;
	u32 best_ppr = 0x100;
	int i, n = 0;

	rcu_read_lock();
	for (i = 0; i < SHADOWVM_MAX_VCPUS; i++) {
		struct shv_lapic *t = vm_lapic(vm, i);

		if (!t || !lapic_hw_enabled(t))
			continue;
		if ((sh == ICR_SH_SELF && t != self) || (sh == ICR_SH_OTHERS && t == self))
			continue;
		if (sh == ICR_SH_NONE && !match_dest(t, dest, logical))
			continue;
		if (dm == DM_LOWEST) {
			u32 ppr = lapic_get(t, LAPIC_PPR) & 0xff;

			if (ppr < best_ppr) {
				best = t;
				best_ppr = ppr;
			}
			continue;
		}
		n += deliver_one(t, dm, vector, level);
	}
	if (best)
		n += deliver_one(best, DM_FIXED, vector, level);
	rcu_read_unlock();
	return n;
}

/* The guest wrote ICR low: send the IPI it describes (vCPU thread). */
void lapic_icr_written(struct shv_lapic *a)
{
	u32 icr = lapic_get(a, LAPIC_ICR);
	int dm = (icr & LVT_DM_MASK) >> LVT_DM_SHIFT, vector = icr & LVT_VECTOR;
	int sh = (icr >> ICR_SH_SHIFT) & 3;
	bool logical = icr & ICR_DEST_LOGICAL;

	switch (dm) {
	case DM_FIXED:
	case DM_LOWEST:
		if (vector < 16) {
			lapic_error(a, ESR_SEND_ILLEGAL);
			return;
		}
		break;
	case DM_NMI:
		break;
	case DM_INIT:
		if (!(icr & ICR_LEVEL_ASSERT) && (icr & LVT_LEVEL))
			return;	/* INIT level de-assert: not on Pentium 4 and later */
		fallthrough;
	case DM_SIPI:
		if (sh == ICR_SH_SELF) {
			lapic_unsupported(a, "INIT/SIPI with the self shorthand", LAPIC_ICR, icr);
			return;
		}
		break;
	default:	/* SMI, reserved, ExtINT */
		lapic_unsupported(a, "ICR delivery mode", LAPIC_ICR, icr);
		return;
	}
	shv_stat_inc(a->vcpu, LAPIC_IPIS);
	deliver(a->vcpu->vm, a, sh, lapic_get(a, LAPIC_ICR2) >> 24, logical, dm, vector,
		icr & LVT_LEVEL);
}

/* ---- SHADOWVM_SIGNAL_MSI ---- */

#define MSI_ADDR_RH		(1ull << 3)
#define MSI_ADDR_DM		(1ull << 2)
#define MSI_ADDR_RSVD		(0xffffffff00000000ull | 0xff0 | 3)
#define MSI_DATA_RSVD		(0xffff0000u | (7u << 11))

long shv_lapic_signal_msi(struct shv_vm *vm, void __user *argp)
{
	struct shadowvm_msi msi;
	int dm, vector;

	if (copy_from_user(&msi, argp, sizeof(msi)))
		return -EFAULT;
	if (msi.flags || msi.reserved[0] || msi.reserved[1])
		return -EINVAL;
	if ((msi.address >> 20) != 0xfee || (msi.address & MSI_ADDR_RSVD) ||
	    (msi.data & MSI_DATA_RSVD))
		return -EINVAL;
	dm = (msi.data >> 8) & 7;
	vector = msi.data & 0xff;
	if (dm != DM_FIXED && dm != DM_LOWEST && dm != DM_NMI)
		return -EINVAL;
	if (dm != DM_NMI && vector < 16)
		return -EINVAL;
	/* redirection hint with logical destination: lowest priority (SDM 11.11.1) */
	if (dm == DM_FIXED && (msi.address & MSI_ADDR_RH) && (msi.address & MSI_ADDR_DM))
		dm = DM_LOWEST;
	return deliver(vm, NULL, ICR_SH_NONE, (msi.address >> 12) & 0xff,
		       msi.address & MSI_ADDR_DM, dm, vector, msi.data & (1u << 15));
}

/* ---- INIT / SIPI at the receiving vCPU ---- */

/*
 * SHADOWVM_GET/SET_MP_STATE: a runner parks its APs in wait-for-SIPI, as
 * an AP is after power-on (SDM vol. 3 9.4), or starts a vCPU itself.
 * Under vcpu->lock, so never while RUN is in progress: wait_sipi stays
 * the vCPU thread's. ENXIO without a LAPIC (no SIPI could ever come).
 */
long shv_lapic_mp_state_ioctl(struct shv_vcpu *vcpu, unsigned int ioctl, void __user *argp)
{
	struct shadowvm_mp_state st;
	struct shv_lapic *a = vcpu->lapic;

	if (ioctl == SHADOWVM_SET_MP_STATE) {
		if (copy_from_user(&st, argp, sizeof(st)))
			return -EFAULT;
		if (st.reserved || st.mp_state > SHADOWVM_MP_STATE_WAIT_SIPI) {
			shv_info_rl("SET_MP_STATE: unknown state %u or reserved field set\n",
				    st.mp_state);
			return -EINVAL;
		}
	}
	if (!a)
		return -ENXIO;
	if (mutex_lock_killable(&vcpu->lock))
		return -EINTR;
	if (ioctl == SHADOWVM_SET_MP_STATE) {
		WRITE_ONCE(a->wait_sipi, st.mp_state == SHADOWVM_MP_STATE_WAIT_SIPI);
		if (st.mp_state == SHADOWVM_MP_STATE_WAIT_SIPI) {
			vcpu->event.valid = false;
			vcpu->evt.halted = false;
		}
	} else {
		st.mp_state = READ_ONCE(a->wait_sipi) || test_bit(REQ_INIT, &a->req) ?
			      SHADOWVM_MP_STATE_WAIT_SIPI : SHADOWVM_MP_STATE_RUNNABLE;
		st.reserved = 0;
	}
	mutex_unlock(&vcpu->lock);
	if (ioctl == SHADOWVM_GET_MP_STATE && copy_to_user(argp, &st, sizeof(st)))
		return -EFAULT;
	return 0;
}

/*
 * INIT: the APIC resets, the CPU leaves HLT and drops the event it was
 * delivering (vmx/inject.c's state: nothing held, not halted).
 */
static void do_init(struct shv_vcpu *vcpu, struct shv_lapic *a)
{
	lapic_reset_regs(a);
	vcpu->event.valid = false;
	vcpu->evt.held = 0;
	vcpu->evt.halted = false;
	WRITE_ONCE(a->wait_sipi, true);
}

bool shv_lapic_init_pending(struct shv_vcpu *vcpu)
{
	return vcpu->lapic && test_bit(REQ_INIT, &vcpu->lapic->req);
}

int shv_lapic_run_check(struct shv_vcpu *vcpu)
{
	struct shv_lapic *a = vcpu->lapic;
	struct shadowvm_run *run = vcpu->run;
	int r;

	if (!a || (!READ_ONCE(a->req) && !a->wait_sipi))
		return 1;
	for (;;) {
		if (test_bit(REQ_INIT, &a->req)) {
			/* waiting before the bit clears: a SIPI sent now is kept */
			WRITE_ONCE(a->wait_sipi, true);
			/* pairs with the sender's test of wait_sipi, then REQ_INIT */
			smp_mb__before_atomic();
			clear_bit(REQ_INIT, &a->req);
			do_init(vcpu, a);
		}
		if (!a->wait_sipi) {
			clear_bit(REQ_SIPI, &a->req);	/* stale: not waiting */
			return 1;
		}
		if (test_and_clear_bit(REQ_SIPI, &a->req)) {
			unsigned long flags;

			WRITE_ONCE(a->wait_sipi, false);
			raw_spin_lock_irqsave(&a->lock, flags);
			run->sipi.vector = a->sipi_vector;
			raw_spin_unlock_irqrestore(&a->lock, flags);
			run->sipi.pad = 0;
			r = shv_rmode_sipi(vcpu, run->sipi.vector);
			if (r)
				return r;
			run->exit_reason = SHADOWVM_EXIT_SIPI;
			return 0;
		}
		/* no slot update may wait for a vCPU parked in wait-for-SIPI */
		srcu_read_unlock(&vcpu->vm->srcu, vcpu->srcu_idx);
		r = wait_event_interruptible(a->wq, READ_ONCE(a->req) != 0);
		vcpu->srcu_idx = srcu_read_lock(&vcpu->vm->srcu);
		if (r) {
			run->exit_reason = SHADOWVM_EXIT_INTR;
			shv_stat_inc(vcpu, SIGNAL_EXITS);
			return -EINTR;
		}
	}
}
