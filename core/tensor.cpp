#include "core/tensor.h"

#include <cmath>
#include <cstring>
#include <functional>
#include <iomanip>
#include <sstream>

#include "core/autograd.h"
#include "core/rng.h"

namespace ecg {

std::string shape_str(const Shape& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  return out + "]";
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

static Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (int64_t i = static_cast<int64_t>(shape.size()) - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

Storage::Storage(size_t n, Device d) : nbytes(n), device(d) {
  data = allocator_for(d.type).allocate(n);
}
Storage::~Storage() {
  allocator_for(device.type).deallocate(data, nbytes);
}

// Read/write one element of any dtype as double (printing, conversion, tests).
static double load_as_double(const void* base, DType t, int64_t i) {
  switch (t) {
    case DType::F32:
      return static_cast<const float*>(base)[i];
    case DType::F64:
      return static_cast<const double*>(base)[i];
    case DType::F16:
      return half_to_float(static_cast<const uint16_t*>(base)[i]);
    case DType::I8:
      return static_cast<const int8_t*>(base)[i];
    case DType::U8:
      return static_cast<const uint8_t*>(base)[i];
    case DType::I32:
      return static_cast<const int32_t*>(base)[i];
  }
  return 0;
}

static void store_from_double(void* base, DType t, int64_t i, double v) {
  switch (t) {
    case DType::F32:
      static_cast<float*>(base)[i] = static_cast<float>(v);
      break;
    case DType::F64:
      static_cast<double*>(base)[i] = v;
      break;
    case DType::F16:
      static_cast<uint16_t*>(base)[i] = float_to_half(static_cast<float>(v));
      break;
    case DType::I8:
      static_cast<int8_t*>(base)[i] = static_cast<int8_t>(v);
      break;
    case DType::U8:
      static_cast<uint8_t*>(base)[i] = static_cast<uint8_t>(v);
      break;
    case DType::I32:
      static_cast<int32_t*>(base)[i] = static_cast<int32_t>(v);
      break;
  }
}

// Visits every element's storage offset in row-major logical order.
template <class F>
static void for_each_offset(const Shape& shape, const Shape& strides, int64_t offset, F&& f) {
  int64_t n = shape_numel(shape);
  if (n == 0) return;
  size_t nd = shape.size();
  std::vector<int64_t> idx(nd, 0);
  int64_t off = offset;
  for (int64_t k = 0; k < n; ++k) {
    f(off);
    for (int64_t d = static_cast<int64_t>(nd) - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) {
        off += strides[d];
        break;
      }
      off -= strides[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
}

class TensorAccess {
 public:
  static Tensor make(std::shared_ptr<Storage> st, Shape shape, Shape strides, int64_t offset,
                     DType dt) {
    Tensor t;
    t.storage_ = std::move(st);
    t.shape_ = std::move(shape);
    t.strides_ = std::move(strides);
    t.offset_ = offset;
    t.dtype_ = dt;
    return t;
  }
  static std::shared_ptr<AutogradMeta>& meta(Tensor& t) { return t.meta_; }
  static const std::shared_ptr<Storage>& storage(const Tensor& t) { return t.storage_; }
  static int64_t offset(const Tensor& t) { return t.offset_; }
};

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape)
    ECG_CHECK(d >= 0, "Tensor::empty: negative dimension in ", shape_str(shape));
  size_t nbytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  auto st = std::make_shared<Storage>(nbytes, device);
  return TensorAccess::make(st, shape, contiguous_strides(shape), 0, dtype);
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  allocator_for(device.type).memset_zero(t.raw_data(), t.nbytes());
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype) {
  Tensor t = empty(shape, dtype);
  t.fill_(value);
  return t;
}

// Both from_vector overloads: a host tensor of T's dtype holding v.
template <class T>
static Tensor tensor_from_values(const std::vector<T>& v, const Shape& shape) {
  ECG_CHECK(static_cast<int64_t>(v.size()) == shape_numel(shape), "from_vector: ", v.size(),
            " values for shape ", shape_str(shape));
  Tensor t = Tensor::empty(shape, dtype_of<T>::value);
  if (!v.empty()) std::memcpy(t.raw_data(), v.data(), v.size() * sizeof(T));
  return t;
}

Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& shape) {
  return tensor_from_values(v, shape);
}

Tensor Tensor::from_vector(const std::vector<double>& v, const Shape& shape) {
  return tensor_from_values(v, shape);
}

Tensor Tensor::randn(const Shape& shape, uint64_t seed, double stddev, DType dtype) {
  Tensor t = empty(shape, dtype);
  Rng rng(seed);
  void* p = t.raw_data();
  for (int64_t i = 0; i < t.numel(); ++i) store_from_double(p, dtype, i, stddev * rng.normal());
  return t;
}

Tensor Tensor::uniform(const Shape& shape, uint64_t seed, double lo, double hi, DType dtype) {
  Tensor t = empty(shape, dtype);
  Rng rng(seed);
  void* p = t.raw_data();
  for (int64_t i = 0; i < t.numel(); ++i) store_from_double(p, dtype, i, rng.uniform(lo, hi));
  return t;
}

int64_t Tensor::size(int64_t d) const {
  int64_t nd = dim();
  if (d < 0) d += nd;
  ECG_CHECK(d >= 0 && d < nd, "size(", d, "): tensor has ", nd, " dimensions");
  return shape_[d];
}

Device Tensor::device() const {
  return storage_ ? storage_->device : Device::cpu();
}

bool Tensor::is_contiguous() const {
  int64_t acc = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[i] != acc) return false;
    acc *= shape_[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  ECG_CHECK(defined(), "raw_data(): undefined tensor");
  return static_cast<char*>(storage_->data) + offset_ * static_cast<int64_t>(dtype_size(dtype_));
}

double Tensor::item() const {
  ECG_CHECK(numel() == 1, "item(): tensor of shape ", shape_str(shape_), " has ", numel(),
            " elements");
  if (device().type != DeviceType::CPU) return to(Device::cpu()).item();
  return load_as_double(raw_data(), dtype_, 0);
}

double Tensor::at(const std::vector<int64_t>& index) const {
  ECG_CHECK(static_cast<int64_t>(index.size()) == dim(), "at(): ", index.size(),
            " indices for shape ", shape_str(shape_));
  ECG_CHECK(device().type == DeviceType::CPU, "at(): tensor is on ", device().name());
  int64_t off = 0;
  for (size_t i = 0; i < index.size(); ++i) {
    ECG_CHECK(index[i] >= 0 && index[i] < shape_[i], "at(): index ", index[i],
              " out of range for dimension ", i, " of ", shape_str(shape_));
    off += index[i] * strides_[i];
  }
  return load_as_double(raw_data(), dtype_, off);
}

std::vector<float> Tensor::to_vector_f32() const {
  Tensor c = to(Device::cpu()).contiguous().to(DType::F32);
  std::vector<float> v(static_cast<size_t>(c.numel()));
  if (!v.empty()) std::memcpy(v.data(), c.raw_data(), v.size() * 4);
  return v;
}

std::vector<double> Tensor::to_vector_f64() const {
  Tensor c = to(Device::cpu()).contiguous().to(DType::F64);
  std::vector<double> v(static_cast<size_t>(c.numel()));
  if (!v.empty()) std::memcpy(v.data(), c.raw_data(), v.size() * 8);
  return v;
}

Tensor Tensor::view(const Shape& shape) const {
  ECG_CHECK(is_contiguous(), "view(", shape_str(shape), "): tensor of shape ", shape_str(shape_),
            " is not contiguous; call contiguous() first");
  Shape s = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      ECG_CHECK(infer < 0, "view(", shape_str(shape), "): more than one -1");
      infer = static_cast<int64_t>(i);
    } else {
      ECG_CHECK(s[i] >= 0, "view(", shape_str(shape), "): negative dimension");
      known *= s[i];
    }
  }
  if (infer >= 0) {
    ECG_CHECK(known > 0 && numel() % known == 0, "view(", shape_str(shape),
              "): cannot infer -1 for ", numel(), " elements");
    s[infer] = numel() / known;
  }
  ECG_CHECK(shape_numel(s) == numel(), "view: shape ", shape_str(shape), " does not match ",
            numel(), " elements of ", shape_str(shape_));
  Tensor t = TensorAccess::make(storage_, s, contiguous_strides(s), offset_, dtype_);
  return t;
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end) const {
  if (d < 0) d += dim();
  ECG_CHECK(d >= 0 && d < dim(), "slice: dimension ", d, " of ", shape_str(shape_));
  ECG_CHECK(0 <= start && start <= end && end <= shape_[d], "slice(", d, ", ", start, ", ", end,
            "): out of range for ", shape_str(shape_));
  Shape s = shape_;
  s[d] = end - start;
  return TensorAccess::make(storage_, s, strides_, offset_ + start * strides_[d], dtype_);
}

