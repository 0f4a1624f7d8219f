// Fine-tuning (issue 21): --init-from copies a checkpoint's tensors exactly,
// re-initialises only the head when the classes differ, refuses another
// architecture or input size; frozen parameters and statistics do not move.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "models/checkpoint.h"
#include "quadrant_data.h"
#include "tests/models/scratch_dir_test.h"
#include "tests/train/train_test_util.h"
#include "train/finetune.h"
#include "train/trainer.h"

namespace ecg {
namespace {

namespace fs = std::filesystem;

using testing::quadrant_data;

// Every parameter and buffer by name, as raw bytes.
std::map<std::string, std::vector<char>> tensor_bytes(Model& m) {
  std::map<std::string, std::vector<char>> out;
  auto all = m.named_parameters();
  auto buffers = m.named_buffers();
  all.insert(all.end(), buffers.begin(), buffers.end());
  for (auto& [name, t] : all) {
    Tensor c = t->detach().contiguous();
    const char* p = static_cast<const char*>(c.raw_data());
    out[name].assign(p, p + c.nbytes());
  }
  return out;
}

class FinetuneTest : public testing::ScratchDirTest {
 protected:
  FinetuneTest() : ScratchDirTest("finetune") {}
  std::shared_ptr<Model> model(uint64_t seed, const std::string& name = "resnet11", int size = 32,
                               int classes = 4) {
    ModelConfig c;
    c.name = name;
    c.image_size = size;
    c.seed = seed;
    c.classes = classes;
    return build_model(c);
  }
  TrainOptions options(const std::string& sub, int epochs) {
    return testing::quiet_options(dir_, sub, epochs);
  }
  // A checkpoint whose BN statistics have moved away from their initial values.
  std::string trained_checkpoint(std::shared_ptr<Model>* out = nullptr) {
    auto m = model(1);
    auto d = quadrant_data(16, 3);
    train(*m, d, nullptr, options("pre", 1), false);
    const std::string path = (dir_ / "pre.safetensors").string();
    save_checkpoint(path, *m, {{"classes", default_class_names()}});
    if (out) *out = m;
    return path;
  }
};

TEST_F(FinetuneTest, InitFromLoadsExactlyTheCheckpointsTensors) {
  std::shared_ptr<Model> pre;
  const std::string path = trained_checkpoint(&pre);
  auto want = tensor_bytes(*pre);
  auto m = model(7);  // another seed: every tensor differs before loading
  InitFromResult r = init_from_checkpoint(*m, path, default_class_names());
  EXPECT_FALSE(r.head_reinitialised);
  EXPECT_TRUE(r.message.empty());
  auto got = tensor_bytes(*m);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_EQ(r.tensors_loaded, static_cast<int>(want.size()));
  for (auto& [name, bytes] : want) EXPECT_TRUE(got.at(name) == bytes) << name;
}

TEST_F(FinetuneTest, OtherClassesReinitialiseOnlyTheHead) {
  std::shared_ptr<Model> pre;
  const std::string path = trained_checkpoint(&pre);
  auto want = tensor_bytes(*pre);
  auto fresh = tensor_bytes(*model(7));
  auto m = model(7);
  const std::vector<std::string> classes = {"sinus", "af", "block", "other"};
  InitFromResult r = init_from_checkpoint(*m, path, classes);
  EXPECT_TRUE(r.head_reinitialised);
  EXPECT_EQ(r.head, "fc");
  EXPECT_NE(r.message.find("head (fc) is re-initialised"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("af"), std::string::npos) << r.message;
  for (auto& [name, bytes] : tensor_bytes(*m)) {
    const bool head = name.rfind("fc.", 0) == 0;
    EXPECT_TRUE(bytes == (head ? fresh.at(name) : want.at(name))) << name;
  }
}

TEST_F(FinetuneTest, AnotherClassCountKeepsTheBodyAndANewHead) {
  auto three = model(1, "resnet11", 32, 3);
  const std::string path = (dir_ / "three.safetensors").string();
  save_checkpoint(path, *three, {{"classes", {"a", "b", "c"}}});
  auto want = tensor_bytes(*three);
  auto m = model(7);
  InitFromResult r = init_from_checkpoint(*m, path, default_class_names());
  EXPECT_TRUE(r.head_reinitialised);
  EXPECT_NE(r.message.find("3 classes"), std::string::npos) << r.message;
  for (auto& [name, bytes] : tensor_bytes(*m)) {
    if (name.rfind("fc.", 0) == 0) continue;  // the head: fresh, and of another shape
    EXPECT_TRUE(bytes == want.at(name)) << name;
  }
  EXPECT_EQ(m->named_parameters().back().second->shape(), (Shape{4}));
}

TEST_F(FinetuneTest, AnotherArchitectureOrImageSizeIsOneErrorNamingFileAndMismatch) {
  const std::string path = trained_checkpoint();
  for (auto m : {model(1, "resnet20", 32), model(1, "resnet11", 64)}) {
    try {
      init_from_checkpoint(*m, path, default_class_names());
      FAIL() << "expected a mismatch error for " << m->config().name;
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(path), std::string::npos) << msg;
      EXPECT_NE(msg.find("resnet11 at 32 px"), std::string::npos) << msg;
      EXPECT_NE(msg.find(m->config().name + " at " + std::to_string(m->config().image_size)),
                std::string::npos)
          << msg;
      EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
    }
  }
}

// Frozen prefixes: parameters and their BN statistics byte-identical after
// training with AdamW (decoupled weight decay) and precise BN; the rest moves.
TEST_F(FinetuneTest, FrozenStagesAreByteIdenticalAfterTraining) {
  auto m = model(1);
  auto before = tensor_bytes(*m);
  auto d = quadrant_data(16, 5);
  TrainOptions o = options("frozen", 2);
  o.optimizer = "adamw";
  o.precise_bn_batches = 2;
  o.freeze = {"stem", "stage0"};
  train(*m, d, nullptr, o, false);
  int frozen = 0, moved = 0;
  for (auto& [name, bytes] : tensor_bytes(*m)) {
    if (matches_prefix(name, o.freeze)) {
      EXPECT_TRUE(bytes == before.at(name)) << name << " changed although frozen";
      ++frozen;
    } else {
      moved += bytes != before.at(name);
    }
  }
  EXPECT_GT(frozen, 10);
  EXPECT_GT(moved, 10);
  // The guard gives the parameters back their gradients after training.
  for (Tensor* p : m->parameters()) EXPECT_TRUE(p->requires_grad());
}

TEST_F(FinetuneTest, FreezeBnKeepsEveryRunningStatistic) {
  auto m = model(1);
  auto d = quadrant_data(16, 3);
  train(*m, d, nullptr, options("pre", 1), false);  // statistics away from 0 / 1
  auto before = tensor_bytes(*m);
  TrainOptions o = options("bn", 2);
  o.freeze_bn = true;
  o.precise_bn_batches = 2;  // would rewrite every statistic; --freeze-bn turns it off
  o.lr = 1e-4;
  train(*m, d, nullptr, o, false);
  int kept = 0;
  for (auto& [name, bytes] : tensor_bytes(*m)) {
    const bool stat = name.find("running_") != std::string::npos;
    if (stat) {
      EXPECT_TRUE(bytes == before.at(name)) << name;
      ++kept;
    }
  }
  EXPECT_GT(kept, 10);
  EXPECT_TRUE(tensor_bytes(*m).at("stem_bn.weight") != before.at("stem_bn.weight"))
      << "gamma should still train under --freeze-bn";
}

// The optimiser state holds only the trainable parameters; a resumed frozen
// run must map it back to the same ones.
TEST_F(FinetuneTest, ResumedFrozenRunEqualsUninterrupted) {
  auto run = [&](const std::string& sub, int epochs, bool resume) {
    auto m = model(1);
    auto d = quadrant_data(16, 5);
    TrainOptions o = options(sub, epochs);
    o.freeze = {"stem", "stage1"};
    o.freeze_bn = true;
    TrainResult r = train(*m, d, nullptr, o, resume);
    return std::make_pair(r, tensor_bytes(*m));
  };
  auto full = run("full", 2, false);
  run("part", 1, false);
  auto resumed = run("part", 2, true);
  ASSERT_EQ(resumed.first.history.size(), 2u);
  for (size_t e = 0; e < 2; ++e)
    EXPECT_EQ(resumed.first.history[e].train_loss, full.first.history[e].train_loss) << e;
  for (auto& [name, bytes] : full.second) EXPECT_TRUE(resumed.second.at(name) == bytes) << name;
}

TEST_F(FinetuneTest, UnknownOrAllPrefixesAreErrors) {
  auto m = model(1);
  auto d = quadrant_data(8, 3);
  TrainOptions o = options("bad", 1);
  o.freeze = {"stem", "stagex"};
  try {
    train(*m, d, nullptr, o, false);
    FAIL() << "expected an unknown-prefix error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'stagex'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("stage0.block0"), std::string::npos) << msg;
  }
  o.freeze = {"stem", "stage", "fc"};
  EXPECT_THROW(train(*m, d, nullptr, o, false), Error);
  for (Tensor* p : m->parameters()) EXPECT_TRUE(p->requires_grad());
}

}  // namespace
}  // namespace ecg
