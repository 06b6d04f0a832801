// The pure parts of the link: frame and message codecs, endpoints, device
// ids, backoff, pairing-secret files.
#include "link/protocol.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "common/env.h"
#include "link/backoff.h"
#include "link/endpoint.h"
#include "link/pairing.h"
#include "tests/link/link_test_util.h"

namespace accel {
namespace link {
namespace {

TEST(FrameTest, EncodesHeaderPayloadAndCrc) {
  std::string f = EncodeFrame(MsgType::kPing, EncodeNonce(0x0102030405060708ull));
  ASSERT_EQ(f.size(), kFrameHeaderBytes + 8 + kFrameTrailerBytes);
  uint8_t type = 0;
  Result<uint32_t> len = ParseFrameHeader(f.data(), &type);
  ASSERT_TRUE(len.ok());
  EXPECT_EQ(*len, 8u);
  EXPECT_EQ(type, static_cast<uint8_t>(MsgType::kPing));
  EXPECT_EQ(static_cast<uint8_t>(f[5]), 0x08);  // little-endian nonce
  const unsigned char* t = reinterpret_cast<const unsigned char*>(f.data()) + 13;
  uint32_t crc = t[0] | (t[1] << 8) | (t[2] << 16) | (static_cast<uint32_t>(t[3]) << 24);
  EXPECT_TRUE(CheckFrameCrc(type, std::string_view(f).substr(5, 8), crc).ok());
  Status bad = CheckFrameCrc(type, std::string_view(f).substr(5, 7), crc);
  EXPECT_TRUE(bad.IsCorruption());
  EXPECT_NE(bad.message().find("checksum mismatch"), std::string::npos);
}

TEST(FrameTest, RejectsOversizedAndUnknownHeaders) {
  uint8_t type;
  char h[5] = {0, 0, 0, 0x10, 0x05};  // 256 MiB DATA
  Result<uint32_t> r = ParseFrameHeader(h, &type);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("exceeds the maximum"), std::string::npos);
  char u[5] = {1, 0, 0, 0, 0x42};
  r = ParseFrameHeader(u, &type);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unknown(0x42)"), std::string::npos);
  char z[5] = {1, 0, 0, 0, 0x00};
  EXPECT_FALSE(ParseFrameHeader(z, &type).ok());
}

TEST(MessageTest, RoundTripsEveryMessage) {
  Hello h{kProtocolVersion, "watch-1"}, h2;
  ASSERT_TRUE(DecodeHello(EncodeHello(h), &h2).ok());
  EXPECT_EQ(h2.device_id, "watch-1");
  EXPECT_EQ(h2.version, kProtocolVersion);
  HelloOk ok{1, kMaxFramePayload, 123456789012ull}, ok2;
  ASSERT_TRUE(DecodeHelloOk(EncodeHelloOk(ok), &ok2).ok());
  EXPECT_EQ(ok2.max_file_size, 123456789012ull);
  Offer o{"w", 0xfffffffffffffff0ull, 77, 0xdeadbeef}, o2;
  ASSERT_TRUE(DecodeOffer(EncodeOffer(o), &o2).ok());
  EXPECT_EQ(o2.sequence, o.sequence);
  EXPECT_EQ(o2.size, 77u);
  EXPECT_EQ(o2.crc32c, 0xdeadbeefu);
  Resume r{5, 4096}, r2;
  ASSERT_TRUE(DecodeResume(EncodeResume(r), &r2).ok());
  EXPECT_EQ(r2.offset, 4096u);
  DataHeader d{5, 8192}, d2;
  std::string_view chunk;
  std::string data = EncodeData(d, "chunk");
  ASSERT_TRUE(DecodeData(data, &d2, &chunk).ok());
  EXPECT_EQ(d2.offset, 8192u);
  EXPECT_EQ(chunk, "chunk");
  ResultMsg m{9, Outcome::kRejected, "sequence reused"}, m2;
  ASSERT_TRUE(DecodeResult(EncodeResult(m), &m2).ok());
  EXPECT_EQ(m2.outcome, Outcome::kRejected);
  EXPECT_EQ(m2.reason, "sequence reused");
  ErrorMsg e{ErrorCode::kChecksum, "bad"}, e2;
  ASSERT_TRUE(DecodeError(EncodeError(e), &e2).ok());
  EXPECT_EQ(e2.code, ErrorCode::kChecksum);
  uint64_t n = 0;
  ASSERT_TRUE(DecodeNonce(EncodeNonce(42), &n).ok());
  EXPECT_EQ(n, 42u);
}

// Every strict prefix of a valid payload is refused with a precise error, and
// so are trailing bytes: no decoder reads past its input.
TEST(MessageTest, TruncatedAndPaddedPayloadsAreCorruption) {
  struct Case {
    std::string payload;
    std::function<Status(std::string_view)> decode;
  };
  std::vector<Case> cases = {
      {EncodeHello(Hello{1, "watch-1"}),
       [](std::string_view p) {
         Hello m;
         return DecodeHello(p, &m);
       }},
      {EncodeHelloOk(HelloOk{}),
       [](std::string_view p) {
         HelloOk m;
         return DecodeHelloOk(p, &m);
       }},
      {EncodeOffer(Offer{"watch-1", 1, 2, 3}),
       [](std::string_view p) {
         Offer m;
         return DecodeOffer(p, &m);
       }},
      {EncodeResume(Resume{1, 2}),
       [](std::string_view p) {
         Resume m;
         return DecodeResume(p, &m);
       }},
      {EncodeResult(ResultMsg{1, Outcome::kCommitted, "ok"}),
       [](std::string_view p) {
         ResultMsg m;
         return DecodeResult(p, &m);
       }},
      {EncodeError(ErrorMsg{ErrorCode::kBusy, "busy"}),
       [](std::string_view p) {
         ErrorMsg m;
         return DecodeError(p, &m);
       }},
      {EncodeNonce(7),
       [](std::string_view p) {
         uint64_t n;
         return DecodeNonce(p, &n);
       }},
  };
  for (const Case& c : cases) {
    ASSERT_TRUE(c.decode(c.payload).ok());
    for (size_t n = 0; n < c.payload.size(); ++n) {
      std::string prefix = c.payload.substr(0, n);  // own allocation: ASan sees overreads
      Status s = c.decode(prefix);
      EXPECT_TRUE(s.IsCorruption()) << n << ": " << s.ToString();
      EXPECT_NE(s.message().find("offset"), std::string::npos) << s.ToString();
    }
    Status s = c.decode(c.payload + "x");
    EXPECT_NE(s.message().find("1 trailing bytes"), std::string::npos) << s.ToString();
  }
  DataHeader d;
  std::string_view chunk;
  EXPECT_TRUE(DecodeData(std::string(15, 0), &d, &chunk).IsCorruption());
  ResultMsg m;
  std::string bad_outcome = EncodeResult(ResultMsg{1, Outcome::kCommitted, ""});
  bad_outcome[8] = 9;
  EXPECT_NE(DecodeResult(bad_outcome, &m).message().find("unknown outcome 9"), std::string::npos);
  Hello h;
  std::string long_id = EncodeHello(Hello{1, "x"});
  long_id[6] = static_cast<char>(200);  // claims a 200-byte device id
  EXPECT_NE(DecodeHello(long_id, &h).message().find("exceeds 64"), std::string::npos);
}

TEST(DeviceIdTest, OnlySafeNames) {
  EXPECT_TRUE(ValidateDeviceId("watch-1").ok());
  EXPECT_TRUE(ValidateDeviceId("A.b_c-9").ok());
  EXPECT_FALSE(ValidateDeviceId("").ok());
  EXPECT_FALSE(ValidateDeviceId(".hidden").ok());
  EXPECT_FALSE(ValidateDeviceId("..").ok());
  EXPECT_FALSE(ValidateDeviceId("a/b").ok());
  EXPECT_FALSE(ValidateDeviceId("a b").ok());
  EXPECT_FALSE(ValidateDeviceId(std::string(65, 'a')).ok());
  EXPECT_TRUE(ValidateDeviceId(std::string(64, 'a')).ok());
}

TEST(EndpointTest, ParsesTcpV4V6AndUnix) {
  auto e = Endpoint::Parse("tcp:127.0.0.1:7000");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 7000);
  EXPECT_EQ(e->ToString(), "tcp:127.0.0.1:7000");
  e = Endpoint::Parse("tcp:[::1]:0");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->ToString(), "tcp:[::1]:0");
  e = Endpoint::Parse("unix:/run/x.sock");
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->kind, Endpoint::Kind::kUnix);
  EXPECT_EQ(e->path, "/run/x.sock");
  for (const char* bad : {"", "tcp:", "tcp:host", "tcp::80", "tcp:h:", "tcp:h:65536", "tcp:h:-1",
                          "tcp:::1:80", "tcp:[::1]80", "udp:h:1", "unix:", "tcp:h:123456"}) {
    EXPECT_FALSE(Endpoint::Parse(bad).ok()) << bad;
  }
  EXPECT_FALSE(Endpoint::Parse("unix:/" + std::string(200, 'x')).ok());
}

