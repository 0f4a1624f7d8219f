// Open MPI behind ecg::Collective. Every MPI call is made from the thread that
// initialised MPI (MPI_THREAD_FUNNELED); OpenMP threads only compute.
#include "train/mpi_collective.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <vector>

#include "core/allocator.h"
#include "core/collective.h"
#include "kernels/error.h"

#if ECG_HAVE_MPI
#include <mpi.h>
#endif

namespace ecg {

int launched_world_size() {
  // Open MPI's mpirun, then MPICH/Hydra and PMIx launchers.
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char* v = std::getenv(var)) return std::max(1, std::atoi(v));
  return 1;
}

#if ECG_HAVE_MPI

namespace {

// MPI counts are int: long buffers go in pieces of at most this many elements.
constexpr size_t kMaxCount = size_t{1} << 30;

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  fail("MPI: ", what, " failed: ", std::string(text, static_cast<size_t>(len)));
}

class MpiCollective final : public Collective {
 public:
  MpiCollective() {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
  }
  ~MpiCollective() override {
    for (auto& [id, req] : pending_) MPI_Wait(&req, MPI_STATUS_IGNORE);
  }
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string describe() const override {
    return mpi_library() + ", " + std::to_string(size_) + (size_ == 1 ? " rank" : " ranks");
  }

  // The blocking calls are their non-blocking forms waited for under the
  // watchdog (core/collective.h), so that no wait is without a deadline.
  void allreduce_sum(float* data, size_t n) override {
    for (size_t done = 0; done < n; done += kMaxCount) {
      MPI_Request req;
      check_mpi(
          MPI_Iallreduce(MPI_IN_PLACE, data + done, static_cast<int>(std::min(kMaxCount, n - done)),
                         MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &req),
          "MPI_Iallreduce");
      wait_on(req, "the gradient allreduce (MPI_Iallreduce)");
    }
  }

  Request start_allreduce_sum(float* data, size_t n) override {
    ECG_CHECK(n <= kMaxCount, "MPI: a non-blocking allreduce of ", n,
              " values is too long; use a smaller --bucket-mb");
    MPI_Request req;
    check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data, static_cast<int>(n), MPI_FLOAT, MPI_SUM,
                             MPI_COMM_WORLD, &req),
              "MPI_Iallreduce");
    const Request id = ++last_request_;
    pending_[id] = req;
    return id;
  }

  void wait(Request request) override {
    auto it = pending_.find(request);
    if (it == pending_.end()) return;
    wait_on(it->second, "the gradient allreduce (MPI_Iallreduce)");
    pending_.erase(it);
  }

  void poke() override {
    for (auto& [id, req] : pending_) {
      int done = 0;
      MPI_Test(&req, &done, MPI_STATUS_IGNORE);  // a finished request becomes MPI_REQUEST_NULL
    }
  }

  void allreduce_sum_ordered(double* data, size_t n) override {
    ECG_CHECK(n * static_cast<size_t>(size_) <= kMaxCount, "MPI: ordered allreduce of ", n,
              " values is too long");
    gathered_.resize(n * static_cast<size_t>(size_));
    MPI_Request req;
    check_mpi(MPI_Iallgather(data, static_cast<int>(n), MPI_DOUBLE, gathered_.data(),
                             static_cast<int>(n), MPI_DOUBLE, MPI_COMM_WORLD, &req),
              "MPI_Iallgather");
    wait_on(req, "an ordered sum over the ranks (MPI_Iallgather)");
    for (size_t i = 0; i < n; ++i) {
      double sum = 0;
      for (int r = 0; r < size_; ++r) sum += gathered_[static_cast<size_t>(r) * n + i];
      data[i] = sum;
    }
  }

  void broadcast(void* data, size_t bytes, int root) override {
    char* p = static_cast<char*>(data);
    for (size_t done = 0; done < bytes; done += kMaxCount) {
      MPI_Request req;
      check_mpi(MPI_Ibcast(p + done, static_cast<int>(std::min(kMaxCount, bytes - done)), MPI_BYTE,
                           root, MPI_COMM_WORLD, &req),
                "MPI_Ibcast");
      wait_on(req, "a broadcast (MPI_Ibcast)");
    }
  }

  void barrier() override {
    MPI_Request req;
    check_mpi(MPI_Ibarrier(MPI_COMM_WORLD, &req), "MPI_Ibarrier");
    wait_on(req, "a barrier (MPI_Ibarrier)");
  }

  [[noreturn]] void abort(int code) override {
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

 private:
  static void wait_on(MPI_Request& req, const char* operation) {
    wait_with_watchdog(
        [&req] {
          int done = 0;
          check_mpi(MPI_Test(&req, &done, MPI_STATUS_IGNORE), "MPI_Test");
          return done != 0;
        },
        operation);
  }

  int rank_ = 0, size_ = 1;
  Request last_request_ = 0;
  std::map<Request, MPI_Request> pending_;
  std::vector<double> gathered_;
};

}  // namespace

bool mpi_built() {
  return true;
}

std::string mpi_library() {
  char text[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  MPI_Get_library_version(text, &len);
  std::string s(text, static_cast<size_t>(len));
  const size_t cut = s.find_first_of(",\n");
  return cut == std::string::npos ? s : s.substr(0, cut);
}

DistributedSession::DistributedSession() {
  if (launched_world_size() <= 1 && !std::getenv("OMPI_COMM_WORLD_RANK")) return;
  int provided = 0;
  check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  set_collective(std::make_unique<MpiCollective>());
  active_ = true;
  // A CUDA build with NCCL, training on the GPU: device gradients reduce
  // there (the engine runs: --device cuda installed it before this session).
  const DeviceReductions* device = device_reductions();
  if (device && collective().size() > 1 && device_available(DeviceType::CUDA))
    set_collective(device->wrap(set_collective(nullptr)));
}

DistributedSession::~DistributedSession() {
  if (!active_) return;
  if (std::uncaught_exceptions() > 0 && collective().size() > 1) {
    // Unwinding from an error that fail_all_ranks() did not see: the others
    // must not stay blocked in a collective waiting for this rank.
    std::fprintf(stderr, "ecgcnn: error: rank %d stopped; stopping every rank\n",
                 collective().rank());
    collective().abort(1);
  }
  set_collective(nullptr);
  MPI_Finalize();
}

#else  // !ECG_HAVE_MPI

bool mpi_built() {
  return false;
}

std::string mpi_library() {
  return "none";
}

DistributedSession::DistributedSession() {
  const int n = launched_world_size();
  ECG_CHECK(n <= 1, "mpirun started ", n,
            " ranks, but this ecgcnn was built without MPI (-DECG_MPI=OFF or no MPI found); each "
            "would train alone. Rebuild with Open MPI (libopenmpi-dev) or run one process");
}

DistributedSession::~DistributedSession() = default;

#endif

void DistributedSession::fail_all_ranks(const std::exception& error) {
  if (collective().size() <= 1) return;
  std::fprintf(stderr, "ecgcnn: error: rank %d: %s\n", collective().rank(), error.what());
  collective().abort(1);
}

}  // namespace ecg
