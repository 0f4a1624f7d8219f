// Classification metrics as scikit-learn defines them: confusion matrix
// (rows = true class, columns = predicted), per-class precision, recall, F1
// and support, accuracy, macro and support-weighted F1. A class that is never
// predicted has precision 0 (scikit-learn's zero_division=0).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ecg {

struct ClassificationReport {
  std::vector<std::string> classes;
  std::vector<std::vector<int64_t>> confusion;
  std::vector<double> precision, recall, f1;
  std::vector<int64_t> support;
  double accuracy = 0, macro_f1 = 0, weighted_f1 = 0;
  int64_t total = 0;

  // A table like sklearn.metrics.classification_report, plus the confusion matrix.
  std::string text() const;
  // Keys: accuracy, macro_f1, weighted_f1, per_class, confusion_matrix, classes.
  nlohmann::json json() const;
};

ClassificationReport classification_report(const std::vector<int>& truth,
                                           const std::vector<int>& predicted,
                                           const std::vector<std::string>& classes);

}  // namespace ecg
