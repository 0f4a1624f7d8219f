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

const char* node_kind_name(NodeKind k) {
  switch (k) {
    case NodeKind::Conv:
      return "conv";
    case NodeKind::MaxPool:
      return "maxpool";
    case NodeKind::AvgPool:
      return "avgpool";
    case NodeKind::Add:
      return "add";
    case NodeKind::Dense:
      return "dense";
  }
  return "?";
}

static bool parse_kind(const std::string& s, NodeKind& k) {
  for (NodeKind c :
       {NodeKind::Conv, NodeKind::MaxPool, NodeKind::AvgPool, NodeKind::Add, NodeKind::Dense})
    if (s == node_kind_name(c)) {
      k = c;
      return true;
    }
  return false;
}

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
      ECG_CHECK(parse_kind(j.at("kind").get<std::string>(), n.kind), "'", path,
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

namespace {

// The plan for given row groups (possibly none).
ArenaPlan plan_with(const Int8Model& m, int batch, bool reuse, bool in_place_residual,
                    const std::vector<RowGroup>& groups) {
  const int nt = static_cast<int>(m.tensors.size());
  const int nn = static_cast<int>(m.nodes.size());
  // A row group runs as one step of the schedule: everything it touches is
  // alive for all of it.
  std::vector<int> time(nn);
  for (int i = 0; i < nn; ++i) time[i] = i;
  std::vector<bool> windowed(nt, false), grouped(nn, false);
  for (const RowGroup& g : groups) {
    for (int i = g.first; i <= g.last; ++i) time[i] = g.first, grouped[i] = true;
    for (int t : g.windowed) windowed[t] = true;
  }
  std::vector<int> first(nt, -1), last(nt, -1);
  for (int i = 0; i < nn; ++i) {
    const NodeQ& n = m.nodes[i];
    if (n.output >= 0) first[n.output] = time[i];
    for (int t : n.inputs) last[t] = std::max(last[t], time[i]);
  }
  ArenaPlan plan;
  plan.offset.assign(nt, 0);
  plan.row_groups = groups;
  auto size_of = [&](int t) {
    int64_t b = m.tensors[t].bytes() / std::max(1, m.tensors[t].N) * batch;
    return (b + 63) / 64 * 64;
  };
  for (int t = 0; t < nt; ++t) plan.naive_bytes += size_of(t);
  // Buffers: one per group of tensors sharing bytes (an in-place conv output
  // joins its residual's), plus one window block per row group. A buffer
  // lives from its first member's birth to its last member's last use.
  std::vector<int> root(nt);
  for (int t = 0; t < nt; ++t) root[t] = t;
  if (reuse && in_place_residual)
    for (int i = 0; i < nn; ++i) {
      const NodeQ& n = m.nodes[i];
      if (grouped[i] || n.kind != NodeKind::Conv || !n.conv.residual || n.output < 0 ||
          n.inputs.size() != 2)
        continue;
      const int x = n.inputs[0], res = n.inputs[1];
      if (last[res] == i && root[x] != root[res] && size_of(res) == size_of(n.output))
        root[n.output] = root[res];
    }
  struct Buffer {
    int64_t size = 0, offset = 0;
    int lo = 0, hi = 0;
    bool used = false;
  };
  std::vector<Buffer> buf(nt + groups.size());
  for (int t = 0; t < nt; ++t) {
    if (windowed[t]) continue;
    Buffer& b = buf[root[t]];
    const int tlo = first[t], thi = std::max(last[t], first[t]);
    if (!b.used) b.used = true, b.lo = tlo, b.hi = thi;
    b.lo = std::min(b.lo, tlo), b.hi = std::max(b.hi, thi);
    b.size = std::max(b.size, size_of(t));
  }
  for (size_t k = 0; k < groups.size(); ++k) {
    Buffer& b = buf[nt + k];
    b.used = true;
    b.lo = b.hi = groups[k].first;
    b.size = groups[k].window_bytes * groups[k].slabs;
  }
  std::vector<int> order;
  for (int i = 0; i < static_cast<int>(buf.size()); ++i)
    if (buf[i].used) order.push_back(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return buf[a].size > buf[b].size; });
  std::vector<int> placed;
  for (int i : order) {
    // Candidate offsets: 0 and the end of every placed buffer alive at the same time.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (int p : placed)
      if (!reuse || (buf[p].lo <= buf[i].hi && buf[i].lo <= buf[p].hi))
        busy.emplace_back(buf[p].offset, buf[p].offset + buf[p].size);
    std::sort(busy.begin(), busy.end());
    int64_t off = 0;
    for (auto& b : busy) {
      if (off + buf[i].size <= b.first) break;
      off = std::max(off, b.second);
    }
    buf[i].offset = off;
    plan.bytes = std::max(plan.bytes, off + buf[i].size);
    placed.push_back(i);
  }
  for (size_t k = 0; k < groups.size(); ++k) plan.window_block.push_back(buf[nt + k].offset);
  for (int t = 0; t < nt; ++t) plan.offset[t] = buf[root[t]].offset;
  for (size_t k = 0; k < groups.size(); ++k)
    for (size_t w = 0; w < groups[k].windowed.size(); ++w)
      plan.offset[groups[k].windowed[w]] = plan.window_block[k] + groups[k].window_offset[w];
  return plan;
}

}  // namespace

