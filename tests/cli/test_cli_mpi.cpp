// Data-parallel training under Open MPI's mpirun (label mpi; docs/distributed.md).
//
// N ranks with --sync-bn train what one process trains at the same global
// batch. Not bit for bit: the weight gradients are float sums over the batch,
// and N ranks add N partial sums (each over its shard) where one process adds
// one; sync BN's statistics are double sums where the one-process kernel adds
// float partials per plane. Each such sum differs by a few ulps of the sum of
// the magnitudes of its terms. Plain SGD at lr 1e-3 turns a gradient
// difference into a weight difference of lr times it, so after the run's 6
// steps a tensor differs by about lr * steps * 1e-7 * sum|g|: far below 1e-4
// of its largest value for the weights (measured: 1e-6 and less). The tightest
// are the BN betas, which start at 0, move only by lr * sum(g) and whose
// gradient sums cancel heavily: measured 2.5e-5 (stem_bn.bias, two ranks), a
// factor 4 under the bound. (Adam is left out on purpose: m / sqrt(v) divides
// by the size of the gradient, so a rounding difference in a gradient near
// zero becomes a difference of up to lr in the update.)
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "cli_run.h"
#include "core/collective.h"
#include "models/safetensors.h"

namespace {

using ecg::cli_test::CliRun;
namespace fs = std::filesystem;

// The shared tiny set: 6 synthetic pages per class (16 train / 4 validation
// images after the split), made once per test binary.
const std::string& data_dir() {
  static const std::string dir = [] {
    const std::string d = ecg::cli_test::fresh_dir("ecg_cli_mpi_");
    fs::create_directories(d);
    EXPECT_EQ(ecg::cli_test::synth(d + "/data", 6).code, 0);
    return d;
  }();
  return dir;
}

// The small ResNet-11 run every case trains (2 epochs at 32 px, plain SGD at
// lr 1e-3, one thread per rank, its own image cache). At lr 1e-2 on batches
// this small the run is chaotic: one process at ECG_ISA=avx2 instead of
// avx512 (the same sums rounded differently) already moves the second
// epoch's loss in the fourth digit, so no bound on the ranks could hold.
std::string train_args(const std::string& out, int batch, int epochs = 2) {
  return "train --data " + data_dir() + "/data --model resnet11 --image-size 32 --epochs " +
         std::to_string(epochs) + " " + "--batch " + std::to_string(batch) +
         " --optimizer sgd --lr 0.001 --seed 5 --threads 1 " + "--precise-bn 2 --out " +
         data_dir() + "/" + out;
}

// `mpirun -np N PROGRAM ARGS` (PROGRAM: ecgcnn), stdout and stderr together.
CliRun mpirun(int ranks, const std::string& args, const std::string& env = "",
              const std::string& program = ECG_CLI_PATH) {
  const std::string launcher = "env ECG_CACHE_DIR=" + data_dir() +
                               "/cache OMP_WAIT_POLICY=passive " + env + " " + ECG_MPIEXEC +
                               " --allow-run-as-root --oversubscribe -np " + std::to_string(ranks);
  return ecg::cli_test::run_launched(launcher, args, /*stderr_to_out=*/true, program);
}

CliRun plain(const std::string& args) {
  return ecg::cli_test::run("--threads 1 " + args);
}

// The model tensors of a run's final training state.
std::map<std::string, ecg::Tensor> final_model(const std::string& run) {
  std::map<std::string, ecg::Tensor> model;
  for (auto& [name, t] :
       ecg::load_safetensors(data_dir() + "/" + run + "/state.safetensors").tensors)
    if (name.rfind("model.", 0) == 0) model[name] = t;
  return model;
}

// The bias of a convolution that feeds a BatchNorm: BN subtracts the batch
// mean, so its true gradient is exactly zero and its value is rounding noise
// (about 1e-9 here, against weights of about 0.1) that no relative bound can
// describe; those are held to an absolute bound instead.
bool bias_before_batch_norm(const std::string& name) {
  for (const char* conv : {"stem_conv.bias", "conv1.bias", "conv2.bias"}) {
    const std::string c = conv;
    if (name.size() >= c.size() && name.compare(name.size() - c.size(), c.size(), c) == 0)
      return true;
  }
  return false;
}

// Per tensor: max |a - b| / max |a| <= bound (parameters and BN statistics).
// With `weights_only`, only the tensors named *.weight (convolutions, the
// classifier, BN gammas).
void expect_close(const std::string& run_a, const std::string& run_b, double bound,
                  bool weights_only = false) {
  const auto a = final_model(run_a), b = final_model(run_b);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_GT(a.size(), 10u);
  double worst = 0;
  for (const auto& [name, ta] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    const std::string suffix = ".weight";
    if (weights_only && (name.size() < suffix.size() ||
                         name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0))
      continue;
    const std::vector<float> va = ta.to_vector_f32(), vb = b.at(name).to_vector_f32();
    ASSERT_EQ(va.size(), vb.size()) << name;
    double diff = 0, scale = 0;
    for (size_t i = 0; i < va.size(); ++i) {
      diff = std::max(diff, static_cast<double>(std::fabs(va[i] - vb[i])));
      scale = std::max(scale, static_cast<double>(std::fabs(va[i])));
    }
    if (bias_before_batch_norm(name)) {
      EXPECT_LE(diff, 1e-6) << name << ": " << run_a << " vs " << run_b;
      continue;
    }
    const double rel = scale > 0 ? diff / scale : diff;
    worst = std::max(worst, rel);
    EXPECT_LE(rel, bound) << name << ": " << run_a << " vs " << run_b << ": max|a| " << scale
                          << ", max|a-b| " << diff;
  }
  std::printf("%s vs %s: worst per-tensor max|a-b|/max|a| = %.3g\n", run_a.c_str(), run_b.c_str(),
              worst);
}

bool same_bytes(const std::string& a, const std::string& b) {
  std::ifstream fa(a, std::ios::binary), fb(b, std::ios::binary);
  const std::string sa{std::istreambuf_iterator<char>(fa), {}},
      sb{std::istreambuf_iterator<char>(fb), {}};
  return !sa.empty() && sa == sb;
}

class MpiTrain : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The reference: one process, global batch 6 (16 images: 6, 6, 4), with
    // the sync-BN arithmetic (double sums; at one rank its own batch's).
    const CliRun r = plain(train_args("one", 6) + " --sync-bn");
    ASSERT_EQ(r.code, 0) << r.err;
  }
};

