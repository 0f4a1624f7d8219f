// Convolution, batch norm, pooling and dense ops: shape checks, kernel dispatch
// (f32 through the op table, f64 straight to kernels/ref) and their backward.
#include <cmath>

#include "core/ops_common.h"
#include "kernels/cpu/winograd_choice.h"
#include "kernels/ref/batch_norm_ref.h"
#include "kernels/ref/conv2d_ref.h"
#include "kernels/ref/linear_ref.h"
#include "kernels/ref/pool_ref.h"

namespace ecg {

// The checks, record() and run_kernel() of core/ops_common.h.
using namespace detail;

namespace {

// The bytes a convolution must move at least (input, weights and output once,
// f32): the profiler's roofline places the layer by FLOPs over these bytes.
double conv_min_bytes(const Conv2dShape& s) {
  return 4.0 * (double(s.N) * s.C * s.H * s.W + double(s.K) * s.C * s.R * s.S +
                double(s.N) * s.K * s.P * s.Q);
}

// The profiler's kernel name of a float convolution: the resolved ISA level,
// "+winograd" where the CPU kernel runs Winograd F(4,3) for this shape.
template <class Fn>
const char* conv_kernel_name(const OpSlot<Fn>& slot, DeviceType dev, const Conv2dShape& s,
                             bool backward_data) {
  const Isa level = slot.resolved_isa(dev);
  if (dev != DeviceType::CPU) return isa_name(level);
  return cpu::conv_kernel_name(s, level, backward_data);
}

template <class T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

void resolve_padding(const char* op, Padding mode, int H, int W, int R, int S, int sh, int sw,
                     int& top, int& left, int& bottom, int& right) {
  if (mode == Padding::Same) {
    tf_same_padding(H, R, sh, top, bottom);
    tf_same_padding(W, S, sw, left, right);
  } else if (mode == Padding::Valid) {
    top = left = bottom = right = 0;
  }
  ECG_CHECK(top >= 0 && left >= 0 && bottom >= 0 && right >= 0, op, ": negative padding");
}

}  // namespace

// ---- conv2d ------------------------------------------------------------------

Tensor conv2d(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in,
              const Conv2dOptions& opt) {
  const char* op = "conv2d";
  check_float(op, x_in, "input");
  check_float(op, w_in, "weight");
  check_same_dtype(op, x_in, w_in);
  check_same_device(op, x_in, w_in, "weight");
  ECG_CHECK(x_in.dim() == 4, op, ": input must be [N, C, H, W], got ", shape_str(x_in.shape()));
  ECG_CHECK(w_in.dim() == 4, op, ": weight must be [K, C, R, S], got ", shape_str(w_in.shape()));
  ECG_CHECK(x_in.size(1) == w_in.size(1), op, ": input ", shape_str(x_in.shape()), " has ",
            x_in.size(1), " channels but weight ", shape_str(w_in.shape()), " expects ",
            w_in.size(1));
  ECG_CHECK(opt.stride_h > 0 && opt.stride_w > 0, op, ": stride must be positive");
  Conv2dShape s;
  s.N = static_cast<int>(x_in.size(0));
  s.C = static_cast<int>(x_in.size(1));
  s.H = static_cast<int>(x_in.size(2));
  s.W = static_cast<int>(x_in.size(3));
  s.K = static_cast<int>(w_in.size(0));
  s.R = static_cast<int>(w_in.size(2));
  s.S = static_cast<int>(w_in.size(3));
  s.stride_h = opt.stride_h;
  s.stride_w = opt.stride_w;
  s.pad_top = opt.pad_top, s.pad_left = opt.pad_left;
  s.pad_bottom = opt.pad_bottom, s.pad_right = opt.pad_right;
  resolve_padding(op, opt.padding, s.H, s.W, s.R, s.S, s.stride_h, s.stride_w, s.pad_top,
                  s.pad_left, s.pad_bottom, s.pad_right);
  ECG_CHECK(conv2d_finalize(s), op, ": kernel ", s.R, "x", s.S, " larger than padded input ",
            shape_str(x_in.shape()));
  Tensor bias;
  if (b_in.defined()) {
    check_float(op, b_in, "bias");
    check_same_dtype(op, x_in, b_in);
    check_same_device(op, x_in, b_in, "bias");
    ECG_CHECK(b_in.numel() == s.K, op, ": bias ", shape_str(b_in.shape()), " for ", s.K,
              " output channels");
    bias = b_in.contiguous();
  }
  Tensor x = x_in.contiguous(), w = w_in.contiguous();
  const DeviceType dev = x.device().type;
  Tensor y = Tensor::empty({s.N, s.K, s.P, s.Q}, x.dtype(), x.device());
  if (x.dtype() == DType::F64) {
    ref::conv2d_forward(s, x.data<double>(), w.data<double>(), ptr_or_null<double>(bias),
                        y.data<double>());
  } else {
    // Named by algorithm too ("avx512+winograd"), so the profile shows which ran.
    OpTimer timer(ops().conv2d_forward.name, s.flops(), conv_min_bytes(s),
                  conv_kernel_name(ops().conv2d_forward, dev, s, false), false);
    ops().conv2d_forward.get(dev)(s, x.data<float>(), w.data<float>(), ptr_or_null<float>(bias),
                                  y.data<float>());
  }
  // x is kept only when the weights need a gradient, w only when the input does.
  const bool need_b = needs(b_in);
  Tensor xs = needs(w_in) ? x.detach() : Tensor(), ws = needs(x_in) ? w.detach() : Tensor();
  record("Conv2dBackward", {x_in, w_in, b_in}, y, [s, xs, ws, need_b, dev](const Tensor& g_in) {
    Tensor g = g_in.contiguous();
    Tensor dx, dw, db;
    const bool f64 = g.dtype() == DType::F64;
    if (ws.defined()) {
      dx = Tensor::empty({s.N, s.C, s.H, s.W}, g.dtype(), g.device());
      if (f64) {
        ref::conv2d_backward_data(s, g.data<double>(), ws.data<double>(), dx.data<double>());
      } else {
        OpTimer timer(ops().conv2d_backward_data.name, s.flops(), conv_min_bytes(s),
                      conv_kernel_name(ops().conv2d_backward_data, dev, s, true), false);
        ops().conv2d_backward_data.get(dev)(s, g.data<float>(), ws.data<float>(), dx.data<float>());
      }
    }
    if (xs.defined() || need_b) {
      // Weights and bias come from one pass over dy; a bias-only gradient
      // still needs x for the shared kernel, so xs is kept whenever w needs grad.
      if (xs.defined()) {
        dw = Tensor::empty({s.K, s.C, s.R, s.S}, g.dtype(), g.device());
        if (need_b) db = Tensor::empty({s.K}, g.dtype(), g.device());
        if (f64) {
          ref::conv2d_backward_weights(s, xs.data<double>(), g.data<double>(), dw.data<double>(),
                                       db.defined() ? db.data<double>() : nullptr);
        } else {
          run_kernel(ops().conv2d_backward_weights, dev, s.flops(), conv_min_bytes(s), s,
                     xs.data<float>(), g.data<float>(), dw.data<float>(),
                     db.defined() ? db.data<float>() : nullptr);
        }
      } else {
        // Bias gradient alone: sum dy over N, P, Q.
        Tensor gd = g.to(Device::cpu()).to(DType::F64);
        std::vector<double> acc(s.K, 0.0);
        const double* pg = gd.data<double>();
        for (int n = 0; n < s.N; ++n)
          for (int k = 0; k < s.K; ++k)
            for (int i = 0; i < s.P * s.Q; ++i) acc[k] += pg[(n * s.K + k) * s.P * s.Q + i];
        db = Tensor::from_vector(acc, {s.K}).to(g.dtype()).to(g.device());
      }
    }
    return std::vector<Tensor>{dx, dw, db};
  });
  return y;
}

// ---- batch norm ------------------------------------------------------------------

Tensor batch_norm(const Tensor& x_in, const Tensor& gamma_in, const Tensor& beta_in,
                  Tensor& running_mean, Tensor& running_var, bool training,
                  const BatchNormOptions& opt) {
  const char* op = "batch_norm";
  check_float(op, x_in, "input");
  ECG_CHECK(x_in.dim() == 2 || x_in.dim() == 4, op, ": input must be [N, C] or [N, C, H, W], got ",
            shape_str(x_in.shape()));
  BatchNormShape s;
  s.N = static_cast<int>(x_in.size(0));
  s.C = static_cast<int>(x_in.size(1));
  s.HW = x_in.dim() == 4 ? static_cast<int>(x_in.size(2) * x_in.size(3)) : 1;
  const Tensor* params[] = {&gamma_in, &beta_in, &running_mean, &running_var};
  const char* names[] = {"gamma", "beta", "running_mean", "running_var"};
  for (int i = 0; i < 4; ++i) {
    check_float(op, *params[i], names[i]);
    check_same_dtype(op, x_in, *params[i]);
    check_same_device(op, x_in, *params[i], names[i]);
    ECG_CHECK(params[i]->numel() == s.C && params[i]->is_contiguous(), op, ": ", names[i], " ",
              shape_str(params[i]->shape()), " must be contiguous with ", s.C, " values");
  }
  ECG_CHECK(opt.eps > 0, op, ": eps must be positive, got ", opt.eps);
  const long count = static_cast<long>(s.N) * s.HW;
  ECG_CHECK(!training || count > 1, op, ": training needs more than one value per channel, got ",
            shape_str(x_in.shape()));
  Tensor x = x_in.contiguous(), gamma = gamma_in.contiguous(), beta = beta_in.contiguous();
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  const bool f64 = x.dtype() == DType::F64;
  const double bytes = 8.0 * x.numel();
  const DeviceType dev = x.device().type;
  if (!training) {
    if (f64) {
      ref::batch_norm_forward_eval(s, x.data<double>(), gamma.data<double>(), beta.data<double>(),
                                   running_mean.data<double>(), running_var.data<double>(), opt.eps,
                                   opt.fuse_relu, y.data<double>());
    } else {
      run_kernel(ops().batch_norm_forward_eval, dev, 0, bytes, s, x.data<float>(),
                 gamma.data<float>(), beta.data<float>(), running_mean.data<float>(),
                 running_var.data<float>(), static_cast<float>(opt.eps), opt.fuse_relu,
                 y.data<float>());
    }
    Tensor xs = x.detach(), ys = y.detach(), gs = gamma.detach();
    Tensor rm = running_mean.detach().clone(), rv = running_var.detach().clone();
    record("BatchNormEvalBackward", {x_in, gamma_in, beta_in}, y,
           [s, xs, ys, gs, rm, rv, opt](const Tensor& g_in) {
             // The scalar reference in double, on the host (training in eval
             // mode is rare: fine-tuning with frozen statistics).
             const Device cpu = Device::cpu();
             Tensor g = g_in.contiguous().to(cpu).to(DType::F64);
             Tensor dx = Tensor::empty(xs.shape(), DType::F64);
             Tensor dgamma = Tensor::empty({s.C}, DType::F64),
                    dbeta = Tensor::empty({s.C}, DType::F64);
             Tensor x64 = xs.to(cpu).to(DType::F64), y64 = ys.to(cpu).to(DType::F64),
                    g64 = gs.to(cpu).to(DType::F64);
             Tensor rm64 = rm.to(cpu).to(DType::F64), rv64 = rv.to(cpu).to(DType::F64);
             ref::batch_norm_backward_eval(
                 s, x64.data<double>(), y64.data<double>(), g.data<double>(), g64.data<double>(),
                 rm64.data<double>(), rv64.data<double>(), opt.eps, opt.fuse_relu,
                 dx.data<double>(), dgamma.data<double>(), dbeta.data<double>());
             DType dt = xs.dtype();
             const Device d = xs.device();
             return std::vector<Tensor>{dx.to(dt).to(d), dgamma.to(dt).to(d), dbeta.to(dt).to(d)};
           });
    return y;
  }

  Tensor mean = Tensor::empty({s.C}, x.dtype(), x.device()),
         invstd = Tensor::empty({s.C}, x.dtype(), x.device());
  Tensor var = Tensor::empty({s.C}, x.dtype(), x.device());
  if (f64) {
    ref::batch_norm_forward_train(s, x.data<double>(), gamma.data<double>(), beta.data<double>(),
                                  opt.eps, opt.fuse_relu, y.data<double>(), mean.data<double>(),
                                  invstd.data<double>(), var.data<double>());
  } else {
    run_kernel(ops().batch_norm_forward_train, dev, 0, bytes * 1.5, s, x.data<float>(),
               gamma.data<float>(), beta.data<float>(), static_cast<float>(opt.eps), opt.fuse_relu,
               y.data<float>(), mean.data<float>(), invstd.data<float>(), var.data<float>());
  }
  {
    // Running statistics use the unbiased variance, as Keras and PyTorch do;
    // updated in place where they live.
    NoGradGuard guard;
    const double unbias = static_cast<double>(count) / (count - 1);
    if (f64)
      ref::batch_norm_update_running(s.C, opt.momentum, unbias, mean.data<double>(),
                                     var.data<double>(), running_mean.data<double>(),
                                     running_var.data<double>());
    else
      ops().batch_norm_update_running.get(dev)(s.C, opt.momentum, unbias, mean.data<float>(),
                                               var.data<float>(), running_mean.data<float>(),
                                               running_var.data<float>());
  }
  Tensor xs = x.detach(), ys = y.detach(), gs = gamma.detach();
  Tensor ms = mean.detach(), is = invstd.detach();
  record("BatchNormBackward", {x_in, gamma_in, beta_in}, y,
         [s, xs, ys, gs, ms, is, opt, bytes, dev](const Tensor& g_in) {
           Tensor g = g_in.contiguous();
           Tensor dx = Tensor::empty(xs.shape(), xs.dtype(), xs.device());
           Tensor dgamma = Tensor::empty({s.C}, xs.dtype(), xs.device()),
                  dbeta = Tensor::empty({s.C}, xs.dtype(), xs.device());
           if (xs.dtype() == DType::F64) {
             ref::batch_norm_backward(s, xs.data<double>(), ys.data<double>(), g.data<double>(),
                                      gs.data<double>(), ms.data<double>(), is.data<double>(),
                                      opt.fuse_relu, dx.data<double>(), dgamma.data<double>(),
                                      dbeta.data<double>());
           } else {
             run_kernel(ops().batch_norm_backward, dev, 0, bytes * 2, s, xs.data<float>(),
                        ys.data<float>(), g.data<float>(), gs.data<float>(), ms.data<float>(),
                        is.data<float>(), opt.fuse_relu, dx.data<float>(), dgamma.data<float>(),
                        dbeta.data<float>());
           }
           return std::vector<Tensor>{dx, dgamma, dbeta};
         });
  return y;
}

// ---- pooling ------------------------------------------------------------------

static Pool2dShape pool_shape(const char* op, const Tensor& x, const Pool2dOptions& opt) {
  check_float(op, x, "input");
  ECG_CHECK(x.dim() == 4, op, ": input must be [N, C, H, W], got ", shape_str(x.shape()));
  ECG_CHECK(opt.kernel_h > 0 && opt.kernel_w > 0 && opt.stride_h > 0 && opt.stride_w > 0, op,
            ": window and stride must be positive");
  Pool2dShape s;
  s.N = static_cast<int>(x.size(0));
  s.C = static_cast<int>(x.size(1));
  s.H = static_cast<int>(x.size(2));
  s.W = static_cast<int>(x.size(3));
  s.R = opt.kernel_h, s.S = opt.kernel_w, s.stride_h = opt.stride_h, s.stride_w = opt.stride_w;
  s.pad_top = opt.pad_top, s.pad_left = opt.pad_left;
  s.pad_bottom = opt.pad_bottom, s.pad_right = opt.pad_right;
  resolve_padding(op, opt.padding, s.H, s.W, s.R, s.S, s.stride_h, s.stride_w, s.pad_top,
                  s.pad_left, s.pad_bottom, s.pad_right);
  ECG_CHECK(pool2d_finalize(s), op, ": window ", s.R, "x", s.S, " larger than input ",
            shape_str(x.shape()));
  return s;
}

Tensor max_pool2d(const Tensor& x_in, const Pool2dOptions& opt) {
  Pool2dShape s = pool_shape("max_pool2d", x_in, opt);
  Tensor x = x_in.contiguous();
  const DeviceType dev = x.device().type;
  Tensor y = Tensor::empty({s.N, s.C, s.P, s.Q}, x.dtype(), x.device());
  Tensor argmax = Tensor::empty({s.N, s.C, s.P, s.Q}, DType::I32, x.device());
  if (x.dtype() == DType::F64) {
    ref::max_pool_forward(s, x.data<double>(), y.data<double>(), argmax.data<int32_t>());
  } else {
    run_kernel(ops().max_pool_forward, dev, 0, 4.0 * (x.numel() + 2 * y.numel()), s,
               x.data<float>(), y.data<float>(), argmax.data<int32_t>());
  }
  record("MaxPoolBackward", {x_in}, y, [s, argmax, dev](const Tensor& g_in) {
    Tensor g = g_in.contiguous();
    Tensor dx = Tensor::empty({s.N, s.C, s.H, s.W}, g.dtype(), g.device());
    if (g.dtype() == DType::F64) {
      ref::max_pool_backward(s, g.data<double>(), argmax.data<int32_t>(), dx.data<double>());
    } else {
      run_kernel(ops().max_pool_backward, dev, 0, 4.0 * (dx.numel() + 2 * g.numel()), s,
                 g.data<float>(), argmax.data<int32_t>(), dx.data<float>());
    }
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor avg_pool2d(const Tensor& x_in, const Pool2dOptions& opt) {
  Pool2dShape s = pool_shape("avg_pool2d", x_in, opt);
  Tensor x = x_in.contiguous();
  const DeviceType dev = x.device().type;
  Tensor y = Tensor::empty({s.N, s.C, s.P, s.Q}, x.dtype(), x.device());
  if (x.dtype() == DType::F64) {
    ref::avg_pool_forward(s, x.data<double>(), y.data<double>());
  } else {
    run_kernel(ops().avg_pool_forward, dev, 0, 4.0 * (x.numel() + y.numel()), s, x.data<float>(),
               y.data<float>());
  }
  record("AvgPoolBackward", {x_in}, y, [s, dev](const Tensor& g_in) {
    Tensor g = g_in.contiguous();
    Tensor dx = Tensor::empty({s.N, s.C, s.H, s.W}, g.dtype(), g.device());
    if (g.dtype() == DType::F64) {
      ref::avg_pool_backward(s, g.data<double>(), dx.data<double>());
    } else {
      run_kernel(ops().avg_pool_backward, dev, 0, 4.0 * (dx.numel() + g.numel()), s,
                 g.data<float>(), dx.data<float>());
    }
    return std::vector<Tensor>{dx};
  });
  return y;
}

Tensor global_avg_pool(const Tensor& x_in) {
  check_float("global_avg_pool", x_in, "input");
  ECG_CHECK(x_in.dim() == 4, "global_avg_pool: input must be [N, C, H, W], got ",
            shape_str(x_in.shape()));
  const int N = static_cast<int>(x_in.size(0)), C = static_cast<int>(x_in.size(1));
  const int HW = static_cast<int>(x_in.size(2) * x_in.size(3));
  ECG_CHECK(HW > 0, "global_avg_pool: empty spatial size in ", shape_str(x_in.shape()));
  Tensor x = x_in.contiguous();
  const DeviceType dev = x.device().type;
  Tensor y = Tensor::empty({N, C}, x.dtype(), x.device());
  if (x.dtype() == DType::F64) {
    ref::global_avg_pool_forward(N, C, HW, x.data<double>(), y.data<double>());
  } else {
    run_kernel(ops().global_avg_pool_forward, dev, 0, 4.0 * x.numel(), N, C, HW, x.data<float>(),
               y.data<float>());
  }
  Shape in_shape = x.shape();
  record("GlobalAvgPoolBackward", {x_in}, y, [N, C, HW, in_shape, dev](const Tensor& g_in) {
    Tensor g = g_in.contiguous();
    Tensor dx = Tensor::empty(in_shape, g.dtype(), g.device());
    if (g.dtype() == DType::F64)
      ref::global_avg_pool_backward(N, C, HW, g.data<double>(), dx.data<double>());
    else
      ops().global_avg_pool_backward.get(dev)(N, C, HW, g.data<float>(), dx.data<float>());
    return std::vector<Tensor>{dx};
  });
  return y;
}

// ---- linear -------------------------------------------------------------------

Tensor linear(const Tensor& x_in, const Tensor& w_in, const Tensor& b_in) {
  const char* op = "linear";
  check_float(op, x_in, "input");
  check_float(op, w_in, "weight");
  check_same_dtype(op, x_in, w_in);
  check_same_device(op, x_in, w_in, "weight");
  ECG_CHECK(x_in.dim() == 2 && w_in.dim() == 2 && x_in.size(1) == w_in.size(1), op, ": input ",
            shape_str(x_in.shape()), " and weight ", shape_str(w_in.shape()),
            " must be [N, in] and [out, in]");
  const int N = static_cast<int>(x_in.size(0)), in = static_cast<int>(x_in.size(1));
  const int out = static_cast<int>(w_in.size(0));
  Tensor b;
  if (b_in.defined()) {
    check_float(op, b_in, "bias");
    check_same_dtype(op, x_in, b_in);
    check_same_device(op, x_in, b_in, "bias");
    ECG_CHECK(b_in.numel() == out, op, ": bias ", shape_str(b_in.shape()), " for ", out,
              " outputs");
    b = b_in.contiguous();
  }
  Tensor x = x_in.contiguous(), w = w_in.contiguous();
  const DeviceType dev = x.device().type;
  Tensor y = Tensor::empty({N, out}, x.dtype(), x.device());
  const double flops = 2.0 * N * in * out;
  if (x.dtype() == DType::F64) {
    ref::linear_forward(N, in, out, x.data<double>(), w.data<double>(), ptr_or_null<double>(b),
                        y.data<double>());
  } else {
    run_kernel(ops().linear_forward, dev, flops,
               4.0 * (double(N) * in + double(in) * out + double(N) * out), N, in, out,
               x.data<float>(), w.data<float>(), ptr_or_null<float>(b), y.data<float>());
  }
  bool need_b = needs(b_in);
  Tensor xs = (needs(w_in) || need_b) ? x.detach() : Tensor();
  Tensor ws = needs(x_in) ? w.detach() : Tensor();
  bool need_w = needs(w_in);
  record("LinearBackward", {x_in, w_in, b_in}, y,
         [N, in, out, xs, ws, need_w, need_b, flops, dev](const Tensor& g_in) {
           Tensor g = g_in.contiguous();
           Tensor dx, dw, db;
           const bool f64 = g.dtype() == DType::F64;
           if (ws.defined()) {
             dx = Tensor::empty({N, in}, g.dtype(), g.device());
             if (f64) {
               ref::linear_backward_data(N, in, out, g.data<double>(), ws.data<double>(),
                                         dx.data<double>());
             } else {
               run_kernel(ops().linear_backward_data, dev, flops,
                          4.0 * (double(N) * in + double(in) * out + double(N) * out), N, in, out,
                          g.data<float>(), ws.data<float>(), dx.data<float>());
             }
           }
           if (xs.defined()) {
             dw = Tensor::empty({out, in}, g.dtype(), g.device());
             if (need_b) db = Tensor::empty({out}, g.dtype(), g.device());
             if (f64) {
               ref::linear_backward_weights(N, in, out, xs.data<double>(), g.data<double>(),
                                            dw.data<double>(),
                                            db.defined() ? db.data<double>() : nullptr);
             } else {
               run_kernel(ops().linear_backward_weights, dev, flops,
                          4.0 * (double(N) * in + double(in) * out + double(N) * out), N, in, out,
                          xs.data<float>(), g.data<float>(), dw.data<float>(),
                          db.defined() ? db.data<float>() : nullptr);
             }
             if (!need_w) dw = Tensor();
           }
           return std::vector<Tensor>{dx, dw, db};
         });
  return y;
}

}  // namespace ecg
