// CUDA device API on the CPU: the host-compiler half of cuda_compat.h.
//
// Include kernels/cuda/emu/cuda_compat.h, not this file. What it provides:
// - NVIDIA's own cuda_runtime.h / cuda_fp16.h for dim3, vector types and
//   __half/__half2 (host-compilable since CUDA 9), with __CUDA_ARCH__ left
//   undefined so they stay host code;
// - threadIdx, blockIdx, blockDim, gridDim, warpSize;
// - __syncthreads (+ _count/_and/_or), __syncwarp, warp shuffles and votes
//   as rendezvous points of the emulated threads (emu/scheduler.cpp);
// - atomics (relaxed, each one a scheduling point), fences, and the
//   intrinsics our kernels use, with PTX semantics where they differ from
//   plain C++ (saturating float->int with NaN -> 0, __dp4a only for
//   ECG_EMU_ARCH >= 610, atomicAdd(double*) only for >= 600, as nvcc does);
// - the runtime subset in emu/runtime.cpp. Its functions are renamed to
//   ecg_emu_cuda* before NVIDIA's declarations are read, so a binary can link
//   the emulator and the real libcudart side by side.
#pragma once

#if defined(__CUDA_RUNTIME_H__) || defined(__CUDA_RUNTIME_API_H__)
#error "include kernels/cuda/emu/cuda_compat.h before any CUDA header"
#endif
#if defined(__CUDA_ARCH__)
#error "the emulator is for host compilers; __CUDA_ARCH__ must not be defined"
#endif

#ifndef ECG_EMU_ARCH
#define ECG_EMU_ARCH 530  // the Jetson Nano; tests of sm_61+ paths build with 610
#endif

// The runtime subset the emulator implements (emu/runtime.cpp).
#define cudaMalloc ecg_emu_cudaMalloc
#define cudaFree ecg_emu_cudaFree
#define cudaMallocHost ecg_emu_cudaMallocHost
#define cudaFreeHost ecg_emu_cudaFreeHost
#define cudaMemcpy ecg_emu_cudaMemcpy
#define cudaMemcpyAsync ecg_emu_cudaMemcpyAsync
#define cudaMemset ecg_emu_cudaMemset
#define cudaMemsetAsync ecg_emu_cudaMemsetAsync
#define cudaMemcpyToSymbol ecg_emu_cudaMemcpyToSymbol
#define cudaMemcpyFromSymbol ecg_emu_cudaMemcpyFromSymbol
#define cudaMemGetInfo ecg_emu_cudaMemGetInfo
#define cudaDeviceSynchronize ecg_emu_cudaDeviceSynchronize
#define cudaDeviceReset ecg_emu_cudaDeviceReset
#define cudaGetLastError ecg_emu_cudaGetLastError
#define cudaPeekAtLastError ecg_emu_cudaPeekAtLastError
#define cudaGetErrorString ecg_emu_cudaGetErrorString
#define cudaGetErrorName ecg_emu_cudaGetErrorName
#define cudaGetDeviceCount ecg_emu_cudaGetDeviceCount
#define cudaGetDevice ecg_emu_cudaGetDevice
#define cudaSetDevice ecg_emu_cudaSetDevice
#define cudaGetDeviceProperties ecg_emu_cudaGetDeviceProperties
#define cudaStreamCreate ecg_emu_cudaStreamCreate
#define cudaStreamCreateWithFlags ecg_emu_cudaStreamCreateWithFlags
#define cudaStreamDestroy ecg_emu_cudaStreamDestroy
#define cudaStreamSynchronize ecg_emu_cudaStreamSynchronize
#define cudaEventCreate ecg_emu_cudaEventCreate
#define cudaEventCreateWithFlags ecg_emu_cudaEventCreateWithFlags
#define cudaEventRecord ecg_emu_cudaEventRecord
#define cudaEventSynchronize ecg_emu_cudaEventSynchronize
#define cudaEventElapsedTime ecg_emu_cudaEventElapsedTime
#define cudaEventDestroy ecg_emu_cudaEventDestroy
#define cudaFuncSetAttribute ecg_emu_cudaFuncSetAttribute

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

namespace ecg_cuda {
template <class T>
using identity_t = T;
}

