// The int8 model file (quant/int8_model.h): the version 1-3 writers, the
// memory-mapped loader, and the integers a version 3 file leaves out,
// derived at load from the scales the quantizer chose.
#include "quant/int8_model.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/autograd.h"
#include "core/json_checked.h"
#include "core/ops.h"
#include "core/profiler.h"
#include "data/file_util.h"
#include "kernels/runtime.h"
#include "quant/quantize.h"

namespace ecg::quant {

namespace {

constexpr char kMagic[8] = {'E', 'C', 'G', 'I', 'N', 'T', '8', '\0'};
constexpr uint32_t kVersion = kInt8FormatVersion;  // 2 added float nodes, 3 derived integers
constexpr uint32_t kOldestVersion = 1;             // oldest still read
constexpr size_t kAlign = 16;

nlohmann::json shape_json(const Conv2dShape& s) {
  return {s.N,        s.C,       s.H,        s.W,          s.K,         s.R, s.S, s.stride_h,
          s.stride_w, s.pad_top, s.pad_left, s.pad_bottom, s.pad_right, s.P, s.Q};
}
Conv2dShape conv_shape_from(const nlohmann::json& j) {
  Conv2dShape s;
  int* f[] = {&s.N,        &s.C,          &s.H,         &s.W,        &s.K,
              &s.R,        &s.S,          &s.stride_h,  &s.stride_w, &s.pad_top,
              &s.pad_left, &s.pad_bottom, &s.pad_right, &s.P,        &s.Q};
  ECG_CHECK(j.is_array() && j.size() == 15, "conv shape must have 15 fields");
  for (int i = 0; i < 15; ++i) *f[i] = json_int<int>(j[i], "shape");
  return s;
}
nlohmann::json pool_json(const Pool2dShape& s) {
  return {s.N,        s.C,       s.H,        s.W,          s.R,         s.S, s.stride_h,
          s.stride_w, s.pad_top, s.pad_left, s.pad_bottom, s.pad_right, s.P, s.Q};
}
Pool2dShape pool_shape_from(const nlohmann::json& j) {
  Pool2dShape s;
  int* f[] = {&s.N,        &s.C,       &s.H,        &s.W,          &s.R,         &s.S, &s.stride_h,
              &s.stride_w, &s.pad_top, &s.pad_left, &s.pad_bottom, &s.pad_right, &s.P, &s.Q};
  ECG_CHECK(j.is_array() && j.size() == 14, "pool shape must have 14 fields");
  for (int i = 0; i < 14; ++i) *f[i] = json_int<int>(j[i], "pool");
  return s;
}
nlohmann::json add_json(const int8::AddRequant& a) {
  return {a.zp_a, a.zp_b, a.mul_a, a.mul_b, a.shift, a.zp_out, a.qmin, a.qmax};
}
int8::AddRequant add_from(const nlohmann::json& j) {
  int8::AddRequant a;
  int32_t* f[] = {&a.zp_a, &a.zp_b, &a.mul_a, &a.mul_b, &a.shift, &a.zp_out, &a.qmin, &a.qmax};
  ECG_CHECK(j.is_array() && j.size() == 8, "add parameters must have 8 fields");
  for (int i = 0; i < 8; ++i) *f[i] = json_int<int32_t>(j[i], "add");
  ECG_CHECK(a.shift >= 1 && a.shift <= 31, "add shift ", a.shift, " outside [1, 31]");
  return a;
}

struct BlobWriter {
  std::string data;
  nlohmann::json put(const void* p, size_t n) {
    while (data.size() % kAlign) data.push_back('\0');
    size_t off = data.size();
    data.append(static_cast<const char*>(p), n);
    return {off, n};
  }
};

// A read-only memory map of the whole file, released on scope exit.
struct MappedFile {
  explicit MappedFile(const std::string& path) {
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    ECG_CHECK(fd >= 0, "cannot open int8 model '", path, "'");
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      fail("int8 model '", path, "' is not a regular file");
    }
    size = static_cast<size_t>(st.st_size);
    if (size > 0) {
      void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        ::close(fd);
        fail("cannot map int8 model '", path, "'");
      }
      data = static_cast<const uint8_t*>(p);
    }
  }
  ~MappedFile() {
    if (data) ::munmap(const_cast<uint8_t*>(data), size);
    if (fd >= 0) ::close(fd);
  }
  int fd = -1;
  const uint8_t* data = nullptr;
  size_t size = 0;
};

}  // namespace

