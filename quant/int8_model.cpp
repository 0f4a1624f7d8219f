#include "quant/int8_model.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/autograd.h"
#include "core/ops.h"
#include "core/profiler.h"
#include "data/file_util.h"
#include "quant/quantize.h"

namespace ecg::quant {

namespace {

constexpr char kMagic[8] = {'E', 'C', 'G', 'I', 'N', 'T', '8', '\0'};
constexpr uint32_t kVersion = 2;        // written; 2 adds float-fallback nodes
constexpr uint32_t kOldestVersion = 1;  // oldest still read
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
  for (int i = 0; i < 15; ++i) *f[i] = j[i].get<int>();
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
  for (int i = 0; i < 14; ++i) *f[i] = j[i].get<int>();
  return s;
}
nlohmann::json add_json(const int8::AddRequant& a) {
  return {a.zp_a, a.zp_b, a.mul_a, a.mul_b, a.shift, a.zp_out, a.qmin, a.qmax};
}
int8::AddRequant add_from(const nlohmann::json& j) {
  int8::AddRequant a;
  int32_t* f[] = {&a.zp_a, &a.zp_b, &a.mul_a, &a.mul_b, &a.shift, &a.zp_out, &a.qmin, &a.qmax};
  ECG_CHECK(j.is_array() && j.size() == 8, "add parameters must have 8 fields");
  for (int i = 0; i < 8; ++i) *f[i] = j[i].get<int32_t>();
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

void save_int8_model(const std::string& path, const Int8Model& m) {
  BlobWriter blobs;
  nlohmann::json h;
  h["model"] = m.model_name;
  h["image_size"] = m.image_size;
  h["classes"] = m.classes;
  h["preprocessing"] = m.preprocessing;
  h["calibration"] = m.calibration;
  nlohmann::json tensors = nlohmann::json::array();
  for (const TensorQ& t : m.tensors)
    tensors.push_back({{"name", t.name},
                       {"nhwc", {t.N, t.H, t.W, t.C}},
                       {"scale", t.scale},
                       {"zero_point", t.zero_point}});
  h["tensors"] = tensors;
  nlohmann::json nodes = nlohmann::json::array();
  for (const NodeQ& n : m.nodes) {
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
        ECG_CHECK(n.weights_f32.size() ==
                          static_cast<size_t>(c.shape.K) * c.shape.C * c.shape.R * c.shape.S &&
                      n.bias_f32.size() == static_cast<size_t>(c.shape.K),
                  "save_int8_model: float node ", n.name, " has no float weights");
        j["float"] = true;
        j["weights_f32"] = blobs.put(n.weights_f32.data(), n.weights_f32.size() * 4);
        j["bias_f32"] = blobs.put(n.bias_f32.data(), n.bias_f32.size() * 4);
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
    nodes.push_back(j);
  }
  h["nodes"] = nodes;
  std::string header = h.dump();
  while ((16 + header.size()) % kAlign) header.push_back(' ');
  std::string out(kMagic, 8);
  uint32_t v = kVersion, hl = static_cast<uint32_t>(header.size());
  out.append(reinterpret_cast<const char*>(&v), 4);
  out.append(reinterpret_cast<const char*>(&hl), 4);
  out += header;
  out += blobs.data;
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
  try {
    nlohmann::json h = nlohmann::json::parse(f.data + 16, f.data + 16 + hl);
    auto blob = [&](const nlohmann::json& j, size_t elem, size_t expect_count) {
      uint64_t off = j.at(0).get<uint64_t>(), n = j.at(1).get<uint64_t>();
      ECG_CHECK(off <= blob_size && n <= blob_size - off, "'", path,
                "' is truncated or malformed: a blob at ", off, " of ", n,
                " bytes passes the end (", blob_size, " bytes of data)");
      ECG_CHECK(n == elem * expect_count, "'", path, "': blob of ", n, " bytes, expected ",
                elem * expect_count);
      return std::make_pair(blob_base + off, static_cast<size_t>(n));
    };
    m.model_name = h.at("model").get<std::string>();
    m.image_size = h.at("image_size").get<int>();
    m.classes = h.at("classes").get<std::vector<std::string>>();
    m.preprocessing = h.value("preprocessing", nlohmann::json::object());
    m.calibration = h.value("calibration", nlohmann::json::object());
    for (const auto& t : h.at("tensors")) {
      TensorQ q;
      q.name = t.at("name").get<std::string>();
      const auto& s = t.at("nhwc");
      q.N = s.at(0), q.H = s.at(1), q.W = s.at(2), q.C = s.at(3);
      ECG_CHECK(q.N > 0 && q.H > 0 && q.W > 0 && q.C > 0 && q.bytes() < (int64_t(1) << 34), "'",
                path, "': tensor ", q.name, " has an invalid shape");
      q.scale = t.at("scale").get<float>();
      q.zero_point = t.at("zero_point").get<int32_t>();
      ECG_CHECK(std::isfinite(q.scale) && q.scale > 0, "'", path, "': tensor ", q.name,
                " has scale ", q.scale);
      m.tensors.push_back(q);
    }
    const int nt = static_cast<int>(m.tensors.size());
    for (const auto& j : h.at("nodes")) {
      NodeQ n;
      ECG_CHECK(parse_kind(j.at("kind").get<std::string>(), n.kind), "'", path,
                "': unknown node kind ", j.at("kind").dump());
      n.name = j.at("name").get<std::string>();
      n.inputs = j.at("inputs").get<std::vector<int>>();
      n.output = j.at("output").get<int>();
      for (int t : n.inputs)
        ECG_CHECK(t >= 0 && t < nt, "'", path, "': node ", n.name, " reads tensor ", t);
      ECG_CHECK(n.output >= -1 && n.output < nt, "'", path, "': node ", n.name, " writes tensor ",
                n.output);
      if (n.kind == NodeKind::Conv || n.kind == NodeKind::Dense) {
        auto& c = n.conv;
        c.shape = conv_shape_from(j.at("shape"));
        ECG_CHECK(c.shape.K > 0 && c.shape.C > 0 && c.shape.R > 0 && c.shape.S > 0, "'", path,
                  "': node ", n.name, " has an invalid shape");
        c.zp_in = j.at("zp_in");
        c.zp_out = j.at("zp_out");
        c.qmin = j.at("qmin");
        c.qmax = j.at("qmax");
        c.output = j.at("int32_out").get<bool>() ? int8::OutputMode::Int32 : int8::OutputMode::Int8;
        c.residual = j.at("residual");
        if (c.residual) c.add = add_from(j.at("add"));
        const size_t K = c.shape.K, wn = K * c.shape.C * c.shape.R * c.shape.S;
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
          m.nodes.push_back(std::move(n));
          continue;
        }
        auto w = blob(j.at("weights"), 1, wn);
        n.weights.assign(reinterpret_cast<const int8_t*>(w.first),
                         reinterpret_cast<const int8_t*>(w.first) + wn);
        for (int8_t v : n.weights)
          ECG_CHECK(v != -128, "'", path, "': node ", n.name, " has weight -128");
        auto b = blob(j.at("bias"), 4, K);
        c.bias.resize(K);
        std::memcpy(c.bias.data(), b.first, b.second);
        auto r = blob(j.at("requant"), 8, K);
        std::vector<int32_t> rq(2 * K);
        std::memcpy(rq.data(), r.first, r.second);
        for (size_t k = 0; k < K; ++k) {
          ECG_CHECK(rq[2 * k + 1] >= 1 && rq[2 * k + 1] <= 62, "'", path, "': node ", n.name,
                    " has requant shift ", rq[2 * k + 1]);
          c.requant.push_back({rq[2 * k], rq[2 * k + 1]});
        }
        auto s = blob(j.at("weight_scale"), 4, K);
        n.weight_scale.resize(K);
        std::memcpy(n.weight_scale.data(), s.first, s.second);
      } else if (n.kind == NodeKind::MaxPool) {
        n.pool = pool_shape_from(j.at("pool"));
      } else if (n.kind == NodeKind::AvgPool) {
        n.avg.shape = pool_shape_from(j.at("pool"));
        n.avg.zp_in = j.at("zp_in");
        n.avg.zp_out = j.at("zp_out");
        n.avg.qmin = j.at("qmin");
        n.avg.qmax = j.at("qmax");
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
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    fail("'", path, "' is malformed: ", e.what());
  }
  ECG_CHECK(!m.tensors.empty() && !m.nodes.empty() && m.nodes.back().kind == NodeKind::Dense, "'",
            path, "' has no graph ending in a dense layer");
  return m;
}

ArenaPlan plan_arena(const Int8Model& m, int batch, bool reuse, bool in_place_residual) {
  const int nt = static_cast<int>(m.tensors.size());
  std::vector<int> first(nt, -1), last(nt, -1);
  first[0] = -1;
  for (int i = 0; i < static_cast<int>(m.nodes.size()); ++i) {
    const NodeQ& n = m.nodes[i];
    if (n.output >= 0) first[n.output] = i;
    for (int t : n.inputs) last[t] = std::max(last[t], i);
  }
  ArenaPlan plan;
  plan.offset.assign(nt, 0);
  auto size_of = [&](int t) {
    int64_t b = m.tensors[t].bytes() / std::max(1, m.tensors[t].N) * batch;
    return (b + 63) / 64 * 64;
  };
  for (int t = 0; t < nt; ++t) plan.naive_bytes += size_of(t);
  // Groups of tensors sharing bytes: an in-place conv output joins its
  // residual's group; a group lives from its first member's birth to its last
  // member's last use.
  std::vector<int> root(nt);
  for (int t = 0; t < nt; ++t) root[t] = t;
  if (reuse && in_place_residual)
    for (int i = 0; i < static_cast<int>(m.nodes.size()); ++i) {
      const NodeQ& n = m.nodes[i];
      if (n.kind != NodeKind::Conv || !n.conv.residual || n.output < 0 || n.inputs.size() != 2)
        continue;
      const int x = n.inputs[0], res = n.inputs[1];
      if (last[res] == i && root[x] != root[res] && size_of(res) == size_of(n.output))
        root[n.output] = root[res];
    }
  std::vector<int> lo(nt, 0), hi(nt, 0);
  std::vector<int64_t> group_size(nt, 0);
  std::vector<bool> is_root(nt, false);
  for (int t = 0; t < nt; ++t) {
    const int r = root[t];
    const int tlo = first[t], thi = std::max(last[t], first[t]);
    if (!is_root[r]) {
      is_root[r] = true;
      lo[r] = tlo, hi[r] = thi;
    }
    lo[r] = std::min(lo[r], tlo), hi[r] = std::max(hi[r], thi);
    group_size[r] = std::max(group_size[r], size_of(t));
  }
  std::vector<int> order;
  for (int t = 0; t < nt; ++t)
    if (is_root[t]) order.push_back(t);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return group_size[a] > group_size[b]; });
  std::vector<int> placed;
  for (int t : order) {
    // Candidate offsets: 0 and the end of every placed tensor alive at the same time.
    std::vector<std::pair<int64_t, int64_t>> busy;
    for (int p : placed)
      if (!reuse || (lo[p] <= hi[t] && lo[t] <= hi[p]))
        busy.emplace_back(plan.offset[p], plan.offset[p] + group_size[p]);
    std::sort(busy.begin(), busy.end());
    int64_t off = 0;
    for (auto& b : busy) {
      if (off + group_size[t] <= b.first) break;
      off = std::max(off, b.second);
    }
    plan.offset[t] = off;
    plan.bytes = std::max(plan.bytes, off + group_size[t]);
    placed.push_back(t);
  }
  for (int t = 0; t < nt; ++t) plan.offset[t] = plan.offset[root[t]];
  return plan;
}

Int8Runner::Int8Runner(const Int8Model& m, int8::Int8Kernel kernel, int max_batch, bool reuse_arena)
    : model_(m), kernel_(kernel), max_batch_(max_batch) {
  ECG_CHECK(int8::int8_kernel_supported(kernel), "int8 kernel ", int8::int8_kernel_name(kernel),
            " is not supported by this CPU");
  plan_ = plan_arena(m, max_batch, reuse_arena, /*in_place_residual=*/reuse_arena);
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
  for (size_t i = 0; i < model_.nodes.size(); ++i) {
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
