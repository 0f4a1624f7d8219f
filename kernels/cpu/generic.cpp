// Portable C++ kernels (Isa::Generic): the blocked GEMM driver with a plain
// 4 x 8 micro-kernel the compiler vectorises at baseline flags, plus every
// convolution and memory-bound kernel compiled from the shared bodies.
#include <algorithm>

#include "kernels/op_table.h"

#define ECG_CPU_NS generic_isa

#include "kernels/cpu/micro_tile.h"

namespace ecg::cpu::ECG_CPU_NS {

// C tile in a local array that GCC keeps in registers: 4 x 8 floats = 8 SSE
// registers on baseline x86-64 (4 x 16 spilled and ran 10x slower; measured
// with a stand-alone loop), 8 NEON registers on aarch64.
struct MicroKernel {
  static constexpr int MR = 4, NR = 8;
  static constexpr int KC = 256, MC = 128, NC = 512;
  static void run(int kc, const float* a, const float* b, float* c, long ldc, bool accumulate,
                  int m, int n) {
    float acc[MR][NR] = {};
    for (int k = 0; k < kc; ++k) {
      const float* bk = b + k * NR;
      for (int i = 0; i < MR; ++i) {
        const float ai = a[k * MR + i];
        for (int j = 0; j < NR; ++j) acc[i][j] += ai * bk[j];
      }
    }
    store_tile_part<NR>(&acc[0][0], c, ldc, accumulate, m, n);
  }
};

}  // namespace ecg::cpu::ECG_CPU_NS

#include "kernels/cpu/gemm_driver.h"
//
#include "kernels/cpu/conv_impl.h"
//
#include "kernels/cpu/memory_bound_impl.h"

namespace ecg {
void register_generic_kernels(OpTable& t) {
  cpu::ECG_CPU_NS::register_into(t, Isa::Generic);
}
}  // namespace ecg
