// Adam / AdamW / SGD over a list of parameter tensors. State tensors are
// allocated lazily on the first step; the update arithmetic is the op-table
// kernel for the active ISA (scalar reference for f64 parameters).
#include <cmath>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/profiler.h"
#include "kernels/op_table.h"
#include "kernels/ref/optimizer_ref.h"
#include "optim/optimizer.h"

namespace ecg {

namespace {

void check_param(const Tensor* p, size_t i) {
  ECG_CHECK(p && p->defined() && p->is_contiguous(), "optimizer: parameter ", i,
            " is undefined or not contiguous");
  ECG_CHECK(p->dtype() == DType::F32 || p->dtype() == DType::F64, "optimizer: parameter ", i,
            " has dtype ", dtype_name(p->dtype()));
}

// Adam and Sgd keep their parameters, hyperparameters and step count, and set
// the learning rate, the same way; only the update and its state differ.
template <class Params>
class ParamOptimizer : public Optimizer {
 public:
  ParamOptimizer(std::vector<Tensor*> params, Params hp) : params_(std::move(params)), hp_(hp) {
    for (size_t i = 0; i < params_.size(); ++i) check_param(params_[i], i);
  }
  void set_lr(double lr) override { hp_.lr = static_cast<float>(lr); }
  double lr() const override { return hp_.lr; }
  int64_t steps() const override { return steps_; }

 protected:
  std::vector<Tensor*> params_;
  Params hp_;
  int64_t steps_ = 0;
};

class Adam final : public ParamOptimizer<AdamParams> {
 public:
  Adam(std::vector<Tensor*> params, AdamParams hp) : ParamOptimizer(std::move(params), hp) {
    m_.resize(params_.size());
    v_.resize(params_.size());
  }

  void step() override {
    NoGradGuard guard;
    // The profiler's "optimizer" row (phase update).
    PhaseScope phase("update");
    LayerScope scope("optimizer", LayerScope::Absolute);
    ++steps_;
    AdamParams hp = hp_;
    hp.step = steps_;
    for (size_t i = 0; i < params_.size(); ++i) {
      Tensor& p = *params_[i];
      Tensor g = p.grad();
      if (!g.defined()) continue;
      g = g.contiguous();
      if (!m_[i].defined()) {
        m_[i] = Tensor::zeros(p.shape(), p.dtype(), p.device());
        v_[i] = Tensor::zeros(p.shape(), p.dtype(), p.device());
      }
      if (p.dtype() == DType::F64)
        ref::adam_update(p.numel(), hp, p.data<double>(), g.data<double>(), m_[i].data<double>(),
                         v_[i].data<double>());
      else {
        // Reads p, g, m, v and writes p, m, v: 28 bytes per parameter.
        const auto& slot = ops().adam_update;
        OpTimer timer(slot.name, 0, 28.0 * p.numel(), slot.resolved_isa(p.device().type));
        slot.get(p.device().type)(p.numel(), hp, p.data<float>(), g.data<float>(),
                                  m_[i].data<float>(), v_[i].data<float>());
      }
    }
  }
  std::vector<std::pair<std::string, Tensor>> state() const override {
    std::vector<std::pair<std::string, Tensor>> out;
    for (size_t i = 0; i < params_.size(); ++i)
      if (m_[i].defined()) {
        out.emplace_back("m." + std::to_string(i), m_[i]);
        out.emplace_back("v." + std::to_string(i), v_[i]);
      }
    return out;
  }

  void load_state(const std::map<std::string, Tensor>& st, int64_t steps) override {
    steps_ = steps;
    for (size_t i = 0; i < params_.size(); ++i) {
      auto m = st.find("m." + std::to_string(i)), v = st.find("v." + std::to_string(i));
      if (m == st.end() || v == st.end()) {
        m_[i] = v_[i] = Tensor();
        continue;
      }
      ECG_CHECK(
          m->second.shape() == params_[i]->shape() && v->second.shape() == params_[i]->shape(),
          "optimizer state for parameter ", i, " has shape ", shape_str(m->second.shape()),
          ", parameter is ", shape_str(params_[i]->shape()));
      m_[i] = m->second.to(params_[i]->dtype()).to(params_[i]->device()).clone();
      v_[i] = v->second.to(params_[i]->dtype()).to(params_[i]->device()).clone();
    }
  }

