// Private to models/onnx_*.cpp (and quant/onnx_qdq_export.cpp): libonnx's
// protobuf classes and checker, and the helpers the reader and writers share.
// Only sources built with ECG_ONNX include it.
#pragma once
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <string>

#include "models/graph_model.h"

namespace ecg::onnx_io {

std::string read_file_bytes(const std::string& path);
// A message on one line (the checker's can span several).
std::string one_line(std::string s);
// A TensorProto as a graph value; `where` starts each error ("'file'").
GraphValue tensor_value(const onnx::TensorProto& t, const std::string& where);
// A float tensor as an initializer named `name`.
void set_float_tensor(onnx::TensorProto* t, const std::string& name, const float* data,
                      const Shape& shape);
// Checks `m` with onnx::checker and writes it to `path` (atomically: a
// temporary file renamed into place); errors name the path.
void check_and_write(const onnx::ModelProto& m, const std::string& path);

}  // namespace ecg::onnx_io
