// The profiler's outputs (core/profiler.h): the text report, per-layer rows
// as JSON or CSV, the Chrome trace and the roofline SVG.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/profiler.h"
#include "kernels/error.h"

namespace ecg {

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string peak_text(const ProfileRow& r) {
  return r.pct_peak >= 0 ? fmt("%.0f%%", r.pct_peak) : "-";
}

std::string rate_text(const ProfileRow& r) {
  return r.unit.empty() ? "-" : fmt("%.1f ", r.rate) + r.unit;
}

void layer_table(std::ostringstream& os, const std::vector<ProfileRow>& rows, double total_ms,
                 int steps) {
  size_t w = 5;
  for (const ProfileRow& r : rows) w = std::max(w, r.layer.size());
  const int lw = static_cast<int>(w);
  char line[1024];
  std::snprintf(line, sizeof line, "%-*s %-8s %6s %9s %6s %9s %15s %7s  %-18s %s\n", lw, "layer",
                "phase", "calls", "ms/step", "share", "kernel ms", "rate", "of peak", "kernel",
                "shape");
  os << line;
  const double per = 1.0 / std::max(1, steps);
  for (const ProfileRow& r : rows) {
    std::snprintf(line, sizeof line, "%-*s %-8s %6d %9.3f %5.1f%% %9.3f %15s %7s  %-18s %s\n", lw,
                  r.layer.c_str(), r.phase.c_str(), r.calls, r.ms * per,
                  total_ms > 0 ? 100 * r.ms / total_ms : 0.0, r.op_ms * per, rate_text(r).c_str(),
                  peak_text(r).c_str(), r.kernel.empty() ? "-" : r.kernel.c_str(), r.shape.c_str());
    os << line;
  }
}

void op_table(std::ostringstream& os, const std::vector<ProfileEvent>& events, double op_ms) {
  struct Agg {
    int calls = 0;
    double us = 0;
    std::set<std::string> kernels;
  };
  std::map<std::string, Agg> by_op;
  for (const ProfileEvent& e : events) {
    if (e.kind != ProfileEvent::Kind::Op) continue;
    Agg& a = by_op[e.op];
    ++a.calls;
    a.us += e.dur_us;
    a.kernels.insert(e.kernel);
  }
  std::vector<std::pair<std::string, Agg>> v(by_op.begin(), by_op.end());
  std::sort(v.begin(), v.end(),
            [](const auto& a, const auto& b) { return a.second.us > b.second.us; });
  char line[512];
  std::snprintf(line, sizeof line, "%-32s %7s %10s %6s  %s\n", "op", "calls", "total ms", "share",
                "kernel");
  os << line;
  for (const auto& [name, a] : v) {
    std::string ks;
    for (const std::string& k : a.kernels) ks += (ks.empty() ? "" : "/") + k;
    std::snprintf(line, sizeof line, "%-32s %7d %10.3f %5.1f%%  %s\n", name.c_str(), a.calls,
                  a.us / 1000, op_ms > 0 ? 100 * a.us / 1000 / op_ms : 0.0, ks.c_str());
    os << line;
  }
}

}  // namespace

std::string Profiler::report(const ProfilePeaks& peaks,
                             const std::map<std::string, std::string>& shapes) const {
  const std::vector<ProfileRow> rs = rows(peaks, shapes);
  double row_ms = 0, op_ms = 0;
  for (const ProfileRow& r : rs) row_ms += r.ms, op_ms += r.op_ms;
  const int n = steps();
  const double wall = step_ms();
  std::ostringstream os;
  os << "profile: " << n << " step(s) traced";
  if (wall > 0)
    os << ", " << fmt("%.2f", wall / std::max(1, n)) << " ms per step; layer rows sum to "
       << fmt("%.1f", 100 * row_ms / wall) << "% of it, kernels to "
       << fmt("%.1f", 100 * op_ms / wall) << "%";
  os << "\npeaks measured at start-up: fp32 "
     << (peaks.fp32_gflops > 0
             ? fmt("%.1f GFLOP/s", peaks.fp32_gflops) + " (" + peaks.fp32_what + ")"
             : std::string("unknown"))
     << ", int8 "
     << (peaks.int8_gops > 0 ? fmt("%.1f GOP/s", peaks.int8_gops) + " (" + peaks.int8_what + ")"
                             : std::string("unknown"))
     << ", bandwidth "
     << (peaks.bandwidth_gbs > 0 ? fmt("%.1f GB/s", peaks.bandwidth_gbs) : std::string("unknown"))
     << "\nrows: self time of each layer's spans (nested layers excluded), per step; rates on "
        "that time\n\n";
  layer_table(os, rs, row_ms, n);
  os << "\n";
  op_table(os, events_, op_ms);
  return os.str();
}

