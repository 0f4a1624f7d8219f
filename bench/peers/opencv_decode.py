#!/usr/bin/python3
"""OpenCV peer for bench/data/bench_decode: decode one scan and resize it to
224x224 with INTER_AREA on one thread, the study's ResNet preprocessing.

Run with Debian's python3-opencv (OpenCV 4.6):
  /usr/bin/python3 bench/peers/opencv_decode.py [--image PATH] [--reps N] [--compare DIR]

Times (median of --reps, after warm-up), each on one thread (cv2.setNumThreads(1)):
  imread+area        cv2.imread(path) + cv2.resize(INTER_AREA)  (the study's code path)
  imdecode+area      the same from bytes already in memory (what bench_decode times)
  reduced4+area      cv2.IMREAD_REDUCED_COLOR_4 (libjpeg DCT scaling 1/4) + INTER_AREA
  grey+linear        cv2.IMREAD_GRAYSCALE + default bilinear resize (the study's AlexNet)
With --compare DIR, reads DIR/<variant>.png written by bench_decode --ecg_dump=DIR
and prints the mean absolute difference (in 8-bit levels) from OpenCV's output.
"""
import argparse
import os
import statistics
import time

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, "..", "..", "..", "shared", "data", "ecg-sample", "train", "MI",
                       "MI(10).jpg")


def median_ms(fn, reps):
    """Median wall and CPU (process) milliseconds; on a shared machine the CPU
    time is the steadier figure, as Google Benchmark's CPU column."""
    fn()
    wall, cpu = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default=DEFAULT)
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--compare", default="")
    a = ap.parse_args()
    cv2.setNumThreads(1)
    raw = np.fromfile(a.image, dtype=np.uint8)
    size = (224, 224)

    def area_rgb(img):
        return cv2.cvtColor(cv2.resize(img, size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)

    runs = {
        "imread+area": lambda: cv2.resize(cv2.imread(a.image), size, interpolation=cv2.INTER_AREA),
        "imdecode+area": lambda: cv2.resize(cv2.imdecode(raw, cv2.IMREAD_COLOR), size,
                                            interpolation=cv2.INTER_AREA),
        "reduced4+area": lambda: cv2.resize(cv2.imdecode(raw, cv2.IMREAD_REDUCED_COLOR_4), size,
                                            interpolation=cv2.INTER_AREA),
        "grey+linear": lambda: cv2.resize(cv2.imdecode(raw, cv2.IMREAD_GRAYSCALE), size),
    }
    print(f"OpenCV {cv2.__version__}, 1 thread, {a.image}")
    for name, fn in runs.items():
        w, c = median_ms(fn, a.reps)
        print(f"{name:16s} wall {w:8.2f} ms  cpu {c:8.2f} ms (median of {a.reps})")
    if a.compare:
        ref_rgb = area_rgb(cv2.imread(a.image))
        ref_grey_area = cv2.resize(cv2.imread(a.image, cv2.IMREAD_GRAYSCALE), size,
                                   interpolation=cv2.INTER_AREA)
        ref_grey_linear = cv2.resize(cv2.imread(a.image, cv2.IMREAD_GRAYSCALE), size)
        refs = {"Full": ref_rgb, "Dct4": ref_rgb, "Dct4Grey": ref_grey_area,
                "FullLinearGrey": ref_grey_linear}
        for name, ref in refs.items():
            path = os.path.join(a.compare, name + ".png")
            if not os.path.exists(path):
                continue
            ours = cv2.imread(path, cv2.IMREAD_UNCHANGED)
            if ours.ndim == 3:
                ours = cv2.cvtColor(ours, cv2.COLOR_BGR2RGB)
            d = np.abs(ours.astype(np.int32) - ref.astype(np.int32))
            print(f"MAD vs OpenCV {name:15s} {d.mean():.3f} levels (max {d.max()}, "
                  f"{(d > 1).mean() * 100:.1f} % differ by more than 1)")


if __name__ == "__main__":
    main()
