// AArch64 NEON kernels (Isa::Neon): an 8 x 12 FMLA-by-lane micro-kernel for
// the shared GEMM driver, and the shared convolution / memory-bound bodies
// compiled for AArch64 (the conv, batch-norm, pool and elementwise bodies are
// the same templates as on x86, so training runs on ARM through this unit).
//
// Micro-kernel: C tile 8 rows x 12 columns = 24 q accumulators; per k, three
// q loads of B (12 floats) and two q loads of A (8 floats) feed 24 FMLA, each
// multiplying one B vector by one lane of A (FMLA Vd.4S, Vn.4S, Vm.S[lane]),
// so A needs no broadcast instruction. 24 + 3 + 2 = 29 of the 32 registers.
// On a Cortex-A57 one 128-bit FMLA issues per cycle (8 FLOP/cycle) with a
// latency of about 9 cycles: 24 independent chains hide it, and 5 loads per
// 24 FMLA stay well inside the one load pipe.
#include <arm_neon.h>

#include <algorithm>

#include "kernels/cpu/scratch.h"
#include "kernels/op_table.h"

#define ECG_CPU_NS neon_isa

#include "kernels/cpu/micro_tile.h"

namespace ecg::cpu::ECG_CPU_NS {

struct NeonMicroKernel {
  static constexpr int MR = 8, NR = 12;
  // B panel KC x NR = 12 KiB in the A57's 32 KiB L1D; A block MC x KC =
  // 128 KiB and B block KC x NC = 384 KiB inside its 2 MiB shared L2.
  static constexpr int KC = 256, MC = 128, NC = 384;
  static void run(int kc, const float* a, const float* b, float* c, long ldc, bool accumulate,
                  int m, int n) {
    float32x4_t c00 = vdupq_n_f32(0.f), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00,
                c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00, c40 = c00,
                c41 = c00, c42 = c00, c50 = c00, c51 = c00, c52 = c00, c60 = c00, c61 = c00,
                c62 = c00, c70 = c00, c71 = c00, c72 = c00;
    // Named registers rather than an array: GCC 7/8 keep a float32x4_t[8][3]
    // array in memory when the loop is not fully unrolled.
    for (int k = 0; k < kc; ++k) {
      const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
      const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
      c00 = vfmaq_laneq_f32(c00, b0, a0, 0);
      c01 = vfmaq_laneq_f32(c01, b1, a0, 0);
      c02 = vfmaq_laneq_f32(c02, b2, a0, 0);
      c10 = vfmaq_laneq_f32(c10, b0, a0, 1);
      c11 = vfmaq_laneq_f32(c11, b1, a0, 1);
      c12 = vfmaq_laneq_f32(c12, b2, a0, 1);
      c20 = vfmaq_laneq_f32(c20, b0, a0, 2);
      c21 = vfmaq_laneq_f32(c21, b1, a0, 2);
      c22 = vfmaq_laneq_f32(c22, b2, a0, 2);
      c30 = vfmaq_laneq_f32(c30, b0, a0, 3);
      c31 = vfmaq_laneq_f32(c31, b1, a0, 3);
      c32 = vfmaq_laneq_f32(c32, b2, a0, 3);
      c40 = vfmaq_laneq_f32(c40, b0, a1, 0);
      c41 = vfmaq_laneq_f32(c41, b1, a1, 0);
      c42 = vfmaq_laneq_f32(c42, b2, a1, 0);
      c50 = vfmaq_laneq_f32(c50, b0, a1, 1);
      c51 = vfmaq_laneq_f32(c51, b1, a1, 1);
      c52 = vfmaq_laneq_f32(c52, b2, a1, 1);
      c60 = vfmaq_laneq_f32(c60, b0, a1, 2);
      c61 = vfmaq_laneq_f32(c61, b1, a1, 2);
      c62 = vfmaq_laneq_f32(c62, b2, a1, 2);
      c70 = vfmaq_laneq_f32(c70, b0, a1, 3);
      c71 = vfmaq_laneq_f32(c71, b1, a1, 3);
      c72 = vfmaq_laneq_f32(c72, b2, a1, 3);
      a += MR;
      b += NR;
    }
    const float32x4_t rows[MR][3] = {{c00, c01, c02}, {c10, c11, c12}, {c20, c21, c22},
                                     {c30, c31, c32}, {c40, c41, c42}, {c50, c51, c52},
                                     {c60, c61, c62}, {c70, c71, c72}};
    if (m == MR && n == NR) {
      for (int i = 0; i < MR; ++i)
        for (int v = 0; v < 3; ++v) {
          float* p = c + i * ldc + 4 * v;
          vst1q_f32(p, accumulate ? vaddq_f32(vld1q_f32(p), rows[i][v]) : rows[i][v]);
        }
      return;
    }
    // Edge tile: spill and copy the valid part.
    float tmp[MR * NR];
    for (int i = 0; i < MR; ++i)
      for (int v = 0; v < 3; ++v) vst1q_f32(tmp + i * NR + 4 * v, rows[i][v]);
    store_tile_part<NR>(tmp, c, ldc, accumulate, m, n);
  }
};

using MicroKernel = NeonMicroKernel;

}  // namespace ecg::cpu::ECG_CPU_NS

#include "kernels/cpu/gemm_driver.h"
//
#include "kernels/cpu/conv_impl.h"
//
#include "kernels/cpu/memory_bound_impl.h"

namespace ecg {
void register_neon_kernels(OpTable& t) {
  cpu::ECG_CPU_NS::register_into(t, Isa::Neon);
}
}  // namespace ecg
