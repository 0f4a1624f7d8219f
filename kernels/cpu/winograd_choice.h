// When a 3x3 stride-1 convolution runs as Winograd F(4,3) instead of the
// direct (implicit-im2col GEMM) algorithm. Compiled once with baseline flags
// (winograd_choice.cpp); each ISA unit asks it before every convolution.
//
// ECG_WINOGRAD=auto|on|off (environment; default auto), or set_winograd_mode():
//   off   never: every convolution is direct (the golden model tests and the
//         direct-kernel tests pin this, see tests/golden and tests/kernels).
//   on    every shape Winograd can run (3x3, stride 1, any padding <= 2).
//   auto  where the static cost model below says Winograd is faster.
//   measure  time both algorithms on the first call of each (shape, ISA,
//         thread count, direction) and keep the faster for the process. Not
//         the default: two runs (or two ranks) can choose differently and so
//         differ in the last bits.
//
// Why a static model and not timing on first use: a timed choice can differ
// between two runs (or between two MPI ranks, or between 1 and 2 threads) and
// Winograd changes the float bits, while the determinism tests compare runs
// byte for byte (docs/determinism.md: same bytes at any thread count; MPI
// ranks against one process; checkpoint resume). The model depends on the
// layer's per-image shape and the ISA level only (not on N, the thread count
// or a clock), so every run of a configuration gives the same bytes. Its constants were measured
// with bench/kernels/winograd.sh.
#pragma once
#include <string>

#include "kernels/cpu_features.h"
#include "kernels/kernel_api.h"

namespace ecg::cpu {

enum class WinogradMode { Auto, On, Off, Measure };

// The mode in force: set_winograd_mode() if called, else ECG_WINOGRAD (read
// once; an unknown value throws one line naming it), else Auto.
WinogradMode winograd_mode();
void set_winograd_mode(WinogradMode mode);
// Back to "whatever ECG_WINOGRAD says" (tests restore with it).
void reset_winograd_mode();
const char* winograd_mode_name(WinogradMode mode);
bool parse_winograd_mode(const std::string& text, WinogradMode& out);

// Geometry Winograd F(4,3) can run: 3x3, stride 1, padding at most 2 on each
// side (so backward-data, a convolution with padding 2 - pad, can too).
bool winograd_geometry(const Conv2dShape& s);

// The static cost model (auto): true when Winograd is predicted faster than
// the direct algorithm at this ISA level.
bool winograd_pays(const Conv2dShape& s, Isa level);

// The decision for a forward convolution of shape s (backward-data asks with
// its equivalent forward shape). In measure mode: the recorded choice, or the
// static model's guess before the first measurement.
bool use_winograd(const Conv2dShape& s, Isa level);

// Measure mode's process-wide table, keyed by the shape, level and the
// current thread count: true with `winograd` set when a choice is recorded.
bool measured_choice(const Conv2dShape& s, Isa level, bool& winograd);
void record_measured_choice(const Conv2dShape& s, Isa level, bool winograd);

// The decision for backward-data of s, made on the equivalent forward shape
// (dy convolved with the flipped, transposed weights, padding 2 - pad).
bool use_winograd_backward_data(const Conv2dShape& s, Isa level);
Conv2dShape winograd_backward_data_shape(const Conv2dShape& s);

// "winograd-f43" or "direct": what use_winograd() picks.
const char* conv_algorithm_name(const Conv2dShape& s, Isa level);

// The profiler's kernel name of a float convolution at `level`: the ISA name,
// with "+winograd" where Winograd runs ("avx512+winograd"). Static storage.
const char* conv_kernel_name(const Conv2dShape& s, Isa level, bool backward_data);

}  // namespace ecg::cpu
