// SPDX-License-Identifier: GPL-2.0
/*
 * Register state ioctls: GET/SET_REGS and GET/SET_SREGS, and the reset
 * state of a new vCPU. Contract: SET_SREGS refuses every state VMX could
 * not enter with -EINVAL (Documentation/uapi.rst lists them) and leaves
 * the vCPU unchanged then; accepted state resets the MMU context. Real
 * mode (CR0.PE=0) is accepted when v86 mode can hold it (vmx/rmode.c);
 * both ioctls then show and take the guest's RFLAGS, TR and IDTR.
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

/* ---- segments and SREGS ---- */

struct seg_fields {
	u32 sel, base, limit, ar;
};

static const struct seg_fields seg_field[] = {
	[0] = { GUEST_CS_SELECTOR, GUEST_CS_BASE, GUEST_CS_LIMIT, GUEST_CS_AR_BYTES },
	[1] = { GUEST_DS_SELECTOR, GUEST_DS_BASE, GUEST_DS_LIMIT, GUEST_DS_AR_BYTES },
	[2] = { GUEST_ES_SELECTOR, GUEST_ES_BASE, GUEST_ES_LIMIT, GUEST_ES_AR_BYTES },
	[3] = { GUEST_FS_SELECTOR, GUEST_FS_BASE, GUEST_FS_LIMIT, GUEST_FS_AR_BYTES },
	[4] = { GUEST_GS_SELECTOR, GUEST_GS_BASE, GUEST_GS_LIMIT, GUEST_GS_AR_BYTES },
	[5] = { GUEST_SS_SELECTOR, GUEST_SS_BASE, GUEST_SS_LIMIT, GUEST_SS_AR_BYTES },
	[6] = { GUEST_TR_SELECTOR, GUEST_TR_BASE, GUEST_TR_LIMIT, GUEST_TR_AR_BYTES },
	[7] = { GUEST_LDTR_SELECTOR, GUEST_LDTR_BASE, GUEST_LDTR_LIMIT, GUEST_LDTR_AR_BYTES },
};

static struct shadowvm_segment *sregs_seg(struct shadowvm_sregs *s, int i)
{
	struct shadowvm_segment *segs[] = { &s->cs, &s->ds, &s->es, &s->fs, &s->gs,
					    &s->ss, &s->tr, &s->ldt };
	return segs[i];
}

static u32 seg_to_ar(const struct shadowvm_segment *s)
{
	if (s->unusable || !s->present)
		return AR_UNUSABLE;
	return (s->type & 15) | (s->s & 1) << 4 | (s->dpl & 3) << 5 | 1 << 7 |
	       (s->avl & 1) << 12 | (s->l & 1) << 13 | (s->db & 1) << 14 |
	       (s->g & 1) << 15;
}

static void ar_to_seg(u32 ar, struct shadowvm_segment *s)
{
	s->unusable = !!(ar & AR_UNUSABLE);
	s->type = ar & 15;
	s->s = (ar >> 4) & 1;
	s->dpl = (ar >> 5) & 3;
	s->present = s->unusable ? 0 : (ar >> 7) & 1;
	s->avl = (ar >> 12) & 1;
	s->l = (ar >> 13) & 1;
	s->db = (ar >> 14) & 1;
	s->g = (ar >> 15) & 1;
	s->padding = 0;
}

/*
 * The descriptor bits of a segment as the VMCS holds them: only their low
 * bits count (Documentation/uapi.rst), so the checks below and
 * seg_to_ar() see the same values (a usable data segment with s=2 once
 * passed the S=1 check and was written with S=0).
 */
static void seg_canon(struct shadowvm_segment *g)
{
	g->type &= 15;
	g->s &= 1;
	g->dpl &= 3;
	g->present &= 1;
	g->avl &= 1;
	g->l &= 1;
	g->db &= 1;
	g->g &= 1;
	g->unusable = !!g->unusable;
}

static bool is_canonical(u64 a)
{
	return (u64)(((s64)a << 16) >> 16) == a;
}

