// SPDX-License-Identifier: GPL-2.0
/*
 * mmio_emul_test: every instruction form compilers and string routines
 * use for device access, executed by a long-mode guest against an MMIO
 * region that this test serves (SHADOWVM_EXIT_MMIO), compared with the
 * same guest code run by the CPU on the same bytes in RAM.
 *
 * Linear layout (BASE = 0xd0000000): P0 RAM, P1 and P2 MMIO, P3 RAM, P4
 * MMIO, P5 not present. Run "mmio" maps P1, P2, P4 to guest-physical
 * addresses without a memory slot (the test is the device: a byte array
 * with the same initial contents); run "ram" maps them to RAM, so the CPU
 * executes everything natively. Each program stores the defined flags and
 * rAX, rCX, rDX, rSI, rDI, rBP, R8 after each instruction in a results
 * area; the test asserts that both runs end the same way (HLT, or the same
 * exception with the same error code, CR2 and RIP), with the same results,
 * registers and final memory, that the mmio run really exited to
 * userspace, and some values outright:
 *   - main: MOV/MOVZX/MOVSX/MOVSXD/moffs, ALU r/m forms (ADD..CMP, TEST,
 *     INC/DEC/NOT/NEG), shifts and rotates by 1/CL/imm, XCHG/XADD/
 *     CMPXCHG/CMPXCHG8B (LOCK too), BT/BTS/BTR/BTC with immediate and
 *     register (bit-string) offsets, MUL/IMUL/DIV/IDIV and IMUL r,m(,imm),
 *     PUSH/POP m, REP MOVS/STOS/LODS in every direction (MMIO<->RAM,
 *     MMIO->MMIO, DF=1, 32-bit address size), REPE CMPSB with one operand
 *     in MMIO (stops at the first difference), REPNE SCASB in MMIO, and
 *     accesses crossing RAM|MMIO, MMIO|MMIO and MMIO|RAM page boundaries;
 *   - de: DIV by a zero read from MMIO is #DE (vector 0);
 *   - pf_movs: MOVSB from MMIO to a not-present page: #PF, error code W
 *     (0x2), CR2 = the destination;
 *   - pf_split: a 4-byte write crossing MMIO|not-present: #PF, error code
 *     0x2, CR2 = the first byte of the missing page, nothing written;
 *   - pf_cmps: REPE CMPSB walking from MMIO into the missing page: #PF
 *     with the iterations before it kept (RCX/RSI/RDI);
 *   - opt: CMPXCHG16B and MOVBE on MMIO (compared only if the CPU has
 *     them: #UD in the ram run is accepted when the mmio run agrees);
 *   - prot32: in 32-bit protected mode, MOVSB from MMIO to an ES segment
 *     that is too short, read-only or expand-down: #GP(0) from the
 *     emulator's segment checks, like the CPU's.
 */
#include <errno.h>
#include <string.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "guest_paging.h"

#define MEM_SIZE	(8u << 20)
#define BASE		0xd0000000ULL
#define NPAGES		5		/* P0..P4; P5 is not present */
#define RAM_FRAMES	GRT_FREE	/* P0..P4 in the ram run */
#define CODE		GRT_SCRATCH
#define FL_ALL		0x8d5
#define FL_LOGIC	0x8c5		/* AF undefined */
#define FL_DF		0x400
#define STR(x)		#x
#define XSTR(x)		STR(x)

/* after an instruction: push the defined-flags mask, call the saver */
#define SAVE(m)		"pushq $" #m "\n\tcall mmioemu_save\n\t"
#define ALU(op, m)							\
	op "q %rdx, 56(%rbx)\n\t" SAVE(m)				\
	op "q 64(%rbx), %rax\n\t" SAVE(m)				\
	op "l $0x7fffffff, 72(%rbx)\n\t" SAVE(m)			\
	op "b $0x80, 80(%rbx)\n\t" SAVE(m)				\
	op "w $-3, 82(%rbx)\n\t" SAVE(m)

