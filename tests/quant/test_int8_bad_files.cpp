// INT8 model files whose metadata disagrees with their graph (issue 17): the
// class names against the dense layer's outputs, image_size against the input
// tensor, the model name, the graph's order. Each was a heap overflow or a
// crash in the runner; each is now refused at load (and at save) with one
// message naming the file and the field.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>

#include "quant/quantizer.h"
#include "tests/bad_file_checks.h"
#include "tests/quant/random_resnet.h"

namespace ecg {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

class BadInt8 : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto m = testing::random_resnet();
    std::vector<Tensor> calib = {Tensor::uniform({8, 3, 32, 32}, 7, 0.0, 1.0)};
    quant::QuantizeOptions o;
    o.classes = {"a", "b", "c", "d"};
    model_ = new quant::Int8Model(quant::quantize_model(*m, calib, o));
  }
  static void TearDownTestSuite() { delete model_; }
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ecg_badint8_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    quant::save_int8_model(path("good.int8"), *model_);
    std::ifstream in(path("good.int8"), std::ios::binary);
    bytes_.assign((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // The good file with its JSON header edited (blob offsets are relative to
  // the end of the header, so they stay valid).
  std::string with_header(const std::string& name, const std::function<void(json&)>& edit) {
    uint32_t hl;
    std::memcpy(&hl, bytes_.data() + 12, 4);
    json h = json::parse(bytes_.substr(16, hl));
    edit(h);
    std::string hs = h.dump();
    while (hs.size() % 16) hs.push_back(' ');
    const uint32_t nl = static_cast<uint32_t>(hs.size());
    std::string out = bytes_.substr(0, 12);
    out.append(reinterpret_cast<const char*>(&nl), 4);
    out += hs + bytes_.substr(16 + hl);
    std::ofstream(path(name), std::ios::binary) << out;
    return path(name);
  }

  static quant::Int8Model* model_;
  fs::path dir_;
  std::string bytes_;
};
quant::Int8Model* BadInt8::model_ = nullptr;

std::string load_error(const std::string& p) {
  return testing::load_error_of([](const std::string& f) { quant::load_int8_model(f); }, p);
}

TEST_F(BadInt8, UnchangedHeaderLoads) {
  quant::Int8Model m = quant::load_int8_model(with_header("same.int8", [](json&) {}));
  EXPECT_EQ(m.classes.size(), 4u);
}

TEST_F(BadInt8, ClassNamesMustMatchTheDenseOutputs) {
  EXPECT_NAMES(load_error(with_header("short.int8",
                                      [](json& h) {
                                        h["classes"] = {"a", "b"};
                                      })),
               "short.int8", "'classes'");
  EXPECT_NAMES(load_error(with_header("long.int8",
                                      [](json& h) {
                                        h["classes"] = {"a", "b", "c", "d", "e"};
                                      })),
               "long.int8", "'classes'");
  EXPECT_NAMES(load_error(with_header("none.int8", [](json& h) { h["classes"] = json::array(); })),
               "none.int8", "'classes'");
  EXPECT_NAMES(load_error(with_header("blank.int8",
                                      [](json& h) {
                                        h["classes"] = {"a", "b", "", "d"};
                                      })),
               "blank.int8", "'classes'");
}

TEST_F(BadInt8, ImageSizeMustMatchTheInputTensor) {
  for (int size : {64, 16, 0, -1})
    EXPECT_NAMES(load_error(with_header("size.int8", [&](json& h) { h["image_size"] = size; })),
                 "size.int8", "'image_size'");
  EXPECT_NAMES(
      load_error(with_header("pre.int8", [](json& h) { h["preprocessing"]["image_size"] = 224; })),
      "pre.int8", "'preprocessing.image_size'");
}

// Numbers that do not fit the field's type (a float-to-int cast of 1e47 is
// undefined behaviour) are refused by name.
TEST_F(BadInt8, NumbersOutOfTheirTypesRangeAreRefused) {
  EXPECT_NAMES(load_error(with_header("big.int8", [](json& h) { h["image_size"] = 1e47; })),
               "big.int8", "'image_size'");
  EXPECT_NAMES(
      load_error(with_header("half.int8", [](json& h) { h["tensors"][1]["zero_point"] = 2.5; })),
      "half.int8", "'zero_point'");
  EXPECT_NAMES(
      load_error(with_header("scale.int8", [](json& h) { h["tensors"][1]["scale"] = 1e300; })),
      "scale.int8", "'scale'");
  EXPECT_NAMES(
      load_error(with_header("in.int8", [](json& h) { h["nodes"][1]["inputs"] = {4294967296.0}; })),
      "in.int8", "'inputs'");
}

TEST_F(BadInt8, ModelNameMustBeKnown) {
  EXPECT_NAMES(load_error(with_header("vgg.int8", [](json& h) { h["model"] = "vgg16"; })),
               "vgg.int8", "'model'");
}

TEST_F(BadInt8, GraphMustReadOnlyWhatWasWritten) {
  // The first node reading the last tensor: nothing has written it yet.
  EXPECT_NAMES(load_error(with_header("order.int8",
                                      [](json& h) {
                                        const int last = static_cast<int>(h["tensors"].size()) - 1;
                                        h["nodes"][0]["inputs"] = {last};
                                      })),
               "order.int8", "'inputs'");
  // A batch dimension the runner would multiply again.
  EXPECT_NAMES(
      load_error(with_header("batch.int8", [](json& h) { h["tensors"][0]["nhwc"][0] = 4; })),
      "batch.int8", "'nhwc'");
}

TEST_F(BadInt8, BlobsMustNotOverlapOrLeaveTrailingBytes) {
  // The stem's bias pointed at its weight scales (both K * 4 bytes).
  const std::string e = load_error(with_header(
      "alias.int8", [](json& h) { h["nodes"][0]["bias"] = h["nodes"][0]["weight_scale"]; }));
  EXPECT_NAMES(e, "alias.int8", "overlaps");
  std::ofstream(path("tail.int8"), std::ios::binary) << bytes_ << std::string(16, '\0');
  EXPECT_NAMES(load_error(path("tail.int8")), "tail.int8", "trailing bytes");
}

TEST_F(BadInt8, SaveRefusesAMismatchedModelAndWritesNothing) {
  quant::Int8Model m = *model_;
  m.classes.pop_back();
  try {
    quant::save_int8_model(path("bad.int8"), m);
    FAIL() << "saved";
  } catch (const Error& e) {
    EXPECT_NAMES(std::string(e.what()), "bad.int8", "'classes'");
  }
  EXPECT_FALSE(fs::exists(path("bad.int8")));
  m = *model_;
  m.image_size = 64;
  EXPECT_THROW(quant::save_int8_model(path("bad.int8"), m), Error);
  EXPECT_FALSE(fs::exists(path("bad.int8")));
}

}  // namespace
}  // namespace ecg
