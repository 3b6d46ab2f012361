#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
#
# bench-svg.py - the chart of `make bench`: reads the CSV of
# "mmu_bench report --csv" (build/bench/bench.csv) and writes an SVG of the
# vs_kvm column (median guest cycles of a config / kvm-ept0's) per workload,
# one bar per shadowvm config, on a log scale with 1.0 (KVM's speed) marked.
# Python 3 standard library only; runs on the host.
#
# Usage: bench-svg.py BENCH.CSV > BENCH.SVG
# Exit status: 0, or 1 when the CSV cannot be read (an SVG saying so is
# still written when the CSV has no ratios, e.g. no kvm-ept0 rows).

import csv
import math
import sys
from xml.sax.saxutils import escape

COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
          "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]


def main():
    if len(sys.argv) != 2:
        sys.stderr.write("usage: bench-svg.py BENCH.CSV > BENCH.SVG\n")
        return 2
    try:
        with open(sys.argv[1], newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, csv.Error) as e:
        sys.stderr.write("bench-svg: %s\n" % e)
        return 1
    works, configs, ratio = [], [], {}
    for r in rows:
        w, c = r.get("workload", ""), r.get("config", "")
        if not w or not c or c.startswith("kvm-"):
            continue
        if w not in works:
            works.append(w)
        if c not in configs:
            configs.append(c)
        try:
            ratio[(w, c)] = float(r.get("vs_kvm") or "")
        except ValueError:
            pass
    vals = [v for v in ratio.values() if v > 0]
    out = sys.stdout
    if not vals:
        out.write('<svg xmlns="http://www.w3.org/2000/svg" width="600" height="60">'
                  '<text x="10" y="35" font-family="sans-serif" font-size="14">'
                  'mmu_bench: no vs-kvm ratios (no kvm-ept0 reference rows)</text></svg>\n')
        return 0
    lo = min(0.5, min(vals))
    hi = max(2.0, max(vals))
    dlo = math.floor(math.log10(lo))
    dhi = math.ceil(math.log10(hi))
    if dhi == dlo:
        dhi += 1
    bar, gap, left, top, ph = 9, 14, 70, 40, 360
    gw = bar * len(configs) + gap
    width = max(760, left + gw * len(works) + 20)
    legend_y = top + ph + 130
    height = legend_y + 20 * ((len(configs) + 3) // 4) + 20

    def y(v):
        return top + ph - (math.log10(v) - dlo) / (dhi - dlo) * ph

    modes = sorted({r.get('host_mem') or '' for r in rows} - {''})
    hostmem = '; host memory ' + '/'.join(modes) if modes else ''
    p = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
         'font-family="sans-serif" font-size="11">' % (width, height),
         '<rect width="100%" height="100%" fill="white"/>',
         '<text x="%d" y="22" font-size="15">mmu_bench: median guest cycles, '
         'shadowvm config / kvm-ept0 (log scale; below 1 = faster than KVM)%s'
         '</text>' % (left, hostmem)]
    for d in range(dlo, dhi + 1):
        for m in (1, 2, 5):
            v = m * 10.0 ** d
            if v < 10.0 ** dlo or v > 10.0 ** dhi:
                continue
            yy = y(v)
            p.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="%s"/>'
                     % (left, width - 20, yy, yy, "#999" if m == 1 else "#e5e5e5"))
            p.append('<text x="%d" y="%.1f" text-anchor="end">%g</text>'
                     % (left - 6, yy + 4, v))
    y1 = y(1.0)
    p.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="black" '
             'stroke-width="1.5" stroke-dasharray="6,3"/>' % (left, width - 20, y1, y1))
    p.append('<text x="%d" y="%.1f" font-size="10">KVM</text>' % (width - 50, y1 - 3))
    for i, w in enumerate(works):
        x0 = left + i * gw + gap / 2
        for j, c in enumerate(configs):
            v = ratio.get((w, c))
            x = x0 + j * bar
            if v is None or v <= 0:
                p.append('<text x="%.1f" y="%.1f" font-size="8" fill="#c00">x</text>'
                         % (x + 1, y1 - 2))
                continue
            ya, yb = sorted((y(v), y1))
            p.append('<rect x="%.1f" y="%.1f" width="%d" height="%.1f" fill="%s">'
                     '<title>%s %s: %.2f</title></rect>'
                     % (x, ya, bar - 1, max(yb - ya, 0.5), COLORS[j % len(COLORS)],
                        escape(w), escape(c), v))
        xc = x0 + bar * len(configs) / 2
        p.append('<text transform="translate(%.1f,%d) rotate(-50)" text-anchor="end">'
                 '%s</text>' % (xc, top + ph + 12, escape(w)))
    for j, c in enumerate(configs):
        lx = left + (j % 4) * 160
        ly = legend_y + (j // 4) * 20
        p.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>'
                 % (lx, ly - 10, COLORS[j % len(COLORS)]))
        p.append('<text x="%d" y="%d">%s</text>' % (lx + 16, ly, escape(c)))
    p.append('</svg>')
    out.write("\n".join(p) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
