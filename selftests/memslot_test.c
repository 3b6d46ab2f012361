// SPDX-License-Identifier: GPL-2.0
/*
 * memslot_test: SET_MEMORY_REGION argument checking.
 * One test per bad input, each asserting the documented errno (EINVAL,
 * E2BIG, EEXIST, ENOENT, EFAULT), plus positive cases: add, delete, re-add,
 * a read-only slot, that a guest really sees the slot's memory, and that
 * it keeps seeing the runner's memory across a fork of the runner, and
 * what it sees when the runner unmaps a live slot's memory or truncates
 * the memfd behind it.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"

#define PG	4096ULL
#define BUF_PAGES 64		/* 256 KiB of mapped memory to point at */

FIXTURE(memslot) {
	int dev, vm;
	uint8_t *buf;		/* BUF_PAGES mapped pages */
};

FIXTURE_SETUP(memslot)
{
	self->vm = -1;
	self->buf = mmap(NULL, BUF_PAGES * PG, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	OPEN_DEV_OR_SKIP(self->dev);
	self->vm = ioctl(self->dev, SHADOWVM_CREATE_VM, 0);
	ASSERT_LE(0, self->vm) TH_LOG("CREATE_VM: %s", strerror(errno));
}

FIXTURE_TEARDOWN(memslot)
{
	if (self->vm >= 0)
		close(self->vm);
}

static int set_region(int vm, __u32 slot, __u32 flags, __u64 gpa, __u64 size,
		      __u64 hva)
{
	struct shadowvm_memory_region r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = hva,
	};

	return ioctl(vm, SHADOWVM_SET_MEMORY_REGION, &r) ? errno : 0;
}

#define HVA(off)	((__u64)(uintptr_t)(self->buf + (off)))

TEST_F(memslot, valid_add_delete_readd)
{
	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, set_region(self->vm, 0, 0, 0, 16 * PG, HVA(0)));
	ASSERT_EQ(0, set_region(self->vm, 1, 0, 0x100000, 16 * PG,
				HVA(16 * PG)));
	/* delete and re-add at another address */
	ASSERT_EQ(0, set_region(self->vm, 1, 0, 0x100000, 0, HVA(16 * PG)));
	ASSERT_EQ(0, set_region(self->vm, 1, 0, 0x200000, 8 * PG,
				HVA(16 * PG)));
	/* the highest slot and a read-only one */
	ASSERT_EQ(0, set_region(self->vm, SHADOWVM_MAX_MEM_SLOTS - 1,
				SHADOWVM_MEM_READONLY, 0x300000, PG,
				HVA(32 * PG)));
	/* the last page below the GPA limit */
	ASSERT_EQ(0, set_region(self->vm, 2, 0,
				(1ULL << SHADOWVM_GPA_BITS) - PG, PG,
				HVA(40 * PG)));
}

TEST_F(memslot, slot_out_of_range_einval)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(EINVAL, set_region(self->vm, SHADOWVM_MAX_MEM_SLOTS, 0, 0,
				     PG, HVA(0)));
	EXPECT_EQ(EINVAL, set_region(self->vm, ~0u, 0, 0, PG, HVA(0)));
}

TEST_F(memslot, unknown_flags_einval)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(EINVAL, set_region(self->vm, 0, 1u << 1, 0, PG, HVA(0)));
	EXPECT_EQ(EINVAL, set_region(self->vm, 0, 1u << 31, 0, PG, HVA(0)));
}

TEST_F(memslot, unaligned_gpa_einval)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(EINVAL, set_region(self->vm, 0, 0, 0x800, PG, HVA(0)));
}

TEST_F(memslot, unaligned_size_einval)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(EINVAL, set_region(self->vm, 0, 0, 0, PG + 1, HVA(0)));
}

TEST_F(memslot, unaligned_hva_einval)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(EINVAL, set_region(self->vm, 0, 0, 0, PG, HVA(8)));
}

