// The INT8 model: a small graph of integer ops (conv with fused requantize,
// ReLU clamp and residual add; pools; a last dense layer that dequantizes),
// its self-describing file format, and the runner that executes it on the
// int8 kernels of kernels/int8_api.h with a static memory arena.
//
// Tensors are int8 NHWC with one (scale, zero-point) each; the network input
// is quantized from the float NCHW image, the logits come out as float.
//
// File format (little-endian), loaded by memory map:
//   char[8] "ECGINT8\0" | u32 version (2) | u32 header_bytes
//   header: JSON (graph, shapes, scales, zero-points, requant multipliers,
//           class names, preprocessing), padded to 64 bytes
//   blobs:  int8 weights and int32 biases, each 64-byte aligned, at the
//           offsets the header names
// Every offset and size is validated against the file size on load, so a
// truncated or malformed file is an ecg::Error naming the file.
//
// Version 2 adds float-fallback layers: a conv or dense node marked "float"
// stores its BN-folded float32 weights and bias instead of int8 ones; the
// runner dequantizes its int8 input(s), runs the float layer and requantizes
// the output to the node's int8 output tensor (or returns float logits).
// Version 1 files (no float nodes) still load; newer versions are refused
// with an error naming both versions.
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

void save_int8_model(const std::string& path, const Int8Model& m);
Int8Model load_int8_model(const std::string& path);

// Static arena plan: every tensor gets an offset so that tensors alive at the
// same time never overlap (greedy first fit by size, from lifetimes in
// execution order), for a given batch size.
//
// in_place_residual: a conv with a fused residual add may write its output
// over the residual when that conv is the residual's last reader and both
// have the same size. Every int8 epilogue (and the float-fallback path) reads
// residual[i] before it writes output[i] and touches no other element of
// either, so this is exact; it saves one full-size tensor per block (at
// 224 px, a 3.2 MB stage-0 tensor). Those two tensors are then the only
// pairs that overlap while alive.
struct ArenaPlan {
  std::vector<int64_t> offset;  // per tensor
  int64_t bytes = 0;            // planned peak
  int64_t naive_bytes = 0;      // sum of all tensors (no reuse)
};
ArenaPlan plan_arena(const Int8Model& m, int batch, bool reuse = true,
                     bool in_place_residual = false);

// Executes an Int8Model: weights packed once for one kernel at construction.
class Int8Runner {
 public:
  // reuse_arena=false gives every tensor its own bytes, so all of them can be
  // read after run() (per-layer reports, bit-exactness tests); true plans
  // with lifetimes and in-place residual adds.
  Int8Runner(const Int8Model& m, int8::Int8Kernel kernel = int8::best_int8_kernel(),
             int max_batch = 1, bool reuse_arena = true);
  // images: float [N, 3, S, S] NCHW (already preprocessed); returns logits [N, classes].
  Tensor run(const Tensor& images);
  // Quantized bytes of every tensor after the last run() (bit-exactness tests).
  std::vector<int8_t> tensor_bytes(int tensor_id, int batch) const;
  const ArenaPlan& plan() const { return plan_; }
  int8::Int8Kernel kernel() const { return kernel_; }
  const Int8Model& model() const { return model_; }

 private:
  const Int8Model& model_;
  int8::Int8Kernel kernel_;
  int max_batch_;
  ArenaPlan plan_;
  std::vector<int8_t> arena_;
  std::vector<int32_t> logits_acc_;
  std::vector<std::unique_ptr<int8::PackedConvInt8>> packed_;  // per node (int8 conv/dense)

  void run_float_node(const NodeQ& n, int N, Tensor* logits);
};

}  // namespace ecg::quant
