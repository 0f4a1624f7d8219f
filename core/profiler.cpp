#include "core/profiler.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "kernels/error.h"

namespace ecg {

namespace {
thread_local std::string t_layer;
}

Profiler& Profiler::instance() {
  static Profiler p;
  return p;
}

double Profiler::now_us() const {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0_).count();
}

void Profiler::record(ProfileEvent e) {
  e.step = step_;
  events_.push_back(std::move(e));
}

const std::string& current_layer() {
  return t_layer;
}
LayerScope::LayerScope(const std::string& name) : prev_(t_layer) {
  t_layer = prev_.empty() ? name : prev_ + "." + name;
}
LayerScope::~LayerScope() {
  t_layer = prev_;
}

OpTimer::OpTimer(const char* op, double flops, double bytes, Isa isa)
    : op_(op), flops_(flops), bytes_(bytes), isa_(isa), on_(Profiler::instance().enabled()) {
  if (on_) start_ = Profiler::instance().now_us();
}

OpTimer::~OpTimer() {
  if (!on_) return;
  Profiler& p = Profiler::instance();
  ProfileEvent e;
  e.op = op_;
  e.layer = t_layer.empty() ? "-" : t_layer;
  e.isa = isa_name(isa_);
  e.start_us = start_;
  e.dur_us = p.now_us() - start_;
  e.flops = flops_;
  e.bytes = bytes_;
  p.record(std::move(e));
}

namespace {
struct Agg {
  int calls = 0;
  double us = 0, flops = 0, bytes = 0;
  std::string isa;
};

// A rate in G units per second ("12.3 GF/s") and, where the peak is known,
// its share of the peak ("37%").
void format_rate(double giga_per_s, const char* unit, double peak, std::string* rate,
                 std::string* frac) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f %s", giga_per_s, unit);
  *rate = buf;
  if (peak > 0) {
    std::snprintf(buf, sizeof buf, "%.0f%%", 100 * giga_per_s / peak);
    *frac = buf;
  }
}

void table(std::ostringstream& os, const char* title, const std::map<std::string, Agg>& rows,
           double total_us, double peak_gflops, double peak_gbs) {
  std::vector<std::pair<std::string, Agg>> v(rows.begin(), rows.end());
  std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.second.us > b.second.us; });
  char line[512];
  std::snprintf(line, sizeof line, "%-44s %7s %10s %6s %10s %8s %7s\n", title, "calls", "total ms",
                "share", "rate", "of peak", "isa");
  os << line;
  for (auto& [name, a] : v) {
    double secs = a.us * 1e-6;
    std::string rate = "-", frac = "-";
    if (a.flops > 0 && secs > 0)
      format_rate(a.flops / secs * 1e-9, "GF/s", peak_gflops, &rate, &frac);
    else if (a.bytes > 0 && secs > 0)
      format_rate(a.bytes / secs * 1e-9, "GB/s", peak_gbs, &rate, &frac);
    std::string shown = name.size() > 44 ? "..." + name.substr(name.size() - 41) : name;
    std::snprintf(line, sizeof line, "%-44s %7d %10.2f %5.1f%% %10s %8s %7s\n", shown.c_str(),
                  a.calls, a.us / 1000, total_us > 0 ? 100 * a.us / total_us : 0, rate.c_str(),
                  frac.c_str(), a.isa.c_str());
    os << line;
  }
}
}  // namespace

std::string Profiler::report(double peak_gflops, double peak_gbs) const {
  std::map<std::string, Agg> by_op, by_layer;
  double total = 0;
  for (const auto& e : events_) {
    for (auto* m : {&by_op, &by_layer}) {
      Agg& a = (*m)[m == &by_op ? e.op : e.layer + " " + e.op];
      ++a.calls;
      a.us += e.dur_us;
      a.flops += e.flops;
      a.bytes += e.bytes;
      a.isa = e.isa;
    }
    total += e.dur_us;
  }
  std::ostringstream os;
  os << "profile: " << events_.size() << " op calls, " << total / 1000 << " ms in ops\n\n";
  table(os, "op", by_op, total, peak_gflops, peak_gbs);
  os << "\n";
  table(os, "layer / op", by_layer, total, peak_gflops, peak_gbs);
  return os.str();
}

void Profiler::write_chrome_trace(const std::string& path, int step) const {
  std::ofstream f(path);
  ECG_CHECK(f, "cannot write trace file '", path, "'");
  f << "{\"traceEvents\":[\n";
  bool first = true;
  for (const auto& e : events_) {
    if (step >= 0 && e.step != step) continue;
    if (!first) f << ",\n";
    first = false;
    f << "{\"name\":\"" << e.op << "\",\"cat\":\"" << e.isa
      << "\",\"ph\":\"X\",\"ts\":" << e.start_us << ",\"dur\":" << e.dur_us
      << ",\"pid\":1,\"tid\":1,\"args\":{\"layer\":\"" << e.layer << "\",\"flops\":" << e.flops
      << ",\"bytes\":" << e.bytes << "}}";
  }
  f << "\n],\"displayTimeUnit\":\"ms\"}\n";
}

}  // namespace ecg
