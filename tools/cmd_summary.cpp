// `ecgcnn summary --model M [--image-size S]`: layers, shapes, parameters, MACs.
#include <cstdio>

#include "cli_common.h"
#include "models/models.h"

void ecg_cli_summary(CLI::App& app) {
  auto* sub = app.add_subcommand("summary", "print a model's layers, shapes, parameters and MACs");
  static ecg::ModelConfig cfg;
  static int batch = 1;
  sub->add_option("--model", cfg.name, "alexnet, resnet11, resnet20 or resnet29")->required();
  sub->add_option("--image-size", cfg.image_size, "square input size")->check(CLI::Range(1, 4096));
  sub->add_option("--batch", batch, "batch size for the MAC count")->check(CLI::Range(1, 4096));
  sub->callback([] {
    auto model = ecg::build_model(cfg);
    std::fputs(ecg::format_summary(*model, batch).c_str(), stdout);
  });
}
