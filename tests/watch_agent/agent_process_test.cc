// The watch agent as a real process against a real link receiver process:
// killed with SIGKILL at seeded random moments, relay away with a small
// outbox. The proof is always the same: every sample the recorder produced
// reaches the receiver exactly once, in order.
#include <gtest/gtest.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/batch_format.h"
#include "common/clock.h"
#include "common/env.h"
#include "tests/support/subprocess.h"
#include "watch-agent/synthetic_recorder.h"

namespace accel {
namespace {

using testing::Subprocess;

const std::string kAgent = WATCH_AGENT_BIN;
const std::string kReceiver = LINK_TEST_RECEIVER_BIN;
const std::string kDevice = "watch-test-1";

void SleepMs(int64_t ms) {  // only to choose WHEN to inject a fault, never to wait for one
  timespec ts{static_cast<time_t>(ms / 1000), static_cast<long>((ms % 1000) * 1000000)};
  nanosleep(&ts, nullptr);
}

class AgentProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/accel_agent_proc.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    Env* env = Env::Default();
    ASSERT_TRUE(env->CreateDirs(dir_ + "/keys", 0700).ok());
    auto pair = testing::Run({kAgent, "pair", "--secret-file", dir_ + "/agent.key"});
    ASSERT_EQ(pair.exit_code, 0) << pair.err;
    std::string key;
    ASSERT_TRUE(env->ReadFile(dir_ + "/agent.key", &key).ok());
    ASSERT_TRUE(WriteFileAtomically(env, dir_ + "/keys/" + kDevice + ".key", key, 0600).ok());
    endpoint_ = "unix:" + dir_ + "/relay.sock";
  }
  void TearDown() override {
    receiver_.reset();
    if (!HasFailure()) std::system(("rm -rf " + dir_).c_str());
  }

  void StartReceiver() {
    receiver_.reset(new Subprocess());
    ASSERT_TRUE(receiver_
                    ->Start({kReceiver, "--endpoint", endpoint_, "--keys", dir_ + "/keys", "--dir",
                             dir_ + "/received", "--spool", dir_ + "/spool"},
                            dir_ + "/receiver.log")
                    .ok());
    std::string line;
    ASSERT_TRUE(receiver_->ReadLine(&line, 20000).ok()) << "receiver did not start";
    ASSERT_EQ(line.rfind("listening ", 0), 0u) << line;
  }

  void WriteConfig(const SyntheticOptions& s, size_t batch_max, int64_t outbox_files) {
    char buf[2048];
    std::snprintf(buf, sizeof buf,
                  R"({"device_id": "%s", "state_dir": "%s/agent", "relay": "%s",
  "pairing_secret_file": "%s/agent.key", "batch_max_samples": %zu, "batch_max_age_ms": 50,
  "outbox_max_files": %lld, "poll_interval_ms": 10, "io_timeout_ms": 3000, "heartbeat_ms": 1000,
  "backoff_initial_ms": 10, "backoff_max_ms": 200, "exit_when_drained": true,
  "source": {"type": "synthetic", "seed": %llu, "rate_hz": %.17g,
             "start_unix_ms": %lld, "max_samples": %llu}})",
                  kDevice.c_str(), dir_.c_str(), endpoint_.c_str(), dir_.c_str(), batch_max,
                  static_cast<long long>(outbox_files), static_cast<unsigned long long>(s.seed),
                  s.rate_hz, static_cast<long long>(s.start_unix_ns / 1000000),
                  static_cast<unsigned long long>(s.max_samples));
    ASSERT_TRUE(WriteFileAtomically(Env::Default(), dir_ + "/agent.json", buf).ok());
  }

  // Every committed batch in sequence order, checked against the generator.
  void ExpectExactlyOnce(const SyntheticOptions& s) {
    Env* env = Env::Default();
    std::vector<std::string> names;
    ASSERT_TRUE(env->GetChildren(dir_ + "/received/" + kDevice, &names).ok());
    std::map<uint64_t, std::string> by_seq;
    for (const std::string& n : names) {
      if (n.size() < 7 || n.substr(n.size() - 6) != ".batch") continue;
      by_seq[std::stoull(n.substr(0, n.size() - 6))] = n;
    }
    ManualClock clock(s.start_unix_ns);
    SyntheticRecorder gen(s, &clock);
    Resolution res;
    uint64_t next_id = 1;
    for (const auto& [seq, name] : by_seq) {
      std::string bytes;
      ASSERT_TRUE(env->ReadFile(dir_ + "/received/" + kDevice + "/" + name, &bytes).ok());
      BatchHeader h;
      std::vector<QSample> got;
      Status st = DecodeBatch(bytes, &h, &got);
      ASSERT_TRUE(st.ok()) << name << ": " << st.ToString();
      ASSERT_EQ(h.sequence, seq);
      ASSERT_EQ(h.device_id, kDevice);
      for (const QSample& q : got) {
        QSample want;
        ASSERT_TRUE(res.Quantise(gen.SampleAt(next_id), &want).ok());
        ASSERT_EQ(q, want) << "sample id " << next_id << " in batch " << seq
                           << " (a duplicate or a gap)";
        ++next_id;
      }
    }
    EXPECT_EQ(next_id - 1, s.max_samples) << "samples missing at the end";
  }

  std::string dir_, endpoint_;
  std::unique_ptr<Subprocess> receiver_;
};