GUEST_CODE(mmioemu,
	".code64\n\t"
	"mov $" XSTR(GRT_RES) ", %r15\n\t"
	"mov $0xd0001100, %ebx\n\t"		/* P1: MMIO in the mmio run */
	"mov $0x8877665544332211, %rax\n\t"
	"mov $0x0123456789abcdef, %rdx\n\t"
	"mov $5, %ecx\n\t"
	"cmp $1, %edi\n\t"
	"je mmioemu_de\n\t"
	"cmp $2, %edi\n\t"
	"je mmioemu_pf_movs\n\t"
	"cmp $3, %edi\n\t"
	"je mmioemu_pf_split\n\t"
	"cmp $4, %edi\n\t"
	"je mmioemu_pf_cmps\n\t"
	"cmp $5, %edi\n\t"
	"je mmioemu_opt\n\t"
	/* ---- MOV family ---- */
	"mov (%rbx), %eax\n\t" SAVE(0)
	"mov (%rbx), %rax\n\t" SAVE(0)
	"movzbl 1(%rbx), %ecx\n\t" SAVE(0)
	"movsbq 2(%rbx), %rcx\n\t" SAVE(0)
	"movzwl 3(%rbx), %ecx\n\t" SAVE(0)
	"movswq 5(%rbx), %rcx\n\t" SAVE(0)
	"movslq 8(%rbx), %rcx\n\t" SAVE(0)
	"mov 7(%rbx), %cl\n\t" SAVE(0)
	"mov 9(%rbx), %ch\n\t" SAVE(0)
	"mov %dx, 16(%rbx)\n\t"
	"mov 16(%rbx), %rcx\n\t" SAVE(0)
	"movb $0x5a, 24(%rbx)\n\t"
	"movl $0x12345678, 32(%rbx)\n\t"
	"movq $-2, 40(%rbx)\n\t"
	"mov %rdx, 48(%rbx)\n\t"
	"mov %dh, 25(%rbx)\n\t"
	"movabs 0xd0001108, %eax\n\t" SAVE(0)
	"movabs %al, 0xd000113f\n\t"
	"mov 24(%rbx), %rcx\n\t" SAVE(0)
	"mov 32(%rbx), %rcx\n\t" SAVE(0)
	"mov 40(%rbx), %rcx\n\t" SAVE(0)
	"mov 48(%rbx), %rcx\n\t" SAVE(0)
	/* ---- ALU with memory ---- */
	ALU("add", 0x8d5) ALU("or", 0x8c5) ALU("adc", 0x8d5) ALU("sbb", 0x8d5)
	ALU("and", 0x8c5) ALU("sub", 0x8d5) ALU("xor", 0x8c5) ALU("cmp", 0x8d5)
	"test %edx, 88(%rbx)\n\t" SAVE(0x8c5)
	"testb $0x81, 89(%rbx)\n\t" SAVE(0x8c5)
	"incl 90(%rbx)\n\t" SAVE(0x8d5)
	"decw 92(%rbx)\n\t" SAVE(0x8d5)
	"notq 96(%rbx)\n\t" SAVE(0x8d5)
	"negb 104(%rbx)\n\t" SAVE(0x8d5)
	"lock addl %edx, 108(%rbx)\n\t" SAVE(0x8d5)
	"lock incq 96(%rbx)\n\t" SAVE(0x8d5)
	/* ---- shifts and rotates: by 1, CL (5), imm ---- */
	"shll 112(%rbx)\n\t" SAVE(0x8c5)
	"shrq $3, 120(%rbx)\n\t" SAVE(0xc5)
	"sarb %cl, 128(%rbx)\n\t" SAVE(0xc5)
	"roll $7, 132(%rbx)\n\t" SAVE(0xd5)
	"rorw 136(%rbx)\n\t" SAVE(0x8d5)
	"rclq $1, 138(%rbx)\n\t" SAVE(0x8d5)
	"rcrl %cl, 140(%rbx)\n\t" SAVE(0xd5)
	"salw $4, 142(%rbx)\n\t" SAVE(0xc5)
	/* ---- exchange and compare-exchange ---- */
	"xchg %rax, 144(%rbx)\n\t" SAVE(0)
	"xaddl %edx, 152(%rbx)\n\t" SAVE(0x8d5)
	"lock xaddw %dx, 156(%rbx)\n\t" SAVE(0x8d5)
	"mov 160(%rbx), %rax\n\t"
	"lock cmpxchg %rcx, 160(%rbx)\n\t" SAVE(0x8d5)	/* equal: swapped */
	"cmpxchg %rdx, 160(%rbx)\n\t" SAVE(0x8d5)	/* differs: loads rax */
	"mov 168(%rbx), %eax\n\t"
	"mov 172(%rbx), %edx\n\t"
	"mov $0x11112222, %ebp\n\t"
	"mov %ebp, %r8d\n\t"
	"push %rbx\n\t"
	"push %rcx\n\t"
	"mov $0x33334444, %ebx\n\t"
	"mov $0x55556666, %ecx\n\t"
	"mov $0xd00011a8, %r9d\n\t"
	"lock cmpxchg8b (%r9)\n\t"
	"pop %rcx\n\t"
	"pop %rbx\n\t" SAVE(0x40)
	"mov 168(%rbx), %rcx\n\t" SAVE(0)
	/* ---- bit tests ---- */
	"btl $5, 184(%rbx)\n\t" SAVE(1)
	"btsq $33, 184(%rbx)\n\t" SAVE(1)
	"mov $100, %ecx\n\t"
	"btrq %rcx, 192(%rbx)\n\t" SAVE(1)		/* bit 36 of 200(%rbx) */
	"mov $-5, %rcx\n\t"
	"btcl %ecx, 192(%rbx)\n\t" SAVE(1)		/* bit 27 of 188(%rbx) */
	"mov $-20, %ecx\n\t"
	"btsw %cx, 196(%rbx)\n\t" SAVE(1)
	"mov 184(%rbx), %rcx\n\t" SAVE(0)
	"mov 192(%rbx), %rcx\n\t" SAVE(0)
	"mov 200(%rbx), %rcx\n\t" SAVE(0)
	/* ---- multiply and divide ---- */
	"mov $0x123456789, %rax\n\t"
	"mulq 200(%rbx)\n\t" SAVE(0x801)
	"mov $-77, %eax\n\t"
	"imull 208(%rbx)\n\t" SAVE(0x801)
	"imulb 210(%rbx)\n\t" SAVE(0x801)
	"movl $7, 212(%rbx)\n\t"
	"xor %edx, %edx\n\t"
	"mov $1000003, %eax\n\t"
	"divl 212(%rbx)\n\t" SAVE(0)
	"movq $-9, 216(%rbx)\n\t"
	"mov $-1000003, %rax\n\t"
	"cqo\n\t"
	"idivq 216(%rbx)\n\t" SAVE(0)
	"mov $200, %ax\n\t"
	"divb 212(%rbx)\n\t" SAVE(0)
	"mov $0x7fff1234, %ecx\n\t"
	"imul 216(%rbx), %rcx\n\t" SAVE(0x801)
	"imul $-7, 224(%rbx), %ecx\n\t" SAVE(0x801)
	"imul $100, 232(%rbx), %cx\n\t" SAVE(0x801)
	/* ---- push and pop with memory operands ---- */
	"pushq 240(%rbx)\n\t"
	"popq 248(%rbx)\n\t"
	"pushw 250(%rbx)\n\t"
	"popw 254(%rbx)\n\t"
	"mov 248(%rbx), %rcx\n\t" SAVE(0)
	"mov 254(%rbx), %rcx\n\t" SAVE(0)
	/* ---- strings ---- */
	"cld\n\t"
	"mov $0xd0001400, %esi\n\t"		/* MMIO -> RAM (P3) */
	"mov $0xd0003400, %edi\n\t"
	"mov $19, %ecx\n\t"
	"rep movsb\n\t" SAVE(0x400)
	"mov $0xd0003000, %esi\n\t"		/* RAM -> MMIO */
	"mov $0xd0001500, %edi\n\t"
	"mov $5, %ecx\n\t"
	"rep movsl\n\t" SAVE(0x400)
	"mov $0xd0001600, %esi\n\t"		/* MMIO -> MMIO (P1 -> P2) */
	"mov $0xd0002600, %edi\n\t"
	"mov $3, %ecx\n\t"
	"rep movsq\n\t" SAVE(0x400)
	"std\n\t"
	"mov $0xd000161e, %esi\n\t"		/* DF=1, MMIO -> RAM */
	"mov $0xd000361e, %edi\n\t"
	"mov $6, %ecx\n\t"
	"rep movsw\n\t" SAVE(0x400)
	"mov $0xd0001700, %edi\n\t"		/* DF=1 store to MMIO */
	"mov $0xa1b2c3d4, %eax\n\t"
	"mov $4, %ecx\n\t"
	"rep stosl\n\t" SAVE(0x400)
	"cld\n\t"
	"mov $0xd0001710, %edi\n\t"
	"stosb\n\t" SAVE(0x400)
	"mov $0xd0001400, %esi\n\t"
	"lodsb\n\t" SAVE(0x400)
	"mov $3, %ecx\n\t"
	"rep lodsw\n\t" SAVE(0x400)
	/* 32-bit address size: RSI/RDI upper halves ignored, then cleared */
	"mov $0xffffffffd0001420, %rsi\n\t"
	"mov $0xabcdef00d0003480, %rdi\n\t"
	"mov $0x100000004, %rcx\n\t"
	"addr32 rep movsb\n\t" SAVE(0x400)
	/* REPE CMPSB, MMIO vs RAM: equal copy but byte 7 */
	"mov $0xd0001800, %esi\n\t"
	"mov $0xd0003800, %edi\n\t"
	"mov $16, %ecx\n\t"
	"rep movsb\n\t"
	"mov $0xd0003807, %r9d\n\t"
	"notb (%r9)\n\t"
	"mov $0xd0001800, %esi\n\t"
	"mov $0xd0003800, %edi\n\t"
	"mov $16, %ecx\n\t"
	"repz cmpsb\n\t" SAVE(0x8d5)
	"mov $0xd0003800, %esi\n\t"		/* RAM at rSI, MMIO at rDI */
	"mov $0xd0001800, %edi\n\t"
	"mov $7, %ecx\n\t"
	"repz cmpsb\n\t" SAVE(0x8d5)		/* all equal: rcx 0, ZF 1 */
	"mov $0xd0001800, %esi\n\t"
	"mov $0xd0003800, %edi\n\t"
	"mov $4, %ecx\n\t"
	"repnz cmpsw\n\t" SAVE(0x8d5)
	"mov $0xd0001800, %edi\n\t"		/* REPNE SCASB in MMIO */
	"mov 5(%rdi), %al\n\t"
	"mov $32, %ecx\n\t"
	"repnz scasb\n\t" SAVE(0x8d5)
	"mov $0xd0001800, %edi\n\t"
	"mov (%rdi), %eax\n\t"
	"mov $4, %ecx\n\t"
	"repz scasl\n\t" SAVE(0x8d5)
	/* ---- across pages: RAM|MMIO, MMIO|MMIO, MMIO|RAM ---- */
	"mov $0xd0000ffe, %edi\n\t"
	"mov (%rdi), %eax\n\t" SAVE(0)
	"movl $0xaabbccdd, (%rdi)\n\t"
	"addl $0x01010101, (%rdi)\n\t" SAVE(0x8d5)
	"mov (%rdi), %eax\n\t" SAVE(0)
	"mov $0xd0001ffc, %edi\n\t"
	"mov (%rdi), %rax\n\t" SAVE(0)
	"mov %rdx, (%rdi)\n\t"
	"mov $0xd0002ffd, %edi\n\t"
	"mov (%rdi), %rax\n\t" SAVE(0)
	"incq (%rdi)\n\t" SAVE(0x8d5)
	"mov $0xd0001ffc, %esi\n\t"
	"mov $0xd0000ffc, %edi\n\t"
	"movsq\n\t" SAVE(0)
	"mov $0xd0000ffc, %esi\n\t"
	"mov $0xd0002ffc, %edi\n\t"
	"mov $8, %ecx\n\t"
	"repz cmpsb\n\t" SAVE(0x8d5)
	"hlt\n\t"

	"mmioemu_de:\n\t"			/* #DE: divisor 0 from MMIO */
	"movl $0, 300(%rbx)\n\t"
	"xor %edx, %edx\n\t"
	"mov $5, %eax\n\t"
	"divl 300(%rbx)\n\t"
	"hlt\n\t"

	"mmioemu_pf_movs:\n\t"			/* MMIO -> not present */
	"mov $0xd0001100, %esi\n\t"
	"mov $0xd0005010, %edi\n\t"
	"movsb\n\t"
	"hlt\n\t"

	"mmioemu_pf_split:\n\t"			/* MMIO|not present write */
	"mov $0xd0004ffe, %r9d\n\t"
	"movl $0x01020304, (%r9)\n\t"
	"hlt\n\t"

	"mmioemu_pf_cmps:\n\t"			/* P4 (MMIO) runs into P5 */
	"mov $0xd0004ffc, %esi\n\t"
	"mov $0xd0004ffc, %edi\n\t"
	"mov $8, %ecx\n\t"
	"repz cmpsb\n\t"
	"hlt\n\t"

	"mmioemu_opt:\n\t"
	"mov $0xd0002100, %ebp\n\t"
	"movbe (%rbp), %eax\n\t" SAVE(0)
	"movbe %rdx, 8(%rbp)\n\t"
	"movbe 8(%rbp), %cx\n\t" SAVE(0)
	"mov 16(%rbp), %rax\n\t"
	"mov 24(%rbp), %rdx\n\t"
	"mov $1, %ebx\n\t"
	"mov $2, %ecx\n\t"
	"lock cmpxchg16b 16(%rbp)\n\t" SAVE(0x40)
	"lock cmpxchg16b 16(%rbp)\n\t" SAVE(0x40)
	"hlt\n\t"

	"mmioemu_save:\n\t"
	"pushfq\n\t"
	"popq %r14\n\t"
	"andq 8(%rsp), %r14\n\t"
	"mov %r14, 0(%r15)\n\t"
	"mov %rax, 8(%r15)\n\t"
	"mov %rcx, 16(%r15)\n\t"
	"mov %rdx, 24(%r15)\n\t"
	"mov %rsi, 32(%r15)\n\t"
	"mov %rdi, 40(%r15)\n\t"
	"mov %rbp, 48(%r15)\n\t"
	"mov %r8, 56(%r15)\n\t"
	"add $64, %r15\n\t"
	"ret $8\n\t"
	".code32\n");

