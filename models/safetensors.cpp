#include "models/safetensors.h"

#include "data/file_util.h"
#include "kernels/enum_names.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace ecg {

namespace {

const EnumName<DType> kSafetensorsDTypes[] = {{DType::F32, "F32"}, {DType::F64, "F64"},
                                              {DType::F16, "F16"}, {DType::I8, "I8"},
                                              {DType::U8, "U8"},   {DType::I32, "I32"}};

const char* st_dtype(DType t) {
  return name_of(kSafetensorsDTypes, t);
}

bool parse_st_dtype(const std::string& s, DType& out) {
  return parse_name(kSafetensorsDTypes, s, out);
}

// Header guard against absurd allocations from a corrupt length field.
constexpr uint64_t kMaxHeaderBytes = 100u << 20;

struct Span {
  uint64_t begin, end;
  std::string name;
};

// The data section must be the tensors' bytes back to back, as the Python
// package requires too: overlapping spans would alias two tensors (a file
// edited by hand or crafted), gaps and trailing bytes mean the header does
// not describe the file. Zero-byte tensors may sit anywhere.
void check_layout(const std::string& path, std::vector<Span> spans, uint64_t data_size) {
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t at = 0;
  const Span* prev = nullptr;
  for (const Span& s : spans) {
    if (s.begin == s.end) continue;
    ECG_CHECK(s.begin >= at, "checkpoint '", path, "': field data_offsets of tensor '", s.name,
              "' [", s.begin, ", ", s.end, ") overlaps tensor '", prev ? prev->name : "", "' [",
              prev ? prev->begin : 0, ", ", at, "); expected non-overlapping tensors");
    ECG_CHECK(s.begin == at, "checkpoint '", path, "': field data_offsets of tensor '", s.name,
              "' starts at ", s.begin, ", expected ", at, " (unused bytes before it)");
    at = s.end;
    prev = &s;
  }
  ECG_CHECK(at == data_size, "checkpoint '", path, "' has ", data_size - at,
            " trailing bytes after its last tensor (data section of ", data_size,
            " bytes, tensors end at ", at, ")");
}

}  // namespace

void write_file_atomic(const std::string& path, const std::string& bytes) {
  data::remove_stale_temporaries(path);
  data::write_file_atomic(path, bytes.data(), bytes.size());
}

void save_safetensors(const std::string& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  std::vector<Tensor> cpu;
  for (const auto& [name, t] : tensors) {
    ECG_CHECK(t.defined(), "save_safetensors: tensor '", name, "' is undefined");
    Tensor c = t.to(Device::cpu()).contiguous();
    uint64_t n = c.nbytes();
    header[name] = {{"dtype", st_dtype(c.dtype())},
                    {"shape", c.shape()},
                    {"data_offsets", {offset, offset + n}}};
    offset += n;
    cpu.push_back(c);
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string h = header.dump();
  // Pad the header with spaces to 8 bytes so the data is aligned, as the Python package does.
  while ((h.size() + 8) % 8) h.push_back(' ');
  std::string out;
  out.reserve(8 + h.size() + offset);
  uint64_t hl = h.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((hl >> (8 * i)) & 0xff));
  out += h;
  for (const Tensor& c : cpu) out.append(static_cast<const char*>(c.raw_data()), c.nbytes());
  write_file_atomic(path, out);
}

