// The watch agent as a real process against a real link receiver process:
// killed with SIGKILL at seeded random moments, relay away with a small
// outbox. The proof is always the same: every sample the recorder produced
// reaches the receiver exactly once, in order.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
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

  void WriteConfig(const SyntheticOptions& s, size_t batch_max, int64_t outbox_files,
                   int64_t batch_age_ms = 50, const char* log_level = "info") {
    char buf[2048];
    std::snprintf(buf, sizeof buf,
                  R"({"device_id": "%s", "state_dir": "%s/agent", "relay": "%s",
  "pairing_secret_file": "%s/agent.key", "batch_max_samples": %zu, "batch_max_age_ms": %lld,
  "outbox_max_files": %lld, "poll_interval_ms": 10, "io_timeout_ms": 3000, "heartbeat_ms": 1000,
  "backoff_initial_ms": 10, "backoff_max_ms": 200, "exit_when_drained": true, "log_level": "%s",
  "source": {"type": "synthetic", "seed": %llu, "rate_hz": %.17g,
             "start_unix_ms": %lld, "max_samples": %llu}})",
                  kDevice.c_str(), dir_.c_str(), endpoint_.c_str(), dir_.c_str(), batch_max,
                  static_cast<long long>(batch_age_ms), static_cast<long long>(outbox_files),
                  log_level, static_cast<unsigned long long>(s.seed), s.rate_hz,
                  static_cast<long long>(s.start_unix_ns / 1000000),
                  static_cast<unsigned long long>(s.max_samples));
    ASSERT_TRUE(WriteFileAtomically(Env::Default(), dir_ + "/agent.json", buf).ok());
  }

  // Committed batch files at the receiver (a measure of progress).
  size_t ReceivedCount() {
    std::vector<std::string> names;
    Env::Default()->GetChildren(dir_ + "/received/" + kDevice, &names);
    return std::count_if(names.begin(), names.end(), [](const std::string& n) {
      return n.size() > 6 && n.substr(n.size() - 6) == ".batch";
    });
  }

  // Bounded polling for progress (never a fixed sleep).
  static bool WaitUntil(const std::function<bool()>& pred, int64_t timeout_ms) {
    int64_t deadline = Clock::Real()->MonotonicNanos() + timeout_ms * 1000000;
    while (!pred()) {
      if (Clock::Real()->MonotonicNanos() > deadline) return false;
      SleepMs(2);
    }
    return true;
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
  std::printf("seed %llu\n", static_cast<unsigned long long>(seed));
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
  int kills = 0, receiver_kills_running = 0, receiver_kills_between = 0;
  for (int i = 0; i < 50; ++i) {
    Subprocess agent;
    ASSERT_TRUE(agent.Start({kAgent, "--config", dir_ + "/agent.json"}, dir_ + "/agent.log").ok());
    int mode = std::uniform_int_distribution<int>(0, 9)(rng);
    if (mode < 3) {
      // Kill the receiver while the agent runs, once it has committed 0-2
      // more batches of this run: mid-offer, mid-data, mid-commit or idle.
      size_t target = ReceivedCount() + std::uniform_int_distribution<size_t>(0, 2)(rng);
      WaitUntil([&] { return ReceivedCount() >= target; }, 5000);
      SleepMs(std::uniform_int_distribution<int>(0, 20)(rng));
      receiver_->Signal(SIGKILL);
      receiver_->Wait();
      ++receiver_kills_running;
      StartReceiver();  // the agent reconnects to the new one with backoff
    }
    if (mode >= 3 && mode < 6) {
      // Kill the agent tied to progress: right after the receiver committed
      // one more batch (the ack and the outbox delete race the SIGKILL).
      size_t target = ReceivedCount() + 1;
      WaitUntil([&] { return ReceivedCount() >= target; }, 5000);
      SleepMs(std::uniform_int_distribution<int>(0, 3)(rng));
    } else {
      SleepMs(std::uniform_int_distribution<int>(2, 250)(rng));
    }
    agent.Signal(SIGKILL);
    int code = agent.Wait();
    kills += code == 128 + SIGKILL;
    if (mode == 9) {
      receiver_->Signal(SIGKILL);
      receiver_->Wait();
      ++receiver_kills_between;
      StartReceiver();
    }
  }
  EXPECT_GE(kills, 45) << "most agents must have died mid-run, not finished";
  EXPECT_GE(receiver_kills_running, 5) << "seed " << seed;
  Subprocess last;
  ASSERT_TRUE(last.Start({kAgent, "--config", dir_ + "/agent.json"}, dir_ + "/agent.log").ok());
  int code = -1;
  ASSERT_TRUE(last.WaitFor(120000, &code)) << "agent did not drain";
  ASSERT_EQ(code, 0);
  std::printf("kills: %d agent, %d receiver while the agent ran, %d between runs\n", kills,
              receiver_kills_running, receiver_kills_between);
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
  while (agent.ReadLine(&line, 60000).ok())
    resumed |= line.find("dequeue resumed") != std::string::npos;
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

// SIGTERM: the samples fetched but not yet batched are written as a batch,
// the cursor is committed to exactly the last of them, and the exit code is 0.
TEST_F(AgentProcessTest, SigtermWritesThePendingSamplesCommitsTheCursorAndExitsZero) {
  SyntheticOptions s;
  s.seed = 5;
  s.rate_hz = 200;
  s.start_unix_ns = (Clock::Real()->NowUnixNanos() / 1000000 - 2000) * 1000000;
  s.max_samples = 0;
  // Batches never close by themselves (huge size and age): only SIGTERM closes one.
  WriteConfig(s, 100000, 100, /*batch_age_ms=*/3600000, "debug");
  StartReceiver();
  Subprocess agent;
  ASSERT_TRUE(agent.Start({kAgent, "--config", dir_ + "/agent.json"}, "pipe").ok());
  std::string line;
  bool fetched = false;
  while (!fetched) {
    ASSERT_TRUE(agent.ReadLine(&line, 10000).ok()) << "the agent fetched nothing";
    ASSERT_EQ(line.find(" written: "), std::string::npos) << "a batch closed before SIGTERM";
    fetched = line.find("fetched samples 1..") != std::string::npos;
  }
  agent.Signal(SIGTERM);
  bool stopped = false, sigterm = false;
  int written_after = 0;
  while (agent.ReadLine(&line, 10000).ok()) {
    sigterm |= line.find("received SIGTERM") != std::string::npos;
    if (sigterm && line.find(" written: ") != std::string::npos) ++written_after;
    stopped |= line.find("stopped:") != std::string::npos;
  }
  int code = -1;
  ASSERT_TRUE(agent.WaitFor(10000, &code));
  EXPECT_EQ(code, 0);
  EXPECT_TRUE(stopped);
  EXPECT_EQ(written_after, 1) << "the pending samples were not written as one batch";
  // The cursor is durable and covers exactly what the batch (at the receiver
  // or still in the outbox) holds.
  Env* env = Env::Default();
  std::string state;
  ASSERT_TRUE(env->ReadFile(dir_ + "/agent/state.json", &state).ok());
  auto j = nlohmann::json::parse(state);
  uint64_t cursor = j["cursor"].get<uint64_t>();
  EXPECT_GE(cursor, 400u) << "two seconds were recorded before the start";
  std::vector<std::string> files;
  for (const std::string& d : {dir_ + "/received/" + kDevice, dir_ + "/agent/outbox"}) {
    std::vector<std::string> names;
    env->GetChildren(d, &names);
    for (const std::string& n : names)
      if (n.size() > 6 && n.substr(n.size() - 6) == ".batch") files.push_back(d + "/" + n);
  }
  ASSERT_GE(files.size(), 1u);
  ManualClock clock(s.start_unix_ns);
  SyntheticRecorder gen(s, &clock);
  Resolution res;
  std::string bytes;
  ASSERT_TRUE(env->ReadFile(files[0], &bytes).ok());
  BatchHeader h;
  std::vector<QSample> got;
  ASSERT_TRUE(DecodeBatch(bytes, &h, &got).ok());
  ASSERT_EQ(got.size(), cursor);
  for (uint64_t id = 1; id <= cursor; ++id) {
    QSample want;
    ASSERT_TRUE(res.Quantise(gen.SampleAt(id), &want).ok());
    ASSERT_EQ(got[id - 1], want) << "sample " << id;
  }
}

// `watch-agent pair` creates the secret readable by its owner only, and
// refuses to overwrite one (which would unpair the watch silently).
TEST_F(AgentProcessTest, PairCreatesAnOwnerOnlySecretFile) {
  std::string path = dir_ + "/new.key";
  auto r = testing::Run({kAgent, "pair", "--secret-file", path});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("0600"), std::string::npos) << r.out;
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  std::string secret;
  ASSERT_TRUE(Env::Default()->ReadFile(path, &secret).ok());
  EXPECT_GE(secret.size(), 32u);
  r = testing::Run({kAgent, "pair", "--secret-file", path});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
  std::string again;
  ASSERT_TRUE(Env::Default()->ReadFile(path, &again).ok());
  EXPECT_EQ(again, secret);
  r = testing::Run({kAgent, "pair"});
  EXPECT_EQ(r.exit_code, 2);
}

