// Checkpoints whose metadata disagrees with their tensors, whose tensors hold
// values no model can use, or whose data offsets do not describe the file:
// each is refused before anything is used, with one message naming the file
// and the field (issue 17). Files are made from a good one in a temp folder.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>

#include "models/checkpoint.h"
#include "models/safetensors.h"
#include "tests/bad_file_checks.h"
#include "tests/models/scratch_dir_test.h"

namespace ecg {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class BadCheckpoint : public testing::ScratchDirTest {
 protected:
  BadCheckpoint() : ScratchDirTest("badck") {}
  void SetUp() override {
    ScratchDirTest::SetUp();
    ModelConfig c;
    c.image_size = 32;
    auto m = build_model(c);
    save_checkpoint(path("good.safetensors"), *m,
                    {{"data", {{"image_size", 32}}}, {"classes", {"a", "b", "c", "d"}}});
    good_ = load_safetensors(path("good.safetensors"));
  }

  // The good file with its metadata edited.
  std::string with_info(const std::string& name, const std::function<void(json&)>& edit) {
    json info = json::parse(good_.metadata.at("ecgcnn"));
    edit(info);
    return with_tensors(
        name, [](std::map<std::string, Tensor>&) {}, info.dump());
  }
  // The good file with its tensors edited.
  std::string with_tensors(const std::string& name,
                           const std::function<void(std::map<std::string, Tensor>&)>& edit,
                           const std::string& info = "") {
    std::map<std::string, Tensor> t;
    for (auto& [n, v] : good_.tensors) t[n] = v.clone();
    edit(t);
    std::vector<std::pair<std::string, Tensor>> list(t.begin(), t.end());
    save_safetensors(path(name), list,
                     {{"ecgcnn", info.empty() ? good_.metadata.at("ecgcnn") : info}});
    return path(name);
  }
  // The good file's bytes with its JSON header edited (and `tail` appended).
  std::string with_header(const std::string& name, const std::function<void(json&)>& edit,
                          const std::string& tail = "") {
    std::ifstream in(path("good.safetensors"), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    uint64_t hl = 0;
    for (int i = 0; i < 8; ++i)
      hl |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
    json h = json::parse(bytes.substr(8, hl));
    edit(h);
    std::string hs = h.dump();
    std::string out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((hs.size() >> (8 * i)) & 0xff));
    out += hs + bytes.substr(8 + hl) + tail;
    std::ofstream(path(name), std::ios::binary) << out;
    return path(name);
  }

  SafetensorsFile good_;
};

// The message of the load's error; a failure when it loads.
std::string load_error(const std::string& p) {
  return testing::checkpoint_load_error(p);
}

TEST_F(BadCheckpoint, GoodFileLoads) {
  LoadedCheckpoint ck = load_checkpoint(path("good.safetensors"));
  EXPECT_EQ(ck.info["classes"].size(), 4u);
}

TEST_F(BadCheckpoint, ClassNamesMustMatchTheOutputs) {
  EXPECT_NAMES(load_error(with_info("short.safetensors",
                                    [](json& j) {
                                      j["classes"] = {"a", "b", "c"};
                                    })),
               "short.safetensors", "'classes'");
  EXPECT_NAMES(load_error(with_info("long.safetensors",
                                    [](json& j) {
                                      j["classes"] = {"a", "b", "c", "d", "e"};
                                    })),
               "long.safetensors", "'classes'");
  EXPECT_NAMES(
      load_error(with_info("none.safetensors", [](json& j) { j["classes"] = json::array(); })),
      "none.safetensors", "'classes'");
  EXPECT_NAMES(load_error(with_info("blank.safetensors",
                                    [](json& j) {
                                      j["classes"] = {"a", "", "c", "d"};
                                    })),
               "blank.safetensors", "'classes'");
  EXPECT_NAMES(load_error(with_info("notlist.safetensors", [](json& j) { j["classes"] = 4; })),
               "notlist.safetensors", "'classes'");
  // num_classes disagreeing with the fc tensor names the tensor.
  EXPECT_NAMES(load_error(with_info("num.safetensors",
                                    [](json& j) {
                                      j["num_classes"] = 3;
                                      j["classes"] = {"a", "b", "c"};
                                    })),
               "num.safetensors", "fc.weight");
}

TEST_F(BadCheckpoint, ModelNameMustBeKnown) {
  EXPECT_NAMES(load_error(with_info("vgg.safetensors", [](json& j) { j["model"] = "vgg16"; })),
               "vgg.safetensors", "'model'");
  EXPECT_NAMES(load_error(with_info("nomodel.safetensors", [](json& j) { j.erase("model"); })),
               "nomodel.safetensors", "'model'");
  EXPECT_NAMES(load_error(with_info("other.safetensors", [](json& j) { j["model"] = "resnet20"; })),
               "other.safetensors", "lacks tensor");
}

TEST_F(BadCheckpoint, ImageSizeMustMatchTheTensors) {
  // A size whose tensor shapes still fit (ResNet's pooled head) is caught by
  // the recorded data settings; one that changes shapes by the tensor.
  EXPECT_NAMES(load_error(with_info("size40.safetensors", [](json& j) { j["image_size"] = 40; })),
               "size40.safetensors", "'image_size'");
  EXPECT_NAMES(load_error(with_info("size128.safetensors",
                                    [](json& j) {
                                      j["image_size"] = 128;
                                      j["data"]["image_size"] = 128;
                                    })),
               "size128.safetensors", "fc.weight");
  for (json bad : {json(-3), json(0), json(1 << 30), json("32"), json(32.5)})
    EXPECT_NAMES(load_error(with_info("size.safetensors",
                                      [&](json& j) {
                                        j["image_size"] = bad;
                                        j.erase("data");
                                      })),
                 "size.safetensors", "'image_size'");
  EXPECT_NAMES(load_error(with_info("tiny.safetensors",
                                    [](json& j) {
                                      j["image_size"] = 8;
                                      j.erase("data");
                                    })),
               "tiny.safetensors", "image_size");
}

TEST_F(BadCheckpoint, NonFiniteValuesAndNegativeVariancesAreRefused) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  auto set = [&](const char* tensor, float v) {
    return [=](std::map<std::string, Tensor>& t) {
      Tensor& x = t.at(tensor);
      x.data<float>()[x.numel() - 1] = v;
    };
  };
  EXPECT_NAMES(load_error(with_tensors("nan.safetensors", set("stem_conv.weight", nan))),
               "nan.safetensors", "'stem_conv.weight'");
  EXPECT_NAMES(load_error(with_tensors("inf.safetensors", set("fc.bias", -inf))), "inf.safetensors",
               "'fc.bias'");
  EXPECT_NAMES(load_error(with_tensors("mean.safetensors", set("stem_bn.running_mean", inf))),
               "mean.safetensors", "'stem_bn.running_mean'");
  EXPECT_NAMES(load_error(with_tensors("var.safetensors", set("stem_bn.running_var", nan))),
               "var.safetensors", "'stem_bn.running_var'");
  const std::string e =
      load_error(with_tensors("negvar.safetensors", set("stem_bn.running_var", -0.5f)));
  EXPECT_NAMES(e, "negvar.safetensors", "'stem_bn.running_var'");
  EXPECT_NE(e.find("variance"), std::string::npos) << e;
  // A zero variance (a channel that is always zero) is legitimate.
  load_checkpoint(with_tensors("zerovar.safetensors", set("stem_bn.running_var", 0.0f)));
}

