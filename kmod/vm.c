// SPDX-License-Identifier: GPL-2.0
/*
 * VMs and guest memory.
 *
 * Contract: a VM is created by the process whose mm becomes its memory
 * context; guest RAM is that process's own memory, registered as slots.
 * Slots are validated (alignment, wrap, size, overlap, mapped user range)
 * and each bad input has its own errno (Documentation/uapi.rst). Guest
 * pages are pinned on first use by the shadow MMU and unpinned when their
 * slot goes or the VM is destroyed. The VM lives until its fd and all of
 * its vCPU fds are closed; then everything it allocated is freed.
 */
#include <linux/module.h>
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/uaccess.h>
#include <linux/highmem.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/idr.h>
#include "shadowvm.h"

static DEFINE_IDA(vm_ida);

void svm_vm_get(struct svm_vm *vm)
{
	refcount_inc(&vm->refs);
}

static int pin_one(struct svm_vm *vm, struct svm_slot *s, u64 gfn, u64 idx,
		   unsigned int foll, struct page **page);

static void slot_unpin(struct svm_slot *s)
{
	u64 i;

	if (!s->pages)
		return;
	for (i = 0; i < s->npages; i++) {
		if (s->pages[i]) {
			unpin_user_pages_dirty_lock(&s->pages[i], 1,
						    !(s->flags & SHADOWVM_MEM_READONLY));
			atomic_long_dec(&svm_global.pinned_pages);
		}
	}
	svm_kfree(s->pages);
	s->pages = NULL;
}

static void svm_vm_free(struct svm_vm *vm)
{
	int i;

	debugfs_remove_recursive(vm->debugfs);
	svm_mmu_vm_destroy(vm);
	for (i = 0; i < SHADOWVM_MAX_MEM_SLOTS; i++)
		slot_unpin(&vm->slots[i]);
	mmdrop(vm->mm);
	if (vm->id >= 0)
		ida_free(&vm_ida, vm->id);
	svm_kfree(vm);
	atomic_dec(&svm_global.live_vms);
	svm_vmx_put();
}

void svm_vm_put(struct svm_vm *vm)
{
	if (refcount_dec_and_test(&vm->refs))
		svm_vm_free(vm);
}

struct svm_slot *svm_gfn_to_slot(struct svm_vm *vm, u64 gfn)
{
	int i;

	for (i = 0; i < SHADOWVM_MAX_MEM_SLOTS; i++) {
		struct svm_slot *s = &vm->slots[i];

		if (s->npages && gfn >= s->base_gfn && gfn - s->base_gfn < s->npages)
			return s;
	}
	return NULL;
}

/* Runs in the VM's mm (the page is pinned on first use). */
int svm_gfn_to_page(struct svm_vm *vm, u64 gfn, bool write, struct page **page)
{
	struct svm_slot *s = svm_gfn_to_slot(vm, gfn);
	unsigned int foll = FOLL_LONGTERM;
	u64 idx;
	int r;

	if (!s)
		return -ENOENT;
	if (write && (s->flags & SHADOWVM_MEM_READONLY))
		return -EROFS;
	idx = gfn - s->base_gfn;
	if (s->pages && s->pages[idx]) {
		*page = s->pages[idx];
		return 0;
	}
	if (current->mm != vm->mm)
		return -EFAULT;
	mutex_lock(&vm->pin_lock);
	r = pin_one(vm, s, gfn, idx, foll, page);
	mutex_unlock(&vm->pin_lock);
	return r;
}

