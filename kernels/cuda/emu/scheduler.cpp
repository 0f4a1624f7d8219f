// The block scheduler of the CUDA emulator: one fiber per CUDA thread.
//
// A grid runs block by block on the calling OS thread. Each block gets one
// fiber per thread on pooled stacks with a guard page below each. Fibers are
// Boost.Context's fcontext (a register swap, no system call; swapcontext
// makes one per switch, about 1 us). The low-level detail:: API, stable since
// Boost 1.61 (the Nano's Ubuntu 18.04 has 1.65), is used because the
// high-level boost::context::fiber owns its stack and we recycle ours.
// A fiber runs until it reaches a rendezvous (__syncthreads, a warp
// collective), an atomic or fence (a yield point), or the end of the kernel;
// the scheduler then picks the next runnable fiber in the order of the
// current Schedule. When nothing is runnable it completes the warp
// collectives whose lanes have all arrived, then the block barrier, and if
// neither can complete the block has a bug (divergent barrier, lanes at
// different collectives, exited lanes in a mask): it is reported with the
// kernel, block, thread and source line.
//
// AddressSanitizer must be told about every stack switch
// (__sanitizer_start/finish_switch_fiber), or it reports false stack
// overflows and loses fake frames; the annotations below are compiled in
// when the file is built with -fsanitize=address.
// Under -fsanitize=thread each CUDA thread is also a TSan fiber, which turns
// ThreadSanitizer into a race detector for kernels (see ECG_EMU_TSAN below).
#include <boost/context/detail/fcontext.hpp>

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <sstream>
#include <vector>

#include "kernels/cuda/emu/cuda_compat.h"
#include "kernels/enum_names.h"

#if defined(__SANITIZE_ADDRESS__)
#define ECG_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ECG_EMU_ASAN 1
#endif
#endif

#if defined(ECG_EMU_ASAN)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if defined(__SANITIZE_THREAD__)
#define ECG_EMU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ECG_EMU_TSAN 1
#endif
#endif

// ThreadSanitizer as a race detector for emulated CUDA threads: each fiber is
// a TSan fiber switched to without synchronisation, and happens-before edges
// are added only where CUDA has them (launch start, barriers, warp
// collectives, launch end). Two threads of a block touching the same word
// between barriers, one of them writing, is then a reported race, whatever
// the schedule. Blocks get fresh fibers, so races between blocks show too.
#if defined(ECG_EMU_TSAN)
#include <sanitizer/tsan_interface.h>
extern "C" {
void __tsan_ignore_thread_begin();
void __tsan_ignore_thread_end();
void AnnotateNewMemory(const char* file, int line, const volatile void* mem, unsigned long size);
}
#endif

namespace bctx = boost::context::detail;

