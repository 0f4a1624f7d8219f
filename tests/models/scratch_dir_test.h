// Helpers shared by the checkpoint and training tests (tests/models,
// tests/train): a fixture with a scratch folder of its own, and the message
// of a checkpoint load that must fail.
#pragma once
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "models/checkpoint.h"
#include "tests/bad_file_checks.h"

namespace ecg::testing {

// A fixture whose tests write under <tmp>/ecg_<prefix>_<pid>: an empty
// folder before each test, removed after it.
class ScratchDirTest : public ::testing::Test {
 protected:
  explicit ScratchDirTest(const std::string& prefix)
      : dir_(std::filesystem::temp_directory_path() /
             ("ecg_" + prefix + "_" + std::to_string(::getpid()))) {}
  void SetUp() override {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::filesystem::path dir_;
};

// The message of load_checkpoint's error for `path`; a test failure when it loads.
inline std::string checkpoint_load_error(const std::string& path) {
  return load_error_of([](const std::string& p) { load_checkpoint(p); }, path);
}

}  // namespace ecg::testing
