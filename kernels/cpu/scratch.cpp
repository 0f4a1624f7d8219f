// Per-thread growable scratch (see scratch.h).
#include "kernels/cpu/scratch.h"

#include <cstdlib>
#include <new>

namespace ecg::cpu {

namespace {
struct ThreadScratch {
  float* ptr[kScratchSlots] = {};
  size_t cap[kScratchSlots] = {};
  ~ThreadScratch() {
    for (float* p : ptr) std::free(p);
  }
};
thread_local ThreadScratch t_scratch;
}  // namespace

float* thread_scratch(int slot, size_t floats) {
  ThreadScratch& s = t_scratch;
  if (floats > s.cap[slot]) {
    std::free(s.ptr[slot]);
    // Round up to whole 4 KiB pages so repeated small growth does not thrash.
    size_t bytes = ((floats * sizeof(float) + 4095) / 4096) * 4096;
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    s.ptr[slot] = static_cast<float*>(p);
    s.cap[slot] = bytes / sizeof(float);
  }
  return s.ptr[slot];
}

}  // namespace ecg::cpu
