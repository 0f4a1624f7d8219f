// Golden-file reader and tensor comparison (see golden_file.h for the format).
#include "tests/golden/golden_file.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>

#include "kernels/error.h"
#include "tests/source_dir.h"

namespace ecg::golden {

namespace {

constexpr char kMagic[8] = {'E', 'C', 'G', 'G', 'O', 'L', 'D', '1'};
constexpr uint32_t kVersion = 1;
// Golden tensors are small; a larger claim means a corrupt header.
constexpr int64_t kMaxElements = int64_t(1) << 28;

// Reads little-endian fields with a bounds check on every read, so a truncated
// or corrupt file fails with the offset instead of reading past the buffer.
class Cursor {
 public:
  Cursor(const std::vector<uint8_t>& b, const std::string& label) : b_(b), label_(label) {}
  template <class T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i)
      v = static_cast<T>(v | static_cast<T>(static_cast<uint64_t>(b_[pos_ + i]) << (8 * i)));
    pos_ += sizeof(T);
    return v;
  }
  const uint8_t* take(size_t n, const char* what) {
    need(n, what);
    const uint8_t* p = b_.data() + pos_;
    pos_ += n;
    return p;
  }
  size_t pos() const { return pos_; }
  size_t left() const { return b_.size() - pos_; }

 private:
  void need(size_t n, const char* what) {
    ECG_CHECK(n <= left(), "golden file '", label_, "': truncated at byte ", pos_, " reading ",
              what, " (", n, " bytes needed, ", left(), " left)");
  }
  const std::vector<uint8_t>& b_;
  const std::string& label_;
  size_t pos_ = 0;
};

double decode(Stored t, const uint8_t* p) {
  // Bytes are little-endian; assemble them explicitly so big-endian hosts work too.
  uint64_t bits = 0;
  const size_t n = t == Stored::F32 ? 4 : 8;
  for (size_t i = 0; i < n; ++i) bits |= static_cast<uint64_t>(p[i]) << (8 * i);
  if (t == Stored::F32) {
    uint32_t b32 = static_cast<uint32_t>(bits);
    float f;
    std::memcpy(&f, &b32, 4);
    return f;
  }
  if (t == Stored::F64) {
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
  }
  int64_t i;
  std::memcpy(&i, &bits, 8);
  return static_cast<double>(i);
}

std::string index_str(const Shape& shape, int64_t flat) {
  std::vector<int64_t> idx(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    idx[d] = flat % shape[d];
    flat /= shape[d];
  }
  std::ostringstream os;
  os << "[";
  for (size_t d = 0; d < idx.size(); ++d) os << (d ? "," : "") << idx[d];
  os << "]";
  return os.str();
}

}  // namespace

GoldenFile GoldenFile::parse(const std::vector<uint8_t>& bytes, const std::string& label) {
  GoldenFile f;
  f.label_ = label;
  Cursor c(bytes, label);
  const uint8_t* magic = c.take(sizeof(kMagic), "magic");
  ECG_CHECK(std::memcmp(magic, kMagic, sizeof(kMagic)) == 0, "golden file '", label,
            "': bad magic (not written by tests/golden/make_golden.py)");
  const uint32_t version = c.read<uint32_t>("version");
  ECG_CHECK(version == kVersion, "golden file '", label, "': version ", version,
            ", this reader knows version ", kVersion);
  const uint32_t count = c.read<uint32_t>("tensor count");
  for (uint32_t k = 0; k < count; ++k) {
    GoldenTensor t;
    const uint16_t len = c.read<uint16_t>("name length");
    const uint8_t* name = c.take(len, "name");
    t.name.assign(reinterpret_cast<const char*>(name), len);
    const uint8_t code = c.read<uint8_t>("dtype");
    ECG_CHECK(code >= 1 && code <= 3, "golden file '", label, "': tensor '", t.name,
              "' has unknown dtype code ", int(code));
    t.stored = static_cast<Stored>(code);
    const uint8_t ndim = c.read<uint8_t>("ndim");
    int64_t numel = 1;
    for (uint8_t d = 0; d < ndim; ++d) {
      const int64_t dim = c.read<int64_t>("dimension");
      ECG_CHECK(dim >= 0 && dim <= kMaxElements && numel * dim <= kMaxElements, "golden file '",
                label, "': tensor '", t.name, "' has an implausible dimension ", dim);
      t.shape.push_back(dim);
      numel *= dim;
    }
    const size_t esize = t.stored == Stored::F32 ? 4 : 8;
    const uint8_t* data = c.take(static_cast<size_t>(numel) * esize, "tensor data");
    t.values.resize(static_cast<size_t>(numel));
    for (int64_t i = 0; i < numel; ++i) t.values[i] = decode(t.stored, data + i * esize);
    ECG_CHECK(!f.tensors_.count(t.name), "golden file '", label, "': duplicate tensor '", t.name,
              "'");
    f.tensors_.emplace(t.name, std::move(t));
  }
  ECG_CHECK(c.left() == 0, "golden file '", label, "': ", c.left(),
            " trailing bytes after the last tensor");
  return f;
}