namespace ecg::cuda_emu {
namespace detail {

namespace {

// sm_53 (Jetson Nano) limits: launches the Nano would refuse are refused here.
constexpr unsigned kMaxThreadsPerBlock = 1024;
constexpr unsigned kMaxBlockDim[3] = {1024, 1024, 64};
constexpr unsigned long long kMaxGridDim[3] = {2147483647ull, 65535ull, 65535ull};
constexpr std::size_t kMaxSharedPerBlock = 48 * 1024;
constexpr unsigned char kSharedPoison = 0xff;  // NaN as float and half, -1 as int
constexpr std::size_t kSharedRedzone = 32;     // ASan-poisoned gap between shared variables

enum class State { kRunnable, kAtBarrier, kAtWarp, kDone };

// The emulator's own bookkeeping, touched by fibers and the scheduler alike,
// is not part of a kernel's races: ThreadSanitizer ignores it.
// TSan refuses to switch away from (or destroy) a fiber with ignores open,
// so each fiber counts its open scopes and switch_to_scheduler closes and
// reopens them around the switch.
struct Bookkeeping {
#if defined(ECG_EMU_TSAN)
  Bookkeeping();
  ~Bookkeeping();
#else
  Bookkeeping() {}
#endif
  Bookkeeping(const Bookkeeping&) = delete;
  Bookkeeping& operator=(const Bookkeeping&) = delete;
};

inline void tsan_release(void* sync) {
#if defined(ECG_EMU_TSAN)
  __tsan_release(sync);
#else
  (void)sync;
#endif
}
inline void tsan_acquire(void* sync) {
#if defined(ECG_EMU_TSAN)
  __tsan_acquire(sync);
#else
  (void)sync;
#endif
}

struct Thread : ThreadHeader {
  bctx::fcontext_t ctx = nullptr;
  int linear = 0, warp = 0, lane = 0;
  State state = State::kRunnable;
  // Where the thread waits, for reports and for matching rendezvous.
  const char* file = "";
  int line = 0;
  // Barrier.
  BarrierKind bar_kind = BarrierKind::kPlain;
  int bar_pred = 0, bar_result = 0;
  // Warp collective.
  WarpOp op = WarpOp::kSyncWarp;
  unsigned mask = 0;
  int arg = 0, width = 32;
  std::uint64_t value = 0, result = 0;
  // Happens-before bookkeeping for ThreadSanitizer: barrier and collective
  // counts pick the sync objects; peer_slot says which object each lane of
  // the completed collective released into.
  unsigned bar_gen = 0, warp_gen = 0;
  std::uint64_t group = 0;
  unsigned char slot = 0;
  unsigned char peer_slot[32] = {};
  void* tsan_fiber = nullptr;
  int tsan_ignores = 0;  // open Bookkeeping scopes of this fiber
  // Stack of this fiber.
  char* stack_lo = nullptr;
  std::size_t stack_size = 0;
  void* asan_fake_stack = nullptr;
};

std::size_t stack_bytes() {
  static const std::size_t bytes = [] {
    const char* env = std::getenv("ECG_CUDA_EMU_STACK_KB");
    std::size_t kb = env ? std::strtoul(env, nullptr, 10) : 0;
#if defined(ECG_EMU_ASAN)
    if (kb == 0) kb = 256;  // ASan frames carry redzones
#elif defined(ECG_EMU_TSAN)
    if (kb == 0) kb = 32;  // TSan forgets each stack's history per block: keep them small
#else
    if (kb == 0) kb = 64;
#endif
    return kb * 1024;
  }();
  return bytes;
}

// Stacks for up to 1024 fibers, mapped once per OS thread and reused by every
// block; the page below each stack is PROT_NONE so an overflow faults.
class StackPool {
 public:
  ~StackPool() {
    if (base_) munmap(base_, slot_ * count_);
  }
  void ensure(std::size_t n) {
    if (n <= count_) return;
    if (base_) munmap(base_, slot_ * count_);
    page_ = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    slot_ = stack_bytes() + page_;
    count_ = kMaxThreadsPerBlock;
    void* p = mmap(nullptr, slot_ * count_, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) throw std::runtime_error("cuda-emu: cannot map fiber stacks");
    base_ = static_cast<char*>(p);
    for (std::size_t i = 0; i < count_; ++i) mprotect(base_ + i * slot_, page_, PROT_NONE);
  }
  char* lo(std::size_t i) const { return base_ + i * slot_ + page_; }
  std::size_t size() const { return slot_ - page_; }

