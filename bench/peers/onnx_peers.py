#!/usr/bin/env python3
"""ONNX round trips and speed against ONNX Runtime (issue 19).

Run with the peers' venv (torch, onnxruntime, onnx; ncnn/pnnx optional):
  /tmp/peers/bin/python bench/peers/onnx_peers.py --ecgcnn build/tools/ecgcnn \
      [--checkpoint trained_resnet11.safetensors --pages DIR] [--threads 2] [--json out.json]

What it checks (each printed as one line, all collected in --json):
 1. float export: `ecgcnn export` of a ResNet-11 checkpoint, run by ONNX Runtime,
    against `ecgcnn predict` on the same .npy input: max |diff| / max |logit|.
 2. import: a torchvision-layout ResNet-18 (defined here: torchvision is not in
    the venv; same modules and names), random weights and BN statistics,
    exported by torch.onnx at 224 px -> `ecgcnn predict --checkpoint r18.onnx`
    against ONNX Runtime on the same input.
 3. int8: `ecgcnn quantize` of that ONNX graph on synthetic pages, then
    `ecgcnn infer` against `ecgcnn predict` (fp32) on 50 other pages:
    SQNR of the logits in dB.
 4. QDQ: `ecgcnn export --model F.int8` of the ResNet-11 run by ONNX Runtime
    against `ecgcnn infer` on --pages (200 test pages): top-1 agreement.
 5. speed: ResNet-18 224 px fp32 and int8, batch 1 and 16, ecgcnn bench vs ONNX
    Runtime (fp32 graph; int8 = ORT's own quantize_static QDQ of the same graph),
    and ncnn through pnnx where it converts; --threads threads each.
Without --checkpoint, a ResNet-11 is trained here for one epoch on synthetic
pages at --r11-size px (weakly trained: the QDQ agreement is still meaningful,
it compares two int8 engines on one model). The .npy inputs are decoded and
box-resized with Pillow, which the venv lacks:
  /tmp/peers/bin/pip install --target /tmp/wt19_pillow pillow
  PYTHONPATH=/tmp/wt19_pillow /tmp/peers/bin/python bench/peers/onnx_peers.py ...
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
import torch
import torch.nn as nn


def sh(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{r.stderr.strip()}")
    return r.stdout


def ecg(a, *args):
    return sh([a.ecgcnn, "--threads", str(a.threads), *args])


def json_logits(out):
    j = json.loads(out)  # predict: a list of results; infer: {"results": [...], ...}
    rows = j["results"] if isinstance(j, dict) else j
    return np.array([r["logits"] for r in rows], dtype=np.float64)


def rel_err(ref, got):
    return float(np.max(np.abs(ref - got)) / max(1e-30, np.max(np.abs(ref))))


def sqnr_db(ref, got):
    return float(10 * np.log10(np.sum(ref ** 2) / max(1e-30, np.sum((ref - got) ** 2))))


def ort_session(path, threads):
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    return ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])


def ort_run(sess, x):
    return sess.run(None, {sess.get_inputs()[0].name: x.astype(np.float32)})[0].astype(np.float64)


def npy_from_pages(files, size, out):
    """Decode + box-filter (area) resize + [0, 1] CHW with Pillow. Both engines
    of each comparison read the same arrays, so only those must agree."""
    from PIL import Image
    xs = [np.asarray(Image.open(f).convert("RGB").resize((size, size), Image.BOX),
                     dtype=np.float32).transpose(2, 0, 1) / 255 for f in files]
    x = np.ascontiguousarray(np.stack(xs))
    np.save(out, x)
    return x


def one_per_file(x, prefix):
    """`ecgcnn infer` takes one [3, S, S] array per .npy file."""
    paths = []
    for i, xi in enumerate(x):
        paths.append(f"{prefix}_{i:03d}.npy")
        np.save(paths[-1], xi)
    return paths


def pages_under(d):
    out = []
    for root, _, files in os.walk(d):
        out += [os.path.join(root, f) for f in files if f.lower().endswith((".jpg", ".png"))]
    return sorted(out)


# ---- torchvision's ResNet-18 layout ---------------------------------------------

class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.downsample is None else self.downsample(x)
        return self.relu(y + s)


class ResNet18(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers, cin = [], 64
        for i, w in enumerate([64, 128, 256, 512]):
            stride = 1 if i == 0 else 2
            layers.append(nn.Sequential(BasicBlock(cin, w, stride), BasicBlock(w, w, 1)))
            cin = w
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def export_resnet18(path, size):
    torch.manual_seed(18)
    m = ResNet18()
    for mod in m.modules():  # random BN statistics, so BN is not the identity
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.2, 0.2)
            mod.running_var.uniform_(0.5, 1.5)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    m.eval()
    x = torch.rand(1, 3, size, size)
    kw = dict(input_names=["input"], output_names=["logits"], opset_version=17,
              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    try:
        torch.onnx.export(m, (x,), path, dynamo=False, **kw)
    except TypeError:
        torch.onnx.export(m, (x,), path, **kw)
    import onnx
    model = onnx.load(path)
    # ImageNet normalization travels in the metadata ecgcnn reads.
    for k, v in (("ecgcnn.mean", [0.485, 0.456, 0.406]), ("ecgcnn.std", [0.229, 0.224, 0.225])):
        p = model.metadata_props.add()
        p.key, p.value = k, json.dumps(v)
    onnx.save(model, path)
    return m


def normalized(x):
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    return (x - mean) / std


def time_ms(fn, runs, warmup=2):
    for _ in range(warmup):
        fn()
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        t.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(t)


def ecg_bench(a, args):
    out = ecg(a, "bench", *args, "--steps", str(a.runs), "--warmup", "2", "--json")
    return json.loads(out)["ms_per_step"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ecgcnn", default="build/tools/ecgcnn")
    p.add_argument("--checkpoint", help="a trained ResNet-11 (default: train one here)")
    p.add_argument("--pages", help="test pages for the QDQ check (default: synthetic)")
    p.add_argument("--r11-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--json", help="write the results here")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    res = {"uptime": sh(["uptime"]).strip(), "ort": ort.__version__, "torch": torch.__version__}
    w = tempfile.mkdtemp(prefix="ecg_onnx_peers_")
    print(f"work dir {w}; {res['uptime']}", flush=True)

    # Synthetic pages: calibration/training, and a disjoint set for the checks.
    sh([a.ecgcnn, "synth", "--out", f"{w}/data", "--per-class", "40", "--seed", "3", "--width", "640", "--quiet"])
    sh([a.ecgcnn, "synth", "--out", f"{w}/held", "--per-class", "50", "--seed", "99", "--width", "640", "--quiet"])
    held = pages_under(f"{w}/held")

    # 1. ResNet-11 float export vs ONNX Runtime.
    ck = a.checkpoint
    if not ck:
        ecg(a, "train", "--data", f"{w}/data", "--model", "resnet11", "--image-size",
            str(a.r11_size), "--epochs", "1", "--batch", "16", "--out", f"{w}/run")
        ck = f"{w}/run/best.safetensors"
    ecg(a, "export", "--checkpoint", ck, "--out", f"{w}/r11.onnx")
    s11 = ort_session(f"{w}/r11.onnx", a.threads)
    size11 = s11.get_inputs()[0].shape[2]
    x11 = npy_from_pages(held[:16], size11, f"{w}/x11.npy")
    ref = json_logits(ecg(a, "predict", "--checkpoint", ck, "--json", f"{w}/x11.npy"))
    res["resnet11_export_rel_err"] = rel_err(ref, ort_run(s11, x11))
    print(f"1. ResNet-11 export: ORT vs ecgcnn predict, max rel err "
          f"{res['resnet11_export_rel_err']:.2e} (limit 1e-4)", flush=True)

    # 2. PyTorch ResNet-18 -> ecgcnn import vs ONNX Runtime.
    export_resnet18(f"{w}/r18.onnx", 224)
    s18 = ort_session(f"{w}/r18.onnx", a.threads)
    x18 = npy_from_pages(held[:50], 224, f"{w}/x18.npy")
    np.save(f"{w}/x18_4.npy", x18[:4])
    got = json_logits(ecg(a, "predict", "--checkpoint", f"{w}/r18.onnx", "--json",
                          f"{w}/x18_4.npy"))
    res["resnet18_import_rel_err"] = rel_err(ort_run(s18, normalized(x18[:4])), got)
    print(f"2. ResNet-18 (PyTorch export) imported: ecgcnn vs ORT, max rel err "
          f"{res['resnet18_import_rel_err']:.2e} (limit 1e-4)", flush=True)

    # 3. int8 of the imported ResNet-18: SQNR against fp32 on 50 held-out pages.
    ecg(a, "quantize", "--checkpoint", f"{w}/r18.onnx", "--calib", f"{w}/data", "--images", "64",
        "--no-sensitivity", "--no-stability", "--out", f"{w}/r18.int8")
    f32 = json_logits(ecg(a, "predict", "--checkpoint", f"{w}/r18.onnx", "--json",
                          f"{w}/x18.npy"))
    i8 = json_logits(ecg(a, "infer", "--model", f"{w}/r18.int8", "--json",
                         *one_per_file(x18, f"{w}/x18")))
    res["resnet18_int8_sqnr_db"] = sqnr_db(f32, i8)
    print(f"3. ResNet-18 int8 vs fp32 on {len(f32)} held-out pages: SQNR "
          f"{res['resnet18_int8_sqnr_db']:.1f} dB (limit 25)", flush=True)

    # 4. QDQ export of the ResNet-11 int8 model, ORT vs ecgcnn infer, top-1.
    ecg(a, "quantize", "--checkpoint", ck, "--calib", f"{w}/data", "--images", "64",
        "--no-sensitivity", "--no-stability", "--out", f"{w}/r11.int8")
    ecg(a, "export", "--model", f"{w}/r11.int8", "--out", f"{w}/r11_qdq.onnx")
    pages = pages_under(a.pages) if a.pages else held
    xq = npy_from_pages(pages[:200], size11, f"{w}/xq.npy")
    mine = json_logits(ecg(a, "infer", "--model", f"{w}/r11.int8", "--json",
                           *one_per_file(xq, f"{w}/xq")))
    theirs = ort_run(ort_session(f"{w}/r11_qdq.onnx", a.threads), xq)
    res["resnet11_qdq_top1_agreement"] = float(np.mean(mine.argmax(1) == theirs.argmax(1)))
    res["resnet11_qdq_pages"] = len(xq)
    res["resnet11_qdq_sqnr_db"] = sqnr_db(mine, theirs)
    print(f"4. ResNet-11 QDQ export: ORT vs ecgcnn infer top-1 agreement "
          f"{100 * res['resnet11_qdq_top1_agreement']:.1f} % on {len(xq)} pages "
          f"(limit 99 %), logits SQNR {res['resnet11_qdq_sqnr_db']:.1f} dB", flush=True)

    if not a.skip_speed:
        speed(a, w, s18, res)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


def speed(a, w, s18, res):
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input": normalized(np.random.RandomState(i).rand(1, 3, 224, 224)
                                                 .astype(np.float32))} for i in range(8)])

        def get_next(self):
            return next(self.it, None)

    quantize_static(f"{w}/r18.onnx", f"{w}/r18_ort_int8.onnx", Reader(),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    s18q = ort_session(f"{w}/r18_ort_int8.onnx", a.threads)
    rows = []
    for batch in (1, 16):
        x = normalized(np.random.rand(batch, 3, 224, 224).astype(np.float32))
        row = {"batch": batch,
               "ecgcnn_fp32_ms": ecg_bench(a, ["--checkpoint", f"{w}/r18.onnx", "--batch",
                                               str(batch)]),
               "ecgcnn_int8_ms": ecg_bench(a, ["--mode", "int8", "--int8-model", f"{w}/r18.int8",
                                               "--batch", str(batch)]),
               "ort_fp32_ms": time_ms(lambda: ort_run(s18, x), a.runs),
               "ort_int8_ms": time_ms(lambda: ort_run(s18q, x), a.runs)}
        row.update(ncnn_ms(a, w, batch))
        rows.append(row)
        print("5. ResNet-18 224 px " + ", ".join(
            f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()),
            flush=True)
    res["resnet18_speed"] = rows


def ncnn_ms(a, w, batch):
    """ncnn fp32 through pnnx (TorchScript -> ncnn), where both install and convert."""
    try:
        import ncnn
        import pnnx
        if not os.path.exists(f"{w}/r18.ncnn.param"):
            m = export_resnet18(f"{w}/r18_for_pnnx.onnx", 224)
            pnnx.export(m, f"{w}/r18.pt", (torch.rand(1, 3, 224, 224),))
        net = ncnn.Net()
        net.opt.num_threads = a.threads
        net.load_param(f"{w}/r18.ncnn.param")
        net.load_model(f"{w}/r18.ncnn.bin")
        img = np.random.rand(3, 224, 224).astype(np.float32)

        def one():
            for _ in range(batch):  # ncnn's Extractor takes one image
                ex = net.create_extractor()
                ex.input("in0", ncnn.Mat(img))
                ex.extract("out0")
        return {"ncnn_fp32_ms": time_ms(one, a.runs)}
    except Exception as e:  # optional peer
        return {"ncnn": f"not run ({type(e).__name__}: {str(e)[:80]})"}


if __name__ == "__main__":
    main()
