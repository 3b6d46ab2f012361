// SPDX-License-Identifier: GPL-2.0
/*
 * shadowvm x86 emulator: instruction semantics on values.
 *
 * Contract: pure functions of operand values and the working register
 * copy in struct emu (arithmetic flags exactly as the SDM defines them;
 * undefined flags left unchanged, except AF, which logical operations
 * clear as current CPUs do). No guest memory access and no decoding:
 * callers (emulate.c, string.c) fetch the operands and store the result.
 * Calls nothing outside this file and emu_internal.h.
 */
#include "emu_internal.h"

u64 shv_emu_flags_szp(u64 res, unsigned int size)
{
	u64 f = 0;
	unsigned int p = (u8)res;

	res &= size_mask(size);
	if (!res)
		f |= FL_ZF;
	if ((res >> (size * 8 - 1)) & 1)
		f |= FL_SF;
	p ^= p >> 4;
	if (!((0x6996 >> (p & 0xf)) & 1))
		f |= FL_PF;
	return f;
}

/* flags of res = a + b (+ carry in) */
u64 shv_emu_flags_add(u64 a, u64 b, u64 res, unsigned int size)
{
	unsigned int msb = size * 8 - 1;
	u64 carry = (a & b) | ((a | b) & ~res);
	u64 f = shv_emu_flags_szp(res, size);

	if ((carry >> msb) & 1)
		f |= FL_CF;
	if ((((a ^ res) & (b ^ res)) >> msb) & 1)
		f |= FL_OF;
	if ((a ^ b ^ res) & 0x10)
		f |= FL_AF;
	return f;
}

/* flags of res = a - b (- borrow in) */
u64 shv_emu_flags_sub(u64 a, u64 b, u64 res, unsigned int size)
{
	unsigned int msb = size * 8 - 1;
	u64 borrow = (~a & b) | (~(a ^ b) & res);
	u64 f = shv_emu_flags_szp(res, size);

	if ((borrow >> msb) & 1)
		f |= FL_CF;
	if ((((a ^ b) & (a ^ res)) >> msb) & 1)
		f |= FL_OF;
	if ((a ^ b ^ res) & 0x10)
		f |= FL_AF;
	return f;
}

u64 shv_emu_alu(struct emu *e, unsigned int op, u64 a, u64 b, unsigned int size)
{
	u64 cf = e->rflags & FL_CF;
	u64 res, f;

	switch (op) {
	case ALU_ADD:
		res = a + b;
		f = shv_emu_flags_add(a, b, res, size);
		break;
	case ALU_ADC:
		res = a + b + cf;
		f = shv_emu_flags_add(a, b, res, size);
		break;
	case ALU_SBB:
		res = a - b - cf;
		f = shv_emu_flags_sub(a, b, res, size);
		break;
	case ALU_SUB:
	case ALU_CMP:
		res = a - b;
		f = shv_emu_flags_sub(a, b, res, size);
		break;
	case ALU_OR:
		res = a | b;
		f = shv_emu_flags_szp(res, size);
		break;
	case ALU_AND:
		res = a & b;
		f = shv_emu_flags_szp(res, size);
		break;
	default: /* ALU_XOR */
		res = a ^ b;
		f = shv_emu_flags_szp(res, size);
		break;
	}
	set_flags(e, FL_ARITH, f);
	return res & size_mask(size);
}

/*
 * Compute the new value of the destination from its old value (old[1]
 * and new[1] are the high halves for CMPXCHG16B/8B), setting flags and
 * register outputs in the working copy. Returns whether the destination
 * is written. Must depend only on old, e->src and the working copy as it
 * was before the instruction: the locked path calls it again on a retry.
 */
