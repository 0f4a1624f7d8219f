// Peers in the same binary, on the same shapes and thread count:
//   sgemm/openblas/<n>                   cblas_sgemm (row-major, no transposes)
//   conv_<dir>/onednn/<layer>/N<batch>   oneDNN convolution_direct with
//                                        format_tag::any: it picks its own
//                                        blocked layouts; no reorder is timed.
// bench/kernels/ratio_table.py turns the JSON into per-shape ratios.
#include "bench/kernels/bench_common.h"
#include "kernels/runtime.h"

#ifdef ECG_BENCH_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef ECG_BENCH_HAVE_DNNL
#include <omp.h>

#include <dnnl.hpp>
#endif

namespace ecg::bench {

namespace {

#ifdef ECG_BENCH_HAVE_OPENBLAS
void bm_openblas(benchmark::State& st, int n) {
  openblas_set_num_threads(num_threads());
  Buffer a(size_t(n) * n, 1), b(size_t(n) * n, 2), c(size_t(n) * n, 3);
  for (auto _ : st) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.f, a.p, n, b.p, n, 0.f, c.p,
                n);
    benchmark::ClobberMemory();
  }
  set_flop_counters(st, 2.0 * n * n * n);
}
#endif

#ifdef ECG_BENCH_HAVE_DNNL
void fill(dnnl::memory& m) {
  float* p = static_cast<float*>(m.get_data_handle());
  const size_t n = m.get_desc().get_size() / sizeof(float);
  uint32_t s = 12345;
  for (size_t i = 0; i < n; ++i) {
    s ^= s << 13, s ^= s >> 17, s ^= s << 5;
    p[i] = static_cast<float>(s >> 8) * (1.f / 16777216.f) - 0.5f;
  }
}

void bm_onednn_conv(benchmark::State& st, ConvLayer layer, int N, int dir) {
  using namespace dnnl;
  omp_set_num_threads(num_threads());
  const Conv2dShape s = make_conv_shape(layer, N);
  engine eng(engine::kind::cpu, 0);
  stream strm(eng);
  auto any = [](memory::dims d) {
    return memory::desc(d, memory::data_type::f32, memory::format_tag::any);
  };
  const memory::dims src{s.N, s.C, s.H, s.W}, wei{s.K, s.C, s.R, s.S}, bia{s.K},
      dst{s.N, s.K, s.P, s.Q}, strides{s.stride_h, s.stride_w}, pl{s.pad_top, s.pad_left},
      pr{s.pad_bottom, s.pad_right};
  convolution_forward::desc fd(prop_kind::forward_training, algorithm::convolution_direct, any(src),
                               any(wei), any(bia), any(dst), strides, pl, pr);
  convolution_forward::primitive_desc fpd(fd, eng);
  if (dir == 0) {
    memory x(fpd.src_desc(), eng), w(fpd.weights_desc(), eng), b(fpd.bias_desc(), eng),
        y(fpd.dst_desc(), eng);
    fill(x), fill(w), fill(b);
    convolution_forward prim(fpd);
    for (auto _ : st) {
      prim.execute(
          strm, {{DNNL_ARG_SRC, x}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, y}});
      strm.wait();
    }
  } else if (dir == 1) {
    convolution_backward_data::desc bd(algorithm::convolution_direct, any(src), any(wei), any(dst),
                                       strides, pl, pr);
    convolution_backward_data::primitive_desc bpd(bd, eng, fpd);
    memory dy(bpd.diff_dst_desc(), eng), w(bpd.weights_desc(), eng), dx(bpd.diff_src_desc(), eng);
    fill(dy), fill(w);
    convolution_backward_data prim(bpd);
    for (auto _ : st) {
      prim.execute(strm, {{DNNL_ARG_DIFF_DST, dy}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, dx}});
      strm.wait();
    }
  } else {
    convolution_backward_weights::desc wd(algorithm::convolution_direct, any(src), any(wei),
                                          any(bia), any(dst), strides, pl, pr);
    convolution_backward_weights::primitive_desc wpd(wd, eng, fpd);
    memory x(wpd.src_desc(), eng), dy(wpd.diff_dst_desc(), eng), dw(wpd.diff_weights_desc(), eng),
        db(wpd.diff_bias_desc(), eng);
    fill(x), fill(dy);
    convolution_backward_weights prim(wpd);
    for (auto _ : st) {
      prim.execute(strm, {{DNNL_ARG_SRC, x},
                          {DNNL_ARG_DIFF_DST, dy},
                          {DNNL_ARG_DIFF_WEIGHTS, dw},
                          {DNNL_ARG_DIFF_BIAS, db}});
      strm.wait();
    }
  }
  set_flop_counters(st, s.flops());
}
#endif

}  // namespace

void register_peer_benchmarks() {
#ifdef ECG_BENCH_HAVE_OPENBLAS
  for (int n : {256, 1024, 2048})
    benchmark::RegisterBenchmark(("sgemm/openblas/" + std::to_string(n)).c_str(), bm_openblas, n)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
#endif
#ifdef ECG_BENCH_HAVE_DNNL
  const char* dirs[] = {"fwd", "bwd_data", "bwd_weights"};
  for (const ConvLayer& l : conv_layers())
    for (int N : {1, 16})
      for (int d = 0; d < 3; ++d)
        benchmark::RegisterBenchmark(
            ("conv_" + std::string(dirs[d]) + "/onednn/" + l.name + "/N" + std::to_string(N))
                .c_str(),
            bm_onednn_conv, l, N, d)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
#endif
}

}  // namespace ecg::bench
