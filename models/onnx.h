// ONNX in and out for float models (models/onnx_import.cpp, onnx_export.cpp;
// the int8 QDQ export is quant/onnx_qdq_export.cpp). Built with libonnx's
// protobuf schema and checker when CMake finds them (ECG_ONNX); without them
// every function here throws an ecg::Error saying so.
//
// Metadata (metadata_props of the ModelProto), written by the export and read
// back by the import when present:
//   ecgcnn.model          the model's name (resnet11, ...)
//   ecgcnn.image_size     the square input size
//   ecgcnn.classes        the class names, a JSON array
//   ecgcnn.preprocessing  the checkpoint's preprocessing record, JSON
//   ecgcnn.mean, ecgcnn.std  (read only) per-channel input normalization,
//                         JSON arrays of 3: (x - mean) / std on the [0, 1]
//                         image before the graph (GraphModel); absent = none
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "models/checkpoint.h"
#include "models/graph_model.h"

namespace ecg {

// True when this build reads and writes ONNX.
bool onnx_supported();
// Without ONNX support, throws the one line that says so, naming `path` (the
// .onnx file a command was asked to read or write); with it, does nothing.
void require_onnx(const std::string& path);

// The newest opset the importer reads (libonnx 1.12's), and the one the
// export writes. The oldest depends on the operator: Reshape from 5, Relu
// from 6, Add, Gemm, BatchNormalization and Dropout from 7, the others from 1
// (older definitions differ in what they take).
constexpr int kOnnxMaxOpset = 17;
constexpr int kOnnxExportOpset = 13;

// Reads and validates a whole .onnx file into a graph of any input shapes (the
// ONNX node tests feed vectors and matrices). Every problem is one ecg::Error
// line naming the file: not a protobuf (truncated, corrupt), an opset above
// kOnnxMaxOpset, an operator GraphModel does not run (naming
// the node and the operator), an operator definition older than it reads,
// an attribute it refuses (naming both), a
// non-float or external tensor, and whatever onnx::checker finds.
std::shared_ptr<GraphModel> load_onnx_graph(const std::string& path);

// An image classifier for the CLI: load_onnx_graph plus one float input
// [N, 3, S, S] with C, H and W fixed (only the batch may be symbolic; a
// dynamic height or width is refused), a test run at batch 1, and one
// [N, classes] output. info carries "model", "image_size", "classes" (from
// the metadata, or "class 0", ... ) and "preprocessing", like a checkpoint's.
LoadedCheckpoint import_onnx(const std::string& path);

// Writes `model` (one of the study's networks: Conv2d, BatchNorm, ReLU,
// pools, Flatten, Linear, Dropout, ResidualBlock) as an opset-13 float graph
// with input "input" [batch, 3, S, S] and output "logits", `info`'s class
// names, image size and preprocessing in the metadata; runs onnx::checker on
// it before writing. Refuses layers it cannot express, naming them.
void export_onnx(Model& model, const nlohmann::json& info, const std::string& path);

// One TensorProto file (the node tests' input_N.pb / output_N.pb): float
// tensors as Tensors, int64/int32/bool ones as integers.
GraphValue read_onnx_tensor_file(const std::string& path);

}  // namespace ecg
