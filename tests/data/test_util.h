// Helpers shared by the data tests: a scratch directory removed at the end of
// the test, the location of the real sample scans (in the repository), and synthetic images.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "data/image.h"
#include "tests/source_dir.h"

namespace ecg::data::testing {

namespace fs = std::filesystem;

// The 40 real scans, reduced to 1106 px wide, shipped in the repository
// (tests/data/real-scans/README.md), so these tests run in every clone.
inline std::string sample_dir() {
  return std::string(ECG_SOURCE_DIR) + "/tests/data/real-scans";
}
constexpr int kSampleWidth = 1106, kSampleHeight = 786;

class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    static int counter = 0;
    path_ = fs::temp_directory_path() / ("ecg-test-" + tag + "-" + std::to_string(::getpid()) +
                                         "-" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

inline void write_text(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary);
  f << bytes;
}

inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// A smooth colour pattern with some edges, so resizing and JPEG have structure.
inline Image pattern_image(int w, int h, int c, uint32_t seed = 1) {
  Image img(w, h, c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k) {
        uint32_t v = (x * (3 + k) + y * (5 + 2 * k) + seed * 17) & 0xff;
        if (((x / 7) + (y / 5)) % 3 == 0) v = 255 - v;
        img.row(y)[x * c + k] = static_cast<uint8_t>(v);
      }
  return img;
}

}  // namespace ecg::data::testing
