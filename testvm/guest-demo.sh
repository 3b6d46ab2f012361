#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# testvm/guest-demo.sh - the `make demo` script run INSIDE the test VM
# (busybox sh): load shadowvm.ko and run the demo guest with its stats.
# On failure, the end of dmesg is printed too.

insmod /payload/shadowvm.ko && /payload/shadowvm run /payload/demo.bin --stats
st=$?
if [ "$st" -eq 0 ]; then
	# a small guest OS: 8 processes with their own page tables
	echo
	/payload/shadowvm run /payload/mmu_demo.bin --mem 16M --stats
	st=$?
fi
if [ "$st" -ne 0 ]; then
	echo "demo: failed with status $st; end of dmesg:"
	dmesg | tail -n 30
fi
exit $st
