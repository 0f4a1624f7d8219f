// The training loop against diverging numbers and damaged resume state
// (issue 17): it stops on the first non-finite parameter, gradient or BN
// statistic, naming step, layer and tensor, and never leaves a non-finite
// checkpoint behind.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>

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

class TrainHardening : public testing::ScratchDirTest {
 protected:
  TrainHardening() : ScratchDirTest("trainhard") {}
  TrainOptions options(int epochs, double lr) {
    TrainOptions o = testing::quiet_options(dir_, "run", epochs);
    o.lr = lr;
    return o;
  }
  std::shared_ptr<Model> model() { return testing::small_resnet(); }
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

// A training state edited or damaged between runs is refused at --resume,
// naming the file and the field, before the model or optimizer is touched.
TEST_F(TrainHardening, DamagedResumeStateIsRefused) {
  auto d = quadrant_data(16, 5);
  auto m = model();
  train(*m, d, nullptr, options(1, 1e-3), false);
  const std::string state = (dir_ / "run" / "state.safetensors").string();
  const SafetensorsFile good = load_safetensors(state);
  // Writes `state` from the good one with edits, resumes, returns the error.
  auto resume_error = [&](const std::function<void(nlohmann::json&)>& edit_meta,
                          const std::function<void(std::map<std::string, Tensor>&)>& edit_tensors) {
    nlohmann::json meta = nlohmann::json::parse(good.metadata.at("ecgcnn_train_state"));
    edit_meta(meta);
    std::map<std::string, Tensor> t;
    for (auto& [n, v] : good.tensors) t[n] = v.clone();
    edit_tensors(t);
    std::vector<std::pair<std::string, Tensor>> list(t.begin(), t.end());
    save_safetensors(state, list, {{"ecgcnn_train_state", meta.dump()}});
    auto fresh = model();
    try {
      train(*fresh, d, nullptr, options(2, 1e-3), true);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    ADD_FAILURE() << "resumed";
    return std::string();
  };
  auto no_tensor_edit = [](std::map<std::string, Tensor>&) {};
  auto expect = [&](const std::string& msg, const std::string& field) {
    EXPECT_NE(msg.find(state), std::string::npos) << msg;
    EXPECT_NE(msg.find(field), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  };
  expect(resume_error([](nlohmann::json&) {},
                      [](std::map<std::string, Tensor>& t) { t.erase("optim.v.3"); }),
         "optim.v.3");
  expect(resume_error(
             [](nlohmann::json&) {},
             [](std::map<std::string, Tensor>& t) { t.at("optim.m.0").data<float>()[0] = NAN; }),
         "optim.m.0");
  expect(resume_error([](nlohmann::json&) {},
                      [](std::map<std::string, Tensor>& t) {
                        t.at("model.stem_bn.running_var").data<float>()[0] = -1;
                      }),
         "stem_bn.running_var");
  expect(resume_error([](nlohmann::json& j) { j["optimizer"] = "sgd"; }, no_tensor_edit),
         "'optimizer'");
  expect(resume_error([](nlohmann::json& j) { j["epoch"] = -1; }, no_tensor_edit), "'epoch'");
  expect(resume_error([](nlohmann::json& j) { j["epoch"] = 1e12; }, no_tensor_edit), "'epoch'");
  expect(resume_error([](nlohmann::json& j) { j["next_batch"] = 1000000; }, no_tensor_edit),
         "'next_batch'");
  expect(resume_error([](nlohmann::json& j) { j["correct"] = 1000; }, no_tensor_edit), "'correct'");
  expect(resume_error([](nlohmann::json& j) { j["history"] = nlohmann::json::array(); },
                      no_tensor_edit),
         "'history'");
  expect(resume_error([](nlohmann::json& j) { j["plateau"]["scale"] = 0; }, no_tensor_edit),
         "'scale'");
  expect(resume_error([](nlohmann::json& j) { j["optimizer_steps"] = "two"; }, no_tensor_edit),
         "'optimizer_steps'");
  expect(resume_error([](nlohmann::json& j) { j["history"][0]["epoch"] = 3e47; }, no_tensor_edit),
         "'history.epoch'");
  // The unedited state resumes.
  std::vector<std::pair<std::string, Tensor>> list(good.tensors.begin(), good.tensors.end());
  save_safetensors(state, list, good.metadata);
  auto fresh = model();
  TrainResult r = train(*fresh, d, nullptr, options(2, 1e-3), true);
  EXPECT_EQ(r.history.size(), 2u);
}

}  // namespace
}  // namespace ecg
