// The training loop: deterministic losses, resume equals an uninterrupted
// run, NaN detection that names where it went wrong, and learning on an easy task.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <map>

#include "kernels/runtime.h"
#include "models/checkpoint.h"
#include "models/safetensors.h"
#include "quadrant_data.h"
#include "tests/models/scratch_dir_test.h"
#include "tests/train/train_test_util.h"
#include "train/trainer.h"

namespace ecg {
namespace {

namespace fs = std::filesystem;

using testing::quadrant_data;

class TrainerTest : public testing::ScratchDirTest {
 protected:
  TrainerTest() : ScratchDirTest("train") {}
  void TearDown() override {
    ScratchDirTest::TearDown();
    clear_interrupt();
  }
  TrainOptions options(const std::string& sub, int epochs) {
    return testing::quiet_options(dir_, sub, epochs);
  }
  std::shared_ptr<Model> model() { return testing::small_resnet(); }
  // The uninterrupted reference: `m` trained 2 epochs on quadrant_data(16, seed) into "full".
  TrainResult train_full(Model& m, uint64_t seed) {
    auto d = quadrant_data(16, seed);
    return train(m, d, nullptr, options("full", 2), false);
  }
};

TEST_F(TrainerTest, SameSeedGivesBitIdenticalLosses) {
  auto a = model(), b = model();
  auto d1 = quadrant_data(16, 3), d2 = quadrant_data(16, 3);
  TrainResult r1 = train(*a, d1, nullptr, options("a", 2), false);
  TrainResult r2 = train(*b, d2, nullptr, options("b", 2), false);
  ASSERT_EQ(r1.history.size(), 2u);
  for (size_t e = 0; e < 2; ++e) EXPECT_EQ(r1.history[e].train_loss, r2.history[e].train_loss);
}

// The determinism contract (docs/determinism.md): for one seed, ISA and
// model, training writes the same bytes whatever the thread count. Four and
// sixteen threads on a two-core machine oversubscribe, which is fine for bytes.
TEST_F(TrainerTest, SameCheckpointBytesAtOneTwoFourAndSixteenThreads) {
  std::map<std::string, Tensor> first;
  for (int threads : {1, 2, 4, 16}) {
    set_num_threads(threads);
    auto m = model();
    auto d = quadrant_data(16, 11);
    const std::string sub = "threads" + std::to_string(threads);
    train(*m, d, nullptr, options(sub, 2), false);
    const SafetensorsFile state = load_safetensors((dir_ / sub / "state.safetensors").string());
    ASSERT_GT(state.tensors.size(), 50u);
    if (first.empty()) {
      first = state.tensors;
      continue;
    }
    ASSERT_EQ(state.tensors.size(), first.size());
    for (const auto& [name, t] : state.tensors) {
      const Tensor& want = first.at(name);
      ASSERT_EQ(t.shape(), want.shape()) << name;
      ASSERT_EQ(t.dtype(), want.dtype()) << name;
      EXPECT_EQ(std::memcmp(t.raw_data(), want.raw_data(), t.nbytes()), 0)
          << name << " differs between 1 and " << threads << " threads";
    }
  }
  set_num_threads(0);
}

TEST_F(TrainerTest, ResumeEqualsUninterrupted) {
  auto full = model();
  TrainResult ref = train_full(*full, 5);

  // Stop after epoch 1 (as if killed), then resume for the rest.
  auto part = model();
  auto d2 = quadrant_data(16, 5);
  train(*part, d2, nullptr, options("part", 1), false);
  auto resumed = model();  // fresh weights: everything must come from the state file
  TrainOptions o = options("part", 2);
  TrainResult r = train(*resumed, d2, nullptr, o, true);
  ASSERT_EQ(r.history.size(), 2u);
  for (size_t e = 0; e < 2; ++e) EXPECT_EQ(r.history[e].train_loss, ref.history[e].train_loss) << e;
  auto pa = full->parameters(), pb = resumed->parameters();
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(pa[i]->to_vector_f32(), pb[i]->to_vector_f32());
}

TEST_F(TrainerTest, InterruptMidEpochThenResumeEqualsUninterrupted) {
  auto full = model();
  TrainResult ref = train_full(*full, 7);
  // Ask to stop right away: the loop finishes one step, saves and returns.
  auto part = model();
  auto d2 = quadrant_data(16, 7);
  install_interrupt_handler();
  ::kill(::getpid(), SIGINT);
  TrainResult stopped = train(*part, d2, nullptr, options("part", 2), false);
  EXPECT_TRUE(stopped.interrupted);
  clear_interrupt();
  auto resumed = model();
  TrainResult r = train(*resumed, d2, nullptr, options("part", 2), true);
  ASSERT_EQ(r.history.size(), 2u);
  for (size_t e = 0; e < 2; ++e) EXPECT_EQ(r.history[e].train_loss, ref.history[e].train_loss) << e;
  signal(SIGINT, SIG_DFL);
}

TEST_F(TrainerTest, LearnsAnEasyTaskAndWritesOutputs) {
  auto m = model();
  auto d = quadrant_data(64, 9);
  auto v = quadrant_data(32, 10);
  TrainOptions o = options("learn", 4);
  TrainResult r = train(*m, d, &v, o, false);
  EXPECT_GT(r.best_val_acc, 0.9);
  EXPECT_TRUE(fs::exists(dir_ / "learn" / "best.safetensors"));
  EXPECT_TRUE(fs::exists(dir_ / "learn" / "report.html"));
  EXPECT_TRUE(fs::exists(dir_ / "learn" / "history.json"));
  LoadedCheckpoint c = load_checkpoint((dir_ / "learn" / "best.safetensors").string());
  EvalResult e = evaluate(*c.model, v);
  EXPECT_DOUBLE_EQ(e.accuracy, r.best_val_acc);
}

TEST_F(TrainerTest, DivergenceNamesTheStepAndLayer) {
  auto m = model();
  auto d = quadrant_data(16, 11);
  m->parameters()[0]->data<float>()[0] = NAN;
  try {
    train(*m, d, nullptr, options("nan", 1), false);
    FAIL() << "expected divergence error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("step 1"), std::string::npos) << msg;
    EXPECT_NE(msg.find("stem_conv"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace ecg
