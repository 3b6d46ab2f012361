// SPDX-License-Identifier: GPL-2.0
/*
 * The in-kernel local APIC (xAPIC, SDM vol. 3 chapter 11): the register
 * page, priorities (TPR/PPR/APR), interrupt acceptance (IRR/ISR/TMR, EOI),
 * errors (ESR, LVT error), IA32_APIC_BASE, CR8, the vCPU-side hooks and
 * the GET/SET_LAPIC ioctls. Contract: kmod/lapic.h; the state and who
 * may touch it: kmod/lapic_internal.h. The timer is lapic_timer.c, the
 * ICR/MSI/INIT/SIPI paths lapic_ipi.c. What is emulated and what is not:
 * Documentation/lapic.rst. Anything the model does not implement is
 * refused or ignored, counted (SHADOWVM_STAT_LAPIC_UNSUPPORTED) and
 * logged (rate-limited), never silently taken.
 */
#include <linux/kernel.h>
#include <linux/errno.h>
#include <linux/mm.h>
#include <linux/io.h>
#include <linux/rcupdate.h>
#include <linux/uaccess.h>
#include "shadowvm.h"
#include "vmx/vmx_defs.h"
#include "lapic_internal.h"

void lapic_unsupported(struct shv_lapic *a, const char *what, u32 off, u64 val)
{
	shv_stat_inc(a->vcpu, LAPIC_UNSUPPORTED);
	shv_info_rl("vcpu%d: LAPIC %s at offset 0x%x (0x%llx): not supported, ignored\n",
		    a->vcpu->id, what, off, val);
}

/* ---- priorities ---- */

/* Highest vector set in IRR, ISR or TMR, or -1. */
int lapic_highest(struct shv_lapic *a, unsigned int reg)
{
	int i;

	for (i = 7; i >= 0; i--) {
		u32 w = lapic_get(a, reg + i * 16);

		if (w)
			return i * 32 + fls(w) - 1;
	}
	return -1;
}

/* SDM 11.8.3.1: PPR from TPR and the highest in-service vector. */
u32 lapic_ppr(struct shv_lapic *a)
{
	u32 tpr = lapic_get(a, LAPIC_TPR) & 0xff;
	int isrv = lapic_highest(a, LAPIC_ISR);
	u32 ppr;

	if (isrv < 0 || (tpr & 0xf0) >= ((u32)isrv & 0xf0))
		ppr = tpr;
	else
		ppr = isrv & 0xf0;
	lapic_set(a, LAPIC_PPR, ppr);
	return ppr;
}

/* Arbitration priority (SDM figure 11-15). */
static u32 lapic_apr(struct shv_lapic *a)
{
	u32 tpr = lapic_get(a, LAPIC_TPR) & 0xff;
	int irrv = lapic_highest(a, LAPIC_IRR), isrv = lapic_highest(a, LAPIC_ISR);
	u32 irrc = irrv < 0 ? 0 : irrv & 0xf0, isrc = isrv < 0 ? 0 : isrv & 0xf0;

	if ((tpr & 0xf0) >= irrc && (tpr & 0xf0) > isrc)
		return tpr;
	return max3(tpr & 0xf0, irrc, isrc);
}

int shv_lapic_pending_irq(struct shv_vcpu *vcpu)
{
	struct shv_lapic *a = vcpu->lapic;
	int irrv;

	if (!a || !lapic_hw_enabled(a))
		return -1;
	irrv = lapic_highest(a, LAPIC_IRR);
	if (irrv < 0 || (irrv & 0xf0) <= (lapic_ppr(a) & 0xf0))
		return -1;
	return irrv;
}

/*
 * For the entry path's check that there is nothing to inject: true when
 * IRR holds no vector, without a scan while no vector was accepted since
 * a scan found it empty. The hint is set before that scan and cleared by
 * an acceptance after its IRR bit (a full barrier on both sides), so a
 * vector accepted during the scan is either seen by it or clears the hint
 * after it was set; the acceptance then kicks the vCPU, whose entry path
 * looks again. vCPU thread only.
 */