namespace ecg::cuda_emu {

// Thread orders the block scheduler can use. A missing barrier is usually
// hidden by one order and exposed by another, so tests run all three.
enum class Schedule { kForward, kReverse, kRandom };

struct ScheduleSpec {
  Schedule schedule = Schedule::kForward;
  std::uint64_t seed = 0;  // used by kRandom
  std::string name() const;
};

// The three schedules every kernel test runs under. The random seed is 1
// unless ECG_CUDA_EMU_SEED is set, so a failure can be replayed and other
// seeds explored without recompiling.
const ScheduleSpec* standard_schedules(std::size_t* count);

void set_schedule(const ScheduleSpec& spec);
ScheduleSpec current_schedule();

// What a detected kernel bug throws (unless set_throw_on_error(false), in
// which case the launch only records cudaErrorLaunchFailure, as a GPU would).
class KernelFault : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
void set_throw_on_error(bool on);
// The message of the last fault or invalid launch ("" when none).
std::string last_fault_message();

// Under ThreadSanitizer (-fsanitize=thread) the emulator reports data races
// between emulated threads of a block, and between blocks, whatever the
// schedule; race_reports() counts the reports printed so far.
bool race_detection();
std::uint64_t race_reports();

struct Counters {
  std::uint64_t launches = 0, blocks = 0, threads = 0, switches = 0;
};
Counters counters();

namespace detail {

struct ThreadHeader {
  uint3 thread_idx;  // first member: threadIdx reads it through one pointer
};
struct BlockHeader {
  uint3 block_idx;
  dim3 block_dim, grid_dim;
};
// Out of line on purpose: GCC's -fsanitize=null reports the address of an
// `extern thread_local` as null when it is read from a fiber stack. By value,
// so that ThreadSanitizer sees no kernel access to the emulator's records.
ThreadHeader current_thread();
BlockHeader current_block();

using Body = void (*)(void* closure);
void launch(const char* kernel, dim3 grid, dim3 block, std::size_t smem, cudaStream_t stream,
            Body body, void* closure);

void* dynamic_shared_memory();
void* static_shared_memory(const void* site, std::size_t size, std::size_t align, const char* name);

enum class BarrierKind { kPlain, kCount, kAnd, kOr };
int barrier(BarrierKind kind, int predicate, const char* file, int line);

enum class WarpOp { kShflIdx, kShflUp, kShflDown, kShflXor, kAll, kAny, kBallot, kSyncWarp };
// Blocks the calling lane until every lane of `mask` has arrived at the same
// kind of operation, then returns this lane's result (shuffled bits or vote).
std::uint64_t warp_collective(WarpOp op, unsigned mask, std::uint64_t value, int arg, int width,
                              const char* file, int line);
unsigned active_mask();
// Atomics and fences are points where the emulated thread lets others run;
// that keeps spin-waits on atomics alive and varies the interleaving.
void yield_point();
[[noreturn]] void device_trap(const char* what, const char* file, int line);
// Sets the error cudaGetLastError/cudaDeviceSynchronize report (emu/runtime.cpp).
void record_launch_error(cudaError_t error);

// __half and __half2 declare their own copy assignment, so they are not
// trivially copyable in C++ terms, yet CUDA shuffles them as raw bits; so
// does the emulator, for any standard-layout type of at most 8 bytes.
template <class T>
std::uint64_t to_bits(const T& v) {
  static_assert(std::is_standard_layout<T>::value && sizeof(T) <= 8,
                "warp shuffles move at most 8 bytes of a plain type");
  std::uint64_t bits = 0;
  std::memcpy(&bits, static_cast<const void*>(&v), sizeof(T));
  return bits;
}
template <class T>
T from_bits(std::uint64_t bits) {
  T v;
  std::memcpy(static_cast<void*>(&v), &bits, sizeof(T));
  return v;
}

template <class F, class Tuple, std::size_t... I>
void apply_kernel(F fn, Tuple& args, std::index_sequence<I...>) {
  fn(std::get<I>(args)...);  // each emulated thread gets its own parameter copies
}

}  // namespace detail

// What ECG_LAUNCH(...) returns: calling it with the kernel's arguments runs
// the whole grid before returning (every stream is synchronous here).
template <class... P>
class Launch {
 public:
  Launch(void (*fn)(P...), const char* name, dim3 grid, dim3 block, std::size_t smem,
         cudaStream_t stream)
      : fn_(fn), name_(name), grid_(grid), block_(block), smem_(smem), stream_(stream) {}

