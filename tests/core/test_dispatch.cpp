// The op table and ISA dispatch: every op has a reference kernel, lookups fall
// back downwards, and forcing a level changes what runs.
#include <gtest/gtest.h>

#include "kernels/cpu_features.h"
#include "kernels/op_table.h"

namespace ecg {
namespace {

TEST(Dispatch, EveryOpHasAReferenceOrIsAnOptimiser) {
  OpTable& t = ops();
#define ECG_CHECK_REF(op, Fn)                                                  \
  if (std::string(#op) != "adam_update" && std::string(#op) != "sgd_update") { \
    EXPECT_NE(t.op.exact(DeviceType::CPU, Isa::Ref), nullptr) << #op;          \
  }
  ECG_OP_LIST(ECG_CHECK_REF)
#undef ECG_CHECK_REF
}

TEST(Dispatch, ForcingRefMakesEveryLookupResolveToRef) {
  Isa saved = active_isa();
  set_active_isa(Isa::Ref);
  EXPECT_EQ(ops().conv2d_forward.resolved_isa(), Isa::Ref);
  EXPECT_EQ(ops().conv2d_forward.get(), ops().conv2d_forward.exact(DeviceType::CPU, Isa::Ref));
  set_active_isa(saved);
}

TEST(Dispatch, LookupFallsBackToLowerLevels) {
  OpSlot<ReluForwardFn> slot;
  auto fn = [](int64_t, const float*, float*) {};
  slot.set(DeviceType::CPU, Isa::Generic, fn);
  EXPECT_EQ(slot.get_at(DeviceType::CPU, Isa::Avx512), slot.exact(DeviceType::CPU, Isa::Generic));
  EXPECT_THROW(slot.get_at(DeviceType::CPU, Isa::Ref), Error);
  EXPECT_THROW(slot.get_at(DeviceType::CUDA, Isa::Avx512), Error);
}

TEST(Dispatch, IsaNamesRoundTrip) {
  for (int i = 0; i < static_cast<int>(Isa::Count); ++i) {
    Isa parsed;
    ASSERT_TRUE(parse_isa(isa_name(static_cast<Isa>(i)), parsed));
    EXPECT_EQ(static_cast<int>(parsed), i);
  }
  Isa dummy;
  EXPECT_FALSE(parse_isa("sse9", dummy));
}

}  // namespace
}  // namespace ecg
