// `ecgcnn summary --model M [--image-size S]` or `--checkpoint F` (a
// .safetensors checkpoint or an .onnx graph): layers, shapes, parameters, MACs.
#include <cstdio>

#include "cli_common.h"
#include "models/checkpoint.h"
#include "models/models.h"

void ecg_cli_summary(CLI::App& app) {
  auto* sub = app.add_subcommand("summary", "print a model's layers, shapes, parameters and MACs");
  static ecg::ModelConfig cfg;
  static std::string checkpoint;
  static int batch = 1;
  auto* model_opt = sub->add_option("--model", cfg.name, "alexnet, resnet11, resnet20 or resnet29");
  auto* file_opt = sub->add_option("--checkpoint", checkpoint,
                                   "or: a model file (.safetensors checkpoint or .onnx graph)");
  model_opt->excludes(file_opt);
  auto* size_opt =
      sub->add_option("--image-size", cfg.image_size, "square input size (with --model)")
          ->check(CLI::Range(1, 4096));
  size_opt->excludes(file_opt);
  sub->add_option("--batch", batch, "batch size for the MAC count")->check(CLI::Range(1, 4096));
  sub->callback([model_opt, file_opt] {
    if (model_opt->count() + file_opt->count() == 0)
      throw CLI::RequiredError("--model or --checkpoint");
    std::shared_ptr<ecg::Model> model =
        checkpoint.empty() ? ecg::build_model(cfg) : ecg::cli::load_float_model(checkpoint).model;
    std::fputs(ecg::format_summary(*model, batch).c_str(), stdout);
  });
}
