#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# testvm/guest-demo.sh - the `make demo` script run INSIDE the test VM
# (busybox sh): load shadowvm.ko and run the demo guest with its stats.
# Then the mini-OS (guests/minios): 8 preempted processes with their own
# address spaces, demand paging, COW fork and DMA-disk I/O; it ends by
# writing 0 to the exit port, so the runner exits (0 << 1) | 1 = 1.
# On failure, the end of dmesg is printed too.

insmod /payload/shadowvm.ko && /payload/shadowvm run /payload/demo.bin --stats
st=$?
if [ "$st" -eq 0 ]; then
	# a small guest OS: 8 processes with their own page tables
	echo
	/payload/shadowvm run /payload/mmu_demo.bin --mem 16M --stats
	st=$?
fi
if [ "$st" -eq 0 ]; then
	echo
	dd if=/dev/zero of=/tmp/minios-disk.img bs=1024 count=1024 2>/dev/null
	/payload/shadowvm run /payload/minios.elf --mem 32M --stats \
		--disk /tmp/minios-disk.img \
		--append "procs=8 rounds=2 pages=32 timer=250000"
	st=$?
	if [ "$st" -eq 1 ]; then
		echo "demo: the mini-OS passed (exit port value 0)"
		st=0
	else
		echo "demo: the mini-OS failed (runner status $st)"
		[ "$st" -eq 0 ] && st=1
	fi
fi
if [ "$st" -ne 0 ]; then
	echo "demo: failed with status $st; end of dmesg:"
	dmesg | tail -n 30
fi
exit $st
