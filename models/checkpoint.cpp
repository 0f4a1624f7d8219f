#include "models/checkpoint.h"

#include "models/safetensors.h"

namespace ecg {

const std::vector<std::string>& default_class_names() {
  static const std::vector<std::string> names = {"Normal", "Abnormal heartbeat",
                                                 "Myocardial infarction", "History of MI"};
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
  if (!info.contains("classes")) info["classes"] = default_class_names();
  save_safetensors(path, tensors, {{"ecgcnn", info.dump()}});
}

void load_state(Model& model, const std::map<std::string, Tensor>& tensors,
                const std::string& path) {
  auto targets = model.named_parameters();
  auto buffers = model.named_buffers();
  targets.insert(targets.end(), buffers.begin(), buffers.end());
  size_t used = 0;
  for (auto& [name, t] : targets) {
    auto it = tensors.find(name);
    ECG_CHECK(it != tensors.end(), "checkpoint '", path, "' lacks tensor '", name, "' of model ",
              model.config().name);
    ECG_CHECK(it->second.shape() == t->shape(), "checkpoint '", path, "': tensor '", name,
              "' has shape ", shape_str(it->second.shape()), ", model expects ",
              shape_str(t->shape()));
    t->detach().copy_(it->second);  // copy_ converts dtype (e.g. an F64 file)
    ++used;
  }
  for (auto& [name, t] : tensors) {
    bool known = false;
    for (auto& tg : targets) known = known || tg.first == name;
    // PyTorch writes num_batches_tracked for BatchNorm; it carries no state we use.
    ECG_CHECK(known || name.find("num_batches_tracked") != std::string::npos, "checkpoint '", path,
              "' has unexpected tensor '", name, "' for model ", model.config().name);
  }
  (void)used;
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
  ECG_CHECK(info.contains("model") && info["model"].is_string() && info.contains("image_size") &&
                info["image_size"].is_number_integer(),
            "checkpoint '", path, "': metadata lacks model or image_size");
  ModelConfig cfg;
  cfg.name = info["model"].get<std::string>();
  cfg.image_size = info["image_size"].get<int>();
  if (info.contains("num_classes")) cfg.classes = info["num_classes"].get<int>();
  LoadedCheckpoint out;
  out.model = build_model(cfg);
  load_state(*out.model, f.tensors, path);
  out.model->eval();
  if (!info.contains("classes")) info["classes"] = default_class_names();
  out.info = info;
  return out;
}

}  // namespace ecg
