// The MPI side of data-parallel training (docs/distributed.md): finds out
// whether mpirun started this process, and if so initialises Open MPI and
// installs it as ecg::collective() (core/collective.h) for as long as a
// DistributedSession lives. Built when CMake finds MPI (ECG_MPI, on by
// default); without it a session is one process and a launch by mpirun with
// more than one rank is refused.
#pragma once
#include <exception>
#include <string>

namespace ecg {

// Whether this build has MPI support, and which library ("Open MPI v4.1.4").
bool mpi_built();
std::string mpi_library();

// The number of processes mpirun started (its environment says so), 1 when
// started without a launcher.
int launched_world_size();

class DistributedSession {
 public:
  // Initialises MPI when mpirun started us; a no-op in a plain process.
  // Throws (one line) when mpirun started several ranks of a build without MPI.
  DistributedSession();
  // Finalises MPI; when unwinding from an error with other ranks, aborts them
  // instead, so that none waits forever for this one.
  ~DistributedSession();
  // With several ranks: prints `error` as one line naming this rank and ends
  // every rank with exit status 1. Returns (does nothing) in one process.
  static void fail_all_ranks(const std::exception& error);
  DistributedSession(const DistributedSession&) = delete;
  DistributedSession& operator=(const DistributedSession&) = delete;

 private:
  bool active_ = false;
};

}  // namespace ecg
