// The training loop against diverging numbers and damaged resume state
// (issue 17): it stops on the first non-finite parameter, gradient or BN
// statistic, naming step, layer and tensor, and never leaves a non-finite
// checkpoint behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "models/checkpoint.h"
#include "models/safetensors.h"
#include "models/trainer.h"
#include "quadrant_data.h"

namespace ecg {
namespace {

namespace fs = std::filesystem;

using testing::quadrant_data;

class TrainHardening : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ecg_trainhard_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  TrainOptions options(int epochs, double lr) {
    TrainOptions o;
    o.out_dir = (dir_ / "run").string();
    o.epochs = epochs;
    o.batch = 8;
    o.progress = false;
    o.schedule = "constant";
    o.lr = lr;
    return o;
  }
  std::shared_ptr<Model> model() {
    ModelConfig c;
    c.image_size = 32;
    return build_model(c);
  }
  // Every value of every .safetensors file in the run folder is finite.
  void expect_only_finite_files() {
    int files = 0;
    for (const auto& e : fs::directory_iterator(dir_ / "run")) {
      if (e.path().extension() != ".safetensors") continue;
      ++files;
      SafetensorsFile f = load_safetensors(e.path().string());
      for (auto& [name, t] : f.tensors)
        for (float v : t.to_vector_f32()) ASSERT_TRUE(std::isfinite(v)) << e.path() << ": " << name;
    }
    EXPECT_GE(files, 2);  // best and state
    load_checkpoint((dir_ / "run" / "best.safetensors").string());
  }
  fs::path dir_;
};

// Adam at lr 1e6: one good epoch, then the same run resumed at the huge rate.
TEST_F(TrainHardening, AdamAtHugeLearningRateStopsAndLeavesOnlyFiniteCheckpoints) {
  auto d = quadrant_data(16, 3);
  auto v = quadrant_data(8, 4);
  auto m = model();
  train(*m, d, &v, options(1, 1e-3), false);
  auto resumed = model();
  try {
    train(*resumed, d, &v, options(40, 1e6), true);
    FAIL() << "Adam at lr 1e6 trained 40 epochs without a non-finite value";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("diverged at step"), std::string::npos) << msg;
    EXPECT_NE(msg.find("layer "), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    std::printf("stopped with: %s\n", msg.c_str());
  }
  expect_only_finite_files();
}

}  // namespace
}  // namespace ecg