Tensor Tensor::permute(const std::vector<int64_t>& order) const {
  ECG_CHECK(static_cast<int64_t>(order.size()) == dim(), "permute: ", order.size(),
            " axes for shape ", shape_str(shape_));
  std::vector<bool> seen(order.size(), false);
  Shape s(order.size()), st(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    int64_t o = order[i];
    ECG_CHECK(o >= 0 && o < dim() && !seen[o], "permute: invalid axis order for ",
              shape_str(shape_));
    seen[o] = true;
    s[i] = shape_[o];
    st[i] = strides_[o];
  }
  return TensorAccess::make(storage_, s, st, offset_, dtype_);
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  Tensor out = empty(shape_, dtype_, device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape_, dtype_, device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype_) return *this;
  Tensor out = empty(shape_, dt, device());
  out.copy_(*this);
  return out;
}

// Moves contiguous bytes between any two devices (one of them may be the host).
static void transfer_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t n) {
  if (n == 0) return;
  if (src_dev.type == DeviceType::CPU)
    allocator_for(dst_dev.type).copy_from_host(dst, src, n);
  else if (dst_dev.type == DeviceType::CPU)
    allocator_for(src_dev.type).copy_to_host(dst, src, n);
  else
    allocator_for(dst_dev.type).copy_on_device(dst, src, n);
}

