#!/usr/bin/env python3
"""INT8 peers for `ecgcnn bench --mode int8`: ONNX Runtime static INT8 (QDQ)
and TFLite/LiteRT full-integer INT8, built from an ecgcnn ResNet-(9n+2)
checkpoint (safetensors, the PyTorch names of docs/checkpoints.md), timed at
batch 1 like `ecgcnn bench`. Float ONNX Runtime and float LiteRT (XNNPACK)
of the same graph are timed too, for reference.

Both graphs are built here from the checkpoint's tensors with BatchNorm
folded into the convolutions in float64 (what ecgcnn's quantizer and the
TFLite converter do), TensorFlow "same" padding (the odd pixel bottom/right),
8x8/8 average pool, flatten in the checkpoint's (c, h, w) order, dense.
Before timing, the float ONNX and float Keras graphs (built independently,
NCHW and NHWC) are compared on one image: a weight-loading mistake shows as
a large difference and stops the script.

Quantization settings (each peer's recommended CPU setting):
  ONNX Runtime: quantize_static, QDQ format, per-channel symmetric int8
    weights, uint8 asymmetric activations (the U8S8 path ONNX Runtime
    recommends on x86), MinMax calibration.
  LiteRT: TFLiteConverter, Optimize.DEFAULT with a representative dataset
    and TFLITE_BUILTINS_INT8 only (full integer; float input and output with
    quantize/dequantize at the ends, as ecgcnn takes a float image), run by
    ai-edge-litert's interpreter with its default XNNPACK delegate.
Calibration images: --calib-npy [N, 3, S, S] float32 in [0, 1] if given,
else 16 uniform random images: the speed does not depend on the ranges.

Install (never needed to build or test ecgcnn):
  python3 -m venv /tmp/peers-venv
  /tmp/peers-venv/bin/pip install onnx onnxruntime numpy tensorflow-cpu ai-edge-litert
Usage:
  /tmp/peers-venv/bin/python bench/peers/int8_peers.py --checkpoint best.safetensors \
      --threads 2 --runs 100 --json
Prints one JSON object per peer: ms (median), p99_ms, gop (per image),
gops (GOP/s at the median), version.
"""
import argparse
import contextlib
import json
import os
import statistics
import struct
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
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, r.size, r.size])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, r.fc_w.shape[0]])],
                          inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


