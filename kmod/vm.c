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
#include <linux/shmem_fs.h>
#include <linux/hugetlb.h>
#include <linux/sched/signal.h>
#include "shadowvm.h"

static DEFINE_IDA(vm_ida);

void shv_vm_get(struct shv_vm *vm)
{
	refcount_inc(&vm->refs);
}

struct shv_memslots *shv_memslots(struct shv_vm *vm)
{
	return srcu_dereference_check(vm->memslots, &vm->srcu,
				      lockdep_is_held(&vm->lock) ||
				      !refcount_read(&vm->refs));
}

/* Unpin and free a slot nobody can reach any more (no reader, no spte). */
static void slot_free(struct shv_vm *vm, struct shv_slot *s)
{
	u64 i, n = 0;

	if (!s)
		return;
	if (s->pages) {
		u64 region = U64_MAX, r;
		long regions = 0;

		/* region pins of rpin[]: 512 pages each, their pages[] copies */
		for (r = 0; s->rpin && r < shv_slot_nregions(s); r++) {
			if (!s->rpin[r])
				continue;
			n += 512;
			regions++;
			unpin_user_pages_dirty_lock(&s->rpin[r], 1,
						    !(s->flags & SHADOWVM_MEM_READONLY));
		}
		for (i = 0; i < s->npages; i++) {
			if (!s->pages[i] || (s->rpin && s->rpin[shv_slot_region(s, i)]))
				continue;
			n++;
			/* a region pin (pin.c): one unpin for its covered pages */
			if (s->lpin && test_bit(i, s->lpin)) {
				if ((s->base_gfn + i) >> 9 == region)
					continue;
				region = (s->base_gfn + i) >> 9;
				regions++;
			}
			unpin_user_pages_dirty_lock(&s->pages[i], 1,
						    !(s->flags & SHADOWVM_MEM_READONLY));
		}
		atomic_long_sub(n, &shv_global.pinned_pages);
		atomic_long_sub(regions, &shv_global.region_pins);
		atomic64_sub(n, &vm->mm->pinned_vm);
		shv_kfree(s->pages);
	}
	shv_kfree(s->lpin);
	shv_kfree(s->rpin);
	shv_kfree(s->rcount);
	shv_mmu_slot_removed(vm, s);
	shv_kfree(s);
}

static void shv_vm_free(struct shv_vm *vm)
{
	struct shv_memslots *ms = rcu_dereference_protected(vm->memslots, 1);
	int i;

	debugfs_remove_recursive(vm->debugfs);
	shv_msr_vm_free(vm);	/* after its debugfs file is gone */
	shv_mmu_vm_destroy(vm);
	for (i = 0; ms && i < SHADOWVM_MAX_MEM_SLOTS; i++)
		slot_free(vm, ms->slot[i]);
	shv_kfree(ms);
	cleanup_srcu_struct(&vm->srcu);
	mmdrop(vm->mm);
	if (vm->id >= 0)
		ida_free(&vm_ida, vm->id);
	shv_kfree(vm);
	atomic_dec(&shv_global.live_vms);
	shv_vmx_put();
}

void shv_vm_put(struct shv_vm *vm)
{
	if (refcount_dec_and_test(&vm->refs))
		shv_vm_free(vm);
}

struct shv_slot *shv_gfn_to_slot(struct shv_vm *vm, u64 gfn)
{
	struct shv_memslots *ms = shv_memslots(vm);
	int i;

	for (i = 0; i < SHADOWVM_MAX_MEM_SLOTS; i++) {
		struct shv_slot *s = ms->slot[i];

		if (s && gfn >= s->base_gfn && gfn - s->base_gfn < s->npages)
			return s;
	}
	return NULL;
}

