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
rf = {r["input"]: r for r in json.load(open(os.path.join(out, "pred_float.json")))}
rq = {r["input"]: r for r in json.load(open(os.path.join(out, "pred_int8.json")))["results"]}
pf = {k: r["class_index"] for k, r in rf.items()}
pq = {k: r["class_index"] for k, r in rq.items()}
agree = sum(pf[k] == pq[k] for k in pf)
print("data %s, test split: %d images (eval), %d files compared" % (data, f["total"] if "total" in f else -1, len(pf)))
print("| model | accuracy | macro-F1 |")
print("|---|---|---|")
for name, r in (("float", f), ("int8", q)):
    print("| %s | %.2f %% | %.4f |" % (name, 100 * r["accuracy"], r["macro_f1"]))
print("accuracy change %+.2f points, macro-F1 change %+.2f points, top-1 agreement %d/%d = %.2f %%" %
      (100 * (q["accuracy"] - f["accuracy"]), 100 * (q["macro_f1"] - f["macro_f1"]), agree, len(pf),
       100.0 * agree / max(1, len(pf))))
# Logits: SQNR over the split, and how close the float model's decisions were
# where the two disagree (margin = top-1 minus top-2 float logit).
sig = sum(v * v for r in rf.values() for v in r["logits"])
err = sum((a - b) ** 2 for k in rf for a, b in zip(rf[k]["logits"], rq[k]["logits"]))
print("logits SQNR int8 vs float: %.2f dB" % (10 * __import__("math").log10(sig / max(err, 1e-30))))
def margin(l):
    s = sorted(l, reverse=True)
    return s[0] - s[1]
dis = sorted((margin(rf[k]["logits"]), k) for k in pf if pf[k] != pq[k])
mar = sorted(margin(r["logits"]) for r in rf.values())
print("float top-1 margin: median %.4f over the split; at the disagreements: %s" %
      (mar[len(mar) // 2], ", ".join("%.4f" % m for m, _ in dis[:10]) or "none"))
EOF
rm -rf "$OUT"
