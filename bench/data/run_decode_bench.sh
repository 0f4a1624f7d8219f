#!/bin/sh
# Runs bench_decode and the OpenCV peer one after the other (never at the
# same time: they would share the two cores), ROUNDS times alternated, and
# prints each round's ratio OpenCV imread+INTER_AREA / ecgcnn Dct4 from the
# median CPU times, plus the mean absolute difference from OpenCV's output.
#   bench/data/run_decode_bench.sh [BUILD_DIR] [ROUNDS]
set -eu
BUILD=${1:-build}
ROUNDS=${2:-3}
DUMP=$(mktemp -d)
trap 'rm -rf "$DUMP"' EXIT
for r in $(seq "$ROUNDS"); do
  "$BUILD/bench/data/bench_decode" --ecg_dump="$DUMP" --benchmark_repetitions=7 \
      --benchmark_report_aggregates_only=true --benchmark_format=json > "$DUMP/ours.json"
  /usr/bin/python3 "$(dirname "$0")/../peers/opencv_decode.py" --reps 30 --compare "$DUMP" \
      > "$DUMP/peer.txt"
  /usr/bin/python3 - "$DUMP/ours.json" "$DUMP/peer.txt" "$r" <<'PY'
import json, re, sys
ours = {b["run_name"]: b for b in json.load(open(sys.argv[1]))["benchmarks"]
        if b.get("aggregate_name") == "median"}
peer = open(sys.argv[2]).read()
cv = {m.group(1): (float(m.group(2)), float(m.group(3))) for m in
      re.finditer(r"^(\S+)\s+wall\s+([\d.]+) ms\s+cpu\s+([\d.]+) ms", peer, re.M)}
print(f"round {sys.argv[3]} (median CPU ms; wall in brackets)")
for name, b in ours.items():
    print(f"  ecgcnn {name:32s} {b['cpu_time']:7.2f}  [{b['real_time']:7.2f}]")
for name, (w, c) in cv.items():
    print(f"  opencv {name:32s} {c:7.2f}  [{w:7.2f}]")
d4 = ours["DecodeResize224/Dct4"]
full = ours["DecodeResize224/Full"]
print(f"  ratio opencv imread+area / ecgcnn Dct4: cpu {cv['imread+area'][1] / d4['cpu_time']:.2f}x"
      f"  wall {cv['imread+area'][0] / d4['real_time']:.2f}x")
print(f"  ratio opencv imread+area / ecgcnn Full: cpu {cv['imread+area'][1] / full['cpu_time']:.2f}x")
print(f"  ratio opencv reduced4+area / ecgcnn Dct4: cpu {cv['reduced4+area'][1] / d4['cpu_time']:.2f}x")
for line in peer.splitlines():
    if line.startswith("MAD"):
        print("  " + line)
PY
done
