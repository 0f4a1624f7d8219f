// Learning-rate schedules against the study's tables, and reduce-on-plateau
// against Keras' ReduceLROnPlateau rules (traced by hand below).
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/error.h"
#include "optim/lr_schedule.h"

namespace ecg {
namespace {

TEST(StudySchedule, ResNetTable) {
  // docs/study.md: 1e-3 for e <= 5, 1e-4 for 6-10, 1e-5 for 11-15, 1e-6 for 16-20, 5e-7 after.
  const struct {
    int epoch;
    double lr;
  } table[] = {{0, 1e-3},  {5, 1e-3},  {6, 1e-4},  {10, 1e-4}, {11, 1e-5},
               {15, 1e-5}, {16, 1e-6}, {20, 1e-6}, {21, 5e-7}, {74, 5e-7}};
  for (auto& row : table)
    EXPECT_NEAR(study_resnet_lr(row.epoch, 1e-3), row.lr, row.lr * 1e-12) << "epoch " << row.epoch;
}

TEST(StudySchedule, AlexNetCompounds) {
  const double base = 1e-3;
  for (int e = 0; e <= 10; ++e) EXPECT_DOUBLE_EQ(study_alexnet_lr(e, base), base) << e;
  EXPECT_NEAR(study_alexnet_lr(11, base), base * 0.5, 1e-18);
  EXPECT_NEAR(study_alexnet_lr(15, base), base * std::pow(0.5, 5), 1e-18);
  EXPECT_NEAR(study_alexnet_lr(16, base), base * std::pow(0.5, 5) * 0.1, 1e-20);
  EXPECT_NEAR(study_alexnet_lr(18, base), base * std::pow(0.5, 5) * 1e-3, 1e-22);
  // Monotone non-increasing everywhere.
  for (int e = 1; e < 75; ++e) EXPECT_LE(study_alexnet_lr(e, base), study_alexnet_lr(e - 1, base));
}

TEST(Cosine, EndPointsMidpointAndClamp) {
  EXPECT_DOUBLE_EQ(cosine_lr(0, 10, 1e-3, 1e-5), 1e-3);
  EXPECT_NEAR(cosine_lr(5, 10, 1e-3, 1e-5), (1e-3 + 1e-5) / 2, 1e-15);
  EXPECT_NEAR(cosine_lr(10, 10, 1e-3, 1e-5), 1e-5, 1e-15);
  EXPECT_NEAR(cosine_lr(30, 10, 1e-3, 1e-5), 1e-5, 1e-15);  // past the end: stays at min
  EXPECT_THROW(cosine_lr(0, 0, 1e-3, 0), Error);
}

TEST(Warmup, LinearRampToFullRate) {
  EXPECT_DOUBLE_EQ(warmup_factor(0, 3), 0.25);
  EXPECT_DOUBLE_EQ(warmup_factor(2, 3), 0.75);
  EXPECT_DOUBLE_EQ(warmup_factor(3, 3), 1.0);
  EXPECT_DOUBLE_EQ(warmup_factor(0, 0), 1.0);
  LrSchedule s;
  s.kind = "cosine";
  s.base_lr = 1e-3;
  s.total_epochs = 10;
  s.warmup_epochs = 1;
  EXPECT_DOUBLE_EQ(s.lr(0), 0.5e-3);
  EXPECT_DOUBLE_EQ(s.lr(1), cosine_lr(1, 10, 1e-3, 0));
  s.kind = "study-resnet";
  s.warmup_epochs = 0;
  EXPECT_DOUBLE_EQ(s.lr(7), 1e-4);
  s.kind = "study-alexnet";
  EXPECT_DOUBLE_EQ(s.lr(11), 0.5e-3);
  s.kind = "constant";
  EXPECT_DOUBLE_EQ(s.lr(50), 1e-3);
  s.kind = "exponential";
  EXPECT_THROW(s.lr(0), Error);
}

TEST(ReduceLrOnPlateau, CutsAfterPatienceEpochsWithoutImprovement) {
  ReduceLrOnPlateau::Options o;
  o.patience = 2;
  o.factor = 0.5;
  o.min_lr = 1e-4;
  ReduceLrOnPlateau r(o);
  EXPECT_FALSE(r.update(1.0));      // best 1.0
  EXPECT_FALSE(r.update(0.99995));  // within min_delta 1e-4: no improvement, wait 1
  EXPECT_TRUE(r.update(1.2));       // wait 2 = patience: cut
  EXPECT_DOUBLE_EQ(r.scale(), 0.5);
  EXPECT_DOUBLE_EQ(r.apply(1e-3), 5e-4);
  EXPECT_FALSE(r.update(0.5));  // improvement resets the wait
  EXPECT_FALSE(r.update(NAN));  // NaN is no improvement
  EXPECT_TRUE(r.update(0.6));
  EXPECT_DOUBLE_EQ(r.scale(), 0.25);
  for (int i = 0; i < 20; ++i) r.update(1.0);
  // The floor holds the rate at min_lr, and never raises a smaller scheduled rate.
  EXPECT_DOUBLE_EQ(r.apply(1e-3), 1e-4);
  EXPECT_DOUBLE_EQ(r.apply(5e-5), 5e-5);
}

TEST(ReduceLrOnPlateau, CooldownEpochsDoNotCount) {
  ReduceLrOnPlateau::Options o;
  o.patience = 1;
  o.cooldown = 2;
  o.factor = 0.1;
  ReduceLrOnPlateau r(o);
  r.update(1.0);
  EXPECT_TRUE(r.update(2.0));   // cut, cooldown 2
  EXPECT_FALSE(r.update(2.0));  // cooldown 2 -> 1: still cooling, the epoch does not count
  // Keras decrements first (1 -> 0), so this epoch counts again: wait 1 = patience.
  EXPECT_TRUE(r.update(2.0));
  EXPECT_NEAR(r.scale(), 0.01, 1e-15);
}

TEST(ReduceLrOnPlateau, StudyDefaultsAndStateRoundTrip) {
  ReduceLrOnPlateau a;  // factor sqrt(0.1), patience 5, floor 5e-7
  a.update(1.0);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(a.update(1.0));
  EXPECT_TRUE(a.update(1.0));
  EXPECT_NEAR(a.scale(), std::sqrt(0.1), 1e-15);
  a.update(1.0);
  a.update(1.0);
  ReduceLrOnPlateau b;
  b.load_state(a.state());
  // From here both must make the same decisions.
  for (double m : {1.0, 0.9, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.8}) {
    EXPECT_EQ(a.update(m), b.update(m));
    EXPECT_EQ(a.scale(), b.scale());
  }
  EXPECT_THROW(b.load_state({1.0, -1.0, 0, 0}), Error);
}

}  // namespace
}  // namespace ecg
