// `ecgcnn bench --profile` and `train --profile` as a performance engineer
// runs them: the same rows in the table and in --profile-out, int8 rows with
// the int8 kernel and GOP/s, a roofline, and a trace of exactly the step the
// command names.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "cli_run.h"

namespace {

using ecg::cli_test::CliRun;
using ecg::cli_test::run;

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

TEST(CliProfile, BenchTrainWritesTheRowsItPrints) {
  const std::string d = ecg::cli_test::fresh_dir("ecg_cli_profile_");
  std::filesystem::create_directories(d);
  CliRun r =
      run("bench --model resnet11 --mode train --batch 2 --image-size 32 --steps 1 "
          "--warmup 1 --profile --trace " +
          d + "/t.json --profile-out " + d + "/rows.json --roofline " + d + "/roof.svg");
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json j = read_json(d + "/rows.json");
  EXPECT_GT(j.at("peaks").at("fp32_gflops").get<double>(), 0);
  EXPECT_GT(j.at("peaks").at("bandwidth_gbs").get<double>(), 0);
  std::set<std::string> seen;
  for (const auto& row : j.at("rows")) {
    const std::string layer = row.at("layer"), phase = row.at("phase");
    seen.insert(layer + "/" + phase);
    // Each row of the file is a line of the printed table.
    EXPECT_NE(r.err.find(layer), std::string::npos) << layer;
    if (layer == "stage2.block0.conv2") {
      EXPECT_GT(row.at("pct_peak").get<double>(), 0);
      EXPECT_EQ(row.at("shape").get<std::string>(), "[2, 256, 8, 8]");
    }
  }
  for (const char* want : {"stem_conv/forward", "stem_conv/backward", "loss/forward",
                           "loss/backward", "optimizer/update", "stage0.block0.add_relu/backward"})
    EXPECT_EQ(seen.count(want), 1u) << want;
  std::ifstream svg(d + "/roof.svg");
  const std::string s((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
  EXPECT_NE(s.find("stage2.block0.conv2"), std::string::npos);
  std::filesystem::remove_all(d);
}

TEST(CliProfile, BenchInt8RowsNameTheInt8KernelAndRateInGops) {
  const std::string d = ecg::cli_test::fresh_dir("ecg_cli_profile8_");
  std::filesystem::create_directories(d);
  CliRun r =
      run("bench --model resnet11 --mode int8 --batch 1 --image-size 64 --steps 1 "
          "--warmup 1 --profile --trace " +
          d + "/t.json --profile-out " + d + "/rows.csv");
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream f(d + "/rows.csv");
  std::string line;
  int conv_rows = 0;
  while (std::getline(f, line)) {
    if (line.find("GOP/s") == std::string::npos) continue;
    ++conv_rows;
    // Not the float ISA: an int8 kernel name (avx2-..., avx512-vnni, generic, ref, neon...).
    EXPECT_TRUE(line.find(",avx512,") == std::string::npos &&
                line.find(",avx2,") == std::string::npos)
        << line;
  }
  // Every convolution of ResNet-11 (stem, 3 x conv1/conv2/shortcut) and fc,
  // row-tiled or not.
  EXPECT_EQ(conv_rows, 11) << r.err;
  std::filesystem::remove_all(d);
}

TEST(CliProfile, TrainTracesExactlyTheStepItNames) {
  const std::string d = ecg::cli_test::fresh_dir("ecg_cli_profile_train_");
  ASSERT_EQ(ecg::cli_test::synth(d + "/data", 4).code, 0);
  CliRun r = run("train --data " + d +
                 "/data --model resnet11 --image-size 32 --epochs 1 "
                 "--batch 4 --profile --profile-step 2 --profile-out " +
                 d + "/rows.json --out " + d + "/run");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("trace of step 2"), std::string::npos) << r.err;
  const nlohmann::json t = read_json(d + "/run/trace.json");
  int steps = 0;
  for (const auto& e : t.at("traceEvents"))
    if (e.value("cat", "") == "step") {
      ++steps;
      EXPECT_EQ(e.at("name").get<std::string>(), "step 2");
    }
  EXPECT_EQ(steps, 1);
  EXPECT_GT(read_json(d + "/rows.json").at("rows").size(), 20u);
  std::filesystem::remove_all(d);
}

// A wrong file kind fails before the run (exit 1, one line naming it); a
// profile file without --profile is a usage error (exit 2).
TEST(CliProfile, BadProfileFilesAreRefusedUpFront) {
  CliRun r =
      run("bench --model resnet11 --image-size 32 --steps 1 --profile --profile-out rows.txt");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(ecg::cli_test::lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("rows.txt"), std::string::npos);
  EXPECT_EQ(r.err.find("ms/step"), std::string::npos);  // refused before running
  r = run("bench --model resnet11 --image-size 32 --steps 1 --profile --roofline r.png");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("r.png"), std::string::npos);
  r = run("bench --model resnet11 --image-size 32 --steps 1 --profile-out rows.csv");
  EXPECT_EQ(r.code, 2);
}

}  // namespace
