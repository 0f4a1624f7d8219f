// Synthetic 12-lead ECG signals: a beat model with physiological variability.
//
// Model: the heart is a single time-varying dipole D(t) in body coordinates
// x = patient's left, y = inferior (down), z = anterior. Each wave (P, septal
// q, R, S, T, ST injury current, fibrillatory waves) adds a fixed vector times
// a scalar time course; lead voltages are projections of D onto lead vectors.
// Only leads I and II (and the precordials) are projected; III, aVR, aVL and
// aVF are then derived with Einthoven's and Goldberger's relations, so those
// hold exactly (to float rounding) for the clean and the noisy signals alike.
//
// Units: millivolts, seconds; samples at `fs` Hz; time 0 is the left edge of
// the printed page. Signals are clean (isoelectric line at exactly 0 mV) until
// add_recording_noise() adds baseline wander, mains hum and muscle noise.
//
// Class findings (what a cardiologist would call them):
//   Normal            sinus rhythm 55-100/min, normal intervals.
//   AbnormalHeartbeat one of: premature ventricular beats (wide QRS, discordant
//                     T, compensatory pause), atrial fibrillation (irregular RR,
//                     no P waves, f-waves), sinus brady-/tachycardia, AV block
//                     (1st degree, 2nd degree Wenckebach or Mobitz II, 3rd degree).
//   MI                ST elevation >= the target (>= 0.1 mV = 1 mm) in the two
//                     core leads of one territory, reciprocal depression
//                     opposite (the dipole model produces it by itself).
//   HistoryOfMI       pathological Q waves (>= 40 ms wide) and inverted T waves
//                     in the core leads of one territory, no ST elevation.
// Only the waveform depends on the class; every other random choice of a page
// is drawn from a separate stream (see page.h).
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "data/synth/rng.h"

namespace ecg::data::synth {

enum class EcgClass : int { Normal = 0, AbnormalHeartbeat = 1, MI = 2, HistoryOfMI = 3 };
constexpr int kNumClasses = 4;
// Folder names of the study's layout: NORMAL, HB, MI, PMI.
const char* class_folder(EcgClass c);
const char* class_name(EcgClass c);

enum Lead : int { kI, kII, kIII, kAVR, kAVL, kAVF, kV1, kV2, kV3, kV4, kV5, kV6, kNumLeads };
const char* lead_name(int lead);  // "I", "aVR", "V1", ...

enum class Rhythm : int {
  Sinus,
  SinusBradycardia,
  SinusTachycardia,
  PrematureVentricular,
  AtrialFibrillation,
  AVBlock1,
  AVBlock2,
  AVBlock3,
  BundleBranchBlock,  // sinus rhythm, QRS >= 120 ms (right or left)
};
const char* rhythm_name(Rhythm r);

enum class Territory : int { None, Anterior, Inferior, Lateral };
const char* territory_name(Territory t);
// The two leads where an MI of this territory is guaranteed to show its
// finding (contiguous: V2-V3, II-aVF, I-aVL), and the leads facing away
// where reciprocal ST depression is expected.
std::array<int, 2> territory_core_leads(Territory t);
std::vector<int> territory_reciprocal_leads(Territory t);

struct Beat {
  double r_time = 0;         // peak of the main QRS deflection (s)
  double qrs_onset = 0;      // s
  double j_point = 0;        // end of QRS (s)
  bool ventricular = false;  // premature ventricular or ventricular escape beat
};

struct EcgRecord {
  double fs = 500;
  std::array<std::vector<float>, kNumLeads> mv;  // each `samples` long
  int samples = 0;
  EcgClass cls = EcgClass::Normal;
  Rhythm rhythm = Rhythm::Sinus;
  Territory territory = Territory::None;
  std::vector<Beat> beats;      // QRS complexes whose peak lies on the page
  std::vector<double> p_times;  // P wave peaks on the page (conducted or not)
  double heart_rate_bpm = 0;    // from the mean RR of the beats, as a device prints it
  double st_target_mv = 0;      // MI: ST elevation aimed for in the core leads
  double q_target_mv = 0;       // History of MI: Q depth aimed for in the core leads
};

struct SignalOptions {
  double fs = 500;
  double duration_s = 10.0;
  // 0 = textbook findings, 1 = findings near the diagnostic thresholds.
  double difficulty = 0.5;
};

// Draws a clean record of the given class. All randomness comes from `rng`.
EcgRecord synthesize_ecg(EcgClass cls, Rng& rng, const SignalOptions& opts = {});

struct NoiseOptions {
  double difficulty = 0.5;  // scales every amplitude below
  double mains_hz = 50;
};
// Adds baseline wander, mains hum and muscle noise per electrode pair (I, II and
// each precordial), then re-derives the augmented limb leads.
void add_recording_noise(EcgRecord& rec, Rng& rng, const NoiseOptions& opts);

// Recomputes III, aVR, aVL, aVF from I and II.
void derive_limb_leads(EcgRecord& rec);

}  // namespace ecg::data::synth
