// Self-tests of the CUDA emulator (kernels/cuda/emu): correct kernels give
// the right answers under every schedule, and planted bugs are caught.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "tests/cuda_emu/emu_testing.h"
#include "tests/cuda_emu/selftest_kernels.cuh"

namespace {

using ecg::cuda_emu::KernelFault;
using ecg::cuda_emu::ScheduleSpec;
using ecg::cuda_emu::testing::DeviceBuffer;
using ecg::cuda_emu::testing::ExpectRaces;
using ecg::cuda_emu::testing::for_each_schedule;
namespace k = ecg::emu_selftest;

std::vector<float> ramp(int n) {
  std::vector<float> v(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) v[static_cast<std::size_t>(i)] = static_cast<float>(i % 7) - 2.f;
  return v;
}

// Exact in float: small integers summed.
float host_sum(const std::vector<float>& v) {
  return std::accumulate(v.begin(), v.end(), 0.f);
}

template <int kBug>
float run_block_sum(const std::vector<float>& in, int threads) {
  DeviceBuffer<float> d_in(in), d_out(1);
  ECG_LAUNCH(dim3(1), dim3(static_cast<unsigned>(threads)), threads * sizeof(float), 0,
             k::block_sum<kBug>)
  (d_in.get(), d_out.get(), static_cast<int>(in.size()));
  return d_out.to_host()[0];
}

TEST(CudaEmu, BlockReductionIsRightUnderEverySchedule) {
  const std::vector<float> in = ramp(1000);
  for_each_schedule([&](const ScheduleSpec&) {
    EXPECT_EQ(run_block_sum<0>(in, 128), host_sum(in));
    EXPECT_EQ(run_block_sum<0>(in, 1024), host_sum(in));
  });
}

// How many schedules give a block sum (of planted bug `Variant`, 128 threads)
// other than the host's; a NaN counts. Logs each schedule's sum.
template <int Variant>
int schedules_with_wrong_sum(const std::vector<float>& in, const char* barrier) {
  int exposed = 0;
  for_each_schedule([&](const ScheduleSpec& s) {
    float got = run_block_sum<Variant>(in, 128);
    if (!(got == host_sum(in))) ++exposed;
    std::printf("missing %s barrier, %s: %g (expected %g)\n", barrier, s.name().c_str(), got,
                host_sum(in));
  });
  return exposed;
}

// A tree loop without its barrier: some order must expose it, either as a
// wrong sum or (when the last barrier is removed too) as a fault.
TEST(CudaEmu, MissingBarrierInTreeIsExposedBySomeSchedule) {
  const std::vector<float> in = ramp(1000);
  ExpectRaces planted;
  EXPECT_GE(schedules_with_wrong_sum<1>(in, "tree"), 1);
}

// The barrier between filling shared memory and reading it: without it a
// thread reads a neighbour's slot before it is written, i.e. the poison.
TEST(CudaEmu, MissingBarrierAfterSharedFillReadsPoison) {
  const std::vector<float> in = ramp(1000);
  ExpectRaces planted;
  EXPECT_GE(schedules_with_wrong_sum<2>(in, "fill"), 1);
}

// Under ThreadSanitizer the emulator sees the missing barrier even in the one
// order that computes the right sum (reverse): a race does not need to be
// lucky to be found. (Each ctest case is its own process, so TSan's
// de-duplication of reports does not hide this one behind the tests above.)
TEST(CudaEmu, RaceDetectorSeesMissingBarrierInTheOrderThatHidesIt) {
  if (!ecg::cuda_emu::race_detection()) GTEST_SKIP() << "needs a -fsanitize=thread build";
  const std::vector<float> in = ramp(1000);
  ExpectRaces planted;
  ecg::cuda_emu::testing::ScheduleGuard guard;
  ecg::cuda_emu::set_schedule({ecg::cuda_emu::Schedule::kReverse, 0});
  const std::uint64_t before = ecg::cuda_emu::race_reports();
  EXPECT_EQ(run_block_sum<1>(in, 128), host_sum(in));  // the order hides it...
  EXPECT_GT(ecg::cuda_emu::race_reports(), before);    // ...the race detector does not
}

TEST(CudaEmu, WarpButterflyAndAtomicAdd) {
  const std::vector<float> in = ramp(300);  // not a multiple of 32 or of the block
  for_each_schedule([&](const ScheduleSpec&) {
    DeviceBuffer<float> d_in(in), d_total(1);
    ECG_LAUNCH(dim3(3), dim3(128), 0, 0, k::warp_sum_atomic)(d_in.get(), d_total.get(), 300);
    EXPECT_EQ(d_total.to_host()[0], host_sum(in));
  });
}

// Expected shuffle results from CUDA's documented rules, written out per form.
int expect_shuffle(int form, int lane, int warp, int width) {
  const int seg = lane & ~(width - 1), in_seg = lane - seg;
  int src = lane;
  switch (form) {
    case 0:
      src = seg + (3 & (width - 1));
      break;  // __shfl_sync(v, 3)
    case 1:
      src = in_seg >= 1 ? lane - 1 : lane;
      break;  // up by 1
    case 2:
      src = in_seg + 2 < width ? lane + 2 : lane;
      break;  // down by 2
    case 3:
      src = (lane ^ 1) < seg + width ? (lane ^ 1) : lane;
      break;  // xor 1
    case 4:
      src = (lane ^ 16) < seg + width ? (lane ^ 16) : lane;
      break;  // xor 16
  }
  return 1000 * warp + src;
}

TEST(CudaEmu, ShufflesHonourWidth) {
  for (int width : {32, 16, 8, 4, 2, 1}) {
    for_each_schedule([&](const ScheduleSpec&) {
      const int n = 64;
      DeviceBuffer<int> d_out(5 * n);
      ECG_LAUNCH(dim3(1), dim3(n), 0, 0, k::shuffle_table)(width, d_out.get());
      const std::vector<int> out = d_out.to_host();
      for (int form = 0; form < 5; ++form)
        for (int t = 0; t < n; ++t)
          ASSERT_EQ(out[static_cast<std::size_t>(form * n + t)],
                    expect_shuffle(form, t % 32, t / 32, width))
              << "form " << form << " width " << width << " thread " << t;
    });
  }
}

TEST(CudaEmu, PartialMaskShuffleOfDoubles) {
  std::vector<double> in(64);
  for (int i = 0; i < 64; ++i) in[static_cast<std::size_t>(i)] = 0.25 * i;
  for_each_schedule([&](const ScheduleSpec&) {
    DeviceBuffer<double> d_in(in), d_out(2);
    ECG_LAUNCH(dim3(1), dim3(64), 0, 0, k::half_warp_sum)(d_in.get(), d_out.get());
    const std::vector<double> out = d_out.to_host();
    EXPECT_EQ(out[0], 0.25 * (15 * 16 / 2));         // lanes 0..15 of warp 0
    EXPECT_EQ(out[1], 0.25 * ((32 + 47) * 16 / 2));  // lanes 32..47
  });
}

TEST(CudaEmu, VotesAndCountingBarriers) {
  for_each_schedule([&](const ScheduleSpec&) {
    DeviceBuffer<int> d_out(6), d_block(3);
    ECG_LAUNCH(dim3(1), dim3(64), 0, 0, k::votes)(d_out.get(), d_block.get());
    const std::vector<int> out = d_out.to_host(), blk = d_block.to_host();
    for (int w = 0; w < 2; ++w) {
      unsigned ballot = 0;
      for (int l = 0; l < 32; ++l)
        if ((32 * w + l) % 3 == 0) ballot |= 1u << l;
      EXPECT_EQ(static_cast<unsigned>(out[static_cast<std::size_t>(3 * w)]), ballot);
      EXPECT_EQ(out[static_cast<std::size_t>(3 * w + 1)], w == 1);  // t >= 40 only in warp 1
      EXPECT_EQ(out[static_cast<std::size_t>(3 * w + 2)], w == 0);  // t < 40 for all of warp 0
    }
    EXPECT_EQ(blk[0], 22);  // 0, 3, ..., 63
    EXPECT_EQ(blk[1], 0);
    EXPECT_EQ(blk[2], 1);
  });
}

TEST(CudaEmu, Atomics) {
  for_each_schedule([&](const ScheduleSpec&) {
    std::vector<int> init = {0, -1, 1 << 30, 0, -1, 0};
    DeviceBuffer<int> d_c(init);
    DeviceBuffer<unsigned> d_wrap(1);
    DeviceBuffer<float> d_f(1);
    ECG_LAUNCH(dim3(4), dim3(50), 0, 0, k::atomics)(d_c.get(), d_wrap.get(), d_f.get());
    const std::vector<int> c = d_c.to_host();
    EXPECT_EQ(c[0], 200);
    EXPECT_EQ(c[1], 199);
    EXPECT_EQ(c[2], 0);
    EXPECT_GE(c[4], 0);  // some thread claimed the slot exactly once
    EXPECT_LT(c[4], 200);
    EXPECT_EQ(c[5], 0xffff);
    EXPECT_EQ(d_wrap.to_host()[0], 200u % 10u);  // inc wraps past 9
    EXPECT_EQ(d_f.to_host()[0], 100.f);
  });
}

TEST(CudaEmu, SharedMemoryIsPoisonedBeforeEachBlock) {
  DeviceBuffer<unsigned> d_out(64);
  ECG_LAUNCH(dim3(2), dim3(64), 0, 0, k::read_unwritten_shared)(d_out.get());
  for (unsigned v : d_out.to_host()) EXPECT_EQ(v, 0xffffffffu);
}

// Runs a launch that must fail; returns the fault message.
template <class F>
std::string expect_fault(F&& launch) {
  try {
    launch();
  } catch (const KernelFault& e) {
    std::printf("reported: %s\n", e.what());  // shows the report format in the log
    return e.what();
  }
  ADD_FAILURE() << "the planted bug was not reported";
  return {};
}

// Under every schedule: a launch into a fresh `n`-element buffer that must fail
// with a fault message naming `needle`.
template <class T, class F>
void expect_fault_naming(std::size_t n, const char* needle, F&& launch) {
  for_each_schedule([&](const ScheduleSpec&) {
    DeviceBuffer<T> d_out(n);
    std::string msg = expect_fault([&] { launch(d_out.get()); });
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  });
}

TEST(CudaEmu, DivergentBarrierIsReportedWithKernelBlockThread) {
  for_each_schedule([&](const ScheduleSpec&) {
    DeviceBuffer<float> d_out(64);
    std::string msg = expect_fault([&] {
      ECG_LAUNCH(dim3(2), dim3(64), 0, 0, k::divergent_barrier)(d_out.get());
    });
    EXPECT_NE(msg.find("__syncthreads"), std::string::npos) << msg;
    EXPECT_NE(msg.find("k::divergent_barrier"), std::string::npos) << msg;
    EXPECT_NE(msg.find("block (0,0,0)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("thread ("), std::string::npos) << msg;
    EXPECT_NE(msg.find("selftest_kernels.cuh"), std::string::npos) << msg;
    EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
    EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  });
}

TEST(CudaEmu, ExitBeforeBarrierIsReported) {
  expect_fault_naming<float>(64, "exited", [](float* out) {
    ECG_LAUNCH(dim3(1), dim3(64), 0, 0, k::early_exit_before_barrier)(out, 40);
  });
}

TEST(CudaEmu, LanesAtDifferentCollectivesAreReported) {
  expect_fault_naming<int>(32, "different collectives", [](int* out) {
    ECG_LAUNCH(dim3(1), dim3(32), 0, 0, k::lanes_at_different_collectives)(out);
  });
}

TEST(CudaEmu, ShuffleFromLaneOutsideMaskIsReported) {
  DeviceBuffer<int> d_out(32);
  std::string msg = expect_fault([&] {
    ECG_LAUNCH(dim3(1), dim3(32), 0, 0, k::shuffle_from_lane_outside_mask)(d_out.get());
  });
  EXPECT_NE(msg.find("not in the mask"), std::string::npos) << msg;
}

TEST(CudaEmu, LaunchesOutsideSm53LimitsAreRefused) {
  DeviceBuffer<float> d_out(2048);
  for (dim3 block : {dim3(2048), dim3(32, 32, 2), dim3(1, 1, 65), dim3(0)}) {
    std::string msg = expect_fault([&] {
      ECG_LAUNCH(dim3(1), block, 0, 0, k::divergent_barrier)
      (d_out.get());
    });
    EXPECT_NE(msg.find("invalid launch"), std::string::npos) << msg;
    EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  }
  std::string msg = expect_fault([&] {
    ECG_LAUNCH(dim3(1, 65536), dim3(32), 0, 0, k::divergent_barrier)(d_out.get());
  });
  EXPECT_NE(msg.find("grid"), std::string::npos) << msg;
  msg = expect_fault([&] {
    ECG_LAUNCH(dim3(1), dim3(32), 49153, 0, k::divergent_barrier)(d_out.get());
  });
  EXPECT_NE(msg.find("shared memory"), std::string::npos) << msg;
  (void)cudaGetLastError();
}

TEST(CudaEmu, StaticPlusDynamicSharedOverLimitIsRefused) {
  DeviceBuffer<float> d_out(64);
  ECG_LAUNCH(dim3(1), dim3(64), 16 * 1024, 0, k::static_plus_dynamic_shared)(d_out.get());
  for (float v : d_out.to_host()) EXPECT_EQ(v, 3.f);
  std::string msg = expect_fault([&] {
    ECG_LAUNCH(dim3(1), dim3(64), 16 * 1024 + 4, 0, k::static_plus_dynamic_shared)(d_out.get());
  });
  EXPECT_NE(msg.find("48 KiB"), std::string::npos) << msg;
  (void)cudaGetLastError();
}

TEST(CudaEmuDeathTest, StackOverflowNamesTheThread) {
  if (ecg::cuda_emu::race_detection()) GTEST_SKIP() << "TSan's signal handling differs";
  EXPECT_DEATH(
      {
        DeviceBuffer<int> d_out(32);
        ECG_LAUNCH(dim3(1), dim3(32), 0, 0, k::stack_overflow)(d_out.get(), 4 << 20);
      },
      "crashed in kernel k::stack_overflow block \\(0,0,0\\) thread");
}

TEST(CudaEmu, ErrorsCanBeRecordedInsteadOfThrown) {
  ecg::cuda_emu::set_throw_on_error(false);
  DeviceBuffer<float> d_out(64);
  ECG_LAUNCH(dim3(1), dim3(64), 0, 0, k::divergent_barrier)(d_out.get());
  EXPECT_EQ(cudaDeviceSynchronize(), cudaErrorLaunchFailure);
  EXPECT_EQ(cudaGetLastError(), cudaErrorLaunchFailure);
  EXPECT_NE(ecg::cuda_emu::last_fault_message().find("divergent_barrier"), std::string::npos);
  ecg::cuda_emu::set_throw_on_error(true);
}

// The int8 dot product gives the same int32 on the sm_53 path and, in the
// sm_61 build of this file, through __dp4a.
TEST(CudaEmu, Dot4MatchesScalarOnThisArchPath) {
  const int n = 257;
  std::vector<int> a(n), b(n), c(n), want(n);
  unsigned x = 12345;
  auto next = [&] { return x = x * 1664525u + 1013904223u; };
  for (int i = 0; i < n; ++i) {
    a[i] = static_cast<int>(next());
    b[i] = static_cast<int>(next());
    c[i] = static_cast<int>(next() >> 8) - (1 << 22);
    int acc = c[i];
    for (int k = 0; k < 4; ++k)
      acc += static_cast<signed char>(a[i] >> (8 * k)) * static_cast<signed char>(b[i] >> (8 * k));
    want[i] = acc;
  }
  for_each_schedule([&](const ScheduleSpec&) {
    DeviceBuffer<int> da(a), db(b), dc(c), dout(n);
    ECG_LAUNCH(dim3(3), dim3(96), 0, 0, k::dot4)(da.get(), db.get(), dc.get(), dout.get(), n);
    EXPECT_EQ(dout.to_host(), want);
  });
  std::printf("ECG_CUDA_ARCH %d, dp4a %s\n", ECG_CUDA_ARCH, ECG_CUDA_HAS_DP4A ? "on" : "off");
}

TEST(CudaEmu, Half2FmaAndShuffle) {
  // Values chosen so that every product and sum is exact in half precision.
  std::vector<__half2> a(64), b(64);
  float want[2] = {0.f, 0.f};
  for (int i = 0; i < 64; ++i) {
    const float a0 = 0.5f * (i % 4), a1 = 0.25f * (i % 3), b0 = 1.f + (i % 2), b1 = 2.f;
    a[static_cast<std::size_t>(i)] = __floats2half2_rn(a0, a1);
    b[static_cast<std::size_t>(i)] = __floats2half2_rn(b0, b1);
    want[i / 32] += 2.f * (a0 * b0 + a1 * b1);
  }
  for_each_schedule([&](const ScheduleSpec&) {
    DeviceBuffer<__half2> da(a), db(b);
    DeviceBuffer<float> dout(2);
    ECG_LAUNCH(dim3(1), dim3(64), 0, 0, k::half2_dot)(da.get(), db.get(), dout.get());
    const std::vector<float> out = dout.to_host();
    EXPECT_EQ(out[0], want[0]);
    EXPECT_EQ(out[1], want[1]);
  });
}

// The half arithmetic of the FP16 path (kernels/cuda/conv_fp16.cuh) rounds
// once, as the GPU's HFMA2/HADD2/HMUL2 do. __hfma and __hfma2 are the
// emulator's (emu.h); __hadd/__hmul and their half2 forms are NVIDIA's host
// code, which goes through float.
TEST(CudaEmu, HalfArithmeticRoundsOnceAsOnTheGpu) {
  auto h = [](float v) { return __float2half_rn(v); };
  auto bits = [](__half v) { return __half_as_ushort(v); };
  const __half one_plus = h(1.f + 0x1p-10f);
  // (1 + 2^-10)^2 - (1 + 2^-9) = 2^-20 exactly; a product rounded first gives 0.
  EXPECT_EQ(__half2float(__hfma(one_plus, one_plus, h(-(1.f + 0x1p-9f)))), 0x1p-20f);
  // 3 (1 + 2^-10) - 2^-24 lies just below the midpoint 3 + 1.5 * 2^-9 of two
  // halves: one rounding gives 3 + 2^-9; a sum rounded to float first would be
  // the midpoint itself and round to the even 3 + 2^-8.
  EXPECT_EQ(__half2float(__hfma(h(3.f), one_plus, h(-0x1p-24f))), 3.f + 0x1p-9f);
  const __half2 lanes =
      __hfma2(__halves2half2(one_plus, h(3.f)), __halves2half2(one_plus, one_plus),
              __halves2half2(h(-(1.f + 0x1p-9f)), h(-0x1p-24f)));
  EXPECT_EQ(__low2float(lanes), 0x1p-20f);
  EXPECT_EQ(__high2float(lanes), 3.f + 0x1p-9f);
  // Sums and products of random finite halves over the whole exponent range
  // (subnormals included) against the exact result (a double holds any sum or
  // product of two halves exactly) rounded once.
  uint32_t seed = 12345u;
  auto random_half = [&] {
    for (;;) {
      seed = seed * 1664525u + 1013904223u;
      const auto b = static_cast<unsigned short>(seed >> 16);
      if ((b & 0x7c00u) != 0x7c00u) return __ushort_as_half(b);  // not inf or NaN
    }
  };
  int checked = 0;
  for (int i = 0; i < 20000; ++i) {
    const __half a = random_half(), b = random_half();
    const double x = __half2float(a), y = __half2float(b);
    if (std::fabs(x + y) <= 65504) {
      EXPECT_EQ(bits(__hadd(a, b)), bits(__double2half(x + y))) << x << " + " << y;
      EXPECT_EQ(bits(__low2half(__hadd2(__half2half2(a), __half2half2(b)))),
                bits(__double2half(x + y)));
      ++checked;
    }
    if (std::fabs(x * y) <= 65504) {
      EXPECT_EQ(bits(__hmul(a, b)), bits(__double2half(x * y))) << x << " * " << y;
    }
  }
  EXPECT_GT(checked, 10000);
}

TEST(CudaEmu, SaturatingQuantizationMapsNanToZero) {
  const std::vector<float> in = {0.5f,  1.5f, 2.5f,     -0.5f,     -1.5f,  1e9f,
                                 -1e9f, NAN,  INFINITY, -INFINITY, 126.6f, -128.4f};
  const std::vector<signed char> want = {0, 2, 2, 0, -2, 127, -128, 0, 127, -128, 127, -128};
  DeviceBuffer<float> d_in(in);
  DeviceBuffer<signed char> d_out(in.size());
  ECG_LAUNCH(dim3(1), dim3(32), 0, 0, k::quantize_s8)
  (d_in.get(), 1.f, d_out.get(), static_cast<int>(in.size()));
  EXPECT_EQ(d_out.to_host(), want);
  EXPECT_EQ(__float2int_rn(NAN), 0);
  EXPECT_EQ(__float2int_rn(3e9f), 2147483647);
  EXPECT_EQ(__float2int_rz(-3e9f), -2147483647 - 1);
  EXPECT_EQ(__float2uint_rn(-5.f), 0u);
}

TEST(CudaEmu, RuntimeBasics) {
  int count = 0;
  EXPECT_EQ(cudaGetDeviceCount(&count), cudaSuccess);
  EXPECT_EQ(count, 1);
  cudaDeviceProp prop;
  EXPECT_EQ(cudaGetDeviceProperties(&prop, 0), cudaSuccess);
  EXPECT_EQ(prop.major * 10 + prop.minor, 53);
  EXPECT_EQ(prop.sharedMemPerBlock, 48u * 1024u);
  cudaStream_t stream;
  cudaEvent_t start, stop;
  EXPECT_EQ(cudaStreamCreate(&stream), cudaSuccess);
  EXPECT_EQ(cudaEventCreate(&start), cudaSuccess);
  EXPECT_EQ(cudaEventCreate(&stop), cudaSuccess);
  EXPECT_EQ(cudaEventRecord(start, stream), cudaSuccess);
  std::vector<float> host(100, 1.f), back(100, 0.f);
  float* dev = nullptr;
  EXPECT_EQ(cudaMalloc(&dev, 100 * sizeof(float)), cudaSuccess);
  EXPECT_EQ(cudaMemcpyAsync(dev, host.data(), 400, cudaMemcpyHostToDevice, stream), cudaSuccess);
  EXPECT_EQ(cudaMemcpyAsync(back.data(), dev, 400, cudaMemcpyDeviceToHost, stream), cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(stream), cudaSuccess);
  EXPECT_EQ(back, host);
  EXPECT_EQ(cudaEventRecord(stop, stream), cudaSuccess);
  float ms = -1.f;
  EXPECT_EQ(cudaEventElapsedTime(&ms, start, stop), cudaSuccess);
  EXPECT_GE(ms, 0.f);
  EXPECT_EQ(cudaFree(dev), cudaSuccess);
  EXPECT_EQ(cudaFree(host.data()), cudaErrorInvalidDevicePointer);  // not from cudaMalloc
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidDevicePointer);
  EXPECT_STREQ(cudaGetErrorName(cudaErrorInvalidConfiguration), "cudaErrorInvalidConfiguration");
  EXPECT_EQ(cudaEventDestroy(start), cudaSuccess);
  EXPECT_EQ(cudaEventDestroy(stop), cudaSuccess);
  EXPECT_EQ(cudaStreamDestroy(stream), cudaSuccess);
}

}  // namespace