TEST_F(memslot, gpa_wraps_einval)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(EINVAL, set_region(self->vm, 0, 0, ~0ULL - PG + 1, 2 * PG,
				     HVA(0)));
}

TEST_F(memslot, gpa_beyond_limit_einval)
{
	RETURN_IF_SETUP_SKIPPED();
	/* ends one page past 1 << SHADOWVM_GPA_BITS */
	EXPECT_EQ(EINVAL, set_region(self->vm, 0, 0,
				     (1ULL << SHADOWVM_GPA_BITS) - PG, 2 * PG,
				     HVA(0)));
	/* starts at the limit */
	EXPECT_EQ(EINVAL, set_region(self->vm, 0, 0,
				     1ULL << SHADOWVM_GPA_BITS, PG, HVA(0)));
}

TEST_F(memslot, size_too_big_e2big)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(E2BIG, set_region(self->vm, 0, 0, 0,
				    SHADOWVM_MAX_SLOT_SIZE + PG, HVA(0)));
}

TEST_F(memslot, overlap_eexist)
{
	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, set_region(self->vm, 0, 0, 0x10000, 16 * PG, HVA(0)));
	/* tail overlap, head overlap, containment */
	EXPECT_EQ(EEXIST, set_region(self->vm, 1, 0, 0x18000, 16 * PG,
				     HVA(16 * PG)));
	EXPECT_EQ(EEXIST, set_region(self->vm, 1, 0, 0x8000, 9 * PG,
				     HVA(16 * PG)));
	EXPECT_EQ(EEXIST, set_region(self->vm, 1, 0, 0x12000, PG,
				     HVA(16 * PG)));
	/* adjacent is fine */
	EXPECT_EQ(0, set_region(self->vm, 1, 0, 0x20000, PG, HVA(16 * PG)));
}

TEST_F(memslot, slot_in_use_eexist)
{
	RETURN_IF_SETUP_SKIPPED();
	ASSERT_EQ(0, set_region(self->vm, 3, 0, 0x10000, 4 * PG, HVA(0)));
	/* same slot, non-overlapping new range: must delete first */
	EXPECT_EQ(EEXIST, set_region(self->vm, 3, 0, 0x100000, 4 * PG,
				     HVA(16 * PG)));
	/* same slot, same range */
	EXPECT_EQ(EEXIST, set_region(self->vm, 3, 0, 0x10000, 4 * PG,
				     HVA(0)));
}

TEST_F(memslot, delete_empty_slot_enoent)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(ENOENT, set_region(self->vm, 5, 0, 0, 0, HVA(0)));
	ASSERT_EQ(0, set_region(self->vm, 5, 0, 0, PG, HVA(0)));
	ASSERT_EQ(0, set_region(self->vm, 5, 0, 0, 0, HVA(0)));
	EXPECT_EQ(ENOENT, set_region(self->vm, 5, 0, 0, 0, HVA(0)));
}

TEST_F(memslot, hva_not_mapped_efault)
{
	RETURN_IF_SETUP_SKIPPED();
	/* a hole in the middle of the range */
	ASSERT_EQ(0, munmap(self->buf + 8 * PG, PG));
	EXPECT_EQ(EFAULT, set_region(self->vm, 0, 0, 0, 16 * PG, HVA(0)));
	/* a range that is not mapped at all */
	EXPECT_EQ(EFAULT, set_region(self->vm, 0, 0, 0, PG, HVA(8 * PG)));
}

TEST_F(memslot, hva_kernel_address_efault)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(EFAULT, set_region(self->vm, 0, 0, 0, PG,
				     0xffff888000000000ULL));
	/* straddles the end of the user address space */
	EXPECT_EQ(EFAULT, set_region(self->vm, 0, 0, 0, 16 * PG,
				     0x00007ffffffff000ULL));
}

TEST_F(memslot, bad_struct_pointer_efault)
{
	RETURN_IF_SETUP_SKIPPED();
	EXPECT_EQ(-1, ioctl(self->vm, SHADOWVM_SET_MEMORY_REGION, (void *)8));
	EXPECT_EQ(EFAULT, errno);
}

