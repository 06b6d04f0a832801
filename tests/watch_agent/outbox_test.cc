#include "watch-agent/outbox.h"

#include <gtest/gtest.h>

#include <cstdlib>

namespace accel {
namespace {

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/accel_outbox_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
  Env* env_ = Env::Default();
};

TEST_F(OutboxTest, FileNamesCarrySequenceAndCursor) {
  std::string n = Outbox::FileName(12345678901234ull, 42);
  EXPECT_EQ(n, "00000012345678901234-00000000000000000042.batch");
  uint64_t s = 0, c = 0;
  ASSERT_TRUE(Outbox::ParseFileName(n, &s, &c));
  EXPECT_EQ(s, 12345678901234ull);
  EXPECT_EQ(c, 42u);
  EXPECT_FALSE(Outbox::ParseFileName("00000012345678901234-0000000000000000004x.batch", &s, &c));
  EXPECT_FALSE(Outbox::ParseFileName("99999999999999999999-00000000000000000042.batch", &s, &c));
  EXPECT_FALSE(Outbox::ParseFileName("notes.txt", &s, &c));
}

TEST_F(OutboxTest, OrderLimitsRemoveRejectAndRestart) {
  OutboxLimits lim;
  lim.max_files = 3;
  lim.max_bytes = 1 << 20;
  {
    Outbox o(env_, dir_ + "/outbox", lim);
    ASSERT_TRUE(o.Open().ok());
    ASSERT_TRUE(o.Add(7, 700, std::string(10, 'a')).ok());
    ASSERT_TRUE(o.Add(5, 500, std::string(20, 'b')).ok());
    EXPECT_FALSE(o.Full());
    ASSERT_TRUE(o.Add(9, 900, std::string(30, 'c')).ok());
    EXPECT_TRUE(o.Full());
    auto l = o.List();
    ASSERT_EQ(l.size(), 3u);
    EXPECT_EQ(l[0].sequence, 5u);
    EXPECT_EQ(l[2].sequence, 9u);
    EXPECT_EQ(o.bytes(), 60u);
    ASSERT_TRUE(o.Remove(5).ok());
    EXPECT_FALSE(o.Full());
    ASSERT_TRUE(o.Reject(7, "bad checksum at offset 12").ok());
    EXPECT_TRUE(o.Remove(5).IsNotFound());
  }
  // A crash left a half-written file behind: it is swept, the rest is kept.
  ASSERT_TRUE(WriteFileAtomically(env_, dir_ + "/outbox/x.tmp.keep", "x").ok());
  ASSERT_TRUE(env_->RenameFile(dir_ + "/outbox/x.tmp.keep", dir_ + "/outbox/" +
                                                                 Outbox::FileName(11, 1100) + ".tmp")
                  .ok());
  Outbox o(env_, dir_ + "/outbox", lim);
  ASSERT_TRUE(o.Open().ok());
  auto l = o.List();
  ASSERT_EQ(l.size(), 1u);
  EXPECT_EQ(l[0].sequence, 9u);
  EXPECT_EQ(l[0].cursor_after, 900u);
  EXPECT_FALSE(env_->FileExists(dir_ + "/outbox/" + Outbox::FileName(11, 1100) + ".tmp"));
  std::string reason;
  ASSERT_TRUE(env_->ReadFile(dir_ + "/outbox/rejected/" + Outbox::FileName(7, 700) + ".reason",
                             &reason)
                  .ok());
  EXPECT_EQ(reason, "bad checksum at offset 12\n");
  EXPECT_TRUE(env_->FileExists(dir_ + "/outbox/rejected/" + Outbox::FileName(7, 700)));
}

TEST_F(OutboxTest, ByteLimitEngages) {
  OutboxLimits lim;
  lim.max_bytes = 100;
  Outbox o(env_, dir_ + "/ob", lim);
  ASSERT_TRUE(o.Open().ok());
  ASSERT_TRUE(o.Add(1, 1, std::string(99, 'x')).ok());
  EXPECT_FALSE(o.Full());
  ASSERT_TRUE(o.Add(2, 2, std::string(1, 'x')).ok());
  EXPECT_TRUE(o.Full());
}

}  // namespace
}  // namespace accel
