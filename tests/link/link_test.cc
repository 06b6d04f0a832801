// The link end to end on real loopback sockets: round trips, resumption,
// dedupe, authentication, tampering, malformed frames, slow and wedged peers.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <random>

#include "common/crc32c.h"
#include "common/env.h"
#include "link/client.h"
#include "link/pairing.h"
#include "link/server.h"
#include "tests/link/link_test_util.h"

namespace accel {
namespace link {
namespace {

using testing::LogCapture;
using testing::MemorySink;
using testing::RandomBytes;
using testing::TcpRelay;

class LinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = std::random_device{}();
    rng_.seed(seed_);
    dir_ = testing::MakeTempDir("accel_link_test");
    keys_ = JoinPath(dir_, "keys");
    ASSERT_TRUE(Env::Default()->CreateDirs(keys_, 0700).ok());
    Result<std::string> psk = CreatePairingSecret(JoinPath(keys_, "watch-1.key"));
    ASSERT_TRUE(psk.ok()) << psk.status().ToString();
    psk_ = *psk;
  }
  void TearDown() override {
    if (server_) server_->Stop();
    testing::RemoveTree(dir_);
    if (HasFailure()) std::fprintf(stderr, "random seed: %llu\n", (unsigned long long)seed_);
  }
  ServerOptions ServerOpts(const std::string& endpoint = "tcp:127.0.0.1:0") {
    ServerOptions o;
    o.endpoint = endpoint;
    o.spool_dir = JoinPath(dir_, "spool");
    o.psk_for_device = PskDirectory(keys_);
    o.handshake_timeout_ms = 3000;
    o.io_timeout_ms = 3000;
    o.idle_timeout_ms = 10000;
    o.heartbeat_ms = 1000;
    return o;
  }
  void StartServer(const ServerOptions& o) {
    auto s = Server::Start(o, &sink_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
  }
  ClientOptions ClientOpts(const std::string& endpoint) {
    ClientOptions o;
    o.endpoint = endpoint;
    o.device_id = "watch-1";
    o.psk = psk_;
    o.io_timeout_ms = 5000;
    return o;
  }
  std::unique_ptr<Client> MustConnect(const ClientOptions& o) {
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (!c.ok()) return nullptr;
    return std::move(c).value();
  }
  // A TLS-authenticated peer that speaks raw frames.
  std::unique_ptr<TlsConn> RawConnect(const std::string& device = "watch-1") {
    Result<int> fd = DialEndpoint(*Endpoint::Parse(server_->endpoint()), DeadlineAfterMs(5000));
    EXPECT_TRUE(fd.ok());
    if (!fd.ok()) return nullptr;
    auto t = TlsConn::ClientHandshake(*fd, device, psk_, DeadlineAfterMs(5000));
    EXPECT_TRUE(t.ok()) << t.status().ToString();
    if (!t.ok()) return nullptr;
    return std::move(t).value();
  }
  void SendHello(TlsConn* t, const std::string& device = "watch-1") {
    Hello h;
    h.device_id = device;
    ASSERT_TRUE(t->WriteFrame(MsgType::kHello, EncodeHello(h), DeadlineAfterMs(5000)).ok());
    Result<Frame> f = t->ReadFrame(DeadlineAfterMs(5000), 5000);
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    ASSERT_EQ(f->type, static_cast<uint8_t>(MsgType::kHelloOk));
  }
  // Reads until the server closes; returns the reason of its ERROR frame, if any.
  static std::string ErrorUntilClosed(TlsConn* t) {
    std::string reason = "(no ERROR frame)";
    for (;;) {
      Result<Frame> f = t->ReadFrame(DeadlineAfterMs(10000), 10000);
      if (!f.ok()) {
        EXPECT_FALSE(f.status().IsAborted()) << "server did not close: " << f.status().ToString();
        return reason;
      }
      if (f->type == static_cast<uint8_t>(MsgType::kError)) {
        ErrorMsg e;
        if (DecodeError(f->payload, &e).ok()) reason = e.reason;
      }
    }
  }
  void ExpectRoundTrip(const std::string& endpoint, int batches) {
    auto c = MustConnect(ClientOpts(endpoint));
    ASSERT_NE(c, nullptr);
    for (int i = 0; i < batches; ++i) {
      std::string bytes = RandomBytes(&rng_, 6000 + rng_() % 4000);
      uint64_t seq = 1000 + i;
      auto r = c->SendBatch(seq, bytes);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_EQ(r->outcome, Outcome::kCommitted) << r->reason;
      EXPECT_EQ(c->last_resume_offset(), 0u);
      EXPECT_EQ(sink_.Get("watch-1", seq), bytes);
    }
    EXPECT_TRUE(c->Ping().ok());
  }

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  std::string dir_, keys_, psk_;
  MemorySink sink_;
  std::unique_ptr<Server> server_;
};

TEST_F(LinkTest, RoundTripOverTcp) {
  StartServer(ServerOpts());
  EXPECT_EQ(server_->endpoint().rfind("tcp:127.0.0.1:", 0), 0u) << server_->endpoint();
  ExpectRoundTrip(server_->endpoint(), 20);
  EXPECT_EQ(sink_.size(), 20u);
}

TEST_F(LinkTest, RoundTripOverUnixSocket) {
  StartServer(ServerOpts("unix:" + JoinPath(dir_, "link.sock")));
  EXPECT_EQ(server_->endpoint(), "unix:" + JoinPath(dir_, "link.sock"));
  ExpectRoundTrip(server_->endpoint(), 5);
}

TEST_F(LinkTest, RoundTripOverIpv6Loopback) {
  auto s = Server::Start(ServerOpts("tcp:[::1]:0"), &sink_);
  if (!s.ok()) GTEST_SKIP() << "no IPv6 loopback here: " << s.status().ToString();
  server_ = std::move(s).value();
  EXPECT_EQ(server_->endpoint().rfind("tcp:[::1]:", 0), 0u) << server_->endpoint();
  ExpectRoundTrip(server_->endpoint(), 3);
}

TEST_F(LinkTest, EmptyAndMultiChunkFiles) {
  StartServer(ServerOpts());
  ClientOptions o = ClientOpts(server_->endpoint());
  o.chunk_bytes = 4096;
  auto c = MustConnect(o);
  ASSERT_NE(c, nullptr);
  auto r = c->SendBatch(1, "");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kCommitted);
  EXPECT_EQ(sink_.Get("watch-1", 1), std::string());
  std::string big = RandomBytes(&rng_, 3 * 1024 * 1024 + 17);
  r = c->SendBatch(2, big);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kCommitted);
  EXPECT_EQ(c->last_bytes_sent(), big.size());
  EXPECT_EQ(sink_.Get("watch-1", 2), big);
}

