#include "train/trainer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/autograd.h"
#include "core/collective.h"
#include "core/profiler.h"
#include "models/checkpoint.h"
#include "models/safetensors.h"
#include "optim/lr_schedule.h"
#include "optim/optimizer.h"
#include "train/data_parallel.h"
#include "train/finetune.h"
#include "train/provenance.h"
#include "train/report.h"
#include "train/train_state.h"

namespace ecg {

namespace fs = std::filesystem;

namespace {

std::atomic<bool> g_interrupt{false};

extern "C" void on_sigint(int) {
  // A second Ctrl-C while the step finishes falls through to the default: quit now.
  if (g_interrupt.exchange(true)) std::_Exit(130);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string clock_str(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  char b[32];
  int m = static_cast<int>(s) / 60, sec = static_cast<int>(s) % 60;
  if (m >= 60)
    std::snprintf(b, sizeof b, "%d:%02d:%02d", m / 60, m % 60, sec);
  else
    std::snprintf(b, sizeof b, "%d:%02d", m, sec);
  return b;
}

void progress_line(const std::string& label, int64_t done, int64_t total, double loss, double acc,
                   double ips, double eta) {
  const int width = 24;
  int filled = total ? static_cast<int>(width * done / total) : width;
  std::string bar(filled, '=');
  if (filled < width) bar += '>' + std::string(width - filled - 1, ' ');
  std::fprintf(stderr, "\r%s [%s] %lld/%lld loss %.4f acc %.4f %.1f img/s ETA %s   ", label.c_str(),
               bar.c_str(), static_cast<long long>(done), static_cast<long long>(total), loss, acc,
               ips, clock_str(eta).c_str());
  std::fflush(stderr);
}

int argmax(const float* p, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (p[i] > p[best]) best = i;
  return best;
}

// When the loss is not finite, find the first top-level layer whose output
// is not finite, so the error names where the numbers went wrong.
std::string locate_non_finite(Model& model, const Tensor& images) {
  NoGradGuard guard;
  auto has_bad = [](const Tensor& t) {
    for (float v : t.to_vector_f32())
      if (!std::isfinite(v)) return true;
    return false;
  };
  if (has_bad(images)) return "the input images";
  for (auto& [name, p] : model.named_parameters())
    if (has_bad(*p)) return "parameter " + name;
  bool was_training = model.is_training();
  model.eval();
  Tensor h = images.to(model.device());
  std::string where = "the loss itself (logits are finite)";
  for (auto& layer : model.layers()) {
    h = (*layer)(h);
    if (has_bad(h)) {
      where = "layer " + layer->name() + " (" + layer->kind() + ")";
      break;
    }
  }
  model.train(was_training);
  return where;
}

// The first of `tensors` (kind, name, tensor) that holds a non-finite
// value, as "<kind> <name> (layer <layer>) holds <value>"; empty when all
// are finite. One pass over a host copy (none on the CPU): about 1.3 M
// values per step for ResNet-11's parameters and gradients, small next to
// the step itself.
struct Named {
  const char* kind;
  std::string name;
  Tensor t;
};
std::string first_non_finite(const std::vector<Named>& tensors) {
  for (const Named& n : tensors) {
    if (!n.t.defined()) continue;
    const Tensor c = n.t.detach().to(Device::cpu()).contiguous();
    double bad = 0;
    bool found = false;
    if (c.dtype() == DType::F32) {
      const float* p = c.data<float>();
      for (int64_t i = 0; i < c.numel() && !found; ++i)
        if (!std::isfinite(p[i])) found = true, bad = p[i];
    } else {
      for (double v : c.to_vector_f64())
        if (!found && !std::isfinite(v)) found = true, bad = v;
    }
    if (!found) continue;
    const size_t dot = n.name.rfind('.');
    return std::string(n.kind) + " " + n.name + " (layer " +
           (dot == std::string::npos ? n.name : n.name.substr(0, dot)) + ") holds " +
           std::to_string(bad);
  }
  return "";
}

// Stops training on the first non-finite gradient, parameter or BatchNorm
// statistic: the loss alone can stay finite while a running variance
// overflows (Adam at a huge learning rate), and a checkpoint saved from that
// model would predict NaN. Nothing is saved from this step, so
// best.safetensors and state.safetensors keep the last good values.
void check_finite(Model& model, bool gradients, const char* when, int64_t step, int epoch,
                  int64_t batch) {
  std::vector<Named> tensors;
  for (auto& [name, p] : model.named_parameters())
    tensors.push_back({gradients ? "gradient of" : "parameter", name, gradients ? p->grad() : *p});
  if (!gradients)
    for (auto& [name, b] : model.named_buffers()) tensors.push_back({"statistic", name, *b});
  const std::string bad = first_non_finite(tensors);
  if (bad.empty()) return;
  fail("training diverged at step ", step, " (epoch ", epoch, ", batch ", batch, "): ", bad, " ",
       when,
       "; nothing was saved from this step (best.safetensors and the state keep the last good "
       "values). Try a lower --lr.");
}

Tensor class_weight_tensor(const std::vector<float>& w, int classes) {
  if (w.empty()) return Tensor();
  ECG_CHECK(static_cast<int>(w.size()) == classes, "class weights: ", w.size(), " values for ",
            classes, " classes");
  return Tensor::from_vector(w, {classes});
}

// Process CPU seconds (every thread) and minor page faults so far, and the
// resident set now (Linux /proc; 0 elsewhere): with wall time they tell a
// slow epoch that did more work (CPU up), touched fresh memory (faults up),
// or waited for a loaded machine (wall up, CPU flat).
double process_cpu_seconds() {
  timespec ts{};
  if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

int64_t minor_page_faults() {
  rusage u{};
  return getrusage(RUSAGE_SELF, &u) == 0 ? static_cast<int64_t>(u.ru_minflt) : 0;
}

double resident_mb() {
  std::ifstream statm("/proc/self/statm");
  long long pages = 0, resident = 0;
  if (!(statm >> pages >> resident)) return 0;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1048576.0;
}

}  // namespace

void install_interrupt_handler(bool also_sigterm) {
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  if (also_sigterm) sigaction(SIGTERM, &sa, nullptr);
}
bool interrupt_requested() {
  return g_interrupt.load();
}
void clear_interrupt() {
  g_interrupt = false;
}

EvalResult evaluate(Model& model, BatchSource& data, bool progress, const std::string& label) {
  NoGradGuard guard;
  bool was_training = model.is_training();
  model.eval();
  EvalResult r;
  data.begin_epoch(0);
  double loss_sum = 0;
  int64_t n = 0, correct = 0;
  Batch b;
  const Device device = model.device();  // batches follow the model to its device
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; data.batch(i, b); ++i) {
    if (b.labels.empty()) continue;
    Tensor logits = model(b.images.to(device));
    const int C = static_cast<int>(logits.size(1));
    Tensor loss = softmax_cross_entropy(logits, one_hot(b.labels, C));
    Tensor probs = softmax(logits).to(Device::cpu());
    const float* p = probs.data<float>();
    for (size_t k = 0; k < b.labels.size(); ++k) {
      int pred = argmax(p + k * C, C);
      r.truth.push_back(b.labels[k]);
      r.predicted.push_back(pred);
      r.probabilities.emplace_back(p + k * C, p + (k + 1) * C);
      correct += pred == b.labels[k];
    }
    loss_sum += loss.item() * b.labels.size();
    n += static_cast<int64_t>(b.labels.size());
    if (progress) {
      double t = seconds_since(t0);
      progress_line(label, i + 1, data.num_batches(), loss_sum / n,
                    static_cast<double>(correct) / n, n / t,
                    t / (i + 1) * (data.num_batches() - i - 1));
    }
  }
  if (progress) std::fprintf(stderr, "\n");
  r.loss_sum = loss_sum;
  r.count = n;
  r.correct = correct;
  r.loss = n ? loss_sum / n : 0;
  r.accuracy = n ? static_cast<double>(correct) / n : 0;
  model.train(was_training);
  return r;
}

void recompute_bn_statistics(Model& model, BatchSource& data, int epoch, int batches,
                             const std::vector<std::string>& keep) {
  std::vector<BatchNorm*> bns;
  for (auto& [name, bn] : named_batch_norms(model))
    if (!matches_prefix(name, keep)) bns.push_back(bn);
  if (bns.empty() || batches <= 0) return;
  std::vector<double> saved;
  for (BatchNorm* bn : bns) {
    saved.push_back(bn->momentum());
    bn->running_mean().zero_();
    bn->running_var().zero_();
  }
  NoGradGuard guard;
  const bool was_training = model.is_training();
  model.train();
  hold_frozen_batch_norms(model, keep, false);  // kept layers normalise as they will in training
  data.begin_epoch(epoch);
  Batch b;
  for (int k = 0; k < batches && data.batch(k, b); ++k) {
    // running = m * running + (1 - m) * batch with m = k / (k + 1) is the running mean of batches.
    for (BatchNorm* bn : bns) bn->set_momentum(static_cast<double>(k) / (k + 1));
    model(b.images.to(model.device()));
  }
  for (size_t i = 0; i < bns.size(); ++i) bns[i]->set_momentum(saved[i]);
  model.train(was_training);
}

namespace {

LrSchedule make_schedule(const TrainOptions& opt, const std::string& model) {
  LrSchedule sch;
  sch.kind = opt.schedule == "study" ? (model == "alexnet" ? "study-alexnet" : "study-resnet")
                                     : opt.schedule;
  sch.base_lr = opt.lr;
  sch.min_lr = opt.min_lr;
  sch.total_epochs = opt.epochs;
  sch.warmup_epochs = opt.warmup_epochs;
  return sch;
}

// The mean of the epochs' rates (not the last epoch's, which a slow or short
// final epoch skews), and the last epoch's under its own name.
// loop_seconds: the epochs' walls (EpochTiming), of which outside_seconds
// were outside the optimiser steps.
nlohmann::json training_timings(const std::vector<EpochRecord>& history) {
  double seconds = 0, rate_sum = 0, loop = 0, outside = 0;
  for (const auto& e : history) {
    seconds += e.seconds;
    rate_sum += e.images_per_s;
    loop += e.timing.wall;
    outside += e.timing.outside();
  }
  return {{"train_seconds", seconds},
          {"loop_seconds", loop},
          {"outside_seconds", outside},
          {"outside_pct", loop > 0 ? 100 * outside / loop : 0.0},
          {"epochs_timed", history.size()},
          {"mean_images_per_s", history.empty() ? 0.0 : rate_sum / history.size()},
          {"last_epoch_images_per_s", history.empty() ? 0.0 : history.back().images_per_s}};
}

// The data section of a training report: the folder and the images per split
// and class, from what the CLI put in extra_config ("data", "classes", "splits").
nlohmann::json training_data(const nlohmann::json& extra) {
  nlohmann::json d = nlohmann::json::object();
  if (extra.contains("data") && extra["data"].contains("root")) d["path"] = extra["data"]["root"];
  if (!extra.contains("splits") || !extra.contains("classes")) return d;
  const auto classes = extra["classes"].get<std::vector<std::string>>();
  for (const char* split : {"train", "val", "test"}) {
    const std::string key = std::string(split) + "_counts";
    if (!extra["splits"].contains(key)) continue;
    const auto counts = extra["splits"][key].get<std::vector<int64_t>>();
    d[split] = data_provenance(d.value("path", std::string()), split, classes, counts);
    d[split].erase("path");
    d[split].erase("split");
  }
  return d;
}

void write_outputs(const TrainOptions& opt, Model& model, const LoopState& s) {
  nlohmann::json run;
  run["history"] = history_json(s.result.history);
  run["best_epoch"] = s.result.best_epoch;
  run["best_val_acc"] = s.result.best_val_acc;
  nlohmann::json cfg = opt.extra_config;
  cfg["model"] = model.config().name;
  cfg["image_size"] = model.config().image_size;
  cfg["epochs"] = opt.epochs;
  cfg["batch"] = opt.batch;
  cfg["seed"] = opt.seed;
  cfg["recipe"] = opt.recipe;
  cfg["optimizer"] = opt.optimizer;
  cfg["lr"] = opt.lr;
  cfg["schedule"] = opt.schedule;
  run["config"] = cfg;
  run["timings"] = training_timings(s.result.history);
  run["data"] = training_data(opt.extra_config);
  run["provenance"] = provenance();
  // Keep a test section written by `ecgcnn eval` when the run is continued.
  fs::path hp = fs::path(opt.out_dir) / "history.json";
  if (fs::exists(hp)) {
    try {
      std::ifstream in(hp);
      nlohmann::json old = nlohmann::json::parse(in);
      if (old.contains("test")) run["test"] = old["test"];
    } catch (const std::exception&) {
    }
  }
  write_file_atomic(hp.string(), run.dump(2));
  write_file_atomic((fs::path(opt.out_dir) / "report.html").string(), report::training_report(run));
}

// One run of train(): its settings, model and optimizer, and the loop's
// state, shared by the parts of an epoch below.
struct TrainRun {
  const TrainOptions& opt;
  Model& model;
  const FreezeGuard& frozen;
  Optimizer& optim;
  const Tensor class_weight;
  const std::string state_path, best_path;
  const int classes;
  // The loop runs where the model lives: batches are built on the host and
  // copied over; logits come back for the accuracy count.
  const Device device;
  LoopState s;
  int64_t global_step = 0;
  // Data parallel: this process's place in the run; rank 0 alone writes files.
  const bool parallel = collective().size() > 1;
  const bool writer = collective().rank() == 0;
  GradientReducer* reducer = nullptr;
  double wait_at_epoch_start = 0;
  // The current epoch's timing so far (EpochTiming) and where its clocks started.
  EpochTiming timing{};
  double epoch_start_us = 0, epoch_start_cpu = 0;
  int64_t epoch_start_faults = 0;

