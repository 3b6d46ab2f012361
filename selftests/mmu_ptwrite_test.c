// SPDX-License-Identifier: GPL-2.0
/*
 * mmu_ptwrite_test: every instruction form a guest uses to write a live
 * page-table entry keeps the shadow coherent, in long mode, PAE and 32-bit
 * paging, under each MMU policy.
 *
 * For each form the guest resets the target's PTE (plain write, INVLPG)
 * and reads the page, so the entry is shadowed and cached; then changes the
 * PTE with the form under test: MOV (32 and 64 bits, or CMPXCHG8B), XCHG,
 * CMPXCHG that succeeds and one that fails, LOCK OR/AND/BTS/BTR (32 and 64
 * bits), a 16-bit and an 8-bit write, a misaligned 32-bit write that
 * straddles the entry (in 32-bit paging, two entries), MOVNTI and an SSE
 * 8-byte store (forms an emulator may not know: the write must still land
 * and the shadow follow, e.g. by unprotecting the frame); INVLPG; then reads
 * and writes the page. The test computes the new entry on its own, and
 * checks the entry in guest memory, which frame the read sees, whether the
 * write faulted (with error code P|W for read-only, 0|W for not present)
 * and where it landed. Under the write-protect policy the writes must also
 * have been emulated as page-table writes (PF_HIDDEN_PT_WRITE grew). The
 * *_big_direct_map tests do the same with the guest's identity map made of
 * 2 MiB (32-bit: 4 MiB) pages, so the page tables are written through big
 * pages, as through a kernel's direct map. The *_general_emulator test
 * runs the long-mode forms with the module's MOV fast path
 * (fast_pt_store) off.
 */
#include <errno.h>
#include <string.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "policies.h"
#include "guest_paging.h"

#define MEM_SIZE	(8u << 20)
#define T		0x40000000ULL	/* the target page */
#define FA		0x300000ULL
#define FB		0x301000ULL	/* FA with bit 12 set */
#define FC		0x7f0000ULL	/* differs from FA in bits 16..22 */
#define NEXT_FRAME	0x302000ULL	/* what T + 4K maps (32-bit: neighbour) */
#define STRIDE		20		/* result words per form */

struct form {
	const char *name;
	uint32_t kind;		/* GRT_RMW_*, or ~0u: GOP_WENT */
	uint64_t reset;		/* entry before */
	uint64_t b, c;		/* operands */
	uint64_t off;		/* written at pte + off */
	uint64_t want;		/* entry after */
};

FIXTURE(ptw) {
	struct tvm t;
	struct gp g;
	struct grt_script s;
	bool live;
	char err[512];
	char fast_old[8];	/* fast_pt_store's value to put back, or "" */
};

POLICY_VARIANTS(ptw);

/*
 * Put fast_pt_store's saved value back (the value it had then goes to a
 * scratch buffer: svm_param_swap() reads into its old buffer before it
 * writes val, so the two must differ). 0 or -errno.
 */
static int put_fast_pt_store_back(FIXTURE_DATA(ptw) *self)
{
	char cur[8];

	if (!self->fast_old[0])
		return 0;
	return svm_param_swap("fast_pt_store", self->fast_old, cur, sizeof(cur));
}

GRT_POLICY_FIXTURE_HOOKS_AND(ptw, MEM_SIZE, put_fast_pt_store_back(self));

static uint32_t frame_sig(uint64_t f)
{
	return 0xf0000000u | (uint32_t)(f >> 12);
}

