// SPDX-License-Identifier: GPL-2.0
/*
 * shadowvm x86 instruction emulator.
 *
 * Contract: shv_emulate() emulates exactly one instruction (or a bounded
 * number of iterations of a REP MOVS/STOS) for an MMIO access or a write
 * to a write-protected guest page table. It includes only emulate.h, uses
 * no floating point and no libc beyond memcpy/memset, and builds both in
 * the kernel and in userspace. All guest memory goes through the
 * shv_emu_ops callbacks; registers live in a working copy that is
 * committed to struct shv_emu_ctxt only after every access succeeded, and
 * the memory write is always the last access of an instruction, so a
 * failed or -EAGAIN callback leaves the architectural state untouched and
 * the instruction can simply be run again. Arithmetic flags are computed
 * as the SDM defines them; undefined flags are left unchanged, except AF,
 * which logical operations clear (as current CPUs do).
 */
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
	K_MOVS,
	K_STOS,
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

static u64 reg_get(const struct emu *e, unsigned int r, unsigned int size)
{
	/* AH, CH, DH, BH: byte registers 4-7 without a REX prefix */
	if (size == 1 && !e->rex && r >= 4 && r < 8)
		return (e->regs[r - 4] >> 8) & 0xff;
	return e->regs[r] & size_mask(size);
}

static void reg_set(struct emu *e, unsigned int r, unsigned int size, u64 v)
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

/* ---- flags ---- */

static u64 flags_szp(u64 res, unsigned int size)
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
static u64 flags_add(u64 a, u64 b, u64 res, unsigned int size)
{
	unsigned int msb = size * 8 - 1;
	u64 carry = (a & b) | ((a | b) & ~res);
	u64 f = flags_szp(res, size);

	if ((carry >> msb) & 1)
		f |= FL_CF;
	if ((((a ^ res) & (b ^ res)) >> msb) & 1)
		f |= FL_OF;
	if ((a ^ b ^ res) & 0x10)
		f |= FL_AF;
	return f;
}

/* flags of res = a - b (- borrow in) */
static u64 flags_sub(u64 a, u64 b, u64 res, unsigned int size)
{
	unsigned int msb = size * 8 - 1;
	u64 borrow = (~a & b) | (~(a ^ b) & res);
	u64 f = flags_szp(res, size);

	if ((borrow >> msb) & 1)
		f |= FL_CF;
	if ((((a ^ b) & (a ^ res)) >> msb) & 1)
		f |= FL_OF;
	if ((a ^ b ^ res) & 0x10)
		f |= FL_AF;
	return f;
}

static void set_flags(struct emu *e, u64 which, u64 val)
{
	e->rflags = (e->rflags & ~which) | (val & which);
}

static u64 alu(struct emu *e, unsigned int op, u64 a, u64 b, unsigned int size)
{
	u64 cf = e->rflags & FL_CF;
	u64 res, f;

	switch (op) {
	case ALU_ADD:
		res = a + b;
		f = flags_add(a, b, res, size);
		break;
	case ALU_ADC:
		res = a + b + cf;
		f = flags_add(a, b, res, size);
		break;
	case ALU_SBB:
		res = a - b - cf;
		f = flags_sub(a, b, res, size);
		break;
	case ALU_SUB:
	case ALU_CMP:
		res = a - b;
		f = flags_sub(a, b, res, size);
		break;
	case ALU_OR:
		res = a | b;
		f = flags_szp(res, size);
		break;
	case ALU_AND:
		res = a & b;
		f = flags_szp(res, size);
		break;
	default: /* ALU_XOR */
		res = a ^ b;
		f = flags_szp(res, size);
		break;
	}
	set_flags(e, FL_ARITH, f);
	return res & size_mask(size);
}

/* ---- results, exceptions, memory ---- */

static int op_failed(struct emu *e, int ret)
{
	e->c->op_error = ret;
	return ret == -EAGAIN ? SHV_EMU_RETRY : SHV_EMU_FAULT;
}

static int raise_exc(struct emu *e, u8 vector, bool has_error_code)
{
	e->c->exc_vector = vector;
	e->c->exc_has_error_code = has_error_code;
	e->c->exc_error_code = 0;
	return SHV_EMU_EXCEPTION;
}

static bool canonical(const struct emu *e, u64 la)
{
	unsigned int shift = e->c->la57 ? 7 : 16;

	return (u64)((s64)(la << shift) >> shift) == la;
}

