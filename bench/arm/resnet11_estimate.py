#!/usr/bin/env python3
"""ResNet-11 batch-1 INT8 latency estimate on the Jetson Nano's 4 Cortex-A57
cores at 1.43 GHz, from llvm-mca figures for the ARMv8.0 int8 kernel
(bench/arm/mca.sh) and a count of what the blocked driver
(kernels/cpu/int8/conv_int8_driver.h) runs per layer:

  inner step   4 px x 4 ch x 16 input channels, 256 MAC      32 cycles (mca)
  tap step     the same when a tap has one 16-channel group   32 cycles (mca:
               the pointer work of the tap loop hides under the multiplies)
  epilogue     per pixel x 4 channels, int8 out               10 cycles (mca)
               with the fused residual add                    19.5 cycles (mca)
               + 3 ADDP and the bias add per pixel             2 cycles (count)
               + the constants, loaded once per 4-pixel
                 sub-tile: ~6 cycles (~11 with the add) / 4    1.5 / 3 cycles (count)

What mca cannot see is listed as stated guesses, so a board measurement can
correct them one by one: a mispredicted loop exit per tap and sub-tile when
a tap has several groups, the band copy, and the OpenMP split.

    python3 bench/arm/resnet11_estimate.py
"""
import math

GHZ, CORES = 1.43, 4
INNER = 32.0          # cycles per inner iteration (mca)
EPI_PLAIN = 10.0 + 2 + 1.5  # cycles per pixel x 4 channels (mca + ADDP/bias + constants)
EPI_RES = 19.5 + 2 + 3.0    # the same with the fused residual add
BRANCH_MISS = 15.0    # cycles per (sub-tile, tap) when groups > 1: the inner loop's exit (guess)
FILL_BPC = 8.0        # bytes per cycle of the band copy (memcpy from L2, guess)
PARALLEL_EFF = 0.9    # OpenMP split over 4-row tiles on 4 threads (guess)

# (name, C, K, R, stride, H_in, fused residual add) with TensorFlow 'same'
# padding, 224x224 input; the names are the layers `ecgcnn summary` and the
# int8 profile print. The stem's 3 channels are padded to 16 (zero
# weights): the kernel does 16/3 of the stem's real work, counted as such.
LAYERS = [
    ("stem_conv", 3, 16, 3, 1, 224, False),
    ("stage0.block0.conv1", 16, 16, 3, 1, 224, False),
    ("stage0.block0.conv2", 16, 64, 3, 1, 224, True),
    ("stage0.block0.shortcut", 16, 64, 1, 1, 224, False),
    ("stage1.block0.conv1", 64, 64, 3, 2, 224, False),
    ("stage1.block0.conv2", 64, 128, 3, 1, 112, True),
    ("stage1.block0.shortcut", 64, 128, 1, 2, 224, False),
    ("stage2.block0.conv1", 128, 128, 3, 2, 112, False),
    ("stage2.block0.conv2", 128, 256, 3, 1, 56, True),
    ("stage2.block0.shortcut", 128, 256, 1, 2, 112, False),
    ("fc", 12544, 4, 1, 1, 1, False),
]


def shape_note(C, K, R, stride, res):
    """What the row computes, beside its layer name: 3x3/2 64->128 +res."""
    if R == 1 and stride == 1 and C > 1000:
        return f"dense {C}->{K}"
    return f"{R}x{R}{'/2' if stride == 2 else ''} {C}->{K}{' +res' if res else ''}"


def layer(C, K, R, stride, H, res):
    P = Q = (H + stride - 1) // stride
    groups, kb, taps = math.ceil(C / 16), math.ceil(K / 16), R * R
    subtiles = P * math.ceil(Q / 4) * kb * 4  # 4 px x 4 ch each
    macs = P * Q * K * C * taps
    inner = subtiles * taps * groups * INNER
    misses = subtiles * taps * BRANCH_MISS if groups > 1 else 0
    epi = subtiles * 4 * (EPI_RES if res else EPI_PLAIN)
    band_rows = 3 * stride + R  # 4 output rows per tile
    fill = (P / 4) * band_rows * (H + R - 1) * groups * 16 / FILL_BPC
    return macs, inner, misses + epi + fill


def main():
    tot_mac = tot_cyc = tot_inner = 0
    print(f"{'layer':40s} {'MMAC':>8s} {'inner Mcyc':>10s} {'other Mcyc':>10s} {'MAC/cyc':>8s}")
    for name, C, K, R, s, H, res in LAYERS:
        macs, inner, other = layer(C, K, R, s, H, res)
        tot_mac += macs
        tot_inner += inner
        tot_cyc += inner + other
        label = f"{name} ({shape_note(C, K, R, s, res)})"
        print(f"{label:40s} {macs/1e6:8.1f} {inner/1e6:10.1f} {other/1e6:10.1f} {macs/(inner+other):8.2f}")
    ms = tot_cyc / (CORES * PARALLEL_EFF) / (GHZ * 1e6)
    floor = tot_mac / (CORES * 8) / (GHZ * 1e6)
    print(f"total {tot_mac/1e9:.2f} GMAC, {tot_cyc/1e9:.2f} Gcycles on one core "
          f"({tot_mac/tot_cyc:.2f} MAC/cycle, {100*tot_mac/tot_cyc/8:.0f} % of 8)")
    print(f"estimate: {ms:.0f} ms on {CORES} A57 cores at {GHZ} GHz "
          f"(floor {floor:.0f} ms; study 607 ms -> {607/ms:.1f}x; target <= 150 ms)")


if __name__ == "__main__":
    main()