static bool limit_g_ok(const struct shadowvm_segment *s)
{
	if ((s->limit & 0xfff) != 0xfff && s->g)
		return false;
	if ((s->limit & 0xfff00000) && !s->g)
		return false;
	return true;
}

static int bad_sregs(const char **why, const char *msg)
{
	*why = msg;
	return -EINVAL;
}

/* VMX guest-state checks (SDM 27.3.1) for a protected-mode, non-VM86 guest. */
static int check_sregs(struct shv_vcpu *vcpu, struct shadowvm_sregs *s, const char **why)
{
	bool lma = s->efer & EFER_LMA;
	int i;

	for (i = 0; i < ARRAY_SIZE(s->reserved); i++)
		if (s->reserved[i])
			return bad_sregs(why, "reserved field not zero");
	for (i = 0; i < ARRAY_SIZE(seg_field); i++)
		if (sregs_seg(s, i)->padding)
			return bad_sregs(why, "segment padding not zero");
	for (i = 0; i < ARRAY_SIZE(s->gdt.padding); i++)
		if (s->gdt.padding[i] || s->idt.padding[i])
			return bad_sregs(why, "descriptor-table padding not zero");
	if (s->cr0 & CR0_RESERVED_HI)
		return bad_sregs(why, "CR0 bits 63:32 set");
	if ((s->cr0 & X86_CR0_NW) && !(s->cr0 & X86_CR0_CD))
		return bad_sregs(why, "CR0.NW=1 with CR0.CD=0");
	if (s->cr4 & ~shv_guest_cr4_allowed())
		return bad_sregs(why, "CR4 has a reserved or unsupported bit");
	if (s->efer & ~EFER_ALLOWED)
		return bad_sregs(why, "EFER has a reserved bit");
	if ((s->efer & EFER_NX) && !shv_cpuid_has_nx())
		return bad_sregs(why, "EFER.NXE without NX");
	if ((s->efer & EFER_LME) && (s->cr0 & X86_CR0_PG) && !(s->cr4 & X86_CR4_PAE))
		return bad_sregs(why, "EFER.LME with paging and CR4.PAE=0");
	if (lma != ((s->efer & EFER_LME) && (s->cr0 & X86_CR0_PG)))
		return bad_sregs(why, "EFER.LMA != EFER.LME && CR0.PG");
	if (s->cr3 >> shv_guest_maxphyaddr())
		return bad_sregs(why, "CR3 above MAXPHYADDR");
	if (s->cr8 > 15)
		return bad_sregs(why, "CR8 > 15");
	if (s->apic_base & (~0ULL << shv_guest_maxphyaddr() | 0x6ff))
		return bad_sregs(why, "APIC base has a reserved bit or x2APIC enable");
	if ((s->cr4 & X86_CR4_PCIDE) && !lma)
		return bad_sregs(why, "CR4.PCIDE outside long mode");
	if (!(s->cr0 & X86_CR0_PE)) {
		/* real mode (vmx/rmode.c): its segments, then TR and LDTR */
		if (shv_rmode_check_sregs(s, why))
			return -EINVAL;
		goto tr_ldtr;
	}

	/* CS */
	if (s->cs.unusable || !s->cs.present)
		return bad_sregs(why, "CS unusable");
	if (!(s->cs.type & 8) || !s->cs.s)
		return bad_sregs(why, "CS is not a code segment");
	if (lma && s->cs.l && s->cs.db)
		return bad_sregs(why, "CS.L and CS.D both set");
	if (!lma && s->cs.l)
		return bad_sregs(why, "CS.L outside long mode");
	if (s->cs.type & 4) {		/* conforming */
		if (s->cs.dpl > s->ss.dpl && !s->ss.unusable)
			return bad_sregs(why, "conforming CS.DPL > SS.DPL");
	} else if (!s->ss.unusable && s->cs.dpl != s->ss.dpl) {
		return bad_sregs(why, "SS.DPL != CS.DPL");
	}
	/* SS (SDM 26.3.1.2: selector RPLs agree even when SS is unusable) */
	if ((s->ss.selector & 3) != (s->cs.selector & 3))
		return bad_sregs(why, "SS.RPL != CS.RPL");
	if (!s->ss.unusable && s->ss.present) {
		if ((s->ss.type != 3 && s->ss.type != 7 && s->ss.type != 2 && s->ss.type != 6) ||
		    !s->ss.s)
			return bad_sregs(why, "SS is not a writable data segment");
		if (s->ss.dpl != (s->ss.selector & 3))
			return bad_sregs(why, "SS.DPL != SS.RPL");
	} else if (!lma) {
		return bad_sregs(why, "SS unusable outside long mode");
	}
	/* data segments */
	for (i = 1; i <= 5; i++) {
		struct shadowvm_segment *g = sregs_seg(s, i);

		if (g->unusable || !g->present)
			continue;
		if (!g->s)
			return bad_sregs(why, "data segment with S=0");
		if ((g->type & 8) && !(g->type & 2))
			return bad_sregs(why, "execute-only code segment in a data register");
		if (i != 5 && g->type < 12 && g->dpl < (g->selector & 3))
			return bad_sregs(why, "data segment DPL < RPL");
		if (!limit_g_ok(g))
			return bad_sregs(why, "segment limit inconsistent with G");
	}
	if (!limit_g_ok(&s->cs))
		return bad_sregs(why, "CS limit inconsistent with G");
	if (!is_canonical(s->fs.base) || !is_canonical(s->gs.base))
		return bad_sregs(why, "FS/GS base not canonical");
	if ((s->cs.base | s->ss.base | s->ds.base | s->es.base) >> 32)
		return bad_sregs(why, "CS/SS/DS/ES base above 4 GiB");
tr_ldtr:
	/* TR */
	if (s->tr.unusable || !s->tr.present || s->tr.s)
		return bad_sregs(why, "TR unusable");
	if (s->tr.type != 11 && (lma || s->tr.type != 3))
		return bad_sregs(why, "TR is not a busy TSS");
	if (s->tr.selector & 4)
		return bad_sregs(why, "TR selector has TI=1");
	if (!limit_g_ok(&s->tr) || !is_canonical(s->tr.base))
		return bad_sregs(why, "TR limit/base invalid");
	/* LDTR */
	if (!s->ldt.unusable && s->ldt.present) {
		if (s->ldt.type != 2 || s->ldt.s || (s->ldt.selector & 4))
			return bad_sregs(why, "LDTR is not an LDT");
		if (!limit_g_ok(&s->ldt) || !is_canonical(s->ldt.base))
			return bad_sregs(why, "LDTR limit/base invalid");
	}
	if (!is_canonical(s->gdt.base) || !is_canonical(s->idt.base))
		return bad_sregs(why, "GDTR/IDTR base not canonical");
	return 0;
}

