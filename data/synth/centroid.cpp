// Nearest-centroid cross-validation of data/synth/centroid.h.
#include "data/synth/centroid.h"

#include <algorithm>
#include <limits>

#include "data/synth/page.h"
#include "data/synth/rng.h"
#include "kernels/error.h"

namespace ecg::data::synth {

std::vector<float> grey_thumbnail(const Image& img, int x0, int y0, int x1, int y1, int tw,
                                  int th) {
  ECG_CHECK(img.channels == 1 || img.channels == 3, "grey_thumbnail: ", img.channels, " channels");
  x0 = std::max(0, x0);
  y0 = std::max(0, y0);
  x1 = std::min(img.width, x1);
  y1 = std::min(img.height, y1);
  ECG_CHECK(x1 > x0 && y1 > y0 && tw > 0 && th > 0, "grey_thumbnail: empty rectangle");
  std::vector<double> sum(static_cast<size_t>(tw) * th, 0.0);
  std::vector<int> count(sum.size(), 0);
  const int w = x1 - x0, h = y1 - y0;
  for (int y = y0; y < y1; ++y) {
    int ty = static_cast<int>(static_cast<int64_t>(y - y0) * th / h);
    const uint8_t* r = img.row(y);
    for (int x = x0; x < x1; ++x) {
      int tx = static_cast<int>(static_cast<int64_t>(x - x0) * tw / w);
      double g =
          img.channels == 1 ? r[x] : 0.299 * r[3 * x] + 0.587 * r[3 * x + 1] + 0.114 * r[3 * x + 2];
      sum[static_cast<size_t>(ty) * tw + tx] += g;
      count[static_cast<size_t>(ty) * tw + tx]++;
    }
  }
  std::vector<float> out(sum.size());
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = count[i] ? static_cast<float>(sum[i] / count[i] / 255.0) : 0.0f;
  return out;
}

std::vector<float> page_feature(const Image& img) {
  return grey_thumbnail(img, 0, 0, img.width, img.height, 32, 32);
}

std::vector<float> header_footer_feature(const Image& img) {
  int top = static_cast<int>(img.height * (kGridTopMm - 1.0) / kPageHeightMm);
  int bottom = static_cast<int>(img.height * (kGridBottomMm + 1.0) / kPageHeightMm);
  std::vector<float> f = grey_thumbnail(img, 0, 0, img.width, top, 96, 12);
  std::vector<float> g = grey_thumbnail(img, 0, bottom, img.width, img.height, 96, 12);
  f.insert(f.end(), g.begin(), g.end());
  return f;
}

double nearest_centroid_cv(const std::vector<std::vector<float>>& x, const std::vector<int>& y,
                           int folds, uint64_t seed) {
  ECG_CHECK(x.size() == y.size() && !x.empty(), "nearest_centroid_cv: ", x.size(), " features, ",
            y.size(), " labels");
  ECG_CHECK(folds >= 2, "nearest_centroid_cv: need at least 2 folds");
  const size_t n = x.size(), dim = x[0].size();
  int classes = 0;
  for (int l : y) classes = std::max(classes, l + 1);
  std::vector<int> fold(n);
  Rng rng(seed);
  for (int c = 0; c < classes; ++c) {
    std::vector<size_t> idx;
    for (size_t i = 0; i < n; ++i)
      if (y[i] == c) idx.push_back(i);
    for (size_t i = idx.size(); i > 1; --i)
      std::swap(idx[i - 1], idx[rng.below(static_cast<int>(i))]);
    for (size_t k = 0; k < idx.size(); ++k) fold[idx[k]] = static_cast<int>(k % folds);
  }
  size_t correct = 0;
  for (int f = 0; f < folds; ++f) {
    std::vector<std::vector<double>> centre(classes, std::vector<double>(dim, 0.0));
    std::vector<int> count(classes, 0);
    for (size_t i = 0; i < n; ++i) {
      if (fold[i] == f) continue;
      ECG_CHECK(x[i].size() == dim, "nearest_centroid_cv: feature sizes differ");
      for (size_t d = 0; d < dim; ++d) centre[y[i]][d] += x[i][d];
      count[y[i]]++;
    }
    for (int c = 0; c < classes; ++c)
      for (double& v : centre[c]) v /= std::max(1, count[c]);
    for (size_t i = 0; i < n; ++i) {
      if (fold[i] != f) continue;
      int best = -1;
      double best_d = std::numeric_limits<double>::infinity();
      for (int c = 0; c < classes; ++c) {
        if (!count[c]) continue;
        double dist = 0;
        for (size_t d = 0; d < dim; ++d) {
          double e = x[i][d] - centre[c][d];
          dist += e * e;
        }
        if (dist < best_d) best_d = dist, best = c;
      }
      if (best == y[i]) ++correct;
    }
  }
  return static_cast<double>(correct) / n;
}

}  // namespace ecg::data::synth
