/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Inside the in-kernel local APIC: the register layout (SDM vol. 3
 * table 11-1), the per-vCPU state and the split between lapic.c (register
 * page, priorities, acceptance, state ioctls), lapic_timer.c (the LVT
 * timer on an hrtimer) and lapic_ipi.c (ICR, MSI, INIT/SIPI). Nothing
 * outside these three files includes this header.
 *
 * Who changes what:
 * - the vCPU's own thread (vcpu->lock held: MMIO, MSRs, ioctls, the run
 *   loop) owns every register of the page;
 * - other threads (IPIs from other vCPUs, SIGNAL_MSI, the hrtimer) only
 *   set IRR/TMR bits with atomic bit operations, set request bits in
 *   ->req, and update ->esr_pending, ->sipi_vector under ->lock; then they
 *   call shv_vcpu_kick(). They read the target's ID/LDR/DFR/SVR/PPR with
 *   READ_ONCE (a value being changed gives the old or the new delivery,
 *   as on a real bus).
 * - Lifetime: other threads find a vCPU in vm->vcpus[] under
 *   rcu_read_lock(); shv_lapic_destroy() runs after the vCPU left
 *   vm->vcpus[] (vcpu.c release), waits for an RCU grace period and
 *   cancels the hrtimer (which waits for a running callback) before the
 *   register page and this structure are freed, and before vcpu.c frees
 *   the vCPU.
 */
#ifndef SHV_LAPIC_INTERNAL_H
#define SHV_LAPIC_INTERNAL_H

#include <linux/hrtimer.h>
#include <linux/spinlock.h>
#include <linux/wait.h>
#include <linux/bitops.h>
#include "shadowvm.h"
#include "lapic.h"

/* register offsets */
#define LAPIC_ID	0x20
#define LAPIC_LVR	0x30
#define LAPIC_TPR	0x80
#define LAPIC_APR	0x90
#define LAPIC_PPR	0xa0
#define LAPIC_EOI	0xb0
#define LAPIC_RRD	0xc0
#define LAPIC_LDR	0xd0
#define LAPIC_DFR	0xe0
#define LAPIC_SVR	0xf0
#define LAPIC_ISR	0x100
#define LAPIC_TMR	0x180
#define LAPIC_IRR	0x200
#define LAPIC_ESR	0x280
#define LAPIC_CMCI	0x2f0
#define LAPIC_ICR	0x300
#define LAPIC_ICR2	0x310
#define LAPIC_LVTT	0x320
#define LAPIC_LVTTHM	0x330
#define LAPIC_LVTPC	0x340
#define LAPIC_LVT0	0x350
#define LAPIC_LVT1	0x360
#define LAPIC_LVTERR	0x370
#define LAPIC_TMICT	0x380
#define LAPIC_TMCCT	0x390
#define LAPIC_TDCR	0x3e0
#define LAPIC_NR_LVT	6	/* timer, thermal, perf, LINT0, LINT1, error */
#define LAPIC_VERSION	(0x14 | ((LAPIC_NR_LVT - 1) << 16))

/* LVT and ICR fields */
#define LVT_VECTOR	0xffu
#define LVT_DM_SHIFT	8
#define LVT_DM_MASK	(7u << LVT_DM_SHIFT)
#define LVT_STATUS	(1u << 12)	/* delivery status (read-only) */
#define LVT_POLARITY	(1u << 13)
#define LVT_REMOTE_IRR	(1u << 14)
#define LVT_LEVEL	(1u << 15)	/* trigger mode */
#define LVT_MASKED	(1u << 16)
#define LVTT_MODE_SHIFT	17
#define LVTT_MODE_MASK	(3u << LVTT_MODE_SHIFT)
#define LVTT_ONESHOT	0
#define LVTT_PERIODIC	1
#define LVTT_DEADLINE	2

#define DM_FIXED	0
#define DM_LOWEST	1
#define DM_SMI		2
#define DM_NMI		4
#define DM_INIT		5
#define DM_SIPI		6
#define DM_EXTINT	7

#define ICR_DEST_LOGICAL (1u << 11)
#define ICR_LEVEL_ASSERT (1u << 14)
#define ICR_SH_SHIFT	18
#define ICR_SH_NONE	0
#define ICR_SH_SELF	1
#define ICR_SH_ALL	2
#define ICR_SH_OTHERS	3

