// The edge store of a register-tiled GEMM micro-kernel, shared by the units
// whose edge tiles go through a local copy of the C tile (generic.cpp,
// x86/avx2.cpp, arm/neon.cpp). Included after the unit defines ECG_CPU_NS, so
// each unit compiles its own copy with its own flags.
#pragma once

namespace ecg::cpu::ECG_CPU_NS {

// C[0:m, 0:n] (+)= tile[0:m, 0:n], the tile row-major with NR columns.
template <int NR>
inline void store_tile_part(const float* tile, float* c, long ldc, bool accumulate, int m, int n) {
  for (int i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    if (accumulate)
      for (int j = 0; j < n; ++j) ci[j] += tile[i * NR + j];
    else
      for (int j = 0; j < n; ++j) ci[j] = tile[i * NR + j];
  }
}

}  // namespace ecg::cpu::ECG_CPU_NS