TEST_F(LinkTest, DuplicatesAndReusedSequences) {
  StartServer(ServerOpts());
  auto c = MustConnect(ClientOpts(server_->endpoint()));
  ASSERT_NE(c, nullptr);
  std::string a = RandomBytes(&rng_, 7000), b = RandomBytes(&rng_, 7000);
  auto r = c->SendBatch(5, a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, Outcome::kCommitted);
  r = c->SendBatch(5, a);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, Outcome::kDuplicate);
  r = c->SendBatch(5, b);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, Outcome::kRejected);
  EXPECT_EQ(r->reason, "sequence reused with different content");
  EXPECT_EQ(sink_.Get("watch-1", 5), a);
  EXPECT_EQ(sink_.size(), 1u);
}

TEST_F(LinkTest, PreCheckRefusesBeforeAnyDataMoves) {
  StartServer(ServerOpts());
  sink_.refuse_full = true;
  auto c = MustConnect(ClientOpts(server_->endpoint()));
  ASSERT_NE(c, nullptr);
  auto r = c->SendBatch(9, RandomBytes(&rng_, 50000));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kRefusedFull);
  EXPECT_EQ(r->reason, "storage full");
  EXPECT_EQ(c->last_bytes_sent(), 0u);
  EXPECT_EQ(sink_.commit_calls(), 0);
  sink_.refuse_full = false;  // room again: the same connection goes on
  r = c->SendBatch(9, "x");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, Outcome::kCommitted);
}

TEST_F(LinkTest, ClientRefusesFilesAboveTheServersLimit) {
  ServerOptions o = ServerOpts();
  o.max_file_size = 1000;
  StartServer(o);
  auto c = MustConnect(ClientOpts(server_->endpoint()));
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->server_max_file_size(), 1000u);
  auto r = c->SendBatch(1, std::string(1001, 'x'));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsResourceExhausted()) << r.status().ToString();
  EXPECT_TRUE(c->SendBatch(2, std::string(1000, 'x')).ok());
}

