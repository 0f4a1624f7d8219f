#!/usr/bin/env bash
# ecgcnn INT8 against ecgcnn float, ONNX Runtime static INT8 (QDQ, with and
# without spinning), LiteRT INT8 and ncnn INT8 and float32, on the same ResNet
# checkpoint, at batch 1 and batch N, in one run: the rounds interleave the
# engines so that a change in the machine's load hits all of them, and the
# tables give per-round ratios of ecgcnn int8 against the fastest int8 peer.
# Every engine runs with OMP_WAIT_POLICY=passive (threads spinning at a
# barrier while a sibling is descheduled cost ecgcnn 5-7x on a shared
# machine, ncnn's libgomp likewise); ONNX Runtime's own pool is timed with
# and without spinning.
#
# The int8 peak is ecgcnn's own probe (`bench --profile`, the instructions of
# the int8 kernel ECG_ISA selects, per-thread CPU time summed over THREADS
# threads); that same profiled run at batch N gives GOP/s and % of peak of
# ecgcnn's convolutions summed.
#
# Usage:
#   bench/peers/int8_compare.sh ECGCNN CHECKPOINT INT8_MODEL
# Environment:
#   PY          python with the peer packages (default /tmp/peers/bin/python)
#   THREADS     threads of every engine (default: all cores)
#   ROUNDS      alternated rounds (default 2)
#   RUNS        timed runs per engine and round at batch 1 (default 60)
#   BATCH       the second batch size (default 16); BATCH_RUNS timed runs
#               of it (default 6)
#   ECG_ISA     passed to ecgcnn only, e.g. avx2 to time the AVX2 kernels on
#               a VNNI machine (use a --weight-bits 7 model for the maddubs
#               path); the peers keep this CPU's full instruction set
#   PEERS       int8_peers.py --peers list (default: all seven)
#   KEEP        a folder that receives the raw results (ecg.jsonl, peers.jsonl,
#               profile.json, peers.err); int8_table.py KEEP INT8_MODEL reprints
#               the tables
# Example (ResNet-11 at 224 px, 2 threads, about 5-7 minutes on 2 idle
# cores (estimated from runs under load)):
#   PY=/tmp/peers/bin/python THREADS=2 ROUNDS=2 bench/peers/int8_compare.sh \
#       build/tools/ecgcnn run/best.safetensors w8.int8
#   ECG_ISA=avx2 ... bench/peers/int8_compare.sh build/tools/ecgcnn run/best.safetensors w7.int8
# The image size is the checkpoint's (the int8 model must match it).
set -euo pipefail
if [ $# -ne 3 ]; then
  echo "usage: int8_compare.sh ECGCNN CHECKPOINT.safetensors INT8_MODEL (see the comment at the top)" >&2
  exit 2
fi
ECG=$1 CK=$2 Q=$3
PY=${PY:-/tmp/peers/bin/python}
RUNS=${RUNS:-60}
ROUNDS=${ROUNDS:-2}
BATCH=${BATCH:-16}
BATCH_RUNS=${BATCH_RUNS:-6}
THREADS=${THREADS:-$(nproc)}
PEERS=${PEERS:-ort-int8,ort-int8-nospin,tflite-int8,ncnn-int8,ort-float,tflite-float,ncnn-float}
HERE=$(cd "$(dirname "$0")" && pwd)
for f in "$ECG" "$CK" "$Q" "$PY"; do
  [ -e "$f" ] || { echo "int8_compare.sh: $f does not exist" >&2; exit 1; }
done
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
trap 'exit 130' INT
export OMP_WAIT_POLICY=passive
ISA=${ECG_ISA:-}
unset ECG_ISA  # the peers never read it; ecgcnn gets it per call below
ecg() { ECG_ISA=$ISA "$ECG" "$@"; }
[ -n "$ISA" ] || ecg() { "$ECG" "$@"; }
SIZE=$("$PY" -c "
import json, struct, sys
f = open(sys.argv[1], 'rb'); n = struct.unpack('<Q', f.read(8))[0]
print(json.loads(json.loads(f.read(n))['__metadata__']['ecgcnn'])['image_size'])" "$CK")

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $THREADS threads, ${SIZE}px, batch 1 ($RUNS runs) and" \
  "batch $BATCH ($BATCH_RUNS runs), $ROUNDS rounds, OMP_WAIT_POLICY=passive"
echo "# cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "# int8 model: $Q; ECG_ISA for ecgcnn: ${ISA:-(unset: the best this CPU has)}"
[ -n "$ISA" ] && echo "# the peers are not restricted by ECG_ISA: they use this CPU's full instruction set"
echo "# load before: $(cut -d' ' -f1-3 /proc/loadavg)"
# ecgcnn's peak probe and its per-layer profile at batch N (one profiled step).
ecg bench --threads "$THREADS" --mode int8 --int8-model "$Q" --batch "$BATCH" --steps 1 --warmup 1 \
  --profile --profile-out "$OUT/profile.json" --trace "$OUT/trace.json" --json >"$OUT/profile_run.json" \
  2>"$OUT/profile.err" || { cat "$OUT/profile.err" >&2; exit 1; }
# Build and check every peer model once (ONNX, QDQ, LiteRT per batch, pnnx -> ncnn, ncnn int8).
for b in 1 "$BATCH"; do
  "$PY" "$HERE/int8_peers.py" --checkpoint "$CK" --threads "$THREADS" --batch "$b" --peers "$PEERS" \
    --build-only --workdir "$OUT/models" 2>>"$OUT/peers.err" >/dev/null ||
    { tail -5 "$OUT/peers.err" >&2; exit 1; }
done
for round in $(seq "$ROUNDS"); do
  for b in 1 "$BATCH"; do
    runs=$RUNS warm=5
    [ "$b" = 1 ] || { runs=$BATCH_RUNS; warm=2; }
    for mode in int8 infer; do
      extra=()
      [ "$mode" = int8 ] && extra=(--int8-model "$Q")
      ecg bench --threads "$THREADS" --model resnet11 --mode "$mode" "${extra[@]}" --batch "$b" \
        --image-size "$SIZE" --steps "$runs" --warmup "$warm" --json |
        sed "s/^{/{\"round\": $round, /" >>"$OUT/ecg.jsonl"
    done
    "$PY" "$HERE/int8_peers.py" --checkpoint "$CK" --threads "$THREADS" --batch "$b" --runs "$runs" \
      --warmup "$warm" --peers "$PEERS" --json --workdir "$OUT/models" 2>>"$OUT/peers.err" |
      sed "s/^{/{\"round\": $round, /" >>"$OUT/peers.jsonl"
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
grep -h '^#' "$OUT/peers.err" | sort -u || true
"$PY" "$HERE/int8_table.py" "$OUT" "$Q"
if [ -n "${KEEP:-}" ]; then
  mkdir -p "$KEEP"
  cp "$OUT"/*.jsonl "$OUT"/profile.json "$OUT"/profile_run.json "$OUT"/peers.err "$KEEP"/
fi
