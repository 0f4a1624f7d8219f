// Runs the built `ecgcnn` (ECG_CLI_PATH) as a user does: stdout captured,
// stderr from a temporary file, and the exit code.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace ecg::cli_test {

struct CliRun {
  int code = -1;
  std::string out, err;
};

// `launcher program args`: the launcher is a command prefix such as
// "env VAR=1 mpiexec -np 2" ("" for none); the program is ecgcnn
// (ECG_CLI_PATH) unless named. stderr goes to r.err, or with `stderr_to_out`
// into r.out with stdout (the lines of several processes in the order they came).
inline CliRun run_launched(const std::string& launcher, const std::string& args,
                           bool stderr_to_out = false, const std::string& program = ECG_CLI_PATH) {
  const std::string errfile =
      std::filesystem::temp_directory_path() / ("ecg_cli_err_" + std::to_string(::getpid()));
  const std::string cmd = launcher + (launcher.empty() ? "" : " ") + program + " " + args +
                          (stderr_to_out ? " 2>&1" : " 2>" + errfile);
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (stderr_to_out) return r;
  std::ifstream e(errfile);
  r.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  std::remove(errfile.c_str());
  return r;
}

inline CliRun run(const std::string& args) {
  return run_launched("", args);
}

// An empty folder `prefix<pid>` under the temp folder (a leftover is removed).
inline std::string fresh_dir(const std::string& prefix) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / (prefix + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  return dir.string();
}

// `ecgcnn synth`: a tiny set of per_class pages per class into `out`.
inline CliRun synth(const std::string& out, int per_class) {
  return run("synth --out " + out + " --per-class " + std::to_string(per_class) +
             " --width 320 --seed 3 --quiet");
}

inline int lines(const std::string& s) {
  int n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

// The last .jpg that a recursive walk of `dir` meets ("" when none).
inline std::string last_jpeg_under(const std::string& dir) {
  std::string image;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.path().extension() == ".jpg") image = e.path().string();
  return image;
}

// A failed run: exit `code` and one line on stderr that names `needle`.
inline void expect_one_line_error(const CliRun& r, int code, const std::string& needle) {
  EXPECT_EQ(r.code, code) << r.err;
  EXPECT_EQ(lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

}  // namespace ecg::cli_test
