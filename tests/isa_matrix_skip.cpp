// Linked into the binaries that ecg_add_isa_matrix() runs once per kernel
// level: when ECG_ISA names a level this CPU cannot run, the process says so
// by name and exits 77 before any test starts, which CTest reports as
// skipped (SKIP_RETURN_CODE) instead of a failure.
#include <cstdio>
#include <cstdlib>

#include "kernels/cpu_features.h"

namespace {

struct SkipUnsupportedIsa {
  SkipUnsupportedIsa() {
    const char* env = std::getenv("ECG_ISA");
    ecg::Isa isa;
    if (!env || !ecg::parse_isa(env, isa) || ecg::isa_supported(isa)) return;
    std::printf("isa-matrix: kernel level %s skipped: this CPU does not support it\n", env);
    std::fflush(stdout);
    std::_Exit(77);
  }
};

const SkipUnsupportedIsa skip_unsupported_isa;

}  // namespace
