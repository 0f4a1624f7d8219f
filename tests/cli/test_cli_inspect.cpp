// Looking inside a model from the command line (issue 20): `summary --tape`
// prints the autograd tape with the layer names `summary` prints, and
// `predict --dump LAYER` writes that layer's activations to .npy.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_run.h"
#include "data/npy.h"

namespace {

using ecg::cli_test::CliRun;
using ecg::cli_test::run;

// The layer names of `summary`'s table (first column, rows after the header).
std::vector<std::string> summary_layers(const std::string& out) {
  std::vector<std::string> names;
  std::istringstream in(out);
  std::string line;
  bool table = false;
  while (std::getline(in, line)) {
    if (line.rfind("trainable parameters", 0) == 0) break;
    if (table) names.push_back(line.substr(0, line.find(' ')));
    if (line.rfind("layer ", 0) == 0) table = true;
  }
  return names;
}

TEST(CliInspect, TapeNamesEveryLayerWithParametersAsSummaryDoes) {
  const std::string model = "summary --model resnet11 --image-size 32";
  const CliRun table = run(model);
  const CliRun tape = run(model + " --tape");
  ASSERT_EQ(table.code, 0) << table.err;
  ASSERT_EQ(tape.code, 0) << tape.err;
  const std::vector<std::string> layers = summary_layers(table.out);
  ASSERT_GE(layers.size(), 10u);
  for (const std::string& layer : layers) {
    // No parameters to name: the pool, the flatten and the residual Add+ReLU
    // rows (stageX.blockY.add_relu, the profiler's name for the add).
    const bool add_relu = layer.size() > 9 && layer.compare(layer.size() - 9, 9, ".add_relu") == 0;
    if (layer == "head_pool" || layer == "flatten" || add_relu) continue;
    // Each layer with weights appears as the op that made its output and as
    // the owner of its weight.
    EXPECT_NE(tape.out.find(" " + layer + " "), std::string::npos) << layer;
    EXPECT_NE(tape.out.find(layer + ".weight"), std::string::npos) << layer;
  }
  // Backward starts at the loss and ends at the first convolution.
  const size_t loss = tape.out.find("SoftmaxCrossEntropyBackward");
  const size_t stem = tape.out.find("stem_conv.weight");
  ASSERT_NE(loss, std::string::npos);
  ASSERT_NE(stem, std::string::npos);
  EXPECT_LT(loss, stem);
}

TEST(CliInspect, PredictDumpsTheNamedLayer) {
  namespace fs = std::filesystem;
  const std::string d = ecg::cli_test::fresh_dir("ecg_cli_dump_");
  ASSERT_EQ(ecg::cli_test::synth(d + "/data", 3).code, 0);
  CliRun r = run("train --data " + d + "/data --model resnet11 --image-size 32 --epochs 1 " +
                 "--batch 2 --out " + d + "/run");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string ck = d + "/run/best.safetensors";
  const std::string image = ecg::cli_test::last_jpeg_under(d + "/data");
  const std::string stem = fs::path(image).stem().string();

  r = run("predict --json --checkpoint " + ck + " " + image + " --dump fc --dump-dir " + d +
          "/dump");
  ASSERT_EQ(r.code, 0) << r.err;
  // The last layer's output is the logits: the dump holds what --json prints.
  const ecg::Tensor fc = ecg::data::read_npy(d + "/dump/" + stem + ".fc.npy");
  const auto logits = nlohmann::json::parse(r.out).at(0).at("logits");
  ASSERT_EQ(fc.numel(), static_cast<int64_t>(logits.size()));
  for (size_t c = 0; c < logits.size(); ++c)
    EXPECT_NEAR(fc.data<float>()[c], logits[c].get<double>(), 1e-5) << c;

  r = run("predict --checkpoint " + ck + " " + image + " --dump stage0.block0.conv1 --dump-dir " +
          d + "/dump");
  ASSERT_EQ(r.code, 0) << r.err;
  const ecg::Tensor conv = ecg::data::read_npy(d + "/dump/" + stem + ".stage0.block0.conv1.npy");
  EXPECT_EQ(conv.shape(), (ecg::Shape{1, 16, 32, 32}));

  ecg::cli_test::expect_one_line_error(
      run("predict --checkpoint " + ck + " " + image + " --dump no_such_layer"), 1,
      "no_such_layer");
  fs::remove_all(d);
}

}  // namespace