ArenaPlan plan_arena(const Int8Model& m, int batch, bool reuse, bool in_place_residual,
                     const RowTilingOptions& rt) {
  ArenaPlan best = plan_with(m, batch, reuse, in_place_residual, {});
  if (!reuse || rt.slabs <= 0) return best;
  if (rt.last >= 0)
    return plan_with(m, batch, reuse, in_place_residual,
                     {make_row_group(m, 0, rt.last, rt.slabs, rt.band_rows)});
  // Every valid prefix of convolutions; a longer one must lower the peak by
  // more than 1 % (each banded layer adds steps and halo rows). The windows
  // of all slabs grow with slabs x band height: with many threads 8-row bands
  // cost about what they save, so the band halves (4, 2, 1 rows: more, smaller
  // calls) until the plan is at least 10 % below layer by layer.
  const ArenaPlan flat = best;
  for (int band = rt.band_rows; band >= 1; band /= 2) {
    ArenaPlan band_best = flat;
    for (int last = 0; last < static_cast<int>(m.nodes.size()); ++last) {
      if (!valid_row_group(m, 0, last)) {
        if (m.nodes[last].kind != NodeKind::Conv || m.nodes[last].run_float) break;
        continue;  // a tensor read both inside and after: try a longer prefix
      }
      ArenaPlan p = plan_with(m, batch, reuse, in_place_residual,
                              {make_row_group(m, 0, last, rt.slabs, band)});
      if (static_cast<double>(p.bytes) < 0.99 * static_cast<double>(band_best.bytes)) band_best = p;
    }
    if (band_best.bytes < best.bytes) best = band_best;
    if (static_cast<double>(best.bytes) < 0.9 * static_cast<double>(flat.bytes)) break;
  }
  return best;
}

Int8Runner::Int8Runner(const Int8Model& m, int8::Int8Kernel kernel, int max_batch, bool reuse_arena,
                       const RowTilingOptions& rt)
    : model_(m), kernel_(kernel), max_batch_(max_batch) {
  ECG_CHECK(int8::int8_kernel_supported(kernel), "int8 kernel ", int8::int8_kernel_name(kernel),
            " is not supported by this CPU");
  plan_ = plan_arena(m, max_batch, reuse_arena, /*in_place_residual=*/reuse_arena, rt);
  arena_.assign(static_cast<size_t>(plan_.bytes), 0);
  packed_.resize(m.nodes.size());
  for (size_t i = 0; i < m.nodes.size(); ++i) {
    const NodeQ& n = m.nodes[i];
    if ((n.kind == NodeKind::Conv || n.kind == NodeKind::Dense) && !n.run_float)
      packed_[i] = int8::pack_conv_int8(n.conv, n.weights.data(), kernel);
  }
  logits_acc_.resize(static_cast<size_t>(max_batch) * m.num_classes());
}