/* fills forms[] for the mode; returns how many */
static int make_forms(enum gp_mode mode, uint64_t next_pte, struct form *f)
{
	const uint64_t rw = GP_P | GP_W | GP_A | GP_D, ro = GP_P | GP_A | GP_D;
	uint64_t a_rw = FA | rw, a_ro = FA | ro;
	int n = 0;

#define FORM(nm, k, r, bb, cc, o, w) \
	f[n++] = (struct form){ nm, k, r, bb, cc, o, w }

	FORM("mov (entry size)", ~0u, a_rw, FB | rw, 0, 0, FB | rw);
	FORM("mov 32-bit low half", GRT_RMW_MISALIGNED32, a_rw,
	     (uint32_t)(FB | ro), 0, 0, FB | ro);
	FORM("xchg 32", GRT_RMW_XCHG32, a_rw, (uint32_t)(FB | rw), 0, 0,
	     FB | rw);
	FORM("cmpxchg 32, equal", GRT_RMW_CMPXCHG32, a_rw, (uint32_t)(FB | rw),
	     (uint32_t)a_rw, 0, FB | rw);
	FORM("cmpxchg 32, not equal", GRT_RMW_CMPXCHG32, a_rw,
	     (uint32_t)(FB | rw), (uint32_t)a_ro, 0, a_rw);
	FORM("lock or 32 (make writable)", GRT_RMW_OR32, a_ro, GP_W, 0, 0, a_rw);
	FORM("lock and 32 (write-protect)", GRT_RMW_AND32, a_rw,
	     (uint32_t)~GP_W, 0, 0, a_ro);
	FORM("lock and 32 (unmap)", GRT_RMW_AND32, a_rw, (uint32_t)~GP_P, 0, 0,
	     a_rw & ~GP_P);
	FORM("lock bts 32 (make writable)", GRT_RMW_BTS32, a_ro, 1, 0, 0, a_rw);
	FORM("lock btr 32 (unmap)", GRT_RMW_BTR32, a_rw, 0, 0, 0, a_rw & ~GP_P);
	FORM("16-bit write (frame bit 12)", GRT_RMW_W16, a_rw,
	     (uint16_t)(FB | rw), 0, 0, FB | rw);
	FORM("8-bit write (unmap)", GRT_RMW_W8, a_rw, (uint8_t)(a_rw & ~GP_P), 0,
	     0, a_rw & ~GP_P);
	if (mode == GP_MODE_32)
		/* bytes 2..5: bits 16..31 of the entry, 0..15 of the next */
		FORM("misaligned 32 over two entries", GRT_RMW_MISALIGNED32, a_rw,
		     (uint32_t)((FC >> 16) & 0xffff) |
		     (uint32_t)((next_pte & 0xffff) << 16), 0, 2, FC | rw);
	else
		FORM("misaligned 32 (bits 16..47)", GRT_RMW_MISALIGNED32, a_rw,
		     (uint32_t)(FC >> 16), 0, 2, FC | rw);
	FORM("movnti (register size)", GRT_RMW_MOVNTI, a_rw, FB | rw, 0, 0,
	     FB | rw);
	/* 8 bytes: in 32-bit paging the next entry too, unchanged */
	FORM("SSE movq (8 bytes)", GRT_RMW_SSE64, a_rw,
	     mode == GP_MODE_32 ? (FB | ro) | (next_pte << 32) : FB | ro, 0, 0,
	     FB | ro);
	if (mode == GP_MODE_LM) {
		FORM("xchg 64", GRT_RMW_XCHG64, a_rw, FB | ro, 0, 0, FB | ro);
		FORM("cmpxchg 64, equal", GRT_RMW_CMPXCHG64, a_rw, FB | rw, a_rw,
		     0, FB | rw);
		FORM("cmpxchg 64, not equal", GRT_RMW_CMPXCHG64, a_rw, FB | rw,
		     a_ro, 0, a_rw);
		FORM("lock or 64 (NX)", GRT_RMW_OR64, a_rw, GP_NX, 0, 0,
		     a_rw | GP_NX);
		FORM("lock and 64 (write-protect)", GRT_RMW_AND64, a_rw, ~GP_W, 0,
		     0, a_ro);
		FORM("lock bts 64 (NX)", GRT_RMW_BTS64, a_rw, 63, 0, 0,
		     a_rw | GP_NX);
		FORM("lock btr 64 (unmap)", GRT_RMW_BTR64, a_rw, 0, 0, 0,
		     a_rw & ~GP_P);
	}
	if (mode == GP_MODE_PAE)
		FORM("cmpxchg8b, equal", GRT_RMW_CMPXCHG64, a_rw, FB | rw, a_rw, 0,
		     FB | rw);
#undef FORM
	return n;
}

