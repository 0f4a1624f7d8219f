// When the kernel tests are compiled by nvcc for a real GPU
// (tools/ci/cuda_gpu_check.sh), there is no emulator: this stands in for the
// part of its API the tests use. One "schedule" (the GPU's own), no race
// detector (compute-sanitizer's racecheck takes that role there).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace ecg::cuda_emu {

struct ScheduleSpec {
  std::string name() const { return "native GPU"; }
};
inline const ScheduleSpec* standard_schedules(std::size_t* count) {
  static const ScheduleSpec native;
  *count = 1;
  return &native;
}
inline void set_schedule(const ScheduleSpec&) {}
inline std::uint64_t race_reports() {
  return 0;
}
inline bool race_detection() {
  return false;
}

}  // namespace ecg::cuda_emu