/* the slot's memory is what the guest sees, read and write */
GUEST_CODE(memslot_guest,
	"mov 0x200000, %eax\n"		/* read slot 1 */
	"mov %eax, 0x200004\n"		/* write slot 1 */
	"movl $0x600dc0de, 0x9000\n"	/* write slot 0 */
	"hlt\n");

TEST(guest_sees_slot_memory)
{
	struct be_exit e;
	struct tvm t;
	uint8_t *extra;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	extra = mmap(NULL, PG, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, extra);
	*(uint32_t *)extra = 0x12345678;
	ASSERT_EQ(0, be_set_memory(&t.vm, 1, 0x200000, PG, extra, false));
	TVM_LOAD(&t, memslot_guest);
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	EXPECT_EQ(0x12345678, *(uint32_t *)(extra + 4));
	EXPECT_EQ(0x600dc0de, *(uint32_t *)tvm_ptr(&t, 0x9000));
	tvm_destroy(&t);
}

/*
 * The runner forks while the guest's memory is pinned (Documentation/
 * uapi.rst, "Process model"): guest RAM stays the parent's memory. Slot
 * 1 (at 0x200000): P written by the guest before the fork (pinned), S
 * and T written by the runner before it (present, not pinned: so shared
 * with the child), Q untouched. After the fork,
 * with the child alive (so every page the child shares is copy-on-write):
 * the runner writes S, the guest writes P and Q and reads S, T (its first
 * access to T is a read), the runner writes T, the guest reads T again.
 * The guest must see the runner's writes and the runner the guest's; a
 * module that pinned a page shared with the child (a read pin that does
 * not unshare, a pin without FOLL_WRITE on a writable slot) would leave
 * guest and runner on two copies. The child sees the memory as it was at
 * the fork, never the guest's later writes, and its RUN fails with EIO.
 */
GUEST_CODE(fork_guest,
	"movl $0x11111111, 0x200000\n"	/* P, before the fork */
	"outb %al, $0x10\n"		/* the runner forks */
	"movl $0x22222222, 0x200000\n"	/* P, after it */
	"movl $0x33333333, 0x208000\n"	/* Q, untouched before */
	"mov 0x210000, %eax\n"		/* S, written by the runner after the fork */
	"mov %eax, 0x200004\n"
	"mov 0x218000, %eax\n"		/* T, a read first */
	"mov %eax, 0x20000c\n"
	"outb %al, $0x11\n"		/* the runner writes T */
	"mov 0x218000, %eax\n"
	"mov %eax, 0x200008\n"
	"hlt\n");

/* 8 pages apart: no prefetch window holds two of them (no pin before use) */
#define FP	0x0000
#define FQ	0x8000
#define FS	0x10000
#define FT	0x18000
#define FSIZE	0x20000

static uint32_t word(const uint8_t *m, size_t off)
{
	return *(volatile const uint32_t *)(m + off);
}

/* the child: the memory as it was at the fork; RUN refused; 0 if so */
static int fork_child(int go, int vcpu_fd, uint8_t *m)
{
	char c;
	int bad = 0;

	if (read(go, &c, 1) != 1)
		return 10;
	if (vcpu_fd >= 0 && (ioctl(vcpu_fd, SHADOWVM_RUN, 0) != -1 || errno != EIO))
		bad |= 1;
	if (word(m, FP) != 0x11111111 || word(m, FS) != 0x5555 || word(m, FT) != 0x7777 ||
	    word(m, FQ) != 0)
		bad |= 2;
	/* its own copies: nothing reaches the parent */
	memset(m, 0xdd, FSIZE);
	return bad;
}

