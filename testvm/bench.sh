#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# testvm/bench.sh - `make bench`: like check.sh, but runs the benchmark suite
# (selftests' run_bench.sh, when installed) inside the Bochs test VM.
#
# Usage: testvm/bench.sh [boot.sh options]
# Output: streamed live (except the CSV and JSON blocks); in build/bench/:
# vm/console.log, bench.txt (the lines between the bench markers, without
# the CSV and JSON blocks), bench.csv and bench.json (the blocks of
# run_bench.sh, kernel lines removed) and bench.svg (drawn here, on the
# host, from bench.csv by selftests/bench/bench-svg.py when python3 is
# there), linux.csv (the Linux guest rows of selftests/bench/linux_bench.sh:
# the test machine's kernel booted under every policy and KVM ept=0/ept=1;
# LINUX_BENCH=0 leaves them out, LINUX_BENCH_CONFIGS picks configs,
# LINUX_BENCH_TIMEOUT limits one boot;
# MMU_BENCH=0 leaves out the MMU bench, run_bench.sh, to run only those). Environment: TESTVM_TIMEOUT (seconds, default 3600), those of
# boot.sh, and MMU_BENCH_* (RUNS, ONLY, POLICIES, PREFETCH, ROOT_CACHES,
# CAPS, SHADOW_PAGES, ROOT_CACHE, HOST_MEM, NO_KVM, KVM_EPT: see run_bench.sh),
# passed into the VM through payload/bench.env. Exit status: boot.sh's, or
# 1 when it was 0 but no CSV came back.
# Wall time in Bochs is not host time: compare runs of the same kernel,
# command line and Bochs settings only (Documentation/testvm.rst).

set -euo pipefail

# shellcheck source=testvm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OUT=$TESTVM_BUILD/bench
T0=$SECONDS

die() {
	echo "bench: FAIL: $*" >&2
	exit 1
}

cd "$TESTVM_TOP"
testvm_build runner selftests || die "build failed (see above)"
testvm_payload "$OUT/payload" selftests || die "cannot assemble the payload"
if [ ! -f "$OUT/payload/selftests/run_bench.sh" ]; then
	echo "bench: selftests install no run_bench.sh yet: nothing to run"
	exit 0
fi
cp testvm/guest-bench.sh "$OUT/payload/"
# the Linux guest rows boot the test machine's own kernel (linux_bench.sh)
cp "$TESTVM_VMLINUZ" "$OUT/payload/selftests/vmlinuz"
: >"$OUT/payload/bench.env"
for v in MMU_BENCH_RUNS MMU_BENCH_ONLY MMU_BENCH_POLICIES MMU_BENCH_PREFETCH \
	 MMU_BENCH_SHADOW_PAGES MMU_BENCH_ROOT_CACHE MMU_BENCH_NO_KVM MMU_BENCH_HOST_MEM \
	 MMU_BENCH_TICK_ALIGN \
	 MMU_BENCH_ROOT_CACHES MMU_BENCH_CAPS MMU_BENCH_KVM_EPT MMU_BENCH_BYPASS \
	 MMU_BENCH_PREFETCH_TABLE \
	 MMU_BENCH LINUX_BENCH LINUX_BENCH_CONFIGS LINUX_BENCH_APPEND LINUX_BENCH_MEM \
	 LINUX_BENCH_TIMEOUT; do
	if [ -n "${!v+set}" ]; then
		printf "export %s='%s'\n" "$v" "${!v//\'/}" >>"$OUT/payload/bench.env"
	fi
done
rm -f "$OUT/bench.txt" "$OUT/bench.csv" "$OUT/bench.json" "$OUT/bench.svg"

RC=0
bash testvm/boot.sh --payload "$OUT/payload" --script guest-bench.sh \
	--timeout "${TESTVM_TIMEOUT:-3600}" --out "$OUT/vm" \
	--no-echo MMU-BENCH-CSV-BEGIN:MMU-BENCH-JSON-END "$@" || RC=$?
# bench.txt: the bench section without the data blocks
awk 'index($0, "TESTVM-BENCH-END") == 1 { exit }
     index($0, "MMU-BENCH-CSV-BEGIN") == 1 || index($0, "MMU-BENCH-JSON-BEGIN") == 1 { skip = 1 }
     on && !skip { print }
     index($0, "MMU-BENCH-CSV-END") == 1 || index($0, "MMU-BENCH-JSON-END") == 1 { skip = 0 }
     index($0, "TESTVM-BENCH-BEGIN") == 1 { on = 1 }' \
	"$OUT/vm/console.log" >"$OUT/bench.txt" 2>/dev/null || true
# extract NAME: the lines between MMU-BENCH-NAME-BEGIN and -END, kernel
# messages ("[   12.345678] ...") left out
extract() {
	awk -v b="MMU-BENCH-$1-BEGIN" -v e="MMU-BENCH-$1-END" \
		'index($0, e) == 1 { exit }
		 on && $0 !~ /^\[ *[0-9]+\.[0-9]+\]/ { print }
		 index($0, b) == 1 { on = 1 }' "$OUT/vm/console.log" 2>/dev/null
}
extract CSV >"$OUT/bench.csv" || true
awk 'index($0, "LINUX-BENCH-CSV-END") == 1 { exit }
     on && $0 !~ /^\[ *[0-9]+\.[0-9]+\]/ { print }
     index($0, "LINUX-BENCH-CSV-BEGIN") == 1 { on = 1 }' \
	"$OUT/vm/console.log" >"$OUT/linux.csv" 2>/dev/null || true
[ -s "$OUT/linux.csv" ] || rm -f "$OUT/linux.csv"
extract JSON >"$OUT/bench.json" || true
[ -s "$OUT/bench.csv" ] || rm -f "$OUT/bench.csv"
[ -s "$OUT/bench.json" ] || rm -f "$OUT/bench.json"
if [ -f "$OUT/bench.csv" ] && command -v python3 >/dev/null; then
	python3 selftests/bench/bench-svg.py "$OUT/bench.csv" >"$OUT/bench.svg" ||
		echo "bench: could not draw bench.svg"
fi
files=bench.txt
for f in bench.csv bench.json bench.svg linux.csv; do
	[ -f "$OUT/$f" ] && files="$files, $f"
done
echo "bench: results in ${OUT#"$TESTVM_TOP"/}/: $files; wall time $(testvm_fmt_secs $((SECONDS - T0)))"
if [ "$RC" -eq 0 ] && [ "${MMU_BENCH:-1}" != 0 ] && [ ! -f "$OUT/bench.csv" ]; then
	echo "bench: FAIL: no CSV in the console log"
	RC=1
fi
exit "$RC"
