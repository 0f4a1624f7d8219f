"""ncnn as a peer: the float model converted by pnnx, and its int8 version.

The `ncnn` wheel on PyPI ships the Python bindings and `pnnx`, but not
ncnn's quantization tools (`ncnn2table`, `ncnn2int8` are C++ programs of the
ncnn source tree, and no Debian/Ubuntu package carries them). This module
does what those two tools do for the layers of an ecgcnn ResNet, writing the
model format ncnn's own loader reads:

  ncnn2table (calibration): one scale per convolution input blob,
    127 / max|x| over the calibration images (the MinMax rule, as the ONNX
    Runtime and LiteRT peers are calibrated), and one scale per output
    channel of the weights, 127 / max|w[k]| (ncnn2table's weight rule).
  ncnn2int8: each Convolution gets `8=2` (int8_scale_term, per-channel
    weight scales); its weights are stored as int8 (round half away from
    zero, clamped to [-127, 127], ncnn's float2int8) under the int8 tag
    0x000D4B38, followed by the float bias, the weight scales and the
    input-blob scale. With `requantize`, a convolution whose only consumer
    is another convolution also gets that consumer's input scale and
    `8=102`, so it writes int8 straight away (ncnn2int8's fuse_requantize).
    The dense layer stays float (50k multiply-adds of ~2.7 G).

The int8 model then runs through ncnn's own int8 convolution kernels (the
x86 ones pick AVX-512 VNNI / AVX-VNNI / AVX2 at run time); `check` in
int8_peers.py compares its logits with the float graph before timing.
"""
import struct

import numpy as np

INT8_TAG = 0x000D4B38
WEIGHTLESS = {"Input", "Split", "BinaryOp", "ReLU", "Pooling", "Flatten"}


class Layer:
    def __init__(self, tokens):
        self.type, self.name = tokens[0], tokens[1]
        nb, nt = int(tokens[2]), int(tokens[3])
        self.bottoms = tokens[4:4 + nb]
        self.tops = tokens[4 + nb:4 + nb + nt]
        self.params = dict(t.split("=", 1) for t in tokens[4 + nb + nt:])
        self.blobs = []  # (kind, array): kind "tagged" (flag + float32) or "raw"

    def line(self):
        params = " ".join(f"{k}={v}" for k, v in self.params.items())
        return (f"{self.type:<24} {self.name:<24} {len(self.bottoms)} {len(self.tops)} " +
                " ".join(self.bottoms + self.tops) + (" " + params if params else ""))


def read_model(param_path, bin_path):
    lines = open(param_path).read().split("\n")
    if lines[0].strip() != "7767517":
        raise ValueError(f"{param_path}: not an ncnn param file")
    layers = [Layer(l.split()) for l in lines[2:] if l.strip()]
    data = open(bin_path, "rb").read()
    pos = 0

    def tagged(n):
        nonlocal pos
        tag = struct.unpack_from("<I", data, pos)[0]
        if tag != 0:
            raise ValueError(f"{bin_path}: weights stored with tag {tag:#x}; convert with pnnx fp16=0")
        a = np.frombuffer(data, np.float32, n, pos + 4).copy()
        pos += 4 + 4 * n
        return a

    def raw(n):
        nonlocal pos
        a = np.frombuffer(data, np.float32, n, pos).copy()
        pos += 4 * n
        return a

    for l in layers:
        if l.type == "Convolution":
            if "8" in l.params:
                raise ValueError(f"{param_path}: layer {l.name} is already int8")
            l.blobs.append(("tagged", tagged(int(l.params["6"]))))
            if l.params.get("5", "0") == "1":
                l.blobs.append(("raw", raw(int(l.params["0"]))))
        elif l.type == "InnerProduct":
            l.blobs.append(("tagged", tagged(int(l.params["2"]))))
            if l.params.get("1", "0") == "1":
                l.blobs.append(("raw", raw(int(l.params["0"]))))
        elif l.type not in WEIGHTLESS:
            raise ValueError(f"{param_path}: layer type {l.type} is not handled by the int8 writer")
    if pos != len(data):
        raise ValueError(f"{bin_path}: {len(data) - pos} bytes left after the last layer")
    return lines[1], layers


def float2int8(x):
    """ncnn's float2int8: round half away from zero, clamp to [-127, 127]."""
    r = np.sign(x) * np.floor(np.abs(x) + 0.5)
    return np.clip(r, -127, 127).astype(np.int8)


def activation_absmax(ncnn, param_path, bin_path, blobs, images, threads):
    """max |x| of each named blob over the images (NCHW float32), float ncnn."""
    net = ncnn.Net()
    float_options(net.opt, threads)
    net.load_param(param_path)
    net.load_model(bin_path)
    amax = {b: 0.0 for b in blobs}
    for img in images:
        ex = net.create_extractor()
        ex.set_light_mode(False)
        ex.input("in0", ncnn.Mat(np.ascontiguousarray(img)))
        for b in blobs:
            rc, m = ex.extract(b)
            if rc != 0:
                raise RuntimeError(f"ncnn could not extract blob {b} ({rc})")
            amax[b] = max(amax[b], float(np.max(np.abs(np.array(m)))))
    return amax


def float_options(opt, threads):
    """Plain float32: no fp16/bf16 storage, so the logits match ONNX float."""
    opt.num_threads = threads
    opt.use_fp16_storage = opt.use_fp16_packed = opt.use_fp16_arithmetic = False
    opt.use_bf16_storage = False


def write_int8(ncnn, param_path, bin_path, out_param, out_bin, images, threads, requantize=True):
    """Quantize every Convolution as ncnn2table + ncnn2int8 would (module doc)."""
    header, layers = read_model(param_path, bin_path)
    convs = [l for l in layers if l.type == "Convolution"]
    amax = activation_absmax(ncnn, param_path, bin_path, sorted({c.bottoms[0] for c in convs}), images, threads)
    in_scale = {c.name: (127.0 / amax[c.bottoms[0]] if amax[c.bottoms[0]] > 0 else 1.0) for c in convs}
    consumers = {}
    for l in layers:
        for b in l.bottoms:
            consumers.setdefault(b, []).append(l)
    with open(out_bin, "wb") as f:
        for l in layers:
            if l.type != "Convolution":
                for kind, a in l.blobs:
                    if kind == "tagged":
                        f.write(struct.pack("<I", 0))
                    f.write(a.astype("<f4").tobytes())
                continue
            k = int(l.params["0"])
            w = l.blobs[0][1].reshape(k, -1).astype(np.float64)
            wmax = np.max(np.abs(w), axis=1)
            wscale = np.where(wmax > 0, 127.0 / np.where(wmax > 0, wmax, 1), 1.0)
            q = float2int8(w * wscale[:, None]).tobytes()
            f.write(struct.pack("<I", INT8_TAG) + q + b"\0" * (-len(q) % 4))
            for kind, a in l.blobs[1:]:
                f.write(a.astype("<f4").tobytes())
            f.write(wscale.astype("<f4").tobytes())
            f.write(struct.pack("<f", in_scale[l.name]))
            nxt = consumers.get(l.tops[0], [])
            if requantize and len(nxt) == 1 and nxt[0].type == "Convolution":
                l.params["8"] = "102"
                f.write(struct.pack("<f", in_scale[nxt[0].name]))
            else:
                l.params["8"] = "2"
    with open(out_param, "w") as f:
        f.write("7767517\n" + header + "\n" + "\n".join(l.line() for l in layers) + "\n")
