#include "common/status.h"

#include <gtest/gtest.h>

namespace accel {

TEST(StatusTest, CodesAndMessages) {
  EXPECT_TRUE(Status::OK().ok());
  Status s = Status::Corruption("offset 12: bad magic").WithContext("a.batch");
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_EQ(s.ToString(), "Corruption: a.batch: offset 12: bad magic");
  EXPECT_EQ(Status::FromErrno("open x", ENOSPC).ToString(),
            "IOError: open x: No space left on device");
}

TEST(StatusTest, ResultCarriesValueOrStatus) {
  Result<int> good(7);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 7);
  Result<int> bad(Status::NotFound("nope"));
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsNotFound());
}

}  // namespace accel