bool shv_emu_compute(struct emu *e, const u64 *old, u64 *new)
{
	unsigned int size = e->size, bit;
	u64 acc, lo, hi, m;
	bool written;

	switch (e->kind) {
	case K_ALU:
		new[0] = shv_emu_alu(e, e->sub, old[0], e->src, size);
		return e->sub != ALU_CMP;
	case K_TEST:
		shv_emu_alu(e, ALU_AND, old[0], e->src, size);
		return false;
	case K_XCHG:
		reg_set(e, e->reg, size, old[0]);
		new[0] = e->src;
		return true;
	case K_XADD:
		new[0] = shv_emu_alu(e, ALU_ADD, old[0], e->src, size);
		reg_set(e, e->reg, size, old[0]);
		return true;
	case K_CMPXCHG:
		acc = reg_get(e, SHV_EMU_RAX, size);
		set_flags(e, FL_ARITH, shv_emu_flags_sub(acc, old[0], acc - old[0], size));
		if (acc == old[0]) {
			new[0] = e->src;
			return true;
		}
		reg_set(e, SHV_EMU_RAX, size, old[0]);
		/*
		 * A memory destination gets its old value written back; a
		 * register one is left alone (not even zero-extended).
		 */
		new[0] = old[0];
		return e->mem;
	case K_CMPXCHG8B:
		if (size == 16) {
			lo = old[0];
			hi = old[1];
			m = ~0ULL;
		} else {
			lo = (u32)old[0];
			hi = old[0] >> 32;
			m = 0xffffffffULL;
		}
		if (lo == (e->regs[SHV_EMU_RAX] & m) &&
		    hi == (e->regs[SHV_EMU_RDX] & m)) {
			set_flags(e, FL_ZF, FL_ZF);
			if (size == 16) {
				new[0] = e->regs[SHV_EMU_RBX];
				new[1] = e->regs[SHV_EMU_RCX];
			} else {
				new[0] = (u32)e->regs[SHV_EMU_RBX] |
					 (e->regs[SHV_EMU_RCX] << 32);
			}
		} else {
			set_flags(e, FL_ZF, 0);
			reg_set(e, SHV_EMU_RAX, size / 2, lo);
			reg_set(e, SHV_EMU_RDX, size / 2, hi);
			new[0] = old[0];
			new[1] = old[1];
		}
		return true;
	case K_BT:
		bit = e->src & (size * 8 - 1);
		m = 1ULL << bit;
		set_flags(e, FL_CF, (old[0] & m) ? FL_CF : 0);
		if (e->sub == BT_BTS)
			new[0] = old[0] | m;
		else if (e->sub == BT_BTR)
			new[0] = old[0] & ~m;
		else
			new[0] = old[0] ^ m;
		return e->sub != BT_BT;
	case K_INC:
		new[0] = (old[0] + 1) & size_mask(size);
		set_flags(e, FL_ARITH & ~FL_CF, shv_emu_flags_add(old[0], 1, new[0], size));
		return true;
	case K_DEC:
		new[0] = (old[0] - 1) & size_mask(size);
		set_flags(e, FL_ARITH & ~FL_CF, shv_emu_flags_sub(old[0], 1, new[0], size));
		return true;
	case K_NOT:
		new[0] = ~old[0] & size_mask(size);
		return true;
	case K_SHIFT:
		new[0] = shv_emu_shift(e, e->sub, old[0], (unsigned int)e->src, size, &written);
		/* a count of 0 still writes a register (zero-extending it) */
		return written || !e->mem;
	default: /* K_NEG */
		new[0] = (0 - old[0]) & size_mask(size);
		set_flags(e, FL_ARITH, shv_emu_flags_sub(0, old[0], new[0], size));
		return true;
	}
}

/* Read-modify-write of the r/m destination (or of register e->dreg). */

/*
 * Shifts and rotates (SDM vol. 2B, "RCL/RCR/ROL/ROR" and "SAL/SAR/SHL/
 * SHR"): v is the destination's value, count the unmasked count. Sets
 * *written = false and leaves the flags alone when the masked count is 0.
 * CF and OF (count 1) as defined; for counts other than 1, OF is left
 * unchanged (undefined), and so is AF for the shifts.
 */