/* Linear address of seg:ea (ea already truncated to the address size). */
static int lin_addr(struct emu *e, unsigned int seg, u64 ea,
		    unsigned int len, u64 *la)
{
	u64 a;

	if (e->mode != SHV_EMU_MODE_LONG64) {
		*la = (u32)(e->c->seg_base[seg] + ea);
		return 0;
	}
	a = ea;
	if (seg == SHV_EMU_SEG_FS || seg == SHV_EMU_SEG_GS)
		a += e->c->seg_base[seg];
	if (!canonical(e, a) || !canonical(e, a + len - 1))
		return raise_exc(e, seg == SHV_EMU_SEG_SS ? SHV_EMU_VEC_SS :
				 SHV_EMU_VEC_GP, true);
	*la = a;
	return 0;
}

static void note_access(struct emu *e, u64 la, unsigned int len, bool write)
{
	e->c->last_la = la;
	e->c->last_len = len;
	e->c->last_write = write;
}

static int mem_read(struct emu *e, u64 la, void *buf, unsigned int len)
{
	int ret;

	note_access(e, la, len, false);
	ret = e->ops->read(e->ctx, la, buf, len);
	return ret ? op_failed(e, ret) : 0;
}

static int mem_write(struct emu *e, u64 la, const void *buf, unsigned int len)
{
	int ret;

	note_access(e, la, len, true);
	ret = e->ops->write(e->ctx, la, buf, len);
	return ret ? op_failed(e, ret) : 0;
}

static int mem_cmpxchg(struct emu *e, u64 la, const void *old,
		       const void *new, unsigned int len, bool *swapped)
{
	int ret;

	note_access(e, la, len, true);
	*swapped = false;
	ret = e->ops->cmpxchg(e->ctx, la, old, new, len, swapped);
	return ret ? op_failed(e, ret) : 0;
}

/* ---- instruction fetch ---- */

static int fetch(struct emu *e, unsigned int n, u64 *val)
{
	struct shv_emu_ctxt *c = e->c;
	unsigned int need = e->len + n;

	if (need > SHV_EMU_MAX_INSN_LEN)
		return raise_exc(e, SHV_EMU_VEC_GP, true);
	while (c->insn_fetched < need) {
		u64 la = c->rip + c->insn_fetched;
		unsigned int chunk;
		int ret;

		if (e->mode != SHV_EMU_MODE_LONG64)
			la = (u32)(la + c->seg_base[SHV_EMU_SEG_CS]);
		/* up to the end of the page: never fetch across it needlessly */
		chunk = 4096 - (unsigned int)(la & 4095);
		if (chunk > SHV_EMU_MAX_INSN_LEN - c->insn_fetched)
			chunk = SHV_EMU_MAX_INSN_LEN - c->insn_fetched;
		ret = e->ops->fetch(e->ctx, la, c->insn + c->insn_fetched, chunk);
		if (ret)
			return op_failed(e, ret);
		c->insn_fetched += chunk;
	}
	*val = 0;
	memcpy(val, c->insn + e->len, n);
	e->len = need;
	return 0;
}

static int fetch_sx(struct emu *e, unsigned int n, u64 *val)
{
	int ret = fetch(e, n, val);

	*val = sext(*val, n);
	return ret;
}

/* ---- decoder ---- */

static int decode_modrm16(struct emu *e, unsigned int rm, u8 *defseg)
{
	const u64 *r = e->regs;
	u64 ea = 0, disp;
	int ret = 0;

	switch (rm) {
	case 0:
		ea = r[SHV_EMU_RBX] + r[SHV_EMU_RSI];
		break;
	case 1:
		ea = r[SHV_EMU_RBX] + r[SHV_EMU_RDI];
		break;
	case 2:
		ea = r[SHV_EMU_RBP] + r[SHV_EMU_RSI];
		*defseg = SHV_EMU_SEG_SS;
		break;
	case 3:
		ea = r[SHV_EMU_RBP] + r[SHV_EMU_RDI];
		*defseg = SHV_EMU_SEG_SS;
		break;
	case 4:
		ea = r[SHV_EMU_RSI];
		break;
	case 5:
		ea = r[SHV_EMU_RDI];
		break;
	case 6:
		if (e->mod == 0) {
			ret = fetch(e, 2, &disp);
			ea = disp;
		} else {
			ea = r[SHV_EMU_RBP];
			*defseg = SHV_EMU_SEG_SS;
		}
		break;
	default:
		ea = r[SHV_EMU_RBX];
		break;
	}
	if (ret)
		return ret;
	if (e->mod == 1) {
		ret = fetch_sx(e, 1, &disp);
		ea += disp;
	} else if (e->mod == 2) {
		ret = fetch(e, 2, &disp);
		ea += disp;
	}
	e->ea = ea;
	return ret;
}

