#!/usr/bin/env python3
"""INT8 peers for `ecgcnn bench --mode int8`: ONNX Runtime static INT8 (QDQ),
TFLite/LiteRT full-integer INT8 and ncnn INT8, built from an ecgcnn
ResNet-(9n+2) checkpoint (safetensors, the PyTorch names of
docs/checkpoints.md), timed at batch --batch like `ecgcnn bench --batch`.
Float ONNX Runtime, float LiteRT (XNNPACK) and float ncnn of the same graph
are timed too, for reference.

The graphs are built here from the checkpoint's tensors with BatchNorm
folded into the convolutions in float64 (what ecgcnn's quantizer and the
TFLite converter do), TensorFlow "same" padding (the odd pixel bottom/right),
8x8/8 average pool, flatten in the checkpoint's (c, h, w) order, dense.
The ONNX graph has a dynamic batch dimension; the LiteRT models are built
for [batch, S, S, 3]; ncnn has no batch dimension, so a batch is one
extraction per image. Before timing, the float ONNX and float Keras graphs
(built independently, NCHW and NHWC) are compared, and the float ncnn graph
(pnnx's conversion of the ONNX one) is compared with ONNX Runtime's logits:
a difference above 1e-3 relative stops the script (Keras) or leaves ncnn
untimed.

Quantization settings (each peer's recommended CPU setting):
  ONNX Runtime: quantize_static, QDQ format, per-channel symmetric int8
    weights, uint8 asymmetric activations (the U8S8 path ONNX Runtime
    recommends on x86), MinMax calibration.
  LiteRT: TFLiteConverter, Optimize.DEFAULT with a representative dataset
    and TFLITE_BUILTINS_INT8 only (full integer; float input and output with
    quantize/dequantize at the ends, as ecgcnn takes a float image), run by
    ai-edge-litert's interpreter with its default XNNPACK delegate.
  ncnn: pnnx converts the float ONNX graph (fp16=0); the int8 model is
    written by ncnn_int8.py in ncnn2int8's format (per-channel int8 weights,
    one MinMax scale per convolution input; the wheel has no ncnn2table or
    ncnn2int8, see there) and runs on ncnn's own int8 kernels.
Calibration images: --calib-npy [N, 3, S, S] float32 in [0, 1] if given,
else 16 uniform random images: the speed does not depend on the ranges.

Models are written to --workdir once and reused by later calls with the same
folder (int8_compare.sh builds them with --build-only before its rounds).

Install (never needed to build or test ecgcnn):
  python3 -m venv /tmp/peers
  /tmp/peers/bin/pip install onnx onnxruntime numpy tensorflow-cpu ai-edge-litert ncnn pnnx
Usage:
  /tmp/peers/bin/python bench/peers/int8_peers.py --checkpoint best.safetensors \
      --threads 2 --batch 16 --runs 10 --json
Prints one JSON object per peer: ms and p99_ms (per run of --batch images),
ms_per_image, gop (per image), gops (GOP/s at the median), version.
"""
import argparse
import contextlib
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

import numpy as np


def load_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = json.loads(header.pop("__metadata__", {}).get("ecgcnn", "{}"))
    dtypes = {"F32": np.float32, "F64": np.float64, "I64": np.int64}
    tensors = {}
    for name, h in header.items():
        a, b = h["data_offsets"]
        tensors[name] = np.frombuffer(data[a:b], dtype=dtypes[h["dtype"]]).reshape(h["shape"])
    return tensors, meta


