// Reading .onnx files into GraphModel: protobuf parse, opset and operator
// checks, onnx::checker, then the graph (see models/onnx.h).
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <algorithm>
#include "models/onnx.h"
#include "models/onnx_proto.h"

namespace ecg {

bool onnx_supported() {
  return true;
}
void require_onnx(const std::string&) {}

namespace onnx_io {

std::string read_file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  ECG_CHECK(f.good(), "'", path, "': cannot open the file");
  std::ostringstream os;
  os << f.rdbuf();
  return os.str();
}

// A message on one line (the checker's contain newlines).
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

GraphValue tensor_value(const onnx::TensorProto& t, const std::string& where) {
  ECG_CHECK(t.data_location() != onnx::TensorProto_DataLocation_EXTERNAL, where, ": tensor '",
            t.name(),
            "' keeps its data in an external file (not supported; save the model with "
            "its weights inside)");
  Shape shape(t.dims().begin(), t.dims().end());
  for (int64_t d : shape) ECG_CHECK(d >= 0, where, ": tensor '", t.name(), "' has dimension ", d);
  const int64_t n = shape_numel(shape);
  const bool raw = t.has_raw_data();
  if (t.data_type() == onnx::TensorProto_DataType_FLOAT) {
    const int64_t have = raw ? static_cast<int64_t>(t.raw_data().size() / 4) : t.float_data_size();
    ECG_CHECK(have == n && (!raw || t.raw_data().size() % 4 == 0), where, ": tensor '", t.name(),
              "' holds ", have, " floats for shape ", shape_str(shape));
    Tensor v = Tensor::empty(shape);
    if (raw)
      std::memcpy(v.data<float>(), t.raw_data().data(), static_cast<size_t>(n) * 4);
    else
      std::copy(t.float_data().begin(), t.float_data().end(), v.data<float>());
    return GraphValue::of(v);
  }
  const int type = t.data_type();
  const size_t width = type == onnx::TensorProto_DataType_INT64   ? 8
                       : type == onnx::TensorProto_DataType_INT32 ? 4
                       : type == onnx::TensorProto_DataType_BOOL  ? 1
                                                                  : 0;
  ECG_CHECK(width > 0, where, ": tensor '", t.name(), "' has element type ",
            onnx::TensorProto_DataType_Name(t.data_type()),
            " (ecgcnn reads float32, and int64/int32/bool for shapes and flags)");
  std::vector<int64_t> v(static_cast<size_t>(n));
  if (raw) {
    ECG_CHECK(t.raw_data().size() == static_cast<size_t>(n) * width, where, ": tensor '", t.name(),
              "' holds ", t.raw_data().size(), " bytes for shape ", shape_str(shape));
    const char* p = t.raw_data().data();
    for (int64_t i = 0; i < n; ++i) {
      if (width == 8) {
        std::memcpy(&v[i], p + i * 8, 8);
      } else if (width == 4) {
        int32_t x;
        std::memcpy(&x, p + i * 4, 4);
        v[i] = x;
      } else {
        v[i] = p[i] != 0;
      }
    }
  } else if (width == 8) {
    ECG_CHECK(t.int64_data_size() == n, where, ": tensor '", t.name(), "' holds ",
              t.int64_data_size(), " values for shape ", shape_str(shape));
    std::copy(t.int64_data().begin(), t.int64_data().end(), v.begin());
  } else {
    ECG_CHECK(t.int32_data_size() == n, where, ": tensor '", t.name(), "' holds ",
              t.int32_data_size(), " values for shape ", shape_str(shape));
    std::copy(t.int32_data().begin(), t.int32_data().end(), v.begin());
  }
  return GraphValue::ints(std::move(v), shape);
}

}  // namespace onnx_io

