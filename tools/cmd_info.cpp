// `ecgcnn info`: version, build options, CPU features, the ISA the dispatcher
// chose and the fp32 and int8 kernels of every level, threads, and whether
// CUDA, MPI and ONNX support were compiled in.
#include <cstdio>
#include <string>
#include <vector>

#include "cli_common.h"
#include "core/allocator.h"
#include "core/collective.h"
#include "kernels/cpu_features.h"
#include "kernels/int8_api.h"
#include "kernels/op_table.h"
#include "kernels/runtime.h"
#include "models/onnx.h"
#include "train/mpi_collective.h"

namespace {

using ecg::Isa;

// The level whose code runs when the dispatcher is at `level`: the lowest
// level registered with the same function. A level may register a lower
// level's function (the BN running statistics and the L2 penalty are the
// scalar reference at every level), and the slot alone would name the level.
template <class Fn>
Isa code_level_at(const ecg::OpSlot<Fn>& slot, Isa level) {
  const Fn runs = slot.get_at(ecg::DeviceType::CPU, level);
  for (int i = 0; i <= static_cast<int>(level); ++i)
    if (slot.exact(ecg::DeviceType::CPU, static_cast<Isa>(i)) == runs) return static_cast<Isa>(i);
  return slot.resolved_isa_at(ecg::DeviceType::CPU, level);
}

// One row of the per-level table: an fp32 op and the level of the code the
// dispatcher runs at each level ("none" where the op has no CPU kernel).
template <class Fn>
void print_op_row(const ecg::OpSlot<Fn>& slot, const std::vector<Isa>& levels) {
  std::printf("  %-32s", slot.name);
  for (Isa l : levels)
    std::printf(" %-12s", slot.available() ? ecg::isa_name(code_level_at(slot, l)) : "none");
  std::printf("\n");
}

// One column per ISA level this CPU runs: the int8 convolution kernel, then
// every fp32 op of the op table.
void print_kernels_per_level() {
  using namespace ecg;
  std::vector<Isa> levels;
  for (int i = 0; i < static_cast<int>(Isa::Count); ++i)
    if (isa_supported(static_cast<Isa>(i))) levels.push_back(static_cast<Isa>(i));
  std::printf(
      "kernels per isa level (ECG_ISA or --isa picks one, * the active one; each cell names "
      "the level whose code runs):\n");
  std::printf("  %-32s", "level");
  for (Isa l : levels)
    std::printf(" %-12s", (std::string(isa_name(l)) + (l == active_isa() ? "*" : "")).c_str());
  std::printf("\n  %-32s", "int8 conv");
  for (Isa l : levels) std::printf(" %-12s", int8::int8_kernel_name(int8::int8_kernel_for(l)));
  std::printf("\n");
  OpTable& t = ops();
#define ECG_SHOW(op, Fn) print_op_row(t.op, levels);
  ECG_OP_LIST(ECG_SHOW)
#undef ECG_SHOW
}

}  // namespace

void ecg_cli_info(CLI::App& app) {
  auto* sub = app.add_subcommand("info", "show version, build options, CPU features and dispatch");
  ecg::cli::add_runtime_flags(sub);
  sub->callback([] {
    using namespace ecg;
    const CpuFeatures& f = cpu_features();
    auto yn = [](bool b) { return b ? "yes" : "no"; };
    std::printf("ecgcnn %s\n", ECG_VERSION);
    std::printf("build:            %s, compiler %s, C++%ld\n", ECG_BUILD_TYPE, __VERSION__,
                static_cast<long>(__cplusplus / 100 % 100));
#ifdef ECG_HAVE_OPENMP
    std::printf("openmp:           yes\n");
#else
    std::printf("openmp:           no\n");
#endif
    {
      // Starts the CUDA engine where one is linked in (a GPU build, ecgcnn_cuda_emu).
      std::string why;
      const bool cuda = install_device(DeviceType::CUDA, &why);
      std::printf("cuda support:     %s\n",
                  cuda ? "CUDA engine, device available (--device cuda)" : why.c_str());
    }
    if (mpi_built())
      std::printf("mpi:              %s (data-parallel training: mpirun -np N ecgcnn train)\n",
                  mpi_library().c_str());
    else
      std::printf(
          "mpi:              not built (training runs in one process; ECG_MPI=OFF or no "
          "MPI found)\n");
    if (const DeviceReductions* d = device_reductions())
      std::printf(
          "nccl:             %s (device gradients of mpirun -np N ecgcnn --device cuda "
          "train)\n",
          d->library.c_str());
    else
      std::printf(
          "nccl:             not built (device gradients of a CUDA build reduce through "
          "MPI from host memory)\n");
    if (onnx_supported())
      std::printf(
          "onnx:             yes (import opset <= %d: --checkpoint M.onnx; ecgcnn export writes "
          "opset %d)\n",
          kOnnxMaxOpset, kOnnxExportOpset);
    else
      std::printf(
          "onnx:             not built (.onnx files are refused; ECG_ONNX=OFF or no "
          "libonnx-dev/libprotobuf-dev found)\n");
    std::printf("cpu:              %s\n", f.brand.empty() ? "unknown" : f.brand.c_str());
    std::printf(
        "cpu features:     avx2 %s, fma %s, f16c %s, avx512f %s, avx512bw %s, "
        "avx512vl %s, avx512-vnni %s, avx-vnni %s, neon %s, dotprod %s\n",
        yn(f.avx2), yn(f.fma), yn(f.f16c), yn(f.avx512f), yn(f.avx512bw), yn(f.avx512vl),
        yn(f.avx512_vnni), yn(f.avx_vnni), yn(f.neon), yn(f.asimd_dotprod));
    std::printf("best isa:         %s\n", isa_name(best_supported_isa()));
    std::printf("active isa:       %s (set ECG_ISA or --isa to force)\n", isa_name(active_isa()));
    std::printf("threads:          %d (hardware %d)\n", num_threads(), hardware_threads());
    std::printf("int8 conv kernel: %s\n", int8::int8_kernel_name(int8::best_int8_kernel()));
    print_kernels_per_level();
  });
}
