// Not part of the build: bench/arm/mca.sh compiles this file to assembly so
// that llvm-mca can time the int8 NEON epilogue, which the convolution runs
// once per (pixel, 4 output channels) after the last filter tap. Each loop
// is one basic block made of the kernel's own functions (requant4, add4,
// store_int8x4 from conv_int8_neon_impl.h) with the constants in registers,
// as store_pixels keeps them for the 4 pixels of a sub-tile: int8 output
// without and with the fused residual add. Per sub-tile come on top: loading
// the constants (load_requant4, load_add4), 12 ADDP and 4 bias adds.
#define ECG_NEON_INT8_NS mca_probe
#include "kernels/cpu/int8/conv_int8_neon_impl.h"

namespace ecg::int8::detail::mca_probe {

void epilogue_plain(const Epilogue& e, const ConvInt8Params& p, const int32x4_t* acc, int8_t* out,
                    int pixels) {
  const Requant4 rq = load_requant4(e, 0, p);
  for (int i = 0; i < pixels; ++i) store_int8x4(out + 64 * i, requant4(acc[i], rq), 4);
}

void epilogue_residual(const Epilogue& e, const ConvInt8Params& p, const int32x4_t* acc,
                       const int8_t* res, int8_t* out, int pixels) {
  const Requant4 rq = load_requant4(e, 0, p);
  const Add4 ad = load_add4(p.add);
  for (int i = 0; i < pixels; ++i)
    store_int8x4(out + 64 * i, add4(requant4(acc[i], rq), res + 64 * i, 4, ad), 4);
}

}  // namespace ecg::int8::detail::mca_probe
