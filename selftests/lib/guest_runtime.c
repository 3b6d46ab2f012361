// SPDX-License-Identifier: GPL-2.0
/*
 * guest_runtime.c - the guest runtime ("grt") of the shadow-MMU selftests:
 * the 32-bit and 64-bit script interpreters assembled into the test binary,
 * the descriptor tables and SREGS of each paging mode, grt_setup(),
 * scripts (gs_*), running them and describing how they stopped, counters
 * and test helpers. The guest page tables it runs on are built by
 * guest_pt.c. Contract in guest_paging.h.
 */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/shadowvm.h>

#include "guest_paging.h"

_Static_assert(GRT_CODE == TVM_CODE, "runtime address");
_Static_assert(GRT_STACK == TVM_STACK, "stack");
_Static_assert(GRT_CB == TVM_DATA, "control block");
_Static_assert(sizeof(struct grt_op) == 32, "op size");
/* numbers the runtime's asm needs as literals */
#define GRT_NR_OPS	31
#define GRT_NR_RMW	17
_Static_assert(GRT_NR_OPS == GOP_NR, "op table");
_Static_assert(GRT_NR_RMW == GRT_RMW_NR, "rmw table");
_Static_assert(sizeof(struct grt_demand) == 64, "demand entry size");

#define STR(x)	#x
#define X(x)	STR(x)
/* an absolute control-block address, an absolute runtime address */
#define CB(f)	X(GRT_CB) "+" X(f)
#define ABS(l)	"(" #l "-grt_base+" X(GRT_CODE) ")"

/*
 * The runtime. Layout (offsets from the start, which is loaded at
 * GRT_CODE): 0x000 32-bit entry, 0x010 64-bit entry, 0x040 32-bit user
 * stub, 0x080 64-bit user stub (both copied to GRT_UCODE), 0x100 the 64
 * 32-bit exception stubs (16 bytes each), 0x500 the 64-bit ones, then the
 * handlers and the two interpreters. Op fields: flags at 4, a at 8, b at
 * 16, c at 24 from the op (ESI/RSI).
 *
 * Exceptions: #PF goes to the page-fault path (demand table, then the
 * resume point of an ACCESS op, else "bad"); vector 0x30 (DPL 3 gate) is
 * how the user stubs come back; anything else is "bad": vector, error
 * code, RIP and CR2 go to the control block and the guest writes the
 * vector to GRT_PORT_BAD.
 */
#define RT_STUBS(bits, common)						\
	".set grt_v, 0\n"						\
	".rept 64\n"							\
	".if (grt_v == 8) || ((grt_v >= 10) && (grt_v <= 14)) || "	\
	"(grt_v == 17) || (grt_v == 21) || (grt_v == 29) || (grt_v == 30)\n" \
	".else\n"							\
	"push $0\n"							\
	".endif\n"							\
	"push $grt_v\n"							\
	"jmp " common "\n"						\
	".org grt_stubs" bits " + (grt_v + 1) * 16, 0xcc\n"		\
	".set grt_v, grt_v + 1\n"					\
	".endr\n"

/*
 * An interpreter's op table, enum grt_opcode order: directive (.long or
 * .quad), label prefix (g32 or g64), the handlers of GOP_LM_ENTER and
 * GOP_LM_LEAVE (each interpreter runs only one of them).
 */
