// The profiler's command-line side, shared by `bench` and `train`: the peaks
// measured at start-up, the layer shapes for the shape column, and the
// outputs (text report, --profile-out rows, Chrome trace, --roofline SVG).
#pragma once
#include <map>
#include <string>

#include "core/profiler.h"
#include "layers/module.h"

namespace ecg::cli {

// fp32 FMA, int8 (the kernel the active level runs) and bandwidth peaks at
// the current thread count (kernels/peak_probe.h); about half a second.
ProfilePeaks measure_profile_peaks();

// Layer name -> output shape ("[16, 64, 56, 56]"), as `summary` prints them.
std::map<std::string, std::string> layer_shapes(Module& model, int batch, int image_size);

struct ProfileOutputs {
  std::string trace;     // Chrome trace (empty: none)
  std::string rows;      // --profile-out FILE.json|.csv (empty: none)
  std::string roofline;  // --roofline FILE.svg (empty: none)
};

// Throws (one line naming the value) unless the rows file ends in .json or
// .csv and the roofline in .svg: checked before a long run, not after it.
void check_profile_outputs(const ProfileOutputs& out);

// Prints the report of `step` (all steps when < 0) to stderr and writes the
// files asked for, naming each.
void write_profile_outputs(const ProfilePeaks& peaks,
                           const std::map<std::string, std::string>& shapes,
                           const ProfileOutputs& out, int step, const std::string& title);

}  // namespace ecg::cli
