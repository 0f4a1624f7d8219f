#include "train/provenance.h"

#include "kernels/cpu_features.h"
#include "kernels/int8_api.h"
#include "kernels/op_table.h"
#include "kernels/runtime.h"

#ifndef ECG_GIT_DESCRIBE
#define ECG_GIT_DESCRIBE "unknown"
#endif

namespace ecg {

const char* build_commit() {
  return ECG_GIT_DESCRIBE[0] ? ECG_GIT_DESCRIBE : "unknown";
}

nlohmann::json provenance() {
  const CpuFeatures& f = cpu_features();
  const Isa isa = active_isa();
  const OpTable& t = ops();
  // The level whose fp32 convolution runs at the active level ("none": no CPU kernel).
  const std::string fp32 = t.conv2d_forward.available()
                               ? isa_name(t.conv2d_forward.resolved_isa_at(DeviceType::CPU, isa))
                               : "none";
  return {
      {"ecgcnn_version", ECG_VERSION},
      {"commit", build_commit()},
      {"build_type", ECG_BUILD_TYPE},
      {"machine", f.brand.empty() ? std::string("unknown") : f.brand},
      {"cores", hardware_threads()},
      {"threads", num_threads()},
      {"isa", isa_name(isa)},
      {"kernels",
       {{"fp32_conv2d", fp32}, {"int8_conv", int8::int8_kernel_name(int8::best_int8_kernel())}}}};
}

nlohmann::json data_provenance(const std::string& path, const std::string& split,
                               const std::vector<std::string>& classes,
                               const std::vector<int64_t>& per_class) {
  nlohmann::json counts = nlohmann::json::object();
  int64_t total = 0;
  for (size_t c = 0; c < classes.size() && c < per_class.size(); ++c) {
    counts[classes[c]] = per_class[c];
    total += per_class[c];
  }
  return {{"path", path}, {"split", split}, {"images", total}, {"per_class", counts}};
}

}  // namespace ecg
