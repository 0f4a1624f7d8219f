// A build without libonnx (ECG_ONNX=OFF, or CMake did not find it): the
// functions of models/onnx.h say so, so `.onnx` files get one clear line.
#include "models/onnx.h"

namespace ecg {

namespace {
[[noreturn]] void no_onnx(const std::string& path) {
  fail("'", path,
       "': this ecgcnn was built without ONNX support (configure with libonnx-dev "
       "and libprotobuf-dev installed, -DECG_ONNX=ON)");
}
}  // namespace

bool onnx_supported() {
  return false;
}
void require_onnx(const std::string& path) {
  no_onnx(path);
}
std::shared_ptr<GraphModel> load_onnx_graph(const std::string& path) {
  no_onnx(path);
}
LoadedCheckpoint import_onnx(const std::string& path) {
  no_onnx(path);
}
void export_onnx(Model&, const nlohmann::json&, const std::string& path) {
  no_onnx(path);
}
GraphValue read_onnx_tensor_file(const std::string& path) {
  no_onnx(path);
}

}  // namespace ecg
