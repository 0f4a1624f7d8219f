// One training or evaluation batch: what the data loader assembles, the batch
// sources hand over and the trainer consumes. Defined once, here, so a batch
// moves from the loader to the trainer without being copied field by field;
// it sits in namespace ecg (not ecg::data) because train/ and tools/ share it.
#pragma once
#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace ecg {

struct Batch {
  Tensor images;             // F32 [B, 3, S, S], contiguous, on the CPU
  std::vector<int> labels;   // B labels (class indices; 0..3 in the study's canonical order)
  std::vector<int> indices;  // B indices into the source the batch came from (ImageSet, tensor)
  int64_t number = 0;        // position of this batch in its epoch
  // Images in the whole batch across the ranks of a data-parallel run, of
  // which this is one rank's shard; 0: the batch is whole (one process).
  int64_t global_size = 0;
};

}  // namespace ecg