// Cuts the client->server stream after `cut` bytes during a 1 MiB transfer.
class ResumeTest : public LinkTest {
 protected:
  void CutTransfer(const std::string& bytes, uint64_t seq) {
    LogCapture logs;
    TcpRelay relay(*Endpoint::Parse(server_->endpoint()));
    relay.cut_after = 300 * 1024;
    ClientOptions o = ClientOpts(relay.endpoint());
    o.chunk_bytes = chunk_;
    auto c = MustConnect(o);
    ASSERT_NE(c, nullptr);
    auto r = c->SendBatch(seq, bytes);
    ASSERT_FALSE(r.ok()) << "the relay should have cut the transfer";
    EXPECT_TRUE(c->broken());
    EXPECT_EQ(sink_.commit_calls(), 0);
    // The client may notice the cut before the server drained what got through:
    // wait for the server's account of the cut (its only line naming the batch).
    EXPECT_TRUE(logs.WaitFor({"conn #", "batch " + std::to_string(seq) + ":"})) << logs.All();
  }
  const size_t chunk_ = 16 * 1024;
};

TEST_F(ResumeTest, SecondAttemptStartsAtTheConfirmedOffset) {
  StartServer(ServerOpts());
  std::string bytes = RandomBytes(&rng_, 1 << 20);
  CutTransfer(bytes, 77);
  ClientOptions o = ClientOpts(server_->endpoint());
  o.chunk_bytes = chunk_;
  auto c = MustConnect(o);
  ASSERT_NE(c, nullptr);
  auto r = c->SendBatch(77, bytes);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kCommitted);
  uint64_t off = c->last_resume_offset();
  EXPECT_GT(off, 0u);
  EXPECT_LT(off, 300u * 1024);  // never more than went through the relay
  EXPECT_EQ(off % chunk_, 0u);  // only whole DATA frames are kept
  EXPECT_EQ(c->last_bytes_sent(), bytes.size() - off);
  EXPECT_EQ(sink_.Get("watch-1", 77), bytes);
  // The spool is cleaned once committed.
  std::vector<std::string> names;
  ASSERT_TRUE(Env::Default()->GetChildren(JoinPath(dir_, "spool/watch-1"), &names).ok());
  EXPECT_TRUE(names.empty());
}

TEST_F(ResumeTest, PartialSurvivesARelayRestart) {
  StartServer(ServerOpts());
  std::string bytes = RandomBytes(&rng_, 1 << 20);
  CutTransfer(bytes, 78);
  server_->Stop();
  server_.reset();
  StartServer(ServerOpts());  // new port, same spool
  ClientOptions o = ClientOpts(server_->endpoint());
  o.chunk_bytes = chunk_;
  auto c = MustConnect(o);
  ASSERT_NE(c, nullptr);
  auto r = c->SendBatch(78, bytes);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kCommitted);
  EXPECT_GT(c->last_resume_offset(), 0u);
  EXPECT_EQ(sink_.Get("watch-1", 78), bytes);
}

TEST_F(ResumeTest, CorruptPartialIsDetectedByTheFileCrcAndStartedOver) {
  StartServer(ServerOpts());
  std::string bytes = RandomBytes(&rng_, 1 << 20);
  CutTransfer(bytes, 79);
  // Damage the spooled bytes behind the server's back (a bad disk).
  std::string sdir = JoinPath(dir_, "spool/watch-1");
  std::vector<std::string> names;
  ASSERT_TRUE(Env::Default()->GetChildren(sdir, &names).ok());
  ASSERT_EQ(names.size(), 1u);
  std::string partial;
  ASSERT_TRUE(Env::Default()->ReadFile(JoinPath(sdir, names[0]), &partial).ok());
  ASSERT_FALSE(partial.empty());
  partial[partial.size() / 2] ^= 0x40;
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), JoinPath(sdir, names[0]), partial, 0600).ok());

  LogCapture logs;
  ClientOptions o = ClientOpts(server_->endpoint());
  auto c = MustConnect(o);
  ASSERT_NE(c, nullptr);
  auto r = c->SendBatch(79, bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("CRC-32C"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(sink_.commit_calls(), 0);
  EXPECT_TRUE(logs.WaitFor({"batch 79", "CRC-32C", "partial discarded"})) << logs.All();

  c = MustConnect(o);
  ASSERT_NE(c, nullptr);
  r = c->SendBatch(79, bytes);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(c->last_resume_offset(), 0u);
  EXPECT_EQ(sink_.Get("watch-1", 79), bytes);
}

TEST_F(ResumeTest, OtherContentUnderTheSameSequenceNeverContinuesAPartial) {
  StartServer(ServerOpts());
  std::string a = RandomBytes(&rng_, 1 << 20), b = RandomBytes(&rng_, 1 << 20);
  CutTransfer(a, 80);
  auto c = MustConnect(ClientOpts(server_->endpoint()));
  ASSERT_NE(c, nullptr);
  auto r = c->SendBatch(80, b);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kCommitted);
  EXPECT_EQ(c->last_resume_offset(), 0u);
  EXPECT_EQ(sink_.Get("watch-1", 80), b);
  std::vector<std::string> names;
  ASSERT_TRUE(Env::Default()->GetChildren(JoinPath(dir_, "spool/watch-1"), &names).ok());
  EXPECT_TRUE(names.empty()) << names[0];  // a's partial was superseded and removed
}