 private:
  char* base_ = nullptr;
  std::size_t slot_ = 0, page_ = 0, count_ = 0;
};

struct Block : BlockHeader {
  const char* kernel = "";
  Body body = nullptr;
  void* closure = nullptr;
  std::vector<Thread> threads;
  bctx::fcontext_t sched_ctx = nullptr;
  const void* sched_stack_bottom = nullptr;
  std::size_t sched_stack_size = 0;
  std::string fault;  // first bug seen; the block stops at the next switch
  // Shared memory: dynamic part first, then static variables in order of
  // first use, each followed by a poisoned redzone.
  std::vector<unsigned char> shared;
  std::size_t dynamic_bytes = 0, static_bytes = 0, shared_used = 0;
  std::vector<std::pair<const void*, std::size_t>> static_sites;  // site -> offset
  // ThreadSanitizer sync objects: launch start and fiber-to-host are per
  // launch; the barrier pair and 4 per thread for collectives are per block
  // (freed with it, so one block's clocks never leak into the next).
  char tsan_launch = 0, tsan_to_host = 0;
  std::unique_ptr<char[]> tsan_block_sync;
  void* tsan_host_fiber = nullptr;
  char* barrier_sync(unsigned gen) { return &tsan_block_sync[gen & 1]; }
  char* lane_sync(std::size_t thread, unsigned slot) {
    return &tsan_block_sync[2 + 4 * thread + (slot & 3)];
  }
};

struct Engine {
  ScheduleSpec spec;
  bool throw_on_error = true;
  std::string last_fault;
  Counters counters;
  StackPool stacks;
  Block* block = nullptr;  // the block being run, for rendezvous and reports
  Thread* current = nullptr;
  std::uint64_t launches_in_schedule = 0;  // seeds random orders reproducibly
};

thread_local Engine engine;

#if defined(ECG_EMU_TSAN)
Bookkeeping::Bookkeeping() {
  __tsan_ignore_thread_begin();
  if (engine.current) ++engine.current->tsan_ignores;
}
Bookkeeping::~Bookkeeping() {
  if (engine.current) --engine.current->tsan_ignores;
  __tsan_ignore_thread_end();
}
#endif

std::string dim_str(unsigned x, unsigned y, unsigned z) {
  std::ostringstream os;
  os << "(" << x << "," << y << "," << z << ")";
  return os.str();
}

std::string where(const Block& b, const Thread* t) {
  std::ostringstream os;
  os << "kernel " << b.kernel << " block " << dim_str(b.block_idx.x, b.block_idx.y, b.block_idx.z);
  if (t) {
    os << " thread " << dim_str(t->thread_idx.x, t->thread_idx.y, t->thread_idx.z) << " (warp "
       << t->warp << " lane " << t->lane << ")";
  }
  return os.str();
}

std::string hex(unsigned v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

std::string site(const Thread& t) {
  return std::string(t.file) + ":" + std::to_string(t.line);
}

const EnumName<WarpOp> kWarpOpNames[] = {{WarpOp::kShflIdx, "__shfl_sync"},
                                         {WarpOp::kShflUp, "__shfl_up_sync"},
                                         {WarpOp::kShflDown, "__shfl_down_sync"},
                                         {WarpOp::kShflXor, "__shfl_xor_sync"},
                                         {WarpOp::kAll, "__all_sync"},
                                         {WarpOp::kAny, "__any_sync"},
                                         {WarpOp::kBallot, "__ballot_sync"},
                                         {WarpOp::kSyncWarp, "__syncwarp"}};

const char* op_name(WarpOp op) {
  return name_of(kWarpOpNames, op);
}

std::string describe_wait(const Thread& t) {
  switch (t.state) {
    case State::kRunnable:
      return "running";
    case State::kDone:
      return "exited";
    case State::kAtBarrier:
      return "at __syncthreads " + site(t);
    case State::kAtWarp:
      return std::string("at ") + op_name(t.op) + " " + site(t);
  }
  return "?";
}

// ---- context switches ------------------------------------------------------

[[noreturn]] void fiber_main(bctx::transfer_t from);

void run_thread_body(Block& b) {
  try {
    b.body(b.closure);
  } catch (const std::exception& e) {
    Bookkeeping internal;
    if (b.fault.empty()) b.fault = "C++ exception in " + where(b, engine.current) + ": " + e.what();
  }
}

[[noreturn]] void fiber_main(bctx::transfer_t from) {
  Block* bp = nullptr;
  {
    Bookkeeping internal;
    bp = engine.block;
    bp->sched_ctx = from.fctx;
#if defined(ECG_EMU_ASAN)
    __sanitizer_finish_switch_fiber(nullptr, &bp->sched_stack_bottom, &bp->sched_stack_size);
#endif
    tsan_acquire(&bp->tsan_launch);  // what the host wrote before the launch
  }
  run_thread_body(*bp);
  bctx::fcontext_t to;
  [[maybe_unused]] void* host_fiber;
  {
    Bookkeeping internal;
    Block& b = *bp;
    engine.current->state = State::kDone;
    tsan_release(&b.tsan_to_host);
    to = b.sched_ctx;
    host_fiber = b.tsan_host_fiber;
#if defined(ECG_EMU_ASAN)
    // nullptr: this fiber never runs again, so ASan may free its fake stack.
    __sanitizer_start_switch_fiber(nullptr, b.sched_stack_bottom, b.sched_stack_size);
#endif
  }
#if defined(ECG_EMU_TSAN)
  __tsan_switch_to_fiber(host_fiber, __tsan_switch_to_fiber_no_sync);
#endif
  bctx::jump_fcontext(to, nullptr);
  std::abort();  // a finished fiber is never resumed
}

// From a fiber back to the scheduler; returns when the scheduler resumes it.
void switch_to_scheduler() {
  Block& b = *engine.block;
  [[maybe_unused]] Thread* t = engine.current;
  tsan_release(&b.tsan_to_host);  // the host may read results after a fault, too
  bctx::fcontext_t to = b.sched_ctx;
#if defined(ECG_EMU_ASAN)
  __sanitizer_start_switch_fiber(&t->asan_fake_stack, b.sched_stack_bottom, b.sched_stack_size);
#endif
#if defined(ECG_EMU_TSAN)
  void* host_fiber = b.tsan_host_fiber;
  const int ignores = t->tsan_ignores;
  for (int i = 0; i < ignores; ++i) __tsan_ignore_thread_end();
  __tsan_switch_to_fiber(host_fiber, __tsan_switch_to_fiber_no_sync);
#endif
  bctx::transfer_t back = bctx::jump_fcontext(to, nullptr);
#if defined(ECG_EMU_TSAN)
  for (int i = 0; i < ignores; ++i) __tsan_ignore_thread_begin();
#endif
  b.sched_ctx = back.fctx;
#if defined(ECG_EMU_ASAN)
  __sanitizer_finish_switch_fiber(t->asan_fake_stack, nullptr, nullptr);
#endif
  if (!b.fault.empty()) {
    // The scheduler never resumes a fiber after a fault; reaching here is a bug.
    std::abort();
  }
}

void resume(Block& b, Thread& t) {
  engine.current = &t;
  ++engine.counters.switches;
  bctx::fcontext_t to = t.ctx;
#if defined(ECG_EMU_ASAN)
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, t.stack_lo, t.stack_size);
#endif
#if defined(ECG_EMU_TSAN)
  b.tsan_host_fiber = __tsan_get_current_fiber();
  __tsan_switch_to_fiber(t.tsan_fiber, __tsan_switch_to_fiber_no_sync);
#else
  (void)b;
#endif
  bctx::transfer_t back = bctx::jump_fcontext(to, &t);
  t.ctx = back.fctx;
#if defined(ECG_EMU_ASAN)
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
  engine.current = nullptr;
}

// ---- crash context -----------------------------------------------------------

// A segfault inside a kernel (a wild pointer, or a fiber overflowing into its
// guard page) names the CUDA thread before the process dies.
void print_crash_context() {
  Engine& e = engine;
  if (!e.block) return;
  std::string msg = "cuda-emu: crashed in " + where(*e.block, e.current) + "\n";
  ssize_t ignored = write(2, msg.data(), msg.size());
  (void)ignored;
}

#if !defined(ECG_EMU_ASAN)
void segv_handler(int sig) {
  print_crash_context();
  signal(sig, SIG_DFL);
  raise(sig);
}
#endif

void install_crash_reporting() {
  static thread_local bool installed = false;
  if (installed) return;
  installed = true;
#if defined(ECG_EMU_ASAN)
  __sanitizer_set_death_callback(print_crash_context);
#else
  // The handler must run on its own stack: a fiber that overflowed has none left.
  static thread_local std::vector<char> alt(64 * 1024);
  stack_t ss{};
  ss.ss_sp = alt.data();
  ss.ss_size = alt.size();
  sigaltstack(&ss, nullptr);
  struct sigaction old {};
  sigaction(SIGSEGV, nullptr, &old);
  if (old.sa_handler == SIG_DFL) {  // leave other tools' handlers alone
    struct sigaction sa {};
    sa.sa_handler = segv_handler;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGSEGV, &sa, nullptr);
    sigaction(SIGBUS, &sa, nullptr);
  }
#endif
}

// ---- rendezvous resolution ------------------------------------------------------

std::uint64_t lanes_of_warp(const Block& b, int warp) {
  int n = static_cast<int>(b.threads.size());
  int first = warp * 32;
  int count = std::min(32, n - first);
  return count == 32 ? 0xffffffffull : ((1ull << count) - 1);
}

// Source lane of a shuffle, or -1 when the lane keeps its own value.
int shuffle_source(const Thread& t) {
  int w = t.width, lane = t.lane, seg = lane & ~(w - 1);
  switch (t.op) {
    case WarpOp::kShflIdx:
      return seg + (t.arg & (w - 1));
    case WarpOp::kShflUp:
      return (lane - seg) < t.arg ? -1 : lane - t.arg;
    case WarpOp::kShflDown:
      return (lane - seg) + t.arg >= w ? -1 : lane + t.arg;
    case WarpOp::kShflXor: {
      int src = lane ^ t.arg;
      return (src >= seg + w || src >= 32) ? -1 : src;  // later segments are out of reach
    }
    default:
      return -1;
  }
}

// Completes every warp collective whose lanes have all arrived. Returns true
// if any thread became runnable; records a fault for a collective that can
// never complete.
bool resolve_warps(Block& b) {
  bool progress = false;
  int nwarps = static_cast<int>((b.threads.size() + 31) / 32);
  for (int w = 0; w < nwarps && b.fault.empty(); ++w) {
    std::uint64_t existing = lanes_of_warp(b, w);
    Thread* lanes = &b.threads[static_cast<std::size_t>(w) * 32];
    std::uint64_t done_mask = 0;  // lanes already resolved in this pass
    for (int l = 0; l < 32 && (existing >> l & 1); ++l) {
      Thread& t = lanes[l];
      if (t.state != State::kAtWarp || (done_mask >> l & 1)) continue;
      // Lanes beyond a partial last warp do not exist; a full mask is common
      // and harmless there, so they are dropped rather than reported.
      std::uint64_t group = t.mask & existing;
      if (!(group >> l & 1)) {
        b.fault = std::string(op_name(t.op)) + " with a mask that excludes the calling lane in " +
                  where(b, &t) + " at " + site(t);
        return false;
      }
      bool ready = true;
      for (int j = 0; j < 32 && b.fault.empty(); ++j) {
        if (!(group >> j & 1)) continue;
        Thread& o = lanes[j];
        if (o.state == State::kRunnable) {
          ready = false;
        } else if (o.state != State::kAtWarp) {
          b.fault = std::string(op_name(t.op)) + " at " + site(t) + " waits for lane " +
                    std::to_string(j) + " of its mask, which is " + describe_wait(o) + ", in " +
                    where(b, &t);
        } else if (o.op != t.op || o.mask != t.mask || o.width != t.width) {
          b.fault = "lanes of a warp at different collectives in " + where(b, &t) + ": lane " +
                    std::to_string(l) + " at " + op_name(t.op) + " " + site(t) + " mask " +
                    hex(t.mask) + ", lane " + std::to_string(j) + " at " + op_name(o.op) + " " +
                    site(o) + " mask " + hex(o.mask);
        }
      }
      if (!b.fault.empty()) return false;
      if (!ready) continue;
      std::uint64_t ballot = 0;
      for (int j = 0; j < 32; ++j)
        if ((group >> j & 1) && lanes[j].value) ballot |= 1ull << j;
      for (int j = 0; j < 32; ++j) {
        if (!(group >> j & 1)) continue;
        Thread& o = lanes[j];
        o.group = group;
        for (int p = 0; p < 32; ++p)
          if (group >> p & 1) o.peer_slot[p] = lanes[p].slot;
        switch (o.op) {
          case WarpOp::kAll:
            o.result = ballot == group;
            break;
          case WarpOp::kAny:
            o.result = ballot != 0;
            break;
          case WarpOp::kBallot:
            o.result = ballot;
            break;
          case WarpOp::kSyncWarp:
            o.result = 0;
            break;
          default: {
            int src = shuffle_source(o);
            if (src < 0) {
              o.result = o.value;
            } else if (!(group >> src & 1)) {
              b.fault = std::string(op_name(o.op)) + " at " + site(o) + " reads lane " +
                        std::to_string(src) + ", which is not in the mask (undefined value), in " +
                        where(b, &o);
              return false;
            } else {
              o.result = lanes[src].value;
            }
          }
        }
        o.state = State::kRunnable;
      }
      done_mask |= group;
      progress = true;
    }
  }
  return progress;
}

bool resolve_barrier(Block& b) {
  const Thread* first = nullptr;
  for (const Thread& t : b.threads) {
    if (t.state == State::kAtBarrier) {
      first = &t;
      break;
    }
  }
  if (!first) return false;
  int count = 0;
  for (const Thread& t : b.threads) {
    if (t.state != State::kAtBarrier) {
      b.fault = "__syncthreads at " + site(*first) +
                " is not reached by every thread: " + where(b, &t) + " is " + describe_wait(t) +
                " (first waiting: thread " +
                dim_str(first->thread_idx.x, first->thread_idx.y, first->thread_idx.z) + ")";
      return false;
    }
    if (t.line != first->line || std::strcmp(t.file, first->file) != 0) {
      b.fault = "threads wait at different __syncthreads in " + where(b, &t) + ": " + site(t) +
                " and " + site(*first) + " (thread " +
                dim_str(first->thread_idx.x, first->thread_idx.y, first->thread_idx.z) + ")";
      return false;
    }
    if (t.bar_kind != first->bar_kind) {
      b.fault = "threads wait at different forms of __syncthreads in " + where(b, &t);
      return false;
    }
    count += t.bar_pred != 0;
  }
  int n = static_cast<int>(b.threads.size());
  int result = 0;
  switch (first->bar_kind) {
    case BarrierKind::kPlain:
      result = 0;
      break;
    case BarrierKind::kCount:
      result = count;
      break;
    case BarrierKind::kAnd:
      result = count == n;
      break;
    case BarrierKind::kOr:
      result = count != 0;
      break;
  }
  for (Thread& t : b.threads) {
    t.bar_result = result;
    t.state = State::kRunnable;
  }
  return true;
}

std::string deadlock_report(const Block& b) {
  std::ostringstream os;
  os << "no thread can proceed in " << where(b, nullptr) << ":";
  int shown = 0;
  for (const Thread& t : b.threads) {
    if (t.state == State::kDone) continue;
    if (shown++ == 8) {
      os << " ...";
      break;
    }
    os << " thread " << dim_str(t.thread_idx.x, t.thread_idx.y, t.thread_idx.z) << " "
       << describe_wait(t) << ";";
  }
  return os.str();
}

// ---- one block ------------------------------------------------------------------

std::string run_block_fibers(Block& b, std::uint64_t block_seed) {
  const std::size_t n = b.threads.size();
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  if (engine.spec.schedule == Schedule::kReverse) std::reverse(order.begin(), order.end());
  std::mt19937_64 rng(block_seed);

  for (std::size_t i = 0; i < n; ++i) {
    Thread& t = b.threads[i];
    t.state = State::kRunnable;
    t.stack_lo = engine.stacks.lo(i);
    t.stack_size = engine.stacks.size();
    t.asan_fake_stack = nullptr;
    t.bar_gen = t.warp_gen = 0;
    t.tsan_ignores = 0;
#if defined(ECG_EMU_ASAN)
    // A stack abandoned after a fault may still carry poisoned frames.
    ASAN_UNPOISON_MEMORY_REGION(t.stack_lo, t.stack_size);
#endif
#if defined(ECG_EMU_TSAN)
    // A new TSan fiber per thread per block, on a stack whose history is
    // forgotten: the previous user of this stack was another CUDA thread.
    t.tsan_fiber = __tsan_create_fiber(0);
    AnnotateNewMemory(__FILE__, __LINE__, t.stack_lo, t.stack_size);
#endif
    t.ctx = bctx::make_fcontext(t.stack_lo + t.stack_size, t.stack_size, fiber_main);
  }

  for (;;) {
    bool ran = false;
    if (engine.spec.schedule == Schedule::kRandom) std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t i : order) {
      Thread& t = b.threads[i];
      if (t.state != State::kRunnable) continue;
      resume(b, t);
      ran = true;
      if (!b.fault.empty()) return b.fault;
    }
    if (ran) continue;
    bool all_done = true;
    for (const Thread& t : b.threads) all_done = all_done && t.state == State::kDone;
    if (all_done) return {};
    if (resolve_warps(b)) continue;
    if (!b.fault.empty()) return b.fault;
    if (resolve_barrier(b)) continue;
    if (!b.fault.empty()) return b.fault;
    return deadlock_report(b);
  }
}

std::string run_block(Block& b, std::uint64_t block_seed) {
  b.tsan_block_sync.reset(new char[2 + 4 * b.threads.size()]());
  std::string fault = run_block_fibers(b, block_seed);
  tsan_acquire(&b.tsan_to_host);  // every write of the block precedes what the host does next
#if defined(ECG_EMU_TSAN)
  for (Thread& t : b.threads) {
    __tsan_destroy_fiber(t.tsan_fiber);
    t.tsan_fiber = nullptr;
  }
#endif
  b.tsan_block_sync.reset();
  return fault;
}

std::string check_launch(const char* kernel, dim3 grid, dim3 block, std::size_t smem) {
  std::ostringstream os;
  unsigned long long threads = 1ull * block.x * block.y * block.z;
  const unsigned bd[3] = {block.x, block.y, block.z};
  const unsigned gd[3] = {grid.x, grid.y, grid.z};
  for (int i = 0; i < 3; ++i) {
    if (bd[i] == 0 || bd[i] > kMaxBlockDim[i] || gd[i] == 0 || gd[i] > kMaxGridDim[i]) {
      os << "invalid launch of kernel " << kernel << ": grid " << dim_str(grid.x, grid.y, grid.z)
         << " block " << dim_str(block.x, block.y, block.z)
         << " (sm_53 limits: block <= (1024,1024,64), grid <= (2^31-1,65535,65535), none 0)";
      return os.str();
    }
  }
  if (threads > kMaxThreadsPerBlock) {
    os << "invalid launch of kernel " << kernel << ": " << threads
       << " threads per block (sm_53 limit 1024)";
    return os.str();
  }
  if (smem > kMaxSharedPerBlock) {
    os << "invalid launch of kernel " << kernel << ": " << smem
       << " bytes of dynamic shared memory (sm_53 limit 49152 per block)";
    return os.str();
  }
  return {};
}

std::size_t align_up(std::size_t v, std::size_t a) {
  return (v + a - 1) / a * a;
}

}  // namespace

