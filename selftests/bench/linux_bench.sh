#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# linux_bench.sh - the Linux guest rows of `make bench` (POSIX sh; busybox
# sh in the test VM, run by testvm/guest-bench.sh after run_bench.sh).
#
# Boots one guest image, the kernel LINUX_BENCH_KERNEL with the initramfs
# LINUX_BENCH_INITRD (guests/linux), with one runner, under each config:
# every shadowvm policy, then KVM with kvm_intel ept=0 (shadow paging, the
# reference) and ept=1 (hardware-assisted paging) with one vCPU, then
# every policy with two (KVM with two when named). A config is NAME (one vCPU) or NAME/N (--smp N), NAME a
# policy, kvm-ept0 or kvm-ept1; the rows run in the order given. The
# guest runs
# guests/linux/workload (shadowvm.run=workload: fork/exec, anonymous memory,
# tmpfs, a pipeline; the work split over the guest's CPUs) and powers
# off. Per config, from one run:
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
#   cpus       the CPUs the guest's workload found online
#   busy       each guest CPU's busy 10 ms ticks during the workload
#              (/proc/stat), e.g. "cpu0=80 cpu1=75": did the work spread
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
#   LINUX_BENCH_CONFIGS  default: every policy, kvm-ept0, kvm-ept1, then
#                        every policy /2 (two vCPUs); kvm-ept0/2 and
#                        kvm-ept1/2 only when named (in the one-CPU test
#                        machine both hung it)
#   LINUX_BENCH_TIMEOUT  seconds (of the test machine's clock) one boot
#                        may take before it is stopped (SIGTERM: the
#                        runner still prints its counters), default 600
#   LINUX_BENCH_APPEND   extra guest command line (e.g. shadowvm.forks=200)
#   LINUX_BENCH_MEM      guest RAM, default 256M

cd "$(dirname "$0")" || exit 1
RUNNER=${SHADOWVM_RUNNER:-./shadowvm}
KERNEL=${LINUX_BENCH_KERNEL:-./vmlinuz}
[ -f "$KERNEL" ] || KERNEL=/boot/vmlinuz-$(uname -r)
INITRD=${LINUX_BENCH_INITRD:-./linux-initramfs.cpio}
MEM=${LINUX_BENCH_MEM:-256M}
if [ -z "${LINUX_BENCH_CONFIGS:-}" ]; then
	# KVM with two vCPUs only when asked: in the one-CPU test machine
	# kvm-ept0/2 and kvm-ept1/2 stopped the machine's heartbeat for good
	# (2026-12-01, 2026-12-02)
	LINUX_BENCH_CONFIGS="$(./mmu_bench policies) kvm-ept0 kvm-ept1 $(for c in $(./mmu_bench policies); do printf '%s/2 ' "$c"; done)"
fi
CONFIGS=$LINUX_BENCH_CONFIGS
LIMIT=${LINUX_BENCH_TIMEOUT:-600}
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
echo "config,total_s,init_s,fork_exec_s,anon_s,tmpfs_s,pipeline_s,exits,pf_true,pf_hidden,ptw,sp,root_hit_pct,status,vcpus,cpus,busy" >>"$RES/csv"
# the runner under "timeout" when there is one (busybox's or coreutils')
if command -v timeout >/dev/null 2>&1; then
	TMO="timeout $LIMIT"
else
	TMO=
