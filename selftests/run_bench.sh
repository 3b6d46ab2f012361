#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# run_bench.sh - the shadow-MMU benchmark (POSIX sh; busybox sh in the test
# VM, where testvm/guest-bench.sh runs it for `make bench`).
#
# Runs mmu_bench's workloads on shadowvm under each MMU policy (every one
# mmu_bench knows), then the default policy again with other prefetch
# windows (configs wp-pfN), then on KVM from the same guest code, with
# kvm_intel loaded with ept=0 by this script when it can. Each cell is
# MMU_BENCH_RUNS runs (fresh VMs); the report gives their median, min and
# max. VMXON is exclusive: shadowvm is unloaded before KVM runs (if this
# script loaded it) and KVM is unloaded afterwards (if this script loaded
# it).
#
# KVM honesty: the KVM rows are labelled by the ept parameter kvm_intel
# actually has (kvm-ept0, kvm-ept1). When kvm_intel is already loaded with
# ept=1, the script unloads it and loads it with ept=0 if it can (no KVM VM
# alive, modules at hand); if KVM is missing or stays at ept=1, a line
# "mmu-bench: FAIL: ..." says so and the exit status is 1. Only kvm-ept0
# rows are used for the vs-kvm ratios.
#
# Output: progress lines ("# ..."), then the CSV between the lines
# MMU-BENCH-CSV-BEGIN and MMU-BENCH-CSV-END, the JSON between
# MMU-BENCH-JSON-BEGIN and MMU-BENCH-JSON-END (testvm/bench.sh copies both
# to build/bench/), then the table; the last line starts with "mmu-bench: ".
# Environment:
#   SHADOWVM_KO       shadowvm.ko to insmod when the module is not loaded
#   KVM_MODULES_DIR   irqbypass.ko, kvm.ko, kvm-intel.ko (.ko.xz/.zst too);
#                     without it KVM is loaded by modprobe when
#                     MMU_BENCH_MODPROBE=1, else it fails as missing
#   MMU_BENCH_POLICIES  default: every policy ("mmu_bench policies")
#   MMU_BENCH_PREFETCH  prefetch windows for the extra wp-pfN configs,
#                       default "0 16" ("" for none); the other configs run
#                       with the module's default window
#   MMU_BENCH_ROOT_CACHES  root-cache sizes for extra wp-rcN configs,
#                       default "256" ("" for none)
#   MMU_BENCH_PREFETCH_TABLE  1 (default): an extra wp-nopt config, the
#                       module's prefetch_table off (no table prefetch when
#                       a fault creates a leaf shadow page); 0: none
#   MMU_BENCH_BYPASS    1 (default): an extra wp-bypass config, VMs with
#                       SHADOWVM_VM_GUEST_PF_BYPASS; 0: none
#   MMU_BENCH_CAPS      shadow-page caps for extra wp-capN configs, default
#                       "kvm" (KVM's default cap for the bench's VMs, config
#                       wp-capkvm; "" for none)
#   MMU_BENCH_NO_KVM=1  skip KVM on purpose (no reference, no failure)
#   MMU_BENCH_KVM_EPT=1 load kvm_intel with ept=1 instead (and keep an ept=1
#                       one): rows kvm-ept1, no vs-kvm, and the FAIL above
#   MMU_BENCH_RUNS, MMU_BENCH_ONLY, MMU_BENCH_SHADOW_PAGES,
#   MMU_BENCH_ROOT_CACHE, MMU_BENCH_HOST_MEM, MMU_BENCH_TICK_ALIGN: passed
#                     to mmu_bench (see its header; HOST_MEM=cold for
#                     sections that fault the host memory in, TICK_ALIGN=0
#                     for sections started at any phase of the tick)
# Exit status: 0 when every configuration ran on every workload and KVM ran
# with ept=0, 1 otherwise.

cd "$(dirname "$0")" || exit 1
RES=${TMPDIR:-/tmp}/mmu-bench.$$
POLICIES=${MMU_BENCH_POLICIES:-$(./mmu_bench policies)}
PREFETCH=${MMU_BENCH_PREFETCH-0 16}
ROOT_CACHES=${MMU_BENCH_ROOT_CACHES-256}
CAPS=${MMU_BENCH_CAPS-kvm}
PF_PARAM=/sys/module/shadowvm/parameters/prefetch
status=0
fails=""
: >"$RES"

fail() {
	echo "mmu-bench: FAIL: $*"
	fails="$fails
mmu-bench: FAIL: $*"
	status=1
}

if [ ! -e /sys/kernel/debug/shadowvm ] && [ -d /sys/kernel/debug ] &&
   ! grep -q " /sys/kernel/debug debugfs" /proc/mounts 2>/dev/null; then
	mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
fi
echo "# mmu_bench: runs per cell: ${MMU_BENCH_RUNS:-3}; workloads: ${MMU_BENCH_ONLY:-all}"

# ---- shadowvm ----
loaded_svm=0
if [ ! -e /sys/module/shadowvm/initstate ] && [ -n "$SHADOWVM_KO" ]; then
	insmod "$SHADOWVM_KO" && loaded_svm=1
fi
i=0
while [ ! -c /dev/shadowvm ] && [ -r /sys/class/misc/shadowvm/dev ] && [ $i -lt 20 ]; do
	sleep 1
	i=$((i + 1))