/*
 * 32-bit protected mode, segment checks of the access that follows an
 * MMIO read (the CPU checked the first one before it faulted): MOVSB from
 * MMIO to ES:EDI where ES (loaded from the test's GDT) is
 *   0x50 limited to 0x1ffe (EDI 0x1fff: #GP(0)),
 *   0x58 read-only (#GP(0)),
 *   0x60 expand-down above 0xfff (EDI 0x800: #GP(0); EDI 0x2000: fine).
 */
#define SEG_GDT		(GRT_SCRATCH + 0x3000)
#define SEG_GDTR	(GRT_SCRATCH + 0x2ff0)

GUEST_CODE(mmioemu32,
	"lgdt " XSTR(SEG_GDTR) "\n\t"
	"mov $0xd0001100, %esi\n\t"
	"cld\n\t"
	"cmp $0, %edi\n\t"
	"jne 1f\n\t"
	"mov $0x50, %ax\n\t"
	"mov $0x1fff, %edi\n\t"
	"jmp 9f\n\t"
	"1: cmp $1, %edi\n\t"
	"jne 2f\n\t"
	"mov $0x58, %ax\n\t"
	"mov $0x10, %edi\n\t"
	"jmp 9f\n\t"
	"2: cmp $2, %edi\n\t"
	"jne 3f\n\t"
	"mov $0x60, %ax\n\t"
	"mov $0x800, %edi\n\t"
	"jmp 9f\n\t"
	"3: mov $0x60, %ax\n\t"
	"mov $0x2000, %edi\n\t"
	"9: mov %ax, %es\n\t"
	"movsb\n\t"
	"hlt\n\t");

