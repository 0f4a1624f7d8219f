// NumPy .npy arrays (format versions 1-3): read little-endian float32/float64
// arrays in C order, so inputs preprocessed by another framework can be fed to
// `ecgcnn predict` and results compared exactly. Errors name the file.
#pragma once
#include <string>

#include "core/tensor.h"

namespace ecg::data {

// Returns an F32 tensor with the array's shape (float64 files are converted).
Tensor read_npy(const std::string& path);
void write_npy(const std::string& path, const Tensor& t);

}  // namespace ecg::data
