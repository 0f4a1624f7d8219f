// Internal helpers shared by core/ops.cpp and core/ops_nn.cpp: the lambda
// autograd node, the timed kernel call and small checks. Not part of the
// public API.
#pragma once
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/profiler.h"
#include "kernels/op_table.h"

namespace ecg::detail {

// A node whose backward is a closure. The closure must capture tensors with
// detach() (no autograd meta): capturing an output with its meta would make a
// reference cycle output -> node -> closure -> output. release_saved() drops
// the closure, and with it every saved tensor.
class FunctionNode : public Node {
 public:
  using Backward = std::function<std::vector<Tensor>(const Tensor& grad_out)>;
  FunctionNode(std::string name, Backward fn) : name_(std::move(name)), fn_(std::move(fn)) {}
  std::vector<Tensor> apply(const std::vector<Tensor>& grads) override {
    ECG_CHECK(fn_, name_, ": backward called twice (saved tensors were already freed)");
    return fn_(grads.at(0));
  }
  std::string name() const override { return name_; }
  void release_saved() override { fn_ = nullptr; }
  bool has_saved() const { return static_cast<bool>(fn_); }

 private:
  std::string name_;
  Backward fn_;
};

// Records `out` as produced by a FunctionNode over `inputs` when grad is needed.
inline void record(const char* name, const std::vector<Tensor>& inputs, Tensor& out,
                   FunctionNode::Backward fn) {
  if (!any_requires_grad(inputs)) return;
  auto node = std::make_shared<FunctionNode>(name, std::move(fn));
  attach_node(node, inputs, {&out});
}

// The f32 path of a kernel-backed op: the kernel of `slot` for the active ISA
// level on device `dev`, timed for the profiler under the op's name with the
// FLOPs or bytes it moves (one of them 0), so the report can give the
// fraction of peak. Returns what the kernel returns (a loss, or nothing).
template <class Fn, class... Args>
auto run_kernel(const OpSlot<Fn>& slot, DeviceType dev, double flops, double bytes, Args... args) {
  OpTimer timer(slot.name, flops, bytes, slot.resolved_isa(dev));
  return slot.get(dev)(args...);
}

inline bool is_float(const Tensor& t) {
  return t.dtype() == DType::F32 || t.dtype() == DType::F64;
}

inline void check_float_cpu(const char* op, const Tensor& t, const char* what) {
  ECG_CHECK(t.defined(), op, ": ", what, " is undefined");
  ECG_CHECK(is_float(t), op, ": ", what, " must be f32 or f64, got ", dtype_name(t.dtype()));
  ECG_CHECK(t.device().type == DeviceType::CPU, op, ": ", what, " is on ", t.device().name(),
            " (this op runs on the CPU)");
}

// Kernel-backed ops run where their inputs live: f32 on any device whose
// kernels are registered, f64 on the CPU only (f64 is the scalar reference,
// used by gradient checks).
inline void check_float(const char* op, const Tensor& t, const char* what) {
  ECG_CHECK(t.defined(), op, ": ", what, " is undefined");
  ECG_CHECK(is_float(t), op, ": ", what, " must be f32 or f64, got ", dtype_name(t.dtype()));
  ECG_CHECK(t.dtype() == DType::F32 || t.device().type == DeviceType::CPU, op, ": ", what,
            " is f64 on ", t.device().name(), " (f64 runs on the CPU only)");
}

inline void check_same_device(const char* op, const Tensor& first, const Tensor& t,
                              const char* what) {
  ECG_CHECK(t.device() == first.device(), op, ": ", what, " is on ", t.device().name(),
            " but the input is on ", first.device().name());
}

inline void check_same_dtype(const char* op, const Tensor& a, const Tensor& b) {
  ECG_CHECK(a.dtype() == b.dtype(), op, ": dtype mismatch ", dtype_name(a.dtype()), " vs ",
            dtype_name(b.dtype()));
}

// The operands of an elementwise binary op (add, mul): both float, one dtype,
// one device, one shape.
inline void check_same_shape_operands(const char* op, const Tensor& a, const Tensor& b) {
  check_float(op, a, "first input");
  check_float(op, b, "second input");
  check_same_dtype(op, a, b);
  check_same_device(op, a, b, "second input");
  ECG_CHECK(a.shape() == b.shape(), op, ": shapes ", shape_str(a.shape()), " and ",
            shape_str(b.shape()), " differ");
}

inline bool needs(const Tensor& t) {
  return t.defined() && t.requires_grad();
}

}  // namespace ecg::detail
