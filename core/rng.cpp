#include "core/rng.h"

#include <cmath>

namespace ecg {

double Rng::uniform() {
  return static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t Rng::below(uint64_t n) {
  if (n <= 1) return 0;
  // Rejection keeps it unbiased.
  uint64_t limit = ~0ull - (~0ull % n);
  uint64_t x;
  do x = next_u64();
  while (x >= limit);
  return x % n;
}

double Rng::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1, u2;
  do u1 = uniform();
  while (u1 <= 0.0);
  u2 = uniform();
  double r = std::sqrt(-2.0 * std::log(u1));
  double th = 6.283185307179586 * u2;
  spare_ = r * std::sin(th);
  has_spare_ = true;
  return r * std::cos(th);
}

double Rng::truncated_normal() {
  double z;
  do z = normal();
  while (std::fabs(z) > 2.0);
  return z;
}

}  // namespace ecg