  template <class... A>
  void operator()(A&&... args) const {
    static_assert(sizeof...(A) == sizeof...(P), "wrong number of kernel arguments");
    // Converted once to the parameter types, as a real launch marshals them.
    struct Closure {
      void (*fn)(P...);
      std::tuple<typename std::decay<P>::type...> args;
    } closure{fn_, std::tuple<typename std::decay<P>::type...>(std::forward<A>(args)...)};
    detail::launch(
        name_, grid_, block_, smem_, stream_,
        [](void* c) {
          auto* cl = static_cast<Closure*>(c);
          auto copy = cl->args;
          detail::apply_kernel(cl->fn, copy, std::index_sequence_for<P...>{});
        },
        &closure);
  }

 private:
  void (*fn_)(P...);
  const char* name_;
  dim3 grid_, block_;
  std::size_t smem_;
  cudaStream_t stream_;
};

template <class... P>
Launch<P...> make_launch(void (*fn)(P...), const char* name, dim3 grid, dim3 block,
                         std::size_t smem, cudaStream_t stream) {
  return Launch<P...>(fn, name, grid, block, smem, stream);
}

}  // namespace ecg::cuda_emu

// ---- built-in variables ----------------------------------------------------
#define threadIdx (::ecg::cuda_emu::detail::current_thread().thread_idx)
#define blockIdx (::ecg::cuda_emu::detail::current_block().block_idx)
#define blockDim (::ecg::cuda_emu::detail::current_block().block_dim)
#define gridDim (::ecg::cuda_emu::detail::current_block().grid_dim)
constexpr int warpSize = 32;  // a variable, not a macro: cudaDeviceProp has a member of that name

// A plain `__shared__` would be an ordinary local (one copy per emulated
// thread), so it is refused; ECG_SHARED gives block-wide, poisoned storage.
#undef __shared__
#define __shared__ static_assert(false, "use ECG_SHARED(type, name) for shared memory");
#undef __constant__
#define __constant__
#ifndef __launch_bounds__
#define __launch_bounds__(...)
#endif
// `#pragma unroll` is nvcc's: ecg_cuda_emu's users build with -Wno-unknown-pragmas
// (kernels/cuda/CMakeLists.txt), as GCC cannot silence it from a header.

// ---- barriers and warp collectives ------------------------------------------
inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::ecg::cuda_emu::detail::barrier(::ecg::cuda_emu::detail::BarrierKind::kPlain, 0, file, line);
}
inline int __syncthreads_count(int pred, const char* file = __builtin_FILE(),
                               int line = __builtin_LINE()) {
  return ::ecg::cuda_emu::detail::barrier(::ecg::cuda_emu::detail::BarrierKind::kCount, pred, file,
                                          line);
}
inline int __syncthreads_and(int pred, const char* file = __builtin_FILE(),
                             int line = __builtin_LINE()) {
  return ::ecg::cuda_emu::detail::barrier(::ecg::cuda_emu::detail::BarrierKind::kAnd, pred, file,
                                          line);
}
inline int __syncthreads_or(int pred, const char* file = __builtin_FILE(),
                            int line = __builtin_LINE()) {
  return ::ecg::cuda_emu::detail::barrier(::ecg::cuda_emu::detail::BarrierKind::kOr, pred, file,
                                          line);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, const char* file = __builtin_FILE(),
                       int line = __builtin_LINE()) {
  ::ecg::cuda_emu::detail::warp_collective(::ecg::cuda_emu::detail::WarpOp::kSyncWarp, mask, 0, 0,
                                           32, file, line);
}

#define ECG_EMU_SHFL(NAME, OP, ARGT)                                                           \
  template <class T>                                                                           \
  inline T NAME(unsigned mask, T var, ARGT arg, int width = 32,                                \
                const char* file = __builtin_FILE(), int line = __builtin_LINE()) {            \
    using ::ecg::cuda_emu::detail::from_bits;                                                  \
    using ::ecg::cuda_emu::detail::to_bits;                                                    \
    return from_bits<T>(::ecg::cuda_emu::detail::warp_collective(                              \
        ::ecg::cuda_emu::detail::WarpOp::OP, mask, to_bits(var), static_cast<int>(arg), width, \
        file, line));                                                                          \
  }
ECG_EMU_SHFL(__shfl_sync, kShflIdx, int)
ECG_EMU_SHFL(__shfl_up_sync, kShflUp, unsigned)
ECG_EMU_SHFL(__shfl_down_sync, kShflDown, unsigned)
ECG_EMU_SHFL(__shfl_xor_sync, kShflXor, int)
#undef ECG_EMU_SHFL

