// Bad input for the developer tools: each case is one clear line on stderr
// and exit code 2 (usage) or 1 (runtime), never a stack trace or a hang.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <string>

#include "common/env.h"
#include "tests/support/subprocess.h"

namespace accel {
namespace {

using RunResult = testing::RunResult;
RunResult Exec(const std::vector<std::string>& argv, int64_t timeout_ms = 60000) {
  return testing::Run(argv, timeout_ms);
}

const std::string kReplay = SENSOR_REPLAY_BIN;
const std::string kQuery = SENSOR_QUERY_BIN;

class ToolsCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/accel_tools_cli.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    // Nothing listens on port 1 of loopback: connections are refused at once.
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1", 1);
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDTOOLSTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "tools-test-secret", 1);
    unsetenv("AWS_ENDPOINT_URL_DYNAMODB");
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }
  static int Lines(const std::string& s) {
    int n = 0;
    for (char c : s) n += c == '\n';
    return n;
  }
  std::string dir_;
};

TEST_F(ToolsCliTest, ReplayUsageErrorsExitTwo) {
  auto r = Exec({kReplay, "--bogus", "x.csv"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown option '--bogus'"), std::string::npos) << r.err;
  r = Exec({kReplay});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no input files"), std::string::npos) << r.err;
  r = Exec({kReplay, "--resolution", "abc", "x.csv"});
  EXPECT_EQ(r.exit_code, 2);
}

TEST_F(ToolsCliTest, ReplayBadOptionValuesExitTwo) {
  std::string csv = std::string(ACCEL_SOURCE_DIR) + "/tests/data/s01_01_sw.norm.csv";
  for (const std::vector<std::string>& args : {std::vector<std::string>{"--pace", "fast"},
                                               {"--pace", "-1"},
                                               {"--verify-wait", "x"},
                                               {"--relay", "unix:/nowhere.sock"},
                                               {"--secret-file", "k"},
                                               {"--table", ""},
                                               {"--table", "ab"}}) {
    std::vector<std::string> argv = {kReplay};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(csv);
    auto r = Exec(argv);
    EXPECT_EQ(r.exit_code, 2) << args[0] << " " << args[1] << ": " << r.err;
    EXPECT_EQ(r.err.rfind("sensor-replay: ", 0), 0u) << r.err;
  }
}

TEST_F(ToolsCliTest, MissingCredentialsAreAConfigurationErrorForBothTools) {
  unsetenv("AWS_ACCESS_KEY_ID");
  std::string csv = std::string(ACCEL_SOURCE_DIR) + "/tests/data/s01_01_sw.norm.csv";
  auto r = Exec({kReplay, csv});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("AWS_ACCESS_KEY_ID"), std::string::npos) << r.err;
  r = Exec({kQuery, "--table", "tab", "--partition-id", "p", "--from", "10", "--to", "20", "--csv",
            dir_ + "/o.csv"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("AWS_ACCESS_KEY_ID"), std::string::npos) << r.err;
}

TEST_F(ToolsCliTest, QueryTimeFormsAndTheirErrors) {
  // Accepted forms reach the (unreachable) endpoint: exit 1, not a usage error.
  for (const char* from : {"1657533977.5", "2022-07-11T10:06:17.5Z", "2022-07-11T12:06:17+02:00"}) {
    auto r = Exec({kQuery, "--table", "tab", "--partition-id", "p", "--from", from, "--to",
                   "1657534000", "--csv", dir_ + "/o.csv"});
    EXPECT_EQ(r.exit_code, 1) << from << ": " << r.err;
    EXPECT_EQ(r.err.find("usage"), std::string::npos) << r.err;
  }
  auto r = Exec({kQuery, "--table", "tab", "--partition-id", "p", "--from", "2022-07-11T10:06:17+2",
                 "--to", "1657534000", "--csv", dir_ + "/o.csv"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("YYYY-MM-DDTHH:MM:SS[.fff][Z|+hh:mm|-hh:mm]"), std::string::npos) << r.err;
  r = Exec({kQuery, "--table", "tab", "--partition-id", "p", "--from", "2022-02-30T00:00:00Z",
            "--to", "1657534000", "--csv", dir_ + "/o.csv"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("no such date"), std::string::npos) << r.err;
  r = Exec({kQuery, "--table", "tab", "--partition-id", "p", "--from", "20", "--to", "20", "--csv",
            dir_ + "/o.csv"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--to must be after --from"), std::string::npos) << r.err;
}

TEST_F(ToolsCliTest, QueryMissingExpectFileIsSaidBeforeAnyQuery) {
  // The endpoint is unreachable: the error must be about the file, found first.
  auto r = Exec({kQuery, "--table", "tab", "--partition-id", "p", "--from", "10", "--to", "20",
                 "--csv", dir_ + "/o.csv", "--expect", dir_ + "/absent.csv"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("absent.csv"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("127.0.0.1:1"), std::string::npos) << r.err;
}

TEST_F(ToolsCliTest, ReplayBadFilesAreOneLineErrors) {
  auto r = Exec({kReplay, dir_ + "/missing.csv"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("missing.csv"), std::string::npos) << r.err;
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), dir_ + "/bad.csv",
                                  "t_ns,x_g,y_g,z_g\n1,0,0,0\n2,0,zero,0\n")
                  .ok());
  r = Exec({kReplay, dir_ + "/bad.csv"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("bad.csv:3: column 3 (y_g)"), std::string::npos) << r.err;
}

TEST_F(ToolsCliTest, ReplayUnreachableEndpointFailsFastWithReason) {
  std::string csv = std::string(ACCEL_SOURCE_DIR) + "/tests/data/s01_01_sw.norm.csv";
  auto r = Exec({kReplay, "--verify", csv}, 60000);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_NE(r.err.find("127.0.0.1:1"), std::string::npos) << r.err;
}

TEST_F(ToolsCliTest, QueryUsageAndRuntimeErrors) {
  auto r = Exec({kQuery, "--table", "t", "--partition-id", "p", "--from", "10", "--to", "20"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing --csv"), std::string::npos) << r.err;
  r = Exec({kQuery, "--table", "t", "--partition-id", "p", "--from", "yesterday", "--to", "20",
            "--csv", dir_ + "/o.csv"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("time 'yesterday'"), std::string::npos) << r.err;
  r = Exec({kQuery, "--nope"});
  EXPECT_EQ(r.exit_code, 2);
  r = Exec({kQuery, "--table", "tab", "--partition-id", "p", "--from", "2022-07-11T10:06:17Z",
            "--to", "2022-07-11T10:07:17Z", "--csv", dir_ + "/o.csv"},
           60000);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(Lines(r.err), 1) << r.err;
  EXPECT_FALSE(Env::Default()->FileExists(dir_ + "/o.csv"));
}

}  // namespace
}  // namespace accel
