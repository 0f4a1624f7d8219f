#!/usr/bin/env python3
"""Turn bench_kernels JSON into the markdown tables of bench/RESULTS.md.

Usage: bench/kernels/ratio_table.py bench_kernels.json > table.md

Speed ratios are peer_time / ecg_time from the same run (> 1: ecgcnn faster),
on wall time and on the benchmark thread's CPU time (the latter is less
disturbed when other processes share the cores; both libraries use the same
OpenMP runtime, so the main thread's CPU time is comparable).
"""
import json
import sys
from collections import defaultdict

RESNET11 = {"stem_3x3_3-16_224", "3x3_16-16_224", "3x3_16-64_224", "1x1_16-64_224",
            "3x3s2_64-64_224", "3x3_64-128_112", "1x1s2_64-128_224", "3x3s2_128-128_112",
            "3x3_128-256_56", "1x1s2_128-256_112"}


def main(path):
    data = json.load(open(path))
    ctx = data["context"]
    rows = {}
    for b in data["benchmarks"]:
        name = b["name"].replace("/real_time", "")
        scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b["time_unit"]]
        rows[name] = dict(ms=b["real_time"] * scale, cpu=b["cpu_time"] * scale, gf=b.get("GFLOP/s"), pf=b.get("peak_frac"),
                          gbs=b.get("GB/s"), bwf=b.get("bw_frac"))
    print(f"Run {ctx.get('date')} on {ctx.get('host_name')}: {ctx.get('ecg_threads')} threads, "
          f"ISA {ctx.get('ecg_isa')}, measured FMA peak {float(ctx.get('fma_peak_gflops', 0)):.0f} "
          f"GFLOP/s, scale-kernel bandwidth {float(ctx.get('bandwidth_gbs', 0)):.1f} GB/s.\n")

    print("### SGEMM (C = A B, square, row-major)\n")
    print("| n | ecg GFLOP/s | of peak | avx2 | generic | OpenBLAS | OpenBLAS / ecg time | same, CPU time |")
    print("|---|---|---|---|---|---|---|---|")
    for n in (256, 1024, 2048):
        e = rows.get(f"sgemm/ecg/{n}")
        if not e:
            continue
        a = rows.get(f"sgemm/ecg_avx2/{n}", {})
        g = rows.get(f"sgemm/ecg_generic/{n}", {})
        o = rows.get(f"sgemm/openblas/{n}")
        ratio = f"{o['ms'] / e['ms']:.2f} | {o['cpu'] / e['cpu']:.2f}" if o else "- | -"
        print(f"| {n} | {e['gf']:.0f} | {e['pf']:.0%} | {a.get('gf', 0):.0f} | {g.get('gf', 0):.1f} "
              f"| {o['gf'] if o else 0:.0f} | {ratio} |")

    print("\n### Convolutions (GFLOP/s counts 2·N·K·P·Q·C·R·S for every direction)\n")
    print("| layer | N | dir | ecg ms | ecg GFLOP/s | of peak | oneDNN ms | oneDNN / ecg time | same, CPU time |")
    print("|---|---|---|---|---|---|---|---|---|")
    totals = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for name, e in rows.items():
        parts = name.split("/")
        if not parts[0].startswith("conv_") or parts[1] != "ecg":
            continue
        d, layer, nb = parts[0][5:], parts[2], parts[3]
        o = rows.get(f"{parts[0]}/onednn/{layer}/{nb}")
        ratio = f"{o['ms'] / e['ms']:.2f} | {o['cpu'] / e['cpu']:.2f}" if o else "- | -"
        print(f"| {layer} | {nb[1:]} | {d} | {e['ms']:.2f} | {e['gf']:.0f} | {e['pf']:.0%} | "
              f"{o['ms'] if o else float('nan'):.2f} | {ratio} |")
        if layer in RESNET11 and o:
            t = totals[(nb, d)]
            t[0] += e["ms"]
            t[1] += o["ms"]
            t[2] += e["cpu"]
            t[3] += o["cpu"]

    print("\n### ResNet-11, all convolutions summed\n")
    print("| batch | dir | ecg ms | oneDNN ms | oneDNN / ecg time | same, CPU time |")
    print("|---|---|---|---|---|---|")
    for (nb, d), (e, o, ec, oc) in sorted(totals.items()):
        print(f"| {nb[1:]} | {d} | {e:.1f} | {o:.1f} | {o / e:.2f} | {oc / ec:.2f} |")

    print("\n### Two threads against one (ecg, batch 16)\n")
    print("| layer | dir | 1 thread ms | 2 threads ms | speed-up |")
    print("|---|---|---|---|---|")
    for name, e in rows.items():
        parts = name.split("/")
        if len(parts) == 4 and parts[1] == "ecg_1thread":
            m = rows.get(f"{parts[0]}/ecg/{parts[2]}/{parts[3]}")
            if m:
                print(f"| {parts[2]} | {parts[0][5:]} | {e['ms']:.1f} | {m['ms']:.1f} | "
                      f"{e['ms'] / m['ms']:.2f} |")

    print("\n### Memory-bound kernels (bytes = the passes each algorithm must make)\n")
    print("| kernel | ms | GB/s | of measured bandwidth |")
    print("|---|---|---|---|")
    for name, e in rows.items():
        if name.startswith("mem/"):
            print(f"| {name[4:]} | {e['ms']:.2f} | {e['gbs']:.1f} | {e['bwf']:.0%} |")


if __name__ == "__main__":
    main(sys.argv[1])