#define SVR_ENABLE	(1u << 8)

/* ESR bits (SDM table 11-6; 0-3 are bus errors of P6/Pentium) */
#define ESR_SEND_ILLEGAL	(1u << 5)
#define ESR_RECV_ILLEGAL	(1u << 6)
#define ESR_ILLEGAL_REG		(1u << 7)

/* IA32_APIC_BASE */
#define APIC_BASE_BSP		(1ull << 8)
#define APIC_BASE_X2APIC	(1ull << 10)
#define APIC_BASE_EN		(1ull << 11)
#define APIC_BASE_DEFAULT	0xfee00000ull

/* ->req bits: set by other threads, consumed by the vCPU thread */
#define REQ_INIT	0
#define REQ_SIPI	1

/* The nominal APIC timer clock: 1 GHz (one tick per ns before dividing). */
#define LAPIC_TIMER_HZ		1000000000ull
/* Shortest periodic period (a guest cannot make the host hrtimer storm). */
#define LAPIC_MIN_PERIOD_NS	100000ull

struct shv_lapic {
	struct shv_vcpu *vcpu;
	u8 *regs;			/* the register page, also the virtual-APIC page */
	struct page *page;
	u64 base;			/* IA32_APIC_BASE */

	raw_spinlock_t lock;		/* timer state, esr_pending, sipi_vector (hardirq timer) */
	struct hrtimer timer;
	bool timer_armed;		/* one-shot/periodic count running, or deadline armed */
	ktime_t t_start;		/* when the current count (re)started from TMICT */
	u64 t_period_ns;		/* TMICT * divide in ns (periodic: >= MIN_PERIOD) */
	u64 tsc_deadline;		/* guest TSC; 0: disarmed */
	u32 esr_pending;		/* errors since the last ESR write */

	unsigned long req;		/* REQ_* */
	bool irr_empty;			/* IRR known empty (shv_lapic_irr_empty()) */
	u8 sipi_vector;
	bool wait_sipi;			/* vCPU thread only */
	wait_queue_head_t wq;		/* wait-for-SIPI sleeps here */
};

static inline u32 lapic_get(struct shv_lapic *a, unsigned int off)
{
	return READ_ONCE(*(u32 *)(a->regs + off));
}

static inline void lapic_set(struct shv_lapic *a, unsigned int off, u32 v)
{
	WRITE_ONCE(*(u32 *)(a->regs + off), v);
}

/* IRR/ISR/TMR: 8 32-bit words 16 bytes apart; bit ops on the low word */
static inline unsigned long *vec_word(struct shv_lapic *a, unsigned int reg, int vec)
{
	return (unsigned long *)(a->regs + reg + (vec >> 5) * 16);
}

static inline bool lapic_hw_enabled(struct shv_lapic *a)
{
	return READ_ONCE(a->base) & APIC_BASE_EN;
}

static inline bool lapic_sw_enabled(struct shv_lapic *a)
{
	return lapic_get(a, LAPIC_SVR) & SVR_ENABLE;
}

/* lapic.c */
void lapic_error(struct shv_lapic *a, u32 esr_bits);
bool lapic_accept(struct shv_lapic *a, int dm, int vector, bool level);
int lapic_highest(struct shv_lapic *a, unsigned int reg);
u32 lapic_ppr(struct shv_lapic *a);
void lapic_unsupported(struct shv_lapic *a, const char *what, u32 off, u64 val);
void lapic_reset_regs(struct shv_lapic *a);

/* lapic_timer.c */
void lapic_timer_init(struct shv_lapic *a);
void lapic_timer_stop(struct shv_lapic *a);
void lapic_timer_lvt_written(struct shv_lapic *a, u32 old, u32 new);
void lapic_timer_tmict_written(struct shv_lapic *a, u32 val);
void lapic_timer_tdcr_written(struct shv_lapic *a, u32 val);
u32 lapic_timer_current(struct shv_lapic *a);

/* lapic_ipi.c */
void lapic_icr_written(struct shv_lapic *a);

#endif /* SHV_LAPIC_INTERNAL_H */
