// The training loop's per-epoch timing (issue 14): every epoch's wall time
// is split into the step and the parts outside it (data, validation with
// precise BN, checkpoints, other), the parts add up to the wall, and the
// figures reach history.json and survive a resume.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "quadrant_data.h"
#include "tests/models/scratch_dir_test.h"
#include "tests/train/train_test_util.h"
#include "train/trainer.h"

namespace ecg {
namespace {

namespace fs = std::filesystem;

using testing::quadrant_data;

class LoopTimingTest : public testing::ScratchDirTest {
 protected:
  LoopTimingTest() : ScratchDirTest("loop_timing") {}
  TrainOptions options(const std::string& sub, int epochs) {
    TrainOptions o = testing::quiet_options(dir_, sub, epochs);
    o.precise_bn_batches = 2;  // a validation with precise BN, as `ecgcnn train` runs it
    return o;
  }
};

void expect_adds_up(const EpochTiming& t, int epoch) {
  SCOPED_TRACE("epoch " + std::to_string(epoch));
  EXPECT_GT(t.wall, 0);
  EXPECT_GT(t.step, 0);
  EXPECT_GE(t.data, 0);
  EXPECT_GT(t.validation, 0);
  EXPECT_GT(t.precise_bn, 0);
  EXPECT_LE(t.precise_bn, t.validation);
  EXPECT_GT(t.checkpoint, 0);  // at least the state file
  EXPECT_GE(t.other, 0);
  EXPECT_LE(t.step + t.data + t.validation + t.checkpoint, t.wall * (1 + 1e-12));
  EXPECT_NEAR(t.step + t.data + t.validation + t.checkpoint + t.other, t.wall, 1e-9 * t.wall);
  EXPECT_DOUBLE_EQ(t.outside(), t.wall - t.step);
  EXPECT_GT(t.cpu, 0);
  EXPECT_GE(t.minor_faults, 0);
#ifdef __linux__
  EXPECT_GT(t.rss_mb, 0);
#endif
}

TEST_F(LoopTimingTest, EachEpochsPartsAddUpToItsWallTime) {
  auto m = testing::small_resnet();
  auto d = quadrant_data(24, 3);
  auto v = quadrant_data(16, 4);
  const auto t0 = std::chrono::steady_clock::now();
  TrainResult r = train(*m, d, &v, options("run", 2), false);
  const double call = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(r.history.size(), 2u);
  double walls = 0;
  for (size_t e = 0; e < r.history.size(); ++e) {
    expect_adds_up(r.history[e].timing, static_cast<int>(e));
    // The step loop's seconds (EpochRecord::seconds) are the steps and the waits for data.
    EXPECT_LE(r.history[e].timing.step + r.history[e].timing.data,
              r.history[e].seconds * (1 + 1e-9) + 1e-6);
    walls += r.history[e].timing.wall;
  }
  EXPECT_LE(walls, call);

  std::ifstream in(dir_ / "run" / "history.json");
  const nlohmann::json h = nlohmann::json::parse(in);
  ASSERT_EQ(h["history"].size(), 2u);
  for (size_t e = 0; e < 2; ++e) {
    const nlohmann::json& t = h["history"][e]["timing"];
    for (const char* key :
         {"wall", "step", "data", "validation", "precise_bn", "checkpoint", "other", "outside",
          "outside_pct", "cpu", "rss_mb", "allocator_cached_mb", "minor_faults"})
      EXPECT_TRUE(t.contains(key)) << "history[" << e << "].timing." << key;
    EXPECT_DOUBLE_EQ(t["wall"].get<double>(), r.history[e].timing.wall);
    EXPECT_NEAR(t["outside"].get<double>(), t["wall"].get<double>() - t["step"].get<double>(),
                1e-12);
    EXPECT_GE(t["outside_pct"].get<double>(), 0);
    EXPECT_LE(t["outside_pct"].get<double>(), 100);
  }
  EXPECT_NEAR(h["timings"]["loop_seconds"].get<double>(), walls, 1e-9 * walls);
  EXPECT_NEAR(h["timings"]["outside_seconds"].get<double>(),
              walls - r.history[0].timing.step - r.history[1].timing.step, 1e-9 * walls);
}

// A resumed run reads the finished epochs' timing back from the state file;
// the resumed epoch's figures are this session's.
TEST_F(LoopTimingTest, TimingOfFinishedEpochsSurvivesResume) {
  auto d = quadrant_data(16, 5);
  auto first = testing::small_resnet();
  TrainResult one = train(*first, d, nullptr, options("part", 1), false);
  ASSERT_EQ(one.history.size(), 1u);
  auto resumed = testing::small_resnet();
  TrainResult r = train(*resumed, d, nullptr, options("part", 2), true);
  ASSERT_EQ(r.history.size(), 2u);
  // The state file was written before its own write was timed: the same
  // figures less that write's seconds.
  EXPECT_DOUBLE_EQ(r.history[0].timing.step, one.history[0].timing.step);
  EXPECT_GT(r.history[0].timing.wall, 0);
  EXPECT_LE(r.history[0].timing.wall, one.history[0].timing.wall);
  EXPECT_EQ(r.history[1].epoch, 1);
  EXPECT_GT(r.history[1].timing.step, 0);
}

}  // namespace
}  // namespace ecg