enum { PROG_MAIN, PROG_DE, PROG_PF_MOVS, PROG_PF_SPLIT, PROG_PF_CMPS, PROG_OPT, PROG_NR };
static const char *const prog_names[PROG_NR] = {
	"main", "de", "pf_movs", "pf_split", "pf_cmps", "opt",
};

#define MAX_RES		512

struct outcome {
	bool hlt;			/* else an unexpected exception */
	uint32_t vec, ec;
	uint64_t cr2, ip;
	uint64_t rcx, rsi, rdi;
	unsigned int nres;
	uint64_t res[MAX_RES * 8];
	uint8_t mem[NPAGES][4096];
	unsigned int mmio_exits, mmio_reads, mmio_writes;
	bool have_stats;		/* shadowvm: the vCPU's counters */
	uint64_t emulated_string, emulated_insns;
};

static bool is_mmio_page(unsigned int p)
{
	return p == 1 || p == 2 || p == 4;
}

static uint8_t pattern(unsigned int p, unsigned int i)
{
	return (uint8_t)(i * 29 + p * 71 + (i >> 8) * 3 + 1);
}

static uint64_t seg_desc(uint32_t base, uint32_t limit, unsigned int access,
			 unsigned int flags);

/* Run program prog with P1, P2, P4 as MMIO (mmio) or in RAM; 0 or -errno. */
static int run_prog(struct __test_metadata *_metadata, int prog, bool mmio,
		    struct outcome *o, bool prot32)
{
	static uint8_t dev[NPAGES][4096];
	enum gp_mode mode = prot32 ? GP_MODE_32 : GP_MODE_LM;
	struct grt_env env = { .mode = mode };
	enum be_kind kind = tvm_default_kind();
	struct be_regs regs;
	struct be_exit e;
	struct gp g;
	struct tvm t;
	unsigned int p, i;
	int r;