fi
for cn in $CONFIGS; do
	c=${cn%%/*}
	n=1
	[ "$c" = "$cn" ] || n=${cn#*/}
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
	c=$(echo "$cn" | tr / -)	# file names
	echo "# $cn: booting $KERNEL with $n vCPU(s) at $(up) s"
	t0=$(up)
	$TMO "$RUNNER" run --kernel "$KERNEL" --initrd "$INITRD" --mem "$MEM" \
		--smp "$n" --stats "$@" --append \
		"console=ttyS0 panic=-1 shadowvm.run=workload ${LINUX_BENCH_APPEND:-}" \
		</dev/null >"$RES/$c.out" 2>"$RES/$c.err"
	st=$?
	t1=$(up)
	total=$(echo "$t1 $t0" | awk '{ printf "%.2f", $1 - $2 }')
	init=$(awk '/^init: up at/ { print $4; exit }' "$RES/$c.out")
	case $cn in
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
		exits=$(stat_of "$RES/$c.err" exits_total)
		pft=$(stat_of "$RES/$c.err" pf_true)
		pfh=$(stat_of "$RES/$c.err" pf_hidden)
		ptw=$(stat_of "$RES/$c.err" pf_hidden_pt_write)
		sp=$(stat_of "$RES/$c.err" sp_created)
		hit=$(awk '$1 == "root_hits" { h = $2 } $1 == "root_misses" { m = $2 }
			END { if (h + m) printf "%.1f", 100 * h / (h + m); else print "-" }' "$RES/$c.err")
		;;
	esac
	if [ "$st" != 1 ]; then
		say "FAIL: $cn: runner status $st (1 = the workload passed; 124 with a timeout of $LIMIT s: the guest's reset, or the limit); the guest's last lines:"
		tail -n 15 "$RES/$c.out"
		tail -n 5 "$RES/$c.err"
		status=1
	fi
	cpus=$(awk '/^workload: [0-9]+ CPUs online/ { print $2; exit }' "$RES/$c.out")
	busy=$(awk 'index($0, "workload: cpu busy ") == 1 { $1 = $2 = $3 = ""; $NF = ""; gsub(/^ +| +$/, ""); print; exit }' "$RES/$c.out")
	row="$cn,$total,${init:--},$(phase_of "$RES/$c.out" fork-exec),$(phase_of "$RES/$c.out" anon),$(phase_of "$RES/$c.out" tmpfs),$(phase_of "$RES/$c.out" pipeline),$exits,$pft,$pfh,$ptw,$sp,$hit,$st,$n,${cpus:--},${busy:--}"
	echo "$row" >>"$RES/csv"
	# the row at once too: a run cut short keeps the configs done
	echo "# $cn: ${total} s, status $st, row $row"
	# the guest's own lines (CPUs, phases, busy ticks) and the runner's
	# counters, for the record
	grep -E '^(workload|init|memtouch):|Brought up|smp:' "$RES/$c.out" | sed "s|^|# $cn guest: |"
	grep -E '^ *[a-z_0-9]+ +[0-9]+$' "$RES/$c.err" | awk -v c="$cn" '$2 != 0 { printf "# %s stat: %s %s\n", c, $1, $2 }'
done
kvm_unload
shadowvm_load
echo "LINUX-BENCH-CSV-END" >>"$RES/csv"
cat "$RES/csv"

# the table, with total and init relative to kvm-ept0 with as many vCPUs
awk -F, '
	NR == 2 { next }
	/^LINUX-BENCH/ { next }
	{
		n++; row[n] = $0
		split($1, k, "/")
		if (k[1] == "kvm-ept0") { kt[$15] = $2; ki[$15] = $3 }
	}
	END {
		printf "%-10s %5s %8s %6s %6s %6s %5s %5s %5s %8s %7s %9s %7s %6s %5s  %s\n",
			"config", "vcpus", "total s", "vs kvm", "init s", "vs kvm", "fork", "anon",
			"pipe", "exits", "pf_true", "pf_hidden", "ptw", "sp", "root%", "busy"
		for (i = 1; i <= n; i++) {
			split(row[i], f, ",")
			v = f[15]
			rt = (kt[v] > 0 && f[2] > 0) ? sprintf("%.2f", f[2] / kt[v]) : "-"
			ri = (ki[v] > 0 && f[3] > 0) ? sprintf("%.2f", f[3] / ki[v]) : "-"
			printf "%-10s %5s %8s %6s %6s %6s %5s %5s %5s %8s %7s %9s %7s %6s %5s  %s\n",
				f[1], f[16] "/" v, f[2], rt, f[3], ri, f[4], f[5], f[7], f[8], f[9],
				f[10], f[11], f[12], f[13], f[17]
		}
	}' "$RES/csv"
rm -rf "$RES"
[ "$status" = 0 ] && say "OK: $(echo "$CONFIGS" | wc -w) configs" || say "FAILED"
exit "$status"
