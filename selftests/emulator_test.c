// SPDX-License-Identifier: GPL-2.0
/*
 * emulator_test: userspace unit test of the instruction emulator
 * (the freestanding files of kmod/emulate/), which is plain C that builds here unchanged.
 *
 * Expectations come from the CPU, not from a second model of x86: the
 * differential tests generate random instructions (every supported
 * opcode, prefix, operand size and addressing form), run each one natively
 * on the host (64-bit mode, and 32-bit compatibility mode through a far
 * call to the 0x23 code selector) and in the emulator over a copy of the
 * same memory, and compare registers, defined flags and memory. Lengths
 * come from the assembler (instruction blobs with labels). The rest is
 * targeted: faults and -EAGAIN in every callback leave state untouched,
 * REP progress, lost compare-exchange races, exceptions, unknown opcodes,
 * segment bases, 16-bit addressing, segment limits and rights, PUSH/POP
 * with memory operands, and string compares (REPE/REPNE CMPS, SCAS,
 * LODS) with one operand in a device that exits on every read, compared
 * with the host CPU running the same instruction on the same bytes.
 *
 * Build: cc -O2 -Wall -Wextra -I <dir with kselftest_harness.h> -I kmod/emulate \
 *           -o emulator_test selftests/emulator_test.c \
 *           kmod/emulate/{access,alu,decode,emulate,string}.c
 * Env: EMU_TEST_SEED, EMU_TEST_ITERS (random cases per differential test),
 *      EMU_TEST_NO_COMPAT=1 (skip 32-bit native runs),
 *      EMU_TEST_NO_NATIVE=1 (no native runs at all: the differential tests
 *      only run the emulator on the generated instructions). Both are
 *      automatic under valgrind, whose CPU emulation is no oracle (it lacks
 *      some encodings and compatibility mode).
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cpuid.h>
#include <asm/prctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "emulate.h"

/* the harness macros trip these; the selftests Makefile turns them off too */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wsign-compare"
#include "kselftest_harness.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define F_CF 0x001ULL
#define F_PF 0x004ULL
#define F_AF 0x010ULL
#define F_ZF 0x040ULL
#define F_SF 0x080ULL
#define F_DF 0x400ULL
#define F_OF 0x800ULL
#define F_ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)

/* ------------------------------------------------------------------ */
/* random numbers (xorshift64*), deterministic per test                */

static u64 rng_state;

static void rng_seed(u64 salt)
{
	const char *s = getenv("EMU_TEST_SEED");

	rng_state = (s ? strtoull(s, NULL, 0) : 0x5eed2024ULL) * 0x9e3779b97f4a7c15ULL + salt;
	if (!rng_state)
		rng_state = 1;
}