// Two ranks (3 + 3, then 2 + 2 in the short last batch) with sync BN: the
// same network as one process; the parameter check every step passes.
TEST_F(MpiTrain, SyncBnTwoRanksTrainWhatOneProcessTrains) {
  const CliRun r = mpirun(2, train_args("two", 6) + " --sync-bn --param-check-every 1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("data parallel: Open MPI"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("allreduce wait"), std::string::npos) << r.out;
  expect_close("one", "two", 1e-4);
}

// Three ranks split 6 as 2 + 2 + 2 and the last batch of 4 unevenly (1 + 1 +
// 2); gradients in small non-blocking buckets overlapped with backward.
TEST_F(MpiTrain, SyncBnThreeRanksUnevenShardsBuckets) {
  const CliRun r =
      mpirun(3, train_args("three", 6) + " --sync-bn --bucket-mb 0.25 --param-check-every 2");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("1 gradient bucket(s)"), std::string::npos) << r.out;
  // Reductions start while backward runs (the gradient hook), not after it.
  EXPECT_NE(r.out.find("reductions so far started during backward"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("(0 of"), std::string::npos) << r.out;
  expect_close("one", "three", 1e-4);
}

// Without --sync-bn each rank normalises with its shard's statistics (DDP's
// default): a different network, but every rank still steps identically.
TEST_F(MpiTrain, PerRankBnKeepsRanksInStep) {
  const CliRun r = mpirun(2, train_args("perrank", 6) + " --param-check-every 1 --bucket-mb 0");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("(0 of 6 reductions"), std::string::npos)
      << r.out;  // blocking, after backward
  EXPECT_NE(r.out.find("per-rank BatchNorm"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(data_dir() + "/perrank/best.safetensors"));
}

// `ecgcnn info` names the MPI library this build has.
TEST(MpiInfo, InfoNamesTheMpiLibrary) {
  const CliRun r = ecg::cli_test::run("info");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("mpi:              Open MPI"), std::string::npos) << r.out;
}

// One rank under mpirun is the one-process run: the same checkpoint bytes
// and the same final tensors (the state differs only in wall-clock times).
TEST_F(MpiTrain, OneRankUnderMpirunIsTheSameBytes) {
  // Both without --sync-bn: the trainer's ordinary batch norm.
  const CliRun p = plain(train_args("plain", 6));
  ASSERT_EQ(p.code, 0) << p.err;
  const CliRun r = mpirun(1, train_args("np1", 6));
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(
      same_bytes(data_dir() + "/plain/best.safetensors", data_dir() + "/np1/best.safetensors"));
  expect_close("plain", "np1", 0.0);
}

// A rank killed mid-run (as by a crashed node): the others do not hang;
// mpirun ends them and exits non-zero, naming the rank, well within 60 s.
TEST_F(MpiTrain, KilledRankStopsTheOthers) {
  const auto t0 = std::chrono::steady_clock::now();
  const CliRun r = mpirun(2, train_args("killed", 6), "ECG_TEST_RANK_FAULT=1:2:kill");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_LT(seconds, 60.0);
  EXPECT_NE(r.out.find("signal 9"), std::string::npos) << r.out;
}