namespace {

// The integers of a conv/dense/avgpool node that follow from the tensors'
// scales and zero points, the node's weight scales, its geometry and its
// ReLU flag: what a version 3 file leaves out. `n` keeps its weights, bias,
// weight scales and (conv) kernel geometry; the rest is overwritten.
// Throws when the geometry does not fit the tensors.
void derive_integers(NodeQ& n, const std::vector<TensorQ>& t, bool relu) {
  const TensorQ& in = t.at(n.inputs.at(0));
  if (n.kind == NodeKind::Dense) {
    const int K = n.conv.shape.K;
    ECG_CHECK(n.output == -1, "dense node ", n.name, " must write the logits");
    std::vector<int32_t> bias = std::move(n.conv.bias);
    n.conv = int8::dense_int8_params(in.H * in.W * in.C, K);
    n.conv.bias = std::move(bias);
    n.conv.zp_in = in.zero_point;
    n.conv.requant.assign(K, int8::make_requant(1.0));
    n.conv.output = int8::OutputMode::Int32;
    return;
  }
  ECG_CHECK(n.output >= 0, "node ", n.name, " writes no tensor");
  const TensorQ& out = t.at(n.output);
  if (n.kind == NodeKind::AvgPool || n.kind == NodeKind::MaxPool) {
    Pool2dShape& s = n.kind == NodeKind::AvgPool ? n.avg.shape : n.pool;
    s.N = 1, s.C = in.C, s.H = in.H, s.W = in.W;
    ECG_CHECK(pool2d_finalize(s) && s.P == out.H && s.Q == out.W && s.C == out.C, "pool node ",
              n.name, " does not map its input tensor's shape to its output tensor's");
    if (n.kind == NodeKind::AvgPool)
      n.avg = int8::make_avg_pool_int8(s, in.scale, in.zero_point, out.scale, out.zero_point);
    return;
  }
  ECG_CHECK(n.kind == NodeKind::Conv, "node ", n.name, " has no derived integers");
  int8::ConvInt8Params& c = n.conv;
  Conv2dShape& s = c.shape;
  s.N = 1, s.C = in.C, s.H = in.H, s.W = in.W;
  ECG_CHECK(conv2d_finalize(s) && s.P == out.H && s.Q == out.W && s.K == out.C, "conv node ",
            n.name, " does not map its input tensor's shape to its output tensor's");
  c.zp_in = in.zero_point;
  c.output = int8::OutputMode::Int8;
  c.qmax = 127;
  float s_out = out.scale;
  if (c.residual) {
    ECG_CHECK(n.inputs.size() == 2, "conv node ", n.name, " has a residual but one input");
    const TensorQ& res = t.at(n.inputs[1]);
    ECG_CHECK(res.H == out.H && res.W == out.W && res.C == out.C, "conv node ", n.name,
              ": residual ", res.name, " differs in shape from the output");
    ECG_CHECK(std::isfinite(n.pre_add_scale) && n.pre_add_scale > 0 &&
                  n.pre_add_zero_point >= -128 && n.pre_add_zero_point <= 127,
              "conv node ", n.name, " has pre-add parameters (", n.pre_add_scale, ", ",
              n.pre_add_zero_point, ")");
    // The conv's own output keeps the full int8 range; the ReLU follows the add.
    c.zp_out = n.pre_add_zero_point;
    c.qmin = -128;
    c.add = int8::make_add_requant(n.pre_add_scale, n.pre_add_zero_point, res.scale, res.zero_point,
                                   out.scale, out.zero_point, relu ? out.zero_point : -128, 127);
    s_out = n.pre_add_scale;
  } else {
    c.zp_out = out.zero_point;
    c.qmin = relu ? out.zero_point : -128;
  }
  c.requant.clear();
  if (static_cast<int>(n.weight_scale.size()) == s.K)
    c.requant = requant_multipliers(s.K, in.scale, n.weight_scale.data(), s_out);
}

// The ReLU flag of a node as its integers encode it.
bool relu_of(const NodeQ& n, const std::vector<TensorQ>& t) {
  if (n.kind != NodeKind::Conv) return false;
  const int32_t zp = t.at(n.output).zero_point;
  return n.conv.residual ? n.conv.add.qmin == zp && zp > -128 : n.conv.qmin == zp && zp > -128;
}

bool same_requant(const std::vector<int8::Requant>& a, const std::vector<int8::Requant>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].m0 != b[i].m0 || a[i].shift != b[i].shift) return false;
  return true;
}
bool same_add(const int8::AddRequant& a, const int8::AddRequant& b) {
  return a.zp_a == b.zp_a && a.zp_b == b.zp_b && a.mul_a == b.mul_a && a.mul_b == b.mul_b &&
         a.shift == b.shift && a.zp_out == b.zp_out && a.qmin == b.qmin && a.qmax == b.qmax;
}
bool same_conv_shape(const Conv2dShape& a, const Conv2dShape& b) {
  return std::memcmp(&a, &b, sizeof(Conv2dShape)) == 0;
}
bool same_pool_shape(const Pool2dShape& a, const Pool2dShape& b) {
  return std::memcmp(&a, &b, sizeof(Pool2dShape)) == 0;
}

