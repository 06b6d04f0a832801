#include "common/env.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace accel {

class EnvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/accel_env_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  std::string dir_;
  Env* env_ = Env::Default();
};

TEST_F(EnvTest, AtomicWriteReplacesWholeFileAndLeavesNoTemp) {
  std::string p = JoinPath(dir_, "state");
  ASSERT_TRUE(WriteFileAtomically(env_, p, "first").ok());
  ASSERT_TRUE(WriteFileAtomically(env_, p, "second, longer").ok());
  std::string got;
  ASSERT_TRUE(env_->ReadFile(p, &got).ok());
  EXPECT_EQ(got, "second, longer");
  std::vector<std::string> names;
  ASSERT_TRUE(env_->GetChildren(dir_, &names).ok());
  EXPECT_EQ(names, std::vector<std::string>{"state"});
}

TEST_F(EnvTest, SecretModeIsApplied) {
  std::string p = JoinPath(dir_, "secret");
  ASSERT_TRUE(WriteFileAtomically(env_, p, "k", 0600).ok());
  struct stat st;
  ASSERT_EQ(stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(EnvTest, ReadRefusesOversizedFilesAndReportsMissing) {
  std::string p = JoinPath(dir_, "big");
  ASSERT_TRUE(WriteFileAtomically(env_, p, std::string(1000, 'x')).ok());
  std::string got;
  EXPECT_TRUE(env_->ReadFile(p, &got, 999).IsResourceExhausted());
  EXPECT_TRUE(env_->ReadFile(JoinPath(dir_, "nope"), &got).IsNotFound());
}

TEST_F(EnvTest, ReadsPseudoFilesThatReportSizeZero) {
  std::string got;
  ASSERT_TRUE(env_->ReadFile("/proc/self/status", &got).ok());
  EXPECT_NE(got.find("VmRSS:"), std::string::npos);
  EXPECT_TRUE(env_->ReadFile("/proc/self/status", &got, 16).IsResourceExhausted());
}

TEST_F(EnvTest, AtomicWriteIntoMissingDirectoryFailsCleanly) {
  Status s = WriteFileAtomically(env_, JoinPath(dir_, "no/such/dir/f"), "x");
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
}

TEST_F(EnvTest, CreateDirsAndPaths) {
  ASSERT_TRUE(env_->CreateDirs(JoinPath(dir_, "a/b/c")).ok());
  EXPECT_TRUE(env_->FileExists(JoinPath(dir_, "a/b/c")));
  EXPECT_EQ(DirName("/x/y/z"), "/x/y");
  EXPECT_EQ(DirName("z"), ".");
  EXPECT_EQ(JoinPath("a/", "b"), "a/b");
}

}  // namespace accel
