// The profiler (core/profiler.h) on a real training step: every op, forward
// and backward, lands in a row named as `summary` names the layer, the loss
// and the optimizer have rows of their own, and the rows add up to the
// step's wall time measured here.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/profiler.h"
#include "models/models.h"
#include "optim/optimizer.h"

namespace ecg {
namespace {

struct ProfiledStep {
  double wall_ms = 0;
  std::vector<ProfileRow> rows;
  std::set<std::string> summary_names;
};

// One ResNet-11 training step (after one unprofiled warm-up step), timed
// from outside the profiler.
ProfiledStep profile_resnet11_step(int image_size, int batch, const std::string& trace = "") {
  ModelConfig cfg;
  cfg.name = "resnet11";
  cfg.image_size = image_size;
  auto model = build_model(cfg);
  model->train();
  auto opt = make_optimizer("adam", model->parameters(), 1e-4);
  Tensor x = Tensor::uniform({batch, 3, image_size, image_size}, 5, 0.0, 1.0);
  std::vector<int> labels(batch);
  for (int i = 0; i < batch; ++i) labels[i] = i % cfg.classes;
  const Tensor target = one_hot(labels, cfg.classes);
  auto step = [&] {
    Tensor logits = (*model)(x), loss;
    {
      LayerScope scope("loss", LayerScope::Absolute);
      loss = softmax_cross_entropy(logits, target);
      Tensor reg = model->regularization_loss();
      if (reg.defined()) loss = add(loss, reg);
    }
    loss.backward();
    opt->step();
    PhaseScope phase("update");
    LayerScope scope("optimizer", LayerScope::Absolute);
    model->zero_grad();
  };
  step();
  Profiler& prof = Profiler::instance();
  prof.clear();
  prof.enable(true);
  const auto t0 = std::chrono::steady_clock::now();
  step();
  const auto t1 = std::chrono::steady_clock::now();
  prof.enable(false);
  ProfiledStep out;
  out.wall_ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
  ProfilePeaks peaks;
  peaks.fp32_gflops = 100;
  peaks.bandwidth_gbs = 10;
  out.rows = prof.rows(peaks);
  std::vector<LayerInfo> info;
  model->infer({batch, 3, image_size, image_size}, &info, "");
  for (const LayerInfo& l : info) out.summary_names.insert(l.name);
  if (!trace.empty()) prof.write_chrome_trace(trace);
  prof.clear();
  return out;
}

TEST(Profiler, ResNet11StepRowsSumToTheWallTime) {
  const ProfiledStep p = profile_resnet11_step(32, 4);
  double sum = 0;
  for (const ProfileRow& r : p.rows) sum += r.ms;
  std::printf("step %.2f ms, rows %.2f ms\n", p.wall_ms, sum);
  EXPECT_NEAR(sum, p.wall_ms, 0.05 * p.wall_ms);
}

TEST(Profiler, EveryConvolutionForwardAndBackwardIsUnderItsSummaryName) {
  const ProfiledStep p = profile_resnet11_step(32, 2);
  const std::set<std::string> own = {"-", "loss", "optimizer", "(autograd)"};
  std::map<std::string, std::set<std::string>> phases;  // layer -> phases seen
  for (const ProfileRow& r : p.rows) {
    phases[r.layer].insert(r.phase);
    if (own.count(r.layer)) continue;
    // A summary layer, or a container of summary layers (its own overhead).
    bool known = p.summary_names.count(r.layer) > 0;
    for (const std::string& n : p.summary_names) known = known || n.rfind(r.layer + ".", 0) == 0;
    EXPECT_TRUE(known) << r.layer << " is not a name summary prints";
    if (r.phase == "backward") {
      EXPECT_NE(r.layer, "-");
    }
  }
  for (const std::string& n : p.summary_names) {
    if (n.find("conv") == std::string::npos && n.find("shortcut") == std::string::npos) continue;
    EXPECT_EQ(phases[n].count("forward"), 1u) << n;
    EXPECT_EQ(phases[n].count("backward"), 1u) << n;
  }
  EXPECT_EQ(phases["loss"], (std::set<std::string>{"forward", "backward"}));
  EXPECT_EQ(phases["optimizer"], (std::set<std::string>{"update"}));
  // The conv rows carry their FLOPs, a rate, a percentage of the given peak
  // and the kernel that ran; the optimizer its bytes.
  for (const ProfileRow& r : p.rows) {
    if (r.layer == "stage1.block0.conv2") {
      EXPECT_GT(r.flops, 0);
      EXPECT_EQ(r.unit, "GFLOP/s");
      EXPECT_GE(r.pct_peak, 0);
      EXPECT_FALSE(r.kernel.empty());
      EXPECT_GT(r.intensity, 0);
    }
    if (r.layer == "optimizer") {
      EXPECT_GT(r.bytes, 0);
      EXPECT_EQ(r.unit, "GB/s");
    }
  }
}

TEST(Profiler, RowsFilesAndTraceAreWellFormed) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / "ecg_profiler_test";
  fs::create_directories(dir);
  const ProfiledStep p = profile_resnet11_step(32, 1, (dir / "trace.json").string());
  ProfilePeaks peaks;
  peaks.fp32_gflops = 100;
  write_profile_rows((dir / "rows.json").string(), p.rows, peaks);
  write_profile_rows((dir / "rows.csv").string(), p.rows, peaks);
  EXPECT_THROW(write_profile_rows((dir / "rows.txt").string(), p.rows, peaks), std::exception);
  std::ifstream jf(dir / "rows.json");
  const nlohmann::json j = nlohmann::json::parse(jf);
  EXPECT_EQ(j.at("rows").size(), p.rows.size());
  EXPECT_EQ(j.at("rows")[0].at("layer").get<std::string>(), p.rows[0].layer);
  std::ifstream cf(dir / "rows.csv");
  std::string line;
  size_t lines = 0;
  while (std::getline(cf, line)) ++lines;
  EXPECT_EQ(lines, p.rows.size() + 1);
  const std::string svg = roofline_svg(p.rows, peaks, "test");
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  // The trace: every op slice lies inside a layer span of its thread, and
  // there is a memory counter.
  std::ifstream tf(dir / "trace.json");
  const nlohmann::json t = nlohmann::json::parse(tf);
  std::vector<std::pair<double, double>> spans;
  int ops = 0, counters = 0;
  for (const auto& e : t.at("traceEvents"))
    if (e.at("ph") == "X" && e.contains("cat") &&
        e.at("cat").get<std::string>().rfind("layer", 0) == 0)
      spans.emplace_back(e.at("ts").get<double>(),
                         e.at("ts").get<double>() + e.at("dur").get<double>());
  for (const auto& e : t.at("traceEvents")) {
    if (e.at("ph") == "C") ++counters;
    if (e.at("ph") != "X" || !e.at("args").contains("flops")) continue;
    ++ops;
    const double a = e.at("ts").get<double>(), b = a + e.at("dur").get<double>();
    bool inside = false;
    for (const auto& s : spans) inside = inside || (s.first <= a && b <= s.second + 1e-3);
    EXPECT_TRUE(inside) << e.at("name") << " at " << a;
  }
  EXPECT_GT(ops, 20);
  EXPECT_GT(counters, 0);
  fs::remove_all(dir);
}

// Spans nest: a layer's self time excludes its children, and an op outside
// any span has the row "-".
TEST(Profiler, SelfTimeExcludesNestedSpans) {
  Profiler& prof = Profiler::instance();
  prof.clear();
  prof.enable(true);
  auto spin = [] {
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(3)) {
    }
  };
  const auto t0 = std::chrono::steady_clock::now();
  {
    LayerScope outer("outer");
    spin();
    {
      LayerScope inner("inner");
      EXPECT_EQ(current_layer(), "outer.inner");
      spin();
    }
  }
  const double wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  { OpTimer t("lonely_op", 0, 100, Isa::Ref); }
  prof.enable(false);
  const std::vector<ProfileRow> rows = prof.rows({});
  prof.clear();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].layer, "outer.inner");
  EXPECT_EQ(rows[1].layer, "outer");
  EXPECT_EQ(rows[2].layer, "-");
  EXPECT_GE(rows[0].ms, 2.9);
  EXPECT_GE(rows[1].ms, 2.9);
  // Counting the inner span inside the outer one too would give wall + 3 ms.
  EXPECT_LE(rows[0].ms + rows[1].ms, wall_ms + 0.5);
  EXPECT_GE(rows[0].ms + rows[1].ms, wall_ms - 0.5);
  EXPECT_EQ(rows[2].calls, 1);
}

}  // namespace
}  // namespace ecg
