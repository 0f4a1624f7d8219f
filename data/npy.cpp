#include "data/npy.h"

#include <cstring>
#include <fstream>
#include <sstream>

namespace ecg::data {

namespace {

// Extracts the value of a key from the header dict, e.g. 'descr': '<f4'.
std::string dict_value(const std::string& h, const std::string& key, const std::string& path) {
  size_t k = h.find("'" + key + "'");
  ECG_CHECK(k != std::string::npos, "'", path, "': .npy header lacks '", key, "'");
  size_t colon = h.find(':', k);
  ECG_CHECK(colon != std::string::npos, "'", path, "': malformed .npy header");
  size_t start = h.find_first_not_of(" ", colon + 1);
  ECG_CHECK(start != std::string::npos, "'", path, "': malformed .npy header");
  size_t end;
  if (h[start] == '(') {
    end = h.find(')', start);
    ECG_CHECK(end != std::string::npos, "'", path, "': malformed shape in .npy header");
    return h.substr(start, end - start + 1);
  }
  end = h.find_first_of(",}", start);
  ECG_CHECK(end != std::string::npos, "'", path, "': malformed .npy header");
  std::string v = h.substr(start, end - start);
  while (!v.empty() && v.back() == ' ') v.pop_back();
  if (v.size() >= 2 && v.front() == '\'' && v.back() == '\'') v = v.substr(1, v.size() - 2);
  return v;
}

}  // namespace

Tensor read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  ECG_CHECK(f, "cannot open '", path, "'");
  const uint64_t size = static_cast<uint64_t>(f.tellg());
  f.seekg(0);
  char magic[8];
  ECG_CHECK(size >= 10 && f.read(magic, 8) && std::memcmp(magic, "\x93NUMPY", 6) == 0, "'", path,
            "' is not a .npy file");
  const int major = static_cast<unsigned char>(magic[6]);
  uint64_t hl = 0;
  if (major == 1) {
    unsigned char b[2];
    f.read(reinterpret_cast<char*>(b), 2);
    hl = b[0] | (b[1] << 8);
  } else {
    ECG_CHECK(major == 2 || major == 3, "'", path, "': unsupported .npy version ", major);
    unsigned char b[4];
    f.read(reinterpret_cast<char*>(b), 4);
    hl = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint64_t>(b[3]) << 24);
  }
  const uint64_t header_end = (major == 1 ? 10 : 12) + hl;
  ECG_CHECK(f && header_end <= size, "'", path, "' is truncated (header)");
  std::string h(hl, '\0');
  f.read(&h[0], static_cast<std::streamsize>(hl));
  std::string descr = dict_value(h, "descr", path);
  std::string order = dict_value(h, "fortran_order", path);
  std::string shape_s = dict_value(h, "shape", path);
  ECG_CHECK(order == "False", "'", path, "': Fortran-ordered arrays are not supported");
  DType dt;
  if (descr == "<f4") {
    dt = DType::F32;
  } else if (descr == "<f8") {
    dt = DType::F64;
  } else {
    fail("'", path, "': dtype ", descr,
         " is not supported (expected float32 '<f4' or float64 '<f8')");
  }
  // The shape is a tuple "(d0, d1, ...)"; every element count is checked
  // against the file before anything is allocated.
  ECG_CHECK(shape_s.size() >= 2 && shape_s.front() == '(' && shape_s.back() == ')', "'", path,
            "': field 'shape' is ", shape_s, ", expected a tuple such as (3, 224, 224)");
  Shape shape;
  std::string inner = shape_s.substr(1, shape_s.size() - 2);
  std::stringstream ss(inner);
  std::string tok;
  // `extent` multiplies the non-zero dimensions: a zero one empties the
  // array but the strides still multiply the others (found by fuzz_npy).
  uint64_t numel = 1, extent = 1;
  while (std::getline(ss, tok, ',')) {
    const size_t a = tok.find_first_not_of(' '), b = tok.find_last_not_of(' ');
    if (a == std::string::npos) continue;
    const std::string digits = tok.substr(a, b - a + 1);
    ECG_CHECK(digits.size() <= 13 && digits.find_first_not_of("0123456789") == std::string::npos,
              "'", path, "': field 'shape' is ", shape_s, ", expected non-negative integers");
    const uint64_t v = std::stoull(digits);
    ECG_CHECK(v < (1ull << 40) && (v == 0 || extent <= (1ull << 40) / v), "'", path,
              "': field 'shape' ", shape_s, " is too large");
    numel *= v;
    if (v > 0) extent *= v;
    shape.push_back(static_cast<int64_t>(v));
  }
  const uint64_t nbytes = numel * dtype_size(dt);
  ECG_CHECK(header_end + nbytes <= size, "'", path, "' is truncated: shape ", shape_str(shape),
            " needs ", nbytes, " bytes of data, the file has ", size - header_end);
  ECG_CHECK(header_end + nbytes == size, "'", path, "' has ", size - header_end - nbytes,
            " trailing bytes after the ", nbytes, " bytes its shape ", shape_str(shape),
            " describes");
  Tensor t = Tensor::empty(shape, dt);
  f.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(t.nbytes()));
  ECG_CHECK(f, "'", path, "': read error");
  return t.to(DType::F32);
}

void write_npy(const std::string& path, const Tensor& t_in) {
  Tensor t = t_in.contiguous().to(DType::F32);
  std::string shape = "(";
  for (size_t i = 0; i < t.shape().size(); ++i)
    shape += std::to_string(t.shape()[i]) + (t.shape().size() == 1      ? ","
                                             : i + 1 < t.shape().size() ? ", "
                                                                        : "");
  shape += ")";
  std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + h.size() + 1) % 64) h.push_back(' ');
  h.push_back('\n');
  std::ofstream f(path, std::ios::binary);
  ECG_CHECK(f, "cannot write '", path, "'");
  f.write("\x93NUMPY\x01\x00", 8);
  unsigned char len[2] = {static_cast<unsigned char>(h.size() & 0xff),
                          static_cast<unsigned char>(h.size() >> 8)};
  f.write(reinterpret_cast<char*>(len), 2);
  f << h;
  f.write(static_cast<const char*>(t.raw_data()), static_cast<std::streamsize>(t.nbytes()));
}

}  // namespace ecg::data