TEST(runner_fork_keeps_guest_memory)
{
	struct be_exit e;
	struct tvm t;
	uint8_t *m;
	int go[2], st;
	pid_t pid;

	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	m = mmap(NULL, FSIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, m);
	*(uint32_t *)(m + FS) = 0x5555;
	*(uint32_t *)(m + FT) = 0x7777;
	ASSERT_EQ(0, be_set_memory(&t.vm, 1, 0x200000, FSIZE, m, false));
	TVM_LOAD(&t, fork_guest);
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_IO);
	ASSERT_EQ(0x10, e.io.port);
	ASSERT_EQ(0x11111111, word(m, FP));

	ASSERT_EQ(0, pipe(go));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		close(go[1]);
		_exit(fork_child(go[0], tvm_default_kind() == BE_SHADOWVM ? t.vcpu.fd : -1, m));
	}
	close(go[0]);
	*(uint32_t *)(m + FS) = 0x44444444;	/* a copy for the parent */
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_IO);
	ASSERT_EQ(0x11, e.io.port);
	EXPECT_EQ(0x7777, word(m, 0xc)) TH_LOG("the guest's first read of T");
	*(uint32_t *)(m + FT) = 0x66666666;
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	EXPECT_EQ(0x22222222, word(m, FP))
		TH_LOG("the guest's write after the fork did not reach the runner");
	EXPECT_EQ(0x33333333, word(m, FQ));
	EXPECT_EQ(0x44444444, word(m, 4))
		TH_LOG("the guest read 0x%x where the runner wrote 0x44444444 after the fork",
		       word(m, 4));
	EXPECT_EQ(0x66666666, word(m, 8))
		TH_LOG("after reading T first, the guest read 0x%x where the runner wrote 0x66666666",
		       word(m, 8));

	ASSERT_EQ(1, write(go[1], "g", 1));
	close(go[1]);
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("the child: status 0x%x (1: its RUN was not refused with EIO, 2: it saw the guest's later writes)",
		       st);
	/* the child's scribbles stayed in its copies */
	EXPECT_EQ(0x22222222, word(m, FP));
	EXPECT_EQ(0x44444444, word(m, FS));
	tvm_destroy(&t);
	munmap(m, FSIZE);
}

/*
 * The runner unmaps a live slot's memory (Documentation/uapi.rst: the
 * guest keeps the pages already pinned; a page that is not pinned and not
 * mapped ends RUN with INTERNAL_ERROR_NO_MEMORY, data[0] its
 * guest-physical address, data[1] -EFAULT, data[2] RIP; RUN again
 * retries the instruction). A pinned, B not (never present in the
 * runner, so no prefetch pinned it either); both unmapped; B mapped again
 * with a new word, and the guest goes on.
 */
GUEST_CODE(unmap_guest,
	"mov 0x200000, %eax\n"		/* A: pinned */
	"outb %al, $0x10\n"		/* the runner unmaps A and B */
	"mov 0x200000, %ebx\n"
	"mov %ebx, 0x9000\n"
	"mov 0x201000, %ecx\n"		/* B: not pinned, not mapped */
	"mov %ecx, 0x9004\n"
	"hlt\n");

TEST(runner_unmaps_slot_memory)
{
	struct be_exit e;
	struct tvm t;
	uint8_t *m, *b;
	uint64_t rip;

	if (tvm_default_kind() != BE_SHADOWVM)
		SKIP(return, "a shadowvm-only rule (KVM follows the runner's mapping)");
	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, m);
	*(uint32_t *)m = 0xaaaa;	/* B stays untouched: no prefetch pins it */
	ASSERT_EQ(0, be_set_memory(&t.vm, 1, 0x200000, 2 * PG, m, false));
	TVM_LOAD(&t, unmap_guest);
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_IO);
	ASSERT_EQ(0x10, e.io.port);
	ASSERT_EQ(0, munmap(m, 2 * PG));

	TVM_RUN_EXPECT(&t, &e, BE_EXIT_INTERNAL);
	rip = tvm_rip(&t);
	EXPECT_EQ(SHADOWVM_INTERNAL_ERROR_NO_MEMORY, e.internal.suberror);
	ASSERT_LE(3, e.internal.ndata);
	EXPECT_EQ(0x201000, e.internal.data[0]);
	EXPECT_EQ((uint64_t)(int64_t)-EFAULT, e.internal.data[1])
		TH_LOG("data[1] 0x%llx, want -EFAULT", (unsigned long long)e.internal.data[1]);
	EXPECT_EQ(rip, e.internal.data[2]);
	/* the instruction that reads B */
	EXPECT_EQ(0x8b, *(uint8_t *)tvm_ptr(&t, rip))
		TH_LOG("RIP 0x%llx is not the read of B", (unsigned long long)rip);
	EXPECT_EQ(0xaaaa, *(uint32_t *)tvm_ptr(&t, 0x9000))
		TH_LOG("the guest lost its pinned page A after the runner unmapped it");

	b = mmap(m + PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 -1, 0);
	ASSERT_EQ(m + PG, b);
	*(uint32_t *)b = 0xcccc;
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	EXPECT_EQ(0xcccc, *(uint32_t *)tvm_ptr(&t, 0x9004));
	tvm_destroy(&t);
	munmap(b, PG);
}

