// The training loop behind `ecgcnn train`: epochs of optimiser steps over a
// batch source, validation each epoch, best-on-validation checkpoint, early
// stopping, the study's learning-rate schedules with reduce-on-plateau,
// progress bar, NaN detection, Ctrl-C handling and exact resume.
//
// Determinism: the batch order and augmentation of epoch e depend only on
// (seed, e), parameters initialise from the seed, dropout masks from a
// counter, and kernels are deterministic for a fixed thread count; so the same
// seed and thread count give bit-identical losses, and a resumed run replays
// the same steps as an uninterrupted one.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "models/models.h"
#include "train/batch_source.h"

namespace ecg {

struct TrainOptions {
  std::string out_dir = "runs/train";
  int epochs = 10;
  int batch = 16;
  uint64_t seed = 1;
  std::string recipe = "default";  // "study": the notebook's exact settings
  std::string optimizer = "adam";  // adam | adamw | sgd
  double lr = 1e-3;
  std::string schedule = "study";  // study (per model) | cosine | constant
  int warmup_epochs = 0;
  double plateau_factor = 0.31622776601683794;  // sqrt(0.1)
  int plateau_patience = 5;
  double min_lr = 5e-7;
  int early_stop_patience = 0;       // 0 = off
  std::vector<float> class_weights;  // empty = none
  double clip_norm = 0;              // 0 = off
  // Before each validation, recompute BatchNorm running statistics as the
  // plain average over this many training batches ("precise BN"). With the
  // study's momentum of 0.99 the running statistics need hundreds of steps to
  // forget their initial values, so short runs on small data validate on
  // stale statistics; 0 keeps the study's behaviour.
  int precise_bn_batches = 0;
  // Fine-tuning (train/finetune.h): parameters whose names start with one of
  // `freeze` get no updates and their BatchNorm layers keep their running
  // statistics; `freeze_bn` keeps every BatchNorm's statistics (eval mode),
  // which also turns precise BN off.
  std::vector<std::string> freeze;
  bool freeze_bn = false;
  bool progress = true;
  // Data-parallel runs (mpirun -np N, docs/distributed.md). sync_bn: every
  // BatchNorm normalises with the statistics of the whole global batch, so N
  // ranks train what one process trains; off, each rank normalises with its
  // own shard's (PyTorch DDP's default). bucket_mb: gradients reduce in
  // non-blocking buckets of this size as backward writes them (0: one
  // reduction after backward). param_check_every: every K steps, fail unless
  // every rank holds the same parameters (0: never; debug builds every 100).
  bool sync_bn = false;
  double bucket_mb = 1;
#ifdef NDEBUG
  int param_check_every = 0;
#else
  int param_check_every = 100;
#endif
  // The one global step (1-based) the profiler records (core/profiler.h),
  // when it is on: 0 records none.
  int profile_step = 0;
  // Extra best-on-validation checkpoints restricted to the first h epochs
  // (best_e<h>.safetensors). Because the schedule and plateau rule depend only
  // on the epoch index and the history, the first h epochs of a longer run are
  // exactly an h-epoch run: `ecgcnn study` trains once to the longest horizon.
  std::vector<int> checkpoint_horizons;
  nlohmann::json extra_config;  // data settings etc., recorded in the report
};

// Where an epoch's wall time went, in seconds on the profiler's clock
// (core/profiler.h, PartTimer), and the process's memory at its end. `wall`
// runs from the end of the previous epoch's record (or the loop's start) to
// this epoch's state file written, so the epochs' walls tile the loop; for a
// resumed epoch it is this session's part. wall = step + data + validation +
// checkpoint + other.
struct EpochTiming {
  double wall = 0;
  double step = 0;        // inside the optimiser steps (forward, backward, update, checks)
  double data = 0;        // waiting for the next batch (the loader's thread assembles it)
  double validation = 0;  // precise BN, the rank broadcast and the validation pass
  double precise_bn = 0;  // of which precise BN (recomputing the BatchNorm statistics)
  double checkpoint = 0;  // best and horizon checkpoints and the state file
  double other = 0;       // the rest: progress bar, schedule, loader restart, last history.json
  double cpu = 0;         // process CPU seconds (all threads) over `wall`
  double rss_mb = 0;      // resident set at the epoch's end (0 where unknown)
  double allocator_cached_mb = 0;  // idle blocks the CPU caching allocator holds
  int64_t minor_faults = 0;        // page faults over `wall` (fresh memory being touched)
  double outside() const { return wall - step; }
};

struct EpochRecord {
  int epoch = 0;
  double train_loss = 0, train_acc = 0, val_loss = 0, val_acc = 0, lr = 0, seconds = 0;
  double images_per_s = 0;
  EpochTiming timing;
};

struct TrainResult {
  std::vector<EpochRecord> history;
  int best_epoch = -1;
  double best_val_acc = -1;
  std::vector<double> horizon_best_val_acc;  // per checkpoint_horizons entry
  bool interrupted = false;
  bool early_stopped = false;
  std::string best_checkpoint, last_state;
};

// Loss and accuracy of `model` (eval mode, no grad) over a source. Empty
// batches (a rank's share of a short last batch) are skipped.
struct EvalResult {
  double loss = 0, accuracy = 0;
  double loss_sum = 0;  // sum of per-image losses, and the counts behind the means
  int64_t count = 0, correct = 0;
  std::vector<int> truth, predicted;
  std::vector<std::vector<float>> probabilities;
};
EvalResult evaluate(Model& model, BatchSource& data, bool progress = false,
                    const std::string& label = "eval");

// Recomputes every BatchNorm's running mean and variance as the average of
// the batch statistics over the first `batches` batches of `data` (no grad).
// BatchNorm layers whose names start with one of `keep` are left as they are.
void recompute_bn_statistics(Model& model, BatchSource& data, int epoch, int batches,
                             const std::vector<std::string>& keep = {});

// Trains `model`; resumes from out_dir/state when `resume` is true and the
// state exists. Writes out_dir/best.safetensors, out_dir/state.safetensors,
// out_dir/history.json and out_dir/report.html.
TrainResult train(Model& model, BatchSource& train_data, BatchSource* val_data,
                  const TrainOptions& opt, bool resume);

// Installs a SIGINT handler that asks the loop to stop after the current step;
// also for SIGTERM with `also_sigterm` (mpirun turns Ctrl-C into SIGTERM to
// every rank).
void install_interrupt_handler(bool also_sigterm = false);
bool interrupt_requested();
void clear_interrupt();

}  // namespace ecg