TEST_F(LinkTest, ClientOptionsAreValidated) {
  ClientOptions o = ClientOpts("tcp:127.0.0.1:1");
  o.device_id = "../etc";
  EXPECT_TRUE(Client::Connect(o).status().IsInvalidArgument());
  o = ClientOpts("tcp:127.0.0.1:1");
  o.psk = "short";
  EXPECT_TRUE(Client::Connect(o).status().IsInvalidArgument());
  o = ClientOpts("tcp:127.0.0.1:1");
  o.chunk_bytes = kMaxChunkBytes + 1;
  EXPECT_TRUE(Client::Connect(o).status().IsInvalidArgument());
  o = ClientOpts("http://127.0.0.1:1");
  EXPECT_TRUE(Client::Connect(o).status().IsInvalidArgument());
}

TEST_F(LinkTest, WrongSecretGetsNothingIn) {
  StartServer(ServerOpts());
  LogCapture logs;
  ClientOptions o = ClientOpts(server_->endpoint());
  o.psk = RandomBytes(&rng_, 32);
  auto c = Client::Connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(c.status().IsPermissionDenied()) << c.status().ToString();
  EXPECT_TRUE(logs.WaitFor({"handshake failed", "device 'watch-1': wrong pairing secret"}))
      << logs.All();
  EXPECT_EQ(sink_.commit_calls(), 0);
  EXPECT_EQ(server_->stats().handshake_failures, 1u);
}

TEST_F(LinkTest, UnpairedDeviceGetsNothingIn) {
  StartServer(ServerOpts());
  LogCapture logs;
  ClientOptions o = ClientOpts(server_->endpoint());
  o.device_id = "stranger";  // no stranger.key on the relay
  auto c = Client::Connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(c.status().IsPermissionDenied()) << c.status().ToString();
  EXPECT_TRUE(logs.WaitFor({"stranger", "not paired"})) << logs.All();
  EXPECT_TRUE(logs.WaitFor({"handshake failed", "device 'stranger' is not paired"})) << logs.All();
  EXPECT_EQ(sink_.commit_calls(), 0);
}

TEST_F(LinkTest, OverPermissiveKeyFileMeansNotPaired) {
  StartServer(ServerOpts());
  ASSERT_EQ(::chmod(JoinPath(keys_, "watch-1.key").c_str(), 0644), 0);
  LogCapture logs;
  auto c = Client::Connect(ClientOpts(server_->endpoint()));
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(logs.WaitFor({"watch-1", "group/others"})) << logs.All();
}

TEST_F(LinkTest, TamperedHandshakeIsDropped) {
  StartServer(ServerOpts());
  TcpRelay relay(*Endpoint::Parse(server_->endpoint()));
  relay.flip_at = 100;  // inside the ClientHello
  auto c = Client::Connect(ClientOpts(relay.endpoint()));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(sink_.commit_calls(), 0);
}

TEST_F(LinkTest, TamperedDataIsDetectedAndTheConnectionDropped) {
  StartServer(ServerOpts());
  LogCapture logs;
  {
    TcpRelay relay(*Endpoint::Parse(server_->endpoint()));
    relay.flip_at = 40000;  // well into the DATA frames of a 100 KB batch
    auto c = MustConnect(ClientOpts(relay.endpoint()));
    ASSERT_NE(c, nullptr);
    auto r = c->SendBatch(3, RandomBytes(&rng_, 100000));
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(logs.WaitFor({"conn #", "TLS error"})) << logs.All();
  }
  EXPECT_EQ(sink_.commit_calls(), 0);
  ExpectRoundTrip(server_->endpoint(), 1);  // and the server goes on
}

struct BadFrameCase {
  const char* name;
  bool hello_first;    // send a valid HELLO before the bad bytes
  std::string bytes;   // written raw into the TLS stream
  const char* expect;  // in the log line and (when sent) the ERROR reason
};

