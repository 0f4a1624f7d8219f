#include "models/models.h"

#include <cstdio>
#include <sstream>

namespace ecg {

namespace {

std::shared_ptr<Model> build_resnet(const ModelConfig& cfg, int n) {
  auto m = std::make_shared<Model>(cfg);
  uint64_t seed = cfg.seed * 1000;
  m->add("stem_conv",
         std::make_shared<Conv2d>(Conv2dConfig{3, 16, 3, 1, Padding::Same, true, cfg.l2, seed++}));
  m->add("stem_bn", std::make_shared<BatchNorm>(16, 0.99, 1e-3, /*fuse_relu=*/true));
  int f_in = 16;
  for (int stage = 0; stage < 3; ++stage) {
    int f_out = stage == 0 ? 4 * f_in : 2 * f_in;
    for (int b = 0; b < n; ++b) {
      bool first = b == 0;
      int stride = (first && stage > 0) ? 2 : 1;
      // The first block maps f_in -> f_in -> f_out; later blocks f_out -> f_in -> f_out.
      int in = first ? f_in : f_out;
      std::string name = "stage" + std::to_string(stage) + ".block" + std::to_string(b);
      m->add(name, std::make_shared<ResidualBlock>(in, f_in, f_out, stride, first, cfg.l2, seed));
      seed += 10;
    }
    f_in = f_out;
  }
  m->add("head_pool", std::make_shared<AvgPool2d>(8, 8));
  m->add("flatten", std::make_shared<Flatten>());
  // Two stride-2 "same" stages give ceil(S / 4); then 8x8 average pooling, stride 8.
  int spatial = (cfg.image_size + 3) / 4;
  ECG_CHECK(spatial >= 8, cfg.name, ": image size ", cfg.image_size,
            " is too small (needs at least 29 pixels)");
  int s = (spatial - 8) / 8 + 1;
  m->add("fc", std::make_shared<Linear>(f_in * s * s, cfg.classes, seed, "he_normal"));
  return m;
}

// Output size of a valid (unpadded) window; 0 when the window does not fit
// (C++ division truncates toward zero, so (in - k) / stride + 1 would give 1
// for in = k - 1).
int valid_out(int in, int k, int stride) {
  return in >= k ? (in - k) / stride + 1 : 0;
}

// The smallest AlexNet input: each window must fit, the last pool's too.
constexpr int kAlexNetMinImage = 215;

std::shared_ptr<Model> build_alexnet(const ModelConfig& cfg) {
  auto m = std::make_shared<Model>(cfg);
  uint64_t seed = cfg.seed * 1000;
  int s = cfg.image_size;
  auto conv = [&](const std::string& name, int in, int out, int k, int stride) {
    m->add(name, std::make_shared<Conv2d>(
                     Conv2dConfig{in, out, k, stride, Padding::Valid, true, 0.0, seed++}));
    s = valid_out(s, k, stride);
    ECG_CHECK(s >= 1, "alexnet: image size ", cfg.image_size, " is too small (needs at least ",
              kAlexNetMinImage, " pixels)");
  };
  auto pool = [&](const std::string& name) {
    m->add(name, std::make_shared<MaxPool2d>(2, 2));
    s = valid_out(s, 2, 2);
    ECG_CHECK(s >= 1, "alexnet: image size ", cfg.image_size, " is too small (needs at least ",
              kAlexNetMinImage, " pixels)");
  };
  conv("conv1", 3, 96, 11, 4);
  m->add("relu1", std::make_shared<ReLU>());
  pool("pool1");
  m->add("bn1", std::make_shared<BatchNorm>(96));
  conv("conv2", 96, 256, 11, 1);
  m->add("relu2", std::make_shared<ReLU>());
  pool("pool2");
  m->add("bn2", std::make_shared<BatchNorm>(256));
  conv("conv3", 256, 384, 3, 1);
  m->add("relu3", std::make_shared<ReLU>());
  m->add("bn3", std::make_shared<BatchNorm>(384));
  conv("conv4", 384, 384, 3, 1);
  m->add("relu4", std::make_shared<ReLU>());
  m->add("bn4", std::make_shared<BatchNorm>(384));
  conv("conv5", 384, 256, 3, 1);
  m->add("relu5", std::make_shared<ReLU>());
  pool("pool5");
  m->add("bn5", std::make_shared<BatchNorm>(256));
  m->add("flatten", std::make_shared<Flatten>());
  // The study puts ReLU before BN everywhere, so no BN+ReLU fusion applies here.
  m->add("fc1", std::make_shared<Linear>(256 * s * s, 512, seed++, "glorot_uniform"));
  m->add("relu6", std::make_shared<ReLU>());
  m->add("dropout", std::make_shared<Dropout>(0.5, seed++));
  m->add("bn6", std::make_shared<BatchNorm>(512));
  m->add("fc2", std::make_shared<Linear>(512, cfg.classes, seed++, "glorot_uniform"));
  return m;
}

}  // namespace

std::vector<std::string> model_names() {
  return {"alexnet", "resnet11", "resnet20", "resnet29"};
}

std::shared_ptr<Model> build_model(const ModelConfig& cfg) {
  ECG_CHECK(cfg.classes >= 2, "model: need at least 2 classes, got ", cfg.classes);
  ECG_CHECK(cfg.image_size > 0, "model: invalid image size ", cfg.image_size);
  if (cfg.name == "resnet11") return build_resnet(cfg, 1);
  if (cfg.name == "resnet20") return build_resnet(cfg, 2);
  if (cfg.name == "resnet29") return build_resnet(cfg, 3);
  if (cfg.name == "alexnet") return build_alexnet(cfg);
  fail("unknown model '", cfg.name, "' (expected alexnet, resnet11, resnet20 or resnet29)");
}

}  // namespace ecg

