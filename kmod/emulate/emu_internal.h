/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shadowvm x86 emulator: definitions shared by its files (not by its
 * users, who include emulate.h only).
 *
 * Contract: struct emu is the decoder and execution state of one
 * shv_emulate() call; it lives on that call's stack and dies with it.
 * regs/rflags are the working copy, committed by shv_emu_commit().
 * Layering, each file calling only those below it: emulate.c, then
 * decode.c and string.c, then alu.c, then access.c.
 */
#ifndef _SHADOWVM_EMU_INTERNAL_H
#define _SHADOWVM_EMU_INTERNAL_H

#include "emulate.h"

#define FL_CF		0x0001ULL
#define FL_PF		0x0004ULL
#define FL_AF		0x0010ULL
#define FL_ZF		0x0040ULL
#define FL_SF		0x0080ULL
#define FL_DF		0x0400ULL
#define FL_OF		0x0800ULL
#define FL_ARITH	(FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

/* group-1 ALU operations, in opcode order */
enum { ALU_ADD, ALU_OR, ALU_ADC, ALU_SBB, ALU_AND, ALU_SUB, ALU_XOR, ALU_CMP };
/* bit-test operations, in 0F A3/AB/B3/BB and 0F BA /4../7 order */
enum { BT_BT, BT_BTS, BT_BTR, BT_BTC };
/* shifts and rotates, in C0/C1/D0..D3 /0../7 order (/6 is SAL = SHL) */
enum { SH_ROL, SH_ROR, SH_RCL, SH_RCR, SH_SHL, SH_SHR, SH_SAL, SH_SAR };
/* one-operand multiply and divide, in F6/F7 /4../7 order */
enum { MD_MUL, MD_IMUL, MD_DIV, MD_IDIV };

enum insn_kind {
	K_ALU,		/* sub = ALU_* */
	K_TEST,
	K_MOV,
	K_MOVX,		/* MOVZX/MOVSX/MOVSXD: srcsize, sign */
	K_XCHG,
	K_XADD,
	K_CMPXCHG,
	K_CMPXCHG8B,	/* and CMPXCHG16B */
	K_BT,		/* sub = BT_* */
	K_INC,
	K_DEC,
	K_NOT,
	K_NEG,
	K_SHIFT,	/* sub = SH_*, src = count */
	K_MULDIV,	/* sub = MD_*: rDX:rAX op r/m */
	K_IMUL2,	/* 0F AF, 69, 6B: reg = r/m * (reg or imm) */
	K_PUSH,		/* FF /6: push r/m */
	K_POP,		/* 8F /0: pop r/m */
	K_MOVBE,	/* 0F 38 F0/F1 */
	/* string instructions, from here on */
	K_MOVS,
	K_STOS,
	K_LODS,
	K_CMPS,
	K_SCAS,
};

/* Decoder and execution state: lives on the stack, so keep it small. */
struct emu {
	struct shv_emu_ctxt *c;
	const struct shv_emu_ops *ops;
	void *ctx;
	u64 regs[16];		/* working copy, committed on success */
	u64 rflags;
	u64 ea;			/* effective address of the r/m operand */
	u64 la;			/* its linear address */
	u64 src;		/* source operand value */
	u64 imm;
	unsigned int len;	/* instruction bytes consumed so far */
	u8 mode;
	u8 opsize;		/* 2, 4, 8 */
	u8 adsize;		/* 2, 4, 8 */
	u8 size;		/* main operand size: 1, 2, 4, 8, 16 */
	u8 seg;			/* segment of the r/m (or MOVS source) operand */
	u8 rep;			/* 0, 0xf2 or 0xf3 */
	u8 rex;
	u8 op;			/* opcode byte (after 0F for two-byte opcodes) */
	u8 mod, reg, rm;	/* ModRM fields; reg and rm include REX.R/B */
	u8 dreg;		/* register destination of a register RMW */
	u8 kind;		/* enum insn_kind */
	u8 sub;
	u8 srcsize;		/* K_MOVX */
	bool sign;		/* K_MOVX */
	bool lock;
	bool lockable;
	bool twobyte;
	bool threebyte;		/* 0F 38 */
	bool rsp_base;		/* the r/m address uses rSP as its base */
	bool mem;		/* r/m operand is in memory */
	bool riprel;
	bool reg_dst;		/* ModRM.reg is the destination (x2/x3, 8A/8B) */
	bool src_imm;		/* the source operand is the immediate */
	bool decoded;		/* the whole instruction has been fetched */
};

