// The op table: every kernel-backed op is declared once in ECG_OP_LIST with its
// function type, and gets one slot per (device, ISA level). Slots are filled by
// explicit register_*_kernels() calls (static initialisers would be dropped by
// the linker from a static library). Lookup walks down from the active ISA
// level to the first registered variant, so a missing AVX-512 kernel falls
// back to AVX2, then to portable C++, then to the scalar reference.
#pragma once
#include <array>

#include "kernels/cpu_features.h"
#include "kernels/error.h"
#include "kernels/kernel_api.h"

namespace ecg {

enum class DeviceType : int { CPU = 0, CUDA = 1 };
constexpr int kNumDeviceTypes = 2;

#define ECG_OP_LIST(X)                                             \
  X(sgemm, SgemmFn)                                                \
  X(conv2d_forward, Conv2dForwardFn)                               \
  X(conv2d_backward_data, Conv2dBackwardDataFn)                    \
  X(conv2d_backward_weights, Conv2dBackwardWeightsFn)              \
  X(batch_norm_forward_train, BatchNormForwardTrainFn)             \
  X(batch_norm_forward_eval, BatchNormForwardEvalFn)               \
  X(batch_norm_backward, BatchNormBackwardFn)                      \
  X(batch_norm_update_running, BatchNormUpdateRunningFn)           \
  X(relu_forward, ReluForwardFn)                                   \
  X(relu_backward, ReluBackwardFn)                                 \
  X(leaky_relu_forward, LeakyReluForwardFn)                        \
  X(leaky_relu_backward, LeakyReluBackwardFn)                      \
  X(add_forward, AddForwardFn)                                     \
  X(max_pool_forward, MaxPoolForwardFn)                            \
  X(max_pool_backward, MaxPoolBackwardFn)                          \
  X(avg_pool_forward, AvgPoolForwardFn)                            \
  X(avg_pool_backward, AvgPoolBackwardFn)                          \
  X(global_avg_pool_forward, GlobalAvgPoolForwardFn)               \
  X(global_avg_pool_backward, GlobalAvgPoolBackwardFn)             \
  X(linear_forward, LinearForwardFn)                               \
  X(linear_backward_data, LinearBackwardDataFn)                    \
  X(linear_backward_weights, LinearBackwardWeightsFn)              \
  X(dropout_forward, DropoutForwardFn)                             \
  X(softmax_cross_entropy_forward, SoftmaxCrossEntropyForwardFn)   \
  X(softmax_cross_entropy_backward, SoftmaxCrossEntropyBackwardFn) \
  X(l2_penalty_forward, L2PenaltyForwardFn)                        \
  X(l2_penalty_backward, L2PenaltyBackwardFn)                      \
  X(adam_update, AdamUpdateFn)                                     \
  X(sgd_update, SgdUpdateFn)

template <class Fn>
struct OpSlot {
  const char* name = "";
  std::array<std::array<Fn, static_cast<int>(Isa::Count)>, kNumDeviceTypes> fn{};

  void set(DeviceType d, Isa isa, Fn f) { fn[static_cast<int>(d)][static_cast<int>(isa)] = f; }

  // The variant for the active ISA level, falling back downwards.
  Fn get(DeviceType d = DeviceType::CPU) const { return get_at(d, active_isa()); }

  Fn get_at(DeviceType d, Isa level) const {
    const auto& row = fn[static_cast<int>(d)];
    for (int i = static_cast<int>(level); i >= 0; --i)
      if (row[i]) return row[i];
    fail("op '", name, "' has no kernel for device ", d == DeviceType::CPU ? "cpu" : "cuda");
  }

  // Which level get() would run (for the profiler and `ecgcnn info`).
  Isa resolved_isa(DeviceType d = DeviceType::CPU) const {
    return resolved_isa_at(d, active_isa());
  }
  // Which level get_at(d, level) would run.
  Isa resolved_isa_at(DeviceType d, Isa level) const {
    const auto& row = fn[static_cast<int>(d)];
    for (int i = static_cast<int>(level); i >= 0; --i)
      if (row[i]) return static_cast<Isa>(i);
    return Isa::Ref;
  }
  bool available(DeviceType d = DeviceType::CPU) const {
    for (auto f : fn[static_cast<int>(d)])
      if (f) return true;
    return false;
  }
  // The exact variant at one level, or null (tests run every registered variant).
  Fn exact(DeviceType d, Isa isa) const { return fn[static_cast<int>(d)][static_cast<int>(isa)]; }
};

struct OpTable {
#define ECG_DECLARE_SLOT(op, Fn) OpSlot<Fn> op;
  ECG_OP_LIST(ECG_DECLARE_SLOT)
#undef ECG_DECLARE_SLOT
  OpTable();
};

// The process-wide table, filled on first use by register_all_kernels().
OpTable& ops();

// Defined in kernels/registry.cpp: calls every register_*_kernels() below.
void register_all_kernels(OpTable& t);

// Each backend / ISA unit provides one of these (defined only where compiled).
void register_ref_kernels(OpTable& t);
void register_generic_kernels(OpTable& t);
void register_avx2_kernels(OpTable& t);
void register_avx512_kernels(OpTable& t);
void register_neon_kernels(OpTable& t);
void register_cuda_kernels(OpTable& t);

}  // namespace ecg
