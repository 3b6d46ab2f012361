// SPDX-License-Identifier: GPL-2.0
/*
 * string_io_test: INS/OUTS checks of the SDM, DR6 virtualization.
 *
 * - REP INSB with EFLAGS.DF=1 in 32-bit code whose EDI goes below 0 wraps
 *   to 0xffffffff (address size 32): every byte lands where the CPU puts
 *   it (32-bit paging maps linear 0xfffff000).
 * - REP OUTSB through an FS segment with a 4 KiB limit: the items inside
 *   the limit go out, then #GP(0) at the first one outside it.
 * - INSB into a read-only ES segment is #GP(0), before any port access.
 * - OUTSB from a non-canonical address in 64-bit mode is #GP(0).
 * - A single-step #DB: the guest's handler reads DR6.BS from its own DR6
 *   (the module keeps the guest's DR6 in software and intercepts #DB, so
 *   the host's DR6 is never the guest's).
 */
#include <errno.h>
#include <string.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "guest_paging.h"

#define MEM_SIZE	(8u << 20)
#define CODE		GRT_SCRATCH
#define PORT		0x80

static int setup(struct tvm *t, struct gp *g, enum gp_mode mode, const uint8_t *code,
		 size_t len)
{
	struct grt_env env = { .mode = mode };
	enum be_kind kind = tvm_default_kind();
	struct be_regs regs;
	int r;

	r = grt_create(t, kind, MEM_SIZE, 0, 0, 0);
	if (r)
		return r;
	if (gp_init(g, t->mem, MEM_SIZE, mode, GRT_POOL, GRT_POOL_SIZE) ||
	    grt_setup(t, g, &env))
		return -EIO;
	memcpy(tvm_ptr(t, CODE), code, len);
	if (be_get_regs(&t->vcpu, &regs))
		return -EIO;
	regs.rip = CODE;
	regs.rflags = 2;
	return be_set_regs(&t->vcpu, &regs);
}

#define SETUP(t, g, mode, blob) do {					\
	int __r = setup((t), (g), (mode), blob, GUEST_SIZE(blob));	\
	if (tvm_no_device(__r))						\
		SKIP(return, "backend device missing");			\
	ASSERT_EQ(0, __r) TH_LOG("setting up: %s", strerror(-__r));	\
} while (0)

/* Runs, answering port IN/OUT on PORT, until another exit. */
static int run_pio(struct tvm *t, struct be_exit *e, uint8_t *out, unsigned int *nout,
		   uint8_t *next_in)
{
	int r;

	for (;;) {
		unsigned int i, n;

		r = tvm_run(t, e);
		if (r || e->reason != BE_EXIT_IO || e->io.port != PORT)
			return r;
		n = e->io.count * e->io.size;
		for (i = 0; i < n; i++) {
			if (e->io.direction == BE_IO_IN)
				e->io.data[i] = (*next_in)++;
			else if (*nout < 64)
				out[(*nout)++] = e->io.data[i];
		}
	}
}

GUEST_CODE(ins_df_wrap,
	"std\n"
	"mov $2, %edi\n"
	"mov $4, %ecx\n"
	"mov $0x80, %dx\n"
	"rep insb\n"
	"cld\n"
	"hlt\n");

TEST(rep_insb_df1_wraps_at_4g)
{
	uint8_t out[64], in = 0xa0;
	unsigned int nout = 0;
	struct be_regs regs;
	struct be_exit e;
	struct gp g;
	struct tvm t;

	SETUP(&t, &g, GP_MODE_32, ins_df_wrap);
	ASSERT_EQ(0, gp_map(&g, 0xfffff000ULL, GRT_FREE, GP_4K, GP_4K, GP_W | GP_A | GP_D));
	ASSERT_EQ(0, run_pio(&t, &e, out, &nout, &in));
	ASSERT_EQ(BE_EXIT_HLT, e.reason) TH_LOG("exit %s", be_exit_name(e.reason));
	EXPECT_EQ(0xa4, in) TH_LOG("%d bytes were read from the port", in - 0xa0);
	EXPECT_EQ(0xa0, *(uint8_t *)tvm_ptr(&t, 2));
	EXPECT_EQ(0xa1, *(uint8_t *)tvm_ptr(&t, 1));
	EXPECT_EQ(0xa2, *(uint8_t *)tvm_ptr(&t, 0));
	EXPECT_EQ(0xa3, *(uint8_t *)tvm_ptr(&t, GRT_FREE + 0xfff));
	ASSERT_EQ(0, be_get_regs(&t.vcpu, &regs));
	EXPECT_EQ(0xfffffffe, regs.rdi);
	EXPECT_EQ(0, regs.rcx);
	tvm_destroy(&t);
}

GUEST_CODE(outs_fs_limit,
	"mov $0xffc, %esi\n"
	"mov $8, %ecx\n"
	"mov $0x80, %dx\n"
	".byte 0x64, 0xf3, 0x6e\n"	/* CODE + 14: fs rep outsb */
	"hlt\n");

