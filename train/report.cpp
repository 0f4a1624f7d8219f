#include "train/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace ecg::report {

namespace {

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten.
double nice_ceiling(double v) {
  if (v <= 0) return 1;
  double p = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= v) return m * p;
  return 10 * p;
}

constexpr int kW = 560, kH = 300, kLeft = 60, kRight = 20, kTop = 36, kBottom = 44;

}  // namespace

std::string rotated_label(int x, int y, const std::string& text) {
  std::ostringstream os;
  os << "<text x=\"" << x << "\" y=\"" << y << "\" text-anchor=\"end\" class=\"tick\" "
     << "transform=\"rotate(-35 " << x << " " << y << ")\">" << html_escape(text) << "</text>";
  return os.str();
}

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

std::string line_chart(const std::string& title, const std::string& xlabel,
                       const std::string& ylabel, const std::vector<Series>& series) {
  size_t n = 0;
  double ymax = 0, ymin = 0;
  for (const auto& s : series) {
    n = std::max(n, s.values.size());
    for (double v : s.values)
      if (std::isfinite(v)) ymax = std::max(ymax, v), ymin = std::min(ymin, v);
  }
  ymax = nice_ceiling(ymax);
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  auto X = [&](size_t i) { return kLeft + (n > 1 ? pw * i / (n - 1) : pw / 2); };
  auto Y = [&](double v) { return kTop + ph * (1 - (v - ymin) / (ymax - ymin)); };
  std::ostringstream os;
  os << "<svg class=\"chart\" width=\"" << kW << "\" height=\"" << kH << "\" viewBox=\"0 0 " << kW
     << " " << kH << "\" xmlns=\"http://www.w3.org/2000/svg\">";
  os << "<text x=\"" << kW / 2 << "\" y=\"20\" text-anchor=\"middle\" class=\"title\">"
     << html_escape(title) << "</text>";
  for (int t = 0; t <= 4; ++t) {
    double v = ymin + (ymax - ymin) * t / 4;
    os << "<line x1=\"" << kLeft << "\" x2=\"" << kW - kRight << "\" y1=\"" << Y(v) << "\" y2=\""
       << Y(v) << "\" class=\"grid\"/><text x=\"" << kLeft - 6 << "\" y=\"" << Y(v) + 4
       << "\" text-anchor=\"end\" class=\"tick\">" << fmt("%.3g", v) << "</text>";
  }
  size_t step = std::max<size_t>(1, n / 10);
  for (size_t i = 0; i < n; i += step)
    os << "<text x=\"" << X(i) << "\" y=\"" << kH - kBottom + 16
       << "\" text-anchor=\"middle\" class=\"tick\">" << i + 1 << "</text>";
  os << "<text x=\"" << kLeft + pw / 2 << "\" y=\"" << kH - 8
     << "\" text-anchor=\"middle\" class=\"axis\">" << html_escape(xlabel) << "</text>";
  os << "<text transform=\"rotate(-90)\" x=\"" << -(kTop + ph / 2)
     << "\" y=\"16\" text-anchor=\"middle\" class=\"axis\">" << html_escape(ylabel) << "</text>";
  int legend_x = kLeft + 10;
  for (const auto& s : series) {
    std::ostringstream pts;
    for (size_t i = 0; i < s.values.size(); ++i)
      if (std::isfinite(s.values[i])) pts << X(i) << "," << Y(s.values[i]) << " ";
    os << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"2\" points=\""
       << pts.str() << "\"/>";
    for (size_t i = 0; i < s.values.size(); ++i)
      if (std::isfinite(s.values[i]))
        os << "<circle cx=\"" << X(i) << "\" cy=\"" << Y(s.values[i]) << "\" r=\"2.5\" fill=\""
           << s.color << "\"><title>" << html_escape(s.name) << " epoch " << i + 1 << ": "
           << fmt("%.4f", s.values[i]) << "</title></circle>";
    os << "<rect x=\"" << legend_x << "\" y=\"" << kTop + 4
       << "\" width=\"12\" height=\"12\" fill=\"" << s.color << "\"/><text x=\"" << legend_x + 16
       << "\" y=\"" << kTop + 14 << "\" class=\"tick\">" << html_escape(s.name) << "</text>";
    legend_x += 20 + 8 * static_cast<int>(s.name.size());
  }
  os << "</svg>";
  return os.str();
}

