#!/usr/bin/env python3
"""Predicted Jetson Nano (sm_53) time of the FP16 (half2) path on ResNet-11, batch 1.

The FP16 kernels (kernels/cuda/conv_fp16.cuh, pool_fp16.cuh) run the int8
graph with int8 weights and half activations; each K step of their main loop
is 16 channel pairs (32 reduction terms) of HFMA2, each doing two
multiply-adds. Inputs as for cuda_nano_estimate.py (whose model and helpers
this reuses): registers and shared memory from `ptxas -v`, and the main loop
of each tile from the SASS (instructions and HFMA2 per K step, the code run
once before and after it).

Floor of a layer = max(FLOPs / 472 GFLOP/s (the Nano's FP16 peak: 128 lanes x
2 x half2 x 921.6 MHz), compulsory bytes / 25.6 GB/s), the bytes being half
activations in and out (and the half residual), int8 weights and 16 bytes of
per-channel constants. The sum of the floors is study.md's 15 ms.

Usage: cuda_nano_estimate_fp16.py <ptxas.log> <conv_fp16.sass>
"""
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cuda_nano_estimate import (BW, BW_EFF, LAUNCH_S, PEAK_FP32, RESNET11, find,  # noqa: E402
                                igemm_time, loop_stats, print_kernel_row, resources)

PEAK_FP16 = 2 * PEAK_FP32  # 472 GFLOP/s
K_STEP = 32  # reduction terms (bytes of a packed weight row) per loop iteration


def main():
    ptxas, sass = sys.argv[1:3]
    res = resources(ptxas)
    loops = loop_stats(sass)

    def loop_of(key):
        return find(loops, key)

    # conv_fp16_config: (threads along M, TM, TN) -> tile; the gather mode
    # (conv_fp16.cuh kGather*): 0 = two halves through the iterator (odd C:
    # the stem), 2 = one tap per K step (C % 32 == 0), 3 = two taps (C = 16).
    configs = {"small": ("Li4ELi4ELi4E", "4, 4, 4", 16, 256),
               "medium": ("Li8ELi8ELi4E", "8, 8, 4", 64, 128),
               "large": ("Li16ELi8ELi4E", "16, 8, 4", 128, 64)}

    def gather_mode(C):
        return 0 if C % 2 else 3 if C == 16 else 2 if C % 32 == 0 else 1

    def kernel(size, mode):
        m, d, tm, tn = configs[size]
        return (loop_of("conv_fp16_kernelI" + m + "Li" + str(mode) + "E"),
                find(res, d + ", " + str(mode) + ">"), tm, tn)

    print("FP16 kernels as compiled for sm_53 (CUDA 11.8, ptxas -v; SASS main loop per K step "
          "of 16 channel pairs):\n")
    print("| kernel | regs | smem B | blocks/SM (threads) | loop instr | HFMA2 | HFMA2 share |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, size, mode in (("conv fp16, 16x256 tile (4x4 per thread; K <= 16), odd C (the stem)",
                               "small", 0),
                              ("conv fp16, 16x256 tile, C = 16 (two taps per K step)", "small", 3),
                              ("conv fp16, 64x128 tile (8x4 per thread; K <= 64), C = 16",
                               "medium", 3),
                              ("conv fp16, 64x128 tile, C % 32 == 0 (one tap per K step)",
                               "medium", 2),
                              ("conv fp16, 128x64 tile (8x4 per thread; K > 64), C % 32 == 0",
                               "large", 2)):
        lp, r, _, _ = kernel(size, mode)
        print_kernel_row(label, r, lp)
    for key in ("conv_fp16_dense_kernel", "pool_fp16_kernel<false>", "add_fp16_kernel"):
        print_kernel_row(key.replace('_kernel', ''), find(res, key))

    print("\nResNet-11 forward, batch 1, 224x224, FP16 path (predicted Nano times; floor = "
          "max(FLOPs/472 GFLOP/s, bytes/25.6 GB/s)):\n")
    print("| layer | GFLOP | bytes MB | FP16 floor ms | FP16 ms | ratio | blocks x waves | "
          "issue ms | memory ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    tot = dict(flops=0.0, floor=0.0, t=0.0)
    for name, C, H, K, R, st in RESNET11:
        P = H // st
        flops = 2.0 * K * P * P * C * R * R
        Cp = -(-C // 4) * 4
        comp = 2 * C * H * H + K * Cp * R * R + 2 * K * P * P + 16 * K
        if "conv2" in name:
            comp += 2 * K * P * P  # fused residual input
        floor = max(flops / PEAK_FP16, comp / BW)
        size = "small" if K <= 16 else "medium" if K <= 64 else "large"
        lp, r, tm, tn = kernel(size, gather_mode(C))
        t, info = igemm_time(K, P * P, R * R * Cp, K_STEP, lp[0], lp[2], *r, 256, 1,
                             K * Cp * R * R, comp, tm, tn)
        print(f"| {name} | {flops / 1e9:.3f} | {comp / 1e6:.2f} | {floor * 1e3:.2f} | "
              f"{t * 1e3:.2f} | {t / floor:.1f} | {info['blocks']} x {info['waves']} | "
              f"{info['t_issue'] * 1e3:.2f} | {info['t_mem'] * 1e3:.2f} |")
        tot["flops"] += flops
        tot["floor"] += floor
        tot["t"] += t
    # Head: the 8x8/8 average pool (pool_fp16.cuh) and the dense 12544 -> 4
    # (warp per output), both memory-bound.
    mem_pool = 2 * 256 * 56 * 56 + 2 * 256 * 49
    t_pool = mem_pool / (BW * BW_EFF) + LAUNCH_S
    mem_dense = 2 * 12544 + 4 * 12544 + 4 * 16
    t_dense = mem_dense / (BW * BW_EFF) + LAUNCH_S
    print(f"| head_pool (8x8/8) | | {mem_pool / 1e6:.2f} | {mem_pool / BW * 1e3:.2f} | "
          f"{t_pool * 1e3:.2f} | | | | |")
    print(f"| fc (dense 12544->4, warp per output) | 0.0001 | {mem_dense / 1e6:.2f} | "
          f"{mem_dense / BW * 1e3:.2f} | {t_dense * 1e3:.2f} | | 1 x 1 | | |")
    floor_total = tot["floor"] + (mem_pool + mem_dense) / BW
    total = tot["t"] + t_pool + t_dense
    print(f"| **total** | {tot['flops'] / 1e9:.2f} | | {floor_total * 1e3:.1f} | "
          f"**{total * 1e3:.1f}** | {total / floor_total:.1f} | | | |")
    print(f"\nConvolutions alone: FP16 {tot['t'] * 1e3:.1f} ms against a floor of "
          f"{tot['floor'] * 1e3:.1f} ms ({tot['t'] / tot['floor']:.2f}x).")


if __name__ == "__main__":
    main()
