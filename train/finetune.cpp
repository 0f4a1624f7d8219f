#include "train/finetune.h"

#include <map>
#include <sstream>

namespace ecg {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::ostringstream os;
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  return os.str();
}

std::vector<std::string> top_level_names(Model& model) {
  std::vector<std::string> names;
  for (auto& [name, child] : model.named_children())
    if (!child->named_parameters().empty()) names.push_back(name);
  return names;
}

}  // namespace

std::string head_layer_name(Model& model) {
  std::vector<std::string> names = top_level_names(model);
  ECG_CHECK(!names.empty(), model.config().name, " has no layer with parameters");
  return names.back();
}

bool matches_prefix(const std::string& name, const std::vector<std::string>& prefixes) {
  for (const std::string& p : prefixes)
    if (!p.empty() && name.compare(0, p.size(), p) == 0) return true;
  return false;
}

std::vector<std::pair<std::string, BatchNorm*>> named_batch_norms(Module& m,
                                                                  const std::string& prefix) {
  std::vector<std::pair<std::string, BatchNorm*>> out;
  for (auto& [name, child] : m.named_children()) {
    const std::string full = prefix + name;
    if (auto* bn = dynamic_cast<BatchNorm*>(child.get())) out.emplace_back(full, bn);
    auto sub = named_batch_norms(*child, full + ".");
    out.insert(out.end(), sub.begin(), sub.end());
  }
  return out;
}

InitFromResult init_from_checkpoint(Model& model, const std::string& path,
                                    const std::vector<std::string>& classes) {
  // load_checkpoint rebuilds the checkpoint's own model and checks every
  // tensor against it, so what is copied below is complete and well-shaped.
  return init_from_checkpoint(model, load_checkpoint(path), path, classes);
}

InitFromResult init_from_checkpoint(Model& model, const LoadedCheckpoint& ck,
                                    const std::string& path,
                                    const std::vector<std::string>& classes) {
  const ModelConfig& want = model.config();
  const ModelConfig& have = ck.model->config();
  ECG_CHECK(have.name == want.name && have.image_size == want.image_size, "--init-from '", path,
            "' holds ", have.name, " at ", have.image_size, " px, this run is ", want.name, " at ",
            want.image_size, " px (pass --model ", have.name, " --image-size ", have.image_size,
            ")");
  std::vector<std::string> ck_classes = ck.info.at("classes").get<std::vector<std::string>>();
  InitFromResult r;
  r.head = head_layer_name(model);
  r.head_reinitialised = ck_classes != classes || have.classes != want.classes;
  if (r.head_reinitialised) {
    std::ostringstream os;
    os << "--init-from: the checkpoint's " << have.classes << " classes (" << join(ck_classes)
       << ") differ from the data's " << classes.size() << " (" << join(classes) << "): the head ("
       << r.head << ") is re-initialised";
    r.message = os.str();
  }
  std::map<std::string, Tensor*> source;
  for (auto& [name, t] : ck.model->named_parameters()) source[name] = t;
  for (auto& [name, t] : ck.model->named_buffers()) source[name] = t;
  auto targets = model.named_parameters();
  auto buffers = model.named_buffers();
  targets.insert(targets.end(), buffers.begin(), buffers.end());
  for (auto& [name, t] : targets) {
    if (r.head_reinitialised && matches_prefix(name, {r.head + "."})) continue;
    auto it = source.find(name);
    ECG_CHECK(it != source.end() && it->second->shape() == t->shape(), "--init-from '", path,
              "': tensor '", name, "' is missing or has another shape");
    // copy_ keeps the target's device: the model may already live on --device.
    t->detach().copy_(*it->second);
    ++r.tensors_loaded;
  }
  return r;
}

FreezeGuard::FreezeGuard(Model& model, const std::vector<std::string>& freeze) {
  std::vector<std::string> unmatched;
  auto params = model.named_parameters();
  for (const std::string& p : freeze) {
    bool hit = false;
    for (auto& [name, t] : params) hit = hit || matches_prefix(name, {p});
    if (!hit) unmatched.push_back("'" + p + "'");
  }
  ECG_CHECK(unmatched.empty(), "--freeze: ", join(unmatched), " matches no parameter of ",
            model.config().name, " (its layers: ", join(top_level_names(model)), ")");
  for (auto& [name, t] : params) (matches_prefix(name, freeze) ? frozen_ : trainable_).push_back(t);
  ECG_CHECK(!trainable_.empty(), "--freeze: every parameter of ", model.config().name,
            " is frozen; leave at least the head (", head_layer_name(model), ") trainable");
  // No gradient at all: nothing to update, no weight decay, and backward
  // skips the work for layers whose input needs no gradient either.
  for (Tensor* t : frozen_) t->set_requires_grad(false);
}

FreezeGuard::~FreezeGuard() {
  for (Tensor* t : frozen_) t->set_requires_grad(true);
}

int hold_frozen_batch_norms(Model& model, const std::vector<std::string>& freeze, bool all_bn) {
  int held = 0;
  for (auto& [name, bn] : named_batch_norms(model)) {
    if (!all_bn && !matches_prefix(name, freeze)) continue;
    bn->eval();
    ++held;
  }
  return held;
}

}  // namespace ecg
