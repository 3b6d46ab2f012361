// SPDX-License-Identifier: GPL-2.0
/*
 * Backend-independent helpers: backend lookup by name, the policy list,
 * exit names, the common flat 32-bit protected-mode start state that both
 * backends give a new vCPU (the state the shadowvm module documents for a
 * fresh vCPU), and the fd, run-page and RUN handling both backends share
 * (their ABI-typed conversions are in backend_abi.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <linux/shadowvm.h>

#include "backend.h"

static const char *const uapi_policy_names[] = SHADOWVM_MMU_POLICY_NAMES;
static struct be_policy policy_table[BE_NPOLICIES];
const struct be_policy *const be_policies = policy_table;
const unsigned int be_npolicies = BE_NPOLICIES;

/* before any other constructor (the selftests' policy variants use it) */
static void __attribute__((constructor(101))) be_policies_init(void)
{
	unsigned int i;

	for (i = 0; i < BE_NPOLICIES; i++) {
		policy_table[i].nr = i + 1;
		policy_table[i].name = uapi_policy_names[i + 1];
	}
}

const struct be_policy *be_policy_by_name(const char *name)
{
	unsigned int i;

	for (i = 0; i < be_npolicies; i++)
		if (!strcmp(be_policies[i].name, name))
			return &be_policies[i];
	return NULL;
}

const char *be_policy_name(uint32_t nr)
{
	unsigned int i;

	if (nr == BE_POLICY_DEFAULT)
		return "default";
	for (i = 0; i < be_npolicies; i++)
		if (be_policies[i].nr == nr)
			return be_policies[i].name;
	return "?";
}

const struct backend_ops *be_ops_by_kind(enum be_kind kind)
{
	return kind == BE_KVM ? &be_kvm_ops : &be_shadowvm_ops;
}

const struct backend_ops *be_ops_by_name(const char *name)
{
	if (!strcmp(name, "shadowvm"))
		return &be_shadowvm_ops;
	if (!strcmp(name, "kvm"))
		return &be_kvm_ops;
	return NULL;
}

const char *be_exit_name(enum be_exit_reason reason)
{
	static const char *const names[BE_EXIT_NR] = {
		[BE_EXIT_UNKNOWN] = "unknown",
		[BE_EXIT_IO] = "io",
		[BE_EXIT_MMIO] = "mmio",
		[BE_EXIT_HLT] = "hlt",
		[BE_EXIT_SHUTDOWN] = "shutdown",
		[BE_EXIT_FAIL_ENTRY] = "fail_entry",
		[BE_EXIT_INTERNAL] = "internal_error",
		[BE_EXIT_INTR] = "intr",
		[BE_EXIT_SIPI] = "sipi",
		[BE_EXIT_HYPERCALL] = "hypercall",
	};

	if ((unsigned int)reason >= BE_EXIT_NR)
		return "invalid";
	return names[reason];
}

static void flat_seg(struct be_segment *s, uint16_t sel, uint8_t type)
{
	memset(s, 0, sizeof(*s));
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->db = 1;
	s->g = 1;
}

void be_flat32_sregs(struct be_sregs *sr)
{
	memset(sr, 0, sizeof(*sr));
	flat_seg(&sr->cs, 0x08, 0xb);
	flat_seg(&sr->ds, 0x10, 3);
	sr->es = sr->ds;
	sr->fs = sr->ds;
	sr->gs = sr->ds;
	sr->ss = sr->ds;

	sr->tr.selector = 0x18;
	sr->tr.base = 0;
	sr->tr.limit = 0x67;
	sr->tr.type = 11;		/* busy 32-bit TSS */
	sr->tr.present = 1;

	sr->ldt.unusable = 1;

	sr->gdt.base = 0;
	sr->gdt.limit = 0xffff;
	sr->idt.base = 0;
	sr->idt.limit = 0xffff;

	sr->cr0 = 0x11;			/* PE | ET */
	sr->cr4 = 0;
	sr->efer = 0;
}

int be_neg_errno(void)
{
	return errno ? -errno : -EIO;
}

int be_dev_open(struct backend *be, const char *path,
		unsigned long version_req, int version,
		unsigned long mmap_size_req)
{
	int ret;

	be->fd = open(path ? path : be->ops->dev_path, O_RDWR | O_CLOEXEC);
	if (be->fd < 0)
		return be_neg_errno();
	ret = ioctl(be->fd, version_req, 0);
	if (ret != version) {
		ret = -EPROTO;
		goto fail;
	}
	ret = ioctl(be->fd, mmap_size_req, 0);
	if (ret <= 0) {
		ret = be_neg_errno();
		goto fail;
	}
	be->vcpu_mmap_size = ret;
	return 0;
fail:
	close(be->fd);
	be->fd = -1;
	errno = -ret;
	return ret;
}

void be_dev_close(struct backend *be)
{
	if (be->fd >= 0)
		close(be->fd);
	be->fd = -1;
}

void be_vm_close(struct be_vm *vm)
{
	if (vm->fd >= 0)
		close(vm->fd);
	vm->fd = -1;
}

int be_vcpu_map(struct be_vm *vm, uint32_t id, int fd, struct be_vcpu *vcpu)
{
	int ret;

	vcpu->vm = vm;
	vcpu->id = id;
	vcpu->run = NULL;
	vcpu->run_size = vm->be->vcpu_mmap_size;
	vcpu->fd = fd;
	if (fd < 0)
		return be_neg_errno();
	vcpu->run = mmap(NULL, vcpu->run_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, fd, 0);
	if (vcpu->run == MAP_FAILED) {
		ret = be_neg_errno();
		vcpu->run = NULL;
		be_vcpu_teardown(vcpu);
		errno = -ret;
		return ret;
	}
	return 0;
}

/*
 * munmap() may fail with ENOMEM (the kernel could not allocate what
 * splitting or unlinking the mapping needs): a run page left mapped keeps
 * its vCPU, and so the VM, alive. Try again a few times.
 */
int be_munmap(void *addr, size_t len)
{
	int tries = 0, r;

	while ((r = munmap(addr, len)) && errno == ENOMEM && ++tries < 5)
		;
	return r;
}

void be_vcpu_teardown(struct be_vcpu *vcpu)
{
	if (vcpu->run)
		be_munmap(vcpu->run, vcpu->run_size);
	vcpu->run = NULL;
	if (vcpu->fd >= 0)
		close(vcpu->fd);
	vcpu->fd = -1;
}

int be_vcpu_run(struct be_vcpu *vcpu, unsigned long req, uint32_t raw_intr,
		struct be_exit *exit,
		void (*translate)(struct be_vcpu *vcpu, struct be_exit *exit))
{
	int ret = ioctl(vcpu->fd, req, 0);

	if (ret < 0) {
		ret = be_neg_errno();
		memset(exit, 0, sizeof(*exit));
		if (ret == -EINTR) {
			exit->reason = BE_EXIT_INTR;
			exit->raw_reason = raw_intr;
		}
		errno = -ret;
		return ret;
	}
	translate(vcpu, exit);
	return 0;
}
