// Data-parallel training over ecg::collective() (docs/distributed.md): the
// gradient reducer, the parameter agreement check, and the small reductions
// of the loop's figures. With one process every function here returns at once
// and touches nothing, so a one-process run is the same bytes with or without
// MPI support built in.
//
// What is reduced when, per optimiser step on N ranks:
//  - each rank seeds backward with n_r / B (its share of the global batch B),
//    so the sum over ranks of its gradients is the gradient of the global
//    batch's mean loss, uneven splits included;
//  - while backward runs, each bucket of parameters (last layers first) is
//    sum-allreduced, non-blocking, as soon as its last gradient is written;
//  - after backward the reducer waits for every bucket and writes the sums
//    back into the gradients, so every rank's optimiser steps on the same
//    numbers (check_parameters_agree verifies it).
// Gradients on a device (--device cuda) are packed into device buckets and
// summed there when the collective reduces device memory (NCCL); otherwise
// they are copied to host buckets and reduced through MPI.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/collective.h"
#include "core/tensor.h"
#include "models/models.h"

namespace ecg {

class GradientReducer {
 public:
  // `params`: the optimiser's parameters in model order. `bucket_mb` <= 0:
  // one blocking allreduce of every gradient after backward.
  GradientReducer(std::vector<Tensor*> params, double bucket_mb);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Call before backward of global step `step` (1-based; named by the
  // watchdog's line): buckets start as their gradients are written.
  void begin_backward(int64_t step);
  // Call after backward: starts what is left, waits, writes the sums back.
  void finish();

  int num_buckets() const { return static_cast<int>(buckets_.size()); }
  // Whether the buckets live on the parameters' device (NCCL) or on the host.
  bool reduces_on_device() const { return on_device_; }
  // Seconds spent blocked waiting for reductions (finish()), in total and in
  // the last step.
  double wait_seconds() const { return wait_total_; }
  double last_wait_seconds() const { return wait_last_; }
  // Buckets whose reduction started while backward was still running (the
  // overlap), over every step so far.
  int64_t buckets_overlapped() const { return overlapped_; }
  int64_t buckets_reduced() const { return reduced_; }

 private:
  struct Bucket {
    std::vector<size_t> params;  // indices into params_
    std::vector<size_t> offsets;
    std::vector<float> buffer;  // host buckets
    Tensor device_buffer;       // device buckets (reduces_on_device())
    size_t ready = 0;
    bool started = false;
    Collective::Request request = 0;
  };
  void on_grad_ready(size_t param);
  void pack(size_t param);
  void start_ready_buckets();
  void make_buffer(Bucket& b, size_t elements);
  Collective::Request start_reduction(Bucket& b);
  void write_back(size_t param);

  std::vector<Tensor*> params_;
  std::vector<size_t> bucket_of_, slot_of_;
  std::vector<bool> packed_;
  std::vector<Bucket> buckets_;
  size_t next_to_start_ = 0;
  int64_t step_ = 0;
  bool overlap_ = false, in_backward_ = false, on_device_ = false;
  int64_t overlapped_ = 0, reduced_ = 0;
  double wait_total_ = 0, wait_last_ = 0;
};

// Fails (one line naming the step and the first rank that differs) unless
// every rank holds bit-identical parameters.
void check_parameters_agree(const std::vector<Tensor*>& params, int64_t step);

// The bytes of every parameter, hashed (FNV-1a, 64 bits).
uint64_t parameter_hash(const std::vector<Tensor*>& params);

// Every rank gets the sum over ranks, in rank order, of `values`.
void sum_over_ranks(std::vector<double>& values);

// Rank 0's BatchNorm running statistics (and every other buffer) to every
// rank: without --sync-bn each rank's statistics come from its own shard
// (PyTorch DDP broadcasts rank 0's buffers the same way).
void broadcast_buffers(Model& model);

// The logical OR over ranks of `flag` (Ctrl-C on one rank stops them all at
// the same step).
bool any_rank(bool flag);

// For the failure tests (tests/cli/test_cli_mpi.cpp): with
// ECG_TEST_RANK_FAULT=RANK:STEP:kill (or :error, :term) in the environment,
// rank RANK kills itself with SIGKILL (fails with an error; sends itself the
// SIGTERM that mpirun sends every rank on Ctrl-C) after step STEP, as a
// crashed node or a failing disk would. With RANK:STEP:hang it stops
// progressing, alive, in step STEP's backward (GradientReducer::begin_backward
// calls inject_test_hang), as an endless loop or a stuck device would; the
// watchdog (--mpi-timeout) must end the run. Does nothing otherwise.
void inject_test_fault(int64_t step);
void inject_test_hang(int64_t step);

}  // namespace ecg
