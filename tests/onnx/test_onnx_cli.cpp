// The CLI with ONNX files: `ecgcnn export`, and predict / summary / bench /
// eval taking --checkpoint M.onnx exactly as they take a checkpoint; bad
// .onnx files end in one line and exit 1.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "data/npy.h"
#include "models/checkpoint.h"
#include "quant/int8_model.h"
#include "tests/cli/cli_run.h"
#include "tests/onnx/onnx_graph_writer.h"

namespace ecg {
namespace {

using cli_test::CliRun;
using cli_test::run;

class OnnxCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = cli_test::fresh_dir("ecg_onnx_cli_");
    std::filesystem::create_directories(dir_);
    ModelConfig cfg;
    cfg.name = "resnet11";
    cfg.image_size = 32;
    auto model = build_model(cfg);
    uint64_t seed = 50;
    for (auto& kv : model->named_buffers()) {
      const bool var = kv.first.find("running_var") != std::string::npos;
      *kv.second = Tensor::uniform(kv.second->shape(), seed++, var ? 0.5 : -0.3, var ? 1.5 : 0.3);
    }
    save_checkpoint(ck(), *model, nlohmann::json::object());
    data::write_npy(npy(), Tensor::uniform({3, 3, 32, 32}, 4, 0.0, 1.0));
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string ck() const { return dir_ + "/r11.safetensors"; }
  std::string onnx() const { return dir_ + "/r11.onnx"; }
  std::string npy() const { return dir_ + "/x.npy"; }
  std::string dir_;
};

std::vector<double> all_logits(const std::string& json_out) {
  std::vector<double> out;
  for (const auto& r : nlohmann::json::parse(json_out))
    for (double v : r["logits"]) out.push_back(v);
  return out;
}

TEST_F(OnnxCli, ExportThenPredictSummaryAndBenchTakeTheOnnxFile) {
  CliRun r = run("export --checkpoint " + ck() + " --out " + onnx());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("opset 13"), std::string::npos) << r.out;
  CliRun a = run("predict --checkpoint " + ck() + " --json " + npy());
  CliRun b = run("predict --checkpoint " + onnx() + " --json " + npy());
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  const std::vector<double> la = all_logits(a.out), lb = all_logits(b.out);
  ASSERT_EQ(la.size(), 12u);
  ASSERT_EQ(lb.size(), la.size());
  for (size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(la[i], lb[i], 1e-6 * std::fabs(la[i]) + 1e-7);
  EXPECT_EQ(nlohmann::json::parse(a.out)[0]["class"], nlohmann::json::parse(b.out)[0]["class"]);

  CliRun s1 = run("summary --model resnet11 --image-size 32");
  CliRun s2 = run("summary --checkpoint " + onnx());
  ASSERT_EQ(s2.code, 0) << s2.err;
  const auto params = [](const std::string& s) {
    const size_t at = s.find("trainable parameters:");
    return at == std::string::npos ? std::string("?") : s.substr(at, s.find('\n', at) - at);
  };
  EXPECT_EQ(params(s1.out), params(s2.out)) << s2.out;
  EXPECT_NE(s2.out.find("Conv"), std::string::npos) << s2.out;

  CliRun bench = run("bench --checkpoint " + onnx() + " --batch 2 --steps 1 --warmup 0 --json");
  ASSERT_EQ(bench.code, 0) << bench.err;
  const nlohmann::json j = nlohmann::json::parse(bench.out);
  EXPECT_EQ(j["image_size"], 32);
  EXPECT_EQ(j["model"], "resnet11");
}

TEST_F(OnnxCli, EvalTakesTheOnnxFile) {
  ASSERT_EQ(run("export --checkpoint " + ck() + " --out " + onnx()).code, 0);
  ASSERT_EQ(cli_test::synth(dir_ + "/data", 6).code, 0);
  CliRun a = run("eval --checkpoint " + ck() + " --data " + dir_ + "/data --split all --json");
  CliRun b = run("eval --checkpoint " + onnx() + " --data " + dir_ + "/data --split all --json");
  ASSERT_EQ(a.code, 0) << a.err;
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_EQ(nlohmann::json::parse(a.out)["accuracy"], nlohmann::json::parse(b.out)["accuracy"]);
}

TEST_F(OnnxCli, QuantizeAnImportedGraphThenBenchTheInt8File) {
  const std::string graph = dir_ + "/r18.onnx", int8 = dir_ + "/r18.int8";
  testing::resnet18_graph(64).write(graph);
  ASSERT_EQ(cli_test::synth(dir_ + "/data", 6).code, 0);
  CliRun r = run("quantize --checkpoint " + graph + " --calib " + dir_ + "/data --images 8 " +
                 "--no-sensitivity --no-stability --mean 0.485,0.456,0.406 " +
                 "--std 0.229,0.224,0.225 --out " + int8);
  ASSERT_EQ(r.code, 0) << r.err;
  const quant::Int8Model q = quant::load_int8_model(int8);
  EXPECT_EQ(q.model_name, "onnx:resnet18");
  EXPECT_EQ(q.preprocessing["mean"].size(), 3u);
  // The image size comes from the file (no --image-size, no --model).
  r = run("bench --mode int8 --int8-model " + int8 + " --steps 1 --warmup 0 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["image_size"], 64);
  EXPECT_EQ(j["model"], "onnx:resnet18");
  // --mean on one of ecgcnn's own models is refused.
  r = run("quantize --checkpoint " + ck() + " --calib " + dir_ + "/data --mean 0,0,0 --std 1,1,1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--mean/--std"), std::string::npos) << r.err;
}

TEST_F(OnnxCli, BadOnnxFilesAreOneLineExit1) {
  ASSERT_EQ(run("export --checkpoint " + ck() + " --out " + onnx()).code, 0);
  const std::string cut = dir_ + "/cut.onnx";
  std::filesystem::copy_file(onnx(), cut);
  std::filesystem::resize_file(cut, std::filesystem::file_size(onnx()) / 3);
  for (const std::string& cmd : {"predict --checkpoint " + cut + " " + npy(),
                                 "summary --checkpoint " + cut, "bench --checkpoint " + cut}) {
    CliRun r = run(cmd);
    EXPECT_EQ(r.code, 1) << cmd;
    EXPECT_EQ(cli_test::lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("cut.onnx"), std::string::npos) << r.err;
  }
  CliRun r = run("export --checkpoint " + ck() + " --out " + dir_ + "/m.bin");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("must end in .onnx"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ecg