	memset(o, 0, sizeof(*o));
	r = grt_create(&t, kind, MEM_SIZE, 0, 0, 0);
	if (r)
		return r;
	r = -EIO;
	if (gp_init(&g, t.mem, MEM_SIZE, mode, GRT_POOL, GRT_POOL_SIZE) ||
	    grt_setup(&t, &g, &env))
		goto out;
	for (p = 0; p < NPAGES; p++) {
		uint64_t gpa = mmio && is_mmio_page(p) ? BASE + p * GP_4K :
			       RAM_FRAMES + p * GP_4K;

		if (gp_map(&g, BASE + p * GP_4K, gpa, GP_4K, GP_4K, GP_W | GP_A | GP_D))
			goto out;
		for (i = 0; i < 4096; i++) {
			dev[p][i] = pattern(p, i);
			*(uint8_t *)tvm_ptr(&t, RAM_FRAMES + p * GP_4K + i) = pattern(p, i);
		}
	}
	if (prot32) {
		uint64_t *gdt = tvm_ptr(&t, SEG_GDT);
		uint8_t *gdtr = tvm_ptr(&t, SEG_GDTR);
		uint32_t base = SEG_GDT;
		uint16_t limit = 0x67;

		memcpy(gdt, tvm_ptr(&t, GRT_GDT), 0x50);
		gdt[0x50 >> 3] = seg_desc(BASE, 0x1ffe, 0x93, 0x4);
		gdt[0x58 >> 3] = seg_desc(BASE, 0xfffff, 0x91, 0xc);
		gdt[0x60 >> 3] = seg_desc(BASE, 0xfff, 0x97, 0x4);
		memcpy(gdtr, &limit, 2);
		memcpy(gdtr + 2, &base, 4);
		memcpy(tvm_ptr(&t, CODE), mmioemu32, GUEST_SIZE(mmioemu32));
	} else {
		memcpy(tvm_ptr(&t, CODE), mmioemu, GUEST_SIZE(mmioemu));
	}
	memset(tvm_ptr(&t, GRT_RES), 0, MAX_RES * 64);
	if (be_get_regs(&t.vcpu, &regs))
		goto out;
	regs.rip = CODE;
	regs.rflags = 2;
	regs.rdi = prog;
	if (be_set_regs(&t.vcpu, &regs))
		goto out;

