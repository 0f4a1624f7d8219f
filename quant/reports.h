// Quantizer reports that need labelled images (docs/quantization.md, "Calibration"):
//  - layer sensitivity: the accuracy change when each conv/dense layer alone
//    runs in float (dequantize its input, float layer with the BN-folded
//    weights, requantize its output) while every other layer stays int8;
//  - float fallback: the most sensitive layers go to float, one at a time in
//    sensitivity order, until the accuracy drop against the float model is
//    within a budget (TensorRT users do this by hand, TensorRT issue 1179);
//  - stability: the calibration set dealt into three disjoint class-balanced
//    subsets, one model calibrated on each; the spread of the activation
//    scales and of the accuracy (PyTorch issue 45185).
// Accuracy is in [0, 1]; "points" are percentage points (0.5 = half a point).
// Images are float [N, 3, S, S] NCHW, already preprocessed.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "quant/quantizer.h"

namespace ecg::quant {

struct LabeledImages {
  Tensor images;            // [N, 3, S, S]
  std::vector<int> labels;  // N class indices
  int64_t size() const { return images.defined() ? images.size(0) : 0; }
};

// Concatenates batches (same image size) into one set.
LabeledImages concat_images(const std::vector<Tensor>& batches,
                            const std::vector<std::vector<int>>& labels);

// The float model on the set: logits [N, classes] and accuracy.
struct FloatReference {
  Tensor logits;
  std::vector<int> predicted;
  double accuracy = 0;
};
FloatReference float_reference(Model& model, const LabeledImages& set, int batch = 16);

// An int8 (or partly float) model on the set against the labels and the float model.
struct Int8Eval {
  double accuracy = 0;
  double agreement = 0;       // top-1 agreement with the float model
  double logits_sqnr_db = 0;  // logits against the float logits
  nlohmann::json json() const;
};
Int8Eval evaluate_int8(const Int8Model& m, const LabeledImages& set, const FloatReference& ref,
                       int batch = 16);

struct SensitivityRow {
  std::string layer;
  Int8Eval with_float;      // this layer alone in float
  double delta_points = 0;  // accuracy change against the all-int8 model, in points
};
struct SensitivityReport {
  double float_accuracy = 0;
  Int8Eval int8;
  // Most sensitive first: by accuracy gain, then agreement gain, then logits SQNR.
  std::vector<SensitivityRow> rows;
  nlohmann::json json() const;
};
SensitivityReport layer_sensitivity(const Int8Model& q, const LabeledImages& set,
                                    const FloatReference& ref, int batch = 16);

struct FallbackResult {
  double budget_points = 0;
  std::vector<std::string> tried;  // in the order they went to float
  std::vector<Int8Eval> path;      // path[0]: all int8; path[i]: first i of `tried` in float
  bool budget_met = false;
  // The float layers kept: the first prefix of `tried` that meets the budget,
  // or, when none does, the shortest prefix with the best accuracy on the
  // path (so an unreachable budget never turns the whole model to float).
  std::vector<std::string> layers;
  Int8Model model;  // q with `layers` in float
  nlohmann::json json(double float_accuracy) const;
};
// Adds layers to float in sensitivity order until
// (float accuracy - accuracy) * 100 <= budget_points, or every layer is float.
FallbackResult fallback_to_budget(const Int8Model& q, const SensitivityReport& sens,
                                  const LabeledImages& set, const FloatReference& ref,
                                  double budget_points, int batch = 16);

struct StabilityReport {
  std::vector<int64_t> subset_images;
  std::vector<Int8Eval> evals;  // one per subset
  double accuracy_spread_points = 0, agreement_spread_points = 0;
  struct TensorSpread {
    std::string tensor;
    float min_scale = 0, max_scale = 0;
    double spread = 0;  // max / min - 1
  };
  std::vector<TensorSpread> tensors;
  double max_scale_spread = 0;
  std::string widest_tensor;
  nlohmann::json json() const;
};
// Deals `calib` into `subsets` disjoint class-balanced parts (round robin
// within each class, in order), quantizes on each with `opt` and evaluates
// every model on `eval`.
StabilityReport stability_report(Model& model, const LabeledImages& calib,
                                 const QuantizeOptions& opt, const LabeledImages& eval,
                                 const FloatReference& ref, int subsets = 3, int batch = 16);

}  // namespace ecg::quant
