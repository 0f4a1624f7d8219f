#!/usr/bin/env python3
"""Writes the small seed files of the model-file fuzz targets (committed):
  seeds_safetensors/  checkpoints: one tensor of a ResNet-11 with its metadata
                      (the load gets through the metadata and the first
                      tensor's checks), F16/F64/I64 tensors, empty files
  seeds_state/        training states: every counter, no or few tensors
  seeds_int8/         tiny int8 graphs (conv + ReLU, max pool, dense) that
                      load and run, in format version 3
  seeds_npy/          float32 / float64 arrays in .npy versions 1 to 3
  seeds_train_config/ a run folder's train_config.json, current and older
Usage: python3 tests/fuzz/make_model_seeds.py  (from the repository root)."""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def out(folder, name, data):
    d = os.path.join(HERE, folder)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata):
    """tensors: list of (name, dtype, shape, raw bytes)."""
    header, blob = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape,
                        "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (len(h) + 8) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + blob


def f32(values):
    return struct.pack("<%df" % len(values), *values)


def checkpoint_seeds():
    info = {"model": "resnet11", "image_size": 32, "num_classes": 4,
            "classes": ["Normal", "Abnormal heartbeat", "Myocardial infarction", "History of MI"],
            "format": "ecgcnn-checkpoint-1", "data": {"image_size": 32}}
    w = f32([((i % 13) - 6) / 64 for i in range(16 * 27)])
    out("seeds_safetensors", "first_tensor.safetensors",
        safetensors([("stem_conv.weight", "F32", [16, 3, 3, 3], w)], {"ecgcnn": json.dumps(info)}))
    out("seeds_safetensors", "bn.safetensors",
        safetensors([("stem_bn.running_var", "F32", [16], f32([1.0] * 16)),
                     ("stem_bn.num_batches_tracked", "I64", [], struct.pack("<q", 5))],
                    {"ecgcnn": json.dumps(dict(info, num_classes=2, classes=["a", "b"]))}))
    out("seeds_safetensors", "dtypes.safetensors",
        safetensors([("a", "F16", [2, 2], struct.pack("<4e", 1, 2, 3, 4)),
                     ("b", "F64", [2], struct.pack("<2d", 0.5, -0.5)),
                     ("c", "I32", [1], struct.pack("<i", 7)), ("d", "U8", [0], b"")], {}))
    out("seeds_safetensors", "empty.safetensors", safetensors([], {}))


def state_seeds():
    meta = {"epoch": 1, "next_batch": 0, "loss_sum": 0.0, "seen": 0, "correct": 0,
            "epoch_seconds": 0.0,
            "plateau": {"best": 1.2, "scale": 1.0, "wait": 0, "cooldown_left": 0},
            "early_wait": 0, "best_epoch": 0, "best_val_acc": 0.5, "horizon_best_val_acc": [],
            "optimizer_steps": 1, "dropout_counters": [], "model": "resnet11", "optimizer": "adam",
            "history": [{"epoch": 0, "train_loss": 1.3, "train_acc": 0.4, "val_loss": 1.2,
                         "val_acc": 0.5, "lr": 0.001, "seconds": 1.0, "images_per_s": 9.0}]}
    out("seeds_state", "counters.safetensors",
        safetensors([("optim.m.0", "F32", [2], f32([0, 0]))],
                    {"ecgcnn_train_state": json.dumps(meta)}))
    w = f32([0.01] * (16 * 27))
    out("seeds_state", "first_tensor.safetensors",
        safetensors([("model.stem_conv.weight", "F32", [16, 3, 3, 3], w)],
                    {"ecgcnn_train_state": json.dumps(dict(meta, optimizer_steps=0))}))


