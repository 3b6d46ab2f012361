// SPDX-License-Identifier: GPL-2.0
/*
 * Module entry: /dev/shadowvm, module-wide accounting and debugfs.
 *
 * Contract: loading fails (with the probe's errno and log line) on a CPU
 * that cannot run us. Every open fd of ours (the device, a VM, a vCPU)
 * holds a module reference, so the module cannot be unloaded while any is
 * open. Every page and object the module allocates goes through the
 * accounting helpers here, so leaks show in
 * /sys/kernel/debug/shadowvm/module and are checked by the selftests,
 * as are VMX instructions that failed or faulted (vmx_insn_fails/faults).
 * The same helpers are the module's fault-injection point:
 * /sys/kernel/debug/shadowvm/fail_nth (write N: the Nth following
 * allocation fails, once; read: allocations still to go, 0 = disarmed).
 * While loaded, the module leaves VMX operation on every CPU at reboot and
 * kexec (vmx.c's notifiers, registered here).
 */
#include <linux/module.h>
#include <linux/miscdevice.h>
#include <linux/fs.h>
#include <linux/slab.h>
#include <linux/gfp.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/preempt.h>
#include "shadowvm.h"
#include "vmx/vmx_defs.h"

struct shv_global_stats shv_global;
struct dentry *shv_debugfs_root;
static atomic_t fail_nth;
static atomic_long_t failed_allocs;

/* Injected allocation failure (debugfs fail_nth), for the selftests. */
static bool alloc_should_fail(void)
{
	if (likely(!atomic_read(&fail_nth)))
		return false;
	if (atomic_dec_if_positive(&fail_nth) != 0)
		return false;
	atomic_long_inc(&failed_allocs);
	return true;
}

struct page *shv_alloc_page(gfp_t extra)
{
	struct page *pg;

	if (alloc_should_fail())
		return NULL;
	pg = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO | extra);

	if (pg)
		atomic_long_inc(&shv_global.live_pages);
	return pg;
}

void shv_free_page(struct page *page)
{
	if (!page)
		return;
	atomic_long_dec(&shv_global.live_pages);
	__free_page(page);
}

void *shv_zalloc(size_t size)
{
	void *p;

	if (alloc_should_fail())
		return NULL;
	p = kvzalloc(size, GFP_KERNEL_ACCOUNT);

	if (p)
		atomic_long_inc(&shv_global.live_objects);
	return p;
}

void shv_kfree(const void *p)
{
	if (!p)
		return;
	atomic_long_dec(&shv_global.live_objects);
	kvfree(p);
}

static long shv_dev_ioctl(struct file *f, unsigned int ioctl, unsigned long arg)
{
	switch (ioctl) {
	case SHADOWVM_GET_API_VERSION:
		return SHADOWVM_API_VERSION;
	case SHADOWVM_CREATE_VM:
		return shv_create_vm(arg);
	case SHADOWVM_GET_VCPU_MMAP_SIZE:
		return PAGE_SIZE;
	default:
		return -ENOTTY;
	}
}

static const struct file_operations shv_dev_fops = {
	.owner		= THIS_MODULE,
	.unlocked_ioctl	= shv_dev_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.llseek		= noop_llseek,
};

static struct miscdevice shv_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "shadowvm",
	.fops	= &shv_dev_fops,
	.mode	= 0600,
};

static int module_stats_show(struct seq_file *m, void *unused)
{
	long fails, faults;

	seq_printf(m, "live_vms %d\n", atomic_read(&shv_global.live_vms));
	seq_printf(m, "live_vcpus %d\n", atomic_read(&shv_global.live_vcpus));
	seq_printf(m, "live_pages %ld\n", atomic_long_read(&shv_global.live_pages));
	seq_printf(m, "live_objects %ld\n", atomic_long_read(&shv_global.live_objects));
	seq_printf(m, "pinned_pages %ld\n", atomic_long_read(&shv_global.pinned_pages));
	seq_printf(m, "region_pins %ld\n", atomic_long_read(&shv_global.region_pins));
	seq_printf(m, "injected_alloc_failures %ld\n", atomic_long_read(&failed_allocs));
	shv_vmx_insn_errors(&fails, &faults);
	seq_printf(m, "vmx_insn_fails %ld\n", fails);
	seq_printf(m, "vmx_insn_faults %ld\n", faults);
	seq_printf(m, "vpid %d\n", shv_caps.has_vpid);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(module_stats);

static int __init shv_init(void)
{
	int r;

	r = shv_vmx_probe();
	if (r)
		return r;
	r = shv_cpuid_init();
	if (r)
		return r;
	r = shv_vmx_init();
	if (r)
		return r;
	preempt_notifier_inc();
	shv_debugfs_root = debugfs_create_dir("shadowvm", NULL);
	debugfs_create_file("module", 0444, shv_debugfs_root, NULL, &module_stats_fops);
	debugfs_create_atomic_t("fail_nth", 0600, shv_debugfs_root, &fail_nth);
	r = misc_register(&shv_misc);
	if (r) {
		pr_err(SHV_NAME ": cannot register /dev/shadowvm: %d\n", r);
		debugfs_remove_recursive(shv_debugfs_root);
		preempt_notifier_dec();
		shv_vmx_exit();
		return r;
	}
	pr_info(SHV_NAME ": loaded, API version %d\n", SHADOWVM_API_VERSION);
	return 0;
}

static void __exit shv_exit(void)
{
	misc_deregister(&shv_misc);
	debugfs_remove_recursive(shv_debugfs_root);
	preempt_notifier_dec();
	shv_vmx_exit();
	WARN_ON(atomic_long_read(&shv_global.live_pages) ||
		atomic_long_read(&shv_global.live_objects) ||
		atomic_long_read(&shv_global.pinned_pages) ||
		atomic_long_read(&shv_global.region_pins));
	pr_info(SHV_NAME ": unloaded\n");
}

module_init(shv_init);
module_exit(shv_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("shadowvm: VT-x hypervisor with shadow page tables");
MODULE_AUTHOR("shadowvm developers");
