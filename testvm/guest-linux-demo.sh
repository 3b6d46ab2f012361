#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# testvm/guest-linux-demo.sh - the `make linux-demo` script run INSIDE the
# test VM (busybox sh): load shadowvm.ko and boot the test machine's kernel
# as a guest with the guests/linux initramfs, under LINUX_DEMO_POLICY,
# running LINUX_DEMO_RUN (workload or hello), with the runner's counters.
# The guest ends through the exit port with its workload's status: the
# runner's status 1 means it passed ((0 << 1) | 1).

# shellcheck disable=SC1091
. /payload/linux-demo.env
insmod /payload/shadowvm.ko || exit 1
t0=$(cut -d' ' -f1 /proc/uptime)
# The guest's console is prefixed with "guest| ": its kernel messages are
# not the test machine's, whose console the harness scans for problems.
{
	/payload/shadowvm run --kernel /payload/vmlinuz \
		--initrd /payload/linux-initramfs.cpio --mem 256M --stats \
		--policy "$LINUX_DEMO_POLICY" --smp "${LINUX_DEMO_SMP:-1}" \
		--append "console=ttyS0 panic=-1 shadowvm.run=$LINUX_DEMO_RUN"
	echo $? >/tmp/linux-demo.status
} | sed 's/^/guest| /'
st=$(cat /tmp/linux-demo.status)
t1=$(cut -d' ' -f1 /proc/uptime)
echo "linux-demo: the guest ran $(echo "$t1 $t0" | awk '{printf "%.2f", $1 - $2}') s of the test machine's (instruction-clock) time, runner status $st"
if [ "$st" -eq 1 ]; then
	echo "linux-demo: the Linux guest passed"
	exit 0
fi
echo "linux-demo: the Linux guest failed (runner status $st); end of dmesg:"
dmesg | tail -n 30
exit 1
