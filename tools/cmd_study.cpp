// `ecgcnn study --data DIR --models alexnet,resnet11,... --epochs 25,50,75`:
// the study's whole comparison in one command. Each model trains once to the
// longest horizon; the best-on-validation checkpoint within each horizon is
// exactly what a run of that length would select (schedules depend only on the
// epoch index and history), and is evaluated on the test split. Writes
// study.json and study.html (table, F1 by model, accuracy heatmap).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <sstream>

#include "cli_common.h"
#include "data_sources.h"
#include "models/checkpoint.h"
#include "models/safetensors.h"
#include "train/metrics.h"
#include "train/report.h"

namespace {

struct StudyCli {
  std::string data, out = "runs/study", recipe = "default";
  std::vector<std::string> models = {"alexnet", "resnet11", "resnet20", "resnet29"};
  std::vector<int> epochs = {25, 50, 75};
  int image_size = 0, batch = 16;
  uint64_t seed = 1;
};

void run_study(const StudyCli& o) {
  namespace fs = std::filesystem;
  using namespace ecg;
  ECG_CHECK(!o.data.empty(), "study: --data DIR is required");
  ECG_CHECK(!o.models.empty() && !o.epochs.empty(),
            "study: --models and --epochs must not be empty");
  std::vector<int> horizons = o.epochs;
  std::sort(horizons.begin(), horizons.end());
  nlohmann::json results = nlohmann::json::array();
  std::vector<std::vector<double>> acc_grid;
  std::vector<double> best_f1;
  std::vector<std::string> classes;
  for (const std::string& name : o.models) {
    cli::DataConfig data = cli::DataConfig::for_model(name);
    data.root = o.data;
    data.batch = o.batch;
    data.seed = o.seed;
    if (o.image_size > 0) data.image_size = o.image_size;
    TrainOptions t;
    t.out_dir = (fs::path(o.out) / name).string();
    t.epochs = horizons.back();
    t.batch = o.batch;
    t.seed = o.seed;
    t.recipe = o.recipe;
    t.checkpoint_horizons = horizons;
    if (o.recipe == "study") {
      t.schedule = "study";
      data.flip = data.augment = name != "alexnet";
      data.val_from_test = name != "alexnet";
    } else {
      t.schedule = "cosine";
      t.warmup_epochs = 1;
      t.precise_bn_batches = 20;
    }
    cli::DataSplits splits = cli::open_splits(data);
    classes = splits.classes;
    ModelConfig mc;
    mc.name = name;
    mc.image_size = data.image_size;
    mc.classes = static_cast<int>(classes.size());
    mc.seed = o.seed;
    auto model = build_model(mc);
    t.extra_config = {{"data", data.json()}, {"classes", classes}, {"splits", splits.summary}};
    std::fprintf(stderr, "== study: %s, %d epochs, horizons", name.c_str(), t.epochs);
    for (int h : horizons) std::fprintf(stderr, " %d", h);
    std::fprintf(stderr, "\n");
    install_interrupt_handler();
    TrainResult r = train(*model, *splits.train, splits.val.get(), t, false);
    ECG_CHECK(!r.interrupted, "study interrupted; resume the model with ecgcnn train --resume ",
              t.out_dir);
    std::vector<double> row;
    double f1_best = 0;
    for (int h : horizons) {
      std::string ck =
          (fs::path(t.out_dir) / ("best_e" + std::to_string(h) + ".safetensors")).string();
      LoadedCheckpoint l = load_checkpoint(ck);
      EvalResult e = evaluate(*l.model, *splits.test);
      ClassificationReport rep = classification_report(e.truth, e.predicted, classes);
      results.push_back({{"model", name},
                         {"epochs", h},
                         {"accuracy", rep.accuracy},
                         {"macro_f1", rep.macro_f1},
                         {"weighted_f1", rep.weighted_f1},
                         {"selected_epoch", l.info.value("epoch", -1) + 1},
                         {"checkpoint", ck}});
      row.push_back(rep.accuracy);
      f1_best = std::max(f1_best, rep.macro_f1);
      std::fprintf(stderr, "%s @ %d epochs: test accuracy %.4f, macro F1 %.4f\n", name.c_str(), h,
                   rep.accuracy, rep.macro_f1);
    }
    acc_grid.push_back(row);
    best_f1.push_back(f1_best);
  }
  // Table: peak accuracy and peak F1 per model, as the study reports them.
  std::ostringstream table;
  table << "<h2>Peak results per model (test split)</h2><table><tr><th>model</th>";
  for (int h : horizons) table << "<th>acc @" << h << "</th>";
  table << "<th>peak accuracy</th><th>peak macro F1</th></tr>";
  std::printf("%-10s", "model");
  for (int h : horizons) std::printf(" %9s", ("acc@" + std::to_string(h)).c_str());
  std::printf(" %9s %9s\n", "peak acc", "peak F1");
  for (size_t m = 0; m < o.models.size(); ++m) {
    double peak = *std::max_element(acc_grid[m].begin(), acc_grid[m].end());
    table << "<tr><td>" << o.models[m] << "</td>";
    std::printf("%-10s", o.models[m].c_str());
    for (double a : acc_grid[m]) {
      char b[32];
      std::snprintf(b, sizeof b, "%.4f", a);
      table << "<td>" << b << "</td>";
      std::printf(" %9.4f", a);
    }
    char b[64];
    std::snprintf(b, sizeof b, "<td>%.4f</td><td>%.4f</td></tr>", peak, best_f1[m]);
    table << b;
    std::printf(" %9.4f %9.4f\n", peak, best_f1[m]);
  }
  table << "</table>";
  std::vector<std::string> cols;
  for (int h : horizons) cols.push_back(std::to_string(h) + " epochs");
  std::string html = report::page(
      "ecgcnn study: " + o.data,
      {table.str(), "<div class=\"row\">" +
                        report::bar_chart("Peak macro F1 by model", o.models, best_f1) +
                        report::heatmap("Test accuracy: model x epochs", acc_grid, o.models, cols,
                                        false, "%.3f") +
                        "</div>"});
  fs::create_directories(o.out);
  write_file_atomic((fs::path(o.out) / "study.json").string(),
                    nlohmann::json{{"results", results}}.dump(2));
  write_file_atomic((fs::path(o.out) / "study.html").string(), html);
  std::printf("study report: %s/study.html\n", o.out.c_str());
}

}  // namespace

void ecg_cli_study(CLI::App& app) {
  static StudyCli o;
  auto* sub = app.add_subcommand("study", "the study's model x epochs comparison in one command");
  ecg::cli::add_runtime_flags(sub);
  sub->add_option("--data", o.data, "dataset folder");
  sub->add_option("--models", o.models, "comma-separated models")->delimiter(',');
  sub->add_option("--epochs", o.epochs, "comma-separated epoch counts")->delimiter(',');
  sub->add_option("--image-size", o.image_size, "square input size (default per model: 224)");
  sub->add_option("--batch", o.batch, "batch size")->check(CLI::Range(1, 4096));
  sub->add_option("--seed", o.seed, "seed");
  sub->add_option("--recipe", o.recipe, "default or study");
  sub->add_option("--out", o.out, "output folder");
  sub->callback([] {
    ecg::cli::require_cpu_device("study");
    run_study(o);
  });
}
