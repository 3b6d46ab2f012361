/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Running the runner binary (userspace-tool's `shadowvm`) from a test:
 * find it (and demo.bin), run it with arguments, a device override and an
 * optional stdin file (or input typed once its output says it is ready),
 * and collect its exit status, stdout (binary safe, with its length) and
 * stderr. Also loads Debian's kvm_intel for the KVM
 * comparison runs, and builds small ELF images for it. Used by
 * runner_test, runner_platform_test, linux_boot_test and linux_guest_test.
 */
#ifndef SVMTEST_RUNNER_EXEC_H
#define SVMTEST_RUNNER_EXEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>
#include <sys/types.h>

struct rx_result {
	int status;			/* exit status, or -signal */
	size_t out_len;
	char out[65536];		/* NUL terminated too */
	char err[16384];
	/* rx_run_interactive(): s from the start to the typing, or -1 */
	long typed_after;
	bool timed_out;			/* ... killed at its time limit */
};

/*
 * $env, or name next to this test binary, or ../../userspace-tool/name
 * (from selftests/bin). 0 or -1.
 */
int rx_find_file(const char *env, const char *name, char *path, size_t len);
/*
 * runs runner args... (NULL terminated, at most 24); dev: SHADOWVM_DEVICE
 * or NULL; in: the file given as stdin, or NULL for /dev/null. With
 * SVMTEST_BACKEND=kvm, "run" gets "--backend kvm" unless force_backend.
 * 0 or -1 (could not run it at all).
 */
int rx_run(const char *runner, const char *const *args, const char *dev,
	   const char *in, int force_backend, struct rx_result *r);
/* the same, killed by SIGALRM after seconds (rx_run: RX_DEFAULT_SECONDS) */
#define RX_DEFAULT_SECONDS 120
int rx_run_for(unsigned int seconds, const char *runner,
	       const char *const *args, const char *dev, const char *in,
	       int force_backend, struct rx_result *r);
/*
 * Runs runner args... (as rx_run_for(), never with the SVMTEST_BACKEND
 * aid) with pipes as stdin, stdout and stderr; once its stdout holds
 * ready, writes input into its stdin and closes that (end of file).
 * Killed after seconds, or typed_seconds after the typing if that is
 * sooner; r->typed_after and r->timed_out say which happened. 0 with r
 * filled in, or -1 (could not run it at all).
 */
int rx_run_interactive(unsigned int seconds, const char *runner,
		       const char *const *args, const char *ready,
		       const char *input, unsigned int typed_seconds,
		       struct rx_result *r);
int rx_write_file(const char *path, const void *data, size_t len);
/*
 * An ELF32 (EM_386) or ELF64 (EM_X86_64) executable in buf: one PT_LOAD
 * at paddr holding head (hlen bytes, may be NULL with 0) then code (len
 * bytes), 4 KiB of bss after them, entry = paddr + hlen. Returns the file
 * size; buf needs room for the headers, head and code.
 */
size_t rx_elf_image(uint8_t *buf, bool is64, uint64_t paddr,
		    const void *head, size_t hlen, const uint8_t *code,
		    size_t len);
/*
 * Make /dev/kvm appear by loading irqbypass, kvm and kvm-intel (ept=0)
 * from $KVM_MODULES_DIR; *loaded says what to unload. 0 or -errno.
 */
int rx_kvm_load(unsigned int *loaded);
void rx_kvm_unload(unsigned int loaded);
/* the modules of rx_kvm_load() loaded now, as a mask for rx_kvm_unload() */
unsigned int rx_kvm_loaded_mask(void);
/*
 * Unload the kvm modules loaded now that are not in preloaded, and say so
 * in a TAP comment line ("# kvm modules ... unloaded at exit", or a
 * warning naming the ones that stayed).
 */
void rx_kvm_unload_new(unsigned int preloaded);
/*
 * kvm.enable_virt_at_load is Y (6.12): a loaded kvm_intel holds VT-x, so
 * shadowvm cannot create VMs until it is unloaded. N or absent (6.1):
 * only a live KVM VM does.
 */
bool rx_kvm_holds_vtx_at_load(void);
/*
 * RX_KVM_UNLOAD_AT_EXIT(): in a test binary whose cases leave the kvm
 * modules loaded for the next case (one load instead of one per case,
 * each several seconds of Bochs): the kvm modules loaded when the binary
 * exits that were not loaded when it started are unloaded then. The
 * harness runs each case in a child that leaves with _exit(), so the
 * destructor runs once, in the parent, after every case.
 */
#define RX_KVM_UNLOAD_AT_EXIT()						\
static unsigned int rx_kvm_preloaded;					\
static pid_t rx_kvm_main_pid;						\
static void __attribute__((constructor)) rx_kvm_note_preloaded(void)	\
{									\
	rx_kvm_main_pid = getpid();					\
	rx_kvm_preloaded = rx_kvm_loaded_mask();			\
}									\
static void __attribute__((destructor)) rx_kvm_unload_at_exit(void)	\
{									\
	if (getpid() == rx_kvm_main_pid)				\
		rx_kvm_unload_new(rx_kvm_preloaded);			\
}

#endif /* SVMTEST_RUNNER_EXEC_H */
