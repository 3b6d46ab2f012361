// SPDX-License-Identifier: GPL-2.0
/*
 * limits_test: resource limits on guest memory and VM configuration
 * (item 9).
 *
 * file_backed_slot_refused: a slot whose host memory is a MAP_SHARED
 *   mapping of a regular file on a filesystem that is not shmem (a ramfs
 *   the test mounts: /tmp in the test VM is tmpfs, which is shmem) is
 *   refused by SET_MEMORY_REGION with EOPNOTSUPP: pinning such pages
 *   long-term breaks the filesystem's writeback.
 * file_mapping_behind_slot_refused_at_pin: the same file mapped over an
 *   anonymous slot after SET_MEMORY_REGION: the guest's first write there
 *   ends RUN with INTERNAL_ERROR_NO_MEMORY and -EOPNOTSUPP, and once
 *   anonymous memory is back RUN retries it.
 * shmem_and_anon_slots_work: a MAP_SHARED memfd (shmem) and MAP_PRIVATE
 *   anonymous memory are accepted, and the guest reads and writes them
 *   (the host sees the guest's writes through its mapping).
 * memlock_charged: without CAP_IPC_LOCK, pinned guest pages are charged to
 *   RLIMIT_MEMLOCK: with 64 KiB, a guest touching 64 pages gets RUN = 0 with
 *   SHADOWVM_EXIT_INTERNAL_ERROR / NO_MEMORY, data[1] = -ENOMEM; with the
 *   limit raised the same guest (a new VM) completes.
 * max_shadow_pages_limit: vm_config.max_shadow_pages 262144 is accepted,
 *   262145 is EINVAL.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include <linux/shadowvm.h>

#include "kselftest_harness.h"
#include "svmtest_ksft.h"
#include "guest_paging.h"

#define MEM_SIZE	(4u << 20)
#define SLOT1_GPA	0x1000000ULL	/* 16 MiB */
#define SLOT2_GPA	0x2000000ULL	/* 32 MiB */
#define SLOT_SIZE	0x10000ULL
#define TOUCH_GPA	0x300000ULL
#define TOUCH_PAGES	64

static int setup_flat(struct tvm *t, struct gp *g)
{
	struct grt_env env = { .mode = GP_MODE_NONE };

	return grt_setup(t, g, &env);
}

static int set_slot(struct tvm *t, uint32_t slot, uint64_t gpa, uint64_t size,
		    void *hva)
{
	struct shadowvm_memory_region r = {
		.slot = slot, .guest_phys_addr = gpa, .memory_size = size,
		.userspace_addr = (uintptr_t)hva,
	};

	return ioctl(t->vm.fd, SHADOWVM_SET_MEMORY_REGION, &r) ? -errno : 0;
}

/* The guest reads the first word of gpa into res[0], then writes val. */
static int guest_rw(struct tvm *t, uint64_t gpa, uint32_t val, uint32_t *read,
		    char *err, size_t len)
{
	struct grt_script s;
	int r;

	gs_init(&s);
	gs_op(&s, GOP_R32, 0, gpa, 0, 0);
	gs_op(&s, GOP_W32, 0, gpa + 4, val, 0);
	gs_op(&s, GOP_END, 0, 0, 0, 0);
	r = grt_exec(t, &s, err, len);
	gs_free(&s);
	*read = (uint32_t)grt_res(t)[0];
	return r;
}

/*
 * A file of SLOT_SIZE on a ramfs (a filesystem that is not shmem) mounted
 * on dir (a mkdtemp() template): its fd, or -errno of the mount (dir gone).
 */
static int ramfs_file(struct __test_metadata *_metadata, char *dir)
{
	char path[64];
	int fd;

	ASSERT_NE(NULL, mkdtemp(dir));
	if (mount("ramfs", dir, "ramfs", 0, NULL)) {
		int e = errno;

		rmdir(dir);
		return -e;
	}
	snprintf(path, sizeof(path), "%s/guest-ram", dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd) TH_LOG("creating %s: %s", path, strerror(errno));
	ASSERT_EQ(0, ftruncate(fd, SLOT_SIZE));
	return fd;
}

