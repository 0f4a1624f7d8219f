// Signal-level checks of the synthetic ECG generator, per class: each class
// shows its finding, measured the way a reader of the trace would, on many
// records across the difficulty range; limb leads obey Einthoven/Goldberger.
// Measurements use the clean signals, whose isoelectric line is exactly 0 mV.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "data/synth/ecg_signal.h"

using namespace ecg::data::synth;

namespace {

constexpr int kRecords = 40;  // per class and difficulty

float at(const EcgRecord& r, int lead, double t) {
  int i = static_cast<int>(std::lround(t * r.fs));
  i = std::max(0, std::min(r.samples - 1, i));
  return r.mv[lead][i];
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Beats whose whole cycle (QRS to end of T) lies on the page.
std::vector<Beat> full_beats(const EcgRecord& r) {
  std::vector<Beat> out;
  for (const Beat& b : r.beats)
    if (!b.ventricular && b.qrs_onset > 0.1 && b.r_time + 0.5 < r.samples / r.fs) out.push_back(b);
  return out;
}

// ST level 40 ms after the J point, median over beats. (J+40 rather than
// J+60 ms: at fast rates the upstroke of a normal T wave reaches J+60.)
double st_level(const EcgRecord& r, int lead) {
  std::vector<double> v;
  for (const Beat& b : full_beats(r)) v.push_back(at(r, lead, b.j_point + 0.04));
  return median(v);
}

// Q wave: the deepest point between QRS onset and the R peak, and how long
// the trace stays below -0.02 mV around it (the clean signal's baseline is
// exactly 0, so this is the width at the baseline within a rounding margin).
void q_wave(const EcgRecord& r, int lead, double* depth, double* width) {
  std::vector<double> d, w;
  for (const Beat& b : full_beats(r)) {
    int i0 = static_cast<int>(std::lround((b.qrs_onset - 0.02) * r.fs));
    int i1 = static_cast<int>(std::lround(b.r_time * r.fs));
    int imin = i0;
    for (int i = i0; i <= i1; ++i)
      if (r.mv[lead][i] < r.mv[lead][imin]) imin = i;
    int a = imin, e = imin;
    while (a > 0 && r.mv[lead][a - 1] < -0.02f) --a;
    while (e + 1 < r.samples && r.mv[lead][e + 1] < -0.02f) ++e;
    d.push_back(-r.mv[lead][imin]);
    w.push_back((e - a + 1) / r.fs);
  }
  *depth = median(d);
  *width = median(w);
}

// T wave polarity: the extreme value in the T window.
double t_wave(const EcgRecord& r, int lead) {
  std::vector<double> v;
  for (const Beat& b : full_beats(r)) {
    double best = 0;
    for (double t = b.j_point + 0.08; t < b.j_point + 0.38; t += 0.002) {
      double x = at(r, lead, t);
      if (std::fabs(x) > std::fabs(best)) best = x;
    }
    v.push_back(best);
  }
  return median(v);
}

double rr_cv(const EcgRecord& r) {
  std::vector<double> rr;
  for (size_t i = 1; i < r.beats.size(); ++i)
    rr.push_back(r.beats[i].r_time - r.beats[i - 1].r_time);
  double m = 0, s = 0;
  for (double x : rr) m += x;
  m /= rr.size();
  for (double x : rr) s += (x - m) * (x - m);
  return std::sqrt(s / rr.size()) / m;
}

double max_st(const EcgRecord& r) {
  double m = -1e9;
  for (int l = 0; l < kNumLeads; ++l) m = std::max(m, st_level(r, l));
  return m;
}

template <class F>
void for_records(EcgClass cls, F&& check) {
  for (double d : {0.0, 0.5, 1.0})
    for (int k = 0; k < kRecords; ++k) {
      Rng rng(mix_seed(77, static_cast<uint64_t>(cls), k + 1000 * static_cast<int>(d * 2)));
      SignalOptions o;
      o.difficulty = d;
      EcgRecord r = synthesize_ecg(cls, rng, o);
      SCOPED_TRACE(testing::Message()
                   << "difficulty " << d << " record " << k << " rhythm " << rhythm_name(r.rhythm)
                   << " territory " << territory_name(r.territory));
      check(r);
    }
}

}  // namespace

TEST(SynthSignal, NormalHasNoFindings) {
  double worst_st = -1;
  for_records(EcgClass::Normal, [&](const EcgRecord& r) {
    EXPECT_EQ(r.rhythm, Rhythm::Sinus);
    EXPECT_GE(r.heart_rate_bpm, 55);
    EXPECT_LE(r.heart_rate_bpm, 105);
    EXPECT_LT(rr_cv(r), 0.08);
    EXPECT_GE(r.p_times.size() + 1, r.beats.size());  // a P before every QRS
    double st = max_st(r);
    worst_st = std::max(worst_st, st);
    EXPECT_LT(st, 0.1) << "ST elevation in a normal record";
  });
  std::printf("normal: highest ST at J+40 ms over all leads %.3f mV\n", worst_st);
}

TEST(SynthSignal, MIHasSTElevationInTerritoryWithReciprocalDepression) {
  double lowest_core = 1e9, highest_recip = -1e9;
  for_records(EcgClass::MI, [&](const EcgRecord& r) {
    ASSERT_NE(r.territory, Territory::None);
    auto core = territory_core_leads(r.territory);
    for (int lead : core) {
      double st = st_level(r, lead);
      lowest_core = std::min(lowest_core, st);
      EXPECT_GE(st, 0.1) << "core lead " << lead_name(lead);
    }
    double recip = 1e9;
    for (int lead : territory_reciprocal_leads(r.territory))
      recip = std::min(recip, st_level(r, lead));
    highest_recip = std::max(highest_recip, recip);
    EXPECT_LT(recip, -0.02) << "no reciprocal ST depression";
  });
  std::printf("MI: lowest core-lead ST %.3f mV, least reciprocal depression %.3f mV\n", lowest_core,
              highest_recip);
}

TEST(SynthSignal, HistoryOfMIHasQWavesAndInvertedTWithoutSTElevation) {
  double min_depth = 1e9, min_width = 1e9, max_t = -1e9, st_hi = -1e9;
  for_records(EcgClass::HistoryOfMI, [&](const EcgRecord& r) {
    ASSERT_NE(r.territory, Territory::None);
    for (int lead : territory_core_leads(r.territory)) {
      double depth, width;
      q_wave(r, lead, &depth, &width);
      double t = t_wave(r, lead);
      min_depth = std::min(min_depth, depth);
      min_width = std::min(min_width, width);
      max_t = std::max(max_t, t);
      EXPECT_GE(depth, 0.1) << lead_name(lead);
      EXPECT_GE(width, 0.04) << lead_name(lead);
      EXPECT_LT(t, -0.05) << lead_name(lead);
    }
    double st = max_st(r);
    st_hi = std::max(st_hi, st);
    EXPECT_LT(st, 0.1);
  });
  std::printf("PMI: Q depth >= %.3f mV, width >= %.0f ms, T <= %.3f mV, highest ST %.3f mV\n",
              min_depth, 1000 * min_width, max_t, st_hi);
}

TEST(SynthSignal, AbnormalHeartbeatRhythms) {
  int seen[9] = {};
  for_records(EcgClass::AbnormalHeartbeat, [&](const EcgRecord& r) {
    seen[static_cast<int>(r.rhythm)]++;
    switch (r.rhythm) {
      case Rhythm::AtrialFibrillation:
        EXPECT_GT(rr_cv(r), 0.08) << "AF must be irregular";
        EXPECT_TRUE(r.p_times.empty()) << "AF has no P waves";
        break;
      case Rhythm::PrematureVentricular: {
        int wide = 0;
        for (const Beat& b : r.beats)
          if (b.ventricular) {
            ++wide;
            EXPECT_GE(b.j_point - b.qrs_onset, 0.12) << "PVC QRS must be wide";
          }
        EXPECT_GE(wide, 1);
        break;
      }
      case Rhythm::BundleBranchBlock:
        for (const Beat& b : r.beats)
          EXPECT_GE(b.j_point - b.qrs_onset, 0.12) << "bundle branch block QRS must be wide";
        break;
      case Rhythm::SinusBradycardia:
        EXPECT_LT(r.heart_rate_bpm, 55);
        break;
      case Rhythm::SinusTachycardia:
        EXPECT_GT(r.heart_rate_bpm, 100);
        break;
      case Rhythm::AVBlock2:
      case Rhythm::AVBlock3:
        EXPECT_GT(r.p_times.size(), r.beats.size()) << "some P waves are not conducted";
        break;
      default:
        break;
    }
  });
  EXPECT_GT(seen[static_cast<int>(Rhythm::AtrialFibrillation)], 0);
  EXPECT_GT(seen[static_cast<int>(Rhythm::PrematureVentricular)], 0);
  EXPECT_GT(seen[static_cast<int>(Rhythm::AVBlock3)], 0);
  EXPECT_GT(seen[static_cast<int>(Rhythm::BundleBranchBlock)], 0);
}

TEST(SynthSignal, EinthovenAndGoldbergerHoldWithNoise) {
  for (int c = 0; c < kNumClasses; ++c) {
    Rng rng(mix_seed(5, c, 0));
    EcgRecord r = synthesize_ecg(static_cast<EcgClass>(c), rng);
    NoiseOptions no;
    no.difficulty = 1.0;
    add_recording_noise(r, rng, no);
    double worst = 0;
    for (int i = 0; i < r.samples; ++i) {
      double I = r.mv[kI][i], II = r.mv[kII][i];
      worst = std::max(worst, std::fabs(r.mv[kIII][i] - (II - I)));
      worst = std::max(worst, std::fabs(r.mv[kAVR][i] + (I + II) / 2));
      worst = std::max(worst, std::fabs(r.mv[kAVL][i] - (I - II / 2)));
      worst = std::max(worst, std::fabs(r.mv[kAVF][i] - (II - I / 2)));
    }
    EXPECT_LE(worst, 1e-6) << class_name(static_cast<EcgClass>(c));
  }
}

TEST(SynthSignal, SameSeedSameSignal) {
  for (int c = 0; c < kNumClasses; ++c) {
    Rng a(123 + c), b(123 + c), other(999 + c);
    EcgRecord x = synthesize_ecg(static_cast<EcgClass>(c), a);
    EcgRecord y = synthesize_ecg(static_cast<EcgClass>(c), b);
    EcgRecord z = synthesize_ecg(static_cast<EcgClass>(c), other);
    for (int l = 0; l < kNumLeads; ++l) EXPECT_EQ(x.mv[l], y.mv[l]);
    EXPECT_NE(x.mv[kII], z.mv[kII]);
  }
}
