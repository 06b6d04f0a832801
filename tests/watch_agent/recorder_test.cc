#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/csv.h"
#include "common/env.h"
#include "watch-agent/file_recorder.h"
#include "watch-agent/iio_recorder.h"
#include "watch-agent/synthetic_recorder.h"

namespace accel {
namespace {

constexpr int64_t kSec = 1000000000;

std::string TempDir() {
  char tmpl[] = "/tmp/accel_recorder_test.XXXXXX";
  EXPECT_NE(mkdtemp(tmpl), nullptr);
  return tmpl;
}

TEST(SyntheticRecorderTest, DeterministicFromSeedAndIndependentOfHistory) {
  ManualClock clock(1000 * kSec);
  SyntheticOptions o;
  o.seed = 42;
  o.start_unix_ns = 1000 * kSec;
  SyntheticRecorder a(o, &clock), b(o, &clock);
  clock.Advance(10 * kSec);
  FetchResult fa, fb;
  ASSERT_TRUE(a.Fetch(0, 1000, &fa).ok());
  ASSERT_TRUE(b.Fetch(200, 1000, &fb).ok());
  ASSERT_EQ(fa.samples.size(), 501u);  // 10 s at 50 Hz, both ends included
  ASSERT_EQ(fb.first_id, 201u);
  for (size_t i = 0; i < fb.samples.size(); ++i) {
    EXPECT_EQ(fb.samples[i].t_ns, fa.samples[200 + i].t_ns);
    EXPECT_EQ(fb.samples[i].x, fa.samples[200 + i].x);
  }
  EXPECT_EQ(fa.samples[1].t_ns - fa.samples[0].t_ns, 20000000);
  o.seed = 43;
  SyntheticRecorder c(o, &clock);
  EXPECT_NE(c.SampleAt(5).x, a.SampleAt(5).x);
  // Realistic: gravity dominates, |a| near 1 g, values within +-2 g.
  for (const Sample& s : fa.samples) {
    double m = std::sqrt(s.x * s.x + s.y * s.y + s.z * s.z);
    EXPECT_GT(m, 0.3);
    EXPECT_LT(m, 2.0);
  }
}

TEST(SyntheticRecorderTest, DelayRetentionGapAndEndOfData) {
  ManualClock clock(0);
  SyntheticOptions o;
  o.start_unix_ns = 0;  // "now" of the manual clock, which is 0
  o.availability_delay_ns = 2 * kSec;
  o.retention_ns = 60 * kSec;
  SyntheticRecorder r(o, &clock);
  FetchResult f;
  clock.Advance(kSec);
  ASSERT_TRUE(r.Fetch(0, 10000, &f).ok());
  EXPECT_TRUE(f.samples.empty());  // nothing readable before the delay passed
  clock.Advance(2 * kSec);
  ASSERT_TRUE(r.Fetch(0, 10000, &f).ok());
  EXPECT_EQ(f.samples.size(), 51u);
  EXPECT_EQ(f.gap_samples, 0u);
  // The agent was away for two minutes: the first minute expired and is reported as a gap.
  clock.Advance(120 * kSec);
  ASSERT_TRUE(r.Fetch(51, 10, &f).ok());
  EXPECT_GT(f.gap_samples, 2900u);
  EXPECT_EQ(f.first_id, 52 + f.gap_samples);
  EXPECT_GT(f.gap_to_ns - f.gap_from_ns, 58 * kSec);
  EXPECT_EQ(f.samples.size(), 10u);

  SyntheticOptions e;
  e.start_unix_ns = 1;
  e.max_samples = 100;
  SyntheticRecorder fin(e, &clock);
  clock.Advance(100 * kSec);
  ASSERT_TRUE(fin.Fetch(0, 60, &f).ok());
  EXPECT_EQ(f.samples.size(), 60u);
  EXPECT_FALSE(f.end_of_data);
  ASSERT_TRUE(fin.Fetch(60, 60, &f).ok());
  EXPECT_EQ(f.samples.size(), 40u);
  EXPECT_TRUE(f.end_of_data);
}

TEST(FileRecorderTest, ReplaysCsvFastAndPaced) {
  std::string dir = TempDir();
  std::vector<Sample> in;
  for (int i = 0; i < 100; ++i) in.push_back({i * 10000000LL, 0.001 * i, -0.5, 1.0});
  std::string path = dir + "/a.csv";
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), path, FormatSampleCsv(in)).ok());
  ManualClock clock(0);
  FileRecorderOptions o;
  o.paths = {path, path};
  auto fast = FileRecorder::Open(o, &clock);
  ASSERT_TRUE(fast.ok()) << fast.status().ToString();
  FetchResult f;
  ASSERT_TRUE((*fast)->Fetch(0, 1000, &f).ok());
  EXPECT_EQ(f.samples.size(), 200u);
  EXPECT_TRUE(f.end_of_data);
  EXPECT_EQ(f.samples[150].x, in[50].x);

  o.paths = {path};
  o.pace = 2.0;  // twice real time
  auto paced = FileRecorder::Open(o, &clock);
  ASSERT_TRUE(paced.ok());
  clock.Advance(250000000);  // 0.25 s wall = 0.5 s of recording = samples 0..50
  ASSERT_TRUE((*paced)->Fetch(0, 1000, &f).ok());
  EXPECT_EQ(f.samples.size(), 51u);
  EXPECT_FALSE(f.end_of_data);

  // Two recordings an hour apart are played back to back when pacing.
  std::vector<Sample> later = in;
  for (Sample& x : later) x.t_ns += 3600LL * kSec;
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), dir + "/b.csv", FormatSampleCsv(later)).ok());
  o.paths = {path, dir + "/b.csv"};
  o.pace = 1.0;
  auto gap = FileRecorder::Open(o, &clock);
  ASSERT_TRUE(gap.ok());
  clock.Advance(2 * kSec + 990000000);  // 0.99 s + a 1 s capped pause + 0.99 s + margin
  ASSERT_TRUE((*gap)->Fetch(0, 1000, &f).ok());
  EXPECT_EQ(f.samples.size(), 200u);
  EXPECT_TRUE(f.end_of_data);

  o.paths = {dir + "/missing.csv"};
  auto missing = FileRecorder::Open(o, &clock);
  EXPECT_TRUE(missing.status().IsNotFound());
  std::system(("rm -rf " + dir).c_str());
}

