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

TEST(ResolutionTest, ErrorIsAtMostHalfAStep) {
  Resolution r;
  for (double g = -2.75; g < 2.75; g += 0.000123) {
    int32_t c = 0;
    ASSERT_TRUE(r.Quantise(g, &c).ok());
    EXPECT_LE(std::fabs(r.ToG(c) - g), r.step_g() / 2 + 1e-15);
  }
}

}  // namespace accel
