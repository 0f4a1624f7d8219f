// `ecgcnn report --run DIR`: the main job's run report, one self-contained
// HTML page (tools/main_job.sh writes it last). It reads what the job's steps
// left in DIR: train/history.json (curves, timings, provenance),
// eval_float.json and eval_int8.json (`eval --json`), quantize.json
// (`quantize --report`: per-layer SQNR, sensitivity, stability) and
// steps.tsv (when each step began), and puts the study's published results
// (--study, a markdown file with the study's "peak accuracy" table) beside
// this run's. Misclassified test images appear as thumbnails.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cli_common.h"
#include "data/file_util.h"
#include "data/image_io.h"
#include "data/resize.h"
#include "models/safetensors.h"
#include "train/provenance.h"
#include "train/report.h"

namespace {

namespace fs = std::filesystem;
using ecg::report::html_escape;
using nlohmann::json;

struct ReportCli {
  std::string run, out, study;
  int max_examples = 24;
};

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

// A JSON file of the run, or null when the step did not write it; a damaged
// one is an error naming it.
json read_json_if(const fs::path& p) {
  if (!fs::exists(p)) return nullptr;
  std::ifstream in(p);
  try {
    return json::parse(in);
  } catch (const std::exception& e) {
    ECG_CHECK(false, "'", p.string(), "': not valid JSON (", e.what(), ")");
  }
  return nullptr;
}

std::string base64(const std::string& bytes) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v =
        (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], k[v & 63]};
  }
  if (i + 1 == bytes.size()) {
    const uint32_t v = uint8_t(bytes[i]) << 16;
    out += {k[v >> 18], k[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == bytes.size()) {
    const uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += {k[v >> 18], k[(v >> 12) & 63], k[(v >> 6) & 63], '='};
  }
  return out;
}

// One misclassified image, 240 px wide, embedded as a JPEG data URI so the
// page stays one file; an unreadable image becomes a caption only.
std::string thumbnail(const json& m) {
  const std::string path = m.value("path", std::string());
  std::ostringstream os;
  os << "<figure class=\"thumb\">";
  try {
    const ecg::data::Image img = ecg::data::decode_image_file(path);
    const int w = std::min(240, img.width);
    const int h = std::max(1, img.height * w / std::max(1, img.width));
    os << "<img src=\"data:image/jpeg;base64,"
       << base64(ecg::data::encode_jpeg(ecg::data::resize_area(img, w, h), 80)) << "\" width=\""
       << w << "\" height=\"" << h << "\" alt=\"" << html_escape(path) << "\">";
  } catch (const std::exception& e) {
    os << "<div class=\"missing\">" << html_escape(e.what()) << "</div>";
  }
  os << "<figcaption><b>" << html_escape(m.value("truth", std::string("?"))) << "</b> read as <b>"
     << html_escape(m.value("predicted", std::string("?"))) << "</b>";
  if (m.contains("confidence"))
    os << " (" << fmt("%.0f", 100 * m["confidence"].get<double>()) << " %)";
  os << "<br>"
     << html_escape((fs::path(path).parent_path().filename() / fs::path(path).filename()).string())
     << "</figcaption></figure>";
  return os.str();
}

std::string misclassified_grid(const std::string& title, const json& eval, int max_examples) {
  if (eval.is_null() || !eval.contains("misclassified")) return "";
  const json& m = eval["misclassified"];
  std::ostringstream os;
  os << "<h3>" << html_escape(title) << ": " << m.size() << " of " << eval.value("total", 0)
     << " images wrong";
  if (static_cast<int>(m.size()) > max_examples) os << " (the first " << max_examples << " shown)";
  os << "</h3><div class=\"grid\">";
  for (int i = 0; i < static_cast<int>(m.size()) && i < max_examples; ++i) os << thumbnail(m[i]);
  os << "</div>";
  return os.str();
}

// "ResNet-11" and "resnet11" name the same model.
std::string model_key(std::string s) {
  std::string k;
  for (char c : s)
    if (std::isalnum(static_cast<unsigned char>(c))) k += static_cast<char>(std::tolower(c));
  return k;
}

std::vector<std::string> markdown_cells(const std::string& line) {
  std::vector<std::string> cells;
  std::stringstream ss(line);
  std::string c;
  std::getline(ss, c, '|');  // before the first bar
  while (std::getline(ss, c, '|')) {
    const size_t a = c.find_first_not_of(' '), b = c.find_last_not_of(' ');
    cells.push_back(a == std::string::npos ? "" : c.substr(a, b - a + 1));
  }
  if (!cells.empty() && cells.back().empty()) cells.pop_back();
  return cells;
}

// The study's published table (model | peak accuracy | peak F1) with this
// run's float and int8 test figures in the row of the run's model.
std::string study_section(const std::string& study_file, const std::string& model, const json& fl,
                          const json& q8) {
  std::vector<std::vector<std::string>> rows;
  if (!study_file.empty()) {
    std::ifstream in(study_file);
    ECG_CHECK(in.good(), "--study: cannot read '", study_file, "'");
    std::string line;
    bool in_table = false;
    while (std::getline(in, line)) {
      if (line.rfind("|", 0) != 0) {
        if (in_table) break;
        continue;
      }
      const auto cells = markdown_cells(line);
      if (!in_table) {
        in_table = cells.size() >= 3 && cells[1] == "peak accuracy";
        continue;
      }
      if (cells.size() < 3 || cells[0].rfind("---", 0) == 0) continue;
      const bool ours = model_key(cells[0]) == model_key(model);
      auto fig = [&](const json& e, const char* key, const char* f, double scale) {
        return ours && !e.is_null() ? fmt(f, scale * e.value(key, 0.0)) : std::string("-");
      };
      rows.push_back({cells[0], cells[1], cells[2], fig(fl, "accuracy", "%.1f %%", 100),
                      fig(fl, "macro_f1", "%.2f", 1), fig(q8, "accuracy", "%.1f %%", 100),
                      fig(q8, "macro_f1", "%.2f", 1)});
    }
  }
  if (rows.empty())
    return "<h2>The study's published results</h2><p>not included: give --study FILE (the "
           "study's notes with its \"peak accuracy\" table)</p>";
  return "<h2>The study's published results beside this run</h2><p>The study: the full real "
         "dataset, 75 epochs, selected on its test split. This run: " +
         html_escape(fl.is_null() ? std::string("?") : fl["data"].value("path", std::string("?"))) +
         ", its test split, model selected on a validation split held out of train.</p>" +
         ecg::report::table({"model", "study accuracy", "study F1", "this run float accuracy",
                             "float macro F1", "this run int8 accuracy", "int8 macro F1"},
                            rows);
}

// Float against int8, per class and overall.
std::string evaluations_section(const json& fl, const json& q8) {
  std::string s = "<h2>Test evaluations: float and int8</h2>";
  if (!fl.is_null() && !q8.is_null()) {
    std::vector<std::vector<std::string>> rows;
    auto overall = [&](const char* what, const char* key) {
      rows.push_back({what, fmt("%.4f", fl.value(key, 0.0)), fmt("%.4f", q8.value(key, 0.0)),
                      fmt("%+.4f", q8.value(key, 0.0) - fl.value(key, 0.0))});
    };
    overall("accuracy", "accuracy");
    overall("macro F1", "macro_f1");
    overall("weighted F1", "weighted_f1");
    for (const auto& c : fl["classes"]) {
      const std::string n = c.get<std::string>();
      const double a = fl["per_class"][n]["f1"].get<double>();
      const double b = q8["per_class"].contains(n) ? q8["per_class"][n]["f1"].get<double>() : 0.0;
      rows.push_back({"F1 " + n, fmt("%.4f", a), fmt("%.4f", b), fmt("%+.4f", b - a)});
    }
    s += ecg::report::table({"", "float", "int8", "int8 - float"}, rows);
  }
  if (!fl.is_null()) s += ecg::report::classification_section("Float model", fl);
  if (!q8.is_null()) s += ecg::report::classification_section("Int8 model", q8);
  return s;
}

std::string quantizer_section(const json& q) {
  using ecg::report::table;
  if (q.is_null()) return "<h2>Quantizer</h2><p>no quantize.json in the run folder</p>";
  std::ostringstream os;
  os << "<h2>Quantizer: per-layer reports</h2><p>model file "
     << fmt("%.3f", q.value("file_bytes", 0.0) / 1e6) << " MB, planned arena "
     << fmt("%.3f", q.value("arena_bytes", 0.0) / 1e6) << " MB at batch 1</p>";
  std::vector<std::vector<std::string>> rows;
  for (const auto& l : q.value("layers", json::array()))
    rows.push_back({l.value("tensor", ""), l.value("calibrator", ""),
                    fmt("%.2f", l.value("sqnr_db", 0.0)), fmt("%.5f", l.value("cosine", 0.0))});
  os << "<h3>Activation SQNR against the float model</h3>"
     << table({"tensor", "calibrator", "SQNR dB", "cosine"}, rows);
  if (q.contains("sensitivity")) {
    const json& s = q["sensitivity"];
    rows.clear();
    for (const auto& r : s.value("layers", json::array()))
      rows.push_back({r.value("layer", ""),
                      fmt("%.2f", 100 * r["with_float"].value("accuracy", 0.0)),
                      fmt("%+.2f", r.value("delta_points", 0.0)),
                      fmt("%.2f", 100 * r["with_float"].value("agreement", 0.0)),
                      fmt("%.2f", r["with_float"].value("logits_sqnr_db", 0.0))});
    os << "<h3>Sensitivity: each layer alone in float (float "
       << fmt("%.2f", 100 * s.value("float_accuracy", 0.0)) << " %, all int8 "
       << fmt("%.2f", 100 * s["int8"].value("accuracy", 0.0)) << " %)</h3>"
       << table({"layer", "accuracy %", "change pts", "agreement %", "logits SQNR dB"}, rows);
  }
  if (q.contains("stability")) {
    const json& st = q["stability"];
    os << "<h3>Calibration stability (three disjoint subsets)</h3>"
       << ecg::report::key_value_table(
              {{"accuracy spread (points)", st["accuracy_spread_points"]},
               {"agreement spread (points)", st["agreement_spread_points"]},
               {"largest scale spread", st["max_scale_spread"]},
               {"on tensor", st["widest_tensor"]}});
  }
  return os.str();
}

// steps.tsv: "<seconds since the job began>\t<step name>" per step; each
// step lasts until the next begins (the last until the file's own end line).
std::string timing_section(const fs::path& steps, const json& history) {
  std::vector<std::pair<double, std::string>> marks;
  std::ifstream in(steps);
  std::string line;
  while (std::getline(in, line)) {
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) continue;
    try {
      marks.emplace_back(std::stod(line.substr(0, tab)), line.substr(tab + 1));
    } catch (const std::exception&) {
      ECG_CHECK(false, "'", steps.string(), "': bad line '", line, "'");
    }
  }
  std::string s = "<h2>Timing</h2>";
  if (marks.size() >= 2) {
    std::vector<std::string> names;
    std::vector<double> secs;
    std::vector<std::vector<std::string>> rows;
    const double total = marks.back().first - marks.front().first;
    for (size_t i = 0; i + 1 < marks.size(); ++i) {
      const double d = marks[i + 1].first - marks[i].first;
      names.push_back(marks[i].second);
      secs.push_back(d);
      rows.push_back(
          {marks[i].second, fmt("%.0f", d), fmt("%.1f %%", total > 0 ? 100 * d / total : 0)});
    }
    rows.push_back({"whole job", fmt("%.0f", total), "100 %"});
    s += "<p>wall seconds per step of the main job (tools/main_job.sh)</p>" +
         ecg::report::table({"step", "seconds", "share"}, rows);
  } else {
    s += "<p>no steps.tsv in the run folder (the job's step times)</p>";
  }
  if (!history.is_null() && history.contains("timings"))
    s += "<h3>Training</h3>" + ecg::report::key_value_table(history["timings"]);
  return s;
}

