#include "kernels/runtime.h"

#include <thread>
#ifdef ECG_HAVE_OPENMP
#include <omp.h>
#endif

namespace ecg {

namespace {
int g_threads = 0;  // 0 = default
}

int hardware_threads() {
#ifdef ECG_HAVE_OPENMP
  return omp_get_num_procs();
#else
  unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
#endif
}

int num_threads() {
#ifdef ECG_HAVE_OPENMP
  return g_threads > 0 ? g_threads : hardware_threads();
#else
  return 1;
#endif
}

void set_num_threads(int n) {
  g_threads = n > 0 ? n : 0;
}

}  // namespace ecg
