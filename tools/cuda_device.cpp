// Links the CUDA engine into a program: into `ecgcnn` in a GPU build
// (-DECG_CUDA=ON: `--device cuda` runs on the GPU, or stops with "--device
// cuda: no CUDA device found" where there is none), and into ecgcnn_cuda_emu,
// the engine on the CPU emulator (slowly: one fiber per CUDA thread), which is
// how the CLI's device paths are tested without a GPU. It registers the
// engine as the CUDA device and its two backends of the int8 graph walk
// (quant/cuda/): --precision int8 and fp16, and in a build with NCCL the
// device reductions of data-parallel training. A static initialiser, because this
// file is an object of the program itself (not of a static library, where the
// linker would drop it).
#include "core/allocator.h"
#include "core/cuda/engine.h"
#include "quant/cuda/fp16_cuda_backend.h"
#include "quant/cuda/int8_cuda_backend.h"
#include "quant/int8_runner.h"
#if ECG_HAVE_NCCL
#include "core/collective.h"
#include "core/cuda/nccl_collective.h"
#endif

namespace {

[[maybe_unused]] const bool g_installed = [] {
  ecg::set_device_installer(ecg::DeviceType::CUDA, &ecg::cuda::install_engine);
  ecg::quant::register_int8_backend({"cuda", "int8"}, &ecg::cuda::make_int8_cuda_backend);
  ecg::quant::register_int8_backend({"cuda", "fp16"}, &ecg::cuda::make_fp16_cuda_backend);
#if ECG_HAVE_NCCL
  // Device gradients of `mpirun -np N ecgcnn --device cuda train` (docs/distributed.md).
  ecg::register_device_reductions({ecg::cuda::nccl_library(), &ecg::cuda::with_nccl});
#endif
  return true;
}();

}  // namespace
