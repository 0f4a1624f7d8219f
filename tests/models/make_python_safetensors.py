#!/usr/bin/env python3
"""Writes tests/models/data/resnet11_python.safetensors.gz: a ResNet-11
checkpoint written by the Python `safetensors` package (not by ecgcnn), so the
test proves that files from the Python ecosystem load.

Names, shapes and metadata come from a checkpoint written by `ecgcnn train`
(read here with safetensors.numpy, which also checks that direction). Values
follow a pattern the C++ test recomputes, so it can check every element; a
`num_batches_tracked` int64 scalar per BatchNorm is added as PyTorch writes
it. gzip keeps the committed file small (the pattern compresses ~1000x).

Usage (never needed by the build or CI):
  python3 tests/models/make_python_safetensors.py RUN/train/best.safetensors
Needs: pip install safetensors numpy
"""
import gzip
import json
import os
import struct
import sys

import numpy as np
from safetensors.numpy import load_file, save_file


def pattern(name, shape):
    # Element k of every tensor: ((k % 13) - 6) / 64, exact in float32;
    # running variances stay positive: ((k % 13) + 1) / 64.
    n = int(np.prod(shape)) if shape else 1
    k = np.arange(n, dtype=np.int64) % 13
    v = (k + 1) if name.endswith("running_var") else (k - 6)
    return (v.astype(np.float32) / 64.0).reshape(shape)


def main():
    src = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else "tests/models/data/resnet11_python.safetensors.gz"
    with open(src, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        metadata = json.loads(f.read(hlen)).get("__metadata__", {})
    info = json.loads(metadata["ecgcnn"])
    info = {k: info[k] for k in ("model", "image_size", "num_classes", "classes", "format")}
    tensors = {}
    for name, t in load_file(src).items():
        tensors[name] = pattern(name, t.shape)
        if name.endswith("running_mean"):
            tensors[name[: -len("running_mean")] + "num_batches_tracked"] = np.array(7, dtype=np.int64)
    raw = out[: -len(".gz")]
    save_file(tensors, raw, metadata={"ecgcnn": json.dumps(info)})
    with open(raw, "rb") as f, open(out, "wb") as gz, gzip.GzipFile(fileobj=gz, mode="wb", compresslevel=9, mtime=0) as g:
        g.write(f.read())
    os.remove(raw)
    print(f"{out}: {len(tensors)} tensors, model {info['model']} at {info['image_size']} px")


if __name__ == "__main__":
    main()
