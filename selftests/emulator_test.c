// SPDX-License-Identifier: GPL-2.0
/*
 * emulator_test: userspace unit test of the instruction emulator
 * (kmod/emulate.c), which is plain C that builds here unchanged.
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
 * segment bases, 16-bit addressing.
 *
 * Build: cc -O2 -Wall -Wextra -I <dir with kselftest_harness.h> -I kmod \
 *           -o emulator_test selftests/emulator_test.c kmod/emulate.c
 * Env: EMU_TEST_SEED, EMU_TEST_ITERS (random cases per differential test),
 *      EMU_TEST_NO_COMPAT=1 (skip 32-bit native runs; automatic under
 *      valgrind, which cannot run compatibility-mode code).
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

static const struct svm_emu_ops gops = {
	.fetch = g_fetch, .read = g_read, .write = g_write, .cmpxchg = g_cmpxchg,
};

static const struct svm_emu_ops gops_nocx = {
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
#define A_DATA_SIZE	32768
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
static bool have_cx16, compat_ok;
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

	compat_ok = !under_valgrind() && !env_uint("EMU_TEST_NO_COMPAT", 0);
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
enum { FL_ALL, FL_LOGIC, FL_BT };
enum { T_RM, T_ACCIMM, T_MOFFS, T_STR, T_BTREG, T_CMPXCHG, T_CX8, T_MOVX };

struct tmpl {
	u8 twobyte, op;
	s8 ext;			/* ModRM.reg opcode extension or -1 */
	u8 imm;			/* IMM_* */
	u8 fl;			/* FL_*: which flags are defined */
	u8 kind;		/* T_* */
	u8 srcsize;		/* T_MOVX: 1, 2, or 4 (MOVSXD) */
	bool byteop, lockable, memonly, only64, only32, regdst;
};

