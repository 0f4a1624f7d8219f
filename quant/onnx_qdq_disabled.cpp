// A build without libonnx: the QDQ export says so (see models/onnx_disabled.cpp).
#include "quant/onnx_qdq_export.h"

namespace ecg::quant {

void export_onnx_qdq(const Int8Model&, const std::string& path) {
  fail("'", path,
       "': this ecgcnn was built without ONNX support (configure with libonnx-dev "
       "and libprotobuf-dev installed, -DECG_ONNX=ON)");
}

}  // namespace ecg::quant