// Version 3 writes only what derive_integers cannot compute; this checks that
// it gives back exactly the model's integers (the quantizer builds them with
// the same functions, so a mismatch means a hand-edited or foreign model).
void check_derivable(const NodeQ& n, const std::vector<TensorQ>& t) {
  NodeQ d = n;
  derive_integers(d, t, relu_of(n, t));
  bool same = true;
  if (n.kind == NodeKind::Conv || n.kind == NodeKind::Dense) {
    const auto &a = n.conv, &b = d.conv;
    same = same_conv_shape(a.shape, b.shape) && a.zp_in == b.zp_in && a.zp_out == b.zp_out &&
           a.qmin == b.qmin && a.qmax == b.qmax && a.output == b.output &&
           a.residual == b.residual && (!a.residual || same_add(a.add, b.add)) &&
           (n.run_float || same_requant(a.requant, b.requant));
  } else if (n.kind == NodeKind::AvgPool) {
    same = same_pool_shape(n.avg.shape, d.avg.shape) && n.avg.zp_in == d.avg.zp_in &&
           n.avg.zp_out == d.avg.zp_out && n.avg.qmin == d.avg.qmin && n.avg.qmax == d.avg.qmax &&
           same_requant(n.avg.requant_by_count, d.avg.requant_by_count);
  } else if (n.kind == NodeKind::MaxPool) {
    same = same_pool_shape(n.pool, d.pool);
  }
  ECG_CHECK(same, "save_int8_model: node ", n.name,
            " has integer parameters that its scales and zero points do not give; version ",
            kInt8FormatVersion, " derives them at load (write version 2 to keep them)");
}

// A node that quantization left in float (versions 2 and 3 write it alike).
void put_float_fallback(const NodeQ& n, BlobWriter& blobs, nlohmann::json& j) {
  j["float"] = true;
  j["weights_f32"] = blobs.put(n.weights_f32.data(), n.weights_f32.size() * 4);
  j["bias_f32"] = blobs.put(n.bias_f32.data(), n.bias_f32.size() * 4);
}