std::string bar_chart(const std::string& title, const std::vector<std::string>& labels,
                      const std::vector<double>& values, double ymax) {
  const size_t n = std::max<size_t>(1, labels.size());
  size_t longest = 0;
  for (const auto& l : labels) longest = std::max(longest, l.size());
  const double pw = kW - kLeft - kRight, ph = kH - kTop - kBottom;
  const bool rotate = longest * 6.0 > pw / n;
  const int height = kH + (rotate ? static_cast<int>(longest * 4) : 0);
  std::ostringstream os;
  os << "<svg class=\"chart\" width=\"" << kW << "\" height=\"" << height
     << "\" xmlns=\"http://www.w3.org/2000/svg\">";
  os << "<text x=\"" << kW / 2 << "\" y=\"20\" text-anchor=\"middle\" class=\"title\">"
     << html_escape(title) << "</text>";
  for (int t = 0; t <= 4; ++t) {
    double v = ymax * t / 4, y = kTop + ph * (1 - v / ymax);
    os << "<line x1=\"" << kLeft << "\" x2=\"" << kW - kRight << "\" y1=\"" << y << "\" y2=\"" << y
       << "\" class=\"grid\"/><text x=\"" << kLeft - 6 << "\" y=\"" << y + 4
       << "\" text-anchor=\"end\" class=\"tick\">" << fmt("%.2f", v) << "</text>";
  }
  const double slot = pw / n, bw = slot * 0.6;
  for (size_t i = 0; i < labels.size(); ++i) {
    double v = std::max(0.0, std::min(values[i], ymax));
    double h = ph * v / ymax, x = kLeft + slot * i + (slot - bw) / 2;
    os << "<rect x=\"" << x << "\" y=\"" << kTop + ph - h << "\" width=\"" << bw << "\" height=\""
       << h << "\" fill=\"#4c72b0\"><title>" << html_escape(labels[i]) << ": "
       << fmt("%.4f", values[i]) << "</title></rect>";
    os << "<text x=\"" << x + bw / 2 << "\" y=\"" << kTop + ph - h - 4
       << "\" text-anchor=\"middle\" class=\"tick\">" << fmt("%.3f", values[i]) << "</text>";
    // Labels wider than their slot (about 6 px a character) are rotated.
    if (rotate)
      os << rotated_label(static_cast<int>(x + bw / 2), kH - kBottom + 10, labels[i]);
    else
      os << "<text x=\"" << x + bw / 2 << "\" y=\"" << kH - kBottom + 16
         << "\" text-anchor=\"middle\" class=\"tick\">" << html_escape(labels[i]) << "</text>";
  }
  os << "</svg>";
  return os.str();
}

std::string heatmap(const std::string& title, const std::vector<std::vector<double>>& cells,
                    const std::vector<std::string>& rows, const std::vector<std::string>& cols,
                    bool normalise_rows, const std::string& number_format) {
  // Column labels are rotated so long class names ("Abnormal heartbeat")
  // never run into their neighbours; the space below fits the longest.
  size_t longest = 0;
  for (const auto& c : cols) longest = std::max(longest, c.size());
  const int cell = 64, left = 170, top = 40;
  const int label_room = 16 + static_cast<int>(longest * 4);
  const int w = left + cell * static_cast<int>(cols.size()) + 40;
  const int h = top + cell * static_cast<int>(rows.size()) + label_room + 10;
  std::ostringstream os;
  os << "<svg class=\"chart\" width=\"" << w << "\" height=\"" << h
     << "\" xmlns=\"http://www.w3.org/2000/svg\">";
  os << "<text x=\"" << w / 2 << "\" y=\"20\" text-anchor=\"middle\" class=\"title\">"
     << html_escape(title) << "</text>";
  double gmax = 0;
  for (const auto& r : cells)
    for (double v : r) gmax = std::max(gmax, v);
  for (size_t i = 0; i < rows.size(); ++i) {
    double rsum = 0;
    for (double v : cells[i]) rsum += v;
    os << "<text x=\"" << left - 8 << "\" y=\"" << top + cell * i + cell / 2 + 4
       << "\" text-anchor=\"end\" class=\"tick\">" << html_escape(rows[i]) << "</text>";
    for (size_t j = 0; j < cols.size(); ++j) {
      double v = cells[i][j];
      double t = normalise_rows ? (rsum > 0 ? v / rsum : 0) : (gmax > 0 ? v / gmax : 0);
      int r = static_cast<int>(247 - t * (247 - 33)), g = static_cast<int>(251 - t * (251 - 102)),
          b = static_cast<int>(255 - t * (255 - 172));
      os << "<rect x=\"" << left + cell * j << "\" y=\"" << top + cell * i << "\" width=\"" << cell
         << "\" height=\"" << cell << "\" fill=\"rgb(" << r << "," << g << "," << b
         << ")\" stroke=\"#fff\"/>";
      os << "<text x=\"" << left + cell * j + cell / 2 << "\" y=\"" << top + cell * i + cell / 2 + 5
         << "\" text-anchor=\"middle\" class=\"cell\" fill=\"" << (t > 0.55 ? "#fff" : "#222")
         << "\">" << fmt(number_format.c_str(), v) << "</text>";
    }
  }
  for (size_t j = 0; j < cols.size(); ++j)
    os << rotated_label(left + cell * static_cast<int>(j) + cell / 2,
                        top + cell * static_cast<int>(rows.size()) + 12, cols[j]);
  os << "</svg>";
  return os.str();
}

