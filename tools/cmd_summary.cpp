// `ecgcnn summary --model M [--image-size S]` or `--checkpoint F` (a
// .safetensors checkpoint or an .onnx graph): layers, shapes, parameters,
// MACs; with --tape, the autograd tape of one training step's forward and
// loss instead, node by node in the order backward runs them.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "cli_common.h"
#include "core/autograd.h"
#include "model_inspect.h"
#include "models/checkpoint.h"
#include "models/models.h"

namespace {

void print_tape(ecg::Model& model, int batch) {
  using namespace ecg;
  const std::map<const Module*, std::string> paths = cli::module_paths(model);
  std::map<const Node*, std::string> layer_of;
  std::map<const Node*, std::string> parameter_names;
  Tensor logits, loss;
  {
    // Inner modules report first: a block whose output is its last layer's
    // keeps the layer's name.
    cli::ScopedOutputObserver observe([&](const Module& m, const Tensor& y) {
      const auto path = paths.find(&m);
      if (y.grad_fn() && path != paths.end()) layer_of.emplace(y.grad_fn().get(), path->second);
    });
    const int S = model.config().image_size;
    logits = model(Tensor::randn({batch, 3, S, S}, /*seed=*/1));
  }
  loss = softmax_cross_entropy(logits, one_hot(std::vector<int>(batch, 0), model.config().classes));
  layer_of.emplace(loss.grad_fn().get(), "loss");
  for (auto& p : model.named_parameters()) {
    const Edge e = gradient_edge(*p.second);
    if (e.node) parameter_names[e.node.get()] = p.first;
  }
  std::printf(
      "autograd tape of %s, input [%d, 3, %d, %d], training mode, softmax cross-entropy "
      "loss\n",
      model.config().name.c_str(), batch, model.config().image_size, model.config().image_size);
  std::fputs(cli::format_tape(loss, layer_of, parameter_names).c_str(), stdout);
}

}  // namespace

void ecg_cli_summary(CLI::App& app) {
  auto* sub = app.add_subcommand("summary", "print a model's layers, shapes, parameters and MACs");
  static ecg::ModelConfig cfg;
  static std::string checkpoint;
  static int batch = 1;
  static bool tape = false;
  auto* model_opt = sub->add_option("--model", cfg.name, "alexnet, resnet11, resnet20 or resnet29");
  auto* file_opt = sub->add_option("--checkpoint", checkpoint,
                                   "or: a model file (.safetensors checkpoint or .onnx graph)");
  model_opt->excludes(file_opt);
  auto* size_opt =
      sub->add_option("--image-size", cfg.image_size, "square input size (with --model)")
          ->check(CLI::Range(1, 4096));
  size_opt->excludes(file_opt);
  sub->add_option("--batch", batch, "batch size for the MAC count")->check(CLI::Range(1, 4096));
  sub->add_flag("--tape", tape,
                "instead: run one forward and loss on a random batch and print the autograd tape "
                "(op, layer, inputs) in the order backward runs it");
  sub->callback([model_opt, file_opt] {
    if (model_opt->count() + file_opt->count() == 0)
      throw CLI::RequiredError("--model or --checkpoint");
    std::shared_ptr<ecg::Model> model =
        checkpoint.empty() ? ecg::build_model(cfg) : ecg::cli::load_float_model(checkpoint).model;
    if (tape) return print_tape(*model, batch);
    std::fputs(ecg::format_summary(*model, batch).c_str(), stdout);
  });
}