u64 shv_emu_shift(struct emu *e, unsigned int op, u64 v, unsigned int count,
		  unsigned int size, bool *written)
{
	unsigned int bits = size * 8, n, i;
	u64 m = size_mask(size), msb = 1ULL << (bits - 1), res, f, cf;

	count &= size == 8 ? 0x3f : 0x1f;
	*written = count != 0;
	if (!count)
		return v;
	v &= m;
	cf = e->rflags & FL_CF;
	switch (op) {
	case SH_ROL:
		n = count % bits;
		res = n ? ((v << n) | (v >> (bits - n))) & m : v;
		cf = res & 1;
		f = cf ? FL_CF : 0;
		if (count == 1 && (!!(res & msb) ^ !!cf))
			f |= FL_OF;
		set_flags(e, count == 1 ? FL_CF | FL_OF : FL_CF, f);
		return res;
	case SH_ROR:
		n = count % bits;
		res = n ? ((v >> n) | (v << (bits - n))) & m : v;
		f = (res & msb) ? FL_CF : 0;
		if (count == 1 && (!!(res & msb) ^ !!(res & (msb >> 1))))
			f |= FL_OF;
		set_flags(e, count == 1 ? FL_CF | FL_OF : FL_CF, f);
		return res;
	case SH_RCL:
	case SH_RCR:
		n = bits < 32 ? count % (bits + 1) : count;
		res = v;
		if (op == SH_RCR && count == 1)
			set_flags(e, FL_OF, (!!(res & msb) ^ !!cf) ? FL_OF : 0);
		for (i = 0; i < n; i++) {
			u64 out;

			if (op == SH_RCL) {
				out = res & msb;
				res = ((res << 1) | (cf ? 1 : 0)) & m;
			} else {
				out = res & 1;
				res = (res >> 1) | (cf ? msb : 0);
			}
			cf = out ? FL_CF : 0;
		}
		set_flags(e, FL_CF, cf);
		if (op == SH_RCL && count == 1)
			set_flags(e, FL_OF, (!!(res & msb) ^ !!cf) ? FL_OF : 0);
		return res;
	case SH_SHL:
	case SH_SAL:
		res = count < 64 ? (v << count) & m : 0;
		cf = count <= bits ? (v >> (bits - count)) & 1 : 0;
		f = shv_emu_flags_szp(res, size) | (cf ? FL_CF : 0);
		if (count == 1 && (!!(res & msb) ^ !!cf))
			f |= FL_OF;
		break;
	case SH_SHR:
		res = v >> count;	/* count < 64 */
		cf = count <= bits ? (v >> (count - 1)) & 1 : 0;
		f = shv_emu_flags_szp(res, size) | (cf ? FL_CF : 0);
		if (count == 1 && (v & msb))
			f |= FL_OF;
		break;
	default: /* SH_SAR */
		n = count < bits ? count : bits - 1;
		res = (u64)((s64)sext(v, size) >> n) & m;
		cf = (u64)((s64)sext(v, size) >> (count < bits ? count - 1 : bits - 1)) & 1;
		f = shv_emu_flags_szp(res, size) | (cf ? FL_CF : 0);
		break;
	}
	set_flags(e, FL_CF | FL_PF | FL_ZF | FL_SF | (count == 1 ? FL_OF : 0), f);
	return res;
}

/* 128-bit unsigned hi:lo / d, d != 0 and hi < d (the quotient fits 64 bits) */
static u64 div128(u64 hi, u64 lo, u64 d, u64 *rem)
{
	u64 q = 0;
	int i;

	for (i = 63; i >= 0; i--) {
		bool top = hi >> 63;

		hi = (hi << 1) | (lo >> 63);
		lo <<= 1;
		q <<= 1;
		if (top || hi >= d) {
			hi -= d;
			q |= 1;
		}
	}
	*rem = hi;
	return q;
}

/* the unsigned full product a * b: low half returned, high half in *hi */
static u64 mul128(u64 a, u64 b, u64 *hi)
{
	u64 al = (u32)a, ah = a >> 32, bl = (u32)b, bh = b >> 32;
	u64 ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
	u64 mid = (ll >> 32) + (u32)lh + (u32)hl;

	*hi = hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
	return (u32)ll | (mid << 32);
}

/* signed full product: low half returned, high half in *hi */
static u64 imul128(u64 a, u64 b, u64 *hi)
{
	u64 lo = mul128(a, b, hi);

	if ((s64)a < 0)
		*hi -= b;
	if ((s64)b < 0)
		*hi -= a;
	return lo;
}

/* split the accumulator pair for size: rAX (and rDX) as one value */
static void acc_get(struct emu *e, unsigned int size, u64 *hi, u64 *lo)
{
	if (size == 1) {
		*lo = e->regs[SHV_EMU_RAX] & 0xffff;
		*hi = 0;
		return;
	}
	*lo = reg_get(e, SHV_EMU_RAX, size);
	*hi = reg_get(e, SHV_EMU_RDX, size);
	if (size < 8) {
		*lo |= *hi << (size * 8);
		*hi = 0;
	}
}