std::string page(const std::string& title, const std::vector<std::string>& sections) {
  std::ostringstream os;
  os << "<!doctype html><html><head><meta charset=\"utf-8\"><title>" << html_escape(title)
     << "</title><style>"
        "body{font-family:sans-serif;margin:24px;color:#222;max-width:1200px}"
        "h1{font-size:22px}h2{font-size:17px;margin-top:28px}"
        ".row{display:flex;flex-wrap:wrap;gap:16px}"
        ".chart{background:#fff;border:1px solid #ddd}"
        ".title{font-size:14px;font-weight:bold}.tick{font-size:11px}.axis{font-size:12px}"
        ".cell{font-size:13px}.grid{stroke:#eee}"
        "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;"
        "text-align:right}th{background:#f4f4f4}table.kv "
        "th{text-align:left}td:first-child,th:first-child{text-align:left}h3{font-size:14px}"
        ".grid{display:flex;flex-wrap:wrap;gap:10px}.thumb{margin:0;width:240px;font-size:11px}"
        ".thumb img{border:1px solid #ccc;display:block}"
        "</style></head><body><h1>"
     << html_escape(title) << "</h1>";
  for (const auto& s : sections) os << s;
  os << "</body></html>\n";
  return os.str();
}

std::string value_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return fmt("%.6g", v.get<double>());
  if (v.is_array()) {
    std::string o;
    for (const auto& e : v) o += (o.empty() ? "" : ", ") + value_text(e);
    return o.empty() ? "(none)" : o;
  }
  if (v.is_null()) return "-";
  return v.dump();
}

namespace {

void flatten(const std::string& prefix, const nlohmann::json& j,
             std::vector<std::pair<std::string, std::string>>& rows) {
  if (!j.is_object()) {
    rows.emplace_back(prefix, value_text(j));
    return;
  }
  for (auto it = j.begin(); it != j.end(); ++it)
    flatten(prefix.empty() ? it.key() : prefix + " / " + it.key(), it.value(), rows);
}

}  // namespace

std::string key_value_table(const nlohmann::json& j) {
  std::vector<std::pair<std::string, std::string>> rows;
  flatten("", j, rows);
  std::ostringstream os;
  os << "<table class=\"kv\">";
  for (const auto& r : rows)
    os << "<tr><th>" << html_escape(r.first) << "</th><td>" << html_escape(r.second)
       << "</td></tr>";
  os << "</table>";
  return os.str();
}

std::string table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows) {
  std::ostringstream os;
  os << "<table><tr>";
  for (const auto& h : header) os << "<th>" << html_escape(h) << "</th>";
  os << "</tr>";
  for (const auto& r : rows) {
    os << "<tr>";
    for (const auto& c : r) os << "<td>" << html_escape(c) << "</td>";
    os << "</tr>";
  }
  os << "</table>";
  return os.str();
}

