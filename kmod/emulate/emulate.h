/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shadowvm x86 instruction emulator: the subset needed for MMIO accesses
 * and for writes to write-protected guest page tables.
 *
 * Contract: shv_emulate() decodes one instruction at CS.base + RIP and
 * executes it against the register state in struct shv_emu_ctxt, doing
 * every instruction fetch and data access through struct shv_emu_ops.
 * It never touches guest memory, the MMU or the vCPU directly, so it is
 * freestanding C that builds both in the kernel and in userspace (for
 * selftests/emulator_test.c). Registers are committed only when every
 * memory access succeeded, and the memory write is always the last access,
 * so an instruction can be abandoned and re-run from scratch after any
 * callback failure (the one exception, REP string instructions, is
 * documented at SHV_EMU_FAULT).
 *
 * Not the emulator's business (the caller's): page-level translation and
 * its #PF, CPL/IOPL, alignment checks (EFLAGS.AC), and RFLAGS.TF/RF or
 * debug-register traps after an emulated instruction. Segment limits and
 * access rights are checked when the caller passes them (seg_checks).
 */
#ifndef _SHADOWVM_EMULATE_H
#define _SHADOWVM_EMULATE_H

#ifdef __KERNEL__
#include <linux/types.h>
#include <linux/string.h>
#include <linux/errno.h>
#else
#include <stdint.h>
#include <stdbool.h>
#include <string.h>
#include <errno.h>
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;	/* same type as the kernel's u64 */
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long long s64;
#endif

/* shv_emu_ctxt.mode: the default operand/address size of the code segment */
#define SHV_EMU_MODE_PROT16	0	/* real mode, VM86, 16-bit protected mode */
#define SHV_EMU_MODE_PROT32	1	/* 32-bit protected or compatibility mode */
#define SHV_EMU_MODE_LONG64	2	/* 64-bit code segment (CS.L = 1) */

/* shv_emu_ctxt.seg_base[] index: hardware segment register order */
#define SHV_EMU_SEG_ES	0
#define SHV_EMU_SEG_CS	1
#define SHV_EMU_SEG_SS	2
#define SHV_EMU_SEG_DS	3
#define SHV_EMU_SEG_FS	4
#define SHV_EMU_SEG_GS	5
#define SHV_EMU_NR_SEGS	6

/* shv_emu_ctxt.regs[] index: hardware register order */
#define SHV_EMU_RAX	0
#define SHV_EMU_RCX	1
#define SHV_EMU_RDX	2
#define SHV_EMU_RBX	3
#define SHV_EMU_RSP	4
#define SHV_EMU_RBP	5
#define SHV_EMU_RSI	6
#define SHV_EMU_RDI	7

/* shv_emu_ctxt.seg_ar[] bits: the VMCS guest segment access-rights format */
#define SHV_EMU_AR_TYPE		0x0000f
#define SHV_EMU_AR_TYPE_RW	0x00002	/* data: writable; code: readable */
#define SHV_EMU_AR_TYPE_DOWN	0x00004	/* data: expand-down */
#define SHV_EMU_AR_TYPE_CODE	0x00008
#define SHV_EMU_AR_DB		0x04000
#define SHV_EMU_AR_UNUSABLE	0x10000

/* Exception vectors shv_emulate() can report with SHV_EMU_EXCEPTION */
#define SHV_EMU_VEC_DE	0
#define SHV_EMU_VEC_UD	6
#define SHV_EMU_VEC_SS	12
#define SHV_EMU_VEC_GP	13

/* An instruction is at most this long (longer: #GP(0)) */
#define SHV_EMU_MAX_INSN_LEN	15

/* A locked read-modify-write gives up after losing this many races */
#define SHV_EMU_CMPXCHG_TRIES	64

