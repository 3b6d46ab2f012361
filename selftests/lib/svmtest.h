/* SPDX-License-Identifier: GPL-2.0 */
/*
 * shadowvm selftest library.
 *
 * Contract: a struct tvm is one test VM on a chosen backend (shadowvm or
 * KVM, through userspace-tool/backend.h): guest RAM [0, mem_size) is
 * anonymous memory of the test in slot 0 (2 MiB aligned, MADV_HUGEPAGE;
 * SVMTEST_GUEST_THP=0: MADV_NOHUGEPAGE), vCPU 0 starts in the common flat
 * 32-bit state. Guest code is an asm blob inside the test binary (see
 * GUEST_CODE), copied to TVM_CODE and entered with ESP = TVM_STACK. Helpers
 * also read the module's debugfs counters, /proc/meminfo and module state,
 * and load/unload modules with the finit_module/delete_module syscalls.
 * Functions return 0 / a value on success and -errno on failure.
 */
#ifndef SVMTEST_H
#define SVMTEST_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "backend.h"
#include "devices.h"

#define TVM_MEM_DEFAULT	(2u << 20)
#define TVM_CODE	0x1000u		/* guest code is loaded here */
#define TVM_STACK	0x8000u		/* initial ESP */
#define TVM_DATA	0x9000u		/* results area of the guests */
#define TVM_BUF		0x10000u	/* bigger buffers */

#define SHADOWVM_DEV	"/dev/shadowvm"
#define SVM_DEBUGFS_DIR	"/sys/kernel/debug/shadowvm"

/*
 * Guest code blob: GUEST_CODE(name, "insn\n" "insn\n") defines the byte
 * arrays name[] .. name_end[] assembled as 32-bit code. The code must be
 * position independent or use absolute guest addresses (not its own labels'
 * addresses): it runs at TVM_CODE, not where the linker put it.
 */
#define GUEST_CODE(name, body)						\
	extern const uint8_t name[], name##_end[];			\
	asm(".pushsection .rodata.guest." #name ", \"a\"\n"		\
	    ".code32\n"							\
	    #name ":\n"							\
	    body "\n"							\
	    #name "_end:\n"						\
	    ".code64\n"							\
	    ".popsection\n")
#define GUEST_SIZE(name)	((size_t)(name##_end - name))

struct tvm {
	struct backend be;
	struct be_vm vm;
	struct be_vcpu vcpu;
	void *mem;
	size_t mem_size;
	struct vm_devices dev;		/* capture devices for tvm_run_loop */
	bool be_open, vm_live, vcpu_live;
};

/* Opens the backend, creates a VM with mem_size bytes of RAM at gpa 0
 * and vCPU vcpu_id. cfg may be NULL. */
int tvm_create_ex(struct tvm *t, enum be_kind kind, size_t mem_size,
		  const struct be_vm_config *cfg, uint32_t vcpu_id);
int tvm_create(struct tvm *t, enum be_kind kind, size_t mem_size);
/* BE_SHADOWVM unless the environment says SVMTEST_BACKEND=kvm */
enum be_kind tvm_default_kind(void);
void tvm_destroy(struct tvm *t);
/*
 * Guest RAM as the runner allocates it (2 MiB aligned, MADV_HUGEPAGE unless
 * SVMTEST_GUEST_THP=0); MAP_FAILED with errno set. Free with munmap(p, size).
 */
void *tvm_alloc_ram(size_t size);
/* Copies code to gpa and points RIP there, ESP = TVM_STACK. */
int tvm_load(struct tvm *t, uint64_t gpa, const void *code, size_t len);
static inline void *tvm_ptr(struct tvm *t, uint64_t gpa)
{
	return (uint8_t *)t->mem + gpa;
}
int tvm_run(struct tvm *t, struct be_exit *e);
/* Runs with the runner's devices (UART captured in t->dev.out). */
enum run_result tvm_run_loop(struct tvm *t, struct be_exit *last);
uint64_t tvm_rip(struct tvm *t);

/* true when err says "device missing": a reason to skip */
static inline bool tvm_no_device(int err)
{
	return err == -ENOENT || err == -ENODEV || err == -ENXIO;
}

/* ---- module state ---- */
struct svm_counters {
	long live_vms;
	long live_vcpus;
	long live_pages;
	long live_objects;
	long pinned_pages;
	long region_pins;
};

/* Mounts debugfs if needed; 0 when the shadowvm debugfs file exists. */
int svm_debugfs_ready(void);
int svm_read_counters(struct svm_counters *c);
/* Writes a "name a->b, ..." description of differences; 0 if equal. */
int svm_counters_diff(const struct svm_counters *a,
		      const struct svm_counters *b, char *buf, size_t len);
/* Polls until counters equal base or timeout_ms passes; 0 if equal. */
int svm_wait_counters(const struct svm_counters *base,
		      struct svm_counters *now, int timeout_ms);
/* /proc/meminfo value in kB, or -errno. */
long meminfo_kb(const char *key);
/* kB of AnonHugePages (/proc/self/smaps) in the mapping holding addr, or -1 */
long anon_huge_kb(const void *addr);

bool module_loaded(const char *name);
/* /sys/module/<name>/refcnt, or -errno */
long module_refcnt(const char *name);
/*
 * shadowvm's module parameter /sys/module/shadowvm/parameters/<name>: its
 * value into old (at most len bytes, newline kept), then, unless val is
 * NULL, val written to it. 0 or -errno.
 */
int svm_param_swap(const char *name, const char *val, char *old, size_t len);
/* finit_module(path, params); -errno (-EEXIST when already loaded) */
int module_load(const char *path, const char *params);
/* delete_module(name, O_NONBLOCK) */
int module_unload(const char *name);
/* Waits for /dev/shadowvm (creates the node from sysfs when no devtmpfs
 * or mdev does it); 0 when it is there. */
int svm_ensure_dev(int timeout_ms);

/* Writes count bytes of a deterministic pattern seeded by seed. */
void fill_pattern(uint8_t *p, size_t count, uint32_t seed);
long elapsed_ms(const struct timespec *since);

/*
 * SVMTEST_FULL=1: the exhaustive tests run their full size (every alias
 * sequence, the fuzzer's long default) instead of make check's; make
 * check-full and make check-debug set it (Documentation/testvm.rst).
 */
bool svmtest_full(void);

#endif /* SVMTEST_H */