static int decode_modrm(struct emu *e, u8 *defseg)
{
	unsigned int rm, base = 16, index, scale = 0;
	u64 b, sib, disp = 0, ea = 0;
	int ret;

	ret = fetch(e, 1, &b);
	if (ret)
		return ret;
	e->mod = b >> 6;
	e->reg = ((b >> 3) & 7) | ((e->rex & 4) << 1);
	rm = b & 7;
	if (e->mod == 3) {
		e->rm = rm | ((e->rex & 1) << 3);
		return 0;
	}
	e->mem = true;
	if (e->adsize == 2)
		return decode_modrm16(e, rm, defseg);

	if (rm == 4) {
		ret = fetch(e, 1, &sib);
		if (ret)
			return ret;
		scale = sib >> 6;
		index = ((sib >> 3) & 7) | ((e->rex & 2) << 2);
		if (index != 4)
			ea = e->regs[index] << scale;
		if ((sib & 7) == 5 && e->mod == 0)
			ret = fetch_sx(e, 4, &disp);
		else
			base = (sib & 7) | ((e->rex & 1) << 3);
	} else if (rm == 5 && e->mod == 0) {
		ret = fetch_sx(e, 4, &disp);
		/* RIP-relative: fixed up once the length is known */
		e->riprel = e->mode == SHV_EMU_MODE_LONG64;
	} else {
		base = rm | ((e->rex & 1) << 3);
	}
	if (ret)
		return ret;
	if (base < 16) {
		ea += e->regs[base];
		if (base == SHV_EMU_RSP || base == SHV_EMU_RBP)
			*defseg = SHV_EMU_SEG_SS;
	}
	if (e->mod == 1)
		ret = fetch_sx(e, 1, &disp);
	else if (e->mod == 2)
		ret = fetch_sx(e, 4, &disp);
	e->ea = ea + disp;
	return ret;
}

/*
 * Classify the opcode: sets kind/sub/size and whether a ModRM byte and
 * which immediate follow. Group opcodes are refined by classify_group()
 * once ModRM.reg is known.
 */
