#include "common/crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace accel {

// Known answers from RFC 3720 (iSCSI) appendix B.4 and the "123456789" check value.
TEST(Crc32cTest, KnownAnswers) {
  EXPECT_EQ(crc32c::Value("123456789"), 0xE3069283u);
  std::string zeros(32, '\0');
  EXPECT_EQ(crc32c::Value(zeros), 0x8A9136AAu);
  std::string ones(32, '\xFF');
  EXPECT_EQ(crc32c::Value(ones), 0x62A8AB43u);
  std::string inc;
  for (int i = 0; i < 32; ++i) inc.push_back(static_cast<char>(i));
  EXPECT_EQ(crc32c::Value(inc), 0x46DD794Eu);
}

TEST(Crc32cTest, ExtendEqualsWhole) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>(i * 7 + 3));
  for (size_t cut : {0u, 1u, 7u, 8u, 9u, 500u, 999u, 1000u}) {
    uint32_t c = crc32c::Extend(crc32c::Value(data.data(), cut), data.data() + cut,
                                data.size() - cut);
    EXPECT_EQ(c, crc32c::Value(data)) << "cut at " << cut;
  }
}

}  // namespace accel
