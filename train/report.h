// Self-contained HTML reports with inline SVG charts (no scripts, no network):
// one per training run (loss and accuracy curves, confusion heatmap, per-class
// F1 bars, configuration, timings) and one for `ecgcnn study`.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace ecg::report {

struct Series {
  std::string name;
  std::vector<double> values;
  std::string color;
};

std::string line_chart(const std::string& title, const std::string& xlabel,
                       const std::string& ylabel, const std::vector<Series>& series);
std::string bar_chart(const std::string& title, const std::vector<std::string>& labels,
                      const std::vector<double>& values, double ymax = 1.0);
// Cells coloured by value (row-normalised when `normalise_rows`), with counts printed.
std::string heatmap(const std::string& title, const std::vector<std::vector<double>>& cells,
                    const std::vector<std::string>& rows, const std::vector<std::string>& cols,
                    bool normalise_rows, const std::string& number_format = "%.0f");

std::string html_escape(const std::string& s);
// An axis label rotated 35 degrees, its end at (x, y): long class names never overlap.
std::string rotated_label(int x, int y, const std::string& text);
// A JSON value as one readable line: strings bare, numbers to 6 digits,
// arrays joined by commas.
std::string value_text(const nlohmann::json& v);
// A two-column table of a JSON object; nested keys are joined ("kernels / int8_conv").
std::string key_value_table(const nlohmann::json& j);
// A table with a header row; every cell escaped.
std::string table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows);
// Accuracy, F1s, the confusion heatmap, F1 bars and the per-class table of a
// ClassificationReport json, under `heading`.
std::string classification_section(const std::string& heading, const nlohmann::json& t);
// The report's "data" (path, split, counts) and "provenance" (build, machine,
// kernels) as tables, or "" when it has neither.
std::string provenance_section(const nlohmann::json& report);
// A page with a title and sections of raw HTML (charts and tables).
std::string page(const std::string& title, const std::vector<std::string>& sections);

// The report of one training run. `run` holds keys "history" (array of epoch
// objects with train_loss, train_acc, val_loss, val_acc, lr, seconds),
// "config", "timings" and optionally "test" (a ClassificationReport json).
std::string training_report(const nlohmann::json& run);

// The report of one `ecgcnn eval`: a ClassificationReport json with "split",
// "checkpoint", "int8", "data" and "provenance".
std::string eval_report(const nlohmann::json& eval);

}  // namespace ecg::report
