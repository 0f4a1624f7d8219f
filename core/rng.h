// Seeded random numbers that are the same on every platform and standard
// library (std::normal_distribution is not): splitmix64 to seed, xoshiro256**
// for the stream, Box-Muller for normals.
#pragma once
#include <cstdint>

namespace ecg {

// One splitmix64 step: advances `state` and returns a well-mixed word (seeds
// the xoshiro state; data/synth mixes sub-stream seeds with it).
inline uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) {
    uint64_t x = seed;
    for (auto& s : s_) s = splitmix64(x);
  }
  // The raw xoshiro256** stream (inline: the synthetic generator draws
  // millions per page).
  uint64_t next_u64() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform();
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n);
  double normal();
  // Truncated normal (|z| <= 2), as Keras' He-normal initialiser draws.
  double truncated_normal();

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0;
};

}  // namespace ecg