TEST_F(BadCheckpoint, SaveRefusesANonFiniteModel) {
  ModelConfig c;
  c.image_size = 32;
  auto m = build_model(c);
  m->named_parameters()[0].second->fill_(std::numeric_limits<double>::infinity());
  try {
    save_checkpoint(path("diverged.safetensors"), *m, {});
    FAIL() << "saved a non-finite model";
  } catch (const Error& e) {
    EXPECT_NAMES(std::string(e.what()), "diverged.safetensors", "stem_conv.weight");
  }
  EXPECT_FALSE(fs::exists(path("diverged.safetensors")));
}

TEST_F(BadCheckpoint, RelabelledDtypeIsRefused) {
  // F32 bytes relabelled I32 (same byte count): the values would be garbage.
  std::string e = load_error(
      with_header("i32.safetensors", [](json& h) { h["stem_conv.weight"]["dtype"] = "I32"; }));
  EXPECT_NAMES(e, "i32.safetensors", "'stem_conv.weight'");
  EXPECT_NE(e.find("dtype"), std::string::npos) << e;
  // Relabelled with a different element size: the byte count no longer fits.
  EXPECT_NAMES(
      load_error(with_header("f64.safetensors", [](json& h) { h["fc.bias"]["dtype"] = "F64"; })),
      "f64.safetensors", "'fc.bias'");
}

TEST_F(BadCheckpoint, OffsetsMustTileTheDataExactly) {
  // fc.bias pointed at stem_conv.weight's bytes: two tensors sharing data.
  std::string e = load_error(with_header("overlap.safetensors", [](json& h) {
    const uint64_t n = h["fc.bias"]["data_offsets"][1].get<uint64_t>() -
                       h["fc.bias"]["data_offsets"][0].get<uint64_t>();
    const uint64_t b = h["stem_conv.weight"]["data_offsets"][0].get<uint64_t>();
    h["fc.bias"]["data_offsets"] = {b, b + n};
  }));
  EXPECT_NAMES(e, "overlap.safetensors", "data_offsets");
  EXPECT_NE(e.find("overlap"), std::string::npos) << e;
  e = load_error(with_header(
      "trailing.safetensors", [](json&) {}, std::string(64, '\0')));
  EXPECT_NAMES(e, "trailing.safetensors", "trailing bytes");
  // An empty tensor whose other dimensions would overflow its strides.
  e = load_error(with_header("strides.safetensors", [](json& h) {
    h["empty"] = {{"dtype", "F32"},
                  {"shape", {0, uint64_t(1) << 39, uint64_t(1) << 39}},
                  {"data_offsets", {0, 0}}};
  }));
  EXPECT_NAMES(e, "strides.safetensors", "too large");
}

// A writer killed between its write and its rename leaves <file>.tmp.<pid>.<n>
// behind; the next write of that file removes it, but not a live writer's.
TEST_F(BadCheckpoint, StaleTemporariesOfKilledWritersAreRemoved) {
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  ::waitpid(child, nullptr, 0);
  const std::string dead = path("m.safetensors.tmp." + std::to_string(child) + ".0");
  const std::string live = path("m.safetensors.tmp." + std::to_string(::getppid()) + ".3");
  std::ofstream(dead) << "partial";
  std::ofstream(live) << "in progress";
  ModelConfig c;
  c.image_size = 32;
  save_checkpoint(path("m.safetensors"), *build_model(c), {});
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(live));
  EXPECT_TRUE(fs::exists(path("m.safetensors")));
}

}  // namespace
}  // namespace ecg