// ---- entry points used by emu.h ----------------------------------------------------

void launch(const char* kernel, dim3 grid, dim3 block, std::size_t smem, cudaStream_t stream,
            Body body, void* closure) {
  (void)stream;  // every stream is synchronous in the emulator
  Engine& e = engine;
  ++e.counters.launches;
  ++e.launches_in_schedule;
  std::string fault = check_launch(kernel, grid, block, smem);
  if (e.block) fault = "kernel " + std::string(kernel) + " launched from inside a kernel";
  if (fault.empty()) {
    install_crash_reporting();
    const std::size_t n = static_cast<std::size_t>(block.x) * block.y * block.z;
    e.stacks.ensure(n);
    Block b;
    b.kernel = kernel;
    b.body = body;
    b.closure = closure;
    b.grid_dim = grid;
    b.block_dim = block;
    b.threads.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      Thread& t = b.threads[i];
      t.linear = static_cast<int>(i);
      t.warp = static_cast<int>(i / 32);
      t.lane = static_cast<int>(i % 32);
      t.thread_idx.x = static_cast<unsigned>(i % block.x);
      t.thread_idx.y = static_cast<unsigned>(i / block.x % block.y);
      t.thread_idx.z = static_cast<unsigned>(i / (static_cast<std::size_t>(block.x) * block.y));
    }
    b.shared.resize(kMaxSharedPerBlock + 64 * kSharedRedzone);
    b.dynamic_bytes = smem;
    e.block = &b;
    tsan_release(&b.tsan_launch);  // kernel arguments and host writes precede every thread
    std::uint64_t block_counter = 0;
    std::size_t dirty = b.shared.size();
    for (unsigned z = 0; z < grid.z && fault.empty(); ++z)
      for (unsigned y = 0; y < grid.y && fault.empty(); ++y)
        for (unsigned x = 0; x < grid.x && fault.empty(); ++x) {
          b.block_idx.x = x;
          b.block_idx.y = y;
          b.block_idx.z = z;
          b.fault.clear();
          b.static_sites.clear();
          b.static_bytes = 0;
#if defined(ECG_EMU_ASAN)
          ASAN_UNPOISON_MEMORY_REGION(b.shared.data(), b.shared.size());
#endif
#if defined(ECG_EMU_TSAN)
          // Fresh shared memory: no happens-before with the previous block's threads.
          AnnotateNewMemory(__FILE__, __LINE__, b.shared.data(), b.shared.size());
          __tsan_ignore_thread_begin();
#endif
          // Only what the previous block could have touched needs fresh poison
          // (the first block poisons all of it).
          std::memset(b.shared.data(), kSharedPoison, std::min(dirty, b.shared.size()));
#if defined(ECG_EMU_TSAN)
          __tsan_ignore_thread_end();
#endif
          b.shared_used = align_up(smem, 16) + kSharedRedzone;
#if defined(ECG_EMU_ASAN)
          ASAN_POISON_MEMORY_REGION(b.shared.data(), b.shared.size());
          ASAN_UNPOISON_MEMORY_REGION(b.shared.data(), smem);
#endif
          ++e.counters.blocks;
          e.counters.threads += n;
          std::uint64_t seed = e.spec.seed * 0x9e3779b97f4a7c15ull +
                               e.launches_in_schedule * 1000003ull + block_counter++;
          fault = run_block(b, seed);
          dirty = b.shared_used;
        }
#if defined(ECG_EMU_ASAN)
    ASAN_UNPOISON_MEMORY_REGION(b.shared.data(), b.shared.size());
#endif
    e.block = nullptr;
  }
  if (fault.empty()) return;
  e.last_fault = "cuda-emu [" + e.spec.name() + "]: " + fault;
  record_launch_error(fault.rfind("invalid launch", 0) == 0 ? cudaErrorInvalidConfiguration
                                                            : cudaErrorLaunchFailure);
  if (e.throw_on_error) throw KernelFault(e.last_fault);
}

