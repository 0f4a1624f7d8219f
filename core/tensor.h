// Tensor: a strided view (shape, strides in elements, offset) over reference-
// counted Storage on a device. Views (reshape of contiguous data, slice,
// permute) share storage; contiguous() copies only when needed. Autograd state
// lives in an optional AutogradMeta so plain tensors stay small.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/allocator.h"
#include "core/dtype.h"
#include "kernels/error.h"

namespace ecg {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);

struct Storage {
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data = nullptr;
  size_t nbytes = 0;
  Device device;
};

struct AutogradMeta;
class Node;

class Tensor {
 public:
  Tensor() = default;  // undefined tensor

  // Uninitialised contents.
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32);
  static Tensor from_vector(const std::vector<float>& v, const Shape& shape);
  static Tensor from_vector(const std::vector<double>& v, const Shape& shape);
  // Seeded fills (same seed, same numbers on every machine).
  static Tensor randn(const Shape& shape, uint64_t seed, double stddev = 1.0,
                      DType dtype = DType::F32);
  static Tensor uniform(const Shape& shape, uint64_t seed, double lo, double hi,
                        DType dtype = DType::F32);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t dim() const { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t d) const;
  int64_t numel() const { return shape_numel(shape_); }
  DType dtype() const { return dtype_; }
  Device device() const;
  size_t nbytes() const { return static_cast<size_t>(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;

  // Typed pointer to the first element; checks the dtype.
  template <class T>
  T* data() const;
  void* raw_data() const;

  // Element access for tests and printing (any dtype, read as double).
  double item() const;
  double at(const std::vector<int64_t>& index) const;
  std::vector<float> to_vector_f32() const;
  std::vector<double> to_vector_f64() const;

  // Views (share storage; no autograd through views except reshape/flatten ops in ops.h).
  Tensor view(const Shape& shape) const;  // contiguous only; one -1 allowed
  Tensor slice(int64_t dim, int64_t start, int64_t end) const;
  Tensor permute(const std::vector<int64_t>& order) const;
  Tensor contiguous() const;
  Tensor clone() const;  // contiguous deep copy, no autograd history
  Tensor to(DType dtype) const;
  Tensor to(Device device) const;
  void copy_(const Tensor& src);  // same shape; any strides, dtype converted
  void fill_(double value);
  void zero_() { fill_(0.0); }

  // ---- autograd ----
  bool requires_grad() const;
  Tensor& set_requires_grad(bool on);
  // Gradient accumulated into this leaf by backward() (undefined before).
  Tensor grad() const;
  void set_grad(const Tensor& g);
  void zero_grad();
  const std::shared_ptr<Node>& grad_fn() const;
  void set_grad_fn(std::shared_ptr<Node> fn);
  bool is_leaf() const;
  // Reverse-mode over the graph ending here; a scalar gets gradient 1 by default.
  void backward() const;
  void backward(const Tensor& grad_output) const;
  // The node that writes gradients into this leaf (created on first use).
  std::shared_ptr<Node> grad_accumulator() const;
  // Same storage, no history.
  Tensor detach() const;
  // Identity of the shared autograd state (two handles of one tensor share it).
  AutogradMeta* autograd_meta() const { return meta_.get(); }

  std::string to_string(int max_per_dim = 6) const;

 private:
  std::shared_ptr<Storage> storage_;
  Shape shape_, strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::F32;
  std::shared_ptr<AutogradMeta> meta_;
  friend class TensorAccess;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

template <class T>
T* Tensor::data() const {
  ECG_CHECK(defined(), "data(): undefined tensor");
  ECG_CHECK(dtype_of<T>::value == dtype_, "data(): tensor is ", dtype_name(dtype_), ", requested ",
            dtype_name(dtype_of<T>::value));
  return static_cast<T*>(raw_data());
}

}  // namespace ecg
