// CPU feature detection and the instruction-set level the dispatcher uses.
// The level is chosen once from CPUID/HWCAP; ECG_ISA=ref|generic|avx2|avx512|neon
// forces a level (never above what the CPU supports) so every variant can be
// tested and benchmarked on one machine.
#pragma once
#include <string>

namespace ecg {

// Ordered: a slot registered at a lower level serves every higher level.
// Ref is the scalar reference of kernels/ref; Generic the portable OpenMP C++.
enum class Isa : int { Ref = 0, Generic = 1, Avx2 = 2, Avx512 = 3, Neon = 4, Count = 5 };

const char* isa_name(Isa isa);
bool parse_isa(const std::string& name, Isa& out);

struct CpuFeatures {
  bool avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false;
  bool avx512_vnni = false, avx_vnni = false;
  bool neon = false, asimd_dotprod = false;
  std::string brand;
};

const CpuFeatures& cpu_features();

// Highest level this CPU supports.
Isa best_supported_isa();
// Active level: best_supported_isa(), or ECG_ISA when set (an unknown or
// unsupported value throws an ecg::Error naming it).
Isa active_isa();
// Overrides the active level at run time (tests, benchmarks). Throws when the
// CPU lacks the level.
void set_active_isa(Isa isa);
bool isa_supported(Isa isa);

}  // namespace ecg
