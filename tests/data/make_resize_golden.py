#!/usr/bin/python3
"""Writes the OpenCV resize goldens that test_resize.cpp compares against.

Run with Debian's python3-opencv:  /usr/bin/python3 tests/data/make_resize_golden.py
The source is a seeded noisy colour pattern (hard edges and noise make any
weight or rounding difference visible); outputs are lossless PNGs in RGB order.
"""
import os

import cv2
import numpy as np

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
os.makedirs(HERE, exist_ok=True)
rng = np.random.default_rng(4)
h, w = 157, 203
y, x = np.mgrid[0:h, 0:w]
src = np.stack([(x * 3 + y) % 256, (y * 5 - x) % 256, ((x // 9 + y // 7) % 2) * 255], -1)
src = np.clip(src + rng.integers(-20, 21, src.shape), 0, 255).astype(np.uint8)
cv2.imwrite(os.path.join(HERE, "src.png"), cv2.cvtColor(src, cv2.COLOR_RGB2BGR))
# (name, width, height, interpolation)
cases = [("area_64x48", 64, 48, cv2.INTER_AREA), ("area_50x50", 50, 50, cv2.INTER_AREA),
         ("area_101x79", 101, 79, cv2.INTER_AREA),  # exact 2x in y, fractional in x
         ("linear_64x48", 64, 48, cv2.INTER_LINEAR), ("linear_50x50", 50, 50, cv2.INTER_LINEAR),
         ("linear_300x200", 300, 200, cv2.INTER_LINEAR)]
for name, ow, oh, interp in cases:
    out = cv2.resize(src, (ow, oh), interpolation=interp)
    cv2.imwrite(os.path.join(HERE, name + ".png"), cv2.cvtColor(out, cv2.COLOR_RGB2BGR))
grey = cv2.cvtColor(src, cv2.COLOR_RGB2GRAY)
cv2.imwrite(os.path.join(HERE, "grey.png"), grey)
print("wrote", len(cases) + 2, "files to", HERE)