void run_report(ReportCli o) {
  ECG_CHECK(!o.run.empty(), "report: --run DIR is required");
  ECG_CHECK(fs::is_directory(o.run), "report: '", o.run, "' is not a folder");
  const fs::path run(o.run);
  if (o.out.empty()) o.out = (run / "report.html").string();
  const json history = read_json_if(run / "train" / "history.json");
  const json fl = read_json_if(run / "eval_float.json");
  const json q8 = read_json_if(run / "eval_int8.json");
  const json quant = read_json_if(run / "quantize.json");
  std::string model = "?";
  if (!history.is_null() && history.contains("config"))
    model = history["config"].value("model", std::string("?"));
  std::vector<std::string> sections;
  sections.push_back("<p>run folder <b>" + html_escape(o.run) + "</b>, model <b>" +
                     html_escape(model) +
                     "</b>; training curves and configuration: " + "train/report.html</p>");
  sections.push_back(study_section(o.study, model, fl, q8));
  sections.push_back(evaluations_section(fl, q8));
  sections.push_back("<h2>Misclassified test images</h2>" +
                     misclassified_grid("Float model", fl, o.max_examples) +
                     misclassified_grid("Int8 model", q8, o.max_examples));
  sections.push_back(quantizer_section(quant));
  sections.push_back(timing_section(run / "steps.tsv", history));
  json prov = {{"provenance", ecg::provenance()}};
  if (!fl.is_null() && fl.contains("data")) prov["data"] = fl["data"];
  sections.push_back(ecg::report::provenance_section(prov));
  ecg::write_file_atomic(o.out, ecg::report::page("ecgcnn main job: run report", sections));
  std::printf("run report: %s\n", o.out.c_str());
}

}  // namespace

void ecg_cli_report(CLI::App& app) {
  static ReportCli o;
  auto* sub = app.add_subcommand("report", "the main job's run report (HTML) from its run folder");
  sub->add_option("--run", o.run,
                  "run folder of tools/main_job.sh (train/history.json, eval_float.json, "
                  "eval_int8.json, quantize.json, steps.tsv; each optional)");
  sub->add_option("--out", o.out, "HTML file (default: RUN/report.html)");
  sub->add_option("--study", o.study,
                  "markdown notes holding the study's published table (| model | peak accuracy "
                  "| peak F1 |), shown beside this run's figures");
  sub->add_option("--examples", o.max_examples, "misclassified thumbnails per model")
      ->check(CLI::Range(0, 1000))
      ->capture_default_str();
  sub->callback([] { run_report(o); });
}