static int pin_one(struct svm_vm *vm, struct svm_slot *s, u64 gfn, u64 idx,
		   unsigned int foll, struct page **page)
{
	int r;

	if (!s->pages) {
		s->pages = svm_zalloc(s->npages * sizeof(*s->pages));
		if (!s->pages)
			return -ENOMEM;
	}
	if (s->pages[idx]) {
		*page = s->pages[idx];
		return 0;
	}
	if (!(s->flags & SHADOWVM_MEM_READONLY))
		foll |= FOLL_WRITE;
	r = pin_user_pages_fast(s->hva + idx * PAGE_SIZE, 1, foll, &s->pages[idx]);
	if (r != 1) {
		s->pages[idx] = NULL;
		svm_warn_rl("gfn 0x%llx: cannot pin guest memory at hva 0x%llx (%d)\n",
			    gfn, s->hva + idx * PAGE_SIZE, r);
		return r < 0 ? r : -EFAULT;
	}
	atomic_long_inc(&svm_global.pinned_pages);
	vm->mmu_stats[SHADOWVM_STAT_PAGES_PINNED]++;
	*page = s->pages[idx];
	return 0;
}

static int gpa_access(struct svm_vm *vm, u64 gpa, void *buf, unsigned int len, bool write)
{
	while (len) {
		unsigned int off = offset_in_page(gpa);
		unsigned int n = min_t(unsigned int, len, PAGE_SIZE - off);
		struct page *pg;
		void *va;
		int r;

		r = svm_gfn_to_page(vm, gpa >> PAGE_SHIFT, write, &pg);
		if (r)
			return r;
		va = kmap_local_page(pg);
		if (write)
			memcpy(va + off, buf, n);
		else
			memcpy(buf, va + off, n);
		kunmap_local(va);
		gpa += n;
		buf += n;
		len -= n;
	}
	return 0;
}

int svm_cmpxchg_gpa(struct svm_vm *vm, u64 gpa, u64 old, u64 new, int size, bool *swapped)
{
	struct page *pg;
	void *va;
	int r;

	if (gpa & (size - 1))
		return -EINVAL;
	r = svm_gfn_to_page(vm, gpa >> PAGE_SHIFT, true, &pg);
	if (r)
		return r;
	va = kmap_local_page(pg) + offset_in_page(gpa);
	if (size == 4) {
		u32 o = old;

		*swapped = try_cmpxchg((u32 *)va, &o, (u32)new);
	} else {
		u64 o = old;

		*swapped = try_cmpxchg64((u64 *)va, &o, new);
	}
	kunmap_local(va);
	return 0;
}

int svm_read_gpa(struct svm_vm *vm, u64 gpa, void *buf, unsigned int len)
{
	return gpa_access(vm, gpa, buf, len, false);
}

int svm_write_gpa(struct svm_vm *vm, u64 gpa, const void *buf, unsigned int len)
{
	return gpa_access(vm, gpa, (void *)buf, len, true);
}

/* Is [hva, hva+size) fully covered by VMAs of the caller's mm? */
static bool user_range_mapped(unsigned long hva, u64 size)
{
	struct mm_struct *mm = current->mm;
	unsigned long end = hva + size, addr = hva;
	struct vm_area_struct *vma;
	bool ok = true;

	mmap_read_lock(mm);
	while (addr < end) {
		vma = find_vma(mm, addr);
		if (!vma || vma->vm_start > addr ||
		    (vma->vm_flags & (VM_IO | VM_PFNMAP))) {
			ok = false;
			break;
		}
		addr = vma->vm_end;
	}
	mmap_read_unlock(mm);
	return ok;
}