namespace {

using onnx_io::one_line;

int default_opset(const onnx::ModelProto& m, const std::string& path) {
  int opset = -1;
  for (const auto& o : m.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") opset = static_cast<int>(o.version());
  ECG_CHECK(opset >= 0, "'", path, "': the model imports no default (ai.onnx) opset");
  ECG_CHECK(opset >= 1 && opset <= kOnnxMaxOpset, "'", path, "': opset ", opset,
            " is not supported (ecgcnn reads opsets up to ", kOnnxMaxOpset, ")");
  return opset;
}

// The first opset whose definition of an operator GraphModel implements:
// before it, Add and Gemm broadcast by attribute, BatchNormalization and
// Dropout carry is_test, Relu consumed_inputs, and Reshape takes its shape as
// an attribute. The others are unchanged since opset 1 in what we run.
int first_supported_opset(const std::string& op) {
  if (op == "Add" || op == "Gemm" || op == "BatchNormalization" || op == "Dropout") return 7;
  if (op == "Relu") return 6;
  if (op == "Reshape") return 5;
  return 1;
}

GraphAttributes parse_attributes(const onnx::NodeProto& n, const std::string& where) {
  GraphAttributes a;
  for (const onnx::AttributeProto& at : n.attribute()) {
    switch (at.type()) {
      case onnx::AttributeProto_AttributeType_INT:
        a.ints[at.name()] = {at.i()};
        break;
      case onnx::AttributeProto_AttributeType_INTS:
        a.ints[at.name()] = std::vector<int64_t>(at.ints().begin(), at.ints().end());
        break;
      case onnx::AttributeProto_AttributeType_FLOAT:
        a.floats[at.name()] = at.f();
        break;
      case onnx::AttributeProto_AttributeType_STRING:
        a.strings[at.name()] = at.s();
        break;
      default:
        fail(where, ": attribute '", at.name(), "' has type ",
             onnx::AttributeProto_AttributeType_Name(at.type()),
             ", which no supported operator "
             "takes");
    }
  }
  return a;
}

bool all_ones(const std::vector<int64_t>& v) {
  for (int64_t x : v)
    if (x != 1) return false;
  return true;
}

std::string join(const std::vector<int64_t>& v) {
  std::string s;
  for (int64_t x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

// What GraphModel refuses of an operator it otherwise runs; "" when the node
// is fine. The node tests skip exactly the cases that meet these.
std::string refused_attribute(const GraphNode& n, const std::map<std::string, GraphValue>& inits) {
  const GraphAttributes& a = n.attrs;
  auto window_rank = [&]() -> std::string {
    auto k = a.ints.find("kernel_shape");
    if (k != a.ints.end() && k->second.size() != 2)
      return "kernel_shape=" + join(k->second) + " (only 2-D windows are supported)";
    return "";
  };
  if (n.op == "Conv") {
    if (!all_ones(a.get_ints("dilations", {})))
      return "dilations=" + join(a.get_ints("dilations", {})) + " (only dilation 1)";
    if (a.get_int("group", 1) != 1)
      return "group=" + std::to_string(a.get_int("group", 1)) + " (only group 1)";
    return window_rank();
  }
  if (n.op == "MaxPool" || n.op == "AveragePool") {
    if (a.get_int("ceil_mode", 0) != 0) return "ceil_mode=1 (only floor mode)";
    if (!all_ones(a.get_ints("dilations", {})))
      return "dilations=" + join(a.get_ints("dilations", {})) + " (only dilation 1)";
    if (a.get_int("storage_order", 0) != 0) return "storage_order=1 (row-major only)";
    if (n.outputs.size() > 1) return "the Indices output";
    return window_rank();
  }
  if (n.op == "BatchNormalization") {
    if (a.get_int("training_mode", 0) != 0) return "training_mode=1 (inference only)";
    if (a.get_int("spatial", 1) != 1) return "spatial=0";
    if (n.outputs.size() > 1) return "the running-statistics outputs (training mode)";
  }
  if (n.op == "Dropout") {
    if (n.outputs.size() > 1 && !n.outputs[1].empty()) return "the mask output";
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
      auto it = inits.find(n.inputs[2]);
      if (it == inits.end() || !it->second.is_int64 || it->second.i64.empty() ||
          it->second.i64[0] != 0)
        return "a training_mode input (inference only)";
    }
  }
  return "";
}

GraphInput parse_graph_input(const onnx::ValueInfoProto& v, const std::string& path) {
  GraphInput gi;
  gi.name = v.name();
  ECG_CHECK(v.type().has_tensor_type(), "'", path, "': graph input '", v.name(),
            "' is not a tensor");
  const auto& tt = v.type().tensor_type();
  const int et = tt.elem_type();
  ECG_CHECK(et == onnx::TensorProto_DataType_FLOAT || et == onnx::TensorProto_DataType_INT64, "'",
            path, "': graph input '", v.name(), "' has element type ",
            onnx::TensorProto_DataType_Name(et), " (ecgcnn runs float32 graphs)");
  gi.is_int64 = et == onnx::TensorProto_DataType_INT64;
  for (const auto& d : tt.shape().dim()) gi.shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
  return gi;
}

}  // namespace

namespace {

struct ParsedModel {
  GraphSpec spec;
  ModelConfig cfg;
  std::map<std::string, std::string> metadata;
};

GraphNode parse_node(const onnx::NodeProto& np, int index, const std::string& path) {
  GraphNode n;
  n.name = np.name().empty() ? np.op_type() + "_" + std::to_string(index) : np.name();
  n.op = np.op_type();
  const std::vector<std::string>& ops = graph_supported_ops();
  const bool known = (np.domain().empty() || np.domain() == "ai.onnx") &&
                     std::find(ops.begin(), ops.end(), n.op) != ops.end();
  if (!known) {
    std::string list;
    for (const auto& o : ops) list += (list.empty() ? "" : ", ") + o;
    fail("'", path, "': node '", n.name, "' uses operator ",
         np.domain().empty() ? "" : np.domain() + ".", n.op,
         ", which ecgcnn does not support (supported: ", list, ")");
  }
  n.inputs.assign(np.input().begin(), np.input().end());
  n.outputs.assign(np.output().begin(), np.output().end());
  n.attrs = parse_attributes(np, "'" + path + "': node '" + n.name + "' (" + n.op + ")");
  return n;
}

void check_node_opset(const GraphNode& n, int opset, const std::string& path) {
  const int first = first_supported_opset(n.op);
  ECG_CHECK(opset >= first, "'", path, "': node '", n.name, "' (", n.op, ") at opset ", opset,
            " has an older definition (ecgcnn reads ", n.op, " from opset ", first, ")");
}

ParsedModel parse_model(const std::string& path) {
  const std::string bytes = onnx_io::read_file_bytes(path);
  onnx::ModelProto m;
  ECG_CHECK(!bytes.empty() && m.ParseFromString(bytes) && m.has_graph(), "'", path,
            "': not an ONNX model (the protobuf does not parse or has no graph; truncated or "
            "corrupt?)");
  ParsedModel pm;
  GraphSpec& spec = pm.spec;
  spec.opset = default_opset(m, path);
  const onnx::GraphProto& g = m.graph();
  spec.name = g.name();
  for (int i = 0; i < g.node_size(); ++i) {
    spec.nodes.push_back(parse_node(g.node(i), i, path));
    check_node_opset(spec.nodes.back(), spec.opset, path);
  }
  try {
    onnx::checker::check_model(m);
  } catch (const std::exception& e) {
    fail("'", path, "': the ONNX checker refuses the model: ", one_line(e.what()));
  }
  for (const onnx::TensorProto& t : g.initializer())
    spec.initializers[t.name()] = onnx_io::tensor_value(t, "'" + path + "'");
  for (const GraphNode& n : spec.nodes) {
    const std::string why = refused_attribute(n, spec.initializers);
    ECG_CHECK(why.empty(), "'", path, "': node '", n.name, "' (", n.op, ") uses ", why,
              ", which ecgcnn does not support");
  }
  for (const onnx::ValueInfoProto& v : g.input())
    if (!spec.initializers.count(v.name())) spec.inputs.push_back(parse_graph_input(v, path));
  for (const onnx::ValueInfoProto& v : g.output()) spec.outputs.push_back(v.name());
  ECG_CHECK(!spec.inputs.empty() && !spec.outputs.empty(), "'", path,
            "': the graph needs at least one input and one output");
  for (const auto& p : m.metadata_props()) pm.metadata[p.key()] = p.value();
  pm.cfg.name = g.name().empty() ? "onnx" : g.name();
  if (!pm.metadata["ecgcnn.model"].empty()) pm.cfg.name = pm.metadata["ecgcnn.model"];
  return pm;
}

nlohmann::json metadata_json(const ParsedModel& pm, const std::string& key,
                             const std::string& path) {
  auto it = pm.metadata.find(key);
  if (it == pm.metadata.end() || it->second.empty()) return nullptr;
  try {
    return nlohmann::json::parse(it->second);
  } catch (const std::exception&) {
    fail("'", path, "': metadata ", key, " is not valid JSON");
  }
}

// The one input of an image classifier: float [N, 3, S, S], S fixed.
int image_input_size(const GraphSpec& spec, const std::string& path) {
  ECG_CHECK(spec.inputs.size() == 1, "'", path, "': the graph has ", spec.inputs.size(),
            " inputs; an image classifier has one");
  const GraphInput& in = spec.inputs[0];
  ECG_CHECK(!in.is_int64 && in.shape.size() == 4, "'", path, "': input '", in.name,
            "' must be float [N, 3, H, W], got rank ", in.shape.size());
  static const char* dims[] = {"N", "C", "H", "W"};
  for (int d = 1; d < 4; ++d)
    ECG_CHECK(in.shape[d] > 0, "'", path, "': input '", in.name, "' has a dynamic ", dims[d],
              " dimension (dynamic shapes are not supported: only the batch may vary)");
  ECG_CHECK(in.shape[1] == 3, "'", path, "': input '", in.name, "' has ", in.shape[1],
            " channels (ecgcnn feeds 3-channel images)");
  ECG_CHECK(in.shape[2] == in.shape[3], "'", path, "': input '", in.name, "' is ", in.shape[2], "x",
            in.shape[3], " (ecgcnn feeds square images)");
  return static_cast<int>(in.shape[2]);
}

}  // namespace

std::shared_ptr<GraphModel> load_onnx_graph(const std::string& path) {
  ParsedModel pm = parse_model(path);
  return std::make_shared<GraphModel>(pm.cfg, std::move(pm.spec));
}

LoadedCheckpoint import_onnx(const std::string& path) {
  ParsedModel pm = parse_model(path);
  pm.cfg.image_size = image_input_size(pm.spec, path);
  nlohmann::json size = metadata_json(pm, "ecgcnn.image_size", path);
  ECG_CHECK(size.is_null() || (size.is_number_integer() && size.get<int>() == pm.cfg.image_size),
            "'", path, "': metadata ecgcnn.image_size ", size.dump(), " differs from the input's ",
            pm.cfg.image_size);
  ECG_CHECK(pm.spec.outputs.size() == 1, "'", path, "': the graph has ", pm.spec.outputs.size(),
            " outputs; an image classifier has one");
  ModelConfig cfg = pm.cfg;
  auto model = std::make_shared<GraphModel>(cfg, std::move(pm.spec));
  Shape out;
  try {
    out = model->infer({1, 3, cfg.image_size, cfg.image_size}, nullptr, "");
  } catch (const Error& e) {
    fail("'", path, "': ", e.what());
  }
  ECG_CHECK(out.size() == 2 && out[1] >= 2, "'", path, "': the output is ", shape_str(out),
            " for one image; expected [1, classes] with at least 2 classes");
  const int classes = static_cast<int>(out[1]);
  nlohmann::json names = metadata_json(pm, "ecgcnn.classes", path);
  if (names.is_null()) names = default_class_names(classes);
  ECG_CHECK(names.is_array() && static_cast<int>(names.size()) == classes, "'", path,
            "': metadata ecgcnn.classes names ", names.size(), " classes, the output has ",
            classes);
  for (const auto& n : names)
    ECG_CHECK(n.is_string() && !n.get<std::string>().empty(), "'", path,
              "': metadata ecgcnn.classes holds an empty or non-string name");
  LoadedCheckpoint ck;
  ck.model = model;
  ck.info = {{"model", cfg.name},
             {"image_size", cfg.image_size},
             {"classes", names},
             {"format", "onnx"},
             {"opset", model->spec().opset}};
  nlohmann::json pre = metadata_json(pm, "ecgcnn.preprocessing", path);
  if (!pre.is_null()) ck.info["preprocessing"] = pre;
  const nlohmann::json mean = metadata_json(pm, "ecgcnn.mean", path);
  const nlohmann::json sd = metadata_json(pm, "ecgcnn.std", path);
  if (!mean.is_null() || !sd.is_null()) {
    try {
      model->set_input_normalization(mean.get<std::vector<float>>(), sd.get<std::vector<float>>());
    } catch (const std::exception& e) {
      fail("'", path, "': metadata ecgcnn.mean / ecgcnn.std: ", e.what());
    }
    ck.info["mean"] = mean;
    ck.info["std"] = sd;
  }
  return ck;
}

GraphValue read_onnx_tensor_file(const std::string& path) {
  const std::string bytes = onnx_io::read_file_bytes(path);
  onnx::TensorProto t;
  ECG_CHECK(t.ParseFromString(bytes), "'", path, "': not an ONNX TensorProto");
  return onnx_io::tensor_value(t, "'" + path + "'");
}

}  // namespace ecg
