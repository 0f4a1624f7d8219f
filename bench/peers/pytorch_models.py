#!/usr/bin/env python3
"""PyTorch peer for `ecgcnn bench`: the study's ResNet-(9n+2) and AlexNet built
layer for layer as in models/models.cpp (TensorFlow "same" padding done with an
explicit asymmetric F.pad, BN momentum 0.01 = Keras 0.99, eps 1e-3), timed in
the configurations PyTorch runs fastest here (channels-last tensors).

Usage (Debian's python3-torch; never needed to build or test ecgcnn):
  /usr/bin/python3 bench/peers/pytorch_models.py --model resnet11 --mode train \
      --batch 16 --image-size 224 --threads 2 --steps 3 --json
Prints images_per_s, ms_per_step (median) and peak_rss_mb like `ecgcnn bench`.
"""
import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def same_pad(size, k, s):
    out = (size + s - 1) // s
    total = max((out - 1) * s + k - size, 0)
    return total // 2, total - total // 2


class SameConv(nn.Conv2d):
    """Conv2d with TensorFlow 'same' padding (odd pixel bottom/right)."""

    def forward(self, x):
        k, s = self.kernel_size[0], self.stride[0]
        t, b = same_pad(x.shape[2], k, s)
        l, r = same_pad(x.shape[3], k, s)
        if t or b or l or r:
            x = F.pad(x, (l, r, t, b))
        return super().forward(x)


def unit(cin, cout, stride):
    return nn.Sequential(SameConv(cin, cout, 3, stride), nn.BatchNorm2d(cout, eps=1e-3, momentum=0.01))


class Block(nn.Module):
    def __init__(self, cin, cmid, cout, stride, project):
        super().__init__()
        self.u1 = unit(cin, cmid, stride)
        self.u2 = unit(cmid, cout, 1)
        self.shortcut = SameConv(cin, cout, 1, stride) if project else None

    def forward(self, x):
        y = F.relu(self.u1(x))
        y = self.u2(y)
        s = self.shortcut(x) if self.shortcut is not None else x
        return F.relu(s + y)


class ResNet(nn.Module):
    def __init__(self, n, image_size, classes=4):
        super().__init__()
        self.stem = unit(3, 16, 1)
        blocks, f_in = [], 16
        for stage in range(3):
            f_out = 4 * f_in if stage == 0 else 2 * f_in
            for b in range(n):
                first = b == 0
                stride = 2 if first and stage > 0 else 1
                blocks.append(Block(f_in if first else f_out, f_in, f_out, stride, first))
            f_in = f_out
        self.blocks = nn.Sequential(*blocks)
        s = ((image_size + 3) // 4 - 8) // 8 + 1
        self.fc = nn.Linear(f_in * s * s, classes)

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = self.blocks(x)
        x = F.avg_pool2d(x, 8, 8)
        return self.fc(torch.flatten(x, 1))


class AlexNet(nn.Module):
    def __init__(self, image_size, classes=4):
        super().__init__()
        bn = lambda c: nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)
        self.features = nn.Sequential(
            nn.Conv2d(3, 96, 11, 4), nn.ReLU(), nn.MaxPool2d(2), bn(96),
            nn.Conv2d(96, 256, 11), nn.ReLU(), nn.MaxPool2d(2), bn(256),
            nn.Conv2d(256, 384, 3), nn.ReLU(), bn(384),
            nn.Conv2d(384, 384, 3), nn.ReLU(), bn(384),
            nn.Conv2d(384, 256, 3), nn.ReLU(), nn.MaxPool2d(2), bn(256))
        # Probe the flattened size in eval mode: in training mode batch norm
        # refuses one sample with a 1x1 map (AlexNet's last block at 224 px).
        self.features.eval()
        with torch.no_grad():
            f = self.features(torch.zeros(1, 3, image_size, image_size)).numel()
        self.features.train()
        self.head = nn.Sequential(nn.Linear(f, 512), nn.ReLU(), nn.Dropout(0.5),
                                  nn.BatchNorm1d(512, eps=1e-3, momentum=0.01), nn.Linear(512, classes))

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


def build(name, image_size):
    if name == "alexnet":
        return AlexNet(image_size)
    return ResNet({"resnet11": 1, "resnet20": 2, "resnet29": 3}[name], image_size)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="resnet11")
    ap.add_argument("--mode", choices=["train", "infer"], default="train")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--image-size", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--channels-last", type=int, default=1)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = build(a.model, a.image_size)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    x = torch.rand(a.batch, 3, a.image_size, a.image_size).to(memory_format=fmt)
    y = torch.randint(0, 4, (a.batch,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    times = []
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        if a.mode == "train":
            model.train()
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        else:
            model.eval()
            with torch.no_grad():
                model(x)
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    ms = statistics.median(times) * 1000
    out = {"peer": "pytorch " + torch.__version__, "model": a.model, "mode": a.mode,
           "batch": a.batch, "image_size": a.image_size, "threads": a.threads,
           "channels_last": bool(a.channels_last), "ms_per_step": ms,
           "images_per_s": a.batch / (ms / 1000),
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    print(json.dumps(out) if a.json else out)


if __name__ == "__main__":
    main()