void shv_get_sregs(struct shv_vcpu *vcpu, struct shadowvm_sregs *s)
{
	int i;

	memset(s, 0, sizeof(*s));
	shv_sync_cr0_ts(vcpu);
	for (i = 0; i < ARRAY_SIZE(seg_field); i++) {
		struct shadowvm_segment *g = sregs_seg(s, i);

		g->selector = vmcs_read(seg_field[i].sel);
		g->base = vmcs_read(seg_field[i].base);
		g->limit = vmcs_read(seg_field[i].limit);
		ar_to_seg(vmcs_read(seg_field[i].ar), g);
	}
	s->gdt.base = vmcs_read(GUEST_GDTR_BASE);
	s->gdt.limit = vmcs_read(GUEST_GDTR_LIMIT);
	s->idt.base = vmcs_read(GUEST_IDTR_BASE);
	s->idt.limit = vmcs_read(GUEST_IDTR_LIMIT);
	shv_rmode_get_sregs(vcpu, s);	/* real mode: the guest's TR, IDTR */
	s->cr0 = vcpu->cr0;
	s->cr2 = vcpu->cr2;
	s->cr3 = vcpu->cr3;
	s->cr4 = vcpu->cr4;
	s->cr8 = shv_lapic_get_cr8(vcpu);
	s->efer = vcpu->efer;
	s->apic_base = shv_lapic_get_base(vcpu);
}