TEST(file_backed_slot_refused)
{
	char dir[] = "/tmp/svm-ramfs-XXXXXX";
	struct tvm t;
	struct gp g;
	void *p;
	int fd, r;

	if (tvm_default_kind() != BE_SHADOWVM)
		SKIP(return, "a shadowvm-only rule");
	TVM_CREATE_OR_SKIP(&t, MEM_SIZE);
	fd = ramfs_file(_metadata, dir);
	if (fd < 0) {
		tvm_destroy(&t);
		SKIP(return, "cannot mount a ramfs (a non-shmem filesystem) on %s: %s",
		     dir, strerror(-fd));
	}
	p = mmap(NULL, SLOT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	memset(p, 0x42, SLOT_SIZE);
	r = set_slot(&t, 1, SLOT1_GPA, SLOT_SIZE, p);
	EXPECT_EQ(-EOPNOTSUPP, r)
		TH_LOG("SET_MEMORY_REGION with a MAP_SHARED ramfs file: %s, want EOPNOTSUPP",
		       r ? strerror(-r) : "success");
	if (!r) {
		uint32_t v;
		char err[256];

		/* accepted: show what the guest gets (pins a file page) */
		ASSERT_EQ(0, setup_flat(&t, &g));
		if (!guest_rw(&t, SLOT1_GPA, 0x77, &v, err, sizeof(err)))
			TH_LOG("the guest read 0x%x from the file-backed slot", v);
		else
			TH_LOG("guest: %s", err);
	}
	tvm_destroy(&t);
	munmap(p, SLOT_SIZE);
	close(fd);
	EXPECT_EQ(0, umount2(dir, MNT_DETACH));
	rmdir(dir);
}

TEST(shmem_and_anon_slots_work)
{
	uint8_t *shm, *anon;
	struct tvm t;
	struct gp g;
	uint32_t v;
	char err[256];
	int fd, r;

	TVM_CREATE_OR_SKIP(&t, MEM_SIZE);
	fd = memfd_create("svm-guest", MFD_CLOEXEC);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, ftruncate(fd, SLOT_SIZE));
	shm = mmap(NULL, SLOT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, shm);
	anon = mmap(NULL, SLOT_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, anon);
	*(uint32_t *)shm = 0x5348454d;		/* "SHEM" */
	*(uint32_t *)anon = 0x414e4f4e;		/* "ANON" */
	r = set_slot(&t, 1, SLOT1_GPA, SLOT_SIZE, shm);
	ASSERT_EQ(0, r) TH_LOG("MAP_SHARED memfd slot: %s", strerror(-r));
	r = set_slot(&t, 2, SLOT2_GPA, SLOT_SIZE, anon);
	ASSERT_EQ(0, r) TH_LOG("MAP_PRIVATE anonymous slot: %s", strerror(-r));
	ASSERT_EQ(0, setup_flat(&t, &g));
	ASSERT_EQ(0, guest_rw(&t, SLOT1_GPA, 0x11111111, &v, err, sizeof(err)))
		TH_LOG("%s", err);
	EXPECT_EQ(0x5348454d, v);
	EXPECT_EQ(0x11111111, ((uint32_t *)shm)[1]);
	ASSERT_EQ(0, guest_rw(&t, SLOT2_GPA, 0x22222222, &v, err, sizeof(err)))
		TH_LOG("%s", err);
	EXPECT_EQ(0x414e4f4e, v);
	EXPECT_EQ(0x22222222, ((uint32_t *)anon)[1]);
	tvm_destroy(&t);
	munmap(shm, SLOT_SIZE);
	munmap(anon, SLOT_SIZE);
	close(fd);
}

/*
 * The check again at pin time: the slot was anonymous memory when it was
 * added, then the runner maps a ramfs file (MAP_SHARED|MAP_FIXED) over it
 * before the guest touches it. The guest's write ends RUN with
 * INTERNAL_ERROR_NO_MEMORY, data[0] the guest-physical address, data[1]
 * -EOPNOTSUPP (uapi.rst), and the write did not reach the file. Once the
 * runner maps anonymous memory there again, RUN retries the write and the
 * guest completes.
 */