static int set_memory_region(struct svm_vm *vm, struct shadowvm_memory_region __user *argp)
{
	struct shadowvm_memory_region m;
	struct svm_slot *s;
	u64 gfn, npages;
	int i, r = 0;

	if (copy_from_user(&m, argp, sizeof(m)))
		return -EFAULT;
	if (m.slot >= SHADOWVM_MAX_MEM_SLOTS || (m.flags & ~SHADOWVM_MEM_READONLY))
		return -EINVAL;
	if (!PAGE_ALIGNED(m.guest_phys_addr) || !PAGE_ALIGNED(m.memory_size) ||
	    !PAGE_ALIGNED(m.userspace_addr))
		return -EINVAL;
	if (m.guest_phys_addr + m.memory_size < m.guest_phys_addr ||
	    m.guest_phys_addr + m.memory_size > (1ULL << SHADOWVM_GPA_BITS))
		return -EINVAL;
	if (m.memory_size > SHADOWVM_MAX_SLOT_SIZE)
		return -E2BIG;
	if (m.memory_size &&
	    (m.userspace_addr + m.memory_size < m.userspace_addr ||
	     !access_ok((void __user *)(unsigned long)m.userspace_addr, m.memory_size)))
		return -EFAULT;
	if (current->mm != vm->mm)
		return -EIO;

	mutex_lock(&vm->lock);
	s = &vm->slots[m.slot];
	if (!m.memory_size) {
		if (!s->npages) {
			r = -ENOENT;
			goto out;
		}
		/* Drop every shadow mapping before the pages go. */
		mutex_lock(&vm->mmu_lock);
		svm_mmu_zap_all(vm);
		svm_mmu_slot_removed(vm, m.slot);
		mutex_lock(&vm->pin_lock);
		slot_unpin(s);
		memset(s, 0, sizeof(*s));
		mutex_unlock(&vm->pin_lock);
		mutex_unlock(&vm->mmu_lock);
		goto out;
	}
	if (s->npages) {
		r = -EEXIST;
		goto out;
	}
	gfn = m.guest_phys_addr >> PAGE_SHIFT;
	npages = m.memory_size >> PAGE_SHIFT;
	for (i = 0; i < SHADOWVM_MAX_MEM_SLOTS; i++) {
		struct svm_slot *o = &vm->slots[i];

		if (o->npages && gfn < o->base_gfn + o->npages && o->base_gfn < gfn + npages) {
			r = -EEXIST;
			goto out;
		}
	}
	if (!user_range_mapped(m.userspace_addr, m.memory_size)) {
		r = -EFAULT;
		goto out;
	}
	mutex_lock(&vm->mmu_lock);
	s->base_gfn = gfn;
	s->hva = m.userspace_addr;
	s->flags = m.flags;
	s->pages = NULL;
	s->npages = npages;
	/* Shadow entries for this range pointed at MMIO before: drop them. */
	svm_mmu_zap_all(vm);
	mutex_unlock(&vm->mmu_lock);
out:
	mutex_unlock(&vm->lock);
	return r;
}

void svm_vm_stats_fill(struct svm_vm *vm, struct shadowvm_stats *st)
{
	int i, j;

	memset(st, 0, sizeof(*st));
	st->nr_stats = SHADOWVM_STAT_NR;
	st->mmu_policy = vm->cfg.mmu_policy;
	mutex_lock(&vm->lock);
	for (i = 0; i < SHADOWVM_MAX_VCPUS; i++) {
		struct svm_vcpu *v = vm->vcpus[i];

		if (!v)
			continue;
		for (j = 0; j < SHADOWVM_STAT_NR; j++)
			st->val[j] += READ_ONCE(v->stats[j]);
	}
	mutex_unlock(&vm->lock);
	mutex_lock(&vm->mmu_lock);
	for (j = 0; j < SHADOWVM_STAT_NR; j++)
		st->val[j] += vm->mmu_stats[j];
	mutex_unlock(&vm->mmu_lock);
}

static long svm_vm_ioctl(struct file *f, unsigned int ioctl, unsigned long arg)
{
	struct svm_vm *vm = f->private_data;
	void __user *argp = (void __user *)arg;

	switch (ioctl) {
	case SHADOWVM_SET_MEMORY_REGION:
		return set_memory_region(vm, argp);
	case SHADOWVM_CREATE_VCPU:
		return svm_create_vcpu(vm, arg);
	case SHADOWVM_GET_VM_STATS: {
		struct shadowvm_stats *st = svm_zalloc(sizeof(*st));
		long r = 0;

		if (!st)
			return -ENOMEM;
		svm_vm_stats_fill(vm, st);
		if (copy_to_user(argp, st, sizeof(*st)))
			r = -EFAULT;
		svm_kfree(st);
		return r;
	}
	case SHADOWVM_GET_VM_CONFIG:
		if (copy_to_user(argp, &vm->cfg, sizeof(vm->cfg)))
			return -EFAULT;
		return 0;
	default:
		return -ENOTTY;
	}
}

