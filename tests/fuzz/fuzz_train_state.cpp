// libFuzzer target: any bytes as a run folder's state.safetensors, resumed by
// train() with zero epochs left (so only the load runs): the state's JSON
// counters, optimizer name and moments and the model tensors are checked, or
// an ecg::Error is thrown; never a crash, an overflow or a leak.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "kernels/error.h"
#include "tests/fuzz/fuzz_input.h"
#include "train/trainer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace fs = std::filesystem;
  static const std::string dir = ecg::fuzz::scratch_path("run");
  static ecg::TensorBatchSource batches(ecg::Tensor::zeros({2, 3, 32, 32}), {0, 1}, 2, false, 1);
  fs::create_directories(dir);
  {
    FILE* f = std::fopen((dir + "/state.safetensors").c_str(), "wb");
    if (!f) std::abort();
    if (size) std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
  // One model for all inputs: a refused state leaves it untouched (every
  // tensor is checked before the first is copied), an accepted one is valid.
  static auto model = [] {
    ecg::ModelConfig c;
    c.image_size = 32;
    return ecg::build_model(c);
  }();
  ecg::TrainOptions o;
  o.out_dir = dir;
  o.epochs = 0;
  o.progress = false;
  try {
    ecg::train(*model, batches, nullptr, o, /*resume=*/true);
  } catch (const ecg::Error&) {
  }
  return 0;
}
