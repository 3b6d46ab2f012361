// SPDX-License-Identifier: GPL-2.0
/*
 * The LVT timer of the in-kernel local APIC (SDM vol. 3 11.5.4): one-shot,
 * periodic and TSC-deadline, on one hrtimer per vCPU (CLOCK_MONOTONIC,
 * hard interrupt context).
 *
 * Clock: the timer counts at a nominal 1 GHz APIC bus clock divided by
 * the divide configuration register: one count is divide-value ns. The
 * current count is computed from the time the count started, never
 * stored. A periodic period is at least LAPIC_MIN_PERIOD_NS (a shorter
 * one fires at that rate). TSC-deadline: IA32_TSC_DEADLINE is in guest
 * TSC units (host TSC + the VMCS TSC offset when TSC offsetting is on),
 * converted to a monotonic expiry with tsc_khz when written.
 *
 * Contract: the vCPU thread programs the timer (MMIO, MSR, SET_LAPIC)
 * and never holds a->lock across hrtimer_cancel(); the callback only
 * takes a->lock, sets IRR through lapic_accept() (atomic bit, then
 * shv_vcpu_kick()) and re-arms a periodic timer. A masked timer still
 * counts and expires; the expiry is then not delivered.
 * shv_lapic_destroy() cancels the hrtimer before the vCPU is freed.
 */
#include <linux/kernel.h>
#include <linux/hrtimer.h>
#include <linux/math64.h>
#include <asm/tsc.h>
#include "shadowvm.h"
#include "vmx/vmx_defs.h"
#include "lapic_internal.h"

static u32 timer_mode(struct shv_lapic *a)
{
	return (lapic_get(a, LAPIC_LVTT) & LVTT_MODE_MASK) >> LVTT_MODE_SHIFT;
}

/* Divide configuration (bits 3, 1, 0): 000 = 2 ... 110 = 128, 111 = 1. */
static u32 timer_divisor(struct shv_lapic *a)
{
	u32 v = lapic_get(a, LAPIC_TDCR);

	return 1u << ((((v & 3) | ((v & 8) >> 1)) + 1) & 7);
}

static enum hrtimer_restart lapic_timer_fn(struct hrtimer *t)
{
	struct shv_lapic *a = container_of(t, struct shv_lapic, timer);
	enum hrtimer_restart ret = HRTIMER_NORESTART;
	u32 lvt = lapic_get(a, LAPIC_LVTT);
	u32 mode = (lvt & LVTT_MODE_MASK) >> LVTT_MODE_SHIFT;

	raw_spin_lock(&a->lock);
	if (!a->timer_armed) {
		raw_spin_unlock(&a->lock);
		return HRTIMER_NORESTART;
	}
	if (mode == LVTT_PERIODIC && a->t_period_ns) {
		u64 period = max(a->t_period_ns, LAPIC_MIN_PERIOD_NS);

		/* periods missed while the host was busy are coalesced */
		hrtimer_forward_now(t, ns_to_ktime(period));
		a->t_start = ktime_sub_ns(hrtimer_get_expires(t), period);
		ret = HRTIMER_RESTART;
	} else {
		a->timer_armed = false;
		if (mode == LVTT_DEADLINE)
			a->tsc_deadline = 0;	/* SDM 11.5.4.1: disarmed and cleared */
	}
	raw_spin_unlock(&a->lock);

	/* the only writer of this counter: the callbacks are serialized */
	shv_stat_inc(a->vcpu, LAPIC_TIMER_FIRES);
	if (!(lvt & LVT_MASKED))
		lapic_accept(a, DM_FIXED, lvt & LVT_VECTOR, false);
	return ret;
}

void lapic_timer_init(struct shv_lapic *a)
{
	hrtimer_init(&a->timer, CLOCK_MONOTONIC, HRTIMER_MODE_ABS_HARD);
	a->timer.function = lapic_timer_fn;
}

/* Cancel and disarm; vCPU thread, a->lock not held. */
void lapic_timer_stop(struct shv_lapic *a)
{
	unsigned long flags;

	hrtimer_cancel(&a->timer);
	raw_spin_lock_irqsave(&a->lock, flags);
	a->timer_armed = false;
	raw_spin_unlock_irqrestore(&a->lock, flags);
}

/* (Re)start a one-shot/periodic count of TMICT at t_start = now - elapsed. */
static void start_count(struct shv_lapic *a, u64 elapsed_ns)
{
	u64 tmict = lapic_get(a, LAPIC_TMICT);
	u64 period = tmict * timer_divisor(a);
	unsigned long flags;
	ktime_t now, exp;

	lapic_timer_stop(a);
	if (!tmict)
		return;
	now = ktime_get();
	raw_spin_lock_irqsave(&a->lock, flags);
	a->t_start = ktime_sub_ns(now, elapsed_ns);
	a->t_period_ns = period;
	a->timer_armed = true;
	if (timer_mode(a) == LVTT_PERIODIC)
		period = max(period, LAPIC_MIN_PERIOD_NS);
	exp = ktime_add_ns(a->t_start, period);
	raw_spin_unlock_irqrestore(&a->lock, flags);
	hrtimer_start(&a->timer, exp, HRTIMER_MODE_ABS_HARD);
}