std::string Le32(uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
  return s;
}

TEST_F(LinkTest, BadFramesCloseTheConnectionWithALoggedReason) {
  ServerOptions so = ServerOpts();
  so.io_timeout_ms = 300;  // the truncated case waits for this
  so.max_file_size = 1 << 20;
  StartServer(so);
  std::string ping = EncodeFrame(MsgType::kPing, EncodeNonce(1));
  std::string bad_crc = ping;
  bad_crc.back() ^= 0x01;
  Offer big{"watch-1", 1, 2u << 20, 0};
  Offer other_device{"watch-2", 1, 10, 0};
  Hello other_hello;
  other_hello.device_id = "watch-2";
  std::string bad_magic = EncodeHello(Hello{1, "watch-1"});
  bad_magic[0] = 'X';
  const std::vector<BadFrameCase> cases = {
      {"oversized length", true, Le32(0x7fffffff) + std::string(1, 0x05), "exceeds the maximum"},
      {"unknown type", true, Le32(0) + std::string(1, 0x42) + Le32(0), "unknown frame type"},
      {"bad frame checksum", true, bad_crc, "frame checksum mismatch"},
      {"out of order DATA", true, EncodeFrame(MsgType::kData, EncodeData({1, 0}, "abc")),
       "unexpected DATA while idle"},
      {"server-only type", true, EncodeFrame(MsgType::kResult, EncodeResult({1, {}, ""})),
       "unexpected RESULT while idle"},
      {"wrong payload length", true, EncodeFrame(MsgType::kPing, "abc"), "truncated nonce"},
      {"offer trailing bytes", true,
       EncodeFrame(MsgType::kOffer, EncodeOffer(Offer{"watch-1", 1, 10, 0}) + "zz"),
       "2 trailing bytes"},
      {"no HELLO first", false,
       EncodeFrame(MsgType::kOffer, EncodeOffer(Offer{"watch-1", 1, 1, 0})),
       "expected HELLO, got OFFER"},
      {"bad magic", false, EncodeFrame(MsgType::kHello, bad_magic), "bad magic"},
      {"HELLO as another device", false, EncodeFrame(MsgType::kHello, EncodeHello(other_hello)),
       "authenticated as 'watch-1'"},
      {"OFFER for another device", true, EncodeFrame(MsgType::kOffer, EncodeOffer(other_device)),
       "on a connection of 'watch-1'"},
      {"oversized offer", true, EncodeFrame(MsgType::kOffer, EncodeOffer(big)), "the limit is"},
      {"DATA out of place", true,
       EncodeFrame(MsgType::kOffer, EncodeOffer(Offer{"watch-1", 1, 10, 0})) +
           EncodeFrame(MsgType::kData, EncodeData({1, 4}, "abc")),
       "DATA at offset 4, expected 0"},
      {"DATA overrun", true,
       EncodeFrame(MsgType::kOffer, EncodeOffer(Offer{"watch-1", 1, 2, 0})) +
           EncodeFrame(MsgType::kData, EncodeData({1, 0}, "abc")),
       "does not fit the offered size 2"},
      {"truncated frame", true, Le32(100) + std::string(1, 0x07) + "0123456789",
       "truncated PING frame"},
  };
  for (const BadFrameCase& bc : cases) {
    SCOPED_TRACE(bc.name);
    LogCapture logs;
    auto t = RawConnect();
    ASSERT_NE(t, nullptr);
    if (bc.hello_first) SendHello(t.get());
    ASSERT_TRUE(t->Write(bc.bytes, DeadlineAfterMs(5000)).ok());
    std::string reason = ErrorUntilClosed(t.get());
    if (std::string(bc.name) != "truncated frame") {
      EXPECT_NE(reason.find(bc.expect), std::string::npos) << reason;
    }
    EXPECT_TRUE(logs.WaitFor({"conn #", "closing", bc.expect})) << logs.All();
  }
  EXPECT_EQ(sink_.commit_calls(), 0);
  EXPECT_EQ(server_->stats().protocol_errors, cases.size());
  ExpectRoundTrip(server_->endpoint(), 2);  // and the server goes on serving
}

