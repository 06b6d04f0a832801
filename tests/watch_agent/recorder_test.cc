#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "common/batch_format.h"
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

TEST(FileRecorderTest, PacedReplayRestartedWithACursorContinuesAtOnce) {
  std::string dir = TempDir();
  std::vector<Sample> in;
  for (int i = 0; i < 3600; ++i) in.push_back({i * kSec, 0.001 * i, 0, 1});  // one hour at 1 Hz
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), dir + "/h.csv", FormatSampleCsv(in)).ok());
  ManualClock clock(0, 5000 * kSec);  // a process started long after the recording
  FileRecorderOptions o;
  o.paths = {dir + "/h.csv"};
  o.pace = 1.0;
  auto r = FileRecorder::Open(o, &clock);
  ASSERT_TRUE(r.ok());
  // The previous process was killed 59 minutes in: cursor 3540 (sample t=3539 s).
  FetchResult f;
  ASSERT_TRUE((*r)->Fetch(3540, 100, &f).ok());
  EXPECT_TRUE(f.samples.empty()) << "the next sample is due 1 s after the cursor's, not at once";
  clock.Advance(kSec);
  ASSERT_TRUE((*r)->Fetch(3540, 100, &f).ok());
  ASSERT_EQ(f.samples.size(), 1u) << "waiting for the 59 minutes already played";
  EXPECT_EQ(f.first_id, 3541u);
  EXPECT_EQ(f.samples[0].t_ns, 3540 * kSec);
  clock.Advance(10 * kSec);
  ASSERT_TRUE((*r)->Fetch(3541, 100, &f).ok());
  EXPECT_EQ(f.samples.size(), 10u);  // paced from the new origin, not from the top
  // A fresh start (cursor 0) still starts at the top.
  auto fresh = FileRecorder::Open(o, &clock);
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE((*fresh)->Fetch(0, 100, &f).ok());
  EXPECT_EQ(f.samples.size(), 1u);
  std::system(("rm -rf " + dir).c_str());
}

// Our own batch files as a source: decoded exactly (to the resolution they
// were stored at), concatenated with CSV in the order given.
TEST(FileRecorderTest, ReplaysOurOwnBatchFiles) {
  std::string dir = TempDir();
  Resolution res;
  std::vector<QSample> q;
  for (int i = 0; i < 1500; ++i)
    q.push_back(QSample{1700000000000000000LL + i * 20000000LL, i - 700, 16384 - i, -3 * i});
  BatchHeader h;
  h.device_id = "watch-x";
  h.sequence = 99;
  h.resolution_g = res.step_g();
  std::string bytes;
  ASSERT_TRUE(EncodeBatch(h, q, &bytes).ok());
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), dir + "/a.batch", bytes).ok());
  std::vector<Sample> csv = {{1800000000000000000LL, 0.5, -0.25, 1.0}};
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), dir + "/b.csv", FormatSampleCsv(csv)).ok());
  ManualClock clock(0);
  FileRecorderOptions o;
  o.paths = {dir + "/a.batch", dir + "/b.csv"};
  auto r = FileRecorder::Open(o, &clock);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  FetchResult f;
  ASSERT_TRUE((*r)->Fetch(0, 10000, &f).ok());
  ASSERT_EQ(f.samples.size(), 1501u);
  EXPECT_TRUE(f.end_of_data);
  for (size_t i = 0; i < q.size(); ++i) {
    QSample back;
    ASSERT_TRUE(res.Quantise(f.samples[i], &back).ok());
    ASSERT_EQ(back, q[i]) << "sample " << i;
  }
  EXPECT_EQ(f.samples[1500].t_ns, csv[0].t_ns);
  // Resuming in the middle of the batch file.
  ASSERT_TRUE((*r)->Fetch(1000, 10, &f).ok());
  EXPECT_EQ(f.first_id, 1001u);
  EXPECT_EQ(f.samples[0].t_ns, q[1000].t_ns);
  // A damaged batch file is an error naming it, not CSV garbage.
  bytes[bytes.size() / 2] ^= 0x40;
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), dir + "/bad.batch", bytes).ok());
  o.paths = {dir + "/bad.batch"};
  auto bad = FileRecorder::Open(o, &clock);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("bad.batch"), std::string::npos) << bad.status().ToString();
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
    for (int i = 0; i < 8; ++i)
      s[8 + i] = static_cast<char>((static_cast<uint64_t>(t) >> (8 * i)) & 0xFF);
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