bool shv_lapic_irr_empty(struct shv_vcpu *vcpu)
{
	struct shv_lapic *a = vcpu->lapic;

	if (!a || READ_ONCE(a->irr_empty))
		return true;
	WRITE_ONCE(a->irr_empty, true);
	smp_mb();	/* the hint before the scan: pairs with lapic_accept() */
	if (lapic_highest(a, LAPIC_IRR) < 0)
		return true;
	WRITE_ONCE(a->irr_empty, false);
	return false;
}

void shv_lapic_ack_irq(struct shv_vcpu *vcpu, int vector)
{
	struct shv_lapic *a = vcpu->lapic;

	if (!a || vector < 16 || vector > 255)
		return;
	clear_bit(vector & 31, vec_word(a, LAPIC_IRR, vector));
	set_bit(vector & 31, vec_word(a, LAPIC_ISR, vector));
	lapic_ppr(a);
	shv_stat_inc(vcpu, LAPIC_IRQS_ACCEPTED);
}

/*
 * EOI: the highest in-service vector leaves ISR. A level-triggered one
 * would be broadcast to the I/O APICs; there is no in-kernel I/O APIC,
 * so the broadcast is a no-op here (the hook for one).
 */
static void lapic_eoi(struct shv_lapic *a)
{
	int v = lapic_highest(a, LAPIC_ISR);

	if (v < 0)
		return;
	clear_bit(v & 31, vec_word(a, LAPIC_ISR, v));
	if (test_bit(v & 31, vec_word(a, LAPIC_TMR, v)))
		clear_bit(v & 31, vec_word(a, LAPIC_TMR, v));	/* EOI broadcast: no I/O APIC */
	lapic_ppr(a);
	shv_stat_inc(a->vcpu, LAPIC_EOIS);
}

/* ---- acceptance ---- */

/*
 * An interrupt for this APIC, from any thread (the caller made sure it is
 * a destination). Fixed: IRR (and TMR for level) unless the vector is
 * illegal (ESR) or the APIC is software-disabled (discarded, SDM
 * 11.4.7.2). NMI: counted for the injection code. INIT/SIPI: lapic_ipi.c.
 * true: accepted (for the SIGNAL_MSI count).
 */
bool lapic_accept(struct shv_lapic *a, int dm, int vector, bool level)
{
	if (!lapic_hw_enabled(a))
		return false;
	switch (dm) {
	case DM_FIXED:
	case DM_LOWEST:
		if (vector < 16) {
			lapic_error(a, ESR_RECV_ILLEGAL);
			return true;
		}
		if (!lapic_sw_enabled(a))
			return true;
		if (level)
			set_bit(vector & 31, vec_word(a, LAPIC_TMR, vector));
		else
			clear_bit(vector & 31, vec_word(a, LAPIC_TMR, vector));
		/* the trigger mode is set before the vCPU can see the request */
		smp_mb__before_atomic();
		set_bit(vector & 31, vec_word(a, LAPIC_IRR, vector));
		/* after the bit: pairs with shv_lapic_irr_empty()'s barrier */
		smp_mb__after_atomic();
		WRITE_ONCE(a->irr_empty, false);
		break;
	case DM_NMI:
		/* vmx/inject.c: one NMI in service plus one latched */
		atomic_add_unless(&a->vcpu->evt.nmi_queued, 1, 2);
		break;
	default:
		return false;
	}
	shv_vcpu_kick(a->vcpu);
	return true;
}

/*
 * An error the APIC detected (SDM 11.5.3): logged for the next ESR write
 * and signalled through the error LVT unless masked. An illegal vector
 * in the error LVT itself is logged, never delivered (no recursion).
 */
void lapic_error(struct shv_lapic *a, u32 esr_bits)
{
	unsigned long flags;
	u32 lvt = lapic_get(a, LAPIC_LVTERR);

	raw_spin_lock_irqsave(&a->lock, flags);
	a->esr_pending |= esr_bits;
	raw_spin_unlock_irqrestore(&a->lock, flags);
	if (lvt & LVT_MASKED)
		return;
	if ((lvt & LVT_VECTOR) < 16) {
		raw_spin_lock_irqsave(&a->lock, flags);
		a->esr_pending |= ESR_RECV_ILLEGAL;
		raw_spin_unlock_irqrestore(&a->lock, flags);
		return;
	}
	lapic_accept(a, DM_FIXED, lvt & LVT_VECTOR, false);
}

