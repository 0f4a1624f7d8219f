// The worked examples of docs/tour.md, sections 5-7: batch norm (forward,
// backward, running statistics, folding), the fast convolution (a convolution
// as a GEMM, packing, the micro-kernel) and int8 quantization (scales, zero
// points, requantization, calibration, the arena). Each runs the project's own code on
// numbers small enough to check by hand, and prints both.
// Build: cmake --build build --target worked_examples
// Run:   build/tools/worked_examples [bn|conv|int8]   (no argument: all three)
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/autograd.h"
#include "core/ops.h"
#include "kernels/int8_api.h"
#include "kernels/ref/conv2d_ref.h"
#include "kernels/ref/int8_ref.h"
#include "quant/arena_plan.h"
#include "quant/calibration.h"
#include "quant/int8_model.h"
#include "quant/quantize.h"

namespace {

using namespace ecg;

void print_row(const char* label, const float* v, int n) {
  std::printf("  %-26s", label);
  for (int i = 0; i < n; ++i) std::printf(" %+9.4f", v[i]);
  std::printf("\n");
}

// ---- 5. Batch norm ----------------------------------------------------------

// One channel, four values: batch statistics, the normalised output, the
// running statistics after one step, and the gradients of L = sum(g * y).
void batch_norm_forward_backward() {
  std::printf("== batch norm: one channel, x = 1 2 3 6, gamma 2, beta 0.5, eps 1e-3\n");
  Tensor x =
      Tensor::from_vector(std::vector<float>{1, 2, 3, 6}, {2, 1, 1, 2}).set_requires_grad(true);
  Tensor gamma = Tensor::from_vector(std::vector<float>{2}, {1}).set_requires_grad(true);
  Tensor beta = Tensor::from_vector(std::vector<float>{0.5f}, {1}).set_requires_grad(true);
  Tensor running_mean = Tensor::zeros({1});
  Tensor running_var = Tensor::full({1}, 1.0);
  BatchNormOptions opt;  // momentum 0.99, eps 1e-3: the study's Keras settings
  Tensor y = batch_norm(x, gamma, beta, running_mean, running_var, /*training=*/true, opt);

  const double mean = 3.0, var = (4 + 1 + 0 + 9) / 4.0, invstd = 1.0 / std::sqrt(var + 1e-3);
  std::printf("  by hand: mean %.4f, variance (biased) %.4f, 1/sqrt(var+eps) %.5f\n", mean, var,
              invstd);
  float xhat[4], y_hand[4];
  for (int i = 0; i < 4; ++i) {
    xhat[i] = static_cast<float>((x.data<float>()[i] - mean) * invstd);
    y_hand[i] = 2.f * xhat[i] + 0.5f;
  }
  print_row("x_hat = (x - mean) * invstd", xhat, 4);
  print_row("y = gamma * x_hat + beta", y_hand, 4);
  print_row("y from batch_norm()", y.data<float>(), 4);
  std::printf("  running mean 0.99*0 + 0.01*3 = %.4f; op: %.4f\n", 0.01 * mean,
              running_mean.data<float>()[0]);
  std::printf("  running var 0.99*1 + 0.01*(14/3, unbiased) = %.6f; op: %.6f\n",
              0.99 + 0.01 * 14.0 / 3.0, running_var.data<float>()[0]);

  // Upstream gradient g = dL/dy: only the first element matters.
  Tensor g = Tensor::from_vector(std::vector<float>{1, 0, 0, 0}, {2, 1, 1, 2});
  y.backward(g);
  const double dbeta = 1.0, dgamma = xhat[0];
  float dx_hand[4];
  for (int i = 0; i < 4; ++i)
    dx_hand[i] = static_cast<float>(2.0 * invstd *
                                    ((i == 0 ? 1.0 : 0.0) - dbeta / 4 - xhat[i] * dgamma / 4));
  std::printf("  dbeta = sum g = %.4f (op %.4f); dgamma = sum g*x_hat = %.4f (op %.4f)\n", dbeta,
              beta.grad().data<float>()[0], dgamma, gamma.grad().data<float>()[0]);
  print_row("dx by hand", dx_hand, 4);
  print_row("dx from backward()", x.grad().data<float>(), 4);
}

// Folding: a 1x1 convolution (w 0.5, b 0.1) followed by eval-mode batch norm
// is one convolution with w' and b'.
void batch_norm_folding() {
  std::printf("== folding batch norm into the convolution before it\n");
  const float gamma = 2.f, beta = 0.5f, mean = 0.03f, var = 1.036667f, eps = 1e-3f;
  float w = 0.5f, b = 0.1f;
  const float x = 3.f;
  const float conv_then_bn = gamma * ((w * x + b) - mean) / std::sqrt(var + eps) + beta;
  quant::fold_batch_norm(1, 1, &w, &b, &gamma, &beta, &mean, &var, eps);
  std::printf(
      "  w' = w*gamma/sqrt(var+eps) = %.5f, b' = (b-mean)*gamma/sqrt(var+eps)+beta = %.5f\n", w, b);
  std::printf("  x = 3: conv then BN %.5f, folded conv w'*x+b' %.5f\n", conv_then_bn, w * x + b);
}

// ---- 6. The fast convolution ------------------------------------------------

// A toy of the real kernels' scheme: MR x NR register tile (the AVX-512 unit
// uses 8 x 32, AVX2 4 x 24, NEON 8 x 12; here 2 x 4 so it prints).
constexpr int kToyMR = 2, kToyNR = 4;

// The convolution as a GEMM: Y[K, PQ] = W[K, CRS] * col[CRS, PQ]. The B
// packer of kernels/cpu/conv_impl.h builds panels of col straight from the
// image (implicit im2col); this builds the same panel and prints it.
std::vector<float> pack_b_panel(const Conv2dShape& s, const float* x) {
  const int crs = s.C * s.R * s.S;
  std::vector<float> panel(static_cast<size_t>(crs) * kToyNR);
  for (int k = 0; k < crs; ++k) {
    const int c = k / (s.R * s.S), r = k / s.S % s.R, t = k % s.S;
    for (int j = 0; j < kToyNR; ++j) {  // column j = output pixel (p, q)
      const int p = j / s.Q, q = j % s.Q;
      panel[k * kToyNR + j] = x[(c * s.H + p + r) * s.W + q + t];  // k-major, NR wide
    }
  }
  return panel;
}

// The A panel: MR rows of W, stored k-major (a[k*MR + i]) like DenseA::pack.
std::vector<float> pack_a_panel(const Conv2dShape& s, const float* w, int row0) {
  const int crs = s.C * s.R * s.S;
  std::vector<float> panel(static_cast<size_t>(crs) * kToyMR, 0.f);
  for (int k = 0; k < crs; ++k)
    for (int i = 0; i < kToyMR && row0 + i < s.K; ++i)
      panel[k * kToyMR + i] = w[(row0 + i) * crs + k];
  return panel;
}

// The micro-kernel: an MR x NR tile of C in registers, one rank-1 update per
// k (broadcast a[i], multiply the NR-wide row of b, add): FmaMicroKernel::run.
void micro_kernel(int kc, const float* a, const float* b, float* c) {
  float acc[kToyMR][kToyNR] = {};
  for (int k = 0; k < kc; ++k)
    for (int i = 0; i < kToyMR; ++i)
      for (int j = 0; j < kToyNR; ++j) acc[i][j] += a[k * kToyMR + i] * b[k * kToyNR + j];
  std::memcpy(c, acc, sizeof acc);
}

void fast_convolution() {
  std::printf("== a convolution as a GEMM: x [1,2,3,3], w [3,2,2,2], valid, y [1,3,2,2]\n");
  Conv2dShape s;
  s.C = 2, s.H = 3, s.W = 3, s.K = 3, s.R = 2, s.S = 2;
  conv2d_finalize(s);
  std::vector<float> x(18), w(24), bias(3, 0.f);
  for (int i = 0; i < 18; ++i) x[i] = static_cast<float>(i % 5);
  for (int i = 0; i < 24; ++i) w[i] = static_cast<float>(i % 3 - 1);
  std::printf("  GEMM sizes: M = K = %d, N = P*Q = %d, depth = C*R*S = %d\n", s.K, s.P * s.Q,
              s.C * s.R * s.S);
  const std::vector<float> b = pack_b_panel(s, x.data());
  std::printf("  packed B panel (rows k = (c,r,t), %d columns = output pixels):\n", kToyNR);
  for (int k = 0; k < s.C * s.R * s.S; ++k)
    print_row(("k=" + std::to_string(k)).c_str(), &b[k * kToyNR], kToyNR);
  std::vector<float> y_gemm(static_cast<size_t>(s.K) * kToyNR);
  for (int row0 = 0; row0 < s.K; row0 += kToyMR) {
    const std::vector<float> a = pack_a_panel(s, w.data(), row0);
    float tile[kToyMR * kToyNR];
    micro_kernel(s.C * s.R * s.S, a.data(), b.data(), tile);
    for (int i = 0; i < kToyMR && row0 + i < s.K; ++i)  // the edge tile keeps its valid rows
      std::memcpy(&y_gemm[(row0 + i) * kToyNR], &tile[i * kToyNR], sizeof(float) * kToyNR);
  }
  std::vector<float> y_ref(y_gemm.size());
  ref::conv2d_forward<float>(s, x.data(), w.data(), bias.data(), y_ref.data());
  Tensor y_op = conv2d(Tensor::from_vector(x, {1, 2, 3, 3}), Tensor::from_vector(w, {3, 2, 2, 2}),
                       Tensor::from_vector(bias, {3}), Conv2dOptions());
  for (int k = 0; k < s.K; ++k) {
    std::printf("  channel %d\n", k);
    print_row("toy GEMM (2x4 micro-kernel)", &y_gemm[k * 4], 4);
    print_row("scalar reference", &y_ref[k * 4], 4);
    print_row("conv2d() (active ISA)", y_op.data<float>() + k * 4, 4);
  }
}

// ---- 7. Quantization --------------------------------------------------------

// One output pixel of a 1x1 convolution with 4 input channels and 2 output
// channels, in float and in int8, every intermediate number printed.
void int8_convolution() {
  std::printf("== int8: one pixel, 4 input channels, 2 output channels (1x1 convolution)\n");
  const std::vector<float> x = {0.20f, 1.00f, 2.50f, 0.00f};     // after a ReLU: >= 0
  const std::vector<float> w = {0.50f,  -0.25f, 0.125f, 1.00f,   // channel 0
                                -0.03f, 0.02f,  0.01f,  0.04f};  // channel 1: 25x smaller
  const std::vector<float> bias = {0.10f, -0.05f};
  const quant::QParams in = quant::choose_qparams(0.f, 3.f);    // calibrated range [0, 3]
  const quant::QParams out = quant::choose_qparams(-1.f, 1.f);  // output range [-1, 1]
  std::printf("  input  scale %.6f zero point %d;  output scale %.6f zero point %d\n", in.scale,
              in.zero_point, out.scale, out.zero_point);
  int8_t qx[4];
  for (int i = 0; i < 4; ++i) qx[i] = quant::quantize_value(x[i], in);
  std::printf("  x %.2f %.2f %.2f %.2f -> q %d %d %d %d\n", x[0], x[1], x[2], x[3], qx[0], qx[1],
              qx[2], qx[3]);
  const quant::QuantizedWeights qw = quant::quantize_weights_per_channel(w.data(), 2, 4);
  const std::vector<int32_t> qb = quant::quantize_bias(bias.data(), 2, in.scale, qw.scale.data());
  const std::vector<int8::Requant> rq =
      quant::requant_multipliers(2, in.scale, qw.scale.data(), out.scale);
  int8::ConvInt8Params prm;
  prm.shape.C = 4, prm.shape.K = 2;
  conv2d_finalize(prm.shape);
  prm.zp_in = in.zero_point, prm.bias = qb, prm.requant = rq, prm.zp_out = out.zero_point;
  int8_t qy[2];
  ref::conv_int8(prm, 1, qw.q.data(), qx, qy, nullptr);
  for (int k = 0; k < 2; ++k) {
    const int8_t* wk = &qw.q[k * 4];
    int32_t acc = qb[k];
    for (int c = 0; c < 4; ++c) acc += (qx[c] - in.zero_point) * wk[c];
    const double m = double(in.scale) * qw.scale[k] / out.scale;
    float real = bias[k];
    for (int c = 0; c < 4; ++c) real += w[k * 4 + c] * x[c];
    std::printf("  channel %d: weight scale %.6f, q_w %d %d %d %d, bias %d\n", k, qw.scale[k],
                wk[0], wk[1], wk[2], wk[3], qb[k]);
    std::printf("    acc = bias + sum (q_x - zp_in) * q_w = %d\n", acc);
    std::printf("    M = s_in*s_w/s_out = %.8f = M0 %d * 2^-%d\n", m, rq[k].m0, rq[k].shift);
    std::printf(
        "    y = zp_out + round(acc*M) = %d (reference kernel %d) -> real %.4f; float %.4f\n",
        int(int8::requantize(acc, rq[k], out.zero_point, -128, 127)), qy[k],
        quant::dequantize_value(qy[k], out), real);
  }
}

// Calibration: 10000 activations with a long tail (exponential, mean 0.2,
// taken at evenly spaced quantiles so the example needs no random numbers).
// min/max spends codes on the rare large values; the other methods clip the
// tail and round the bulk more finely.
void calibration() {
  std::printf("== calibration: 10000 activations, exponential with mean 0.2 (a long tail)\n");
  std::vector<float> v(10000);
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<float>(-0.2 * std::log(1.0 - (i + 0.5) / v.size()));
  quant::Observer obs;
  obs.observe(v.data(), static_cast<int64_t>(v.size()));
  for (quant::CalibMethod m : {quant::CalibMethod::MinMax, quant::CalibMethod::Percentile,
                               quant::CalibMethod::KL, quant::CalibMethod::MSE}) {
    quant::CalibOptions opt;
    opt.method = m;
    opt.percentile = 99.9;
    const quant::QParams p = quant::calibrate(obs, opt);
    std::printf("  %-10s scale %.6f, range [0, %.3f], estimated SQNR %.1f dB\n",
                quant::calib_method_name(m), p.scale, p.scale * (127 - p.zero_point),
                quant::histogram_sqnr_db(obs, p));
  }
  quant::CalibMethod chosen = quant::CalibMethod::Auto;
  quant::calibrate(obs, quant::CalibOptions(), nullptr, &chosen);
  std::printf("  auto keeps %s (the best SQNR)\n", quant::calib_method_name(chosen));
}

// The arena: a residual block's five tensors (16x16x16 int8, 4 KiB each) and
// the offsets plan_arena gives them. A tensor's bytes are reused once its
// last reader has run; the block input x stays alive until the add.
void arena() {
  std::printf("== arena: x -> conv1 -> a -> conv2 -> b; add(b, x) -> c; conv3 -> y\n");
  quant::Int8Model m;
  for (const char* name : {"x", "a", "b", "c", "y"}) {
    quant::TensorQ t;
    t.name = name, t.H = 16, t.W = 16, t.C = 16;
    m.tensors.push_back(t);
  }
  auto node = [&](quant::NodeKind kind, const char* name, std::vector<int> in, int out) {
    quant::NodeQ n;
    n.kind = kind, n.name = name, n.inputs = std::move(in), n.output = out;
    m.nodes.push_back(n);
  };
  node(quant::NodeKind::Conv, "conv1", {0}, 1);
  node(quant::NodeKind::Conv, "conv2", {1}, 2);
  node(quant::NodeKind::Add, "add", {2, 0}, 3);
  node(quant::NodeKind::Conv, "conv3", {3}, 4);
  const quant::ArenaPlan plan = quant::plan_arena(m, /*batch=*/1);
  for (size_t t = 0; t < m.tensors.size(); ++t)
    std::printf("  %-2s bytes %5lld at offset %5lld\n", m.tensors[t].name.c_str(),
                static_cast<long long>(m.tensors[t].bytes()),
                static_cast<long long>(plan.offset[t]));
  std::printf("  arena %lld bytes; one buffer per tensor would need %lld\n",
              static_cast<long long>(plan.bytes), static_cast<long long>(plan.naive_bytes));
}

}  // namespace

int main(int argc, char** argv) {
  const std::string part = argc > 1 ? argv[1] : "all";
  if (part != "all" && part != "bn" && part != "conv" && part != "int8") {
    std::fprintf(stderr, "usage: worked_examples [bn|conv|int8]\n");
    return 2;
  }
  if (part == "all" || part == "bn") batch_norm_forward_backward(), batch_norm_folding();
  if (part == "all" || part == "conv") fast_convolution();
  if (part == "all" || part == "int8") int8_convolution(), calibration(), arena();
  return 0;
}