static int classify(struct emu *e, bool *modrm, unsigned int *immsz)
{
	unsigned int op = e->op;
	bool byteop = !(op & 1);

	*modrm = true;
	*immsz = 0;
	e->size = byteop ? 1 : e->opsize;

	if (e->twobyte) {
		switch (op) {
		case 0xa3: case 0xab: case 0xb3: case 0xbb:
			e->kind = K_BT;
			e->sub = (op >> 3) & 3;
			e->size = e->opsize;
			e->lockable = e->sub != BT_BT;
			return 0;
		case 0xba:
			e->kind = K_BT;
			e->size = e->opsize;
			e->src_imm = true;
			*immsz = 1;
			return 0;
		case 0xb0: case 0xb1:
			e->kind = K_CMPXCHG;
			e->lockable = true;
			return 0;
		case 0xc0: case 0xc1:
			e->kind = K_XADD;
			e->lockable = true;
			return 0;
		case 0xb6: case 0xb7: case 0xbe: case 0xbf:
			e->kind = K_MOVX;
			e->size = e->opsize;
			e->srcsize = (op & 1) ? 2 : 1;
			e->sign = op & 8;
			e->reg_dst = true;
			return 0;
		case 0xc7:
			e->kind = K_CMPXCHG8B;
			e->size = e->rex & 8 ? 16 : 8;
			e->lockable = true;
			return 0;
		default:
			return SHV_EMU_UNHANDLED;
		}
	}

	if (op < 0x40 && (op & 7) < 6) {
		e->kind = K_ALU;
		e->sub = op >> 3;
		switch (op & 7) {
		case 0: case 1:		/* r/m, reg */
			e->lockable = e->sub != ALU_CMP;
			break;
		case 2: case 3:		/* reg, r/m */
			e->reg_dst = true;
			break;
		default:		/* AL/eAX, imm: rm stays 0 = rAX */
			*modrm = false;
			*immsz = e->size == 1 ? 1 : (e->size == 2 ? 2 : 4);
			e->src_imm = true;
			break;
		}
		return 0;
	}

	switch (op) {
	case 0x63:
		if (e->mode != SHV_EMU_MODE_LONG64)
			return SHV_EMU_UNHANDLED;	/* ARPL */
		e->kind = K_MOVX;
		e->size = e->opsize;
		e->srcsize = e->opsize == 2 ? 2 : 4;
		e->sign = true;
		e->reg_dst = true;
		return 0;
	case 0x82:
		if (e->mode == SHV_EMU_MODE_LONG64)
			return SHV_EMU_UNHANDLED;
		*immsz = 1;
		e->kind = K_ALU;
		e->src_imm = true;
		return 0;
	case 0x80: case 0x81: case 0x83:
		e->kind = K_ALU;
		e->src_imm = true;
		*immsz = op == 0x81 ? (e->size == 2 ? 2 : 4) : 1;
		return 0;
	case 0x84: case 0x85:
		e->kind = K_TEST;
		return 0;
	case 0x86: case 0x87:
		e->kind = K_XCHG;
		e->lockable = true;
		return 0;
	case 0x88: case 0x89:
		e->kind = K_MOV;
		return 0;
	case 0x8a: case 0x8b:
		e->kind = K_MOV;
		e->reg_dst = true;
		return 0;
	case 0xa0: case 0xa1: case 0xa2: case 0xa3:
		e->kind = K_MOV;
		e->size = (op & 1) ? e->opsize : 1;
		e->reg_dst = !(op & 2);
		*modrm = false;
		*immsz = e->adsize;	/* moffs */
		return 0;
	case 0xa4: case 0xa5:
		e->kind = K_MOVS;
		*modrm = false;
		return 0;
	case 0xaa: case 0xab:
		e->kind = K_STOS;
		*modrm = false;
		return 0;
	case 0xc6: case 0xc7:
		e->kind = K_MOV;
		*immsz = e->size == 1 ? 1 : (e->size == 2 ? 2 : 4);
		return 0;
	case 0xf6: case 0xf7:
	case 0xfe: case 0xff:
		return 0;		/* refined by classify_group() */
	default:
		return SHV_EMU_UNHANDLED;
	}
}

static int classify_group(struct emu *e, unsigned int *immsz)
{
	unsigned int r = e->reg & 7;

	if (e->twobyte) {
		if (e->op == 0xba) {
			if (r < 4)
				return SHV_EMU_UNHANDLED;
			e->sub = r - 4;
			e->lockable = e->sub != BT_BT;
		} else if (e->op == 0xc7 && r != 1) {
			return SHV_EMU_UNHANDLED;
		}
		return 0;
	}
	switch (e->op) {
	case 0x80: case 0x81: case 0x82: case 0x83:
		e->sub = r;
		e->lockable = r != ALU_CMP;
		return 0;
	case 0xc6: case 0xc7:
		return r ? SHV_EMU_UNHANDLED : 0;
	case 0xf6: case 0xf7:
		switch (r) {
		case 0:
			e->kind = K_TEST;
			e->src_imm = true;
			*immsz = e->size == 1 ? 1 : (e->size == 2 ? 2 : 4);
			return 0;
		case 2:
			e->kind = K_NOT;
			e->lockable = true;
			return 0;
		case 3:
			e->kind = K_NEG;
			e->lockable = true;
			return 0;
		default:
			return SHV_EMU_UNHANDLED;
		}
	case 0xfe: case 0xff:
		if (r > 1)
			return SHV_EMU_UNHANDLED;
		e->kind = r ? K_DEC : K_INC;
		e->lockable = true;
		return 0;
	default:
		return 0;
	}
}

