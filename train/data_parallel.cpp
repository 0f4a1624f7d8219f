#include "train/data_parallel.h"

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "core/autograd.h"
#include "kernels/error.h"

namespace ecg {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// A host view of a gradient (a copy off the CPU, the tensor itself on it).
Tensor host_grad(const Tensor& p) {
  const Tensor& g = p.grad();
  if (!g.defined()) return Tensor();
  return g.device().type == DeviceType::CPU ? g.contiguous()
                                            : g.detach().to(Device::cpu()).contiguous();
}

}  // namespace

GradientReducer::GradientReducer(std::vector<Tensor*> params, double bucket_mb)
    : params_(std::move(params)) {
  if (collective().size() <= 1) return;
  const size_t n = params_.size();
  bucket_of_.assign(n, 0);
  slot_of_.assign(n, 0);
  packed_.assign(n, false);
  overlap_ = bucket_mb > 0;
  on_device_ =
      n > 0 && params_[0]->device().type != DeviceType::CPU && collective().reduces_device_memory();
  const double limit = overlap_ ? bucket_mb * 1024 * 1024 / sizeof(float) : 1e300;
  // Backward writes the last layers' gradients first: buckets from the end.
  Bucket current;
  size_t elements = 0;
  for (size_t k = n; k-- > 0;) {
    const size_t count = static_cast<size_t>(params_[k]->numel());
    if (!current.params.empty() && static_cast<double>(elements + count) > limit) {
      make_buffer(current, elements);
      buckets_.push_back(std::move(current));
      current = Bucket{};
      elements = 0;
    }
    bucket_of_[k] = buckets_.size();
    slot_of_[k] = current.params.size();
    current.params.push_back(k);
    current.offsets.push_back(elements);
    elements += count;
  }
  if (!current.params.empty()) {
    make_buffer(current, elements);
    buckets_.push_back(std::move(current));
  }
}

void GradientReducer::make_buffer(Bucket& b, size_t elements) {
  if (on_device_)
    b.device_buffer =
        Tensor::empty({static_cast<int64_t>(elements)}, DType::F32, params_[0]->device());
  else
    b.buffer.resize(elements);
}

GradientReducer::~GradientReducer() {
  if (overlap_) set_grad_ready_hook(nullptr);
}

void GradientReducer::begin_backward(int64_t step) {
  if (buckets_.empty()) return;
  step_ = step;
  set_collective_activity("step " + std::to_string(step) + "'s backward");
  inject_test_hang(step);
  for (Bucket& b : buckets_) b.ready = 0, b.started = false, b.request = 0;
  std::fill(packed_.begin(), packed_.end(), false);
  next_to_start_ = 0;
  if (!overlap_) return;
  in_backward_ = true;
  std::vector<std::pair<const AutogradMeta*, size_t>> index;
  for (size_t k = 0; k < params_.size(); ++k) index.emplace_back(params_[k]->autograd_meta(), k);
  std::sort(index.begin(), index.end());
  set_grad_ready_hook([this, index](const AutogradMeta& leaf) {
    auto it = std::lower_bound(index.begin(), index.end(), std::make_pair(&leaf, size_t{0}));
    if (it != index.end() && it->first == &leaf) on_grad_ready(it->second);
  });
}

void GradientReducer::pack(size_t k) {
  if (packed_[k]) return;
  packed_[k] = true;
  Bucket& b = buckets_[bucket_of_[k]];
  const size_t offset = b.offsets[slot_of_[k]];
  const size_t count = static_cast<size_t>(params_[k]->numel());
  if (on_device_) {
    // A copy queued on the device's stream: backward is not held up.
    Tensor dst = b.device_buffer.slice(0, static_cast<int64_t>(offset),
                                       static_cast<int64_t>(offset + count));
    const Tensor& g = params_[k]->grad();
    if (g.defined())
      dst.copy_(g.detach().contiguous().view({static_cast<int64_t>(count)}));
    else
      dst.fill_(0.0);
  } else {
    float* dst = b.buffer.data() + offset;
    const Tensor g = host_grad(*params_[k]);
    // A parameter that took no part in this step's loss has no gradient: zero.
    if (g.defined())
      std::memcpy(dst, g.data<float>(), count * sizeof(float));
    else
      std::fill(dst, dst + count, 0.f);
  }
  ++b.ready;
}

void GradientReducer::on_grad_ready(size_t k) {
  pack(k);
  start_ready_buckets();
  collective().poke();
}

Collective::Request GradientReducer::start_reduction(Bucket& b) {
  if (on_device_)
    return collective().start_allreduce_sum_device(b.device_buffer.data<float>(),
                                                   static_cast<size_t>(b.device_buffer.numel()));
  return collective().start_allreduce_sum(b.buffer.data(), b.buffer.size());
}

// Buckets start in index order on every rank (MPI matches collectives by
// order), each once all its gradients are packed.
void GradientReducer::start_ready_buckets() {
  while (next_to_start_ < buckets_.size()) {
    Bucket& b = buckets_[next_to_start_];
    if (b.ready < b.params.size()) return;
    b.request = start_reduction(b);
    b.started = true;
    overlapped_ += in_backward_;
    ++reduced_;
    ++next_to_start_;
  }
}

