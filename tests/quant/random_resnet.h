// A ResNet-11 with non-trivial BatchNorm statistics (running means in
// [-0.2, 0.2], variances and affine terms in [0.5, 1.5]), so BN folding and
// quantization see realistic scales, and a seeded calibration set. Shared by
// the quant tests.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "models/models.h"
#include "quant/quantizer.h"

namespace ecg::testing {

// A scratch file `<pid><tag><name>` in the temp folder, apart per process.
inline std::string quant_tmp(const std::string& tag, const std::string& name) {
  return (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + tag + name))
      .string();
}

inline std::shared_ptr<Model> random_resnet(int size = 32) {
  ModelConfig c;
  c.image_size = size;
  auto m = build_model(c);
  int i = 0;
  for (auto& [name, t] : m->named_buffers()) {
    Tensor r = Tensor::uniform(t->shape(), 100 + i++, 0.5, 1.5);
    if (name.find("running_mean") != std::string::npos)
      r = Tensor::uniform(t->shape(), 200 + i, -0.2, 0.2);
    t->copy_(r);
  }
  m->eval();
  return m;
}

// Two batches of 8 uniform [0, 1) images of size x size (seeds 7 and 8).
inline std::vector<Tensor> random_calibration(int size = 32) {
  return {Tensor::uniform({8, 3, size, size}, 7, 0.0, 1.0),
          Tensor::uniform({8, 3, size, size}, 8, 0.0, 1.0)};
}

// The quant tests' options: four classes "a".."d" and the given calibrator.
inline quant::QuantizeOptions four_class_options(
    quant::CalibMethod method = quant::CalibMethod::Auto) {
  quant::QuantizeOptions o;
  o.classes = {"a", "b", "c", "d"};
  o.calib.method = method;
  return o;
}

// `m` quantized on random_calibration(size) with four_class_options().
inline quant::Int8Model quantize_on_random(Model& m, int size = 32) {
  return quant::quantize_model(m, random_calibration(size), four_class_options());
}

}  // namespace ecg::testing