ThreadHeader current_thread() {
  Bookkeeping internal;
  if (!engine.current) device_trap("threadIdx read outside a kernel", "", 0);
  return *engine.current;
}

BlockHeader current_block() {
  Bookkeeping internal;
  if (!engine.block) device_trap("blockIdx/blockDim/gridDim read outside a kernel", "", 0);
  return *engine.block;
}

void* dynamic_shared_memory() {
  Bookkeeping internal;
  Block* b = engine.block;
  if (!b) device_trap("dynamic shared memory used outside a kernel", "", 0);
  return b->shared.data();
}

void* static_shared_memory(const void* site_key, std::size_t size, std::size_t align,
                           const char* name) {
  Bookkeeping internal;
  Block& b = *engine.block;
  for (const auto& s : b.static_sites)
    if (s.first == site_key) return b.shared.data() + s.second;
  std::size_t offset = align_up(b.shared_used, std::max<std::size_t>(align, 16));
  if (b.dynamic_bytes + b.static_bytes + size > kMaxSharedPerBlock ||
      offset + size + kSharedRedzone > b.shared.size()) {
    b.fault = "shared variable '" + std::string(name) + "' (" + std::to_string(size) +
              " bytes) takes the block past the 48 KiB of shared memory of sm_53 in " +
              where(b, engine.current);
    switch_to_scheduler();
  }
  b.static_bytes += size;
  b.static_sites.emplace_back(site_key, offset);
  b.shared_used = offset + size + kSharedRedzone;
#if defined(ECG_EMU_ASAN)
  ASAN_UNPOISON_MEMORY_REGION(b.shared.data() + offset, size);
#endif
  return b.shared.data() + offset;
}