/* ---- reset ---- */

/* Power-up / INIT state (SDM 11.4.7.1, 11.4.7.3): everything but ID. */
void lapic_reset_regs(struct shv_lapic *a)
{
	static const u16 lvts[] = { LAPIC_LVTT, LAPIC_LVTTHM, LAPIC_LVTPC, LAPIC_LVT0,
				    LAPIC_LVT1, LAPIC_LVTERR };
	u32 id = lapic_get(a, LAPIC_ID);
	unsigned long flags;
	int i;

	lapic_timer_stop(a);
	memset(a->regs, 0, PAGE_SIZE);
	lapic_set(a, LAPIC_ID, id);
	lapic_set(a, LAPIC_LVR, LAPIC_VERSION);
	lapic_set(a, LAPIC_DFR, 0xffffffff);
	lapic_set(a, LAPIC_SVR, 0xff);
	for (i = 0; i < ARRAY_SIZE(lvts); i++)
		lapic_set(a, lvts[i], LVT_MASKED);
	raw_spin_lock_irqsave(&a->lock, flags);
	a->esr_pending = 0;
	a->tsc_deadline = 0;
	raw_spin_unlock_irqrestore(&a->lock, flags);
}

/* ---- registers ---- */

static bool is_lvt(u32 off)
{
	return off >= LAPIC_LVTT && off <= LAPIC_LVTERR;
}

/* The value a 32-bit read at off returns; false: no such register. */
static bool reg_read(struct shv_lapic *a, u32 off, u32 *val)
{
	switch (off) {
	case LAPIC_ID: case LAPIC_LVR: case LAPIC_TPR: case LAPIC_LDR: case LAPIC_DFR:
	case LAPIC_SVR: case LAPIC_ESR: case LAPIC_ICR2: case LAPIC_TMICT: case LAPIC_TDCR:
		*val = lapic_get(a, off);
		return true;
	case LAPIC_APR:
		*val = lapic_apr(a);
		return true;
	case LAPIC_PPR:
		*val = lapic_ppr(a);
		return true;
	case LAPIC_ICR:
		*val = lapic_get(a, off) & ~LVT_STATUS;	/* delivery is synchronous: idle */
		return true;
	case LAPIC_TMCCT:
		*val = lapic_timer_current(a);
		return true;
	default:
		if ((off >= LAPIC_ISR && off < LAPIC_ESR) || is_lvt(off)) {
			*val = lapic_get(a, off);
			return true;
		}
		*val = 0;
		return false;	/* EOI (write-only), RRD, CMCI, reserved */
	}
}

static void write_lvt(struct shv_lapic *a, u32 off, u32 val)
{
	u32 old = lapic_get(a, off), mask;

	switch (off) {
	case LAPIC_LVTT:
		mask = LVT_VECTOR | LVT_MASKED | LVTT_MODE_MASK;
		if (((val & LVTT_MODE_MASK) >> LVTT_MODE_SHIFT) == 3) {
			lapic_unsupported(a, "reserved timer mode 3", off, val);
			val = (val & ~LVTT_MODE_MASK) | (old & LVTT_MODE_MASK);
		}
		break;
	case LAPIC_LVT0: case LAPIC_LVT1:
		mask = LVT_VECTOR | LVT_DM_MASK | LVT_POLARITY | LVT_LEVEL | LVT_MASKED;
		break;
	case LAPIC_LVTERR:
		mask = LVT_VECTOR | LVT_MASKED;
		break;
	default:	/* thermal, performance counters: never fire (no sensor, no PMU) */
		mask = LVT_VECTOR | LVT_DM_MASK | LVT_MASKED;
		break;
	}
	val &= mask;
	val |= old & (LVT_STATUS | LVT_REMOTE_IRR);
	if (!lapic_sw_enabled(a))
		val |= LVT_MASKED;	/* SDM 11.4.7.2: masks stay set */
	lapic_set(a, off, val);
	if (off == LAPIC_LVTT)
		lapic_timer_lvt_written(a, old, val);
}