int shv_set_sregs(struct shv_vcpu *vcpu, struct shadowvm_sregs *s)
{
	const char *why = NULL;
	u64 pdpte[4] = { 0 };
	int i, r;

	for (i = 0; i < ARRAY_SIZE(seg_field); i++)
		seg_canon(sregs_seg(s, i));
	r = check_sregs(vcpu, s, &why);
	if (!r && (s->cr0 & X86_CR0_PG) && (s->cr4 & X86_CR4_PAE) && !(s->efer & EFER_LMA)) {
		why = "PAE PDPTEs at CR3 are invalid";
		r = -EINVAL;
		if (!shv_read_gpa(vcpu->vm, s->cr3 & 0xffffffe0ULL, pdpte, sizeof(pdpte))) {
			r = 0;
			for (i = 0; i < 4; i++)
				if (shv_pae_pdpte_bad(vcpu, pdpte[i]))
					r = -EINVAL;
		}
	}
	if (r) {
		shv_info_rl("SET_SREGS refused: %s\n", why);
		return r;
	}
	shv_rmode_drop(vcpu);	/* whatever comes, from its v86 form */
	for (i = 0; i < ARRAY_SIZE(seg_field); i++) {
		struct shadowvm_segment *g = sregs_seg(s, i);
		u32 ar = seg_to_ar(g);

		/* descriptor loads set the accessed bit; VMX requires it */
		if (!(ar & AR_UNUSABLE) && g->s)
			ar |= 1;
		vmcs_write(seg_field[i].sel, g->selector);
		vmcs_write(seg_field[i].base, g->base);
		vmcs_write(seg_field[i].limit, g->limit);
		vmcs_write(seg_field[i].ar, ar);
	}
	/* protected-mode segments: a guest left in virtual-8086 mode leaves it */
	vmcs_write(GUEST_RFLAGS, vmcs_read(GUEST_RFLAGS) & ~X86_EFLAGS_VM);
	vmcs_write(GUEST_GDTR_BASE, s->gdt.base);
	vmcs_write(GUEST_GDTR_LIMIT, s->gdt.limit);
	vmcs_write(GUEST_IDTR_BASE, s->idt.base);
	vmcs_write(GUEST_IDTR_LIMIT, s->idt.limit);
	vcpu->cr0 = s->cr0 | X86_CR0_ET;
	vcpu->cr2 = s->cr2;
	vcpu->cr3 = s->cr3;
	vcpu->cr4 = s->cr4;
	shv_lapic_set_cr8(vcpu, s->cr8);
	vcpu->efer = s->efer;
	shv_lapic_set_base(vcpu, s->apic_base, true);	/* checked in check_sregs() */
	memcpy(vcpu->pdptrs, pdpte, sizeof(pdpte));	/* checked above */
	if (!(s->cr0 & X86_CR0_PE))
		shv_rmode_enter(vcpu);	/* cannot fail: checked in check_sregs() */
	shv_update_hw_cr(vcpu);
	return shv_mmu_reset_context(vcpu);
}

