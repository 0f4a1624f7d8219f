// Cross-layer row tiling (quant/row_tiling.h): the whole network with the
// leading convolutions in row bands gives the same logits, byte for byte, as
// layer-by-layer execution, for every int8 kernel, odd image sizes, several
// slab counts and batches; windows never overlap live tensors in the plan;
// and ResNet-11 at 224 px plans at most 5 MB (issue 6's target).
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "kernels/runtime.h"
#include "quant/int8_runner.h"
#include "quant/quantizer.h"
#include "tests/quant/random_resnet.h"

namespace ecg {
namespace {

using testing::random_resnet;

quant::Int8Model quantize(Model& m, int size) {
  std::vector<Tensor> calib = {Tensor::uniform({2, 3, size, size}, 7, 0.0, 1.0)};
  quant::QuantizeOptions o;
  o.classes = {"a", "b", "c", "d"};
  return quant::quantize_model(m, calib, o);
}

std::vector<int8::Int8Kernel> kernels() {
  std::vector<int8::Int8Kernel> ks;
  for (auto k : {int8::Int8Kernel::Ref, int8::Int8Kernel::Generic, int8::Int8Kernel::Avx2,
                 int8::Int8Kernel::AvxVnni, int8::Int8Kernel::Avx512Vnni, int8::Int8Kernel::Neon,
                 int8::Int8Kernel::NeonDot})
    if (int8::int8_kernel_supported(k)) ks.push_back(k);
  return ks;
}

TEST(RowTiling, WholeNetworkIsBitExactWithLayerByLayer) {
  // 40 px: 20 and 10 after the stride-2 stages; 45 px: odd everywhere (23, 12).
  for (int size : {40, 45}) {
    auto m = random_resnet(size);
    quant::Int8Model q = quantize(*m, size);
    Tensor x = Tensor::uniform({3, 3, size, size}, 11, 0.0, 1.0);
    Tensor one = x.slice(0, 1, 2).contiguous();
    for (auto k : kernels()) {
      quant::Int8Runner whole(q, k, 3, /*reuse_arena=*/false);
      const std::vector<float> want = whole.run(x).to_vector_f32(),
                               want1 = whole.run(one).to_vector_f32();
      // Groups ending in stage 0 (stem .. conv2), at stage 1's shortcut and
      // conv2, and at the last conv; slabs of 1, 2, 3 and 7 (uneven, some
      // rows only halo) with bands of 8, 1 and 3 rows. The reference kernel
      // only on one configuration (it takes a second per run).
      struct Config {
        int last, slabs, band;
      };
      std::vector<Config> configs = {{5, 2, 8}};
      if (k != int8::Int8Kernel::Ref)
        for (int last : {3, 5, 6, 9})
          for (Config c :
               {Config{last, 1, 8}, Config{last, 2, 8}, Config{last, 3, 1}, Config{last, 7, 3}})
            configs.push_back(c);
      for (const Config& c : configs) {
        ASSERT_TRUE(quant::valid_row_group(q, 0, c.last)) << c.last;
        quant::RowTilingOptions rt;
        rt.slabs = c.slabs, rt.band_rows = c.band, rt.last = c.last;
        quant::Int8Runner tiled(q, k, 3, true, rt);
        ASSERT_EQ(tiled.plan().row_groups.size(), 1u);
        const std::string label = std::string(int8::int8_kernel_name(k)) + ", " +
                                  std::to_string(size) + " px, nodes 0.." + std::to_string(c.last) +
                                  ", " + std::to_string(c.slabs) + " slabs of " +
                                  std::to_string(c.band) + "-row bands";
        EXPECT_EQ(tiled.run(x).to_vector_f32(), want) << label;
        // A second run starts from the windows the first left behind.
        EXPECT_EQ(tiled.run(x).to_vector_f32(), want) << label << ", second run";
        EXPECT_EQ(tiled.run(one).to_vector_f32(), want1) << label << ", one image of three";
      }
      // The slabs shared among fewer threads, or more threads than slabs.
      for (int threads : {1, 2}) {
        set_num_threads(threads);
        quant::RowTilingOptions rt;
        rt.slabs = 3, rt.last = 6;
        quant::Int8Runner tiled(q, k, 3, true, rt);
        EXPECT_EQ(tiled.run(x).to_vector_f32(), want) << threads << " threads";
      }
      set_num_threads(0);
    }
  }
}

TEST(RowTiling, WindowsSmallAndNeverOverlappingLiveTensors) {
  auto m = random_resnet(40);
  quant::Int8Model q = quantize(*m, 40);
  const quant::ArenaPlan flat = quant::plan_arena(q, 1, true, true);
  quant::RowTilingOptions rt;
  rt.slabs = 2;
  rt.band_rows = 2;  // 40 px images: 8-row bands would be a fifth of the image
  rt.last = 6;       // stem .. stage 1's conv2
  const quant::ArenaPlan tiled = quant::plan_arena(q, 1, true, true, rt);
  ASSERT_EQ(tiled.row_groups.size(), 1u);
  const quant::RowGroup& g = tiled.row_groups[0];
  EXPECT_EQ(g.first, 0);
  // (At 40 px the windows cost about what they save; the 224 px test below
  // checks the saving where it matters.)
  EXPECT_GE(tiled.bytes, g.window_bytes * g.slabs);
  EXPECT_GT(flat.bytes, 0);
  // A window holds a band plus its halo, never the whole tensor.
  for (size_t w = 0; w < g.windowed.size(); ++w)
    EXPECT_LT(g.window_rows[w], q.tensors[g.windowed[w]].H) << q.tensors[g.windowed[w]].name;
  // The window block and every whole tensor alive during the group are disjoint.
  const int64_t wb = tiled.window_block[0], we = wb + g.window_bytes * g.slabs;
  for (size_t t = 0; t < q.tensors.size(); ++t) {
    if (g.index_of(static_cast<int>(t)) >= 0) continue;
    int born = -1, dies = -1;
    for (int i = 0; i < static_cast<int>(q.nodes.size()); ++i) {
      if (q.nodes[i].output == static_cast<int>(t)) born = i;
      for (int in : q.nodes[i].inputs)
        if (in == static_cast<int>(t)) dies = i;
    }
    const bool alive = born <= g.last && std::max(dies, born) >= g.first;
    const int64_t a = tiled.offset[t], b = a + q.tensors[t].bytes();
    EXPECT_FALSE(alive && a < we && wb < b) << q.tensors[t].name;
  }
  // Not a group: a float layer, or a tensor read both inside and after.
  EXPECT_FALSE(quant::valid_row_group(q, 0, 1));  // the stem output is read by the shortcut too
  quant::Int8Model qf = quant::with_float_nodes(q, {"stem_conv"});
  EXPECT_FALSE(quant::valid_row_group(qf, 0, 3));
  rt.last = -1;
  EXPECT_TRUE(quant::plan_arena(qf, 1, true, true, rt).row_groups.empty());
}

TEST(RowTiling, ResNet11At224PlansAtMostFiveMegabytes) {
  auto m = random_resnet(224);
  quant::Int8Model q = quantize(*m, 224);
  const quant::ArenaPlan flat = quant::plan_arena(q, 1, true, true);
  for (int slabs : {1, 2, 4, 8, 16}) {
    quant::RowTilingOptions rt;
    rt.slabs = slabs;
    const quant::ArenaPlan p = quant::plan_arena(q, 1, true, true, rt);
    ASSERT_EQ(p.row_groups.size(), 1u);
    const quant::RowGroup& g = p.row_groups[0];
    std::printf(
        "224 px, %d slab(s): planned %.3f MB (layer by layer %.3f MB); group %s .. %s, "
        "%d-row bands, windows %.3f MB\n",
        slabs, p.bytes / 1e6, flat.bytes / 1e6, q.nodes[g.first].name.c_str(),
        q.nodes[g.last].name.c_str(), g.band_rows, g.window_bytes * g.slabs / 1e6);
    EXPECT_LE(p.bytes, 5000000) << slabs << " slabs";
  }
}

}  // namespace
}  // namespace ecg