static void acc_set(struct emu *e, unsigned int size, u64 quot_or_lo, u64 rem_or_hi)
{
	if (size == 1) {
		reg_set(e, SHV_EMU_RAX, 2, (quot_or_lo & 0xff) | ((rem_or_hi & 0xff) << 8));
		return;
	}
	reg_set(e, SHV_EMU_RAX, size, quot_or_lo);
	reg_set(e, SHV_EMU_RDX, size, rem_or_hi);
}

/*
 * MUL, IMUL, DIV, IDIV with one operand (src): the accumulator pair for
 * size (AX, DX:AX, EDX:EAX, RDX:RAX). Returns false for a divide error
 * (#DE: divisor 0 or quotient too large), with nothing changed. MUL and
 * IMUL set CF = OF = "the upper half is significant"; SF, ZF, AF, PF are
 * undefined and left unchanged, and so are all flags after DIV/IDIV.
 */
bool shv_emu_muldiv(struct emu *e, unsigned int op, u64 src, unsigned int size)
{
	unsigned int bits = size * 8;
	u64 m = size_mask(size), a, hi, lo, q, r, ad, bd;
	bool neg_q, neg_r, over;

	src &= m;
	if (op == MD_MUL || op == MD_IMUL) {
		a = e->regs[SHV_EMU_RAX] & m;
		if (op == MD_MUL)
			lo = mul128(a, src, &hi);
		else
			lo = imul128(sext(a, size), sext(src, size), &hi);
		if (size < 8) {
			hi = (lo >> bits) & m;
			lo &= m;
		}
		if (op == MD_MUL)
			over = hi != 0;
		else
			over = (sext(lo, size) >> 63 ? m : 0) != hi;
		set_flags(e, FL_CF | FL_OF, over ? FL_CF | FL_OF : 0);
		if (size == 1)
			reg_set(e, SHV_EMU_RAX, 2, lo | (hi << 8));
		else
			acc_set(e, size, lo, hi);
		return true;
	}
	if (!src)
		return false;
	acc_get(e, size, &hi, &lo);
	if (op == MD_DIV) {
		if (size < 8) {
			q = lo / src;
			r = lo % src;
		} else {
			if (hi >= src)
				return false;
			q = div128(hi, lo, src, &r);
		}
		if (q & ~m)
			return false;
		acc_set(e, size, q, r);
		return true;
	}
	/* IDIV: divide the magnitudes, then apply the signs */
	if (size < 8) {
		s64 sd = (s64)sext(lo, size * 2);

		neg_r = sd < 0;
		ad = neg_r ? -(u64)sd : (u64)sd;
		hi = 0;
		lo = ad;
	} else {
		neg_r = (s64)hi < 0;
		if (neg_r) {
			lo = -lo;
			hi = ~hi + (lo == 0);
		}
	}
	bd = (s64)sext(src, size) < 0 ? -sext(src, size) : sext(src, size);
	neg_q = neg_r != ((s64)sext(src, size) < 0);
	if (hi >= bd)
		return false;
	q = size < 8 ? lo / bd : div128(hi, lo, bd, &r);
	if (size < 8)
		r = lo % bd;
	/* the quotient must fit the signed destination */
	if (q > (neg_q ? 1ULL << (bits - 1) : (1ULL << (bits - 1)) - 1))
		return false;
	acc_set(e, size, neg_q ? -q : q, neg_r ? -r : r);
	return true;
}

/* Two- and three-operand IMUL: a * b truncated to size; CF = OF = lost. */
u64 shv_emu_imul(struct emu *e, u64 a, u64 b, unsigned int size)
{
	u64 hi, lo = imul128(sext(a, size), sext(b, size), &hi);
	bool over;

	if (size < 8)
		over = sext(lo, size) != lo;
	else
		over = ((s64)lo < 0 ? ~0ULL : 0) != hi;
	set_flags(e, FL_CF | FL_OF, over ? FL_CF | FL_OF : 0);
	return lo & size_mask(size);
}