void GradientReducer::finish() {
  if (buckets_.empty()) return;
  if (overlap_) set_grad_ready_hook(nullptr);
  in_backward_ = false;
  const double t0 = now_seconds();
  for (size_t k = 0; k < params_.size(); ++k) pack(k);
  if (overlap_) start_ready_buckets();
  for (size_t i = 0; i < buckets_.size(); ++i) {
    set_collective_activity("step " + std::to_string(step_) + ", gradient bucket " +
                            std::to_string(i + 1) + " of " + std::to_string(buckets_.size()));
    Bucket& b = buckets_[i];
    if (overlap_) {
      collective().wait(b.request);
    } else if (on_device_) {
      collective().wait(start_reduction(b));
      ++reduced_;
    } else {
      collective().allreduce_sum(b.buffer.data(), b.buffer.size());
      ++reduced_;
    }
  }
  set_collective_activity("after step " + std::to_string(step_) + "'s gradient reduction");
  wait_last_ = now_seconds() - t0;
  wait_total_ += wait_last_;
  for (size_t k = 0; k < params_.size(); ++k) write_back(k);
}

// The summed gradient of parameter k, out of its bucket into a tensor of its
// own on the parameter's device (the bucket is overwritten next step).
void GradientReducer::write_back(size_t k) {
  Tensor& p = *params_[k];
  const Bucket& b = buckets_[bucket_of_[k]];
  const size_t offset = b.offsets[slot_of_[k]];
  const int64_t count = p.numel();
  Tensor summed = Tensor::empty(p.shape(), DType::F32, on_device_ ? p.device() : Device::cpu());
  if (on_device_) {
    summed.copy_(
        b.device_buffer.slice(0, static_cast<int64_t>(offset), static_cast<int64_t>(offset) + count)
            .view(p.shape()));
  } else {
    std::memcpy(summed.data<float>(), b.buffer.data() + offset,
                static_cast<size_t>(count) * sizeof(float));
  }
  p.set_grad(p.device() == summed.device() ? summed : summed.to(p.device()));
}

uint64_t parameter_hash(const std::vector<Tensor*>& params) {
  uint64_t h = 1469598103934665603ull;
  for (const Tensor* p : params) {
    const Tensor c = p->detach().to(Device::cpu()).contiguous();
    const auto* bytes = static_cast<const unsigned char*>(c.raw_data());
    const size_t n = c.nbytes();
    for (size_t i = 0; i < n; ++i) h = (h ^ bytes[i]) * 1099511628211ull;
  }
  return h;
}

void check_parameters_agree(const std::vector<Tensor*>& params, int64_t step) {
  Collective& c = collective();
  if (c.size() <= 1) return;
  // Two exact 32-bit halves per rank, each in its own slot of the sum.
  const uint64_t h = parameter_hash(params);
  std::vector<double> slots(2 * static_cast<size_t>(c.size()), 0.0);
  slots[2 * c.rank()] = static_cast<double>(h >> 32);
  slots[2 * c.rank() + 1] = static_cast<double>(h & 0xffffffffull);
  c.allreduce_sum_ordered(slots.data(), slots.size());
  for (int r = 1; r < c.size(); ++r)
    ECG_CHECK(slots[2 * r] == slots[0] && slots[2 * r + 1] == slots[1],
              "data parallel: after step ", step, " rank ", r,
              "'s parameters differ from rank 0's (the optimizer steps diverged)");
}

void sum_over_ranks(std::vector<double>& values) {
  if (collective().size() > 1) collective().allreduce_sum_ordered(values.data(), values.size());
}

void broadcast_buffers(Model& model) {
  if (collective().size() <= 1) return;
  for (auto& [name, b] : model.named_buffers()) {
    Tensor host = b->detach().to(Device::cpu()).contiguous();
    collective().broadcast(host.raw_data(), host.nbytes(), 0);
    b->copy_(host);
  }
}

bool any_rank(bool flag) {
  if (collective().size() <= 1) return flag;
  std::vector<double> v{flag ? 1.0 : 0.0};
  collective().allreduce_sum_ordered(v.data(), 1);
  return v[0] > 0;
}

namespace {

// ECG_TEST_RANK_FAULT=RANK:STEP:KIND when it names this rank and `step`: KIND, else "".
std::string test_fault_for(int64_t step) {
  static const char* spec = std::getenv("ECG_TEST_RANK_FAULT");
  if (!spec) return "";
  int rank = -1;
  long long at = -1;
  char kind[16] = {0};
  if (std::sscanf(spec, "%d:%lld:%15s", &rank, &at, kind) != 3) return "";
  if (rank != collective().rank() || at != step) return "";
  return kind;
}

}  // namespace

void inject_test_fault(int64_t step) {
  const std::string kind = test_fault_for(step);
  if (kind.empty() || kind == "hang") return;
  if (kind == "kill") std::raise(SIGKILL);
  if (kind == "term") {  // as mpirun does to every rank on Ctrl-C
    std::raise(SIGTERM);
    return;
  }
  fail("ECG_TEST_RANK_FAULT: rank ", collective().rank(), " fails after step ", step,
       " (test fault)");
}

void inject_test_hang(int64_t step) {
  if (test_fault_for(step) != "hang") return;
  // Alive but making no progress, and no MPI call: the others' waits must
  // time out. mpirun's SIGTERM sets the trainer's flag only; its SIGKILL ends this.
  for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}

}  // namespace ecg
