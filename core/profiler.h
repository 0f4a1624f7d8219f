// The op profiler: when enabled (`--profile`), every op call through the
// functional API is timed with its FLOPs, bytes and the ISA that ran, tagged
// with the current layer name. Reports aggregate per op and per layer, and one
// step can be written as a Chrome trace (trace-event JSON, opens in Perfetto).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"

namespace ecg {

struct ProfileEvent {
  std::string op, layer;
  const char* isa = "";
  double start_us = 0, dur_us = 0;
  double flops = 0, bytes = 0;
  int step = 0;
};

class Profiler {
 public:
  static Profiler& instance();
  bool enabled() const { return enabled_; }
  void enable(bool on) { enabled_ = on; }
  void set_step(int step) { step_ = step; }
  int step() const { return step_; }
  void record(ProfileEvent e);
  const std::vector<ProfileEvent>& events() const { return events_; }
  void clear() { events_.clear(); }
  double now_us() const;

  // Per-op and per-layer tables: calls, total ms, share, GFLOP/s or GB/s,
  // fraction of the given peaks (0 = unknown), ISA.
  std::string report(double peak_gflops = 0, double peak_gbs = 0) const;
  // Writes the events of one step (or all when step < 0) as trace-event JSON.
  void write_chrome_trace(const std::string& path, int step = -1) const;

 private:
  bool enabled_ = false;
  int step_ = 0;
  std::vector<ProfileEvent> events_;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

// The name of the layer currently running (set by layers/ modules).
const std::string& current_layer();
class LayerScope {
 public:
  explicit LayerScope(const std::string& name);
  ~LayerScope();
  LayerScope(const LayerScope&) = delete;
  LayerScope& operator=(const LayerScope&) = delete;

 private:
  std::string prev_;
};

// Times one op call when the profiler is on; costs one branch when off.
class OpTimer {
 public:
  OpTimer(const char* op, double flops, double bytes, Isa isa);
  ~OpTimer();
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  const char* op_;
  double flops_, bytes_, start_ = 0;
  Isa isa_;
  bool on_;
};

}  // namespace ecg