/*
 * Shared memory (a memfd) truncated behind a live slot: the pinned page
 * leaves the file but stays the guest's (the guest keeps the old pages);
 * the runner's mapping gets a new zero page; a page never pinned is the
 * file's new page. After the VM the module's counters are back (the
 * truncated page's pin dropped with the slot).
 */
GUEST_CODE(memfd_guest,
	"mov 0x200000, %eax\n"		/* A: pinned */
	"outb %al, $0x10\n"		/* the runner truncates the file */
	"mov 0x200000, %ebx\n"
	"mov %ebx, 0x9000\n"
	"movl $0x1234, 0x200000\n"
	"mov 0x201000, %ecx\n"		/* B: never pinned */
	"mov %ecx, 0x9004\n"
	"movl $0x5678, 0x201000\n"
	"hlt\n");

TEST(runner_truncates_memfd_slot)
{
	struct svm_counters base, now;
	struct be_exit e;
	struct tvm t;
	uint8_t *m;
	char diff[256];
	int fd;

	if (tvm_default_kind() != BE_SHADOWVM)
		SKIP(return, "a shadowvm-only rule (KVM follows the file)");
	ASSERT_EQ(0, svm_read_counters(&base));
	TVM_CREATE_OR_SKIP(&t, TVM_MEM_DEFAULT);
	fd = memfd_create("svm-slot", 0);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, 2 * PG));
	m = mmap(NULL, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, m);
	*(uint32_t *)m = 0xaaaa;	/* B stays a hole: no prefetch pins it */
	ASSERT_EQ(0, be_set_memory(&t.vm, 1, 0x200000, 2 * PG, m, false));
	TVM_LOAD(&t, memfd_guest);
	TVM_RUN_EXPECT(&t, &e, BE_EXIT_IO);
	ASSERT_EQ(0x10, e.io.port);
	ASSERT_EQ(0, ftruncate(fd, 0));
	ASSERT_EQ(0, ftruncate(fd, 2 * PG));
	EXPECT_EQ(0, *(uint32_t *)m) TH_LOG("the runner's page after the truncation");

	TVM_RUN_EXPECT(&t, &e, BE_EXIT_HLT);
	EXPECT_EQ(0xaaaa, *(uint32_t *)tvm_ptr(&t, 0x9000))
		TH_LOG("the guest lost its pinned page when the file was truncated");
	EXPECT_EQ(0, *(uint32_t *)m) TH_LOG("the guest's write reached the file's new page");
	EXPECT_EQ(0, *(uint32_t *)tvm_ptr(&t, 0x9004));
	EXPECT_EQ(0x5678, *(uint32_t *)(m + PG)) TH_LOG("B is the file's page");
	tvm_destroy(&t);
	munmap(m, 2 * PG);
	close(fd);
	EXPECT_EQ(0, svm_wait_counters(&base, &now, 10000))
		TH_LOG("after the VM: %s",
		       svm_counters_diff(&base, &now, diff, sizeof(diff)) ? diff : "-");
}

TEST_HARNESS_MAIN
