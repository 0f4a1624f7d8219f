// Entry point of bench_kernels: measures the machine peaks, records them and
// the ISA in the benchmark context (they appear in the JSON output), then
// registers and runs every benchmark.
//   build-kernels/bench/kernels/bench_kernels --benchmark_format=json
// ECG_ISA=avx2|generic forces the variant under test; --threads=N (first
// argument, before Google Benchmark's flags) sets the thread count.
#include <cstdio>
#include <cstring>
#include <string>

#include "bench/kernels/bench_common.h"
#include "kernels/cpu_features.h"
#include "kernels/runtime.h"

int main(int argc, char** argv) {
  int threads = 0;
  if (argc > 1 && std::strncmp(argv[1], "--threads=", 10) == 0) {
    threads = std::atoi(argv[1] + 10);
    for (int i = 1; i + 1 < argc; ++i) argv[i] = argv[i + 1];
    --argc;
  }
  ecg::set_num_threads(threads);
  const int t = ecg::num_threads();
  const ecg::bench::Peaks pk = ecg::bench::measure_peaks(t);
  ecg::bench::set_peaks(pk);
  std::fprintf(stderr, "peaks: FMA %.1f GFLOP/s (%s, %d threads), bandwidth %.1f GB/s; ISA %s\n",
               pk.fma_gflops, pk.fma_isa, t, pk.bw_gbs, ecg::isa_name(ecg::active_isa()));
  benchmark::AddCustomContext("ecg_threads", std::to_string(t));
  benchmark::AddCustomContext("ecg_isa", ecg::isa_name(ecg::active_isa()));
  benchmark::AddCustomContext("fma_peak_gflops", std::to_string(pk.fma_gflops));
  benchmark::AddCustomContext("bandwidth_gbs", std::to_string(pk.bw_gbs));
  ecg::bench::register_gemm_conv_benchmarks();
  ecg::bench::register_memory_bound_benchmarks();
  ecg::bench::register_peer_benchmarks();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
