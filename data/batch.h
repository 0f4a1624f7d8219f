// One training or evaluation batch as the data loader hands it over.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace ecg::data {

struct Batch {
  Tensor images;             // F32 [B, 3, S, S], contiguous, on the CPU
  std::vector<int> labels;   // B labels in 0..3 (canonical class order)
  std::vector<int> indices;  // B indices into the ImageSet the batch came from
  int64_t number = 0;        // position of this batch in its epoch
};

}  // namespace ecg::data
