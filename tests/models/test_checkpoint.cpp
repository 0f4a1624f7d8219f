// Checkpoints: round trip, PyTorch-style names, atomic writes, and clear
// errors for truncated or malformed files.
#include <gtest/gtest.h>

#include <zlib.h>
#include <filesystem>
#include <fstream>

#include "models/checkpoint.h"
#include "models/safetensors.h"
#include "tests/models/scratch_dir_test.h"
#include "tests/source_dir.h"

namespace ecg {
namespace {

namespace fs = std::filesystem;

class CheckpointTest : public testing::ScratchDirTest {
 protected:
  CheckpointTest() : ScratchDirTest("ckpt") {}
  // A fresh 32 px model saved to `name` with no extra info, read back as tensors.
  SafetensorsFile saved_fresh_model(const std::string& name) {
    ModelConfig c;
    c.image_size = 32;
    auto m = build_model(c);
    save_checkpoint(path(name), *m, {});
    return load_safetensors(path(name));
  }
};

std::string expect_error(const std::string& p) {
  return testing::checkpoint_load_error(p);
}

TEST_F(CheckpointTest, RoundTripRestoresEveryTensor) {
  ModelConfig c;
  c.image_size = 32;
  auto m = build_model(c);
  m->named_buffers()[0].second->fill_(0.25);
  save_checkpoint(path("m.safetensors"), *m, {{"note", "test"}});
  LoadedCheckpoint l = load_checkpoint(path("m.safetensors"));
  EXPECT_EQ(l.info["note"], "test");
  EXPECT_EQ(l.info["model"], "resnet11");
  auto a = m->named_parameters(), b = l.model->named_parameters();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].first, b[i].first);
    EXPECT_EQ(a[i].second->to_vector_f32(), b[i].second->to_vector_f32()) << a[i].first;
  }
  EXPECT_EQ(l.model->named_buffers()[0].second->at({0}), 0.25);
  EXPECT_FALSE(fs::exists(path("m.safetensors.tmp")));
}

TEST_F(CheckpointTest, NamesFollowPyTorchLayouts) {
  SafetensorsFile f = saved_fresh_model("m.safetensors");
  EXPECT_EQ(f.tensors.at("stem_conv.weight").shape(), (Shape{16, 3, 3, 3}));
  EXPECT_EQ(f.tensors.at("stage0.block0.bn1.running_var").shape(), (Shape{16}));
  EXPECT_EQ(f.tensors.at("fc.weight").shape(), (Shape{4, 256}));
}

TEST_F(CheckpointTest, TruncatedAndMalformedFilesAreClearErrors) {
  ModelConfig c;
  c.image_size = 32;
  auto m = build_model(c);
  save_checkpoint(path("good.safetensors"), *m, {});
  std::ifstream in(path("good.safetensors"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  auto write = [&](const std::string& name, const std::string& content) {
    std::ofstream(path(name), std::ios::binary) << content;
    return path(name);
  };
  std::string e = expect_error(write("trunc.safetensors", bytes.substr(0, bytes.size() / 2)));
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  EXPECT_NE(e.find("trunc.safetensors"), std::string::npos) << e;
  e = expect_error(write("empty.safetensors", ""));
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  std::string huge = bytes;
  huge[5] = '\x7f';  // header length claims far more bytes than the file has
  e = expect_error(write("huge.safetensors", huge));
  EXPECT_NE(e.find("malformed"), std::string::npos) << e;
  std::string badjson = bytes;
  badjson[8] = '#';
  e = expect_error(write("json.safetensors", badjson));
  EXPECT_NE(e.find("JSON"), std::string::npos) << e;
  e = expect_error(path("missing.safetensors"));
  EXPECT_NE(e.find("cannot open"), std::string::npos) << e;
}

// A ResNet-11 checkpoint written by the Python `safetensors` package (its
// header order, padding and I64 num_batches_tracked tensors), made by
// tests/models/make_python_safetensors.py from an `ecgcnn train` checkpoint
// and committed gzip'd. Every element follows a pattern recomputed here.
TEST_F(CheckpointTest, LoadsAFileWrittenByThePythonSafetensorsPackage) {
  const std::string gz =
      std::string(ECG_SOURCE_DIR) + "/tests/models/data/resnet11_python.safetensors.gz";
  gzFile in = gzopen(gz.c_str(), "rb");
  ASSERT_NE(in, nullptr) << gz;
  std::string bytes;
  char buf[1 << 16];
  int n;
  while ((n = gzread(in, buf, sizeof buf)) > 0) bytes.append(buf, n);
  gzclose(in);
  ASSERT_GT(bytes.size(), 2000000u);
  const std::string file = path("python.safetensors");
  std::ofstream(file, std::ios::binary).write(bytes.data(), bytes.size());

  LoadedCheckpoint ck = load_checkpoint(file);
  EXPECT_EQ(ck.info["model"], "resnet11");
  EXPECT_EQ(ck.info["image_size"], 128);
  EXPECT_EQ(ck.info["classes"][2], "MI");
  int checked = 0;
  auto state = ck.model->named_parameters();
  for (auto& b : ck.model->named_buffers()) state.push_back(b);
  for (auto& [name, t] : state) {
    const bool var = name.size() > 11 && name.compare(name.size() - 11, 11, "running_var") == 0;
    Tensor c = t->contiguous();
    const float* p = c.data<float>();
    for (int64_t k = 0; k < c.numel(); ++k) {
      const float want = static_cast<float>(var ? (k % 13) + 1 : (k % 13) - 6) / 64.0f;
      ASSERT_EQ(p[k], want) << name << " element " << k;
    }
    ++checked;
  }
  EXPECT_EQ(checked, 50);  // 57 in the file, less 7 num_batches_tracked
}

TEST_F(CheckpointTest, ShapeMismatchNamesTheTensor) {
  SafetensorsFile f = saved_fresh_model("m.safetensors");
  f.tensors["fc.weight"] = Tensor::zeros({4, 7});
  ModelConfig c;
  c.image_size = 32;
  auto other = build_model(c);
  try {
    load_state(*other, f.tensors, "x.safetensors");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("fc.weight"), std::string::npos);
  }
}

}  // namespace
}  // namespace ecg
