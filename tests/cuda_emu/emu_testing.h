// GoogleTest helpers for kernels run on the CUDA emulator.
//
//   for_each_schedule([&](const ScheduleSpec& s) { launch, copy back, EXPECT ... });
// runs the body once per standard schedule (forward, reverse, seeded random),
// with the schedule's name in every failure message.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cuda/emu/cuda_compat.h"
#if defined(__CUDACC__)
#include "tests/cuda_emu/native_shim.h"  // built by nvcc for a real GPU
#endif

namespace ecg::cuda_emu::testing {

inline std::vector<ScheduleSpec> schedules() {
  std::size_t n = 0;
  const ScheduleSpec* s = standard_schedules(&n);
  return std::vector<ScheduleSpec>(s, s + n);
}

// Restores the forward schedule when a test leaves, whatever it set.
struct ScheduleGuard {
  ~ScheduleGuard() { set_schedule(ScheduleSpec{}); }
};

// In a ThreadSanitizer build every race between emulated threads fails the
// test, unless the test plants one on purpose inside an ExpectRaces scope.
inline int& races_expected() {
  static int depth = 0;
  return depth;
}
struct ExpectRaces {
  ExpectRaces() { ++races_expected(); }
  ~ExpectRaces() { --races_expected(); }
};

// body(spec) under one schedule, traced as `trace`; no new race report
// unless an ExpectRaces is in scope.
template <class F>
void run_under_schedule(const ScheduleSpec& spec, const std::string& trace, F&& body) {
  set_schedule(spec);
  SCOPED_TRACE(trace);
  const std::uint64_t races_before = race_reports();
  body(spec);
  if (races_expected() == 0) {
    EXPECT_EQ(race_reports(), races_before)
        << "ThreadSanitizer reported data races between emulated CUDA threads (reports above)";
  }
}

template <class F>
void for_each_schedule(F&& body) {
  ScheduleGuard guard;
  for (const ScheduleSpec& spec : schedules())
    run_under_schedule(spec, "schedule " + spec.name(), body);
}

// Device buffer holding a copy of `host` (or n zeroed elements).
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(const std::vector<T>& host) : n_(host.size()) {
    EXPECT_EQ(cudaMalloc(&ptr_, n_ * sizeof(T)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(ptr_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice), cudaSuccess);
  }
  explicit DeviceBuffer(std::size_t n, int byte = 0) : n_(n) {
    EXPECT_EQ(cudaMalloc(&ptr_, n_ * sizeof(T)), cudaSuccess);
    EXPECT_EQ(cudaMemset(ptr_, byte, n_ * sizeof(T)), cudaSuccess);
  }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  T* get() const { return ptr_; }
  std::vector<T> to_host() const {
    std::vector<T> host(n_);
    EXPECT_EQ(cudaMemcpy(host.data(), ptr_, n_ * sizeof(T), cudaMemcpyDeviceToHost), cudaSuccess);
    return host;
  }

 private:
  T* ptr_ = nullptr;
  std::size_t n_;
};

}  // namespace ecg::cuda_emu::testing
