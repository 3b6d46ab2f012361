#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# linux_bench.sh - the Linux guest rows of `make bench` (POSIX sh; busybox
# sh in the test VM, run by testvm/guest-bench.sh after run_bench.sh).
#
# Boots one guest image, the kernel LINUX_BENCH_KERNEL with the initramfs
# LINUX_BENCH_INITRD (guests/linux), with one runner, under each config:
# every shadowvm policy, then KVM with kvm_intel ept=0 (shadow paging, the
# reference) and ept=1 (hardware-assisted paging). The guest runs
# guests/linux/workload (shadowvm.run=workload: fork/exec, anonymous memory,
# tmpfs, a pipeline) and powers off. Per config, from one run:
#   total      the test machine's time for the whole run (boot, workload,
#              power off), from its /proc/uptime: with Bochs' clock
#              sync=none this is an instruction count, deterministic
#   init       the guest's own uptime when its init started (boot-to-init)
#   fork-exec, anon, tmpfs, pipeline: the workload's phases (guest clock)
#   exits      VM exits (shadowvm: its counters; KVM: its per-VM debugfs
#              "exits", which the runner's --stats prints)
#   pf_true, pf_hidden  guest page faults that were the guest's own /
#              shadowing artifacts (KVM: pf_guest / pf_fixed)
#   ptw        emulated guest page-table writes (KVM: mmu_pte_write)
#   sp         shadow pages created (KVM: mmu_cache_miss)
#   root_hit%  CR3 loads that found their shadow root cached (shadowvm)
# and the ratios of total and boot-to-init to KVM ept=0's.
#
# Output: progress lines, the CSV between LINUX-BENCH-CSV-BEGIN and
# LINUX-BENCH-CSV-END, then the table; the last line starts with
# "linux-bench: ". Exit status: 0 when every config ran the workload to
# its end (runner status 1), 1 otherwise.
# Environment:
#   SHADOWVM_RUNNER, SHADOWVM_KO, KVM_MODULES_DIR (as for run_bench.sh)
#   LINUX_BENCH_KERNEL   default ./vmlinuz, else /boot/vmlinuz-$(uname -r)
#   LINUX_BENCH_INITRD   default ./linux-initramfs.cpio
#   LINUX_BENCH_CONFIGS  default: every policy, kvm-ept0, kvm-ept1
#   LINUX_BENCH_APPEND   extra guest command line (e.g. shadowvm.forks=200)
#   LINUX_BENCH_MEM      guest RAM, default 256M

cd "$(dirname "$0")" || exit 1
RUNNER=${SHADOWVM_RUNNER:-./shadowvm}
KERNEL=${LINUX_BENCH_KERNEL:-./vmlinuz}
[ -f "$KERNEL" ] || KERNEL=/boot/vmlinuz-$(uname -r)
INITRD=${LINUX_BENCH_INITRD:-./linux-initramfs.cpio}
MEM=${LINUX_BENCH_MEM:-256M}
CONFIGS=${LINUX_BENCH_CONFIGS:-$(./mmu_bench policies) kvm-ept0 kvm-ept1}
RES=${TMPDIR:-/tmp}/linux-bench.$$
status=0

say() {
	echo "linux-bench: $*"
}

for f in "$RUNNER" "$KERNEL" "$INITRD"; do
	[ -f "$f" ] || { say "FAIL: $f is missing"; exit 1; }
done
mkdir -p "$RES" || exit 1

up() {
	cut -d' ' -f1 /proc/uptime
}

# value of "name N" in a --stats dump, or 0
stat_of() {
	awk -v n="$2" '$1 == n { print $2; f = 1; exit } END { if (!f) print 0 }' "$1"
}

# guest phase time "workload: NAME ... S s" or "-"
phase_of() {
	awk -v n="$2" 'index($0, "workload: " n) == 1 { v = $(NF - 1) } END { print v == "" ? "-" : v }' "$1"
}

# kvm_load, kvm_unload (shared with run_bench.sh)
if [ -f ./kvm_modules.sh ]; then
	# shellcheck disable=SC1091
	. ./kvm_modules.sh
else
	# shellcheck disable=SC1091
	. ./bench/kvm_modules.sh
fi

# kvm_config_load EPT: kvm_intel with ept=EPT, nothing else holding VT-x
kvm_config_load() {
	rmmod shadowvm 2>/dev/null
	kvm_load "$1"
}

shadowvm_load() {
	kvm_unload
	[ -e /dev/shadowvm ] || insmod "${SHADOWVM_KO:-/payload/shadowvm.ko}"
}

