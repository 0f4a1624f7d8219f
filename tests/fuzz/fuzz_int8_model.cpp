// libFuzzer target: any bytes as an int8 model file either load and run on a
// zero image with the reference kernels, or throw ecg::Error; never a crash,
// an overflow (the runner's buffers come from the validated graph) or a leak.
#include <cstddef>
#include <cstdint>

#include "kernels/error.h"
#include "quant/int8_model.h"
#include "quant/int8_runner.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace ecg;
  const std::string& path = fuzz::write_input("model.int8", data, size);
  try {
    quant::Int8Model m = quant::load_int8_model(path);
    // A harness limit, not a loader one: valid but huge graphs would only
    // make the fuzzer slow (the loader accepts tensors up to 16 GB).
    int64_t bytes = 0;
    double flops = 0;
    for (const auto& t : m.tensors) bytes += t.bytes();
    for (const auto& n : m.nodes) flops += n.conv.shape.flops();
    if (bytes > (int64_t(16) << 20) || flops > 2e8) return 0;
    quant::Int8Runner runner(m, int8::Int8Kernel::Ref, 1, true);
    Tensor logits = runner.run(Tensor::zeros({1, 3, m.image_size, m.image_size}));
    (void)logits;
  } catch (const Error&) {
  }
  return 0;
}
