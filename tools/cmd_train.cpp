// `ecgcnn train --data DIR --model M ...`: trains with a separate validation
// split for model selection (better method than the study, which selected on
// its test split); `--recipe study` reproduces the notebooks' settings.
// `--resume RUN_DIR` continues an interrupted run with its saved settings.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include <thread>

#include "cli_common.h"
#include "cli_profile.h"
#include "core/collective.h"
#include "core/profiler.h"
#include "data_sources.h"
#include "kernels/runtime.h"
#include "models/checkpoint.h"
#include "models/safetensors.h"
#include "train/finetune.h"
#include "train/mpi_collective.h"
#include "train_config.h"

namespace {

using TrainCli = ecg::cli::TrainSettings;

// --init-from: reads the checkpoint before any data is decoded, so a bad file
// fails at once, and takes its model and input size where the command line
// gives none (a mismatch with one given is an error in init_from_checkpoint).
std::unique_ptr<ecg::LoadedCheckpoint> open_init_checkpoint(TrainCli& c, bool model_given,
                                                            bool size_given) {
  auto ck = std::make_unique<ecg::LoadedCheckpoint>(ecg::load_checkpoint(c.init_from));
  const ecg::ModelConfig& have = ck->model->config();
  if (!model_given) c.model = have.name;
  if (!size_given) c.image_size = have.image_size;
  const int size =
      c.image_size > 0 ? c.image_size : ecg::cli::DataConfig::for_model(c.model).image_size;
  ECG_CHECK(have.name == c.model && have.image_size == size, "--init-from '", c.init_from,
            "' holds ", have.name, " at ", have.image_size, " px, this run is ", c.model, " at ",
            size, " px (pass --model ", have.name, " --image-size ", have.image_size, ")");
  return ck;
}

// Copies the checkpoint into the new model and records where it came from.
void init_model(ecg::Model& model, const ecg::LoadedCheckpoint& ck, TrainCli& c,
                const std::vector<std::string>& classes) {
  ecg::InitFromResult r = ecg::init_from_checkpoint(model, ck, c.init_from, classes);
  if (!r.message.empty()) std::fprintf(stderr, "%s\n", r.message.c_str());
  std::fprintf(stderr, "initialised from %s: %d tensors%s\n", c.init_from.c_str(), r.tensors_loaded,
               r.head_reinitialised ? " (head re-initialised)" : "");
  c.train.extra_config["init_from"] = {{"checkpoint", c.init_from},
                                       {"head_reinitialised", r.head_reinitialised},
                                       {"freeze", c.train.freeze},
                                       {"freeze_bn", c.train.freeze_bn}};
}

// --profile: the report, trace and files of the one step the trainer
// recorded (global step c.profile_step), or a note that the run was shorter.
void write_train_profile(const TrainCli& c, ecg::Module& model, const ecg::ProfilePeaks& peaks,
                         int image_size) {
  namespace fs = std::filesystem;
  if (ecg::Profiler::instance().steps() == 0) {
    std::fprintf(stderr, "--profile: step %d did not run in this session; nothing traced\n",
                 c.profile_step);
    return;
  }
  ecg::cli::ProfileOutputs out;
  out.trace = (fs::path(c.train.out_dir) / "trace.json").string();
  out.rows = c.profile_out;
  out.roofline = c.roofline;
  ecg::cli::write_profile_outputs(peaks, ecg::cli::layer_shapes(model, c.train.batch, image_size),
                                  out, c.profile_step,
                                  c.model + " training step " + std::to_string(c.profile_step));
}

// Several ranks on one machine share its cores: without --threads each takes
// its share (mpirun sets OMPI_COMM_WORLD_LOCAL_SIZE), not all of them.
void share_cores_between_local_ranks() {
  const char* local = std::getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
  const int ranks = local ? std::max(1, std::atoi(local)) : 1;
  if (ranks <= 1 || ecg::cli::global_options().threads > 0) return;
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ecg::set_num_threads(std::max(1, cores / ranks));
}

// --mpi-timeout: the watchdog's deadline for any wait on the other ranks.
double g_mpi_timeout_s = 300;

// Returns 0, or 130 when Ctrl-C stopped the run (its state saved).
int train_command(TrainCli c, int epochs_override, bool model_given, bool size_given) {
  namespace fs = std::filesystem;
  using namespace ecg;
  const bool resume = !c.resume.empty();
  cli::default_training_to_direct_convolution();
  // Data parallel (mpirun): rank 0 alone prints the run's lines and writes files.
  const bool writer = collective().rank() == 0;
  if (resume) {
    std::string out = c.resume;
    fs::path cfg_path = fs::path(out) / "train_config.json";
    ECG_CHECK(fs::exists(cfg_path), "--resume: '", out,
              "' has no train_config.json; is it a run folder?");
    cli::read_train_config(cfg_path.string(), c);
    c.train.out_dir = out;
    if (epochs_override > 0) c.train.epochs = epochs_override;
    if (writer)
      std::fprintf(stderr,
                   "--resume: settings from %s: data %s, model %s, image size %d, batch %d, "
                   "optimizer %s, lr %g, schedule %s, seed %llu, recipe %s; epochs %d%s\n",
                   cfg_path.c_str(), c.data.root.c_str(), c.model.c_str(), c.image_size,
                   c.train.batch, c.train.optimizer.c_str(), c.train.lr, c.train.schedule.c_str(),
                   static_cast<unsigned long long>(c.train.seed), c.train.recipe.c_str(),
                   c.train.epochs, epochs_override > 0 ? " (--epochs)" : "");
  }
  ECG_CHECK(!c.data.root.empty(), "train: --data DIR is required");
  std::unique_ptr<LoadedCheckpoint> init;
  if (!c.init_from.empty()) init = open_init_checkpoint(c, model_given, size_given);
  cli::DataConfig data = cli::DataConfig::for_model(c.model);
  data.root = c.data.root;
  data.val_fraction = c.data.val_fraction;
  data.batch = c.train.batch;
  data.seed = c.train.seed;
  if (c.image_size > 0) data.image_size = c.image_size;
  data.augment = !c.no_augment;
  data.flip = c.flip;
  data.oversample = !c.no_oversample;
  data.skip_bad = c.data.skip_bad;
  data.shard_rank = collective().rank();
  data.shard_count = collective().size();
  data.progress = writer;
  c.train.progress = c.train.progress && writer;
  if (c.train.recipe == "study") {
    // The notebooks: Keras Adam 1e-3 with the step schedules, shift + flip
    // augmentation for the ResNets, none for AlexNet; ResNets validated on test.
    c.train.optimizer = "adam";
    c.train.lr = 1e-3;
    c.train.schedule = "study";
    c.train.warmup_epochs = 0;
    c.train.precise_bn_batches = 0;
    data.flip = c.model != "alexnet";
    data.augment = c.model != "alexnet";
    data.val_from_test = c.model != "alexnet";
  } else {
    ECG_CHECK(c.train.recipe == "default", "--recipe: expected default or study, got '",
              c.train.recipe, "'");
  }
  // Rank 0 decodes the images and writes the cache first; the others then read it.
  if (!writer) collective().barrier();
  cli::DataSplits splits = cli::open_splits(data);
  if (writer) collective().barrier();
  ModelConfig mc;
  mc.name = c.model;
  mc.image_size = data.image_size;
  mc.classes = static_cast<int>(splits.classes.size());
  mc.seed = c.train.seed;
  auto model = build_model(mc);
  if (init) init_model(*model, *init, c, splits.classes);
  model->to(cli::selected_device());  // --device: the loop runs where the model lives
  if (collective().size() > 1 && writer)
    std::fprintf(stderr, "data parallel: %s, global batch %d (%s BatchNorm)\n",
                 collective().describe().c_str(), c.train.batch,
                 c.train.sync_bn ? "synchronised" : "per-rank");
  if (writer)
    std::fprintf(stderr, "%s: %lld parameters, input %dx%d, %lld train / %lld validation images\n",
                 c.model.c_str(), static_cast<long long>(model->num_parameters()), data.image_size,
                 data.image_size, static_cast<long long>(splits.train->num_samples()),
                 static_cast<long long>(splits.val ? splits.val->num_samples() : 0));
  fs::create_directories(c.train.out_dir);
  if (!resume && writer) {
    nlohmann::json j = cli::train_config_json(c);
    j["image_size"] = data.image_size;
    write_file_atomic((fs::path(c.train.out_dir) / "train_config.json").string(), j.dump(2));
  }
  c.train.extra_config["data"] = data.json();
  c.train.extra_config["classes"] = splits.classes;
  c.train.extra_config["splits"] = splits.summary;
  if (c.class_weighted && splits.summary.contains("train_counts")) {
    std::vector<double> counts = splits.summary["train_counts"].get<std::vector<double>>();
    double total = 0;
    for (double v : counts) total += v;
    for (double v : counts)
      c.train.class_weights.push_back(
          static_cast<float>(total / (counts.size() * std::max(1.0, v))));
  }
  ProfilePeaks peaks;
  if (c.profile) {
    ecg::cli::check_profile_outputs({"", c.profile_out, c.roofline});
    // The probes measure this CPU: on another device a percentage of them would mislead.
    if (cli::selected_device().type == DeviceType::CPU) peaks = cli::measure_profile_peaks();
    c.train.profile_step = c.profile_step;
  }
  install_interrupt_handler(/*also_sigterm=*/collective().size() > 1);
  // From the first step on (rank 0's image decoding above may take long).
  set_collective_timeout(g_mpi_timeout_s);
  TrainResult r = train(*model, *splits.train, splits.val.get(), c.train, resume);
  if (c.profile && writer) write_train_profile(c, *model, peaks, data.image_size);
  // Ctrl-C: the state is saved; 128 + SIGINT tells scripts the run did not finish.
  if (r.interrupted) return 130;
  if (!writer) return 0;
  std::printf("best validation accuracy %.4f at epoch %d; checkpoint %s; report %s/report.html\n",
              r.best_val_acc, r.best_epoch + 1, r.best_checkpoint.c_str(), c.train.out_dir.c_str());
  return 0;
}

// train_command inside an MPI session when mpirun started us: an error on
// one rank prints its line and ends every rank (none waits for it forever).
void run_train(const TrainCli& c, int epochs_override, bool model_given, bool size_given) {
  int status = 0;
  {
    ecg::DistributedSession session;
    share_cores_between_local_ranks();
    try {
      status = train_command(c, epochs_override, model_given, size_given);
    } catch (const std::exception& e) {
      ecg::DistributedSession::fail_all_ranks(e);
      throw;
    }
  }  // every rank finalises MPI before the exit status goes up
  // Ctrl-C: the state is saved; 128 + SIGINT tells scripts the run did not finish.
  if (status != 0) throw ecg::cli::ExitStatus(status);
}

// With --resume every setting comes from the run's train_config.json, so a
// setting flag given as well would be ignored; it is refused instead.
// --epochs sets a new total; the runtime flags and --profile do not change
// the run's numbers.
void check_resume_flags(const CLI::App& sub) {
  static const std::set<std::string> accepted = {"",
                                                 "--help",
                                                 "--resume",
                                                 "--epochs",
                                                 "--isa",
                                                 "--threads",
                                                 "--device",
                                                 "--profile",
                                                 "--profile-step",
                                                 "--profile-out",
                                                 "--roofline",
                                                 "--bucket-mb",
                                                 "--param-check-every",
                                                 "--mpi-timeout"};
  for (const CLI::Option* o : sub.get_options())
    ECG_CHECK(o->count() == 0 || accepted.count(o->get_name()), "--resume: ", o->get_name(),
              " is taken from the saved run (train_config.json) and cannot be changed; with "
              "--resume give only --epochs (a new total), --threads, --isa, --device, --profile, "
              "--bucket-mb, --param-check-every or --mpi-timeout");
}

}  // namespace

