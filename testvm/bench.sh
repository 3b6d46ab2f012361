#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# testvm/bench.sh - `make bench`: like check.sh, but runs the benchmark suite
# (selftests' run_bench.sh, when installed) inside the Bochs test VM.
#
# Usage: testvm/bench.sh [boot.sh options]
# Output: streamed live; build/bench/vm/console.log, and build/bench/bench.txt
# (the lines between the bench markers). Environment: TESTVM_TIMEOUT
# (seconds, default 3600) and those of boot.sh. Exit status: boot.sh's.
# Wall time in Bochs is not host time: compare runs of the same kernel,
# command line and Bochs settings only (see testvm-notes).

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

RC=0
bash testvm/boot.sh --payload "$OUT/payload" --script guest-bench.sh \
	--timeout "${TESTVM_TIMEOUT:-3600}" --out "$OUT/vm" "$@" || RC=$?
awk 'index($0, "TESTVM-BENCH-END") == 1 { exit }
     on { print }
     index($0, "TESTVM-BENCH-BEGIN") == 1 { on = 1 }' \
	"$OUT/vm/console.log" >"$OUT/bench.txt" 2>/dev/null || true
echo "bench: results in ${OUT#"$TESTVM_TOP"/}/bench.txt; wall time $(testvm_fmt_secs $((SECONDS - T0)))"
exit "$RC"
