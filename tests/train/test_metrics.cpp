// Metrics against a hand-computed confusion matrix.
#include <gtest/gtest.h>

#include "kernels/error.h"
#include "train/metrics.h"

namespace ecg {
namespace {

TEST(Metrics, HandComputedThreeClassCase) {
  // truth:     0 0 0 1 1 2
  // predicted: 0 0 1 1 2 2
  ClassificationReport r =
      classification_report({0, 0, 0, 1, 1, 2}, {0, 0, 1, 1, 2, 2}, {"a", "b", "c"});
  EXPECT_EQ(r.confusion, (std::vector<std::vector<int64_t>>{{2, 1, 0}, {0, 1, 1}, {0, 0, 1}}));
  EXPECT_DOUBLE_EQ(r.accuracy, 4.0 / 6);
  EXPECT_DOUBLE_EQ(r.precision[0], 1.0);
  EXPECT_DOUBLE_EQ(r.recall[0], 2.0 / 3);
  EXPECT_DOUBLE_EQ(r.f1[0], 0.8);
  EXPECT_DOUBLE_EQ(r.precision[1], 0.5);
  EXPECT_DOUBLE_EQ(r.recall[1], 0.5);
  EXPECT_DOUBLE_EQ(r.f1[2], 2 * 0.5 * 1.0 / 1.5);
  EXPECT_DOUBLE_EQ(r.macro_f1, (0.8 + 0.5 + 2.0 / 3) / 3);
  EXPECT_DOUBLE_EQ(r.weighted_f1, (0.8 * 3 + 0.5 * 2 + 2.0 / 3) / 6);
  nlohmann::json j = r.json();
  for (const char* k :
       {"accuracy", "macro_f1", "weighted_f1", "per_class", "confusion_matrix", "classes"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_NE(r.text().find("macro avg"), std::string::npos);
}

TEST(Metrics, NeverPredictedClassHasZeroPrecision) {
  ClassificationReport r = classification_report({0, 1}, {0, 0}, {"a", "b"});
  EXPECT_EQ(r.precision[1], 0.0);
  EXPECT_EQ(r.f1[1], 0.0);
}

TEST(Metrics, OutOfRangeLabelIsAnError) {
  EXPECT_THROW(classification_report({0, 5}, {0, 1}, {"a", "b"}), Error);
}

}  // namespace
}  // namespace ecg
