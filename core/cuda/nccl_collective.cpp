// NCCL behind ecg::Collective's device reductions (nccl_collective.h). Host
// code, compiled by the host compiler against the CUDA runtime's and NCCL's
// headers; every call is made from the training thread, as the MPI calls are.
//
// Ordering: gradients are written by kernels on the engine's stream. Each
// reduction records an event there, makes its own stream wait for it, queues
// ncclAllReduce in place on its own stream (so that it runs while backward
// continues on the engine's stream) and records a second event; wait() polls
// that event under the watchdog (core/collective.h) and then makes the
// engine's stream wait for it too, so later copies out of the buffer, and
// the next step's writes into it, come after the sums.
#include "core/cuda/nccl_collective.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <vector>

#include "core/cuda/engine.h"
#include "kernels/error.h"

namespace ecg {
namespace cuda {

namespace {

void check_nccl(ncclResult_t rc, const char* what) {
  if (rc != ncclSuccess) fail("NCCL: ", what, " failed: ", ncclGetErrorString(rc));
}

void check_cuda(cudaError_t rc, const char* what) {
  if (rc != cudaSuccess) fail("NCCL: ", what, " failed: ", cudaGetErrorString(rc));
}

cudaStream_t engine_stream() {
  return static_cast<cudaStream_t>(engine_stream_handle());
}

class NcclCollective final : public Collective {
 public:
  explicit NcclCollective(std::unique_ptr<Collective> host) : host_(std::move(host)) {
    ncclUniqueId id;
    std::memset(&id, 0, sizeof id);
    if (host_->rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    host_->broadcast(&id, sizeof id, 0);
    check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    check_nccl(ncclCommInitRank(&comm_, host_->size(), id, host_->rank()), "ncclCommInitRank");
  }

  ~NcclCollective() override {
    for (auto& [id, p] : pending_)
      if (p.device) cudaEventSynchronize(p.done);
    for (cudaEvent_t e : free_events_) cudaEventDestroy(e);
    for (auto& [id, p] : pending_) {
      if (!p.device) continue;
      cudaEventDestroy(p.ready);
      cudaEventDestroy(p.done);
    }
    if (comm_) ncclCommDestroy(comm_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  int rank() const override { return host_->rank(); }
  int size() const override { return host_->size(); }
  std::string describe() const override {
    return host_->describe() + ", " + nccl_library() + " for device gradients";
  }

  void allreduce_sum(float* data, size_t n) override { host_->allreduce_sum(data, n); }
  Request start_allreduce_sum(float* data, size_t n) override {
    Pending p;
    p.host = host_->start_allreduce_sum(data, n);
    return add(p);
  }

  bool reduces_device_memory() const override { return true; }
  Request start_allreduce_sum_device(float* data, size_t n) override {
    Pending p;
    p.device = true;
    p.ready = take_event();
    p.done = take_event();
    check_cuda(cudaEventRecord(p.ready, engine_stream()), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(stream_, p.ready, 0), "cudaStreamWaitEvent");
    check_nccl(ncclAllReduce(data, data, n, ncclFloat, ncclSum, comm_, stream_), "ncclAllReduce");
    check_cuda(cudaEventRecord(p.done, stream_), "cudaEventRecord");
    return add(p);
  }

  void wait(Request request) override {
    auto it = pending_.find(request);
    if (it == pending_.end()) return;
    Pending p = it->second;
    pending_.erase(it);
    if (!p.device) {
      host_->wait(p.host);
      return;
    }
    wait_with_watchdog([this, &p] { return reduction_finished(p.done); },
                       "the device gradient allreduce (ncclAllReduce)");
    check_cuda(cudaStreamWaitEvent(engine_stream(), p.done, 0), "cudaStreamWaitEvent");
    free_events_.push_back(p.ready);
    free_events_.push_back(p.done);
  }

  void poke() override { host_->poke(); }
  void allreduce_sum_ordered(double* data, size_t n) override {
    host_->allreduce_sum_ordered(data, n);
  }
  void broadcast(void* data, size_t bytes, int root) override {
    host_->broadcast(data, bytes, root);
  }
  void barrier() override { host_->barrier(); }
  [[noreturn]] void abort(int code) override {
    // The other ranks' NCCL kernels would wait for this one for ever; MPI_Abort
    // ends their processes, and with them their kernels.
    host_->abort(code);
    std::_Exit(code);  // host_->abort does not return; this says so to the compiler
  }

 private:
  struct Pending {
    bool device = false;
    Request host = 0;
    cudaEvent_t ready = nullptr, done = nullptr;
  };

  Request add(const Pending& p) {
    pending_[++last_request_] = p;
    return last_request_;
  }

  cudaEvent_t take_event() {
    if (!free_events_.empty()) {
      cudaEvent_t e = free_events_.back();
      free_events_.pop_back();
      return e;
    }
    cudaEvent_t e = nullptr;
    check_cuda(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
    return e;
  }

  // True once `done` has happened; an error of the communicator (a peer
  // gone, a network failure NCCL noticed) fails with its one line.
  bool reduction_finished(cudaEvent_t done) {
    const cudaError_t q = cudaEventQuery(done);
    if (q == cudaSuccess) return true;
    if (q != cudaErrorNotReady) check_cuda(q, "cudaEventQuery");
    ncclResult_t async = ncclSuccess;
    check_nccl(ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError");
    check_nccl(async, "ncclAllReduce (asynchronous error)");
    return false;
  }

  std::unique_ptr<Collective> host_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  Request last_request_ = 0;
  std::map<Request, Pending> pending_;
  std::vector<cudaEvent_t> free_events_;
};

// Why this rank would rather not use NCCL ("" when it can).
std::string reason_against_nccl() {
  const char* off = std::getenv("ECG_NCCL");
  if (off && std::strcmp(off, "0") == 0) return "ECG_NCCL=0";
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess) return "no CUDA device count";
  const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  const int ranks_here = local ? std::atoi(local) : 1;
  if (ranks_here > gpus)
    return std::to_string(ranks_here) + " ranks share " + std::to_string(gpus) +
           " GPU(s) on one machine (NCCL wants one GPU per rank)";
  return "";
}

}  // namespace

std::string nccl_library() {
  return "NCCL " + std::to_string(NCCL_MAJOR) + "." + std::to_string(NCCL_MINOR) + "." +
         std::to_string(NCCL_PATCH);
}

std::unique_ptr<Collective> with_nccl(std::unique_ptr<Collective> host) {
  if (host->size() <= 1) return host;
  // Every rank must take the same road: ncclCommInitRank waits for all.
  const std::string why = reason_against_nccl();
  std::vector<double> against(static_cast<size_t>(host->size()), 0.0);
  against[static_cast<size_t>(host->rank())] = why.empty() ? 0.0 : 1.0;
  host->allreduce_sum_ordered(against.data(), against.size());
  for (size_t r = 0; r < against.size(); ++r) {
    if (against[r] == 0) continue;
    if (static_cast<int>(r) == host->rank())
      std::fprintf(stderr,
                   "data parallel: rank %zu: %s; device gradients go through MPI from "
                   "host memory\n",
                   r, why.c_str());
    return host;
  }
  return std::make_unique<NcclCollective>(std::move(host));
}

}  // namespace cuda
}  // namespace ecg
