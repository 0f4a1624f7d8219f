// Shared pieces of the `ecgcnn` subcommands: global options (threads, ISA,
// profiling) and the rule that every failure is one line plus a non-zero exit.
#pragma once
#include <CLI/CLI.hpp>
#include <exception>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ecg {
struct LoadedCheckpoint;
}

namespace ecg::quant {
struct Int8Model;
class Int8GraphRunner;
}  // namespace ecg::quant

namespace ecg::cli {

// Thrown by a subcommand that ends without an error message but must not
// exit 0 (train interrupted by Ctrl-C: 130); main() returns the code.
class ExitStatus : public std::exception {
 public:
  explicit ExitStatus(int code) : code_(code) {}
  int code() const { return code_; }
  const char* what() const noexcept override { return "exit status"; }

 private:
  int code_;
};

struct GlobalOptions {
  int threads = 0;  // 0 = all cores
  std::string isa;  // empty = best the CPU supports (or ECG_ISA)
  bool quiet = false;
  std::string device = "cpu";  // cpu | cuda (cuda needs a registered CUDA backend and a GPU)
  // Arithmetic of an int8 model on --device cuda: int8 (the exact integer
  // kernels) or fp16 (half2 on the int8 weights, kernels/cuda/conv_fp16.cuh).
  std::string precision = "int8";
};

GlobalOptions& global_options();

// Applies --threads / --isa to the runtime and checks --device; called before
// every subcommand runs.
void apply_global_options();

// Training runs direct convolutions unless ECG_WINOGRAD says otherwise: with
// Winograd (the inference default, ECG_WINOGRAD=auto), an mpirun -np 3 run
// with uneven shards drifted from the one-process run by up to 3.1e-4 of a
// near-zero tensor's largest value, beyond the 1e-4 that test_cli_mpi holds
// training to (2.8e-7 with direct convolutions); until that is understood,
// `train` and `bench --mode train` keep the direct algorithm by default.
void default_training_to_direct_convolution();

// For commands that compute on the CPU only (predict, quantize, synth,
// study): refuses --device cuda with one line instead of ignoring it. train,
// eval, infer and bench take it.
void require_cpu_device(const char* command);

// Peak resident memory of this process (VmHWM), in MB.
double peak_rss_mb();

// Adds --threads, --isa and --device to a subcommand (they are accepted before
// or after it).
void add_runtime_flags(CLI::App* sub);

// The per-input loop of predict and infer. `one(path)` classifies one input,
// prints its text lines and returns its JSON results (an array). A bad input
// (an ecg::Error, which names the file): with skip_bad, a warning on stderr
// and an entry {"input", "skipped": true, "error"} in the results, and the
// loop goes on (all inputs bad is still an error); without it,
// `print_partial(results so far)` runs (JSON mode prints what was computed)
// and the error propagates. The skipped count and names end on stderr.
struct InputResults {
  nlohmann::json results = nlohmann::json::array();
  std::vector<std::string> skipped;
};
InputResults for_each_input(const std::vector<std::string>& inputs, bool skip_bad,
                            const std::function<nlohmann::json(const std::string&)>& one,
                            const std::function<void(const nlohmann::json&)>& print_partial);

// Adds --skip-bad to a subcommand.
void add_skip_bad_flag(CLI::App* sub, bool& skip_bad);

// Adds --precision (int8 | fp16) to a subcommand that runs int8 models.
void add_precision_flag(CLI::App* sub);

// The keys predict, infer and bench share (docs/house.md, "JSON keys"):
// latency_ms = {min, median, mean, p99, max, stddev} of `ms` (all 0 when empty).
nlohmann::json latency_json(std::vector<double> ms);
// {model, isa (the active level), kernel, image_size, batch, threads}.
nlohmann::json run_json(const std::string& model, const std::string& kernel, int image_size,
                        int64_t batch);
// The variant the fp32 convolution runs at the active level ("avx512", "ref").
std::string fp32_kernel_name();

// The device of --device (checked and started by apply_global_options).
Device selected_device();

// The int8 graph walk on --device with --precision (quant::make_int8_runner):
// the CPU's int8 kernels, or a backend the program registered
// (tools/cuda_device.cpp: the CUDA engine's int8 and FP16 paths).
std::unique_ptr<quant::Int8GraphRunner> int8_runner(const quant::Int8Model& m, int max_batch);

// The float model behind --checkpoint, chosen by the file's extension: a
// .onnx graph (models/onnx.h import_onnx), otherwise a safetensors
// checkpoint (models/checkpoint.h, whatever the extension, as before).
LoadedCheckpoint load_float_model(const std::string& path);

}  // namespace ecg::cli
