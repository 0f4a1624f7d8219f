// `ecgcnn eval --checkpoint F --data DIR`: accuracy, per-class precision,
// recall, F1, macro and weighted F1, confusion matrix; --json for machines.
// A folder with train/ and test/ is evaluated on test, a plain folder of
// class folders on all its images, unless --split says otherwise.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include "cli_common.h"
#include "data_sources.h"
#include "models/checkpoint.h"
#include "models/safetensors.h"
#include "quant/int8_model.h"
#include "quant/int8_runner.h"
#include "train/metrics.h"
#include "train/report.h"

namespace {

struct EvalCli {
  std::string checkpoint, data, split, model_file;  // split: empty = by the folder's layout
  bool json = false;
  bool skip_bad = false;
};

// Int8 model evaluation: the same splits and metrics as the float path.
ecg::EvalResult evaluate_int8(const std::function<ecg::Tensor(const ecg::Tensor&)>& run,
                              ecg::BatchSource& data, bool progress) {
  using namespace ecg;
  EvalResult r;
  data.begin_epoch(0);
  Batch b;
  double loss_sum = 0;
  int64_t n = 0, correct = 0;
  for (int64_t i = 0; data.batch(i, b); ++i) {
    for (int64_t k = 0; k < b.images.size(0); ++k) {
      Tensor x = b.images.slice(0, k, k + 1).contiguous();
      Tensor logits = run(x);
      const int C = static_cast<int>(logits.size(1));
      Tensor p = softmax(logits);
      int best = 0;
      for (int c = 1; c < C; ++c)
        if (p.at({0, c}) > p.at({0, best})) best = c;
      r.truth.push_back(b.labels[k]);
      r.predicted.push_back(best);
      loss_sum -= std::log(std::max(1e-12, p.at({0, b.labels[k]})));
      correct += best == b.labels[k];
      ++n;
    }
    if (progress)
      std::fprintf(stderr, "\reval int8 %lld/%lld", static_cast<long long>(i + 1),
                   static_cast<long long>(data.num_batches()));
  }
  if (progress) std::fprintf(stderr, "\n");
  r.loss = n ? loss_sum / n : 0;
  r.accuracy = n ? static_cast<double>(correct) / n : 0;
  return r;
}

// --split: "all" evaluates every image once; without --split, a folder with
// its own test/ is evaluated on it, and a plain folder of class folders on all
// its images (its 20 % test split is a training-time notion the user never chose).
ecg::BatchSource* select_split(const std::string& requested, const ecg::cli::DataSplits& s,
                               const std::string& root, std::string* chosen) {
  const bool given_test = s.summary.value("given_test", false);
  *chosen = !requested.empty() ? requested : given_test ? "test" : "all";
  ECG_CHECK(*chosen == "all" || *chosen == "test" || *chosen == "val" || *chosen == "train",
            "--split: expected all, test, val or train, got '", *chosen, "'");
  ecg::BatchSource* src = *chosen == "all"    ? s.all.get()
                          : *chosen == "test" ? s.test.get()
                          : *chosen == "val"  ? s.val.get()
                                              : s.train.get();
  ECG_CHECK(src && src->num_samples() > 0, "eval: the ", *chosen, " split of '", root,
            "' is empty");
  return src;
}

void run_eval(EvalCli o) {
  using namespace ecg;
  ECG_CHECK(!o.checkpoint.empty() || !o.model_file.empty(),
            "eval: --checkpoint FILE or --model FILE is required");
  ECG_CHECK(!o.data.empty(), "eval: --data DIR is required");
  std::unique_ptr<quant::Int8Model> qmodel;
  LoadedCheckpoint ck;
  std::string model_name;
  int image_size;
  std::vector<std::string> classes;
  nlohmann::json data_info;
  if (!o.model_file.empty()) {
    qmodel = std::make_unique<quant::Int8Model>(quant::load_int8_model(o.model_file));
    model_name = qmodel->model_name;
    image_size = qmodel->image_size;
    classes = qmodel->classes;
    data_info = qmodel->preprocessing;
  } else {
    ck = cli::load_float_model(o.checkpoint);
    model_name = ck.model->config().name;
    image_size = ck.model->config().image_size;
    classes = ck.info["classes"].get<std::vector<std::string>>();
    if (ck.info.contains("data")) data_info = ck.info["data"];
  }
  cli::DataConfig cfg = cli::DataConfig::for_model(model_name);
  cfg.root = o.data;
  cfg.image_size = image_size;
  cfg.augment = false;
  cfg.progress = !o.json;
  cfg.skip_bad = o.skip_bad;
  if (data_info.contains("seed")) cfg.seed = data_info["seed"].get<uint64_t>();
  if (data_info.contains("val_fraction"))
    cfg.val_fraction = data_info["val_fraction"].get<double>();
  cli::DataSplits splits = cli::open_splits(cfg);
  std::string split;
  BatchSource* src = select_split(o.split, splits, o.data, &split);
  o.split = split;
  EvalResult r;
  if (qmodel) {
    std::unique_ptr<quant::Int8GraphRunner> runner = cli::int8_runner(*qmodel, 1);
    r = evaluate_int8([&runner](const Tensor& x) { return runner->run(x); }, *src, !o.json);
  } else {
    ck.model->to(cli::selected_device());
    r = evaluate(*ck.model, *src, !o.json, "eval " + o.split);
  }
  ClassificationReport rep = classification_report(r.truth, r.predicted, classes);
  nlohmann::json j = rep.json();
  j["loss"] = r.loss;
  j["split"] = o.split;
  j["checkpoint"] = qmodel ? o.model_file : o.checkpoint;
  j["int8"] = static_cast<bool>(qmodel);
  j["skipped_count"] = splits.skipped.size();
  j["skipped_files"] = splits.skipped;  // "path: error" each (--skip-bad)
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    const std::string where = o.split == "all" ? "all images" : "the " + o.split + " split";
    std::printf("%s on %s of %s (%lld images), loss %.4f\n\n%s",
                (qmodel ? model_name + " int8" : model_name).c_str(), where.c_str(), o.data.c_str(),
                static_cast<long long>(rep.total), r.loss, rep.text().c_str());
    if (!splits.skipped.empty())
      std::printf("\nskipped %zu bad file(s) (listed above as warnings)\n", splits.skipped.size());
  }
  // Add the result to the run's report when the checkpoint sits in a run folder.
  namespace fs = std::filesystem;
  fs::path hist = fs::path(o.checkpoint).parent_path() / "history.json";
  if (!qmodel && fs::exists(hist)) {
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
  ecg::cli::add_precision_flag(sub);
  sub->add_option("--checkpoint", o.checkpoint,
                  "float model: checkpoint (.safetensors) or ONNX graph (.onnx)");
  sub->add_option("--model", o.model_file, "or: an int8 model file from ecgcnn quantize");
  sub->add_option("--data", o.data, "dataset folder");
  sub->add_option("--split", o.split,
                  "all, test, val or train (default: test where the folder has train/ and test/, "
                  "else all)");
  ecg::cli::add_skip_bad_flag(sub, o.skip_bad);
  sub->add_flag(
      "--json", o.json,
      "print JSON (accuracy, macro_f1, weighted_f1, per_class, confusion_matrix, classes)");
  sub->callback([] { run_eval(o); });
}