 private:
  std::vector<Tensor> m_, v_;
};

class Sgd final : public ParamOptimizer<SgdParams> {
 public:
  Sgd(std::vector<Tensor*> params, SgdParams hp) : ParamOptimizer(std::move(params), hp) {
    buf_.resize(params_.size());
  }
  void step() override {
    NoGradGuard guard;
    // The profiler's "optimizer" row (phase update).
    PhaseScope phase("update");
    LayerScope scope("optimizer", LayerScope::Absolute);
    ++steps_;
    for (size_t i = 0; i < params_.size(); ++i) {
      Tensor& p = *params_[i];
      Tensor g = p.grad();
      if (!g.defined()) continue;
      g = g.contiguous();
      SgdParams hp = hp_;
      hp.first_step = !buf_[i].defined();
      if (!buf_[i].defined()) buf_[i] = Tensor::zeros(p.shape(), p.dtype(), p.device());
      if (p.dtype() == DType::F64)
        ref::sgd_update(p.numel(), hp, p.data<double>(), g.data<double>(), buf_[i].data<double>());
      else {
        // Reads p, g, buf and writes p, buf: 20 bytes per parameter.
        const auto& slot = ops().sgd_update;
        OpTimer timer(slot.name, 0, 20.0 * p.numel(), slot.resolved_isa(p.device().type));
        slot.get(p.device().type)(p.numel(), hp, p.data<float>(), g.data<float>(),
                                  buf_[i].data<float>());
      }
    }
  }
  std::vector<std::pair<std::string, Tensor>> state() const override {
    std::vector<std::pair<std::string, Tensor>> out;
    for (size_t i = 0; i < params_.size(); ++i)
      if (buf_[i].defined()) out.emplace_back("momentum." + std::to_string(i), buf_[i]);
    return out;
  }
  void load_state(const std::map<std::string, Tensor>& st, int64_t steps) override {
    steps_ = steps;
    for (size_t i = 0; i < params_.size(); ++i) {
      auto b = st.find("momentum." + std::to_string(i));
      buf_[i] = b == st.end() ? Tensor()
                              : b->second.to(params_[i]->dtype()).to(params_[i]->device()).clone();
    }
  }

 private:
  std::vector<Tensor> buf_;
};

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, std::vector<Tensor*> params,
                                          double lr) {
  if (name == "adam" || name == "adam-torch" || name == "adamw") {
    AdamParams hp;
    hp.lr = static_cast<float>(lr);
    hp.keras_eps = name == "adam";
    hp.eps = name == "adam" ? 1e-7f : 1e-8f;
    hp.decoupled = name == "adamw";
    hp.weight_decay = name == "adamw" ? 1e-2f : 0.f;
    return std::make_unique<Adam>(std::move(params), hp);
  }
  if (name == "sgd") {
    SgdParams hp;
    hp.lr = static_cast<float>(lr);
    hp.momentum = 0.9f;
    return std::make_unique<Sgd>(std::move(params), hp);
  }
  fail("unknown optimizer '", name, "' (expected adam, adam-torch, adamw or sgd)");
}

double clip_grad_norm(const std::vector<Tensor*>& params, double max_norm) {
  NoGradGuard guard;
  double sq = 0;
  for (Tensor* p : params) {
    Tensor g = p->grad();
    if (!g.defined()) continue;
    for (double v : g.to_vector_f64()) sq += v * v;
  }
  double norm = std::sqrt(sq);
  if (norm > max_norm && norm > 0) {
    double scale = max_norm / norm;
    for (Tensor* p : params) {
      Tensor g = p->grad();
      if (g.defined()) p->set_grad(mul_scalar(g, scale));
    }
  }
  return norm;
}

}  // namespace ecg
