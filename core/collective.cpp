#include "core/collective.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "kernels/error.h"

namespace ecg {

namespace {
std::unique_ptr<Collective>& installed() {
  static std::unique_ptr<Collective> c = std::make_unique<Collective>();
  return c;
}
std::unique_ptr<DeviceReductions>& device_reductions_slot() {
  static std::unique_ptr<DeviceReductions> d;
  return d;
}
bool g_sync_bn = false;
double g_timeout_s = 0;
std::string& activity() {
  static std::string a = "before the first step";
  return a;
}
}  // namespace

void Collective::abort(int code) {
  std::exit(code);
}

Collective::Request Collective::start_allreduce_sum_device(float* /*data*/, size_t /*n*/) {
  // One process has nothing to add; several need a collective that said
  // reduces_device_memory().
  ECG_CHECK(size() <= 1, "data parallel: ", describe(), " cannot reduce device memory");
  return 0;
}

void register_device_reductions(const DeviceReductions& d) {
  device_reductions_slot() = std::make_unique<DeviceReductions>(d);
}

const DeviceReductions* device_reductions() {
  return device_reductions_slot().get();
}

Collective& collective() {
  return *installed();
}

std::unique_ptr<Collective> set_collective(std::unique_ptr<Collective> c) {
  std::unique_ptr<Collective> previous = std::move(installed());
  installed() = c ? std::move(c) : std::make_unique<Collective>();
  return previous;
}

bool sync_batch_norm_enabled() {
  return g_sync_bn;
}
void set_sync_batch_norm(bool on) {
  g_sync_bn = on;
}

void set_collective_timeout(double seconds) {
  g_timeout_s = seconds;
}
double collective_timeout() {
  return g_timeout_s;
}
void set_collective_activity(std::string what) {
  activity() = std::move(what);
}
const std::string& collective_activity() {
  return activity();
}

void wait_with_watchdog(const std::function<bool()>& finished, const char* operation) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  // Spin at first, as MPI_Wait does (a reduction usually ends within
  // microseconds of the slowest rank's arrival); after 10 ms of waiting,
  // poll every 50 us so that a long wait leaves the core to the others
  // (libnbc progresses a non-blocking collective only inside MPI_Test).
  bool sleeping = false;
  for (int64_t polls = 1; !finished(); ++polls) {
    if (!sleeping && polls % 64 != 0) continue;  // the clock every 64 polls while spinning
    const double waited = std::chrono::duration<double>(Clock::now() - start).count();
    if (g_timeout_s > 0 && waited > g_timeout_s) abort_stuck_collective(operation, waited);
    sleeping = waited > 0.01;
    if (sleeping) std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
}

void abort_stuck_collective(const char* operation, double waited_seconds) {
  std::fprintf(stderr,
               "ecgcnn: error: rank %d: data parallel: %s at %s: no progress for %.1f s "
               "(--mpi-timeout %g): another rank is hung, stopped or far slower; stopping every "
               "rank\n",
               collective().rank(), operation, activity().c_str(), waited_seconds, g_timeout_s);
  collective().abort(kCollectiveTimeoutExit);
  std::_Exit(kCollectiveTimeoutExit);  // abort() does not return; this says so to the compiler
}

}  // namespace ecg