static struct tmpl tmpls[256];
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
	if (seg == SVM_EMU_SEG_FS)
		return host_fs_base;
	if (seg == SVM_EMU_SEG_GS)
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
		if (!m64 && tc->seg == SVM_EMU_SEG_CS)
			tc->seg = SVM_EMU_SEG_DS;	/* CS is not writable */
		if (p67 && tc->seg >= SVM_EMU_SEG_FS)
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

	/* memory contents at the target */
	if (tc->mem && t->kind != T_STR) {
		tp = (u8 *)(unsigned long)target;
		for (i = 0; i < size; i++)
			tp[i] = (u8)rnd64();
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

struct diff_stats {
	unsigned int cases, failures, emu_calls, locked, memops;
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
	struct svm_emu_ctxt c;
	struct guest g;
	u8 einsn[16], *at;
	unsigned int elen = tc->len, i, calls, nreg;
	char hex[64];
	u64 rip0;
	int sig, ret = SVM_EMU_OK;
	bool ok = true;

	memcpy(in_regs, tc->regs, sizeof(in_regs));
	memcpy(einsn, tc->insn, tc->len);
	if (emu_mode == SVM_EMU_MODE_PROT16) {
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

	/* the emulator's memory is a copy of the arenas as they are now */
	at = tc->m64 ? gen_run64(a, tc->insn, tc->len) : gen_run32(a, tc->insn, tc->len);
	memcpy(hi_arena.mirror, hi_arena.base, A_MIRROR_SIZE);
	memcpy(lo_arena.mirror, lo_arena.base, A_MIRROR_SIZE);
	memcpy(a->mirror + (at - a->base), einsn, elen);

	memcpy(nregs, tc->regs, sizeof(nregs));
	if (!tc->m64)
		for (i = 0; i < 8; i++)
			nregs[i] &= 0xffffffffULL;
	sig = native_run(a, !tc->m64, nregs, &nflags);
	hexdump(hex, tc->insn, tc->len);
	if (sig) {
		TH_LOG("native run of [%s] (%s) got signal %d", hex,
		       tc->m64 ? "64" : "32", sig);
		st->failures++;
		return false;
	}

	guest_init(&g);
	guest_add(&g, (u64)(unsigned long)hi_arena.base, hi_arena.mirror, A_MIRROR_SIZE);
	guest_add(&g, (u64)(unsigned long)lo_arena.base, lo_arena.mirror, A_MIRROR_SIZE);
	memset(&c, 0, sizeof(c));
	memcpy(c.regs, tc->regs, sizeof(c.regs));
	c.rflags = tc->flags | 0x200;
	c.mode = emu_mode;
	c.rep_max = rnd(2) ? 1000 : rnd(4);
	for (i = 0; i < SVM_EMU_NR_SEGS; i++)
		c.seg_base[i] = tc->m64 ? rnd64() : 0;	/* 64-bit: must be ignored */
	if (tc->m64) {
		c.seg_base[SVM_EMU_SEG_FS] = host_fs_base;
		c.seg_base[SVM_EMU_SEG_GS] = host_gs_base;
	}
	if (emu_mode == SVM_EMU_MODE_PROT16) {
		c.seg_base[SVM_EMU_SEG_CS] = (u64)(unsigned long)a->base;
		c.rip = (u64)(at - a->base);
	} else {
		c.rip = (u64)(unsigned long)at;
	}
	rip0 = c.rip;
	for (calls = 0; calls < 64; calls++) {
		ret = svm_emulate(&c, use_cx ? &gops : &gops_nocx, &g);
		st->emu_calls++;
		if (ret != SVM_EMU_OK || c.rip != rip0)
			break;
	}

	if (ret != SVM_EMU_OK || c.insn_len != elen || c.rip != rip0 + elen) {
		hexdump(hex, einsn, elen);
		TH_LOG("emu mode %d [%s]: ret %d insn_len %u (want %u) rip +%lld exc %u",
		       emu_mode, hex, ret, c.insn_len, elen,
		       (long long)(c.rip - rip0), c.exc_vector);
		st->failures++;
		return false;
	}

	fmask = F_ARITH | F_DF;
	if (tc->t->fl == FL_LOGIC)
		fmask &= ~F_AF;
	else if (tc->t->fl == FL_BT)
		fmask &= ~(F_OF | F_SF | F_AF | F_PF);
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

		if (!tc->m64) {
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
	for (i = 0; i < 2; i++) {
		struct arena *x = i ? &lo_arena : &hi_arena;

		if (memcmp(x->base + A_DATA, x->mirror + A_DATA, A_DATA_SIZE)) {
			unsigned int o = 0;

			while (x->base[A_DATA + o] == x->mirror[A_DATA + o])
				o++;
			TH_LOG("emu mode %d [%s]: memory differs at %p: native %02x emu %02x",
			       emu_mode, hex, (void *)(x->base + A_DATA + o),
			       x->base[A_DATA + o], x->mirror[A_DATA + o]);
			ok = false;
		}
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
	if (!ok)
		st->failures++;
	return ok;
}

static void run_diff(struct __test_metadata *_metadata, bool m64, int emu_mode,
		     u64 salt)
{
	unsigned int iters = env_uint("EMU_TEST_ITERS", 20000), n = 0, tries = 0;
	struct diff_stats st = { 0 };
	struct tcase tc;
	time_t t0 = time(NULL);

	native_setup();
	tmpl_setup();
	arena_measure(&hi_arena);
	arena_measure(&lo_arena);
	rng_seed(salt);
	if (!m64 && !compat_ok)
		SKIP(return, "32-bit compatibility mode not runnable here");
	while (n < iters && st.failures < 10) {
		if (++tries > iters * 50)
			break;
		if (!gen_case(&tc, m64))
			continue;
		n++;
		diff_one(_metadata, &tc, emu_mode, rnd(8) != 0, &st);
		/* the harness kills a test after 30 s: stay well below */
		if (!(n & 255) && time(NULL) - t0 > 15)
			break;
	}
	TH_LOG("%u cases (%u with memory, %u locked), %u emulator calls, %u failures",
	       n, st.memops, st.locked, st.emu_calls, st.failures);
	ASSERT_EQ(0, st.failures);
	ASSERT_LT(100, n);
}

/* ------------------------------------------------------------------ */
/* differential tests against the CPU                                  */

TEST(native_diff_long64)
{
	run_diff(_metadata, true, SVM_EMU_MODE_LONG64, 1);
}

TEST(native_diff_prot32)
{
	run_diff(_metadata, false, SVM_EMU_MODE_PROT32, 2);
}

TEST(native_diff_prot16_addr32)
{
	run_diff(_metadata, false, SVM_EMU_MODE_PROT16, 3);
}

TEST_HARNESS_MAIN
