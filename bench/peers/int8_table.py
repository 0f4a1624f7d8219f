#!/usr/bin/env python3
"""The tables of int8_compare.sh, from the files it leaves in its work folder:
ecg.jsonl (`ecgcnn bench --json` lines with "round"), peers.jsonl
(int8_peers.py lines with "round"), profile.json (`ecgcnn bench --profile`
rows and peaks at batch N).

Usage: int8_table.py OUT_DIR INT8_MODEL
"""
import json
import os
import sys


def load_lines(path):
    return [json.loads(l) for l in open(path) if l.strip()] if os.path.exists(path) else []


def engine_rows(ecg, peers, variants):
    """{batch: {engine: {round: (ms per image, p99 per image, is_int8, is_peer)}}};
    variants: the int8 convolution variants the profiled run used (avx2-maddubs...)."""
    rows = {}
    for e in ecg:
        b = e["batch"]
        kernel = e.get("int8_kernel", "")
        if variants and variants != [kernel]:
            kernel += ": " + ", ".join(variants)
        name = ("ecgcnn int8 (%s)" % kernel if e["mode"] == "int8" else "ecgcnn float (%s)" % e["isa"])
        rows.setdefault(b, {}).setdefault(name, {})[e["round"]] = (
            e["ms_per_step"] / b, e["p99_ms"] / b, e["mode"] == "int8", False)
    for p in peers:
        b = p["batch"]
        name = p["peer"]
        rows.setdefault(b, {}).setdefault(name, {})[p["round"]] = (
            p["ms"] / b, p["p99_ms"] / b, "int8" in p["peer"], True)
    return rows


def fastest(by_engine, rnd, pred):
    best = None
    for name, by in by_engine.items():
        if rnd in by and pred(name, by[rnd]):
            if best is None or by[rnd][0] < best[1]:
                best = (name, by[rnd][0])
    return best


def print_batch(b, by_engine, gop, peaks):
    ours = [n for n in by_engine if n.startswith("ecgcnn int8")]
    if not ours:
        return
    ours = by_engine[ours[0]]
    rounds = sorted(ours)
    print("\n## batch %d: ms per image (p99), per round; GOP/s and %% of peak at the best round" % b)
    print("| engine | " + " | ".join("round %d" % r for r in rounds) +
          " | GOP/s | % of peak | ecgcnn int8 speed-up, per round |")
    print("|---|" + "---|" * (len(rounds) + 3))
    for name, by in by_engine.items():
        best = min(v[0] for v in by.values())
        rate = gop / (best / 1000)
        peak = peaks.get("int8_gops" if next(iter(by.values()))[2] else "fp32_gflops", 0)
        ratios = ", ".join("%.2fx" % (by[r][0] / ours[r][0]) for r in rounds if r in by)
        cells = " | ".join("%.2f (%.2f)" % by[r][:2] if r in by else "-" for r in rounds)
        print("| %s | %s | %.0f | %s | %s |" % (name, cells, rate, "%.1f %%" % (100 * rate / peak) if peak else "-",
                                              ratios))
    targets = [("the fastest peer", lambda n, v: v[3]),
               ("the fastest int8 peer", lambda n, v: v[3] and v[2]),
               ("the fastest ONNX Runtime int8", lambda n, v: n.startswith("onnxruntime int8")),
               ("LiteRT int8", lambda n, v: n.startswith("litert int8")),
               ("ncnn int8", lambda n, v: n.startswith("ncnn int8"))]
    for label, pred in targets:
        parts = []
        for r in rounds:
            f = fastest(by_engine, r, pred)
            if f:
                parts.append("round %d %.2fx (%s, %.2f ms)" % (r, f[1] / ours[r][0], f[0], f[1]))
        if parts:
            print("ecgcnn int8 vs %s: %s" % (label, "; ".join(parts)))


def print_profile(out):
    """Prints the peaks and the summed convolutions; returns (peaks, kernel variants)."""
    path = os.path.join(out, "profile.json")
    if not os.path.exists(path):
        return {}, []
    prof = json.load(open(path))
    peaks = prof.get("peaks", {})
    run = load_lines(os.path.join(out, "profile_run.json"))
    batch = run[0]["batch"] if run else "?"
    print("\n# ecgcnn's peaks (bench --profile, per-thread CPU time summed): int8 %.0f GOP/s (%s), "
          "fp32 %.0f GFLOP/s (%s)" % (peaks.get("int8_gops", 0), peaks.get("int8_instructions", "?"),
                                      peaks.get("fp32_gflops", 0), peaks.get("fp32_instructions", "?")))
    convs = [r for r in prof.get("rows", []) if r.get("int8") and r.get("flops", 0) > 0 and r["layer"] != "fc"]
    kernels = sorted({r["kernel"] for r in convs})
    if convs and peaks.get("int8_gops"):
        ops = sum(r["flops"] for r in convs)
        ms = sum(r["ms"] for r in convs)
        rate = ops / (ms / 1000) / 1e9
        print("# ecgcnn int8 convolutions summed, one profiled step at batch %s: %.1f ms, %.0f GOP/s, "
              "%.1f %% of the int8 peak (kernels: %s)" % (batch, ms, rate, 100 * rate / peaks["int8_gops"],
                                                          ", ".join(kernels)))
    return peaks, kernels


def main():
    out, qpath = sys.argv[1], sys.argv[2]
    ecg = load_lines(os.path.join(out, "ecg.jsonl"))
    peers = load_lines(os.path.join(out, "peers.jsonl"))
    peaks, variants = print_profile(out)
    gop = peers[0]["gop"] if peers else 0.0
    if not gop:
        prof = json.load(open(os.path.join(out, "profile.json")))
        run = load_lines(os.path.join(out, "profile_run.json"))
        gop = sum(r["flops"] for r in prof["rows"] if r.get("int8")) / 1e9 / run[0]["batch"]
    for b, by_engine in sorted(engine_rows(ecg, peers, variants).items()):
        print_batch(b, by_engine, gop, peaks)
    print("\nGOP per image: %.3f (2 x multiply-adds of the convolutions and the dense layer)" % gop)
    for peer, version in sorted({(p["peer"], p["version"]) for p in peers}):
        print("%s: %s" % (peer, version))
    seen = set()
    for p in peers:
        if "model_bytes" in p and p["peer"] not in seen:
            seen.add(p["peer"])
            print("%s: model file %d bytes, logits max relative error vs float %.4f (batch %d)" %
                  (p["peer"], p["model_bytes"], p["logits_rel_err_vs_float"], p["batch"]))
    print("ecgcnn int8 model file: %d bytes" % os.path.getsize(qpath))


if __name__ == "__main__":
    main()
