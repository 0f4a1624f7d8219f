// Links the CUDA engine into a program: into `ecgcnn` in a GPU build
// (-DECG_CUDA=ON: `--device cuda` runs on the GPU, or stops with "--device
// cuda: no CUDA device found" where there is none), and into ecgcnn_cuda_emu,
// the engine on the CPU emulator (slowly: one fiber per CUDA thread), which is
// how the CLI's device paths are tested without a GPU. A static initialiser,
// because this file is an object of the program itself (not of a static
// library, where the linker would drop it).
#include <memory>

#include "cli_common.h"
#include "core/allocator.h"
#include "kernels/cuda/engine/engine.h"
#include "kernels/cuda/engine/fp16_runner.h"
#include "kernels/cuda/engine/int8_runner.h"

namespace {

template <class Runner>
ecg::cli::Int8DeviceRunner make_device_runner(const ecg::quant::Int8Model& m, int max_batch) {
  auto runner = std::make_shared<Runner>(m, max_batch);
  ecg::cli::Int8DeviceRunner r;
  r.run = [runner](const ecg::Tensor& images) { return runner->run(images); };
  r.kernel = runner->path_name();
  r.arena_bytes = runner->arena_bytes();
  return r;
}

// --precision fp16: the half2 path on the same int8 weights (fp16_runner.h).
ecg::cli::Int8DeviceRunner make_cuda_int8_runner(const ecg::quant::Int8Model& m, int max_batch) {
  if (ecg::cli::global_options().precision == "fp16")
    return make_device_runner<ecg::cuda::Fp16CudaRunner>(m, max_batch);
  return make_device_runner<ecg::cuda::Int8CudaRunner>(m, max_batch);
}

[[maybe_unused]] const bool g_installed = [] {
  ecg::set_device_installer(ecg::DeviceType::CUDA, &ecg::cuda::install_engine);
  ecg::cli::set_int8_device_runner_factory(&make_cuda_int8_runner);
  return true;
}();

}  // namespace