TEST(IioChannelFormatTest, ParsesAndExtractsKernelLayouts) {
  IioChannelFormat f;
  ASSERT_TRUE(IioChannelFormat::Parse("le:s12/16>>4", &f).ok());
  EXPECT_FALSE(f.big_endian);
  EXPECT_EQ(f.bits, 12);
  EXPECT_EQ(f.storage_bits, 16);
  EXPECT_EQ(f.shift, 4);
  // -3 in 12 bits (0xFFD) shifted left by 4 -> 0xFFD0, little endian.
  uint8_t le[2] = {0xD0, 0xFF};
  EXPECT_EQ(f.Extract(le), -3);
  ASSERT_TRUE(IioChannelFormat::Parse("be:u10/16>>0", &f).ok());
  uint8_t be[2] = {0x03, 0xFF};
  EXPECT_EQ(f.Extract(be), 1023);
  ASSERT_TRUE(IioChannelFormat::Parse("le:s64/64>>0", &f).ok());
  uint8_t ts[8] = {1, 2, 3, 4, 5, 6, 7, 0x17};
  EXPECT_EQ(f.Extract(ts), 0x1707060504030201LL);
  EXPECT_FALSE(IioChannelFormat::Parse("xe:s12/16>>4", &f).ok());
  EXPECT_FALSE(IioChannelFormat::Parse("le:s17/16>>0", &f).ok());
  EXPECT_FALSE(IioChannelFormat::Parse("le:s12/12>>0", &f).ok());  // storage not whole bytes
}

