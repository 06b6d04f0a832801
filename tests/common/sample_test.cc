#include "common/sample.h"

#include <gtest/gtest.h>

#include <cmath>

namespace accel {

TEST(ResolutionTest, ParsesFractionsAndDecimals) {
  auto r = Resolution::Parse("1/16384");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->step_g(), 1.0 / 16384);
  EXPECT_EQ(Resolution::Parse("0.015625")->step_g(), 1.0 / 64);
  EXPECT_FALSE(Resolution::Parse("0").ok());
  EXPECT_FALSE(Resolution::Parse("-1/4").ok());
  EXPECT_FALSE(Resolution::Parse("abc").ok());
  EXPECT_FALSE(Resolution::Parse("1/0").ok());
  EXPECT_FALSE(Resolution::Parse("2").ok());
}

TEST(ResolutionTest, HoldsThirtyTwoGAndRejectsBeyondRange) {
  Resolution r;
  int32_t c = 0;
  ASSERT_TRUE(r.Quantise(32.0, &c).ok());
  EXPECT_EQ(c, 32 * 16384);
  ASSERT_TRUE(r.Quantise(-32.0, &c).ok());
  EXPECT_EQ(c, -32 * 16384);
  Status s = r.Quantise(65.0, &c);
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_NE(s.message().find("65"), std::string::npos) << s.ToString();
  EXPECT_FALSE(r.Quantise(NAN, &c).ok());
  EXPECT_FALSE(r.Quantise(INFINITY, &c).ok());
}

TEST(ResolutionTest, EveryAcceptedStepHoldsThirtyTwoG) {
  // The finest accepted step holds exactly +-32 g in +-kMaxCount counts.
  for (double step : {1.0, 1.0 / 64, 1.0 / 16384, 1.0 / 32767, Resolution::kMinStepG}) {
    SCOPED_TRACE(step);
    auto r = Resolution::FromStep(step);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_GE(r->MaxAbsG(), 32.0 - 1e-12);
    int32_t c = 0;
    ASSERT_TRUE(r->Quantise(32.0, &c).ok());
    EXPECT_LE(std::fabs(r->ToG(c) - 32.0), step / 2 + 1e-12);
    ASSERT_TRUE(r->Quantise(-32.0, &c).ok());
    EXPECT_LE(std::fabs(r->ToG(c) + 32.0), step / 2 + 1e-12);
    // Beyond the range: an error, never a clamp.
    EXPECT_TRUE(r->Quantise(r->MaxAbsG() + step, &c).IsInvalidArgument());
    EXPECT_TRUE(r->Quantise(-r->MaxAbsG() - step, &c).IsInvalidArgument());
  }
}

TEST(ResolutionTest, StepsTooFineToHoldThirtyTwoGAreRejected) {
  // 1/32768 g holds only 1048575/32768 = 31.99997 g.
  for (double step : {1.0 / 32768, Resolution::kMinStepG * (1 - 1e-12), 1e-6, 1e-300}) {
    auto r = Resolution::FromStep(step);
    ASSERT_FALSE(r.ok()) << step;
    EXPECT_TRUE(r.status().IsInvalidArgument());
    EXPECT_NE(r.status().message().find("finer than the finest supported step 3.05176"),
              std::string::npos)
        << r.status().message();
    EXPECT_NE(r.status().message().find("+-32 g"), std::string::npos) << r.status().message();
  }
  EXPECT_FALSE(Resolution::Parse("1/32768").ok());
  EXPECT_FALSE(Resolution::Parse("1e-300").ok());
  EXPECT_TRUE(Resolution::Parse("1/32767").ok());
}

TEST(ResolutionTest, ErrorIsAtMostHalfAStep) {
  Resolution r;
  for (double g = -2.75; g < 2.75; g += 0.000123) {
    int32_t c = 0;
    ASSERT_TRUE(r.Quantise(g, &c).ok());
    EXPECT_LE(std::fabs(r.ToG(c) - g), r.step_g() / 2 + 1e-15);
  }
}

}  // namespace accel
