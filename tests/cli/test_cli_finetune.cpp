// Fine-tuning and whole-folder evaluation from the command line (issue 21):
// `train --init-from --freeze --freeze-bn`, its errors, and `eval --split all`,
// on a tiny synthetic set made with `ecgcnn synth`.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_run.h"
#include "data/image_io.h"
#include "models/checkpoint.h"
#include "models/safetensors.h"
#include "tests/source_dir.h"

namespace ecg {
namespace {

namespace fs = std::filesystem;
using cli_test::CliRun;
using cli_test::expect_one_line_error;
using cli_test::lines;
using cli_test::run;

class CliFinetune : public ::testing::Test {
 protected:
  // 24 pages (train 20 / test 4) and a 1-epoch ResNet-11 at 32 px to start from.
  static void SetUpTestSuite() {
    dir_ = new fs::path(cli_test::fresh_dir("ecg_cli_finetune_"));
    const std::string d = dir_->string();
    CliRun r = cli_test::synth(d + "/data", 6);
    ASSERT_EQ(r.code, 0) << r.err;
    r = run("train --data " + d + "/data --image-size 32 --epochs 1 --batch 4 --precise-bn 2 " +
            "--out " + d + "/pre");
    ASSERT_EQ(r.code, 0) << r.err;
  }
  static void TearDownTestSuite() {
    fs::remove_all(*dir_);
    delete dir_;
  }
  static std::string path(const std::string& rel) { return (*dir_ / rel).string(); }
  static fs::path* dir_;
};
fs::path* CliFinetune::dir_ = nullptr;

// Only the head trains: every other tensor of the result, parameters and BN
// statistics alike, has the checkpoint's bytes; the fine-tuning data is a
// plain folder of class folders (no train/ and test/).
TEST_F(CliFinetune, InitFromWithFrozenBodyKeepsItsBytes) {
  const std::string ck = path("pre/best.safetensors");
  CliRun r = run("train --data " + path("data/train") + " --init-from " + ck +
                 " --freeze stem,stage0,stage1,stage2 --freeze-bn --lr 1e-4 --schedule constant" +
                 " --epochs 2 --batch 4 --out " + path("ft"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("initialised from " + ck), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("re-initialised"), std::string::npos) << r.err;
  const SafetensorsFile before = load_safetensors(ck);
  const SafetensorsFile after = load_safetensors(path("ft/best.safetensors"));
  ASSERT_EQ(before.tensors.size(), after.tensors.size());
  int same = 0;
  for (const auto& [name, want] : before.tensors) {
    const Tensor& got = after.tensors.at(name);
    ASSERT_EQ(got.nbytes(), want.nbytes()) << name;
    const bool equal = std::memcmp(got.raw_data(), want.raw_data(), want.nbytes()) == 0;
    if (name.rfind("fc.", 0) == 0) continue;  // the head trained (or stayed, on 2 epochs)
    EXPECT_TRUE(equal) << name << " changed although frozen";
    same += equal;
  }
  EXPECT_GT(same, 40);
  // The run records where it started, for the report and a resumed run.
  const auto info = nlohmann::json::parse(after.metadata.at("ecgcnn"));
  EXPECT_EQ(info.at("init_from").at("checkpoint"), ck);
  EXPECT_EQ(info.at("init_from").at("freeze_bn"), true);
}

TEST_F(CliFinetune, OtherClassesReinitialiseTheHeadInOneLine) {
  ModelConfig c;
  c.image_size = 32;
  c.classes = 3;
  auto three = build_model(c);
  const std::string ck = path("three.safetensors");
  save_checkpoint(ck, *three, {{"classes", {"sinus", "af", "block"}}});
  CliRun r = run("train --data " + path("data") + " --init-from " + ck +
                 " --epochs 1 --batch 4 --out " + path("ft3"));
  ASSERT_EQ(r.code, 0) << r.err;
  int hits = 0;
  size_t at = 0;
  while ((at = r.err.find("the head (fc) is re-initialised", at)) != std::string::npos)
    ++hits, ++at;
  EXPECT_EQ(hits, 1) << r.err;
  EXPECT_NE(r.err.find("sinus, af, block"), std::string::npos) << r.err;
}

TEST_F(CliFinetune, MismatchedArchitectureOrSizeIsOneLineExit1) {
  const std::string ck = path("pre/best.safetensors");
  for (const char* args : {"--image-size 64", "--model resnet20"}) {
    CliRun r = run("train --data " + path("data") + " --init-from " + ck + " " + args +
                   " --epochs 1 --out " + path("bad"));
    SCOPED_TRACE(args);
    expect_one_line_error(r, 1, ck);
    EXPECT_NE(r.err.find("resnet11 at 32 px"), std::string::npos) << r.err;
  }
  CliRun r = run("train --data " + path("data") + " --init-from " + path("nope.safetensors") +
                 " --out " + path("bad"));
  expect_one_line_error(r, 1, "nope.safetensors");
}

TEST_F(CliFinetune, InitFromWithResumeIsAUsageError) {
  CliRun r = run("train --data " + path("data") + " --init-from " + path("pre/best.safetensors") +
                 " --resume " + path("pre"));
  expect_one_line_error(r, 2, "--init-from");
}

TEST_F(CliFinetune, UnknownFreezePrefixNamesTheLayers) {
  CliRun r = run("train --data " + path("data") + " --init-from " + path("pre/best.safetensors") +
                 " --freeze stem,stagex --epochs 1 --out " + path("bad"));
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("'stagex'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("stage0.block0"), std::string::npos) << r.err;
}

TEST_F(CliFinetune, HelpDocumentsTheFinetuningRecipe) {
  CliRun r = run("train --help");
  EXPECT_EQ(r.code, 0);
  for (const char* s : {"--init-from", "--freeze", "--freeze-bn", "--lr 1e-4"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
}

// eval on a plain folder of class folders counts every image; on a folder
// with train/ and test/ it keeps evaluating test unless --split all.
TEST_F(CliFinetune, EvalSplitAllCountsEveryImage) {
  const std::string ck = path("pre/best.safetensors");
  auto eval = [&](const std::string& args) {
    CliRun r =
        run("eval --checkpoint " + ck + " --json --report " + path("eval.html") + " " + args);
    EXPECT_EQ(r.code, 0) << r.err;
    return r.code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
  };
  nlohmann::json j = eval("--data " + path("data/train"));
  EXPECT_EQ(j.value("split", ""), "all");
  EXPECT_EQ(j.value("total", 0), 20);
  j = eval("--data " + path("data/train") + " --split test");
  EXPECT_EQ(j.value("total", 0), 4);  // the 20 % split a training run would hold out
  j = eval("--data " + path("data"));
  EXPECT_EQ(j.value("split", ""), "test");
  EXPECT_EQ(j.value("total", 0), 4);
  j = eval("--data " + path("data") + " --split all");
  EXPECT_EQ(j.value("total", 0), 24);
}

// `synth --reduce` (how tests/data/real-scans was made): every scan of a
// folder with train/<CLASS>/ keeps its name and class folder, at the asked
// width with its aspect ratio.
TEST(CliSynthReduce, CopiesEveryScanSmaller) {
  const std::string src = std::string(ECG_SOURCE_DIR) + "/tests/data/real-scans";
  const std::string out = cli_test::fresh_dir("ecg_cli_reduce_");
  CliRun r = run("synth --reduce " + src + " --out " + out + " --width 200 --quality 70");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("reduced 40 scans"), std::string::npos) << r.out;
  int count = 0;
  for (const auto& e : fs::recursive_directory_iterator(src + "/train")) {
    if (e.path().extension() != ".jpg") continue;
    const fs::path copy = fs::path(out) / fs::relative(e.path(), src);
    ASSERT_TRUE(fs::is_regular_file(copy)) << copy;
    const data::Image img = data::decode_image_file(copy.string());
    EXPECT_EQ(img.width, 200) << copy;
    EXPECT_EQ(img.height, 142) << copy;  // 200 * 786 / 1106 = 142.1
    ++count;
  }
  EXPECT_EQ(count, 40);
  fs::remove_all(out);
  expect_one_line_error(run("synth --reduce " + out + "/none --out " + out), 1, "none");
}

}  // namespace
}  // namespace ecg