def build_keras(r):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    L = tf.keras.layers
    inp = tf.keras.Input((r.size, r.size, 3), batch_size=1)

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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--calib-npy", default="")
    ap.add_argument("--peers", default="ort-int8,ort-int8-nospin,tflite-int8,ort-float,tflite-float")
    ap.add_argument("--workdir", default="")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    tensors, meta = load_safetensors(a.checkpoint)
    size = int(meta.get("image_size", 224))
    r = FoldedResNet(tensors, size)
    gop = 2 * r.macs() / 1e9
    work = a.workdir or tempfile.mkdtemp(prefix="ecg_peers_")
    os.makedirs(work, exist_ok=True)
    rng = np.random.default_rng(0)
    calib = (np.load(a.calib_npy).astype(np.float32) if a.calib_npy else
             rng.random((16, 3, size, size), dtype=np.float32))
    x = rng.random((1, 3, size, size), dtype=np.float32)
    peers = a.peers.split(",")
    results = []

    def report(peer, version, ms, p99, extra=None):
        o = {"peer": peer, "version": version, "model": meta.get("model", "?"), "image_size": size,
             "batch": 1, "threads": a.threads, "ms": ms, "p99_ms": p99, "gop": gop, "gops": gop / (ms / 1000)}
        o.update(extra or {})
        results.append(o)
        print(json.dumps(o) if a.json else o, flush=True)

    import onnxruntime as ort
    f32 = os.path.join(work, "model_f32.onnx")
    build_onnx(r, f32)
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sf = ort.InferenceSession(f32, so, providers=["CPUExecutionProvider"])
    ref = sf.run(None, {"x": x})[0]

    keras_model = tf = None
    if any(p.startswith("tflite") for p in peers):
        keras_model, tf = build_keras(r)
        kr = keras_model(x.transpose(0, 2, 3, 1), training=False).numpy()
        err = float(np.max(np.abs(kr - ref)) / (np.max(np.abs(ref)) + 1e-12))
        print(f"# float ONNX vs float Keras logits, max relative difference {err:.2e}", file=sys.stderr)
        if err > 1e-3:
            sys.exit(f"float graphs disagree ({err:.2e}): weights were not loaded the same way")

    if "ort-float" in peers:
        ms, p99 = time_it(lambda: sf.run(None, {"x": x}), a.warmup, a.runs)
        report("onnxruntime float32", ort.__version__, ms, p99)

    if "ort-int8" in peers:
        from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                              quantize_static)

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.it = iter([{"x": calib[i:i + 1]} for i in range(len(calib))])

            def get_next(self):
                return next(self.it, None)

        q8 = os.path.join(work, "model_int8_qdq.onnx")
        quantize_static(f32, q8, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        s8 = ort.InferenceSession(q8, so, providers=["CPUExecutionProvider"])
        out = s8.run(None, {"x": x})[0]
        ms, p99 = time_it(lambda: s8.run(None, {"x": x}), a.warmup, a.runs)
        report("onnxruntime int8 QDQ (U8S8, per-channel)", ort.__version__, ms, p99,
               {"model_bytes": os.path.getsize(q8),
                "logits_rel_err_vs_float": float(np.max(np.abs(out - ref)) / (np.max(np.abs(ref)) + 1e-12))})
        if "ort-int8-nospin" in peers:
            # Its thread pool without spinning: the better setting on a shared machine.
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            sn = ort.InferenceSession(q8, so, providers=["CPUExecutionProvider"])
            ms, p99 = time_it(lambda: sn.run(None, {"x": x}), a.warmup, a.runs)
            report("onnxruntime int8 QDQ (U8S8, per-channel), no spinning", ort.__version__, ms, p99)

    def litert(content):
        try:
            from ai_edge_litert.interpreter import Interpreter
            ver = "ai-edge-litert"
        except ImportError:
            Interpreter = tf.lite.Interpreter
            ver = "tf.lite"
        it = Interpreter(model_content=content, num_threads=a.threads)
        it.allocate_tensors()
        i, o = it.get_input_details()[0], it.get_output_details()[0]
        xi = x.transpose(0, 2, 3, 1).copy()

        def run():
            it.set_tensor(i["index"], xi)
            it.invoke()
            return it.get_tensor(o["index"])

        return run, ver

    if "tflite-float" in peers:
        conv = tf.lite.TFLiteConverter.from_keras_model(keras_model)
        with contextlib.redirect_stdout(sys.stderr):  # the converter prints its trace
            content = conv.convert()
        run, ver = litert(content)
        ms, p99 = time_it(run, a.warmup, a.runs)
        report("litert float32 (XNNPACK)", f"{ver} / tensorflow {tf.__version__}", ms, p99)

    if "tflite-int8" in peers:
        conv = tf.lite.TFLiteConverter.from_keras_model(keras_model)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = lambda: ([calib[i:i + 1].transpose(0, 2, 3, 1)] for i in range(len(calib)))
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        with contextlib.redirect_stdout(sys.stderr):
            content = conv.convert()
        with open(os.path.join(work, "model_int8.tflite"), "wb") as f:
            f.write(content)
        run, ver = litert(content)
        out = run()
        ms, p99 = time_it(run, a.warmup, a.runs)
        report("litert int8 (full integer, XNNPACK)", f"{ver} / tensorflow {tf.__version__}", ms, p99,
               {"model_bytes": len(content),
                "logits_rel_err_vs_float": float(np.max(np.abs(out - ref)) / (np.max(np.abs(ref)) + 1e-12))})


if __name__ == "__main__":
    main()