static u64 rnd64(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static unsigned int rnd(unsigned int n)
{
	return (unsigned int)(rnd64() % n);
}

static u64 szmask(unsigned int size)
{
	return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

/* operand values biased towards the edges where flags get interesting */
static u64 rnd_val(void)
{
	static const u64 edges[] = {
		0, 1, 2, 0x7f, 0x80, 0xff, 0x7fff, 0x8000, 0xffff,
		0x7fffffff, 0x80000000, 0xffffffff, 0x7fffffffffffffffULL,
		0x8000000000000000ULL, ~0ULL, 0x0f, 0x10, 0xf0,
	};
	u64 v;

	switch (rnd(6)) {
	case 0:
		return rnd(5);
	case 1:
	case 2:
		v = edges[rnd(ARRAY_LEN(edges))];
		if (rnd(2))
			v |= rnd64() & ~szmask(1U << rnd(4));
		return v;
	default:
		return rnd64();
	}
}

static unsigned int env_uint(const char *name, unsigned int def)
{
	const char *s = getenv(name);

	return s ? (unsigned int)strtoul(s, NULL, 0) : def;
}

/* ------------------------------------------------------------------ */
/* fake guest memory: linear regions backed by host buffers            */

enum { OPK_FETCH, OPK_READ, OPK_WRITE, OPK_CMPXCHG, OPK_NR };

struct region {
	u64 la;
	u8 *mem;
	size_t size;
};

struct guest {
	struct region r[3];
	int nr;
	bool null_data;		/* reads return 0, writes vanish (length tests) */
	/* fault injection: the fail_nth call of kind fail_kind returns fail_err */
	int fail_kind;
	int fail_nth;
	int fail_err;
	/* cmpxchg: "another CPU" changes the target this many times first */
	int races;
	int calls[OPK_NR];
	bool fetch_crossed_page;
	u64 first_read_la;
	/* when wlimit_hi != 0: note writes outside [wlimit_lo, wlimit_hi) */
	u64 wlimit_lo, wlimit_hi;
	bool wrote_outside;
};

static void guest_init(struct guest *g)
{
	memset(g, 0, sizeof(*g));
	g->fail_kind = -1;
}

static void guest_add(struct guest *g, u64 la, void *mem, size_t size)
{
	g->r[g->nr].la = la;
	g->r[g->nr].mem = mem;
	g->r[g->nr].size = size;
	g->nr++;
}

static void guest_note_write(struct guest *g, u64 la, unsigned int len)
{
	if (g->wlimit_hi && (la < g->wlimit_lo || la + len > g->wlimit_hi))
		g->wrote_outside = true;
}

static u8 *guest_ptr(struct guest *g, u64 la, unsigned int len)
{
	int i;

	for (i = 0; i < g->nr; i++)
		if (la >= g->r[i].la && la - g->r[i].la + len <= g->r[i].size &&
		    la - g->r[i].la + len >= len)
			return g->r[i].mem + (la - g->r[i].la);
	return NULL;
}

static int guest_inject(struct guest *g, int kind)
{
	int n = g->calls[kind]++;

	if (kind == g->fail_kind && n == g->fail_nth)
		return g->fail_err;
	return 0;
}

static int g_fetch(void *ctx, u64 la, void *buf, unsigned int len)
{
	struct guest *g = ctx;
	int ret = guest_inject(g, OPK_FETCH);
	u8 *p;

	if (ret)
		return ret;
	if ((la & 4095) + len > 4096)
		g->fetch_crossed_page = true;
	p = guest_ptr(g, la, len);
	if (!p)
		return -EFAULT;
	memcpy(buf, p, len);
	return 0;
}

static int g_read(void *ctx, u64 la, void *buf, unsigned int len)
{
	struct guest *g = ctx;
	int ret = guest_inject(g, OPK_READ);
	u8 *p;

	if (ret)
		return ret;
	if (g->calls[OPK_READ] == 1)
		g->first_read_la = la;
	if (g->null_data) {
		memset(buf, 0, len);
		return 0;
	}
	p = guest_ptr(g, la, len);
	if (!p)
		return -EFAULT;
	memcpy(buf, p, len);
	return 0;
}

static int g_write(void *ctx, u64 la, const void *buf, unsigned int len)
{
	struct guest *g = ctx;
	int ret = guest_inject(g, OPK_WRITE);
	u8 *p;

	if (ret)
		return ret;
	guest_note_write(g, la, len);
	if (g->null_data)
		return 0;
	p = guest_ptr(g, la, len);
	if (!p)
		return -EFAULT;
	memcpy(p, buf, len);
	return 0;
}

static int g_cmpxchg(void *ctx, u64 la, const void *old, const void *new,
		     unsigned int len, bool *swapped)
{
	struct guest *g = ctx;
	int ret = guest_inject(g, OPK_CMPXCHG);
	u8 *p;

	if (ret)
		return ret;
	guest_note_write(g, la, len);
	if (g->null_data) {
		*swapped = true;
		return 0;
	}
	p = guest_ptr(g, la, len);
	if (!p)
		return -EFAULT;
	if (g->races > 0) {
		g->races--;
		p[0] += 3;	/* another CPU got there first */
	}
	*swapped = !memcmp(p, old, len);
	if (*swapped)
		memcpy(p, new, len);
	return 0;
}

static const struct shv_emu_ops gops = {
	.fetch = g_fetch, .read = g_read, .write = g_write, .cmpxchg_op = g_cmpxchg,
};

static const struct shv_emu_ops gops_nocx = {
	.fetch = g_fetch, .read = g_read, .write = g_write,
};

/* ------------------------------------------------------------------ */
/* native runner                                                       */

/*
 * An arena is code page | data | stack. Its code page holds the runner
 * generated around the instruction under test, plus state slots.
 */
#define A_CODE		0
#define A_DATA		4096
#define A_DATA_SIZE	16384
#define A_STACK		(A_DATA + A_DATA_SIZE)
#define A_STACK_SIZE	65536
#define A_SIZE		(A_STACK + A_STACK_SIZE)
#define A_MIRROR_SIZE	A_STACK		/* code + data */

#define OFF_RUN64	0x000
#define OFF_TRAMP	0x300
#define OFF_RUN32	0x400
#define OFF_REGS	0xc00
#define OFF_FLAGS	0xc80
#define OFF_RSP		0xc88
#define OFF_FAR		0xc90

struct arena {
	u8 *base;
	u8 *mirror;		/* the emulator's copy of code + data */
	unsigned int insn_off64, insn_off32;
};

static struct arena hi_arena, lo_arena;
static bool have_cx16, compat_ok, native_ok;
static u64 host_fs_base, host_gs_base;
static sigjmp_buf native_jb;
static volatile sig_atomic_t native_active;

struct emit {
	u8 *p;
};

static void e8(struct emit *e, unsigned int b)
{
	*e->p++ = (u8)b;
}

static void e32(struct emit *e, u32 v)
{
	memcpy(e->p, &v, 4);
	e->p += 4;
}

/* 64-bit: [rex] op modrm(reg, rip+disp32) addressing target */
static void e_rip(struct emit *e, unsigned int rex, unsigned int op,
		  unsigned int reg, const void *target)
{
	if (rex)
		e8(e, rex);
	e8(e, op);
	e8(e, ((reg & 7) << 3) | 5);
	e32(e, (u32)((const u8 *)target - (e->p + 4)));
}

/* 32-bit: op modrm(reg, [abs32]) */
static void e_abs(struct emit *e, unsigned int op, unsigned int reg, const void *target)
{
	e8(e, op);
	e8(e, ((reg & 7) << 3) | 5);
	e32(e, (u32)(unsigned long)target);
}

static const u8 push_callee[] = { 0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57 };
static const u8 pop_callee[] = { 0x41, 0x5f, 0x41, 0x5e, 0x41, 0x5d, 0x41, 0x5c, 0x5d, 0x5b };

static void e_bytes(struct emit *e, const u8 *b, size_t n)
{
	memcpy(e->p, b, n);
	e->p += n;
}

/* Generate the 64-bit runner around insn; returns the insn's address. */
static u8 *gen_run64(struct arena *a, const u8 *insn, unsigned int len)
{
	u8 *slots = a->base + OFF_REGS;
	struct emit e = { a->base + OFF_RUN64 };
	u8 *at;
	int r;

	e_bytes(&e, push_callee, sizeof(push_callee));
	e_rip(&e, 0, 0xff, 6, a->base + OFF_FLAGS);	/* push [flags] */
	e8(&e, 0x9d);					/* popfq */
	for (r = 0; r < 16; r++)
		if (r != 4)
			e_rip(&e, 0x48 | (r >= 8 ? 4 : 0), 0x8b, r, slots + 8 * r);
	at = e.p;
	e_bytes(&e, insn, len);
	e8(&e, 0x9c);					/* pushfq */
	e_rip(&e, 0, 0x8f, 0, a->base + OFF_FLAGS);	/* pop [flags] */
	for (r = 0; r < 16; r++)
		if (r != 4)
			e_rip(&e, 0x48 | (r >= 8 ? 4 : 0), 0x89, r, slots + 8 * r);
	e8(&e, 0xfc);					/* cld */
	e_bytes(&e, pop_callee, sizeof(pop_callee));
	e8(&e, 0xc3);
	return at;
}

/* Generate the compatibility-mode runner (lo_arena only). */
static u8 *gen_run32(struct arena *a, const u8 *insn, unsigned int len)
{
	u8 *slots = a->base + OFF_REGS;
	struct emit e = { a->base + OFF_TRAMP };
	u32 far[2];
	u8 *at;
	int r;

	/* 64-bit trampoline: switch to the low stack, lcall 0x23:run32 */
	e_bytes(&e, push_callee, sizeof(push_callee));
	e8(&e, 0x48); e8(&e, 0x89); e8(&e, 0x24); e8(&e, 0x25);
	e32(&e, (u32)(unsigned long)(a->base + OFF_RSP));	/* mov [abs], rsp */
	e8(&e, 0xbc);
	e32(&e, (u32)(unsigned long)(a->base + A_SIZE - 64));	/* mov esp, imm */
	e8(&e, 0xff); e8(&e, 0x1c); e8(&e, 0x25);
	e32(&e, (u32)(unsigned long)(a->base + OFF_FAR));	/* lcall [abs] */
	e8(&e, 0x48); e8(&e, 0x8b); e8(&e, 0x24); e8(&e, 0x25);
	e32(&e, (u32)(unsigned long)(a->base + OFF_RSP));	/* mov rsp, [abs] */
	e_bytes(&e, pop_callee, sizeof(pop_callee));
	e8(&e, 0xc3);

	e.p = a->base + OFF_RUN32;
	e8(&e, 0x8c); e8(&e, 0xd0);		/* mov eax, ss */
	e8(&e, 0x8e); e8(&e, 0xd8);		/* mov ds, eax */
	e8(&e, 0x8e); e8(&e, 0xc0);		/* mov es, eax */
	e_abs(&e, 0xff, 6, a->base + OFF_FLAGS);	/* push [flags] */
	e8(&e, 0x9d);				/* popfd */
	for (r = 0; r < 8; r++)
		if (r != 4)
			e_abs(&e, 0x8b, r, slots + 8 * r);
	at = e.p;
	e_bytes(&e, insn, len);
	e8(&e, 0x9c);				/* pushfd */
	e_abs(&e, 0x8f, 0, a->base + OFF_FLAGS);	/* pop [flags] */
	for (r = 0; r < 8; r++)
		if (r != 4)
			e_abs(&e, 0x89, r, slots + 8 * r);
	e8(&e, 0xfc);				/* cld */
	e8(&e, 0x31); e8(&e, 0xc0);		/* xor eax, eax */
	e8(&e, 0x8e); e8(&e, 0xd8);		/* mov ds, eax */
	e8(&e, 0x8e); e8(&e, 0xc0);		/* mov es, eax */
	e8(&e, 0xcb);				/* lret */

	far[0] = (u32)(unsigned long)(a->base + OFF_RUN32);
	far[1] = 0x23;				/* __USER32_CS */
	memcpy(a->base + OFF_FAR, far, 8);
	return at;
}

static void native_signal(int sig)
{
	if (native_active)
		siglongjmp(native_jb, sig);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Run the generated runner; regs/flags in and out. Returns 0 or a signal. */
static int native_run(struct arena *a, bool compat, u64 *regs, u64 *flags)
{
	u64 *slots = (u64 *)(a->base + OFF_REGS);
	void (*fn)(void);
	int sig;

	memcpy(slots, regs, 16 * 8);
	memcpy(a->base + OFF_FLAGS, flags, 8);
	fn = (void (*)(void))(a->base + (compat ? OFF_TRAMP : OFF_RUN64));
	sig = sigsetjmp(native_jb, 1);
	if (sig) {
		native_active = 0;
		return sig;
	}
	native_active = 1;
	fn();
	native_active = 0;
	memcpy(regs, slots, 16 * 8);
	memcpy(flags, a->base + OFF_FLAGS, 8);
	return 0;
}

static bool under_valgrind(void)
{
	const char *p = getenv("LD_PRELOAD");

	return p && strstr(p, "vgpreload");
}

static void native_setup(void)
{
	static bool done;
	static char altstack[65536];
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) };
	struct sigaction sa;
	unsigned int eax, ebx, ecx, edx;
	u64 regs[16] = { 0 }, fl = 2;
	u8 probe[] = { 0xb8, 0x78, 0x56, 0x34, 0x12 };	/* mov eax, 0x12345678 */

	if (done)
		return;
	done = true;
	hi_arena.base = mmap(NULL, A_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	lo_arena.base = mmap(NULL, A_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	hi_arena.mirror = malloc(A_MIRROR_SIZE);
	lo_arena.mirror = malloc(A_MIRROR_SIZE);
	if (hi_arena.base == MAP_FAILED || lo_arena.base == MAP_FAILED ||
	    !hi_arena.mirror || !lo_arena.mirror) {
		fprintf(stderr, "arena allocation failed\n");
		exit(1);
	}
	sigaltstack(&ss, NULL);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = native_signal;
	sa.sa_flags = SA_ONSTACK | SA_NODEFER;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGILL, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	sigaction(SIGFPE, &sa, NULL);
	sigaction(SIGTRAP, &sa, NULL);

	__cpuid(1, eax, ebx, ecx, edx);
	have_cx16 = ecx & (1U << 13);
	syscall(SYS_arch_prctl, ARCH_GET_FS, &host_fs_base);
	/* nobody uses GS in x86-64 userspace: give it a base of our own */
	host_gs_base = (u64)(unsigned long)hi_arena.base + 0x12345;
	if (syscall(SYS_arch_prctl, ARCH_SET_GS, host_gs_base))
		syscall(SYS_arch_prctl, ARCH_GET_GS, &host_gs_base);

	native_ok = !under_valgrind() && !env_uint("EMU_TEST_NO_NATIVE", 0);
	compat_ok = native_ok && !env_uint("EMU_TEST_NO_COMPAT", 0);
	if (compat_ok) {
		gen_run32(&lo_arena, probe, sizeof(probe));
		compat_ok = !native_run(&lo_arena, true, regs, &fl) &&
			    (u32)regs[0] == 0x12345678;
	}
	(void)eax; (void)ebx; (void)edx;
}

/* ------------------------------------------------------------------ */
/* random instruction generator                                        */

enum { IMM_NONE, IMM_8, IMM_V, IMM_MOFFS };
/* which flags are defined: FL_SHIFT depends on the count, FL_MUL is CF/OF */
enum { FL_ALL, FL_LOGIC, FL_BT, FL_SHIFT, FL_MUL, FL_NONE };
enum { T_RM, T_ACCIMM, T_MOFFS, T_STR, T_BTREG, T_CMPXCHG, T_CX8, T_MOVX, T_DIV };

struct tmpl {
	u8 twobyte, esc38, op;
	s8 ext;			/* ModRM.reg opcode extension or -1 */
	u8 imm;			/* IMM_* */
	u8 fl;			/* FL_*: which flags are defined */
	u8 kind;		/* T_* */
	u8 srcsize;		/* T_MOVX: 1, 2, or 4 (MOVSXD) */
	bool byteop, lockable, memonly, only64, only32, regdst;
};

static struct tmpl tmpls[512];
static unsigned int ntmpls;

static void add_t(struct tmpl t)
{
	tmpls[ntmpls++] = t;
}

static void tmpl_setup(void)
{
	unsigned int k, i;

	if (ntmpls)
		return;
	for (k = 0; k < 8; k++) {
		u8 fl = (k == 1 || k == 4 || k == 6) ? FL_LOGIC : FL_ALL;
		bool lk = k != 7;

		add_t((struct tmpl){ .op = 8 * k, .ext = -1, .fl = fl, .byteop = 1, .lockable = lk });
		add_t((struct tmpl){ .op = 8 * k + 1, .ext = -1, .fl = fl, .lockable = lk });
		add_t((struct tmpl){ .op = 8 * k + 2, .ext = -1, .fl = fl, .byteop = 1, .regdst = 1 });
		add_t((struct tmpl){ .op = 8 * k + 3, .ext = -1, .fl = fl, .regdst = 1 });
		add_t((struct tmpl){ .op = 8 * k + 4, .ext = -1, .fl = fl, .byteop = 1, .imm = IMM_8, .kind = T_ACCIMM });
		add_t((struct tmpl){ .op = 8 * k + 5, .ext = -1, .fl = fl, .imm = IMM_V, .kind = T_ACCIMM });
		add_t((struct tmpl){ .op = 0x80, .ext = k, .fl = fl, .byteop = 1, .imm = IMM_8, .lockable = lk });
		add_t((struct tmpl){ .op = 0x81, .ext = k, .fl = fl, .imm = IMM_V, .lockable = lk });
		add_t((struct tmpl){ .op = 0x82, .ext = k, .fl = fl, .byteop = 1, .imm = IMM_8, .lockable = lk, .only32 = 1 });
		add_t((struct tmpl){ .op = 0x83, .ext = k, .fl = fl, .imm = IMM_8, .lockable = lk });
	}
	add_t((struct tmpl){ .op = 0x84, .ext = -1, .fl = FL_LOGIC, .byteop = 1 });
	add_t((struct tmpl){ .op = 0x85, .ext = -1, .fl = FL_LOGIC });
	add_t((struct tmpl){ .op = 0xf6, .ext = 0, .fl = FL_LOGIC, .byteop = 1, .imm = IMM_8 });
	add_t((struct tmpl){ .op = 0xf7, .ext = 0, .fl = FL_LOGIC, .imm = IMM_V });
	add_t((struct tmpl){ .op = 0x86, .ext = -1, .byteop = 1, .lockable = 1 });
	add_t((struct tmpl){ .op = 0x87, .ext = -1, .lockable = 1 });
	for (i = 0; i < 3; i++) {	/* weight the common ones */
		add_t((struct tmpl){ .op = 0x88, .ext = -1, .byteop = 1 });
		add_t((struct tmpl){ .op = 0x89, .ext = -1 });
		add_t((struct tmpl){ .op = 0x8a, .ext = -1, .byteop = 1, .regdst = 1 });
		add_t((struct tmpl){ .op = 0x8b, .ext = -1, .regdst = 1 });
	}
	add_t((struct tmpl){ .op = 0xc6, .ext = 0, .byteop = 1, .imm = IMM_8 });
	add_t((struct tmpl){ .op = 0xc7, .ext = 0, .imm = IMM_V });
	for (i = 0; i < 4; i++)
		add_t((struct tmpl){ .op = 0xa0 + i, .ext = -1, .byteop = !(i & 1),
				     .imm = IMM_MOFFS, .kind = T_MOFFS });
	add_t((struct tmpl){ .twobyte = 1, .op = 0xb6, .ext = -1, .kind = T_MOVX, .srcsize = 1 });
	add_t((struct tmpl){ .twobyte = 1, .op = 0xb7, .ext = -1, .kind = T_MOVX, .srcsize = 2 });
	add_t((struct tmpl){ .twobyte = 1, .op = 0xbe, .ext = -1, .kind = T_MOVX, .srcsize = 1 });
	add_t((struct tmpl){ .twobyte = 1, .op = 0xbf, .ext = -1, .kind = T_MOVX, .srcsize = 2 });
	add_t((struct tmpl){ .op = 0x63, .ext = -1, .kind = T_MOVX, .srcsize = 4, .only64 = 1 });
	for (i = 0; i < 2; i++) {
		add_t((struct tmpl){ .twobyte = 1, .op = 0xb0, .ext = -1, .byteop = 1,
				     .lockable = 1, .kind = T_CMPXCHG });
		add_t((struct tmpl){ .twobyte = 1, .op = 0xb1, .ext = -1, .lockable = 1,
				     .kind = T_CMPXCHG });
		add_t((struct tmpl){ .twobyte = 1, .op = 0xc7, .ext = 1, .lockable = 1,
				     .memonly = 1, .kind = T_CX8, .fl = FL_ALL });
	}
	for (i = 0; i < 4; i++) {
		add_t((struct tmpl){ .twobyte = 1, .op = 0xa3 + 8 * i, .ext = -1, .fl = FL_BT,
				     .lockable = i != 0, .kind = T_BTREG });
		add_t((struct tmpl){ .twobyte = 1, .op = 0xba, .ext = 4 + i, .fl = FL_BT,
				     .imm = IMM_8, .lockable = i != 0 });
	}
	for (i = 0; i < 2; i++) {
		add_t((struct tmpl){ .op = 0xfe, .ext = i, .byteop = 1, .lockable = 1 });
		add_t((struct tmpl){ .op = 0xff, .ext = i, .lockable = 1 });
		add_t((struct tmpl){ .op = 0xf6, .ext = 2 + i, .byteop = 1, .lockable = 1 });
		add_t((struct tmpl){ .op = 0xf7, .ext = 2 + i, .lockable = 1 });
	}
	for (i = 0; i < 3; i++) {
		add_t((struct tmpl){ .op = 0xa4, .ext = -1, .byteop = 1, .kind = T_STR });
		add_t((struct tmpl){ .op = 0xa5, .ext = -1, .kind = T_STR });
		add_t((struct tmpl){ .op = 0xaa, .ext = -1, .byteop = 1, .kind = T_STR });
		add_t((struct tmpl){ .op = 0xab, .ext = -1, .kind = T_STR });
		add_t((struct tmpl){ .op = 0xa6, .ext = -1, .byteop = 1, .kind = T_STR });
		add_t((struct tmpl){ .op = 0xa7, .ext = -1, .kind = T_STR });
		add_t((struct tmpl){ .op = 0xac, .ext = -1, .byteop = 1, .kind = T_STR });
		add_t((struct tmpl){ .op = 0xad, .ext = -1, .kind = T_STR });
		add_t((struct tmpl){ .op = 0xae, .ext = -1, .byteop = 1, .kind = T_STR });
		add_t((struct tmpl){ .op = 0xaf, .ext = -1, .kind = T_STR });
	}
	/* shifts and rotates by imm8, 1 and CL */
	for (k = 0; k < 8; k++) {
		add_t((struct tmpl){ .op = 0xc0, .ext = k, .fl = FL_SHIFT, .byteop = 1, .imm = IMM_8 });
		add_t((struct tmpl){ .op = 0xc1, .ext = k, .fl = FL_SHIFT, .imm = IMM_8 });
		add_t((struct tmpl){ .op = 0xd0, .ext = k, .fl = FL_SHIFT, .byteop = 1 });
		add_t((struct tmpl){ .op = 0xd1, .ext = k, .fl = FL_SHIFT });
		add_t((struct tmpl){ .op = 0xd2, .ext = k, .fl = FL_SHIFT, .byteop = 1 });
		add_t((struct tmpl){ .op = 0xd3, .ext = k, .fl = FL_SHIFT });
	}
	/* MUL, IMUL, DIV, IDIV r/m; two- and three-operand IMUL; MOVBE */
	for (i = 0; i < 4; i++)
		for (k = 4; k < 8; k++) {
			u8 fl = k < 6 ? FL_MUL : FL_NONE;
			u8 kd = k < 6 ? T_RM : T_DIV;

			add_t((struct tmpl){ .op = 0xf6, .ext = k, .fl = fl, .byteop = 1, .kind = kd });
			add_t((struct tmpl){ .op = 0xf7, .ext = k, .fl = fl, .kind = kd });
		}
	for (i = 0; i < 3; i++) {
		add_t((struct tmpl){ .twobyte = 1, .op = 0xaf, .ext = -1, .fl = FL_MUL, .regdst = 1 });
		add_t((struct tmpl){ .op = 0x69, .ext = -1, .fl = FL_MUL, .imm = IMM_V, .regdst = 1 });
		add_t((struct tmpl){ .op = 0x6b, .ext = -1, .fl = FL_MUL, .imm = IMM_8, .regdst = 1 });
		add_t((struct tmpl){ .twobyte = 1, .esc38 = 1, .op = 0xf0, .ext = -1, .memonly = 1,
				     .regdst = 1 });
		add_t((struct tmpl){ .twobyte = 1, .esc38 = 1, .op = 0xf1, .ext = -1, .memonly = 1 });
	}
}

/* One generated case. */
struct tcase {
	bool m64;		/* native mode: 64-bit, else compat 32-bit */
	struct arena *a;	/* where code and data live */
	u8 pfx[8];		/* legacy prefixes (REX separately) */
	unsigned int npfx;
	u8 rex;
	u8 body[16];		/* opcode onwards */
	unsigned int nbody;
	u8 insn[16];
	unsigned int len;
	u64 regs[16];
	u64 flags;
	const struct tmpl *t;
	bool lock, mem, p66;
	unsigned int size;
	int seg;		/* override segment or -1 */
	u64 imm;		/* the immediate (shift counts) */
	u8 *dirty;		/* memory the generator wrote, for the mirror */
	unsigned int ndirty;
};

static bool byte_high(unsigned int r, unsigned int size, u8 rex)
{
	return size == 1 && !rex && r >= 4 && r < 8;
}

/* the architectural register a register operand names */
static unsigned int phys_reg(unsigned int r, unsigned int size, u8 rex)
{
	return byte_high(r, size, rex) ? r - 4 : r;
}

static void put_reg(u64 *regs, unsigned int r, unsigned int size, u8 rex, u64 v)
{
	if (byte_high(r, size, rex)) {
		regs[r - 4] = (regs[r - 4] & ~0xff00ULL) | ((v & 0xff) << 8);
		return;
	}
	regs[r] = (regs[r] & ~szmask(size)) | (v & szmask(size));
}

static u64 get_reg(const u64 *regs, unsigned int r, unsigned int size, u8 rex)
{
	if (byte_high(r, size, rex))
		return (regs[r - 4] >> 8) & 0xff;
	return regs[r] & szmask(size);
}

static u8 *data_lo(struct arena *a)
{
	return a->base + A_DATA;
}

/* a random address in the data area, with room on both sides */
static u64 rnd_target(struct arena *a, unsigned int align)
{
	u64 t = (u64)(unsigned long)data_lo(a) + 4096 + rnd(A_DATA_SIZE - 8192);

	if (align > 1 || rnd(3) == 0)
		t &= ~(u64)((align > 1 ? align : 8) - 1);
	return t;
}

static void b8(struct tcase *tc, unsigned int v)
{
	tc->body[tc->nbody++] = (u8)v;
}

static void bn(struct tcase *tc, u64 v, unsigned int n)
{
	memcpy(tc->body + tc->nbody, &v, n);
	tc->nbody += n;
}

static unsigned int seg_prefix(int seg)
{
	static const u8 p[] = { 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65 };

	return p[seg];
}

static u64 seg_base64(int seg)
{
	if (seg == SHV_EMU_SEG_FS)
		return host_fs_base;
	if (seg == SHV_EMU_SEG_GS)
		return host_gs_base;
	return 0;
}

/*
 * Encode the ModRM (+SIB, disp) of a memory operand at linear address
 * target and set the base/index registers so that it gets there. Returns
 * false if the chosen form cannot reach it (caller retries). ripfix gets
 * the offset of a RIP-relative displacement in body (or -1).
 */
static bool gen_mem(struct tcase *tc, unsigned int reg, u64 target,
		    unsigned int adsize, int *ripfix, bool *busy)
{
	u64 amask = szmask(adsize), sb = tc->m64 ? seg_base64(tc->seg) : 0;
	u64 ea = target - sb, disp = 0, idxv = 0;
	unsigned int mod = rnd(3), rm, scale = 0, idx = 16, base = 16, sib = 0;
	unsigned int rexb = (tc->rex & 1) << 3, rexx = (tc->rex & 2) << 2;
	bool use_sib = rnd(2), nobase = false;

	*ripfix = -1;
	if (use_sib) {
		unsigned int i3 = rnd(8), b3 = rnd(8);

		scale = rnd(4);
		rm = 4;
		if ((i3 | rexx) != 4)
			idx = i3 | rexx;
		if (b3 == 5 && mod == 0)
			nobase = true;
		else
			base = b3 | rexb;
		sib = (scale << 6) | (i3 << 3) | b3;
	} else {
		rm = rnd(8);
		if (rm == 4)
			rm = 6;
		if (rm == 5 && mod == 0)
			nobase = true;
		else
			base = rm | rexb;
	}
	if (base == 4 || (base < 16 && base == idx))
		return false;
	if ((base < 16 && busy[base]) || (idx < 16 && busy[idx]))
		return false;

	if (mod == 1)
		disp = (u64)(s64)(s8)rnd(256);
	else if (mod == 2)
		disp = rnd(4) ? (u64)(s64)(s32)(rnd(1 << 21) - (1 << 20)) :
			(u64)(s64)(s32)rnd64();
	else if (nobase)
		disp = (u64)(s64)(s32)rnd64();

	if (idx < 16) {
		idxv = rnd(3) ? rnd(1 << 16) : rnd64();
		if (nobase) {
			/* ea = idx << scale + disp32: make it divisible */
			disp += (ea - disp) & ((1ULL << scale) - 1);
			disp = (u64)(s64)(s32)disp;
			idxv = ((ea - disp) & amask) >> scale;
			if (adsize == 4)
				idxv |= rnd64() << (32 - scale);
			if (((idxv << scale) + disp - ea) & amask)
				return false;
		}
		tc->regs[idx] = idxv;
	}
	if (nobase && idx == 16) {
		if (!use_sib && tc->m64) {
			*ripfix = 1;	/* RIP-relative: fixed up later */
		} else {
			disp = ea;
			if (((u64)(s64)(s32)disp - ea) & amask)
				return false;
		}
	}
	if (base < 16) {
		u64 bv = (ea - (idxv << scale) - disp) & amask;

		if (adsize == 4 && tc->m64)
			bv |= rnd64() << 32;
		tc->regs[base] = bv;
	}

	b8(tc, (mod << 6) | ((reg & 7) << 3) | rm);
	if (rm == 4)
		b8(tc, sib);
	if (mod == 1) {
		b8(tc, (u8)disp);
	} else if (mod == 2 || nobase) {
		if (*ripfix >= 0)
			*ripfix = (int)tc->nbody;
		bn(tc, disp, 4);
	}
	if (base < 16)
		busy[base] = true;
	if (idx < 16)
		busy[idx] = true;
	return true;
}

/* Generate a random instruction with its registers and memory. */
static bool gen_case(struct tcase *tc, bool m64)
{
	const struct tmpl *t = &tmpls[rnd(ntmpls)];
	bool p66 = rnd(10) < 3, p67, busy[16] = { false };
	unsigned int opsize, adsize, size, reg, r, i, immsz = 0, seglist;
	int ripfix = -1, rep = 0;
	u64 target = 0, imm = 0;
	u8 *tp;

	memset(tc, 0, sizeof(*tc));
	tc->m64 = m64;
	tc->t = t;
	tc->seg = -1;
	if ((t->only64 && !m64) || (t->only32 && m64))
		return false;
	p67 = m64 && rnd(100) < 15;
	tc->a = m64 && !p67 ? &hi_arena : &lo_arena;
	if (m64 && rnd(10) < 6)
		tc->rex = 0x40 | rnd(16);
	if (t->kind == T_CX8 && (tc->rex & 8) && !have_cx16)
		tc->rex &= ~8;
	opsize = m64 ? ((tc->rex & 8) ? 8 : (p66 ? 2 : 4)) : (p66 ? 2 : 4);
	adsize = m64 ? (p67 ? 4 : 8) : 4;
	size = t->byteop ? 1 : opsize;
	if (t->kind == T_CX8)
		size = (tc->rex & 8) ? 16 : 8;
	tc->size = size;
	tc->p66 = p66;

	switch (t->kind) {
	case T_ACCIMM:
		tc->mem = false;
		break;
	case T_MOFFS:
	case T_STR:
	case T_CX8:
		tc->mem = true;
		break;
	default:
		tc->mem = t->memonly || rnd(4) != 0;
		break;
	}
	tc->lock = t->lockable && tc->mem && rnd(2);
	if (rnd(5) == 0 && (tc->mem || rnd(4) == 0)) {
		seglist = m64 ? 6 : 4;
		tc->seg = rnd(seglist);
		if (!m64 && tc->seg == SHV_EMU_SEG_CS)
			tc->seg = SHV_EMU_SEG_DS;	/* CS is not writable */
		if (p67 && tc->seg >= SHV_EMU_SEG_FS)
			tc->seg = -1;
	}
	if (t->kind == T_STR)
		rep = rnd(3) ? (rnd(4) ? 0xf3 : 0xf2) : 0;
	else if (!t->twobyte && rnd(40) == 0)
		rep = rnd(2) ? 0xf3 : 0xf2;

	/* registers: random, RSP untouched by construction */
	for (r = 0; r < 16; r++)
		tc->regs[r] = rnd_val();
	tc->regs[4] = 0x5a5a5a5a5a5a5a5aULL;
	tc->flags = 2 | (rnd64() & F_ARITH) | (rnd(2) ? F_DF : 0);

	/* body: opcode, operands */
	if (t->twobyte)
		b8(tc, 0x0f);
	if (t->esc38)
		b8(tc, 0x38);
	b8(tc, t->op);
	reg = t->ext >= 0 ? (unsigned int)t->ext : rnd(8) | ((tc->rex & 4) << 1);
	busy[4] = true;
	if (t->ext < 0 && (t->kind == T_RM || t->kind == T_BTREG ||
			   t->kind == T_CMPXCHG || t->kind == T_MOVX)) {
		unsigned int rsz = t->kind == T_MOVX ? opsize : size;

		if (phys_reg(reg, rsz, tc->rex) == 4)
			return false;
		if (t->kind == T_BTREG)
			busy[phys_reg(reg, rsz, tc->rex)] = true;
	}

	switch (t->kind) {
	case T_ACCIMM:
		break;
	case T_MOFFS:
		target = rnd_target(tc->a, 1);
		immsz = adsize;
		imm = (target - (m64 ? seg_base64(tc->seg) : 0)) & szmask(adsize);
		break;
	case T_STR: {
		u64 src = rnd_target(tc->a, 1), dst = rnd_target(tc->a, 1);
		u64 amask = szmask(adsize);

		if (m64 && adsize == 8 && tc->seg >= 0)
			src -= seg_base64(tc->seg);
		tc->regs[6] = (tc->regs[6] & ~amask) | (src & amask);
		tc->regs[7] = (tc->regs[7] & ~amask) | (dst & amask);
		if (rep)
			tc->regs[1] = (tc->regs[1] & ~amask) | rnd(14);
		break;
	}
	default:
		if (!tc->mem) {
			unsigned int rsz = t->kind == T_MOVX ? t->srcsize : size;

			r = rnd(8) | ((tc->rex & 1) << 3);
			if (t->kind == T_MOVX && t->srcsize == 4)
				rsz = opsize == 2 ? 2 : 4;
			if (phys_reg(r, rsz, tc->rex) == 4)
				return false;
			b8(tc, 0xc0 | ((reg & 7) << 3) | (r & 7));
			if (t->kind == T_CMPXCHG && rnd(2))
				put_reg(tc->regs, r, size, tc->rex,
					get_reg(tc->regs, 0, size, 0));
			break;
		}
		target = rnd_target(tc->a, t->kind == T_CX8 ? size : 1);
		if (!gen_mem(tc, reg, target, adsize, &ripfix, busy))
			return false;
		if (t->kind == T_BTREG) {
			/* signed bit offset, in range of the data area */
			s64 off = (s64)rnd(16384) - 8192;
			u64 m = szmask(opsize);

			if (opsize == 2)
				off /= 4;
			tc->regs[reg] = ((u64)off & m) | (rnd64() & ~m);
		}
		break;
	}
	if (t->imm == IMM_8)
		immsz = 1;
	else if (t->imm == IMM_V)
		immsz = opsize == 2 ? 2 : 4;
	if (t->imm != IMM_MOFFS && immsz)
		imm = rnd(3) ? rnd_val() : rnd64();
	bn(tc, imm, immsz);
	tc->imm = imm;
	/* DIV/IDIV: mostly a dividend whose upper half leaves room */
	if (t->kind == T_DIV && rnd(4)) {
		u64 a = get_reg(tc->regs, 0, size == 1 ? 1 : size, 0);
		bool neg = t->ext == 7 && (a >> (size * 8 - 1)) & 1;

		if (size == 1 && !busy[0])
			put_reg(tc->regs, 4, 1, 0, neg ? 0xff : 0);	/* AH */
		else if (size > 1 && !busy[2])
			put_reg(tc->regs, 2, size, 0, neg ? ~0ULL : 0);
	}

	/* memory contents at the target */
	if (tc->mem && t->kind != T_STR) {
		tp = (u8 *)(unsigned long)target;
		for (i = 0; i < size; i++)
			tp[i] = (u8)rnd64();
		tc->dirty = tp;
		tc->ndirty = size;
		if (t->kind == T_CMPXCHG && rnd(2)) {
			u64 acc = get_reg(tc->regs, 0, size, 0);

			memcpy(tp, &acc, size);
		}
		if (t->kind == T_CX8 && rnd(2)) {
			if (size == 16) {
				memcpy(tp, &tc->regs[0], 8);
				memcpy(tp + 8, &tc->regs[2], 8);
			} else {
				u32 lo = (u32)tc->regs[0], hi = (u32)tc->regs[2];

				memcpy(tp, &lo, 4);
				memcpy(tp + 4, &hi, 4);
			}
		}
	}

	/* prefixes in random order */
	if (p66)
		tc->pfx[tc->npfx++] = 0x66;
	if (p67)
		tc->pfx[tc->npfx++] = 0x67;
	if (tc->lock)
		tc->pfx[tc->npfx++] = 0xf0;
	if (rep)
		tc->pfx[tc->npfx++] = (u8)rep;
	if (tc->seg >= 0)
		tc->pfx[tc->npfx++] = (u8)seg_prefix(tc->seg);
	for (i = tc->npfx; i > 1; i--) {
		unsigned int j = rnd(i);
		u8 x = tc->pfx[i - 1];

		tc->pfx[i - 1] = tc->pfx[j];
		tc->pfx[j] = x;
	}
	tc->len = 0;
	memcpy(tc->insn, tc->pfx, tc->npfx);
	tc->len = tc->npfx;
	if (tc->rex)
		tc->insn[tc->len++] = tc->rex;
	memcpy(tc->insn + tc->len, tc->body, tc->nbody);
	if (ripfix >= 0)
		ripfix += (int)tc->len;
	tc->len += tc->nbody;
	if (tc->len > 15)
		return false;

	/* RIP-relative: the instruction's address is known now */
	if (ripfix >= 0) {
		u64 at = (u64)(unsigned long)(tc->a->base + tc->a->insn_off64);
		u64 d = target - (m64 ? seg_base64(tc->seg) : 0) - (at + tc->len);

		if (adsize == 8 && (u64)(s64)(s32)d != d)
			return false;
		memcpy(tc->insn + ripfix, &d, 4);
	}
	return true;
}

static void hexdump(char *out, const u8 *b, unsigned int n)
{
	unsigned int i;

	out[0] = 0;
	for (i = 0; i < n; i++)
		sprintf(out + 3 * i, "%02x ", b[i]);
}

/* insn offsets in the code page are fixed: measure them once */
static void arena_measure(struct arena *a)
{
	u8 nop = 0x90;

	a->insn_off64 = (unsigned int)(gen_run64(a, &nop, 1) - a->base);
	a->insn_off32 = (unsigned int)(gen_run32(a, &nop, 1) - a->base);
}

/*
 * A REP MOVS/STOS with a 32-bit address size in 64-bit mode and ECX = 0:
 * Intel zero-extends RSI/RDI anyway, AMD leaves them alone.
 */
static bool vendor_specific_string(const struct tcase *tc)
{
	bool a32 = false, rep = false;
	unsigned int i;
	u8 b;

	if (!tc->m64 || (tc->regs[1] & 0xffffffffULL))
		return false;
	for (i = 0; i < tc->len; i++) {
		b = tc->insn[i];
		if (b == 0x67)
			a32 = true;
		else if (b == 0xf2 || b == 0xf3)
			rep = true;
		else if (!(b == 0x66 || b == 0xf0 || (b & 0xf0) == 0x40 ||
			   b == 0x26 || b == 0x2e || b == 0x36 || b == 0x3e ||
			   b == 0x64 || b == 0x65))
			break;
	}
	if (i == tc->len)
		return false;
	b = tc->insn[i];
	return a32 && rep && b >= 0xa4 && b <= 0xaf && b != 0xa8 && b != 0xa9;
}

/* The arithmetic flags the SDM defines after this case. */
static u64 defined_flags(const struct tcase *tc)
{
	const struct tmpl *t = tc->t;
	unsigned int count, bits = tc->size * 8;

	switch (t->fl) {
	case FL_LOGIC:
		return F_ARITH & ~F_AF;
	case FL_BT:
		return F_CF;
	case FL_MUL:
		return F_CF | F_OF;
	case FL_NONE:
		return 0;
	case FL_SHIFT:
		if (t->op == 0xd0 || t->op == 0xd1)
			count = 1;
		else if (t->op == 0xd2 || t->op == 0xd3)
			count = tc->regs[1] & 0xff;
		else
			count = tc->imm & 0xff;
		count &= tc->size == 8 ? 0x3f : 0x1f;
		if (!count)
			return F_ARITH;		/* all unchanged */
		if (t->ext < 4)			/* rotates: OF for count 1 only */
			return count == 1 ? F_ARITH : F_ARITH & ~F_OF;
		/* shifts: AF undefined, OF for 1 only, CF for count < size */
		return (F_ARITH & ~F_AF & ~(count == 1 ? 0 : F_OF)) &
		       ~(count >= bits ? F_CF : 0);
	default:
		return F_ARITH;
	}
}

/* the emulator's memory: a full copy of both arenas (code and data) */
static void arenas_sync(void)
{
	memcpy(hi_arena.mirror, hi_arena.base, A_MIRROR_SIZE);
	memcpy(lo_arena.mirror, lo_arena.base, A_MIRROR_SIZE);
}

struct diff_stats {
	unsigned int cases, failures, emu_calls, locked, memops, divide_errors;
};

/*
 * Run one case natively and in the emulator (in emu_mode: PROT16 runs the
 * 66/67-toggled encoding, which means the same), compare everything.
 */
static bool diff_one(struct __test_metadata *_metadata, struct tcase *tc,
		     int emu_mode, bool use_cx, struct diff_stats *st)
{
	struct arena *a = tc->a;
	u64 nregs[16], nflags = tc->flags, fmask, in_regs[16];
	struct shv_emu_ctxt c;
	struct guest g;
	u8 einsn[16], *at;
	unsigned int elen = tc->len, i, calls, nreg;
	char hex[64];
	u64 rip0;
	int sig, ret = SHV_EMU_OK;
	bool ok = true;

	memcpy(in_regs, tc->regs, sizeof(in_regs));
	memcpy(einsn, tc->insn, tc->len);
	if (emu_mode == SHV_EMU_MODE_PROT16) {
		/* toggle 66, add 67: same operation in a 16-bit code segment */
		unsigned int n = 0;

		einsn[n++] = 0x67;
		if (!tc->p66)
			einsn[n++] = 0x66;
		for (i = 0; i < tc->len; i++)
			if (!(i < tc->npfx && tc->insn[i] == 0x66))
				einsn[n++] = tc->insn[i];
		elen = n;
		if (elen > 15)
			return true;
	}

	/*
	 * The mirrors equal the arenas' data after every passing case (and
	 * get resynced after a failing one): bring over what the generator
	 * just wrote, and the instruction.
	 */
	at = tc->m64 ? gen_run64(a, tc->insn, tc->len) : gen_run32(a, tc->insn, tc->len);
	if (tc->ndirty)
		memcpy(a->mirror + (tc->dirty - a->base), tc->dirty, tc->ndirty);
	memcpy(a->mirror + (at - a->base), einsn, elen);

	memcpy(nregs, tc->regs, sizeof(nregs));
	if (!tc->m64)
		for (i = 0; i < 8; i++)
			nregs[i] &= 0xffffffffULL;
	sig = native_ok ? native_run(a, !tc->m64, nregs, &nflags) : 0;
	hexdump(hex, tc->insn, tc->len);
	if (sig == SIGFPE && tc->t->kind == T_DIV) {
		/* #DE natively: the emulator must raise it, changing nothing */
		memset(&c, 0, sizeof(c));
		guest_init(&g);
		guest_add(&g, (u64)(unsigned long)hi_arena.base, hi_arena.mirror, A_MIRROR_SIZE);
		guest_add(&g, (u64)(unsigned long)lo_arena.base, lo_arena.mirror, A_MIRROR_SIZE);
		memcpy(c.regs, tc->regs, sizeof(c.regs));
		c.rflags = tc->flags | 0x200;
		c.mode = emu_mode;
		if (tc->m64) {
			c.seg_base[SHV_EMU_SEG_FS] = host_fs_base;
			c.seg_base[SHV_EMU_SEG_GS] = host_gs_base;
		}
		if (emu_mode == SHV_EMU_MODE_PROT16) {
			c.seg_base[SHV_EMU_SEG_CS] = (u64)(unsigned long)a->base;
			c.rip = (u64)(at - a->base);
		} else {
			c.rip = (u64)(unsigned long)at;
		}
		rip0 = c.rip;
		ret = shv_emulate(&c, &gops, &g);
		st->divide_errors++;
		if (ret == SHV_EMU_EXCEPTION && c.exc_vector == SHV_EMU_VEC_DE &&
		    !c.exc_has_error_code && c.rip == rip0 &&
		    !memcmp(c.regs, tc->regs, sizeof(c.regs)))
			return true;
		hexdump(hex, einsn, elen);
		TH_LOG("emu mode %d [%s]: native #DE, emulator ret %d vector %u", emu_mode,
		       hex, ret, c.exc_vector);
		st->failures++;
		arenas_sync();
		return false;
	}
	if (sig) {
		TH_LOG("native run of [%s] (%s) got signal %d", hex,
		       tc->m64 ? "64" : "32", sig);
		st->failures++;
		arenas_sync();
		return false;
	}

	guest_init(&g);
	guest_add(&g, (u64)(unsigned long)hi_arena.base, hi_arena.mirror, A_MIRROR_SIZE);
	guest_add(&g, (u64)(unsigned long)lo_arena.base, lo_arena.mirror, A_MIRROR_SIZE);
	g.wlimit_lo = (u64)(unsigned long)(a->base + A_DATA);
	g.wlimit_hi = g.wlimit_lo + A_DATA_SIZE;
	memset(&c, 0, sizeof(c));
	memcpy(c.regs, tc->regs, sizeof(c.regs));
	c.rflags = tc->flags | 0x200;
	c.mode = emu_mode;
	c.rep_max = rnd(2) ? 1000 : rnd(4);
	for (i = 0; i < SHV_EMU_NR_SEGS; i++)
		c.seg_base[i] = tc->m64 ? rnd64() : 0;	/* 64-bit: must be ignored */
	if (tc->m64) {
		c.seg_base[SHV_EMU_SEG_FS] = host_fs_base;
		c.seg_base[SHV_EMU_SEG_GS] = host_gs_base;
	}
	if (emu_mode == SHV_EMU_MODE_PROT16) {
		c.seg_base[SHV_EMU_SEG_CS] = (u64)(unsigned long)a->base;
		c.rip = (u64)(at - a->base);
	} else {
		c.rip = (u64)(unsigned long)at;
	}
	rip0 = c.rip;
	for (calls = 0; calls < 64; calls++) {
		ret = shv_emulate(&c, use_cx ? &gops : &gops_nocx, &g);
		st->emu_calls++;
		if (ret != SHV_EMU_OK || c.rip != rip0)
			break;
	}

	if (ret != SHV_EMU_OK || c.insn_len != elen || c.rip != rip0 + elen) {
		hexdump(hex, einsn, elen);
		TH_LOG("emu mode %d [%s]: ret %d insn_len %u (want %u) rip +%lld exc %u",
		       emu_mode, hex, ret, c.insn_len, elen,
		       (long long)(c.rip - rip0), c.exc_vector);
		st->failures++;
		arenas_sync();
		return false;
	}
	if (!native_ok) {
		arenas_sync();	/* nothing to compare with */
		return true;
	}

	fmask = F_DF | defined_flags(tc);
	if ((c.rflags & fmask) != (nflags & fmask)) {
		TH_LOG("emu mode %d [%s]: flags in %#llx native %#llx emu %#llx",
		       emu_mode, hex, (unsigned long long)tc->flags,
		       (unsigned long long)(nflags & fmask),
		       (unsigned long long)(c.rflags & fmask));
		ok = false;
	}
	if ((c.rflags & ~F_ARITH) != ((tc->flags | 0x200) & ~F_ARITH)) {
		TH_LOG("emu [%s]: non-arithmetic flags changed", hex);
		ok = false;
	}
	nreg = tc->m64 ? 16 : 8;
	for (i = 0; i < nreg; i++) {
		u64 want = i == 4 ? in_regs[4] : nregs[i];
		u64 got = c.regs[i];

		if (!tc->m64 || ((i == 6 || i == 7) && vendor_specific_string(tc))) {
			want &= 0xffffffffULL;
			got &= 0xffffffffULL;
		}
		if (want != got) {
			TH_LOG("emu mode %d [%s]: reg %u in %#llx native %#llx emu %#llx",
			       emu_mode, hex, i, (unsigned long long)in_regs[i],
			       (unsigned long long)want, (unsigned long long)got);
			ok = false;
		}
	}
	/* only this arena's data can change: the emulator must agree */
	if (g.wrote_outside) {
		TH_LOG("emu mode %d [%s]: wrote outside the data area", emu_mode, hex);
		ok = false;
	}
	if (memcmp(a->base + A_DATA, a->mirror + A_DATA, A_DATA_SIZE)) {
		unsigned int o = 0;

		while (a->base[A_DATA + o] == a->mirror[A_DATA + o])
			o++;
		TH_LOG("emu mode %d [%s]: memory differs at %p: native %02x emu %02x",
		       emu_mode, hex, (void *)(a->base + A_DATA + o),
		       a->base[A_DATA + o], a->mirror[A_DATA + o]);
		ok = false;
	}
	/* locked and XCHG-with-memory go through cmpxchg, nothing else does */
	if (tc->mem && use_cx) {
		bool locked = tc->lock || ((tc->t->op & 0xfe) == 0x86 && !tc->t->twobyte);

		if (locked && (g.calls[OPK_WRITE] || !g.calls[OPK_CMPXCHG])) {
			TH_LOG("emu [%s]: locked op used write %d cmpxchg %d", hex,
			       g.calls[OPK_WRITE], g.calls[OPK_CMPXCHG]);
			ok = false;
		}
		if (!locked && g.calls[OPK_CMPXCHG]) {
			TH_LOG("emu [%s]: unlocked op used cmpxchg", hex);
			ok = false;
		}
		st->locked += locked;
	}
	if (g.fetch_crossed_page) {
		TH_LOG("emu [%s]: fetch crossed a page", hex);
		ok = false;
	}
	st->memops += tc->mem;
	if (!ok) {
		st->failures++;
		arenas_sync();
	}
	return ok;
}

static void run_diff(struct __test_metadata *_metadata, bool m64, int emu_mode,
		     u64 salt)
{
	unsigned int iters = env_uint("EMU_TEST_ITERS", 20000), n = 0, tries = 0;
	struct diff_stats st = { 0 };
	struct tcase tc;
	time_t t0 = time(NULL);
	bool ok;

	native_setup();
	tmpl_setup();
	arena_measure(&hi_arena);
	arena_measure(&lo_arena);
	rng_seed(salt);
	if (!m64 && !compat_ok && native_ok)
		SKIP(return, "32-bit compatibility mode not runnable here");
	if (!native_ok)
		TH_LOG("no native runs: emulator only");
	arenas_sync();
	while (n < iters && st.failures < 10) {
		if (++tries > iters * 50)
			break;
		ok = gen_case(&tc, m64);
		/* a rejected case may have written memory already */
		if (tc.ndirty)
			memcpy(tc.a->mirror + (tc.dirty - tc.a->base), tc.dirty, tc.ndirty);
		if (!ok)
			continue;
		n++;
		diff_one(_metadata, &tc, emu_mode, rnd(8) != 0, &st);
		/* the harness kills a test after 30 s: stay well below */
		if (!(n & 255) && time(NULL) - t0 > 15)
			break;
	}
	TH_LOG("%u cases (%u with memory, %u locked, %u #DE), %u emulator calls, %u failures",
	       n, st.memops, st.locked, st.divide_errors, st.emu_calls, st.failures);
	ASSERT_EQ(0, st.failures);
	ASSERT_LT(100, n);
}

/* ------------------------------------------------------------------ */
/* differential tests against the CPU                                  */

TEST(native_diff_long64)
{
	run_diff(_metadata, true, SHV_EMU_MODE_LONG64, 1);
}

TEST(native_diff_prot32)
{
	run_diff(_metadata, false, SHV_EMU_MODE_PROT32, 2);
}

TEST(native_diff_prot16_addr32)
{
	run_diff(_metadata, false, SHV_EMU_MODE_PROT16, 3);
}


/* ------------------------------------------------------------------ */
/* hand-picked encodings, also against the CPU                         */

struct xcase {
	u8 b[16];
	unsigned int len;
	bool lo;		/* needs the low arena (32-bit addresses) */
};

#define X(...) { { __VA_ARGS__ }, sizeof((u8[]){ __VA_ARGS__ }), false }
#define XLO(...) { { __VA_ARGS__ }, sizeof((u8[]){ __VA_ARGS__ }), true }

static const struct xcase xcases64[] = {
	X(0x48, 0x66, 0x89, 0x03),	/* REX then 66: REX ignored, 16-bit */
	X(0x66, 0x48, 0x89, 0x03),	/* REX.W wins over 66 */
	X(0x40, 0x48, 0x89, 0x03),	/* two REX: the last counts */
	X(0x48, 0x40, 0x89, 0x03),
	X(0x48, 0xf0, 0x01, 0x03),	/* REX before LOCK is dropped */
	X(0xf2, 0xa5),			/* REPNE MOVS repeats like REP */
	X(0xf2, 0xab),
	X(0xf3, 0x48, 0xa5),
	X(0xf3, 0x66, 0xab),
	XLO(0x67, 0xf3, 0xa4),		/* ECX/ESI/EDI */
	XLO(0x67, 0xf3, 0x48, 0xab),
	X(0x2e, 0x3e, 0x8b, 0x03),
	X(0xf0, 0xf2, 0x01, 0x03),	/* XACQUIRE LOCK ADD */
	X(0xf3, 0x87, 0x03),		/* XRELEASE XCHG */
	X(0x66, 0x0f, 0xba, 0x2b, 0x1f),	/* BTS m16, 31: bit 15 */
	X(0x48, 0x0f, 0xa3, 0x03),
	X(0x86, 0x23),			/* XCHG [rbx], ah */
	X(0x88, 0x3b),			/* MOV [rbx], bh */
	X(0x40, 0x88, 0x3b),		/* MOV [rbx], dil */
	X(0x0f, 0xb1, 0x0b),
	X(0x0f, 0xb1, 0xc8),		/* CMPXCHG eax, ecx: always succeeds */
	X(0x0f, 0xb0, 0xe0),		/* CMPXCHG al, ah */
	X(0x48, 0x63, 0x03),
	X(0x66, 0x63, 0x03),		/* MOVSXD r16, m16 */
	X(0x63, 0x03),			/* MOVSXD r32, m32 */
	X(0x0f, 0xbe, 0xcc),		/* MOVSX ecx, ah */
	X(0x0f, 0xb6, 0xc4),		/* MOVZX eax, ah */
	X(0x48, 0x0f, 0xbf, 0xc0),
	X(0x87, 0xc0),			/* XCHG eax, eax zero-extends */
	X(0x66, 0x83, 0x03, 0x80),
	X(0x48, 0x81, 0x2b, 0x00, 0x00, 0x00, 0x80),
	X(0x48, 0xc7, 0x03, 0xff, 0xff, 0xff, 0xff),
	X(0x48, 0xf7, 0x1b),
	X(0xf6, 0x1b),
	X(0x48, 0x0f, 0xc7, 0x0b),	/* CMPXCHG16B [rbx] */
	X(0x0f, 0xc7, 0x0b),
};

TEST(native_hand_picked_encodings)
{
	struct diff_stats st = { 0 };
	static const struct tmpl t_all = { .fl = FL_ALL };
	struct tcase tc;
	unsigned int i, v;

	native_setup();
	arena_measure(&hi_arena);
	arena_measure(&lo_arena);
	arenas_sync();
	rng_seed(7);
	for (i = 0; i < ARRAY_LEN(xcases64); i++) {
		for (v = 0; v < 64; v++) {
			const struct xcase *x = &xcases64[i];
			u64 base;
			unsigned int r;

			memset(&tc, 0, sizeof(tc));
			tc.m64 = true;
			tc.a = x->lo ? &lo_arena : &hi_arena;
			tc.t = &t_all;
			tc.mem = true;
			tc.seg = -1;
			memcpy(tc.insn, x->b, x->len);
			tc.len = x->len;
			/* locked (LOCK, or XCHG with memory): for diff_one */
			tc.lock = memchr(x->b, 0xf0, x->len) != NULL;
			for (r = 0; r < x->len; r++) {
				u8 b = x->b[r];

				if (b == 0x66 || b == 0x67 || b == 0xf2 || b == 0xf3 ||
				    (b & 0xf0) == 0x40 || b == 0x2e || b == 0x3e)
					continue;
				if ((b == 0x86 || b == 0x87) && (x->b[r + 1] >> 6) != 3)
					tc.lock = true;
				break;
			}
			for (r = 0; r < 16; r++)
				tc.regs[r] = rnd_val();
			tc.regs[4] = 0x5a5a5a5a5a5a5a5aULL;
			if (x->b[0] == 0x48 && x->b[1] == 0x0f && x->b[2] == 0xc7 && !have_cx16)
				continue;
			base = (u64)(unsigned long)data_lo(tc.a) + 8192;
			tc.regs[3] = base;
			tc.regs[6] = base + 512 + rnd(64);
			tc.regs[7] = base + 1024 + rnd(64);
			tc.regs[1] = (tc.regs[1] & ~0xffffffffULL) | rnd(20);
			if (x->b[0] != 0x67)
				tc.regs[1] = rnd(20);
			/* bit offsets within reach; low bits vary the compare */
			tc.regs[0] = (u64)((s64)rnd(4096) - 2048);
			for (r = 0; r < 32; r++)
				((u8 *)(unsigned long)base)[r] = (u8)rnd64();
			tc.dirty = (u8 *)(unsigned long)base;
			tc.ndirty = 32;
			if (v & 2)
				memcpy((u8 *)(unsigned long)base, &tc.regs[0], 8);
			if (v & 4)
				memcpy((u8 *)(unsigned long)base + 8, &tc.regs[2], 8);
			tc.flags = 2 | (rnd64() & F_ARITH) | (rnd(2) ? F_DF : 0);
			diff_one(_metadata, &tc, SHV_EMU_MODE_LONG64, true, &st);
		}
	}
	ASSERT_EQ(0, st.failures);
}

/* ------------------------------------------------------------------ */
/* instruction lengths from the assembler                              */

asm(".macro EMU_I sect:req, insn:vararg\n"
	"990: \\insn\n"
	"991:\n"
	".pushsection \\sect, \"a\"\n"
	".byte 991b - 990b\n"
	".popsection\n"
	".endm\n");

#define I64(x) "EMU_I .rodata.emu_len64, " x "\n"
#define I32(x) "EMU_I .rodata.emu_len32, " x "\n"
#define I16(x) "EMU_I .rodata.emu_len16, " x "\n"

extern const u8 emu_blob64[], emu_blob64_end[], emu_len64[], emu_len64_end[];
extern const u8 emu_blob32[], emu_blob32_end[], emu_len32[], emu_len32_end[];
extern const u8 emu_blob16[], emu_blob16_end[], emu_len16[], emu_len16_end[];

asm(".pushsection .rodata.emu_len64, \"a\"\nemu_len64:\n.popsection\n"
	".pushsection .rodata.emu_blob64, \"a\"\n"
	".code64\n"
	"emu_blob64:\n"
	I64("movl %eax, (%rbx)")
	I64("movb %ah, (%rsi)")
	I64("movb %sil, (%rsi)")
	I64("movb %r9b, (%r10)")
	I64("movw %ax, 2(%rbx)")
	I64("movq %r15, -128(%r12)")
	I64("movq %rax, 0x12345678(%rbx,%rcx,8)")
	I64("movl %eax, (%rbp)")
	I64("movl %eax, (%r13)")
	I64("movl %eax, (%rsp)")
	I64("movl %eax, (%r12)")
	I64("movl %eax, 0x7f(%r12,%r13,2)")
	I64("movl %eax, 0x10(,%rcx,4)")
	I64("movl %eax, 0x10(,%r12,8)")
	I64("movl %eax, 0x10(%rip)")
	I64("movq 0x1000(%rip), %r8")
	I64("movl 0x12345678, %eax")
	I64("movl %eax, (%eax)")
	I64("movl %eax, -4(%r8d,%r9d,4)")
	I64("movl %fs:0x10, %eax")
	I64("movl %eax, %gs:(%rbx)")
	I64("movq %rax, %es:8(%rdi)")
	I64("movabs 0x00007f1122334455, %al")
	I64("movabs 0x00007f1122334455, %ax")
	I64("movabs %eax, 0x00007f1122334455")
	I64("movabs %rax, 0x00007f1122334455")
	I64(".byte 0x67, 0xa1, 0x78, 0x56, 0x34, 0x12")
	I64(".byte 0x67, 0x48, 0xa3, 0x78, 0x56, 0x34, 0x12")
	I64("movb (%rbx), %cl")
	I64("movq 8(%rbx), %r14")
	I64("movb $0x12, (%rbx)")
	I64("movw $0x1234, (%rbx)")
	I64("movl $0x12345678, 0x100(%rbx)")
	I64("movq $-1, (%rbx)")
	I64("movl $1, 8(%rip)")
	I64("movw $1, 8(%rip)")
	I64("movzbl (%rbx), %eax")
	I64("movzwl (%rbx), %eax")
	I64("movzbw (%rbx), %ax")
	I64("movsbq (%rbx), %rax")
	I64("movswl 4(%rbx), %r9d")
	I64("movslq (%rbx), %rax")
	I64("movslq 0x40(%rip), %r10")
	I64("addl %eax, (%rbx)")
	I64("addb $1, (%rbx)")
	I64("addw $0x1234, (%rbx)")
	I64("addl $0x12345678, (%rbx)")
	I64("addq $-1, 8(%rbx)")
	I64("addq $0x1000, (%rbx)")
	I64("addw $-2, (%rbx)")
	I64("orl (%rbx), %eax")
	I64("adcl %eax, (%rbx)")
	I64("sbbw %ax, (%rbx)")
	I64("andq %rax, (%rbx)")
	I64("subb (%rbx), %al")
	I64("xorl %r8d, (%r9)")
	I64("cmpl %eax, (%rbx)")
	I64("cmpb $5, (%rbx)")
	I64("cmpq $0x12345678, 0x10(%rip)")
	I64("addl $5, %eax")
	I64("addb $5, %al")
	I64("orw $0x100, %ax")
	I64("xorq $-1, %rax")
	I64("lock addl %eax, (%rbx)")
	I64("lock orq $1, (%rbx)")
	I64("lock subw $0x1234, (%rbx)")
	I64("lock incl (%rbx)")
	I64("lock decq 8(%rbx)")
	I64("lock notl (%rbx)")
	I64("lock negb (%rbx)")
	I64("lock btsl %eax, (%rbx)")
	I64("lock btrq $5, (%rbx)")
	I64("lock btcw %ax, (%rbx)")
	I64("lock xaddl %eax, (%rbx)")
	I64("lock xaddq %rax, 8(%rbx)")
	I64("xaddb %al, (%rbx)")
	I64("xaddw %ax, (%rbx)")
	I64("xaddl %eax, %ebx")
	I64("btl %eax, (%rbx)")
	I64("btl $3, (%rbx)")
	I64("btsq %rax, 8(%rbx)")
	I64("btrw $15, (%rbx)")
	I64("btcl $31, 0x100(%rbx,%rsi,1)")
	I64("testl %eax, (%rbx)")
	I64("testb $0x80, (%rbx)")
	I64("testw $0x8000, (%rbx)")
	I64("testq $-1, (%rbx)")
	I64("testl $0x12345678, 0x10(%rbx,%rcx,2)")
	I64("incb (%rbx)")
	I64("incw (%rbx)")
	I64("decl (%rbx)")
	I64("notq (%rbx)")
	I64("negl (%rbx)")
	I64("xchgl %eax, (%rbx)")
	I64("xchgb %al, (%rbx)")
	I64("xchgq %r11, (%r10)")
	I64("cmpxchgl %ecx, (%rbx)")
	I64("lock cmpxchgq %rcx, (%rbx)")
	I64("lock cmpxchgb %cl, (%rbx)")
	I64("lock cmpxchgw %cx, 0x20(%rip)")
	I64("cmpxchg8b (%rbx)")
	I64("lock cmpxchg8b 8(%rbx)")
	I64("lock cmpxchg16b (%rbx)")
	I64("movsb")
	I64("movsw")
	I64("movsl")
	I64("movsq")
	I64("rep movsb")
	I64("rep movsq")
	I64("rep stosl")
	I64("stosb")
	I64("rep stosq")
	I64("addr32 rep stosb")
	I64("addr32 movsl")
	I64("fs movsb")
	I64("xacquire lock addl %eax, (%rbx)")
	I64("xrelease movl %eax, (%rbx)")
	I64(".byte 0x66, 0x48, 0x89, 0x03")
	I64(".byte 0x48, 0x66, 0x89, 0x03")
	I64(".byte 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65, 0xf0, 0x66, 0x67, 0x41, 0x81, 0x04, 0x24, 0x34, 0x12")
	"emu_blob64_end:\n"
	".popsection\n"
	".pushsection .rodata.emu_len64, \"a\"\nemu_len64_end:\n.popsection\n");

asm(".pushsection .rodata.emu_len32, \"a\"\nemu_len32:\n.popsection\n"
	".pushsection .rodata.emu_blob32, \"a\"\n"
	".code32\n"
	"emu_blob32:\n"
	I32("movl %eax, (%ebx)")
	I32("movb %ah, (%esi)")
	I32("movw %ax, 2(%ebx)")
	I32("movl %edi, -128(%ebp)")
	I32("movl %eax, 0x12345678(%ebx,%ecx,8)")
	I32("movl %eax, (%esp)")
	I32("movl %eax, 4(%esp)")
	I32("movl %eax, 0x10(,%ecx,4)")
	I32("movl %eax, 0x12345678")
	I32("movl %ecx, 0x12345678")
	I32("movb 0x12345678, %al")
	I32("movl %eax, %fs:(%ebx)")
	I32("movw %ax, (%bx,%si)")
	I32("movw %ax, 0x1234(%bp,%di)")
	I32("movl %eax, 0x12(%bx)")
	I32(".byte 0x67, 0xa1, 0x34, 0x12")
	I32("movb $1, (%ebx)")
	I32("movw $0x1234, (%ebx)")
	I32("movl $0x12345678, (%ebx)")
	I32("movzbl (%ebx), %eax")
	I32("movswl (%ebx), %eax")
	I32("movzbw (%ebx), %ax")
	I32("addl %eax, (%ebx)")
	I32("addl $0x12345678, 4(%ebx)")
	I32("addw $0x1234, (%ebx)")
	I32("addl $1, (%esp)")
	I32(".byte 0x82, 0x03, 0x05")
	I32("sbbb %dh, (%ebx)")
	I32("cmpw $-1, (%ebx)")
	I32("andl (%ebx), %edx")
	I32("lock xorl %eax, (%ebx)")
	I32("lock incw (%ebx)")
	I32("lock btsl %eax, (%ebx)")
	I32("btl $7, (%ebx)")
	I32("testb $1, (%ebx)")
	I32("testl %eax, (%ebx)")
	I32("negw (%ebx)")
	I32("notb (%ebx)")
	I32("xchgl %eax, (%ebx)")
	I32("lock cmpxchgl %ecx, (%ebx)")
	I32("lock cmpxchg8b (%ebx)")
	I32("cmpxchg8b (%bx,%di)")
	I32("movsb")
	I32("rep movsw")
	I32("rep stosl")
	I32("addr16 rep stosb")
	I32("es movsl")
	"emu_blob32_end:\n"
	".code64\n"
	".popsection\n"
	".pushsection .rodata.emu_len32, \"a\"\nemu_len32_end:\n.popsection\n");

asm(".pushsection .rodata.emu_len16, \"a\"\nemu_len16:\n.popsection\n"
	".pushsection .rodata.emu_blob16, \"a\"\n"
	".code16\n"
	"emu_blob16:\n"
	I16("movw %ax, (%bx,%si)")
	I16("movw %ax, (%bx,%di)")
	I16("movw %ax, (%bp,%si)")
	I16("movw %ax, (%bp,%di)")
	I16("movw %ax, (%si)")
	I16("movw %ax, (%di)")
	I16("movw %ax, 0x1234")
	I16("movw %ax, (%bx)")
	I16("movw %ax, 0x12(%bp)")
	I16("movw %ax, -0x12(%bx,%si)")
	I16("movw %ax, 0x1234(%bp,%di)")
	I16("movw %ax, 0x1234(%bp)")
	I16("movb %ah, (%bx)")
	I16("movl %eax, (%bx)")
	I16("movl %eax, (%ebx)")
	I16("movl %eax, 0x12(%ebx,%ecx,4)")
	I16("movw 0x1234, %ax")
	I16("movb %al, 0x1234")
	I16(".byte 0x67, 0xa3, 0x78, 0x56, 0x34, 0x12")
	I16("movw $0x1234, (%bx)")
	I16("movl $0x12345678, (%bx)")
	I16("movb $0x12, 4(%si)")
	I16("movzbw (%bx), %ax")
	I16("movsbl (%bx), %eax")
	I16("addw $0x1234, (%bx)")
	I16("addl $0x12345678, (%bx)")
	I16("addw $-1, (%bx)")
	I16("adcw %ax, 2(%bp)")
	I16("lock btsw %ax, (%bx)")
	I16("btw $3, (%di)")
	I16("testw $1, (%di)")
	I16("incw (%bx)")
	I16("xchgw %ax, (%bx)")
	I16("lock cmpxchgw %cx, (%bx)")
	I16("cmpxchg8b (%bx)")
	I16("movsb")
	I16("rep movsw")
	I16("rep stosl")
	I16("addr32 rep stosb")
	I16("gs movsw")
	"emu_blob16_end:\n"
	".code64\n"
	".popsection\n"
	".pushsection .rodata.emu_len16, \"a\"\nemu_len16_end:\n.popsection\n");

static void check_lengths(struct __test_metadata *_metadata, int mode,
			  const u8 *blob, const u8 *blob_end,
			  const u8 *lens, const u8 *lens_end)
{
	size_t size = (size_t)(blob_end - blob), off = 0;
	u8 *copy = calloc(1, size + 4096);
	struct shv_emu_ctxt c;
	struct guest g;
	char hex[64];
	int ret;

	ASSERT_NE(NULL, copy);
	memcpy(copy, blob, size);
	guest_init(&g);
	g.null_data = true;
	guest_add(&g, 0x10000, copy, size + 4096);
	ASSERT_LT(20, lens_end - lens);
	for (; lens < lens_end; off += *lens++) {
		memset(&c, 0, sizeof(c));
		c.mode = mode;
		c.rflags = 2;
		if (mode == SHV_EMU_MODE_PROT16) {
			c.seg_base[SHV_EMU_SEG_CS] = 0x10000;
			c.rip = off;
		} else {
			c.rip = 0x10000 + off;
		}
		ret = shv_emulate(&c, &gops, &g);
		hexdump(hex, copy + off, *lens);
		EXPECT_EQ(SHV_EMU_OK, ret) TH_LOG("mode %d [%s]", mode, hex);
		EXPECT_EQ(*lens, c.insn_len) TH_LOG("mode %d [%s]", mode, hex);
		EXPECT_EQ(0, memcmp(c.insn, copy + off, *lens));
	}
	EXPECT_EQ(size, off);
	free(copy);
}

TEST(insn_len_matches_assembler_long64)
{
	check_lengths(_metadata, SHV_EMU_MODE_LONG64, emu_blob64, emu_blob64_end,
		      emu_len64, emu_len64_end);
}

TEST(insn_len_matches_assembler_prot32)
{
	check_lengths(_metadata, SHV_EMU_MODE_PROT32, emu_blob32, emu_blob32_end,
		      emu_len32, emu_len32_end);
}

TEST(insn_len_matches_assembler_prot16)
{
	check_lengths(_metadata, SHV_EMU_MODE_PROT16, emu_blob16, emu_blob16_end,
		      emu_len16, emu_len16_end);
}

/* ------------------------------------------------------------------ */
/* targeted tests over a small fake guest                              */

#define U_BASE	0x100000ULL
#define U_SIZE	0x10000
#define U_CODE	(U_BASE + 0x1000)
#define U_DATA	(U_BASE + 0x8000)

struct ut {
	struct shv_emu_ctxt c;
	struct guest g;
	u8 mem[U_SIZE];
};

static struct ut *ut_new(int mode, const u8 *code, unsigned int len)
{
	struct ut *u = calloc(1, sizeof(*u));
	unsigned int i;

	if (!u)
		abort();
	guest_init(&u->g);
	guest_add(&u->g, U_BASE, u->mem, U_SIZE);
	for (i = 0; i < U_SIZE; i++)
		u->mem[i] = (u8)(i * 7 + 3);
	memcpy(u->mem + (U_CODE - U_BASE), code, len);
	u->c.mode = mode;
	u->c.rip = U_CODE;
	u->c.rflags = 0x202;
	u->c.rep_max = 1000;
	for (i = 0; i < 16; i++)
		u->c.regs[i] = 0x1111111111111111ULL * (i + 1);
	u->c.regs[SHV_EMU_RBX] = U_DATA + 0x100;
	u->c.regs[SHV_EMU_RSI] = U_DATA + 0x200;
	u->c.regs[SHV_EMU_RDI] = U_DATA + 0x300;
	u->c.regs[SHV_EMU_RBP] = U_DATA + 0x400;
	u->c.regs[SHV_EMU_RCX] = 3;
	return u;
}

static int ut_run(struct ut *u)
{
	return shv_emulate(&u->c, &gops, &u->g);
}

static u8 *ut_mem(struct ut *u, u64 la)
{
	return u->mem + (la - U_BASE);
}

/* the architectural state that must not change on failure */
struct snap {
	u64 regs[16], rip, rflags;
};

static void snap_take(struct snap *s, const struct shv_emu_ctxt *c)
{
	memcpy(s->regs, c->regs, sizeof(s->regs));
	s->rip = c->rip;
	s->rflags = c->rflags;
}

static bool snap_same(const struct snap *s, const struct shv_emu_ctxt *c)
{
	return !memcmp(s->regs, c->regs, sizeof(s->regs)) && s->rip == c->rip &&
	       s->rflags == c->rflags;
}

#define B(...) ((const u8[]){ __VA_ARGS__ }), sizeof((const u8[]){ __VA_ARGS__ })

struct ecase {
	const char *name;
	u8 b[16];
	unsigned int len;
	int mode;
};

#define E64(n, ...) { n, { __VA_ARGS__ }, sizeof((u8[]){ __VA_ARGS__ }), SHV_EMU_MODE_LONG64 }
#define E32(n, ...) { n, { __VA_ARGS__ }, sizeof((u8[]){ __VA_ARGS__ }), SHV_EMU_MODE_PROT32 }
#define E16(n, ...) { n, { __VA_ARGS__ }, sizeof((u8[]){ __VA_ARGS__ }), SHV_EMU_MODE_PROT16 }

TEST(unknown_opcodes_are_unhandled)
{
	static const struct ecase cases[] = {
		E64("ud2", 0x0f, 0x0b), E64("hlt", 0xf4), E64("nop", 0x90),
		E64("mov r/m,sreg", 0x8c, 0x03), E64("int", 0xcd, 0x80),
		E64("crc32", 0xf2, 0x0f, 0x38, 0xf0, 0x03), E64("0f 38 00", 0x0f, 0x38, 0x00, 0x03),
		E64("test /1 alias", 0xf7, 0x0b, 0, 0, 0, 0),
		E64("call [m]", 0xff, 0x13), E64("jmp [m]", 0xff, 0x23),
		E64("fe /2", 0xfe, 0x13), E64("c6 /1", 0xc6, 0x0b, 0),
		E64("c7 /1", 0xc7, 0x0b, 0, 0, 0, 0), E64("xbegin", 0xc7, 0xf8, 0, 0, 0, 0),
		E64("vmptrld", 0x0f, 0xc7, 0x33), E64("rdrand", 0x0f, 0xc7, 0xf0),
		E64("0f ba /0", 0x0f, 0xba, 0x03, 1), E64("82 in 64-bit", 0x82, 0x03, 1),
		E64("8f /1", 0x8f, 0x0b), E64("xgetbv", 0x0f, 0x01, 0xd0),
		E64("lea", 0x8d, 0x03), E64("insb", 0x6c), E64("outsb", 0x6e),
		E64("in", 0xe4, 0x10),
		E64("vex", 0xc4, 0xe2, 0x79, 0x18, 0x03), E64("evex", 0x62, 0xf1, 0x7c, 0x48, 0x10, 0x03),
		E64("clflush", 0x0f, 0xae, 0x3b), E64("movd", 0x66, 0x0f, 0x6e, 0x03),
		E64("mov cr", 0x0f, 0x22, 0xd8), E64("push", 0x50), E64("test al,imm", 0xa8, 1),
		E64("daa-slot 27", 0x27), E64("0f 0f", 0x0f, 0x0f, 0x03, 0x0c),
		E32("arpl", 0x63, 0x03), E32("inc eax", 0x40), E32("les", 0xc4, 0x03),
		E32("bound", 0x62, 0x03), E16("arpl16", 0x63, 0x03),
	};
	unsigned int i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct ut *u = ut_new(cases[i].mode, cases[i].b, cases[i].len);
		struct snap s;
		int ret;

		snap_take(&s, &u->c);
		ret = ut_run(u);
		EXPECT_EQ(SHV_EMU_UNHANDLED, ret) TH_LOG("%s", cases[i].name);
		EXPECT_EQ(0, u->c.insn_len) TH_LOG("%s", cases[i].name);
		EXPECT_TRUE(snap_same(&s, &u->c)) TH_LOG("%s", cases[i].name);
		EXPECT_EQ(0, u->g.calls[OPK_READ] + u->g.calls[OPK_WRITE] +
			     u->g.calls[OPK_CMPXCHG]) TH_LOG("%s", cases[i].name);
		/* the bytes are there for the caller's error report */
		EXPECT_LE(1, u->c.insn_fetched);
		EXPECT_EQ(cases[i].b[0], u->c.insn[0]);
		free(u);
	}
	{
		struct ut *u = ut_new(SHV_EMU_MODE_LONG64, B(0x89, 0x03));

		u->c.mode = 7;
		EXPECT_EQ(SHV_EMU_UNHANDLED, ut_run(u));
		free(u);
	}
}

TEST(lock_misuse_raises_ud)
{
	static const struct ecase cases[] = {
		E64("lock mov store", 0xf0, 0x89, 0x03),
		E64("lock mov load", 0xf0, 0x8b, 0x03),
		E64("lock mov imm", 0xf0, 0xc7, 0x03, 1, 0, 0, 0),
		E64("lock cmp", 0xf0, 0x39, 0x03),
		E64("lock cmp imm", 0xf0, 0x83, 0x3b, 1),
		E64("lock test", 0xf0, 0x85, 0x03),
		E64("lock test imm", 0xf0, 0xf6, 0x03, 1),
		E64("lock bt", 0xf0, 0x0f, 0xa3, 0x03),
		E64("lock bt imm", 0xf0, 0x0f, 0xba, 0x23, 1),
		E64("lock add reg,mem", 0xf0, 0x03, 0x03),
		E64("lock add reg,reg", 0xf0, 0x01, 0xc0),
		E64("lock xchg reg,reg", 0xf0, 0x87, 0xc3),
		E64("lock inc reg", 0xf0, 0xff, 0xc0),
		E64("lock movs", 0xf0, 0xa5),
		E64("lock stos", 0xf0, 0xab),
		E64("lock movzx", 0xf0, 0x0f, 0xb6, 0x03),
		E64("lock moffs", 0xf0, 0xa3, 0, 0, 0, 0, 0, 0, 0, 0),
		E64("lock add al,imm", 0xf0, 0x04, 1),
		E64("lock cmpxchg reg", 0xf0, 0x0f, 0xb1, 0xc3),
		E64("cmpxchg8b reg", 0x0f, 0xc7, 0xcb),
		E64("lock cmpxchg16b reg", 0xf0, 0x48, 0x0f, 0xc7, 0xcb),
		E32("lock mov 32", 0xf0, 0x89, 0x03),
		E16("lock mov 16", 0xf0, 0x89, 0x07),
	};
	unsigned int i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct ut *u = ut_new(cases[i].mode, cases[i].b, cases[i].len);
		struct snap s;
		int ret;

		snap_take(&s, &u->c);
		ret = ut_run(u);
		EXPECT_EQ(SHV_EMU_EXCEPTION, ret) TH_LOG("%s", cases[i].name);
		EXPECT_EQ(SHV_EMU_VEC_UD, u->c.exc_vector) TH_LOG("%s", cases[i].name);
		EXPECT_FALSE(u->c.exc_has_error_code);
		EXPECT_EQ(cases[i].len, u->c.insn_len) TH_LOG("%s", cases[i].name);
		EXPECT_TRUE(snap_same(&s, &u->c)) TH_LOG("%s", cases[i].name);
		EXPECT_EQ(0, u->g.calls[OPK_READ] + u->g.calls[OPK_WRITE] +
			     u->g.calls[OPK_CMPXCHG]) TH_LOG("%s", cases[i].name);
		free(u);
	}
}

TEST(cmpxchg16b_alignment)
{
	struct ut *u = ut_new(SHV_EMU_MODE_LONG64, B(0xf0, 0x48, 0x0f, 0xc7, 0x0b));
	struct snap s;

	u->c.regs[SHV_EMU_RBX] = U_DATA + 8;
	snap_take(&s, &u->c);
	EXPECT_EQ(SHV_EMU_EXCEPTION, ut_run(u));
	EXPECT_EQ(SHV_EMU_VEC_GP, u->c.exc_vector);
	EXPECT_TRUE(u->c.exc_has_error_code);
	EXPECT_EQ(0, u->c.exc_error_code);
	EXPECT_TRUE(snap_same(&s, &u->c));
	EXPECT_EQ(0, u->g.calls[OPK_READ]);
	/* aligned: fine; CMPXCHG8B has no alignment rule */
	u->c.regs[SHV_EMU_RBX] = U_DATA + 16;
	EXPECT_EQ(SHV_EMU_OK, ut_run(u));
	free(u);
	u = ut_new(SHV_EMU_MODE_LONG64, B(0xf0, 0x0f, 0xc7, 0x0b));
	u->c.regs[SHV_EMU_RBX] = U_DATA + 3;
	EXPECT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(U_DATA + 3, u->c.last_la);
	EXPECT_EQ(8, u->c.last_len);
	free(u);
}

TEST(cmpxchg16b_semantics)
{
	static const u8 code[] = { 0xf0, 0x48, 0x0f, 0xc7, 0x0b };
	struct ut *u = ut_new(SHV_EMU_MODE_LONG64, code, sizeof(code));
	u64 m[2] = { 0x1111222233334444ULL, 0x5555666677778888ULL }, got[2];

	u->c.regs[SHV_EMU_RBX] = U_DATA + 0x100;
	memcpy(ut_mem(u, U_DATA + 0x100), m, 16);
	u->c.regs[SHV_EMU_RAX] = m[0];
	u->c.regs[SHV_EMU_RDX] = m[1];
	u->c.regs[SHV_EMU_RCX] = 0xccccccccccccccccULL;
	u->c.regs[SHV_EMU_RBX] = U_DATA + 0x100;
	/* RBX is both the address and the new low half */
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_TRUE(u->c.rflags & F_ZF);
	memcpy(got, ut_mem(u, U_DATA + 0x100), 16);
	EXPECT_EQ(U_DATA + 0x100, got[0]);
	EXPECT_EQ(0xccccccccccccccccULL, got[1]);
	EXPECT_EQ(16, u->c.last_len);
	EXPECT_TRUE(u->c.last_write);
	EXPECT_EQ(1, u->g.calls[OPK_CMPXCHG]);
	/* mismatch: RDX:RAX get the memory, memory unchanged */
	u->c.rip = U_CODE;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_FALSE(u->c.rflags & F_ZF);
	EXPECT_EQ(U_DATA + 0x100, u->c.regs[SHV_EMU_RAX]);
	EXPECT_EQ(0xccccccccccccccccULL, u->c.regs[SHV_EMU_RDX]);
	free(u);
}

TEST(instruction_too_long_raises_gp)
{
	u8 code[16];
	struct ut *u;

	/* 13 operand-size prefixes + 89 03 = 15 bytes: fine */
	memset(code, 0x66, 13);
	code[13] = 0x89;
	code[14] = 0x03;
	u = ut_new(SHV_EMU_MODE_LONG64, code, 15);
	EXPECT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(15, u->c.insn_len);
	EXPECT_EQ(2, u->c.last_len);
	free(u);
	/* 14 + 2 = 16: #GP(0) */
	memset(code, 0x66, 14);
	code[14] = 0x89;
	code[15] = 0x03;
	u = ut_new(SHV_EMU_MODE_LONG64, code, 16);
	EXPECT_EQ(SHV_EMU_EXCEPTION, ut_run(u));
	EXPECT_EQ(SHV_EMU_VEC_GP, u->c.exc_vector);
	EXPECT_EQ(0, u->c.insn_len);
	EXPECT_EQ(U_CODE, u->c.rip);
	EXPECT_EQ(0, u->g.calls[OPK_WRITE]);
	free(u);
}

TEST(non_canonical_addresses)
{
	struct ut *u = ut_new(SHV_EMU_MODE_LONG64, B(0x89, 0x03));
	struct snap s;

	u->c.regs[SHV_EMU_RBX] = 0x0000800000000000ULL;
	snap_take(&s, &u->c);
	EXPECT_EQ(SHV_EMU_EXCEPTION, ut_run(u));
	EXPECT_EQ(SHV_EMU_VEC_GP, u->c.exc_vector);
	EXPECT_TRUE(u->c.exc_has_error_code);
	EXPECT_TRUE(snap_same(&s, &u->c));
	/* the last byte crosses into the non-canonical hole */
	u->c.regs[SHV_EMU_RBX] = 0x00007ffffffffffeULL;
	EXPECT_EQ(SHV_EMU_EXCEPTION, ut_run(u));
	u->c.regs[SHV_EMU_RBX] = 0x00007ffffffffffcULL;
	EXPECT_EQ(SHV_EMU_FAULT, ut_run(u));	/* canonical, just not mapped */
	EXPECT_EQ(-EFAULT, u->c.op_error);
	/* with 5-level paging the same address is canonical */
	u->c.la57 = true;
	u->c.regs[SHV_EMU_RBX] = 0x0000800000000000ULL;
	EXPECT_EQ(SHV_EMU_FAULT, ut_run(u));
	u->c.regs[SHV_EMU_RBX] = 0x0100000000000000ULL;
	EXPECT_EQ(SHV_EMU_EXCEPTION, ut_run(u));
	free(u);

	/* a stack reference gets #SS(0) */
	u = ut_new(SHV_EMU_MODE_LONG64, B(0x89, 0x45, 0x00));	/* [rbp] */
	u->c.regs[SHV_EMU_RBP] = 0x8000000000000000ULL;
	EXPECT_EQ(SHV_EMU_EXCEPTION, ut_run(u));
	EXPECT_EQ(SHV_EMU_VEC_SS, u->c.exc_vector);
	free(u);
	/* ... unless overridden to DS */
	u = ut_new(SHV_EMU_MODE_LONG64, B(0x3e, 0x89, 0x45, 0x00));
	u->c.regs[SHV_EMU_RBP] = 0x8000000000000000ULL;
	EXPECT_EQ(SHV_EMU_EXCEPTION, ut_run(u));
	EXPECT_EQ(SHV_EMU_VEC_GP, u->c.exc_vector);
	free(u);
	/* FS base + offset can leave the canonical range */
	u = ut_new(SHV_EMU_MODE_LONG64, B(0x64, 0x89, 0x03));
	u->c.seg_base[SHV_EMU_SEG_FS] = 0x00007ffffffff000ULL;
	u->c.regs[SHV_EMU_RBX] = 0x2000;
	EXPECT_EQ(SHV_EMU_EXCEPTION, ut_run(u));
	free(u);
}

/* instructions for the fault-injection test (regs from ut_new) */
static const struct ecase fault_cases[] = {
	E64("mov store", 0x89, 0x03),
	E64("mov load", 0x8b, 0x03),
	E64("mov imm", 0x48, 0xc7, 0x03, 0x78, 0x56, 0x34, 0x12),
	E64("moffs store", 0xa3, 0x00, 0x81, 0x10, 0, 0, 0, 0, 0),
	E64("add m,r", 0x01, 0x03),
	E64("add r,m", 0x03, 0x03),
	E64("lock add", 0xf0, 0x01, 0x03),
	E64("lock sub imm", 0xf0, 0x48, 0x83, 0x2b, 0x05),
	E64("cmp", 0x39, 0x03),
	E64("xchg", 0x87, 0x03),
	E64("xchg byte", 0x86, 0x23),
	E64("cmpxchg", 0x0f, 0xb1, 0x0b),
	E64("lock cmpxchg", 0xf0, 0x0f, 0xb1, 0x0b),
	E64("cmpxchg8b", 0x0f, 0xc7, 0x0b),
	E64("lock cmpxchg16b", 0xf0, 0x48, 0x0f, 0xc7, 0x0b),
	E64("bt", 0x0f, 0xa3, 0x03),
	E64("lock bts", 0xf0, 0x0f, 0xab, 0x03),
	E64("btr imm", 0x0f, 0xba, 0x33, 0x07),
	E64("test", 0x85, 0x03),
	E64("inc", 0xff, 0x03),
	E64("lock dec", 0xf0, 0xfe, 0x0b),
	E64("not", 0xf7, 0x13),
	E64("neg", 0x48, 0xf7, 0x1b),
	E64("movzx", 0x0f, 0xb6, 0x03),
	E64("movsx", 0x48, 0x0f, 0xbf, 0x03),
	E64("movsxd", 0x48, 0x63, 0x03),
	E64("movs", 0xa5),
	E64("stos", 0x48, 0xab),
	E32("add 32", 0x01, 0x03),
	E32("lock cmpxchg8b 32", 0xf0, 0x0f, 0xc7, 0x0b),
	E16("add 16", 0x01, 0x07),
	E16("movs 16", 0x67, 0xa4),
};

TEST(callback_errors_commit_nothing)
{
	static const int errs[] = { -EFAULT, -EAGAIN, -EIO };
	unsigned int i, kind, nth, e, injected = 0;

	for (i = 0; i < ARRAY_LEN(fault_cases); i++) {
		const struct ecase *fc = &fault_cases[i];

		for (kind = 0; kind < OPK_NR; kind++) {
			for (nth = 0; nth < 4; nth++) {
				for (e = 0; e < ARRAY_LEN(errs); e++) {
					struct ut *u = ut_new(fc->mode, fc->b, fc->len);
					u8 *before = malloc(U_SIZE);
					struct snap s;
					int ret;

					ASSERT_NE(NULL, before);
					u->c.regs[SHV_EMU_RAX] = 0x45;	/* small bit offset */
					if (fc->mode == SHV_EMU_MODE_PROT16) {
						u->c.regs[SHV_EMU_RBX] = 0x100;
						u->c.regs[SHV_EMU_RSI] = 0x200;
						u->c.regs[SHV_EMU_RDI] = 0x300;
						u->c.seg_base[SHV_EMU_SEG_CS] = U_CODE;
						u->c.rip = 0;
						u->c.seg_base[SHV_EMU_SEG_DS] = U_DATA;
						u->c.seg_base[SHV_EMU_SEG_ES] = U_DATA;
					}
					u->g.fail_kind = (int)kind;
					u->g.fail_nth = (int)nth;
					u->g.fail_err = errs[e];
					memcpy(before, u->mem, U_SIZE);
					snap_take(&s, &u->c);
					ret = ut_run(u);
					if (u->g.calls[kind] <= (int)nth) {
						/* never reached that call */
						EXPECT_EQ(SHV_EMU_OK, ret) TH_LOG("%s", fc->name);
						free(before);
						free(u);
						goto next_kind;
					}
					injected++;
					EXPECT_EQ(errs[e] == -EAGAIN ? SHV_EMU_RETRY : SHV_EMU_FAULT, ret)
						TH_LOG("%s kind %u nth %u", fc->name, kind, nth);
					EXPECT_EQ(errs[e], u->c.op_error);
					EXPECT_TRUE(snap_same(&s, &u->c))
						TH_LOG("%s kind %u nth %u", fc->name, kind, nth);
					EXPECT_EQ(0, memcmp(before, u->mem, U_SIZE))
						TH_LOG("%s kind %u nth %u", fc->name, kind, nth);
					/* the failed call was the last one */
					if (kind != OPK_FETCH) {
						EXPECT_EQ(0, u->g.calls[OPK_WRITE] +
							  u->g.calls[OPK_CMPXCHG] -
							  (kind >= OPK_WRITE))
							TH_LOG("%s kind %u: committed a write", fc->name, kind);
						EXPECT_EQ(kind >= OPK_WRITE, u->c.last_write);
					}
					free(before);
					free(u);
				}
			}
next_kind:;
		}
	}
	TH_LOG("%u injected failures", injected);
	EXPECT_LT(200, injected);
}

/* MMIO: the read exits to userspace, the instruction runs again with data */
struct mmio_guest {
	struct guest g;
	u64 mmio_la;
	bool ready;
	u64 data;
	int exits;
	u64 wrote;
	unsigned int wrote_len;
	int writes;
};

static bool in_mmio(struct mmio_guest *m, u64 la)
{
	return la >= m->mmio_la && la < m->mmio_la + 0x1000;
}

static int m_read(void *ctx, u64 la, void *buf, unsigned int len)
{
	struct mmio_guest *m = ctx;

	if (!in_mmio(m, la))
		return g_read(&m->g, la, buf, len);
	if (!m->ready) {
		m->exits++;
		return -EAGAIN;
	}
	memcpy(buf, &m->data, len);
	m->ready = false;
	return 0;
}

static int m_write(void *ctx, u64 la, const void *buf, unsigned int len)
{
	struct mmio_guest *m = ctx;

	if (!in_mmio(m, la))
		return g_write(&m->g, la, buf, len);
	m->wrote = 0;
	memcpy(&m->wrote, buf, len);
	m->wrote_len = len;
	m->writes++;
	return 0;
}

static int m_fetch(void *ctx, u64 la, void *buf, unsigned int len)
{
	return g_fetch(&((struct mmio_guest *)ctx)->g, la, buf, len);
}

static const struct shv_emu_ops mops = {
	.fetch = m_fetch, .read = m_read, .write = m_write,
};

TEST(mmio_read_retry_then_complete)
{
	struct ut *u = ut_new(SHV_EMU_MODE_LONG64,
			      B(0x03, 0x03,		/* add eax, [rbx] */
				0x83, 0x03, 0x05,	/* add dword [rbx], 5 */
				0xf3, 0xa5));		/* rep movsd from mmio */
	struct mmio_guest m = { .mmio_la = 0xfee00000 };
	struct snap s;
	int i;

	m.g = u->g;
	u->c.regs[SHV_EMU_RAX] = 0x100000001ULL;
	u->c.regs[SHV_EMU_RBX] = 0xfee00010;
	u->c.rflags = 0x202 | F_CF;

	snap_take(&s, &u->c);
	EXPECT_EQ(SHV_EMU_RETRY, shv_emulate(&u->c, &mops, &m));
	EXPECT_EQ(-EAGAIN, u->c.op_error);
	EXPECT_EQ(0xfee00010, u->c.last_la);
	EXPECT_EQ(4, u->c.last_len);
	EXPECT_TRUE(snap_same(&s, &u->c));
	m.ready = true;
	m.data = 0xffffffff;
	ASSERT_EQ(SHV_EMU_OK, shv_emulate(&u->c, &mops, &m));
	EXPECT_EQ(0, u->c.regs[SHV_EMU_RAX]);	/* 1 + 0xffffffff, zero-extended */
	EXPECT_EQ(F_CF | F_ZF | F_PF | F_AF, u->c.rflags & F_ARITH);
	EXPECT_EQ(U_CODE + 2, u->c.rip);

	/* read-modify-write of a register: read exits, write goes through */
	EXPECT_EQ(SHV_EMU_RETRY, shv_emulate(&u->c, &mops, &m));
	EXPECT_EQ(0, m.writes);
	m.ready = true;
	m.data = 0x7ffffffd;
	ASSERT_EQ(SHV_EMU_OK, shv_emulate(&u->c, &mops, &m));
	EXPECT_EQ(1, m.writes);
	EXPECT_EQ(0x80000002, m.wrote);
	EXPECT_EQ(4, m.wrote_len);
	EXPECT_EQ(F_OF | F_SF | F_AF, u->c.rflags & F_ARITH);
	EXPECT_EQ(U_CODE + 5, u->c.rip);

	/*
	 * REP MOVS from MMIO to RAM: one exit per element; each run
	 * completes the element whose data arrived and keeps it (RIP stays).
	 */
	u->c.regs[SHV_EMU_RSI] = 0xfee00020;
	u->c.regs[SHV_EMU_RDI] = U_DATA;
	u->c.regs[SHV_EMU_RCX] = 3;
	snap_take(&s, &u->c);
	EXPECT_EQ(SHV_EMU_RETRY, shv_emulate(&u->c, &mops, &m));
	EXPECT_TRUE(snap_same(&s, &u->c));
	for (i = 0; i < 3; i++) {
		m.ready = true;
		m.data = 0xa0 + i;
		EXPECT_EQ(i < 2 ? SHV_EMU_RETRY : SHV_EMU_OK,
			  shv_emulate(&u->c, &mops, &m));
		EXPECT_EQ(0xa0 + i, *(u32 *)ut_mem(u, U_DATA + 4 * i));
		EXPECT_EQ(2 - i, u->c.regs[SHV_EMU_RCX]);
		EXPECT_EQ(i < 2 ? U_CODE + 5 : U_CODE + 7, u->c.rip);
	}
	EXPECT_EQ(0xfee00020 + 12, u->c.regs[SHV_EMU_RSI]);
	EXPECT_EQ(U_DATA + 12, u->c.regs[SHV_EMU_RDI]);
	EXPECT_EQ(5, m.exits);
	free(u);
}

TEST(rep_string_progress)
{
	struct ut *u = ut_new(SHV_EMU_MODE_LONG64, B(0xf3, 0x48, 0xab));	/* rep stosq */
	unsigned int i;

	u->c.regs[SHV_EMU_RAX] = 0x0123456789abcdefULL;
	u->c.regs[SHV_EMU_RDI] = U_DATA;
	u->c.regs[SHV_EMU_RCX] = 10;
	u->c.rep_max = 3;
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(SHV_EMU_OK, ut_run(u));
		EXPECT_EQ(U_CODE, u->c.rip);
		EXPECT_EQ(10 - 3 * (i + 1), u->c.regs[SHV_EMU_RCX]);
		EXPECT_EQ(U_DATA + 24 * (i + 1), u->c.regs[SHV_EMU_RDI]);
	}
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(U_CODE + 3, u->c.rip);
	EXPECT_EQ(0, u->c.regs[SHV_EMU_RCX]);
	for (i = 0; i < 10; i++)
		EXPECT_EQ(0x0123456789abcdefULL, *(u64 *)ut_mem(u, U_DATA + 8 * i));
	EXPECT_EQ((u8)((0x8000 + 80) * 7 + 3), *ut_mem(u, U_DATA + 80));

	/* rep_max 0 is one iteration; DF=1 goes down */
	free(u);
	u = ut_new(SHV_EMU_MODE_LONG64, B(0xf3, 0x66, 0xa5));	/* rep movsw */
	u->c.rep_max = 0;
	u->c.rflags |= F_DF;
	u->c.regs[SHV_EMU_RSI] = U_DATA + 0x100;
	u->c.regs[SHV_EMU_RDI] = U_DATA + 0x200;
	u->c.regs[SHV_EMU_RCX] = 2;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(U_CODE, u->c.rip);
	EXPECT_EQ(U_DATA + 0xfe, u->c.regs[SHV_EMU_RSI]);
	EXPECT_EQ(U_DATA + 0x1fe, u->c.regs[SHV_EMU_RDI]);
	EXPECT_EQ(U_DATA + 0x200, u->c.last_la);
	EXPECT_EQ(2, u->c.last_len);
	EXPECT_TRUE(u->c.last_write);
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(U_CODE + 3, u->c.rip);
	EXPECT_EQ(0, memcmp(ut_mem(u, U_DATA + 0xfe), ut_mem(u, U_DATA + 0x1fe), 4));
	free(u);

	/* count 0: nothing touched, RIP moves on */
	u = ut_new(SHV_EMU_MODE_LONG64, B(0xf3, 0xa4));
	u->c.regs[SHV_EMU_RCX] = 0;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(U_CODE + 2, u->c.rip);
	EXPECT_EQ(0, u->g.calls[OPK_READ] + u->g.calls[OPK_WRITE]);
	EXPECT_EQ(0, u->c.last_len);
	free(u);
	/*
	 * 32-bit address size: ECX = 0 although RCX is not. Like Intel CPUs
	 * (not AMD ones), the address registers get zero-extended anyway.
	 */
	u = ut_new(SHV_EMU_MODE_LONG64, B(0x67, 0xf3, 0xaa));
	u->c.regs[SHV_EMU_RCX] = 0x100000000ULL;
	u->c.regs[SHV_EMU_RSI] = 0xabcd000000002000ULL;
	u->c.regs[SHV_EMU_RDI] = 0xabcd000000001000ULL;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(U_CODE + 3, u->c.rip);
	EXPECT_EQ(0, u->g.calls[OPK_WRITE]);
	EXPECT_EQ(0x100000000ULL, u->c.regs[SHV_EMU_RCX]);
	EXPECT_EQ(0xabcd000000002000ULL, u->c.regs[SHV_EMU_RSI]);
	EXPECT_EQ(0x1000, u->c.regs[SHV_EMU_RDI]);
	free(u);
	u = ut_new(SHV_EMU_MODE_LONG64, B(0x67, 0xf3, 0xa5));
	u->c.regs[SHV_EMU_RCX] = 0xffffffff00000000ULL;
	u->c.regs[SHV_EMU_RSI] = 0xabcd000000002000ULL;
	u->c.regs[SHV_EMU_RDI] = 0xabcd000000001000ULL;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(0, u->g.calls[OPK_READ]);
	EXPECT_EQ(0x2000, u->c.regs[SHV_EMU_RSI]);
	EXPECT_EQ(0x1000, u->c.regs[SHV_EMU_RDI]);
	free(u);
	/* 16-bit: only CX/SI/DI count and change */
	u = ut_new(SHV_EMU_MODE_PROT16, B(0xf3, 0xa4));
	u->c.seg_base[SHV_EMU_SEG_CS] = U_CODE;
	u->c.rip = 0;
	u->c.seg_base[SHV_EMU_SEG_DS] = U_BASE;
	u->c.seg_base[SHV_EMU_SEG_ES] = U_DATA;
	u->c.regs[SHV_EMU_RCX] = 0xabcd0002;
	u->c.regs[SHV_EMU_RSI] = 0x1234ffff;
	u->c.regs[SHV_EMU_RDI] = 0x56780010;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(2, u->c.rip);
	EXPECT_EQ(0xabcd0000, u->c.regs[SHV_EMU_RCX]);
	EXPECT_EQ(0x12340001, u->c.regs[SHV_EMU_RSI]);	/* SI wraps */
	EXPECT_EQ(0x56780012, u->c.regs[SHV_EMU_RDI]);
	EXPECT_EQ(*ut_mem(u, U_BASE + 0xffff), *ut_mem(u, U_DATA + 0x10));
	EXPECT_EQ(*ut_mem(u, U_BASE + 0x0), *ut_mem(u, U_DATA + 0x11));
	free(u);
}