// A strided view of device memory, brought to the host as the same view over
// a host copy of the bytes it spans (device kernels read contiguous tensors
// only, so layout changes of device tensors go through the host).
static Tensor host_view(const std::shared_ptr<Storage>& st, const Shape& shape,
                        const Shape& strides, int64_t offset, DType dt) {
  int64_t lo = offset, hi = offset;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) return Tensor::empty(shape, dt);
    (strides[i] < 0 ? lo : hi) += strides[i] * (shape[i] - 1);
  }
  const size_t es = dtype_size(dt);
  auto host = std::make_shared<Storage>(static_cast<size_t>(hi - lo + 1) * es, Device::cpu());
  transfer_bytes(host->data, Device::cpu(), static_cast<const char*>(st->data) + lo * es,
                 st->device, host->nbytes);
  return TensorAccess::make(host, shape, strides, offset - lo, dt);
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  if (!is_contiguous() && device().type != DeviceType::CPU)
    return host_view(storage_, shape_, strides_, offset_, dtype_).contiguous().to(d);
  Tensor src = contiguous();
  Tensor out = empty(shape_, dtype_, d);
  transfer_bytes(out.raw_data(), d, src.raw_data(), src.device(), src.nbytes());
  return out;
}

void Tensor::copy_(const Tensor& src) {
  ECG_CHECK(src.shape_ == shape_, "copy_: source shape ", shape_str(src.shape_), " does not match ",
            shape_str(shape_));
  if (device().type == DeviceType::CPU && src.device().type != DeviceType::CPU) {
    copy_(src.to(Device::cpu()));
    return;
  }
  if (device().type != DeviceType::CPU) {
    ECG_CHECK(is_contiguous(), "copy_: the destination on ", device().name(),
              " must be contiguous");
    if (src.dtype_ == dtype_ && src.is_contiguous()) {
      transfer_bytes(raw_data(), device(), src.raw_data(), src.device(), nbytes());
      return;
    }
    // Dtype conversion or a strided source: converted on the host.
    Tensor host = empty(shape_, dtype_);
    host.copy_(src.to(Device::cpu()));
    transfer_bytes(raw_data(), device(), host.raw_data(), Device::cpu(), nbytes());
    return;
  }
  if (src.dtype_ == dtype_ && is_contiguous() && src.is_contiguous()) {
    if (nbytes()) std::memmove(raw_data(), src.raw_data(), nbytes());
    return;
  }
  std::vector<int64_t> dst_offsets;
  dst_offsets.reserve(static_cast<size_t>(numel()));
  for_each_offset(shape_, strides_, offset_, [&](int64_t o) { dst_offsets.push_back(o); });
  size_t k = 0;
  void* dst_base = storage_->data;
  const void* src_base = src.storage_->data;
  for_each_offset(src.shape_, src.strides_, src.offset_, [&](int64_t o) {
    store_from_double(dst_base, dtype_, dst_offsets[k++], load_as_double(src_base, src.dtype_, o));
  });
}

