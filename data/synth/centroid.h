// The shortcut checks of the synthetic data: a nearest-centroid classifier,
// cross-validated, on features that should carry no class information
// (header and footer bands) or little of it (whole pages shrunk to 32x32
// grey). Used by the tests and by `ecgcnn synth --measure`, so real scans and
// synthetic pages are measured by the same code.
#pragma once
#include <cstdint>
#include <vector>

#include "data/image.h"

namespace ecg::data::synth {

// Grey (BT.601) area average of the rectangle [x0,x1) x [y0,y1) shrunk to
// tw x th, values in [0, 1], row-major. Source pixels are assigned to the
// output cell that contains their centre.
std::vector<float> grey_thumbnail(const Image& img, int x0, int y0, int x1, int y1, int tw, int th);

// Whole page at 32x32.
std::vector<float> page_feature(const Image& img);
// The header band (above the grid) and the footer band (below it), each
// shrunk to 96x12 and concatenated. Band limits are fractions of the page
// height from the scans' layout (data/synth/page.h).
std::vector<float> header_footer_feature(const Image& img);

// Accuracy of a nearest-centroid (Euclidean) classifier under stratified
// k-fold cross-validation: each class's samples are shuffled with `seed` and
// dealt to folds in turn. Labels are 0..K-1.
double nearest_centroid_cv(const std::vector<std::vector<float>>& features,
                           const std::vector<int>& labels, int folds, uint64_t seed);

}  // namespace ecg::data::synth
