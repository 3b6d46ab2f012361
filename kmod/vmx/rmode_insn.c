// SPDX-License-Identifier: GPL-2.0
/*
 * Real mode, the instructions virtual-8086 mode refuses (vmx/rmode.c has
 * the state and the delivery). Contract: shv_rmode_gp() gets every #GP
 * raised while real mode is active, fetches the instruction at CS:IP from
 * guest RAM, decodes its prefixes and ModRM (16- and 32-bit addressing)
 * and does what real mode (CPL 0, no I/O bitmap) would have done, through
 * the same code the VM exits use (MSRs, HLT, port I/O, CRs, DRs), or
 * reflects the guest's own #GP through its vector table. An instruction
 * that cannot be fetched ends the run with SHADOWVM_EXIT_INTERNAL_ERROR
 * (EMULATION); it never guesses.
 */
#include <linux/kernel.h>
#include <linux/mm.h>
#include <asm/processor-flags.h>
#include "shadowvm.h"
#include "vmx_defs.h"
#include "exits.h"
#include "rmode.h"

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
	u64 la = vmcs_read(shv_seg_base_field[in->ea_seg]) + in->ea;

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
int shv_rmode_gp(struct shv_vcpu *vcpu, u32 error_code)
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
		rm_queue_soft(vcpu, INTR_TYPE_SOFT_INTR, v, in.len);
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

