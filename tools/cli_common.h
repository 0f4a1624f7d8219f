// Shared pieces of the `ecgcnn` subcommands: global options (threads, ISA,
// profiling) and the rule that every failure is one line plus a non-zero exit.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace ecg::cli {

struct GlobalOptions {
  int threads = 0;  // 0 = all cores
  std::string isa;  // empty = best the CPU supports (or ECG_ISA)
  bool quiet = false;
  std::string device = "cpu";  // cpu | cuda (cuda needs a registered CUDA backend and a GPU)
};

GlobalOptions& global_options();

// Applies --threads / --isa to the runtime and checks --device; called before
// every subcommand runs.
void apply_global_options();

// Peak resident memory of this process (VmHWM), in MB.
double peak_rss_mb();

// Adds --threads, --isa and --device to a subcommand (they are accepted before
// or after it).
void add_runtime_flags(CLI::App* sub);

}  // namespace ecg::cli
