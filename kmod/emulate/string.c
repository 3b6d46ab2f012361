// SPDX-License-Identifier: GPL-2.0
/*
 * shadowvm x86 emulator: string instructions (MOVS, STOS, LODS, CMPS,
 * SCAS) with and without REP/REPE/REPNE.
 *
 * Contract: shv_emu_exec_string() runs up to ctxt.rep_max iterations of
 * a decoded string instruction, committing each completed iteration
 * (rSI/rDI/rCX, rAX for LODS, flags for CMPS/SCAS) as the CPU does, so
 * that a fault or an MMIO exit in the middle of a REP keeps the progress
 * made and the instruction resumes where it stopped; rip advances only
 * when the instruction is finished: no REP, rCX reached 0, or (CMPS,
 * SCAS) the REPE/REPNE condition failed. Addresses use the address size
 * (16/32/64 bits of rSI/rDI/rCX), the source segment may be overridden,
 * the destination is always ES:rDI; DF selects the direction. Uses
 * access.c for memory and alu.c for flags.
 */
#include "emu_internal.h"

static void addr_reg_add(struct emu *e, unsigned int r, u64 delta)
{
	reg_set(e, r, e->adsize, e->regs[r] + delta);
}

/* One iteration, on the working copy; nothing changed if it fails. */
static int string_once(struct emu *e, u64 step)
{
	unsigned int size = e->size, kind = e->kind;
	u64 amask = size_mask(e->adsize), la, v = 0, w = 0;
	bool uses_si = kind == K_MOVS || kind == K_LODS || kind == K_CMPS;
	int ret;

	if (uses_si) {
		ret = shv_emu_lin_addr(e, e->seg, e->regs[SHV_EMU_RSI] & amask,
				       size, false, &la);
		if (!ret)
			ret = shv_emu_read(e, la, &v, size);
		if (ret)
			return ret;
	}
	if (kind != K_LODS) {
		ret = shv_emu_lin_addr(e, SHV_EMU_SEG_ES,
				       e->regs[SHV_EMU_RDI] & amask, size,
				       kind == K_MOVS || kind == K_STOS, &la);
		if (ret)
			return ret;
	}
	switch (kind) {
	case K_MOVS:
		ret = shv_emu_write(e, la, &v, size);
		break;
	case K_STOS:
		v = e->regs[SHV_EMU_RAX];
		ret = shv_emu_write(e, la, &v, size);
		break;
	case K_LODS:
		reg_set(e, SHV_EMU_RAX, size, v);
		ret = 0;
		break;
	case K_CMPS:
		ret = shv_emu_read(e, la, &w, size);
		if (!ret)
			shv_emu_alu(e, ALU_CMP, v, w, size);
		break;
	default: /* K_SCAS */
		ret = shv_emu_read(e, la, &w, size);
		if (!ret)
			shv_emu_alu(e, ALU_CMP, reg_get(e, SHV_EMU_RAX, size), w, size);
		break;
	}
	if (ret)
		return ret;
	if (uses_si)
		addr_reg_add(e, SHV_EMU_RSI, step);
	if (kind != K_LODS)
		addr_reg_add(e, SHV_EMU_RDI, step);
	return 0;
}

int shv_emu_exec_string(struct emu *e)
{
	unsigned int size = e->size, kind = e->kind, done, n = 1;
	u64 amask = size_mask(e->adsize);
	u64 step = e->rflags & FL_DF ? -(u64)size : size;
	bool cond = kind == K_CMPS || kind == K_SCAS, stop = false;
	u64 count = 0;
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
				if (kind == K_MOVS || kind == K_LODS || kind == K_CMPS)
					addr_reg_add(e, SHV_EMU_RSI, 0);
				if (kind != K_LODS)
					addr_reg_add(e, SHV_EMU_RDI, 0);
			}
			shv_emu_commit(e, true);
			return SHV_EMU_OK;
		}
		n = e->c->rep_max ? e->c->rep_max : 1;
		if (count < n)
			n = (unsigned int)count;
	}
	for (done = 0; done < n && !stop; done++) {
		ret = string_once(e, step);
		if (ret)
			break;
		if (!e->rep)
			continue;
		addr_reg_add(e, SHV_EMU_RCX, -1ULL);
		/* REPE (F3, odd) ends on ZF = 0, REPNE (F2) on ZF = 1 */
		if (cond && !!(e->rflags & FL_ZF) != !!(e->rep & 1))
			stop = true;
	}
	if (ret) {
		if (done)
			shv_emu_commit(e, false);
		return ret;
	}
	shv_emu_commit(e, !e->rep || stop || !(e->regs[SHV_EMU_RCX] & amask));
	return SHV_EMU_OK;
}