void write_profile_rows(const std::string& path, const std::vector<ProfileRow>& rows,
                        const ProfilePeaks& peaks) {
  const bool json = path.size() > 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  const bool csv = path.size() > 4 && path.compare(path.size() - 4, 4, ".csv") == 0;
  ECG_CHECK(json || csv, "--profile-out ", path, ": expected a .json or .csv file");
  std::ofstream f(path);
  ECG_CHECK(f, "cannot write profile file '", path, "'");
  if (json) {
    nlohmann::json j;
    j["peaks"] = {{"fp32_gflops", peaks.fp32_gflops},
                  {"fp32_instructions", peaks.fp32_what},
                  {"int8_gops", peaks.int8_gops},
                  {"int8_instructions", peaks.int8_what},
                  {"bandwidth_gbs", peaks.bandwidth_gbs}};
    j["rows"] = nlohmann::json::array();
    for (const ProfileRow& r : rows)
      j["rows"].push_back({{"layer", r.layer},
                           {"phase", r.phase},
                           {"calls", r.calls},
                           {"ms", r.ms},
                           {"kernel_ms", r.op_ms},
                           {"flops", r.flops},
                           {"bytes", r.bytes},
                           {"int8", r.int8},
                           {"rate", r.rate},
                           {"unit", r.unit},
                           {"pct_peak", r.pct_peak},
                           {"intensity", r.intensity},
                           {"kernel", r.kernel},
                           {"shape", r.shape}});
    f << j.dump(1) << "\n";
  } else {
    f << "layer,phase,calls,ms,kernel_ms,flops,bytes,int8,rate,unit,pct_peak,intensity,kernel,"
         "shape\n";
    for (const ProfileRow& r : rows)
      f << r.layer << ',' << r.phase << ',' << r.calls << ',' << r.ms << ',' << r.op_ms << ','
        << r.flops << ',' << r.bytes << ',' << (r.int8 ? 1 : 0) << ',' << r.rate << ',' << r.unit
        << ',' << r.pct_peak << ',' << r.intensity << ',' << r.kernel << ",\"" << r.shape << "\"\n";
  }
  ECG_CHECK(f.good(), "cannot write profile file '", path, "'");
}