	for (;;) {
		r = tvm_run(&t, &e);
		if (r)
			goto out;
		if (e.reason != BE_EXIT_MMIO)
			break;
		p = (e.mmio.phys_addr - BASE) >> 12;
		i = e.mmio.phys_addr & 0xfff;
		r = -EFAULT;
		if (!mmio || e.mmio.phys_addr < BASE || p >= NPAGES ||
		    !is_mmio_page(p) || e.mmio.len > 8 || i + e.mmio.len > 4096) {
			TH_LOG("unexpected MMIO exit at 0x%llx len %u",
			       (unsigned long long)e.mmio.phys_addr, e.mmio.len);
			goto out;
		}
		o->mmio_exits++;
		if (e.mmio.is_write) {
			memcpy(&dev[p][i], e.mmio.data, e.mmio.len);
			o->mmio_writes++;
		} else {
			memcpy(e.mmio.data, &dev[p][i], e.mmio.len);
			o->mmio_reads++;
		}
		if (o->mmio_exits > 100000)
			goto out;
	}
	r = -EPROTO;
	if (e.reason == BE_EXIT_HLT) {
		o->hlt = true;
	} else if (e.reason == BE_EXIT_IO && e.io.port == GRT_PORT_BAD) {
		o->vec = *grt_cb32(&t, CB_BAD_VEC);
		o->ec = *grt_cb32(&t, CB_BAD_EC);
		o->cr2 = *grt_cb64(&t, CB_BAD_CR2);
		o->ip = *grt_cb64(&t, CB_BAD_IP);
	} else {
		TH_LOG("%s (%s run): exit reason %d", prog_names[prog],
		       mmio ? "mmio" : "ram", e.reason);
		goto out;
	}
	if (be_get_regs(&t.vcpu, &regs))
		goto out;
	o->rcx = regs.rcx;
	o->rsi = regs.rsi;
	o->rdi = regs.rdi;
	o->nres = prot32 ? 0 : (regs.r15 - GRT_RES) / 64;
	if (!prot32 && (regs.r15 < GRT_RES || o->nres > MAX_RES))
		goto out;
	memcpy(o->res, tvm_ptr(&t, GRT_RES), o->nres * 64);
	if (kind == BE_SHADOWVM) {
		struct be_stats st;

		if (be_vcpu_stats(&t.vcpu, &st) || st.nr <= SHADOWVM_STAT_EMULATED_STRING)
			goto out;
		o->have_stats = true;
		o->emulated_string = st.val[SHADOWVM_STAT_EMULATED_STRING];
		o->emulated_insns = st.val[SHADOWVM_STAT_EMULATED_INSNS];
	}
	for (p = 0; p < NPAGES; p++)
		memcpy(o->mem[p], mmio && is_mmio_page(p) ? dev[p] :
		       (uint8_t *)tvm_ptr(&t, RAM_FRAMES + p * GP_4K), 4096);
	r = 0;
out:
	tvm_destroy(&t);
	return r;
}

