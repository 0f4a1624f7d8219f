// The study's models: exact trainable parameter counts at 224x224 and MACs,
// shapes at small sizes, train/eval mode, and errors for too-small inputs.
#include <gtest/gtest.h>

#include "models/models.h"

namespace ecg {
namespace {

int64_t params_of(const std::string& name) {
  ModelConfig c;
  c.name = name;
  return build_model(c)->num_parameters();
}

TEST(Models, ParameterCountsMatchTheStudy) {
  EXPECT_EQ(params_of("resnet11"), 659540);
  EXPECT_EQ(params_of("resnet20"), 1417220);
  EXPECT_EQ(params_of("resnet29"), 2174900);
  EXPECT_EQ(params_of("alexnet"), 6243908);
}

TEST(Models, ResNet11CostAndBatchNormStatistics) {
  ModelConfig c;
  auto m = build_model(c);
  double macs = 0;
  for (auto& r : m->summary()) macs += r.macs;
  EXPECT_NEAR(macs / 1e9, 3.63, 0.005);
  int64_t stats = 0;
  for (auto& b : m->named_buffers()) stats += b.second->numel();
  EXPECT_EQ(stats, 1344);
}

TEST(Models, SmallInputForwardGivesLogits) {
  ModelConfig c;
  c.image_size = 40;
  auto m = build_model(c);
  m->eval();
  Tensor x = Tensor::randn({2, 3, 40, 40}, 1);
  Tensor y = (*m)(x);
  EXPECT_EQ(y.shape(), (Shape{2, 4}));
  EXPECT_EQ(m->summary(2).back().output, (Shape{2, 4}));
}

TEST(Models, UnknownAndTooSmallAreClearErrors) {
  ModelConfig c;
  c.name = "vgg16";
  EXPECT_THROW(build_model(c), Error);
  c.name = "alexnet";
  c.image_size = 96;
  try {
    build_model(c);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("too small"), std::string::npos);
  }
  // 215 px is the smallest size at which every window fits: 214 leaves the
  // last 2x2 pool a 1x1 input.
  c.image_size = 214;
  try {
    build_model(c);
    FAIL() << "214 px accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("image size 214 is too small (needs at least 215 pixels)"),
              std::string::npos)
        << e.what();
  }
  c.image_size = 215;
  auto m = build_model(c);
  EXPECT_EQ(m->summary(1).back().output, (Shape{1, 4}));
}

TEST(Models, SameSeedSameWeights) {
  ModelConfig c;
  c.image_size = 32;
  auto a = build_model(c), b = build_model(c);
  auto pa = a->parameters(), pb = b->parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t i = 0; i < pa.size(); ++i) EXPECT_EQ(pa[i]->to_vector_f32(), pb[i]->to_vector_f32());
}

}  // namespace
}  // namespace ecg