int barrier(BarrierKind kind, int predicate, const char* file, int line) {
  Bookkeeping internal;
  Thread* t = engine.current;
  if (!t) device_trap("__syncthreads outside a kernel", file, line);
  t->state = State::kAtBarrier;
  t->bar_kind = kind;
  t->bar_pred = predicate != 0;
  t->file = file;
  t->line = line;
  Block& b = *engine.block;
  tsan_release(b.barrier_sync(t->bar_gen));
  switch_to_scheduler();
  tsan_acquire(b.barrier_sync(t->bar_gen));
  ++t->bar_gen;  // the next barrier uses the other object, which no late thread still reads
  return t->bar_result;
}

std::uint64_t warp_collective(WarpOp op, unsigned mask, std::uint64_t value, int arg, int width,
                              const char* file, int line) {
  Bookkeeping internal;
  Thread* t = engine.current;
  if (!t) device_trap("warp collective outside a kernel", file, line);
  if (width < 1 || width > 32 || (width & (width - 1)) != 0) {
    engine.block->fault = std::string(op_name(op)) + " with width " + std::to_string(width) +
                          " (must be a power of two <= 32) at " + file + ":" +
                          std::to_string(line) + " in " + where(*engine.block, t);
    switch_to_scheduler();
  }
  t->state = State::kAtWarp;
  t->op = op;
  t->mask = mask;
  t->value = value;
  t->arg = arg;
  t->width = width;
  t->file = file;
  t->line = line;
  Block& b = *engine.block;
  t->slot = static_cast<unsigned char>(t->warp_gen++ & 3);
  tsan_release(b.lane_sync(static_cast<std::size_t>(t->linear), t->slot));
  switch_to_scheduler();
  const std::size_t first = static_cast<std::size_t>(t->warp) * 32;
  for (int j = 0; j < 32; ++j)
    if (t->group >> j & 1)
      tsan_acquire(b.lane_sync(first + static_cast<std::size_t>(j), t->peer_slot[j]));
  return t->result;
}

