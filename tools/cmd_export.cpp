// `ecgcnn export --checkpoint F.safetensors --out M.onnx`: the float model as
// an opset-13 ONNX graph (models/onnx.h) that ONNX Runtime, Netron or
// TensorRT open; class names and input size travel in its metadata.
// `ecgcnn export --model F.int8 --out M.onnx`: an int8 model in QDQ form
// (quant/onnx_qdq_export.h), which ONNX Runtime runs with its int8 kernels.
#include <cstdio>

#include "cli_common.h"
#include "models/checkpoint.h"
#include "models/onnx.h"
#include "quant/int8_model.h"
#include "quant/onnx_qdq_export.h"

namespace {

struct ExportCli {
  std::string checkpoint, model, out;
};

bool ends_with_onnx(const std::string& s) {
  return s.size() >= 5 && s.compare(s.size() - 5, 5, ".onnx") == 0;
}

void run_export(const ExportCli& o) {
  using namespace ecg;
  ECG_CHECK(o.checkpoint.empty() != o.model.empty(),
            "export: give --checkpoint FILE (float) or --model FILE (int8), one of them");
  ECG_CHECK(!o.out.empty(), "export: --out FILE.onnx is required");
  ECG_CHECK(ends_with_onnx(o.out), "export: --out '", o.out, "' must end in .onnx");
  require_onnx(o.out);  // before loading anything, in a build without ONNX
  if (!o.model.empty()) {
    const quant::Int8Model q = quant::load_int8_model(o.model);
    quant::export_onnx_qdq(q, o.out);
    std::printf("wrote %s (%s int8, QDQ, opset %d, input [N, 3, %d, %d], %d classes)\n",
                o.out.c_str(), q.model_name.c_str(), kOnnxExportOpset, q.image_size, q.image_size,
                q.num_classes());
    return;
  }
  LoadedCheckpoint ck = load_checkpoint(o.checkpoint);
  ck.model->eval();
  export_onnx(*ck.model, ck.info, o.out);
  std::printf("wrote %s (%s, opset %d, input [N, 3, %d, %d], %zu classes)\n", o.out.c_str(),
              ck.model->config().name.c_str(), kOnnxExportOpset, ck.model->config().image_size,
              ck.model->config().image_size, ck.info["classes"].size());
}

}  // namespace

void ecg_cli_export(CLI::App& app) {
  static ExportCli o;
  auto* sub = app.add_subcommand("export", "write a model as ONNX (float, or int8 in QDQ form)");
  sub->add_option("--checkpoint", o.checkpoint, "float checkpoint (.safetensors)");
  sub->add_option("--model", o.model, "or: an int8 model file from ecgcnn quantize (QDQ export)");
  sub->add_option("--out", o.out, "the .onnx file to write");
  sub->callback([] { run_export(o); });
}
