// The profiler: when enabled (`--profile`), every op call is timed with its
// FLOPs, bytes and the kernel variant that ran, and every layer's time is
// taken as a span, forward and backward, under the one name `ecgcnn summary`
// prints ("stage0.block0.conv1"). Reports:
//  - per-layer rows (layer, phase, time, GFLOP/s or GOP/s or GB/s, % of the
//    peaks measured at start-up, kernel, shape) as a table, JSON or CSV;
//  - per-op totals;
//  - a Chrome trace (trace-event JSON for Perfetto): one track per thread,
//    layer spans enclosing op slices, a memory counter;
//  - a roofline picture (SVG) of the layers against the measured peaks.
//
// How time is attributed. A layer's row is the wall time spent inside its
// span minus the time of spans nested in it (its "self" time), so rows never
// count a microsecond twice and their sum is the traced time of the step.
// Spans: Module::operator() (forward), each autograd node's backward (under
// the layer that recorded it), the optimizer update, the loss, and
// "(autograd)" for the backward engine's own bookkeeping. Ops outside any
// span get the row "-".
#pragma once
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/cpu_features.h"

namespace ecg {

struct ProfileEvent {
  enum class Kind {
    Op,           // one kernel call on the calling thread
    Span,         // a layer's span (self_us: minus nested spans)
    ThreadSlice,  // work of one thread inside a parallel region (trace only)
    Memory,       // allocator bytes in use (value, MB; trace only)
    Step,         // one whole step's wall time
  };
  Kind kind = Kind::Op;
  std::string op, layer;
  const char* phase = "forward";  // forward, backward, update
  const char* kernel = "";        // the variant that ran ("avx512", "avx512-vnni")
  double start_us = 0, dur_us = 0, self_us = 0;
  double flops = 0, bytes = 0;  // flops: 2 per multiply-add (int8: ops)
  double value = 0;
  bool int8 = false;     // flops are int8 ops: rated against the int8 peak
  bool outside = false;  // an op outside any span
  int step = 0, tid = 0;
};

// The peaks a report divides by (0 = unknown: no percentage).
struct ProfilePeaks {
  double fp32_gflops = 0, int8_gops = 0, bandwidth_gbs = 0;
  std::string fp32_what, int8_what;  // the instructions each probe timed
};

// One per-layer row, summed over the traced steps.
struct ProfileRow {
  std::string layer, phase, kernel, shape;
  int calls = 0;     // spans
  double ms = 0;     // self time
  double op_ms = 0;  // time inside kernels
  double flops = 0, bytes = 0;
  bool int8 = false;
  double rate = 0;       // G/s of `unit`
  std::string unit;      // "GFLOP/s", "GOP/s", "GB/s" or ""
  double pct_peak = -1;  // of the matching peak; < 0 unknown
  double intensity = 0;  // flops per byte (0 when either is unknown)
};

class Profiler {
 public:
  static Profiler& instance();
  bool enabled() const { return enabled_; }
  void enable(bool on) { enabled_ = on; }
  void set_step(int step) { step_ = step; }
  int step() const { return step_; }
  // A step's wall time, recorded by whoever runs the step (bench, trainer).
  void record_step(int step, double start_us, double dur_us);
  // Thread-safe: worker threads record their slices.
  void record(ProfileEvent e);
  // A layer's share of work that ran as one piece for several layers (the
  // int8 row tiling): a span of `layer` with one op inside it, from start_us
  // for dur_us, counted as nested in the span open on this thread.
  void record_layer_share(const std::string& layer, const char* op, double start_us, double dur_us,
                          double flops, double bytes, const char* kernel, bool int8);
  const std::vector<ProfileEvent>& events() const { return events_; }
  void clear() { events_.clear(); }
  double now_us() const;
  // A small number per thread, 0 for the first thread that records.
  int thread_index();

  // Per-layer rows of `step` (all steps when < 0), in first-seen order;
  // shapes: layer name -> shape text for the shape column.
  std::vector<ProfileRow> rows(const ProfilePeaks& peaks,
                               const std::map<std::string, std::string>& shapes = {},
                               int step = -1) const;
  // Wall time of the recorded steps (ms) and how many there are.
  double step_ms(int step = -1) const;
  int steps() const;
  // The text report: per-layer rows, then per-op totals.
  std::string report(const ProfilePeaks& peaks = {},
                     const std::map<std::string, std::string>& shapes = {}) const;
  // Writes the events of one step (or all when step < 0) as trace-event JSON.
  void write_chrome_trace(const std::string& path, int step = -1) const;

 private:
  bool enabled_ = false;
  int step_ = 0;
  int next_tid_ = 0;
  std::vector<ProfileEvent> events_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
};

// Rows as JSON (an object with "peaks" and "rows") or CSV, chosen by the
// path's extension (.json, .csv; anything else throws naming the path).
void write_profile_rows(const std::string& path, const std::vector<ProfileRow>& rows,
                        const ProfilePeaks& peaks);
// A roofline (SVG): each row with FLOPs and bytes at (FLOP/byte, G/s), under
// the measured compute and bandwidth roofs.
std::string roofline_svg(const std::vector<ProfileRow>& rows, const ProfilePeaks& peaks,
                         const std::string& title);

// The name of the layer currently running (set by layers/ modules).
const std::string& current_layer();
// The phase the current thread is in (forward, backward, update).
const char* current_phase();

// Names the layer that runs inside it and, when the profiler is on, times
// its span. Nested (the default) appends ".name" to the enclosing layer;
// Absolute replaces it (backward nodes, the optimizer, the loss).
class LayerScope {
 public:
  enum Mode { Nested, Absolute };
  explicit LayerScope(const std::string& name, Mode mode = Nested);
  ~LayerScope();
  LayerScope(const LayerScope&) = delete;
  LayerScope& operator=(const LayerScope&) = delete;

 private:
  std::string prev_;
  double start_ = 0;
  bool on_;
};

class PhaseScope {
 public:
  explicit PhaseScope(const char* phase);
  ~PhaseScope();
  PhaseScope(const PhaseScope&) = delete;
  PhaseScope& operator=(const PhaseScope&) = delete;

 private:
  const char* prev_;
};

// Adds the wall time of its scope, on the profiler's clock, to `total` (in
// seconds), whether or not the profiler is on: the training loop's parts
// outside the step (waiting for data, validation, checkpoints) per epoch.
// When the profiler is on, the scope is also a span named `part` in the
// trace, so a traced step shows what the loop did around it.
class PartTimer {
 public:
  PartTimer(double& total, const char* part);
  ~PartTimer();
  PartTimer(const PartTimer&) = delete;
  PartTimer& operator=(const PartTimer&) = delete;

 private:
  double& total_;
  const char* part_;
  double start_;
  bool on_;  // the profiler was on at the start: a span, with nested spans subtracted
};

// Times one op call when the profiler is on; costs one branch when off.
class OpTimer {
 public:
  OpTimer(const char* op, double flops, double bytes, Isa isa);
  // A kernel named by its variant; int8: the flops are int8 ops.
  OpTimer(const char* op, double flops, double bytes, const char* kernel, bool int8);
  ~OpTimer();
  OpTimer(const OpTimer&) = delete;
  OpTimer& operator=(const OpTimer&) = delete;

 private:
  const char* op_;
  double flops_, bytes_, start_ = 0;
  const char* kernel_;
  bool int8_, on_;
};

}  // namespace ecg