unsigned active_mask() {
  Bookkeeping internal;
  // Without a model of divergence, every lane that has not exited counts.
  Block* b = engine.block;
  Thread* t = engine.current;
  if (!b || !t) return 0;
  unsigned m = 0;
  std::size_t first = static_cast<std::size_t>(t->warp) * 32;
  for (std::size_t j = 0; j < 32 && first + j < b->threads.size(); ++j)
    if (b->threads[first + j].state != State::kDone) m |= 1u << j;
  return m;
}

void yield_point() {
  Bookkeeping internal;
  Thread* t = engine.current;
  if (!t) return;  // atomics on host memory outside a kernel
  t->state = State::kRunnable;
  switch_to_scheduler();
}

void device_trap(const char* what, const char* file, int line) {
  Bookkeeping internal;
  Engine& e = engine;
  if (e.block && e.current) {
    e.block->fault = std::string(what) + " at " + file + ":" + std::to_string(line) + " in " +
                     where(*e.block, e.current);
    switch_to_scheduler();
  }
  throw KernelFault(std::string("cuda-emu: ") + what);
}

#if defined(ECG_EMU_TSAN)
std::atomic<std::uint64_t> race_report_count{0};
#endif

}  // namespace detail

#if defined(ECG_EMU_TSAN)
// Called by ThreadSanitizer for every report it prints; lets tests count them.
extern "C" void __tsan_on_report(void*) {
  ++detail::race_report_count;
}
#endif

