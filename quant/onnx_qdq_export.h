// An int8 model as an ONNX graph in QDQ form (opset 13): every int8 tensor
// is a QuantizeLinear -> DequantizeLinear pair with its scale and zero point,
// weights are int8 initializers behind a per-output-channel (axis 0)
// DequantizeLinear, biases float (the int32 bias times s_in * s_w[k]), and
// the float operators between them (Conv, Relu, Add, MaxPool, AveragePool /
// GlobalAveragePool, Flatten, Gemm) are what ONNX Runtime fuses into its
// integer kernels. Layers the model runs in float keep float weights. The
// input normalization of an imported graph (preprocessing mean/std) becomes
// Sub and Div nodes. Built only with ECG_ONNX; otherwise it throws saying so.
#pragma once
#include <string>

#include "quant/int8_model.h"

namespace ecg::quant {

// Writes `m` to `path` (input "input" [batch, 3, S, S] float, output
// "logits"), class names and image size in the metadata as the float export
// does; runs onnx::checker first. Errors name the file.
void export_onnx_qdq(const Int8Model& m, const std::string& path);

}  // namespace ecg::quant