static int decode(struct emu *e)
{
	bool opsz_pfx = false, adsz_pfx = false, seg_ovr = false, modrm;
	unsigned int immsz;
	u8 defseg = SHV_EMU_SEG_DS;
	u64 b;
	int ret;

	for (;;) {
		ret = fetch(e, 1, &b);
		if (ret)
			return ret;
		switch (b) {
		case 0x66:
			opsz_pfx = true;
			break;
		case 0x67:
			adsz_pfx = true;
			break;
		case 0xf0:
			e->lock = true;
			break;
		case 0xf2: case 0xf3:
			e->rep = b;
			break;
		case 0x26: case 0x2e: case 0x36: case 0x3e:
			e->seg = (b >> 3) & 3;
			seg_ovr = true;
			break;
		case 0x64: case 0x65:
			e->seg = SHV_EMU_SEG_FS + (b & 1);
			seg_ovr = true;
			break;
		default:
			if (e->mode == SHV_EMU_MODE_LONG64 && (b & 0xf0) == 0x40) {
				e->rex = b;	/* counts only right before the opcode */
				continue;
			}
			goto opcode;
		}
		e->rex = 0;
	}
opcode:
	if (e->mode == SHV_EMU_MODE_LONG64) {
		e->opsize = e->rex & 8 ? 8 : (opsz_pfx ? 2 : 4);
		e->adsize = adsz_pfx ? 4 : 8;
	} else if (e->mode == SHV_EMU_MODE_PROT32) {
		e->opsize = opsz_pfx ? 2 : 4;
		e->adsize = adsz_pfx ? 2 : 4;
	} else {
		e->opsize = opsz_pfx ? 4 : 2;
		e->adsize = adsz_pfx ? 4 : 2;
	}
	if (b == 0x0f) {
		e->twobyte = true;
		ret = fetch(e, 1, &b);
		if (ret)
			return ret;
	}
	e->op = b;

	ret = classify(e, &modrm, &immsz);
	if (ret)
		return ret;
	if (modrm) {
		ret = decode_modrm(e, &defseg);
		if (ret)
			return ret;
		ret = classify_group(e, &immsz);
		if (ret)
			return ret;
	}
	if (immsz) {
		if (!modrm && e->kind == K_MOV) {	/* moffs */
			ret = fetch(e, immsz, &e->ea);
			e->mem = true;
		} else {
			ret = fetch_sx(e, immsz, &e->imm);
		}
		if (ret)
			return ret;
	}
	if (e->riprel)
		e->ea += e->c->rip + e->len;
	e->ea &= size_mask(e->adsize);
	if (!seg_ovr)
		e->seg = defseg;
	e->decoded = true;

	if (e->lock && (!e->mem || !e->lockable))
		return raise_exc(e, SHV_EMU_VEC_UD, false);
	if (e->kind == K_CMPXCHG8B && !e->mem)
		return raise_exc(e, SHV_EMU_VEC_UD, false);
	return 0;
}

/* ---- execution ---- */

static u64 next_rip(const struct emu *e)
{
	u64 rip = e->c->rip + e->len;

	if (e->mode == SHV_EMU_MODE_PROT16)
		return rip & 0xffff;
	if (e->mode == SHV_EMU_MODE_PROT32)
		return (u32)rip;
	return rip;
}

static void commit(struct emu *e, bool advance)
{
	memcpy(e->c->regs, e->regs, sizeof(e->regs));
	e->c->rflags = e->rflags;
	if (advance)
		e->c->rip = next_rip(e);
}

/*
 * Compute the new value of the destination from its old value (old[1]
 * and new[1] are the high halves for CMPXCHG16B/8B), setting flags and
 * register outputs in the working copy. Returns whether the destination
 * is written. Must depend only on old, e->src and the working copy as it
 * was before the instruction: the locked path calls it again on a retry.
 */
static bool compute(struct emu *e, const u64 *old, u64 *new)
{
	unsigned int size = e->size, bit;
	u64 acc, lo, hi, m;

	switch (e->kind) {
	case K_ALU:
		new[0] = alu(e, e->sub, old[0], e->src, size);
		return e->sub != ALU_CMP;
	case K_TEST:
		alu(e, ALU_AND, old[0], e->src, size);
		return false;
	case K_XCHG:
		reg_set(e, e->reg, size, old[0]);
		new[0] = e->src;
		return true;
	case K_XADD:
		new[0] = alu(e, ALU_ADD, old[0], e->src, size);
		reg_set(e, e->reg, size, old[0]);
		return true;
	case K_CMPXCHG:
		acc = reg_get(e, SHV_EMU_RAX, size);
		set_flags(e, FL_ARITH, flags_sub(acc, old[0], acc - old[0], size));
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
		set_flags(e, FL_ARITH & ~FL_CF, flags_add(old[0], 1, new[0], size));
		return true;
	case K_DEC:
		new[0] = (old[0] - 1) & size_mask(size);
		set_flags(e, FL_ARITH & ~FL_CF, flags_sub(old[0], 1, new[0], size));
		return true;
	case K_NOT:
		new[0] = ~old[0] & size_mask(size);
		return true;
	default: /* K_NEG */
		new[0] = (0 - old[0]) & size_mask(size);
		set_flags(e, FL_ARITH, flags_sub(0, old[0], new[0], size));
		return true;
	}
}