TEST_F(AgentProcessTest, FiftyKillNinesLoseAndDuplicateNothing) {
  const uint64_t seed = ::testing::UnitTest::GetInstance()->random_seed() + 20261124u;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  SyntheticOptions s;
  s.seed = seed;
  s.rate_hz = 2000;
  // Two seconds are already recorded when the agent first starts; the rest
  // arrives in real time while it is being killed.
  s.start_unix_ns = (Clock::Real()->NowUnixNanos() / 1000000 - 2000) * 1000000;
  s.max_samples = 24000;
  WriteConfig(s, 150, 10000);
  StartReceiver();
  int kills = 0, receiver_kills = 0;
  for (int i = 0; i < 50; ++i) {
    Subprocess agent;
    ASSERT_TRUE(agent.Start({kAgent, "--config", dir_ + "/agent.json"}, dir_ + "/agent.log").ok());
    SleepMs(std::uniform_int_distribution<int>(2, 250)(rng));
    agent.Signal(SIGKILL);
    int code = agent.Wait();
    kills += code == 128 + SIGKILL;
    if (std::uniform_int_distribution<int>(0, 9)(rng) < 3) {
      receiver_->Signal(SIGKILL);
      receiver_->Wait();
      ++receiver_kills;
      StartReceiver();
    }
  }
  EXPECT_GE(kills, 45) << "most agents must have died mid-run, not finished";
  Subprocess last;
  ASSERT_TRUE(last.Start({kAgent, "--config", dir_ + "/agent.json"}, dir_ + "/agent.log").ok());
  int code = -1;
  ASSERT_TRUE(last.WaitFor(120000, &code)) << "agent did not drain";
  ASSERT_EQ(code, 0);
  std::printf("kills: %d agent, %d receiver\n", kills, receiver_kills);
  ExpectExactlyOnce(s);
}

TEST_F(AgentProcessTest, RelayAwayBackpressureThenEverythingArrivesOnce) {
  SyntheticOptions s;
  s.seed = 77;
  s.rate_hz = 1000;
  // A long absence, simulated: a minute of samples recorded while no relay was there.
  s.start_unix_ns = (Clock::Real()->NowUnixNanos() / 1000000 - 60000) * 1000000;
  s.max_samples = 60000;
  WriteConfig(s, 100, 5);
  Subprocess agent;
  ASSERT_TRUE(agent.Start({kAgent, "--config", dir_ + "/agent.json"}, "pipe").ok());
  std::string line;
  bool paused = false;
  while (!paused) {
    ASSERT_TRUE(agent.ReadLine(&line, 30000).ok()) << "no backpressure log line";
    paused = line.find("outbox full") != std::string::npos;
  }
  std::vector<std::string> names;
  ASSERT_TRUE(Env::Default()->GetChildren(dir_ + "/agent/outbox", &names).ok());
  size_t batches = std::count_if(names.begin(), names.end(), [](const std::string& n) {
    return n.size() > 6 && n.substr(n.size() - 6) == ".batch";
  });
  EXPECT_EQ(batches, 5u) << "the outbox bound was not honoured";
  StartReceiver();
  bool resumed = false;
  while (agent.ReadLine(&line, 60000).ok()) resumed |= line.find("dequeue resumed") != std::string::npos;
  int code = -1;
  ASSERT_TRUE(agent.WaitFor(60000, &code));
  EXPECT_EQ(code, 0);
  EXPECT_TRUE(resumed);
  ExpectExactlyOnce(s);
}

TEST_F(AgentProcessTest, BadConfigIsAUsageErrorNamingTheKey) {
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), dir_ + "/bad.json",
                                  R"({"device_id":"w","state_dir":"/tmp/x","relay":"unix:/x",
                                      "pairing_secret_file":"/x","batch_max_sampels":5,
                                      "source":{"type":"synthetic"}})")
                  .ok());
  auto r = testing::Run({kAgent, "--config", dir_ + "/bad.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("unknown key 'batch_max_sampels'"), std::string::npos) << r.err;
  r = testing::Run({kAgent, "--bogus"});
  EXPECT_EQ(r.exit_code, 2);
  r = testing::Run({kAgent, "--config", dir_ + "/missing.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing.json"), std::string::npos) << r.err;
}

TEST_F(AgentProcessTest, SigtermFinishesTheCurrentBatchAndExitsZero) {
  SyntheticOptions s;
  s.seed = 5;
  s.rate_hz = 200;
  s.start_unix_ns = (Clock::Real()->NowUnixNanos() / 1000000) * 1000000;
  s.max_samples = 0;
  WriteConfig(s, 100000, 100);  // batches close by age (50 ms) only
  StartReceiver();
  Subprocess agent;
  ASSERT_TRUE(agent.Start({kAgent, "--config", dir_ + "/agent.json"}, "pipe").ok());
  std::string line;
  int written = 0;
  while (written < 3) {
    ASSERT_TRUE(agent.ReadLine(&line, 10000).ok());
    written += line.find(" written: ") != std::string::npos;
  }
  agent.Signal(SIGTERM);
  bool stopped = false;
  while (agent.ReadLine(&line, 10000).ok()) stopped |= line.find("stopped:") != std::string::npos;
  int code = -1;
  ASSERT_TRUE(agent.WaitFor(10000, &code));
  EXPECT_EQ(code, 0);
  EXPECT_TRUE(stopped);
}

}  // namespace
}  // namespace accel