// Exit code 1: a valid configuration that cannot run (the state directory
// cannot be created; the IIO device does not exist).
TEST_F(AgentProcessTest, RuntimeFailuresExitOne) {
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), dir_ + "/plainfile", "x").ok());
  char buf[1024];
  std::snprintf(buf, sizeof buf,
                R"({"device_id": "%s", "state_dir": "%s/plainfile/agent", "relay": "%s",
  "pairing_secret_file": "%s/agent.key", "source": {"type": "synthetic"}})",
                kDevice.c_str(), dir_.c_str(), endpoint_.c_str(), dir_.c_str());
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), dir_ + "/a.json", buf).ok());
  auto r = testing::Run({kAgent, "--config", dir_ + "/a.json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("cannot start"), std::string::npos) << r.err;
  std::snprintf(buf, sizeof buf,
                R"({"device_id": "%s", "state_dir": "%s/agent", "relay": "%s",
  "pairing_secret_file": "%s/agent.key",
  "source": {"type": "iio", "sysfs_root": "%s/no-such-sysfs"}})",
                kDevice.c_str(), dir_.c_str(), endpoint_.c_str(), dir_.c_str(), dir_.c_str());
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), dir_ + "/b.json", buf).ok());
  r = testing::Run({kAgent, "--config", dir_ + "/b.json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("no-such-sysfs"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace accel
