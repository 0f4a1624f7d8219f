// Activation calibration; see calibration.h. All searches run over the
// 2048-bin histogram of |x|, never over the raw values, so their cost does
// not grow with the calibration set.
#include "quant/calibration.h"
#include "kernels/enum_names.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace ecg::quant {

void Observer::grow_to(double a) {
  if (range_ == 0.0) {
    // First nonzero magnitude: a power-of-two range just above it, so later
    // doublings keep the bin edges aligned.
    range_ = std::ldexp(1.0, std::ilogb(a) + 1);
  }
  while (a >= range_) {
    for (int i = 0; i < kBins / 2; ++i) hist_[i] = hist_[2 * i] + hist_[2 * i + 1];
    std::fill(hist_.begin() + kBins / 2, hist_.end(), 0.0);
    range_ *= 2.0;
  }
}

void Observer::observe(const float* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    if (!std::isfinite(v)) continue;
    if (count_ == 0) {
      min_ = max_ = v;
    } else {
      min_ = std::min(min_, v);
      max_ = std::max(max_, v);
    }
    ++count_;
    const double a = std::fabs(static_cast<double>(v));
    if (a > 0.0 && a >= range_) grow_to(a);
    // Zeros before any nonzero value land in bin 0 whatever the range becomes.
    const int bin = range_ > 0.0 ? std::min(kBins - 1, static_cast<int>(a / range_ * kBins)) : 0;
    hist_[bin] += 1.0;
  }
}

namespace {
const EnumName<CalibMethod> kCalibMethodNames[] = {{CalibMethod::MinMax, "minmax"},
                                                   {CalibMethod::Percentile, "percentile"},
                                                   {CalibMethod::KL, "kl"},
                                                   {CalibMethod::MSE, "mse"},
                                                   {CalibMethod::Auto, "auto"}};
}  // namespace

const char* calib_method_name(CalibMethod m) {
  return name_of(kCalibMethodNames, m);
}

bool parse_calib_method(const std::string& s, CalibMethod& out) {
  return parse_name(kCalibMethodNames, s, out);
}

double threshold_percentile(const Observer& o, double percentile) {
  if (o.empty() || o.range() == 0.0) return 0.0;
  const auto& h = o.histogram();
  double total = 0.0;
  for (double c : h) total += c;
  const double target = total * std::min(100.0, std::max(0.0, percentile)) / 100.0;
  double cum = 0.0;
  for (int i = 0; i < Observer::kBins; ++i) {
    cum += h[i];
    if (cum >= target) return (i + 1) * o.bin_width();
  }
  return o.range();
}

double threshold_kl(const Observer& o) {
  if (o.empty() || o.range() == 0.0) return 0.0;
  const auto& h = o.histogram();
  const int levels = o.non_negative() ? 256 : 128;
  int last = Observer::kBins;  // bins beyond the largest value add nothing
  while (last > 1 && h[last - 1] == 0.0) --last;
  if (last <= levels) return last * o.bin_width();  // fits the levels without clipping
  std::vector<double> p, q;
  double best_kl = std::numeric_limits<double>::infinity();
  int best_i = last;
  double tail = 0.0;  // mass beyond bin i
  for (int i = last; i > levels; --i) {
    // Iterate downwards so the clipped tail accumulates in O(1).
    if (i < last) tail += h[i];
    // P: the first i bins with the clipped tail folded into the last one.
    p.assign(h.begin(), h.begin() + i);
    p[i - 1] += tail;
    // Q: the unclipped first i bins merged into `levels` groups, each group's
    // mass spread evenly over its nonzero bins (empty bins stay empty).
    q.assign(i, 0.0);
    for (int j = 0; j < levels; ++j) {
      const int start = static_cast<int>(static_cast<int64_t>(j) * i / levels);
      const int end = static_cast<int>(static_cast<int64_t>(j + 1) * i / levels);
      double mass = 0.0;
      int nonzero = 0;
      for (int b = start; b < end; ++b) {
        mass += h[b];
        nonzero += h[b] != 0.0;
      }
      if (nonzero == 0) continue;
      for (int b = start; b < end; ++b)
        if (h[b] != 0.0) q[b] = mass / nonzero;
    }
    double sp = 0.0, sq = 0.0;
    for (int b = 0; b < i; ++b) {
      sp += p[b];
      sq += q[b];
    }
    if (sp <= 0.0 || sq <= 0.0) continue;
    // KL(P || Q); a bin where P has mass and Q none (only the folded tail
    // bin can be one) gets a small floor instead of an infinite penalty.
    double kl = 0.0;
    for (int b = 0; b < i; ++b) {
      if (p[b] <= 0.0) continue;
      const double pn = p[b] / sp, qn = std::max(q[b] / sq, 1e-12);
      kl += pn * std::log(pn / qn);
    }
    if (kl < best_kl) {
      best_kl = kl;
      best_i = i;
    }
  }
  return best_i * o.bin_width();
}