TEST(file_mapping_behind_slot_refused_at_pin)
{
	char dir[] = "/tmp/svm-ramfs-XXXXXX";
	struct grt_stopinfo st;
	struct grt_script s;
	struct tvm t;
	struct gp g;
	char err[256];
	void *p, *q;
	int fd, r;

	if (tvm_default_kind() != BE_SHADOWVM)
		SKIP(return, "a shadowvm-only rule");
	TVM_CREATE_OR_SKIP(&t, MEM_SIZE);
	p = mmap(NULL, SLOT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, p);
	r = set_slot(&t, 1, SLOT1_GPA, SLOT_SIZE, p);
	ASSERT_EQ(0, r) TH_LOG("anonymous slot: %s", strerror(-r));
	fd = ramfs_file(_metadata, dir);
	if (fd < 0) {
		tvm_destroy(&t);
		SKIP(return, "cannot mount a ramfs (a non-shmem filesystem) on %s: %s",
		     dir, strerror(-fd));
	}
	q = mmap(p, SLOT_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	ASSERT_EQ(p, q);
	memset(p, 0x42, SLOT_SIZE);

	ASSERT_EQ(0, setup_flat(&t, &g));
	gs_init(&s);
	gs_op(&s, GOP_W32, 0, SLOT1_GPA + 0x2000, 0x600d, 0);
	gs_op(&s, GOP_END, 0, 0, 0, 0);
	ASSERT_EQ(0, grt_load(&t, &s));
	grt_run(&t, &st);
	grt_describe(&t, &st, err, sizeof(err));
	TH_LOG("a ramfs file behind the slot: %s", err);
	ASSERT_EQ(GRT_STOP_EXIT, st.why);
	ASSERT_EQ(BE_EXIT_INTERNAL, st.e.reason);
	EXPECT_EQ(SHADOWVM_INTERNAL_ERROR_NO_MEMORY, st.e.internal.suberror);
	ASSERT_LE(2, st.e.internal.ndata);
	EXPECT_EQ(SLOT1_GPA + 0x2000, st.e.internal.data[0]);
	EXPECT_EQ((uint64_t)(int64_t)-EOPNOTSUPP, st.e.internal.data[1])
		TH_LOG("data[1] 0x%llx, want -EOPNOTSUPP",
		       (unsigned long long)st.e.internal.data[1]);
	EXPECT_EQ(0x42424242, *(uint32_t *)((uint8_t *)p + 0x2000))
		TH_LOG("the guest's write reached the file");

	/* anonymous memory again: the same RUN goes on */
	q = mmap(p, SLOT_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 -1, 0);
	ASSERT_EQ(p, q);
	grt_run(&t, &st);
	grt_describe(&t, &st, err, sizeof(err));
	EXPECT_EQ(GRT_STOP_DONE, st.why) TH_LOG("after anonymous memory came back: %s", err);
	EXPECT_EQ(0x600d, *(uint32_t *)((uint8_t *)p + 0x2000));
	gs_free(&s);
	tvm_destroy(&t);
	munmap(p, SLOT_SIZE);
	close(fd);
	EXPECT_EQ(0, umount2(dir, MNT_DETACH));
	rmdir(dir);
}

static int drop_cap_ipc_lock(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];
	int i = CAP_IPC_LOCK / 32;
	uint32_t bit = 1u << (CAP_IPC_LOCK % 32);

	if (syscall(SYS_capget, &h, d))
		return -errno;
	d[i].effective &= ~bit;
	d[i].permitted &= ~bit;
	d[i].inheritable &= ~bit;
	if (syscall(SYS_capset, &h, d))
		return -errno;
	return 0;
}

static bool has_cap(int cap)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return false;
	return d[cap / 32].effective & (1u << (cap % 32));
}

static void touch_script(struct grt_script *s)
{
	gs_init(s);
	gs_op(s, GOP_TOUCH, 1, TOUCH_GPA, TOUCH_PAGES, 0);
	gs_op(s, GOP_END, 0, 0, 0, 0);
}