TEST(rep_string_fault_keeps_completed_iterations)
{
	struct ut *u = ut_new(SHV_EMU_MODE_LONG64, B(0xf3, 0xa4));	/* rep movsb */
	u8 src[8];

	u->c.regs[SHV_EMU_RSI] = U_DATA;
	u->c.regs[SHV_EMU_RDI] = U_DATA + 0x881;
	u->c.regs[SHV_EMU_RCX] = 8;
	memcpy(src, ut_mem(u, U_DATA), 8);
	u->g.fail_kind = OPK_WRITE;
	u->g.fail_nth = 3;
	u->g.fail_err = -EFAULT;
	EXPECT_EQ(SHV_EMU_FAULT, ut_run(u));
	EXPECT_EQ(U_CODE, u->c.rip);
	EXPECT_EQ(5, u->c.regs[SHV_EMU_RCX]);
	EXPECT_EQ(U_DATA + 3, u->c.regs[SHV_EMU_RSI]);
	EXPECT_EQ(U_DATA + 0x884, u->c.regs[SHV_EMU_RDI]);
	EXPECT_EQ(U_DATA + 0x884, u->c.last_la);
	EXPECT_EQ(0, memcmp(src, ut_mem(u, U_DATA + 0x881), 3));
	EXPECT_NE(src[3], *ut_mem(u, U_DATA + 0x884));
	/* the fault handled, the guest re-executes and finishes */
	u->g.fail_kind = -1;
	EXPECT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(U_CODE + 2, u->c.rip);
	EXPECT_EQ(0, u->c.regs[SHV_EMU_RCX]);
	EXPECT_EQ(0, memcmp(src, ut_mem(u, U_DATA + 0x881), 8));

	/* -EAGAIN on the first element: nothing at all */
	u->c.rip = U_CODE;
	u->c.regs[SHV_EMU_RCX] = 4;
	u->g.fail_kind = OPK_READ;
	u->g.fail_nth = u->g.calls[OPK_READ];
	u->g.fail_err = -EAGAIN;
	{
		struct snap s;

		snap_take(&s, &u->c);
		EXPECT_EQ(SHV_EMU_RETRY, ut_run(u));
		EXPECT_TRUE(snap_same(&s, &u->c));
	}
	free(u);
}