namespace ecg {

std::vector<LayerInfo> Model::summary(int batch) {
  std::vector<LayerInfo> rows;
  infer({batch, 3, cfg_.image_size, cfg_.image_size}, &rows, "");
  return rows;
}

std::vector<uint64_t> Model::dropout_counters() {
  std::vector<uint64_t> out;
  for (auto& m : layers())
    if (auto d = std::dynamic_pointer_cast<Dropout>(m)) out.push_back(d->counter());
  return out;
}

void Model::set_dropout_counters(const std::vector<uint64_t>& c) {
  size_t i = 0;
  for (auto& m : layers())
    if (auto d = std::dynamic_pointer_cast<Dropout>(m))
      if (i < c.size()) d->set_counter(c[i++]);
}

std::string format_summary(Model& m, int batch) {
  std::vector<LayerInfo> rows = m.summary(batch);
  std::ostringstream os;
  char line[256];
  std::snprintf(line, sizeof line, "%-28s %-16s %-22s %12s %14s\n", "layer", "kind", "output",
                "params", "MACs");
  os << "model " << m.config().name << ", input [" << batch << ", 3, " << m.config().image_size
     << ", " << m.config().image_size << "]\n"
     << line;
  int64_t params = 0;
  double macs = 0;
  for (auto& r : rows) {
    std::snprintf(line, sizeof line, "%-28s %-16s %-22s %12lld %14.0f\n", r.name.c_str(),
                  r.kind.c_str(), shape_str(r.output).c_str(), static_cast<long long>(r.params),
                  r.macs);
    os << line;
    params += r.params;
    macs += r.macs;
  }
  int64_t bn_stats = 0;
  for (auto& b : m.named_buffers()) bn_stats += b.second->numel();
  os << "trainable parameters: " << params << " (+" << bn_stats << " BN running statistics)\n";
  std::snprintf(line, sizeof line, "forward cost: %.3f GMAC (%.2f GFLOP) per batch of %d\n",
                macs * 1e-9, 2 * macs * 1e-9, batch);
  os << line;
  return os.str();
}

}  // namespace ecg
