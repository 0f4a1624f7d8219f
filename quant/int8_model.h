// The INT8 model: a small graph of integer ops (conv with fused requantize,
// ReLU clamp and residual add; pools; a last dense layer that dequantizes)
// and its self-describing file format (int8_graph.cpp, int8_file.cpp). Its
// memory plan is quant/arena_plan.h; the one graph walk that runs it on a
// backend (CPU int8 kernels, CUDA int8, CUDA FP16) is quant/int8_runner.h.
//
// Tensors are int8 NHWC with one (scale, zero-point) each; the network input
// is quantized from the float NCHW image, the logits come out as float.
//
// File format (little-endian), loaded by memory map:
//   char[8] "ECGINT8\0" | u32 version (3) | u32 header_bytes
//   header: JSON (graph, shapes, scales, zero-points, class names,
//           preprocessing, a calibration summary), padded to 16 bytes
//   blobs:  int8 weights, int32 biases and float32 weight scales, each
//           16-byte aligned, at the offsets the header names
// Every offset and size is validated against the file size on load, so a
// truncated or malformed file is an ecg::Error naming the file.
//
// Version 2 adds float-fallback layers: a conv or dense node marked "float"
// stores its BN-folded float32 weights and bias instead of int8 ones; the
// runner dequantizes its int8 input(s), runs the float layer and requantizes
// the output to the node's int8 output tensor (or returns float logits).
//
// Version 3 stores what quantization chose (int8 weights, int32 biases,
// scales, zero points, a ReLU flag) and derives the integers that follow from
// it at load, with the functions the quantizer itself uses: per-channel
// requantization multipliers (quant/quantize.h requant_multipliers), residual
// add multipliers (make_add_requant), average-pool multipliers
// (make_avg_pool_int8), zero points and clamps from the tensors, and a conv's
// input size from its input tensor (its output size is checked against its
// output tensor). Version 2 stored all of these as well: 9 kB of a 0.68 MB
// ResNet-11 file. The writer checks that the derived integers equal the
// model's before it writes, so a load gives back the same integers.
// The per-tensor calibration choices (method, observed range) stay in the
// quantizer's --report JSON; the file keeps the method, image count and
// bias-correction flag. Versions 1 and 2 still load (and can be written,
// for compatibility tests); newer versions are refused with an error naming
// both versions.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kernels/int8_api.h"

namespace ecg::quant {

struct TensorQ {
  std::string name;
  int N = 1, H = 1, W = 1, C = 1;  // NHWC
  float scale = 1.f;
  int32_t zero_point = 0;
  int64_t bytes() const { return static_cast<int64_t>(N) * H * W * C; }
};

enum class NodeKind { Conv, MaxPool, AvgPool, Add, Dense };
const char* node_kind_name(NodeKind k);
bool parse_node_kind(const std::string& name, NodeKind& out);

struct NodeQ {
  NodeKind kind = NodeKind::Conv;
  std::string name;
  std::vector<int> inputs;  // tensor ids (Conv with residual: {x, residual}; Add: {a, b})
  int output = -1;          // tensor id (Dense: -1, writes the float logits)
  // Conv and Dense (dense = 1x1 conv over one pixel per image)
  int8::ConvInt8Params conv;
  std::vector<int8_t> weights;  // OIHW, [-127, 127] (empty for a float node read from a file)
  std::vector<float> weight_scale;
  // Float fallback: BN-folded float weights (OIHW; a dense layer's columns in
  // the int8 graph's NHWC flatten order) and bias. The quantizer fills them
  // for every conv/dense node so reports can flip any layer to float; the
  // file stores them only for nodes with run_float set.
  bool run_float = false;
  std::vector<float> weights_f32, bias_f32;
  // Pools and Add
  // Conv with a fused residual add: (scale, zero point) of the conv's own
  // output before the add; that tensor is fused away, so it is not in
  // Int8Model::tensors (version 3 derives the conv's requantization and the
  // add's multipliers from it).
  float pre_add_scale = 1.f;
  int32_t pre_add_zero_point = 0;
  Pool2dShape pool;
  int8::AvgPoolInt8Params avg;
  int8::AddRequant add;
};

struct Int8Model {
  std::string model_name;  // the float model it came from (resnet11, ...)
  int image_size = 224;
  std::vector<std::string> classes;
  nlohmann::json preprocessing;  // as in the float checkpoint
  nlohmann::json calibration;    // method, images, per-tensor choices
  std::vector<TensorQ> tensors;  // tensor 0 is the network input
  std::vector<NodeQ> nodes;      // in execution order

  int num_classes() const { return static_cast<int>(classes.size()); }
  // Names of the nodes that run in float (empty for a pure int8 model).
  std::vector<std::string> float_nodes() const;
};

// A copy of `m` with the named conv/dense nodes run in float (they must have
// float weights); an unknown name is an error.
Int8Model with_float_nodes(const Int8Model& m, const std::vector<std::string>& names);

constexpr uint32_t kInt8FormatVersion = 3;  // written by default
// version: kInt8FormatVersion, or 1/2 (the older layouts, for compatibility
// tests; 1 refuses float nodes). Version 3 refuses a model whose integers are
// not those its scales give (see above).
void save_int8_model(const std::string& path, const Int8Model& m,
                     uint32_t version = kInt8FormatVersion);
Int8Model load_int8_model(const std::string& path);

// The model as a whole: a known architecture, image_size equal to the input
// tensor's H and W (3 channels), every tensor [1, H, W, C] with a finite
// scale, nodes that read only what earlier nodes wrote and map their input
// shapes to their outputs, weight counts and scales per output channel, one
// dense layer last, and one non-empty class name per dense output. Throws an
// ecg::Error naming `path`, the field and what was expected. load_int8_model
// runs it before returning and save_int8_model before writing.
void validate_int8_model(const Int8Model& m, const std::string& path);

}  // namespace ecg::quant
