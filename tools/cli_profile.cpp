// The profiler's command-line side (tools/cli_profile.h).
#include "cli_profile.h"

#include <cstdio>
#include <fstream>

#include "kernels/error.h"
#include "kernels/peak_probe.h"
#include "kernels/runtime.h"

namespace ecg::cli {

ProfilePeaks measure_profile_peaks() {
  ProfilePeaks p;
  const int t = num_threads();
  const Isa level = active_isa();
  p.fp32_gflops = measure_fp32_fma_peak(t, level);
  p.fp32_what = fp32_peak_instructions(level);
  p.int8_gops = measure_int8_peak(level, t);
  p.int8_what = int8_peak_instructions(level);
  p.bandwidth_gbs = measure_bandwidth(t);
  return p;
}

std::map<std::string, std::string> layer_shapes(Module& model, int batch, int image_size) {
  std::vector<LayerInfo> rows;
  try {
    model.infer({batch, 3, image_size, image_size}, &rows, "");
  } catch (const std::exception&) {
    return {};  // a model without shape inference (an imported graph): no shape column
  }
  std::map<std::string, std::string> out;
  for (const LayerInfo& r : rows) out[r.name] = shape_str(r.output);
  return out;
}

namespace {
bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
}  // namespace

void check_profile_outputs(const ProfileOutputs& out) {
  ECG_CHECK(out.rows.empty() || ends_with(out.rows, ".json") || ends_with(out.rows, ".csv"),
            "--profile-out ", out.rows, ": expected a .json or .csv file");
  ECG_CHECK(out.roofline.empty() || ends_with(out.roofline, ".svg"), "--roofline ", out.roofline,
            ": expected a .svg file");
}

void write_profile_outputs(const ProfilePeaks& peaks,
                           const std::map<std::string, std::string>& shapes,
                           const ProfileOutputs& out, int step, const std::string& title) {
  Profiler& prof = Profiler::instance();
  std::fprintf(stderr, "%s", prof.report(peaks, shapes).c_str());
  const std::vector<ProfileRow> rows = prof.rows(peaks, shapes, step);
  if (!out.rows.empty()) {
    write_profile_rows(out.rows, rows, peaks);
    std::fprintf(stderr, "per-layer rows written to %s\n", out.rows.c_str());
  }
  if (!out.trace.empty()) {
    prof.write_chrome_trace(out.trace, step);
    std::fprintf(stderr, "Chrome trace of step %d written to %s (open in Perfetto)\n", step,
                 out.trace.c_str());
  }
  if (!out.roofline.empty()) {
    std::ofstream f(out.roofline);
    ECG_CHECK(f, "cannot write roofline file '", out.roofline, "'");
    f << roofline_svg(rows, peaks, title);
    ECG_CHECK(f.good(), "cannot write roofline file '", out.roofline, "'");
    std::fprintf(stderr, "roofline written to %s\n", out.roofline.c_str());
  }
}

}  // namespace ecg::cli
