// SPDX-License-Identifier: GPL-2.0
/*
 * Real mode (guest CR0.PE=0) without unrestricted guest: shadow paging
 * means no EPT, and VMX without EPT cannot enter a guest with CR0.PE=0 or
 * PG=0. As KVM did before unrestricted guest, the guest's real-mode code
 * runs in virtual-8086 mode: the hardware runs with PE=PG=1 (the shadow
 * MMU maps the paging-off context, linear = guest physical), RFLAGS.VM=1
 * and IOPL=3, segments in their v86 form (base = selector * 16, limit
 * 0xffff), a TR of limit 0 and an IDTR of limit 0, and every exception
 * intercepted. What v86 mode refuses to do at CPL 3 comes back as #GP and
 * is done here (Documentation/uapi.rst, "Real mode"):
 *
 *  - LGDT, LIDT, LMSW, MOV to/from CR0/2/3/4/8 and DR0-7, CLTS, HLT,
 *    INVD, WBINVD, INVLPG, RDMSR, WRMSR, RDTSC with CR4.TSD;
 *  - port I/O (the TSS of limit 0 has no I/O bitmap: every IN, OUT, INS,
 *    OUTS faults and goes out as a normal I/O exit);
 *  - INT n (the IDT of limit 0 refuses it): delivered through the
 *    guest's interrupt vector table, as are exceptions (#BP and #OF after
 *    the instruction, faults at it, no error codes), external interrupts
 *    and NMIs (delivered in software before the entry, never injected by
 *    VMX, since an injection would use the protected-mode IDT).
 *
 * Any other #GP is the guest's own (an offset beyond 0xffff faults in
 * real mode as in v86 mode) and goes through its vector table.
 *
 * Guest-visible state kept here while real mode is active: IOPL (the
 * hardware runs with 3), the IDTR (the vector table's base and limit) and
 * the TR (the hardware runs with an empty one); GET/SET_SREGS and
 * GET/SET_REGS show and take the guest's values (regs.c). Known
 * differences from a CPU: PUSHF shows IOPL=3, SIDT and SGDT are not
 * intercepted (SIDT shows limit 0), segments must have base = selector *
 * 16 and limit 0xffff ("unreal" mode is refused when real mode is entered
 * through SET_SREGS, and fixed up, selector = base / 16, when it is
 * entered by clearing CR0.PE with 16-byte aligned bases below 1 MiB), and
 * the 16-bit protected mode between setting CR0.PE and the far jump needs
 * CS.RPL = SS.RPL.
 *
 * Contract: everything here runs on the vCPU's thread under vcpu->lock
 * with the VMCS current; shv_rmode_deliver() may sleep (guest memory).
 * #AC, #DB, #MC, #PF and NMIs keep their normal handlers (exits.c), which
 * queue what the guest must see for delivery here.
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/mm.h>
#include <asm/processor-flags.h>
#include "shadowvm.h"
#include "vmx_defs.h"
#include "exits.h"

#define V86_AR		0xf3	/* present, DPL 3, read/write data, accessed */
#define IOPL_MASK	X86_EFLAGS_IOPL

/* ES, CS, SS, DS, FS, GS: the emulator's and the VMX instruction order */
static const u32 rm_sel[6] = {
	GUEST_ES_SELECTOR, GUEST_CS_SELECTOR, GUEST_SS_SELECTOR, GUEST_DS_SELECTOR,
	GUEST_FS_SELECTOR, GUEST_GS_SELECTOR,
};
static const u32 rm_base[6] = {
	GUEST_ES_BASE, GUEST_CS_BASE, GUEST_SS_BASE, GUEST_DS_BASE,
	GUEST_FS_BASE, GUEST_GS_BASE,
};
static const u32 rm_limit[6] = {
	GUEST_ES_LIMIT, GUEST_CS_LIMIT, GUEST_SS_LIMIT, GUEST_DS_LIMIT,
	GUEST_FS_LIMIT, GUEST_GS_LIMIT,
};
static const u32 rm_ar[6] = {
	GUEST_ES_AR_BYTES, GUEST_CS_AR_BYTES, GUEST_SS_AR_BYTES, GUEST_DS_AR_BYTES,
	GUEST_FS_AR_BYTES, GUEST_GS_AR_BYTES,
};

#define RM_ES	0
#define RM_CS	1
#define RM_SS	2
#define RM_DS	3