static void reg_write(struct shv_lapic *a, u32 off, u32 val)
{
	static const u16 lvts[] = { LAPIC_LVTT, LAPIC_LVTTHM, LAPIC_LVTPC, LAPIC_LVT0,
				    LAPIC_LVT1, LAPIC_LVTERR };
	unsigned long flags;
	int i;

	switch (off) {
	case LAPIC_ID:
		lapic_set(a, off, val & 0xff000000);
		break;
	case LAPIC_TPR:
		lapic_set(a, off, val & 0xff);
		lapic_ppr(a);
		break;
	case LAPIC_EOI:
		lapic_eoi(a);
		break;
	case LAPIC_LDR:
		lapic_set(a, off, val & 0xff000000);
		break;
	case LAPIC_DFR:
		lapic_set(a, off, val | 0x0fffffff);
		break;
	case LAPIC_SVR:
		/* bits 7:0 vector, 8 enable, 9 focus check; no EOI-broadcast suppression */
		lapic_set(a, off, val & 0x3ff);
		if (!(val & SVR_ENABLE))
			for (i = 0; i < ARRAY_SIZE(lvts); i++)
				lapic_set(a, lvts[i], lapic_get(a, lvts[i]) | LVT_MASKED);
		break;
	case LAPIC_ESR:
		/* the write latches the errors seen since the last write */
		raw_spin_lock_irqsave(&a->lock, flags);
		lapic_set(a, off, a->esr_pending);
		a->esr_pending = 0;
		raw_spin_unlock_irqrestore(&a->lock, flags);
		break;
	case LAPIC_ICR:
		lapic_set(a, off, val & 0x000ccfff);
		lapic_icr_written(a);
		break;
	case LAPIC_ICR2:
		lapic_set(a, off, val & 0xff000000);
		break;
	case LAPIC_TMICT:
		lapic_timer_tmict_written(a, val);
		break;
	case LAPIC_TDCR:
		lapic_timer_tdcr_written(a, val);
		break;
	default:
		if (is_lvt(off)) {
			write_lvt(a, off, val);
			break;
		}
		/* LVR, APR, PPR, RRD, ISR, TMR, IRR, TMCCT are read-only */
		lapic_unsupported(a, "write to a read-only or reserved register", off, val);
		break;
	}
}

static struct shv_lapic *lapic_at(struct shv_vcpu *vcpu, u64 gpa)
{
	struct shv_lapic *a = vcpu->lapic;

	if (!a || !lapic_hw_enabled(a) || (gpa & PAGE_MASK) != (a->base & PAGE_MASK))
		return NULL;
	return a;
}

/*
 * Only 32-bit accesses at 16-byte aligned offsets are defined (SDM
 * 11.4.1). Other reads return the bytes of the register they overlap
 * (0 elsewhere), other writes are dropped; both are counted.
 */
int shv_lapic_mmio_read(struct shv_vcpu *vcpu, u64 gpa, void *data, unsigned int len)
{
	struct shv_lapic *a = lapic_at(vcpu, gpa);
	u32 off = gpa & ~PAGE_MASK, reg = off & ~0xfu, val;
	u8 bytes[16] = { 0 };

	if (!a)
		return -ENOENT;
	if (!reg_read(a, reg, &val))
		lapic_unsupported(a, "read of a write-only or reserved register", reg, 0);
	memcpy(bytes, &val, 4);
	if (len != 4 || (off & 0xf)) {
		lapic_unsupported(a, "read not 32-bit aligned", off, len);
		memset(data, 0, len);
		memcpy(data, bytes + (off & 0xf), min_t(u32, len, 16 - (off & 0xf)));
		return 0;
	}
	memcpy(data, &val, 4);
	return 0;
}

int shv_lapic_mmio_write(struct shv_vcpu *vcpu, u64 gpa, const void *data, unsigned int len)
{
	struct shv_lapic *a = lapic_at(vcpu, gpa);
	u32 off = gpa & ~PAGE_MASK, val;

	if (!a)
		return -ENOENT;
	if (len != 4 || (off & 0xf)) {
		lapic_unsupported(a, "write not 32-bit aligned", off, len);
		return 0;
	}
	memcpy(&val, data, 4);
	reg_write(a, off, val);
	return 0;
}

/* ---- IA32_APIC_BASE, CR8, CPUID ---- */