def same_pad(size, k, s):
    out = (size + s - 1) // s
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class FoldedResNet:
    """The checkpoint as a list of folded conv layers plus the dense head."""

    def __init__(self, t, image_size, eps=1e-3):
        self.size = image_size

        def conv(prefix, bn=None):
            w = t[prefix + ".weight"].astype(np.float64)
            b = t.get(prefix + ".bias", np.zeros(w.shape[0])).astype(np.float64)
            if bn is not None:
                g = t[bn + ".weight"] / np.sqrt(t[bn + ".running_var"].astype(np.float64) + eps)
                w = w * g[:, None, None, None]
                b = (b - t[bn + ".running_mean"]) * g + t[bn + ".bias"]
            return w.astype(np.float32), b.astype(np.float32)

        self.stem = conv("stem_conv", "stem_bn")
        self.blocks = []
        s, blk = 0, 0
        while f"stage{s}.block0.conv1.weight" in t:
            blk = 0
            while f"stage{s}.block{blk}.conv1.weight" in t:
                p = f"stage{s}.block{blk}"
                stride = 2 if blk == 0 and s > 0 else 1
                sc = conv(p + ".shortcut") if p + ".shortcut.weight" in t else None
                self.blocks.append((conv(p + ".conv1", p + ".bn1"), conv(p + ".conv2", p + ".bn2"), sc,
                                    stride))
                blk += 1
            s += 1
        self.fc_w = t["fc.weight"].astype(np.float32)
        self.fc_b = t["fc.bias"].astype(np.float32)

    def macs(self):
        """Multiply-adds per image (convolutions and dense)."""
        total, h = 0, self.size

        def c(w, h, stride):
            p = (h + stride - 1) // stride
            return w.shape[0] * w.shape[1] * w.shape[2] * w.shape[3] * p * p, p

        m, h = c(self.stem[0], h, 1)
        total += m
        for c1, c2, sc, stride in self.blocks:
            m1, h2 = c(c1[0], h, stride)
            m2, _ = c(c2[0], h2, 1)
            total += m1 + m2
            if sc is not None:
                total += c(sc[0], h, stride)[0]
            h = h2
        return total + self.fc_w.size


