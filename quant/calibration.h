// Activation calibration: an observer that streams a tensor's values over the
// calibration set (min, max, and a 2048-bin histogram of |x|), and the range
// choosers of docs/quantization.md: min/max, percentile, KL divergence (TensorRT's
// entropy calibrator: 128 levels for signed tensors, 256 for non-negative
// ones), MSE search, and auto (best SQNR among them).
//
// The histogram covers [0, range) with 2048 equal bins. When a value beyond
// the range arrives the range doubles and neighbouring bins merge pairwise,
// which is exact (bin edges stay aligned), so the histogram never depends on
// the order of the calibration images beyond the final range.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "quant/quantize.h"

namespace ecg::quant {

class Observer {
 public:
  static constexpr int kBins = 2048;

  void observe(const float* x, int64_t n);  // non-finite values are skipped

  bool empty() const { return count_ == 0; }
  int64_t count() const { return count_; }
  float min() const { return min_; }
  float max() const { return max_; }
  bool non_negative() const { return count_ > 0 && min_ >= 0.f; }
  // Upper edge of the histogram (0 until a nonzero value is seen).
  double range() const { return range_; }
  const std::vector<double>& histogram() const { return hist_; }
  double bin_width() const { return range_ / kBins; }

 private:
  void grow_to(double a);
  std::vector<double> hist_ = std::vector<double>(kBins, 0.0);
  double range_ = 0.0;
  float min_ = 0.f, max_ = 0.f;
  int64_t count_ = 0;
};

enum class CalibMethod { MinMax, Percentile, KL, MSE, Auto };
const char* calib_method_name(CalibMethod m);
bool parse_calib_method(const std::string& s, CalibMethod& out);

struct CalibOptions {
  CalibMethod method = CalibMethod::Auto;
  double percentile = 99.99;  // for Percentile: 99.9, 99.99, 99.999 are usual
};

// Threshold on |x| chosen by each method (the clip magnitude T).
double threshold_percentile(const Observer& o, double percentile);
double threshold_kl(const Observer& o);
double threshold_mse(const Observer& o);

// The int8 parameters for a clip magnitude T: [max(min, -T), min(max, T)].
QParams qparams_for_threshold(const Observer& o, double T);

// Estimated SQNR (dB) of quantizing the observed distribution with p,
// from the histogram (bin centres, both signs folded onto |x|).
double histogram_sqnr_db(const Observer& o, QParams p);

// The parameters of one method. Auto scores min/max, percentile, KL and MSE
// with `score` (default histogram_sqnr_db; the graph quantizer passes the
// SQNR of the layer's output) and keeps the best.
QParams calibrate(const Observer& o, const CalibOptions& opt,
                  const std::function<double(QParams)>& score = nullptr,
                  CalibMethod* chosen = nullptr);

}  // namespace ecg::quant
