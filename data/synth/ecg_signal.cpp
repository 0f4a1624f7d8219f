// Beat model of data/synth/ecg_signal.h: a dipole built from Gaussian waves,
// timelines per rhythm, class findings, and electrode noise.
#include "data/synth/ecg_signal.h"

#include <algorithm>
#include <cmath>

namespace ecg::data::synth {

const char* class_folder(EcgClass c) {
  static const char* names[] = {"NORMAL", "HB", "MI", "PMI"};
  return names[static_cast<int>(c)];
}
const char* class_name(EcgClass c) {
  static const char* names[] = {"Normal", "Abnormal heartbeat", "Myocardial infarction",
                                "History of MI"};
  return names[static_cast<int>(c)];
}
const char* lead_name(int lead) {
  static const char* names[] = {"I",  "II", "III", "aVR", "aVL", "aVF",
                                "V1", "V2", "V3",  "V4",  "V5",  "V6"};
  return names[lead];
}
const char* rhythm_name(Rhythm r) {
  static const char* names[] = {"sinus",
                                "sinus bradycardia",
                                "sinus tachycardia",
                                "premature ventricular beats",
                                "atrial fibrillation",
                                "1st degree AV block",
                                "2nd degree AV block",
                                "3rd degree AV block",
                                "bundle branch block"};
  return names[static_cast<int>(r)];
}
const char* territory_name(Territory t) {
  static const char* names[] = {"none", "anterior", "inferior", "lateral"};
  return names[static_cast<int>(t)];
}

std::array<int, 2> territory_core_leads(Territory t) {
  switch (t) {
    case Territory::Anterior:
      return {kV2, kV3};
    case Territory::Inferior:
      return {kII, kAVF};
    case Territory::Lateral:
      return {kI, kAVL};
    default:
      return {-1, -1};
  }
}
std::vector<int> territory_reciprocal_leads(Territory t) {
  switch (t) {
    case Territory::Anterior:
      return {kII, kIII, kAVF};
    case Territory::Inferior:
      return {kI, kAVL};
    case Territory::Lateral:
      return {kIII, kAVF};
    default:
      return {};
  }
}

namespace {

constexpr double kPi = 3.14159265358979323846;
double rad(double deg) {
  return deg * kPi / 180.0;
}
double lerp(double a, double b, double t) {
  return a + (b - a) * t;
}

struct Vec3 {
  double x = 0, y = 0, z = 0;
};
Vec3 operator+(Vec3 a, Vec3 b) {
  return {a.x + b.x, a.y + b.y, a.z + b.z};
}
Vec3 operator-(Vec3 a, Vec3 b) {
  return {a.x - b.x, a.y - b.y, a.z - b.z};
}
Vec3 operator*(double s, Vec3 a) {
  return {s * a.x, s * a.y, s * a.z};
}
double dot(Vec3 a, Vec3 b) {
  return a.x * b.x + a.y * b.y + a.z * b.z;
}
Vec3 unit(Vec3 a) {
  double n = std::sqrt(dot(a, a));
  return n > 0 ? (1.0 / n) * a : a;
}
// Frontal-plane direction at `deg` (0 = left, +90 = inferior) tilted by z.
Vec3 frontal(double deg, double z) {
  return unit({std::cos(rad(deg)), std::sin(rad(deg)), z});
}

// A wave's time course: an asymmetric Gaussian, or a plateau with smooth
// (cosine) edges for the injury current that lifts the ST segment.
struct Wave {
  Vec3 v;
  double t = 0;      // Gaussian centre, or plateau onset
  double sl = 0.01;  // left sigma, or rise time
  double sr = 0.01;  // right sigma, or fall time
  double t_end = 0;  // plateau: start of the fall
  bool plateau = false;