TEST(locked_ops_retry_lost_races)
{
	struct ut *u = ut_new(SHV_EMU_MODE_LONG64, B(0xf0, 0x01, 0x03));	/* lock add [rbx], eax */
	u32 v = 0x100, got;
	struct snap s;

	memcpy(ut_mem(u, U_DATA + 0x100), &v, 4);
	u->c.regs[SHV_EMU_RAX] = 0x10;
	u->g.races = 3;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	memcpy(&got, ut_mem(u, U_DATA + 0x100), 4);
	EXPECT_EQ(0x100 + 9 + 0x10, got);	/* three racing +3s, then ours */
	EXPECT_EQ(4, u->g.calls[OPK_CMPXCHG]);
	EXPECT_EQ(4, u->g.calls[OPK_READ]);
	EXPECT_EQ(0, u->g.calls[OPK_WRITE]);
	EXPECT_EQ(U_CODE + 3, u->c.rip);

	/* never winning: RETRY with op_error 0, nothing committed */
	u->c.rip = U_CODE;
	memset(u->g.calls, 0, sizeof(u->g.calls));
	u->g.races = 1000000;
	snap_take(&s, &u->c);
	EXPECT_EQ(SHV_EMU_RETRY, ut_run(u));
	EXPECT_EQ(0, u->c.op_error);
	EXPECT_EQ(SHV_EMU_CMPXCHG_TRIES, u->g.calls[OPK_CMPXCHG]);
	EXPECT_TRUE(snap_same(&s, &u->c));
	free(u);

	/*
	 * LOCK CMPXCHG that would have succeeded, but another CPU changed the
	 * value first: it must fail with the value it lost to.
	 */
	u = ut_new(SHV_EMU_MODE_LONG64, B(0xf0, 0x0f, 0xb1, 0x0b));
	v = 0x55;
	memcpy(ut_mem(u, U_DATA + 0x100), &v, 4);
	u->c.regs[SHV_EMU_RAX] = 0xffffffff00000055ULL;
	u->c.regs[SHV_EMU_RCX] = 0x77;
	u->g.races = 1;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_FALSE(u->c.rflags & F_ZF);
	EXPECT_EQ(0x58, u->c.regs[SHV_EMU_RAX]);
	memcpy(&got, ut_mem(u, U_DATA + 0x100), 4);
	EXPECT_EQ(0x58, got);
	free(u);

	/*
	 * The other way round: the first attempt sees a mismatch, but the
	 * value changes to the expected one before the write-back, so the
	 * retry must succeed against the original RAX.
	 */
	u = ut_new(SHV_EMU_MODE_LONG64, B(0xf0, 0x0f, 0xb1, 0x0b));
	v = 0x52;
	memcpy(ut_mem(u, U_DATA + 0x100), &v, 4);
	u->c.regs[SHV_EMU_RAX] = 0xffffffff00000055ULL;
	u->c.regs[SHV_EMU_RCX] = 0x77;
	u->g.races = 1;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_TRUE(u->c.rflags & F_ZF);
	EXPECT_EQ(0xffffffff00000055ULL, u->c.regs[SHV_EMU_RAX]);
	memcpy(&got, ut_mem(u, U_DATA + 0x100), 4);
	EXPECT_EQ(0x77, got);
	EXPECT_EQ(2, u->g.calls[OPK_CMPXCHG]);
	free(u);
	/* same for CMPXCHG8B (EDX:EAX) */
	u = ut_new(SHV_EMU_MODE_LONG64, B(0xf0, 0x0f, 0xc7, 0x0b));
	{
		u64 m8 = 0x1234567800000052ULL, got8;

		memcpy(ut_mem(u, U_DATA + 0x100), &m8, 8);
		u->c.regs[SHV_EMU_RAX] = 0xaaaaaaaa00000055ULL;
		u->c.regs[SHV_EMU_RDX] = 0xbbbbbbbb12345678ULL;
		u->c.regs[SHV_EMU_RCX] = 0x99;
		u->c.regs[SHV_EMU_RBX] = U_DATA + 0x100;
		u->g.races = 1;
		ASSERT_EQ(SHV_EMU_OK, ut_run(u));
		EXPECT_TRUE(u->c.rflags & F_ZF);
		EXPECT_EQ(0xaaaaaaaa00000055ULL, u->c.regs[SHV_EMU_RAX]);
		EXPECT_EQ(0xbbbbbbbb12345678ULL, u->c.regs[SHV_EMU_RDX]);
		memcpy(&got8, ut_mem(u, U_DATA + 0x100), 8);
		EXPECT_EQ(((U_DATA + 0x100) & 0xffffffffULL) | (0x99ULL << 32), got8);
	}
	free(u);

	/* XCHG is locked without a prefix */
	u = ut_new(SHV_EMU_MODE_LONG64, B(0x87, 0x03));
	v = 0x55;
	memcpy(ut_mem(u, U_DATA + 0x100), &v, 4);
	u->c.regs[SHV_EMU_RAX] = 0xabcdef;
	u->g.races = 2;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(0x55 + 6, u->c.regs[SHV_EMU_RAX]);
	memcpy(&got, ut_mem(u, U_DATA + 0x100), 4);
	EXPECT_EQ(0xabcdef, got);
	EXPECT_EQ(3, u->g.calls[OPK_CMPXCHG]);
	free(u);

	/* without a cmpxchg callback: plain read + write */
	u = ut_new(SHV_EMU_MODE_LONG64, B(0xf0, 0x01, 0x03));
	memcpy(ut_mem(u, U_DATA + 0x100), &v, 4);
	u->c.regs[SHV_EMU_RAX] = 1;
	ASSERT_EQ(SHV_EMU_OK, shv_emulate(&u->c, &gops_nocx, &u->g));
	memcpy(&got, ut_mem(u, U_DATA + 0x100), 4);
	EXPECT_EQ(0x56, got);
	EXPECT_EQ(1, u->g.calls[OPK_WRITE]);
	free(u);
}