void Tensor::fill_(double value) {
  ECG_CHECK(defined(), "fill_: undefined tensor");
  if (device().type != DeviceType::CPU) {
    // Filled on the host and copied: fills are initialisation, not hot paths.
    Tensor host = empty(shape_, dtype_);
    host.fill_(value);
    copy_(host);
    return;
  }
  void* base = storage_->data;
  for_each_offset(shape_, strides_, offset_,
                  [&](int64_t o) { store_from_double(base, dtype_, o, value); });
}

// ---- autograd accessors ----

bool Tensor::requires_grad() const {
  return meta_ && meta_->requires_grad;
}

Tensor& Tensor::set_requires_grad(bool on) {
  ECG_CHECK(!on || dtype_ == DType::F32 || dtype_ == DType::F64,
            "requires_grad: only floating tensors can require gradients, not ", dtype_name(dtype_));
  if (!meta_) meta_ = std::make_shared<AutogradMeta>();
  meta_->requires_grad = on;
  return *this;
}

Tensor Tensor::grad() const {
  return meta_ ? meta_->grad : Tensor();
}

void Tensor::set_grad(const Tensor& g) {
  if (!meta_) meta_ = std::make_shared<AutogradMeta>();
  meta_->grad = g;
}

void Tensor::zero_grad() {
  if (meta_) meta_->grad = Tensor();
}

static const std::shared_ptr<Node> kNoNode;

const std::shared_ptr<Node>& Tensor::grad_fn() const {
  return meta_ ? meta_->grad_fn : kNoNode;
}

void Tensor::set_grad_fn(std::shared_ptr<Node> fn) {
  if (!meta_) meta_ = std::make_shared<AutogradMeta>();
  meta_->grad_fn = std::move(fn);
  meta_->requires_grad = meta_->grad_fn != nullptr;
}

bool Tensor::is_leaf() const {
  return !meta_ || !meta_->grad_fn;
}

void Tensor::backward() const {
  backward(Tensor());
}

void Tensor::backward(const Tensor& grad_output) const {
  Tensor seed = grad_output;
  if (!seed.defined()) {
    ECG_CHECK(numel() == 1, "backward(): tensor of shape ", shape_str(shape_),
              " is not a scalar; pass a gradient");
    seed = Tensor::full(shape_, 1.0, dtype_).to(device());
  }
  run_backward({*this}, {seed});
}

std::shared_ptr<Node> Tensor::grad_accumulator() const {
  ECG_CHECK(requires_grad() && is_leaf(), "grad_accumulator: not a leaf that requires grad");
  std::shared_ptr<Node> acc = meta_->grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(meta_);
    meta_->grad_accumulator = acc;
  }
  return acc;
}

Tensor Tensor::detach() const {
  return TensorAccess::make(storage_, shape_, strides_, offset_, dtype_);
}

std::string Tensor::to_string(int max_per_dim) const {
  std::ostringstream os;
  os << "Tensor(shape=" << shape_str(shape_) << ", dtype=" << dtype_name(dtype_)
     << ", device=" << device().name();
  if (requires_grad()) os << ", requires_grad";
  os << ")";
  if (!defined() || device().type != DeviceType::CPU) return os.str();
  Tensor c = contiguous();
  const void* base = c.raw_data();
  os << "\n";
  int nd = static_cast<int>(dim());
  if (nd == 0) {
    os << load_as_double(base, dtype_, 0);
    return os.str();
  }
  // Recursive printer that elides the middle of long dimensions with "...".
  std::vector<int64_t> st = contiguous_strides(shape_);
  std::function<void(int, int64_t)> rec = [&](int d, int64_t off) {
    os << "[";
    int64_t n = shape_[d];
    for (int64_t i = 0; i < n; ++i) {
      if (n > max_per_dim && i == max_per_dim / 2) {
        os << "...";
        i = n - max_per_dim / 2 - 1;
        if (i + 1 < n) os << ", ";
        continue;
      }
      if (d + 1 == nd)
        os << std::setprecision(5) << load_as_double(base, dtype_, off + i);
      else
        rec(d + 1, off + i * st[d]);
      if (i + 1 < n) os << (d + 1 == nd ? ", " : ",\n ");
    }
    os << "]";
  };
  rec(0, 0);
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  return os << t.to_string();
}

}  // namespace ecg