#define OPTAB(dir, p, lm_enter, lm_leave)				\
	dir " " ABS(p##_end) ", " ABS(p##_out) ", " ABS(p##_w32) ", "	\
	ABS(p##_w64) ", " ABS(p##_went) ", " ABS(p##_r32) ", "		\
	ABS(p##_r64) ", " ABS(p##_chk32) ", " ABS(p##_cr0) ", "		\
	ABS(p##_cr3) ", " ABS(p##_cr4) ", " ABS(p##_efer) ", "		\
	ABS(p##_invlpg) ", " ABS(p##_patw) ", " ABS(p##_patc) ", "	\
	ABS(p##_touch) ", " ABS(p##_access) ", " ABS(p##_loop) ", "	\
	ABS(p##_endloop) ", " ABS(p##_rdtsc) ", " ABS(lm_enter) ", "	\
	ABS(lm_leave) ", " ABS(p##_fill) ", " ABS(p##_copy) ", "	\
	ABS(p##_demand) ", " ABS(p##_rmw) ", " ABS(p##_cpuid) ", "	\
	ABS(p##_hlt) ", " ABS(p##_add32) ", " ABS(p##_wait32) ", "	\
	ABS(p##_invpcid) "\n"
#define OPTAB32	OPTAB(".long", g32, g32_lm_enter, grt32_badop)
#define OPTAB64	OPTAB(".quad", g64, grt64_badop, g64_lm_leave)

#define RMWTAB32							\
	".long " ABS(r32_xchg) ", " ABS(r32_or) ", " ABS(r32_and) ", "	\
	ABS(r32_bts) ", " ABS(r32_btr) ", " ABS(r32_cmpxchg) ", "	\
	ABS(r32_w16) ", " ABS(r32_w8) ", " ABS(grt32_badop) ", "	\
	ABS(grt32_badop) ", " ABS(grt32_badop) ", " ABS(grt32_badop) ", " \
	ABS(grt32_badop) ", " ABS(r32_cmpxchg8b) ", " ABS(r32_w32) ", "	\
	ABS(r32_movnti) ", " ABS(r32_sse64) "\n"

#define RMWTAB64							\
	".quad " ABS(r64_xchg32) ", " ABS(r64_or32) ", " ABS(r64_and32) ", " \
	ABS(r64_bts32) ", " ABS(r64_btr32) ", " ABS(r64_cmpxchg32) ", "	\
	ABS(r64_w16) ", " ABS(r64_w8) ", " ABS(r64_xchg64) ", "		\
	ABS(r64_or64) ", " ABS(r64_and64) ", " ABS(r64_bts64) ", "	\
	ABS(r64_btr64) ", " ABS(r64_cmpxchg64) ", " ABS(r64_w32) ", "	\
	ABS(r64_movnti) ", " ABS(r64_sse64) "\n"

GUEST_CODE(grt_blob,
	"grt_base:\n"
	"jmp grt32_main\n"
	".org 0x10, 0xcc\n"
	".code64\n"
	"jmp grt64_main\n"
	".code32\n"

	/* ---- user stubs: EAX target, EBX kind, ECX write value ---- */
	".org 0x40, 0xcc\n"
	"and $3, %ebx\n"
	"cmp $1, %ebx\n"
	"je 1f\n"
	"cmp $2, %ebx\n"
	"je 2f\n"
	"mov (%eax), %edx\n"
	"int $0x30\n"
	"1: mov %ecx, (%eax)\n"
	"int $0x30\n"
	"2: call *%eax\n"
	"int $0x30\n"
	".org 0x80, 0xcc\n"
	".code64\n"
	"and $3, %ebx\n"
	"cmp $1, %ebx\n"
	"je 1f\n"
	"cmp $2, %ebx\n"
	"je 2f\n"
	"mov (%rax), %edx\n"
	"int $0x30\n"
	"1: mov %ecx, (%rax)\n"
	"int $0x30\n"
	"2: call *%rax\n"
	"int $0x30\n"
	".code32\n"

	/* ---- exception stubs ---- */
	".org 0x100, 0xcc\n"
	"grt_stubs32:\n"
	RT_STUBS("32", "grt32_common")
	".code64\n"
	"grt_stubs64:\n"
	RT_STUBS("64", "grt64_common")
	".code32\n"

	/* ---- 32-bit exception handling ---- */
	"grt32_common:\n"
	"incl " CB(CB_EXC_COUNT) "\n"
	"cmpl $14, (%esp)\n"
	"je grt32_pf\n"
	"cmpl $0x30, (%esp)\n"
	"je grt32_resume\n"
	"grt32_bad:\n"
	"push %eax\n"
	"mov 4(%esp), %eax\n"
	"mov %eax, " CB(CB_BAD_VEC) "\n"
	"mov 8(%esp), %eax\n"
	"mov %eax, " CB(CB_BAD_EC) "\n"
	"mov 12(%esp), %eax\n"
	"mov %eax, " CB(CB_BAD_IP) "\n"
	"movl $0, " CB(CB_BAD_IP) "+4\n"
	"mov %cr2, %eax\n"
	"mov %eax, " CB(CB_BAD_CR2) "\n"
	"movl $0, " CB(CB_BAD_CR2) "+4\n"
	"mov " CB(CB_BAD_VEC) ", %eax\n"
	"out %eax, $" X(GRT_PORT_BAD) "\n"
	"1: hlt\n"
	"jmp 1b\n"
	"grt32_resume:\n"
	"mov " CB(CB_SAVED_SP) ", %esp\n"
	"jmp *" CB(CB_RESUME) "\n"
	"grt32_pf:\n"
	"push %eax\n"
	"push %ecx\n"
	"push %edx\n"
	"incl " CB(CB_PF_TOTAL) "\n"
	"mov 16(%esp), %eax\n"
	"mov %eax, " CB(CB_PF_EC) "\n"
	"mov 20(%esp), %eax\n"
	"mov %eax, " CB(CB_PF_IP) "\n"
	"movl $0, " CB(CB_PF_IP) "+4\n"
	"mov %cr2, %eax\n"
	"mov %eax, " CB(CB_PF_CR2) "\n"
	"movl $0, " CB(CB_PF_CR2) "+4\n"
	"incl " CB(CB_PF_COUNT) "\n"
	"cmpl $0, " CB(CB_DEMAND_N) "\n"
	"je 1f\n"
	"call grt32_demand\n"
	"test %eax, %eax\n"
	"jnz 1f\n"
	"pop %edx\n"
	"pop %ecx\n"
	"pop %eax\n"
	"add $8, %esp\n"
	"iret\n"
	"1: cmpl $0, " CB(CB_RESUME) "\n"
	"je 2f\n"
	"mov " CB(CB_SAVED_SP) ", %esp\n"
	"jmp *" CB(CB_RESUME) "\n"
	"2: pop %edx\n"
	"pop %ecx\n"
	"pop %eax\n"
	"jmp grt32_bad\n"

	/* demand table: EAX = 0 when fixed (retry), 1 otherwise */
	"grt32_demand:\n"
	"push %ebx\n"
	"push %esi\n"
	"push %edi\n"
	"mov " CB(CB_PF_CR2) ", %eax\n"
	"and $0xfffff000, %eax\n"
	"mov " CB(CB_DEMAND_TBL) ", %ebx\n"
	"mov " CB(CB_DEMAND_N) ", %ecx\n"
	"1: test %ecx, %ecx\n"
	"jz 8f\n"
	"cmp (%ebx), %eax\n"
	"jne 2f\n"
	"mov 44(%ebx), %edx\n"
	"cmp " CB(CB_ASID) ", %edx\n"
	"jne 2f\n"
	"testl $1, 40(%ebx)\n"
	"jz 3f\n"
	"2: add $64, %ebx\n"
	"dec %ecx\n"
	"jmp 1b\n"
	"3: orl $1, 40(%ebx)\n"
	"cld\n"
	"mov 32(%ebx), %edi\n"
	"mov 24(%ebx), %esi\n"
	"mov $1024, %ecx\n"
	"test %esi, %esi\n"
	"jz 4f\n"
	"rep movsl\n"
	"jmp 5f\n"
	"4: xor %eax, %eax\n"
	"rep stosl\n"
	"5: mov 8(%ebx), %edi\n"
	"testl $2, 40(%ebx)\n"
	"jnz 6f\n"
	"mov 16(%ebx), %eax\n"
	"mov %eax, (%edi)\n"
	"jmp 7f\n"
	"6: push %ebx\n"
	"mov 20(%ebx), %ecx\n"
	"mov 16(%ebx), %ebx\n"
	"9: mov (%edi), %eax\n"
	"mov 4(%edi), %edx\n"
	"lock cmpxchg8b (%edi)\n"
	"jnz 9b\n"
	"pop %ebx\n"
	"7: mov " CB(CB_PF_CR2) ", %eax\n"
	"invlpg (%eax)\n"
	"incl " CB(CB_DEMAND_HITS) "\n"
	"xor %eax, %eax\n"
	"jmp 10f\n"
	"8: mov $1, %eax\n"
	"10: pop %edi\n"
	"pop %esi\n"
	"pop %ebx\n"
	"ret\n"

	/* ---- the 32-bit interpreter: ESI = current op ---- */
	"grt32_main:\n"
	"cld\n"
	"mov $" X(GRT_SCRIPT) ", %esi\n"
	"grt32_next:\n"
	"mov %esi, %eax\n"
	"sub $" X(GRT_SCRIPT) ", %eax\n"
	"shr $5, %eax\n"
	"mov %eax, " CB(CB_CUR_OP) "\n"
	"mov (%esi), %eax\n"
	"cmp $" X(GRT_NR_OPS) ", %eax\n"
	"jae grt32_badop\n"
	"jmp *" ABS(grt32_optab) "(,%eax,4)\n"
	"grt32_advance:\n"
	"add $32, %esi\n"
	"jmp grt32_next\n"
	"grt32_badop:\n"
	"mov $0x100, %eax\n"
	"mov %eax, " CB(CB_BAD_VEC) "\n"
	"out %eax, $" X(GRT_PORT_BAD) "\n"
	"hlt\n"
	"jmp grt32_badop\n"
	/* records an error: EAX = value, first one kept */
	"g32_error:\n"
	"cmpl $0, " CB(CB_ERR_COUNT) "\n"
	"jne 1f\n"
	"mov %eax, " CB(CB_ERR_VAL) "\n"
	"movl $0, " CB(CB_ERR_VAL) "+4\n"
	"push %eax\n"
	"mov " CB(CB_CUR_OP) ", %eax\n"
	"mov %eax, " CB(CB_ERR_OP) "\n"
	"pop %eax\n"
	"1: incl " CB(CB_ERR_COUNT) "\n"
	"ret\n"

	"g32_end:\n"
	"mov $" X(GRT_EV_DONE) ", %eax\n"
	"out %eax, $" X(GRT_PORT) "\n"
	"jmp grt32_main\n"
	"g32_out:\n"
	"mov 8(%esi), %eax\n"
	"out %eax, $" X(GRT_PORT) "\n"
	"jmp grt32_advance\n"
	"g32_w32:\n"
	"mov 8(%esi), %edi\n"
	"mov 16(%esi), %eax\n"
	"mov %eax, (%edi)\n"
	"jmp grt32_advance\n"
	"g32_w64:\n"
	"mov 8(%esi), %edi\n"
	"mov 16(%esi), %ebx\n"
	"mov 20(%esi), %ecx\n"
	"1: mov (%edi), %eax\n"
	"mov 4(%edi), %edx\n"
	"lock cmpxchg8b (%edi)\n"
	"jnz 1b\n"
	"jmp grt32_advance\n"
	"g32_went:\n"
	"cmpl $8, " CB(CB_ESIZE) "\n"
	"je g32_w64\n"
	"jmp g32_w32\n"
	"g32_r32:\n"
	"mov 8(%esi), %edi\n"
	"mov 24(%esi), %ebx\n"
	"mov (%edi), %eax\n"
	"mov %eax, " X(GRT_RES) "(,%ebx,8)\n"
	"movl $0, " X(GRT_RES) "+4(,%ebx,8)\n"
	"jmp grt32_advance\n"
	"g32_r64:\n"
	"mov 8(%esi), %edi\n"
	"mov 24(%esi), %ebx\n"
	"mov (%edi), %eax\n"
	"mov %eax, " X(GRT_RES) "(,%ebx,8)\n"
	"mov 4(%edi), %eax\n"
	"mov %eax, " X(GRT_RES) "+4(,%ebx,8)\n"
	"jmp grt32_advance\n"
	"g32_chk32:\n"
	"mov 8(%esi), %edi\n"
	"mov (%edi), %eax\n"
	"cmp 16(%esi), %eax\n"
	"je grt32_advance\n"
	"call g32_error\n"
	"jmp grt32_advance\n"
	"g32_cr0:\n"
	"mov 8(%esi), %eax\n"
	"mov %eax, %cr0\n"
	"jmp grt32_advance\n"
	"g32_cr3:\n"
	"mov 8(%esi), %eax\n"
	"mov %eax, %cr3\n"
	"jmp grt32_advance\n"
	"g32_cr4:\n"
	"mov 8(%esi), %eax\n"
	"mov %eax, %cr4\n"
	"jmp grt32_advance\n"
	"g32_efer:\n"
	"mov $0xc0000080, %ecx\n"
	"mov 8(%esi), %eax\n"
	"mov 12(%esi), %edx\n"
	"wrmsr\n"
	"jmp grt32_advance\n"
	"g32_invlpg:\n"
	"mov 8(%esi), %eax\n"
	"invlpg (%eax)\n"
	"jmp grt32_advance\n"
	"g32_patw:\n"
	"mov 8(%esi), %edi\n"
	"mov 16(%esi), %eax\n"
	"mov 24(%esi), %ecx\n"
	"1: test %ecx, %ecx\n"
	"jz grt32_advance\n"
	"mov %eax, (%edi)\n"
	"add $0x9e3779b9, %eax\n"
	"add $4, %edi\n"
	"dec %ecx\n"
	"jmp 1b\n"
	"g32_patc:\n"
	"mov 8(%esi), %edi\n"
	"mov 16(%esi), %edx\n"
	"mov 24(%esi), %ecx\n"
	"1: test %ecx, %ecx\n"
	"jz grt32_advance\n"
	"mov (%edi), %eax\n"
	"cmp %edx, %eax\n"
	"je 2f\n"
	"mov %edi, %eax\n"
	"call g32_error\n"
	"2: add $0x9e3779b9, %edx\n"
	"add $4, %edi\n"
	"dec %ecx\n"
	"jmp 1b\n"
	"g32_touch:\n"
	"mov 8(%esi), %edi\n"
	"mov 16(%esi), %ecx\n"
	"mov 24(%esi), %edx\n"
	"test %edx, %edx\n"
	"jnz 1f\n"
	"mov $4096, %edx\n"
	"1: test %ecx, %ecx\n"
	"jz grt32_advance\n"
	"testl $1, 4(%esi)\n"
	"jz 2f\n"
	"mov %edi, (%edi)\n"
	"jmp 3f\n"
	"2: mov (%edi), %eax\n"
	"3: add %edx, %edi\n"
	"dec %ecx\n"
	"jmp 1b\n"

	"g32_access:\n"
	"movl $0, " CB(CB_PF_COUNT) "\n"
	"movl $0, " CB(CB_PF_EC) "\n"
	"movl $0, " CB(CB_PF_CR2) "\n"
	"movl $0, " CB(CB_PF_CR2) "+4\n"
	"movl $0, " CB(CB_PF_IP) "\n"
	"movl $0, " CB(CB_PF_IP) "+4\n"
	"mov %esp, " CB(CB_SAVED_SP) "\n"
	"movl $" ABS(g32_acc_done) ", " CB(CB_RESUME) "\n"
	"mov 8(%esi), %eax\n"
	"mov 16(%esi), %ecx\n"
	"mov 4(%esi), %ebx\n"
	"xor %edx, %edx\n"
	"test $" X(GRT_ACC_AC) ", %ebx\n"
	"jz 1f\n"
	"pushf\n"
	"orl $0x40000, (%esp)\n"
	"popf\n"
	"1: test $" X(GRT_ACC_USER) ", %ebx\n"
	"jnz 5f\n"
	"and $3, %ebx\n"
	"cmp $1, %ebx\n"
	"je 2f\n"
	"cmp $2, %ebx\n"
	"je 3f\n"
	"mov (%eax), %edx\n"
	"jmp g32_acc_done\n"
	"2: mov %ecx, (%eax)\n"
	"jmp g32_acc_done\n"
	"3: call *%eax\n"
	"jmp g32_acc_done\n"
	"5: push $" X(GRT_SEL_UDATA) "\n"
	"push $" X(GRT_USTACK_TOP) "\n"
	"pushf\n"
	"push $" X(GRT_SEL_UCODE32) "\n"
	"push $" X(GRT_ULA) "\n"
	"iret\n"
	"g32_acc_done:\n"
	"pushf\n"
	"andl $0xfffbffff, (%esp)\n"
	"popf\n"
	"movl $0, " CB(CB_RESUME) "\n"
	"mov 24(%esi), %ebx\n"
	"lea " X(GRT_RES) "(,%ebx,8), %ebx\n"
	"mov " CB(CB_PF_COUNT) ", %eax\n"
	"mov %eax, (%ebx)\n"
	"mov " CB(CB_PF_EC) ", %eax\n"
	"mov %eax, 4(%ebx)\n"
	"mov " CB(CB_PF_CR2) ", %eax\n"
	"mov %eax, 8(%ebx)\n"
	"movl $0, 12(%ebx)\n"
	"mov %edx, 16(%ebx)\n"
	"movl $0, 20(%ebx)\n"
	"mov " CB(CB_PF_IP) ", %eax\n"
	"mov %eax, 24(%ebx)\n"
	"movl $0, 28(%ebx)\n"
	"jmp grt32_advance\n"

	"g32_loop:\n"
	"mov " CB(CB_LOOP_DEPTH) ", %eax\n"
	"cmp $4, %eax\n"
	"jae grt32_badop\n"
	"shl $4, %eax\n"
	"lea 32(%esi), %ebx\n"
	"mov %ebx, " CB(CB_LOOP_STACK) "(%eax)\n"
	"movl $0, " CB(CB_LOOP_STACK) "+4(%eax)\n"
	"mov 8(%esi), %ebx\n"
	"mov %ebx, " CB(CB_LOOP_STACK) "+8(%eax)\n"
	"movl $0, " CB(CB_LOOP_STACK) "+12(%eax)\n"
	"incl " CB(CB_LOOP_DEPTH) "\n"
	"jmp grt32_advance\n"
	"g32_endloop:\n"
	"mov " CB(CB_LOOP_DEPTH) ", %eax\n"
	"test %eax, %eax\n"
	"jz grt32_badop\n"
	"dec %eax\n"
	"shl $4, %eax\n"
	"decl " CB(CB_LOOP_STACK) "+8(%eax)\n"
	"jz 1f\n"
	"mov " CB(CB_LOOP_STACK) "(%eax), %esi\n"
	"jmp grt32_next\n"
	"1: decl " CB(CB_LOOP_DEPTH) "\n"
	"jmp grt32_advance\n"
	"g32_rdtsc:\n"
	"rdtsc\n"
	"mov 24(%esi), %ebx\n"
	"mov %eax, " X(GRT_RES) "(,%ebx,8)\n"
	"mov %edx, " X(GRT_RES) "+4(,%ebx,8)\n"
	"jmp grt32_advance\n"
	"g32_lm_enter:\n"
	"mov %cr0, %eax\n"
	"and $0x7fffffff, %eax\n"
	"mov %eax, %cr0\n"
	"mov %cr4, %eax\n"
	"or $0x20, %eax\n"
	"mov %eax, %cr4\n"
	"mov 8(%esi), %eax\n"
	"mov %eax, %cr3\n"
	"mov $0xc0000080, %ecx\n"
	"rdmsr\n"
	"or $0x100, %eax\n"
	"or 16(%esi), %eax\n"
	"wrmsr\n"
	"mov %cr0, %eax\n"
	"or $0x80000000, %eax\n"
	"mov %eax, %cr0\n"
	"ljmp $" X(GRT_SEL_CODE64) ", $" ABS(grt64_lm_entered) "\n"
	/* back from long mode (GOP_LM_LEAVE): compatibility mode here */
	"grt32_compat:\n"
	"mov %cr0, %eax\n"
	"and $0x7fffffff, %eax\n"
	"mov %eax, %cr0\n"
	"mov $0xc0000080, %ecx\n"
	"rdmsr\n"
	"and $0xfffffeff, %eax\n"
	"wrmsr\n"
	"lidt " X(GRT_IDT32_DESC) "\n"
	"andl $0xfffffdff, " X(GRT_GDT) "+" X(GRT_SEL_TSS32) "+4\n"
	"mov $" X(GRT_SEL_TSS32) ", %ax\n"
	"ltr %ax\n"
	"jmp grt32_advance\n"
	"g32_fill:\n"
	"mov 8(%esi), %edi\n"
	"mov 16(%esi), %eax\n"
	"mov 24(%esi), %ecx\n"
	"rep stosl\n"
	"jmp grt32_advance\n"
	"g32_copy:\n"
	"push %esi\n"
	"mov 8(%esi), %edi\n"
	"mov 24(%esi), %ecx\n"
	"mov 16(%esi), %esi\n"
	"rep movsl\n"
	"pop %esi\n"
	"jmp grt32_advance\n"
	"g32_demand:\n"
	"mov 8(%esi), %eax\n"
	"mov %eax, " CB(CB_DEMAND_TBL) "\n"
	"movl $0, " CB(CB_DEMAND_TBL) "+4\n"
	"mov 16(%esi), %eax\n"
	"mov %eax, " CB(CB_DEMAND_N) "\n"
	"jmp grt32_advance\n"
	"g32_rmw:\n"
	"mov 8(%esi), %edi\n"
	"mov 16(%esi), %eax\n"
	"mov 4(%esi), %ebx\n"
	"cmp $" X(GRT_NR_RMW) ", %ebx\n"
	"jae grt32_badop\n"
	"jmp *" ABS(grt32_rmwtab) "(,%ebx,4)\n"
	"r32_xchg:\n"
	"xchg %eax, (%edi)\n"
	"jmp grt32_advance\n"
	"r32_or:\n"
	"lock orl %eax, (%edi)\n"
	"jmp grt32_advance\n"
	"r32_and:\n"
	"lock andl %eax, (%edi)\n"
	"jmp grt32_advance\n"
	"r32_bts:\n"
	"lock btsl %eax, (%edi)\n"
	"jmp grt32_advance\n"
	"r32_btr:\n"
	"lock btrl %eax, (%edi)\n"
	"jmp grt32_advance\n"
	"r32_cmpxchg:\n"
	"mov %eax, %ecx\n"
	"mov 24(%esi), %eax\n"
	"lock cmpxchg %ecx, (%edi)\n"
	"jmp grt32_advance\n"
	"r32_w16:\n"
	"mov %ax, (%edi)\n"
	"jmp grt32_advance\n"
	"r32_w8:\n"
	"mov %al, (%edi)\n"
	"jmp grt32_advance\n"
	"r32_cmpxchg8b:\n"
	"mov 16(%esi), %ebx\n"
	"mov 20(%esi), %ecx\n"
	"mov 24(%esi), %eax\n"
	"mov 28(%esi), %edx\n"
	"lock cmpxchg8b (%edi)\n"
	"jmp grt32_advance\n"
	"r32_w32:\n"
	"mov %eax, (%edi)\n"
	"jmp grt32_advance\n"
	"r32_movnti:\n"
	"movnti %eax, (%edi)\n"
	"jmp grt32_advance\n"
	"r32_sse64:\n"
	"movq 16(%esi), %xmm0\n"
	"movq %xmm0, (%edi)\n"
	"jmp grt32_advance\n"
	"g32_cpuid:\n"
	"mov 8(%esi), %eax\n"
	"mov 16(%esi), %ecx\n"
	"cpuid\n"
	"mov 24(%esi), %edi\n"
	"mov %eax, " X(GRT_RES) "(,%edi,8)\n"
	"mov %ebx, " X(GRT_RES) "+4(,%edi,8)\n"
	"mov %ecx, " X(GRT_RES) "+8(,%edi,8)\n"
	"mov %edx, " X(GRT_RES) "+12(,%edi,8)\n"
	"jmp grt32_advance\n"
	"g32_hlt:\n"
	"hlt\n"
	"jmp grt32_advance\n"
	"g32_add32:\n"
	"mov 8(%esi), %edi\n"
	"mov 16(%esi), %eax\n"
	"add %eax, (%edi)\n"
	"jmp grt32_advance\n"
	"g32_wait32:\n"
	"mov 8(%esi), %edi\n"
	"mov 16(%esi), %eax\n"
	"1: cmp (%edi), %eax\n"
	"je grt32_advance\n"
	"pause\n"
	"cmpl $0, 24(%esi)\n"
	"je 1b\n"
	"out %al, $" X(GRT_PORT_YIELD) "\n"
	"jmp 1b\n"
	/* base + index * 2 + displacement = b */
	"g32_invpcid:\n"
	"mov 8(%esi), %eax\n"
	"mov 16(%esi), %ebx\n"
	"sub $0x40, %ebx\n"
	"mov $0x10, %ecx\n"
	"invpcid 0x20(%ebx,%ecx,2), %eax\n"
	"jmp grt32_advance\n"
	".balign 8\n"
	"grt32_optab:\n"
	OPTAB32
	"grt32_rmwtab:\n"
	RMWTAB32

	/* ---- 64-bit exception handling ---- */
	".code64\n"
	"grt64_common:\n"
	"incl " CB(CB_EXC_COUNT) "\n"
	"cmpq $14, (%rsp)\n"
	"je grt64_pf\n"
	"cmpq $0x30, (%rsp)\n"
	"je grt64_resume\n"
	"grt64_bad:\n"
	"push %rax\n"
	"mov 8(%rsp), %rax\n"
	"mov %eax, " CB(CB_BAD_VEC) "\n"
	"mov 16(%rsp), %rax\n"
	"mov %eax, " CB(CB_BAD_EC) "\n"
	"mov 24(%rsp), %rax\n"
	"mov %rax, " CB(CB_BAD_IP) "\n"
	"mov %cr2, %rax\n"
	"mov %rax, " CB(CB_BAD_CR2) "\n"
	"mov " CB(CB_BAD_VEC) ", %eax\n"
	"out %eax, $" X(GRT_PORT_BAD) "\n"
	"1: hlt\n"
	"jmp 1b\n"
	"grt64_resume:\n"
	"mov " CB(CB_SAVED_SP) ", %rsp\n"
	"jmp *" CB(CB_RESUME) "\n"
	"grt64_pf:\n"
	"push %rax\n"
	"push %rcx\n"
	"push %rdx\n"
	"incl " CB(CB_PF_TOTAL) "\n"
	"mov 32(%rsp), %rax\n"
	"mov %eax, " CB(CB_PF_EC) "\n"
	"mov 40(%rsp), %rax\n"
	"mov %rax, " CB(CB_PF_IP) "\n"
	"mov %cr2, %rax\n"
	"mov %rax, " CB(CB_PF_CR2) "\n"
	"incl " CB(CB_PF_COUNT) "\n"
	"cmpl $0, " CB(CB_DEMAND_N) "\n"
	"je 1f\n"
	"call grt64_demand\n"
	"test %eax, %eax\n"
	"jnz 1f\n"
	"pop %rdx\n"
	"pop %rcx\n"
	"pop %rax\n"
	"add $16, %rsp\n"
	"iretq\n"
	"1: cmpq $0, " CB(CB_RESUME) "\n"
	"je 2f\n"
	"mov " CB(CB_SAVED_SP) ", %rsp\n"
	"jmp *" CB(CB_RESUME) "\n"
	"2: pop %rdx\n"
	"pop %rcx\n"
	"pop %rax\n"
	"jmp grt64_bad\n"

	"grt64_demand:\n"
	"push %rbx\n"
	"push %rsi\n"
	"push %rdi\n"
	"mov " CB(CB_PF_CR2) ", %rax\n"
	"and $~0xfff, %rax\n"
	"mov " CB(CB_DEMAND_TBL) ", %rbx\n"
	"mov " CB(CB_DEMAND_N) ", %ecx\n"
	"1: test %ecx, %ecx\n"
	"jz 8f\n"
	"cmp (%rbx), %rax\n"
	"jne 2f\n"
	"mov 44(%rbx), %edx\n"
	"cmp " CB(CB_ASID) ", %edx\n"
	"jne 2f\n"
	"testl $1, 40(%rbx)\n"
	"jz 3f\n"
	"2: add $64, %rbx\n"
	"dec %ecx\n"
	"jmp 1b\n"
	"3: orl $1, 40(%rbx)\n"
	"cld\n"
	"mov 32(%rbx), %rdi\n"
	"mov 24(%rbx), %rsi\n"
	"mov $512, %ecx\n"
	"test %rsi, %rsi\n"
	"jz 4f\n"
	"rep movsq\n"
	"jmp 5f\n"
	"4: xor %eax, %eax\n"
	"rep stosq\n"
	"5: mov 8(%rbx), %rdi\n"
	"mov 16(%rbx), %rax\n"
	"testl $2, 40(%rbx)\n"
	"jnz 6f\n"
	"mov %eax, (%rdi)\n"
	"jmp 7f\n"
	"6: mov %rax, (%rdi)\n"
	"7: mov " CB(CB_PF_CR2) ", %rax\n"
	"invlpg (%rax)\n"
	"incl " CB(CB_DEMAND_HITS) "\n"
	"xor %eax, %eax\n"
	"jmp 10f\n"
	"8: mov $1, %eax\n"
	"10: pop %rdi\n"
	"pop %rsi\n"
	"pop %rbx\n"
	"ret\n"

	/* ---- the 64-bit interpreter: RSI = current op ---- */
	"grt64_lm_entered:\n"
	"mov %esi, %esi\n"
	"mov %esp, %esp\n"
	"lidt " X(GRT_IDT64_DESC) "\n"
	"andl $0xfffffdff, " X(GRT_GDT) "+" X(GRT_SEL_TSS64) "+4\n"
	"mov $" X(GRT_SEL_TSS64) ", %ax\n"
	"ltr %ax\n"
	"jmp grt64_advance\n"
	"grt64_main:\n"
	"cld\n"
	"mov $" X(GRT_SCRIPT) ", %esi\n"
	"grt64_next:\n"
	"mov %rsi, %rax\n"
	"sub $" X(GRT_SCRIPT) ", %rax\n"
	"shr $5, %rax\n"
	"mov %eax, " CB(CB_CUR_OP) "\n"
	"mov (%rsi), %eax\n"
	"cmp $" X(GRT_NR_OPS) ", %eax\n"
	"jae grt64_badop\n"
	"jmp *" ABS(grt64_optab) "(,%rax,8)\n"
	"grt64_advance:\n"
	"add $32, %rsi\n"
	"jmp grt64_next\n"
	"grt64_badop:\n"
	"mov $0x100, %eax\n"
	"mov %eax, " CB(CB_BAD_VEC) "\n"
	"out %eax, $" X(GRT_PORT_BAD) "\n"
	"hlt\n"
	"jmp grt64_badop\n"
	"g64_error:\n"
	"cmpl $0, " CB(CB_ERR_COUNT) "\n"
	"jne 1f\n"
	"mov %rax, " CB(CB_ERR_VAL) "\n"
	"push %rax\n"
	"mov " CB(CB_CUR_OP) ", %eax\n"
	"mov %eax, " CB(CB_ERR_OP) "\n"
	"pop %rax\n"
	"1: incl " CB(CB_ERR_COUNT) "\n"
	"ret\n"

	"g64_end:\n"
	"mov $" X(GRT_EV_DONE) ", %eax\n"
	"out %eax, $" X(GRT_PORT) "\n"
	"jmp grt64_main\n"
	"g64_out:\n"
	"mov 8(%rsi), %eax\n"
	"out %eax, $" X(GRT_PORT) "\n"
	"jmp grt64_advance\n"
	"g64_w32:\n"
	"mov 8(%rsi), %rdi\n"
	"mov 16(%rsi), %eax\n"
	"mov %eax, (%rdi)\n"
	"jmp grt64_advance\n"
	"g64_w64:\n"
	"mov 8(%rsi), %rdi\n"
	"mov 16(%rsi), %rax\n"
	"mov %rax, (%rdi)\n"
	"jmp grt64_advance\n"
	"g64_went:\n"
	"cmpl $8, " CB(CB_ESIZE) "\n"
	"je g64_w64\n"
	"jmp g64_w32\n"
	"g64_r32:\n"
	"mov 8(%rsi), %rdi\n"
	"mov 24(%rsi), %rbx\n"
	"mov (%rdi), %eax\n"
	"mov %rax, " X(GRT_RES) "(,%rbx,8)\n"
	"jmp grt64_advance\n"
	"g64_r64:\n"
	"mov 8(%rsi), %rdi\n"
	"mov 24(%rsi), %rbx\n"
	"mov (%rdi), %rax\n"
	"mov %rax, " X(GRT_RES) "(,%rbx,8)\n"
	"jmp grt64_advance\n"
	"g64_chk32:\n"
	"mov 8(%rsi), %rdi\n"
	"mov (%rdi), %eax\n"
	"cmp 16(%rsi), %eax\n"
	"je grt64_advance\n"
	"call g64_error\n"
	"jmp grt64_advance\n"
	"g64_cr0:\n"
	"mov 8(%rsi), %rax\n"
	"mov %rax, %cr0\n"
	"jmp grt64_advance\n"
	"g64_cr3:\n"
	"mov 8(%rsi), %rax\n"
	"mov %rax, %cr3\n"
	"jmp grt64_advance\n"
	"g64_cr4:\n"
	"mov 8(%rsi), %rax\n"
	"mov %rax, %cr4\n"
	"jmp grt64_advance\n"
	"g64_efer:\n"
	"mov $0xc0000080, %ecx\n"
	"mov 8(%rsi), %eax\n"
	"mov 12(%rsi), %edx\n"
	"wrmsr\n"
	"jmp grt64_advance\n"
	"g64_invlpg:\n"
	"mov 8(%rsi), %rax\n"
	"invlpg (%rax)\n"
	"jmp grt64_advance\n"
	"g64_patw:\n"
	"mov 8(%rsi), %rdi\n"
	"mov 16(%rsi), %eax\n"
	"mov 24(%rsi), %rcx\n"
	"1: test %rcx, %rcx\n"
	"jz grt64_advance\n"
	"mov %eax, (%rdi)\n"
	"add $0x9e3779b9, %eax\n"
	"add $4, %rdi\n"
	"dec %rcx\n"
	"jmp 1b\n"
	"g64_patc:\n"
	"mov 8(%rsi), %rdi\n"
	"mov 16(%rsi), %edx\n"
	"mov 24(%rsi), %rcx\n"
	"1: test %rcx, %rcx\n"
	"jz grt64_advance\n"
	"mov (%rdi), %eax\n"
	"cmp %edx, %eax\n"
	"je 2f\n"
	"mov %rdi, %rax\n"
	"call g64_error\n"
	"2: add $0x9e3779b9, %edx\n"
	"add $4, %rdi\n"
	"dec %rcx\n"
	"jmp 1b\n"
	"g64_touch:\n"
	"mov 8(%rsi), %rdi\n"
	"mov 16(%rsi), %rcx\n"
	"mov 24(%rsi), %rdx\n"
	"test %rdx, %rdx\n"
	"jnz 1f\n"
	"mov $4096, %edx\n"
	"1: test %rcx, %rcx\n"
	"jz grt64_advance\n"
	"testl $1, 4(%rsi)\n"
	"jz 2f\n"
	"mov %edi, (%rdi)\n"
	"jmp 3f\n"
	"2: mov (%rdi), %eax\n"
	"3: add %rdx, %rdi\n"
	"dec %rcx\n"
	"jmp 1b\n"

	"g64_access:\n"
	"movl $0, " CB(CB_PF_COUNT) "\n"
	"movl $0, " CB(CB_PF_EC) "\n"
	"movq $0, " CB(CB_PF_CR2) "\n"
	"movq $0, " CB(CB_PF_IP) "\n"
	"mov %rsp, " CB(CB_SAVED_SP) "\n"
	"movq $" ABS(g64_acc_done) ", " CB(CB_RESUME) "\n"
	"mov 8(%rsi), %rax\n"
	"mov 16(%rsi), %rcx\n"
	"mov 4(%rsi), %ebx\n"
	"xor %edx, %edx\n"
	"test $" X(GRT_ACC_AC) ", %ebx\n"
	"jz 1f\n"
	"pushfq\n"
	"orq $0x40000, (%rsp)\n"
	"popfq\n"
	"1: test $" X(GRT_ACC_USER) ", %ebx\n"
	"jnz 5f\n"
	"and $3, %ebx\n"
	"cmp $1, %ebx\n"
	"je 2f\n"
	"cmp $2, %ebx\n"
	"je 3f\n"
	"mov (%rax), %edx\n"
	"jmp g64_acc_done\n"
	"2: mov %ecx, (%rax)\n"
	"jmp g64_acc_done\n"
	"3: call *%rax\n"
	"jmp g64_acc_done\n"
	"5: push $" X(GRT_SEL_UDATA) "\n"
	"push $" X(GRT_USTACK_TOP) "\n"
	"pushfq\n"
	"push $" X(GRT_SEL_UCODE64) "\n"
	"push $" X(GRT_ULA) "+0x40\n"
	"iretq\n"
	"g64_acc_done:\n"
	"pushfq\n"
	"andq $~0x40000, (%rsp)\n"
	"popfq\n"
	"movq $0, " CB(CB_RESUME) "\n"
	"mov 24(%rsi), %rbx\n"
	"lea " X(GRT_RES) "(,%rbx,8), %rbx\n"
	"mov " CB(CB_PF_COUNT) ", %eax\n"
	"mov " CB(CB_PF_EC) ", %ecx\n"
	"shl $32, %rcx\n"
	"or %rcx, %rax\n"
	"mov %rax, (%rbx)\n"
	"mov " CB(CB_PF_CR2) ", %rax\n"
	"mov %rax, 8(%rbx)\n"
	"mov %edx, %edx\n"
	"mov %rdx, 16(%rbx)\n"
	"mov " CB(CB_PF_IP) ", %rax\n"
	"mov %rax, 24(%rbx)\n"
	"jmp grt64_advance\n"

	"g64_loop:\n"
	"mov " CB(CB_LOOP_DEPTH) ", %eax\n"
	"cmp $4, %eax\n"
	"jae grt64_badop\n"
	"shl $4, %eax\n"
	"lea 32(%rsi), %rbx\n"
	"mov %rbx, " CB(CB_LOOP_STACK) "(%rax)\n"
	"mov 8(%rsi), %rbx\n"
	"mov %rbx, " CB(CB_LOOP_STACK) "+8(%rax)\n"
	"incl " CB(CB_LOOP_DEPTH) "\n"
	"jmp grt64_advance\n"
	"g64_endloop:\n"
	"mov " CB(CB_LOOP_DEPTH) ", %eax\n"
	"test %eax, %eax\n"
	"jz grt64_badop\n"
	"dec %eax\n"
	"shl $4, %eax\n"
	"decq " CB(CB_LOOP_STACK) "+8(%rax)\n"
	"jz 1f\n"
	"mov " CB(CB_LOOP_STACK) "(%rax), %rsi\n"
	"jmp grt64_next\n"
	"1: decl " CB(CB_LOOP_DEPTH) "\n"
	"jmp grt64_advance\n"
	"g64_rdtsc:\n"
	"rdtsc\n"
	"mov 24(%rsi), %rbx\n"
	"mov %eax, " X(GRT_RES) "(,%rbx,8)\n"
	"mov %edx, " X(GRT_RES) "+4(,%rbx,8)\n"
	"jmp grt64_advance\n"
	"g64_lm_leave:\n"
	"push $" X(GRT_SEL_CODE32) "\n"
	"push $" ABS(grt32_compat) "\n"
	"lretq\n"
	"g64_fill:\n"
	"mov 8(%rsi), %rdi\n"
	"mov 16(%rsi), %eax\n"
	"mov 24(%rsi), %rcx\n"
	"rep stosl\n"
	"jmp grt64_advance\n"
	"g64_copy:\n"
	"push %rsi\n"
	"mov 8(%rsi), %rdi\n"
	"mov 24(%rsi), %rcx\n"
	"mov 16(%rsi), %rsi\n"
	"rep movsl\n"
	"pop %rsi\n"
	"jmp grt64_advance\n"
	"g64_demand:\n"
	"mov 8(%rsi), %rax\n"
	"mov %rax, " CB(CB_DEMAND_TBL) "\n"
	"mov 16(%rsi), %eax\n"
	"mov %eax, " CB(CB_DEMAND_N) "\n"
	"jmp grt64_advance\n"
	"g64_rmw:\n"
	"mov 8(%rsi), %rdi\n"
	"mov 16(%rsi), %rax\n"
	"mov 4(%rsi), %ebx\n"
	"cmp $" X(GRT_NR_RMW) ", %ebx\n"
	"jae grt64_badop\n"
	"jmp *" ABS(grt64_rmwtab) "(,%rbx,8)\n"
	"r64_xchg32:\n"
	"xchg %eax, (%rdi)\n"
	"jmp grt64_advance\n"
	"r64_or32:\n"
	"lock orl %eax, (%rdi)\n"
	"jmp grt64_advance\n"
	"r64_and32:\n"
	"lock andl %eax, (%rdi)\n"
	"jmp grt64_advance\n"
	"r64_bts32:\n"
	"lock btsl %eax, (%rdi)\n"
	"jmp grt64_advance\n"
	"r64_btr32:\n"
	"lock btrl %eax, (%rdi)\n"
	"jmp grt64_advance\n"
	"r64_cmpxchg32:\n"
	"mov %eax, %ecx\n"
	"mov 24(%rsi), %eax\n"
	"lock cmpxchg %ecx, (%rdi)\n"
	"jmp grt64_advance\n"
	"r64_w16:\n"
	"mov %ax, (%rdi)\n"
	"jmp grt64_advance\n"
	"r64_w8:\n"
	"mov %al, (%rdi)\n"
	"jmp grt64_advance\n"
	"r64_xchg64:\n"
	"xchg %rax, (%rdi)\n"
	"jmp grt64_advance\n"
	"r64_or64:\n"
	"lock orq %rax, (%rdi)\n"
	"jmp grt64_advance\n"
	"r64_and64:\n"
	"lock andq %rax, (%rdi)\n"
	"jmp grt64_advance\n"
	"r64_bts64:\n"
	"lock btsq %rax, (%rdi)\n"
	"jmp grt64_advance\n"
	"r64_btr64:\n"
	"lock btrq %rax, (%rdi)\n"
	"jmp grt64_advance\n"
	"r64_cmpxchg64:\n"
	"mov %rax, %rcx\n"
	"mov 24(%rsi), %rax\n"
	"lock cmpxchg %rcx, (%rdi)\n"
	"jmp grt64_advance\n"
	"r64_w32:\n"
	"mov %eax, (%rdi)\n"
	"jmp grt64_advance\n"
	"r64_movnti:\n"
	"movnti %rax, (%rdi)\n"
	"jmp grt64_advance\n"
	"r64_sse64:\n"
	"movq 16(%rsi), %xmm0\n"
	"movq %xmm0, (%rdi)\n"
	"jmp grt64_advance\n"
	"g64_cpuid:\n"
	"mov 8(%rsi), %eax\n"
	"mov 16(%rsi), %ecx\n"
	"cpuid\n"
	"mov 24(%rsi), %rdi\n"
	"mov %eax, " X(GRT_RES) "(,%rdi,8)\n"
	"mov %ebx, " X(GRT_RES) "+4(,%rdi,8)\n"
	"mov %ecx, " X(GRT_RES) "+8(,%rdi,8)\n"
	"mov %edx, " X(GRT_RES) "+12(,%rdi,8)\n"
	"jmp grt64_advance\n"
	"g64_hlt:\n"
	"hlt\n"
	"jmp grt64_advance\n"
	"g64_add32:\n"
	"mov 8(%rsi), %rdi\n"
	"mov 16(%rsi), %eax\n"
	"add %eax, (%rdi)\n"
	"jmp grt64_advance\n"
	"g64_wait32:\n"
	"mov 8(%rsi), %rdi\n"
	"mov 16(%rsi), %eax\n"
	"1: cmp (%rdi), %eax\n"
	"je grt64_advance\n"
	"pause\n"
	"cmpq $0, 24(%rsi)\n"
	"je 1b\n"
	"out %al, $" X(GRT_PORT_YIELD) "\n"
	"jmp 1b\n"
	"g64_invpcid:\n"
	"mov 8(%rsi), %r10\n"
	"mov 16(%rsi), %r11\n"
	"sub $0x40, %r11\n"
	"mov $0x10, %r9d\n"
	"invpcid 0x20(%r11,%r9,2), %r10\n"
	"jmp grt64_advance\n"
	".balign 8\n"
	"grt64_optab:\n"
	OPTAB64
	"grt64_rmwtab:\n"
	RMWTAB64
	".code32\n");

#define GRT_OFF_ENTRY32	0x000
#define GRT_OFF_ENTRY64	0x010
#define GRT_OFF_USTUBS	0x040
#define GRT_OFF_STUBS32	0x100
#define GRT_OFF_STUBS64	0x500

/* ---- descriptor tables ---- */

static uint64_t seg_desc(uint32_t base, uint32_t limit, uint32_t access,
			 uint32_t flags)
{
	return (limit & 0xffffULL) | ((uint64_t)(base & 0xffffff) << 16) |
	       ((uint64_t)(access & 0xff) << 40) |
	       ((uint64_t)((limit >> 16) & 0xf) << 48) |
	       ((uint64_t)(flags & 0xf) << 52) |
	       ((uint64_t)(base >> 24) << 56);
}

static void write_sys(struct tvm *t)
{
	uint8_t *sys = tvm_ptr(t, GRT_SYS);
	uint64_t *gdt = (uint64_t *)(sys + GRT_GDT);
	uint64_t stubs32 = GRT_CODE + GRT_OFF_STUBS32;
	uint64_t stubs64 = GRT_CODE + GRT_OFF_STUBS64;
	uint32_t v;

	memset(sys, 0, 0x1000);
	gdt[GRT_SEL_CODE32 >> 3] = seg_desc(0, 0xfffff, 0x9b, 0xc);
	gdt[GRT_SEL_DATA >> 3] = seg_desc(0, 0xfffff, 0x93, 0xc);
	gdt[GRT_SEL_TSS32 >> 3] = seg_desc(GRT_TSS32, 0x67, 0x8b, 0);
	gdt[GRT_SEL_CODE64 >> 3] = seg_desc(0, 0xfffff, 0x9b, 0xa);
	gdt[GRT_SEL_UCODE32 >> 3] = seg_desc(0, 0xfffff, 0xfb, 0xc);
	gdt[GRT_SEL_UDATA >> 3] = seg_desc(0, 0xfffff, 0xf3, 0xc);
	gdt[GRT_SEL_UCODE64 >> 3] = seg_desc(0, 0xfffff, 0xfb, 0xa);
	gdt[GRT_SEL_TSS64 >> 3] = seg_desc(GRT_TSS64, 0x67, 0x8b, 0);
	gdt[(GRT_SEL_TSS64 >> 3) + 1] = 0;

	/* 32-bit TSS: ESP0, SS0; 64-bit TSS: RSP0; no I/O bitmap */
	*(uint32_t *)(sys + GRT_TSS32 + 4) = GRT_STACK0;
	*(uint32_t *)(sys + GRT_TSS32 + 8) = GRT_SEL_DATA;
	*(uint16_t *)(sys + GRT_TSS32 + 0x66) = 0x68;
	*(uint64_t *)(sys + GRT_TSS64 + 4) = GRT_STACK0;
	*(uint16_t *)(sys + GRT_TSS64 + 0x66) = 0x68;

	for (v = 0; v < 64; v++) {
		uint64_t h32 = stubs32 + v * 16, h64 = stubs64 + v * 16;
		uint32_t type = v == 0x30 ? 0xee : 0x8e;	/* DPL 3 for 0x30 */
		uint64_t *g32 = (uint64_t *)(sys + GRT_IDT32 + v * 8);
		uint64_t *g64 = (uint64_t *)(sys + GRT_IDT64 + v * 16);

		*g32 = (h32 & 0xffff) | ((uint64_t)GRT_SEL_CODE32 << 16) |
		       ((uint64_t)type << 40) | ((h32 >> 16) << 48);
		g64[0] = (h64 & 0xffff) | ((uint64_t)GRT_SEL_CODE64 << 16) |
			 ((uint64_t)type << 40) | (((h64 >> 16) & 0xffff) << 48);
		g64[1] = h64 >> 32;
	}
	/* lidt operands: limit, base */
	*(uint16_t *)(sys + GRT_IDT32_DESC) = 64 * 8 - 1;
	*(uint32_t *)(sys + GRT_IDT32_DESC + 2) = GRT_IDT32;
	*(uint16_t *)(sys + GRT_IDT64_DESC) = 64 * 16 - 1;
	*(uint64_t *)(sys + GRT_IDT64_DESC + 2) = GRT_IDT64;
}

static void flat(struct be_segment *s, uint16_t sel, uint8_t type, uint8_t dpl)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->dpl = dpl;
	s->db = 1;
	s->s = 1;
	s->g = 1;
}

int grt_set_mode_sregs(struct tvm *t, const struct gp *g,
		       const struct grt_env *env)
{
	struct be_sregs sr;
	int ret;

	ret = be_get_sregs(&t->vcpu, &sr);
	if (ret)
		return ret;
	flat(&sr.cs, GRT_SEL_CODE32, 0xb, 0);
	flat(&sr.ss, GRT_SEL_DATA, 3, 0);
	flat(&sr.ds, GRT_SEL_UDATA, 3, 3);
	sr.es = sr.fs = sr.gs = sr.ds;
	memset(&sr.tr, 0, sizeof(sr.tr));
	sr.tr.selector = GRT_SEL_TSS32;
	sr.tr.base = GRT_TSS32;
	sr.tr.limit = 0x67;
	sr.tr.type = 11;
	sr.tr.present = 1;
	memset(&sr.ldt, 0, sizeof(sr.ldt));
	sr.ldt.unusable = 1;
	sr.gdt.base = GRT_GDT;
	sr.gdt.limit = 0x4f;
	sr.idt.base = GRT_IDT32;
	sr.idt.limit = 64 * 8 - 1;
	sr.cr0 = GP_CR0_PE | GP_CR0_ET | env->cr0_extra;
	sr.cr2 = 0;
	sr.cr3 = 0;
	sr.cr4 = 0;
	sr.efer = 0;
	switch (env->mode) {
	case GP_MODE_NONE:
		sr.cr4 = env->cr4_extra;
		sr.efer = env->efer_extra;
		break;
	case GP_MODE_32:
		sr.cr0 |= GP_CR0_PG;
		sr.cr3 = gp_cr3(g);
		sr.cr4 = env->cr4_extra;
		sr.efer = env->efer_extra;
		break;
	case GP_MODE_PAE:
		sr.cr0 |= GP_CR0_PG;
		sr.cr3 = gp_cr3(g);
		sr.cr4 = GP_CR4_PAE | env->cr4_extra;
		sr.efer = env->efer_extra;
		break;
	case GP_MODE_LM:
		sr.cr0 |= GP_CR0_PG;
		sr.cr3 = gp_cr3(g);
		sr.cr4 = GP_CR4_PAE | env->cr4_extra;
		sr.efer = GP_EFER_LME | GP_EFER_LMA | env->efer_extra;
		sr.cs.selector = GRT_SEL_CODE64;
		sr.cs.l = 1;
		sr.cs.db = 0;
		sr.tr.selector = GRT_SEL_TSS64;
		sr.tr.base = GRT_TSS64;
		sr.idt.base = GRT_IDT64;
		sr.idt.limit = 64 * 16 - 1;
		break;
	}
	return be_set_sregs(&t->vcpu, &sr);
}

int grt_map_common(struct gp *g, const struct grt_env *env)
{
	uint64_t ident = env->ident_size ? env->ident_size : 8ULL << 20;
	int ret;

	if (g->mode == GP_MODE_NONE)
		return 0;
	if (ident > g->mem_size)
		ident = g->mem_size & ~0xfffULL;
	if (env->ident_big) {
		uint64_t big = g->mode == GP_MODE_32 ? GP_4M : GP_2M;

		ret = gp_map(g, 0, 0, ident & ~(big - 1), big,
			     GP_W | GP_A | GP_D);
	} else {
		ret = gp_map(g, 0, 0, ident, GP_4K, GP_W | GP_A | GP_D);
	}
	if (ret)
		return ret;
	if (env->no_user)
		return 0;
	ret = gp_map(g, GRT_ULA, GRT_UCODE, GP_4K, GP_4K, GP_U | GP_A);
	if (!ret)
		ret = gp_map(g, GRT_USTACK_LA, GRT_USTACK, GP_4K, GP_4K,
			     GP_U | GP_W | GP_A | GP_D);
	return ret;
}

int grt_setup(struct tvm *t, struct gp *g, const struct grt_env *env)
{
	size_t size = GUEST_SIZE(grt_blob);
	struct be_regs regs;
	int ret;

	if (size > GRT_STACK - 0x1000 - GRT_CODE || t->mem_size < GRT_FREE)
		return -E2BIG;
	write_sys(t);
	memcpy(tvm_ptr(t, GRT_CODE), grt_blob, size);
	memset(tvm_ptr(t, GRT_UCODE), 0xcc, 0x1000);
	memcpy(tvm_ptr(t, GRT_UCODE), grt_blob + GRT_OFF_USTUBS, 0x80);
	memset(tvm_ptr(t, GRT_CB), 0, CB_SIZE);
	*grt_cb32(t, CB_ESIZE) = gp_esize(env->mode);
	memset(tvm_ptr(t, GRT_SCRIPT), 0, 32);	/* an END op */
	if (env->mode != GP_MODE_NONE) {
		if (g->mode != env->mode)
			return -EINVAL;
		ret = grt_map_common(g, env);
		if (ret)
			return ret;
	}
	ret = grt_set_mode_sregs(t, g, env);
	if (ret)
		return ret;
	ret = be_get_regs(&t->vcpu, &regs);
	if (ret)
		return ret;
	regs.rip = GRT_CODE + (env->mode == GP_MODE_LM ? GRT_OFF_ENTRY64 :
						      GRT_OFF_ENTRY32);
	regs.rsp = GRT_STACK;
	regs.rflags = 2;
	return be_set_regs(&t->vcpu, &regs);
}

/* ---- scripts ---- */

void gs_init(struct grt_script *s)
{
	memset(s, 0, sizeof(*s));
}

void gs_free(struct grt_script *s)
{
	free(s->ops);
	memset(s, 0, sizeof(*s));
}

void gs_reset(struct grt_script *s)
{
	s->n = 0;
	s->oom = false;
}

size_t gs_op(struct grt_script *s, uint32_t code, uint32_t flags,
	     uint64_t a, uint64_t b, uint64_t c)
{
	struct grt_op *op;

	if (s->n == s->cap) {
		size_t ncap = s->cap ? s->cap * 2 : 256;
		struct grt_op *n = realloc(s->ops, ncap * sizeof(*n));

		if (!n) {
			s->oom = true;
			return s->n;
		}
		s->ops = n;
		s->cap = ncap;
	}
	op = &s->ops[s->n];
	op->code = code;
	op->flags = flags;
	op->a = a;
	op->b = b;
	op->c = c;
	return s->n++;
}

int grt_load(struct tvm *t, const struct grt_script *s)
{
	if (s->oom)
		return -ENOMEM;
	if (s->n + 1 > GRT_MAX_OPS)
		return -E2BIG;
	memcpy(tvm_ptr(t, GRT_SCRIPT), s->ops, s->n * sizeof(struct grt_op));
	memset(tvm_ptr(t, GRT_SCRIPT + s->n * sizeof(struct grt_op)), 0,
	       sizeof(struct grt_op));
	return 0;
}

void grt_run(struct tvm *t, struct grt_stopinfo *st)
{
	int ret;

	memset(st, 0, sizeof(*st));
	for (;;) {
		ret = tvm_run(t, &st->e);
		if (ret) {
			st->why = GRT_STOP_ERROR;
			st->value = (uint32_t)ret;
			return;
		}
		if (st->e.reason == BE_EXIT_IO &&
		    st->e.io.direction == BE_IO_OUT &&
		    (st->e.io.port == GRT_PORT || st->e.io.port == GRT_PORT_BAD)) {
			uint32_t v = 0;

			memcpy(&v, st->e.io.data,
			       st->e.io.size < 4 ? st->e.io.size : 4);
			st->value = v;
			if (st->e.io.port == GRT_PORT_BAD)
				st->why = GRT_STOP_BAD;
			else if (v == GRT_EV_DONE)
				st->why = GRT_STOP_DONE;
			else
				st->why = GRT_STOP_OUT;
			return;
		}
		if (st->e.reason == BE_EXIT_IO) {
			/* GOP_WAIT32's miss: let the thread it waits for run */
			if (st->e.io.port == GRT_PORT_YIELD)
				sched_yield();
			continue;	/* some other port: ignore */
		}
		st->why = GRT_STOP_EXIT;
		return;
	}
}

const char *grt_describe(struct tvm *t, const struct grt_stopinfo *st,
			 char *buf, size_t len)
{
	const struct be_exit *e = &st->e;

	switch (st->why) {
	case GRT_STOP_DONE:
		snprintf(buf, len, "done");
		break;
	case GRT_STOP_OUT:
		snprintf(buf, len, "OUT 0x%x", st->value);
		break;
	case GRT_STOP_BAD:
		if (st->value == 0x100)
			snprintf(buf, len, "bad op at script index %u",
				 *grt_cb32(t, CB_CUR_OP));
		else
			snprintf(buf, len,
				 "unexpected guest exception %u (error code 0x%x) at rip 0x%llx, cr2 0x%llx, script op %u",
				 st->value, *grt_cb32(t, CB_BAD_EC),
				 (unsigned long long)*grt_cb64(t, CB_BAD_IP),
				 (unsigned long long)*grt_cb64(t, CB_BAD_CR2),
				 *grt_cb32(t, CB_CUR_OP));
		break;
	case GRT_STOP_ERROR:
		snprintf(buf, len, "RUN failed: %s", strerror(-(int)st->value));
		break;
	case GRT_STOP_EXIT:
		if (e->reason == BE_EXIT_INTERNAL)
			snprintf(buf, len,
				 "exit %s suberror %u data 0x%llx 0x%llx 0x%llx (script op %u, rip 0x%llx)",
				 be_exit_name(e->reason), e->internal.suberror,
				 (unsigned long long)e->internal.data[0],
				 (unsigned long long)e->internal.data[1],
				 (unsigned long long)e->internal.data[2],
				 *grt_cb32(t, CB_CUR_OP),
				 (unsigned long long)tvm_rip(t));
		else if (e->reason == BE_EXIT_MMIO)
			snprintf(buf, len,
				 "exit MMIO %s gpa 0x%llx len %u (script op %u, rip 0x%llx)",
				 e->mmio.is_write ? "write" : "read",
				 (unsigned long long)e->mmio.phys_addr,
				 e->mmio.len, *grt_cb32(t, CB_CUR_OP),
				 (unsigned long long)tvm_rip(t));
		else
			snprintf(buf, len, "exit %s (raw %u) (script op %u, rip 0x%llx)",
				 be_exit_name(e->reason), e->raw_reason,
				 *grt_cb32(t, CB_CUR_OP),
				 (unsigned long long)tvm_rip(t));
		break;
	}
	return buf;
}

int grt_exec(struct tvm *t, const struct grt_script *s, char *err,
	     size_t errlen)
{
	struct grt_stopinfo st;
	int ret = grt_load(t, s);

	if (ret) {
		snprintf(err, errlen, "loading the script: %s", strerror(-ret));
		return -1;
	}
	grt_run(t, &st);
	if (st.why == GRT_STOP_DONE)
		return 0;
	grt_describe(t, &st, err, errlen);
	return -1;
}

/* ---- counters ---- */

int grt_vm_stats(struct tvm *t, uint64_t *val, unsigned int n)
{
	struct be_stats st;
	int ret;

	memset(&st, 0, sizeof(st));
	ret = be_vm_stats(&t->vm, &st);
	if (ret)
		return ret;
	memset(val, 0, n * sizeof(*val));
	memcpy(val, st.val, (n < st.nr ? n : st.nr) * sizeof(*val));
	return 0;
}

int grt_read_address_spaces(struct grt_as_line *lines, int max)
{
	char prefix[32], path[512], buf[256];
	struct dirent *de;
	int n = 0, found = 0;
	DIR *d;
	FILE *f;

	snprintf(prefix, sizeof(prefix), "vm%d-", (int)getpid());
	d = opendir(SVM_DEBUGFS_DIR);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (!strncmp(de->d_name, prefix, strlen(prefix))) {
			snprintf(path, sizeof(path), "%s/%s/address_spaces",
				 SVM_DEBUGFS_DIR, de->d_name);
			found = 1;
			break;
		}
	}
	closedir(d);
	if (!found)
		return -ENOENT;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (!fgets(buf, sizeof(buf), f)) {	/* header */
		fclose(f);
		return -EPROTO;
	}
	while (n < max && fgets(buf, sizeof(buf), f)) {
		struct grt_as_line *l = &lines[n];
		unsigned long long v[7];

		if (sscanf(buf, "%llx %llu %llu %llu %llu %llu %llu", &v[0],
			   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]) != 7)
			continue;
		l->cr3 = v[0];
		l->loads = v[1];
		l->root_hits = v[2];
		l->root_misses = v[3];
		l->pf_true = v[4];
		l->pf_hidden = v[5];
		l->pt_writes = v[6];
		n++;
	}
	fclose(f);
	return n;
}

/* ---- test helpers ---- */

int grt_create(struct tvm *t, enum be_kind kind, size_t mem_size,
	       uint32_t policy, uint32_t root_cache_size,
	       uint32_t max_shadow_pages)
{
	struct be_vm_config cfg = {
		.mmu_policy = policy,
		.root_cache_size = root_cache_size,
		.max_shadow_pages = max_shadow_pages,
	};

	if (kind == BE_KVM)
		return tvm_create_ex(t, kind, mem_size, NULL, 0);
	if (grt_pf_bypass(policy))
		cfg.shadowvm_flags |= SHADOWVM_VM_GUEST_PF_BYPASS;
	return tvm_create_ex(t, kind, mem_size, &cfg, 0);
}

/*
 * SVMTEST_PF_BYPASS=1: a validation run of the model-checking tests
 * (mmu_perm, mmu_alias, ...) with the guest #PF bypass, for the policies
 * that allow it (Documentation/uapi.rst): grt_create() sets the flag.
 */
bool grt_pf_bypass(uint32_t policy)
{
	const char *bypass = getenv("SVMTEST_PF_BYPASS");
	const char *name = be_policy_name(policy);

	return bypass && !strcmp(bypass, "1") &&
	       (policy == BE_POLICY_DEFAULT || !strcmp(name, "wp") || !strcmp(name, "wp-noemu"));
}

int grt_probe_cpu(struct tvm *t, struct grt_cpu *c, char *err, size_t len)
{
	struct grt_script s;
	uint64_t *r = grt_res(t);
	uint32_t l1c, l1d, l7b, x1d;
	int ret;

	gs_init(&s);
	gs_op(&s, GOP_CPUID, 0, 1, 0, 0);
	gs_op(&s, GOP_CPUID, 0, 7, 0, 2);
	gs_op(&s, GOP_CPUID, 0, 0x80000001, 0, 4);
	gs_op(&s, GOP_CPUID, 0, 0x80000008, 0, 6);
	ret = grt_exec(t, &s, err, len);
	gs_free(&s);
	if (ret)
		return ret;
	l1c = (uint32_t)r[1];
	l1d = r[1] >> 32;
	l7b = r[2] >> 32;
	x1d = r[5] >> 32;
	memset(c, 0, sizeof(*c));
	c->pse = l1d & (1u << 3);
	c->pae = l1d & (1u << 6);
	c->pge = l1d & (1u << 13);
	c->pcid = l1c & (1u << 17);
	c->smep = l7b & (1u << 7);
	c->invpcid = l7b & (1u << 10);
	c->smap = l7b & (1u << 20);
	c->nx = x1d & (1u << 20);
	c->gbpages = x1d & (1u << 26);
	c->lm = x1d & (1u << 29);
	c->maxphy = (r[6] & 0xff) ? (int)(r[6] & 0xff) : 36;
	return 0;
}

const char *grt_policy_name(uint32_t policy)
{
	return be_policy_name(policy);
}