/* Read-modify-write of the r/m destination (or of register e->dreg). */
static int exec_rmw(struct emu *e)
{
	const struct shv_emu_ctxt *c = e->c;
	unsigned int size = e->size, i;
	u64 old[2], new[2];
	bool swapped;
	int ret;

	if (!e->mem) {
		old[0] = reg_get(e, e->dreg, size);
		if (compute(e, old, new))
			reg_set(e, e->dreg, size, new[0]);
		return 0;
	}

	if (!(e->lock || e->kind == K_XCHG) || !e->ops->cmpxchg) {
		old[0] = 0;
		old[1] = 0;
		ret = mem_read(e, e->la, old, size);
		if (ret)
			return ret;
		new[0] = 0;
		new[1] = 0;
		if (!compute(e, old, new))
			return 0;
		return mem_write(e, e->la, new, size);
	}

	/* locked: read, compute, compare-exchange; again if we lost a race */
	for (i = 0; i < SHV_EMU_CMPXCHG_TRIES; i++) {
		memcpy(e->regs, c->regs, sizeof(e->regs));
		e->rflags = c->rflags;
		old[0] = 0;
		old[1] = 0;
		ret = mem_read(e, e->la, old, size);
		if (ret)
			return ret;
		new[0] = 0;
		new[1] = 0;
		compute(e, old, new);
		ret = mem_cmpxchg(e, e->la, old, new, size, &swapped);
		if (ret)
			return ret;
		if (swapped)
			return 0;
	}
	e->c->op_error = 0;
	return SHV_EMU_RETRY;
}

static int exec_mov(struct emu *e)
{
	unsigned int size = e->size;
	u64 v = 0;
	int ret;

	if (e->reg_dst) {
		if (e->mem) {
			ret = mem_read(e, e->la, &v, size);
			if (ret)
				return ret;
		} else {
			v = reg_get(e, e->rm, size);
		}
		reg_set(e, e->reg, size, v);
		return 0;
	}
	v = e->op >= 0xc6 ? e->imm : reg_get(e, e->reg, size);
	if (e->mem)
		return mem_write(e, e->la, &v, size);
	reg_set(e, e->rm, size, v);
	return 0;
}

static int exec_movx(struct emu *e)
{
	u64 v = 0;
	int ret;

	if (e->mem) {
		ret = mem_read(e, e->la, &v, e->srcsize);
		if (ret)
			return ret;
	} else {
		v = reg_get(e, e->rm, e->srcsize);
	}
	if (e->sign)
		v = sext(v, e->srcsize);
	reg_set(e, e->reg, e->size, v);
	return 0;
}

static void addr_reg_add(struct emu *e, unsigned int r, u64 delta)
{
	reg_set(e, r, e->adsize, e->regs[r] + delta);
}