// The agent restarted after a while: its cursor is large, the new process's
// FIFO holds scans recorded while it was down. They are new data and must get
// the ids after the cursor, not be skipped as "already seen".
TEST_F(IioRecorderTest, FreshProcessWithALargeCursorKeepsEverythingBuffered) {
  std::string data;
  for (int i = 0; i < 40; ++i) data += Scan(i, -i, 2 * i, 1700000000000000000LL + i * 20000000LL);
  Write(root_ + "/dev/iio:device1", data);
  IioOptions o;
  o.sysfs_root = root_;
  o.dev_dir = root_ + "/dev";
  auto r = IioRecorder::Open(o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const uint64_t cursor = 123456789;
  FetchResult f;
  ASSERT_TRUE((*r)->Fetch(cursor, 25, &f).ok());
  EXPECT_EQ(f.first_id, cursor + 1);
  ASSERT_EQ(f.samples.size(), 25u);
  EXPECT_EQ(f.samples[0].t_ns, 1700000000000000000LL);
  ASSERT_TRUE((*r)->Fetch(cursor + 25, 100, &f).ok());
  EXPECT_EQ(f.first_id, cursor + 26);
  ASSERT_EQ(f.samples.size(), 15u);
  EXPECT_EQ(f.samples[14].t_ns, 1700000000000000000LL + 39 * 20000000LL);
  EXPECT_EQ(f.lost_samples, 0u);
}

// A FIFO in place of /dev/iio:deviceN: data arrives in pieces, like reads of
// the real character device, and a read may end in the middle of a scan.
class IioStreamTest : public IioRecorderTest {
 protected:
  void SetUp() override {
    IioRecorderTest::SetUp();
    // 12 significant bits stored in 16, shifted left by 4 (as on an ADXL345
    // in full-resolution mode or a BMA250), little endian; padding, timestamp.
    for (const char* ch : {"in_accel_x", "in_accel_y", "in_accel_z"})
      Write(dev_ + "/scan_elements/" + ch + "_type", "le:s12/16>>4\n");
    fifo_ = root_ + "/dev/iio:device1";
    ASSERT_EQ(mkfifo(fifo_.c_str(), 0600), 0);
    writer_ = ::open(fifo_.c_str(), O_RDWR | O_NONBLOCK);  // keeps the FIFO open for writing
    ASSERT_GE(writer_, 0);
  }
  void TearDown() override {
    if (writer_ >= 0) ::close(writer_);
    IioRecorderTest::TearDown();
  }
  std::unique_ptr<IioRecorder> OpenRecorder(size_t max_buffered = 32768) {
    IioOptions o;
    o.sysfs_root = root_;
    o.dev_dir = root_ + "/dev";
    o.max_buffered_scans = max_buffered;
    auto r = IioRecorder::Open(o);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(r).value() : nullptr;
  }
  // x, y, z as 12-bit values shifted left by 4 in little-endian s16, then
  // two bytes of padding and the s64 timestamp at offset 8.
  static std::string ShiftedScan(int x, int y, int z, int64_t t) {
    std::string s(16, '\0');
    int v[3] = {x, y, z};
    for (int i = 0; i < 3; ++i) {
      uint16_t raw = static_cast<uint16_t>((v[i] & 0xFFF) << 4 | 0x5);  // low bits: junk
      s[2 * i] = static_cast<char>(raw & 0xFF);
      s[2 * i + 1] = static_cast<char>(raw >> 8);
    }
    for (int i = 0; i < 8; ++i)
      s[8 + i] = static_cast<char>((static_cast<uint64_t>(t) >> (8 * i)) & 0xFF);
    return s;
  }
  void Push(const std::string& bytes) {
    ASSERT_EQ(::write(writer_, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  }
  std::string fifo_;
  int writer_ = -1;
};

TEST_F(IioStreamTest, ShiftedChannelsAndAScanSplitAcrossTwoReads) {
  auto r = OpenRecorder();
  ASSERT_NE(r, nullptr);
  const double k = 0.000598550 / 9.80665;
  std::string a = ShiftedScan(2047, -2048, -1, 1700000000000000000LL);
  std::string b = ShiftedScan(-5, 100, 1000, 1700000000020000000LL);
  FetchResult f;
  ASSERT_TRUE(r->Fetch(0, 100, &f).ok());
  EXPECT_TRUE(f.samples.empty());
  Push(a + b.substr(0, 7));  // the second scan stops inside its z channel
  ASSERT_TRUE(r->Fetch(0, 100, &f).ok());
  ASSERT_EQ(f.samples.size(), 1u);
  EXPECT_DOUBLE_EQ(f.samples[0].x, 2047 * k);
  EXPECT_DOUBLE_EQ(f.samples[0].y, -2048 * k);
  EXPECT_DOUBLE_EQ(f.samples[0].z, (-1 - 10) * k);
  EXPECT_EQ(f.samples[0].t_ns, 1700000000000000000LL);
  Push(b.substr(7));
  ASSERT_TRUE(r->Fetch(1, 100, &f).ok());
  ASSERT_EQ(f.samples.size(), 1u);
  EXPECT_EQ(f.first_id, 2u);
  EXPECT_DOUBLE_EQ(f.samples[0].x, -5 * k);
  EXPECT_DOUBLE_EQ(f.samples[0].y, 100 * k);
  EXPECT_DOUBLE_EQ(f.samples[0].z, (1000 - 10) * k);
  EXPECT_EQ(f.samples[0].t_ns, 1700000000020000000LL);
}

// The kernel ring overflowed (nobody read it): the timestamps jump. The gap
// is reported once, with its size and span, and no sample is invented.
TEST_F(IioStreamTest, TimestampJumpIsReportedAsLostSamples) {
  Write(dev_ + "/sampling_frequency", "50.000000\n");
  auto r = OpenRecorder();
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->period_ns(), 20000000);
  const int64_t t0 = 1700000000000000000LL, p = 20000000;
  Push(ShiftedScan(1, 1, 1, t0) + ShiftedScan(2, 2, 2, t0 + p) + ShiftedScan(3, 3, 3, t0 + 2 * p) +
       ShiftedScan(4, 4, 4, t0 + 7 * p) + ShiftedScan(5, 5, 5, t0 + 8 * p + 3000000));  // jitter
  FetchResult f;
  ASSERT_TRUE(r->Fetch(0, 3, &f).ok());
  ASSERT_EQ(f.samples.size(), 3u);
  EXPECT_EQ(f.lost_samples, 0u) << "the gap comes after these three";
  ASSERT_TRUE(r->Fetch(3, 100, &f).ok());
  ASSERT_EQ(f.samples.size(), 2u);
  EXPECT_EQ(f.first_id, 4u) << "lost samples get no ids";
  EXPECT_EQ(f.lost_samples, 4u);
  EXPECT_EQ(f.lost_from_ns, t0 + 3 * p);
  EXPECT_EQ(f.lost_to_ns, t0 + 7 * p);
  ASSERT_TRUE(r->Fetch(5, 100, &f).ok());
  EXPECT_EQ(f.lost_samples, 0u) << "reported once";
}

TEST_F(IioStreamTest, PeriodIsEstimatedWhenTheDriverDoesNotSayIt) {
  auto r = OpenRecorder();
  ASSERT_NE(r, nullptr);
  const int64_t t0 = 1700000000000000000LL, p = 10000000;  // 100 Hz
  std::string d;
  for (int i = 0; i < 6; ++i) d += ShiftedScan(i, i, i, t0 + i * p + (i % 2) * 400000);
  d += ShiftedScan(9, 9, 9, t0 + 106 * p);  // 100 scans dropped
  Push(d);
  FetchResult f;
  ASSERT_TRUE(r->Fetch(0, 100, &f).ok());
  ASSERT_EQ(f.samples.size(), 7u);
  EXPECT_NEAR(static_cast<double>(r->period_ns()), p, 200000);
  // Estimated from jittery timestamps: about right, never zero.
  EXPECT_NEAR(static_cast<double>(f.lost_samples), 100.0, 2.0);
  EXPECT_EQ(f.lost_from_ns - (t0 + 5 * p + 400000), r->period_ns());
  EXPECT_EQ(f.lost_to_ns, t0 + 106 * p);
}

// Backpressure: Poll() moves scans out of the kernel ring into the
// recorder's own bounded buffer; beyond that they stay in the kernel.
TEST_F(IioStreamTest, PollBuffersUpToItsBoundAndFetchGetsThemAll) {
  auto r = OpenRecorder(/*max_buffered=*/8);
  ASSERT_NE(r, nullptr);
  const int64_t t0 = 1700000000000000000LL, p = 20000000;
  std::string d;
  for (int i = 0; i < 20; ++i) d += ShiftedScan(i, 0, 0, t0 + i * p);
  Push(d);
  ASSERT_TRUE(r->Poll().ok());
  EXPECT_EQ(r->buffered(), 8u);
  FetchResult f;
  uint64_t cursor = 0;
  std::vector<int64_t> ts;
  while (ts.size() < 20) {
    ASSERT_TRUE(r->Fetch(cursor, 5, &f).ok());
    ASSERT_FALSE(f.samples.empty());
    EXPECT_EQ(f.first_id, cursor + 1);
    for (const Sample& s : f.samples) ts.push_back(s.t_ns);
    cursor += f.samples.size();
    EXPECT_LE(r->buffered(), 8u);
  }
  for (int i = 0; i < 20; ++i) EXPECT_EQ(ts[i], t0 + i * p);
  EXPECT_EQ(f.lost_samples, 0u);
}

}  // namespace
}  // namespace accel
