// The INT8 model: a small graph of integer ops (conv with fused requantize,
// ReLU clamp and residual add; pools; a last dense layer that dequantizes),
// its self-describing file format, and the runner that executes it on the
// int8 kernels of kernels/int8_api.h with a static memory arena.
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
#include "quant/row_tiling.h"

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
//
// row tiling (rt.slabs > 0): the leading convolutions run as one row group
// (quant/row_tiling.h) with rt.slabs slabs: nodes [0, rt.last], or by
// default the prefix whose plan has the smallest peak (a longer prefix only
// when it saves more than 1 %; none when no prefix saves that much), with
// rt.band_rows-row bands, or 4, 2, 1 rows when the larger band does not bring
// the peak 10 % below layer by layer (many slabs). Its
// windowed tensors get no whole-tensor bytes: offset[t] is then the tensor's
// window in slab 0's block, window_block[0] the start of the `slabs` blocks,
// all alive while the group runs. ResNet-11 at 224 px, batch 1: 5.62 MB
// layer by layer; 2.81 / 3.68 / 4.80 MB with 1 / 2 / 4 slabs (8-row bands),
// 4.16 MB with 8 (2-row), 4.62 MB with 16 (1-row); the test prints them.
struct ArenaPlan {
  std::vector<int64_t> offset;        // per tensor
  int64_t bytes = 0;                  // planned peak
  int64_t naive_bytes = 0;            // sum of all tensors (no reuse)
  std::vector<RowGroup> row_groups;   // empty without row tiling
  std::vector<int64_t> window_block;  // per row group
};
ArenaPlan plan_arena(const Int8Model& m, int batch, bool reuse = true,
                     bool in_place_residual = false,
                     const RowTilingOptions& rt = RowTilingOptions::off());

// Executes an Int8Model: weights packed once for one kernel at construction.
class Int8Runner {
 public:
  // reuse_arena=false gives every tensor its own bytes, so all of them can be
  // read after run() (per-layer reports, bit-exactness tests); true plans
  // with lifetimes, in-place residual adds and row tiling (by default one
  // slab per thread).
  Int8Runner(const Int8Model& m, int8::Int8Kernel kernel = int8::best_int8_kernel(),
             int max_batch = 1, bool reuse_arena = true,
             const RowTilingOptions& rt = RowTilingOptions::per_thread());
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
  void run_row_group(const RowGroup& g, int64_t window_block, int N);
};

}  // namespace ecg::quant
