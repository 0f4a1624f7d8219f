// The profiler's recording side: scopes, op timers, and the per-layer rows
// (core/profiler.h). Text, JSON/CSV, trace and roofline: profile_report.cpp.
#include "core/profiler.h"

#include <algorithm>
#include <set>

#include "core/allocator.h"
#include "kernels/error.h"

namespace ecg {

namespace {

thread_local std::string t_layer;
thread_local const char* t_phase = "forward";
// Per open span on this thread: the time of the spans nested in it, so its
// self time excludes them.
thread_local std::vector<double> t_child_us;
thread_local int t_tid = -1;

void record_memory(Profiler& p, double at_us) {
  ProfileEvent m;
  m.kind = ProfileEvent::Kind::Memory;
  m.start_us = at_us;
  m.value = static_cast<double>(cpu_allocator().stats().bytes_in_use) / 1048576.0;
  p.record(std::move(m));
}

}  // namespace

Profiler& Profiler::instance() {
  static Profiler p;
  return p;
}

double Profiler::now_us() const {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0_).count();
}

int Profiler::thread_index() {
  if (t_tid < 0) {
    std::lock_guard<std::mutex> lock(mu_);
    t_tid = next_tid_++;
  }
  return t_tid;
}

void Profiler::record(ProfileEvent e) {
  e.tid = thread_index();
  std::lock_guard<std::mutex> lock(mu_);
  if (e.kind != ProfileEvent::Kind::Step) e.step = step_;
  events_.push_back(std::move(e));
}

void Profiler::record_step(int step, double start_us, double dur_us) {
  ProfileEvent e;
  e.kind = ProfileEvent::Kind::Step;
  e.step = step;
  e.start_us = start_us;
  e.dur_us = dur_us;
  record(std::move(e));
}

void Profiler::record_layer_share(const std::string& layer, const char* op, double start_us,
                                  double dur_us, double flops, double bytes, const char* kernel,
                                  bool int8) {
  ProfileEvent span;
  span.kind = ProfileEvent::Kind::Span;
  span.layer = layer;
  span.phase = t_phase;
  span.start_us = start_us;
  span.dur_us = span.self_us = dur_us;
  ProfileEvent o = span;
  o.kind = ProfileEvent::Kind::Op;
  o.op = op;
  o.kernel = kernel;
  o.flops = flops;
  o.bytes = bytes;
  o.int8 = int8;
  if (!t_child_us.empty()) t_child_us.back() += dur_us;
  record(std::move(span));
  record(std::move(o));
}

const std::string& current_layer() {
  return t_layer;
}

const char* current_phase() {
  return t_phase;
}

LayerScope::LayerScope(const std::string& name, Mode mode)
    : prev_(t_layer), on_(Profiler::instance().enabled()) {
  t_layer = (mode == Absolute || prev_.empty()) ? name : prev_ + "." + name;
  if (on_) {
    start_ = Profiler::instance().now_us();
    t_child_us.push_back(0);
  }
}

namespace {

// Records a span that ends now and closes its entry on the thread's child
// stack: its self time excludes the spans nested in it, and its whole
// duration counts as a child of the span around it.
void record_span(Profiler& p, std::string layer, const char* phase, double start_us,
                 double end_us) {
  ProfileEvent e;
  e.kind = ProfileEvent::Kind::Span;
  e.layer = std::move(layer);
  e.phase = phase;
  e.start_us = start_us;
  e.dur_us = end_us - start_us;
  e.self_us = e.dur_us - t_child_us.back();
  t_child_us.pop_back();
  if (!t_child_us.empty()) t_child_us.back() += e.dur_us;
  p.record(std::move(e));
}

}  // namespace

LayerScope::~LayerScope() {
  if (on_) {
    Profiler& p = Profiler::instance();
    const double end = p.now_us();
    record_span(p, t_layer.empty() ? "-" : t_layer, t_phase, start_, end);
    record_memory(p, end);
  }
  t_layer = prev_;
}

PhaseScope::PhaseScope(const char* phase) : prev_(t_phase) {
  t_phase = phase;
}
PhaseScope::~PhaseScope() {
  t_phase = prev_;
}

PartTimer::PartTimer(double& total, const char* part)
    : total_(total),
      part_(part),
      start_(Profiler::instance().now_us()),
      on_(Profiler::instance().enabled()) {
  if (on_) t_child_us.push_back(0);
}

