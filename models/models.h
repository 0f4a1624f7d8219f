// The study's models (see docs/study.md), for any square input size:
//   resnet11 / resnet20 / resnet29: ResNet-(9n+2), n = 1, 2, 3
//   alexnet: the study's AlexNet variant (valid padding; needs >= 215 px)
// Outputs are logits; softmax lives in the loss and in predict.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "layers/layers.h"

namespace ecg {

struct ModelConfig {
  std::string name = "resnet11";
  int image_size = 224;
  int classes = 4;
  uint64_t seed = 1;
  double l2 = 1e-4;  // on conv kernels (ResNets)
};

class Model : public Sequential {
 public:
  explicit Model(ModelConfig cfg) : cfg_(std::move(cfg)) {}
  const ModelConfig& config() const { return cfg_; }
  // Summary rows for an input of [batch, 3, S, S].
  std::vector<LayerInfo> summary(int batch = 1);
  // Dropout layers' mask counters (saved in checkpoints so a resumed run continues the stream).
  std::vector<uint64_t> dropout_counters();
  void set_dropout_counters(const std::vector<uint64_t>& c);

 private:
  ModelConfig cfg_;
};

std::shared_ptr<Model> build_model(const ModelConfig& cfg);
std::vector<std::string> model_names();

// Printable summary: layers, output shapes, parameters, MACs.
std::string format_summary(Model& m, int batch = 1);

}  // namespace ecg
