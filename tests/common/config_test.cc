#include "common/config.h"

#include <gtest/gtest.h>

namespace accel {

TEST(ConfigTest, ReadsDeclaredKeysAndRejectsUnknownOnes) {
  auto j = nlohmann::json::parse(R"({"name":"w1","limit":1500,"rate":50.0,"on":true,"typo":1})");
  ConfigReader r(j, "agent.json");
  std::string name;
  int64_t limit = 0;
  double rate = 0;
  bool on = false;
  ASSERT_TRUE(r.String("name", &name, true).ok());
  ASSERT_TRUE(r.Int("limit", &limit, 1, 100000).ok());
  ASSERT_TRUE(r.Double("rate", &rate, 1, 1000).ok());
  ASSERT_TRUE(r.Bool("on", &on).ok());
  EXPECT_EQ(name, "w1");
  EXPECT_EQ(limit, 1500);
  EXPECT_EQ(rate, 50.0);
  EXPECT_TRUE(on);
  EXPECT_EQ(r.Finish().message(), "agent.json: unknown key 'typo'");
}

TEST(ConfigTest, TypeRangeAndMissingErrors) {
  auto j = nlohmann::json::parse(R"({"limit":"many","n":0})");
  ConfigReader r(j, "c.json");
  int64_t v = 0;
  EXPECT_EQ(r.Int("limit", &v, 1, 10).message(), "c.json: key 'limit': expected an integer");
  EXPECT_EQ(r.Int("n", &v, 1, 10).message(), "c.json: key 'n': 0 is outside [1, 10]");
  std::string s;
  EXPECT_EQ(r.String("dir", &s, true).message(), "c.json: missing required key 'dir'");
  EXPECT_TRUE(r.Finish().ok());
}

}  // namespace accel
