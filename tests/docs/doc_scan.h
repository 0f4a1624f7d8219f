// Reading the Markdown docs for the docs test: the fenced blocks marked
// runnable, the repository paths the text names, and the places where a doc
// points outside the repository. Plain string scanning, no Markdown library:
// the docs use only fenced blocks, inline code and links.
#pragma once
#include <cctype>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

namespace ecg::doc_test {

// The marker that puts the next fenced block on the docs test's allow-list.
// Only blocks behind it run; everything else (setup.sh, the main job, GPU and
// board commands) is left alone on purpose.
inline const char* runnable_marker() {
  return "<!-- runnable -->";
}

// The marker of a block that quotes, byte for byte, what the runnable block
// just before it prints on stdout; the docs test compares the two.
inline const char* output_marker() {
  return "<!-- output -->";
}

struct Block {
  int line = 0;      // 1-based line of the opening fence
  std::string info;  // the fence's info string ("sh", "cpp", "")
  std::string text;  // the lines between the fences, each ending in '\n'
  bool runnable = false;
  bool output = false;  // quotes the previous runnable block's stdout
};

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r");
  size_t e = s.find_last_not_of(" \t\r");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// Every fenced block of a Markdown text, with whether the marker stands on
// the last non-blank line before its opening fence.
inline std::vector<Block> fenced_blocks(const std::string& markdown) {
  std::vector<Block> blocks;
  std::istringstream in(markdown);
  std::string line, last_nonblank;
  int number = 0;
  Block* open = nullptr;
  while (std::getline(in, line)) {
    ++number;
    const std::string t = trim(line);
    if (t.rfind("```", 0) == 0) {
      if (open) {
        open = nullptr;
      } else {
        Block b;
        b.line = number;
        b.info = trim(t.substr(3));
        b.runnable = last_nonblank == runnable_marker();
        b.output = last_nonblank == output_marker();
        blocks.push_back(b);
        open = &blocks.back();
      }
      last_nonblank.clear();
      continue;
    }
    if (open) {
      open->text += line + "\n";
    } else if (!t.empty()) {
      last_nonblank = t;
    }
  }
  return blocks;
}

// The text outside fenced blocks of language `skip_info` (e.g. "cpp", whose
// includes may name files a reader would create), one string.
inline std::string text_without_blocks(const std::string& markdown, const std::string& skip_info) {
  std::istringstream in(markdown);
  std::string line, out;
  bool in_block = false, skipping = false;
  while (std::getline(in, line)) {
    const std::string t = trim(line);
    if (t.rfind("```", 0) == 0) {
      skipping = !in_block && trim(t.substr(3)) == skip_info;
      in_block = !in_block;
      continue;
    }
    if (!(in_block && skipping)) out += line + "\n";
  }
  return out;
}

// The text without the sections a doc marks as planned (between
// "<!-- planned..." and "<!-- /planned -->"): names agreed before the files
// exist, which the path check leaves alone.
inline std::string text_without_planned(const std::string& markdown) {
  std::istringstream in(markdown);
  std::string line, out;
  bool planned = false;
  while (std::getline(in, line)) {
    const std::string t = trim(line);
    if (t.rfind("<!-- planned", 0) == 0) planned = true;
    if (!planned) out += line + "\n";
    if (t == "<!-- /planned -->") planned = false;
  }
  return out;
}

// Repository paths named in a text: tokens that start with one of the
// repository's top-level folders. Globs and placeholders (`*`, `<`, `{`)
// are not paths and are left out.
inline std::vector<std::string> repository_paths(const std::string& text) {
  static const std::regex path_re(
      R"((^|[\s`(\[|"'])((kernels|core|layers|optim|data|models|train|quant|tools|bench|tests|docs|cmake|\.ci)/[A-Za-z0-9_./*<>{}+-]*))");
  std::vector<std::string> paths;
  for (std::sregex_iterator it(text.begin(), text.end(), path_re), end; it != end; ++it) {
    std::string p = (*it)[2].str();
    while (!p.empty() && (p.back() == '.' || p.back() == ',' || p.back() == ':')) p.pop_back();
    if (p.find_first_of("*<>{}") != std::string::npos) continue;
    paths.push_back(p);
  }
  return paths;
}

// Names of Markdown files a text mentions (`int8.md`, `docs/tour.md`).
inline std::vector<std::string> markdown_names(const std::string& text) {
  static const std::regex md_re(R"(([A-Za-z0-9_./-]*[A-Za-z0-9_-]\.md)\b)");
  std::vector<std::string> names;
  for (std::sregex_iterator it(text.begin(), text.end(), md_re), end; it != end; ++it)
    names.push_back((*it)[1].str());
  return names;
}

// Lines that point outside the repository: a parent-folder path, an
// absolute path into the project's machines, or the design notes.
inline std::vector<std::string> outside_pointers(const std::string& text) {
  static const std::regex outside_re(R"((\.\./[A-Za-z]|/work/|shared/design|shared/data))");
  std::vector<std::string> hits;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (std::regex_search(line, outside_re)) hits.push_back(std::to_string(number) + ": " + line);
  }
  return hits;
}

}  // namespace ecg::doc_test