/* null-data guest: every access succeeds, check the linear addresses */
static struct ut *seg_ut(int mode, const u8 *code, unsigned int len)
{
	struct ut *u = ut_new(mode, code, len);
	unsigned int i;

	u->g.null_data = true;
	for (i = 0; i < SHV_EMU_NR_SEGS; i++)
		u->c.seg_base[i] = 0x10000000ULL * (i + 1);
	u->c.seg_base[SHV_EMU_SEG_CS] = 0;
	return u;
}

struct segcase {
	const char *name;
	u8 b[16];
	unsigned int len;
	int seg;		/* expected segment, -1: no base */
	u64 ea;			/* expected offset */
};

#define S(n, seg, ea, ...) { n, { __VA_ARGS__ }, sizeof((u8[]){ __VA_ARGS__ }), seg, ea }

TEST(segments_prot32)
{
	/* ebx 0x100, ebp 0x400, esp 0x4444, esi 0x200, edi 0x300 */
	static const struct segcase cases[] = {
		S("[ebx]", SHV_EMU_SEG_DS, 0x100, 0x8b, 0x03),
		S("[ebp+4]", SHV_EMU_SEG_SS, 0x404, 0x8b, 0x45, 0x04),
		S("[esp]", SHV_EMU_SEG_SS, 0x4444, 0x8b, 0x04, 0x24),
		S("[esp+ebx]", SHV_EMU_SEG_SS, 0x4544, 0x8b, 0x04, 0x1c),
		S("[ebx+ebp]", SHV_EMU_SEG_DS, 0x500, 0x8b, 0x04, 0x2b),
		S("[ebp+ebx+0]", SHV_EMU_SEG_SS, 0x500, 0x8b, 0x44, 0x1d, 0x00),
		S("[ebp*2+disp32]", SHV_EMU_SEG_DS, 0x810, 0x8b, 0x04, 0x6d, 0x10, 0, 0, 0),
		S("[disp32]", SHV_EMU_SEG_DS, 0x1234, 0x8b, 0x05, 0x34, 0x12, 0, 0),
		S("es:[ebx]", SHV_EMU_SEG_ES, 0x100, 0x26, 0x8b, 0x03),
		S("cs:[ebx]", SHV_EMU_SEG_CS, 0x100, 0x2e, 0x8b, 0x03),
		S("ss:[ebx]", SHV_EMU_SEG_SS, 0x100, 0x36, 0x8b, 0x03),
		S("ds:[ebp]", SHV_EMU_SEG_DS, 0x400, 0x3e, 0x8b, 0x45, 0x00),
		S("fs:[ebx]", SHV_EMU_SEG_FS, 0x100, 0x64, 0x8b, 0x03),
		S("gs:[ebx]", SHV_EMU_SEG_GS, 0x100, 0x65, 0x8b, 0x03),
		S("moffs", SHV_EMU_SEG_DS, 0x5678, 0xa1, 0x78, 0x56, 0, 0),
		S("fs:moffs", SHV_EMU_SEG_FS, 0x5678, 0x64, 0xa3, 0x78, 0x56, 0, 0),
		S("movs src", SHV_EMU_SEG_DS, 0x200, 0xa4),	/* first access */
		S("stos", SHV_EMU_SEG_ES, 0x300, 0xaa),
		S("fs:stos (ignored)", SHV_EMU_SEG_ES, 0x300, 0x64, 0xaa),
		S("[bp+si] addr16", SHV_EMU_SEG_SS, 0x600, 0x67, 0x8b, 0x02),
		S("[bx+si] addr16", SHV_EMU_SEG_DS, 0x300, 0x67, 0x8b, 0x00),
		S("bt [ebp] beyond", SHV_EMU_SEG_SS, 0x400 - 4, 0x0f, 0xa3, 0x55, 0x00),
	};
	unsigned int i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		const struct segcase *sc = &cases[i];
		struct ut *u = seg_ut(SHV_EMU_MODE_PROT32, sc->b, sc->len);

		u->c.regs[SHV_EMU_RBX] = 0x100;
		u->c.regs[SHV_EMU_RBP] = 0x400;
		u->c.regs[SHV_EMU_RSP] = 0x4444;
		u->c.regs[SHV_EMU_RSI] = 0x200;
		u->c.regs[SHV_EMU_RDI] = 0x300;
		u->c.regs[SHV_EMU_RDX] = (u32)-1;	/* bt bit offset -1 */
		ASSERT_EQ(SHV_EMU_OK, ut_run(u)) TH_LOG("%s", sc->name);
		EXPECT_EQ((u32)(u->c.seg_base[sc->seg] + sc->ea), u->g.first_read_la ?
			  u->g.first_read_la : u->c.last_la) TH_LOG("%s", sc->name);
		free(u);
	}
	/* the movs destination is ES:EDI */
	{
		struct ut *u = seg_ut(SHV_EMU_MODE_PROT32, B(0x64, 0xa5));

		u->c.regs[SHV_EMU_RSI] = 0x200;
		u->c.regs[SHV_EMU_RDI] = 0x300;
		ASSERT_EQ(SHV_EMU_OK, ut_run(u));
		EXPECT_EQ(u->c.seg_base[SHV_EMU_SEG_FS] + 0x200, u->g.first_read_la);
		EXPECT_EQ(u->c.seg_base[SHV_EMU_SEG_ES] + 0x300, u->c.last_la);
		free(u);
	}
	/* linear addresses wrap at 4 GiB, and so does the fetch */
	{
		struct ut *u = seg_ut(SHV_EMU_MODE_PROT32, B(0x89, 0x03));

		u->c.seg_base[SHV_EMU_SEG_DS] = 0xfffff000;
		u->c.regs[SHV_EMU_RBX] = 0x2000;
		ASSERT_EQ(SHV_EMU_OK, ut_run(u));
		EXPECT_EQ(0x1000, u->c.last_la);
		u->c.seg_base[SHV_EMU_SEG_CS] = 0xffffffffULL - U_CODE + 1 + 0x100000000ULL;
		u->c.rip = U_CODE;
		/* CS.base + EIP = 2^32 + ... wraps to 0: nothing mapped there */
		EXPECT_EQ(SHV_EMU_FAULT, ut_run(u));
		u->c.seg_base[SHV_EMU_SEG_CS] = 0x100000000ULL;	/* wraps onto U_CODE */
		EXPECT_EQ(SHV_EMU_OK, ut_run(u));
		EXPECT_EQ(U_CODE + 2, u->c.rip);
		free(u);
	}
}