std::string classification_section(const std::string& heading, const nlohmann::json& t) {
  std::vector<std::string> classes = t["classes"].get<std::vector<std::string>>();
  std::vector<std::vector<double>> cm;
  for (const auto& r : t["confusion_matrix"]) cm.push_back(r.get<std::vector<double>>());
  std::vector<double> f1;
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : classes) {
    const auto& pc = t["per_class"][c];
    f1.push_back(pc["f1"].get<double>());
    rows.push_back({c, fmt("%.4f", pc.value("precision", 0.0)),
                    fmt("%.4f", pc.value("recall", 0.0)), fmt("%.4f", pc["f1"].get<double>()),
                    value_text(pc.value("support", nlohmann::json()))});
  }
  std::ostringstream head;
  head << "<h2>" << html_escape(heading) << "</h2><p>accuracy <b>"
       << fmt("%.4f", t["accuracy"].get<double>()) << "</b>, macro F1 <b>"
       << fmt("%.4f", t["macro_f1"].get<double>()) << "</b>, weighted F1 "
       << fmt("%.4f", t["weighted_f1"].get<double>());
  if (t.contains("total")) head << ", " << t["total"].get<int64_t>() << " images";
  head << "</p>";
  return head.str() + "<div class=\"row\">" +
         heatmap("Confusion matrix (rows: true)", cm, classes, classes, true) +
         bar_chart("F1 per class", classes, f1) + "</div>" +
         table({"class", "precision", "recall", "F1", "support"}, rows);
}

std::string provenance_section(const nlohmann::json& report) {
  std::string s;
  if (report.contains("data")) s += "<h3>Data</h3>" + key_value_table(report["data"]);
  if (report.contains("provenance"))
    s += "<h3>Build and machine</h3>" + key_value_table(report["provenance"]);
  return s.empty() ? s : "<h2>Provenance</h2>" + s;
}

std::string eval_report(const nlohmann::json& eval) {
  std::vector<std::string> sections;
  std::ostringstream summary;
  summary << "<p>model file <b>" << html_escape(eval.value("checkpoint", std::string("?")))
          << "</b> (" << (eval.value("int8", false) ? "int8" : "float") << ")</p>";
  sections.push_back(summary.str());
  const std::string split = eval.value("split", std::string("?"));
  sections.push_back(classification_section(
      (split == "all" ? std::string("All images") : "The " + split + " split") + " of " +
          (eval.contains("data") ? eval["data"].value("path", std::string("?")) : std::string("?")),
      eval));
  if (eval.value("skipped_count", 0) > 0)
    sections.push_back("<h2>Skipped files</h2>" +
                       key_value_table({{"skipped", eval["skipped_files"]}}));
  sections.push_back(provenance_section(eval));
  return page("ecgcnn evaluation", sections);
}

std::string training_report(const nlohmann::json& run) {
  std::vector<double> tl, vl, ta, va, lr;
  if (run.contains("history"))
    for (const auto& e : run["history"]) {
      tl.push_back(e.value("train_loss", NAN));
      vl.push_back(e.value("val_loss", NAN));
      ta.push_back(e.value("train_acc", NAN));
      va.push_back(e.value("val_acc", NAN));
      lr.push_back(e.value("lr", NAN));
    }
  std::vector<std::string> sections;
  std::ostringstream summary;
  summary << "<p>";
  if (run.contains("config")) {
    const auto& c = run["config"];
    summary << "model <b>" << html_escape(c.value("model", "?")) << "</b>, " << c.value("epochs", 0)
            << " epochs, batch " << c.value("batch", 0) << ", image " << c.value("image_size", 0)
            << " px";
  }
  if (run.contains("best_epoch"))
    summary << "; best validation accuracy " << fmt("%.4f", run.value("best_val_acc", 0.0))
            << " at epoch " << run["best_epoch"].get<int>() + 1;
  summary << "</p>";
  sections.push_back(summary.str());
  sections.push_back("<h2>Training curves</h2><div class=\"row\">" +
                     line_chart("Loss", "epoch", "loss",
                                {{"train", tl, "#4c72b0"}, {"validation", vl, "#dd8452"}}) +
                     line_chart("Accuracy", "epoch", "accuracy",
                                {{"train", ta, "#4c72b0"}, {"validation", va, "#dd8452"}}) +
                     "</div>");
  if (run.contains("test"))
    sections.push_back(classification_section(
        run.value("test_split", std::string("Test")) + " results", run["test"]));
  sections.push_back("<h2>Learning rate</h2>" +
                     line_chart("Learning rate", "epoch", "lr", {{"lr", lr, "#55a868"}}));
  if (run.contains("timings"))
    sections.push_back("<h2>Timings</h2>" + key_value_table(run["timings"]));
  if (run.contains("config"))
    sections.push_back("<h2>Configuration</h2>" + key_value_table(run["config"]));
  sections.push_back(provenance_section(run));
  return page("ecgcnn training run", sections);
}

}  // namespace ecg::report