// Versions 1 and 2: every integer parameter stored.
nlohmann::json node_json_v2(const NodeQ& n, BlobWriter& blobs) {
  nlohmann::json j = {{"kind", node_kind_name(n.kind)},
                      {"name", n.name},
                      {"inputs", n.inputs},
                      {"output", n.output}};
  if (n.kind == NodeKind::Conv || n.kind == NodeKind::Dense) {
    const auto& c = n.conv;
    std::vector<int32_t> rq;
    for (const auto& r : c.requant) {
      rq.push_back(r.m0);
      rq.push_back(r.shift);
    }
    j["shape"] = shape_json(c.shape);
    j["zp_in"] = c.zp_in;
    j["zp_out"] = c.zp_out;
    j["qmin"] = c.qmin;
    j["qmax"] = c.qmax;
    j["int32_out"] = c.output == int8::OutputMode::Int32;
    j["residual"] = c.residual;
    if (c.residual) j["add"] = add_json(c.add);
    if (n.run_float) {
      put_float_fallback(n, blobs, j);
    } else {
      j["weights"] = blobs.put(n.weights.data(), n.weights.size());
      j["bias"] = blobs.put(c.bias.data(), c.bias.size() * 4);
      j["requant"] = blobs.put(rq.data(), rq.size() * 4);
      j["weight_scale"] = blobs.put(n.weight_scale.data(), n.weight_scale.size() * 4);
    }
  } else if (n.kind == NodeKind::MaxPool) {
    j["pool"] = pool_json(n.pool);
  } else if (n.kind == NodeKind::AvgPool) {
    std::vector<int32_t> rq;
    for (const auto& r : n.avg.requant_by_count) {
      rq.push_back(r.m0);
      rq.push_back(r.shift);
    }
    j["pool"] = pool_json(n.avg.shape);
    j["zp_in"] = n.avg.zp_in;
    j["zp_out"] = n.avg.zp_out;
    j["qmin"] = n.avg.qmin;
    j["qmax"] = n.avg.qmax;
    j["requant"] = blobs.put(rq.data(), rq.size() * 4);
  } else if (n.kind == NodeKind::Add) {
    j["add"] = add_json(n.add);
  }
  return j;
}

// A float as the double of its shortest decimal form (9 significant digits
// at most instead of the 17 a double prints with), so the header holds
// "0.0039215689" rather than "0.003921568859368563". The reader's
// get<float>() must give back f exactly; where the decimal -> double -> float
// path would round differently, f itself is written.
double short_float(float f) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, f);
  const double d = std::strtod(std::string(buf, r.ptr).c_str(), nullptr);
  return static_cast<float>(d) == f ? d : static_cast<double>(f);
}

// Version 3: the kernel geometry without the sizes the tensors give.
nlohmann::json conv_geometry_json(const Conv2dShape& s) {
  return {s.K, s.R, s.S, s.stride_h, s.stride_w, s.pad_top, s.pad_left, s.pad_bottom, s.pad_right};
}
void conv_geometry_from(const nlohmann::json& j, Conv2dShape& s) {
  int* f[] = {&s.K,       &s.R,        &s.S,          &s.stride_h, &s.stride_w,
              &s.pad_top, &s.pad_left, &s.pad_bottom, &s.pad_right};
  ECG_CHECK(j.is_array() && j.size() == 9, "conv geometry must have 9 fields");
  for (int i = 0; i < 9; ++i) *f[i] = json_int<int>(j[i], "shape");
  ECG_CHECK(s.K > 0 && s.R > 0 && s.S > 0 && s.stride_h > 0 && s.stride_w > 0 && s.pad_top >= 0 &&
                s.pad_left >= 0 && s.pad_bottom >= 0 && s.pad_right >= 0,
            "invalid conv geometry ", j.dump());
}
nlohmann::json pool_geometry_json(const Pool2dShape& s) {
  return {s.R, s.S, s.stride_h, s.stride_w, s.pad_top, s.pad_left, s.pad_bottom, s.pad_right};
}
void pool_geometry_from(const nlohmann::json& j, Pool2dShape& s) {
  int* f[] = {&s.R,       &s.S,        &s.stride_h,   &s.stride_w,
              &s.pad_top, &s.pad_left, &s.pad_bottom, &s.pad_right};
  ECG_CHECK(j.is_array() && j.size() == 8, "pool geometry must have 8 fields");
  for (int i = 0; i < 8; ++i) *f[i] = json_int<int>(j[i], "pool");
  ECG_CHECK(s.R > 0 && s.S > 0 && s.stride_h > 0 && s.stride_w > 0 && s.pad_top >= 0 &&
                s.pad_left >= 0 && s.pad_bottom >= 0 && s.pad_right >= 0,
            "invalid pool geometry ", j.dump());
}