TEST_F(LinkTest, SlowlorisPeersAreCutWhileOthersAreServed) {
  ServerOptions so = ServerOpts();
  so.handshake_timeout_ms = 1000;
  so.max_connections = 4;
  StartServer(so);
  LogCapture logs;
  Endpoint ep = *Endpoint::Parse(server_->endpoint());
  // 1: connects and sends nothing.
  Result<int> silent = DialEndpoint(ep, DeadlineAfterMs(5000));
  ASSERT_TRUE(silent.ok());
  // 2: sends half a TLS record header, then nothing.
  Result<int> dribbler = DialEndpoint(ep, DeadlineAfterMs(5000));
  ASSERT_TRUE(dribbler.ok());
  ASSERT_EQ(::write(*dribbler, "\x16\x03", 2), 2);
  // 3: authenticates but never says HELLO.
  auto mute = RawConnect();
  ASSERT_NE(mute, nullptr);

  ExpectRoundTrip(server_->endpoint(), 3);  // a real watch is served meanwhile

  for (int fd : {*silent, *dribbler}) {
    pollfd p{fd, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 10000), 1) << "server kept a slowloris connection";
    char buf[64];
    EXPECT_LE(::read(fd, buf, sizeof buf), 0);
    ::close(fd);
  }
  Result<Frame> f = mute->ReadFrame(DeadlineAfterMs(10000), 10000);
  ASSERT_FALSE(f.ok());
  EXPECT_FALSE(f.status().IsAborted()) << "server kept a mute connection";
  EXPECT_TRUE(logs.WaitFor({"handshake failed", "timed out"})) << logs.All();
  EXPECT_TRUE(logs.WaitFor({"no HELLO", "timed out"})) << logs.All();
}

TEST_F(LinkTest, ConnectionsBeyondTheLimitAreClosedAtOnce) {
  ServerOptions so = ServerOpts();
  so.max_connections = 1;
  StartServer(so);
  LogCapture logs;
  auto c = MustConnect(ClientOpts(server_->endpoint()));
  ASSERT_NE(c, nullptr);
  auto d = Client::Connect(ClientOpts(server_->endpoint()));
  EXPECT_FALSE(d.ok());
  EXPECT_TRUE(logs.WaitFor({"refused", "max_connections"})) << logs.All();
  EXPECT_TRUE(c->SendBatch(1, "still fine").ok());
}

TEST_F(LinkTest, IdleConnectionIsClosedByTheServer) {
  ServerOptions so = ServerOpts();
  so.idle_timeout_ms = 200;
  StartServer(so);
  LogCapture logs;
  auto c = MustConnect(ClientOpts(server_->endpoint()));
  ASSERT_NE(c, nullptr);
  ASSERT_TRUE(logs.WaitFor({"no request for 200 ms"})) << logs.All();
  EXPECT_FALSE(c->Ping().ok());
  EXPECT_TRUE(c->broken());
}

TEST_F(LinkTest, KeepalivesCoverACommitLongerThanTheClientTimeout) {
  ServerOptions so = ServerOpts();
  so.heartbeat_ms = 50;
  StartServer(so);
  sink_.commit_delay_ms = 1500;
  ClientOptions o = ClientOpts(server_->endpoint());
  o.io_timeout_ms = 600;  // 12 keepalives fit in it; the commit alone would not
  auto c = MustConnect(o);
  ASSERT_NE(c, nullptr);
  auto r = c->SendBatch(1, "slow");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->outcome, Outcome::kCommitted);
}

// A sink whose commit never finishes until released: the relay stays alive
// (its KEEPALIVEs keep coming) but never answers.
class WedgedSink : public BatchSink {
 public:
  TransferResult Commit(const std::string&, uint64_t, std::string_view) override {
    std::unique_lock<std::mutex> l(mu_);
    entered_ = true;
    cv_.wait_for(l, std::chrono::seconds(60), [&] { return released_; });
    return {Outcome::kCommitted, ""};
  }
  void Release() {
    std::lock_guard<std::mutex> l(mu_);
    released_ = true;
    cv_.notify_all();
  }
  bool entered() {
    std::lock_guard<std::mutex> l(mu_);
    return entered_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool released_ = false, entered_ = false;
};

TEST_F(LinkTest, HeartbeatingServerThatNeverCommitsIsGivenUpOnAtTheAnswerDeadline) {
  WedgedSink wedged;
  ServerOptions so = ServerOpts();
  so.heartbeat_ms = 50;
  auto srv = Server::Start(so, &wedged);
  ASSERT_TRUE(srv.ok()) << srv.status().ToString();
  ClientOptions o = ClientOpts((*srv)->endpoint());
  o.io_timeout_ms = 400;       // each KEEPALIVE (every 50 ms) is progress ...
  o.answer_timeout_ms = 1500;  // ... but the RESULT must come within this overall
  auto c = MustConnect(o);
  ASSERT_NE(c, nullptr);
  int64_t t0 = MonoNowNanos();
  auto r = c->SendBatch(1, "never committed");
  int64_t ms = (MonoNowNanos() - t0) / 1000000;
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsAborted()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("answer_timeout_ms"), std::string::npos)
      << r.status().ToString();
  EXPECT_TRUE(wedged.entered()) << "the commit must have started (keepalives flowing)";
  EXPECT_GE(ms, 1400) << "given up before the answer deadline";
  EXPECT_LT(ms, 5000) << "the keepalives kept the client waiting past its deadline";
  EXPECT_TRUE(c->broken());
  wedged.Release();
  (*srv)->Stop();
}