Tensor Int8Runner::run(const Tensor& images_in) {
  Tensor images = images_in.contiguous();
  const int S = model_.image_size;
  ECG_CHECK(images.dim() == 4 && images.size(1) == 3 && images.size(2) == S && images.size(3) == S,
            "int8 model expects images [N, 3, ", S, ", ", S, "], got ", shape_str(images.shape()));
  const int N = static_cast<int>(images.size(0));
  ECG_CHECK(N <= max_batch_, "int8 runner was planned for batch ", max_batch_, ", got ", N);
  auto ptr = [&](int t) { return arena_.data() + plan_.offset[t]; };
  const TensorQ& in = model_.tensors[0];
  quantize_nchw_to_nhwc(images.data<float>(), N, 3, S, S, {in.scale, in.zero_point}, ptr(0));
  Tensor logits = Tensor::empty({N, model_.num_classes()});
  size_t next_group = 0;
  for (size_t i = 0; i < model_.nodes.size(); ++i) {
    if (next_group < plan_.row_groups.size() &&
        plan_.row_groups[next_group].first == static_cast<int>(i)) {
      const RowGroup& g = plan_.row_groups[next_group];
      run_row_group(g, plan_.window_block[next_group], N);
      ++next_group;
      i = g.last;
      continue;
    }
    const NodeQ& n = model_.nodes[i];
    LayerScope layer(n.name);
    const bool mac = n.kind == NodeKind::Conv || n.kind == NodeKind::Dense;
    Conv2dShape cs = n.conv.shape;
    cs.N = N;
    if (mac && n.run_float) {
      OpTimer timer("float_conv", cs.flops(), 0, active_isa());
      run_float_node(n, N, &logits);
      continue;
    }
    OpTimer timer(
        mac ? "int8_conv" : node_kind_name(n.kind), mac ? cs.flops() : 0,
        mac ? 0 : 2.0 * model_.tensors[n.inputs[0]].bytes() / model_.tensors[n.inputs[0]].N * N,
        active_isa());
    switch (n.kind) {
      case NodeKind::Conv:
        packed_[i]->run(N, ptr(n.inputs[0]), ptr(n.output),
                        n.conv.residual ? ptr(n.inputs[1]) : nullptr);
        break;
      case NodeKind::MaxPool: {
        Pool2dShape s = n.pool;
        s.N = N;
        int8::max_pool_int8(s, ptr(n.inputs[0]), ptr(n.output));
        break;
      }
      case NodeKind::AvgPool: {
        int8::AvgPoolInt8Params p = n.avg;
        p.shape.N = N;
        int8::avg_pool_int8(p, ptr(n.inputs[0]), ptr(n.output));
        break;
      }
      case NodeKind::Add: {
        const TensorQ& t = model_.tensors[n.output];
        int8::add_int8(t.bytes() / t.N * N, ptr(n.inputs[0]), ptr(n.inputs[1]), n.add,
                       ptr(n.output));
        break;
      }
      case NodeKind::Dense: {
        packed_[i]->run(N, ptr(n.inputs[0]), logits_acc_.data(), nullptr);
        const float s_in = model_.tensors[n.inputs[0]].scale;
        const int K = n.conv.shape.K;
        float* out = logits.data<float>();
        for (int b = 0; b < N; ++b)
          for (int k = 0; k < K; ++k)
            out[b * K + k] = s_in * n.weight_scale[k] * static_cast<float>(logits_acc_[b * K + k]);
        break;
      }
    }
  }
  return logits;
}

void Int8Runner::run_row_group(const RowGroup& g, int64_t window_block, int N) {
  double flops = 0;
  for (int i = g.first; i <= g.last; ++i) {
    Conv2dShape cs = model_.nodes[i].conv.shape;
    cs.N = N;
    flops += cs.flops();
  }
  LayerScope layer(model_.nodes[g.first].name + ".." + model_.nodes[g.last].name);
  OpTimer timer("int8_conv_rows", flops, 0, active_isa());
  // One slab per thread, each on its own windows (so one thread runs every
  // image of a slab): no synchronisation inside.
  const int threads = std::max(1, std::min(num_threads(), g.slabs));
#pragma omp parallel for schedule(static, 1) num_threads(threads)
  for (int slab = 0; slab < g.slabs; ++slab)
    for (int n = 0; n < N; ++n) {
      int8_t* windows = arena_.data() + window_block + g.window_bytes * slab;
      RowWalk walk(model_, g, slab);
      // A tensor's row r: in its window (windowed) or in image n of the whole tensor.
      auto row_ptr = [&](int t, int r) {
        const TensorQ& tq = model_.tensors[t];
        const int64_t row_bytes = static_cast<int64_t>(tq.W) * tq.C;
        const int w = g.index_of(t);
        if (w >= 0) return windows + g.window_offset[w] + (r - walk.window_of(t).row0) * row_bytes;
        return arena_.data() + plan_.offset[t] + (static_cast<int64_t>(n) * tq.H + r) * row_bytes;
      };
      walk.run(
          [&](int node, int p0, int p1) {
            const NodeQ& nd = model_.nodes[node];
            const int x = nd.inputs[0];
            const RowWindow win = walk.window_of(x);
            packed_[node]->run_rows(p0, p1, row_ptr(x, win.row0), win.row0, win.rows,
                                    row_ptr(nd.output, p0),
                                    nd.conv.residual ? row_ptr(nd.inputs[1], p0) : nullptr);
          },
          [&](int t, int rows) {
            const TensorQ& tq = model_.tensors[t];
            const int64_t row_bytes = static_cast<int64_t>(tq.W) * tq.C;
            const RowWindow win = walk.window_of(t);
            int8_t* base = windows + g.window_offset[g.index_of(t)];
            std::memmove(base, base + rows * row_bytes, (win.rows - rows) * row_bytes);
          });
    }
}

