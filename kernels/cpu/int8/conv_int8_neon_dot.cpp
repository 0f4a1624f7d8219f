// ARMv8.2 dot-product int8 convolution (Int8Kernel::NeonDot): SDOT in place
// of SMULL/SMLAL2/SADALP, same tile and epilogue (conv_int8_neon_impl.h).
// Only the micro-kernel carries target("arch=armv8.2-a+dotprod") (see the
// impl header); int8_kernel_supported() offers it only when
// getauxval(AT_HWCAP) reports HWCAP_ASIMDDP, so an A57 never runs it.
#define ECG_NEON_INT8_NS neon_dot
#define ECG_NEON_MAC16_SDOT 1
#include "kernels/cpu/int8/conv_int8_neon_impl.h"

namespace ecg::int8::detail {

std::unique_ptr<PackedConvInt8> pack_conv_int8_neon_dot(const ConvInt8Params& p, const int8_t* w) {
  return std::make_unique<PackedConvSimd<neon_dot::NeonTraits<Int8Kernel::NeonDot>>>(p, w);
}

void epilogue_hook_neon_dot(int n, const int32_t* acc, const Requant* rq, int32_t zp_out,
                            int32_t qmin, int32_t qmax, const int8_t* res, const AddRequant& add,
                            int8_t* out) {
  neon_dot::epilogue_hook(n, acc, rq, zp_out, qmin, qmax, res, add, out);
}

}  // namespace ecg::int8::detail