  void step(const Batch& b);
  void backward(const Tensor& total, const Batch& b);
  void combine_epoch_figures();
  bool run_steps(BatchSource& data);
  EpochRecord close_epoch(double lr, BatchSource& train_data, BatchSource* val_data);
  void keep_best(const EpochRecord& rec);
  bool end_epoch();
  void start_epoch_clock();
  void close_timing(EpochTiming& t) const;
  void print_timing(const EpochTiming& t) const;
};

// The next epoch's timing starts now (its wall, CPU and page-fault counts).
void TrainRun::start_epoch_clock() {
  timing = EpochTiming{};
  epoch_start_us = Profiler::instance().now_us();
  epoch_start_cpu = process_cpu_seconds();
  epoch_start_faults = minor_page_faults();
}

// `t` is the epoch's timing as of now: the wall since the clock started,
// "other" the part no PartTimer claimed, and the memory figures.
void TrainRun::close_timing(EpochTiming& t) const {
  t = timing;
  t.wall = (Profiler::instance().now_us() - epoch_start_us) * 1e-6;
  t.other = std::max(0.0, t.wall - t.step - t.data - t.validation - t.checkpoint);
  t.cpu = process_cpu_seconds() - epoch_start_cpu;
  t.minor_faults = minor_page_faults() - epoch_start_faults;
  t.rss_mb = resident_mb();
  t.allocator_cached_mb = static_cast<double>(cpu_allocator().stats().bytes_cached) / 1048576.0;
}

void TrainRun::print_timing(const EpochTiming& t) const {
  std::fprintf(stderr,
               "  time %.1f s: step %.1f, outside %.2f (%.1f%%): data %.2f, validation %.2f "
               "(precise BN %.2f), checkpoint %.2f, other %.2f | CPU %.1f s, RSS %.0f MB "
               "(allocator cache %.0f MB), %lld minor faults\n",
               t.wall, t.step, t.outside(), t.wall > 0 ? 100 * t.outside() / t.wall : 0.0, t.data,
               t.validation, t.precise_bn, t.checkpoint, t.other, t.cpu, t.rss_mb,
               t.allocator_cached_mb, static_cast<long long>(t.minor_faults));
}

// One optimiser step on `b`, stopped with an error naming the first
// non-finite value; adds the batch to the epoch's loss and accuracy.
void TrainRun::step(const Batch& b) {
  const int C = classes;
  // The profiled step alone is recorded: its report and trace are that step.
  Profiler& prof = Profiler::instance();
  const bool profiled = opt.profile_step > 0 && global_step + 1 == opt.profile_step;
  if (opt.profile_step > 0) {  // otherwise the profiler is the caller's
    prof.enable(profiled);
    prof.set_step(static_cast<int>(global_step + 1));
  }
  const double t0 = prof.now_us();
  Tensor logits = model(b.images.to(device));
  Tensor loss, total;
  {
    LayerScope scope("loss", LayerScope::Absolute);
    loss = softmax_cross_entropy(logits, one_hot(b.labels, C), class_weight);
    Tensor reg = model.regularization_loss();
    total = reg.defined() ? add(loss, reg) : loss;
  }
  const double loss_v = loss.item();
  if (!std::isfinite(total.item()))
    fail("training diverged at step ", global_step + 1, " (epoch ", s.epoch + 1, ", batch ",
         s.next_batch + 1, "): loss is ", total.item(), "; first non-finite values in ",
         locate_non_finite(model, b.images), ". Try a lower --lr.");
  backward(total, b);
  {
    LayerScope scope("(finite checks)", LayerScope::Absolute);
    check_finite(model, /*gradients=*/true, "before the optimizer step", global_step + 1,
                 s.epoch + 1, s.next_batch + 1);
  }
  {
    PhaseScope phase("update");
    LayerScope scope("optimizer", LayerScope::Absolute);
    if (opt.clip_norm > 0) clip_grad_norm(frozen.trainable(), opt.clip_norm);
    optim.step();
    model.zero_grad();
  }
  ++global_step;
  {
    LayerScope scope("(finite checks)", LayerScope::Absolute);
    check_finite(model, /*gradients=*/false, "after the optimizer step", global_step, s.epoch + 1,
                 s.next_batch + 1);
  }
  if (opt.param_check_every > 0 && global_step % opt.param_check_every == 0)
    check_parameters_agree(frozen.trainable(), global_step);
  if (parallel) inject_test_fault(global_step);
  if (profiled) {
    prof.record_step(static_cast<int>(global_step), t0, prof.now_us() - t0);
    prof.enable(false);
  }
  const Tensor logits_host = logits.to(Device::cpu());
  const float* lp = logits_host.data<float>();
  for (size_t k = 0; k < b.labels.size(); ++k) s.correct += argmax(lp + k * C, C) == b.labels[k];
  s.loss_sum += loss_v * b.labels.size();
  s.seen += static_cast<int64_t>(b.labels.size());
}

// Backward of this rank's loss. In a data-parallel run the seed is the
// rank's share of the global batch, n_r / B, so that the gradients summed
// over ranks (and sync BN's sums) are those of the global batch's mean loss;
// one process seeds 1 as ever.
void TrainRun::backward(const Tensor& total, const Batch& b) {
  if (!parallel) {
    total.backward();
    return;
  }
  Tensor seed = Tensor::empty(total.shape(), total.dtype(), total.device());
  seed.fill_(static_cast<double>(b.labels.size()) / static_cast<double>(b.global_size));
  reducer->begin_backward(global_step + 1);
  total.backward(seed);
  reducer->finish();
}

// The epoch's loss and accuracy sums and image count over every rank (each
// rank counted its own shard); after this every rank holds the totals.
void TrainRun::combine_epoch_figures() {
  if (!parallel) return;
  std::vector<double> v{s.loss_sum, static_cast<double>(s.correct), static_cast<double>(s.seen)};
  sum_over_ranks(v);
  s.loss_sum = v[0];
  s.correct = static_cast<int64_t>(v[1]);
  s.seen = static_cast<int64_t>(v[2]);
}

// The rest of the current epoch's steps, with the progress bar; false when
// Ctrl-C stopped the loop (the state is saved, resumable at the next batch).
bool TrainRun::run_steps(BatchSource& data) {
  const int64_t nb = data.num_batches();
  auto t0 = std::chrono::steady_clock::now();
  const double seconds_before = s.epoch_seconds;
  const int64_t seen_before = s.seen;
  char label[64];
  std::snprintf(label, sizeof label, "epoch %d/%d", s.epoch + 1, opt.epochs);
  Batch b;
  const bool show = opt.progress && writer;
  for (; s.next_batch < nb; ++s.next_batch) {
    {
      PartTimer waiting(timing.data, "(data)");
      ECG_CHECK(data.batch(s.next_batch, b), "train: batch ", s.next_batch, " missing");
    }
    {
      PartTimer stepping(timing.step, "(step)");
      step(b);
    }
    s.epoch_seconds = seconds_before + seconds_since(t0);
    if (show) {
      double t = seconds_since(t0);
      progress_line(label, s.next_batch + 1, nb, s.loss_sum / s.seen,
                    static_cast<double>(s.correct) / s.seen, (s.seen - seen_before) / t,
                    t / (s.next_batch + 1) * (nb - s.next_batch - 1));
    }
    // Every rank stops at the same step when any of them was interrupted.
    if (parallel ? any_rank(interrupt_requested()) : interrupt_requested()) {
      ++s.next_batch;
      combine_epoch_figures();
      if (!writer) {
        s.result.interrupted = true;
        return false;
      }
      save_train_state(state_path, model, optim, opt.optimizer, s);
      if (show) std::fprintf(stderr, "\n");
      std::fprintf(stderr,
                   "interrupted after step %lld; state saved to %s\nresume with: ecgcnn train "
                   "--resume %s (settings come from its train_config.json)\n",
                   static_cast<long long>(global_step), state_path.c_str(), opt.out_dir.c_str());
      s.result.interrupted = true;
      return false;
    }
  }
  if (show) std::fprintf(stderr, "\n");
  return true;
}

// The epoch's record: its training figures, then (after precise BN, when
// asked for) the validation figures; appended to the history and printed.
EpochRecord TrainRun::close_epoch(double lr, BatchSource& train_data, BatchSource* val_data) {
  combine_epoch_figures();
  EpochRecord rec;
  rec.epoch = s.epoch;
  rec.train_loss = s.seen ? s.loss_sum / s.seen : 0;
  rec.train_acc = s.seen ? static_cast<double>(s.correct) / s.seen : 0;
  rec.lr = lr;
  rec.seconds = s.epoch_seconds;
  rec.images_per_s = s.epoch_seconds > 0 ? s.seen / s.epoch_seconds : 0;
  PartTimer validating(timing.validation, "(validation)");
  if (opt.precise_bn_batches > 0 && !opt.freeze_bn) {
    PartTimer recomputing(timing.precise_bn, "(precise BN)");
    recompute_bn_statistics(model, train_data, s.epoch, opt.precise_bn_batches, opt.freeze);
    check_finite(model, /*gradients=*/false,
                 "after recomputing the BatchNorm statistics (--precise-bn)", global_step,
                 s.epoch + 1, train_data.num_batches());
  }
  // Without sync BN each rank's statistics saw only its shard: validate and
  // save with rank 0's on every rank, as DDP does.
  if (parallel && !opt.sync_bn) broadcast_buffers(model);
  if (val_data && val_data->num_samples() > 0) {
    EvalResult v = evaluate(model, *val_data);
    // Each rank evaluated its shard of every batch: add them up.
    std::vector<double> sums{v.loss_sum, static_cast<double>(v.correct),
                             static_cast<double>(v.count)};
    sum_over_ranks(sums);
    rec.val_loss = sums[2] > 0 ? sums[0] / sums[2] : 0;
    rec.val_acc = sums[2] > 0 ? sums[1] / sums[2] : 0;
  } else {
    rec.val_loss = rec.train_loss;
    rec.val_acc = rec.train_acc;
  }
  s.result.history.push_back(rec);
  if (!writer) return rec;
  std::fprintf(stderr,
               "epoch %d/%d: train loss %.4f acc %.4f | val loss %.4f acc %.4f | lr %.2g | %.1f "
               "s, %.1f img/s\n",
               s.epoch + 1, opt.epochs, rec.train_loss, rec.train_acc, rec.val_loss, rec.val_acc,
               lr, rec.seconds, rec.images_per_s);
  if (parallel) {
    const double epoch_wait = reducer->wait_seconds() - wait_at_epoch_start;
    const double steps = static_cast<double>(train_data.num_batches());
    std::fprintf(stderr,
                 "data parallel: %d ranks, %d gradient bucket(s) (%lld of %lld reductions so far "
                 "started during backward); allreduce wait %.1f ms/step (after backward), %.1f%% "
                 "of the epoch\n",
                 collective().size(), reducer->num_buckets(),
                 static_cast<long long>(reducer->buckets_overlapped()),
                 static_cast<long long>(reducer->buckets_reduced()),
                 1e3 * epoch_wait / std::max(1.0, steps),
                 rec.seconds > 0 ? 100 * epoch_wait / rec.seconds : 0.0);
  }
  return rec;
}

// best.safetensors on a new best validation accuracy (else one more epoch
// of early-stopping patience), and best_e<h>.safetensors per horizon h.
void TrainRun::keep_best(const EpochRecord& rec) {
  PartTimer saving(timing.checkpoint, "(checkpoint)");
  if (rec.val_acc > s.result.best_val_acc) {
    s.result.best_val_acc = rec.val_acc;
    s.result.best_epoch = s.epoch;
    nlohmann::json info = opt.extra_config;
    info["epoch"] = s.epoch;
    info["val_acc"] = rec.val_acc;
    info["val_loss"] = rec.val_loss;
    info["recipe"] = opt.recipe;
    if (writer) save_checkpoint(best_path, model, info);
    s.early_wait = 0;
  } else {
    ++s.early_wait;
  }
  s.result.horizon_best_val_acc.resize(opt.checkpoint_horizons.size(), -1.0);
  for (size_t h = 0; h < opt.checkpoint_horizons.size(); ++h) {
    if (s.epoch >= opt.checkpoint_horizons[h] || rec.val_acc <= s.result.horizon_best_val_acc[h])
      continue;
    s.result.horizon_best_val_acc[h] = rec.val_acc;
    nlohmann::json info = opt.extra_config;
    info["epoch"] = s.epoch;
    info["val_acc"] = rec.val_acc;
    info["horizon"] = opt.checkpoint_horizons[h];
    if (writer)
      save_checkpoint((fs::path(opt.out_dir) /
                       ("best_e" + std::to_string(opt.checkpoint_horizons[h]) + ".safetensors"))
                          .string(),
                      model, info);
  }
}

// Resets the epoch's counters and saves the state as of the start of the
// next epoch, then history.json and the report; true when early stopping
// ends the run here.
bool TrainRun::end_epoch() {
  s.next_batch = 0;
  s.loss_sum = 0;
  s.seen = s.correct = 0;
  s.epoch_seconds = 0;
  const bool stop = opt.early_stop_patience > 0 && s.early_wait >= opt.early_stop_patience;
  // The state file holds the epoch's timing up to the state file itself;
  // history.json the whole of it. history.json's own writing is the next
  // epoch's "other".
  EpochTiming& t = s.result.history.back().timing;
  close_timing(t);
  ++s.epoch;
  if (writer) {
    PartTimer saving(timing.checkpoint, "(checkpoint)");
    save_train_state(state_path, model, optim, opt.optimizer, s);
  }
  --s.epoch;
  close_timing(t);
  start_epoch_clock();
  if (writer) print_timing(t);
  if (writer) write_outputs(opt, model, s);
  if (stop) {
    if (writer)
      std::fprintf(stderr, "early stopping: no validation improvement for %d epochs\n",
                   opt.early_stop_patience);
    s.result.early_stopped = true;
  }
  return stop;
}

}  // namespace

namespace {

// Every rank needs at least one image of every training batch (sync BN and
// the gradient reduction run on all of them); a short last batch with fewer
// images than ranks is refused, naming the numbers.
void check_shards(BatchSource& train_data, int batch) {
  const int ranks = collective().size();
  if (ranks <= 1) return;
  // The smallest batch of an epoch is its last one (or the only one).
  const int64_t total = train_data.num_samples();
  const int64_t smallest = total % batch == 0 ? std::min<int64_t>(batch, total) : total % batch;
  ECG_CHECK(smallest >= ranks, "data parallel: --batch ", batch, " over ", total,
            " training images leaves ", smallest, " image(s) in a batch for ", ranks,
            " ranks; every rank needs at least one (use fewer ranks or another --batch)");
}

}  // namespace

TrainResult train(Model& model, BatchSource& train_data, BatchSource* val_data,
                  const TrainOptions& opt, bool resume) {
  ECG_CHECK(train_data.num_batches() > 0, "train: the training split is empty");
  check_shards(train_data, opt.batch);
  set_sync_batch_norm(opt.sync_bn);
  std::error_code ec;
  fs::create_directories(opt.out_dir, ec);
  ECG_CHECK(!ec, "cannot create run folder '", opt.out_dir, "': ", ec.message());
  // Frozen parameters stay out of the optimiser (no update, no weight decay);
  // with nothing frozen the list and its order are model.parameters().
  FreezeGuard frozen(model, opt.freeze);
  std::unique_ptr<Optimizer> optim = make_optimizer(opt.optimizer, frozen.trainable(), opt.lr);
  TrainRun run{opt,
               model,
               frozen,
               *optim,
               class_weight_tensor(opt.class_weights, model.config().classes),
               (fs::path(opt.out_dir) / "state.safetensors").string(),
               (fs::path(opt.out_dir) / "best.safetensors").string(),
               model.config().classes,
               model.device(),
               LoopState{},
               0};
  GradientReducer reducer(frozen.trainable(), opt.bucket_mb);
  run.reducer = &reducer;
  LoopState& s = run.s;
  ReduceLrOnPlateau::Options po;
  po.factor = opt.plateau_factor;
  po.patience = opt.plateau_patience;
  po.min_lr = opt.min_lr;
  s.plateau = ReduceLrOnPlateau(po);
  const LrSchedule schedule = make_schedule(opt, model.config().name);
  if (resume) {
    ECG_CHECK(fs::exists(run.state_path), "--resume: no training state in '", opt.out_dir,
              "' (expected ", run.state_path, ")");
    load_train_state(run.state_path, model, *optim, opt.optimizer, frozen.trainable().size(),
                     train_data.num_batches(), s);
    if (run.writer)
      std::fprintf(stderr, "resuming %s at epoch %d, batch %lld\n", opt.out_dir.c_str(),
                   s.epoch + 1, static_cast<long long>(s.next_batch));
    // The saved sums of an interrupted epoch are those of every rank: rank 0
    // carries them on, the others count from zero (any rank count).
    if (!run.writer) s.loss_sum = 0, s.seen = s.correct = 0;
  }
  s.result.best_checkpoint = run.best_path;
  s.result.last_state = run.state_path;
  run.global_step = optim->steps();
  run.start_epoch_clock();

  for (; s.epoch < opt.epochs; ++s.epoch) {
    const double lr = s.plateau.apply(schedule.lr(s.epoch));
    optim->set_lr(lr);
    train_data.begin_epoch(s.epoch);
    run.wait_at_epoch_start = reducer.wait_seconds();
    model.train();
    hold_frozen_batch_norms(model, opt.freeze, opt.freeze_bn);
    if (!run.run_steps(train_data)) return s.result;
    const EpochRecord rec = run.close_epoch(lr, train_data, val_data);
    run.keep_best(rec);
    if (s.plateau.update(rec.val_loss))
      std::fprintf(stderr, "validation loss plateaued: learning rate x%.3f\n", opt.plateau_factor);
    if (run.end_epoch()) break;
  }
  return s.result;
}

}  // namespace ecg
