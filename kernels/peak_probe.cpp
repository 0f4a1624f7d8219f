// Peak probes (kernels/peak_probe.h). The int8 loops are inline assembly: the
// assembler takes the mnemonics without -m flags (this file builds at the
// baseline), a CPU check guards each loop, and with intrinsics GCC 12 copies
// every accumulator through a second register per iteration, halving the rate.
#include "kernels/peak_probe.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include "kernels/cpu/scratch.h"
#include "kernels/error.h"

namespace ecg {

namespace {

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

// Runs `loop(iters)`, which returns the operations it executed, on each of
// `threads` OpenMP threads and sums their rates (ops per CPU second), best of
// three rounds. Giga-ops per second.
template <class Loop>
double summed_rate_giga(int threads, int64_t iters, Loop loop) {
  threads = std::max(1, threads);
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    double rate = 0;
#pragma omp parallel num_threads(threads) reduction(+ : rate)
    {
      const double t0 = thread_cpu_seconds();
      const double ops = loop(iters);
      const double sec = thread_cpu_seconds() - t0;
      if (sec > 0) rate += ops / sec;
    }
    best = std::max(best, rate * 1e-9);
  }
  return best;
}

// The portable FMA loop: 10 chains of 8 lanes the compiler vectorises with
// the baseline flags (SSE2 mul + add on x86-64, FMLA on AArch64).
double portable_fma_loop(int64_t iters) {
  float r[10][8];
  for (auto& chain : r)
    for (float& v : chain) v = 0.f;
  const float a = 0.999999f, b = 1e-7f;
  for (int64_t i = 0; i < iters; ++i) {
    for (auto& chain : r)
      for (float& v : chain) v = v * a + b;
    __asm__ volatile("" : : "r"(&r[0][0]) : "memory");  // keeps the chains in the loop
  }
  volatile float sink = r[3][5];
  (void)sink;
  return 10.0 * 8.0 * 2.0 * static_cast<double>(iters);
}

// The portable int8 loop: 8 chains of 16 int32 lanes accumulating products
// of int8-range values, as the generic kernel's inner loop does.
double portable_int8_loop(int64_t iters) {
  int32_t acc[8][16] = {};
  int16_t x[16], w[16];
  for (int l = 0; l < 16; ++l)
    x[l] = static_cast<int16_t>(l + 100), w[l] = static_cast<int16_t>(-l);
  for (int64_t i = 0; i < iters; ++i) {
    for (auto& chain : acc)
      for (int l = 0; l < 16; ++l) chain[l] += x[l] * w[l];
    __asm__ volatile("" : : "r"(&acc[0][0]) : "memory");
  }
  volatile int32_t sink = acc[2][7];
  (void)sink;
  return 8.0 * 16.0 * 2.0 * static_cast<double>(iters);
}

#if defined(__x86_64__)
// The one shape of the x86 int8 probes: `setup` fills the operand registers,
// then `body` (independent chains into their own accumulators) runs n times.
// A macro because inline assembly takes only string literals. The clobbers
// cover every register the bodies use (the xmm names cover ymm and zmm).
#define ECG_INT8_PROBE_LOOP(n, setup, body)                                                      \
  asm volatile(setup "1:\n\t" body                                                               \
                     "dec %0\n\t"                                                                \
                     "jnz 1b\n\t"                                                                \
                     "vzeroupper\n\t"                                                            \
               : "+r"(n)                                                                         \
               :                                                                                 \
               : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", \
                 "xmm10", "xmm11", "xmm12", "xmm13", "xmm15", "cc")

// vpmaddubsw (32 u8 x s8 products, pairs into int16) + vpmaddwd by ones
// (pairs into int32) + vpaddd: the AVX2 kernel's step, 6 chains.
double avx2_maddubs_loop(int64_t n) {
  const double ops = 6.0 * 32.0 * 2.0 * static_cast<double>(n);
  ECG_INT8_PROBE_LOOP(n,
                      "vpcmpeqb %%ymm0, %%ymm0, %%ymm0\n\t"
                      "vpabsb %%ymm0, %%ymm1\n\t"
                      "vpabsw %%ymm0, %%ymm15\n\t",
                      "vpmaddubsw %%ymm1, %%ymm0, %%ymm2\n\t"
                      "vpmaddubsw %%ymm1, %%ymm0, %%ymm3\n\t"
                      "vpmaddubsw %%ymm1, %%ymm0, %%ymm4\n\t"
                      "vpmaddubsw %%ymm1, %%ymm0, %%ymm5\n\t"
                      "vpmaddubsw %%ymm1, %%ymm0, %%ymm6\n\t"
                      "vpmaddubsw %%ymm1, %%ymm0, %%ymm7\n\t"
                      "vpmaddwd %%ymm15, %%ymm2, %%ymm2\n\t"
                      "vpmaddwd %%ymm15, %%ymm3, %%ymm3\n\t"
                      "vpmaddwd %%ymm15, %%ymm4, %%ymm4\n\t"
                      "vpmaddwd %%ymm15, %%ymm5, %%ymm5\n\t"
                      "vpmaddwd %%ymm15, %%ymm6, %%ymm6\n\t"
                      "vpmaddwd %%ymm15, %%ymm7, %%ymm7\n\t"
                      "vpaddd %%ymm2, %%ymm8, %%ymm8\n\t"
                      "vpaddd %%ymm3, %%ymm9, %%ymm9\n\t"
                      "vpaddd %%ymm4, %%ymm10, %%ymm10\n\t"
                      "vpaddd %%ymm5, %%ymm11, %%ymm11\n\t"
                      "vpaddd %%ymm6, %%ymm12, %%ymm12\n\t"
                      "vpaddd %%ymm7, %%ymm13, %%ymm13\n\t");
  return ops;
}
#endif

#if defined(__x86_64__) && defined(ECG_INT8_HAVE_AVXVNNI)
// {vex} vpdpbusd ymm (AVX-VNNI), 12 chains: 32 multiply-adds each. Written
// as bytes (c4 e2/62 75 50 modrm: ymmD += ymm1 . ymm0) because assemblers
// before binutils 2.36 lack the {vex} form.
double avxvnni_loop(int64_t n) {
  const double ops = 12.0 * 32.0 * 2.0 * static_cast<double>(n);
  ECG_INT8_PROBE_LOOP(n,
                      "vpcmpeqb %%ymm0, %%ymm0, %%ymm0\n\t"
                      "vpabsb %%ymm0, %%ymm1\n\t",
                      ".byte 0xc4, 0xe2, 0x75, 0x50, 0xd0\n\t"
                      ".byte 0xc4, 0xe2, 0x75, 0x50, 0xd8\n\t"
                      ".byte 0xc4, 0xe2, 0x75, 0x50, 0xe0\n\t"
                      ".byte 0xc4, 0xe2, 0x75, 0x50, 0xe8\n\t"
                      ".byte 0xc4, 0xe2, 0x75, 0x50, 0xf0\n\t"
                      ".byte 0xc4, 0xe2, 0x75, 0x50, 0xf8\n\t"
                      ".byte 0xc4, 0x62, 0x75, 0x50, 0xc0\n\t"
                      ".byte 0xc4, 0x62, 0x75, 0x50, 0xc8\n\t"
                      ".byte 0xc4, 0x62, 0x75, 0x50, 0xd0\n\t"
                      ".byte 0xc4, 0x62, 0x75, 0x50, 0xd8\n\t"
                      ".byte 0xc4, 0x62, 0x75, 0x50, 0xe0\n\t"
                      ".byte 0xc4, 0x62, 0x75, 0x50, 0xe8\n\t");
  return ops;
}
#endif

#if defined(__x86_64__) && defined(ECG_INT8_HAVE_AVX512VNNI)
// vpdpbusd zmm (AVX-512 VNNI), 12 chains: 64 multiply-adds each.
double avx512vnni_loop(int64_t n) {
  const double ops = 12.0 * 64.0 * 2.0 * static_cast<double>(n);
  ECG_INT8_PROBE_LOOP(n,
                      "vpternlogd $0xff, %%zmm0, %%zmm0, %%zmm0\n\t"
                      "vpternlogd $0xff, %%zmm1, %%zmm1, %%zmm1\n\t",
                      "vpdpbusd %%zmm0, %%zmm1, %%zmm2\n\t"
                      "vpdpbusd %%zmm0, %%zmm1, %%zmm3\n\t"
                      "vpdpbusd %%zmm0, %%zmm1, %%zmm4\n\t"
                      "vpdpbusd %%zmm0, %%zmm1, %%zmm5\n\t"
                      "vpdpbusd %%zmm0, %%zmm1, %%zmm6\n\t"
                      "vpdpbusd %%zmm0, %%zmm1, %%zmm7\n\t"
                      "vpdpbusd %%zmm0, %%zmm1, %%zmm8\n\t"
                      "vpdpbusd %%zmm0, %%zmm1, %%zmm9\n\t"
                      "vpdpbusd %%zmm0, %%zmm1, %%zmm10\n\t"
                      "vpdpbusd %%zmm0, %%zmm1, %%zmm11\n\t"
                      "vpdpbusd %%zmm0, %%zmm1, %%zmm12\n\t"
                      "vpdpbusd %%zmm0, %%zmm1, %%zmm13\n\t");
  return ops;
}
#endif

}  // namespace

double measure_fp32_fma_peak(int threads, Isa level) {
  ECG_CHECK(isa_supported(level), "peak probe: ISA level ", isa_name(level),
            " is not supported by this CPU");
#if defined(ECG_HAVE_AVX512_KERNELS)
  if (level == Isa::Avx512)
    return summed_rate_giga(threads, 10000000, [](int64_t n) { return cpu::fma_probe_avx512(n); });
#endif
#if defined(ECG_HAVE_AVX2_KERNELS)
  if (level == Isa::Avx2 || level == Isa::Avx512)
    return summed_rate_giga(threads, 10000000, [](int64_t n) { return cpu::fma_probe_avx2(n); });
#endif
  return summed_rate_giga(threads, 1000000, portable_fma_loop);
}

double measure_int8_peak(Isa level, int threads) {
  ECG_CHECK(isa_supported(level), "peak probe: ISA level ", isa_name(level),
            " is not supported by this CPU");
  return measure_int8_kernel_peak(int8::int8_kernel_for(level), threads);
}

double measure_int8_kernel_peak(int8::Int8Kernel kernel, int threads) {
  if (!int8::int8_kernel_supported(kernel)) return 0.0;
  switch (kernel) {
#if defined(__x86_64__) && defined(ECG_INT8_HAVE_AVX512VNNI)
    case int8::Int8Kernel::Avx512Vnni:
      return summed_rate_giga(threads, 5000000, avx512vnni_loop);
#endif
#if defined(__x86_64__) && defined(ECG_INT8_HAVE_AVXVNNI)
    case int8::Int8Kernel::AvxVnni:
      return summed_rate_giga(threads, 5000000, avxvnni_loop);
#endif
#if defined(__x86_64__)
    case int8::Int8Kernel::Avx2:
      return summed_rate_giga(threads, 5000000, avx2_maddubs_loop);
#endif
    default:
      return summed_rate_giga(threads, 500000, portable_int8_loop);
  }
}

const char* fp32_peak_instructions(Isa level) {
#if defined(ECG_HAVE_AVX512_KERNELS)
  if (level == Isa::Avx512) return "vfmadd zmm";
#endif
#if defined(ECG_HAVE_AVX2_KERNELS)
  if (level == Isa::Avx2 || level == Isa::Avx512) return "vfmadd ymm";
#endif
  return "portable mul+add (baseline vectors)";
}

const char* int8_peak_instructions(Isa level) {
  return int8_kernel_peak_instructions(int8::int8_kernel_for(level));
}

const char* int8_kernel_peak_instructions(int8::Int8Kernel kernel) {
  switch (kernel) {
    case int8::Int8Kernel::Avx512Vnni:
      return "vpdpbusd zmm";
    case int8::Int8Kernel::AvxVnni:
      return "vpdpbusd ymm (AVX-VNNI)";
    case int8::Int8Kernel::Avx2:
      return "vpmaddubsw + vpmaddwd + vpaddd ymm";
    default:
      return "portable int32 multiply-add";
  }
}

double measure_bandwidth(int threads) {
  threads = std::max(1, threads);
  // 128 MiB per array: beyond the last-level cache of the machines we target
  // (96 MiB on the largest stacked-cache parts).
  const size_t n = size_t(32) << 20;
  float* a = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
  float* b = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
  ECG_CHECK(a && b, "bandwidth probe: cannot allocate 2 x ", n * sizeof(float) >> 20, " MiB");
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < static_cast<int64_t>(n); ++i) a[i] = 1.f, b[i] = 0.f;  // first touch
  // Each thread streams its own contiguous chunk and is rated on its own
  // CPU time (a stalled load counts as CPU time, a descheduled thread does
  // not), like the compute probes; the rates are summed. Best of five passes.
  double best = 0;
  for (int pass = 0; pass < 5; ++pass) {
    double rate = 0;
#pragma omp parallel num_threads(threads) reduction(+ : rate)
    {
      int t = 0, nt = 1;
#if defined(_OPENMP)
      t = omp_get_thread_num();
      nt = omp_get_num_threads();
#endif
      const int64_t lo = static_cast<int64_t>(n) * t / nt,
                    hi = static_cast<int64_t>(n) * (t + 1) / nt;
      const double t0 = thread_cpu_seconds();
#pragma omp simd
      for (int64_t i = lo; i < hi; ++i) b[i] = 1.0001f * a[i];
      const double sec = thread_cpu_seconds() - t0;
      if (sec > 0) rate += 2.0 * static_cast<double>(hi - lo) * sizeof(float) / sec * 1e-9;
    }
    best = std::max(best, rate);
    std::swap(a, b);
  }
  std::free(a);
  std::free(b);
  return best;
}

}  // namespace ecg