void Profiler::write_chrome_trace(const std::string& path, int step) const {
  nlohmann::json ev = nlohmann::json::array();
  std::set<int> tids;
  for (const ProfileEvent& e : events_) {
    if (step >= 0 && e.step != step) continue;
    tids.insert(e.tid);
    switch (e.kind) {
      case ProfileEvent::Kind::Span:
        ev.push_back({{"name", e.layer},
                      {"cat", std::string("layer,") + e.phase},
                      {"ph", "X"},
                      {"ts", e.start_us},
                      {"dur", e.dur_us},
                      {"pid", 1},
                      {"tid", e.tid},
                      {"args", {{"phase", e.phase}, {"self_us", e.self_us}}}});
        break;
      case ProfileEvent::Kind::Op:
      case ProfileEvent::Kind::ThreadSlice:
        ev.push_back({{"name", e.op},
                      {"cat", e.kernel},
                      {"ph", "X"},
                      {"ts", e.start_us},
                      {"dur", e.dur_us},
                      {"pid", 1},
                      {"tid", e.tid},
                      {"args",
                       {{"layer", e.layer},
                        {"phase", e.phase},
                        {"flops", e.flops},
                        {"bytes", e.bytes},
                        {"kernel", e.kernel}}}});
        break;
      case ProfileEvent::Kind::Memory:
        ev.push_back({{"name", "memory"},
                      {"ph", "C"},
                      {"ts", e.start_us},
                      {"pid", 1},
                      {"args", {{"allocator_in_use_mb", e.value}}}});
        break;
      case ProfileEvent::Kind::Step:
        ev.push_back({{"name", "step " + std::to_string(e.step)},
                      {"cat", "step"},
                      {"ph", "X"},
                      {"ts", e.start_us},
                      {"dur", e.dur_us},
                      {"pid", 1},
                      {"tid", 1000}});
        tids.insert(1000);
        break;
    }
  }
  for (int t : tids)
    ev.push_back({{"name", "thread_name"},
                  {"ph", "M"},
                  {"pid", 1},
                  {"tid", t},
                  {"args",
                   {{"name", t == 1000 ? std::string("steps")
                             : t == 0  ? std::string("main thread")
                                       : "worker thread " + std::to_string(t)}}}});
  std::ofstream f(path);
  ECG_CHECK(f, "cannot write trace file '", path, "'");
  f << nlohmann::json{{"traceEvents", ev}, {"displayTimeUnit", "ms"}}.dump() << "\n";
  ECG_CHECK(f.good(), "cannot write trace file '", path, "'");
}

namespace {

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<')
      o += "&lt;";
    else if (c == '>')
      o += "&gt;";
    else if (c == '&')
      o += "&amp;";
    else if (c == '"')
      o += "&quot;";
    else
      o += c;
  }
  return o;
}

}  // namespace

