// The golden-file reader: a hand-built image round trip, every rejection path,
// and the comparison's failure message (count, worst index, both values).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <type_traits>

#include "kernels/error.h"
#include "tests/golden/golden_file.h"

namespace ecg::golden {
namespace {

void put(std::vector<uint8_t>& b, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// The bits of a float or double, little-endian.
template <class F>
void put_real(std::vector<uint8_t>& b, F f) {
  static_assert(sizeof(F) == 4 || sizeof(F) == 8, "f32 or f64");
  std::conditional_t<sizeof(F) == 4, uint32_t, uint64_t> u;
  std::memcpy(&u, &f, sizeof(F));
  put(b, u, static_cast<int>(sizeof(F)));
}

// One f32 [2,2] tensor "a", one f64 [] "b", one i64 [3] "c".
std::vector<uint8_t> image() {
  std::vector<uint8_t> b = {'E', 'C', 'G', 'G', 'O', 'L', 'D', '1'};
  put(b, 1, 4);
  put(b, 3, 4);
  auto name = [&](const char* s) {
    put(b, std::strlen(s), 2);
    b.insert(b.end(), s, s + std::strlen(s));
  };
  name("a");
  put(b, 1, 1);
  put(b, 2, 1);
  put(b, 2, 8);
  put(b, 2, 8);
  for (float f : {1.5f, -2.f, 0.25f, 3.f}) put_real(b, f);
  name("b");
  put(b, 2, 1);
  put(b, 0, 1);
  put_real(b, 0.1);
  name("c");
  put(b, 3, 1);
  put(b, 1, 1);
  put(b, 3, 8);
  for (int64_t i : {2, -1, 7}) put(b, static_cast<uint64_t>(i), 8);
  return b;
}

TEST(GoldenFile, ParsesEveryDtype) {
  GoldenFile f = GoldenFile::parse(image(), "mem");
  EXPECT_EQ(f.names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(f.get("a").shape, (Shape{2, 2}));
  EXPECT_EQ(f.get("a").values, (std::vector<double>{1.5, -2, 0.25, 3}));
  EXPECT_EQ(f.scalar("b"), 0.1);
  EXPECT_EQ(f.ints("c"), (std::vector<int64_t>{2, -1, 7}));
  Tensor t = f.tensor("a", DType::F32);
  EXPECT_EQ(t.dtype(), DType::F32);
  EXPECT_EQ(t.to_vector_f64(), (std::vector<double>{1.5, -2, 0.25, 3}));
  EXPECT_THROW(f.get("missing"), Error);
  EXPECT_THROW(f.ints("a"), Error);
}

void expect_rejected(std::vector<uint8_t> b, const std::string& fragment) {
  try {
    GoldenFile::parse(b, "mem");
    ADD_FAILURE() << "accepted a file that should fail with '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(GoldenFile, RejectsBadFiles) {
  std::vector<uint8_t> b = image();
  b[0] = 'X';
  expect_rejected(b, "bad magic");
  b = image();
  b[8] = 2;
  expect_rejected(b, "version 2");
  b = image();
  b.pop_back();
  expect_rejected(b, "truncated");
  b = image();
  b.push_back(0);
  expect_rejected(b, "trailing");
  b = image();
  b[8 + 4 + 4 + 2 + 1] = 9;  // dtype of "a"
  expect_rejected(b, "unknown dtype");
  b = image();
  b[8 + 4 + 4 + 2] = 'b';  // rename "a" to "b"
  expect_rejected(b, "duplicate");
  expect_rejected({'E', 'C'}, "truncated");
  EXPECT_THROW(GoldenFile::load("/nonexistent/golden.bin"), Error);
}

TEST(GoldenFile, CompareReportsCountWorstIndexAndBothValues) {
  GoldenTensor e{"e", Stored::F64, {2, 3}, {0, 1, 2, 3, 4, 5}};
  Tensor a = Tensor::from_vector(std::vector<double>{0, 1, 2.5, 3, 4.1, 5}, {2, 3});
  CompareResult r = compare("t", a, e, {0.01, 0, "test"});
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.mismatches, 2);
  EXPECT_NE(r.message.find("2 of 6"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("[0,2]"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("actual 2.5"), std::string::npos) << r.message;
  EXPECT_NE(r.message.find("expected 2"), std::string::npos) << r.message;
  EXPECT_TRUE(compare("t", a, e, {0.6, 0, "loose"}).ok);
  a = Tensor::from_vector(std::vector<double>{0, NAN, 2, 3, 4, 5}, {2, 3});
  r = compare("t", a, e, {1e9, 0, "NaN never passes"});
  EXPECT_EQ(r.mismatches, 1);
  EXPECT_FALSE(compare("t", Tensor::zeros({3, 2}, DType::F64), e, {1, 1, ""}).ok);
}

}  // namespace
}  // namespace ecg::golden
