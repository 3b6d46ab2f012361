#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# guests/minios/bochs-run.sh - developer aid: boot a minios image directly
# in Bochs (bare emulated PC: isolinux + mboot.c32, no hypervisor, no disk)
# and print its serial output. Stops at "minios: PASS"/"FAIL" or after
# TIMEOUT seconds (default 120).
#   guests/minios/bochs-run.sh [IMAGE] [minios command-line words...]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
IMG=${1:-$HERE/minios.elf}
shift || true
OUT=${OUT:-$HERE/obj-bochs}
rm -rf "$OUT"
mkdir -p "$OUT/iso/isolinux"
cp /usr/lib/ISOLINUX/isolinux.bin /usr/lib/syslinux/modules/bios/ldlinux.c32 \
	/usr/lib/syslinux/modules/bios/mboot.c32 \
	/usr/lib/syslinux/modules/bios/libcom32.c32 "$OUT/iso/isolinux/"
cp "$IMG" "$OUT/iso/minios.elf"
cat >"$OUT/iso/isolinux/isolinux.cfg" <<EOC
DEFAULT minios
PROMPT 0
TIMEOUT 0
LABEL minios
  KERNEL mboot.c32
  APPEND /minios.elf bochs_shutdown=1 $*
EOC
xorriso -as mkisofs -quiet -o "$OUT/boot.iso" -b isolinux/isolinux.bin \
	-c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table \
	"$OUT/iso" 2>/dev/null
cat >"$OUT/bochsrc" <<EOC
megs: 64
romimage: file=/usr/share/bochs/BIOS-bochs-latest, options=fastboot
vgaromimage: file=/usr/share/bochs/VGABIOS-lgpl-latest
cpu: model=${CPU_MODEL:-corei7_skylake_x}, count=1, ips=100000000, reset_on_triple_fault=0, ignore_bad_msrs=1
clock: sync=none, time0=946684800
ata0-master: type=cdrom, path=$OUT/boot.iso, status=inserted
boot: cdrom
com1: enabled=1, mode=file, dev=$OUT/serial.log
display_library: term
log: $OUT/bochs.log
panic: action=fatal
error: action=report
EOC
: >"$OUT/serial.log"
printf 'continue\nquit\n' >"$OUT/bochs.rc"
(cd "$OUT" && TERM=xterm exec timeout -k 5 "${TIMEOUT:-120}" bochs -q -f bochsrc -rc bochs.rc \
	</dev/null >bochs.stdout 2>&1) &
PID=$!
# the term display's pty must be drained or Bochs blocks
CAT=
for _ in $(seq 100); do
	PTS=$(sed -n 's/.*connected to screen "\(\/dev\/pts\/[0-9]*\)".*/\1/p' "$OUT/bochs.log" 2>/dev/null | head -n 1 || true)
	[ -n "$PTS" ] && { cat "$PTS" >/dev/null 2>&1 & CAT=$!; break; }
	sleep 0.1
done
while kill -0 $PID 2>/dev/null; do
	grep -q "minios: \(PASS\|FAIL\)" "$OUT/serial.log" 2>/dev/null && { sleep 1; break; }
	sleep 0.5
done
kill $PID 2>/dev/null || true
[ -n "$CAT" ] && kill $CAT 2>/dev/null || true
wait $PID 2>/dev/null || true
cat "$OUT/serial.log"