std::string roofline_svg(const std::vector<ProfileRow>& rows, const ProfilePeaks& peaks,
                         const std::string& title) {
  // Log-log axes: intensity 2^-4 .. 2^10 FLOP/byte, rate 2^-2 .. 2^(ceil log2 peak + 1) G/s.
  const double top_peak = std::max({peaks.fp32_gflops, peaks.int8_gops, 1.0});
  const double x0 = -4, x1 = 10, y0 = -2, y1 = std::ceil(std::log2(top_peak)) + 1;
  const double W = 900, H = 600, L = 80, R = 260, T = 50, B = 60;
  auto px = [&](double v) { return L + (std::log2(v) - x0) / (x1 - x0) * (W - L - R); };
  auto py = [&](double v) { return H - B - (std::log2(v) - y0) / (y1 - y0) * (H - T - B); };
  std::ostringstream s;
  s << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << W << "\" height=\"" << H
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "<text x=\"" << L << "\" y=\"25\" font-size=\"16\">" << xml_escape(title) << "</text>\n";
  // Grid and axis labels at powers of two.
  for (int e = static_cast<int>(x0); e <= static_cast<int>(x1); e += 2)
    s << "<line x1=\"" << px(std::ldexp(1, e)) << "\" y1=\"" << T << "\" x2=\""
      << px(std::ldexp(1, e)) << "\" y2=\"" << H - B << "\" stroke=\"#ddd\"/>\n<text x=\""
      << px(std::ldexp(1, e)) - 10 << "\" y=\"" << H - B + 18 << "\">"
      << fmt("%g", std::ldexp(1, e)) << "</text>\n";
  for (int e = static_cast<int>(y0); e <= static_cast<int>(y1); e += 2)
    s << "<line x1=\"" << L << "\" y1=\"" << py(std::ldexp(1, e)) << "\" x2=\"" << W - R
      << "\" y2=\"" << py(std::ldexp(1, e)) << "\" stroke=\"#ddd\"/>\n<text x=\"" << L - 45
      << "\" y=\"" << py(std::ldexp(1, e)) + 4 << "\">" << fmt("%g", std::ldexp(1, e))
      << "</text>\n";
  s << "<text x=\"" << (L + W - R) / 2 - 120 << "\" y=\"" << H - 15
    << "\">arithmetic intensity (FLOP or int8 op per byte)</text>\n"
    << "<text x=\"15\" y=\"" << (T + H - B) / 2 + 60 << "\" transform=\"rotate(-90 15,"
    << (T + H - B) / 2 + 60 << ")\">GFLOP/s or GOP/s</text>\n";
  // Roofs: min(peak, bandwidth * intensity), one per measured compute peak.
  auto roof = [&](double peak, const char* color, const std::string& label) {
    if (peak <= 0 || peaks.bandwidth_gbs <= 0) return;
    const double knee = peak / peaks.bandwidth_gbs;
    const double xa = std::ldexp(1, static_cast<int>(x0)), xb = std::ldexp(1, static_cast<int>(x1));
    s << "<polyline fill=\"none\" stroke=\"" << color << "\" stroke-width=\"2\" points=\"" << px(xa)
      << "," << py(std::max(peaks.bandwidth_gbs * xa, std::ldexp(1, static_cast<int>(y0)))) << " "
      << px(knee) << "," << py(peak) << " " << px(xb) << "," << py(peak) << "\"/>\n"
      << "<text x=\"" << W - R - 5 << "\" y=\"" << py(peak) - 6 << "\" text-anchor=\"end\" fill=\""
      << color << "\">" << xml_escape(label) << "</text>\n";
  };
  // Each roof only where a row runs against it (a float model has no int8 roof).
  bool any_int8 = false, any_float = false;
  for (const ProfileRow& r : rows) {
    if (r.flops <= 0) continue;
    any_int8 = any_int8 || r.int8;
    any_float = any_float || !r.int8;
  }
  if (any_float || !any_int8)
    roof(peaks.fp32_gflops, "#1f5fbf",
         fmt("fp32 %.0f GFLOP/s", peaks.fp32_gflops) + " (" + peaks.fp32_what + ")");
  if (any_int8)
    roof(peaks.int8_gops, "#bf5f1f",
         fmt("int8 %.0f GOP/s", peaks.int8_gops) + " (" + peaks.int8_what + ")");
  if (peaks.bandwidth_gbs > 0)
    s << "<text x=\"" << L + 10 << "\" y=\"" << H - B - 10 << "\">bandwidth "
      << fmt("%.1f GB/s", peaks.bandwidth_gbs) << "</text>\n";
  // Points: one per row with both FLOPs and bytes; legend on the right.
  int k = 0;
  for (const ProfileRow& r : rows) {
    if (r.intensity <= 0 || r.rate <= 0 || r.unit == "GB/s") continue;
    const double x = std::min(std::max(r.intensity, std::ldexp(1, static_cast<int>(x0))),
                              std::ldexp(1, static_cast<int>(x1)));
    const double y = std::max(r.rate, std::ldexp(1, static_cast<int>(y0)));
    const char* color = r.phase == "backward" ? "#c03030" : r.int8 ? "#bf5f1f" : "#1f5fbf";
    ++k;
    s << "<circle cx=\"" << px(x) << "\" cy=\"" << py(y) << "\" r=\"5\" fill=\"" << color
      << "\" fill-opacity=\"0.7\"><title>" << xml_escape(r.layer + " " + r.phase) << ": "
      << fmt("%.1f ", r.rate) << r.unit << ", " << fmt("%.1f", r.intensity)
      << " per byte</title></circle>\n<text x=\"" << px(x) + 7 << "\" y=\"" << py(y) + 4
      << "\" font-size=\"9\">" << k << "</text>\n";
    if (T + 14 * k < H - 10)
      s << "<text x=\"" << W - R + 10 << "\" y=\"" << T + 14 * k << "\" font-size=\"10\" fill=\""
        << color << "\">" << k << " " << xml_escape(r.layer) << " (" << r.phase[0] << ") "
        << fmt("%.0f", r.pct_peak) << "%</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

}  // namespace ecg