TEST(segments_long64)
{
	struct ut *u = seg_ut(SHV_EMU_MODE_LONG64, B(0x8b, 0x45, 0x08));	/* [rbp+8] */

	u->c.regs[SHV_EMU_RBP] = 0x1000;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(0x1008, u->c.last_la);	/* SS base ignored */
	free(u);
	u = seg_ut(SHV_EMU_MODE_LONG64, B(0x26, 0x8b, 0x03));
	u->c.regs[SHV_EMU_RBX] = 0x1000;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(0x1000, u->c.last_la);	/* ES base ignored */
	free(u);
	u = seg_ut(SHV_EMU_MODE_LONG64, B(0x64, 0x8b, 0x03));
	u->c.regs[SHV_EMU_RBX] = 0x1000;
	u->c.seg_base[SHV_EMU_SEG_FS] = 0x7f0000000000ULL;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(0x7f0000001000ULL, u->c.last_la);
	free(u);
	/* 32-bit address size: the offset wraps, the FS base is added after */
	u = seg_ut(SHV_EMU_MODE_LONG64, B(0x65, 0x67, 0x8b, 0x43, 0x10));
	u->c.regs[SHV_EMU_RBX] = 0x12fffffff8ULL;
	u->c.seg_base[SHV_EMU_SEG_GS] = 0x7f0000000000ULL;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(0x7f0000000008ULL, u->c.last_la);
	free(u);
	/* RIP-relative with 32-bit address size wraps at 4 GiB */
	u = seg_ut(SHV_EMU_MODE_LONG64, B(0x67, 0x8b, 0x05, 0x00, 0x00, 0x00, 0x80));
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ((u32)(U_CODE + 7 + 0x80000000ULL), u->c.last_la);
	free(u);
	/* 64-bit RIP-relative, negative displacement */
	u = seg_ut(SHV_EMU_MODE_LONG64, B(0x48, 0x8b, 0x05, 0xf0, 0xff, 0xff, 0xff));
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(U_CODE + 7 - 16, u->c.last_la);
	EXPECT_EQ(8, u->c.last_len);
	free(u);
}