static void ptwrite(struct __test_metadata *_metadata,
		    struct _test_data_ptw *self, uint32_t policy,
		    enum gp_mode mode, bool big)
{
	struct grt_env env = { .mode = mode, .cr0_extra = GP_CR0_WP,
			       .efer_extra = mode == GP_MODE_LM ? GP_EFER_NXE : 0,
			       .cr4_extra = GP_CR4_OSFXSR |
					    (big && mode == GP_MODE_32 ? GP_CR4_PSE : 0),
			       .ident_big = big };
	uint64_t emask = gp_esize(mode) == 4 ? 0xffffffffULL : ~0ULL;
	uint64_t st0[SHADOWVM_STAT_NR], st1[SHADOWVM_STAT_NR];
	struct grt_script *s = &self->s;
	uint64_t pte, next, *res;
	struct form f[32];
	int n, i;

	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, gp_init(&self->g, self->t.mem, MEM_SIZE, mode, GRT_POOL,
			     GRT_POOL_SIZE));
	ASSERT_EQ(0, gp_map(&self->g, T, FA, GP_4K, GP_4K, GP_W | GP_A | GP_D));
	ASSERT_EQ(0, gp_map(&self->g, T + 0x1000, NEXT_FRAME, GP_4K, GP_4K,
			    GP_W | GP_A | GP_D));
	ASSERT_EQ(0, grt_setup(&self->t, &self->g, &env));
	pte = gp_entry_gpa(&self->g, T, 1, false);
	next = gp_get(&self->g, pte + gp_esize(mode));
	*(uint32_t *)tvm_ptr(&self->t, FA) = frame_sig(FA);
	*(uint32_t *)tvm_ptr(&self->t, FB) = frame_sig(FB);
	*(uint32_t *)tvm_ptr(&self->t, FC) = frame_sig(FC);
	*(uint32_t *)tvm_ptr(&self->t, NEXT_FRAME) = frame_sig(NEXT_FRAME);
	n = make_forms(mode, next, f);

	for (i = 0; i < n; i++) {
		uint64_t slot = i * STRIDE;
		uint64_t frame = f[i].want & 0xfffff000ULL;

		gs_op(s, GOP_WENT, 0, pte, f[i].reset, 0);
		gs_op(s, GOP_INVLPG, 0, T, 0, 0);
		gs_access(s, T, GRT_ACC_READ, 0, slot);
		gs_access(s, T + 0x1000, GRT_ACC_READ, 0, slot + 4);
		if (f[i].kind == ~0u)
			gs_op(s, GOP_WENT, 0, pte, f[i].b, 0);
		else
			gs_op(s, GOP_RMW, f[i].kind, pte + f[i].off, f[i].b, f[i].c);
		gs_op(s, GOP_INVLPG, 0, T, 0, 0);
		gs_op(s, GOP_INVLPG, 0, T + 0x1000, 0, 0);
		gs_op(s, GOP_R64, 0, pte, 0, slot + 8);
		gs_access(s, T, GRT_ACC_READ, 0, slot + 9);
		gs_access(s, T, GRT_ACC_WRITE, 0x1000 + i, slot + 13);
		/* where the write went; then the frame's signature back */
		gs_op(s, GOP_R32, 0, frame, 0, slot + 17);
		gs_op(s, GOP_W32, 0, frame, frame_sig(frame), 0);
	}
	/* the neighbour (32-bit: its low half was rewritten) still works */
	gs_op(s, GOP_INVLPG, 0, T + 0x1000, 0, 0);
	gs_access(s, T + 0x1000, GRT_ACC_READ, 0, n * STRIDE);
	if (tvm_default_kind() == BE_SHADOWVM)
		ASSERT_EQ(0, grt_vm_stats(&self->t, st0, SHADOWVM_STAT_NR));
	ASSERT_EQ(0, grt_exec(&self->t, s, self->err, sizeof(self->err)))
		TH_LOG("guest: %s", self->err);

	res = grt_res(&self->t);
	for (i = 0; i < n; i++) {
		const uint64_t *r = res + i * STRIDE;
		uint64_t want = f[i].want, got = r[8] & emask;
		bool present = want & GP_P, writable = want & GP_W;
		uint64_t frame = want & 0xfffff000ULL;
		uint32_t wcount = (uint32_t)r[13], wec = r[13] >> 32;

		EXPECT_EQ(0, (uint32_t)r[0]) TH_LOG("%s: reset read", f[i].name);
		EXPECT_EQ(frame_sig(FA), (uint32_t)r[2])
			TH_LOG("%s: reset read", f[i].name);
		EXPECT_EQ(want & emask & ~(GP_A | GP_D), got & ~(GP_A | GP_D))
			TH_LOG("%s: the entry is 0x%llx, want 0x%llx", f[i].name,
			       (unsigned long long)got, (unsigned long long)want);
		if (!present) {
			EXPECT_EQ(1, (uint32_t)r[9])
				TH_LOG("%s: read of the unmapped page did not fault",
				       f[i].name);
			EXPECT_EQ(1, wcount) TH_LOG("%s: write", f[i].name);
			EXPECT_EQ(PFEC_W, wec) TH_LOG("%s: write", f[i].name);
			continue;
		}
		EXPECT_EQ(0, (uint32_t)r[9]) TH_LOG("%s: read faulted", f[i].name);
		EXPECT_EQ(frame_sig(frame), (uint32_t)r[11])
			TH_LOG("%s: read 0x%x, the new frame holds 0x%x", f[i].name,
			       (uint32_t)r[11], frame_sig(frame));
		if (writable) {
			EXPECT_EQ(0, wcount)
				TH_LOG("%s: write to a writable page faulted (ec 0x%x)",
				       f[i].name, wec);
		} else {
			EXPECT_EQ(1, wcount)
				TH_LOG("%s: write to a read-only page did not fault",
				       f[i].name);
			EXPECT_EQ(PFEC_P | PFEC_W, wec) TH_LOG("%s", f[i].name);
		}
		if (writable && !wcount)
			EXPECT_EQ(0x1000u + i, (uint32_t)r[17])
				TH_LOG("%s: the write did not land in 0x%llx",
				       f[i].name, (unsigned long long)frame);
	}
	EXPECT_EQ(0, (uint32_t)res[n * STRIDE]);
	EXPECT_EQ(frame_sig(NEXT_FRAME), (uint32_t)res[n * STRIDE + 2]);
	if (tvm_default_kind() == BE_SHADOWVM) {
		ASSERT_EQ(0, grt_vm_stats(&self->t, st1, SHADOWVM_STAT_NR));
		if (policy == SHADOWVM_MMU_POLICY_WRITE_PROTECT)
			EXPECT_LE(n, st1[SHADOWVM_STAT_PF_HIDDEN_PT_WRITE] -
				     st0[SHADOWVM_STAT_PF_HIDDEN_PT_WRITE]);
		/* with the guest #PF bypass, some of them skip the module */
		if (grt_pf_bypass(policy)) {
			EXPECT_GE(*grt_cb32(&self->t, CB_PF_TOTAL),
				  st1[SHADOWVM_STAT_PF_TRUE] - st0[SHADOWVM_STAT_PF_TRUE])
				TH_LOG("more true faults than the guest's #PFs");
		} else {
			EXPECT_EQ(*grt_cb32(&self->t, CB_PF_TOTAL),
				  st1[SHADOWVM_STAT_PF_TRUE] - st0[SHADOWVM_STAT_PF_TRUE])
				TH_LOG("true faults and the guest's #PFs disagree");
		}
		TH_LOG("%s, %s policy: %d forms: %llu page-table writes, %llu emulated, %llu unprotected, %llu flooded",
		       gp_mode_name(mode), grt_policy_name(policy), n,
		       (unsigned long long)(st1[SHADOWVM_STAT_PF_HIDDEN_PT_WRITE] -
					    st0[SHADOWVM_STAT_PF_HIDDEN_PT_WRITE]),
		       (unsigned long long)(st1[SHADOWVM_STAT_EMULATED_INSNS] -
					    st0[SHADOWVM_STAT_EMULATED_INSNS]),
		       (unsigned long long)(st1[SHADOWVM_STAT_PT_UNPROTECT] -
					    st0[SHADOWVM_STAT_PT_UNPROTECT]),
		       (unsigned long long)(st1[SHADOWVM_STAT_PT_WRITE_FLOODED] -
					    st0[SHADOWVM_STAT_PT_WRITE_FLOODED]));
	}
}