nlohmann::json node_json_v3(const NodeQ& n, const std::vector<TensorQ>& t, BlobWriter& blobs) {
  check_derivable(n, t);
  nlohmann::json j = {{"kind", node_kind_name(n.kind)},
                      {"name", n.name},
                      {"inputs", n.inputs},
                      {"output", n.output}};
  if (n.kind == NodeKind::Conv || n.kind == NodeKind::Dense) {
    if (n.kind == NodeKind::Conv) {
      j["shape"] = conv_geometry_json(n.conv.shape);
      if (relu_of(n, t)) j["relu"] = true;
      if (n.conv.residual) j["pre_add"] = {short_float(n.pre_add_scale), n.pre_add_zero_point};
    } else {
      j["units"] = n.conv.shape.K;
    }
    if (n.run_float) {
      put_float_fallback(n, blobs, j);
    } else {
      j["weights"] = blobs.put(n.weights.data(), n.weights.size());
      j["bias"] = blobs.put(n.conv.bias.data(), n.conv.bias.size() * 4);
      j["weight_scale"] = blobs.put(n.weight_scale.data(), n.weight_scale.size() * 4);
    }
  } else if (n.kind == NodeKind::MaxPool) {
    j["pool"] = pool_geometry_json(n.pool);
  } else if (n.kind == NodeKind::AvgPool) {
    j["pool"] = pool_geometry_json(n.avg.shape);
  } else if (n.kind == NodeKind::Add) {
    j["add"] = add_json(n.add);
  }
  return j;
}

// The blobs the header names must not share bytes (two nodes' weights
// aliased would be a crafted or damaged file) and must end where the file
// ends: the writer aligns each blob's start to 16 bytes and writes nothing
// after the last one.
void check_blob_spans(const std::string& path, std::vector<std::pair<uint64_t, uint64_t>> spans,
                      uint64_t blob_size) {
  std::sort(spans.begin(), spans.end());
  uint64_t end = 0;
  for (const auto& s : spans) {
    ECG_CHECK(s.first >= end, "'", path, "': a blob at [", s.first, ", ", s.second,
              ") overlaps the one ending at ", end, "; expected non-overlapping blobs");
    end = s.second;
  }
  ECG_CHECK(end == blob_size, "'", path, "' has ", blob_size - end,
            " trailing bytes after its last blob (", blob_size, " bytes of data, blobs end at ",
            end, ")");
}

}  // namespace

void save_int8_model(const std::string& path, const Int8Model& m, uint32_t version) {
  ECG_CHECK(version >= kOldestVersion && version <= kVersion,
            "save_int8_model: cannot write version ", version);
  validate_int8_model(m, path);  // never write a file the loader would refuse
  BlobWriter blobs;
  nlohmann::json h;
  h["model"] = m.model_name;
  h["image_size"] = m.image_size;
  h["classes"] = m.classes;
  h["preprocessing"] = m.preprocessing;
  h["calibration"] = m.calibration;
  if (version >= 3) h["calibration"].erase("tensors");  // in the quantizer's report instead
  nlohmann::json tensors = nlohmann::json::array();
  for (const TensorQ& t : m.tensors)
    tensors.push_back({{"name", t.name},
                       {"nhwc", {t.N, t.H, t.W, t.C}},
                       {"scale", version >= 3 ? short_float(t.scale) : t.scale},
                       {"zero_point", t.zero_point}});
  h["tensors"] = tensors;
  nlohmann::json nodes = nlohmann::json::array();
  for (const NodeQ& n : m.nodes) {
    if (n.run_float) {
      const Conv2dShape& c = n.conv.shape;
      ECG_CHECK(version >= 2, "save_int8_model: float node ", n.name, " needs version 2 or later");
      ECG_CHECK(n.weights_f32.size() == static_cast<size_t>(c.K) * c.C * c.R * c.S &&
                    n.bias_f32.size() == static_cast<size_t>(c.K),
                "save_int8_model: float node ", n.name, " has no float weights");
    }
    nodes.push_back(version >= 3 ? node_json_v3(n, m.tensors, blobs) : node_json_v2(n, blobs));
  }
  h["nodes"] = nodes;
  std::string header = h.dump();
  while ((16 + header.size()) % kAlign) header.push_back(' ');
  std::string out(kMagic, 8);
  uint32_t v = version, hl = static_cast<uint32_t>(header.size());
  out.append(reinterpret_cast<const char*>(&v), 4);
  out.append(reinterpret_cast<const char*>(&hl), 4);
  out += header;
  out += blobs.data;
  data::remove_stale_temporaries(path);  // left by a quantize that was killed
  data::write_file_atomic(path, out.data(), out.size());
}

