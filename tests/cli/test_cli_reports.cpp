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

namespace {

const char* const kSharedKeys[] = {"model", "isa", "kernel", "image_size", "batch", "threads"};

void expect_shared_keys(const nlohmann::json& j, const std::string& what) {
  for (const char* key : kSharedKeys) EXPECT_TRUE(j.contains(key)) << what << ": " << key;
  ASSERT_TRUE(j.contains("latency_ms")) << what;
  for (const char* key : {"min", "median", "mean", "p99", "max", "stddev"})
    EXPECT_TRUE(j["latency_ms"].contains(key)) << what << ": latency_ms." << key;
  EXPECT_LE(j["latency_ms"]["min"].get<double>(), j["latency_ms"]["median"].get<double>());
  EXPECT_LE(j["latency_ms"]["median"].get<double>(), j["latency_ms"]["max"].get<double>());
}

// predict, infer and bench print one set of keys (docs/house.md, "JSON keys").
TEST_F(CliReports, PredictInferBenchShareJsonKeys) {
  const std::string model = dir_ + "/keys.int8";
  CliRun r = run("quantize --checkpoint " + dir_ + "/run/best.safetensors --calib " + dir_ +
                 "/data --images 8 --eval-images 4 --no-stability --out " + model);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string image = ecg::cli_test::last_jpeg_under(dir_ + "/data/test");
  r = run("predict --checkpoint " + dir_ + "/run/best.safetensors " + image + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto p = nlohmann::json::parse(r.out).at(0);
  expect_shared_keys(p, "predict");
  for (const char* key : {"logits", "probabilities", "class"}) EXPECT_TRUE(p.contains(key)) << key;
  r = run("infer --model " + model + " " + image + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto i = nlohmann::json::parse(r.out);
  expect_shared_keys(i, "infer");
  for (const char* key : {"logits", "probabilities", "class"})
    EXPECT_TRUE(i.at("results").at(0).contains(key)) << key;
  EXPECT_EQ(i.at("image_size"), 32);
  r = run("bench --int8-model " + model + " --steps 3 --warmup 1 --threads 1 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto b = nlohmann::json::parse(r.out);
  expect_shared_keys(b, "bench");
  EXPECT_EQ(b.at("image_size"), 32);  // from the file, no --image-size
  for (const char* key : {"load_ms", "first_inference_ms", "ms_per_step", "p99_ms", "int8_kernel"})
    EXPECT_TRUE(b.contains(key)) << key;
}

// bench --int8-model takes the size from the file and names the kernel that
// ran; --device-report measures the int8 path without a float model.
TEST_F(CliReports, BenchOnAnInt8FileNamesItsKernelAndSize) {
  const std::string model = dir_ + "/bench.int8";
  CliRun r = run("quantize --checkpoint " + dir_ + "/run/best.safetensors --calib " + dir_ +
                 "/data --images 8 --eval-images 4 --no-stability --out " + model);
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("bench --int8-model " + model + " --isa ref --steps 2 --warmup 0 --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("32x32"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("isa ref, kernel ref"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("avx"), std::string::npos) << r.out;
  for (const char* s : {"min", "median", "mean", "p99", "max", "stddev", "first inference", "load"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
  r = run("bench --int8-model " + model + " --image-size 64 --steps 1");
  ecg::cli_test::expect_one_line_error(r, 1, "does not match the int8 model's 32");
  r = run("bench --device-report --int8-model " + model + " --steps 2 --warmup 0 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto d = nlohmann::json::parse(r.out).at("device_report");
  EXPECT_FALSE(d.at("float_model_built").get<bool>());
  EXPECT_GT(d.at("peak_program_memory_mb").get<double>(), 0.0);
  r = run("bench --help");
  EXPECT_NE(r.out.find("--steps INT:INT in [1 - 100000]=10"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--mode TEXT=infer"), std::string::npos) << r.out;
}

}  // namespace

namespace {

// The main job's run report from a run folder laid out as tools/main_job.sh
// leaves it: both evaluations, the quantizer's tables, the study's table
// beside this run's figures, thumbnails of the misclassified images, timing.
TEST_F(CliReports, RunReportGathersTheMainJobsResults) {
  const std::string job = dir_ + "/job";
  fs::create_directories(job + "/train");
  fs::copy_file(dir_ + "/run/history.json", job + "/train/history.json");
  const std::string ck = dir_ + "/run/best.safetensors";
  CliRun r = run("quantize --checkpoint " + ck + " --calib " + dir_ +
                 "/data --images 8 --eval-images 8 --no-stability --out " + job +
                 "/m.int8 --report " + job + "/quantize.json");
  ASSERT_EQ(r.code, 0) << r.err;
  // --split all: 16 images, so some are wrong after a two-epoch run.
  r = run("eval --checkpoint " + ck + " --data " + dir_ + "/data --split all --json --no-report");
  ASSERT_EQ(r.code, 0) << r.err;
  std::ofstream(job + "/eval_float.json") << r.out;
  const auto fl = nlohmann::json::parse(r.out);
  r = run("eval --model " + job + "/m.int8 --data " + dir_ +
          "/data --split all --json --no-report");
  ASSERT_EQ(r.code, 0) << r.err;
  std::ofstream(job + "/eval_int8.json") << r.out;
  std::ofstream(job + "/steps.tsv") << "0\tsynthesise\n7\ttrain resnet11\n19\tquantize\n25\tdone\n";
  std::ofstream(job + "/study.md")
      << "# notes\n\n| model | peak accuracy | peak F1 |\n|---|---|---|\n"
      << "| AlexNet | 90.2 % (75 epochs) | 0.91 |\n"
      << "| ResNet-11 | 96.9 % (75 epochs) | 0.97 |\n\nafter\n";
  r = run("report --run " + job + " --study " + job + "/study.md");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string html = slurp(job + "/report.html");
  for (const char* s : {"96.9 % (75 epochs)", "Float model", "Int8 model", "int8 - float",
                        "Activation SQNR", "Sensitivity", "train resnet11", "Provenance", "commit"})
    EXPECT_NE(html.find(s), std::string::npos) << s;
  // The run's float accuracy sits in the ResNet-11 row, not the AlexNet one.
  char acc[32];
  std::snprintf(acc, sizeof acc, "%.1f %%", 100 * fl.at("accuracy").get<double>());
  const size_t resnet_row = html.find("ResNet-11"), alexnet_row = html.find("AlexNet");
  EXPECT_NE(html.find(acc, resnet_row), std::string::npos) << acc;
  EXPECT_LT(alexnet_row, resnet_row);
  size_t thumbs = 0;
  for (size_t p = html.find("data:image/jpeg;base64,"); p != std::string::npos;
       p = html.find("data:image/jpeg;base64,", p + 1))
    ++thumbs;
  EXPECT_GE(thumbs, fl.at("misclassified").size());
  EXPECT_GT(fl.at("misclassified").size(), 0u);
  EXPECT_EQ(html.find("<pre>"), std::string::npos);
  // A damaged input is one line naming it.
  std::ofstream(job + "/quantize.json") << "{ not json";
  r = run("report --run " + job);
  ecg::cli_test::expect_one_line_error(r, 1, "quantize.json");
}

}  // namespace
