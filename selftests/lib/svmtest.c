// SPDX-License-Identifier: GPL-2.0
/*
 * shadowvm selftest library: test VM setup on a backend, module and
 * debugfs helpers. Contract in svmtest.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include "svmtest.h"

/*
 * Guest RAM as the runner allocates it: 2 MiB aligned, so that guest-
 * physical and host addresses share their 2 MiB alignment, and
 * MADV_HUGEPAGE; SVMTEST_GUEST_THP=0 asks MADV_NOHUGEPAGE instead.
 */
void *tvm_alloc_ram(size_t size)
{
	const size_t align = 2u << 20;
	const char *thp = getenv("SVMTEST_GUEST_THP");
	size_t len = size + align;
	uintptr_t p, a;
	void *m;

	m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (m == MAP_FAILED)
		return m;
	p = (uintptr_t)m;
	a = (p + align - 1) & ~(uintptr_t)(align - 1);
	if (a > p)
		munmap(m, a - p);
	if (p + len > a + size)
		munmap((void *)(a + size), p + len - (a + size));
	madvise((void *)a, size, thp && !strcmp(thp, "0") ? MADV_NOHUGEPAGE :
			       MADV_HUGEPAGE);
	return (void *)a;
}

int tvm_create_ex(struct tvm *t, enum be_kind kind, size_t mem_size,
		  const struct be_vm_config *cfg, uint32_t vcpu_id)
{
	int ret;

	memset(t, 0, sizeof(*t));
	devices_init(&t->dev, -1);
	t->mem_size = mem_size;
	t->mem = tvm_alloc_ram(mem_size);
	if (t->mem == MAP_FAILED) {
		t->mem = NULL;
		return -errno;
	}
	ret = be_open(&t->be, be_ops_by_kind(kind), NULL);
	if (ret)
		goto fail;
	t->be_open = true;
	ret = be_create_vm(&t->be, cfg, &t->vm);
	if (ret)
		goto fail;
	t->vm_live = true;
	ret = be_set_memory(&t->vm, 0, 0, mem_size, t->mem, false);
	if (ret)
		goto fail;
	ret = be_create_vcpu(&t->vm, vcpu_id, &t->vcpu);
	if (ret)
		goto fail;
	t->vcpu_live = true;
	return 0;
fail:
	tvm_destroy(t);
	errno = -ret;
	return ret;
}

int tvm_create(struct tvm *t, enum be_kind kind, size_t mem_size)
{
	return tvm_create_ex(t, kind, mem_size, NULL, 0);
}

enum be_kind tvm_default_kind(void)
{
	const char *b = getenv("SVMTEST_BACKEND");

	return b && !strcmp(b, "kvm") ? BE_KVM : BE_SHADOWVM;
}

void tvm_destroy(struct tvm *t)
{
	if (t->vcpu_live)
		be_destroy_vcpu(&t->vcpu);
	if (t->vm_live)
		be_destroy_vm(&t->vm);
	if (t->be_open)
		be_close(&t->be);
	if (t->mem)
		be_munmap(t->mem, t->mem_size);
	devices_free(&t->dev);
	t->vcpu_live = t->vm_live = t->be_open = false;
	t->mem = NULL;
}

int tvm_load(struct tvm *t, uint64_t gpa, const void *code, size_t len)
{
	struct be_regs regs;
	int ret;

	if (gpa + len > t->mem_size)
		return -E2BIG;
	memcpy(tvm_ptr(t, gpa), code, len);
	ret = be_get_regs(&t->vcpu, &regs);
	if (ret)
		return ret;
	regs.rip = gpa;
	regs.rsp = TVM_STACK;
	regs.rflags = 0x2;
	return be_set_regs(&t->vcpu, &regs);
}

int tvm_run(struct tvm *t, struct be_exit *e)
{
	return be_run(&t->vcpu, e);
}

enum run_result tvm_run_loop(struct tvm *t, struct be_exit *last)
{
	return vm_run_loop(&t->vcpu, &t->dev, last);
}

uint64_t tvm_rip(struct tvm *t)
{
	struct be_regs regs;

	if (be_get_regs(&t->vcpu, &regs))
		return ~0ULL;
	return regs.rip;
}

/* ---- debugfs counters ---- */

int svm_debugfs_ready(void)
{
	struct stat st;

	if (stat(SVM_DEBUGFS_DIR "/module", &st) == 0)
		return 0;
	if (stat("/sys/kernel/debug", &st) == 0 &&
	    mount("debugfs", "/sys/kernel/debug", "debugfs", 0, NULL) &&
	    errno != EBUSY)
		return -errno;
	if (stat(SVM_DEBUGFS_DIR "/module", &st))
		return -errno;
	return 0;
}

int svm_read_counters(struct svm_counters *c)
{
	char name[64];
	long val;
	int seen = 0;
	FILE *f;

	memset(c, 0, sizeof(*c));
	f = fopen(SVM_DEBUGFS_DIR "/module", "re");
	if (!f)
		return -errno;
	while (fscanf(f, "%63s %ld", name, &val) == 2) {
		if (!strcmp(name, "live_vms"))
			c->live_vms = val, seen |= 1;
		else if (!strcmp(name, "live_vcpus"))
			c->live_vcpus = val, seen |= 2;
		else if (!strcmp(name, "live_pages"))
			c->live_pages = val, seen |= 4;
		else if (!strcmp(name, "live_objects"))
			c->live_objects = val, seen |= 8;
		else if (!strcmp(name, "pinned_pages"))
			c->pinned_pages = val, seen |= 16;
		else if (!strcmp(name, "region_pins"))
			c->region_pins = val, seen |= 32;
	}
	fclose(f);
	return seen == 63 ? 0 : -EPROTO;
}