// A rank that hangs alive (sleeping for ever in step 3's backward, as an
// endless loop or a SIGSTOP would leave it): mpirun sees nothing wrong, so the
// watchdog (--mpi-timeout) of the rank waiting for its gradients must print
// one line naming the step and the bucket and end every rank with 124.
TEST_F(MpiTrain, HungRankStopsEveryRankAfterTheTimeout) {
  const auto t0 = std::chrono::steady_clock::now();
  const CliRun r =
      mpirun(2, train_args("hung", 6) + " --mpi-timeout 3", "ECG_TEST_RANK_FAULT=1:3:hang");
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(r.code, ecg::kCollectiveTimeoutExit) << r.out;
  EXPECT_LT(seconds, 20.0) << r.out;
  EXPECT_NE(r.out.find("ecgcnn: error: rank 0: data parallel: the gradient allreduce "
                       "(MPI_Iallreduce) at step 3, gradient bucket 1 of "),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("(--mpi-timeout 3)"), std::string::npos) << r.out;
}

// A rank that fails with an error prints one line naming itself and ends
// every rank with status 1.
TEST_F(MpiTrain, FailingRankEndsEveryRank) {
  const CliRun r = mpirun(2, train_args("failed", 6), "ECG_TEST_RANK_FAULT=1:2:error");
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("ecgcnn: error: rank 1: ECG_TEST_RANK_FAULT"), std::string::npos) << r.out;
}

// Ctrl-C on mpirun reaches every rank as SIGTERM; here rank 1 alone gets it
// after step 2, and still every rank stops at that step and rank 0 saves the
// state once. The run resumes on 3 ranks (the state is the same whatever the
// rank count) and ends where the uninterrupted one-process run ends.
TEST_F(MpiTrain, InterruptedRunResumesOnThreeRanks) {
  const CliRun stopped =
      mpirun(2, train_args("resumed", 6) + " --sync-bn", "ECG_TEST_RANK_FAULT=1:2:term");
  EXPECT_NE(stopped.code, 0) << stopped.out;
  EXPECT_NE(stopped.out.find("interrupted after step 2; state saved"), std::string::npos)
      << stopped.out;
  size_t saves = 0;
  for (size_t at = stopped.out.find("state saved"); at != std::string::npos;
       at = stopped.out.find("state saved", at + 1))
    ++saves;
  EXPECT_EQ(saves, 1u) << stopped.out;
  const CliRun resumed = mpirun(3, "train --threads 1 --resume " + data_dir() + "/resumed");
  ASSERT_EQ(resumed.code, 0) << resumed.out;
  EXPECT_NE(resumed.out.find("resuming"), std::string::npos) << resumed.out;
  expect_close("one", "resumed", 1e-4);
}

// --device cuda on the CUDA engine of the emulator (ecgcnn_cuda_emu): the
// gradients live on the device and, without NCCL (the emulator build has
// none), reduce through MPI from host memory, in the default overlapped
// buckets (4 per step, all started while backward runs). The ranks stay in step (the parameter
// check after every step) and train what two CPU ranks train (per-rank BN, one epoch of 3 SGD
// steps): the weights within 1e-4 as in the tests above. The BN betas and running statistics are
// left out: the device's BN kernels sum in their own order (not the CPU's double sums), and the
// betas, which start at 0 and move only by lr times heavily cancelling sums, differ by about 1e-6
// on 1e-4.
TEST_F(MpiTrain, DeviceGradientsThroughHostMemoryOnTheEmulator) {
#ifndef ECG_CLI_EMU_PATH
  GTEST_SKIP() << "no ecgcnn_cuda_emu in this build";
#else
  const std::string args = train_args("dev_cpu", 6, 1) + " --param-check-every 1";
  const CliRun cpu = mpirun(2, args);
  ASSERT_EQ(cpu.code, 0) << cpu.out;
  const CliRun dev =
      mpirun(2, "--device cuda " + train_args("dev_emu", 6, 1) + " --param-check-every 1", "",
             ECG_CLI_EMU_PATH);
  ASSERT_EQ(dev.code, 0) << dev.out;
  EXPECT_NE(dev.out.find("(12 of 12 reductions so far started during backward)"), std::string::npos)
      << dev.out;
  expect_close("dev_cpu", "dev_emu", 1e-4, /*weights_only=*/true);
#endif
}

// A global batch that leaves a rank without images is refused up front.
TEST_F(MpiTrain, TooFewImagesPerRankIsRefused) {
  const CliRun r = mpirun(2, train_args("refused", 5));
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("every rank needs at least one"), std::string::npos) << r.out;
}

}  // namespace
