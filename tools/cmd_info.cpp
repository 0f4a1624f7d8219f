// `ecgcnn info`: version, build options, CPU features, the ISA the dispatcher
// chose, threads, and whether CUDA support was compiled in.
#include <cstdio>
#include <string>

#include "cli_common.h"
#include "core/allocator.h"
#include "kernels/cpu_features.h"
#include "kernels/int8_api.h"
#include "kernels/op_table.h"
#include "kernels/runtime.h"

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
    std::printf("cpu:              %s\n", f.brand.empty() ? "unknown" : f.brand.c_str());
    std::printf(
        "cpu features:     avx2 %s, fma %s, f16c %s, avx512f %s, avx512bw %s, "
        "avx512vl %s, avx512-vnni %s, avx-vnni %s, neon %s, dotprod %s\n",
        yn(f.avx2), yn(f.fma), yn(f.f16c), yn(f.avx512f), yn(f.avx512bw), yn(f.avx512vl),
        yn(f.avx512_vnni), yn(f.avx_vnni), yn(f.neon), yn(f.asimd_dotprod));
    std::printf("best isa:         %s\n", isa_name(best_supported_isa()));
    std::printf("active isa:       %s (set ECG_ISA or --isa to force)\n", isa_name(active_isa()));
    std::printf("threads:          %d (hardware %d)\n", num_threads(), hardware_threads());
    std::printf("int8 conv kernel: %s (set ECG_INT8_KERNEL to force)\n",
                int8::int8_kernel_name(int8::best_int8_kernel()));
    std::printf("kernels in use:\n");
    OpTable& t = ops();
#define ECG_SHOW(op, Fn) \
  std::printf("  %-32s %s\n", #op, t.op.available() ? isa_name(t.op.resolved_isa()) : "none");
    ECG_OP_LIST(ECG_SHOW)
#undef ECG_SHOW
  });
}