/* MOVS/STOS: each iteration is committed as it completes. */
static int exec_string(struct emu *e)
{
	unsigned int size = e->size, done, n = 1;
	u64 amask = size_mask(e->adsize);
	u64 step = e->rflags & FL_DF ? -(u64)size : size;
	u64 count = 0, la, v;
	int ret = 0;

	if (e->rep) {
		count = e->regs[SHV_EMU_RCX] & amask;
		if (!count) {
			/*
			 * Intel zero-extends the 32-bit address registers
			 * even when there is nothing to do (AMD does not);
			 * shadowvm runs on Intel.
			 */
			if (e->adsize == 4) {
				if (e->kind == K_MOVS)
					addr_reg_add(e, SHV_EMU_RSI, 0);
				addr_reg_add(e, SHV_EMU_RDI, 0);
			}
			commit(e, true);
			return SHV_EMU_OK;
		}
		n = e->c->rep_max ? e->c->rep_max : 1;
		if (count < n)
			n = (unsigned int)count;
	}
	for (done = 0; done < n; done++) {
		v = 0;
		if (e->kind == K_MOVS) {
			ret = lin_addr(e, e->seg, e->regs[SHV_EMU_RSI] & amask,
				       size, &la);
			if (!ret)
				ret = mem_read(e, la, &v, size);
		} else {
			v = e->regs[SHV_EMU_RAX];
		}
		if (!ret)
			ret = lin_addr(e, SHV_EMU_SEG_ES,
				       e->regs[SHV_EMU_RDI] & amask, size, &la);
		if (!ret)
			ret = mem_write(e, la, &v, size);
		if (ret)
			break;
		if (e->kind == K_MOVS)
			addr_reg_add(e, SHV_EMU_RSI, step);
		addr_reg_add(e, SHV_EMU_RDI, step);
		if (e->rep)
			addr_reg_add(e, SHV_EMU_RCX, -1ULL);
	}
	if (ret) {
		if (done)
			commit(e, false);
		return ret;
	}
	commit(e, !e->rep || !(e->regs[SHV_EMU_RCX] & amask));
	return SHV_EMU_OK;
}

static int execute(struct emu *e)
{
	unsigned int bits = e->size * 8;
	s64 off;
	int ret;

	if (e->kind == K_MOVS || e->kind == K_STOS)
		return exec_string(e);

	/* source operand */
	switch (e->kind) {
	case K_ALU:
	case K_TEST:
	case K_BT:
		if (e->reg_dst) {	/* reg op= r/m: the r/m is the source */
			e->src = 0;
			if (e->mem) {
				ret = lin_addr(e, e->seg, e->ea, e->size, &e->la);
				if (!ret)
					ret = mem_read(e, e->la, &e->src, e->size);
				if (ret)
					return ret;
			} else {
				e->src = reg_get(e, e->rm, e->size);
			}
			e->mem = false;
			e->dreg = e->reg;
			break;
		}
		if (e->src_imm)
			e->src = e->imm & size_mask(e->size);
		else
			e->src = reg_get(e, e->reg, e->size);
		break;
	case K_XCHG:
	case K_XADD:
	case K_CMPXCHG:
		e->src = reg_get(e, e->reg, e->size);
		break;
	default:
		break;
	}

	/* BT with a register bit offset can address beyond the operand */
	if (e->kind == K_BT && e->mem && e->op != 0xba) {
		off = (s64)sext(e->src, e->size);
		off &= -(s64)bits;
		e->ea = (e->ea + (u64)(off / 8)) & size_mask(e->adsize);
	}

	if (e->mem) {
		ret = lin_addr(e, e->seg, e->ea,
			       e->kind == K_MOVX ? e->srcsize : e->size, &e->la);
		if (ret)
			return ret;
		if (e->kind == K_CMPXCHG8B && e->size == 16 && (e->la & 15))
			return raise_exc(e, SHV_EMU_VEC_GP, true);
	} else if (!e->reg_dst) {
		e->dreg = e->rm;
	}

	switch (e->kind) {
	case K_MOV:
		ret = exec_mov(e);
		break;
	case K_MOVX:
		ret = exec_movx(e);
		break;
	default:
		ret = exec_rmw(e);
		break;
	}
	if (ret)
		return ret;
	commit(e, true);
	return SHV_EMU_OK;
}

enum shv_emu_result shv_emulate(struct shv_emu_ctxt *c,
				const struct shv_emu_ops *ops, void *ctx)
{
	struct emu e;
	int ret;

	memset(&e, 0, sizeof(e));
	e.c = c;
	e.ops = ops;
	e.ctx = ctx;
	e.mode = c->mode;
	memcpy(e.regs, c->regs, sizeof(e.regs));
	e.rflags = c->rflags;

	c->insn_len = 0;
	c->insn_fetched = 0;
	c->last_la = 0;
	c->last_len = 0;
	c->last_write = false;
	c->op_error = 0;
	c->exc_vector = 0;
	c->exc_has_error_code = false;
	c->exc_error_code = 0;

	if (e.mode != SHV_EMU_MODE_PROT16 && e.mode != SHV_EMU_MODE_PROT32 &&
	    e.mode != SHV_EMU_MODE_LONG64)
		return SHV_EMU_UNHANDLED;

	ret = decode(&e);
	if (e.decoded)
		c->insn_len = e.len;
	if (ret)
		return ret;
	return execute(&e);
}
