#include "common/env.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "tests/support/fault_env.h"

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

// WriteFileAtomically's order is what makes it crash-safe: the data is on
// stable storage before the rename publishes it, and the rename is on stable
// storage (directory fsync) before the call reports success.
TEST_F(EnvTest, AtomicWriteOrderIsWriteSyncRenameSyncDir) {
  testing::FaultEnv fe;
  std::string p = JoinPath(dir_, "state");
  ASSERT_TRUE(WriteFileAtomically(&fe, p, "hello").ok());
  std::vector<std::string> want = {
      "create /state.tmp", "append /state.tmp",           "sync /state.tmp",
      "close /state.tmp",  "rename /state.tmp -> /state", "syncdir "};
  EXPECT_EQ(fe.CallStrings(dir_), want);
  std::string got;
  ASSERT_TRUE(env_->ReadFile(p, &got).ok());
  EXPECT_EQ(got, "hello");
}

// Every step failing in turn: the error comes back, the old content is intact
// and no temporary file is left behind (up to the rename); a failed directory
// fsync is reported even though the rename already happened.
TEST_F(EnvTest, AtomicWriteFailuresKeepTheOldContentAndLeaveNoTemp) {
  std::string p = JoinPath(dir_, "state");
  using Op = testing::FaultEnv::Op;
  for (Op op : {Op::kCreate, Op::kAppend, Op::kSync, Op::kClose, Op::kRename, Op::kSyncDir}) {
    SCOPED_TRACE(testing::FaultEnv::OpName(op));
    ASSERT_TRUE(WriteFileAtomically(env_, p, "old").ok());
    testing::FaultEnv fe;
    fe.FailNext(op);
    Status s = WriteFileAtomically(&fe, p, "new content");
    EXPECT_TRUE(s.IsIOError()) << s.ToString();
    EXPECT_NE(s.message().find("injected fault"), std::string::npos) << s.ToString();
    std::string got;
    ASSERT_TRUE(env_->ReadFile(p, &got).ok());
    EXPECT_EQ(got, op == Op::kSyncDir ? "new content" : "old");
    EXPECT_FALSE(env_->FileExists(p + ".tmp"));
    // Nothing after the failed step was attempted, except cleaning up the temp file.
    std::vector<std::string> calls = fe.CallStrings(dir_);
    ASSERT_FALSE(calls.empty());
    size_t failed = 0;
    while (failed < calls.size() && calls[failed].find("FAILED") == std::string::npos) ++failed;
    ASSERT_LT(failed, calls.size());
    for (size_t i = failed + 1; i < calls.size(); ++i) {
      EXPECT_TRUE(calls[i].rfind("close ", 0) == 0 || calls[i].rfind("remove ", 0) == 0)
          << calls[i] << " after a failed " << calls[failed];
    }
    if (op == Op::kRename) {
      EXPECT_EQ(calls.back(), "remove /state.tmp");
    }
  }
}

TEST_F(EnvTest, FaultEnvSkipsCountsAndCrashes) {
  testing::FaultEnv fe;
  fe.FailNext(testing::FaultEnv::Op::kRename, "b", /*skip=*/1, /*count=*/2);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(WriteFileAtomically(env_, JoinPath(dir_, "b.tmp"), "x").ok());
    Status s = fe.RenameFile(JoinPath(dir_, "b.tmp"), JoinPath(dir_, "b"));
    EXPECT_EQ(s.ok(), i == 0 || i == 3) << i;
  }
  ASSERT_TRUE(WriteFileAtomically(&fe, JoinPath(dir_, "a"), "1").ok());  // other paths unaffected
  fe.CrashAfter(2);
  EXPECT_FALSE(fe.crashed());
  EXPECT_TRUE(WriteFileAtomically(&fe, JoinPath(dir_, "c"), "1").IsIOError());
  EXPECT_TRUE(fe.crashed());
  EXPECT_FALSE(env_->FileExists(JoinPath(dir_, "c")));
  EXPECT_TRUE(fe.RemoveFile(JoinPath(dir_, "a")).IsIOError());
  EXPECT_TRUE(env_->FileExists(JoinPath(dir_, "a")));
}

}  // namespace accel
