#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# testvm/linux-demo.sh - `make linux-demo`: build the module, the runner and
# the Linux guest's initramfs (guests/linux), boot the emulated VT-x test
# machine (Bochs) and, inside it, boot the test machine's own Debian kernel
# as a shadowvm guest (Documentation/linux.rst):
#   shadowvm run --kernel vmlinuz --initrd linux-initramfs.cpio --mem 256M \
#       --stats --append "console=ttyS0 panic=-1 shadowvm.run=workload"
# The guest boots to its busybox init, runs guests/linux/workload (fork/exec,
# anonymous memory, tmpfs, a pipeline; each phase's guest time printed) and
# powers off through the exit port; the runner prints the shadow MMU's
# counters. LINUX_DEMO_POLICY (default wp) picks the policy,
# LINUX_DEMO_RUN=hello only boots and runs uname. LINUX_DEMO_BACKEND=kvm
# boots the same image with the same runner on KVM instead (Debian's
# kvm_intel loaded with ept=LINUX_DEMO_EPT, default 0); LINUX_DEMO_APPEND
# adds to the guest's command line (e.g. "earlyprintk=serial
# ignore_loglevel" to see where a boot stops: the guest's console is
# streamed live, line by line, to the test machine's); LINUX_DEMO_SMP=N
# gives the guest N vCPUs (default 1).
#
# Usage: testvm/linux-demo.sh [boot.sh options]
# Output streamed live and kept in build/linux-demo/vm/console.log.
# Environment: TESTVM_TIMEOUT (default 1500) and those of boot.sh.
# Exit status: boot.sh's (0 when the guest's workload passed).

set -euo pipefail

# shellcheck source=testvm/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

OUT=$TESTVM_BUILD/linux-demo
T0=$SECONDS

die() {
	echo "linux-demo: FAIL: $*" >&2
	exit 1
}

cd "$TESTVM_TOP"
testvm_build runner || die "build failed (see above)"
testvm_payload "$OUT/payload" || die "cannot assemble the payload"
sh guests/linux/mkinitramfs.sh "$OUT/payload/linux-initramfs.cpio" ||
	die "cannot build the guest's initramfs"
cp "$TESTVM_VMLINUZ" "$OUT/payload/vmlinuz"
cp testvm/guest-linux-demo.sh "$OUT/payload/"
{
	echo "LINUX_DEMO_POLICY='${LINUX_DEMO_POLICY:-wp}'"
	echo "LINUX_DEMO_RUN='${LINUX_DEMO_RUN:-workload}'"
	echo "LINUX_DEMO_BACKEND='${LINUX_DEMO_BACKEND:-shadowvm}'"
	echo "LINUX_DEMO_EPT='${LINUX_DEMO_EPT:-0}'"
	echo "LINUX_DEMO_SMP='${LINUX_DEMO_SMP:-1}'"
	echo "LINUX_DEMO_APPEND='${LINUX_DEMO_APPEND//\'/}'"
} >"$OUT/payload/linux-demo.env"

# the guest kernel's own messages ("guest| [ ...] ...") are not the test
# machine's: its RETBleed/Spectre "WARNING:" lines must not fail the run
export TESTVM_IGNORE="${TESTVM_IGNORE:+$TESTVM_IGNORE|}^guest\\| "
RC=0
bash testvm/boot.sh --payload "$OUT/payload" --script guest-linux-demo.sh \
	--timeout "${TESTVM_TIMEOUT:-1500}" --out "$OUT/vm" "$@" || RC=$?
echo "linux-demo: wall time $(testvm_fmt_secs $((SECONDS - T0))); console in ${OUT#"$TESTVM_TOP"/}/vm/console.log"
if [ "$RC" = 0 ]; then
	echo "linux-demo: OK"
else
	echo "linux-demo: FAILED (status $RC)"
fi
exit "$RC"
