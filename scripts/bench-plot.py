#!/usr/bin/env python3
"""Throughput against connections as a hand-written SVG (standard library only).

    bench-plot.py IN.csv OUT.svg

IN.csv is what scripts/bench-report.py writes (bench-results/throughput-vs-connections.csv):
'#' comment lines (the first becomes the subtitle), then a header row and
connections,tokens_per_s,ceiling_req_per_s,... rows. The x axis is logarithmic (connection
counts grow by factors), the y axis linear from 0, so the token line and the ceiling line
can be compared by height.
"""
import csv
import math
import sys
from xml.sax.saxutils import escape

W, H = 760, 460
LEFT, RIGHT, TOP, BOTTOM = 90, 30, 90, 70
SERIES = [  # column, legend, colour, marker
    ("ceiling_req_per_s", "ceiling: GET /healthz, req/s", "#888888", "square"),
    ("tokens_per_s", "POST /oauth/token, tokens/s", "#1f6fb4", "circle"),
]


def nice_step(span, ticks=6):
    raw = span / ticks
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def si(v):
    if v >= 1e6:
        return f"{v / 1e6:g}M"
    if v >= 1e3:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def read(path):
    notes, rows = [], []
    with open(path) as f:
        lines = [l for l in f if l.strip()]
    notes = [l[1:].strip() for l in lines if l.startswith("#")]
    rows = list(csv.DictReader(l for l in lines if not l.startswith("#")))
    if not rows:
        sys.exit(f"bench-plot: no data in {path}")
    return notes, rows


def plot(notes, rows):
    xs = [float(r["connections"]) for r in rows]
    ymax = max(float(r[col]) for r in rows for col, *_ in SERIES) or 1
    step = nice_step(ymax)
    ytop = math.ceil(ymax * 1.05 / step) * step
    xlo, xhi = math.log2(min(xs)), math.log2(max(xs))
    if xhi == xlo:
        xlo, xhi = xlo - 1, xhi + 1
    pad = (xhi - xlo) * 0.04  # keep the end markers off the y axis and the right edge
    xlo, xhi = xlo - pad, xhi + pad
    pw, ph = W - LEFT - RIGHT, H - TOP - BOTTOM

    def px(x):
        return LEFT + (math.log2(x) - xlo) / (xhi - xlo) * pw

    def py(y):
        return TOP + ph - y / ytop * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">'
        "edgeauth: throughput against connections</text>",
    ]
    if notes:
        out.append(f'<text x="{W / 2}" y="44" text-anchor="middle" fill="#555">{escape(notes[0])}</text>')
    # Grid and y ticks.
    y = 0.0
    while y <= ytop + step / 2:
        out.append(f'<line x1="{LEFT}" y1="{py(y):.1f}" x2="{LEFT + pw}" y2="{py(y):.1f}" stroke="#e4e4e4"/>')
        out.append(f'<text x="{LEFT - 8}" y="{py(y) + 4:.1f}" text-anchor="end">{si(y)}</text>')
        y += step
    # x ticks at the measured connection counts.
    for x in sorted(set(xs)):
        out.append(f'<line x1="{px(x):.1f}" y1="{TOP + ph}" x2="{px(x):.1f}" y2="{TOP + ph + 5}" stroke="black"/>')
        out.append(f'<text x="{px(x):.1f}" y="{TOP + ph + 20}" text-anchor="middle">{x:g}</text>')
    # Axes and their labels.
    out.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + ph}" stroke="black"/>')
    out.append(f'<line x1="{LEFT}" y1="{TOP + ph}" x2="{LEFT + pw}" y2="{TOP + ph}" stroke="black"/>')
    out.append(f'<text x="{LEFT + pw / 2}" y="{H - 22}" text-anchor="middle">'
               "concurrent connections (wrk, keep-alive, log scale)</text>")
    out.append(f'<text transform="translate(22 {TOP + ph / 2}) rotate(-90)" text-anchor="middle">'
               "per second (server-counted)</text>")
    # The lines.
    for col, _, colour, marker in SERIES:
        pts = [(px(float(r["connections"])), py(float(r[col]))) for r in rows]
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="'
                   + " ".join(f"{a:.1f},{b:.1f}" for a, b in pts) + '"/>')
        for a, b in pts:
            if marker == "circle":
                out.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="4" fill="{colour}"/>')
            else:
                out.append(f'<rect x="{a - 4:.1f}" y="{b - 4:.1f}" width="8" height="8" fill="{colour}"/>')
    # Legend in one row between the subtitle and the plot, where no line can run under it.
    lx, ly = LEFT, 68
    for _, label, colour, marker in SERIES:
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 28}" y2="{ly}" stroke="{colour}" stroke-width="2"/>')
        if marker == "circle":
            out.append(f'<circle cx="{lx + 14}" cy="{ly}" r="4" fill="{colour}"/>')
        else:
            out.append(f'<rect x="{lx + 10}" y="{ly - 4}" width="8" height="8" fill="{colour}"/>')
        out.append(f'<text x="{lx + 36}" y="{ly + 4}">{escape(label)}</text>')
        lx += 40 + 7 * len(label)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    notes, rows = read(argv[1])
    with open(argv[2], "w") as f:
        f.write(plot(notes, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