u64 shv_lapic_get_base(struct shv_vcpu *vcpu)
{
	return vcpu->lapic ? READ_ONCE(vcpu->lapic->base) : vcpu->apic_base;
}

int shv_lapic_set_base(struct shv_vcpu *vcpu, u64 val, bool host)
{
	struct shv_lapic *a = vcpu->lapic;
	u64 rsvd = ~0ull << shv_guest_maxphyaddr() | 0x2ff | APIC_BASE_X2APIC;
	u64 old;

	if (!a)
		return host ? -EINVAL : 1;
	if (val & rsvd)
		return host ? -EINVAL : 1;
	old = a->base;
	if (!host)	/* the BSP flag is the platform's, not the guest's */
		val = (val & ~APIC_BASE_BSP) | (old & APIC_BASE_BSP);
	if ((old & APIC_BASE_EN) && !(val & APIC_BASE_EN)) {
		/* globally disabled: back to the power-up state (SDM 11.4.3) */
		lapic_reset_regs(a);
	}
	WRITE_ONCE(a->base, val);
	vcpu->apic_base = val;
	return 0;
}

u64 shv_lapic_get_cr8(struct shv_vcpu *vcpu)
{
	return vcpu->lapic ? (lapic_get(vcpu->lapic, LAPIC_TPR) >> 4) & 0xf : vcpu->cr8;
}

void shv_lapic_set_cr8(struct shv_vcpu *vcpu, u64 cr8)
{
	vcpu->cr8 = cr8 & 0xf;
	if (!vcpu->lapic)
		return;
	lapic_set(vcpu->lapic, LAPIC_TPR, (cr8 & 0xf) << 4);
	lapic_ppr(vcpu->lapic);
}

bool shv_lapic_hw_enabled(struct shv_vcpu *vcpu)
{
	return vcpu->lapic && lapic_hw_enabled(vcpu->lapic);
}

/* ---- TPR shadow ---- */

phys_addr_t shv_lapic_vapic_page(struct shv_vcpu *vcpu)
{
	return page_to_phys(vcpu->lapic->page);
}

/*
 * With the TPR shadow the guest's MOV to CR8 writes VTPR (our TPR) without
 * an exit; it exits (TPR below threshold) when it drops under the
 * threshold. The threshold is the class of the highest pending IRR
 * vector the TPR holds back, 0 if none (SDM 29.1.2; VM entry requires
 * threshold[3:0] <= VTPR[7:4], which this keeps).
 */
void shv_lapic_before_entry(struct shv_vcpu *vcpu)
{
	struct shv_lapic *a = vcpu->lapic;
	u32 tpr_class, thr = 0;
	int irrv;

	if (!a || !(shv_caps.cpu & CPU_TPR_SHADOW))
		return;
	tpr_class = (lapic_get(a, LAPIC_TPR) >> 4) & 0xf;
	/* TPR class 0 holds nothing back: no IRR scan (most entries) */
	irrv = tpr_class ? lapic_highest(a, LAPIC_IRR) : -1;
	if (irrv >= 0 && lapic_hw_enabled(a) && ((u32)irrv >> 4) <= tpr_class)
		thr = irrv >> 4;
	vmcs_write(TPR_THRESHOLD, thr);
}

/* ---- life ---- */

