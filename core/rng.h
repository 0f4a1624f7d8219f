// Seeded random numbers that are the same on every platform and standard
// library (std::normal_distribution is not): splitmix64 to seed, xoshiro256**
// for the stream, Box-Muller for normals.
#pragma once
#include <cstdint>

namespace ecg {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0);
  uint64_t next_u64();
  // Uniform in [0, 1) with 53 random bits.
  double uniform();
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n);
  double normal();
  // Truncated normal (|z| <= 2), as Keras' He-normal initialiser draws.
  double truncated_normal();

 private:
  uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0;
};

}  // namespace ecg
