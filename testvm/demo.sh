#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# testvm/demo.sh - `make demo`: build the module and the runner, boot the
# emulated VT-x test machine (Bochs) and run the demo guest in it:
#   insmod /payload/shadowvm.ko && /payload/shadowvm run /payload/demo.bin --stats
# then mmu_demo.bin and the mini-OS guests/minios/minios.elf (with --stats).
#
# Usage: testvm/demo.sh [boot.sh options, e.g. --cpu-model core2_penryn_t9600]
#
# demo.bin comes from `make -C userspace-tool demo`. The guest's output and
# stats are streamed live; everything is kept in build/demo/vm/console.log.
# Environment: TESTVM_TIMEOUT (seconds, default 900) and those of boot.sh.
# Exit status: testvm/boot.sh's (0 when the demo ran and the kernel stayed
# clean).

set -euo pipefail

# shellcheck source=testvm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OUT=$TESTVM_BUILD/demo
T0=$SECONDS

die() {
	echo "demo: FAIL: $*" >&2
	exit 1
}

cd "$TESTVM_TOP"
testvm_build runner || die "build failed (see above)"
make -C userspace-tool demo STATIC=1 || die "'make -C userspace-tool demo' failed"
[ -f userspace-tool/demo.bin ] || die "userspace-tool/demo.bin was not built"
testvm_payload "$OUT/payload" || die "cannot assemble the payload"
make -C guests/minios || die "'make -C guests/minios' failed"
cp userspace-tool/demo.bin userspace-tool/mmu_demo.bin testvm/guest-demo.sh \
	guests/minios/minios.elf "$OUT/payload/"

RC=0
bash testvm/boot.sh --payload "$OUT/payload" --script guest-demo.sh \
	--timeout "${TESTVM_TIMEOUT:-900}" --out "$OUT/vm" "$@" || RC=$?
echo "demo: wall time $(testvm_fmt_secs $((SECONDS - T0))); console in ${OUT#"$TESTVM_TOP"/}/vm/console.log"
if [ "$RC" = 0 ]; then
	echo "demo: OK"
else
	echo "demo: FAILED (status $RC)"
fi
exit "$RC"
