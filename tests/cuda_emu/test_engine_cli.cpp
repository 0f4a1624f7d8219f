// `ecgcnn ... --device cuda` as a user runs it, on ecgcnn_cuda_emu (the
// program with the CUDA engine on the CPU emulator): train, eval, infer and
// bench on a tiny synthetic set, against the same commands on the CPU.
//
// Training: one epoch of ResNet-11 at 32 px with SGD (see test_engine.cpp
// for why SGD), same seed, on both devices. Tolerance (named, with its
// reason): kLossRelTolerance on the epoch's train and validation losses. The
// engine test bounds every parameter after three such steps by the spread of
// two CPU evaluations (observed: the device within 0.04 of that bound); here
// the two runs differ by 6e-8 relative on the train loss and 9e-6 on the
// validation loss (measured on the 2-core machine, AVX2: the validation runs
// the stepped weights and running statistics, so it sees every step's
// rounding), so 1e-4 leaves a factor of ten while a wrong kernel (errors of
// 1e-2 and more) still fails. The validation loss gets kValLossRelTolerance:
// it evaluates on running statistics of two steps at batch 4, so it moves
// with the CPU build itself (3.6e-4 relative between the -O3 Release and the
// -O2 sanitizer build of the same CPU code), and 5e-3 covers that spread.
// Inference: the int8 model's logits are printed in the shortest form that
// reads back to the same float; the device must print the same text (the
// int8 graph is bit-exact).
// On a GPU, tools/ci/cuda_gpu_check.sh builds this file against the GPU
// build's ecgcnn (ECG_CLI_PATH, ECG_CLI_NATIVE_GPU) and runs the same
// commands natively, with the own GEMMs and with ECG_CUDA_GEMM=cublas.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/cli/cli_run.h"

namespace {

constexpr double kLossRelTolerance = 1e-4;
constexpr double kValLossRelTolerance = 5e-3;

using ecg::cli_test::CliRun;
using ecg::cli_test::run;

nlohmann::json read_json(const std::string& path) {
  std::ifstream f(path);
  return nlohmann::json::parse(f);
}

void expect_close(double want, double got, const char* what, double tolerance = kLossRelTolerance) {
  EXPECT_LE(std::fabs(got - want), tolerance * std::fabs(want))
      << what << ": cpu " << want << ", cuda " << got;
}

TEST(CudaEngineCli, TrainEvalInferBenchOnTheDeviceMatchTheCpu) {
  namespace fs = std::filesystem;
  const std::string d = ecg::cli_test::fresh_dir("ecg_cuda_cli_");
  CliRun r = ecg::cli_test::synth(d + "/data", 4);
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string train = "train --data " + d + "/data --model resnet11 --image-size 32 " +
                            "--epochs 1 --batch 4 --optimizer sgd --lr 0.01 --precise-bn 0 " +
                            "--val-fraction 0.25 --threads 1 --out ";
  r = run(train + d + "/cpu");
  ASSERT_EQ(r.code, 0) << r.err;
  r = run(train + d + "/cuda --device cuda");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto cpu = read_json(d + "/cpu/history.json").at("history").at(0);
  const auto gpu = read_json(d + "/cuda/history.json").at("history").at(0);
  expect_close(cpu.at("train_loss"), gpu.at("train_loss"), "train loss");
  expect_close(cpu.at("val_loss"), gpu.at("val_loss"), "validation loss", kValLossRelTolerance);

  // The checkpoint written from the device is read anywhere.
  const std::string ck = d + "/cuda/best.safetensors";
  r = run("eval --checkpoint " + ck + " --data " + d + "/data --json --device cuda --report " + d +
          "/eval.html");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto eval_gpu = nlohmann::json::parse(r.out);
  r = run("eval --checkpoint " + ck + " --data " + d + "/data --json --report " + d + "/eval.html");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto eval_cpu = nlohmann::json::parse(r.out);
  expect_close(eval_cpu.at("loss"), eval_gpu.at("loss"), "eval loss");

  r = run("quantize --checkpoint " + ck + " --calib " + d + "/data --images 4 --eval-images 4 " +
          "--no-stability --out " + d + "/m.int8");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string image = ecg::cli_test::last_jpeg_under(d + "/data/test");
  ASSERT_FALSE(image.empty());
  r = run("infer --json --model " + d + "/m.int8 " + image);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto infer_cpu = nlohmann::json::parse(r.out).at("results").at(0);
  r = run("infer --json --device cuda --model " + d + "/m.int8 " + image);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto infer = nlohmann::json::parse(r.out);
#if defined(ECG_CLI_NATIVE_GPU)
  // tools/ci/cuda_gpu_check.sh: ECG_CLI_PATH is the GPU build's ecgcnn on a real device.
  EXPECT_TRUE(infer.at("kernel") == "cuda-dp4a" || infer.at("kernel") == "cuda-f32-exact")
      << infer.at("kernel");
#else
  EXPECT_EQ(infer.at("kernel"), "cuda-f32-exact");  // the emulator is an sm_53 (the Nano)
#endif
  EXPECT_GT(infer.at("planned_arena_mb").get<double>(), 0.0);  // the device runner's arena
  EXPECT_EQ(infer.at("results").at(0).at("logits").dump(), infer_cpu.at("logits").dump());
  EXPECT_EQ(infer.at("results").at(0).at("class"), infer_cpu.at("class"));
  r = run("eval --model " + d + "/m.int8 --data " + d + "/data --json --device cuda --report " + d +
          "/eval.html");
  ASSERT_EQ(r.code, 0) << r.err;

  for (const char* mode : {"train", "infer", "int8"}) {
    r = run(std::string("bench --device cuda --mode ") + mode +
            " --image-size 32 --batch 2 --steps 1 --warmup 0 --json");
    EXPECT_EQ(r.code, 0) << mode << ": " << r.err;
  }
  fs::remove_all(d);
}

// Issue 20: the commands that compute on the CPU only refuse --device cuda
// (one line, exit 1) instead of silently running on the CPU.
TEST(CudaEngineCli, CpuOnlyCommandsRefuseTheDevice) {
  const std::string d = ecg::cli_test::fresh_dir("ecg_cuda_cli_cpu_only_");
  for (const std::string& args :
       std::vector<std::string>{"predict --device cuda no_such.jpg", "quantize --device cuda",
                                "synth --device cuda --out " + d, "study --device cuda"})
    ecg::cli_test::expect_one_line_error(run(args), 1, "--device cuda is taken by train");
}

}  // namespace
