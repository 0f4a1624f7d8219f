#include "quant/reports.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>

#include "core/autograd.h"
#include "quant/int8_runner.h"
#include "quant/quantize.h"

namespace ecg::quant {

namespace {

std::vector<int> argmax_rows(const Tensor& logits_in) {
  Tensor logits = logits_in.contiguous();
  const int64_t N = logits.size(0), C = logits.size(1);
  const float* p = logits.data<float>();
  std::vector<int> r(N);
  for (int64_t i = 0; i < N; ++i)
    r[i] = static_cast<int>(std::max_element(p + i * C, p + (i + 1) * C) - (p + i * C));
  return r;
}

double fraction_equal(const std::vector<int>& a, const std::vector<int>& b) {
  if (a.empty()) return 0;
  int64_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  return static_cast<double>(same) / a.size();
}

// Images [from, to) of the set as one contiguous batch.
Tensor rows(const Tensor& images, int64_t from, int64_t to) {
  return images.slice(0, from, to).contiguous();
}

}  // namespace

LabeledImages concat_images(const std::vector<Tensor>& batches,
                            const std::vector<std::vector<int>>& labels) {
  ECG_CHECK(!batches.empty() && batches.size() == labels.size(),
            "concat_images: batches and labels differ in count");
  LabeledImages r;
  int64_t n = 0;
  for (size_t i = 0; i < batches.size(); ++i) {
    ECG_CHECK(batches[i].size(0) == static_cast<int64_t>(labels[i].size()), "concat_images: batch ",
              i, " has ", batches[i].size(0), " images and ", labels[i].size(), " labels");
    n += batches[i].size(0);
  }
  Shape s = batches[0].shape();
  s[0] = n;
  r.images = Tensor::empty(s);
  const int64_t per = batches[0].numel() / batches[0].size(0);
  float* dst = r.images.data<float>();
  for (size_t i = 0; i < batches.size(); ++i) {
    Tensor b = batches[i].contiguous();
    ECG_CHECK(b.numel() / std::max<int64_t>(1, b.size(0)) == per,
              "concat_images: batches of different image sizes");
    std::memcpy(dst, b.data<float>(), sizeof(float) * b.numel());
    dst += b.numel();
    r.labels.insert(r.labels.end(), labels[i].begin(), labels[i].end());
  }
  return r;
}

FloatReference float_reference(Model& model, const LabeledImages& set, int batch) {
  model.eval();
  NoGradGuard no_grad;
  const int64_t N = set.size();
  ECG_CHECK(N > 0, "float_reference: no images");
  std::vector<Tensor> parts;
  int64_t C = 0;
  for (int64_t i = 0; i < N; i += batch) {
    parts.push_back(model(rows(set.images, i, std::min(N, i + batch))).contiguous());
    C = parts.back().size(1);
  }
  FloatReference r;
  r.logits = Tensor::empty({N, C});
  float* dst = r.logits.data<float>();
  for (const Tensor& p : parts) {
    std::memcpy(dst, p.data<float>(), sizeof(float) * p.numel());
    dst += p.numel();
  }
  r.predicted = argmax_rows(r.logits);
  r.accuracy = fraction_equal(r.predicted, set.labels);
  return r;
}

nlohmann::json Int8Eval::json() const {
  return {{"accuracy", accuracy}, {"agreement", agreement}, {"logits_sqnr_db", logits_sqnr_db}};
}

Int8Eval evaluate_int8(const Int8Model& m, const LabeledImages& set, const FloatReference& ref,
                       int batch) {
  const int64_t N = set.size();
  ECG_CHECK(N > 0 && ref.logits.defined() && ref.logits.size(0) == N,
            "evaluate_int8: the float reference does not match the set");
  const int B = static_cast<int>(std::min<int64_t>(batch, N));
  Int8Runner runner(m, int8::best_int8_kernel(), B);
  const int64_t C = ref.logits.size(1);
  std::vector<float> logits(static_cast<size_t>(N * C));
  for (int64_t i = 0; i < N; i += B) {
    Tensor l = runner.run(rows(set.images, i, std::min(N, i + B))).contiguous();
    std::memcpy(logits.data() + i * C, l.data<float>(), sizeof(float) * l.numel());
  }
  Tensor lt = Tensor::from_vector(logits, {N, C});
  std::vector<int> pred = argmax_rows(lt);
  Int8Eval e;
  e.accuracy = fraction_equal(pred, set.labels);
  e.agreement = fraction_equal(pred, ref.predicted);
  e.logits_sqnr_db = sqnr_db(ref.logits.data<float>(), logits.data(), N * C);
  return e;
}

nlohmann::json SensitivityReport::json() const {
  nlohmann::json r = nlohmann::json::array();
  for (const SensitivityRow& s : rows)
    r.push_back({{"layer", s.layer},
                 {"delta_points", s.delta_points},
                 {"with_float", s.with_float.json()}});
  return {{"float_accuracy", float_accuracy}, {"int8", int8.json()}, {"layers", r}};
}

SensitivityReport layer_sensitivity(const Int8Model& q, const LabeledImages& set,
                                    const FloatReference& ref, int batch) {
  SensitivityReport r;
  r.float_accuracy = ref.accuracy;
  r.int8 = evaluate_int8(q, set, ref, batch);
  for (const NodeQ& n : q.nodes) {
    if (n.kind != NodeKind::Conv && n.kind != NodeKind::Dense) continue;
    if (n.run_float) continue;  // already float
    SensitivityRow row;
    row.layer = n.name;
    row.with_float = evaluate_int8(with_float_nodes(q, {n.name}), set, ref, batch);
    row.delta_points = 100.0 * (row.with_float.accuracy - r.int8.accuracy);
    r.rows.push_back(row);
  }
  std::stable_sort(r.rows.begin(), r.rows.end(),
                   [](const SensitivityRow& a, const SensitivityRow& b) {
                     if (a.with_float.accuracy != b.with_float.accuracy)
                       return a.with_float.accuracy > b.with_float.accuracy;
                     if (a.with_float.agreement != b.with_float.agreement)
                       return a.with_float.agreement > b.with_float.agreement;
                     return a.with_float.logits_sqnr_db > b.with_float.logits_sqnr_db;
                   });
  return r;
}

nlohmann::json FallbackResult::json(double float_accuracy) const {
  nlohmann::json p = nlohmann::json::array();
  for (const Int8Eval& e : path) p.push_back(e.json());
  return {{"budget_points", budget_points},
          {"float_accuracy", float_accuracy},
          {"tried", tried},
          {"path", p},
          {"budget_met", budget_met},
          {"layers", layers}};
}

FallbackResult fallback_to_budget(const Int8Model& q, const SensitivityReport& sens,
                                  const LabeledImages& set, const FloatReference& ref,
                                  double budget_points, int batch) {
  ECG_CHECK(budget_points >= 0, "accuracy budget must be >= 0 points, got ", budget_points);
  FallbackResult r;
  r.budget_points = budget_points;
  r.model = q;
  r.path.push_back(sens.int8);
  // A tiny slack so that an exact budget (e.g. 0) is not missed by rounding.
  auto within = [&](const Int8Eval& e) {
    return 100.0 * (ref.accuracy - e.accuracy) <= budget_points + 1e-9;
  };
  size_t next = 0;
  while (!within(r.path.back()) && next < sens.rows.size()) {
    r.tried.push_back(sens.rows[next++].layer);
    r.path.push_back(evaluate_int8(with_float_nodes(q, r.tried), set, ref, batch));
  }
  r.budget_met = within(r.path.back());
  size_t keep = r.tried.size();
  if (!r.budget_met) {
    keep = 0;
    for (size_t i = 1; i < r.path.size(); ++i)
      if (r.path[i].accuracy > r.path[keep].accuracy) keep = i;
  }
  r.layers.assign(r.tried.begin(), r.tried.begin() + keep);
  r.model = with_float_nodes(q, r.layers);
  return r;
}

nlohmann::json StabilityReport::json() const {
  nlohmann::json e = nlohmann::json::array();
  for (const Int8Eval& v : evals) e.push_back(v.json());
  nlohmann::json t = nlohmann::json::array();
  for (const TensorSpread& s : tensors)
    t.push_back({{"tensor", s.tensor},
                 {"min_scale", s.min_scale},
                 {"max_scale", s.max_scale},
                 {"spread", s.spread}});
  return {{"subset_images", subset_images},
          {"subsets", e},
          {"accuracy_spread_points", accuracy_spread_points},
          {"agreement_spread_points", agreement_spread_points},
          {"max_scale_spread", max_scale_spread},
          {"widest_tensor", widest_tensor},
          {"tensors", t}};
}

StabilityReport stability_report(Model& model, const LabeledImages& calib,
                                 const QuantizeOptions& opt, const LabeledImages& eval,
                                 const FloatReference& ref, int subsets, int batch) {
  ECG_CHECK(subsets >= 2, "stability: need at least 2 subsets");
  ECG_CHECK(calib.size() >= subsets, "stability: ", calib.size(),
            " calibration images cannot make ", subsets, " disjoint subsets");
  // Deal each class's images round robin, continuing the count across
  // classes so that subset sizes differ by at most one image.
  std::map<int, std::vector<int64_t>> by_class;
  for (int64_t i = 0; i < calib.size(); ++i) by_class[calib.labels[i]].push_back(i);
  std::vector<std::vector<int64_t>> parts(subsets);
  int64_t dealt = 0;
  for (auto& kv : by_class)
    for (int64_t i : kv.second) parts[dealt++ % subsets].push_back(i);
  StabilityReport r;
  const int64_t per = calib.images.numel() / calib.size();
  Shape shape = calib.images.shape();
  Tensor all = calib.images.contiguous();
  std::vector<Int8Model> models;
  for (const auto& idx : parts) {
    std::vector<Tensor> batches;
    for (size_t i = 0; i < idx.size(); i += batch) {
      const size_t n = std::min(idx.size(), i + batch) - i;
      shape[0] = static_cast<int64_t>(n);
      Tensor b = Tensor::empty(shape);
      for (size_t k = 0; k < n; ++k)
        std::memcpy(b.data<float>() + k * per, all.data<float>() + idx[i + k] * per,
                    sizeof(float) * per);
      batches.push_back(b);
    }
    models.push_back(quantize_model(model, batches, opt));
    r.subset_images.push_back(static_cast<int64_t>(idx.size()));
    r.evals.push_back(evaluate_int8(models.back(), eval, ref));
  }
  auto spread = [&](double Int8Eval::*f) {
    double lo = std::numeric_limits<double>::max(), hi = std::numeric_limits<double>::lowest();
    for (const Int8Eval& e : r.evals) lo = std::min(lo, e.*f), hi = std::max(hi, e.*f);
    return 100.0 * (hi - lo);
  };
  r.accuracy_spread_points = spread(&Int8Eval::accuracy);
  r.agreement_spread_points = spread(&Int8Eval::agreement);
  for (size_t t = 0; t < models[0].tensors.size(); ++t) {
    StabilityReport::TensorSpread s;
    s.tensor = models[0].tensors[t].name;
    s.min_scale = s.max_scale = models[0].tensors[t].scale;
    for (const Int8Model& m : models) {
      s.min_scale = std::min(s.min_scale, m.tensors[t].scale);
      s.max_scale = std::max(s.max_scale, m.tensors[t].scale);
    }
    s.spread = static_cast<double>(s.max_scale) / s.min_scale - 1.0;
    if (s.spread >= r.max_scale_spread) {
      r.max_scale_spread = s.spread;
      r.widest_tensor = s.tensor;
    }
    r.tensors.push_back(s);
  }
  return r;
}

}  // namespace ecg::quant