void lapic_timer_tmict_written(struct shv_lapic *a, u32 val)
{
	if (timer_mode(a) == LVTT_DEADLINE)
		return;		/* SDM 11.5.4.1: ignored in TSC-deadline mode */
	lapic_set(a, LAPIC_TMICT, val);
	start_count(a, 0);
}

/* Switching to or from TSC-deadline mode disarms the timer (SDM 11.5.4.1). */
void lapic_timer_lvt_written(struct shv_lapic *a, u32 old, u32 new)
{
	u32 om = (old & LVTT_MODE_MASK) >> LVTT_MODE_SHIFT;
	u32 nm = (new & LVTT_MODE_MASK) >> LVTT_MODE_SHIFT;
	unsigned long flags;

	if (om == nm || (om != LVTT_DEADLINE && nm != LVTT_DEADLINE))
		return;
	lapic_timer_stop(a);
	lapic_set(a, LAPIC_TMICT, 0);
	raw_spin_lock_irqsave(&a->lock, flags);
	a->tsc_deadline = 0;
	raw_spin_unlock_irqrestore(&a->lock, flags);
}

u32 lapic_timer_current(struct shv_lapic *a)
{
	u64 tmict = lapic_get(a, LAPIC_TMICT), elapsed, period, cur = 0;
	unsigned long flags;

	if (timer_mode(a) == LVTT_DEADLINE)
		return 0;
	raw_spin_lock_irqsave(&a->lock, flags);
	if (a->timer_armed && a->t_period_ns) {
		s64 e = ktime_to_ns(ktime_sub(ktime_get(), a->t_start));

		elapsed = e > 0 ? e : 0;
		period = a->t_period_ns;
		if (timer_mode(a) == LVTT_PERIODIC) {
			u64 eff = max(period, LAPIC_MIN_PERIOD_NS);

			/* scaled to the (possibly stretched) effective period */
			elapsed = mul_u64_u64_div_u64(elapsed % eff, tmict, eff) * timer_divisor(a);
		}
		if (elapsed < period)
			cur = div_u64(period - elapsed + timer_divisor(a) - 1, timer_divisor(a));
	}
	raw_spin_unlock_irqrestore(&a->lock, flags);
	return min(cur, tmict);
}

/* A new divide value applies from now on: the count keeps its value. */
void lapic_timer_tdcr_written(struct shv_lapic *a, u32 val)
{
	u64 tmict = lapic_get(a, LAPIC_TMICT);
	unsigned long flags;
	bool armed;
	u32 cur;

	raw_spin_lock_irqsave(&a->lock, flags);
	armed = a->timer_armed;
	raw_spin_unlock_irqrestore(&a->lock, flags);
	cur = lapic_timer_current(a);		/* at the old rate */
	lapic_set(a, LAPIC_TDCR, val & 0xb);
	if (timer_mode(a) == LVTT_DEADLINE || !armed || !tmict)
		return;
	start_count(a, (tmict - cur) * timer_divisor(a));
}

/* ---- IA32_TSC_DEADLINE ---- */

static u64 guest_tsc(void)
{
	u64 tsc = rdtsc();

	if (vmcs_read(CPU_BASED_VM_EXEC_CONTROL) & CPU_USE_TSC_OFFSETTING)
		tsc += vmcs_read(TSC_OFFSET);
	return tsc;
}

u64 shv_lapic_get_tsc_deadline(struct shv_vcpu *vcpu)
{
	struct shv_lapic *a = vcpu->lapic;
	unsigned long flags;
	u64 v;

	if (!a || timer_mode(a) != LVTT_DEADLINE)
		return 0;
	raw_spin_lock_irqsave(&a->lock, flags);
	v = a->tsc_deadline;
	raw_spin_unlock_irqrestore(&a->lock, flags);
	return v;
}

/* Written outside TSC-deadline mode: ignored (SDM 11.5.4.1). */
void shv_lapic_set_tsc_deadline(struct shv_vcpu *vcpu, u64 val)
{
	struct shv_lapic *a = vcpu->lapic;
	unsigned long flags;
	s64 delta;
	u64 ns = 0;

	if (!a || !lapic_hw_enabled(a) || timer_mode(a) != LVTT_DEADLINE)
		return;
	lapic_timer_stop(a);
	raw_spin_lock_irqsave(&a->lock, flags);
	a->tsc_deadline = val;
	a->timer_armed = val != 0;
	raw_spin_unlock_irqrestore(&a->lock, flags);
	if (!val)
		return;
	delta = (s64)(val - guest_tsc());
	if (delta > 0)
		ns = tsc_khz ? mul_u64_u32_div(delta, 1000000, tsc_khz) : delta;
	/* a deadline in the past fires at once, from the callback */
	hrtimer_start(&a->timer, ktime_add_ns(ktime_get(), ns), HRTIMER_MODE_ABS_HARD);
}
