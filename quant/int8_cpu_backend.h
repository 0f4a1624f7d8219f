// The int8 graph walk's CPU backend: the int8 kernels of kernels/int8_api.h
// (one kernel, chosen at construction, packs every conv and dense weight
// once) on a host arena, with row tiling (quant/row_tiling.h): the leading
// convolutions run band by band, one slab per thread.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kernels/int8_api.h"
#include "quant/int8_backend.h"

namespace ecg::quant {

class CpuInt8Backend : public Int8Backend {
 public:
  // Throws when the CPU cannot run `kernel`.
  explicit CpuInt8Backend(int8::Int8Kernel kernel = int8::best_int8_kernel(),
                          const RowTilingOptions& rt = RowTilingOptions::per_thread());
  int8::Int8Kernel kernel() const { return kernel_; }

  const char* precision() const override { return "int8"; }
  const char* path_name() const override { return int8::int8_kernel_name(kernel_); }
  RowTilingOptions row_tiling() const override { return row_tiling_; }
  void prepare(const Int8Model& m, const ArenaPlan& plan, int max_batch) override;
  int64_t arena_bytes() const override { return plan_.bytes; }
  bool host_op_timers() const override { return true; }

  void input(const float* images, int N) override;
  void conv(int node, int N) override;
  void max_pool(int node, int N) override;
  void avg_pool(int node, int N) override;
  void add(int node, int N) override;
  void dense(int node, int N, float* logits) override;
  void row_group(const RowGroup& g, int64_t window_block, int N) override;

  std::vector<float> tensor_values(int tensor, int N) const override;
  std::vector<int8_t> tensor_bytes(int tensor, int N) const override;
  void store_float_output(int node, const float* y, int N) override;

 private:
  int8::Int8Kernel kernel_;
  RowTilingOptions row_tiling_;
  const Int8Model* model_ = nullptr;
  ArenaPlan plan_;
  std::vector<int8_t> arena_;
  std::vector<int32_t> logits_acc_;
  std::vector<std::unique_ptr<int8::PackedConvInt8>> packed_;  // per node (int8 conv/dense)

  int8_t* ptr(int t) { return arena_.data() + plan_.offset[t]; }
  const int8_t* ptr(int t) const { return arena_.data() + plan_.offset[t]; }
  // Bytes of tensor t for N images.
  int64_t batch_bytes(int t, int N) const;
  // Profiling a row group: one band call on this thread, and at the end each
  // layer's share of the group's wall time (quant/int8_cpu_backend.cpp).
  void record_band(int node, double start_us, double dur_us, std::vector<double>& busy_us,
                   int first, int layers) const;
  void record_group_shares(const RowGroup& g, double start_us, const std::vector<double>& busy_us,
                           int N) const;
};

}  // namespace ecg::quant
