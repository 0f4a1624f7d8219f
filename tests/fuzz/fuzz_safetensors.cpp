// libFuzzer target: any bytes as a float checkpoint either load (every check
// of load_checkpoint passed: metadata, offsets, dtypes, shapes, finite
// values) or throw ecg::Error; never a crash, an overflow or a leak.
#include <cstddef>
#include <cstdint>

#include "kernels/error.h"
#include "models/checkpoint.h"
#include "models/safetensors.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = ecg::fuzz::write_input("ckpt.safetensors", data, size);
  try {
    ecg::load_safetensors(path);
  } catch (const ecg::Error&) {
  }
  try {
    ecg::LoadedCheckpoint ck = ecg::load_checkpoint(path);
    (void)ck;
  } catch (const ecg::Error&) {
  }
  return 0;
}
