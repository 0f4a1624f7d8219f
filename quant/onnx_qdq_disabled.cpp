// A build without libonnx: the QDQ export says so, in the same words as the
// float side (models/onnx_disabled.cpp).
#include "models/onnx.h"
#include "quant/onnx_qdq_export.h"

namespace ecg::quant {

void export_onnx_qdq(const Int8Model&, const std::string& path) {
  require_onnx(path);
}

}  // namespace ecg::quant