int svm_counters_diff(const struct svm_counters *a,
		      const struct svm_counters *b, char *buf, size_t len)
{
	size_t off = 0;
	int n = 0;

	buf[0] = 0;
#define CMP(f) do {							\
	if (a->f != b->f) {						\
		n++;							\
		if (off < len)						\
			off += snprintf(buf + off, len - off,		\
					"%s%s %ld->%ld", off ? ", " : "", \
					#f, a->f, b->f);		\
	}								\
} while (0)
	CMP(live_vms);
	CMP(live_vcpus);
	CMP(live_pages);
	CMP(live_objects);
	CMP(pinned_pages);
	CMP(region_pins);
#undef CMP
	return n;
}

int svm_wait_counters(const struct svm_counters *base,
		      struct svm_counters *now, int timeout_ms)
{
	char buf[256];
	int waited = 0, ret;

	for (;;) {
		ret = svm_read_counters(now);
		if (ret)
			return ret;
		if (!svm_counters_diff(base, now, buf, sizeof(buf)))
			return 0;
		if (waited >= timeout_ms)
			return 1;
		usleep(20 * 1000);
		waited += 20;
	}
}

long meminfo_kb(const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long val = -ENOENT;
	FILE *f;

	f = fopen("/proc/meminfo", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, klen) && line[klen] == ':') {
			val = strtol(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

/* ---- modules ---- */

bool module_loaded(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "/sys/module/%s/initstate", name);
	return access(path, F_OK) == 0;
}

long module_refcnt(const char *name)
{
	char path[256];
	long v;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/%s/refcnt", name);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	if (fscanf(f, "%ld", &v) != 1)
		v = -EPROTO;
	fclose(f);
	return v;
}

int svm_param_swap(const char *name, const char *val, char *old, size_t len)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/shadowvm/parameters/%s", name);
	f = fopen(path, val ? "r+e" : "re");
	if (!f)
		return -errno;
	if (!fgets(old, len, f)) {
		fclose(f);
		return -EIO;
	}
	if (val) {
		rewind(f);
		fputs(val, f);
	}
	if (fclose(f))
		return -errno;
	return 0;
}

int module_load(const char *path, const char *params)
{
	int fd, ret;

	size_t len = strlen(path);
	int flags = 0;

	/* .ko.xz / .ko.zst / .ko.gz: let the kernel decompress */
	if ((len > 3 && (!strcmp(path + len - 3, ".xz") ||
			 !strcmp(path + len - 3, ".gz"))) ||
	    (len > 4 && !strcmp(path + len - 4, ".zst")))
		flags = 4;	/* MODULE_INIT_COMPRESSED_FILE */
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, params ? params : "", flags);
	ret = ret ? -errno : 0;
	close(fd);
	return ret;
}

int module_unload(const char *name)
{
	if (syscall(SYS_delete_module, name, O_NONBLOCK))
		return -errno;
	return 0;
}

static int misc_devnum(dev_t *out)
{
	unsigned int maj, min;
	FILE *f;
	int n;

	f = fopen("/sys/class/misc/shadowvm/dev", "re");
	if (!f)
		return -errno;
	n = fscanf(f, "%u:%u", &maj, &min);
	fclose(f);
	if (n != 2)
		return -EPROTO;
	*out = makedev(maj, min);
	return 0;
}

int svm_ensure_dev(int timeout_ms)
{
	struct stat st;
	int waited = 0;
	dev_t devnum;

	for (;;) {
		/* devtmpfs/mdev make the node; give them a moment */
		if (misc_devnum(&devnum) == 0 && stat(SHADOWVM_DEV, &st) == 0 &&
		    S_ISCHR(st.st_mode) && st.st_rdev == devnum)
			return 0;
		if (waited >= timeout_ms)
			break;
		usleep(10 * 1000);
		waited += 10;
	}
	if (misc_devnum(&devnum))
		return -ENOENT;
	/* a stale node from an earlier load may carry another minor */
	unlink(SHADOWVM_DEV);
	if (mknod(SHADOWVM_DEV, S_IFCHR | 0600, devnum) && errno != EEXIST)
		return -errno;
	return 0;
}

void fill_pattern(uint8_t *p, size_t count, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	for (i = 0; i < count; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)(x ^ i);
	}
}

long elapsed_ms(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - since->tv_sec) * 1000 +
	       (now.tv_nsec - since->tv_nsec) / 1000000;
}

bool svmtest_full(void)
{
	const char *e = getenv("SVMTEST_FULL");

	return e && strcmp(e, "0") != 0 && *e;
}

/* kB of AnonHugePages in the mapping holding addr, or -1 */
long anon_huge_kb(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	unsigned long a = (unsigned long)addr, lo, hi;
	char line[256];
	bool in = false;
	long kb = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in = a >= lo && a < hi;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}
