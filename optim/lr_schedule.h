// Learning-rate schedules by epoch index (0-based, the index Keras passes to
// LearningRateScheduler), and reduce-on-plateau. Pure functions and one small
// state machine: the training loop asks for the rate at the start of each
// epoch and reports the validation loss at its end.
//
// The study's recipes (docs/study.md):
//   ResNets: 1e-3 for e <= 5, 1e-4 for 6-10, 1e-5 for 11-15, 1e-6 for 16-20,
//            5e-7 after 20 (written here as ratios of the base rate, equal to
//            the table at the study's base of 1e-3);
//   AlexNet: a Keras schedule compounding on the current rate: x0.5 at each
//            epoch index 11..15 and x0.1 at each index from 16 on;
//   both:    ReduceLROnPlateau on validation loss, factor sqrt(0.1), patience 5,
//            floor 5e-7 (Keras defaults otherwise: min_delta 1e-4, cooldown 0).
#pragma once
#include <cmath>
#include <cstdint>
#include <string>

namespace ecg {

double study_resnet_lr(int epoch, double base_lr);
double study_alexnet_lr(int epoch, double base_lr);
// Half a cosine from base_lr at epoch 0 down to min_lr at epoch total_epochs.
double cosine_lr(int epoch, int total_epochs, double base_lr, double min_lr);
// Linear warm-up: epochs 0..warmup-1 run at (e + 1) / (warmup + 1) of the rate,
// so the first epoch is never at zero and epoch `warmup` reaches the full rate.
double warmup_factor(int epoch, int warmup_epochs);

// A named schedule: "study-resnet", "study-alexnet", "cosine" or "constant",
// with optional warm-up. lr(e) = schedule(e) * warmup_factor(e).
struct LrSchedule {
  std::string kind = "constant";
  double base_lr = 1e-3;
  double min_lr = 0;     // cosine's end point
  int total_epochs = 1;  // cosine's length
  int warmup_epochs = 0;
  double lr(int epoch) const;  // throws ecg::Error for an unknown kind
};

// Keras ReduceLROnPlateau in "min" mode, kept as a multiplier of whatever the
// schedule gives, so schedules and plateau reductions compose. One difference:
// Keras stops cutting once the rate sits at min_lr; here the multiplier keeps
// shrinking but apply() floors the rate, which gives the same rate as long as
// the schedule does not rise again.
class ReduceLrOnPlateau {
 public:
  struct Options {
    double factor = 0.31622776601683794;  // sqrt(0.1), the study's
    int patience = 5;
    double min_delta = 1e-4;  // an improvement must beat best - min_delta
    int cooldown = 0;         // epochs after a reduction that do not count
    double min_lr = 5e-7;     // floor of the rate this multiplier produces
  };
  ReduceLrOnPlateau() = default;
  explicit ReduceLrOnPlateau(const Options& o) : opt_(o) {}

  // Call once per epoch with the monitored value; true when the rate was cut.
  // A NaN metric counts as no improvement.
  bool update(double metric);
  // The rate to use: scheduled_lr * scale(), never below min_lr (but never
  // raised above scheduled_lr by the floor either).
  double apply(double scheduled_lr) const;
  double scale() const { return scale_; }

  // Everything needed to resume exactly (checkpointed by the training loop).
  struct State {
    double best = INFINITY, scale = 1.0;
    int wait = 0, cooldown_left = 0;
  };
  State state() const { return {best_, scale_, wait_, cooldown_left_}; }
  void load_state(const State& s);

 private:
  Options opt_;
  double best_ = INFINITY, scale_ = 1.0;
  int wait_ = 0, cooldown_left_ = 0;
};

}  // namespace ecg
