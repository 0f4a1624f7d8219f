#include "models/checkpoint.h"

#include <algorithm>
#include <cmath>

#include "models/safetensors.h"

namespace ecg {

const std::vector<std::string>& default_class_names() {
  static const std::vector<std::string> names = {"Normal", "Abnormal heartbeat",
                                                 "Myocardial infarction", "History of MI"};
  return names;
}

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_float(DType t) {
  return t == DType::F32 || t == DType::F64 || t == DType::F16;
}

// The values of a parameter, buffer or optimizer moment must be usable: a
// float type (I32 bytes relabelled F32 or the reverse would load as garbage),
// finite, and BatchNorm running variances >= 0. Zero is allowed: a channel
// that is always zero (a dead ReLU before AlexNet's BN) has variance exactly
// 0, which BN's epsilon covers; a negative one only comes from a damaged file
// and turns into NaN under the square root.
void check_values(const std::string& what, const std::string& path, const std::string& name,
                  const Tensor& t) {
  ECG_CHECK(is_float(t.dtype()), what, " '", path, "': tensor '", name, "' has dtype ",
            dtype_name(t.dtype()), ", expected a float type (f32, f64 or f16)");
  const bool var = ends_with(name, "running_var");
  const std::vector<float> v = t.to_vector_f32();
  for (size_t i = 0; i < v.size(); ++i) {
    ECG_CHECK(std::isfinite(v[i]), what, " '", path, "': tensor '", name, "' holds ", v[i],
              " at element ", i, ", expected finite values");
    ECG_CHECK(!var || v[i] >= 0, what, " '", path, "': tensor '", name, "' holds variance ", v[i],
              " at element ", i, ", expected >= 0");
  }
}

int int_field(const nlohmann::json& info, const std::string& path, const char* field, int lo,
              int hi) {
  const auto it = info.find(field);
  ECG_CHECK(it != info.end() && it->is_number_integer() && it->get<int64_t>() >= lo &&
                it->get<int64_t>() <= hi,
            "checkpoint '", path, "': field '", field, "' is ",
            it == info.end() ? std::string("missing") : it->dump(), ", expected an integer in [",
            lo, ", ", hi, "]");
  return it->get<int>();
}

// The metadata as a whole, against itself; the tensors are checked against
// the model it names by load_state.
ModelConfig checkpoint_config(nlohmann::json& info, const std::string& path) {
  ECG_CHECK(info.is_object(), "checkpoint '", path, "': metadata is not a JSON object");
  ModelConfig cfg;
  const std::vector<std::string> names = model_names();
  const auto m = info.find("model");
  ECG_CHECK(m != info.end() && m->is_string() &&
                std::find(names.begin(), names.end(), m->get<std::string>()) != names.end(),
            "checkpoint '", path, "': field 'model' is ",
            m == info.end() ? std::string("missing") : m->dump(),
            ", expected one of alexnet, resnet11, resnet20, resnet29");
  cfg.name = m->get<std::string>();
  // 16384 px would already need gigabytes per image; larger is a damaged file.
  cfg.image_size = int_field(info, path, "image_size", 1, 16384);
  // The data settings train records: an edited image_size that still fits
  // the tensor shapes (ResNet's pooled head hides it) shows up here.
  if (info.contains("data") && info["data"].is_object() && info["data"].contains("image_size"))
    ECG_CHECK(info["data"]["image_size"] == cfg.image_size, "checkpoint '", path,
              "': field 'image_size' is ", cfg.image_size, " but field 'data.image_size' is ",
              info["data"]["image_size"].dump(), "; expected the same input size");
  const auto cl_it = info.find("classes");
  ECG_CHECK(cl_it == info.end() || cl_it->is_array(), "checkpoint '", path,
            "': field 'classes' is not a list of names");
  if (info.contains("num_classes"))
    cfg.classes = int_field(info, path, "num_classes", 2, 1 << 20);
  else if (cl_it != info.end())
    cfg.classes = static_cast<int>(cl_it->size());
  else
    cfg.classes = 4;  // files from before num_classes was recorded
  if (cl_it == info.end()) info["classes"] = default_class_names(cfg.classes);
  const auto& cl = info["classes"];
  for (const auto& c : cl)
    ECG_CHECK(c.is_string() && !c.get<std::string>().empty(), "checkpoint '", path,
              "': field 'classes' holds ", c.dump(), ", expected non-empty class names");
  ECG_CHECK(static_cast<int>(cl.size()) == cfg.classes, "checkpoint '", path,
            "': field 'classes' has ", cl.size(), " names, expected ", cfg.classes,
            " (the network's outputs)");
  return cfg;
}

}  // namespace

