// .npy reading and writing: round trip, float64 conversion, bad files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "data/npy.h"

namespace ecg {
namespace {

std::string tmp(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + name)).string();
}

TEST(Npy, RoundTrip) {
  Tensor t = Tensor::randn({2, 3, 4, 5}, 3);
  data::write_npy(tmp("a.npy"), t);
  Tensor r = data::read_npy(tmp("a.npy"));
  EXPECT_EQ(r.shape(), t.shape());
  EXPECT_EQ(r.to_vector_f32(), t.to_vector_f32());
  std::remove(tmp("a.npy").c_str());
}

TEST(Npy, ReadsFloat64AndOneDimensional) {
  // A float64 [3] array as NumPy 1.x writes it.
  std::string h = "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }";
  while ((10 + h.size() + 1) % 64) h.push_back(' ');
  h.push_back('\n');
  std::ofstream f(tmp("d.npy"), std::ios::binary);
  f.write("\x93NUMPY\x01\x00", 8);
  char len[2] = {static_cast<char>(h.size()), 0};
  f.write(len, 2);
  f << h;
  double v[3] = {1.5, -2, 3.25};
  f.write(reinterpret_cast<char*>(v), sizeof v);
  f.close();
  Tensor r = data::read_npy(tmp("d.npy"));
  EXPECT_EQ(r.to_vector_f32(), (std::vector<float>{1.5f, -2.f, 3.25f}));
  std::remove(tmp("d.npy").c_str());
}

TEST(Npy, BadFilesAreClearErrors) {
  data::write_npy(tmp("t.npy"), Tensor::zeros({10, 10}));
  std::filesystem::resize_file(tmp("t.npy"), 200);
  try {
    data::read_npy(tmp("t.npy"));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("truncated"), std::string::npos) << e.what();
  }
  std::ofstream(tmp("x.npy")) << "not numpy";
  EXPECT_THROW(data::read_npy(tmp("x.npy")), Error);
  EXPECT_THROW(data::read_npy(tmp("missing.npy")), Error);
  std::remove(tmp("t.npy").c_str());
  std::remove(tmp("x.npy").c_str());
}

// Headers found or suggested by fuzz_npy (tests/fuzz): a shape that is not a
// tuple (threw std::out_of_range), dimensions whose product overflows or
// needs more bytes than the file has (allocated before the size check), and
// trailing bytes. Each is an ecg::Error naming the file and the field.
TEST(Npy, MalformedShapesAreClearErrors) {
  auto write = [](const std::string& name, const std::string& shape, size_t data_bytes) {
    std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape'" + shape + ", }";
    while ((10 + h.size() + 1) % 64) h.push_back(' ');
    h.push_back('\n');
    std::ofstream f(tmp(name), std::ios::binary);
    f.write("\x93NUMPY\x01\x00", 8);
    char len[2] = {static_cast<char>(h.size() & 0xff), static_cast<char>(h.size() >> 8)};
    f.write(len, 2);
    f << h << std::string(data_bytes, '\0');
    return tmp(name);
  };
  auto expect = [](const std::string& file, const std::string& needle) {
    try {
      data::read_npy(file);
      ADD_FAILURE() << "read " << file;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(file), std::string::npos) << e.what();
    }
    std::remove(file.c_str());
  };
  expect(write("a.npy", "(4 ,:,)", 16), "'shape'");  // the fuzzer's input: ':' then no tuple
  expect(write("b.npy", ": 4", 16), "'shape'");      // not a tuple
  expect(write("c.npy", ": (4x,)", 16), "'shape'");  // not a number
  expect(write("d.npy", ": (-1,)", 16), "'shape'");  // negative
  expect(write("e.npy", ": (1099511627775, 1099511627775)", 16), "too large");
  expect(write("f.npy", ": (1000000, 1000000)", 16), "truncated");  // 4 TB, not allocated
  // Empty, but its strides would overflow (fuzz_npy's second finding, 10 min in).
  expect(write("z.npy", ": (0, 1099511627775, 1099511627775)", 0), "too large");
  expect(write("g.npy", ": (4,)", 20), "trailing bytes");
  const std::string ok = write("h.npy", ": (2, 2)", 16);
  EXPECT_EQ(data::read_npy(ok).shape(), (Shape{2, 2}));
  std::remove(ok.c_str());
}

}  // namespace
}  // namespace ecg