static inline u64 size_mask(unsigned int size)
{
	switch (size) {
	case 1:
		return 0xffULL;
	case 2:
		return 0xffffULL;
	case 4:
		return 0xffffffffULL;
	default:
		return ~0ULL;
	}
}

static inline u64 sext(u64 v, unsigned int size)
{
	switch (size) {
	case 1:
		return (u64)(s64)(s8)v;
	case 2:
		return (u64)(s64)(s16)v;
	case 4:
		return (u64)(s64)(s32)v;
	default:
		return v;
	}
}

static inline u64 reg_get(const struct emu *e, unsigned int r, unsigned int size)
{
	/* AH, CH, DH, BH: byte registers 4-7 without a REX prefix */
	if (size == 1 && !e->rex && r >= 4 && r < 8)
		return (e->regs[r - 4] >> 8) & 0xff;
	return e->regs[r] & size_mask(size);
}

static inline void reg_set(struct emu *e, unsigned int r, unsigned int size, u64 v)
{
	switch (size) {
	case 1:
		if (!e->rex && r >= 4 && r < 8)
			e->regs[r - 4] = (e->regs[r - 4] & ~0xff00ULL) |
					 ((v & 0xff) << 8);
		else
			e->regs[r] = (e->regs[r] & ~0xffULL) | (v & 0xff);
		break;
	case 2:
		e->regs[r] = (e->regs[r] & ~0xffffULL) | (v & 0xffff);
		break;
	case 4:
		/* a 32-bit register write zero-extends */
		e->regs[r] = (u32)v;
		break;
	default:
		e->regs[r] = v;
		break;
	}
}

static inline void set_flags(struct emu *e, u64 which, u64 val)
{
	e->rflags = (e->rflags & ~which) | (val & which);
}

/* access.c: fetch, addresses, memory, results */
int shv_emu_op_failed(struct emu *e, int ret);
int shv_emu_raise(struct emu *e, u8 vector, bool has_error_code);
int shv_emu_lin_addr(struct emu *e, unsigned int seg, u64 ea,
		     unsigned int len, bool write, u64 *la);
unsigned int shv_emu_stack_size(const struct emu *e);
int shv_emu_read(struct emu *e, u64 la, void *buf, unsigned int len);
int shv_emu_write(struct emu *e, u64 la, const void *buf, unsigned int len);
int shv_emu_cmpxchg(struct emu *e, u64 la, const void *old,
		    const void *new, unsigned int len, bool *swapped);
int shv_emu_fetch(struct emu *e, unsigned int n, u64 *val);
int shv_emu_fetch_sx(struct emu *e, unsigned int n, u64 *val);
void shv_emu_commit(struct emu *e, bool advance);

/* alu.c: values and flags */
u64 shv_emu_flags_szp(u64 res, unsigned int size);
u64 shv_emu_flags_add(u64 a, u64 b, u64 res, unsigned int size);
u64 shv_emu_flags_sub(u64 a, u64 b, u64 res, unsigned int size);
u64 shv_emu_alu(struct emu *e, unsigned int op, u64 a, u64 b, unsigned int size);
bool shv_emu_compute(struct emu *e, const u64 *old, u64 *new);

u64 shv_emu_shift(struct emu *e, unsigned int op, u64 v, unsigned int count,
		  unsigned int size, bool *written);
bool shv_emu_muldiv(struct emu *e, unsigned int op, u64 src, unsigned int size);
u64 shv_emu_imul(struct emu *e, u64 a, u64 b, unsigned int size);

/* decode.c */
int shv_emu_decode(struct emu *e);

/* string.c */
int shv_emu_exec_string(struct emu *e);

#endif /* _SHADOWVM_EMU_INTERNAL_H */