def build_onnx(r, path):
    """The float graph with a dynamic batch dimension N (one file for every batch)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    counter = [0]

    def name(p):
        counter[0] += 1
        return f"{p}{counter[0]}"

    def conv(x, wb, stride, h, relu):
        w, b = wb
        k = w.shape[2]
        t, bo = same_pad(h, k, stride)
        wn, bn, y = name("w"), name("b"), name("conv")
        inits.extend([numpy_helper.from_array(w, wn), numpy_helper.from_array(b, bn)])
        nodes.append(helper.make_node("Conv", [x, wn, bn], [y], kernel_shape=[k, k], strides=[stride, stride],
                                      pads=[t, t, bo, bo]))
        if relu:
            z = name("relu")
            nodes.append(helper.make_node("Relu", [y], [z]))
            y = z
        return y, (h + stride - 1) // stride

    x, h = conv("x", r.stem, 1, r.size, True)
    for c1, c2, sc, stride in r.blocks:
        a, h2 = conv(x, c1, stride, h, True)
        c, _ = conv(a, c2, 1, h2, False)
        s = conv(x, sc, stride, h, False)[0] if sc is not None else x
        add, y = name("add"), name("relu")
        nodes += [helper.make_node("Add", [s, c], [add]), helper.make_node("Relu", [add], [y])]
        x, h = y, h2
    nodes.append(helper.make_node("AveragePool", [x], ["pool"], kernel_shape=[8, 8], strides=[8, 8]))
    nodes.append(helper.make_node("Flatten", ["pool"], ["flat"], axis=1))
    inits += [numpy_helper.from_array(r.fc_w, "fc_w"), numpy_helper.from_array(r.fc_b, "fc_b")]
    nodes.append(helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], transB=1))
    g = helper.make_graph(nodes, "ecgcnn_resnet",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, r.size, r.size])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", r.fc_w.shape[0]])],
                          inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


def build_keras(r, batch):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    L = tf.keras.layers
    inp = tf.keras.Input((r.size, r.size, 3), batch_size=batch)

    def conv(x, wb, stride, relu):
        w, b = wb
        layer = L.Conv2D(w.shape[0], w.shape[2], strides=stride, padding="same")
        y = layer(x)
        layer.set_weights([w.transpose(2, 3, 1, 0), b])
        return L.ReLU()(y) if relu else y

    x = conv(inp, r.stem, 1, True)
    for c1, c2, sc, stride in r.blocks:
        a = conv(x, c1, stride, True)
        c = conv(a, c2, 1, False)
        s = conv(x, sc, stride, False) if sc is not None else x
        x = L.ReLU()(L.Add()([s, c]))
    x = L.AveragePooling2D(8, 8)(x)
    H, W, C = x.shape[1], x.shape[2], x.shape[3]
    x = L.Flatten()(x)
    dense = L.Dense(r.fc_w.shape[0])
    y = dense(x)
    # The checkpoint flattens (c, h, w); Keras flattens (h, w, c).
    k = r.fc_w.reshape(-1, C, H, W).transpose(2, 3, 1, 0).reshape(H * W * C, -1)
    dense.set_weights([k, r.fc_b])
    return tf.keras.Model(inp, y), tf


def time_it(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    t = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        t.append((time.perf_counter() - t0) * 1000)
    t.sort()
    return statistics.median(t), t[min(len(t) - 1, int(0.99 * (len(t) - 1) + 0.5))]


def rel_err(out, ref):
    return float(np.max(np.abs(out - ref)) / (np.max(np.abs(ref)) + 1e-12))


def ort_int8_model(f32, q8, calib):
    """quantize_static once per work folder: QDQ, per-channel s8 weights, u8 activations."""
    if os.path.exists(q8):
        return
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"x": calib[i:i + 1]} for i in range(len(calib))])

        def get_next(self):
            return next(self.it, None)

    quantize_static(f32, q8, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def calib_batches(calib, batch):
    """The calibration images in batches of `batch` (repeated when there are fewer)."""
    n = max(len(calib), batch)
    idx = np.arange(n - n % batch) % len(calib)
    return [calib[idx[i:i + batch]] for i in range(0, len(idx), batch)]


def litert_models(r, work, batch, calib, ref_x, ref, want_float, want_int8):
    """The float and full-integer LiteRT models for input [batch, S, S, 3], built once
    per work folder (TensorFlow is imported only then)."""
    paths = {"float": os.path.join(work, f"model_f32_b{batch}.tflite"),
             "int8": os.path.join(work, f"model_int8_b{batch}.tflite")}
    todo = [k for k, w in (("float", want_float), ("int8", want_int8)) if w and not os.path.exists(paths[k])]
    if todo:
        keras_model, tf = build_keras(r, batch)
        kr = keras_model(ref_x.transpose(0, 2, 3, 1), training=False).numpy()
        err = rel_err(kr, ref)
        print(f"# float ONNX vs float Keras logits, batch {batch}, max relative difference {err:.2e}",
              file=sys.stderr)
        if err > 1e-3:
            sys.exit(f"float graphs disagree ({err:.2e}): weights were not loaded the same way")
        for kind in todo:
            conv = tf.lite.TFLiteConverter.from_keras_model(keras_model)
            if kind == "int8":
                conv.optimizations = [tf.lite.Optimize.DEFAULT]
                conv.representative_dataset = lambda: ([b.transpose(0, 2, 3, 1)] for b in calib_batches(calib, batch))
                conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            with contextlib.redirect_stdout(sys.stderr):  # the converter prints its trace
                content = conv.convert()
            with open(paths[kind], "wb") as f:
                f.write(content)
        with open(os.path.join(work, "tensorflow.version"), "w") as f:
            f.write(tf.__version__)
    return paths


def litert_runner(path, x, threads):
    try:
        from ai_edge_litert.interpreter import Interpreter
        ver = "ai-edge-litert"
    except ImportError:
        import tensorflow as tf
        Interpreter = tf.lite.Interpreter
        ver = "tf.lite"
    it = Interpreter(model_path=path, num_threads=threads)
    it.allocate_tensors()
    i, o = it.get_input_details()[0], it.get_output_details()[0]
    xi = x.transpose(0, 2, 3, 1).copy()

    def run():
        it.set_tensor(i["index"], xi)
        it.invoke()
        return it.get_tensor(o["index"])

    tfv = os.path.join(os.path.dirname(path), "tensorflow.version")
    return run, ver + (" / tensorflow " + open(tfv).read() if os.path.exists(tfv) else "")


def ncnn_models(a, work, f32_onnx, size, calib, want_int8):
    """pnnx converts the float ONNX graph (float32 weights, fp16=0); ncnn_int8.py
    quantizes it as ncnn2table + ncnn2int8 would. Built once per work folder."""
    import ncnn
    import ncnn_int8
    d = os.path.join(work, "ncnn")
    os.makedirs(d, exist_ok=True)
    fp, fb = os.path.join(d, "model.ncnn.param"), os.path.join(d, "model.ncnn.bin")
    if not os.path.exists(fp):
        pnnx = a.pnnx or shutil.which("pnnx") or os.path.join(os.path.dirname(sys.executable), "pnnx")
        onnx_copy = os.path.join(d, "model.onnx")
        shutil.copyfile(f32_onnx, onnx_copy)
        cmd = [pnnx, onnx_copy, f"inputshape=[1,3,{size},{size}]", "fp16=0", f"ncnnparam={fp}", f"ncnnbin={fb}",
               f"pnnxparam={d}/model.pnnx.param", f"pnnxbin={d}/model.pnnx.bin", f"pnnxpy={d}/model_pnnx.py",
               f"pnnxonnx={d}/model.pnnx.onnx", f"ncnnpy={d}/model_ncnn.py"]
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=d)
        if done.returncode != 0 or not os.path.exists(fp):
            raise RuntimeError("pnnx failed: " + done.stdout.decode(errors="replace")[-400:])
    ip, ib = os.path.join(d, "model_int8.ncnn.param"), os.path.join(d, "model_int8.ncnn.bin")
    if want_int8 and not os.path.exists(ip):
        ncnn_int8.write_int8(ncnn, fp, fb, ip, ib, calib, a.threads)
    return ncnn, (fp, fb), (ip, ib)


def ncnn_runner(ncnn, files, x, threads, plain_float):
    """ncnn has no batch dimension: a batch is one extraction per image."""
    import ncnn_int8
    net = ncnn.Net()
    if plain_float:
        ncnn_int8.float_options(net.opt, threads)
    else:
        net.opt.num_threads = threads
    if os.environ.get("OMP_WAIT_POLICY", "").lower() == "passive":
        net.opt.openmp_blocktime = 0  # its own spin time (read by LLVM's OpenMP; the wheel's libgomp
        # follows OMP_WAIT_POLICY)
    if net.load_param(files[0]) != 0 or net.load_model(files[1]) != 0:
        raise RuntimeError(f"ncnn could not load {files[0]}")
    images = [np.ascontiguousarray(img) for img in x]

    def run():
        out = []
        for img in images:
            ex = net.create_extractor()
            ex.input("in0", ncnn.Mat(img))
            rc, m = ex.extract("out0")
            if rc != 0:
                raise RuntimeError(f"ncnn extract failed ({rc})")
            out.append(np.array(m).reshape(-1))
        return np.stack(out)

    return run, net


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=1, help="images per timed run")
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--calib-npy", default="")
    ap.add_argument("--peers", default="ort-int8,ort-int8-nospin,tflite-int8,ncnn-int8,ort-float,tflite-float,"
                                       "ncnn-float")
    ap.add_argument("--workdir", default="", help="models are built here once and reused by later calls")
    ap.add_argument("--pnnx", default="", help="pnnx executable (default: on PATH or next to python)")
    ap.add_argument("--build-only", action="store_true",
                    help="build and check the models in --workdir, time nothing")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.batch < 1 or a.runs < 1 or a.threads < 1:
        ap.error("--batch, --runs and --threads must be at least 1")
    return a


def ort_session(ort, path, threads, spinning):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if not spinning:  # its thread pool without spinning: the better setting on a shared machine
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def run_ort(a, work, peers, calib, x, report):
    import onnxruntime as ort
    f32 = os.path.join(work, "model_f32.onnx")
    sf = ort_session(ort, f32, a.threads, True)
    ref = sf.run(None, {"x": x})[0]
    if "ort-float" in peers:
        report("onnxruntime float32", ort.__version__, lambda: sf.run(None, {"x": x}))
    if "ort-int8" in peers or "ort-int8-nospin" in peers:
        q8 = os.path.join(work, "model_int8_qdq.onnx")
        ort_int8_model(f32, q8, calib)
        name = "onnxruntime int8 QDQ (U8S8, per-channel)"
        for peer, spin, label in (("ort-int8", True, name), ("ort-int8-nospin", False, name + ", no spinning")):
            if peer in peers:
                s8 = ort_session(ort, q8, a.threads, spin)
                report(label, ort.__version__, lambda: s8.run(None, {"x": x}),
                       {"model_bytes": os.path.getsize(q8),
                        "logits_rel_err_vs_float": rel_err(s8.run(None, {"x": x})[0], ref)})
    return ref


def run_litert(a, r, work, peers, calib, x, ref, report):
    want_f, want_q = "tflite-float" in peers, "tflite-int8" in peers
    if not (want_f or want_q):
        return
    paths = litert_models(r, work, a.batch, calib, x, ref, want_f, want_q)
    if want_q:
        run, ver = litert_runner(paths["int8"], x, a.threads)
        report("litert int8 (full integer, XNNPACK)", ver, run,
               {"model_bytes": os.path.getsize(paths["int8"]), "logits_rel_err_vs_float": rel_err(run(), ref)})
    if want_f:
        run, ver = litert_runner(paths["float"], x, a.threads)
        report("litert float32 (XNNPACK)", ver, run)


def run_ncnn(a, work, peers, size, calib, x, ref, report):
    want_f, want_q = "ncnn-float" in peers, "ncnn-int8" in peers
    if not (want_f or want_q):
        return
    try:
        ncnn, ffiles, qfiles = ncnn_models(a, work, os.path.join(work, "model_f32.onnx"), size, calib, want_q)
    except (ImportError, OSError, RuntimeError, ValueError) as e:
        print(f"# ncnn not timed: {e}", file=sys.stderr)
        return
    run, _ = ncnn_runner(ncnn, ffiles, x, a.threads, True)
    err = rel_err(run(), ref)
    print(f"# ncnn float32 vs ONNX Runtime float logits, batch {a.batch}, max relative difference {err:.2e}",
          file=sys.stderr)
    if err > 1e-3:
        print("# ncnn not timed: its float graph disagrees with ONNX Runtime's (> 1e-3)", file=sys.stderr)
        return
    ver = ncnn.__version__ + " (pnnx conversion)"
    if want_q:
        print("# ncnn int8: written by bench/peers/ncnn_int8.py in ncnn2int8's format (MinMax input scales, "
              "per-channel weights): the ncnn wheel ships no ncnn2table/ncnn2int8 and apt has no ncnn package",
              file=sys.stderr)
        qrun, _ = ncnn_runner(ncnn, qfiles, x, a.threads, False)
        report("ncnn int8 (per-channel s8 weights, ncnn2int8 format)", ver, qrun,
               {"model_bytes": os.path.getsize(qfiles[1]), "logits_rel_err_vs_float": rel_err(qrun(), ref)})
    if want_f:
        report("ncnn float32", ver, run)


def main():
    a = parse_args()
    tensors, meta = load_safetensors(a.checkpoint)
    size = int(meta.get("image_size", 224))
    r = FoldedResNet(tensors, size)
    gop = 2 * r.macs() / 1e9
    work = a.workdir or tempfile.mkdtemp(prefix="ecg_peers_")
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(0)
    calib = (np.load(a.calib_npy).astype(np.float32) if a.calib_npy else
             rng.random((16, 3, size, size), dtype=np.float32))
    x = rng.random((a.batch, 3, size, size), dtype=np.float32)
    peers = a.peers.split(",")

    def report(peer, version, run, extra=None):
        if a.build_only:
            return
        ms, p99 = time_it(run, a.warmup, a.runs)
        o = {"peer": peer, "version": version, "model": meta.get("model", "?"), "image_size": size,
             "batch": a.batch, "threads": a.threads, "ms": ms, "p99_ms": p99, "ms_per_image": ms / a.batch,
             "gop": gop, "gops": gop * a.batch / (ms / 1000)}
        o.update(extra or {})
        print(json.dumps(o) if a.json else o, flush=True)

    f32 = os.path.join(work, "model_f32.onnx")
    if not os.path.exists(f32):
        build_onnx(r, f32)
    ref = run_ort(a, work, peers, calib, x, report)
    run_litert(a, r, work, peers, calib, x, ref, report)
    run_ncnn(a, work, peers, size, calib, x, ref, report)


if __name__ == "__main__":
    main()
