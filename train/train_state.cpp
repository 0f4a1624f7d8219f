#include "train/train_state.h"

#include <cmath>
#include <map>

#include "core/json_checked.h"
#include "models/checkpoint.h"
#include "models/safetensors.h"

namespace ecg {

namespace {

nlohmann::json timing_json(const EpochTiming& t) {
  return {{"wall", t.wall},
          {"step", t.step},
          {"data", t.data},
          {"validation", t.validation},
          {"precise_bn", t.precise_bn},
          {"checkpoint", t.checkpoint},
          {"other", t.other},
          {"outside", t.outside()},
          {"outside_pct", t.wall > 0 ? 100 * t.outside() / t.wall : 0.0},
          {"cpu", t.cpu},
          {"rss_mb", t.rss_mb},
          {"allocator_cached_mb", t.allocator_cached_mb},
          {"minor_faults", t.minor_faults}};
}

// A state written before the timings existed has none: zeros.
EpochTiming timing_from_json(const nlohmann::json& j) {
  EpochTiming t;
  if (!j.is_object()) return t;
  auto num = [&](const char* key) {
    return j.contains(key) ? json_double(j[key], std::string("history.timing.") + key) : 0.0;
  };
  t.wall = num("wall");
  t.step = num("step");
  t.data = num("data");
  t.validation = num("validation");
  t.precise_bn = num("precise_bn");
  t.checkpoint = num("checkpoint");
  t.other = num("other");
  t.cpu = num("cpu");
  t.rss_mb = num("rss_mb");
  t.allocator_cached_mb = num("allocator_cached_mb");
  t.minor_faults = static_cast<int64_t>(num("minor_faults"));
  return t;
}

nlohmann::json epoch_json(const EpochRecord& e) {
  return {{"epoch", e.epoch},
          {"train_loss", e.train_loss},
          {"train_acc", e.train_acc},
          {"val_loss", e.val_loss},
          {"val_acc", e.val_acc},
          {"lr", e.lr},
          {"seconds", e.seconds},
          {"images_per_s", e.images_per_s},
          {"timing", timing_json(e.timing)}};
}

// Each field type- and range-checked (json_checked.h): an int read from a
// huge float would be undefined behaviour.
EpochRecord epoch_from_json(const nlohmann::json& j) {
  EpochRecord e;
  e.epoch = json_int<int>(j.at("epoch"), "history.epoch");
  e.train_loss = json_double(j.at("train_loss"), "history.train_loss");
  e.train_acc = json_double(j.at("train_acc"), "history.train_acc");
  e.val_loss = json_double(j.at("val_loss"), "history.val_loss");
  e.val_acc = json_double(j.at("val_acc"), "history.val_acc");
  e.lr = json_double(j.at("lr"), "history.lr");
  e.seconds = json_double(j.at("seconds"), "history.seconds");
  e.images_per_s =
      j.contains("images_per_s") ? json_double(j["images_per_s"], "history.images_per_s") : 0.0;
  if (j.contains("timing")) e.timing = timing_from_json(j["timing"]);
  return e;
}

}  // namespace

nlohmann::json history_json(const std::vector<EpochRecord>& history) {
  nlohmann::json hist = nlohmann::json::array();
  for (const EpochRecord& e : history) hist.push_back(epoch_json(e));
  return hist;
}

void save_train_state(const std::string& path, Model& model, Optimizer& optim,
                      const std::string& optimizer, const LoopState& s) {
  std::vector<std::pair<std::string, Tensor>> tensors;
  for (auto& [n, t] : model.named_parameters()) tensors.emplace_back("model." + n, t->detach());
  for (auto& [n, t] : model.named_buffers()) tensors.emplace_back("model." + n, t->detach());
  for (auto& [n, t] : optim.state()) tensors.emplace_back("optim." + n, t);
  nlohmann::json meta;
  meta["epoch"] = s.epoch;
  meta["next_batch"] = s.next_batch;
  meta["loss_sum"] = s.loss_sum;
  meta["seen"] = s.seen;
  meta["correct"] = s.correct;
  meta["epoch_seconds"] = s.epoch_seconds;
  const ReduceLrOnPlateau::State ps = s.plateau.state();
  meta["plateau"] = {{"best", std::isfinite(ps.best) ? ps.best : 1e300},
                     {"scale", ps.scale},
                     {"wait", ps.wait},
                     {"cooldown_left", ps.cooldown_left}};
  meta["early_wait"] = s.early_wait;
  meta["best_epoch"] = s.result.best_epoch;
  meta["best_val_acc"] = s.result.best_val_acc;
  meta["horizon_best_val_acc"] = s.result.horizon_best_val_acc;
  meta["optimizer_steps"] = optim.steps();
  meta["dropout_counters"] = model.dropout_counters();
  meta["history"] = history_json(s.result.history);
  meta["model"] = model.config().name;
  meta["optimizer"] = optimizer;
  save_safetensors(path, tensors, {{"ecgcnn_train_state", meta.dump()}});
}

namespace {

// Copies the checked counters into the loop state.
void apply_loop_state(const nlohmann::json& meta, Model& model, LoopState& s) {
  s.epoch = meta.at("epoch");
  s.next_batch = meta.at("next_batch");
  s.loss_sum = meta.at("loss_sum");
  s.seen = meta.at("seen");
  s.correct = meta.at("correct");
  s.epoch_seconds = meta.at("epoch_seconds");
  ReduceLrOnPlateau::State ps;
  const auto& pj = meta.at("plateau");
  ps.best = pj.at("best").get<double>() >= 1e300 ? INFINITY : pj.at("best").get<double>();
  ps.scale = pj.at("scale");
  ps.wait = pj.at("wait");
  ps.cooldown_left = pj.at("cooldown_left");
  s.plateau.load_state(ps);
  s.early_wait = meta.at("early_wait");
  s.result.best_epoch = meta.at("best_epoch");
  s.result.best_val_acc = meta.at("best_val_acc");
  if (meta.contains("horizon_best_val_acc"))
    for (const auto& v : meta["horizon_best_val_acc"])
      s.result.horizon_best_val_acc.push_back(json_double(v, "horizon_best_val_acc"));
  model.set_dropout_counters(
      json_int_vector<uint64_t>(meta.at("dropout_counters"), "dropout_counters"));
  for (auto& e : meta.at("history")) s.result.history.push_back(epoch_from_json(e));
}

// A field of a training state that must be a number (an integer when
// `integer`) in [lo, hi]: a damaged or edited file could otherwise hold
// counters the loop indexes batches with or divides by.
double state_number(const nlohmann::json& j, const char* field, double lo, double hi,
                    const std::string& path, bool integer = true) {
  const auto it = j.find(field);
  const bool ok = it != j.end() && (integer ? it->is_number_integer() : it->is_number()) &&
                  std::isfinite(it->get<double>()) && it->get<double>() >= lo &&
                  it->get<double>() <= hi;
  ECG_CHECK(ok, "training state '", path, "': field '", field, "' is ",
            it == j.end() ? std::string("missing") : it->dump(), ", expected ",
            integer ? "an integer" : "a number", " in [", lo, ", ", hi, "]");
  return it->get<double>();
}

// The optimizer moments a state must hold once the optimizer has stepped:
// one per parameter and moment kind (Adam: m and v; SGD: momentum). A
// missing one would silently restart that parameter's moments from zero.
void check_moments(const std::map<std::string, Tensor>& optim_t, const std::string& optimizer,
                   size_t params, int64_t steps, const std::string& path) {
  std::vector<std::string> kinds;
  if (optimizer == "sgd") kinds = {"momentum"};
  if (optimizer.rfind("adam", 0) == 0) kinds = {"m", "v"};
  size_t expected = 0;
  for (size_t i = 0; steps > 0 && i < params; ++i)
    for (const std::string& k : kinds) {
      const std::string name = k + "." + std::to_string(i);
      ECG_CHECK(optim_t.count(name), "training state '", path, "': optimizer moment 'optim.", name,
                "' is missing, expected one per trainable parameter after ", steps,
                " optimizer steps (", optimizer, ")");
      ++expected;
    }
  ECG_CHECK(kinds.empty() || optim_t.size() == expected, "training state '", path, "' holds ",
            optim_t.size(), " optimizer tensors, expected ", expected, " for ", optimizer,
            " after ", steps, " steps");
  for (const auto& [name, t] : optim_t) {
    const std::vector<float> v = t.to_vector_f32();
    for (size_t i = 0; i < v.size(); ++i)
      ECG_CHECK(std::isfinite(v[i]), "training state '", path, "': optimizer moment 'optim.", name,
                "' holds ", v[i], " at element ", i, ", expected finite values");
  }
}

// The counters as a whole, before any of them is used.
void check_counters(const nlohmann::json& meta, const std::string& path, int64_t batches,
                    size_t dropouts) {
  const double epoch = state_number(meta, "epoch", 0, 1e6, path);
  state_number(meta, "next_batch", 0, static_cast<double>(batches), path);
  const double seen = state_number(meta, "seen", 0, 1e15, path);
  state_number(meta, "correct", 0, seen, path);
  state_number(meta, "loss_sum", 0, 1e300, path, false);
  state_number(meta, "epoch_seconds", 0, 1e12, path, false);
  state_number(meta, "early_wait", 0, 1e6, path);
  state_number(meta, "best_epoch", -1, epoch - 1, path);
  state_number(meta, "best_val_acc", -1, 1, path, false);
  state_number(meta, "optimizer_steps", 0, 1e15, path);
  const auto pj = meta.find("plateau");
  ECG_CHECK(pj != meta.end() && pj->is_object(), "training state '", path,
            "': field 'plateau' is missing");
  state_number(*pj, "best", -1e300, 1e300, path, false);
  state_number(*pj, "scale", 1e-300, 1, path, false);
  state_number(*pj, "wait", 0, 1e6, path);
  state_number(*pj, "cooldown_left", 0, 1e6, path);
  const auto h = meta.find("history");
  ECG_CHECK(h != meta.end() && h->is_array() && h->size() == static_cast<size_t>(epoch),
            "training state '", path, "': field 'history' has ",
            h != meta.end() && h->is_array() ? h->size() : 0, " epochs, expected ", epoch,
            " (field 'epoch')");
  const auto d = meta.find("dropout_counters");
  ECG_CHECK(d != meta.end() && d->is_array() && d->size() == dropouts, "training state '", path,
            "': field 'dropout_counters' expected ", dropouts, " counters (one per dropout layer)");
}

}  // namespace

void load_train_state(const std::string& path, Model& model, Optimizer& optim,
                      const std::string& optimizer, size_t optim_params, int64_t batches,
                      LoopState& s) {
  SafetensorsFile f = load_safetensors(path);
  auto it = f.metadata.find("ecgcnn_train_state");
  ECG_CHECK(it != f.metadata.end(), "'", path, "' is not an ecgcnn training state");
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(it->second);
  } catch (const std::exception& e) {
    fail("training state '", path, "': metadata is not valid JSON: ", e.what());
  }
  ECG_CHECK(meta.is_object() && meta.value("model", "") == model.config().name, "'", path,
            "' holds a ", meta.is_object() ? meta.value("model", "?") : "?", " run, not ",
            model.config().name);
  // Older states do not name the optimizer; a different one would misread the moments.
  ECG_CHECK(!meta.contains("optimizer") || meta["optimizer"] == optimizer, "training state '", path,
            "': field 'optimizer' is ", meta.value("optimizer", nlohmann::json()).dump(),
            " but the run's settings say '", optimizer,
            "'; expected the optimizer the state was saved with");
  check_counters(meta, path, batches, model.dropout_counters().size());
  std::map<std::string, Tensor> model_t, optim_t;
  for (auto& [n, t] : f.tensors) {
    if (n.rfind("model.", 0) == 0) model_t[n.substr(6)] = t;
    if (n.rfind("optim.", 0) == 0) optim_t[n.substr(6)] = t;
  }
  const int64_t steps = meta.at("optimizer_steps").get<int64_t>();
  check_moments(optim_t, optimizer, optim_params, steps, path);
  // The counters and history first: the model and optimizer change only
  // once everything in the file has been read.
  try {
    apply_loop_state(meta, model, s);
  } catch (const std::exception& e) {
    fail("training state '", path, "' is malformed: ", e.what());
  }
  load_state(model, model_t, path);
  optim.load_state(optim_t, steps);
}

}  // namespace ecg