echo "LINUX-BENCH-CSV-BEGIN" >"$RES/csv"
echo "config,total_s,init_s,fork_exec_s,anon_s,tmpfs_s,pipeline_s,exits,pf_true,pf_hidden,ptw,sp,root_hit_pct,status" >>"$RES/csv"
for c in $CONFIGS; do
	case $c in
	kvm-ept0|kvm-ept1)
		if ! kvm_config_load "${c#kvm-ept}"; then
			say "FAIL: cannot load kvm_intel with ept=${c#kvm-ept}"
			status=1
			continue
		fi
		set -- --backend kvm
		;;
	*)
		if ! shadowvm_load; then
			say "FAIL: cannot load shadowvm"
			status=1
			continue
		fi
		set -- --policy "$c"
		;;
	esac
	echo "# $c: booting $KERNEL"
	t0=$(up)
	"$RUNNER" run --kernel "$KERNEL" --initrd "$INITRD" --mem "$MEM" \
		--stats "$@" --append \
		"console=ttyS0 panic=-1 shadowvm.run=workload ${LINUX_BENCH_APPEND:-}" \
		</dev/null >"$RES/$c.out" 2>"$RES/$c.err"
	st=$?
	t1=$(up)
	total=$(echo "$t1 $t0" | awk '{ printf "%.2f", $1 - $2 }')
	init=$(awk '/^init: up at/ { print $4; exit }' "$RES/$c.out")
	case $c in
	kvm-*)
		# KVM's per-VM counters, read by the runner before the VM
		# goes (the global debugfs files only sum live VMs)
		exits=$(stat_of "$RES/$c.err" exits)
		pft=$(stat_of "$RES/$c.err" pf_guest)
		pfh=$(stat_of "$RES/$c.err" pf_fixed)
		ptw=$(stat_of "$RES/$c.err" mmu_pte_write)
		sp=$(stat_of "$RES/$c.err" mmu_cache_miss)
		hit=-
		;;
	*)
		exits=$(awk '$1 ~ /^exit_/ { s += $2 } END { print s + 0 }' "$RES/$c.err")
		pft=$(stat_of "$RES/$c.err" pf_true)
		pfh=$(stat_of "$RES/$c.err" pf_hidden)
		ptw=$(stat_of "$RES/$c.err" pf_hidden_pt_write)
		sp=$(stat_of "$RES/$c.err" sp_created)
		hit=$(awk '$1 == "root_hits" { h = $2 } $1 == "root_misses" { m = $2 }
			END { if (h + m) printf "%.1f", 100 * h / (h + m); else print "-" }' "$RES/$c.err")
		;;
	esac
	if [ "$st" != 1 ]; then
		say "FAIL: $c: runner status $st (1 = the workload passed); the guest's last lines:"
		tail -n 15 "$RES/$c.out"
		tail -n 5 "$RES/$c.err"
		status=1
	fi
	row="$c,$total,${init:--},$(phase_of "$RES/$c.out" fork-exec),$(phase_of "$RES/$c.out" anon),$(phase_of "$RES/$c.out" tmpfs),$(phase_of "$RES/$c.out" pipeline),$exits,$pft,$pfh,$ptw,$sp,$hit,$st"
	echo "$row" >>"$RES/csv"
	# the row at once too: a run cut short keeps the configs done
	echo "# $c: ${total} s, status $st, row $row"
done
kvm_unload
shadowvm_load
echo "LINUX-BENCH-CSV-END" >>"$RES/csv"
cat "$RES/csv"

# the table, with total and init relative to kvm-ept0
awk -F, '
	NR == 2 { next }
	/^LINUX-BENCH/ { next }
	{ n++; row[n] = $0; if ($1 == "kvm-ept0") { kt = $2; ki = $3 } }
	END {
		printf "%-10s %9s %6s %8s %7s %6s %6s %9s %8s %9s %8s %7s %6s %6s\n",
			"config", "total s", "vs kvm", "init s", "vs kvm", "fork", "anon",
			"pipeline", "exits", "pf_true", "pf_hidden", "ptw", "sp", "root%"
		for (i = 1; i <= n; i++) {
			split(row[i], f, ",")
			rt = (kt > 0 && f[2] > 0) ? sprintf("%.2f", f[2] / kt) : "-"
			ri = (ki > 0 && f[3] > 0) ? sprintf("%.2f", f[3] / ki) : "-"
			printf "%-10s %9s %6s %8s %7s %6s %6s %9s %8s %9s %8s %7s %6s %6s\n",
				f[1], f[2], rt, f[3], ri, f[4], f[5], f[7], f[8], f[9],
				f[10], f[11], f[12], f[13]
		}
	}' "$RES/csv"
rm -rf "$RES"
[ "$status" = 0 ] && say "OK: $(echo "$CONFIGS" | wc -w) configs" || say "FAILED"
exit "$status"