PartTimer::~PartTimer() {
  Profiler& p = Profiler::instance();
  const double end = p.now_us();
  total_ += (end - start_) * 1e-6;
  if (!on_) return;
  record_span(p, part_, "loop", start_, end);
}

OpTimer::OpTimer(const char* op, double flops, double bytes, Isa isa)
    : OpTimer(op, flops, bytes, isa_name(isa), false) {}

OpTimer::OpTimer(const char* op, double flops, double bytes, const char* kernel, bool int8)
    : op_(op),
      flops_(flops),
      bytes_(bytes),
      kernel_(kernel),
      int8_(int8),
      on_(Profiler::instance().enabled()) {
  if (on_) start_ = Profiler::instance().now_us();
}

OpTimer::~OpTimer() {
  if (!on_) return;
  Profiler& p = Profiler::instance();
  ProfileEvent e;
  e.op = op_;
  e.layer = t_layer.empty() ? "-" : t_layer;
  e.phase = t_phase;
  e.kernel = kernel_;
  e.start_us = start_;
  e.dur_us = p.now_us() - start_;
  e.flops = flops_;
  e.bytes = bytes_;
  e.int8 = int8_;
  e.outside = t_child_us.empty();
  p.record(std::move(e));
}

namespace {

// Fills the rate, unit, percentage and intensity of a row from its sums.
void rate_row(ProfileRow& r, const ProfilePeaks& peaks) {
  const double secs = r.ms * 1e-3;
  if (r.flops > 0 && r.bytes > 0) r.intensity = r.flops / r.bytes;
  if (secs <= 0) return;
  if (r.flops > 0) {
    r.rate = r.flops / secs * 1e-9;
    r.unit = r.int8 ? "GOP/s" : "GFLOP/s";
    const double peak = r.int8 ? peaks.int8_gops : peaks.fp32_gflops;
    if (peak > 0) r.pct_peak = 100.0 * r.rate / peak;
  } else if (r.bytes > 0) {
    r.rate = r.bytes / secs * 1e-9;
    r.unit = "GB/s";
    if (peaks.bandwidth_gbs > 0) r.pct_peak = 100.0 * r.rate / peaks.bandwidth_gbs;
  }
}

}  // namespace

std::vector<ProfileRow> Profiler::rows(const ProfilePeaks& peaks,
                                       const std::map<std::string, std::string>& shapes,
                                       int step) const {
  std::vector<ProfileRow> out;
  std::map<std::pair<std::string, std::string>, size_t> index;
  std::map<size_t, std::set<std::string>> kernels;
  auto row_of = [&](const ProfileEvent& e) -> ProfileRow& {
    auto key = std::make_pair(e.layer, std::string(e.phase));
    auto it = index.find(key);
    if (it == index.end()) {
      it = index.emplace(key, out.size()).first;
      ProfileRow r;
      r.layer = e.layer;
      r.phase = e.phase;
      auto s = shapes.find(e.layer);
      if (s != shapes.end()) r.shape = s->second;
      out.push_back(r);
    }
    return out[it->second];
  };
  for (const ProfileEvent& e : events_) {
    if (step >= 0 && e.step != step) continue;
    if (e.kind == ProfileEvent::Kind::Span) {
      ProfileRow& r = row_of(e);
      ++r.calls;
      r.ms += e.self_us * 1e-3;
    } else if (e.kind == ProfileEvent::Kind::Op) {
      ProfileRow& r = row_of(e);
      if (e.outside) {
        ++r.calls;
        r.ms += e.dur_us * 1e-3;
      }
      r.op_ms += e.dur_us * 1e-3;
      r.flops += e.flops;
      r.bytes += e.bytes;
      r.int8 = r.int8 || e.int8;
      if (e.kernel && *e.kernel) kernels[index[{e.layer, e.phase}]].insert(e.kernel);
    }
  }
  for (size_t i = 0; i < out.size(); ++i) {
    for (const std::string& k : kernels[i]) out[i].kernel += (out[i].kernel.empty() ? "" : "/") + k;
    rate_row(out[i], peaks);
  }
  return out;
}

double Profiler::step_ms(int step) const {
  double ms = 0;
  for (const ProfileEvent& e : events_)
    if (e.kind == ProfileEvent::Kind::Step && (step < 0 || e.step == step)) ms += e.dur_us * 1e-3;
  return ms;
}

int Profiler::steps() const {
  int n = 0;
  for (const ProfileEvent& e : events_) n += e.kind == ProfileEvent::Kind::Step;
  return n;
}

}  // namespace ecg
