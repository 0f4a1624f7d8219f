// ARMv8.0 int8 convolution (Int8Kernel::Neon): SMULL/SMLAL2 into int16, then
// SADALP into int32. The algorithm is conv_int8_neon_impl.h; this unit only
// picks the multiply-accumulate step and builds with the baseline flags.
#define ECG_NEON_INT8_NS neon_v80
#include "kernels/cpu/int8/conv_int8_neon_impl.h"

namespace ecg::int8::detail {

std::unique_ptr<PackedConvInt8> pack_conv_int8_neon(const ConvInt8Params& p, const int8_t* w) {
  return std::make_unique<PackedConvSimd<neon_v80::NeonTraits<Int8Kernel::Neon>>>(p, w);
}

void epilogue_hook_neon(int n, const int32_t* acc, const Requant* rq, int32_t zp_out, int32_t qmin,
                        int32_t qmax, const int8_t* res, const AddRequant& add, int8_t* out) {
  neon_v80::epilogue_hook(n, acc, rq, zp_out, qmin, qmax, res, add, out);
}

}  // namespace ecg::int8::detail
