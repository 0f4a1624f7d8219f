// libFuzzer target: any bytes as a .npy file either read as a float32 tensor
// whose shape matches its data, or throw ecg::Error.
#include <cstddef>
#include <cstdint>

#include "data/npy.h"
#include "kernels/error.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = ecg::fuzz::write_input("array.npy", data, size);
  try {
    ecg::Tensor t = ecg::data::read_npy(path);
    volatile float sum = 0;
    if (t.numel() > 0) sum = sum + t.data<float>()[t.numel() - 1];  // the last element is there
  } catch (const ecg::Error&) {
  }
  return 0;
}
