// accel-batch run as a real process: exit codes and one-line messages.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "common/batch_format.h"
#include "common/crc32c.h"
#include "common/csv.h"

namespace accel {
namespace {

const std::string kTool = ACCEL_BINARY_DIR "/tools/accel-batch";

struct ToolRun {
  int code = -1;
  std::string out, err;
};

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class BatchCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/accel_batch_cli_XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }

  // Runs the tool with `args` (already shell-quoted where needed).
  ToolRun Tool(const std::string& args) {
    ToolRun r;
    const std::string out = dir_ + "/stdout", err = dir_ + "/stderr";
    int status = std::system((kTool + " " + args + " >'" + out + "' 2>'" + err + "'").c_str());
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = Slurp(out);
    r.err = Slurp(err);
    return r;
  }
  static void ExpectOneLine(const ToolRun& r, const std::string& needle) {
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(r.err.rfind("accel-batch: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
  }
  std::string dir_;
};

TEST_F(BatchCliTest, EncodeDecodeInspectRoundTrip) {
  const std::string in = ACCEL_SOURCE_DIR "/tests/data/s04_07_sw.norm.csv";
  ToolRun r = Tool("encode '" + in + "' -o '" + dir_ + "/a.batch' --device-id w-1 --sequence 9");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("994 samples"), std::string::npos) << r.out;
  r = Tool("decode '" + dir_ + "/a.batch' -o '" + dir_ + "/a.csv'");
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<Sample> src, back;
  ASSERT_TRUE(ReadSampleCsvFile(in, &src).ok());
  ASSERT_TRUE(ReadSampleCsvFile(dir_ + "/a.csv", &back).ok());
  ASSERT_EQ(src.size(), back.size());
  const double half = Resolution::kDefaultStepG / 2 + 1e-12;
  for (size_t i = 0; i < src.size(); ++i) {
    ASSERT_EQ(src[i].t_ns, back[i].t_ns) << i;
    ASSERT_LE(std::fabs(src[i].x - back[i].x), half) << i;
    ASSERT_LE(std::fabs(src[i].y - back[i].y), half) << i;
    ASSERT_LE(std::fabs(src[i].z - back[i].z), half) << i;
  }
  r = Tool("inspect '" + dir_ + "/a.batch'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("device_id         w-1"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sequence          9"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("sample_count      994"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("checksum          ok"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bytes_per_sample"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("time_span"), std::string::npos) << r.out;
}

TEST_F(BatchCliTest, CoarserResolutionIsHonoured) {
  const std::string in = ACCEL_SOURCE_DIR "/tests/data/s01_01_sp.norm.csv";
  ToolRun r = Tool("encode '" + in + "' -o '" + dir_ + "/c.batch' --resolution 1/64");
  ASSERT_EQ(r.code, 0) << r.err;
  BatchHeader h;
  ASSERT_TRUE(DecodeBatchHeader(Slurp(dir_ + "/c.batch"), &h).ok());
  EXPECT_EQ(h.resolution_g, 1.0 / 64);
}

TEST_F(BatchCliTest, BadInputExitsOneWithOneLine) {
  ToolRun r = Tool("encode '" + dir_ + "/missing.csv' -o '" + dir_ + "/x.batch'");
  EXPECT_EQ(r.code, 1);
  ExpectOneLine(r, "missing.csv: no such file");

  std::ofstream(dir_ + "/bad.csv") << "t_ns,x_g,y_g,z_g\n1,0.5,0.25,0\n2,0.5,oops,0\n";
  r = Tool("encode '" + dir_ + "/bad.csv' -o '" + dir_ + "/x.batch'");
  EXPECT_EQ(r.code, 1);
  ExpectOneLine(r, "bad.csv:3:");

  std::ofstream(dir_ + "/big.csv") << "t_ns,x_g,y_g,z_g\n1,0.5,0.25,0\n2,99999,0,0\n";
  r = Tool("encode '" + dir_ + "/big.csv' -o '" + dir_ + "/x.batch'");
  EXPECT_EQ(r.code, 1);
  ExpectOneLine(r, "big.csv:3: x");

  std::ofstream(dir_ + "/junk.batch") << "ACCB\x01garbage";
  r = Tool("decode '" + dir_ + "/junk.batch' -o '" + dir_ + "/x.csv'");
  EXPECT_EQ(r.code, 1);
  ExpectOneLine(r, "junk.batch: offset ");
  r = Tool("inspect '" + dir_ + "/junk.batch'");
  EXPECT_EQ(r.code, 1);
  ExpectOneLine(r, "junk.batch: offset ");

  // A flipped bit: inspect still shows the header, reports the checksum, exits 1.
  const std::string in = ACCEL_SOURCE_DIR "/tests/data/s04_07_sw.norm.csv";
  ASSERT_EQ(Tool("encode '" + in + "' -o '" + dir_ + "/f.batch'").code, 0);
  std::string f = Slurp(dir_ + "/f.batch");
  f[f.size() / 2] ^= 4;
  std::ofstream(dir_ + "/f.batch", std::ios::binary | std::ios::trunc) << f;
  r = Tool("inspect '" + dir_ + "/f.batch'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("sample_count      994"), std::string::npos) << r.out;
  ExpectOneLine(r, "field 'crc32c': checksum mismatch");
}

TEST_F(BatchCliTest, TooFineResolutionInAFileIsRejected) {
  // A batch whose header declares 1e-300 g (once writable; decoding it used to
  // overrun the CSV writer's buffer): the decoder names the field.
  const std::string in = ACCEL_SOURCE_DIR "/tests/data/s04_07_sw.norm.csv";
  ASSERT_EQ(Tool("encode '" + in + "' -o '" + dir_ + "/r.batch' --device-id w").code, 0);
  std::string f = Slurp(dir_ + "/r.batch");
  const size_t res_at = 6 + 1 + 24;  // device id "w"
  const double tiny = 1e-300;
  std::memcpy(&f[res_at], &tiny, 8);
  const uint32_t crc = crc32c::Value(f.data(), f.size() - 4);
  for (int i = 0; i < 4; ++i) f[f.size() - 4 + i] = static_cast<char>(crc >> (8 * i));
  std::ofstream(dir_ + "/r.batch", std::ios::binary | std::ios::trunc) << f;
  ToolRun r = Tool("decode '" + dir_ + "/r.batch' -o '" + dir_ + "/r.csv'");
  EXPECT_EQ(r.code, 1);
  ExpectOneLine(r, "offset 31: field 'resolution_g': must be finite in [3.05176");
}

TEST_F(BatchCliTest, CsvBeyondTheBatchLimitIsAnErrorNamingTheLimit) {
  // The real limit (2^24 samples) needs a ~1 GB CSV; the test hook lowers it.
  const std::string in = ACCEL_SOURCE_DIR "/tests/data/s04_07_sw.norm.csv";  // 994 samples
  ToolRun r = Tool("encode '" + in + "' -o '" + dir_ + "/l.batch'");
  ASSERT_EQ(r.code, 0) << r.err;
  setenv("ACCEL_BATCH_MAX_SAMPLES", "994", 1);
  r = Tool("encode '" + in + "' -o '" + dir_ + "/l.batch'");
  EXPECT_EQ(r.code, 0) << r.err;
  setenv("ACCEL_BATCH_MAX_SAMPLES", "993", 1);
  r = Tool("encode '" + in + "' -o '" + dir_ + "/l2.batch'");
  unsetenv("ACCEL_BATCH_MAX_SAMPLES");
  EXPECT_EQ(r.code, 1);
  ExpectOneLine(r,
                "s04_07_sw.norm.csv:995: more than 993 samples: one batch file holds at most "
                "2^24 = 16777216 samples");
  EXPECT_FALSE(std::ifstream(dir_ + "/l2.batch").good());
  r = Tool("--help");
  EXPECT_NE(r.out.find("at most 2^24 = 16777216"), std::string::npos) << r.out;
}

TEST_F(BatchCliTest, UsageErrorsExitTwo) {
  const std::string in = ACCEL_SOURCE_DIR "/tests/data/s04_07_sw.norm.csv";
  ToolRun r = Tool("");
  EXPECT_EQ(r.code, 2);
  ExpectOneLine(r, "missing command");
  r = Tool("transmogrify x");
  EXPECT_EQ(r.code, 2);
  ExpectOneLine(r, "unknown command");
  r = Tool("encode '" + in + "' -o '" + dir_ + "/x.batch' --frobnicate 3");
  EXPECT_EQ(r.code, 2);
  ExpectOneLine(r, "unknown option '--frobnicate'");
  r = Tool("encode '" + in + "'");
  EXPECT_EQ(r.code, 2);
  ExpectOneLine(r, "missing -o");
  r = Tool("encode '" + in + "' -o '" + dir_ + "/x.batch' --sequence -1");
  EXPECT_EQ(r.code, 2);
  ExpectOneLine(r, "--sequence");
  r = Tool("encode '" + in + "' -o '" + dir_ + "/x.batch' --resolution 0");
  EXPECT_EQ(r.code, 2);
  ExpectOneLine(r, "resolution");
  // Finer than 32 g / 1048575 counts cannot hold +-32 g: refused, never clamped.
  r = Tool("encode '" + in + "' -o '" + dir_ + "/x.batch' --resolution 1e-300");
  EXPECT_EQ(r.code, 2);
  ExpectOneLine(r, "finer than the finest supported step");
  r = Tool("encode '" + in + "' -o '" + dir_ + "/x.batch' --resolution 1/32768");
  EXPECT_EQ(r.code, 2);
  ExpectOneLine(r, "+-32 g");
  r = Tool("encode '" + in + "' -o '" + dir_ + "/x.batch' --device-id ''");
  EXPECT_EQ(r.code, 2);
  ExpectOneLine(r, "device id");
  r = Tool("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("usage: accel-batch encode"), std::string::npos);
}

}  // namespace
}  // namespace accel