Int8Model load_int8_model(const std::string& path) {
  MappedFile f(path);
  ECG_CHECK(f.size >= 16 && std::memcmp(f.data, kMagic, 8) == 0, "'", path,
            "' is not an ecgcnn int8 model (bad magic or truncated)");
  uint32_t version, hl;
  std::memcpy(&version, f.data + 8, 4);
  std::memcpy(&hl, f.data + 12, 4);
  ECG_CHECK(version >= kOldestVersion && version <= kVersion, "'", path,
            "': int8 model format version ", version,
            " is not supported (this build reads versions ", kOldestVersion, " to ", kVersion,
            "; re-run ecgcnn quantize with this build)");
  ECG_CHECK(16 + static_cast<uint64_t>(hl) <= f.size, "'", path, "' is truncated: header of ", hl,
            " bytes in a file of ", f.size);
  const uint8_t* blob_base = f.data + 16 + hl;
  const uint64_t blob_size = f.size - 16 - hl;
  Int8Model m;
  std::vector<std::pair<uint64_t, uint64_t>> spans;  // [begin, end) of every blob read
  try {
    nlohmann::json h = nlohmann::json::parse(f.data + 16, f.data + 16 + hl);
    auto blob = [&](const nlohmann::json& j, size_t elem, size_t expect_count) {
      uint64_t off = json_int<uint64_t>(j.at(0), "blob offset"),
               n = json_int<uint64_t>(j.at(1), "blob size");
      if (n > 0) spans.emplace_back(off, off + n);
      ECG_CHECK(off <= blob_size && n <= blob_size - off, "'", path,
                "' is truncated or malformed: a blob at ", off, " of ", n,
                " bytes passes the end (", blob_size, " bytes of data)");
      ECG_CHECK(n == elem * expect_count, "'", path, "': blob of ", n, " bytes, expected ",
                elem * expect_count);
      return std::make_pair(blob_base + off, static_cast<size_t>(n));
    };
    m.model_name = h.at("model").get<std::string>();
    m.image_size = json_int<int>(h.at("image_size"), "image_size");
    m.classes = h.at("classes").get<std::vector<std::string>>();
    m.preprocessing = h.value("preprocessing", nlohmann::json::object());
    m.calibration = h.value("calibration", nlohmann::json::object());
    for (const auto& t : h.at("tensors")) {
      TensorQ q;
      q.name = t.at("name").get<std::string>();
      const auto& s = t.at("nhwc");
      q.N = json_int<int>(s.at(0), "nhwc"), q.H = json_int<int>(s.at(1), "nhwc");
      q.W = json_int<int>(s.at(2), "nhwc"), q.C = json_int<int>(s.at(3), "nhwc");
      ECG_CHECK(q.N > 0 && q.H > 0 && q.W > 0 && q.C > 0 && q.bytes() < (int64_t(1) << 34), "'",
                path, "': tensor ", q.name, " has an invalid shape");
      q.scale = json_float(t.at("scale"), "scale");
      q.zero_point = json_int<int32_t>(t.at("zero_point"), "zero_point");
      ECG_CHECK(std::isfinite(q.scale) && q.scale > 0, "'", path, "': tensor ", q.name,
                " has scale ", q.scale);
      ECG_CHECK(q.zero_point >= -128 && q.zero_point <= 127, "'", path, "': tensor ", q.name,
                " has zero point ", q.zero_point);
      m.tensors.push_back(q);
    }
    const int nt = static_cast<int>(m.tensors.size());
    // Weights, bias and weight scales (int8 node) or float weights and bias.
    auto read_weights = [&](NodeQ& n, const nlohmann::json& j) {
      const auto& c = n.conv.shape;
      const size_t K = c.K, wn = K * c.C * c.R * c.S;
      n.run_float = j.value("float", false);
      if (n.run_float) {
        ECG_CHECK(version >= 2, "'", path, "': float node ", n.name, " in a version ", version,
                  " file");
        auto wf = blob(j.at("weights_f32"), 4, wn);
        n.weights_f32.resize(wn);
        std::memcpy(n.weights_f32.data(), wf.first, wf.second);
        auto bf = blob(j.at("bias_f32"), 4, K);
        n.bias_f32.resize(K);
        std::memcpy(n.bias_f32.data(), bf.first, bf.second);
        for (float v : n.weights_f32)
          ECG_CHECK(std::isfinite(v), "'", path, "': node ", n.name, " has a non-finite weight");
        for (float v : n.bias_f32)
          ECG_CHECK(std::isfinite(v), "'", path, "': node ", n.name, " has a non-finite bias");
        return;
      }
      auto w = blob(j.at("weights"), 1, wn);
      n.weights.assign(reinterpret_cast<const int8_t*>(w.first),
                       reinterpret_cast<const int8_t*>(w.first) + wn);
      for (int8_t v : n.weights)
        ECG_CHECK(v != -128, "'", path, "': node ", n.name, " has weight -128");
      auto b = blob(j.at("bias"), 4, K);
      n.conv.bias.resize(K);
      std::memcpy(n.conv.bias.data(), b.first, b.second);
      auto s = blob(j.at("weight_scale"), 4, K);
      n.weight_scale.resize(K);
      std::memcpy(n.weight_scale.data(), s.first, s.second);
      for (float v : n.weight_scale)
        ECG_CHECK(std::isfinite(v) && v > 0, "'", path, "': node ", n.name, " has weight scale ",
                  v);
    };
    // Which tensors earlier nodes wrote: a node that reads ahead would see
    // stale arena bytes (validate_int8_model checks it again as a whole).
    std::vector<bool> written(static_cast<size_t>(nt), false);
    if (nt > 0) written[0] = true;
    for (const auto& j : h.at("nodes")) {
      NodeQ n;
      ECG_CHECK(parse_node_kind(j.at("kind").get<std::string>(), n.kind), "'", path,
                "': unknown node kind ", j.at("kind").dump());
      n.name = j.at("name").get<std::string>();
      n.inputs = json_int_vector<int>(j.at("inputs"), "inputs");
      n.output = json_int<int>(j.at("output"), "output");
      ECG_CHECK(!n.inputs.empty(), "'", path, "': node ", n.name, " has no input");
      for (int t : n.inputs)
        ECG_CHECK(t >= 0 && t < nt && written[static_cast<size_t>(t)], "'", path, "': node ",
                  n.name, ": field 'inputs' names tensor ", t,
                  ", expected one written by an earlier node");
      ECG_CHECK(n.output >= -1 && n.output < nt, "'", path, "': node ", n.name, " writes tensor ",
                n.output);
      if (n.output >= 0) written[static_cast<size_t>(n.output)] = true;
      if (version >= 3) {
        // Version 3: geometry and choices stored, integers derived.
        auto derive = [&](bool relu) {
          try {
            derive_integers(n, m.tensors, relu);
          } catch (const Error& e) {
            fail("'", path, "': ", e.what());
          }
        };
        if (n.kind == NodeKind::Conv) {
          conv_geometry_from(j.at("shape"), n.conv.shape);
          n.conv.residual = j.contains("pre_add");
          if (n.conv.residual) {
            n.pre_add_scale = json_float(j.at("pre_add").at(0), "pre_add");
            n.pre_add_zero_point = json_int<int32_t>(j.at("pre_add").at(1), "pre_add");
          }
          derive(false);  // the input size first: read_weights needs C
          read_weights(n, j);
          derive(j.value("relu", false));
        } else if (n.kind == NodeKind::Dense) {
          n.conv.shape.K = json_int<int>(j.at("units"), "units");
          ECG_CHECK(n.conv.shape.K > 0, "'", path, "': dense node ", n.name, " has no units");
          derive(false);
          read_weights(n, j);
          derive(false);
        } else if (n.kind == NodeKind::AvgPool) {
          pool_geometry_from(j.at("pool"), n.avg.shape);
          derive(false);
        } else if (n.kind == NodeKind::MaxPool) {
          pool_geometry_from(j.at("pool"), n.pool);
          derive(false);
        } else {
          n.add = add_from(j.at("add"));
        }
        m.nodes.push_back(std::move(n));
        continue;
      }
      if (n.kind == NodeKind::Conv || n.kind == NodeKind::Dense) {
        auto& c = n.conv;
        c.shape = conv_shape_from(j.at("shape"));
        ECG_CHECK(c.shape.K > 0 && c.shape.C > 0 && c.shape.R > 0 && c.shape.S > 0, "'", path,
                  "': node ", n.name, " has an invalid shape");
        c.zp_in = json_int<int32_t>(j.at("zp_in"), "zp_in");
        c.zp_out = json_int<int32_t>(j.at("zp_out"), "zp_out");
        c.qmin = json_int<int32_t>(j.at("qmin"), "qmin");
        c.qmax = json_int<int32_t>(j.at("qmax"), "qmax");
        c.output = j.at("int32_out").get<bool>() ? int8::OutputMode::Int32 : int8::OutputMode::Int8;
        c.residual = j.at("residual");
        if (c.residual) c.add = add_from(j.at("add"));
        read_weights(n, j);
        if (!n.run_float) {
          const size_t K = c.shape.K;
          auto r = blob(j.at("requant"), 8, K);
          std::vector<int32_t> rq(2 * K);
          std::memcpy(rq.data(), r.first, r.second);
          for (size_t k = 0; k < K; ++k) {
            ECG_CHECK(rq[2 * k + 1] >= 1 && rq[2 * k + 1] <= 62, "'", path, "': node ", n.name,
                      " has requant shift ", rq[2 * k + 1]);
            c.requant.push_back({rq[2 * k], rq[2 * k + 1]});
          }
        }
      } else if (n.kind == NodeKind::MaxPool) {
        n.pool = pool_shape_from(j.at("pool"));
      } else if (n.kind == NodeKind::AvgPool) {
        n.avg.shape = pool_shape_from(j.at("pool"));
        n.avg.zp_in = json_int<int32_t>(j.at("zp_in"), "zp_in");
        n.avg.zp_out = json_int<int32_t>(j.at("zp_out"), "zp_out");
        n.avg.qmin = json_int<int32_t>(j.at("qmin"), "qmin");
        n.avg.qmax = json_int<int32_t>(j.at("qmax"), "qmax");
        const size_t cnt = static_cast<size_t>(n.avg.shape.R) * n.avg.shape.S + 1;
        auto r = blob(j.at("requant"), 8, cnt);
        std::vector<int32_t> rq(2 * cnt);
        std::memcpy(rq.data(), r.first, r.second);
        for (size_t k = 0; k < cnt; ++k)
          n.avg.requant_by_count.push_back({rq[2 * k], rq[2 * k + 1]});
      } else {
        n.add = add_from(j.at("add"));
      }
      m.nodes.push_back(std::move(n));
    }
  } catch (const Error& e) {
    if (std::string(e.what()).find(path) != std::string::npos) throw;
    fail("'", path, "' is malformed: ", e.what());
  } catch (const std::exception& e) {
    fail("'", path, "' is malformed: ", e.what());
  }
  ECG_CHECK(!m.tensors.empty() && !m.nodes.empty() && m.nodes.back().kind == NodeKind::Dense, "'",
            path, "' has no graph ending in a dense layer");
  check_blob_spans(path, std::move(spans), blob_size);
  validate_int8_model(m, path);
  return m;
}

}  // namespace ecg::quant
