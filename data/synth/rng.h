// A small seeded random number generator for the synthetic report generator.
//
// Why not <random>: std::uniform_real_distribution and std::normal_distribution
// are implemented differently by libstdc++, libc++ and MSVC, so "same seed, same
// bytes" would only hold per standard library. Here every draw is spelled out:
// raw words from core's xoshiro256** (core/rng.h, seeded through splitmix64),
// uniforms from the top 53 bits, normals by Box-Muller without a cached second
// value (so the number of raw draws per call is fixed and streams stay aligned).
#pragma once
#include <cmath>
#include <cstdint>

#include "core/rng.h"

namespace ecg::data::synth {

// Mixes several integers into one seed, so that sub-streams (page index,
// purpose) are decorrelated from each other and from the user's seed.
inline uint64_t mix_seed(uint64_t a, uint64_t b, uint64_t c = 0) {
  uint64_t s = a;
  uint64_t x = splitmix64(s);
  s = x ^ (b * 0xD1B54A32D192ED03ull);
  x = splitmix64(s);
  s = x ^ (c * 0x8CB92BA72F3D8DD7ull);
  return splitmix64(s);
}

// The raw stream is core's (ecg::Rng, the same xoshiro256** seeded through
// the same splitmix64, so a seed gives the same words); the derived draws
// below are this generator's own and differ from core's on purpose: a fixed
// number of raw draws per call (normal() keeps no spare value, below() is a
// multiply-shift), which keeps the page generator's sub-streams aligned.
class Rng {
 public:
  explicit Rng(uint64_t seed) : raw_(seed) {}

  uint64_t next() { return raw_.next_u64(); }

  // Uniform in [0, 1).
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n); the multiply-shift bias is below 2^-32 for our n.
  int below(int n) { return static_cast<int>(((next() >> 32) * static_cast<uint64_t>(n)) >> 32); }
  bool chance(double p) { return uniform() < p; }
  // Standard normal by Box-Muller (exactly two raw draws per call).
  double normal() {
    double u1 = uniform();
    double u2 = uniform();
    if (u1 < 1e-300) u1 = 1e-300;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  double normal(double mean, double sd) { return mean + sd * normal(); }
  // Normal clipped to [lo, hi] (by clamping, which keeps the draw count fixed).
  double clipped_normal(double mean, double sd, double lo, double hi) {
    double v = normal(mean, sd);
    return v < lo ? lo : (v > hi ? hi : v);
  }

 private:
  ecg::Rng raw_;
};

}  // namespace ecg::data::synth