/* a GDT entry: base, 20-bit limit, access byte, flags nibble (G, D/B, L) */
static uint64_t seg_desc(uint32_t base, uint32_t limit, unsigned int access,
			 unsigned int flags)
{
	return (limit & 0xffffULL) | ((uint64_t)(base & 0xffffff) << 16) |
	       ((uint64_t)access << 40) | ((uint64_t)((limit >> 16) & 0xf) << 48) |
	       ((uint64_t)flags << 52) | ((uint64_t)(base >> 24) << 56);
}

static const char *const reg_names[8] = {
	"flags", "rax", "rcx", "rdx", "rsi", "rdi", "rbp", "r8",
};

/* Both runs of prog; the mmio run must match the CPU's ram run. */
static void compare(struct __test_metadata *_metadata, int prog,
		    struct outcome *a, struct outcome *b, bool prot32)
{
	unsigned int i, p, bad = 0;
	int r;

	r = run_prog(_metadata, prog, false, b, prot32);
	if (tvm_no_device(r))
		SKIP(return, "backend device missing");
	ASSERT_EQ(0, r) TH_LOG("%s, ram run: %s", prog_names[prog], strerror(-r));
	r = run_prog(_metadata, prog, true, a, prot32);
	ASSERT_EQ(0, r) TH_LOG("%s, mmio run: %s", prog_names[prog], strerror(-r));

	TH_LOG("%s: %u results, %u MMIO exits (%u reads, %u writes)", prog_names[prog],
	       a->nres, a->mmio_exits, a->mmio_reads, a->mmio_writes);
	EXPECT_EQ(0, b->mmio_exits);
	/* pf_split faults before it touches the device */
	if (prot32 || prog != PROG_PF_SPLIT)
		EXPECT_LT(0, a->mmio_exits);
	EXPECT_EQ(b->hlt, a->hlt);
	if (!b->hlt) {
		EXPECT_EQ(b->vec, a->vec);
		EXPECT_EQ(b->ec, a->ec);
		EXPECT_EQ(b->cr2, a->cr2);
		EXPECT_EQ(b->ip, a->ip);
	}
	EXPECT_EQ(b->rcx, a->rcx);
	EXPECT_EQ(b->rsi, a->rsi);
	EXPECT_EQ(b->rdi, a->rdi);
	ASSERT_EQ(b->nres, a->nres);
	for (i = 0; i < a->nres * 8 && bad < 20; i++) {
		if (a->res[i] == b->res[i])
			continue;
		bad++;
		TH_LOG("%s: after instruction %u, %s: cpu 0x%llx emulated 0x%llx",
		       prog_names[prog], i / 8, reg_names[i % 8],
		       (unsigned long long)b->res[i], (unsigned long long)a->res[i]);
	}
	for (p = 0; p < NPAGES; p++)
		for (i = 0; i < 4096 && bad < 40; i++) {
			if (a->mem[p][i] == b->mem[p][i])
				continue;
			bad++;
			TH_LOG("%s: memory P%u+0x%x: cpu 0x%02x emulated 0x%02x",
			       prog_names[prog], p, i, b->mem[p][i], a->mem[p][i]);
		}
	EXPECT_EQ(0, bad);
}

static struct outcome oa, ob;

/* each case boots two small VMs; an emulated CPU needs time */
FIXTURE(me) {
	int unused;
};

FIXTURE_SETUP(me)
{
}

FIXTURE_TEARDOWN(me)
{
}

