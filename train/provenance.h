// Where a report's numbers came from: the build (version and the commit
// `git describe` gave at configure time), the machine (CPU model, cores) and
// the kernels that ran (the active ISA level, the fp32 convolution's variant
// and the int8 convolution kernel). Every report (train, eval, the main job's
// run report) records it, so a figure can be traced to code and hardware.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace ecg {

// `git describe --always --dirty` of the source tree when CMake configured
// the build, or "unknown" (no git, or a source tarball).
const char* build_commit();

// {"ecgcnn_version", "commit", "build_type", "machine" (CPU model), "cores",
//  "threads", "isa", "kernels": {"fp32_conv2d", "int8_conv"}}.
nlohmann::json provenance();

// The data a report was computed on: the folder, the split, the image count
// and the images per class.
nlohmann::json data_provenance(const std::string& path, const std::string& split,
                               const std::vector<std::string>& classes,
                               const std::vector<int64_t>& per_class);

}  // namespace ecg