inline int __all_sync(unsigned mask, int pred, const char* file = __builtin_FILE(),
                      int line = __builtin_LINE()) {
  return static_cast<int>(::ecg::cuda_emu::detail::warp_collective(
      ::ecg::cuda_emu::detail::WarpOp::kAll, mask, pred != 0, 0, 32, file, line));
}
inline int __any_sync(unsigned mask, int pred, const char* file = __builtin_FILE(),
                      int line = __builtin_LINE()) {
  return static_cast<int>(::ecg::cuda_emu::detail::warp_collective(
      ::ecg::cuda_emu::detail::WarpOp::kAny, mask, pred != 0, 0, 32, file, line));
}
inline unsigned __ballot_sync(unsigned mask, int pred, const char* file = __builtin_FILE(),
                              int line = __builtin_LINE()) {
  return static_cast<unsigned>(::ecg::cuda_emu::detail::warp_collective(
      ::ecg::cuda_emu::detail::WarpOp::kBallot, mask, pred != 0, 0, 32, file, line));
}
inline unsigned __activemask() {
  return ::ecg::cuda_emu::detail::active_mask();
}

inline void __threadfence() {
  ::ecg::cuda_emu::detail::yield_point();
}
inline void __threadfence_block() {
  ::ecg::cuda_emu::detail::yield_point();
}
inline void __threadfence_system() {
  ::ecg::cuda_emu::detail::yield_point();
}
inline void __trap(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  ::ecg::cuda_emu::detail::device_trap("__trap()", file, line);
}

// ---- atomics: relaxed, each one a scheduling point ----------------------------
// Fibers of one block share one OS thread, so the read-modify-write itself
// cannot be torn; yielding first lets the schedule interleave other threads.
// The load and store are relaxed atomics (plain moves on x86-64 and AArch64)
// so that ThreadSanitizer treats them as atomics without ordering, as CUDA does.
#define ECG_EMU_ATOMIC(NAME, T, EXPR)                    \
  inline T NAME(T* address, T val) {                     \
    ::ecg::cuda_emu::detail::yield_point();              \
    T old;                                               \
    __atomic_load(address, &old, __ATOMIC_RELAXED);      \
    T desired = (EXPR);                                  \
    __atomic_store(address, &desired, __ATOMIC_RELAXED); \
    return old;                                          \
  }
ECG_EMU_ATOMIC(atomicAdd, int, old + val)
ECG_EMU_ATOMIC(atomicAdd, unsigned, old + val)
ECG_EMU_ATOMIC(atomicAdd, unsigned long long, old + val)
ECG_EMU_ATOMIC(atomicAdd, float, old + val)
#if ECG_EMU_ARCH >= 600
ECG_EMU_ATOMIC(atomicAdd, double, old + val)  // sm_60+: the Nano has no double atomicAdd
#endif
ECG_EMU_ATOMIC(atomicSub, int, old - val)
ECG_EMU_ATOMIC(atomicSub, unsigned, old - val)
ECG_EMU_ATOMIC(atomicExch, int, val)
ECG_EMU_ATOMIC(atomicExch, unsigned, val)
ECG_EMU_ATOMIC(atomicExch, unsigned long long, val)
ECG_EMU_ATOMIC(atomicExch, float, val)
ECG_EMU_ATOMIC(atomicMin, int, val < old ? val : old)
ECG_EMU_ATOMIC(atomicMin, unsigned, val < old ? val : old)
ECG_EMU_ATOMIC(atomicMin, unsigned long long, val < old ? val : old)
ECG_EMU_ATOMIC(atomicMin, long long, val < old ? val : old)
ECG_EMU_ATOMIC(atomicMax, int, val > old ? val : old)
ECG_EMU_ATOMIC(atomicMax, unsigned, val > old ? val : old)
ECG_EMU_ATOMIC(atomicMax, unsigned long long, val > old ? val : old)
ECG_EMU_ATOMIC(atomicMax, long long, val > old ? val : old)
ECG_EMU_ATOMIC(atomicAnd, int, old& val)
ECG_EMU_ATOMIC(atomicAnd, unsigned, old& val)
ECG_EMU_ATOMIC(atomicAnd, unsigned long long, old& val)
ECG_EMU_ATOMIC(atomicOr, int, old | val)
ECG_EMU_ATOMIC(atomicOr, unsigned, old | val)
ECG_EMU_ATOMIC(atomicOr, unsigned long long, old | val)
ECG_EMU_ATOMIC(atomicXor, int, old ^ val)
ECG_EMU_ATOMIC(atomicXor, unsigned, old ^ val)
ECG_EMU_ATOMIC(atomicXor, unsigned long long, old ^ val)
// PTX atom.inc/dec: wrap to 0 past `val`, and to `val` below 0 or above it.
ECG_EMU_ATOMIC(atomicInc, unsigned, old >= val ? 0u : old + 1u)
ECG_EMU_ATOMIC(atomicDec, unsigned, (old == 0u || old > val) ? val : old - 1u)
#undef ECG_EMU_ATOMIC

