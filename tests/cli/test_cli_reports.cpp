// Reports as a user meets them: `eval` writes its own report and leaves the
// training run's folder byte for byte as it was; every report records the
// data, counts, build, machine and kernels; the training report's mean rate
// is the mean over epochs; no raw JSON blocks in the HTML.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_run.h"

namespace {

namespace fs = std::filesystem;
using ecg::cli_test::CliRun;
using ecg::cli_test::run;

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// Every file under `dir` (recursively) with its bytes: two snapshots are
// equal only when no file was added, removed or changed.
std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) files[fs::relative(e.path(), dir).string()] = slurp(e.path());
  return files;
}

// One small training run shared by the tests of this file.
class CliReports : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = ecg::cli_test::fresh_dir("ecg_cli_reports_");
    CliRun r = ecg::cli_test::synth(dir_ + "/data", 4);
    ASSERT_EQ(r.code, 0) << r.err;
    r = run("train --data " + dir_ + "/data --model resnet11 --image-size 32 --epochs 2 " +
            "--batch 4 --precise-bn 1 --out " + dir_ + "/run");
    ASSERT_EQ(r.code, 0) << r.err;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  static std::string dir_;
};
std::string CliReports::dir_;

void expect_provenance(const nlohmann::json& j) {
  const auto& p = j.at("provenance");
  for (const char* key : {"commit", "machine", "isa", "ecgcnn_version"})
    EXPECT_FALSE(p.at(key).get<std::string>().empty()) << key;
  EXPECT_FALSE(p.at("kernels").at("fp32_conv2d").get<std::string>().empty());
  EXPECT_FALSE(p.at("kernels").at("int8_conv").get<std::string>().empty());
}

TEST_F(CliReports, EvalLeavesTheRunFolderUnchangedAndWritesItsOwnReport) {
  const std::string ck = dir_ + "/run/best.safetensors";
  ASSERT_TRUE(fs::exists(ck));
  const auto before = snapshot(dir_ + "/run");
  ASSERT_GE(before.size(), 3u);  // checkpoints, history.json, report.html at least
  const std::string report = dir_ + "/reports/float.html";
  CliRun r = run("eval --checkpoint " + ck + " --data " + dir_ + "/data --report " + report);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("report: " + report), std::string::npos) << r.out;
  r = run("eval --checkpoint " + ck + " --data " + dir_ + "/data --json --report " + report);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  // A report inside the run folder is refused before anything is written.
  r = run("eval --checkpoint " + ck + " --data " + dir_ + "/data --report " + dir_ +
          "/run/eval.html");
  ecg::cli_test::expect_one_line_error(r, 1, "training run folder");
  EXPECT_EQ(snapshot(dir_ + "/run"), before) << "eval changed a file of the training run";

  const std::string html = slurp(report);
  EXPECT_NE(html.find("Confusion matrix"), std::string::npos);
  EXPECT_NE(html.find(dir_ + "/data"), std::string::npos) << "the data path is not recorded";
  EXPECT_NE(html.find("commit"), std::string::npos);
  EXPECT_EQ(html.find("<pre>"), std::string::npos) << "raw JSON block in the eval report";
  expect_provenance(j);
  EXPECT_EQ(j.at("data").at("path"), dir_ + "/data");
  EXPECT_EQ(j.at("data").at("images").get<int64_t>(), j.at("total").get<int64_t>());
  int64_t per_class = 0;
  for (const auto& c : j.at("data").at("per_class")) per_class += c.get<int64_t>();
  EXPECT_EQ(per_class, j.at("total").get<int64_t>());
  int64_t wrong = 0;
  for (size_t i = 0; i < j.at("confusion_matrix").size(); ++i)
    for (size_t k = 0; k < j.at("confusion_matrix")[i].size(); ++k)
      if (i != k) wrong += j.at("confusion_matrix")[i][k].get<int64_t>();
  ASSERT_EQ(static_cast<int64_t>(j.at("misclassified").size()), wrong);
  for (const auto& m : j.at("misclassified")) {
    EXPECT_TRUE(fs::exists(m.at("path").get<std::string>())) << m.dump();
    EXPECT_NE(m.at("truth"), m.at("predicted"));
  }
}

TEST_F(CliReports, TrainingReportRecordsProvenanceAndTheMeanRate) {
  const auto run_json = nlohmann::json::parse(slurp(dir_ + "/run/history.json"));
  expect_provenance(run_json);
  EXPECT_EQ(run_json.at("data").at("path"), dir_ + "/data");
  EXPECT_GT(run_json.at("data").at("train").at("images").get<int64_t>(), 0);
  const auto& history = run_json.at("history");
  ASSERT_EQ(history.size(), 2u);
  double mean = 0;
  for (const auto& e : history) mean += e.at("images_per_s").get<double>() / history.size();
  const auto& t = run_json.at("timings");
  EXPECT_DOUBLE_EQ(t.at("mean_images_per_s").get<double>(), mean);
  EXPECT_DOUBLE_EQ(t.at("last_epoch_images_per_s").get<double>(),
                   history.back().at("images_per_s").get<double>());
  const std::string html = slurp(dir_ + "/run/report.html");
  EXPECT_EQ(html.find("<pre>"), std::string::npos) << "raw JSON block in the training report";
  EXPECT_NE(html.find("Provenance"), std::string::npos);
  EXPECT_NE(html.find("mean_images_per_s"), std::string::npos);
}

}  // namespace

namespace {

// `eval --model F.int8` runs whole batches (issue 15); the figures and every
// misclassified image's confidence equal those of one image at a time.
TEST_F(CliReports, Int8EvalInBatchesEqualsOneAtATime) {
  const std::string model = dir_ + "/m.int8";
  CliRun r = run("quantize --checkpoint " + dir_ + "/run/best.safetensors --calib " + dir_ +
                 "/data --images 8 --eval-images 4 --no-stability --out " + model);
  ASSERT_EQ(r.code, 0) << r.err;
  auto eval = [&](const std::string& batch) {
    CliRun e = run("eval --model " + model + " --data " + dir_ + "/data --split all --json " +
                   "--no-report --int8-batch " + batch);
    EXPECT_EQ(e.code, 0) << e.err;
    return e.code == 0 ? nlohmann::json::parse(e.out) : nlohmann::json::object();
  };
  const auto one = eval("1"), batched = eval("6"), odd = eval("5");
  ASSERT_GT(one.at("total").get<int>(), 6);  // several batches, a partial last one
  for (const auto* j : {&batched, &odd}) {
    EXPECT_EQ(j->at("loss").dump(), one.at("loss").dump());
    EXPECT_EQ(j->at("confusion_matrix"), one.at("confusion_matrix"));
    EXPECT_EQ(j->at("misclassified").dump(), one.at("misclassified").dump());
  }
}

}  // namespace