TEST_F(ptw, instruction_forms_long_mode)
{
	ptwrite(_metadata, self, variant->policy, GP_MODE_LM, false);
}

TEST_F(ptw, instruction_forms_pae)
{
	ptwrite(_metadata, self, variant->policy, GP_MODE_PAE, false);
}

TEST_F(ptw, instruction_forms_32bit)
{
	ptwrite(_metadata, self, variant->policy, GP_MODE_32, false);
}

/*
 * Long mode with the module's fast path for MOV page-table stores off
 * (fast_pt_store=N): the general emulator gives the same results.
 */
TEST_F(ptw, instruction_forms_long_mode_general_emulator)
{
	char now[8];

	/* teardown puts it back if an ASSERT below fails */
	ASSERT_EQ(0, svm_param_swap("fast_pt_store", "N\n", self->fast_old,
				    sizeof(self->fast_old)));
	ptwrite(_metadata, self, variant->policy, GP_MODE_LM, false);
	ASSERT_EQ(0, put_fast_pt_store_back(self));
	ASSERT_EQ(0, svm_param_swap("fast_pt_store", NULL, now, sizeof(now)));
	ASSERT_STREQ(self->fast_old, now) TH_LOG("fast_pt_store not put back");
	self->fast_old[0] = 0;
}

/* the same with the page tables written through a big-page direct map */
TEST_F(ptw, instruction_forms_long_mode_big_direct_map)
{
	ptwrite(_metadata, self, variant->policy, GP_MODE_LM, true);
}

TEST_F(ptw, instruction_forms_pae_big_direct_map)
{
	ptwrite(_metadata, self, variant->policy, GP_MODE_PAE, true);
}

TEST_F(ptw, instruction_forms_32bit_big_direct_map)
{
	ptwrite(_metadata, self, variant->policy, GP_MODE_32, true);
}

TEST_HARNESS_MAIN
