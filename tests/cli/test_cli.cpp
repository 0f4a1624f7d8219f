// The `ecgcnn` program as a user runs it: help, info, and bad input giving one
// line on stderr and the documented exit code (2 for usage, 1 for runtime).
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "cli_run.h"
#include "models/onnx.h"
#include "train/mpi_collective.h"

namespace {

using ecg::cli_test::CliRun;
using ecg::cli_test::expect_one_line_error;
using ecg::cli_test::lines;
using ecg::cli_test::run;

TEST(Cli, HelpListsSubcommands) {
  CliRun r = run("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("info"), std::string::npos);
  EXPECT_NE(r.out.find("summary"), std::string::npos);
}

TEST(Cli, InfoReportsDispatch) {
  CliRun r = run("info");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("active isa"), std::string::npos);
  EXPECT_NE(r.out.find("threads"), std::string::npos);
  EXPECT_NE(r.out.find("cuda support"), std::string::npos);
}

// Issue 20: the per-level table names the level whose code runs. The BN
// running statistics and the L2 penalty are the scalar reference at every
// level, so their rows say "ref" in every column, never a SIMD level.
TEST(Cli, InfoNamesTheCodeThatRuns) {
  CliRun r = run("info");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* op : {"batch_norm_update_running", "l2_penalty_forward"}) {
    const size_t at = r.out.find(std::string("  ") + op + " ");
    ASSERT_NE(at, std::string::npos) << op;
    std::string row = r.out.substr(at, r.out.find('\n', at) - at);
    row = row.substr(row.find(op) + std::string(op).size());
    for (const char* simd : {"generic", "avx2", "avx512", "neon"})
      EXPECT_EQ(row.find(simd), std::string::npos) << op << " row:" << row;
    EXPECT_NE(row.find("ref"), std::string::npos) << row;
  }
}

// The line of `info` that starts with `key` ("" when there is none).
std::string info_line(const std::string& out, const std::string& key) {
  const size_t at = out.find("\n" + key);
  if (at == std::string::npos) return "";
  return out.substr(at + 1, out.find('\n', at + 1) - at - 1);
}

// Issue 19: `info` says whether ONNX and MPI support were built, and says
// what this binary really has (a -DECG_ONNX=OFF / -DECG_MPI=OFF build too).
TEST(Cli, InfoSaysWhetherOnnxAndMpiWereBuilt) {
  CliRun r = run("info");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string onnx = info_line(r.out, "onnx:"), mpi = info_line(r.out, "mpi:");
  ASSERT_FALSE(onnx.empty()) << r.out;
  ASSERT_FALSE(mpi.empty()) << r.out;
  EXPECT_EQ(onnx.find("not built") == std::string::npos, ecg::onnx_supported()) << onnx;
  EXPECT_EQ(mpi.find("not built") == std::string::npos, ecg::mpi_built()) << mpi;
}

// A build without libonnx refuses .onnx files, in and out, with one line that
// names the file and says why; it never tries to parse them.
TEST(Cli, OnnxFilesRefusedInOneLineWithoutOnnxSupport) {
  if (ecg::onnx_supported()) GTEST_SKIP() << "this build reads ONNX (tests/onnx covers it)";
  const std::string dir = ecg::cli_test::fresh_dir("ecg_cli_noonnx_");
  std::filesystem::create_directories(dir);
  const std::string model = dir + "/m.onnx";
  std::ofstream(model) << "not protobuf";
  // export refuses before it loads anything: the missing checkpoint is not reached.
  const std::pair<std::string, std::string> cases[] = {
      {"predict --checkpoint " + model + " x.jpg", "m.onnx"},
      {"summary --checkpoint " + model, "m.onnx"},
      {"export --checkpoint " + dir + "/absent.safetensors --out " + dir + "/o.onnx", "o.onnx"}};
  for (const auto& c : cases) {
    CliRun r = run(c.first);
    expect_one_line_error(r, 1, c.second);
    EXPECT_NE(r.err.find("built without ONNX support"), std::string::npos)
        << c.first << ": " << r.err;
  }
  std::filesystem::remove_all(dir);
}

TEST(Cli, UnknownSubcommandIsOneLineExit2) {
  expect_one_line_error(run("frobnicate"), 2, "frobnicate");
}

TEST(Cli, BadFlagIsOneLineExit2) {
  expect_one_line_error(run("info --no-such-flag"), 2, "--no-such-flag");
  CliRun r = run("summary --model resnet11 --image-size abc");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(lines(r.err), 1) << r.err;
}