#define ECG_EMU_ATOMIC_CAS(T)                                            \
  inline T atomicCAS(T* address, T compare, T val) {                     \
    ::ecg::cuda_emu::detail::yield_point();                              \
    T old;                                                               \
    __atomic_load(address, &old, __ATOMIC_RELAXED);                      \
    if (old == compare) __atomic_store(address, &val, __ATOMIC_RELAXED); \
    return old;                                                          \
  }
ECG_EMU_ATOMIC_CAS(int)
ECG_EMU_ATOMIC_CAS(unsigned)
ECG_EMU_ATOMIC_CAS(unsigned long long)
#undef ECG_EMU_ATOMIC_CAS

// ---- intrinsics ---------------------------------------------------------------
template <class T>
inline T __ldg(const T* p) {
  return *p;
}

namespace ecg::cuda_emu::detail {
// cvt.rni/rzi/rmi/rpi.sat.s32.f32: round, saturate to the type's range, NaN -> 0.
template <class I, class F>
inline I saturating_convert(F x, F (*round)(F)) {
  if (std::isnan(x)) return 0;
  F r = round(x);
  if (r <= static_cast<F>(std::numeric_limits<I>::min())) return std::numeric_limits<I>::min();
  if (r >= static_cast<F>(std::numeric_limits<I>::max())) return std::numeric_limits<I>::max();
  return static_cast<I>(r);
}
inline float round_even(float x) {
  return std::nearbyint(x);
}  // default FE_TONEAREST
inline double round_even_d(double x) {
  return std::nearbyint(x);
}
inline float trunc_f(float x) {
  return std::trunc(x);
}
inline float floor_f(float x) {
  return std::floor(x);
}
inline float ceil_f(float x) {
  return std::ceil(x);
}
}  // namespace ecg::cuda_emu::detail