TEST(addressing_16bit)
{
	/* bx 0x1100, si 0x0220, di 0x0033, bp 0x4000; DS 0x10000, SS 0x20000 */
	static const struct {
		u8 modrm;
		int disp;		/* bytes of displacement */
		u16 ea;
		bool ss;
	} f[] = {
		{ 0x00, 0, 0x1320, 0 }, { 0x01, 0, 0x1133, 0 }, { 0x02, 0, 0x4220, 1 },
		{ 0x03, 0, 0x4033, 1 }, { 0x04, 0, 0x0220, 0 }, { 0x05, 0, 0x0033, 0 },
		{ 0x06, 2, 0x1234, 0 }, { 0x07, 0, 0x1100, 0 },
		{ 0x40, 1, 0x12a0, 0 }, { 0x41, 1, 0x10b3, 0 }, { 0x42, 1, 0x41a0, 1 },
		{ 0x43, 1, 0x3fb3, 1 }, { 0x44, 1, 0x01a0, 0 }, { 0x45, 1, 0xffb3, 0 },
		{ 0x46, 1, 0x3f80, 1 }, { 0x47, 1, 0x1080, 0 },
		{ 0x80, 2, 0x2554, 0 }, { 0x81, 2, 0x2367, 0 }, { 0x82, 2, 0x5454, 1 },
		{ 0x83, 2, 0x5267, 1 }, { 0x84, 2, 0x1454, 0 }, { 0x85, 2, 0x1267, 0 },
		{ 0x86, 2, 0x5234, 1 }, { 0x87, 2, 0x2334, 0 },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_LEN(f); i++) {
		u8 code[5] = { 0x8b, f[i].modrm };
		struct ut *u;

		if (f[i].disp == 1)
			code[2] = 0x80;		/* -128 */
		if (f[i].disp == 2) {
			code[2] = 0x34;
			code[3] = 0x12;
		}
		u = seg_ut(SHV_EMU_MODE_PROT16, code, 2 + f[i].disp);
		u->c.seg_base[SHV_EMU_SEG_CS] = U_CODE;
		u->c.rip = 0;
		u->c.seg_base[SHV_EMU_SEG_DS] = 0x10000;
		u->c.seg_base[SHV_EMU_SEG_SS] = 0x20000;
		u->c.regs[SHV_EMU_RBX] = 0xffff1100;	/* upper bits ignored */
		u->c.regs[SHV_EMU_RSI] = 0x0220;
		u->c.regs[SHV_EMU_RDI] = 0x10033;
		u->c.regs[SHV_EMU_RBP] = 0x4000;
		u->c.regs[SHV_EMU_RAX] = 0x8765ffffffffULL;
		ASSERT_EQ(SHV_EMU_OK, ut_run(u)) TH_LOG("modrm %#x", f[i].modrm);
		EXPECT_EQ((f[i].ss ? 0x20000 : 0x10000) + f[i].ea, u->c.last_la)
			TH_LOG("modrm %#x", f[i].modrm);
		EXPECT_EQ(2, u->c.last_len);
		EXPECT_EQ(2u + f[i].disp, u->c.insn_len);
		EXPECT_EQ(0x8765ffff0000ULL, u->c.regs[SHV_EMU_RAX]);	/* AX = 0 */
		free(u);
	}
	/* 16-bit offsets wrap: [bx+si] = 0xffff + 2 = 1 */
	{
		struct ut *u = seg_ut(SHV_EMU_MODE_PROT16, B(0x66, 0x89, 0x00));

		u->c.seg_base[SHV_EMU_SEG_CS] = U_CODE;
		u->c.rip = 0xfffd;	/* and IP wraps to 0 */
		u->c.seg_base[SHV_EMU_SEG_CS] = U_CODE - 0xfffd;
		u->c.seg_base[SHV_EMU_SEG_DS] = 0x10000;
		u->c.regs[SHV_EMU_RBX] = 0xffff;
		u->c.regs[SHV_EMU_RSI] = 2;
		ASSERT_EQ(SHV_EMU_OK, ut_run(u));
		EXPECT_EQ(0x10001, u->c.last_la);
		EXPECT_EQ(4, u->c.last_len);
		EXPECT_EQ(0, u->c.rip);
		free(u);
	}
}

TEST(bit_offset_addressing)
{
	static const struct {
		u8 b[8];
		unsigned int len;
		u64 off;		/* bit offset register (RDX) */
		s64 dla;		/* expected address - RBX */
		unsigned int size, bit;
	} c[] = {
		{ { 0x0f, 0xa3, 0x13 }, 3, 100, 12, 4, 4 },
		{ { 0x0f, 0xa3, 0x13 }, 3, (u32)-1, -4, 4, 31 },
		{ { 0x0f, 0xa3, 0x13 }, 3, 0xffffffff00000020ULL, 4, 4, 0 },
		{ { 0x48, 0x0f, 0xa3, 0x13 }, 4, (u64)-65, -16, 8, 63 },
		{ { 0x48, 0x0f, 0xab, 0x13 }, 4, 64 * 1000 + 7, 8000, 8, 7 },
		{ { 0x66, 0x0f, 0xa3, 0x13 }, 4, 0x8000, -4096, 2, 0 },
		{ { 0x66, 0x0f, 0xb3, 0x13 }, 4, 0x12347fff, 4094, 2, 15 },
		{ { 0x0f, 0xba, 0x23, 0x45 }, 4, 0, 0, 4, 5 },	/* imm: no reach */
		{ { 0x48, 0x0f, 0xba, 0x3b, 0xff }, 5, 0, 0, 8, 63 },
		{ { 0x66, 0x0f, 0xba, 0x2b, 0x1f }, 5, 0, 0, 2, 15 },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_LEN(c); i++) {
		struct ut *u = ut_new(SHV_EMU_MODE_LONG64, c[i].b, c[i].len);
		u64 la = U_DATA + 0x2000 + c[i].dla, v = 0;

		u->c.regs[SHV_EMU_RBX] = U_DATA + 0x2000;
		u->c.regs[SHV_EMU_RDX] = c[i].off;
		memcpy(&v, ut_mem(u, la), c[i].size);
		ASSERT_EQ(SHV_EMU_OK, ut_run(u)) TH_LOG("case %u", i);
		EXPECT_EQ(la, u->g.first_read_la) TH_LOG("case %u", i);
		EXPECT_EQ(c[i].size, u->c.last_len) TH_LOG("case %u", i);
		EXPECT_EQ((v >> c[i].bit) & 1, u->c.rflags & F_CF) TH_LOG("case %u", i);
		free(u);
	}
}

TEST(fetch_stays_within_pages)
{
	/* mov [rbx+disp32], eax with the displacement in the next page */
	static const u8 insn[] = { 0x89, 0x83, 0x10, 0x00, 0x00, 0x00 };
	struct ut *u;
	unsigned int split;

	for (split = 1; split < sizeof(insn); split++) {
		u = ut_new(SHV_EMU_MODE_LONG64, insn, 0);
		memcpy(ut_mem(u, U_BASE + 0x2000 - split), insn, sizeof(insn));
		u->c.rip = U_BASE + 0x2000 - split;
		ASSERT_EQ(SHV_EMU_OK, ut_run(u));
		EXPECT_EQ(sizeof(insn), u->c.insn_len);
		EXPECT_EQ(U_DATA + 0x110, u->c.last_la);
		EXPECT_EQ(2, u->g.calls[OPK_FETCH]);
		EXPECT_FALSE(u->g.fetch_crossed_page);
		free(u);
	}
	/* ends exactly at the end of the last mapped page: never looks beyond */
	u = ut_new(SHV_EMU_MODE_LONG64, insn, 0);
	memcpy(ut_mem(u, U_BASE + U_SIZE - sizeof(insn)), insn, sizeof(insn));
	u->c.rip = U_BASE + U_SIZE - sizeof(insn);
	EXPECT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(1, u->g.calls[OPK_FETCH]);
	free(u);
	/* crosses into an unmapped page: the fetch fault is reported */
	u = ut_new(SHV_EMU_MODE_LONG64, insn, 0);
	memcpy(ut_mem(u, U_BASE + U_SIZE - 3), insn, 3);
	u->c.rip = U_BASE + U_SIZE - 3;
	EXPECT_EQ(SHV_EMU_FAULT, ut_run(u));
	EXPECT_EQ(-EFAULT, u->c.op_error);
	EXPECT_EQ(0, u->c.insn_len);
	EXPECT_EQ(U_BASE + U_SIZE - 3, u->c.rip);
	free(u);
}