done
if [ ! -c /dev/shadowvm ] && [ -r /sys/class/misc/shadowvm/dev ]; then
	dev=$(cat /sys/class/misc/shadowvm/dev)
	mknod /dev/shadowvm c "${dev%%:*}" "${dev##*:}"
fi
if [ -c /dev/shadowvm ]; then
	for p in $POLICIES; do
		echo "# mmu_bench: shadowvm, $p policy"
		./mmu_bench run shadowvm "$p" >>"$RES" || fail "shadowvm $p: some runs failed (see above)"
	done
	if [ -n "$PREFETCH" ] && [ -w "$PF_PARAM" ]; then
		pf_default=$(cat "$PF_PARAM")
		for w in $PREFETCH; do
			echo "# mmu_bench: shadowvm, wp policy, prefetch $w"
			echo "$w" >"$PF_PARAM"
			./mmu_bench run shadowvm wp "wp-pf$w" >>"$RES" ||
				fail "shadowvm wp-pf$w: some runs failed (see above)"
		done
		echo "$pf_default" >"$PF_PARAM"
	fi
	PT_PARAM=/sys/module/shadowvm/parameters/prefetch_table
	if [ "${MMU_BENCH_PREFETCH_TABLE:-1}" = 1 ] && [ -w "$PT_PARAM" ]; then
		pt_default=$(cat "$PT_PARAM")
		echo "# mmu_bench: shadowvm, wp policy, no table prefetch"
		echo N >"$PT_PARAM"
		./mmu_bench run shadowvm wp wp-nopt >>"$RES" ||
			fail "shadowvm wp-nopt: some runs failed (see above)"
		echo "$pt_default" >"$PT_PARAM"
	fi
	for n in $ROOT_CACHES; do
		echo "# mmu_bench: shadowvm, wp policy, root cache $n"
		MMU_BENCH_ROOT_CACHE=$n ./mmu_bench run shadowvm wp "wp-rc$n" >>"$RES" ||
			fail "shadowvm wp-rc$n: some runs failed (see above)"
	done
	for n in $CAPS; do
		echo "# mmu_bench: shadowvm, wp policy, shadow-page cap $n"
		MMU_BENCH_SHADOW_PAGES=$n ./mmu_bench run shadowvm wp "wp-cap$n" >>"$RES" ||
			fail "shadowvm wp-cap$n: some runs failed (see above)"
	done
	if [ "${MMU_BENCH_BYPASS:-1}" = 1 ]; then
		echo "# mmu_bench: shadowvm, wp policy, guest #PF bypass"
		SVMTEST_PF_BYPASS=1 ./mmu_bench run shadowvm wp wp-bypass >>"$RES" ||
			fail "shadowvm wp-bypass: some runs failed (see above)"
	fi
else
	fail "no /dev/shadowvm: shadowvm skipped"
fi
[ $loaded_svm -eq 1 ] && rmmod shadowvm

# ---- KVM, ept=0 ----
# kvm_load, kvm_ept_is_on, kvm_unload (shared with linux_bench.sh)
if [ -f ./kvm_modules.sh ]; then
	# shellcheck disable=SC1091
	. ./kvm_modules.sh
else
	# shellcheck disable=SC1091
	. ./bench/kvm_modules.sh
fi
KVM_EPT=0
[ "$MMU_BENCH_KVM_EPT" = 1 ] && KVM_EPT=1

if [ "$MMU_BENCH_NO_KVM" = 1 ]; then
	echo "# mmu_bench: KVM skipped (MMU_BENCH_NO_KVM=1): no reference"
else
	[ -e /sys/module/kvm_intel ] && ! kvm_has_ept $KVM_EPT &&
		echo "# mmu_bench: kvm_intel is loaded with another ept value: reloading it with ept=$KVM_EPT"
	kvm_load $KVM_EPT || echo "# mmu_bench: cannot load kvm_intel with ept=$KVM_EPT (in use? no modules?)"
	if [ -e /sys/module/kvm_intel ] && [ -c /dev/kvm ]; then
		echo "# mmu_bench: KVM, kvm_intel ept=$(cat "$KVM_EPT_PARAM" 2>/dev/null)"
		kvm_ept_is_on && fail "kvm_intel has ept=1: the KVM rows are labelled kvm-ept1 and are no shadow-paging reference"
		./mmu_bench run kvm >>"$RES" || fail "KVM: some runs failed or not ept=0 (see above)"
	else
		fail "KVM not available (no kvm_intel module or no /dev/kvm; set KVM_MODULES_DIR or MMU_BENCH_MODPROBE=1): no reference rows"
	fi
	[ "$KVM_LOADED" = 1 ] && kvm_unload
fi

echo "MMU-BENCH-CSV-BEGIN"
./mmu_bench report --csv "$RES"
echo "MMU-BENCH-CSV-END"
echo "MMU-BENCH-JSON-BEGIN"
./mmu_bench report --json "$RES"
echo "MMU-BENCH-JSON-END"
if [ -n "$fails" ]; then
	./mmu_bench report "$RES" | sed '$d'
	echo "$fails" | sed '1d'
	./mmu_bench report "$RES" | sed -n '$p'
else
	./mmu_bench report "$RES"
fi
rm -f "$RES"
exit $status
