// Runs the built `ecgcnn` (ECG_CLI_PATH) as a user does: stdout captured,
// stderr from a temporary file, and the exit code.
#pragma once
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

inline CliRun run(const std::string& args) {
  const std::string errfile =
      std::filesystem::temp_directory_path() / ("ecg_cli_err_" + std::to_string(::getpid()));
  const std::string cmd = std::string(ECG_CLI_PATH) + " " + args + " 2>" + errfile;
  CliRun r;
  FILE* p = popen(cmd.c_str(), "r");
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream e(errfile);
  r.err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  std::remove(errfile.c_str());
  return r;
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

}  // namespace ecg::cli_test
