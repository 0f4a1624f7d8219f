// What the GPU benchmarks of kernels/cuda/bench share: CHECK (exit on a CUDA
// error, with the place) and median_ms (the median of 20 timed runs after 3
// warm-ups, CUDA events on the default stream). Host programs built with
// nvcc -x cu by tools/ci/cuda_gpu_check.sh only.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

// Prints "file:line: what" and exits 1: the end of a failed CHECK.
inline void bench_fail(const char* file, int line, const std::string& what) {
  std::fprintf(stderr, "%s:%d: %s\n", file, line, what.c_str());
  std::exit(1);
}

#define CHECK(x)                                                                   \
  do {                                                                             \
    cudaError_t e_ = (x);                                                          \
    if (e_ != cudaSuccess) bench_fail(__FILE__, __LINE__, cudaGetErrorString(e_)); \
  } while (0)

// launch() queues the work and returns its cudaError_t.
template <class F>
float median_ms(F&& launch) {
  cudaEvent_t a, b;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 3; ++i) CHECK(launch());
  std::vector<float> t;
  for (int i = 0; i < 20; ++i) {
    CHECK(cudaEventRecord(a));
    CHECK(launch());
    CHECK(cudaEventRecord(b));
    CHECK(cudaEventSynchronize(b));
    float ms = 0;
    CHECK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms);
  }
  std::sort(t.begin(), t.end());
  CHECK(cudaEventDestroy(a));
  CHECK(cudaEventDestroy(b));
  return t[t.size() / 2];
}
