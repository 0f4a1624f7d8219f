// Not part of the build: bench/arm/mca.sh compiles this file to assembly so
// that llvm-mca can time the int8 NEON epilogue, which the convolution runs
// once per (pixel, 4 output channels) after the last filter tap. Each loop
// is one basic block made of the kernel's own functions (requant4, add4,
// store_int8x4 from conv_int8_neon_impl.h): int8 output without and with the
// fused residual add. ADDP and the bias add (3 + 1 vector ops) come on top.
#define ECG_NEON_INT8_NS mca_probe
#include "kernels/cpu/int8/conv_int8_neon_impl.h"

namespace ecg::int8::detail::mca_probe {

void epilogue_plain(const Epilogue& e, const ConvInt8Params& p, const int32x4_t* acc, int8_t* out,
                    int pixels) {
  for (int i = 0; i < pixels; ++i) store_int8x4(out + 64 * i, requant4(acc[i], e, 0, p), 4);
}

void epilogue_residual(const Epilogue& e, const ConvInt8Params& p, const int32x4_t* acc,
                       const int8_t* res, int8_t* out, int pixels) {
  for (int i = 0; i < pixels; ++i)
    store_int8x4(out + 64 * i, add4(requant4(acc[i], e, 0, p), res + 64 * i, p.add), 4);
}

}  // namespace ecg::int8::detail::mca_probe
