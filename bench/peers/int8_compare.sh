#!/usr/bin/env bash
# ecgcnn INT8 against ecgcnn float, ONNX Runtime static INT8 (QDQ) and
# LiteRT INT8 on the same ResNet checkpoint, batch 1, all cores, in one run:
# the rounds interleave the engines so that a change in the machine's load
# hits all of them, and the table gives per-round ratios. Also prints the
# machine's int8 (vpdpbusd) peak measured by bench_int8 when it is given.
# ecgcnn runs twice per round, with OpenMP's default (active, spinning) wait
# policy and with OMP_WAIT_POLICY=passive: on a machine shared with other
# jobs, threads spinning at a barrier while a sibling is descheduled cost
# ecgcnn 5-7x (ONNX Runtime is also timed with its spinning off).
#
# Usage:
#   bench/peers/int8_compare.sh ECGCNN CHECKPOINT INT8_MODEL [BENCH_INT8]
# Environment: PY (python with the peer packages, default
# /tmp/peers-venv/bin/python; see int8_peers.py), RUNS (timed runs per engine
# and round, default 100), ROUNDS (default 2), THREADS (default: all cores).
# The image size is the checkpoint's (the int8 model must match it).
set -euo pipefail
ECG=${1:?path to ecgcnn}
CK=${2:?float checkpoint (.safetensors)}
Q=${3:?int8 model from ecgcnn quantize}
PEAK_BIN=${4:-}
PY=${PY:-/tmp/peers-venv/bin/python}
RUNS=${RUNS:-100}
ROUNDS=${ROUNDS:-2}
THREADS=${THREADS:-$(nproc)}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mktemp -d)
SIZE=$("$PY" -c "
import json, struct, sys
f = open(sys.argv[1], 'rb'); n = struct.unpack('<Q', f.read(8))[0]
print(json.loads(json.loads(f.read(n))['__metadata__']['ecgcnn'])['image_size'])" "$CK")

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $THREADS threads, ${SIZE}px, batch 1, $RUNS runs x $ROUNDS rounds"
echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -n "$PEAK_BIN" ]; then
  ECG_BENCH_THREADS=$THREADS "$PEAK_BIN" --benchmark_filter=NONE 2>/dev/null | head -1 | sed 's/^/# /' |
    tee "$OUT/peak.txt"
fi
for round in $(seq "$ROUNDS"); do
  for policy in active passive; do
    for mode in infer int8; do
      extra=()
      [ "$mode" = int8 ] && extra=(--int8-model "$Q")
      OMP_WAIT_POLICY=$policy "$ECG" bench --threads "$THREADS" --model resnet11 --mode "$mode" \
        "${extra[@]}" --batch 1 --image-size "$SIZE" --steps "$RUNS" --warmup 10 --json |
        sed "s/^{/{\"round\": $round, \"wait\": \"$policy\", /" >>"$OUT/ecg.jsonl"
    done
  done
  "$PY" "$HERE/int8_peers.py" --checkpoint "$CK" --threads "$THREADS" --runs "$RUNS" --json \
    --workdir "$OUT/models" 2>"$OUT/peers.err" | sed "s/^{/{\"round\": $round, /" >>"$OUT/peers.jsonl"
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -h '^#' "$OUT/peers.err" | sort -u || true
"$PY" - "$OUT" "$Q" <<'EOF'
import json, os, re, sys
out, qpath = sys.argv[1], sys.argv[2]
ecg = [json.loads(l) for l in open(os.path.join(out, "ecg.jsonl"))]
peers = [json.loads(l) for l in open(os.path.join(out, "peers.jsonl"))]
peak = 0.0
if os.path.exists(os.path.join(out, "peak.txt")):
    m = re.search(r"peak ([0-9.]+) GOP/s", open(os.path.join(out, "peak.txt")).read())
    peak = float(m.group(1)) if m else 0.0
gop = peers[0]["gop"]
rows = {}
for e in ecg:
    name = ("ecgcnn int8 (%s)" % e["int8_kernel"] if e["mode"] == "int8" else
            "ecgcnn float (%s)" % e["isa"]) + ", OMP wait " + e["wait"]
    rows.setdefault(name, {})[e["round"]] = (e["ms_per_step"], e["p99_ms"])
for p in peers:
    rows.setdefault("%s %s" % (p["peer"], p["version"]), {})[p["round"]] = (p["ms"], p["p99_ms"])
int8_name = [n for n in rows if n.startswith("ecgcnn int8") and n.endswith("passive")][0]
rounds = sorted(rows[int8_name])
print("| engine | " + " | ".join("round %d ms (p99)" % r for r in rounds) +
      " | GOP/s (best round) | % of int8 peak | ecgcnn int8 (passive) speed-up, per round |")
print("|---|" + "---|" * (len(rounds) + 3))
for name, by in rows.items():
    best = min(v[0] for v in by.values())
    ratios = ", ".join("%.2fx" % (by[r][0] / rows[int8_name][r][0]) for r in rounds if r in by)
    pct = "%.1f %%" % (100 * gop / (best / 1000) / peak) if peak else "-"
    print("| %s | %s | %.0f | %s | %s |" % (name, " | ".join("%.2f (%.2f)" % by[r] if r in by else "-" for r in rounds),
                                          gop / (best / 1000), pct, ratios))
print("\nGOP per image: %.3f (2 x multiply-adds of the convolutions and the dense layer)" % gop)
for p in peers:
    if "model_bytes" in p and p["round"] == rounds[0]:
        print("%s: model file %d bytes, logits max relative error vs float %.3f" %
              (p["peer"], p["model_bytes"], p["logits_rel_err_vs_float"]))
print("ecgcnn int8 model file: %d bytes" % os.path.getsize(qpath))
EOF
rm -rf "$OUT"