TEST_F(LinkTest, WaitForAWedgedCommitCanBeCancelled) {
  WedgedSink wedged;
  ServerOptions so = ServerOpts();
  so.heartbeat_ms = 50;
  auto srv = Server::Start(so, &wedged);
  ASSERT_TRUE(srv.ok()) << srv.status().ToString();
  std::atomic<int> keepalives_seen{0};
  ClientOptions o = ClientOpts((*srv)->endpoint());
  o.answer_timeout_ms = 60000;
  o.cancelled = [&] { return ++keepalives_seen >= 3; };  // "SIGTERM" after a few heartbeats
  auto c = MustConnect(o);
  ASSERT_NE(c, nullptr);
  int64_t t0 = MonoNowNanos();
  auto r = c->SendBatch(1, "never committed");
  int64_t ms = (MonoNowNanos() - t0) / 1000000;
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsAborted()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("cancelled"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(keepalives_seen.load(), 3);
  EXPECT_LT(ms, 5000);
  wedged.Release();
  (*srv)->Stop();
}

TEST_F(LinkTest, ReconnectingDeviceTakesOverFromItsStaleConnection) {
  StartServer(ServerOpts());
  LogCapture logs;
  auto old_conn = MustConnect(ClientOpts(server_->endpoint()));
  ASSERT_NE(old_conn, nullptr);
  auto fresh = MustConnect(ClientOpts(server_->endpoint()));
  ASSERT_NE(fresh, nullptr);
  EXPECT_TRUE(logs.Contains({"reconnected; cutting its older conn"})) << logs.All();
  EXPECT_TRUE(fresh->SendBatch(1, "new").ok());
  EXPECT_FALSE(old_conn->Ping().ok());
}

TEST_F(LinkTest, WedgedServerThatNeverHandshakesIsDetected) {
  // A listener whose process never accepts: the kernel completes TCP, nobody speaks TLS.
  Endpoint bound;
  Result<int> lfd = ListenEndpoint(*Endpoint::Parse("tcp:127.0.0.1:0"), 4, &bound);
  ASSERT_TRUE(lfd.ok());
  ClientOptions o = ClientOpts(bound.ToString());
  o.io_timeout_ms = 300;
  auto c = Client::Connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(c.status().IsAborted()) << c.status().ToString();
  EXPECT_NE(c.status().message().find("timed out"), std::string::npos);
  ::close(*lfd);
}

TEST_F(LinkTest, WedgedServerThatStopsAnsweringIsDetected) {
  // A real TLS-PSK peer that says HELLO_OK and then goes silent forever.
  Endpoint bound;
  Result<int> lfd = ListenEndpoint(*Endpoint::Parse("tcp:127.0.0.1:0"), 4, &bound);
  ASSERT_TRUE(lfd.ok());
  PskLookup lookup = PskDirectory(keys_);
  std::thread wedged([&] {
    pollfd p{*lfd, POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 10000), 1);
    int fd = ::accept4(*lfd, nullptr, nullptr, SOCK_NONBLOCK);
    ASSERT_GE(fd, 0);
    auto t = TlsConn::ServerHandshake(fd, lookup, DeadlineAfterMs(5000));
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    ASSERT_TRUE((*t)->ReadFrame(DeadlineAfterMs(5000), 5000).ok());
    HelloOk ok;
    ok.max_file_size = 1 << 20;
    ASSERT_TRUE((*t)->WriteFrame(MsgType::kHelloOk, EncodeHelloOk(ok), DeadlineAfterMs(5000)).ok());
    // Swallow whatever comes until the client gives up and closes.
    Result<Frame> f = (*t)->ReadFrame(DeadlineAfterMs(10000), 10000);
    while (f.ok()) f = (*t)->ReadFrame(DeadlineAfterMs(10000), 10000);
    EXPECT_FALSE(f.status().IsAborted()) << "client never gave up";
  });
  ClientOptions o = ClientOpts(bound.ToString());
  o.io_timeout_ms = 300;
  auto c = MustConnect(o);
  ASSERT_NE(c, nullptr);
  auto r = c->SendBatch(1, "hello?");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsAborted()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("waiting for RESUME"), std::string::npos)
      << r.status().ToString();
  EXPECT_TRUE(c->broken());
  c.reset();  // closes, which ends the wedged peer's read
  wedged.join();
  ::close(*lfd);
}

