// Private to models/onnx_*.cpp (and quant/onnx_qdq_export.cpp): libonnx's
// protobuf classes and checker, and the reader's helpers (the writers' are
// models/onnx_builders.h). Only sources built with ECG_ONNX include it.
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

}  // namespace ecg::onnx_io
