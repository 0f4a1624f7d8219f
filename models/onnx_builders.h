// Private to the ONNX writers (models/onnx_export.cpp, quant/onnx_qdq_export.cpp)
// and the tests' graph writer: one copy of the protobuf boilerplate every
// writer needs (nodes, attributes, initializers, typed graph inputs and
// outputs, metadata, the model header). Only sources built with ECG_ONNX
// include it; quant/ sits above models/ (docs/house.md), so it may.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "models/onnx_proto.h"

namespace ecg::onnx_io {

// Appends node `name` of type `op` to `g`; returns it for its attributes.
onnx::NodeProto* add_node(onnx::GraphProto* g, const std::string& op, const std::string& name,
                          const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs);
void set_int_attr(onnx::NodeProto* n, const std::string& name, int64_t v);
void set_ints_attr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v);
void set_float_attr(onnx::NodeProto* n, const std::string& name, float v);

// A float tensor as an initializer named `name`.
void set_float_tensor(onnx::TensorProto* t, const std::string& name, const float* data,
                      const Shape& shape);
// An int8 tensor (weights, zero points) as an initializer named `name`.
void set_int8_tensor(onnx::TensorProto* t, const std::string& name, const int8_t* data,
                     const Shape& shape);

// A float graph input or output of `shape` whose first dimension is the
// symbolic "batch" (the exporters' graphs run at any batch).
void set_batched_float_value(onnx::ValueInfoProto* v, const std::string& name, const Shape& shape);

void add_metadata(onnx::ModelProto* m, const std::string& key, const std::string& value);

// The header both exporters write: IR 7 (opset 13's), producer ecgcnn and
// its version, `doc`, the default domain at kOnnxExportOpset.
void start_export_model(onnx::ModelProto* m, const std::string& doc);

// Checks `m` with onnx::checker and writes it to `path` (atomically: a
// temporary file renamed into place); errors name the path.
void check_and_write(const onnx::ModelProto& m, const std::string& path);

}  // namespace ecg::onnx_io