TEST(rep_outsb_stops_with_gp_at_segment_limit)
{
	uint8_t out[64], in = 0;
	unsigned int nout = 0, i;
	struct be_sregs sr;
	struct be_exit e;
	struct gp g;
	struct tvm t;
	uint32_t v = 0;

	SETUP(&t, &g, GP_MODE_NONE, outs_fs_limit);
	for (i = 0; i < 8; i++)
		*(uint8_t *)tvm_ptr(&t, 0xffc + i) = 0x30 + i;
	ASSERT_EQ(0, be_get_sregs(&t.vcpu, &sr));
	sr.fs.limit = 0xfff;
	sr.fs.g = 0;
	ASSERT_EQ(0, be_set_sregs(&t.vcpu, &sr));
	ASSERT_EQ(0, run_pio(&t, &e, out, &nout, &in));
	ASSERT_EQ(BE_EXIT_IO, e.reason) TH_LOG("exit %s", be_exit_name(e.reason));
	ASSERT_EQ(GRT_PORT_BAD, e.io.port);
	memcpy(&v, e.io.data, e.io.size);
	EXPECT_EQ(13, v) TH_LOG("vector %u, expected #GP", v);
	EXPECT_EQ(0, *grt_cb32(&t, CB_BAD_EC));
	EXPECT_EQ(CODE + 14, *grt_cb64(&t, CB_BAD_IP));
	ASSERT_EQ(4, nout) TH_LOG("%u bytes went out, 4 are inside the limit", nout);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(0x30 + i, out[i]);
	tvm_destroy(&t);
}

GUEST_CODE(ins_readonly_es,
	"mov $0xc800, %edi\n"
	"mov $0x80, %dx\n"
	"insb\n"			/* CODE + 9 */
	"hlt\n");

TEST(insb_into_readonly_segment_is_gp)
{
	uint8_t out[64], in = 0x55;
	unsigned int nout = 0;
	struct be_sregs sr;
	struct be_exit e;
	struct gp g;
	struct tvm t;
	uint32_t v = 0;

	SETUP(&t, &g, GP_MODE_NONE, ins_readonly_es);
	ASSERT_EQ(0, be_get_sregs(&t.vcpu, &sr));
	sr.es.type = 1;		/* read-only data, accessed */
	ASSERT_EQ(0, be_set_sregs(&t.vcpu, &sr));
	ASSERT_EQ(0, run_pio(&t, &e, out, &nout, &in));
	ASSERT_EQ(BE_EXIT_IO, e.reason) TH_LOG("exit %s", be_exit_name(e.reason));
	ASSERT_EQ(GRT_PORT_BAD, e.io.port) TH_LOG("%d bytes read", in - 0x55);
	memcpy(&v, e.io.data, e.io.size);
	EXPECT_EQ(13, v);
	EXPECT_EQ(CODE + 9, *grt_cb64(&t, CB_BAD_IP));
	EXPECT_EQ(0x55, in) TH_LOG("the port was read before the #GP");
	EXPECT_EQ(0, *(uint8_t *)tvm_ptr(&t, 0xc800));
	tvm_destroy(&t);
}

GUEST_CODE(outs_noncanonical,
	".code64\n"
	"mov $0x0000800000000000, %rsi\n"
	"mov $0x80, %dx\n"
	"outsb\n"			/* CODE + 14 */
	"hlt\n"
	".code32\n");

TEST(outsb_noncanonical_is_gp_in_64bit_mode)
{
	uint8_t out[64], in = 0;
	unsigned int nout = 0;
	struct be_exit e;
	struct gp g;
	struct tvm t;
	uint32_t v = 0;

	SETUP(&t, &g, GP_MODE_LM, outs_noncanonical);
	ASSERT_EQ(0, run_pio(&t, &e, out, &nout, &in));
	ASSERT_EQ(BE_EXIT_IO, e.reason) TH_LOG("exit %s", be_exit_name(e.reason));
	ASSERT_EQ(GRT_PORT_BAD, e.io.port);
	memcpy(&v, e.io.data, e.io.size);
	EXPECT_EQ(13, v) TH_LOG("vector %u, expected #GP", v);
	EXPECT_EQ(CODE + 14, *grt_cb64(&t, CB_BAD_IP));
	EXPECT_EQ(0, nout);
	tvm_destroy(&t);
}

GUEST_CODE(single_step,
	"xor %eax, %eax\n"
	"mov %eax, %dr6\n"
	"pushf\n"
	"orl $0x100, (%esp)\n"
	"popf\n"
	"nop\n"
	"nop\n"
	"hlt\n"
	".fill 0x100 - (. - single_step), 1, 0x90\n"
	/* CODE + 0x100: the #DB handler */
	"mov %dr6, %eax\n"
	"mov %eax, 0xc800\n"
	"hlt\n");

TEST(single_step_sets_the_guests_dr6_bs)
{
	uint32_t handler = CODE + 0x100, *gate;
	struct be_exit e;
	struct gp g;
	struct tvm t;

	SETUP(&t, &g, GP_MODE_NONE, single_step);
	gate = (uint32_t *)tvm_ptr(&t, GRT_IDT32 + 8 * 1);
	gate[0] = (handler & 0xffff) | (GRT_SEL_CODE32 << 16);
	gate[1] = (handler & 0xffff0000) | 0x8e00;
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	EXPECT_EQ(handler + 9, tvm_rip(&t)) TH_LOG("the #DB handler did not run");
	EXPECT_EQ(0xffff4ff0, *(uint32_t *)tvm_ptr(&t, 0xc800))
		TH_LOG("guest DR6 0x%x: BS (bit 14) expected",
		       *(uint32_t *)tvm_ptr(&t, 0xc800));
	tvm_destroy(&t);
}

TEST_HARNESS_MAIN
