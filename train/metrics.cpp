#include "train/metrics.h"

#include <cstdio>
#include <sstream>

#include "kernels/error.h"

namespace ecg {

ClassificationReport classification_report(const std::vector<int>& truth,
                                           const std::vector<int>& predicted,
                                           const std::vector<std::string>& classes) {
  ECG_CHECK(truth.size() == predicted.size(), "metrics: ", truth.size(), " labels but ",
            predicted.size(), " predictions");
  const int C = static_cast<int>(classes.size());
  ClassificationReport r;
  r.classes = classes;
  r.confusion.assign(C, std::vector<int64_t>(C, 0));
  for (size_t i = 0; i < truth.size(); ++i) {
    ECG_CHECK(truth[i] >= 0 && truth[i] < C && predicted[i] >= 0 && predicted[i] < C,
              "metrics: label ", truth[i], " or prediction ", predicted[i], " outside [0, ", C,
              ")");
    ++r.confusion[truth[i]][predicted[i]];
  }
  r.total = static_cast<int64_t>(truth.size());
  int64_t correct = 0;
  r.precision.assign(C, 0);
  r.recall.assign(C, 0);
  r.f1.assign(C, 0);
  r.support.assign(C, 0);
  for (int c = 0; c < C; ++c) {
    int64_t tp = r.confusion[c][c], pred_c = 0, true_c = 0;
    for (int k = 0; k < C; ++k) {
      pred_c += r.confusion[k][c];
      true_c += r.confusion[c][k];
    }
    correct += tp;
    r.support[c] = true_c;
    r.precision[c] = pred_c ? static_cast<double>(tp) / pred_c : 0.0;
    r.recall[c] = true_c ? static_cast<double>(tp) / true_c : 0.0;
    double s = r.precision[c] + r.recall[c];
    r.f1[c] = s > 0 ? 2 * r.precision[c] * r.recall[c] / s : 0.0;
  }
  r.accuracy = r.total ? static_cast<double>(correct) / r.total : 0.0;
  double wsum = 0;
  for (int c = 0; c < C; ++c) {
    r.macro_f1 += r.f1[c] / C;
    wsum += r.f1[c] * r.support[c];
  }
  r.weighted_f1 = r.total ? wsum / r.total : 0.0;
  return r;
}

std::string ClassificationReport::text() const {
  std::ostringstream os;
  char line[256];
  std::snprintf(line, sizeof line, "%24s %10s %10s %10s %10s\n", "", "precision", "recall",
                "f1-score", "support");
  os << line << "\n";
  for (size_t c = 0; c < classes.size(); ++c) {
    std::snprintf(line, sizeof line, "%24s %10.4f %10.4f %10.4f %10lld\n", classes[c].c_str(),
                  precision[c], recall[c], f1[c], static_cast<long long>(support[c]));
    os << line;
  }
  double mp = 0, mr = 0, wp = 0, wr = 0;
  for (size_t c = 0; c < classes.size(); ++c) {
    mp += precision[c] / classes.size();
    mr += recall[c] / classes.size();
    if (total) {
      wp += precision[c] * support[c] / total;
      wr += recall[c] * support[c] / total;
    }
  }
  os << "\n";
  std::snprintf(line, sizeof line, "%24s %10s %10s %10.4f %10lld\n", "accuracy", "", "", accuracy,
                static_cast<long long>(total));
  os << line;
  std::snprintf(line, sizeof line, "%24s %10.4f %10.4f %10.4f %10lld\n", "macro avg", mp, mr,
                macro_f1, static_cast<long long>(total));
  os << line;
  std::snprintf(line, sizeof line, "%24s %10.4f %10.4f %10.4f %10lld\n", "weighted avg", wp, wr,
                weighted_f1, static_cast<long long>(total));
  os << line << "\nconfusion matrix (rows: true, columns: predicted)\n";
  for (size_t c = 0; c < classes.size(); ++c) {
    std::snprintf(line, sizeof line, "%24s", classes[c].c_str());
    os << line;
    for (size_t k = 0; k < classes.size(); ++k) {
      std::snprintf(line, sizeof line, " %6lld", static_cast<long long>(confusion[c][k]));
      os << line;
    }
    os << "\n";
  }
  return os.str();
}

nlohmann::json ClassificationReport::json() const {
  nlohmann::json j;
  j["accuracy"] = accuracy;
  j["macro_f1"] = macro_f1;
  j["weighted_f1"] = weighted_f1;
  j["classes"] = classes;
  j["confusion_matrix"] = confusion;
  nlohmann::json per = nlohmann::json::object();
  for (size_t c = 0; c < classes.size(); ++c)
    per[classes[c]] = {
        {"precision", precision[c]}, {"recall", recall[c]}, {"f1", f1[c]}, {"support", support[c]}};
  j["per_class"] = per;
  j["total"] = total;
  return j;
}

}  // namespace ecg
