// The int8 half of the one CPU dispatcher: which int8 convolution kernel each
// ISA level runs. ECG_ISA / --isa (kernels/cpu_features.h) pick the level for
// every CPU kernel; an int8 kernel is the best one this CPU and this build
// offer at or below that level. Which ISA units were compiled is known from
// ECG_INT8_* definitions that kernels/cpu/int8/CMakeLists.txt sets on this file.
#include <cstdlib>
#include <initializer_list>

#include "kernels/error.h"
#include "kernels/int8_api.h"

#include "kernels/enum_names.h"

namespace ecg::int8 {

namespace {
const EnumName<Int8Kernel> kInt8KernelNames[] = {{Int8Kernel::Ref, "ref"},
                                                 {Int8Kernel::Generic, "generic"},
                                                 {Int8Kernel::Avx2, "avx2"},
                                                 {Int8Kernel::AvxVnni, "avx-vnni"},
                                                 {Int8Kernel::Avx512Vnni, "avx512-vnni"},
                                                 {Int8Kernel::Neon, "neon"},
                                                 {Int8Kernel::NeonDot, "neon-dot"}};
}  // namespace

const char* int8_kernel_name(Int8Kernel k) {
  return name_of(kInt8KernelNames, k);
}

bool int8_kernel_supported(Int8Kernel k) {
  const CpuFeatures& f = cpu_features();
  switch (k) {
    case Int8Kernel::Ref:
    case Int8Kernel::Generic:
      return true;
#if defined(ECG_INT8_X86)
    case Int8Kernel::Avx2:
      return f.avx2 && f.fma;
#if defined(ECG_INT8_HAVE_AVXVNNI)
    case Int8Kernel::AvxVnni:
      return f.avx2 && f.avx_vnni;
#endif
#if defined(ECG_INT8_HAVE_AVX512VNNI)
    case Int8Kernel::Avx512Vnni:
      return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.avx512_vnni;
#endif
#endif
#if defined(ECG_INT8_ARM)
    case Int8Kernel::Neon:
      return f.neon;
#if defined(ECG_INT8_HAVE_NEON_DOT)
    case Int8Kernel::NeonDot:
      return f.neon && f.asimd_dotprod;
#endif
#endif
    default:
      return false;
  }
  (void)f;
}

Int8Kernel int8_kernel_for(Isa level) {
  // Each level lists its candidates best first; the generic kernel ends every
  // SIMD list, so a build without an ISA unit still runs the portable one.
  auto first_supported = [](std::initializer_list<Int8Kernel> ks) {
    for (Int8Kernel k : ks)
      if (int8_kernel_supported(k)) return k;
    return Int8Kernel::Generic;
  };
  switch (level) {
    case Isa::Ref:
      return Int8Kernel::Ref;
    case Isa::Avx2:
      return first_supported({Int8Kernel::AvxVnni, Int8Kernel::Avx2});
    case Isa::Avx512:
      return first_supported({Int8Kernel::Avx512Vnni, Int8Kernel::AvxVnni, Int8Kernel::Avx2});
    case Isa::Neon:
      return first_supported({Int8Kernel::NeonDot, Int8Kernel::Neon});
    default:
      return Int8Kernel::Generic;
  }
}

Int8Kernel best_int8_kernel() {
  // The second dispatcher's variable is gone; a run that still sets it would
  // otherwise silently measure another kernel than the one it names.
  if (const char* env = std::getenv("ECG_INT8_KERNEL"))
    fail("ECG_INT8_KERNEL=", env, " is no longer read: set ECG_ISA=ref|generic|avx2|avx512|neon ",
         "(or --isa) to pick the level for every CPU kernel, int8 included");
  return int8_kernel_for(active_isa());
}

}  // namespace ecg::int8
