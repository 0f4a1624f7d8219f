// `ecgcnn eval --checkpoint F --data DIR`: accuracy, per-class precision,
// recall, F1, macro and weighted F1, confusion matrix; --json for machines.
// The test split is evaluated unless --split says otherwise.
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "cli_common.h"
#include "data_sources.h"
#include "models/checkpoint.h"
#include "models/metrics.h"
#include "models/report.h"
#include "models/safetensors.h"

namespace {

struct EvalCli {
  std::string checkpoint, data, split = "test", model_file;
  bool json = false;
};

void run_eval(const EvalCli& o) {
  using namespace ecg;
  ECG_CHECK(!o.checkpoint.empty(), "eval: --checkpoint FILE is required");
  ECG_CHECK(!o.data.empty(), "eval: --data DIR is required");
  LoadedCheckpoint ck = load_checkpoint(o.checkpoint);
  cli::DataConfig cfg = cli::DataConfig::for_model(ck.model->config().name);
  cfg.root = o.data;
  cfg.image_size = ck.model->config().image_size;
  cfg.augment = false;
  cfg.progress = !o.json;
  if (ck.info.contains("data") && ck.info["data"].contains("seed"))
    cfg.seed = ck.info["data"]["seed"].get<uint64_t>();
  if (ck.info.contains("data") && ck.info["data"].contains("val_fraction"))
    cfg.val_fraction = ck.info["data"]["val_fraction"].get<double>();
  cli::DataSplits splits = cli::open_splits(cfg);
  BatchSource* src = o.split == "test"    ? splits.test.get()
                     : o.split == "val"   ? splits.val.get()
                     : o.split == "train" ? splits.train.get()
                                          : nullptr;
  ECG_CHECK(o.split == "test" || o.split == "val" || o.split == "train",
            "--split: expected test, val or train, got '", o.split, "'");
  ECG_CHECK(src && src->num_samples() > 0, "eval: the ", o.split, " split of '", o.data,
            "' is empty");
  std::vector<std::string> classes = ck.info["classes"].get<std::vector<std::string>>();
  EvalResult r = evaluate(*ck.model, *src, !o.json, "eval " + o.split);
  ClassificationReport rep = classification_report(r.truth, r.predicted, classes);
  nlohmann::json j = rep.json();
  j["loss"] = r.loss;
  j["split"] = o.split;
  j["checkpoint"] = o.checkpoint;
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    std::printf("%s on the %s split of %s (%lld images), loss %.4f\n\n%s",
                ck.model->config().name.c_str(), o.split.c_str(), o.data.c_str(),
                static_cast<long long>(rep.total), r.loss, rep.text().c_str());
  }
  // Add the result to the run's report when the checkpoint sits in a run folder.
  namespace fs = std::filesystem;
  fs::path hist = fs::path(o.checkpoint).parent_path() / "history.json";
  if (fs::exists(hist)) {
    try {
      std::ifstream in(hist);
      nlohmann::json run = nlohmann::json::parse(in);
      run["test"] = j;
      run["test_split"] = o.split + " split";
      write_file_atomic(hist.string(), run.dump(2));
      write_file_atomic((fs::path(o.checkpoint).parent_path() / "report.html").string(),
                        report::training_report(run));
      if (!o.json)
        std::printf("\nreport updated: %s\n",
                    (fs::path(o.checkpoint).parent_path() / "report.html").c_str());
    } catch (const std::exception& e) {
      std::fprintf(stderr, "warning: could not update %s: %s\n", hist.c_str(), e.what());
    }
  }
}

}  // namespace

void ecg_cli_eval(CLI::App& app) {
  static EvalCli o;
  auto* sub = app.add_subcommand("eval", "evaluate a checkpoint on a dataset split");
  ecg::cli::add_runtime_flags(sub);
  sub->add_option("--checkpoint", o.checkpoint, "float checkpoint (.safetensors)");
  sub->add_option("--data", o.data, "dataset folder");
  sub->add_option("--split", o.split, "test (default), val or train");
  sub->add_flag(
      "--json", o.json,
      "print JSON (accuracy, macro_f1, weighted_f1, per_class, confusion_matrix, classes)");
  sub->callback([] { run_eval(o); });
}