static int gpa_access(struct shv_vm *vm, u64 gpa, void *buf, unsigned int len, bool write,
		      bool nopin)
{
	while (len) {
		unsigned int off = offset_in_page(gpa);
		unsigned int n = min_t(unsigned int, len, PAGE_SIZE - off);
		struct page *pg;
		void *va;
		int r;

		r = shv_gfn_to_page(vm, gpa >> PAGE_SHIFT, write, nopin, &pg);
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

int shv_cmpxchg_gpa(struct shv_vm *vm, u64 gpa, u64 old, u64 new, int size, bool nopin,
		    bool *swapped)
{
	struct page *pg;
	void *va;
	int r;

	if (gpa & (size - 1))
		return -EINVAL;
	r = shv_gfn_to_page(vm, gpa >> PAGE_SHIFT, true, nopin, &pg);
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

int shv_read_gpa(struct shv_vm *vm, u64 gpa, void *buf, unsigned int len)
{
	return gpa_access(vm, gpa, buf, len, false, false);
}

int shv_write_gpa(struct shv_vm *vm, u64 gpa, const void *buf, unsigned int len)
{
	return gpa_access(vm, gpa, (void *)buf, len, true, false);
}

int shv_read_gpa_pinned(struct shv_vm *vm, u64 gpa, void *buf, unsigned int len)
{
	return gpa_access(vm, gpa, buf, len, false, true);
}

int shv_read_word_pinned(struct shv_vm *vm, u64 gpa, unsigned int size, u64 *val)
{
	struct page *pg;
	void *va;
	int r = shv_gfn_to_page(vm, gpa >> PAGE_SHIFT, false, true, &pg);

	if (r)
		return r;
	va = kmap_local_page(pg) + offset_in_page(gpa);
	*val = size == 4 ? READ_ONCE(*(u32 *)va) : READ_ONCE(*(u64 *)va);
	kunmap_local(va);
	return 0;
}

int shv_write_gpa_pinned(struct shv_vm *vm, u64 gpa, const void *buf, unsigned int len)
{
	return gpa_access(vm, gpa, (void *)buf, len, true, true);
}

/*
 * Is [hva, hva+size) fully covered by VMAs of the caller's mm that can
 * back guest RAM? -EFAULT: a hole or an I/O mapping; -EOPNOTSUPP: a
 * shared mapping of a regular file (see pin_backing_ok()).
 */
static int user_range_check(unsigned long hva, u64 size, bool readonly)
{
	struct mm_struct *mm = current->mm;
	unsigned long end = hva + size, addr = hva;
	struct vm_area_struct *vma;
	int r = 0;

	mmap_read_lock(mm);
	while (addr < end) {
		vma = find_vma(mm, addr);
		if (!vma || vma->vm_start > addr ||
		    (vma->vm_flags & (VM_IO | VM_PFNMAP))) {
			r = -EFAULT;
			break;
		}
		if (!readonly && (vma->vm_flags & VM_SHARED) && vma->vm_file &&
		    !is_vm_hugetlb_page(vma) && !shmem_mapping(vma->vm_file->f_mapping)) {
			r = -EOPNOTSUPP;
			break;
		}
		addr = vma->vm_end;
	}
	mmap_read_unlock(mm);
	return r;
}

/*
 * Publish a new slot set and wait until no reader can still see the old
 * one (vm->lock held). Returns the old set, for the caller to free.
 */
static struct shv_memslots *publish_memslots(struct shv_vm *vm, struct shv_memslots *new)
{
	struct shv_memslots *old = rcu_dereference_protected(vm->memslots,
							     lockdep_is_held(&vm->lock));

	rcu_assign_pointer(vm->memslots, new);
	synchronize_srcu_expedited(&vm->srcu);
	return old;
}

/*
 * Slot lifetime (Documentation/architecture.rst, "Memory slots"): an
 * update copies the slot set, changes the copy, publishes it and waits
 * for an SRCU grace period. A deleted slot's shadow mappings are zapped
 * (with every vCPU kicked out of the guest) only after that wait, so no
 * fault can install a new one; then its pages are unpinned and it is freed.
 */
static int set_memory_region(struct shv_vm *vm, struct shadowvm_memory_region __user *argp)
{
	struct shadowvm_memory_region m;
	struct shv_memslots *cur, *new, *old;
	struct shv_slot *s, *gone = NULL;
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
	/* checked for a deletion too, as documented (EFAULT before ENOENT) */
	if (m.userspace_addr + m.memory_size < m.userspace_addr ||
	    !access_ok((void __user *)(unsigned long)m.userspace_addr, m.memory_size))
		return -EFAULT;
	if (current->mm != vm->mm)
		return -EIO;

	if (mutex_lock_killable(&vm->lock))
		return -EINTR;
	cur = shv_memslots(vm);
	s = cur->slot[m.slot];
	if (!m.memory_size) {
		if (!s) {
			r = -ENOENT;
			goto out;
		}
		gone = s;
		s = NULL;
	} else {
		if (s) {
			r = -EEXIST;
			goto out;
		}
		gfn = m.guest_phys_addr >> PAGE_SHIFT;
		npages = m.memory_size >> PAGE_SHIFT;
		for (i = 0; i < SHADOWVM_MAX_MEM_SLOTS; i++) {
			struct shv_slot *o = cur->slot[i];

			if (o && gfn < o->base_gfn + o->npages && o->base_gfn < gfn + npages) {
				r = -EEXIST;
				goto out;
			}
		}
		r = user_range_check(m.userspace_addr, m.memory_size,
				     m.flags & SHADOWVM_MEM_READONLY);
		if (r) {
			if (r == -EOPNOTSUPP)
				shv_info_rl("slot %u: a shared file mapping cannot back guest RAM (anonymous, shmem or hugetlbfs memory only)\n",
					    m.slot);
			goto out;
		}
		s = shv_zalloc(sizeof(*s));
		if (!s) {
			r = -ENOMEM;
			goto out;
		}
		s->base_gfn = gfn;
		s->npages = npages;
		s->hva = m.userspace_addr;
		s->flags = m.flags;
		s->id = m.slot;
		mutex_init(&s->pin_lock);
	}
	new = shv_zalloc(sizeof(*new));
	if (!new) {
		shv_kfree(s);
		r = -ENOMEM;
		goto out;
	}
	*new = *cur;
	new->slot[m.slot] = s;
	old = publish_memslots(vm, new);
	/*
	 * Shadow entries for the new range pointed at MMIO before, those of
	 * a deleted slot point at pages about to be unpinned: drop them all.
	 */
	mutex_lock(&vm->mmu_lock);
	shv_mmu_zap_all(vm);
	mutex_unlock(&vm->mmu_lock);
	slot_free(vm, gone);
	shv_kfree(old);
out:
	mutex_unlock(&vm->lock);
	return r;
}

/*
 * Sum of the vCPUs' and the VM's counters. Takes only mmu_lock, which no
 * one holds while waiting for guest memory, so it answers while a vCPU
 * waits on a userfaultfd. vCPUs are freed only after they leave
 * vm->vcpus[] and mmu_lock was taken once (shv_mmu_vcpu_destroy()).
 */
int shv_vm_stats_fill(struct shv_vm *vm, struct shadowvm_stats *st)
{
	int i, j;

	memset(st, 0, sizeof(*st));
	st->nr_stats = SHADOWVM_STAT_NR;
	st->mmu_policy = vm->cfg.mmu_policy;
	if (mutex_lock_killable(&vm->mmu_lock))
		return -EINTR;
	for (i = 0; i < SHADOWVM_MAX_VCPUS; i++) {
		struct shv_vcpu *v = READ_ONCE(vm->vcpus[i]);

		if (!v)
			continue;
		for (j = 0; j < SHADOWVM_STAT_NR; j++)
			st->val[j] += READ_ONCE(v->stats[j]);
	}
	for (j = 0; j < SHADOWVM_STAT_NR; j++)
		st->val[j] += vm->mmu_stats[j];
	mutex_unlock(&vm->mmu_lock);
	st->val[SHADOWVM_STAT_PAGES_PINNED] += atomic64_read(&vm->pages_pinned);
	return 0;
}

static long shv_vm_ioctl(struct file *f, unsigned int ioctl, unsigned long arg)
{
	struct shv_vm *vm = f->private_data;
	void __user *argp = (void __user *)arg;

	switch (ioctl) {
	case SHADOWVM_SET_MEMORY_REGION:
		return set_memory_region(vm, argp);
	case SHADOWVM_CREATE_VCPU:
		return shv_create_vcpu(vm, arg);
	case SHADOWVM_GET_VM_STATS: {
		struct shadowvm_stats *st = shv_zalloc(sizeof(*st));
		long r = 0;

		if (!st)
			return -ENOMEM;
		r = shv_vm_stats_fill(vm, st);
		if (!r && copy_to_user(argp, st, sizeof(*st)))
			r = -EFAULT;
		shv_kfree(st);
		return r;
	}
	case SHADOWVM_GET_VM_CONFIG:
		if (copy_to_user(argp, &vm->cfg, sizeof(vm->cfg)))
			return -EFAULT;
		return 0;
	case SHADOWVM_SIGNAL_MSI:
		return shv_lapic_signal_msi(vm, argp);
	default:
		return -ENOTTY;
	}
}

static int shv_vm_release(struct inode *inode, struct file *f)
{
	shv_vm_put(f->private_data);
	return 0;
}

static const struct file_operations shv_vm_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= shv_vm_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.release	= shv_vm_release,
	.llseek		= noop_llseek,
};

static int vm_stats_show(struct seq_file *m, void *unused)
{
	struct shv_vm *vm = m->private;
	struct shadowvm_stats *st = shv_zalloc(sizeof(*st));
	int i, r;

	if (!st)
		return -ENOMEM;
	r = shv_vm_stats_fill(vm, st);
	for (i = 0; !r && i < SHADOWVM_STAT_NR; i++)
		seq_printf(m, "%d %llu\n", i, st->val[i]);
	shv_kfree(st);
	return r;
}
DEFINE_SHOW_ATTRIBUTE(vm_stats);

static int vm_as_show(struct seq_file *m, void *unused)
{
	shv_mmu_show_as(m->private, m);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(vm_as);

static int check_config(struct shadowvm_vm_config *c)
{
	int i;

	if (c->flags & ~SHADOWVM_VM_FLAGS_ALL)
		return -EINVAL;
	for (i = 0; i < ARRAY_SIZE(c->reserved); i++)
		if (c->reserved[i])
			return -EINVAL;
	if (c->mmu_policy != SHADOWVM_MMU_POLICY_DEFAULT && !shv_mmu_policy_find(c->mmu_policy))
		return -EINVAL;
	if (c->root_cache_size > 256)
		return -EINVAL;
	if (c->mmu_policy == SHADOWVM_MMU_POLICY_DEFAULT)
		c->mmu_policy = SHADOWVM_MMU_POLICY_WRITE_PROTECT;
	if (c->flags & SHADOWVM_VM_GUEST_PF_BYPASS) {
		int r = shv_mmu_pf_bypass_check(c->mmu_policy);

		if (r) {
			shv_warn_rl("SHADOWVM_VM_GUEST_PF_BYPASS: %s\n",
				    r == -EINVAL ? "the policy lets guest tables go out of sync" :
				    "no reserved physical-address bit on this host");
			return r;
		}
	}
	if (!c->root_cache_size)
		c->root_cache_size = 64;
	if (!c->max_shadow_pages)
		c->max_shadow_pages = 4096;
	if (c->max_shadow_pages < 64 || c->max_shadow_pages > SHADOWVM_MAX_SHADOW_PAGES)
		return -EINVAL;
	return 0;
}

long shv_create_vm(unsigned long arg)
{
	struct shv_memslots *ms;
	struct shv_vm *vm;
	char name[16];
	int r, fd;

	vm = shv_zalloc(sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	if (arg && copy_from_user(&vm->cfg, (void __user *)arg, sizeof(vm->cfg))) {
		shv_kfree(vm);
		return -EFAULT;
	}
	r = check_config(&vm->cfg);
	if (r) {
		shv_kfree(vm);
		return r;
	}
	ms = shv_zalloc(sizeof(*ms));
	r = ms ? init_srcu_struct(&vm->srcu) : -ENOMEM;
	if (r) {
		shv_kfree(ms);
		shv_kfree(vm);
		return r;
	}
	RCU_INIT_POINTER(vm->memslots, ms);
	r = shv_vmx_get();
	if (r) {
		if (r == -EBUSY)
			shv_warn_rl("cannot create VM: VT-x is held by another hypervisor (kvm_intel with a live VM?)\n");
		cleanup_srcu_struct(&vm->srcu);
		shv_kfree(ms);
		shv_kfree(vm);
		return r;
	}
	refcount_set(&vm->refs, 1);
	mutex_init(&vm->lock);
	mutex_init(&vm->mmu_lock);
	vm->mm = current->mm;
	mmgrab(vm->mm);
	vm->id = ida_alloc(&vm_ida, GFP_KERNEL);
	atomic_inc(&shv_global.live_vms);
	if (vm->id < 0) {
		r = vm->id;
		goto put;
	}
	r = shv_mmu_vm_init(vm);
	if (r)
		goto put;
	snprintf(name, sizeof(name), "vm%d-%d", task_pid_nr(current), vm->id);
	vm->debugfs = debugfs_create_dir(name, shv_debugfs_root);
	debugfs_create_file("stats", 0444, vm->debugfs, vm, &vm_stats_fops);
	debugfs_create_file("address_spaces", 0444, vm->debugfs, vm, &vm_as_fops);
	r = shv_msr_vm_init(vm);
	if (r)
		goto put;

	fd = anon_inode_getfd("shadowvm-vm", &shv_vm_fops, vm, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		r = fd;
		goto put;
	}
	return fd;
put:
	shv_vm_put(vm);
	return r;
}
