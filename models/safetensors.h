// safetensors files: an 8-byte little-endian header length, a JSON header
// mapping tensor names to {dtype, shape, data_offsets} plus a "__metadata__"
// object of strings, then the raw little-endian data. Compatible with the
// Python `safetensors` package. Writes are atomic (temporary file + rename),
// and reads validate every offset against the file size, so a truncated or
// malformed file is an ecg::Error naming the file, never a crash.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace ecg {

struct SafetensorsFile {
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata);

SafetensorsFile load_safetensors(const std::string& path);

// Writes `bytes` to `path` atomically (data::write_file_atomic: temporary
// file, fsync, rename), so a crash never leaves a half-written file; first
// removes the temporaries of `path` that killed writers left behind.
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace ecg