bool race_detection() {
#if defined(ECG_EMU_TSAN)
  return true;
#else
  return false;
#endif
}

std::uint64_t race_reports() {
#if defined(ECG_EMU_TSAN)
  return detail::race_report_count.load();
#else
  return 0;
#endif
}

// ---- public control -------------------------------------------------------------------

std::string ScheduleSpec::name() const {
  switch (schedule) {
    case Schedule::kForward:
      return "forward";
    case Schedule::kReverse:
      return "reverse";
    case Schedule::kRandom:
      return "random(seed " + std::to_string(seed) + ")";
  }
  return "?";
}

const ScheduleSpec* standard_schedules(std::size_t* count) {
  static const ScheduleSpec specs[3] = {{Schedule::kForward, 0},
                                        {Schedule::kReverse, 0},
                                        {Schedule::kRandom, [] {
                                           const char* env = std::getenv("ECG_CUDA_EMU_SEED");
                                           return env ? std::strtoull(env, nullptr, 10) : 1ull;
                                         }()}};
  *count = 3;
  return specs;
}

void set_schedule(const ScheduleSpec& spec) {
  detail::engine.spec = spec;
  detail::engine.launches_in_schedule = 0;
}
ScheduleSpec current_schedule() {
  return detail::engine.spec;
}
void set_throw_on_error(bool on) {
  detail::engine.throw_on_error = on;
}
std::string last_fault_message() {
  return detail::engine.last_fault;
}
Counters counters() {
  return detail::engine.counters;
}

}  // namespace ecg::cuda_emu
