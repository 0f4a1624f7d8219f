// `ecgcnn eval --checkpoint F --data DIR`: accuracy, per-class precision,
// recall, F1, macro and weighted F1, confusion matrix; --json for machines.
// A folder with train/ and test/ is evaluated on test, a plain folder of
// class folders on all its images, unless --split says otherwise.
//
// eval writes its own HTML report (--report PATH, default eval_report.html
// in the current folder) with the data it ran on and the build, machine and
// kernels, and never changes a file of the training run the checkpoint came
// from: a run's report stays the record of that run.
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
#include "train/provenance.h"
#include "train/report.h"

namespace {

struct EvalCli {
  std::string checkpoint, data, split, model_file;  // split: empty = by the folder's layout
  std::string report = "eval_report.html";
  int int8_batch = 16;  // images per int8 run: the data source's batch
  bool no_report = false;
  bool json = false;
  bool skip_bad = false;
};

// A training run's folder holds these; eval must not write into it.
bool is_run_folder(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  return fs::exists(dir / "history.json") || fs::exists(dir / "train_config.json");
}

// Refuses a --report inside the folder of the model file when that folder is
// a training run's (checked before any work, so nothing is wasted).
void check_report_path(const EvalCli& o) {
  namespace fs = std::filesystem;
  if (o.no_report) return;
  ECG_CHECK(!o.report.empty(), "eval: --report needs a file name (or give --no-report)");
  const fs::path model_dir =
      fs::weakly_canonical(fs::absolute(o.model_file.empty() ? o.checkpoint : o.model_file))
          .parent_path();
  const fs::path report_dir = fs::weakly_canonical(fs::absolute(o.report)).parent_path();
  ECG_CHECK(!(report_dir == model_dir && is_run_folder(model_dir)), "eval: --report '", o.report,
            "' is inside the training run folder '", model_dir.string(),
            "'; eval never writes there, choose another path");
}

// The images the model got wrong, with their files where the split's order is
// known (val, test, all), the true and predicted class and the confidence.
nlohmann::json misclassified(const ecg::EvalResult& r, const std::vector<std::string>& paths,
                             const std::vector<std::string>& classes) {
  nlohmann::json out = nlohmann::json::array();
  for (size_t i = 0; i < r.truth.size(); ++i) {
    if (r.truth[i] == r.predicted[i]) continue;
    nlohmann::json e = {
        {"index", i}, {"truth", classes[r.truth[i]]}, {"predicted", classes[r.predicted[i]]}};
    if (i < paths.size()) e["path"] = paths[i];
    if (i < r.probabilities.size()) e["confidence"] = r.probabilities[i][r.predicted[i]];
    out.push_back(e);
  }
  return out;
}

// Int8 model evaluation: the same splits and metrics as the float path. Each
// batch of the source runs as one call (`run` takes [N, 3, S, S], N up to the
// runner's max batch); the int8 arithmetic is per image, so the logits are
// the same bytes as one image at a time (tests/quant: BatchedRunMatchesOneAtATime).
ecg::EvalResult evaluate_int8(const std::function<ecg::Tensor(const ecg::Tensor&)>& run,
                              ecg::BatchSource& data, bool progress) {
  using namespace ecg;
  EvalResult r;
  data.begin_epoch(0);
  Batch b;
  double loss_sum = 0;
  int64_t n = 0, correct = 0;
  for (int64_t i = 0; data.batch(i, b); ++i) {
    const Tensor logits = run(b.images.contiguous());
    const Tensor p = softmax(logits);
    const int C = static_cast<int>(logits.size(1));
    for (int64_t k = 0; k < b.images.size(0); ++k) {
      int best = 0;
      for (int c = 1; c < C; ++c)
        if (p.at({k, c}) > p.at({k, best})) best = c;
      std::vector<float> probs(C);
      for (int c = 0; c < C; ++c) probs[c] = static_cast<float>(p.at({k, c}));
      r.truth.push_back(b.labels[k]);
      r.predicted.push_back(best);
      r.probabilities.push_back(probs);
      loss_sum -= std::log(std::max(1e-12, p.at({k, b.labels[k]})));
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

// One image at a time through the runner: --int8-batch 1, and what the
// batched walk is checked against.
std::function<ecg::Tensor(const ecg::Tensor&)> per_image(ecg::quant::Int8GraphRunner& runner) {
  return [&runner](const ecg::Tensor& x) {
    ecg::Tensor out;
    for (int64_t k = 0; k < x.size(0); ++k) {
      const ecg::Tensor row = runner.run(x.slice(0, k, k + 1).contiguous()).contiguous();
      const int64_t C = row.size(1);
      if (k == 0) out = ecg::Tensor::empty({x.size(0), C});
      std::copy(row.data<float>(), row.data<float>() + C, out.data<float>() + k * C);
    }
    return out;
  };
}

// --split: "all" evaluates every image once; without --split, a folder with
// its own test/ is evaluated on it, and a plain folder of class folders on all
// its images (its 20 % test split is a training-time notion the user never chose).
ecg::BatchSource* select_split(const std::string& requested, const ecg::cli::DataSplits& s,
                               const std::string& root, std::string* chosen,
                               const std::vector<std::string>** paths) {
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
  static const std::vector<std::string> none;  // train is shuffled: no file order
  *paths = *chosen == "all"    ? &s.all_paths
           : *chosen == "test" ? &s.test_paths
           : *chosen == "val"  ? &s.val_paths
                               : &none;
  return src;
}

void run_eval(EvalCli o) {
  using namespace ecg;
  ECG_CHECK(!o.checkpoint.empty() || !o.model_file.empty(),
            "eval: --checkpoint FILE or --model FILE is required");
  ECG_CHECK(!o.data.empty(), "eval: --data DIR is required");
  check_report_path(o);
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
  if (qmodel) cfg.batch = o.int8_batch;  // one runner call per batch
  if (data_info.contains("seed")) cfg.seed = data_info["seed"].get<uint64_t>();
  if (data_info.contains("val_fraction"))
    cfg.val_fraction = data_info["val_fraction"].get<double>();
  cli::DataSplits splits = cli::open_splits(cfg);
  std::string split;
  const std::vector<std::string>* paths = nullptr;
  BatchSource* src = select_split(o.split, splits, o.data, &split, &paths);
  o.split = split;
  EvalResult r;
  nlohmann::json prov = provenance();
  if (qmodel) {
    std::unique_ptr<quant::Int8GraphRunner> runner = cli::int8_runner(*qmodel, o.int8_batch);
    prov["kernels"]["int8_conv"] = runner->path_name();  // the path that ran, on any device
    r = evaluate_int8(
        o.int8_batch == 1 ? per_image(*runner)
                          : [&runner](const Tensor& x) { return runner->run(x); },
        *src, !o.json);
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
  j["data"] = data_provenance(o.data, o.split, classes, rep.support);
  j["provenance"] = prov;
  j["device"] = cli::global_options().device;
  j["misclassified"] = misclassified(r, *paths, classes);
  if (!o.no_report) {
    namespace fs = std::filesystem;
    const fs::path parent = fs::path(o.report).parent_path();
    if (!parent.empty()) fs::create_directories(parent);
    write_file_atomic(o.report, report::eval_report(j));
  }
  if (o.json) {
    std::printf("%s\n", j.dump(2).c_str());
  } else {
    const std::string where = o.split == "all" ? "all images" : "the " + o.split + " split";
    std::printf("%s on %s of %s (%lld images), loss %.4f\n\n%s",
                (qmodel ? model_name + " int8" : model_name).c_str(), where.c_str(), o.data.c_str(),
                static_cast<long long>(rep.total), r.loss, rep.text().c_str());
    if (!splits.skipped.empty())
      std::printf("\nskipped %zu bad file(s) (listed above as warnings)\n", splits.skipped.size());
    if (!o.no_report) std::printf("\nreport: %s\n", o.report.c_str());
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
  sub->add_option("--report", o.report,
                  "HTML report of this evaluation (data, counts, build, machine, kernels); never "
                  "inside the checkpoint's training run folder, which eval leaves unchanged")
      ->capture_default_str();
  sub->add_flag("--no-report", o.no_report, "write no HTML report");
  sub->add_option("--int8-batch", o.int8_batch,
                  "with --model: images per int8 run (1 = one at a time; the results are the "
                  "same bytes at any batch)")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  sub->add_flag(
      "--json", o.json,
      "print JSON (accuracy, macro_f1, weighted_f1, per_class, confusion_matrix, classes)");
  sub->callback([] { run_eval(o); });
}
