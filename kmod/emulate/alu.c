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
	default: /* K_NEG */
		new[0] = (0 - old[0]) & size_mask(size);
		set_flags(e, FL_ARITH, shv_emu_flags_sub(0, old[0], new[0], size));
		return true;
	}
}

/* Read-modify-write of the r/m destination (or of register e->dreg). */