void Int8Runner::run_float_node(const NodeQ& n, int N, Tensor* logits) {
  NoGradGuard no_grad;
  auto ptr = [&](int t) { return arena_.data() + plan_.offset[t]; };
  const TensorQ& tin = model_.tensors[n.inputs[0]];
  const Conv2dShape& s = n.conv.shape;
  const QParams pin{tin.scale, tin.zero_point};
  if (n.kind == NodeKind::Dense) {
    // The flattened NHWC input against the reordered float weights, in double.
    const int64_t in = tin.bytes() / tin.N;
    ECG_CHECK(in == static_cast<int64_t>(s.C), "float dense ", n.name, ": input of ", in,
              " values, weights for ", s.C);
    const int8_t* x = ptr(n.inputs[0]);
    float* out = logits->data<float>();
    for (int b = 0; b < N; ++b)
      for (int k = 0; k < s.K; ++k) {
        double acc = n.bias_f32[k];
        const float* w = n.weights_f32.data() + static_cast<size_t>(k) * in;
        for (int64_t i = 0; i < in; ++i)
          acc += static_cast<double>(w[i]) * dequantize_value(x[b * in + i], pin);
        out[b * s.K + k] = static_cast<float>(acc);
      }
    return;
  }
  // Conv: dequantize -> float conv (the float path's kernels) -> (+ residual)
  // -> quantize to the output tensor's parameters, clamped like the int8 node.
  Tensor x = Tensor::empty({N, s.C, s.H, s.W});
  dequantize_nhwc_to_nchw(ptr(n.inputs[0]), N, s.C, s.H, s.W, pin, x.data<float>());
  Tensor w = Tensor::from_vector(n.weights_f32, {s.K, s.C, s.R, s.S});
  Tensor bias = Tensor::from_vector(n.bias_f32, {s.K});
  Conv2dOptions o =
      Conv2dOptions::explicit_pad(s.stride_h, s.pad_top, s.pad_left, s.pad_bottom, s.pad_right);
  o.stride_w = s.stride_w;
  Tensor y = conv2d(x, w, bias, o);
  int32_t lo = n.conv.qmin, hi = n.conv.qmax;
  if (n.conv.residual) {
    const TensorQ& tr = model_.tensors[n.inputs[1]];
    Tensor r = Tensor::empty({N, s.K, s.P, s.Q});
    dequantize_nhwc_to_nchw(ptr(n.inputs[1]), N, s.K, s.P, s.Q, {tr.scale, tr.zero_point},
                            r.data<float>());
    y = add(y, r);
    lo = n.conv.add.qmin, hi = n.conv.add.qmax;
  }
  y = y.contiguous();
  const TensorQ& tout = model_.tensors[n.output];
  int8_t* out = ptr(n.output);
  quantize_nchw_to_nhwc(y.data<float>(), N, s.K, s.P, s.Q, {tout.scale, tout.zero_point}, out);
  const int64_t count = static_cast<int64_t>(N) * s.K * s.P * s.Q;
  for (int64_t i = 0; i < count; ++i)
    out[i] = static_cast<int8_t>(std::min<int32_t>(hi, std::max<int32_t>(lo, out[i])));
}

std::vector<std::string> Int8Model::float_nodes() const {
  std::vector<std::string> r;
  for (const NodeQ& n : nodes)
    if (n.run_float) r.push_back(n.name);
  return r;
}

Int8Model with_float_nodes(const Int8Model& m, const std::vector<std::string>& names) {
  Int8Model r = m;
  for (const std::string& name : names) {
    auto it = std::find_if(r.nodes.begin(), r.nodes.end(),
                           [&](const NodeQ& n) { return n.name == name; });
    ECG_CHECK(it != r.nodes.end(), "no node named '", name, "' in the int8 graph");
    ECG_CHECK(it->kind == NodeKind::Conv || it->kind == NodeKind::Dense, "node '", name, "' is a ",
              node_kind_name(it->kind), ", only conv and dense layers can run in float");
    const Conv2dShape& s = it->conv.shape;
    ECG_CHECK(it->weights_f32.size() == static_cast<size_t>(s.K) * s.C * s.R * s.S &&
                  it->bias_f32.size() == static_cast<size_t>(s.K),
              "node '", name, "' has no float weights (quantize from the checkpoint again)");
    it->run_float = true;
  }
  return r;
}

std::vector<int8_t> Int8Runner::tensor_bytes(int t, int batch) const {
  const TensorQ& q = model_.tensors[t];
  const int8_t* p = arena_.data() + plan_.offset[t];
  return std::vector<int8_t>(p, p + q.bytes() / q.N * batch);
}

}  // namespace ecg::quant
