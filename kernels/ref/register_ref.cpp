// Registers the float instantiations of the scalar reference at Isa::Ref, so
// every op works (slowly) before any fast kernel exists, and ECG_ISA=ref runs
// the whole framework on the spec.
#include "kernels/op_table.h"
#include "kernels/ref/batch_norm_ref.h"
#include "kernels/ref/conv2d_ref.h"
#include "kernels/ref/elementwise_ref.h"
#include "kernels/ref/gemm_ref.h"
#include "kernels/ref/linear_ref.h"
#include "kernels/ref/loss_ref.h"
#include "kernels/ref/optimizer_ref.h"
#include "kernels/ref/pool_ref.h"

namespace ecg {

void register_ref_kernels(OpTable& t) {
  const DeviceType cpu = DeviceType::CPU;
  const Isa lvl = Isa::Ref;
  t.sgemm.set(cpu, lvl, &ref::gemm<float>);
  t.conv2d_forward.set(cpu, lvl, &ref::conv2d_forward<float>);
  t.conv2d_backward_data.set(cpu, lvl, &ref::conv2d_backward_data<float>);
  t.conv2d_backward_weights.set(cpu, lvl, &ref::conv2d_backward_weights<float>);
  t.batch_norm_forward_train.set(cpu, lvl, &ref::batch_norm_forward_train<float>);
  t.batch_norm_forward_eval.set(cpu, lvl, &ref::batch_norm_forward_eval<float>);
  t.batch_norm_backward.set(cpu, lvl, &ref::batch_norm_backward<float>);
  t.batch_norm_update_running.set(cpu, lvl, &ref::batch_norm_update_running<float>);
  t.relu_forward.set(cpu, lvl, &ref::relu_forward<float>);
  t.relu_backward.set(cpu, lvl, &ref::relu_backward<float>);
  t.leaky_relu_forward.set(cpu, lvl, &ref::leaky_relu_forward<float>);
  t.leaky_relu_backward.set(cpu, lvl, &ref::leaky_relu_backward<float>);
  t.add_forward.set(cpu, lvl, &ref::add_forward<float>);
  t.max_pool_forward.set(cpu, lvl, &ref::max_pool_forward<float>);
  t.max_pool_backward.set(cpu, lvl, &ref::max_pool_backward<float>);
  t.avg_pool_forward.set(cpu, lvl, &ref::avg_pool_forward<float>);
  t.avg_pool_backward.set(cpu, lvl, &ref::avg_pool_backward<float>);
  t.global_avg_pool_forward.set(cpu, lvl, &ref::global_avg_pool_forward<float>);
  t.global_avg_pool_backward.set(cpu, lvl, &ref::global_avg_pool_backward<float>);
  t.linear_forward.set(cpu, lvl, &ref::linear_forward<float>);
  t.linear_backward_data.set(cpu, lvl, &ref::linear_backward_data<float>);
  t.linear_backward_weights.set(cpu, lvl, &ref::linear_backward_weights<float>);
  t.dropout_forward.set(cpu, lvl, &ref::dropout_forward<float>);
  t.softmax_cross_entropy_forward.set(cpu, lvl, &ref::softmax_cross_entropy_forward<float>);
  t.softmax_cross_entropy_backward.set(cpu, lvl, &ref::softmax_cross_entropy_backward<float>);
  t.l2_penalty_forward.set(cpu, lvl, &ref::l2_penalty_forward<float>);
  t.l2_penalty_backward.set(cpu, lvl, &ref::l2_penalty_backward<float>);
  t.adam_update.set(cpu, lvl, &ref::adam_update<float>);
  t.sgd_update.set(cpu, lvl, &ref::sgd_update<float>);
}

}  // namespace ecg