// A TLS-PSK peer that completes HELLO and then answers the first request with
// `answer` (raw bytes); the client must fail cleanly with Corruption.
TEST_F(LinkTest, ClientRejectsAMisbehavingServer) {
  struct Case {
    const char* name;
    std::string answer;
    const char* expect;
  };
  const std::vector<Case> cases = {
      {"resume past the end", EncodeFrame(MsgType::kResume, EncodeResume({1, 99})), "beyond size"},
      {"resume for another sequence", EncodeFrame(MsgType::kResume, EncodeResume({2, 0})),
       "RESUME for sequence 2"},
      {"unknown type", Le32(0) + std::string(1, 0x33) + Le32(0), "unknown frame type"},
      {"oversized frame", Le32(0xffffffff) + std::string(1, 0x06), "exceeds the maximum"},
      {"PONG instead of RESUME", EncodeFrame(MsgType::kPong, EncodeNonce(1)),
       "expected RESULT, got PONG"},
      {"bad outcome", EncodeFrame(MsgType::kResult, std::string(8, 0) + "\x07" + std::string(2, 0)),
       "unknown outcome 7"},
  };
  PskLookup lookup = PskDirectory(keys_);
  for (const Case& tc : cases) {
    SCOPED_TRACE(tc.name);
    Endpoint bound;
    Result<int> lfd = ListenEndpoint(*Endpoint::Parse("tcp:127.0.0.1:0"), 4, &bound);
    ASSERT_TRUE(lfd.ok());
    std::thread fake([&] {
      pollfd p{*lfd, POLLIN, 0};
      ASSERT_EQ(::poll(&p, 1, 10000), 1);
      int fd = ::accept4(*lfd, nullptr, nullptr, SOCK_NONBLOCK);
      ASSERT_GE(fd, 0);
      auto t = TlsConn::ServerHandshake(fd, lookup, DeadlineAfterMs(5000));
      ASSERT_TRUE(t.ok()) << t.status().ToString();
      ASSERT_TRUE((*t)->ReadFrame(DeadlineAfterMs(5000), 5000).ok());  // HELLO
      HelloOk ok;
      ok.max_file_size = 1 << 20;
      ASSERT_TRUE(
          (*t)->WriteFrame(MsgType::kHelloOk, EncodeHelloOk(ok), DeadlineAfterMs(5000)).ok());
      ASSERT_TRUE((*t)->ReadFrame(DeadlineAfterMs(5000), 5000).ok());  // OFFER
      ASSERT_TRUE((*t)->Write(tc.answer, DeadlineAfterMs(5000)).ok());
      Result<Frame> f = (*t)->ReadFrame(DeadlineAfterMs(10000), 10000);
      while (f.ok()) f = (*t)->ReadFrame(DeadlineAfterMs(10000), 10000);
      EXPECT_FALSE(f.status().IsAborted()) << "client kept the connection";
    });
    ClientOptions o = ClientOpts(bound.ToString());
    auto c = MustConnect(o);
    if (c != nullptr) {
      auto r = c->SendBatch(1, "0123456789");
      ASSERT_FALSE(r.ok());
      EXPECT_TRUE(r.status().IsCorruption()) << r.status().ToString();
      EXPECT_NE(r.status().message().find(tc.expect), std::string::npos) << r.status().ToString();
      EXPECT_TRUE(c->broken());
      c.reset();
    }
    fake.join();
    ::close(*lfd);
  }
}

TEST_F(LinkTest, StopCutsConnectedClients) {
  StartServer(ServerOpts());
  auto c = MustConnect(ClientOpts(server_->endpoint()));
  ASSERT_NE(c, nullptr);
  server_->Stop();
  EXPECT_FALSE(c->Ping().ok());
  EXPECT_FALSE(Client::Connect(ClientOpts(server_->endpoint())).ok());
}

}  // namespace
}  // namespace link
}  // namespace accel
