// ecg::Collective: the one interface through which the trainer and the layers
// talk to the other processes of a data-parallel run (docs/distributed.md).
// Ranks, sum-allreduce of float buffers (blocking and non-blocking), an
// allreduce of double partials summed in rank order (the BN contract in
// docs/house.md: every rank adds the same partials in the same order, so
// every rank gets the same bits), broadcast and barrier.
//
// The default is one process: rank 0 of 1, and every call leaves the buffers
// as they are. The Open MPI implementation lives in train/mpi_collective.cpp
// and is installed with set_collective() when `ecgcnn train` finds itself
// under mpirun; everything above core/ only ever sees this interface.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace ecg {

class Collective {
 public:
  // A non-blocking reduction in flight; 0 is "nothing to wait for".
  using Request = int64_t;

  virtual ~Collective() = default;
  virtual int rank() const { return 0; }
  virtual int size() const { return 1; }
  // One line for logs and `ecgcnn info`: "single process", "Open MPI 4.1.4, 2 ranks".
  virtual std::string describe() const { return "single process"; }

  // data[i] = sum over ranks of data[i], on every rank.
  virtual void allreduce_sum(float* /*data*/, size_t /*n*/) {}
  // The same, started now and finished by wait(); the buffer must stay alive
  // and untouched until then. Requests finish in any order.
  virtual Request start_allreduce_sum(float* /*data*/, size_t /*n*/) { return 0; }
  virtual void wait(Request /*request*/) {}
  // Lets non-blocking reductions progress (MPI progresses them only inside
  // its calls); cheap, call it while computing.
  virtual void poke() {}

  // Device memory (a CUDA build's gradients, docs/distributed.md): true
  // when start_allreduce_sum_device() sums device buffers where they are
  // (NCCL); otherwise callers copy to the host and use the calls above.
  virtual bool reduces_device_memory() const { return false; }
  // As start_allreduce_sum, on n floats of device memory written by work
  // queued on the device's stream; finished by wait(), after which work
  // queued on that stream sees the sums. Only when reduces_device_memory().
  virtual Request start_allreduce_sum_device(float* data, size_t n);

  // data[i] = sum over ranks in rank order (rank 0 first) of each rank's
  // data[i], accumulated in double: every rank computes the same bits.
  virtual void allreduce_sum_ordered(double* /*data*/, size_t /*n*/) {}
  // Rank `root`'s bytes to every rank.
  virtual void broadcast(void* /*data*/, size_t /*bytes*/, int /*root*/) {}
  virtual void barrier() {}
  // Ends every process of the run with `code` (after a one-line error on one
  // rank, so that the others do not wait for it forever).
  [[noreturn]] virtual void abort(int code);
};

// The watchdog (train --mpi-timeout, docs/distributed.md). A rank that dies
// is noticed by mpirun; one that hangs (an endless loop, SIGSTOP, a stuck
// device) would keep the others waiting in a collective for ever. Every wait
// of a collective for the other ranks therefore polls with a deadline of
// collective_timeout() seconds (<= 0: no deadline, the default until `train`
// starts its steps), and on expiry prints one line naming this rank, the
// operation and the loop's activity, and ends every rank with
// kCollectiveTimeoutExit.
constexpr int kCollectiveTimeoutExit = 124;  // as timeout(1)'s
void set_collective_timeout(double seconds);
double collective_timeout();
// What the loop is doing, for the watchdog's line: "step 17, gradient bucket 2 of 4".
void set_collective_activity(std::string what);
const std::string& collective_activity();
// Calls `finished` (which tests a request and must let it progress) until it
// returns true; past the timeout, abort_stuck_collective(operation).
void wait_with_watchdog(const std::function<bool()>& finished, const char* operation);
[[noreturn]] void abort_stuck_collective(const char* operation, double waited_seconds);

// Device reductions built into this program (NCCL in a CUDA build, where
// tools/cuda_device.cpp registers them): `wrap` returns a collective that
// does what `host` does and also reduces device memory.
// DistributedSession applies it to the MPI collective when the device's
// engine runs and there are several ranks.
struct DeviceReductions {
  std::string library;  // "NCCL 2.28.9"
  std::unique_ptr<Collective> (*wrap)(std::unique_ptr<Collective> host) = nullptr;
};
void register_device_reductions(const DeviceReductions& d);
// Null when none is built in.
const DeviceReductions* device_reductions();

// The process's collective; a single process until set_collective().
Collective& collective();
// Installs `c` (null: back to a single process); returns the previous one.
std::unique_ptr<Collective> set_collective(std::unique_ptr<Collective> c);

// Sync BN (BatchNorm reducing its statistics across ranks) for the layers:
// off by default; the trainer turns it on for `train --sync-bn`.
bool sync_batch_norm_enabled();
void set_sync_batch_norm(bool on);

}  // namespace ecg
