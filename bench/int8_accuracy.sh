#!/usr/bin/env bash
# INT8 against float on one dataset's test split: accuracy and macro-F1 of
# each (`ecgcnn eval --json`), and top-1 agreement image by image
# (`ecgcnn predict --json` against `ecgcnn infer --json` on the same files).
#
# Usage: bench/int8_accuracy.sh ECGCNN CHECKPOINT INT8_MODEL DATA_DIR
# DATA_DIR must have a test/ folder of class folders (the split `eval`
# reads); to score every image of a folder of class folders, give a folder
# whose train/ and test/ both link to it.
set -euo pipefail
ECG=${1:?path to ecgcnn}
CK=${2:?float checkpoint}
Q=${3:?int8 model}
DATA=${4:?dataset folder with test/}
OUT=$(mktemp -d)
"$ECG" eval --checkpoint "$CK" --data "$DATA" --json >"$OUT/float.json"
"$ECG" eval --model "$Q" --data "$DATA" --json >"$OUT/int8.json"
mapfile -t files < <(find -L "$DATA/test" -type f \( -iname '*.jpg' -o -iname '*.jpeg' -o -iname '*.png' \) | sort)
"$ECG" predict --checkpoint "$CK" --json "${files[@]}" >"$OUT/pred_float.json"
"$ECG" infer --model "$Q" --json "${files[@]}" >"$OUT/pred_int8.json"
python3 - "$OUT" "$DATA" <<'EOF'
import json, os, sys
out, data = sys.argv[1], sys.argv[2]
f = json.load(open(os.path.join(out, "float.json")))
q = json.load(open(os.path.join(out, "int8.json")))
pf = {r["input"]: r["class_index"] for r in json.load(open(os.path.join(out, "pred_float.json")))}
pq = {r["input"]: r["class_index"] for r in json.load(open(os.path.join(out, "pred_int8.json")))["results"]}
agree = sum(pf[k] == pq[k] for k in pf)
print("data %s, test split: %d images (eval), %d files compared" % (data, f["total"] if "total" in f else -1, len(pf)))
print("| model | accuracy | macro-F1 |")
print("|---|---|---|")
for name, r in (("float", f), ("int8", q)):
    print("| %s | %.2f %% | %.4f |" % (name, 100 * r["accuracy"], r["macro_f1"]))
print("accuracy change %+.2f points, macro-F1 change %+.2f points, top-1 agreement %d/%d = %.2f %%" %
      (100 * (q["accuracy"] - f["accuracy"]), 100 * (q["macro_f1"] - f["macro_f1"]), agree, len(pf),
       100.0 * agree / max(1, len(pf))))
EOF
rm -rf "$OUT"