/* ---- entering and leaving ---- */

/*
 * Real-mode segments from SET_SREGS (PE=0): each of CS, DS, ES, FS, GS
 * and SS must be what a real-mode load makes, base = selector * 16 and
 * limit 0xffff. The caller applies its TR/LDTR checks too (the TR comes
 * back when protected mode is entered).
 */
int shv_rmode_check_sregs(const struct shadowvm_sregs *s, const char **why)
{
	const struct shadowvm_segment *seg[6] = { &s->es, &s->cs, &s->ss, &s->ds,
						  &s->fs, &s->gs };
	int i;

	if (s->cr0 & X86_CR0_PG) {
		*why = "CR0.PG=1 with CR0.PE=0";
		return -EINVAL;
	}
	if (s->efer & EFER_LMA) {
		*why = "EFER.LMA=1 in real mode";
		return -EINVAL;
	}
	for (i = 0; i < 6; i++) {
		if (seg[i]->base != (u64)seg[i]->selector << 4) {
			*why = "real mode: a segment base is not selector * 16 (unreal mode is not supported)";
			return -EINVAL;
		}
		if (seg[i]->limit != 0xffff) {
			*why = "real mode: a segment limit is not 0xffff (unreal mode is not supported)";
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Put the hardware into v86 form for a guest that has CR0.PE=0 now (set
 * by SET_SREGS or by clearing PE). -EINVAL: a segment cannot be
 * represented (nothing changed).
 */
int shv_rmode_enter(struct shv_vcpu *vcpu)
{
	struct shv_rmode *rm = &vcpu->rmode;
	u16 sel[6];
	unsigned long rflags;
	int i;

	if (rm->active)
		return 0;
	for (i = 0; i < 6; i++) {
		u64 base = vmcs_read(rm_base[i]);

		sel[i] = vmcs_read(rm_sel[i]);
		if (base == (u64)sel[i] << 4)
			continue;
		/* left protected mode: a selector real mode would load */
		if ((base & 0xf) || base > 0xffff0) {
			shv_info_rl("real mode: segment %d base 0x%llx cannot be a real-mode segment\n",
				    i, base);
			return -EINVAL;
		}
		sel[i] = base >> 4;
	}
	for (i = 0; i < 6; i++) {
		vmcs_write(rm_sel[i], sel[i]);
		vmcs_write(rm_base[i], (u64)sel[i] << 4);
		vmcs_write(rm_limit[i], 0xffff);
		vmcs_write(rm_ar[i], V86_AR);
	}
	rm->tr_sel = vmcs_read(GUEST_TR_SELECTOR);
	rm->tr_base = vmcs_read(GUEST_TR_BASE);
	rm->tr_limit = vmcs_read(GUEST_TR_LIMIT);
	rm->tr_ar = vmcs_read(GUEST_TR_AR_BYTES);
	rm->idt_base = vmcs_read(GUEST_IDTR_BASE);
	rm->idt_limit = vmcs_read(GUEST_IDTR_LIMIT);
	/* no I/O bitmap: every port access faults to rmode_gp() */
	vmcs_write(GUEST_TR_SELECTOR, 0);
	vmcs_write(GUEST_TR_BASE, 0);
	vmcs_write(GUEST_TR_LIMIT, 0);
	vmcs_write(GUEST_TR_AR_BYTES, 0x8b);
	/* no IDT: INT n faults to rmode_gp() */
	vmcs_write(GUEST_IDTR_BASE, 0);
	vmcs_write(GUEST_IDTR_LIMIT, 0);
	rflags = vmcs_read(GUEST_RFLAGS);
	rm->iopl = rflags & IOPL_MASK;
	vmcs_write(GUEST_RFLAGS, rflags | X86_EFLAGS_VM | IOPL_MASK);
	vmcs_write(GUEST_RIP, vmcs_read(GUEST_RIP) & 0xffff);
	rm->exc_bitmap = vmcs_read(EXCEPTION_BITMAP);
	vmcs_write(EXCEPTION_BITMAP, ~0u);
	rm->active = true;
	shv_stat_inc(vcpu, REALMODE_ENTRIES);
	return 0;
}

/*
 * Undo the v86 form of RFLAGS, TR, IDTR and the exception bitmap; the
 * segments are the caller's business (SET_SREGS writes its own).
 */
void shv_rmode_drop(struct shv_vcpu *vcpu)
{
	struct shv_rmode *rm = &vcpu->rmode;
	unsigned long rflags;

	if (!rm->active)
		return;
	rflags = vmcs_read(GUEST_RFLAGS) & ~(X86_EFLAGS_VM | IOPL_MASK);
	vmcs_write(GUEST_RFLAGS, rflags | rm->iopl);
	vmcs_write(GUEST_TR_SELECTOR, rm->tr_sel);
	vmcs_write(GUEST_TR_BASE, rm->tr_base);
	vmcs_write(GUEST_TR_LIMIT, rm->tr_limit);
	vmcs_write(GUEST_TR_AR_BYTES, rm->tr_ar);
	vmcs_write(GUEST_IDTR_BASE, rm->idt_base);
	vmcs_write(GUEST_IDTR_LIMIT, rm->idt_limit);
	vmcs_write(EXCEPTION_BITMAP, rm->exc_bitmap);
	rm->active = false;
}

/*
 * The guest set CR0.PE: protected mode with the real-mode segment cache
 * (16-bit, base = selector * 16) until it loads segments. VMX wants
 * CS.RPL = SS.RPL = SS.DPL = CS.DPL there; the CPL is 0. -EINVAL: CS and
 * SS selectors differ in their low bits (nothing changed).
 */
int shv_rmode_leave(struct shv_vcpu *vcpu)
{
	u16 cs = vmcs_read(GUEST_CS_SELECTOR), ss = vmcs_read(GUEST_SS_SELECTOR);
	int i;

	if (!vcpu->rmode.active)
		return 0;
	if ((cs & 3) != (ss & 3)) {
		shv_info_rl("real mode: CR0.PE set with CS.RPL %u != SS.RPL %u (not supported)\n",
			    cs & 3, ss & 3);
		return -EINVAL;
	}
	for (i = 0; i < 6; i++) {
		u32 dpl = (vmcs_read(rm_sel[i]) & 3) << 5;

		vmcs_write(rm_ar[i], (i == RM_CS ? 0x9b : 0x93) | dpl);
	}
	shv_rmode_drop(vcpu);
	return 0;
}

/* ---- what the guest sees ---- */

unsigned long shv_rmode_guest_rflags(struct shv_vcpu *vcpu, unsigned long hw)
{
	if (!vcpu->rmode.active)
		return hw;
	return (hw & ~(X86_EFLAGS_VM | IOPL_MASK)) | vcpu->rmode.iopl;
}

unsigned long shv_rmode_hw_rflags(struct shv_vcpu *vcpu, unsigned long guest)
{
	if (!vcpu->rmode.active)
		return guest;
	vcpu->rmode.iopl = guest & IOPL_MASK;
	return guest | X86_EFLAGS_VM | IOPL_MASK;
}

/* GET_SREGS: the guest's TR and IDTR, real-mode access rights */
void shv_rmode_get_sregs(struct shv_vcpu *vcpu, struct shadowvm_sregs *s)
{
	struct shadowvm_segment *seg[6] = { &s->es, &s->cs, &s->ss, &s->ds, &s->fs, &s->gs };
	struct shv_rmode *rm = &vcpu->rmode;
	int i;

	if (!rm->active)
		return;
	for (i = 0; i < 6; i++) {
		seg[i]->type = i == RM_CS ? 0xb : 3;
		seg[i]->dpl = 0;
		seg[i]->s = 1;
		seg[i]->present = 1;
		seg[i]->unusable = 0;
		seg[i]->db = 0;
		seg[i]->g = 0;
		seg[i]->l = 0;
		seg[i]->avl = 0;
	}
	s->tr.selector = rm->tr_sel;
	s->tr.base = rm->tr_base;
	s->tr.limit = rm->tr_limit;
	s->tr.type = rm->tr_ar & 15;
	s->tr.s = 0;
	s->tr.dpl = (rm->tr_ar >> 5) & 3;
	s->tr.present = (rm->tr_ar >> 7) & 1;
	s->tr.unusable = !!(rm->tr_ar & AR_UNUSABLE);
	s->tr.g = (rm->tr_ar >> 15) & 1;
	s->tr.db = (rm->tr_ar >> 14) & 1;
	s->idt.base = rm->idt_base;
	s->idt.limit = rm->idt_limit;
}

/* ---- delivery through the interrupt vector table ---- */

static int push16(struct shv_vcpu *vcpu, u16 val)
{
	u16 sp = vmcs_read(GUEST_RSP) - 2;
	u64 la = vmcs_read(GUEST_SS_BASE) + sp;

	if (shv_mmu_guest_write(vcpu, la, &val, 2))
		return -EFAULT;
	vmcs_write(GUEST_RSP, (vmcs_read(GUEST_RSP) & ~0xffffUL) | sp);
	return 0;
}

/*
 * Real-mode INT (SDM vol. 2, INT n, real-address mode): push FLAGS, CS
 * and the return IP; clear IF, TF and AC; CS:IP from the table entry.
 * 1: done; 0: the run ends (shutdown: the table does not hold the vector;
 * internal error: the stack or the table is not RAM).
 */
static int rmode_int(struct shv_vcpu *vcpu, int vector, u16 ret_ip)
{
	struct shv_rmode *rm = &vcpu->rmode;
	unsigned long rflags = vmcs_read(GUEST_RFLAGS);
	u16 flags = shv_rmode_guest_rflags(vcpu, rflags);
	u32 entry;
	u16 cs;

	if ((u32)vector * 4 + 3 > rm->idt_limit) {
		/* #GP, then #DF, then shutdown: nothing can be delivered */
		vcpu->run->exit_reason = SHADOWVM_EXIT_SHUTDOWN;
		shv_stat_inc(vcpu, EXIT_TRIPLE_FAULT);
		return 0;
	}
	if (shv_read_gpa(vcpu->vm, rm->idt_base + vector * 4, &entry, 4))
		goto bad;
	cs = vmcs_read(GUEST_CS_SELECTOR);
	if (push16(vcpu, flags) || push16(vcpu, cs) || push16(vcpu, ret_ip))
		goto bad;
	vmcs_write(GUEST_RFLAGS, rflags & ~(X86_EFLAGS_IF | X86_EFLAGS_TF | X86_EFLAGS_AC |
					    X86_EFLAGS_RF));
	vmcs_write(GUEST_CS_SELECTOR, entry >> 16);
	vmcs_write(GUEST_CS_BASE, (u64)(entry >> 16) << 4);
	vmcs_write(GUEST_RIP, entry & 0xffff);
	vmcs_write(GUEST_INTERRUPTIBILITY_INFO, vmcs_read(GUEST_INTERRUPTIBILITY_INFO) &
		   ~(GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS));
	shv_stat_inc(vcpu, REALMODE_INTS);
	return 1;
bad: {
		u64 d[3] = { vector, rm->idt_base, vmcs_read(GUEST_SS_BASE) + (u16)vmcs_read(GUEST_RSP) };

		shv_info_rl("real mode: vector 0x%x: the vector table or the stack is not RAM\n",
			    vector);
		shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_DELIVERY, 3, d);
		return 0;
	}
}

/*
 * Before the entry, after shv_events_prepare(): the event chosen for
 * injection is delivered now through the vector table. 1: enter; 0: the
 * run ends (exit filled).
 */
int shv_rmode_deliver(struct shv_vcpu *vcpu)
{
	struct shv_pending_event *ev = &vcpu->event;
	u32 type = ev->info & INTR_INFO_TYPE_MASK;
	u16 ip = vmcs_read(GUEST_RIP);

	if (!ev->valid)
		return 1;
	ev->valid = false;
	if (type == INTR_TYPE_SOFT_INTR || type == INTR_TYPE_SOFT_EXCEPTION ||
	    type == INTR_TYPE_PRIV_SW_EXCEPTION)
		ip += ev->insn_len;
	if (type == INTR_TYPE_NMI)
		vmcs_write(GUEST_INTERRUPTIBILITY_INFO,
			   vmcs_read(GUEST_INTERRUPTIBILITY_INFO) | GUEST_INTR_STATE_NMI);
	return rmode_int(vcpu, ev->info & INTR_INFO_VECTOR_MASK, ip);
}

static void queue_soft(struct shv_vcpu *vcpu, u32 type, int vector, unsigned int len)
{
	vcpu->event.valid = true;
	vcpu->event.info = INTR_INFO_VALID | type | vector;
	vcpu->event.error_code = 0;
	vcpu->event.insn_len = len;
}

/* ---- the #GP intercept: instructions v86 mode refuses ---- */

struct rm_insn {
	u8 b[15];
	unsigned int len, fetched;
	bool opsz, adsz;	/* 66 / 67 prefixes: 32-bit operand / address */
	int seg;		/* override, or -1 */
	bool rep;
	u8 modrm;
	u64 ea;			/* memory operand's offset */
	int ea_seg;
};

static int next(struct rm_insn *in, u8 *b)
{
	if (in->len >= in->fetched)
		return -EFAULT;
	*b = in->b[in->len++];
	return 0;
}

static int imm(struct rm_insn *in, int size, u32 *v)
{
	u8 b;
	int i;

	*v = 0;
	for (i = 0; i < size; i++) {
		if (next(in, &b))
			return -EFAULT;
		*v |= (u32)b << (8 * i);
	}
	return 0;
}

static u64 reg16(struct shv_vcpu *vcpu, int r)
{
	return get_gpr(vcpu, r) & 0xffff;
}

/* ModRM (mod != 3) to an offset, 16- or 32-bit addressing (SDM vol. 2, 2.1.5) */
static int modrm_mem(struct shv_vcpu *vcpu, struct rm_insn *in)
{
	int mod = in->modrm >> 6, rm = in->modrm & 7;
	u32 disp = 0;
	u64 ea = 0;

	in->ea_seg = RM_DS;
	if (!in->adsz) {
		static const s8 base[8] = { SHV_RBX, SHV_RBX, SHV_RBP, SHV_RBP, -1, -1, SHV_RBP, SHV_RBX };
		static const s8 index[8] = { SHV_RSI, SHV_RDI, SHV_RSI, SHV_RDI, SHV_RSI, SHV_RDI, -1, -1 };

		if (mod == 0 && rm == 6) {
			if (imm(in, 2, &disp))
				return -EFAULT;
			ea = disp;
		} else {
			if (base[rm] >= 0)
				ea += reg16(vcpu, base[rm]);
			if (index[rm] >= 0)
				ea += reg16(vcpu, index[rm]);
			if (rm == 2 || rm == 3 || rm == 6)
				in->ea_seg = RM_SS;
			if (mod == 1 && !imm(in, 1, &disp))
				ea += (s8)disp;
			else if (mod == 2 && !imm(in, 2, &disp))
				ea += disp;
		}
		in->ea = ea & 0xffff;
	} else {
		u8 sib;

		if (rm == 4) {
			if (next(in, &sib))
				return -EFAULT;
			if (((sib >> 3) & 7) != 4)
				ea += (u32)get_gpr(vcpu, (sib >> 3) & 7) << (sib >> 6);
			if ((sib & 7) == 5 && mod == 0) {
				if (imm(in, 4, &disp))
					return -EFAULT;
				ea += disp;
			} else {
				ea += (u32)get_gpr(vcpu, sib & 7);
				if ((sib & 7) == SHV_RSP || (sib & 7) == SHV_RBP)
					in->ea_seg = RM_SS;
			}
		} else if (rm == 5 && mod == 0) {
			if (imm(in, 4, &disp))
				return -EFAULT;
			ea = disp;
		} else {
			ea = (u32)get_gpr(vcpu, rm);
			if (rm == SHV_RBP)
				in->ea_seg = RM_SS;
		}
		if (mod == 1 && !imm(in, 1, &disp))
			ea += (s8)disp;
		else if (mod == 2 && !imm(in, 4, &disp))
			ea += disp;
		in->ea = (u32)ea;
	}
	if (in->len > in->fetched)
		return -EFAULT;
	if (in->seg >= 0)
		in->ea_seg = in->seg;
	return 0;
}

static int read_mem(struct shv_vcpu *vcpu, struct rm_insn *in, void *buf, unsigned int len)
{
	u64 la = vmcs_read(rm_base[in->ea_seg]) + in->ea;

	if (in->ea + len - 1 > 0xffff)
		return 1;	/* beyond the segment limit: #GP (#SS for SS) */
	return shv_read_gpa(vcpu->vm, la, buf, len) ? -EFAULT : 0;
}

/* The emulated instruction's effects done: skip it (like an exit would). */
static int done(struct shv_vcpu *vcpu, struct rm_insn *in)
{
	shv_set_rip(vcpu, (shv_rip(vcpu) + in->len) & 0xffff);
	vmcs_write(GUEST_INTERRUPTIBILITY_INFO, vmcs_read(GUEST_INTERRUPTIBILITY_INFO) &
		   ~(GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS));
	return 1;
}

/* An exit handler that ends with shv_skip_insn(): run it with our length. */
static int as_exit(struct shv_vcpu *vcpu, struct rm_insn *in, u32 reason)
{
	int r;

	vcpu->rmode.insn_len = in->len;
	r = shv_handle_exit(vcpu, reason);
	vcpu->rmode.insn_len = 0;
	return r;
}

static int io(struct shv_vcpu *vcpu, struct rm_insn *in, u8 op)
{
	u32 size = (op & 1) ? (in->opsz ? 4 : 2) : 1, port;
	bool string = op < 0x70, inp;
	unsigned long q;
	int r;

	if (string) {
		inp = op < 0x6e;
		port = get_gpr(vcpu, SHV_RDX) & 0xffff;
	} else {
		inp = !(op & 2);
		if (op < 0xec) {
			if (imm(in, 1, &port))
				return -EFAULT;
		} else {
			port = get_gpr(vcpu, SHV_RDX) & 0xffff;
		}
	}
	q = (size - 1) | (inp ? 8 : 0) | (string ? 16 : 0) | (in->rep && string ? 32 : 0) |
	    (unsigned long)port << 16;
	vcpu->rmode.insn_len = in->len;
	r = shv_handle_io_q(vcpu, q, in->adsz ? 1 : 0,
			    inp ? RM_ES : (in->seg >= 0 ? in->seg : RM_DS));
	vcpu->rmode.insn_len = 0;
	return r;
}

static int gp_result(struct shv_vcpu *vcpu, struct rm_insn *in, int r)
{
	if (r == -EOPNOTSUPP) {
		u64 d[2] = { shv_rip(vcpu), vcpu->cr0 };

		shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_BAD_STATE, 2, d);
		return 0;
	}
	if (r < 0)
		return r;
	if (r > 0) {
		shv_queue_exception(vcpu, GP_VECTOR, true, 0);
		return 1;
	}
	return done(vcpu, in);
}

static int mov_cr(struct shv_vcpu *vcpu, struct rm_insn *in, bool to)
{
	int cr = (in->modrm >> 3) & 7, reg = in->modrm & 7;
	u64 val;
	int r = 0;

	shv_sync_cr0_ts(vcpu);
	if (to) {
		val = (u32)get_gpr(vcpu, reg);
		switch (cr) {
		case 0:
			r = shv_set_cr0(vcpu, val);
			break;
		case 2:
			vcpu->cr2 = val;
			break;
		case 3:
			shv_stat_inc(vcpu, EXIT_CR3_LOAD);
			r = shv_set_cr3(vcpu, val);
			break;
		case 4:
			r = shv_set_cr4(vcpu, val);
			break;
		default:
			return inject_ud(vcpu);
		}
		return gp_result(vcpu, in, r);
	}
	switch (cr) {
	case 0:
		val = vcpu->cr0;
		break;
	case 2:
		val = vcpu->cr2;
		break;
	case 3:
		shv_stat_inc(vcpu, EXIT_CR3_STORE);
		val = vcpu->cr3;
		break;
	case 4:
		val = vcpu->cr4;
		break;
	default:
		return inject_ud(vcpu);
	}
	set_gpr(vcpu, reg, (u32)val);
	return done(vcpu, in);
}

/* 0F 01 /2, /3, /6, /7 */
static int group7(struct shv_vcpu *vcpu, struct rm_insn *in)
{
	int op = (in->modrm >> 3) & 7, r;
	u8 m[6];
	u32 base;
	u16 w;

	if (op == 6) {		/* LMSW: PE, MP, EM, TS; cannot clear PE */
		if ((in->modrm >> 6) == 3) {
			w = get_gpr(vcpu, in->modrm & 7);
		} else {
			r = modrm_mem(vcpu, in) ?: read_mem(vcpu, in, &w, 2);
			if (r)
				return r < 0 ? r : gp_result(vcpu, in, 1);
		}
		shv_sync_cr0_ts(vcpu);
		r = shv_set_cr0(vcpu, (vcpu->cr0 & ~0xeULL) | (w & 0xf) | (vcpu->cr0 & 1));
		return gp_result(vcpu, in, r);
	}
	if ((in->modrm >> 6) == 3 || (op != 2 && op != 3 && op != 7))
		return -ENOENT;
	r = modrm_mem(vcpu, in);
	if (r)
		return r;
	if (op == 7) {		/* INVLPG: paging is off, nothing is cached */
		shv_stat_inc(vcpu, INVLPG);
		return done(vcpu, in);
	}
	r = read_mem(vcpu, in, m, 6);
	if (r)
		return r < 0 ? r : gp_result(vcpu, in, 1);
	base = m[2] | m[3] << 8 | m[4] << 16 | (u32)m[5] << 24;
	if (!in->opsz)
		base &= 0xffffff;	/* 16-bit operand size: 24-bit base */
	if (op == 2) {
		vmcs_write(GUEST_GDTR_BASE, base);
		vmcs_write(GUEST_GDTR_LIMIT, m[0] | m[1] << 8);
	} else {
		vcpu->rmode.idt_base = base;
		vcpu->rmode.idt_limit = m[0] | m[1] << 8;
	}
	return done(vcpu, in);
}

static int twobyte(struct shv_vcpu *vcpu, struct rm_insn *in)
{
	u8 op;

	if (next(in, &op))
		return -EFAULT;
	switch (op) {
	case 0x01:
		if (next(in, &in->modrm))
			return -EFAULT;
		return group7(vcpu, in);
	case 0x06:		/* CLTS */
		shv_sync_cr0_ts(vcpu);
		return gp_result(vcpu, in, shv_set_cr0(vcpu, vcpu->cr0 & ~X86_CR0_TS));
	case 0x08:		/* INVD, WBINVD: guest RAM is coherent */
	case 0x09:
		return done(vcpu, in);
	case 0x20: case 0x22:	/* MOV from/to CRn: the register form always */
		if (next(in, &in->modrm))
			return -EFAULT;
		return mov_cr(vcpu, in, op == 0x22);
	case 0x21: case 0x23: {	/* MOV from/to DRn */
		int r;

		if (next(in, &in->modrm))
			return -EFAULT;
		vcpu->rmode.insn_len = in->len;
		r = shv_dr_access(vcpu, (in->modrm >> 3) & 7, op == 0x21, in->modrm & 7);
		vcpu->rmode.insn_len = 0;
		return r;
	}
	case 0x30:
		return as_exit(vcpu, in, EXIT_REASON_MSR_WRITE);
	case 0x31: {		/* RDTSC with CR4.TSD (CPL 0 in real mode) */
		int r;

		vcpu->rmode.insn_len = in->len;
		r = shv_handle_rdtsc(vcpu, false);
		vcpu->rmode.insn_len = 0;
		return r;
	}
	case 0x32:
		return as_exit(vcpu, in, EXIT_REASON_MSR_READ);
	default:
		return -ENOENT;
	}
}

/*
 * #GP in v86 mode. Fetches the instruction at CS:IP; what real mode would
 * have executed is done here, anything else is the guest's #GP.
 */
static int rmode_gp(struct shv_vcpu *vcpu, u32 error_code)
{
	struct rm_insn in = { .seg = -1 };
	u64 la = vmcs_read(GUEST_CS_BASE) + (u16)vmcs_read(GUEST_RIP);
	unsigned int n = min_t(unsigned int, sizeof(in.b), PAGE_SIZE - offset_in_page(la));
	u8 op;
	int r, i;

	if (shv_read_gpa(vcpu->vm, la, in.b, n))
		goto cannot;
	in.fetched = n;
	if (n < sizeof(in.b) && !shv_read_gpa(vcpu->vm, la + n, in.b + n, sizeof(in.b) - n))
		in.fetched = sizeof(in.b);
	for (i = 0; i < 14; i++) {
		if (next(&in, &op))
			goto cannot;
		if (op == 0x66)
			in.opsz = true;
		else if (op == 0x67)
			in.adsz = true;
		else if (op == 0xf2 || op == 0xf3)
			in.rep = true;
		else if (op == 0x26 || op == 0x2e || op == 0x36 || op == 0x3e)
			in.seg = (op >> 3) & 3;
		else if (op == 0x64 || op == 0x65)
			in.seg = 4 + (op & 1);
		else if (op != 0xf0)
			break;
	}
	shv_stat_inc(vcpu, REALMODE_EMULATED);
	switch (op) {
	case 0x0f:
		r = twobyte(vcpu, &in);
		break;
	case 0xf4:		/* HLT */
		r = as_exit(vcpu, &in, EXIT_REASON_HLT);
		break;
	case 0xcd: {		/* INT n: the IDT of limit 0 refused it */
		u32 v;

		if (imm(&in, 1, &v))
			goto cannot;
		queue_soft(vcpu, INTR_TYPE_SOFT_INTR, v, in.len);
		return 1;
	}
	case 0x6c: case 0x6d: case 0x6e: case 0x6f:
	case 0xe4: case 0xe5: case 0xe6: case 0xe7:
	case 0xec: case 0xed: case 0xee: case 0xef:
		r = io(vcpu, &in, op);
		break;
	default:
		r = -ENOENT;
	}
	if (r == -EFAULT)
		goto cannot;
	if (r != -ENOENT)
		return r;
	/* the guest's own #GP: real mode has no error code */
	shv_queue_exception(vcpu, GP_VECTOR, false, 0);
	return 1;
cannot: {
		u64 d[3] = { la, error_code, in.fetched };

		shv_info_rl("real mode: cannot fetch or decode the instruction at 0x%llx\n", la);
		shv_internal_error(vcpu, SHADOWVM_INTERNAL_ERROR_EMULATION, 3, d);
		return 0;
	}
}

/*
 * An exception exit while real mode is active. -ENOENT: not ours (#PF,
 * #DB, #MC, NMI: the normal handlers; they queue what the guest must see
 * and shv_rmode_deliver() delivers it).
 */
int shv_rmode_exception(struct shv_vcpu *vcpu, u32 info)
{
	int vector = info & INTR_INFO_VECTOR_MASK;
	u32 type = info & INTR_INFO_TYPE_MASK;

	if (type == INTR_TYPE_NMI || vector == PF_VECTOR || vector == MC_VECTOR ||
	    vector == DB_VECTOR || vector == AC_VECTOR)
		return -ENOENT;
	shv_stat_inc(vcpu, EXIT_EXCEPTION);
	if (type == INTR_TYPE_SOFT_EXCEPTION) {	/* INT3, INTO: after the instruction */
		queue_soft(vcpu, INTR_TYPE_SOFT_EXCEPTION, vector,
			   vmcs_read(VM_EXIT_INSTRUCTION_LEN));
		return 1;
	}
	if (vector == GP_VECTOR)
		return rmode_gp(vcpu, vmcs_read(VM_EXIT_INTR_ERROR_CODE));
	shv_queue_exception(vcpu, vector, false, 0);
	return 1;
}

/*
 * INIT then SIPI (SDM vol. 3, 9.4.4 and table 10-1): the AP starts in
 * real mode at vector:0000 (CS base vector << 12), with the INIT state.
 */
int shv_rmode_sipi(struct shv_vcpu *vcpu, u8 vector)
{
	struct shadowvm_segment seg = { .limit = 0xffff, .type = 3, .present = 1, .s = 1 };
	struct shadowvm_sregs s;
	struct shadowvm_regs regs = { .rflags = X86_EFLAGS_FIXED };
	u32 sig[4];
	int r;

	memset(&s, 0, sizeof(s));
	s.ds = s.es = s.fs = s.gs = s.ss = seg;
	s.cs = seg;
	s.cs.type = 0xb;
	s.cs.selector = vector << 8;
	s.cs.base = (u64)vector << 12;
	s.tr = (struct shadowvm_segment){ .limit = 0xffff, .type = 11, .present = 1 };
	s.ldt = (struct shadowvm_segment){ .limit = 0xffff, .type = 2, .present = 1 };
	s.gdt.limit = 0xffff;
	s.idt.limit = 0xffff;
	s.cr0 = X86_CR0_CD | X86_CR0_NW | X86_CR0_ET;
	s.apic_base = shv_lapic_get_base(vcpu);
	r = shv_set_sregs(vcpu, &s);
	if (r)
		return r;
	shv_cpuid(vcpu, 1, 0, sig);
	regs.rdx = sig[0];	/* the processor signature, as after RESET/INIT */
	vcpu->dr[0] = vcpu->dr[1] = vcpu->dr[2] = vcpu->dr[3] = 0;
	vcpu->dr6 = 0xffff0ff0;
	vcpu->dr7 = 0x400;
	vmcs_write(GUEST_DR7, vcpu->dr7);
	vmcs_write(GUEST_INTERRUPTIBILITY_INFO, 0);
	return shv_set_regs(vcpu, &regs);
}
