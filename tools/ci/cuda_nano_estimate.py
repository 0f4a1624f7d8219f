#!/usr/bin/env python3
"""Predicted Jetson Nano (sm_53) time of the CUDA kernels on ResNet-11, batch 1.

Inputs are what the compiler says about the kernels as compiled for sm_53 by
CUDA 11.8 (tools/ci/cuda_nano_estimate.sh makes them): registers and shared
memory per kernel (ptxas -v), and the main loop of each implicit GEMM from the
SASS (instructions and FFMA per K step, tools/ci/cuda_sass_loops.py).

Model (one Maxwell SM, 128 FP32 lanes, 921.6 MHz, 25.6 GB/s LPDDR4):
- occupancy: resident blocks = min(32, 2048 / threads, register file / (regs
  per warp rounded to 256, times warps), 64 KiB / shared memory);
- implicit GEMM time = issue time: every warp of every block executes the
  loop (L instructions) once per K step, plus the code before the loop and one
  epilogue version once (all from the SASS);
  the SM issues 4 warp instructions per cycle at best, and we assume 80 % of
  that with >= 16 resident warps (FMA and shared-memory latency hidden by the
  other warps; 60 % below 16 warps); blocks come in waves of the resident
  count, so a last partial wave costs a whole one;
- memory: compulsory bytes (inputs, weights, outputs once) plus the weight
  panel re-read per wave, at 75 % of 25.6 GB/s; a kernel takes the larger of
  issue and memory time, plus 10 us of launch overhead;
- elementwise / pooling / batch-norm kernels: bytes at 75 % of 25.6 GB/s.
The floor of a layer is max(FLOPs / 236 GFLOP/s, compulsory bytes / 25.6 GB/s),
as in ../shared/design/study.md.

Usage: cuda_nano_estimate.py <ptxas.log> <conv2d.sass> <conv_int8.sass>
"""
import math
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cuda_sass_loops import backward_branches, parse  # noqa: E402

CLOCK = 921.6e6
PEAK_FP32 = 128 * 2 * CLOCK  # 236 GFLOP/s
BW = 25.6e9
BW_EFF = 0.75
LAUNCH_S = 10e-6
REGS_PER_SM = 65536
SMEM_PER_SM = 65536
MAX_THREADS_SM = 2048
MAX_BLOCKS_SM = 32


def resources(ptxas_log):
    """kernel substring -> (regs, smem) for sm_53, from ptxas -v."""
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(["bash", os.path.join(here, "cuda_resource_report.sh"), ptxas_log],
                         capture_output=True, text=True, check=True).stdout
    res = {}
    for line in out.splitlines():
        f = line.split(None, 5)
        if len(f) == 6 and f[0] == "sm_53":
            res[f[5]] = (int(f[1]), int(f[2]))
    return res


def find(res, key):
    for name, v in res.items():
        if key in name:
            return v
    raise KeyError(key)


def loop_stats(sass_path):
    """mangled name -> (loop instructions, FMA per loop, instructions run once)."""
    stats = {}
    for name, ins in parse(open(sass_path).read()):
        best = None
        for a, b in backward_branches(ins):
            loop = [x for (ad, x) in ins if a <= ad <= b]
            fma = sum(1 for x in loop if re.search(r'\b(FFMA|HFMA2)\b', x))
            if best is None or fma > best[1]:
                best = (len(loop), fma, (a, b))
        if best:
            stats[name] = (best[0], best[1], executed_outside_loop(ins, best[2]))
    return stats


