// Synchronised BatchNorm for data-parallel training (`train --sync-bn`,
// docs/distributed.md): the training forward normalises with the mean and
// variance of the whole global batch, and backward uses the global sums of
// dy and dy * x_hat, both reduced through ecg::collective(). Per the BN
// contract (docs/house.md), each rank accumulates its per-channel sums in
// double and the ranks' partials are added in rank order, so every rank gets
// the same statistics bit for bit.
//
// dgamma and dbeta are this rank's share only: the trainer's gradient
// reduction sums them over ranks with every other gradient.
#pragma once
#include "core/ops.h"
#include "core/tensor.h"

namespace ecg {

// The training forward of batch_norm (core/ops.h) over every rank's shard:
// x [N, C, H, W] or [N, C], f32 on the CPU; running statistics updated in
// place from the global statistics (unbiased variance over the global count).
Tensor sync_batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                       Tensor& running_mean, Tensor& running_var, const BatchNormOptions& opt);

}  // namespace ecg
