// The post-training quantizer: float model + calibration images -> Int8Model.
// BatchNorm is folded into the preceding convolution in float; weights become
// symmetric per-output-channel int8 in [-127, 127]; every activation tensor
// gets asymmetric per-tensor parameters from an observer over the calibration
// set and the chosen calibrator (docs/quantization.md). ReLU becomes the clamp bounds; the
// residual add is fused into the second convolution of each block.
#pragma once
#include <string>
#include <vector>

#include "models/models.h"
#include "quant/calibration.h"
#include "quant/int8_model.h"

namespace ecg::quant {

struct QuantizeOptions {
  CalibOptions calib;
  std::vector<std::string> classes;
  nlohmann::json preprocessing;
  // Bias correction (Nagel et al. 2019, "Data-free quantization"): the mean
  // output shift that weight rounding causes, sum over c of
  // (s_w[k] q[k,c,r,s] - w[k,c,r,s]) * mean(x_c), is subtracted from each
  // conv's bias, with mean(x_c) the per-channel mean of its input over the
  // calibration set. It matters where a layer's outputs are small differences
  // of large weights on a nearly constant input: the stem on an ECG page's
  // flat background, where rounding the weights leaks the background level
  // into every output.
  bool bias_correction = true;
  // 8: weights in [-127, 127]. 7: in [-63, 63], so that the AVX2 int8 kernel
  // without VNNI can use vpmaddubsw on every layer and stay exact (one bit of
  // weight resolution for about 1.33x the multiply rate on such CPUs).
  int weight_bits = 8;
};

// One row of the per-layer report: the int8 tensor against the float model's.
struct LayerReport {
  std::string tensor;
  double sqnr_db = 0, cosine = 0;
  std::string method;  // calibrator chosen for this tensor
};

// calib_images: float [N, 3, S, S] batches (already preprocessed).
// ResNet-(9n+2) models only; AlexNet gives an error naming what is missing.
Int8Model quantize_model(Model& model, const std::vector<Tensor>& calib_images,
                         const QuantizeOptions& opt);

// Per-tensor SQNR and cosine similarity of the int8 graph against the float
// model (with BN folded) on `images`.
std::vector<LayerReport> layer_report(Model& model, const Int8Model& q, const Tensor& images);

}  // namespace ecg::quant
