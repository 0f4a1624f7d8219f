// Learning-rate schedules and reduce-on-plateau (see lr_schedule.h).
#include "optim/lr_schedule.h"

#include <algorithm>

#include "kernels/error.h"

namespace ecg {

double study_resnet_lr(int epoch, double base_lr) {
  if (epoch <= 5) return base_lr;
  if (epoch <= 10) return base_lr * 1e-1;
  if (epoch <= 15) return base_lr * 1e-2;
  if (epoch <= 20) return base_lr * 1e-3;
  return base_lr * 5e-4;  // 5e-7 at the study's base of 1e-3
}

double study_alexnet_lr(int epoch, double base_lr) {
  // Keras calls schedule(e, lr) at the start of every epoch with the rate the
  // previous epoch used, so the factors compound: replay them from epoch 1.
  double lr = base_lr;
  for (int e = 1; e <= epoch; ++e) lr *= e > 15 ? 0.1 : e > 10 ? 0.5 : 1.0;
  return lr;
}

double cosine_lr(int epoch, int total_epochs, double base_lr, double min_lr) {
  ECG_CHECK(total_epochs > 0, "cosine schedule: total_epochs must be positive, got ", total_epochs);
  const double t = std::min(1.0, std::max(0.0, static_cast<double>(epoch) / total_epochs));
  return min_lr + 0.5 * (base_lr - min_lr) * (1.0 + std::cos(std::acos(-1.0) * t));
}

double warmup_factor(int epoch, int warmup_epochs) {
  if (warmup_epochs <= 0 || epoch >= warmup_epochs) return 1.0;
  return static_cast<double>(std::max(epoch, 0) + 1) / (warmup_epochs + 1);
}

double LrSchedule::lr(int epoch) const {
  double lr;
  if (kind == "study-resnet")
    lr = study_resnet_lr(epoch, base_lr);
  else if (kind == "study-alexnet")
    lr = study_alexnet_lr(epoch, base_lr);
  else if (kind == "cosine")
    lr = cosine_lr(epoch, total_epochs, base_lr, min_lr);
  else if (kind == "constant")
    lr = base_lr;
  else
    fail("unknown learning-rate schedule '", kind,
         "' (expected study-resnet, study-alexnet, cosine or constant)");
  return lr * warmup_factor(epoch, warmup_epochs);
}

bool ReduceLrOnPlateau::update(double metric) {
  // Same order of checks as Keras' ReduceLROnPlateau.on_epoch_end.
  if (cooldown_left_ > 0) {
    --cooldown_left_;
    wait_ = 0;
  }
  if (metric < best_ - opt_.min_delta) {  // false for NaN: no improvement
    best_ = metric;
    wait_ = 0;
    return false;
  }
  if (cooldown_left_ > 0) return false;
  if (++wait_ < opt_.patience) return false;
  scale_ *= opt_.factor;
  cooldown_left_ = opt_.cooldown;
  wait_ = 0;
  return true;
}

double ReduceLrOnPlateau::apply(double scheduled_lr) const {
  return std::min(scheduled_lr, std::max(scheduled_lr * scale_, opt_.min_lr));
}

void ReduceLrOnPlateau::load_state(const State& s) {
  ECG_CHECK(s.scale > 0 && s.wait >= 0 && s.cooldown_left >= 0,
            "reduce-on-plateau state is invalid: scale ", s.scale, ", wait ", s.wait, ", cooldown ",
            s.cooldown_left);
  best_ = s.best;
  scale_ = s.scale;
  wait_ = s.wait;
  cooldown_left_ = s.cooldown_left;
}

}  // namespace ecg
