// The int8 graph's own vocabulary (quant/int8_model.h): node kind names and
// the float-fallback selection.
#include <algorithm>
#include <string>
#include <vector>

#include "kernels/enum_names.h"
#include "quant/int8_model.h"

namespace ecg::quant {

namespace {
const EnumName<NodeKind> kNodeKindNames[] = {{NodeKind::Conv, "conv"},
                                             {NodeKind::MaxPool, "maxpool"},
                                             {NodeKind::AvgPool, "avgpool"},
                                             {NodeKind::Add, "add"},
                                             {NodeKind::Dense, "dense"}};
}  // namespace

const char* node_kind_name(NodeKind k) {
  return name_of(kNodeKindNames, k);
}

bool parse_node_kind(const std::string& name, NodeKind& out) {
  return parse_name(kNodeKindNames, name, out);
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

}  // namespace ecg::quant
