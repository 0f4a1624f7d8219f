// validate_int8_model: the int8 graph checked as a whole against its own
// metadata, so that the runner's buffers (sized from the tensors, the class
// names and image_size) always match what the kernels write. The loader
// checks each field as it parses it (offsets, blob sizes, scale ranges); this
// checks how the fields fit together, for a loaded model and before a write.
#include <algorithm>
#include <cmath>

#include "models/models.h"
#include "quant/int8_model.h"

namespace ecg::quant {

namespace {

// Padding smaller than the window (TensorFlow "same" never pads more),
// positive strides, and the output size the input and window give.
bool window_ok(int H, int W, int R, int S, int sh, int sw, int pt, int pl, int pb, int pr, int P,
               int Q) {
  if (R <= 0 || S <= 0 || sh <= 0 || sw <= 0) return false;
  if (pt < 0 || pb < 0 || pt >= R || pb >= R || pl < 0 || pr < 0 || pl >= S || pr >= S)
    return false;
  if (H + pt + pb < R || W + pl + pr < S) return false;
  return (H + pt + pb - R) / sh + 1 == P && (W + pl + pr - S) / sw + 1 == Q;
}

bool same_hwc(const TensorQ& a, const TensorQ& b) {
  return a.H == b.H && a.W == b.W && a.C == b.C;
}

// The per-node checks; `where` prefixes every message.
void check_node(const Int8Model& m, const NodeQ& n, const std::string& where) {
  const TensorQ& in = m.tensors[n.inputs[0]];
  const TensorQ* out = n.output >= 0 ? &m.tensors[n.output] : nullptr;
  ECG_CHECK((n.kind == NodeKind::Dense) == (out == nullptr), where, "node ", n.name,
            ": field 'output' is ", n.output, ", expected ",
            n.kind == NodeKind::Dense ? "-1 (the logits)" : "a tensor");
  const Conv2dShape& c = n.conv.shape;
  if (n.kind == NodeKind::Conv || n.kind == NodeKind::Dense) {
    const bool geometry =
        n.kind == NodeKind::Dense
            ? c.C == in.H * in.W * in.C && c.H == 1 && c.W == 1 && c.R == 1 && c.S == 1
            : c.C == in.C && c.H == in.H && c.W == in.W && c.K == out->C &&
                  window_ok(c.H, c.W, c.R, c.S, c.stride_h, c.stride_w, c.pad_top, c.pad_left,
                            c.pad_bottom, c.pad_right, out->H, out->W) &&
                  c.P == out->H && c.Q == out->W;
    ECG_CHECK(geometry && c.K > 0, where, "node ", n.name, ": field 'shape' does not map tensor ",
              in.name, " [", in.H, "x", in.W, "x", in.C,
              "] to its output; expected matching sizes");
    const size_t K = c.K, wn = K * c.C * c.R * c.S;
    if (n.run_float) {
      ECG_CHECK(n.weights_f32.size() == wn && n.bias_f32.size() == K, where, "node ", n.name,
                ": float weights/bias have ", n.weights_f32.size(), "/", n.bias_f32.size(),
                " values, expected ", wn, "/", K);
    } else {
      ECG_CHECK(n.weights.size() == wn && n.conv.bias.size() == K && n.weight_scale.size() == K &&
                    n.conv.requant.size() == K,
                where, "node ", n.name, ": field 'weights' has ", n.weights.size(), " values and ",
                n.weight_scale.size(), " scales, expected ", wn, " and ", K);
      for (float v : n.weight_scale)
        ECG_CHECK(std::isfinite(v) && v > 0, where, "node ", n.name,
                  ": field 'weight_scale' holds ", v, ", expected a finite scale > 0");
    }
    if (n.conv.residual)
      ECG_CHECK(n.inputs.size() == 2 && same_hwc(m.tensors[n.inputs[1]], *out), where, "node ",
                n.name, ": field 'inputs' lacks a residual of the output's shape");
  } else if (n.kind == NodeKind::Add) {
    ECG_CHECK(n.inputs.size() == 2 && same_hwc(in, *out) && same_hwc(m.tensors[n.inputs[1]], *out),
              where, "node ", n.name,
              ": field 'inputs' expected two tensors of the output's shape");
  } else {
    const Pool2dShape& s = n.kind == NodeKind::MaxPool ? n.pool : n.avg.shape;
    ECG_CHECK(s.C == in.C && s.H == in.H && s.W == in.W && out->C == in.C &&
                  window_ok(s.H, s.W, s.R, s.S, s.stride_h, s.stride_w, s.pad_top, s.pad_left,
                            s.pad_bottom, s.pad_right, out->H, out->W) &&
                  s.P == out->H && s.Q == out->W,
              where, "node ", n.name, ": field 'pool' does not map tensor ", in.name,
              " to its output; expected matching sizes");
    ECG_CHECK(n.kind == NodeKind::MaxPool ||
                  n.avg.requant_by_count.size() == static_cast<size_t>(s.R) * s.S + 1,
              where, "node ", n.name, ": average pool has ", n.avg.requant_by_count.size(),
              " multipliers, expected ", s.R * s.S + 1);
  }
}

}  // namespace

void validate_int8_model(const Int8Model& m, const std::string& path) {
  const std::string where = "int8 model '" + path + "': ";
  // One of the study's networks, or an imported ONNX graph ("onnx:<graph name>").
  const std::vector<std::string> names = model_names();
  const bool imported = m.model_name.rfind("onnx:", 0) == 0 && m.model_name.size() > 5;
  ECG_CHECK(imported || std::find(names.begin(), names.end(), m.model_name) != names.end(), where,
            "field 'model' is '", m.model_name,
            "', expected one of alexnet, resnet11, resnet20, resnet29 or onnx:<graph name>");
  ECG_CHECK(!m.tensors.empty() && !m.nodes.empty(), where,
            "fields 'tensors' and 'nodes' are empty");
  const TensorQ& in = m.tensors[0];
  ECG_CHECK(m.image_size > 0 && in.H == m.image_size && in.W == m.image_size && in.C == 3, where,
            "field 'image_size' is ", m.image_size, " but the input tensor is ", in.H, "x", in.W,
            "x", in.C, "; expected ", m.image_size, "x", m.image_size, "x3");
  if (m.preprocessing.is_object() &&
      (m.preprocessing.contains("mean") || m.preprocessing.contains("std"))) {
    const nlohmann::json& mean =
        m.preprocessing.contains("mean") ? m.preprocessing["mean"] : nlohmann::json();
    const nlohmann::json& sd =
        m.preprocessing.contains("std") ? m.preprocessing["std"] : nlohmann::json();
    bool ok = mean.is_array() && sd.is_array() && mean.size() == 3 && sd.size() == 3;
    for (size_t c = 0; ok && c < 3; ++c)
      ok = mean[c].is_number() && sd[c].is_number() && std::isfinite(mean[c].get<double>()) &&
           std::isfinite(sd[c].get<double>()) && sd[c].get<double>() > 0;
    ECG_CHECK(ok, where,
              "fields 'preprocessing.mean' and 'preprocessing.std' must be 3 finite "
              "numbers each, std > 0");
  }
  const auto pre = m.preprocessing.find("image_size");
  ECG_CHECK(!m.preprocessing.is_object() || pre == m.preprocessing.end() || *pre == m.image_size,
            where, "field 'image_size' is ", m.image_size,
            " but field 'preprocessing.image_size' is ",
            pre == m.preprocessing.end() ? "" : pre->dump(), "; expected the same input size");
  const int nt = static_cast<int>(m.tensors.size());
  for (const TensorQ& t : m.tensors) {
    // The runner sizes every buffer as bytes() / N * batch.
    ECG_CHECK(t.N == 1 && t.H > 0 && t.W > 0 && t.C > 0, where, "tensor ", t.name,
              ": field 'nhwc' is [", t.N, ", ", t.H, ", ", t.W, ", ", t.C,
              "], expected [1, H, W, C] with positive sizes");
    ECG_CHECK(std::isfinite(t.scale) && t.scale > 0 && t.zero_point >= -128 && t.zero_point <= 127,
              where, "tensor ", t.name, ": fields 'scale'/'zero_point' are ", t.scale, "/",
              t.zero_point, ", expected a finite scale > 0 and a zero point in [-128, 127]");
  }
  // Execution order: a node reads the input or what an earlier node wrote,
  // and every tensor has one writer (the arena plan relies on both).
  std::vector<bool> written(static_cast<size_t>(nt), false);
  written[0] = true;
  for (size_t i = 0; i < m.nodes.size(); ++i) {
    const NodeQ& n = m.nodes[i];
    const bool last = i + 1 == m.nodes.size();
    ECG_CHECK((n.kind == NodeKind::Dense) == last, where, "node ", n.name,
              ": expected one dense layer, the last node");
    ECG_CHECK(!n.inputs.empty() && n.inputs.size() <= 2, where, "node ", n.name,
              ": field 'inputs' has ", n.inputs.size(), " tensors, expected 1 or 2");
    for (int t : n.inputs)
      ECG_CHECK(t >= 0 && t < nt && written[static_cast<size_t>(t)], where, "node ", n.name,
                ": field 'inputs' names tensor ", t, ", expected one written by an earlier node");
    ECG_CHECK(n.output >= -1 && n.output < nt && (n.output == -1 || !written[n.output]), where,
              "node ", n.name, ": field 'output' names tensor ", n.output,
              ", expected one no other node writes");
    check_node(m, n, where);
    if (n.output >= 0) written[static_cast<size_t>(n.output)] = true;
  }
  const int K = m.nodes.back().conv.shape.K;
  ECG_CHECK(m.num_classes() == K && K >= 2, where, "field 'classes' has ", m.classes.size(),
            " names, expected ", K, " (the dense layer's outputs, at least 2)");
  for (const std::string& c : m.classes)
    ECG_CHECK(!c.empty(), where, "field 'classes' holds an empty name, expected non-empty names");
}

}  // namespace ecg::quant
