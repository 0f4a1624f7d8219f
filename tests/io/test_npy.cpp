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

}  // namespace
}  // namespace ecg
