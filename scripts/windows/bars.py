#!/usr/bin/env python3
"""Checks a screenshot (binary PPM) for the test pattern's eight colour bars inside one window
area that the picture fills: each bar's centre, averaged over 5x5 pixels, within 24 levels of
its colour. The colours are read from streamer/src/source/pattern.rs (BARS_RGB).
Usage: bars.py SHOT.ppm PATTERN_RS X Y WIDTH HEIGHT"""
import importlib.util
import re
import sys
from pathlib import Path

# The PPM reader and patch sampler of the camera VM's checker, loaded from its file.
_spec = importlib.util.spec_from_file_location(
    "check_camera_results", Path(__file__).parent.parent / "vm" / "check-camera-results.py")
camera = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(camera)


def main():
    shot, pattern_rs = Path(sys.argv[1]), sys.argv[2]
    x0, y0, w, h = (int(v) for v in sys.argv[3:7])
    block = re.search(r"BARS_RGB: \[\[u8; 3\]; 8\] = \[(.*?)\];", open(pattern_rs).read(), re.S)
    if not block:
        sys.exit(f"bars: no BARS_RGB in {pattern_rs}")
    bars = [tuple(int(c) for c in m)
            for m in re.findall(r"\[(\d+), (\d+), (\d+)\]", block.group(1))]
    width, height, pixels = camera.read_ppm(shot)
    bad = 0
    for i, want in enumerate(bars):
        got = camera.sample(width, height, pixels, x0 + (2 * i + 1) * w // 16, y0 + h * 35 // 100, 5)
        ok = all(abs(a - b) <= 24 for a, b in zip(got, want))
        bad += not ok
        print(f"bar={i} expected={want} got={got} {'ok' if ok else 'WRONG'}")
    sys.exit(1 if bad else 0)


main()