std::vector<std::string> default_class_names(int n) {
  if (n == 4) return default_class_names();
  std::vector<std::string> names;
  for (int i = 0; i < n; ++i) names.push_back("class " + std::to_string(i));
  return names;
}

void save_checkpoint(const std::string& path, Model& model, const nlohmann::json& info_in) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& [name, t] : model.named_parameters()) tensors.emplace_back(name, t->detach());
  for (auto& [name, t] : model.named_buffers()) tensors.emplace_back(name, t->detach());
  nlohmann::json info = info_in;
  const ModelConfig& c = model.config();
  info["model"] = c.name;
  info["image_size"] = c.image_size;
  info["num_classes"] = c.classes;
  info["format"] = "ecgcnn-checkpoint-1";
  if (!info.contains("classes")) info["classes"] = default_class_names(c.classes);
  // Never write what load_checkpoint would refuse: a diverged model or
  // class names that do not match the outputs.
  checkpoint_config(info, path);
  for (const auto& [name, t] : tensors) check_values("checkpoint", path, name, t);
  save_safetensors(path, tensors, {{"ecgcnn", info.dump()}});
}

void load_state(Model& model, const std::map<std::string, Tensor>& tensors,
                const std::string& path) {
  auto targets = model.named_parameters();
  auto buffers = model.named_buffers();
  targets.insert(targets.end(), buffers.begin(), buffers.end());
  // Every tensor is checked before the first is copied, so a refused file
  // leaves the model as it was.
  for (auto& [name, t] : targets) {
    auto it = tensors.find(name);
    ECG_CHECK(it != tensors.end(), "checkpoint '", path, "' lacks tensor '", name, "' of model ",
              model.config().name);
    ECG_CHECK(it->second.shape() == t->shape(), "checkpoint '", path, "': tensor '", name,
              "' has shape ", shape_str(it->second.shape()), ", model expects ",
              shape_str(t->shape()));
    check_values("checkpoint", path, name, it->second);
  }
  for (auto& [name, t] : tensors) {
    bool known = false;
    for (auto& tg : targets) known = known || tg.first == name;
    // PyTorch writes num_batches_tracked for BatchNorm; it carries no state we use.
    ECG_CHECK(known || name.find("num_batches_tracked") != std::string::npos, "checkpoint '", path,
              "' has unexpected tensor '", name, "' for model ", model.config().name);
  }
  for (auto& [name, t] : targets)
    t->detach().copy_(tensors.at(name));  // copy_ converts dtype (e.g. an F64 file)
}

LoadedCheckpoint load_checkpoint(const std::string& path) {
  SafetensorsFile f = load_safetensors(path);
  auto it = f.metadata.find("ecgcnn");
  ECG_CHECK(it != f.metadata.end(), "checkpoint '", path,
            "' has no ecgcnn metadata (model name, input size); was it written by ecgcnn?");
  nlohmann::json info;
  try {
    info = nlohmann::json::parse(it->second);
  } catch (const std::exception& e) {
    fail("checkpoint '", path, "': metadata is not valid JSON: ", e.what());
  }
  const ModelConfig cfg = checkpoint_config(info, path);
  LoadedCheckpoint out;
  try {
    out.model = build_model(cfg);
  } catch (const Error& e) {
    fail("checkpoint '", path, "': fields 'model' and 'image_size': ", e.what());
  }
  load_state(*out.model, f.tensors, path);
  out.model->eval();
  out.info = info;
  return out;
}

}  // namespace ecg