void shv_get_regs(struct shv_vcpu *vcpu, struct shadowvm_regs *r)
{
	r->rax = vcpu->regs[SHV_RAX];
	r->rbx = vcpu->regs[SHV_RBX];
	r->rcx = vcpu->regs[SHV_RCX];
	r->rdx = vcpu->regs[SHV_RDX];
	r->rsi = vcpu->regs[SHV_RSI];
	r->rdi = vcpu->regs[SHV_RDI];
	r->rsp = vmcs_read(GUEST_RSP);
	r->rbp = vcpu->regs[SHV_RBP];
	r->r8 = vcpu->regs[SHV_R8];
	r->r9 = vcpu->regs[SHV_R9];
	r->r10 = vcpu->regs[SHV_R10];
	r->r11 = vcpu->regs[SHV_R11];
	r->r12 = vcpu->regs[SHV_R12];
	r->r13 = vcpu->regs[SHV_R13];
	r->r14 = vcpu->regs[SHV_R14];
	r->r15 = vcpu->regs[SHV_R15];
	r->rip = vmcs_read(GUEST_RIP);
	r->rflags = shv_rmode_guest_rflags(vcpu, vmcs_read(GUEST_RFLAGS));
}

#define RFLAGS_RESERVED (~0x3f7fd7ULL)	/* bits 3, 5, 15, 22-63 */

int shv_set_regs(struct shv_vcpu *vcpu, struct shadowvm_regs *r)
{
	if (r->rflags & RFLAGS_RESERVED) {
		shv_info_rl("SET_REGS refused: reserved RFLAGS bits 0x%llx\n", r->rflags);
		return -EINVAL;
	}
	if (r->rflags & X86_EFLAGS_VM) {
		shv_info_rl("SET_REGS refused: virtual-8086 mode is not supported\n");
		return -EINVAL;
	}
	/*
	 * A guest can enter virtual-8086 mode by IRET; its segments are
	 * then v86 segments, which VM entry refuses with RFLAGS.VM clear.
	 * Leaving it takes SET_SREGS (which clears RFLAGS.VM) first.
	 */
	if ((vmcs_read(GUEST_RFLAGS) & X86_EFLAGS_VM) && !vcpu->rmode.active) {
		shv_info_rl("SET_REGS refused: the vCPU is in virtual-8086 mode; SET_SREGS first\n");
		return -EINVAL;
	}
	vcpu->regs[SHV_RAX] = r->rax;
	vcpu->regs[SHV_RBX] = r->rbx;
	vcpu->regs[SHV_RCX] = r->rcx;
	vcpu->regs[SHV_RDX] = r->rdx;
	vcpu->regs[SHV_RSI] = r->rsi;
	vcpu->regs[SHV_RDI] = r->rdi;
	vcpu->regs[SHV_RBP] = r->rbp;
	vcpu->regs[SHV_R8] = r->r8;
	vcpu->regs[SHV_R9] = r->r9;
	vcpu->regs[SHV_R10] = r->r10;
	vcpu->regs[SHV_R11] = r->r11;
	vcpu->regs[SHV_R12] = r->r12;
	vcpu->regs[SHV_R13] = r->r13;
	vcpu->regs[SHV_R14] = r->r14;
	vcpu->regs[SHV_R15] = r->r15;
	vmcs_write(GUEST_RSP, r->rsp);
	vmcs_write(GUEST_RIP, r->rip);
	vmcs_write(GUEST_RFLAGS, shv_rmode_hw_rflags(vcpu, r->rflags | X86_EFLAGS_FIXED));
	shv_shadow_sync_rflags();
	/* a new context: any half-done event or user exit is void */
	vcpu->event.valid = false;
	vcpu->pending = SHV_PENDING_NONE;
	return 0;
}

void shv_default_sregs(struct shadowvm_sregs *s)
{
	struct shadowvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x08, .type = 0xb,
		.present = 1, .s = 1, .db = 1, .g = 1,
	};
	struct shadowvm_segment data = code;

	memset(s, 0, sizeof(*s));
	data.selector = 0x10;
	data.type = 3;
	s->cs = code;
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	s->tr = (struct shadowvm_segment){ .selector = 0x18, .limit = 0x67, .type = 11,
					   .present = 1 };
	s->ldt = (struct shadowvm_segment){ .unusable = 1 };
	s->gdt.limit = 0xffff;
	s->idt.limit = 0xffff;
	s->cr0 = X86_CR0_PE | X86_CR0_ET;
	s->apic_base = 0xfee00900;	/* BSP, enabled */
}
