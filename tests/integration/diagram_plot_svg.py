#!/usr/bin/python3
"""diagram_plot_svg.py: analysis/plot/plot.c writes valid files with what was plotted.

Runs `diagram_tool plot DIR` (tests/tools/diagram_tool.c), which draws a figure
with a known number of markers per colour, then checks: the SVG parses as XML
(xml.etree) with the figure's size, and holds one filled <path> per marker (plus
one per legend entry) in each Okabe-Ito colour; the PNG has the size the figure
asks for (720 x 560 pt at 2 px/pt) and is opaque; the PDF starts like a PDF.
"""
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

root = os.environ.get("NERVE_ROOT", os.path.join(os.path.dirname(__file__), "..", ".."))
build = os.environ.get("BUILD", "build")
tool = os.path.join(root, build, "tests", "tools", "diagram_tool")
if not os.access(tool, os.X_OK):
    print(f"FAIL: {tool} not built")
    sys.exit(1)

# the palette of include/nerve/plot.h, 0..255
PALETTE = [(0, 114, 178), (213, 94, 0), (0, 158, 115)]


def fill_of(el):
    """The fill colour of an element as 0..255 RGB, from a style or a fill attribute."""
    style = el.get("style", "")
    m = re.search(r"fill:\s*([^;]+)", style)
    val = m.group(1) if m else el.get("fill")
    if not val:
        return None
    m = re.match(r"rgb\(([\d.]+)%,\s*([\d.]+)%,\s*([\d.]+)%\)", val.strip())
    if m:
        return tuple(round(float(v) * 2.55) for v in m.groups())
    m = re.match(r"#([0-9a-fA-F]{6})$", val.strip())
    if m:
        h = m.group(1)
        return tuple(int(h[i:i + 2], 16) for i in (0, 2, 4))
    return None


def main():
    fails = []
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([tool, "plot", d], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL: diagram_tool plot exit {r.returncode}: {r.stderr}")
            return 1
        left = [n for n in os.listdir(d) if "tmp" in n]
        if left:
            fails.append(f"temporary files left behind: {left}")
        tree = ET.parse(os.path.join(d, "figure.svg"))
        svg = tree.getroot()
        if not svg.tag.endswith("svg"):
            fails.append(f"root element {svg.tag}, expected svg")
        w, h = (float(re.sub("[a-z]", "", svg.get(k))) for k in ("width", "height"))
        if (w, h) != (720, 560):
            fails.append(f"SVG size {w} x {h}, expected 720 x 560")
        paths = [el for el in svg.iter() if el.tag.endswith("path")]
        counts = {}
        for el in paths:
            c = fill_of(el)
            if c is not None:
                counts[c] = counts.get(c, 0) + 1
        # colour 0: 7 line markers + 1 legend, 30 class-0 points + 1 legend,
        # 7 H0 points + 1 legend; colour 1: 5 + 1, 20 + 1, 4 + 1; colour 2: 4 + 1
        want = {PALETTE[0]: 8 + 31 + 8, PALETTE[1]: 6 + 21 + 5, PALETTE[2]: 5}
        for c, n in want.items():
            if counts.get(c, 0) != n:
                fails.append(f"SVG: {counts.get(c, 0)} filled paths in rgb{c}, expected {n}")
        # line series are stroked paths, one per series
        strokes = [el for el in paths if re.search(r"stroke:rgb\(0%,44\.7", el.get("style", ""))
                   or (el.get("stroke") or "").startswith("rgb(0%,44.7")]
        if len(strokes) < 1:
            fails.append("SVG: no stroked path in colour 0 (the first line series)")
        try:
            from PIL import Image
            im = Image.open(os.path.join(d, "figure.png"))
            if im.size != (1440, 1120):
                fails.append(f"PNG size {im.size}, expected (1440, 1120)")
            if im.mode == "RGBA" and im.getextrema()[3][0] < 255:
                fails.append("PNG has transparent pixels; figures are painted white first")
        except ImportError:
            with open(os.path.join(d, "figure.png"), "rb") as fp:
                head = fp.read(24)
            wpx, hpx = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
            if head[:8] != b"\x89PNG\r\n\x1a\n" or (wpx, hpx) != (1440, 1120):
                fails.append(f"PNG header/size wrong: {(wpx, hpx)}")
        with open(os.path.join(d, "figure.pdf"), "rb") as fp:
            if not fp.read(5) == b"%PDF-":
                fails.append("PDF does not start with %PDF-")
    for f in fails:
        print("FAIL", f)
    print(f"plot files: {len(fails)} problems")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
