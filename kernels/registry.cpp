// Fills the op table: the scalar reference first, then each compiled backend.
// The ISA units exist only where their compiler flags were available; each
// registers under its own level, and dispatch picks at run time.
#include "kernels/op_table.h"

namespace ecg {

void register_all_kernels(OpTable& t) {
  register_ref_kernels(t);
#ifdef ECG_HAVE_GENERIC_KERNELS
  register_generic_kernels(t);
#endif
#ifdef ECG_HAVE_AVX2_KERNELS
  register_avx2_kernels(t);
#endif
#ifdef ECG_HAVE_AVX512_KERNELS
  register_avx512_kernels(t);
#endif
#ifdef ECG_HAVE_NEON_KERNELS
  register_neon_kernels(t);
#endif
#ifdef ECG_HAVE_CUDA_KERNELS
  register_cuda_kernels(t);
#endif
}

}  // namespace ecg