TEST_F_TIMEOUT(me, main_forms_match_the_cpu, 600)
{
	const uint64_t *res;

	compare(_metadata, PROG_MAIN, &oa, &ob, false);
	EXPECT_TRUE(oa.hlt);
	ASSERT_LT(100, oa.nres);
	EXPECT_LT(100, oa.mmio_reads);
	/* counters: string instructions are counted, and only when emulated */
	if (oa.have_stats) {
		TH_LOG("emulated: %llu instructions, %llu string",
		       (unsigned long long)oa.emulated_insns,
		       (unsigned long long)oa.emulated_string);
		EXPECT_LT(40, oa.emulated_string);
		EXPECT_LE(oa.emulated_string, oa.emulated_insns);
		EXPECT_EQ(0, ob.emulated_string);
	}
	/*
	 * The first REPE CMPSB (MMIO vs RAM, byte 7 differs) stops after 8
	 * bytes: RCX 8, ZF 0. Find it by its RSI/RDI.
	 */
	res = oa.res;
	for (unsigned int i = 0; i < oa.nres; i++, res += 8) {
		if (res[4] == 0xd0001808 && res[5] == 0xd0003808) {
			EXPECT_EQ(8, res[2]);
			EXPECT_EQ(0, res[0] & 0x40);
			return;
		}
	}
	EXPECT_TRUE(false) TH_LOG("repz cmpsb result not found");
}

TEST_F_TIMEOUT(me, divide_error_from_mmio, 600)
{
	compare(_metadata, PROG_DE, &oa, &ob, false);
	EXPECT_FALSE(oa.hlt);
	EXPECT_EQ(0, oa.vec);
}

TEST_F_TIMEOUT(me, page_fault_after_mmio_read, 600)
{
	compare(_metadata, PROG_PF_MOVS, &oa, &ob, false);
	EXPECT_FALSE(oa.hlt);
	EXPECT_EQ(14, oa.vec);
	EXPECT_EQ(2, oa.ec);			/* not present, write, CPL 0 */
	EXPECT_EQ(0xd0005010, oa.cr2);
}

TEST_F_TIMEOUT(me, page_fault_on_split_write_writes_nothing, 600)
{
	compare(_metadata, PROG_PF_SPLIT, &oa, &ob, false);
	EXPECT_FALSE(oa.hlt);
	EXPECT_EQ(14, oa.vec);
	EXPECT_EQ(2, oa.ec);
	EXPECT_EQ(0xd0005000, oa.cr2);
	EXPECT_EQ(0, oa.mmio_exits);		/* both pages checked first */
	EXPECT_EQ(pattern(4, 0xffe), oa.mem[4][0xffe]);
	EXPECT_EQ(pattern(4, 0xfff), oa.mem[4][0xfff]);
}

TEST_F_TIMEOUT(me, page_fault_in_rep_keeps_progress, 600)
{
	compare(_metadata, PROG_PF_CMPS, &oa, &ob, false);
	EXPECT_FALSE(oa.hlt);
	EXPECT_EQ(14, oa.vec);
	EXPECT_EQ(0, oa.ec);			/* not present, read */
	EXPECT_EQ(0xd0005000, oa.cr2);
	EXPECT_EQ(4, oa.rcx);			/* 4 bytes compared, equal */
	EXPECT_EQ(0xd0005000, oa.rsi);
	EXPECT_EQ(0xd0005000, oa.rdi);
}

TEST_F_TIMEOUT(me, cmpxchg16b_and_movbe, 600)
{
	compare(_metadata, PROG_OPT, &oa, &ob, false);
	if (!ob.hlt) {
		/* the CPU lacks one of them: the emulator must agree */
		EXPECT_EQ(6, ob.vec);
		TH_LOG("CPU raised vector %u: CMPXCHG16B or MOVBE missing", ob.vec);
		return;
	}
	EXPECT_EQ(4, oa.nres);
	EXPECT_EQ(0x40, oa.res[2 * 8]);	/* first compare-exchange: equal */
	EXPECT_EQ(0, oa.res[3 * 8]);
}

TEST_F_TIMEOUT(me, segment_checks_after_mmio_read_prot32, 600)
{
	static const char *const what[4] = {
		"past the limit", "read-only", "expand-down, below", "expand-down, above",
	};
	int prog;

	for (prog = 0; prog < 4; prog++) {
		TH_LOG("ES %s", what[prog]);
		compare(_metadata, prog, &oa, &ob, true);
		if (prog < 3) {
			EXPECT_FALSE(oa.hlt);
			EXPECT_EQ(13, oa.vec);
			EXPECT_EQ(0, oa.ec);
		} else {
			EXPECT_TRUE(oa.hlt);
			EXPECT_EQ(pattern(1, 0x100), oa.mem[2][0]);
		}
	}
}

TEST_HARNESS_MAIN
