// libFuzzer target: any bytes as a run folder's train_config.json, read as
// `ecgcnn train --resume` reads it: the settings come back checked (types,
// ranges, a known model) or an ecg::Error names the file and the field.
#include <cstddef>
#include <cstdint>

#include "kernels/error.h"
#include "tests/fuzz/fuzz_input.h"
#include "tools/train_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = ecg::fuzz::write_input("train_config.json", data, size);
  ecg::cli::TrainSettings c;
  try {
    ecg::cli::read_train_config(path, c);
  } catch (const ecg::Error&) {
  }
  return 0;
}