TEST(outputs_describe_the_access)
{
	struct ut *u = ut_new(SHV_EMU_MODE_LONG64, B(0x66, 0x89, 0x43, 0x08));

	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(U_DATA + 0x108, u->c.last_la);
	EXPECT_EQ(2, u->c.last_len);
	EXPECT_TRUE(u->c.last_write);
	EXPECT_EQ(4, u->c.insn_len);
	EXPECT_EQ(U_CODE + 4, u->c.rip);
	EXPECT_EQ(0, u->c.op_error);
	free(u);
	u = ut_new(SHV_EMU_MODE_LONG64, B(0x80, 0x3b, 0x01));	/* cmp byte */
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_FALSE(u->c.last_write);
	EXPECT_EQ(1, u->c.last_len);
	EXPECT_EQ(0, u->g.calls[OPK_WRITE]);
	free(u);
	u = ut_new(SHV_EMU_MODE_LONG64, B(0x87, 0xd8));	/* xchg eax, ebx: no memory */
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(0, u->c.last_len);
	EXPECT_EQ(U_DATA + 0x100, u->c.regs[SHV_EMU_RAX]);
	EXPECT_EQ(0x11111111, u->c.regs[SHV_EMU_RBX]);	/* zero-extended */
	free(u);
	/* a 32-bit register write zero-extends, 8/16-bit ones merge */
	u = ut_new(SHV_EMU_MODE_LONG64, B(0x8b, 0x03, 0x8a, 0x63, 0x04, 0x66, 0x8b, 0x4b, 0x08));
	*(u32 *)ut_mem(u, U_DATA + 0x100) = 0x89abcdef;
	*ut_mem(u, U_DATA + 0x104) = 0x5a;
	*(u16 *)ut_mem(u, U_DATA + 0x108) = 0xbeef;
	u->c.regs[SHV_EMU_RCX] = 0x1234567812345678ULL;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(0x89abcdef, u->c.regs[SHV_EMU_RAX]);
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));	/* mov ah, [rbx+4] */
	EXPECT_EQ(0x89ab5aef, u->c.regs[SHV_EMU_RAX]);
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(0x123456781234beefULL, u->c.regs[SHV_EMU_RCX]);
	free(u);
	/* in a 16-bit code segment, IP wraps */
	u = ut_new(SHV_EMU_MODE_PROT16, B(0x89, 0x07));
	u->c.seg_base[SHV_EMU_SEG_CS] = U_CODE - 0xfffe;
	u->c.rip = 0xfffe;
	u->c.seg_base[SHV_EMU_SEG_DS] = U_DATA;
	u->c.regs[SHV_EMU_RBX] = 0x10;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(0, u->c.rip);
	EXPECT_EQ(U_DATA + 0x10, u->c.last_la);
	free(u);
}

/* ------------------------------------------------------------------ */
/* string instructions with an MMIO operand, against the host CPU      */

/*
 * A "device" at dev[]: its reads go out first (-EAGAIN) and are served
 * on the re-run, as the kernel glue does: the k-th MMIO read of a run is
 * served once k reads have been answered (dev_ready), and an iteration
 * that completes resets the count.
 */
struct sdev {
	u8 *dev, *ram;
	size_t dev_len, ram_len;
	unsigned int ready, pos, exits;
};

static bool sdev_in(const struct sdev *d, u64 la, unsigned int len)
{
	u64 b = (u64)(unsigned long)d->dev;

	return la + len > b && la < b + d->dev_len;
}

static int sd_read(void *ctx, u64 la, void *buf, unsigned int len)
{
	struct sdev *d = ctx;

	if (sdev_in(d, la, len)) {
		if (d->pos >= d->ready) {
			d->ready++;
			d->exits++;
			return -EAGAIN;
		}
		d->pos++;
	}
	memcpy(buf, (void *)(unsigned long)la, len);
	return 0;
}

static int sd_write(void *ctx, u64 la, const void *buf, unsigned int len)
{
	memcpy((void *)(unsigned long)la, buf, len);
	return 0;
}

static int sd_fetch(void *ctx, u64 la, void *buf, unsigned int len)
{
	memcpy(buf, (void *)(unsigned long)la, len);
	return 0;
}

static const struct shv_emu_ops sdops = {
	.fetch = sd_fetch, .read = sd_read, .write = sd_write,
};

enum { S_REPE_CMPSB, S_REPNE_CMPSB, S_REPE_CMPSW, S_REPE_CMPSL, S_REPE_CMPSQ,
       S_CMPSB, S_REPE_SCASB, S_REPNE_SCASB, S_REPNE_SCASL, S_REP_LODSB,
       S_REP_LODSQ, S_REPNE_CMPSQ, S_NR };

static const u8 s_code[S_NR][4] = {
	{ 0xf3, 0xa6 }, { 0xf2, 0xa6 }, { 0xf3, 0x66, 0xa7 }, { 0xf3, 0xa7 },
	{ 0xf3, 0x48, 0xa7 }, { 0xa6 }, { 0xf3, 0xae }, { 0xf2, 0xae },
	{ 0xf2, 0xaf }, { 0xf3, 0xac }, { 0xf3, 0x48, 0xad }, { 0xf2, 0x48, 0xa7 },
};

static const u8 s_lens[S_NR] = { 2, 2, 3, 2, 3, 1, 2, 2, 2, 2, 3, 3 };

static unsigned int s_len(unsigned int k)
{
	return s_lens[k];
}

#define NSTR(insn)							\
	asm volatile("pushfq\n\tandq $~0xcd5, (%%rsp)\n\torq %[fi], (%%rsp)\n\t" \
		     "popfq\n\t" insn "\n\tpushfq\n\tpopq %[fo]\n\tcld"	\
		     : "+S"(r[SHV_EMU_RSI]), "+D"(r[SHV_EMU_RDI]),	\
		       "+c"(r[SHV_EMU_RCX]), "+a"(r[SHV_EMU_RAX]), [fo] "=&r"(fo) \
		     : [fi] "r"(fi) : "memory", "cc")

static u64 native_string(unsigned int k, u64 *r, u64 fi)
{
	u64 fo = 0;

	switch (k) {
	case S_REPE_CMPSB: NSTR("repe cmpsb"); break;
	case S_REPNE_CMPSB: NSTR("repne cmpsb"); break;
	case S_REPE_CMPSW: NSTR("repe cmpsw"); break;
	case S_REPE_CMPSL: NSTR("repe cmpsl"); break;
	case S_REPE_CMPSQ: NSTR("repe cmpsq"); break;
	case S_CMPSB: NSTR("cmpsb"); break;
	case S_REPE_SCASB: NSTR("repe scasb"); break;
	case S_REPNE_SCASB: NSTR("repne scasb"); break;
	case S_REPNE_SCASL: NSTR("repne scasl"); break;
	case S_REP_LODSB: NSTR("rep lodsb"); break;
	case S_REP_LODSQ: NSTR("rep lodsq"); break;
	case S_REPNE_CMPSQ: NSTR("repne cmpsq"); break;
	}
	return fo;
}

/*
 * REPE/REPNE CMPS, SCAS and REP LODS with one operand in MMIO (at rSI or
 * at rDI), DF 0 and 1, one iteration per call and an exit for every
 * device read, as in the kernel: the final rCX, rSI, rDI, rAX, flags and
 * RIP equal the host CPU's for the same instruction on the same bytes.
 */
TEST(string_compare_mmio_vs_native)
{
	static u8 buf[2][256] __attribute__((aligned(64)));
	unsigned int k, trial, calls, checked = 0;
	u8 code[16];

	rng_seed(77);
	native_setup();
	if (!native_ok) {
		TH_LOG("no native oracle here (valgrind or EMU_TEST_NO_NATIVE)");
		return;
	}
	for (k = 0; k < S_NR; k++) {
		for (trial = 0; trial < 200; trial++) {
			bool df = rnd(2), dev_at_si = rnd(2);
			unsigned int i, n = rnd(12);
			u64 r[16], nr[16], fi, fo, rip0;
			struct shv_emu_ctxt c;
			struct sdev d;
			int ret = SHV_EMU_OK;

			/* equal bytes with a few differences */
			for (i = 0; i < 256; i++) {
				buf[0][i] = (u8)(i * 13);
				buf[1][i] = rnd(8) ? buf[0][i] : (u8)rnd64();
			}
			for (i = 0; i < 16; i++)
				r[i] = rnd_val();
			r[SHV_EMU_RSP] = 0;
			r[SHV_EMU_RCX] = n;
			r[SHV_EMU_RAX] = rnd(2) ? buf[1][128] * 0x0101010101010101ULL : rnd64();
			r[SHV_EMU_RSI] = (u64)(unsigned long)(buf[dev_at_si ? 0 : 1] + 128);
			r[SHV_EMU_RDI] = (u64)(unsigned long)(buf[dev_at_si ? 1 : 0] + 128);
			fi = (rnd64() & F_ARITH) | (df ? F_DF : 0) | 2;
			memcpy(nr, r, sizeof(nr));
			fo = native_string(k, nr, fi);

			memset(&d, 0, sizeof(d));
			d.dev = buf[0];
			d.dev_len = sizeof(buf[0]);
			memset(&c, 0, sizeof(c));
			memcpy(c.regs, r, sizeof(c.regs));
			c.rflags = fi | 0x200;
			c.mode = SHV_EMU_MODE_LONG64;
			c.rep_max = 1;
			memcpy(code, s_code[k], sizeof(s_code[k]));
			c.rip = (u64)(unsigned long)code;
			rip0 = c.rip;
			for (calls = 0; calls < 200; calls++) {
				ret = shv_emulate(&c, &sdops, &d);
				if (ret == SHV_EMU_RETRY)
					continue;
				if (ret != SHV_EMU_OK || c.rip != rip0)
					break;
				d.ready = 0;	/* next iteration: new reads */
				d.pos = 0;
			}
			d.pos = 0;
			ASSERT_EQ(SHV_EMU_OK, ret);
			EXPECT_EQ(rip0 + s_len(k), c.rip) TH_LOG("k %u", k);
			EXPECT_EQ(nr[SHV_EMU_RCX], c.regs[SHV_EMU_RCX]) TH_LOG("k %u n %u", k, n);
			EXPECT_EQ(nr[SHV_EMU_RSI], c.regs[SHV_EMU_RSI]) TH_LOG("k %u", k);
			EXPECT_EQ(nr[SHV_EMU_RDI], c.regs[SHV_EMU_RDI]) TH_LOG("k %u", k);
			EXPECT_EQ(nr[SHV_EMU_RAX], c.regs[SHV_EMU_RAX]) TH_LOG("k %u", k);
			EXPECT_EQ(fo & (F_ARITH | F_DF), c.rflags & (F_ARITH | F_DF))
				TH_LOG("k %u n %u df %d", k, n, df);
			/* every element read from the device was an exit */
			bool lods = k == S_REP_LODSB || k == S_REP_LODSQ;
			bool scas = k >= S_REPE_SCASB && k <= S_REPNE_SCASL;

			if ((n || k == S_CMPSB) &&
			    (lods ? dev_at_si : scas ? !dev_at_si : true))
				EXPECT_LT(0, d.exits) TH_LOG("k %u", k);
			checked++;
		}
	}
	TH_LOG("%u string cases against the CPU", checked);
}

/* ------------------------------------------------------------------ */

TEST(push_pop_memory)
{
	/* push qword [rbx]; pop qword [rbx+8]; pop qword [rsp+8] (after +8) */
	struct ut *u = ut_new(SHV_EMU_MODE_LONG64, B(0xff, 0x33));
	u64 sp = U_DATA + 0x800;

	u->c.regs[SHV_EMU_RSP] = sp;
	*(u64 *)ut_mem(u, U_DATA + 0x100) = 0x1122334455667788ULL;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(sp - 8, u->c.regs[SHV_EMU_RSP]);
	EXPECT_EQ(0x1122334455667788ULL, *(u64 *)ut_mem(u, sp - 8));
	EXPECT_EQ(U_CODE + 2, u->c.rip);
	free(u);

	u = ut_new(SHV_EMU_MODE_LONG64, B(0x8f, 0x43, 0x08));
	u->c.regs[SHV_EMU_RSP] = sp;
	*(u64 *)ut_mem(u, sp) = 0xa5a5a5a5deadbeefULL;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(sp + 8, u->c.regs[SHV_EMU_RSP]);
	EXPECT_EQ(0xa5a5a5a5deadbeefULL, *(u64 *)ut_mem(u, U_DATA + 0x108));
	free(u);

	u = ut_new(SHV_EMU_MODE_LONG64, B(0x8f, 0x44, 0x24, 0x08));
	u->c.regs[SHV_EMU_RSP] = sp;
	*(u64 *)ut_mem(u, sp) = 0x0badc0ffee;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(sp + 8, u->c.regs[SHV_EMU_RSP]);
	EXPECT_EQ(0x0badc0ffeeULL, *(u64 *)ut_mem(u, sp + 16));	/* new rSP + 8 */
	free(u);

	/* 66: 16-bit push in 64-bit mode */
	u = ut_new(SHV_EMU_MODE_LONG64, B(0x66, 0xff, 0x33));
	u->c.regs[SHV_EMU_RSP] = sp;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u));
	EXPECT_EQ(sp - 2, u->c.regs[SHV_EMU_RSP]);
	EXPECT_EQ(*(u16 *)ut_mem(u, U_DATA + 0x100), *(u16 *)ut_mem(u, sp - 2));
	free(u);

	/*
	 * 32-bit code, 16-bit stack (SS.B = 0): only SP moves, and wraps;
	 * a dword that would end past SS's limit 0xffff is #SS(0)
	 */
	u = ut_new(SHV_EMU_MODE_PROT32, B(0x66, 0xff, 0x33, 0xff, 0x33));
	u->c.seg_checks = true;
	for (int i = 0; i < SHV_EMU_NR_SEGS; i++) {
		u->c.seg_limit[i] = 0xffffffff;
		u->c.seg_ar[i] = 0xc093;
	}
	u->c.seg_ar[SHV_EMU_SEG_SS] = 0x0093;
	u->c.seg_limit[SHV_EMU_SEG_SS] = 0xffff;
	u->c.seg_base[SHV_EMU_SEG_SS] = U_BASE + 0x2000 - 0x10000;
	u->c.seg_ar[SHV_EMU_SEG_CS] = 0xc09b;
	u->c.regs[SHV_EMU_RSP] = 0x12340000;
	ASSERT_EQ(SHV_EMU_OK, ut_run(u)) TH_LOG("vector %u", u->c.exc_vector);
	EXPECT_EQ(0x1234fffe, u->c.regs[SHV_EMU_RSP]);
	EXPECT_EQ(*(u16 *)ut_mem(u, U_DATA + 0x100), *(u16 *)ut_mem(u, U_BASE + 0x1ffe));
	u->c.regs[SHV_EMU_RSP] = 0x12340002;
	EXPECT_EQ(SHV_EMU_EXCEPTION, ut_run(u));
	EXPECT_EQ(SHV_EMU_VEC_SS, u->c.exc_vector);
	EXPECT_EQ(0x12340002, u->c.regs[SHV_EMU_RSP]);
	free(u);
}

/* 32-bit protected mode: limits, expand-down, rights, unusable segments */
TEST(segment_limits_and_rights)
{
	static const struct {
		const char *name;
		u8 code[4];
		unsigned int len;
		unsigned int seg;	/* the segment to shape */
		u32 limit, ar;
		u64 ea;			/* EBX (or EBP) */
		int want;		/* 0 ok, else vector */
	} cases[] = {
		{ "read in limit", { 0x8b, 0x03 }, 2, SHV_EMU_SEG_DS, 0xfff, 0xc093, 0xffc, 0 },
		{ "read past limit", { 0x8b, 0x03 }, 2, SHV_EMU_SEG_DS, 0xfff, 0xc093, 0xffd, 13 },
		{ "ss read past limit", { 0x8b, 0x45, 0x00 }, 3, SHV_EMU_SEG_SS, 0xfff, 0xc093, 0xffe, 12 },
		{ "write read-only", { 0x89, 0x03 }, 2, SHV_EMU_SEG_DS, 0xfffff, 0xc091, 0x10, 13 },
		{ "read read-only", { 0x8b, 0x03 }, 2, SHV_EMU_SEG_DS, 0xfffff, 0xc091, 0x10, 0 },
		{ "cmp read-only", { 0x39, 0x03 }, 2, SHV_EMU_SEG_DS, 0xfffff, 0xc091, 0x10, 0 },
		{ "add read-only", { 0x01, 0x03 }, 2, SHV_EMU_SEG_DS, 0xfffff, 0xc091, 0x10, 13 },
		{ "unusable", { 0x8b, 0x03 }, 2, SHV_EMU_SEG_DS, 0xfffff, 0x10000, 0x10, 13 },
		{ "expand-down below", { 0x8b, 0x03 }, 2, SHV_EMU_SEG_DS, 0xfff, 0xc097, 0xfff, 13 },
		{ "expand-down above", { 0x8b, 0x03 }, 2, SHV_EMU_SEG_DS, 0xfff, 0xc097, 0x1000, 0 },
		{ "expand-down 16 top", { 0x8b, 0x03 }, 2, SHV_EMU_SEG_DS, 0xfff, 0x0097, 0xfffd, 13 },
		{ "cs write", { 0x2e, 0x89, 0x03 }, 3, SHV_EMU_SEG_CS, 0xffffff, 0xc09b, 0x10, 13 },
		{ "cs read", { 0x2e, 0x8b, 0x03 }, 3, SHV_EMU_SEG_CS, 0xffffff, 0xc09b, 0x10, 0 },
		{ "cs exec-only", { 0x2e, 0x8b, 0x03 }, 3, SHV_EMU_SEG_CS, 0xffffff, 0xc099, 0x10, 13 },
		{ "movs dest es", { 0xa5 }, 1, SHV_EMU_SEG_ES, 0xfff, 0xc093, 0, 13 },
	};
	unsigned int i, j;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct ut *u = ut_new(SHV_EMU_MODE_PROT32, cases[i].code, cases[i].len);
		int ret;

		u->c.seg_checks = true;
		for (j = 0; j < SHV_EMU_NR_SEGS; j++) {
			u->c.seg_base[j] = U_BASE;
			u->c.seg_limit[j] = 0xffffffff;
			u->c.seg_ar[j] = 0xc093;
		}
		u->c.seg_ar[SHV_EMU_SEG_CS] = 0xc09b;
		u->c.seg_base[SHV_EMU_SEG_CS] = 0;
		u->c.seg_limit[cases[i].seg] = cases[i].limit;
		u->c.seg_ar[cases[i].seg] = cases[i].ar;
		if (cases[i].seg == SHV_EMU_SEG_CS)
			u->c.seg_base[SHV_EMU_SEG_CS] = 0;
		u->c.regs[SHV_EMU_RBX] = cases[i].ea;
		u->c.regs[SHV_EMU_RBP] = cases[i].ea;
		u->c.regs[SHV_EMU_RSI] = 0x100;
		u->c.regs[SHV_EMU_RDI] = 0x1000;	/* past ES's limit - 3 */
		if (cases[i].seg == SHV_EMU_SEG_CS) {
			/* the code must stay fetchable: CS.base 0 and a big limit */
			u->c.regs[SHV_EMU_RBX] = U_DATA + cases[i].ea;
		}
		ret = ut_run(u);
		if (!cases[i].want) {
			EXPECT_EQ(SHV_EMU_OK, ret) TH_LOG("%s", cases[i].name);
		} else {
			EXPECT_EQ(SHV_EMU_EXCEPTION, ret) TH_LOG("%s", cases[i].name);
			EXPECT_EQ(cases[i].want, u->c.exc_vector) TH_LOG("%s", cases[i].name);
			EXPECT_TRUE(u->c.exc_has_error_code);
			EXPECT_EQ(0, u->c.exc_error_code);
			EXPECT_EQ(0, u->g.calls[OPK_WRITE]) TH_LOG("%s", cases[i].name);
		}
		free(u);
	}
}

TEST_HARNESS_MAIN