void ecg_cli_train(CLI::App& app) {
  static TrainCli c;
  auto* sub = app.add_subcommand("train", "train a model on a folder of ECG images");
  ecg::cli::add_runtime_flags(sub);
  sub->add_option("--data", c.data.root, "dataset folder (train/ and test/, or class folders)");
  static CLI::Option *model_opt = nullptr, *size_opt = nullptr;
  model_opt = sub->add_option("--model", c.model, "alexnet, resnet11, resnet20, resnet29");
  static CLI::Option* epochs_opt = nullptr;
  epochs_opt = sub->add_option("--epochs", c.train.epochs, "epochs (with --resume: new total)")
                   ->check(CLI::Range(1, 100000));
  sub->add_option("--batch", c.train.batch, "batch size")->check(CLI::Range(1, 4096));
  size_opt = sub->add_option("--image-size", c.image_size, "square input size (default 224)")
                 ->check(CLI::Range(8, 4096));
  sub->add_option("--seed", c.train.seed, "seed for initialisation, splits, order, augmentation");
  sub->add_option("--out", c.train.out_dir, "run folder (checkpoints, history, report)");
  sub->add_option("--recipe", c.train.recipe, "default, or study (the notebooks' exact settings)");
  sub->add_option("--optimizer", c.train.optimizer, "adam (Keras eps), adam-torch, adamw, sgd");
  sub->add_option("--lr", c.train.lr, "base learning rate")->check(CLI::PositiveNumber);
  sub->add_option("--schedule", c.train.schedule, "study, cosine or constant");
  sub->add_option("--warmup-epochs", c.train.warmup_epochs, "linear warm-up epochs");
  c.train.precise_bn_batches = 20;
  sub->add_option("--precise-bn", c.train.precise_bn_batches,
                  "recompute BN statistics over N training batches before validating (0 = off)");
  sub->add_option("--early-stop", c.train.early_stop_patience,
                  "stop after N epochs without validation improvement (0 = off)");
  sub->add_option("--val-fraction", c.data.val_fraction, "share of train held out for validation")
      ->check(CLI::Range(0.0, 0.9));
  sub->add_flag("--no-augment", c.no_augment, "no shift/rotation/brightness augmentation");
  sub->add_flag("--flip", c.flip, "random horizontal flips (reverses time on an ECG)");
  sub->add_flag("--no-oversample", c.no_oversample, "do not duplicate minority-class images");
  sub->add_flag("--class-weighted", c.class_weighted, "weight the loss by inverse class frequency");
  ecg::cli::add_skip_bad_flag(sub, c.data.skip_bad);
  CLI::Option* resume_opt = sub->add_option(
      "--resume", c.resume, "continue the run in this folder with its saved settings");
  sub->add_option("--init-from", c.init_from,
                  "fine-tune: start from this checkpoint's weights and BN statistics (same model "
                  "and image size, which it sets when not given; new head if its classes differ)")
      ->excludes(resume_opt);
  sub->add_option("--freeze", c.train.freeze,
                  "comma list of layer-name prefixes to keep fixed (no updates, no weight decay, "
                  "BN statistics kept), e.g. stem,stage0; see `ecgcnn summary`")
      ->delimiter(',');
  sub->add_flag("--freeze-bn", c.train.freeze_bn,
                "keep every BatchNorm's running statistics: normalise with them, never update "
                "them (turns --precise-bn off); gamma and beta still train unless frozen");
  sub->footer(
      "Fine-tuning a pretrained model on a few real scans (BatchNorm statistics updated on a few "
      "dozen images collapse to chance; keep them, and lower the learning rate):\n"
      "  ecgcnn train --data real/ --init-from runs/synth/best.safetensors --freeze-bn "
      "--optimizer adam --lr 1e-4 --schedule constant --epochs 15 --out runs/finetune\n"
      "Add --freeze stem,stage0 to keep the early layers; --freeze stem,stage0,stage1,stage2 "
      "trains only the head (fc).\n"
      "Data parallel on N processes (docs/distributed.md): mpirun -np N ecgcnn train ... ; "
      "--batch stays the global batch, split across the ranks.");
  auto* profile_flag =
      sub->add_flag("--profile", c.profile,
                    "time one step (--profile-step) per layer and op; print the table and write a "
                    "Chrome trace of that step to OUT/trace.json");
  sub->add_option("--profile-step", c.profile_step, "with --profile: the global step traced")
      ->check(CLI::Range(1, 1 << 30))
      ->capture_default_str()
      ->needs(profile_flag);
  sub->add_option("--profile-out", c.profile_out,
                  "with --profile: per-layer rows to FILE.json or FILE.csv")
      ->needs(profile_flag);
  sub->add_option("--roofline", c.roofline, "with --profile: a roofline picture to FILE.svg")
      ->needs(profile_flag);
  sub->add_flag("--sync-bn", c.train.sync_bn,
                "under mpirun: BatchNorm statistics over the whole global batch, so N ranks train "
                "what one process trains at the same --batch; without it each rank normalises with "
                "its own shard's statistics (PyTorch DDP's default) and rank 0's running "
                "statistics are kept");
  sub->add_option("--bucket-mb", c.train.bucket_mb,
                  "under mpirun: gradients reduce in non-blocking buckets of this many MiB while "
                  "backward runs (default 1; 0: one allreduce after backward)")
      ->check(CLI::Range(0.0, 1024.0));
  sub->add_option("--param-check-every", c.train.param_check_every,
                  "under mpirun: every K steps, stop unless all ranks hold the same parameters "
                  "(default 0, debug builds 100)")
      ->check(CLI::Range(0, 1000000));
  sub->add_option("--mpi-timeout", g_mpi_timeout_s,
                  "under mpirun: stop every rank (one line, exit 124) when a wait for the other "
                  "ranks makes no progress for this many seconds, as when a rank hangs (default "
                  "300; 0: wait for ever)")
      ->check(CLI::Range(0.0, 1e9));
  sub->callback([sub] {
    if (!c.resume.empty()) check_resume_flags(*sub);
    run_train(c, epochs_opt->count() ? c.train.epochs : 0, model_opt->count() > 0,
              size_opt->count() > 0);
  });
}