inline int __float2int_rn(float x) {
  return ::ecg::cuda_emu::detail::saturating_convert<int>(x, ::ecg::cuda_emu::detail::round_even);
}
inline int __float2int_rz(float x) {
  return ::ecg::cuda_emu::detail::saturating_convert<int>(x, ::ecg::cuda_emu::detail::trunc_f);
}
inline int __float2int_rd(float x) {
  return ::ecg::cuda_emu::detail::saturating_convert<int>(x, ::ecg::cuda_emu::detail::floor_f);
}
inline int __float2int_ru(float x) {
  return ::ecg::cuda_emu::detail::saturating_convert<int>(x, ::ecg::cuda_emu::detail::ceil_f);
}
inline unsigned __float2uint_rn(float x) {
  return ::ecg::cuda_emu::detail::saturating_convert<unsigned>(x,
                                                               ::ecg::cuda_emu::detail::round_even);
}
inline unsigned __float2uint_rz(float x) {
  return ::ecg::cuda_emu::detail::saturating_convert<unsigned>(x, ::ecg::cuda_emu::detail::trunc_f);
}
inline long long __float2ll_rn(float x) {
  return ::ecg::cuda_emu::detail::saturating_convert<long long>(
      x, ::ecg::cuda_emu::detail::round_even);
}
inline int __double2int_rn(double x) {
  return ::ecg::cuda_emu::detail::saturating_convert<int>(x, ::ecg::cuda_emu::detail::round_even_d);
}
inline float __int2float_rn(int x) {
  return static_cast<float>(x);
}
inline float __saturatef(float x) {
  return std::isnan(x) ? 0.0f : std::fmin(std::fmax(x, 0.0f), 1.0f);
}
inline float __fdividef(float a, float b) {
  return a / b;
}
inline float __expf(float x) {
  return std::exp(x);
}
inline float __logf(float x) {
  return std::log(x);
}
inline float __powf(float a, float b) {
  return std::pow(a, b);
}
inline float __fmaf_rn(float a, float b, float c) {
  return std::fma(a, b, c);
}
inline float __fmul_rn(float a, float b) {
  return a * b;
}
inline float __fadd_rn(float a, float b) {
  return a + b;
}
inline double __dmul_rn(double a, double b) {
  return a * b;
}
inline double __dadd_rn(double a, double b) {
  return a + b;
}
inline float rsqrtf(float x) {
  return 1.0f / std::sqrt(x);
}
inline float __frsqrt_rn(float x) {
  return 1.0f / std::sqrt(x);
}
inline float __int_as_float(int x) {
  return ::ecg::cuda_emu::detail::from_bits<float>(static_cast<unsigned>(x));
}
inline int __float_as_int(float x) {
  return static_cast<int>(::ecg::cuda_emu::detail::to_bits(x));
}
inline float __uint_as_float(unsigned x) {
  return ::ecg::cuda_emu::detail::from_bits<float>(x);
}
inline unsigned __float_as_uint(float x) {
  return static_cast<unsigned>(::ecg::cuda_emu::detail::to_bits(x));
}
inline int __popc(unsigned x) {
  return __builtin_popcount(x);
}
inline int __popcll(unsigned long long x) {
  return __builtin_popcountll(x);
}
inline int __clz(int x) {
  return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x));
}
inline int __ffs(int x) {
  return __builtin_ffs(x);
}
inline unsigned __brev(unsigned x) {
  unsigned r = 0;
  for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
  return r;
}
// prmt.b32: byte i of the result is byte (s >> 4i) & 7 of {y, x}.
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
  unsigned long long xy = (static_cast<unsigned long long>(y) << 32) | x;
  unsigned r = 0;
  for (int i = 0; i < 4; ++i)
    r |= static_cast<unsigned>((xy >> (8 * ((s >> (4 * i)) & 7))) & 0xff) << (8 * i);
  return r;
}
inline int min(int a, int b) {
  return a < b ? a : b;
}
inline unsigned min(unsigned a, unsigned b) {
  return a < b ? a : b;
}
inline long long min(long long a, long long b) {
  return a < b ? a : b;
}
inline float min(float a, float b) {
  return std::fmin(a, b);
}
inline double min(double a, double b) {
  return std::fmin(a, b);
}
inline int max(int a, int b) {
  return a > b ? a : b;
}
inline unsigned max(unsigned a, unsigned b) {
  return a > b ? a : b;
}
inline long long max(long long a, long long b) {
  return a > b ? a : b;
}
inline float max(float a, float b) {
  return std::fmax(a, b);
}
inline double max(double a, double b) {
  return std::fmax(a, b);
}

#if ECG_EMU_ARCH >= 610
// dp4a.s32.s32: four signed byte products added to c (wrapping, as int32 does on the GPU).
inline int __dp4a(int a, int b, int c) {
  unsigned acc = static_cast<unsigned>(c);
  for (int i = 0; i < 4; ++i) {
    int ai = static_cast<signed char>(static_cast<unsigned>(a) >> (8 * i));
    int bi = static_cast<signed char>(static_cast<unsigned>(b) >> (8 * i));
    acc += static_cast<unsigned>(ai * bi);
  }
  return static_cast<int>(acc);
}
inline unsigned __dp4a(unsigned a, unsigned b, unsigned c) {
  for (int i = 0; i < 4; ++i) c += ((a >> (8 * i)) & 0xffu) * ((b >> (8 * i)) & 0xffu);
  return c;
}
#endif

// Half intrinsics that cuda_fp16.h declares for the device only. A product of
// two halves is exact in double and so is the sum with a third, so one
// rounding to half reproduces the GPU's single-rounding fma.
inline __half __hfma(__half a, __half b, __half c) {
  return __double2half(static_cast<double>(__half2float(a)) * __half2float(b) + __half2float(c));
}
inline __half2 __hfma2(__half2 a, __half2 b, __half2 c) {
  return __halves2half2(__hfma(__low2half(a), __low2half(b), __low2half(c)),
                        __hfma(__high2half(a), __high2half(b), __high2half(c)));
}
inline int __half2int_rn(__half h) {
  return __float2int_rn(__half2float(h));
}