// A faithful sysfs tree of a 3-axis accelerometer (like an ADXL345 or a
// BMI160) and a character device holding scans in the documented layout.
class IioRecorderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = TempDir();
    dev_ = root_ + "/iio:device1";
    Env* env = Env::Default();
    ASSERT_TRUE(env->CreateDirs(root_ + "/iio:device0").ok());  // a non-accelerometer (e.g. ADC)
    ASSERT_TRUE(env->CreateDirs(dev_ + "/scan_elements").ok());
    ASSERT_TRUE(env->CreateDirs(dev_ + "/buffer").ok());
    ASSERT_TRUE(env->CreateDirs(root_ + "/dev").ok());
    Write(dev_ + "/name", "bmi160\n");
    // scale in m/s^2 per LSB: 0.000598550 (+-2 g range of a 16-bit part)
    Write(dev_ + "/in_accel_scale", "0.000598550\n");
    Write(dev_ + "/in_accel_z_offset", "-10\n");
    const char* ch[] = {"in_accel_x", "in_accel_y", "in_accel_z"};
    for (int i = 0; i < 3; ++i) {
      Write(dev_ + "/scan_elements/" + ch[i] + "_en", "0\n");
      Write(dev_ + "/scan_elements/" + ch[i] + "_index", std::to_string(i) + "\n");
      Write(dev_ + "/scan_elements/" + ch[i] + "_type", "be:s16/16>>0\n");
    }
    Write(dev_ + "/scan_elements/in_anglvel_x_en", "1\n");
    Write(dev_ + "/scan_elements/in_timestamp_en", "0\n");
    Write(dev_ + "/scan_elements/in_timestamp_index", "3\n");
    Write(dev_ + "/scan_elements/in_timestamp_type", "le:s64/64>>0\n");
    Write(dev_ + "/buffer/enable", "0\n");
    Write(dev_ + "/buffer/length", "0\n");
  }
  void TearDown() override { std::system(("rm -rf '" + root_ + "'").c_str()); }
  void Write(const std::string& p, const std::string& v) {
    ASSERT_TRUE(WriteFileAtomically(Env::Default(), p, v).ok());
  }
  std::string Read(const std::string& p) {
    std::string s;
    EXPECT_TRUE(Env::Default()->ReadFile(p, &s).ok());
    return s;
  }
  // One scan: x, y, z as big-endian s16 at offsets 0, 2, 4, padding to 8,
  // the timestamp as little-endian s64 at 8: 16 bytes.
  static std::string Scan(int16_t x, int16_t y, int16_t z, int64_t t) {
    std::string s(16, '\0');
    int16_t v[3] = {x, y, z};
    for (int i = 0; i < 3; ++i) {
      s[2 * i] = static_cast<char>((static_cast<uint16_t>(v[i]) >> 8) & 0xFF);
      s[2 * i + 1] = static_cast<char>(static_cast<uint16_t>(v[i]) & 0xFF);
    }
    for (int i = 0; i < 8; ++i) s[8 + i] = static_cast<char>((static_cast<uint64_t>(t) >> (8 * i)) & 0xFF);
    return s;
  }
  std::string root_, dev_;
};

TEST_F(IioRecorderTest, DiscoversEnablesAndConvertsScans) {
  std::string data = Scan(16384, -16384, 16394, 1700000000000000000LL) +
                     Scan(100, 200, -300, 1700000000020000000LL);
  data += Scan(1, 2, 3, 1700000000040000000LL).substr(0, 9);  // a partial scan: not yet a sample
  Write(root_ + "/dev/iio:device1", data);
  IioOptions o;
  o.sysfs_root = root_;
  o.dev_dir = root_ + "/dev";
  o.buffer_length = 256;
  auto r = IioRecorder::Open(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->scan_bytes(), 16u);
  EXPECT_EQ(Read(dev_ + "/scan_elements/in_accel_x_en"), "1");
  EXPECT_EQ(Read(dev_ + "/scan_elements/in_timestamp_en"), "1");
  EXPECT_EQ(Read(dev_ + "/scan_elements/in_anglvel_x_en"), "0");
  EXPECT_EQ(Read(dev_ + "/buffer/length"), "256");
  EXPECT_EQ(Read(dev_ + "/buffer/enable"), "1");
  FetchResult f;
  ASSERT_TRUE((*r)->Fetch(0, 100, &f).ok());
  ASSERT_EQ(f.samples.size(), 2u);
  EXPECT_EQ(f.first_id, 1u);
  const double k = 0.000598550 / 9.80665;
  EXPECT_DOUBLE_EQ(f.samples[0].x, 16384 * k);
  EXPECT_DOUBLE_EQ(f.samples[0].y, -16384 * k);
  EXPECT_DOUBLE_EQ(f.samples[0].z, (16394 - 10) * k);  // per-axis offset applied
  EXPECT_EQ(f.samples[1].t_ns, 1700000000020000000LL);
  EXPECT_DOUBLE_EQ(f.samples[1].z, (-300 - 10) * k);
  // The cursor moved past sample 1: only sample 2 is left.
  ASSERT_TRUE((*r)->Fetch(1, 100, &f).ok());
  ASSERT_EQ(f.samples.size(), 1u);
  EXPECT_EQ(f.first_id, 2u);
}

TEST_F(IioRecorderTest, ClearErrorsForMissingDeviceAndBadType) {
  IioOptions o;
  o.sysfs_root = root_ + "/nothing";
  EXPECT_TRUE(IioRecorder::Open(o).status().IsNotFound());
  Write(dev_ + "/scan_elements/in_accel_y_type", "le:q16/16>>0\n");
  o.sysfs_root = root_;
  o.dev_dir = root_ + "/dev";
  auto r = IioRecorder::Open(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("in_accel_y_type"), std::string::npos)
      << r.status().ToString();
}

}  // namespace
}  // namespace accel