GoldenFile GoldenFile::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ECG_CHECK(in.good(), "golden file '", path,
            "' cannot be opened (regenerate with /usr/bin/python3 tests/golden/make_golden.py)");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                             std::istreambuf_iterator<char>());
  return parse(bytes, path);
}

const GoldenTensor& GoldenFile::get(const std::string& name) const {
  auto it = tensors_.find(name);
  ECG_CHECK(it != tensors_.end(), "golden file '", label_, "' has no tensor '", name, "'");
  return it->second;
}

Tensor GoldenFile::tensor(const std::string& name, DType dtype) const {
  const GoldenTensor& t = get(name);
  ECG_CHECK(dtype == DType::F32 || dtype == DType::F64, "golden tensor '", name,
            "': only f32 and f64 are supported, asked for ", dtype_name(dtype));
  Tensor d = Tensor::from_vector(t.values, t.shape);
  return dtype == DType::F64 ? d : d.to(DType::F32);
}

std::vector<int64_t> GoldenFile::ints(const std::string& name) const {
  const GoldenTensor& t = get(name);
  ECG_CHECK(t.stored == Stored::I64, "golden tensor '", name, "' is not an integer tensor");
  return std::vector<int64_t>(t.values.begin(), t.values.end());
}

double GoldenFile::scalar(const std::string& name) const {
  const GoldenTensor& t = get(name);
  ECG_CHECK(t.values.size() == 1, "golden tensor '", name, "' has ", t.values.size(),
            " elements, expected one");
  return t.values[0];
}

std::vector<std::string> GoldenFile::names() const {
  std::vector<std::string> out;
  for (auto& kv : tensors_) out.push_back(kv.first);
  return out;
}

CompareResult compare(const std::string& what, const Tensor& actual, const GoldenTensor& expected,
                      const Tolerance& tol) {
  CompareResult r;
  std::ostringstream os;
  os.precision(10);
  if (!actual.defined()) {
    r.ok = false;
    r.message = what + ": tensor is undefined (expected " + shape_str(expected.shape) + ")";
    return r;
  }
  // A [] scalar compares with a stored [1] or [] and vice versa.
  const bool scalar_pair = actual.numel() == 1 && expected.values.size() == 1;
  if (actual.shape() != expected.shape && !scalar_pair) {
    r.ok = false;
    r.message = what + ": shape " + shape_str(actual.shape()) + ", expected " +
                shape_str(expected.shape) + " (" + expected.name + ")";
    return r;
  }
  const std::vector<double> a = actual.to_vector_f64();
  int64_t worst = -1;
  for (size_t i = 0; i < a.size(); ++i) {
    const double e = expected.values[i];
    const double bound = tol.atol + tol.rtol * std::fabs(e);
    const double err = std::fabs(a[i] - e);
    // NaN in either value is always a mismatch (err > bound is false for NaN).
    const bool bad = !(err <= bound);
    const double ratio = bad && !std::isfinite(err) ? INFINITY : err / (bound > 0 ? bound : 1e-300);
    if (bad) ++r.mismatches;
    if (worst < 0 || ratio > r.worst_ratio || (bad && !std::isfinite(ratio))) {
      r.worst_ratio = ratio;
      worst = static_cast<int64_t>(i);
    }
  }
  r.ok = r.mismatches == 0;
  os << what << ": " << r.mismatches << " of " << a.size() << " elements outside atol " << tol.atol
     << " + rtol " << tol.rtol << " (" << tol.why << "); worst |err|/bound " << r.worst_ratio;
  if (worst >= 0)
    os << " at " << worst << " " << index_str(expected.shape, worst) << ": actual " << a[worst]
       << ", expected " << expected.values[worst];
  r.message = os.str();
  return r;
}

std::string golden_path(const std::string& file) {
  return std::string(ECG_SOURCE_DIR) + "/tests/golden/" + file;
}

}  // namespace ecg::golden