int shv_lapic_create(struct shv_vcpu *vcpu)
{
	struct shv_lapic *a = shv_zalloc(sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->page = shv_alloc_page(0);
	if (!a->page) {
		shv_kfree(a);
		return -ENOMEM;
	}
	a->regs = page_address(a->page);
	a->vcpu = vcpu;
	raw_spin_lock_init(&a->lock);
	init_waitqueue_head(&a->wq);
	lapic_timer_init(a);
	lapic_set(a, LAPIC_ID, (u32)vcpu->id << 24);
	lapic_reset_regs(a);
	a->base = APIC_BASE_DEFAULT | APIC_BASE_EN | (vcpu->id == 0 ? APIC_BASE_BSP : 0);
	vcpu->apic_base = a->base;
	vcpu->lapic = a;
	return 0;
}

/*
 * Called from shv_vcpu_free(), after the vCPU left vm->vcpus[] (or was
 * never in it): the grace period lets senders that found it finish their
 * delivery and kick, hrtimer_cancel() waits for a running callback, so
 * nobody touches the page or the vCPU afterwards. The grace period is an
 * expedited one: every vCPU's teardown waits for it, and a normal one took
 * 24 ms of an idle machine's time per vCPU (lifecycle_test, which creates
 * and destroys 1000 VMs, spent 96 % of its time there), so closing a VM
 * of many vCPUs took that many times as long.
 */
void shv_lapic_destroy(struct shv_vcpu *vcpu)
{
	struct shv_lapic *a = vcpu->lapic;

	if (!a)
		return;
	synchronize_rcu_expedited();
	hrtimer_cancel(&a->timer);
	vcpu->lapic = NULL;
	shv_free_page(a->page);
	shv_kfree(a);
}

/* ---- GET/SET_LAPIC ---- */

static void lapic_set_state(struct shv_lapic *a, const u8 *r)
{
	static const u16 plain[] = { LAPIC_ID, LAPIC_TPR, LAPIC_LDR, LAPIC_DFR, LAPIC_SVR,
				     LAPIC_ICR2, LAPIC_LVTT, LAPIC_LVTTHM, LAPIC_LVTPC,
				     LAPIC_LVT0, LAPIC_LVT1, LAPIC_LVTERR, LAPIC_TDCR };
	unsigned long flags;
	u32 v;
	int i;

	lapic_timer_stop(a);
	for (i = 0; i < ARRAY_SIZE(plain); i++) {
		memcpy(&v, r + plain[i], 4);
		if (plain[i] == LAPIC_LVTT)
			lapic_set(a, LAPIC_LVTT, 0);	/* a fresh timer, below */
		reg_write(a, plain[i], v);
	}
	for (i = 0; i < 8; i++) {
		memcpy(&v, r + LAPIC_ISR + i * 16, 4);
		lapic_set(a, LAPIC_ISR + i * 16, v);
		memcpy(&v, r + LAPIC_TMR + i * 16, 4);
		lapic_set(a, LAPIC_TMR + i * 16, v);
		memcpy(&v, r + LAPIC_IRR + i * 16, 4);
		lapic_set(a, LAPIC_IRR + i * 16, v);
	}
	smp_mb();	/* IRR before the hint, as lapic_accept() orders them */
	WRITE_ONCE(a->irr_empty, false);
	memcpy(&v, r + LAPIC_ESR, 4);
	raw_spin_lock_irqsave(&a->lock, flags);
	lapic_set(a, LAPIC_ESR, v & 0xef);
	raw_spin_unlock_irqrestore(&a->lock, flags);
	memcpy(&v, r + LAPIC_ICR, 4);
	lapic_set(a, LAPIC_ICR, v & 0x000ccfff);	/* stored, not sent */
	memcpy(&v, r + LAPIC_TMICT, 4);
	lapic_timer_tmict_written(a, v);
	lapic_ppr(a);
}

long shv_lapic_ioctl(struct shv_vcpu *vcpu, unsigned int ioctl, void __user *argp)
{
	struct shadowvm_lapic_state *st;
	struct shv_lapic *a = vcpu->lapic;
	long r = 0;
	u32 v;

	st = shv_zalloc(sizeof(*st));
	if (!st)
		return -ENOMEM;
	if (ioctl == SHADOWVM_SET_LAPIC && copy_from_user(st, argp, sizeof(*st))) {
		r = -EFAULT;
		goto out;
	}
	if (mutex_lock_killable(&vcpu->lock)) {
		r = -EINTR;
		goto out;
	}
	if (ioctl == SHADOWVM_SET_LAPIC) {
		lapic_set_state(a, st->regs);
	} else {
		memcpy(st->regs, a->regs, sizeof(st->regs));
		v = lapic_apr(a);
		memcpy(st->regs + LAPIC_APR, &v, 4);
		v = lapic_ppr(a);
		memcpy(st->regs + LAPIC_PPR, &v, 4);
		v = lapic_timer_current(a);
		memcpy(st->regs + LAPIC_TMCCT, &v, 4);
	}
	mutex_unlock(&vcpu->lock);
	if (ioctl == SHADOWVM_GET_LAPIC && copy_to_user(argp, st, sizeof(*st)))
		r = -EFAULT;
out:
	shv_kfree(st);
	return r;
}