TEST(BackoffTest, FullJitterBelowAGrowingCeiling) {
  Backoff b(100, 5000, 42);
  std::vector<int64_t> ceilings = {100, 200, 400, 800, 1600, 3200, 5000, 5000};
  for (int64_t c : ceilings) {
    EXPECT_EQ(b.CeilingMs(), c);
    int64_t d = b.NextDelayMs();
    EXPECT_GE(d, 0);
    EXPECT_LE(d, c);
  }
  b.Reset();
  EXPECT_EQ(b.CeilingMs(), 100);
  for (int i = 0; i < 100; ++i) b.NextDelayMs();  // no overflow after many failures
  EXPECT_EQ(b.CeilingMs(), 5000);
}

TEST(BackoffTest, SameSeedSameDelaysAndTheyAreSpread) {
  Backoff a(1000, 1000, 7), b(1000, 1000, 7), c(1000, 1000, 8);
  std::vector<int64_t> da, db, dc;
  for (int i = 0; i < 50; ++i) {
    da.push_back(a.NextDelayMs());
    db.push_back(b.NextDelayMs());
    dc.push_back(c.NextDelayMs());
  }
  EXPECT_EQ(da, db);
  EXPECT_NE(da, dc);
  int64_t lo = *std::min_element(da.begin(), da.end());
  int64_t hi = *std::max_element(da.begin(), da.end());
  EXPECT_LT(lo, 250);  // jitter spans the range, not a constant
  EXPECT_GT(hi, 750);
}