TEST(Cli, RuntimeErrorIsOneLineExit1) {
  expect_one_line_error(run("summary --model vgg16"), 1, "vgg16");
  CliRun r = run("--isa sse9 info");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("sse9"), std::string::npos);
}

// ecgcnn has no CUDA engine linked in (a GPU build or ecgcnn_cuda_emu has,
// tests/cuda_emu): --device cuda is one exact line and exit 1 on every
// subcommand that runs a model.
TEST(Cli, DeviceCudaWithoutAGpuIsOneExactLine) {
#if defined(ECG_HAVE_CUDA)
  GTEST_SKIP() << "a GPU build (-DECG_CUDA=ON) links the engine: tools/ci/cuda_gpu_build.sh checks "
                  "its no-device line, tools/ci/cuda_gpu_check.sh the commands on a GPU";
#endif
  for (const char* cmd : {"train", "eval", "infer", "bench"}) {
    CliRun r = run(std::string(cmd) + " --device cuda");
    EXPECT_EQ(r.code, 1) << cmd;
    EXPECT_EQ(r.err, "ecgcnn: error: --device cuda: this build has no CUDA support\n") << cmd;
  }
  CliRun r = run("info --device tpu");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(lines(r.err), 1) << r.err;
}

TEST(Cli, SummaryPrintsTheStudyParameterCount) {
  CliRun r = run("summary --model resnet11");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("659540"), std::string::npos);
}

// The main job's chain on a tiny synthetic set: synth -> train -> eval ->
// quantize -> eval --model -> infer -> predict, each in its text and JSON
// forms, as a user runs them. Catches crashes in output paths that unit
// tests of the libraries never reach.
TEST(Cli, SynthTrainEvalQuantizeInferChain) {
  namespace fs = std::filesystem;
  const std::string d = ecg::cli_test::fresh_dir("ecg_cli_chain_");
  CliRun r = ecg::cli_test::synth(d + "/data", 6);
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("train --data " + d + "/data --model resnet11 --image-size 32 --epochs 1 --batch 4 " +
          "--precise-bn 2 --out " + d + "/run");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string ck = d + "/run/best.safetensors";
  ASSERT_TRUE(fs::exists(ck));
  r = run("eval --checkpoint " + ck + " --data " + d + "/data --report " + d + "/eval.html");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("macro avg"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(d + "/run/report.html"));
  r = run("quantize --checkpoint " + ck + " --calib " + d + "/data --images 8 --eval-images 8 " +
          "--no-stability --out " + d + "/m.int8");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* json : {"", " --json"}) {
    r = run("eval --model " + d + "/m.int8 --data " + d + "/data --report " + d + "/eval8.html" +
            json);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find(*json ? "\"macro_f1\"" : "macro avg"), std::string::npos) << r.out;
  }
  const std::string image = ecg::cli_test::last_jpeg_under(d + "/data/test");
  ASSERT_FALSE(image.empty());
  r = run("infer --model " + d + "/m.int8 " + image);
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("predict --checkpoint " + ck + " " + image + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("probabilities"), std::string::npos) << r.out;
  for (const char* key : {"\"model\"", "\"isa\"", "\"kernel\"", "\"latency_ms\""})
    EXPECT_NE(r.out.find(key), std::string::npos) << key << " in " << r.out;
  fs::remove_all(d);
}

// The study's deployment table: every field present and plausible, in JSON
// and as text (a small image keeps it quick; preprocessing still decodes a
// full-size synthetic scan).
TEST(Cli, DeviceReportPrintsTheStudysTable) {
  CliRun r = run("bench --device-report --image-size 32 --steps 3 --warmup 1 --threads 1 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("mode"), "int8");
  const auto& d = j.at("device_report");
  for (const char* key :
       {"model_size_mb", "preprocessing_ms", "inference_avg_ms", "inference_p99_ms", "images_per_s",
        "cpu_usage_percent", "ram_in_use_mb", "peak_program_memory_mb", "total_ram_mb"})
    EXPECT_GT(d.at(key).get<double>(), 0.0) << key;
  EXPECT_GE(d.at("peak_program_memory_mb").get<double>(), d.at("ram_in_use_mb").get<double>());
  EXPECT_GE(d.at("cores").get<int>(), 1);
  for (const char* key : {"load_ms", "first_inference_ms"}) EXPECT_GT(d.at(key).get<double>(), 0.0);
  EXPECT_FALSE(d.at("os").get<std::string>().empty());
  r = run("bench --device-report --image-size 32 --steps 2 --warmup 0 --threads 1");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("peak program memory"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("preprocessing"), std::string::npos) << r.out;
}

}  // namespace