def nested_loop_stats(sass_path, key):
    """The direct kernel's per-stage cost: an outer loop over input-channel
    stages around loops that run once per channel of the stage (the patch
    copy and the FMAs). Returns (outer instructions, instructions of the
    per-channel loops, FMA per channel, instructions run once) for the
    function whose name contains key; a stage of c channels then runs
    outer + (c - 1) * per_channel instructions (the outer count holds one
    pass of each inner loop)."""
    for name, ins in parse(open(sass_path).read()):
        if key not in name:
            continue
        loops = list(backward_branches(ins))
        outer = max(loops, key=lambda ab: ab[1] - ab[0])
        inner = [(a, b) for a, b in loops if (a, b) != outer and outer[0] <= a and b <= outer[1]]
        count = lambda a, b: sum(1 for ad, _ in ins if a <= ad <= b)  # noqa: E731
        fma = max(sum(1 for ad, x in ins if a <= ad <= b and re.search(r'\bFFMA\b', x))
                  for a, b in inner)
        return (count(*outer), sum(count(a, b) for a, b in inner), fma,
                executed_outside_loop(ins, outer))
    raise KeyError(key)


def executed_outside_loop(ins, loop_range):
    """Instructions a thread runs once: everything before the main loop, and
    one of the epilogue versions nvcc emits after it (the code after the loop
    divided by its number of unconditional EXITs)."""
    a, b = loop_range
    before = sum(1 for ad, _ in ins if ad < a)
    after = [x for ad, x in ins if ad > b]
    exits = max(1, sum(1 for x in after if re.match(r'EXIT\b', x)))
    return before + len(after) // exits