namespace {

double quant_error(double x, QParams p) {
  const double q = std::min(127.0, std::max(-128.0, std::nearbyint(x / p.scale) + p.zero_point));
  const double d = x - p.scale * (q - p.zero_point);
  return d * d;
}

// Squared error and signal of quantizing the observed values with p. The
// histogram holds |x|; a magnitude beyond -min can only be positive, beyond
// max only negative, otherwise both signs are counted half each.
void histogram_error(const Observer& o, QParams p, double& err, double& sig) {
  err = sig = 0.0;
  const auto& h = o.histogram();
  const double w = o.bin_width();
  for (int b = 0; b < Observer::kBins; ++b) {
    if (h[b] == 0.0) continue;
    const double v = (b + 0.5) * w;
    const bool pos = v <= o.max() + w, neg = -v >= o.min() - w;
    double e;
    if (pos && neg)
      e = 0.5 * (quant_error(v, p) + quant_error(-v, p));
    else if (neg)
      e = quant_error(-v, p);
    else
      e = quant_error(v, p);
    err += h[b] * e;
    sig += h[b] * v * v;
  }
}

}  // namespace

QParams qparams_for_threshold(const Observer& o, double T) {
  if (o.empty()) return QParams{};
  const double lo = std::max(static_cast<double>(o.min()), -T);
  const double hi = std::min(static_cast<double>(o.max()), T);
  return choose_qparams(static_cast<float>(lo), static_cast<float>(hi));
}

double threshold_mse(const Observer& o) {
  if (o.empty() || o.range() == 0.0) return 0.0;
  const double w = o.bin_width();
  const double amax =
      std::max(std::fabs(static_cast<double>(o.min())), std::fabs(static_cast<double>(o.max())));
  double best_err = std::numeric_limits<double>::infinity(), best_t = amax;
  // Candidates: every 4th bin edge up to the largest magnitude, and the max itself.
  for (int i = 4; i <= Observer::kBins + 3; i += 4) {
    const double t = std::min(amax, i * w);
    double err, sig;
    histogram_error(o, qparams_for_threshold(o, t), err, sig);
    if (err < best_err) {
      best_err = err;
      best_t = t;
    }
    if (t >= amax) break;
  }
  return best_t;
}

double histogram_sqnr_db(const Observer& o, QParams p) {
  double err, sig;
  histogram_error(o, p, err, sig);
  if (err <= 0.0) return 200.0;
  if (sig <= 0.0) return -200.0;
  return std::min(200.0, std::max(-200.0, 10.0 * std::log10(sig / err)));
}

QParams calibrate(const Observer& o, const CalibOptions& opt,
                  const std::function<double(QParams)>& score, CalibMethod* chosen) {
  auto one = [&](CalibMethod m) {
    switch (m) {
      case CalibMethod::MinMax:
        return choose_qparams(o.min(), o.max());
      case CalibMethod::Percentile:
        return qparams_for_threshold(o, threshold_percentile(o, opt.percentile));
      case CalibMethod::KL:
        return qparams_for_threshold(o, threshold_kl(o));
      case CalibMethod::MSE:
        return qparams_for_threshold(o, threshold_mse(o));
      case CalibMethod::Auto:
        break;
    }
    return QParams{};
  };
  if (o.empty()) {
    if (chosen) *chosen = opt.method;
    return QParams{};
  }
  if (opt.method != CalibMethod::Auto) {
    if (chosen) *chosen = opt.method;
    return one(opt.method);
  }
  QParams best;
  double best_score = -std::numeric_limits<double>::infinity();
  CalibMethod best_m = CalibMethod::MinMax;
  for (CalibMethod m :
       {CalibMethod::MinMax, CalibMethod::Percentile, CalibMethod::KL, CalibMethod::MSE}) {
    const QParams p = one(m);
    const double s = score ? score(p) : histogram_sqnr_db(o, p);
    if (s > best_score) {
      best_score = s;
      best = p;
      best_m = m;
    }
  }
  if (chosen) *chosen = best_m;
  return best;
}

}  // namespace ecg::quant