/* Return values of shv_emulate() */
enum shv_emu_result {
	/*
	 * Done: regs, rip and rflags updated (rip is left unchanged by a REP
	 * string instruction that is not finished: count not yet zero and,
	 * for REPE/REPNE CMPS/SCAS, the condition still holds; the caller
	 * re-enters the guest, which executes it again).
	 */
	SHV_EMU_OK = 0,
	/* Opcode not emulated (insn_len = 0): report an internal error. */
	SHV_EMU_UNHANDLED,
	/*
	 * A callback returned an error other than -EAGAIN (in op_error):
	 * inject the fault the callback recorded. Nothing was committed,
	 * except that a REP string instruction keeps the iterations it
	 * completed before the fault (rSI/rDI/rCX updated, rip unchanged),
	 * exactly as the CPU does, so always copy regs back.
	 */
	SHV_EMU_FAULT,
	/*
	 * Nothing committed (same REP exception as above); run the whole
	 * instruction again later. Either a callback returned -EAGAIN
	 * (op_error = -EAGAIN; e.g. an MMIO read went to userspace), or a
	 * locked read-modify-write lost its compare-exchange race
	 * SHV_EMU_CMPXCHG_TRIES times in a row (op_error = 0; just resume
	 * the guest, which re-executes the instruction).
	 */
	SHV_EMU_RETRY,
	/*
	 * The instruction raises an exception the emulator detected itself
	 * (#UD: LOCK misuse, CMPXCHG8B or MOVBE with a register operand;
	 * #DE: divide error; #GP(0):
	 * over-long instruction, misaligned CMPXCHG16B, non-canonical
	 * address or segment violation; #SS(0): the same for the stack
	 * segment): inject exc_vector
	 * with error code exc_error_code if exc_has_error_code. Nothing
	 * committed (same REP exception as above).
	 */
	SHV_EMU_EXCEPTION,
};

struct shv_emu_ops {
	/*
	 * Read len instruction bytes at linear address la (CS.base + rip
	 * already applied). The emulator asks for up to 15 bytes but never
	 * past the end of the 4 KiB page, and reads the next page only when
	 * the instruction really extends into it.
	 */
	int (*fetch)(void *ctx, u64 la, void *buf, unsigned int len);
	/*
	 * Data accesses at a linear address, with la and len (1, 2, 4, 8 or
	 * 16) exactly as the instruction accesses them, possibly misaligned
	 * and crossing a page: the caller translates through the guest's
	 * paging, checks permissions and does MMIO or page-table-write
	 * handling. A failing write must not have written anything.
	 */
	int (*read)(void *ctx, u64 la, void *buf, unsigned int len);
	int (*write)(void *ctx, u64 la, const void *buf, unsigned int len);
	/*
	 * Atomically: if the len bytes at la equal old, replace them with
	 * new and set *swapped, else clear *swapped. Returns 0 or an error
	 * like write(). Used for LOCK-prefixed and implicitly locked (XCHG)
	 * instructions. May be NULL: locked instructions are then done as a
	 * plain read and write (fine for a single vCPU).
	 */
	int (*cmpxchg_op)(void *ctx, u64 la, const void *old, const void *new,
		       unsigned int len, bool *swapped);
};

struct shv_emu_ctxt {
	/* ---- input; regs, rip and rflags are also the output ---- */
	u64 regs[16];		/* RAX..R15, SHV_EMU_R* order */
	u64 rip;
	u64 rflags;
	int mode;		/* SHV_EMU_MODE_* */
	/*
	 * Segment bases, SHV_EMU_SEG_* order. In 64-bit mode only FS and GS
	 * are used (the others count as 0). Limits and access rights are not
	 * checked: the caller must refuse to emulate with unusual segments.
	 */
	u64 seg_base[SHV_EMU_NR_SEGS];
	/*
	 * Outside 64-bit mode, with seg_checks: the segments' byte-granular
	 * limits and access rights (VMCS format, SHV_EMU_AR_*) are checked
	 * on every data access (#GP(0), or #SS(0) for SS). Without it, and
	 * in 64-bit mode, only the canonical checks are done.
	 */
	u32 seg_limit[SHV_EMU_NR_SEGS];
	u32 seg_ar[SHV_EMU_NR_SEGS];
	bool seg_checks;
	/*
	 * Most iterations of a REP string instruction done in one call (0 counts
	 * as 1). Each iteration is committed as it completes.
	 */
	unsigned int rep_max;
	/* 5-level paging is on (CR4.LA57): canonical addresses have 57 bits */
	bool la57;

	/* ---- output ---- */
	/* length of the instruction; 0 if it could not be fully decoded */
	unsigned int insn_len;
	/* the decoded instruction is a string instruction (for counters) */
	bool string_op;
	/* the instruction bytes fetched (for error reports) */
	u8 insn[SHV_EMU_MAX_INSN_LEN];
	unsigned int insn_fetched;
	/*
	 * The last data access issued (on FAULT/RETRY: the one that failed;
	 * a compare-exchange counts as a write); last_len = 0 if none.
	 */
	u64 last_la;
	unsigned int last_len;
	bool last_write;
	/* SHV_EMU_FAULT/RETRY: the callback's return value */
	int op_error;
	/* SHV_EMU_EXCEPTION */
	u8 exc_vector;
	bool exc_has_error_code;
	u32 exc_error_code;
};

enum shv_emu_result shv_emulate(struct shv_emu_ctxt *c,
				const struct shv_emu_ops *ops, void *ctx);

#endif /* _SHADOWVM_EMULATE_H */