def int8_seed(name, relu, pool):
    """conv 3->4 (3x3, stride 2, 8x8 -> 4x4), optional max pool 2x2, dense -> 2 classes."""
    blobs = b""

    def put(raw):
        nonlocal blobs
        while len(blobs) % 16:
            blobs += b"\0"
        at = len(blobs)
        blobs += raw
        return [at, len(raw)]

    tensors = [{"name": "input", "nhwc": [1, 8, 8, 3], "scale": 0.0078125, "zero_point": 0},
               {"name": "conv", "nhwc": [1, 4, 4, 4], "scale": 0.05, "zero_point": -128}]
    conv = {"kind": "conv", "name": "conv", "inputs": [0], "output": 1,
            "shape": [4, 3, 3, 2, 2, 0, 0, 1, 1],
            "weights": put(bytes(((i * 7) % 200 - 100) & 0xff for i in range(4 * 3 * 3 * 3))),
            "bias": put(struct.pack("<4i", 10, -10, 0, 5)),
            "weight_scale": put(f32([0.01, 0.02, 0.015, 0.01]))}
    if relu:
        conv["relu"] = True
    nodes = [conv]
    last, hw = 1, 4
    if pool:
        tensors.append({"name": "pool", "nhwc": [1, 2, 2, 4], "scale": 0.05, "zero_point": -128})
        nodes.append({"kind": "maxpool", "name": "pool", "inputs": [1], "output": 2,
                      "pool": [2, 2, 2, 2, 0, 0, 0, 0]})
        last, hw = 2, 2
    n_in = hw * hw * 4
    nodes.append({"kind": "dense", "name": "fc", "inputs": [last], "output": -1, "units": 2,
                  "weights": put(bytes((i * 5 % 100) & 0xff for i in range(2 * n_in))),
                  "bias": put(struct.pack("<2i", 3, -3)),
                  "weight_scale": put(f32([0.01, 0.01]))})
    header = {"model": "resnet11", "image_size": 8, "classes": ["a", "b"],
              "preprocessing": {"image_size": 8}, "calibration": {"method": "minmax"},
              "tensors": tensors, "nodes": nodes}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((16 - (16 + len(h)) % 16) % 16)
    out("seeds_int8", name, b"ECGINT8\0" + struct.pack("<II", 3, len(h)) + h + blobs)


def npy(version, descr, shape, values):
    h = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, "".join("%d," % s for s in shape))
    size_bytes = 2 if version == 1 else 4
    pad = (64 - (6 + 2 + size_bytes + len(h) + 1) % 64) % 64
    h = (h + " " * pad + "\n").encode("latin1" if version < 3 else "utf8")
    fmt = "<H" if version == 1 else "<I"
    code = "f" if descr == "<f4" else "d"
    return (b"\x93NUMPY" + bytes([version, 0]) + struct.pack(fmt, len(h)) + h +
            struct.pack("<%d%s" % (len(values), code), *values))


def npy_seeds():
    out("seeds_npy", "chw_v1.npy", npy(1, "<f4", [3, 2, 2], [i / 12 for i in range(12)]))
    out("seeds_npy", "nchw_v2.npy", npy(2, "<f8", [1, 3, 1, 2], [0.5] * 6))
    out("seeds_npy", "vector_v3.npy", npy(3, "<f4", [4], [1, 2, 3, 4]))
    out("seeds_npy", "scalar_v1.npy", npy(1, "<f4", [], [7]))


def train_config_seeds():
    good = {"data": "/data/ecg", "model": "resnet11", "epochs": 30, "batch": 16,
            "image_size": 224, "seed": 1, "recipe": "default", "optimizer": "adam", "lr": 0.001,
            "schedule": "study", "warmup_epochs": 0, "early_stop": 0, "no_augment": False,
            "flip": False, "no_oversample": False, "class_weighted": False,
            "val_fraction": 0.2, "precise_bn": 20, "skip_bad": False}
    out("seeds_train_config", "train_config.json", json.dumps(good, indent=2).encode())
    old = {k: v for k, v in good.items() if k not in ("precise_bn", "skip_bad")}
    out("seeds_train_config", "old_train_config.json", json.dumps(old).encode())


if __name__ == "__main__":
    checkpoint_seeds()
    state_seeds()
    int8_seed("conv_dense.int8", relu=False, pool=False)
    int8_seed("conv_relu_pool_dense.int8", relu=True, pool=True)
    npy_seeds()
    train_config_seeds()