def occupancy(threads, regs, smem):
    warps = threads // 32
    regs_per_warp = math.ceil(regs * 32 / 256) * 256
    by_regs = REGS_PER_SM // (regs_per_warp * warps)
    by_smem = SMEM_PER_SM // smem if smem else MAX_BLOCKS_SM
    return max(1, min(MAX_BLOCKS_SM, MAX_THREADS_SM // threads, by_regs, by_smem))


# ResNet-11 (study.md): stem, three stages of one block, head. (name, C, H, K, R, stride);
# each row starts with the layer name `ecgcnn summary` and the profiles print.
RESNET11 = [
    ("stem_conv (3x3 3->16)", 3, 224, 16, 3, 1),
    ("stage0.block0.conv1 (3x3 16->16)", 16, 224, 16, 3, 1),
    ("stage0.block0.conv2 (3x3 16->64)", 16, 224, 64, 3, 1),
    ("stage0.block0.shortcut (1x1 16->64)", 16, 224, 64, 1, 1),
    ("stage1.block0.conv1 (3x3/2 64->64)", 64, 224, 64, 3, 2),
    ("stage1.block0.conv2 (3x3 64->128)", 64, 112, 128, 3, 1),
    ("stage1.block0.shortcut (1x1/2 64->128)", 64, 224, 128, 1, 2),
    ("stage2.block0.conv1 (3x3/2 128->128)", 128, 112, 128, 3, 2),
    ("stage2.block0.conv2 (3x3 128->256)", 128, 56, 256, 3, 1),
    ("stage2.block0.shortcut (1x1/2 128->256)", 128, 112, 256, 1, 2),
]


def print_kernel_row(label, r, lp=None, threads=256):
    """One row of the kernel table: registers and shared memory r, blocks (and
    threads) resident per SM, and for a kernel with a main loop lp (loop
    instructions, FMA, ...) its size, FMA count and FMA share."""
    occ = occupancy(threads, *r)
    loop = f" {lp[0]} | {lp[1]} | {lp[1] / lp[0]:.2f} |" if lp else " | | |"
    print(f"| {label} | {r[0]} | {r[1]} | {occ} ({occ * threads}) |{loop}")


def igemm_time(M, Ncol, Kdim, kstep, loop, once, regs, smem, threads, elt, w_bytes,
               compulsory, tile_m, tile_n, splits=1):
    blocks = math.ceil(M / tile_m) * math.ceil(Ncol / tile_n) * splits
    steps = math.ceil(math.ceil(Kdim / kstep) / splits)
    resident = occupancy(threads, regs, smem)
    warps_res = resident * threads // 32
    eff = 0.8 if warps_res >= 16 else 0.6
    waves = math.ceil(blocks / resident)
    # A partial last wave runs as long as a full one: charge whole waves.
    warp_instr = waves * resident * (threads // 32) * (steps * loop + once)
    t_issue = warp_instr / (4 * CLOCK * eff)
    panel = min(M, tile_m) * Kdim * elt  # weight rows of one block
    bytes_model = compulsory + max(0, waves - 1) * panel
    t_mem = bytes_model / (BW * BW_EFF)
    return max(t_issue, t_mem) + LAUNCH_S, dict(blocks=blocks, resident=resident, waves=waves,
                                                 warps=warps_res, t_issue=t_issue, t_mem=t_mem)


def main():
    ptxas, sass_f32, sass_i8 = sys.argv[1:4]
    res = resources(ptxas)
    loops = {**loop_stats(sass_f32), **loop_stats(sass_i8)}

    def loop_of(key):
        return find(loops, key)

    # igemm configurations (kernels/cuda/igemm.cuh igemm_config): template
    # arguments (threads along M, outputs per thread) -> tile.
    configs = {"small": ("ELi4ELi4ELi4E", "4, 4, 4>", 16, 256),
               "medium": ("ELi8ELi8ELi8E", "8, 8, 8>", 64, 256),
               "large": ("ELi16ELi8ELi8E", "16, 8, 8>", 128, 128)}
    # Forward: ConvForwardProblem<true> reads the input patch through the
    # tap table (every ResNet-11 layer: R, S <= 16); its epilogue takes the
    # folded BN scale, bias, residual and ReLU at run time (the bias-only 1x1
    # shortcuts pass null scale and residual).
    fwd = {name: (loop_of("ConvForwardProblemILb1EE" + m),
                  find(res, "ConvForwardProblem<true>, " + d), tm, tn)
           for name, (m, d, tm, tn) in configs.items()}
    direct = nested_loop_stats(sass_f32, "conv_direct3x3_k16_kernel")
    direct_res = find(res, "conv_direct3x3_k16_kernel")
    i8 = {name: (loop_of("ConvInt8Problem" + m), find(res, "ConvInt8Problem, " + d), tm, tn)
          for name, (m, d, tm, tn) in configs.items()}

    print("Kernels as compiled for sm_53 (CUDA 11.8, ptxas -v; SASS main loop per K step):\n")
    print("| kernel | regs | smem B | blocks/SM (threads) | loop instr | FFMA | FFMA share |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, r, lp, thr in (("conv forward, 16x256 tile (4x4 per thread; K <= 16)",
                               fwd["small"][1], fwd["small"][0], 256),
                              ("conv forward, 64x256 tile (8x8 per thread; K <= 64)",
                               fwd["medium"][1], fwd["medium"][0], 256),
                              ("conv forward, 128x128 tile (8x8 per thread; K > 64)",
                               fwd["large"][1], fwd["large"][0], 256),
                              ("int8 conv, sm_53 exact-FP32 path, 128x128 tile",
                               i8["large"][1], i8["large"][0], 256)):
        print_kernel_row(label, r, lp, thr)
    occ = occupancy(256, *direct_res)
    print(f"| conv forward direct 3x3, K <= 16 (32x32 outputs, 4x16 per thread), one input "
          f"channel (patch copy and FMAs) | {direct_res[0]} | {direct_res[1]} | {occ} "
          f"({occ * 256}) | {direct[1]} | {direct[2]} | {direct[2] / direct[1]:.2f} |")
    print(f"| (its stage of 4 channels: weights, barriers and 4 channels) | | | | "
          f"{direct[0] + 3 * direct[1]} | {4 * direct[2]} | "
          f"{4 * direct[2] / (direct[0] + 3 * direct[1]):.2f} |")
    for key, label in (("ConvBackwardDataProblemELi16ELi8ELi8E",
                        "conv backward-data, 128x128 tile"),
                       ("ConvBackwardWeightsProblemELi16ELi8ELi8E",
                        "conv backward-weights, 128x128 tile, split-K")):
        demangled = key.replace("ProblemELi16ELi8ELi8E", "Problem, 16, 8, 8>")
        print_kernel_row(label, find(res, demangled), loop_of(key))
    for key in ("batch_norm_forward_eval_kernel", "batch_norm_forward_train_kernel",
                "batch_norm_backward_kernel", "relu_forward_kernel", "add_forward_kernel",
                "max_pool_forward_kernel", "avg_pool_forward_kernel",
                "global_avg_pool_forward_kernel", "adam_update_kernel",
                "softmax_xent_forward_kernel"):
        print_kernel_row(key.replace('_kernel', ''), find(res, key))

    print("\nResNet-11 forward, batch 1, 224x224 (predicted Nano times; floor = "
          "max(FLOPs/236 GFLOP/s, bytes/25.6 GB/s)):\n")
    print("| layer | GFLOP | FP32 floor ms | FP32 igemm ms | ratio | blocks x waves | "
          "int8 bytes MB | int8 (exact FP32) ms | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    tot = dict(flops=0, f_floor=0, f32=0, i8=0, i8_floor=0)
    for name, C, H, K, R, st in RESNET11:
        P = H // st
        flops = 2.0 * K * P * P * C * R * R
        # float: x, w, y, bias once
        comp_f = 4 * (C * H * H + K * C * R * R + K * P * P + 2 * K)
        if "conv2" in name:
            comp_f += 4 * K * P * P  # fused residual input
        floor_f = max(flops / PEAK_FP32, comp_f / BW)
        if K <= 16 and R == 3 and st == 1:
            # conv2d_forward_direct: 32x32 output tiles, stages of up to 4
            # input channels; a stage runs the outer loop (weights, barriers,
            # one pass of the per-channel loops) once and the per-channel
            # loops (patch copy, FMAs) once per further channel. The 34x34
            # patch re-reads 13 % of x.
            outer, per_channel, _, once = direct
            stages = -(-C // 4)
            per_stage = outer + (C / stages - 1) * per_channel
            comp_d = comp_f + 4 * C * H * H * (34 * 34 / (32 * 32) - 1)
            t_f, info = igemm_time(K, P * P, C * 9, 36, per_stage, once, *direct_res,
                                   256, 4, 4 * K * C * 9, comp_d, 16, 1024)
        else:
            lp, r, tm, tn = fwd["small" if K <= 16 else "medium" if K <= 64 else "large"]
            t_f, info = igemm_time(K, P * P, C * R * R, 8, lp[0], lp[2], *r, 256, 4,
                                   4 * K * C * R * R, comp_f, tm, tn)
        Cp = -(-C // 4) * 4
        comp_i = C * H * H + K * Cp * R * R + K * P * P + 12 * K
        if "conv2" in name:
            comp_i += K * P * P  # fused residual input
        floor_i = max(flops / PEAK_FP32, comp_i / BW)
        lp, r, tm, tn = i8["small" if K <= 16 else "medium" if K <= 64 else "large"]
        splits = math.ceil(math.ceil(R * R * Cp / 8) / 128)  # 1,024 exact products per sum
        t_i, info_i = igemm_time(K, P * P, R * R * Cp, 8, lp[0], lp[2], *r, 256, 1,
                                 K * Cp * R * R, comp_i + 8 * splits * K * P * P * (splits > 1),
                                 tm, tn, splits)
        if splits > 1:  # the kernel that adds the partials and runs the epilogue
            t_i += 4 * (splits + 1) * K * P * P / (BW * BW_EFF) + LAUNCH_S
        print(f"| {name} | {flops / 1e9:.3f} | {floor_f * 1e3:.2f} | {t_f * 1e3:.2f} | "
              f"{t_f / floor_f:.2f} | {info['blocks']} x {info['waves']} | {comp_i / 1e6:.2f} | "
              f"{t_i * 1e3:.2f} | {t_i / floor_i:.2f} |")
        tot["flops"] += flops
        tot["f_floor"] += floor_f
        tot["f32"] += t_f
        tot["i8"] += t_i
        tot["i8_floor"] += floor_i

    # Float inference with conv2d_forward_fused: BN folded, ReLU and the
    # residual add in the conv epilogue (the residual read is in the conv2
    # rows' bytes), so only the head's 8x8/8 average pool stays a separate
    # memory-bound kernel. For comparison, the unfused engine path: BN eval
    # (+ReLU) after each of the 7 conv units, three adds and three ReLUs.
    mem_f = 4 * 256 * 56 * 56 + 4 * 256 * 49  # average pool
    t_mem_f = mem_f / (BW * BW_EFF) + LAUNCH_S
    floor_mem_f = mem_f / BW
    mem_u = 0.0
    n_kernels = 0
    for name, C, H, K, R, st in RESNET11:
        P = H // st
        if "shortcut" not in name:
            mem_u += 8 * K * P * P  # BN eval read + write
            n_kernels += 1
    for K, P in ((64, 224), (128, 112), (256, 56)):
        mem_u += 12 * K * P * P + 8 * K * P * P  # add (2 reads, 1 write) + ReLU
        n_kernels += 2
    t_unfused = mem_u / (BW * BW_EFF) + n_kernels * LAUNCH_S
    # Dense 12544 -> 4, float: linear.cuh, one warp per output, memory-bound
    # (weights and input once); int8 likewise (conv_int8's dense kernel).
    t_dense_f = 4 * 12544 * 5 / (BW * BW_EFF) + LAUNCH_S
    t_dense_i = 12544 * 5 / (BW * BW_EFF) + LAUNCH_S
    # int8 path: BN folded, ReLU and residual add fused; only the average pool
    # (pool_int8.cuh, memory-bound) is a separate kernel.
    mem_i = 256 * 56 * 56 + 256 * 49
    t_mem_i = mem_i / (BW * BW_EFF) + LAUNCH_S
    print(f"| head_pool (8x8/8; BN, ReLU, adds fused into the convolutions) | | "
          f"{floor_mem_f * 1e3:.2f} | {t_mem_f * 1e3:.2f} | | | {mem_i / 1e6:.2f} | "
          f"{t_mem_i * 1e3:.2f} | |")
    print(f"| fc (dense 12544->4, warp per output, float and int8) | 0.0001 | "
          f"0.01 | {t_dense_f * 1e3:.2f} | | 1 x 1 | 0.05 | {t_dense_i * 1e3:.2f} | |")
    f32_total = tot["f32"] + t_mem_f + t_dense_f
    i8_total = tot["i8"] + t_mem_i + t_dense_i
    floor_f_total = tot["f_floor"] + floor_mem_f
    print(f"| **total** | {tot['flops'] / 1e9:.2f} | {floor_f_total * 1e3:.1f} | "
          f"**{f32_total * 1e3:.1f}** | {f32_total / floor_f_total:.1f} | | | "
          f"**{i8_total * 1e3:.1f}** | {i8_total / (tot['i8_floor'] + mem_i / BW):.1f} |")
    print(f"\nConvolutions alone: FP32 {tot['f32'] * 1e3:.1f} ms against a floor of "
          f"{tot['f_floor'] * 1e3:.1f} ms ({tot['f32'] / tot['f_floor']:.2f}x); int8 exact-FP32 "
          f"path {tot['i8'] * 1e3:.1f} ms ({tot['i8'] / tot['i8_floor']:.2f}x its floor). "
          f"Without the fused float epilogue, BN, adds and ReLUs as {n_kernels} separate "
          f"memory-bound kernels would add {t_unfused * 1e3:.1f} ms to the FP32 total.")


if __name__ == "__main__":
    main()