SafetensorsFile load_safetensors(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  ECG_CHECK(f, "cannot open checkpoint '", path, "'");
  const uint64_t size = static_cast<uint64_t>(f.tellg());
  f.seekg(0);
  ECG_CHECK(size >= 8, "checkpoint '", path, "' is truncated (", size, " bytes, no header)");
  unsigned char lenbuf[8];
  f.read(reinterpret_cast<char*>(lenbuf), 8);
  uint64_t hl = 0;
  for (int i = 0; i < 8; ++i) hl |= static_cast<uint64_t>(lenbuf[i]) << (8 * i);
  ECG_CHECK(hl <= kMaxHeaderBytes && hl <= size - 8, "checkpoint '", path,
            "' is malformed: header of ", hl, " bytes in a file of ", size, " bytes");
  std::string h(hl, '\0');
  f.read(&h[0], static_cast<std::streamsize>(hl));
  ECG_CHECK(f, "checkpoint '", path, "': cannot read the header");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(h);
  } catch (const std::exception& e) {
    fail("checkpoint '", path, "' has a malformed JSON header: ", e.what());
  }
  ECG_CHECK(header.is_object(), "checkpoint '", path, "': header is not a JSON object");
  const uint64_t data_start = 8 + hl, data_size = size - data_start;
  SafetensorsFile out;
  std::vector<Span> spans;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& e = it.value();
    if (name == "__metadata__") {
      ECG_CHECK(e.is_object(), "checkpoint '", path, "': __metadata__ is not an object");
      for (auto m = e.begin(); m != e.end(); ++m) {
        ECG_CHECK(m.value().is_string(), "checkpoint '", path, "': metadata '", m.key(),
                  "' is not a string");
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    DType dt;
    ECG_CHECK(e.is_object() && e.contains("dtype") && e.contains("shape") &&
                  e.contains("data_offsets") && e["dtype"].is_string() && e["shape"].is_array() &&
                  e["data_offsets"].is_array() && e["data_offsets"].size() == 2,
              "checkpoint '", path, "': entry '", name, "' is malformed");
    // I64 has no ecg dtype; PyTorch writes it for BatchNorm's num_batches_tracked.
    // Such tensors load as I32 when every value fits, else the load fails.
    const bool is_i64 = e["dtype"] == "I64";
    if (is_i64) dt = DType::I32;
    ECG_CHECK(is_i64 || parse_st_dtype(e["dtype"].get<std::string>(), dt), "checkpoint '", path,
              "': tensor '", name, "' has unsupported dtype ", e["dtype"].dump());
    Shape shape;
    // `extent` multiplies the non-zero dimensions: a zero one empties the
    // tensor but its strides still multiply the others.
    uint64_t numel = 1, extent = 1;
    for (const auto& d : e["shape"]) {
      ECG_CHECK(d.is_number_unsigned() || (d.is_number_integer() && d.get<int64_t>() >= 0),
                "checkpoint '", path, "': tensor '", name, "' has an invalid shape");
      uint64_t v = d.get<uint64_t>();
      ECG_CHECK(v < (1ull << 40) && (v == 0 || extent <= (1ull << 40) / v), "checkpoint '", path,
                "': tensor '", name, "' shape is too large");
      shape.push_back(static_cast<int64_t>(v));
      numel *= v;
      if (v > 0) extent *= v;
    }
    const auto& off = e["data_offsets"];
    ECG_CHECK(off[0].is_number_unsigned() && off[1].is_number_unsigned(), "checkpoint '", path,
              "': tensor '", name, "' has invalid data offsets");
    uint64_t b = off[0].get<uint64_t>(), en = off[1].get<uint64_t>();
    ECG_CHECK(b <= en && en <= data_size, "checkpoint '", path,
              "' is truncated or malformed: tensor '", name, "' claims bytes [", b, ", ", en,
              ") but the file has ", data_size, " data bytes");
    const uint64_t elem = is_i64 ? 8 : dtype_size(dt);
    ECG_CHECK(en - b == numel * elem, "checkpoint '", path, "': tensor '", name, "' has ", en - b,
              " bytes for shape ", shape_str(shape), " of ", is_i64 ? "i64" : dtype_name(dt));
    spans.push_back({b, en, name});
    Tensor t = Tensor::empty(shape, dt);
    f.seekg(static_cast<std::streamoff>(data_start + b));
    if (is_i64) {
      std::vector<int64_t> wide(numel);
      if (en > b)
        f.read(reinterpret_cast<char*>(wide.data()), static_cast<std::streamsize>(en - b));
      int32_t* narrow = t.data<int32_t>();
      for (uint64_t i = 0; i < numel; ++i) {
        ECG_CHECK(wide[i] >= INT32_MIN && wide[i] <= INT32_MAX, "checkpoint '", path, "': tensor '",
                  name, "' (I64) holds ", wide[i], ", outside the int32 range ecg loads I64 into");
        narrow[i] = static_cast<int32_t>(wide[i]);
      }
    } else if (en > b) {
      f.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(en - b));
    }
    ECG_CHECK(f, "checkpoint '", path, "': cannot read tensor '", name, "'");
    out.tensors[name] = t;
  }
  check_layout(path, std::move(spans), data_size);
  return out;
}

}  // namespace ecg
