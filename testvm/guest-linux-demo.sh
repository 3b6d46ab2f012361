#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# testvm/guest-linux-demo.sh - the `make linux-demo` script run INSIDE the
# test VM (busybox sh): load shadowvm.ko and boot the test machine's kernel
# as a guest with the guests/linux initramfs, under LINUX_DEMO_POLICY,
# running LINUX_DEMO_RUN (workload or hello), with the runner's counters;
# LINUX_DEMO_BACKEND=kvm: on KVM instead (kvm_intel ept=LINUX_DEMO_EPT),
# LINUX_DEMO_APPEND: more guest command line; LINUX_DEMO_SMP: vCPUs.
# The guest ends through the exit port with its workload's status: the
# runner's status 1 means it passed ((0 << 1) | 1).

# shellcheck disable=SC1091
. /payload/linux-demo.env
if [ "$LINUX_DEMO_BACKEND" = kvm ]; then
	insmod /payload/kvm/irqbypass.ko
	insmod /payload/kvm/kvm.ko
	insmod /payload/kvm/kvm-intel.ko ept="$LINUX_DEMO_EPT" || exit 1
	echo "linux-demo: KVM, kvm_intel ept=$(cat /sys/module/kvm_intel/parameters/ept)"
	set -- --backend kvm
	# KVM's counters every 30 s of the test machine's time, to see
	# where a boot crawls
	(
		cd /sys/kernel/debug/kvm 2>/dev/null || exit 0
		while sleep 30; do
			line=
			for c in exits irq_exits halt_exits io_exits mmio_exits \
				 pf_fixed pf_guest irq_injections insn_emulation \
				 hypercalls request_irq_exits signal_exits; do
				[ -f "$c" ] && line="$line $c=$(cat "$c")"
			done
			echo "linux-demo: t=$(cut -d' ' -f1 /proc/uptime)$line"
		done
	) &
	watcher=$!
else
	insmod /payload/shadowvm.ko || exit 1
	set -- --policy "$LINUX_DEMO_POLICY"
fi
t0=$(cut -d' ' -f1 /proc/uptime)
# The guest's console is prefixed with "guest| ": its kernel messages are
# not the test machine's, whose console the harness scans for problems.
{
	/payload/shadowvm run --kernel /payload/vmlinuz \
		--initrd /payload/linux-initramfs.cpio --mem 256M --stats \
		--smp "${LINUX_DEMO_SMP:-1}" \
		"$@" --append "console=ttyS0 panic=-1 shadowvm.run=$LINUX_DEMO_RUN $LINUX_DEMO_APPEND" </dev/null
	echo $? >/tmp/linux-demo.status
} | sed 's/^/guest| /'
st=$(cat /tmp/linux-demo.status)
[ -n "${watcher:-}" ] && kill "$watcher" 2>/dev/null
t1=$(cut -d' ' -f1 /proc/uptime)
echo "linux-demo: the guest ran $(echo "$t1 $t0" | awk '{printf "%.2f", $1 - $2}') s of the test machine's (instruction-clock) time, runner status $st"
if [ "$st" -eq 1 ]; then
	echo "linux-demo: the Linux guest passed"
	exit 0
fi
echo "linux-demo: the Linux guest failed (runner status $st); end of dmesg:"
dmesg | tail -n 30
exit 1
