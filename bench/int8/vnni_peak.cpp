// The machine's int8 peaks as this binary sees them, one OpenMP thread per
// ecg::num_threads(), each on its own CPU time: independent vpdpbusd zmm
// chains (12 per thread, more than latency x throughput; one vpdpbusd = 64
// multiply-adds = 128 int8 ops), and the AVX2 vpmaddubsw step without VNNI.
#include <cstdint>

#include <time.h>
#include "kernels/cpu_features.h"
#include "kernels/runtime.h"
#if defined(ECG_BENCH_AVX512VNNI)
#include <immintrin.h>
// GCC 12 warns inside its own avx512fintrin.h (_mm512_undefined_epi32's
// `__Y = __Y`, GCC bug 105593); nothing uninitialized is read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#endif

namespace bench_int8 {

namespace {

// Runs `loop(iters)` (one asm loop of `ops_per_iter` int8 ops per iteration)
// on each of `threads` OpenMP threads and sums their rates, each taken on the
// thread's own CPU time: the machines are shared, and wall time would measure
// the neighbours.
template <class Loop>
double summed_rate(int threads, int64_t iters, double ops_per_iter, Loop loop) {
  double rate = 0.0;
#pragma omp parallel num_threads(threads) reduction(+ : rate)
  {
    timespec t0{}, t1{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    loop(iters);
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    const double sec = (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec);
    rate += ops_per_iter * static_cast<double>(iters) / sec;
  }
  return rate;
}

}  // namespace

// Ops per second (2 per multiply-add) summed over `threads`; 0 when not built
// or the CPU lacks AVX-512 VNNI.
double vnni_peak_ops(int threads) {
#if defined(ECG_BENCH_AVX512VNNI)
  if (!ecg::cpu_features().avx512_vnni) return 0.0;
  // Inline assembly: with intrinsics GCC 12 copies every accumulator
  // through a second register each iteration, which halves the rate.
  return summed_rate(threads, 50000000, 12.0 * 64.0 * 2.0, [](int64_t n) {
    asm volatile(
        "vpternlogd $0xff, %%zmm0, %%zmm0, %%zmm0\n\t"
        "vpternlogd $0xff, %%zmm1, %%zmm1, %%zmm1\n\t"
        "1:\n\t"
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
        "vpdpbusd %%zmm0, %%zmm1, %%zmm13\n\t"
        "dec %0\n\t"
        "jnz 1b\n\t"
        : "+r"(n)
        :
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
          "xmm11", "xmm12", "xmm13", "cc");
  });
#else
  (void)threads;
  return 0.0;
#endif
}

// The AVX2 int8 peak without VNNI: 32 multiply-adds per vpmaddubsw (u8 x s8
// pairs into int16) + vpmaddwd by ones (pairs into int32) + vpaddd, the three
// instructions of the avx2-maddubs kernel's step, in 6 independent chains per
// thread. Inline assembly needs no -mavx2 (the assembler takes the mnemonics);
// the CPU check guards it. 0 when the CPU lacks AVX2 or this is not x86.
double avx2_maddubs_peak_ops(int threads) {
#if defined(__x86_64__)
  if (!ecg::cpu_features().avx2) return 0.0;
  return summed_rate(threads, 30000000, 6.0 * 32.0 * 2.0, [](int64_t n) {
    asm volatile(
        "vpcmpeqb %%ymm0, %%ymm0, %%ymm0\n\t"
        "vpabsb %%ymm0, %%ymm1\n\t"
        "vpabsw %%ymm0, %%ymm15\n\t"
        "1:\n\t"
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
        "vpaddd %%ymm7, %%ymm13, %%ymm13\n\t"
        "dec %0\n\t"
        "jnz 1b\n\t"
        "vzeroupper\n\t"
        : "+r"(n)
        :
        : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
          "xmm11", "xmm12", "xmm13", "xmm15", "cc");
  });
#else
  (void)threads;
  return 0.0;
#endif
}

}  // namespace bench_int8