TEST(BackoffTest, DrawForAnAttemptLeavesTheOwnCountAlone) {
  Backoff b(100, 1000, 3);
  int64_t hi[5] = {0, 0, 0, 0, 0};
  for (int i = 0; i < 400; ++i) {
    for (int a = 1; a <= 5; ++a) {
      int64_t d = b.DrawMs(a);
      int64_t cap = std::min<int64_t>(1000, 100 << (a - 1));
      ASSERT_GE(d, 0);
      ASSERT_LE(d, cap) << "attempt " << a;
      hi[a - 1] = std::max(hi[a - 1], d);
    }
  }
  EXPECT_EQ(b.attempt(), 0);
  EXPECT_EQ(b.CeilingMs(), 100);
  EXPECT_GT(hi[0], 75);  // uniform over the whole range, not a fixed fraction
  EXPECT_GT(hi[4], 750);
}

class PairingTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir("accel_pairing_test"); }
  void TearDown() override { testing::RemoveTree(dir_); }
  std::string dir_;
};

TEST_F(PairingTest, CreateThenLoadWithOwnerOnlyMode) {
  std::string p = JoinPath(dir_, "w.key");
  Result<std::string> k = CreatePairingSecret(p);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->size(), 32u);
  struct stat st;
  ASSERT_EQ(::stat(p.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  Result<std::string> l = LoadPairingSecret(p);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(*l, *k);
  Result<std::string> other = CreatePairingSecret(JoinPath(dir_, "v.key"));
  ASSERT_TRUE(other.ok());
  EXPECT_NE(*other, *k);
  // Never overwritten.
  Result<std::string> again = CreatePairingSecret(p);
  EXPECT_FALSE(again.ok());
  EXPECT_EQ(*LoadPairingSecret(p), *k);
}

TEST_F(PairingTest, RefusesReadableByOthersAndMalformedFiles) {
  std::string p = JoinPath(dir_, "w.key");
  ASSERT_TRUE(CreatePairingSecret(p).ok());
  ASSERT_EQ(::chmod(p.c_str(), 0640), 0);
  Result<std::string> l = LoadPairingSecret(p);
  ASSERT_FALSE(l.ok());
  EXPECT_TRUE(l.status().IsPermissionDenied());
  EXPECT_NE(l.status().message().find("0640"), std::string::npos) << l.status().ToString();

  std::string q = JoinPath(dir_, "bad.key");
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), q, std::string(63, 'a') + "g\n", 0600).ok());
  l = LoadPairingSecret(q);
  ASSERT_FALSE(l.ok());
  EXPECT_TRUE(l.status().IsCorruption());
  EXPECT_NE(l.status().message().find("offset 63"), std::string::npos) << l.status().ToString();
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), q, "abcd\n", 0600).ok());
  EXPECT_TRUE(LoadPairingSecret(q).status().IsCorruption());
  EXPECT_TRUE(LoadPairingSecret(JoinPath(dir_, "none.key")).status().IsNotFound());
}

TEST_F(PairingTest, DirectoryLookupByDeviceId) {
  Result<std::string> k = CreatePairingSecret(JoinPath(dir_, "watch-7.key"));
  ASSERT_TRUE(k.ok());
  PskLookup lookup = PskDirectory(dir_);
  EXPECT_EQ(lookup("watch-7"), *k);
  EXPECT_EQ(lookup("watch-8"), std::nullopt);
  EXPECT_EQ(lookup("../watch-7"), std::nullopt);  // never a path
}

}  // namespace
}  // namespace link
}  // namespace accel
