// Reader for the golden files written by tests/golden/make_golden.py, and the
// comparison every golden test uses.
//
// Format (version 1, little-endian): magic "ECGGOLD1", u32 version, u32 count,
// then per tensor: u16 name length, name, u8 dtype (1 f32, 2 f64, 3 i64),
// u8 ndim, ndim x i64 dims, data. Values are kept as double in memory: f32 and
// the small i64 configuration vectors convert exactly.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace ecg::golden {

// Element type in the file (ecg has no int64 tensors, hence its own enum).
enum class Stored : uint8_t { F32 = 1, F64 = 2, I64 = 3 };

struct GoldenTensor {
  std::string name;
  Stored stored = Stored::F64;
  Shape shape;
  std::vector<double> values;
};

class GoldenFile {
 public:
  // Throws ecg::Error naming the file on a missing file, bad magic, unknown
  // version or dtype, truncation, trailing bytes or a duplicate name.
  static GoldenFile load(const std::string& path);
  // Parses an in-memory image (load() and the reader's own tests use it).
  static GoldenFile parse(const std::vector<uint8_t>& bytes, const std::string& label);

  bool has(const std::string& name) const { return tensors_.count(name) != 0; }
  const GoldenTensor& get(const std::string& name) const;  // throws naming file and tensor
  // The stored values as an ecg tensor of the given dtype (F32 or F64).
  Tensor tensor(const std::string& name, DType dtype) const;
  std::vector<int64_t> ints(const std::string& name) const;
  double scalar(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::string label_;
  std::map<std::string, GoldenTensor> tensors_;
};

// Element i passes when |actual - expected| <= atol + rtol * |expected|.
// `why` names the reason for the size of the bound (see engineering.md,
// Correctness 4-5); every test writes the observed margin beside it.
struct Tolerance {
  double atol = 0, rtol = 0;
  const char* why = "";
};

struct CompareResult {
  bool ok = true;
  int64_t mismatches = 0;
  // Largest |a - e| / (atol + rtol |e|) over the tensor: below 1 passes. It
  // is printed so the margin of each tolerance can be read off a test run.
  double worst_ratio = 0;
  std::string message;
};

// Compares shapes and values; the message gives the mismatch count, the worst
// index (flat and multi-dimensional) with both values, and the tolerance.
CompareResult compare(const std::string& what, const Tensor& actual, const GoldenTensor& expected,
                      const Tolerance& tol);

// Path of a golden file in the source tree (tests run from the source root,
// but ECG_SOURCE_DIR makes them work from anywhere).
std::string golden_path(const std::string& file);

}  // namespace ecg::golden
