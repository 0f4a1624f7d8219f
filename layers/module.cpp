#include "layers/module.h"

#include <cmath>

#include "core/rng.h"

namespace ecg {

Tensor he_normal(const Shape& shape, int64_t fan_in, uint64_t seed) {
  Tensor t = Tensor::empty(shape, DType::F32);
  Rng rng(seed);
  const double stddev = std::sqrt(2.0 / static_cast<double>(fan_in)) / 0.87962566103423978;
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    p[i] = static_cast<float>(stddev * rng.truncated_normal());
  return t;
}

Shape Module::infer(const Shape& in, std::vector<LayerInfo>*, const std::string&) {
  fail(kind_, ": shape inference not implemented for input ", shape_str(in));
}

void Module::train(bool on) {
  training_ = on;
  for (auto& c : children_) c.second->train(on);
}

void Module::to(Device device) {
  for (auto& p : params_) {
    Tensor& t = *p.second;
    if (t.device() == device) continue;
    const bool requires_grad = t.requires_grad();
    t = t.detach().to(device);
    t.set_requires_grad(requires_grad);
  }
  for (auto& b : buffers_) {
    Tensor& t = *b.second;
    if (t.device() != device) t = t.to(device);
  }
  for (auto& c : children_) c.second->to(device);
}

Device Module::device() {
  for (auto& p : named_parameters()) return p.second->device();
  return Device::cpu();
}

Tensor& Module::register_parameter(const std::string& name, Tensor t) {
  t.set_requires_grad(true);
  params_.emplace_back(name, std::make_unique<Tensor>(std::move(t)));
  return *params_.back().second;
}

Tensor& Module::register_buffer(const std::string& name, Tensor t) {
  buffers_.emplace_back(name, std::make_unique<Tensor>(std::move(t)));
  return *buffers_.back().second;
}

namespace {

using NamedTensors = std::vector<std::pair<std::string, Tensor*>>;

// Parameters and buffers are walked the same way (own tensors first, then
// each child depth-first); only which list and which recursion differ.
NamedTensors collect_named(
    const std::vector<std::pair<std::string, std::unique_ptr<Tensor>>>& own,
    const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& children,
    const std::string& prefix, NamedTensors (Module::*recurse)(const std::string&)) {
  NamedTensors out;
  for (auto& t : own) out.emplace_back(prefix + t.first, t.second.get());
  for (auto& c : children) {
    auto sub = ((*c.second).*recurse)(prefix + c.first + ".");
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

}  // namespace

std::vector<std::pair<std::string, Tensor*>> Module::named_parameters(const std::string& prefix) {
  return collect_named(params_, children_, prefix, &Module::named_parameters);
}

std::vector<std::pair<std::string, Tensor*>> Module::named_buffers(const std::string& prefix) {
  return collect_named(buffers_, children_, prefix, &Module::named_buffers);
}

std::vector<Tensor*> Module::parameters() {
  std::vector<Tensor*> out;
  for (auto& p : named_parameters()) out.push_back(p.second);
  return out;
}

int64_t Module::num_parameters() {
  int64_t n = 0;
  for (Tensor* p : parameters()) n += p->numel();
  return n;
}

Module::OutputObserver& Module::output_observer() {
  static OutputObserver observer;
  return observer;
}

void Module::zero_grad() {
  for (Tensor* p : parameters()) p->zero_grad();
}

void Module::collect_penalties(std::vector<Tensor>& out) {
  for (auto& c : children_) c.second->collect_penalties(out);
}

Tensor Module::regularization_loss() {
  std::vector<Tensor> terms;
  collect_penalties(terms);
  if (terms.empty()) return Tensor();
  Tensor total = terms[0];
  for (size_t i = 1; i < terms.size(); ++i) total = add(total, terms[i]);
  return total;
}

void Module::add_row(std::vector<LayerInfo>* rows, const std::string& prefix, const Shape& out,
                     double macs) {
  if (!rows) return;
  LayerInfo info;
  info.name = prefix.empty() ? kind_ : prefix;
  info.kind = kind_;
  info.output = out;
  for (auto& p : params_) info.params += p.second->numel();
  info.macs = macs;
  rows->push_back(info);
}

}  // namespace ecg