/* (the harness runs each test in its own process: the caps stay there) */
TEST(memlock_charged)
{
	struct rlimit low = { 64 << 10, RLIM_INFINITY }, high;
	struct grt_stopinfo st;
	struct grt_script s;
	struct tvm t;
	struct gp g;
	char err[256];
	int r;

	if (tvm_default_kind() != BE_SHADOWVM)
		SKIP(return, "a shadowvm-only rule");
	if (!has_cap(CAP_SYS_RESOURCE))
		SKIP(return, "needs CAP_SYS_RESOURCE to raise RLIMIT_MEMLOCK again (run as root)");
	r = drop_cap_ipc_lock();
	ASSERT_EQ(0, r) TH_LOG("dropping CAP_IPC_LOCK: %s", strerror(-r));
	ASSERT_FALSE(has_cap(CAP_IPC_LOCK));
	ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &low));

	/* 64 KiB: the guest's 64 pages do not fit */
	TVM_CREATE_OR_SKIP(&t, MEM_SIZE);
	ASSERT_EQ(0, setup_flat(&t, &g));
	touch_script(&s);
	ASSERT_EQ(0, grt_load(&t, &s));
	grt_run(&t, &st);
	grt_describe(&t, &st, err, sizeof(err));
	TH_LOG("RLIMIT_MEMLOCK 64 KiB, no CAP_IPC_LOCK: %s", err);
	ASSERT_EQ(GRT_STOP_EXIT, st.why)
		TH_LOG("RUN must end with an INTERNAL_ERROR exit, got: %s", err);
	ASSERT_EQ(BE_EXIT_INTERNAL, st.e.reason);
	EXPECT_EQ(SHADOWVM_INTERNAL_ERROR_NO_MEMORY, st.e.internal.suberror);
	EXPECT_LE(2, st.e.internal.ndata);
	EXPECT_EQ((uint64_t)(int64_t)-ENOMEM, st.e.internal.data[1])
		TH_LOG("data[0] 0x%llx data[1] 0x%llx",
		       (unsigned long long)st.e.internal.data[0],
		       (unsigned long long)st.e.internal.data[1]);
	tvm_destroy(&t);

	/* raised: the same guest completes */
	high.rlim_cur = high.rlim_max = 64 << 20;
	ASSERT_EQ(0, setrlimit(RLIMIT_MEMLOCK, &high));
	TVM_CREATE_OR_SKIP(&t, MEM_SIZE);
	ASSERT_EQ(0, setup_flat(&t, &g));
	r = grt_exec(&t, &s, err, sizeof(err));
	EXPECT_EQ(0, r) TH_LOG("RLIMIT_MEMLOCK 64 MiB: %s", err);
	gs_free(&s);
	tvm_destroy(&t);
}

TEST(max_shadow_pages_limit)
{
	struct shadowvm_vm_config c;
	int fd, vm;

	if (tvm_default_kind() != BE_SHADOWVM)
		SKIP(return, "a shadowvm ioctl");
	OPEN_DEV_OR_SKIP(fd);
	memset(&c, 0, sizeof(c));
	c.max_shadow_pages = 262144;
	vm = ioctl(fd, SHADOWVM_CREATE_VM, &c);
	EXPECT_LE(0, vm) TH_LOG("max_shadow_pages 262144: %s", strerror(errno));
	if (vm >= 0) {
		struct shadowvm_vm_config got;

		memset(&got, 0, sizeof(got));
		EXPECT_EQ(0, ioctl(vm, SHADOWVM_GET_VM_CONFIG, &got));
		EXPECT_EQ(262144, got.max_shadow_pages);
		close(vm);
	}
	memset(&c, 0, sizeof(c));
	c.max_shadow_pages = 262145;
	vm = ioctl(fd, SHADOWVM_CREATE_VM, &c);
	EXPECT_EQ(-1, vm) TH_LOG("max_shadow_pages 262145 was accepted");
	if (vm < 0) {
		EXPECT_EQ(EINVAL, errno) TH_LOG("got %s", strerror(errno));
	} else {
		close(vm);
	}
	close(fd);
}

TEST_HARNESS_MAIN