static int svm_vm_release(struct inode *inode, struct file *f)
{
	svm_vm_put(f->private_data);
	return 0;
}

static const struct file_operations svm_vm_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= svm_vm_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.release	= svm_vm_release,
	.llseek		= noop_llseek,
};

static int vm_stats_show(struct seq_file *m, void *unused)
{
	struct svm_vm *vm = m->private;
	struct shadowvm_stats *st = svm_zalloc(sizeof(*st));
	int i;

	if (!st)
		return -ENOMEM;
	svm_vm_stats_fill(vm, st);
	for (i = 0; i < SHADOWVM_STAT_NR; i++)
		seq_printf(m, "%d %llu\n", i, st->val[i]);
	svm_kfree(st);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vm_stats);

static int vm_as_show(struct seq_file *m, void *unused)
{
	svm_mmu_show_as(m->private, m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vm_as);

static int check_config(struct shadowvm_vm_config *c)
{
	int i;

	if (c->flags)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(c->reserved); i++)
		if (c->reserved[i])
			return -EINVAL;
	if (c->mmu_policy > SHADOWVM_MMU_POLICY_VTLB)
		return -EINVAL;
	if (c->root_cache_size > 256)
		return -EINVAL;
	if (c->mmu_policy == SHADOWVM_MMU_POLICY_DEFAULT)
		c->mmu_policy = SHADOWVM_MMU_POLICY_WRITE_PROTECT;
	if (!c->root_cache_size)
		c->root_cache_size = 64;
	if (!c->max_shadow_pages)
		c->max_shadow_pages = 4096;
	if (c->max_shadow_pages < 64)
		return -EINVAL;
	return 0;
}

long svm_create_vm(unsigned long arg)
{
	struct svm_vm *vm;
	char name[16];
	int r, fd;

	vm = svm_zalloc(sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	if (arg && copy_from_user(&vm->cfg, (void __user *)arg, sizeof(vm->cfg))) {
		svm_kfree(vm);
		return -EFAULT;
	}
	r = check_config(&vm->cfg);
	if (r) {
		svm_kfree(vm);
		return r;
	}
	r = svm_vmx_get();
	if (r) {
		if (r == -EBUSY)
			svm_warn_rl("cannot create VM: VT-x is held by another hypervisor (kvm_intel with a live VM?)\n");
		svm_kfree(vm);
		return r;
	}
	refcount_set(&vm->refs, 1);
	mutex_init(&vm->lock);
	mutex_init(&vm->mmu_lock);
	mutex_init(&vm->pin_lock);
	vm->mm = current->mm;
	mmgrab(vm->mm);
	vm->id = ida_alloc(&vm_ida, GFP_KERNEL);
	atomic_inc(&svm_global.live_vms);
	if (vm->id < 0) {
		r = vm->id;
		goto put;
	}
	r = svm_mmu_vm_init(vm);
	if (r)
		goto put;
	snprintf(name, sizeof(name), "vm%d-%d", task_pid_nr(current), vm->id);
	vm->debugfs = debugfs_create_dir(name, svm_debugfs_root);
	debugfs_create_file("stats", 0444, vm->debugfs, vm, &vm_stats_fops);
	debugfs_create_file("address_spaces", 0444, vm->debugfs, vm, &vm_as_fops);

	fd = anon_inode_getfd("shadowvm-vm", &svm_vm_fops, vm, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		r = fd;
		goto put;
	}
	return fd;
put:
	svm_vm_put(vm);
	return r;
}
