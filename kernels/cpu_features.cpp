#include "kernels/cpu_features.h"

#include <cstdlib>
#include <cstring>
#include <mutex>

#include "kernels/enum_names.h"
#include "kernels/error.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define ECG_X86 1
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

namespace ecg {

namespace {

#ifdef ECG_X86
uint64_t xgetbv0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<uint64_t>(edx) << 32) | eax;
}
#endif

CpuFeatures detect() {
  CpuFeatures f;
#ifdef ECG_X86
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
  bool osxsave = c & (1u << 27);
  bool avx = c & (1u << 28);
  f.fma = c & (1u << 12);
  f.f16c = c & (1u << 29);
  uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  bool ymm_os = (xcr0 & 0x6) == 0x6;    // SSE + AVX state saved by the OS
  bool zmm_os = (xcr0 & 0xe6) == 0xe6;  // plus opmask and ZMM state
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
    f.avx2 = avx && ymm_os && (b & (1u << 5));
    f.avx512f = zmm_os && (b & (1u << 16));
    f.avx512dq = zmm_os && (b & (1u << 17));
    f.avx512bw = zmm_os && (b & (1u << 30));
    f.avx512vl = zmm_os && (b & (1u << 31));
    f.avx512_vnni = zmm_os && (c & (1u << 11));
  }
  if (__get_cpuid_count(7, 1, &a, &b, &c, &d)) f.avx_vnni = ymm_os && (a & (1u << 4));
  f.fma = f.fma && ymm_os;
  unsigned brand[12];
  if (__get_cpuid(0x80000000u, &a, &b, &c, &d) && a >= 0x80000004u) {
    for (unsigned i = 0; i < 3; ++i)
      __get_cpuid(0x80000002u + i, &brand[4 * i], &brand[4 * i + 1], &brand[4 * i + 2],
                  &brand[4 * i + 3]);
    char s[49];
    std::memcpy(s, brand, 48);
    s[48] = 0;
    f.brand = s;
    while (!f.brand.empty() && f.brand.back() == ' ') f.brand.pop_back();
  }
#elif defined(__aarch64__)
  f.neon = true;  // mandatory in ARMv8-A
#if defined(__linux__)
  f.asimd_dotprod = getauxval(AT_HWCAP) & HWCAP_ASIMDDP;
#endif
  f.brand = "aarch64";
#endif
  return f;
}

std::once_flag g_once;
Isa g_active = Isa::Ref;

void init_active() {
  g_active = best_supported_isa();
  if (const char* env = std::getenv("ECG_ISA")) {
    Isa forced;
    ECG_CHECK(parse_isa(env, forced), "ECG_ISA: unknown level '", env,
              "' (expected ref, generic, avx2, avx512 or neon)");
    ECG_CHECK(isa_supported(forced), "ECG_ISA=", env, ": this CPU does not support it");
    g_active = forced;
  }
}

}  // namespace

namespace {

const EnumName<Isa> kIsaNames[] = {{Isa::Ref, "ref"},
                                   {Isa::Generic, "generic"},
                                   {Isa::Avx2, "avx2"},
                                   {Isa::Avx512, "avx512"},
                                   {Isa::Neon, "neon"}};
static_assert(sizeof(kIsaNames) / sizeof(kIsaNames[0]) == static_cast<int>(Isa::Count),
              "every ISA level has a name");

}  // namespace

const char* isa_name(Isa isa) {
  return name_of(kIsaNames, isa);
}

bool parse_isa(const std::string& name, Isa& out) {
  return parse_name(kIsaNames, name, out);
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures f = detect();
  return f;
}

bool isa_supported(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::Ref:
    case Isa::Generic:
      return true;
    case Isa::Avx2:
      return f.avx2 && f.fma;
    case Isa::Avx512:
      return f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq && f.fma;
    case Isa::Neon:
      return f.neon;
    default:
      return false;
  }
}

Isa best_supported_isa() {
  if (isa_supported(Isa::Neon)) return Isa::Neon;
  if (isa_supported(Isa::Avx512)) return Isa::Avx512;
  if (isa_supported(Isa::Avx2)) return Isa::Avx2;
  return Isa::Generic;
}

Isa active_isa() {
  std::call_once(g_once, init_active);
  return g_active;
}

void set_active_isa(Isa isa) {
  active_isa();  // make sure the env default has been read first
  ECG_CHECK(isa_supported(isa), "ISA level '", isa_name(isa), "' is not supported by this CPU");
  g_active = isa;
}

}  // namespace ecg