  double lo() const { return plateau ? t : t - 5 * sl; }
  double hi() const { return plateau ? t_end + sr : t + 5 * sr; }
  double at(double time) const {
    if (!plateau) {
      double d = time - t;
      double s = d < 0 ? sl : sr;
      return std::exp(-0.5 * d * d / (s * s));
    }
    auto smooth = [](double u) {
      return u <= 0 ? 0.0 : u >= 1 ? 1.0 : 0.5 - 0.5 * std::cos(kPi * u);
    };
    return smooth((time - t) / sl) * (1.0 - smooth((time - t_end) / sr));
  }
};

// Per-record morphology: the "patient". Drawn the same way for every class,
// then modified by the class finding.
struct Morphology {
  Vec3 p, q, r, s, t;
  double p_sigma, q_sigma, r_sigma, s_sigma, t_sl, t_sr;
  double pr;   // P onset to QRS onset (s)
  double qtc;  // Bazett-corrected QT (s)
  // Class findings.
  Vec3 injury;   // MI: ST-segment current
  Vec3 extra_q;  // pathological (or developing) Q wave
  Vec3 hyper_t;  // MI: hyperacute T addition
  // Bundle branch block: a late, slow activation vector (the blocked
  // ventricle), delayed after R, which widens the QRS to >= 120 ms.
  Vec3 late_r;
  double late_delay = 0, late_sigma = 0;
  // Lead geometry.
  std::array<Vec3, 6> precordial;  // V1..V6 including gain
};

Vec3 lead_vector(const Morphology& m, int lead) {
  const Vec3 li{1, 0, 0}, lii{0.5, std::sqrt(3.0) / 2, 0};
  switch (lead) {
    case kI:
      return li;
    case kII:
      return lii;
    case kIII:
      return lii - li;
    case kAVR:
      return -0.5 * (li + lii);
    case kAVL:
      return li - 0.5 * lii;
    case kAVF:
      return lii - 0.5 * li;
    default:
      return m.precordial[lead - kV1];
  }
}

Morphology draw_morphology(Rng& rng) {
  Morphology m;
  double axis = rng.clipped_normal(45, 25, -25, 100);
  m.r = rng.uniform(0.7, 1.5) * frontal(axis, rng.uniform(-0.45, -0.15));
  m.q = rng.uniform(0.08, 0.2) * unit({-0.7, 0.2, 0.7});
  m.s = rng.uniform(0.3, 0.8) * unit({rng.uniform(-0.5, 0.0), -0.4, -0.9});
  m.p = rng.uniform(0.08, 0.2) * frontal(rng.uniform(35, 70), 0.2);
  // T 0.15-0.4 (was 0.25-0.55): calibrated on the time the real traces spend
  // >= 0.1 mV off baseline (docs/synthetic-ecg.md).
  m.t = rng.uniform(0.15, 0.4) * frontal(axis + rng.normal(0, 12), rng.uniform(0.05, 0.4));
  m.p_sigma = rng.uniform(0.018, 0.024);
  m.q_sigma = rng.uniform(0.007, 0.009);
  m.r_sigma = rng.uniform(0.009, 0.013);
  m.s_sigma = rng.uniform(0.009, 0.012);
  m.t_sl = rng.uniform(0.038, 0.05);
  m.t_sr = rng.uniform(0.028, 0.036);
  m.pr = rng.uniform(0.12, 0.20);
  m.qtc = rng.uniform(0.38, 0.44);
  static const double angles[6] = {115, 95, 75, 55, 30, 5};
  double turn = rng.normal(0, 8);
  double gain = rng.uniform(1.2, 1.9);
  for (int i = 0; i < 6; ++i) {
    double a = rad(angles[i] + turn + rng.normal(0, 5));
    m.precordial[i] = gain * rng.uniform(0.85, 1.15) * Vec3{std::cos(a), 0, std::sin(a)};
  }
  return m;
}

// Direction of the injured or necrotic wall, jittered per patient.
Vec3 territory_vector(Territory t, Rng& rng) {
  Vec3 base = t == Territory::Anterior   ? Vec3{0.15, -0.55, 1.0}
              : t == Territory::Inferior ? Vec3{-0.2, 1.0, -0.1}
                                         : Vec3{1.0, -0.55, 0.25};
  Vec3 j{rng.normal(0, 0.1), rng.normal(0, 0.1), rng.normal(0, 0.1)};
  return unit(base + j);
}

// Smallest projection of u onto the territory's core leads (gain included);
// the amplitude needed for a target deflection there is target / this.
double core_projection(const Morphology& m, Territory t, Vec3 u) {
  auto core = territory_core_leads(t);
  double p = std::min(dot(u, lead_vector(m, core[0])), dot(u, lead_vector(m, core[1])));
  return std::max(p, 0.25);  // jitter cannot make it vanish; floor guards the division
}

struct Event {
  double r = 0;     // QRS peak time
  double rr = 0.8;  // cycle length used for the QT
  bool ventricular = false;
  bool conducted_p = false;
  double p = 0;  // P wave centre when conducted_p
};
struct Timeline {
  std::vector<Event> beats;
  std::vector<double> lone_p;  // P waves not followed by a QRS
  bool fibrillation = false;
};

// Sinus rhythm with respiratory variation, from before the page starts
// (so that waves of earlier beats reach into it) to after it ends.
Timeline sinus_timeline(Rng& rng, double hr, double pr, double duration) {
  Timeline tl;
  double rr0 = 60.0 / hr;
  double phase = rng.uniform(0, 2 * kPi), resp = rng.uniform(3.0, 5.0);
  double depth = rng.uniform(0.01, 0.05);
  double t = -1.5 - rng.uniform(0, rr0);
  while (t < duration + 1.0) {
    double rr = rr0 * (1 + depth * std::sin(2 * kPi * t / resp + phase) + 0.01 * rng.normal());
    Event e;
    e.r = t;
    e.rr = rr0;
    e.conducted_p = true;
    e.p = t - pr + 0.01;
    tl.beats.push_back(e);
    t += rr;
  }
  return tl;
}

Timeline rhythm_timeline(Rhythm rh, Rng& rng, double difficulty, double pr, double duration) {
  const double d = difficulty;
  switch (rh) {
    case Rhythm::SinusBradycardia:
      return sinus_timeline(rng, rng.uniform(lerp(35, 46, d), lerp(46, 53, d)), pr, duration);
    case Rhythm::SinusTachycardia:
      return sinus_timeline(rng, rng.uniform(lerp(125, 106, d), lerp(150, 118, d)), pr, duration);
    case Rhythm::AVBlock1:
      return sinus_timeline(rng, rng.uniform(60, 90), rng.uniform(lerp(0.28, 0.22, d), 0.38),
                            duration);
    case Rhythm::PrematureVentricular: {
      Timeline tl = sinus_timeline(rng, rng.uniform(60, 95), pr, duration);
      bool bigeminy = rng.chance(lerp(0.3, 0.05, d));
      int count = 1 + rng.below(d < 0.5 ? 3 : 2);
      // Beats on the page that a premature beat may replace.
      std::vector<int> candidates;
      for (int i = 1; i + 1 < static_cast<int>(tl.beats.size()); ++i)
        if (tl.beats[i].r > 0.3 && tl.beats[i].r < duration - 0.3) candidates.push_back(i);
      std::vector<int> chosen;
      if (bigeminy) {
        int start = rng.below(2);
        for (size_t k = start; k < candidates.size(); k += 2) chosen.push_back(candidates[k]);
      } else {
        for (int k = 0; k < count && !candidates.empty(); ++k) {
          int j = rng.below(static_cast<int>(candidates.size()));
          chosen.push_back(candidates[j]);
          candidates.erase(candidates.begin() + j);
          // Keep premature beats apart so each has its compensatory pause.
          candidates.erase(std::remove_if(candidates.begin(), candidates.end(),
                                          [&](int c) { return std::abs(c - chosen.back()) < 2; }),
                           candidates.end());
        }
      }
      for (int i : chosen) {
        Event& e = tl.beats[i];
        // The sinus P of this cycle is hidden in the wide complex; the next
        // sinus beat keeps its time (full compensatory pause).
        e.r = tl.beats[i - 1].r + rng.uniform(0.45, 0.65) * tl.beats[i - 1].rr;
        e.ventricular = true;
        e.conducted_p = false;
      }
      return tl;
    }
    case Rhythm::AtrialFibrillation: {
      Timeline tl;
      tl.fibrillation = true;
      double mean_rr = 60.0 / rng.uniform(75, 130);
      double spread = lerp(0.45, 0.22, d);
      double t = -1.5 - rng.uniform(0, mean_rr);
      while (t < duration + 1.0) {
        Event e;
        e.r = t;
        e.rr = mean_rr;
        tl.beats.push_back(e);
        t += mean_rr * rng.uniform(1 - spread, 1 + spread);
      }
      return tl;
    }
    case Rhythm::AVBlock2: {
      Timeline tl;
      double pp = 60.0 / rng.uniform(70, 100);
      bool wenckebach = rng.chance(0.5);
      int period = wenckebach ? 3 + rng.below(2) : 2 + rng.below(2);  // P waves per dropped beat
      double pr0 = rng.uniform(0.14, 0.2);
      int k = rng.below(period);
      for (double t = -1.5 - rng.uniform(0, pp); t < duration + 1.0; t += pp, ++k) {
        int pos = k % period;
        if (pos == period - 1) {
          tl.lone_p.push_back(t);
          continue;
        }
        double pr_k = wenckebach ? pr0 + 0.14 * (1 - std::pow(0.45, pos)) : pr0;
        Event e;
        e.p = t;
        e.conducted_p = true;
        e.r = t + pr_k - 0.01;
        e.rr = pp;
        tl.beats.push_back(e);
      }
      return tl;
    }
    case Rhythm::AVBlock3: {
      Timeline tl;
      double pp = 60.0 / rng.uniform(70, 100);
      for (double t = -1.5 - rng.uniform(0, pp); t < duration + 1.0; t += pp)
        tl.lone_p.push_back(t);
      double rr = 60.0 / rng.uniform(30, 45);
      bool wide = rng.chance(0.5);
      for (double t = -1.5 - rng.uniform(0, rr); t < duration + 1.0;
           t += rr * rng.uniform(0.98, 1.02)) {
        Event e;
        e.r = t;
        e.rr = rr;
        e.ventricular = wide;
        tl.beats.push_back(e);
      }
      return tl;
    }
    default:
      return sinus_timeline(rng, rng.uniform(60, 100), pr, duration);
  }
}

Rhythm draw_abnormal_rhythm(Rng& rng) {
  // Bundle branch blocks added after calibration: the real abnormal-heartbeat
  // scans have 1.6x the QRS amplitude of the normal ones (docs/synthetic-ecg.md).
  double u = rng.uniform();
  // Faster than before, too: the real ones average 91/min against our 76.
  if (u < 0.20) return Rhythm::PrematureVentricular;
  if (u < 0.40) return Rhythm::AtrialFibrillation;
  if (u < 0.45) return Rhythm::SinusBradycardia;
  if (u < 0.60) return Rhythm::SinusTachycardia;
  if (u < 0.66) return Rhythm::AVBlock1;
  if (u < 0.73) return Rhythm::AVBlock2;
  if (u < 0.80) return Rhythm::AVBlock3;
  return Rhythm::BundleBranchBlock;
}

void add_gauss(std::vector<Wave>& w, Vec3 v, double t, double sl, double sr) {
  Wave x;
  x.v = v;
  x.t = t;
  x.sl = sl;
  x.sr = sr;
  w.push_back(x);
}

double qt_for(const Morphology& m, double rr) {
  return std::min(0.5, std::max(0.26, m.qtc * std::sqrt(rr)));
}

}  // namespace

EcgRecord synthesize_ecg(EcgClass cls, Rng& rng, const SignalOptions& opts) {
  const double d = std::min(1.0, std::max(0.0, opts.difficulty));
  EcgRecord rec;
  rec.fs = opts.fs;
  rec.samples = static_cast<int>(std::lround(opts.duration_s * opts.fs));
  rec.cls = cls;

  Morphology m = draw_morphology(rng);
  if (cls == EcgClass::AbnormalHeartbeat) rec.rhythm = draw_abnormal_rhythm(rng);

  // Class findings, sized so the target deflection appears in both core leads.
  if (cls == EcgClass::MI || cls == EcgClass::HistoryOfMI) {
    rec.territory = static_cast<Territory>(1 + rng.below(3));
    Vec3 u = territory_vector(rec.territory, rng);
    double proj = core_projection(m, rec.territory, u);
    auto core = territory_core_leads(rec.territory);
    if (cls == EcgClass::MI) {
      // Calibrated: the real MI scans sit >= 0.1 mV above baseline 12 points
      // longer than the normal ones; 0.21-0.31 mV (at difficulty 0.5) gave 6
      // with the old T waves and wander, 0.28-0.50 gave 18 with the new ones.
      rec.st_target_mv = lerp(0.3, 0.12, d) * rng.uniform(1.0, 1.6);
      m.injury = (rec.st_target_mv / proj) * u;
      m.hyper_t = rng.uniform(0.2, 0.8) * m.injury;
      if (rng.chance(0.3)) m.extra_q = -(rng.uniform(0.05, 0.12) / proj) * u;  // early Q waves
    } else {
      rec.q_target_mv = lerp(0.4, 0.15, d) * rng.uniform(1.0, 1.4);
      // Necrosis removes forces toward the wall: less R there, an early
      // vector pointing away (the Q wave), and T turned away from the wall.
      double ru = dot(m.r, u);
      if (ru > 0) m.r = m.r - rng.uniform(0.5, 0.9) * ru * u;
      m.extra_q = -(1.6 * rec.q_target_mv / proj) * u;
      double t_target = lerp(0.3, 0.1, d) * rng.uniform(1.0, 1.4);
      double beta = 0;
      for (int lead : core) {
        Vec3 l = lead_vector(m, lead);
        beta = std::max(beta, (dot(m.t, l) + t_target) / std::max(dot(u, l), 0.25));
      }
      m.t = m.t - beta * u;
    }
  }

  if (cls == EcgClass::AbnormalHeartbeat && rng.chance(0.5)) {
    // Calibrated: the real abnormal-heartbeat scans have 1.6x the QRS
    // amplitude of the normal ones and spend longer off baseline (0.41 and
    // 0.38 of a panel's time vs 0.28 and 0.19): half the records get high
    // voltage with a larger or inverted T (a strain pattern).
    const double gain = rng.uniform(1.3, 1.9);
    m.r = gain * m.r;
    m.s = gain * m.s;
    m.t = (rng.chance(0.5) ? -1.0 : 1.0) * rng.uniform(0.9, 1.7) * m.t;
  }
  if (rec.rhythm == Rhythm::BundleBranchBlock) {
    // Right (late vector anterior and rightward: rSR' in V1) or left
    // (leftward and posterior: broad R in V6, QS in V1) bundle branch block,
    // with T discordant to the late vector and taller complexes overall.
    const bool right = rng.chance(0.5);
    const Vec3 dir = right ? unit({-0.45, rng.uniform(-0.2, 0.2), 0.9})
                           : unit({0.85, rng.uniform(0.0, 0.3), -0.55});
    m.r = rng.uniform(1.1, 1.5) * m.r;
    m.late_r = rng.uniform(0.7, 1.4) * dir;
    m.late_delay = rng.uniform(0.05, 0.065);
    m.late_sigma = rng.uniform(0.016, 0.022);
    m.t = rng.uniform(0.2, 0.45) * (-1.0 * dir) + 0.3 * m.t;
  }

  Timeline tl = rhythm_timeline(rec.rhythm, rng, d, m.pr, opts.duration_s);

  std::vector<Wave> waves;
  waves.reserve(tl.beats.size() * 8 + tl.lone_p.size());
  auto add_p = [&](double t) { add_gauss(waves, m.p, t, m.p_sigma, m.p_sigma); };
  for (double p : tl.lone_p) add_p(p);
  // Ventricular beats get one random wide morphology per record (unifocal).
  Vec3 pvc_dir = unit({rng.normal(), rng.normal(), rng.normal()});
  Vec3 pvc_dir2 = unit(pvc_dir + Vec3{rng.normal(0, 0.6), rng.normal(0, 0.6), rng.normal(0, 0.6)});
  double pvc_amp = rng.uniform(1.2, 2.0), pvc_sigma = rng.uniform(0.026, 0.034);

  for (const Event& e : tl.beats) {
    Beat b;
    b.r_time = e.r;
    b.ventricular = e.ventricular;
    if (e.conducted_p) add_p(e.p);
    double qrs_onset, j;
    if (e.ventricular) {
      add_gauss(waves, pvc_amp * pvc_dir, e.r, pvc_sigma, pvc_sigma);
      add_gauss(waves, 0.5 * pvc_amp * pvc_dir2, e.r + 0.05, pvc_sigma, pvc_sigma);
      add_gauss(waves, -0.35 * pvc_amp * pvc_dir, e.r + 0.3, 0.07, 0.05);
      qrs_onset = e.r - 2.5 * pvc_sigma;
      j = e.r + 0.05 + 2.5 * pvc_sigma;
    } else {
      qrs_onset = e.r - 0.035;
      j = e.r + 0.045;
      add_gauss(waves, m.q, e.r - 0.022, m.q_sigma, m.q_sigma);
      add_gauss(waves, m.r, e.r, m.r_sigma, m.r_sigma);
      add_gauss(waves, m.s, e.r + 0.026, m.s_sigma, m.s_sigma);
      if (dot(m.extra_q, m.extra_q) > 0) add_gauss(waves, m.extra_q, e.r - 0.028, 0.016, 0.012);
      if (m.late_sigma > 0) {
        add_gauss(waves, m.late_r, e.r + m.late_delay, m.late_sigma, m.late_sigma);
        j = e.r + m.late_delay + 2.5 * m.late_sigma;
      }
      double t_peak = qrs_onset + qt_for(m, e.rr) - 2.5 * m.t_sr;
      add_gauss(waves, m.t + m.hyper_t, t_peak, m.t_sl, m.t_sr);
      if (dot(m.injury, m.injury) > 0) {
        Wave w;
        w.plateau = true;
        w.v = m.injury;
        w.t = e.r + 0.02;
        w.sl = 0.03;
        w.t_end = t_peak;
        w.sr = 2.5 * m.t_sr;
        waves.push_back(w);
      }
    }
    b.qrs_onset = qrs_onset;
    b.j_point = j;
    if (e.r >= 0 && e.r < opts.duration_s) rec.beats.push_back(b);
  }
  for (double p : tl.lone_p)
    if (p >= 0 && p < opts.duration_s) rec.p_times.push_back(p);
  for (const Event& e : tl.beats)
    if (e.conducted_p && e.p >= 0 && e.p < opts.duration_s) rec.p_times.push_back(e.p);
  std::sort(rec.p_times.begin(), rec.p_times.end());

  // Sample the dipole.
  const int n = rec.samples;
  std::vector<double> dx(n, 0.0), dy(n, 0.0), dz(n, 0.0);
  for (const Wave& w : waves) {
    int i0 = std::max(0, static_cast<int>(std::floor(w.lo() * rec.fs)));
    int i1 = std::min(n - 1, static_cast<int>(std::ceil(w.hi() * rec.fs)));
    for (int i = i0; i <= i1; ++i) {
      double a = w.at(i / rec.fs);
      dx[i] += a * w.v.x;
      dy[i] += a * w.v.y;
      dz[i] += a * w.v.z;
    }
  }
  if (tl.fibrillation) {
    // f-waves: a few incommensurate 4-9 Hz atrial oscillations, mostly seen
    // in the inferior leads and V1.
    Vec3 dir = unit({0.2, 0.6, 0.7});
    double amp = rng.uniform(lerp(0.05, 0.02, d), lerp(0.1, 0.05, d));
    double f[3], ph[3];
    for (int k = 0; k < 3; ++k) {
      f[k] = rng.uniform(4, 9);
      ph[k] = rng.uniform(0, 2 * kPi);
    }
    for (int i = 0; i < n; ++i) {
      double t = i / rec.fs, s = 0;
      for (int k = 0; k < 3; ++k) s += std::sin(2 * kPi * f[k] * t + ph[k]);
      s *= amp / 2.0;
      dx[i] += s * dir.x;
      dy[i] += s * dir.y;
      dz[i] += s * dir.z;
    }
  }

  for (auto& v : rec.mv) v.assign(n, 0.0f);
  for (int lead : {kI, kII, kV1, kV2, kV3, kV4, kV5, kV6}) {
    Vec3 l = lead_vector(m, lead);
    for (int i = 0; i < n; ++i)
      rec.mv[lead][i] = static_cast<float>(dx[i] * l.x + dy[i] * l.y + dz[i] * l.z);
  }
  derive_limb_leads(rec);

  if (rec.beats.size() >= 2) {
    double span = rec.beats.back().r_time - rec.beats.front().r_time;
    rec.heart_rate_bpm = 60.0 * (rec.beats.size() - 1) / span;
  } else {
    rec.heart_rate_bpm = rec.beats.empty() ? 0 : 60.0 / tl.beats.front().rr;
  }
  return rec;
}

void derive_limb_leads(EcgRecord& rec) {
  const int n = rec.samples;
  for (auto lead : {kIII, kAVR, kAVL, kAVF}) rec.mv[lead].resize(n);
  const float* i1 = rec.mv[kI].data();
  const float* i2 = rec.mv[kII].data();
  for (int i = 0; i < n; ++i) {
    rec.mv[kIII][i] = i2[i] - i1[i];
    rec.mv[kAVR][i] = -0.5f * (i1[i] + i2[i]);
    rec.mv[kAVL][i] = i1[i] - 0.5f * i2[i];
    rec.mv[kAVF][i] = i2[i] - 0.5f * i1[i];
  }
}

void add_recording_noise(EcgRecord& rec, Rng& rng, const NoiseOptions& opts) {
  const double scale = 0.3 + 1.4 * std::min(1.0, std::max(0.0, opts.difficulty));
  const int n = rec.samples;
  for (int lead : {kI, kII, kV1, kV2, kV3, kV4, kV5, kV6}) {
    // Baseline wander (respiration, electrode drift): two slow sinusoids.
    double wa[2], wf[2], wp[2];
    for (int k = 0; k < 2; ++k) {
      // The recorder's 0.67 Hz high-pass leaves little wander on the real
      // pages (was up to 0.12 mV per component).
      wa[k] = scale * rng.uniform(0.0, 0.04);
      wf[k] = rng.uniform(0.1, 0.45);
      wp[k] = rng.uniform(0, 2 * kPi);
    }
    double hum = scale * rng.uniform(0.0, 0.012), hum_phase = rng.uniform(0, 2 * kPi);
    double emg = scale * rng.uniform(0.002, 0.015);
    double smooth = 0;
    float* x = rec.mv[lead].data();
    for (int i = 0; i < n; ++i) {
      double t = i / rec.fs;
      double v = wa[0] * std::sin(2 * kPi * wf[0] * t + wp[0]) +
                 wa[1] * std::sin(2 * kPi * wf[1] * t + wp[1]) +
                 hum * std::sin(2 * kPi * opts.mains_hz * t + hum_phase);
      // Muscle noise, low-passed like the recorder's 25 Hz filter would.
      smooth += 0.35 * (emg * rng.normal() - smooth);
      x[i] += static_cast<float>(v + smooth);
    }
  }
  derive_limb_leads(rec);
}

}  // namespace ecg::data::synth
