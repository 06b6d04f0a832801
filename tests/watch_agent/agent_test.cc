// The Agent in-process against the link's real server end (TLS over a unix
// socket) with an in-memory sink that dedupes like the relay: failing and
// "crashing" disks (FaultEnv), a lost state file, undeliverable batches,
// expired data, wall-clock jumps and an unreachable relay. The proof is always
// the same: every sample the recorder produced reaches the relay exactly once,
// in order, under strictly increasing sequence numbers.
#include "watch-agent/agent.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/batch_format.h"
#include "common/env.h"
#include "link/pairing.h"
#include "link/server.h"
#include "tests/link/link_test_util.h"
#include "tests/support/fault_env.h"
#include "watch-agent/agent_state.h"
#include "watch-agent/outbox.h"
#include "watch-agent/synthetic_recorder.h"

namespace accel {
namespace {

using link::testing::LogCapture;
using link::testing::MemorySink;
using testing::FaultEnv;

constexpr int64_t kMs = 1000000;
constexpr int64_t kSec = 1000000000;

// The real clocks, with the wall clock shifted by `offset` (an NTP step, a
// user setting the time): monotonic time is unaffected.
class ShiftClock : public Clock {
 public:
  int64_t NowUnixNanos() override { return Clock::Real()->NowUnixNanos() + offset.load(); }
  int64_t MonotonicNanos() override { return Clock::Real()->MonotonicNanos(); }
  std::atomic<int64_t> offset{0};
};

// Forwards to a recorder and counts the calls.
class CountingRecorder : public SensorRecorder {
 public:
  explicit CountingRecorder(SensorRecorder* r) : r_(r) {}
  Status Fetch(uint64_t cursor, size_t max, FetchResult* out) override {
    ++fetches;
    return r_->Fetch(cursor, max, out);
  }
  Status Poll() override {
    ++polls;
    return r_->Poll();
  }
  std::string Describe() const override { return "counting " + r_->Describe(); }
  std::atomic<int> fetches{0}, polls{0};

 private:
  SensorRecorder* r_;
};

// Bounded polling: true once `pred` holds, false after `timeout_ms`.
bool WaitUntil(const std::function<bool()>& pred, int64_t timeout_ms = 20000) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// An Agent running in a thread.
class RunningAgent {
 public:
  RunningAgent(const AgentOptions& o, SensorRecorder* r, Env* env, Clock* clock)
      : agent_(o, r, env, clock) {}
  ~RunningAgent() { Stop(); }
  Status Start() {
    ACCEL_RETURN_IF_ERROR(agent_.Recover());
    thread_ = std::thread([this] {
      result_ = agent_.Run();
      done_ = true;
    });
    return Status::OK();
  }
  // Stop() and join; returns what Run returned.
  Status Stop() {
    agent_.Stop();
    if (thread_.joinable()) thread_.join();
    return result_;
  }
  bool done() const { return done_; }
  Agent& agent() { return agent_; }

 private:
  Agent agent_;
  std::thread thread_;
  std::atomic<bool> done_{false};
  Status result_;
};

class AgentTest : public ::testing::Test {
 protected:
  void SetUp() override {
    seed_ = static_cast<uint64_t>(::testing::UnitTest::GetInstance()->random_seed());
    dir_ = link::testing::MakeTempDir("accel_agent_test");
    auto psk = link::CreatePairingSecret(dir_ + "/agent.key");
    ASSERT_TRUE(psk.ok()) << psk.status().ToString();
    psk_ = *psk;
    endpoint_ = "unix:" + dir_ + "/relay.sock";
  }
  void TearDown() override {
    server_.reset();
    if (!HasFailure()) link::testing::RemoveTree(dir_);
  }

  void StartRelay(uint64_t max_file_size = 16u << 20, bool paired = true) {
    link::ServerOptions so;
    so.endpoint = endpoint_;
    so.spool_dir = dir_ + "/spool";
    std::string psk = psk_;
    so.psk_for_device = [psk, paired](const std::string&) -> std::optional<std::string> {
      if (!paired) return std::nullopt;
      return psk;
    };
    so.max_file_size = max_file_size;
    so.heartbeat_ms = 200;
    auto s = link::Server::Start(so, &sink_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
  }
  void StopRelay() { server_.reset(); }

  AgentOptions Opts(const std::string& device = "watch-a", const std::string& sub = "agent") {
    AgentOptions o;
    o.device_id = device;
    o.state_dir = dir_ + "/" + sub;
    o.relay_endpoint = endpoint_;
    o.psk = psk_;
    o.batch_max_samples = 50;
    o.batch_max_age_ms = 50;
    o.poll_interval_ms = 5;
    o.io_timeout_ms = 3000;
    o.answer_timeout_ms = 5000;
    o.heartbeat_ms = 1000;
    o.backoff_initial_ms = 5;
    o.backoff_max_ms = 50;
    o.jitter_seed = seed_ + 1;
    o.exit_when_drained = true;
    return o;
  }
  // `n` samples at `rate_hz`, all recorded before the agent starts.
  SyntheticOptions Recorded(uint64_t n, double rate_hz = 1000) {
    SyntheticOptions s;
    s.seed = seed_;
    s.rate_hz = rate_hz;
    s.start_unix_ns = Clock::Real()->NowUnixNanos() -
                      static_cast<int64_t>(static_cast<double>(n) / rate_hz * 1e9) - kSec;
    s.max_samples = n;
    s.retention_ns = 0;
    return s;
  }

  // Runs an agent until it drained everything (exit_when_drained).
  Status RunToDrain(const AgentOptions& o, SensorRecorder* r, Env* env = Env::Default(),
                    Clock* clock = Clock::Real()) {
    RunningAgent a(o, r, env, clock);
    ACCEL_RETURN_IF_ERROR(a.Start());
    if (!WaitUntil([&] { return a.done(); }, 60000)) {
      a.Stop();
      return Status::Aborted("agent did not drain within 60 s");
    }
    return a.Stop();
  }

  std::vector<std::string> OutboxFiles(const std::string& sub = "agent",
                                       const std::string& in = "outbox") {
    std::vector<std::string> names, out;
    Env::Default()->GetChildren(dir_ + "/" + sub + "/" + in, &names);
    for (const std::string& n : names) {
      uint64_t s, c;
      if (Outbox::ParseFileName(n, &s, &c)) out.push_back(n);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  // Samples in the relay's batches of `device` (from the headers).
  uint64_t SinkSamples(const std::string& device = "watch-a") {
    uint64_t n = 0;
    for (const auto& [seq, bytes] : sink_.Batches(device)) {
      BatchHeader h;
      if (DecodeBatchHeader(bytes, &h).ok()) n += h.sample_count;
    }
    return n;
  }

  // The relay's batches of `device` in sequence order hold ids first_id..last_id
  // of the generator exactly once, in order. Returns the sequences.
  std::vector<uint64_t> ExpectExactlyOnce(const SyntheticOptions& s, uint64_t first_id,
                                          uint64_t last_id, const std::string& device = "watch-a") {
    ManualClock clock(s.start_unix_ns);
    SyntheticRecorder gen(s, &clock);
    Resolution res;
    uint64_t next = first_id;
    std::vector<uint64_t> seqs;
    for (const auto& [seq, bytes] : sink_.Batches(device)) {
      BatchHeader h;
      std::vector<QSample> got;
      Status st = DecodeBatch(bytes, &h, &got);
      EXPECT_TRUE(st.ok()) << "batch " << seq << ": " << st.ToString();
      if (!st.ok()) return seqs;
      EXPECT_EQ(h.sequence, seq);
      seqs.push_back(seq);
      for (const QSample& q : got) {
        QSample want;
        EXPECT_TRUE(res.Quantise(gen.SampleAt(next), &want).ok());
        if (q != want) {
          ADD_FAILURE() << "batch " << seq << " holds the wrong sample where id " << next
                        << " belongs (a duplicate or a gap)";
          return seqs;
        }
        ++next;
      }
    }
    EXPECT_EQ(next - 1, last_id) << "samples missing at the end";
    EXPECT_EQ(sink_.rejections(), 0) << "a sequence number was reused with other content";
    return seqs;
  }

  uint64_t seed_ = 0;
  std::string dir_, psk_, endpoint_;
  MemorySink sink_;
  std::unique_ptr<link::Server> server_;
};

TEST_F(AgentTest, DrainsARecordingExactlyOnce) {
  StartRelay();
  SyntheticOptions s = Recorded(1234);
  SyntheticRecorder rec(s, Clock::Real());
  ASSERT_TRUE(RunToDrain(Opts(), &rec).ok());
  ExpectExactlyOnce(s, 1, 1234);
  EXPECT_TRUE(OutboxFiles().empty());
}

// A crash can leave "*.tmp" files from WriteFileAtomically next to
// state.json, in the outbox and in rejected/; startup removes them all (and
// only them).
TEST_F(AgentTest, StartupRemovesHalfWrittenFilesEverywhere) {
  AgentOptions o = Opts();
  Env* env = Env::Default();
  ASSERT_TRUE(env->CreateDirs(o.state_dir + "/outbox/rejected").ok());
  const std::string keep = o.state_dir + "/outbox/rejected/" + Outbox::FileName(5, 50);
  for (const std::string& p : {o.state_dir + "/state.json.tmp",
                               o.state_dir + "/outbox/" + Outbox::FileName(7, 70) + ".tmp",
                               keep + ".reason.tmp", keep, keep + ".reason"})
    ASSERT_TRUE(WriteFileAtomically(env, p, "x").ok());
  SyntheticRecorder rec(Recorded(10), Clock::Real());
  Agent a(o, &rec, env, Clock::Real());
  ASSERT_TRUE(a.Recover().ok());
  EXPECT_FALSE(env->FileExists(o.state_dir + "/state.json.tmp"));
  EXPECT_FALSE(env->FileExists(o.state_dir + "/outbox/" + Outbox::FileName(7, 70) + ".tmp"));
  EXPECT_FALSE(env->FileExists(keep + ".reason.tmp"));
  EXPECT_TRUE(env->FileExists(keep));
  EXPECT_TRUE(env->FileExists(keep + ".reason"));
  // No state.json: the quarantined batch's name still counts.
  EXPECT_EQ(a.committed_state().cursor, 50u);
  EXPECT_GT(a.committed_state().next_sequence, 5u);
}

// Invariant 4 (sequence numbers never reused): a batch whose number is not
// durably in state.json must not be sent, or an ack + delete + crash would let
// the next process build different content under the same number.
TEST_F(AgentTest, FailedStateSaveHoldsTheBatchBackUntilItsNumberIsDurable) {
  StartRelay();
  LogCapture logs;
  SyntheticOptions s = Recorded(300);
  SyntheticRecorder rec(s, Clock::Real());
  FaultEnv fe;
  AgentOptions o = Opts();
  Agent a(o, &rec, &fe, Clock::Real());
  // state.json exists after Recover; from now on it cannot be replaced.
  ASSERT_TRUE(a.Recover().ok());
  AgentState before;
  ASSERT_TRUE(AgentState::Load(Env::Default(), o.state_dir + "/state.json", &before).ok());
  fe.FailAlways(FaultEnv::Op::kRename, "state.json");
  std::thread t([&] { a.Run(); });
  // The agent retries the save with backoff; wait for several retries, plenty
  // of time for the transfer thread to send anything it (wrongly) may.
  bool retried = WaitUntil([&] { return a.stats().state_save_failures >= 6; });
  EXPECT_TRUE(retried && logs.Contains({"state save failed again"})) << logs.All();
  EXPECT_EQ(sink_.size(), 0u) << "a batch was sent before its sequence number was durable";
  EXPECT_EQ(OutboxFiles().size(), 1u) << "nothing more is dequeued while the state is not durable";
  fe.ClearFaults();
  bool drained = WaitUntil([&] { return SinkSamples() == 300 && OutboxFiles().empty(); });
  a.Stop();
  t.join();
  ASSERT_TRUE(drained);
  std::vector<uint64_t> seqs = ExpectExactlyOnce(s, 1, 300);
  AgentState after;
  ASSERT_TRUE(AgentState::Load(Env::Default(), o.state_dir + "/state.json", &after).ok());
  ASSERT_FALSE(seqs.empty());
  EXPECT_EQ(seqs.front(), before.next_sequence);
  EXPECT_GT(after.next_sequence, seqs.back());
  EXPECT_EQ(after.cursor, 300u);
}

// Deterministic crashes: the first process "dies" (FaultEnv: nothing more
// reaches the disk) after its k-th disk change, for every k from the first
// mkdir to the end of the run, which includes every point between an outbox
// Add and the cursor save and between an ack and the delete. A second process
// on the same directory then finishes the job.
TEST_F(AgentTest, CrashAtEveryDiskChangeLosesAndDuplicatesNothing) {
  StartRelay();
  SyntheticOptions s = Recorded(90);
  int runs = 0;
  for (int64_t k = 0;; ++k) {
    SCOPED_TRACE("crash after disk change " + std::to_string(k));
    std::string device = "watch-" + std::to_string(k);
    AgentOptions o = Opts(device, "crash" + std::to_string(k));
    o.batch_max_samples = 30;
    bool crashed = false;
    {
      FaultEnv fe;
      fe.CrashAfter(k);
      SyntheticRecorder rec(s, Clock::Real());
      RunningAgent a(o, &rec, &fe, Clock::Real());
      if (a.Start().ok()) {
        ASSERT_TRUE(WaitUntil([&] { return fe.crashed() || a.done(); }));
      }
      a.Stop();
      crashed = fe.crashed();
    }
    SyntheticRecorder rec(s, Clock::Real());
    Status st = RunToDrain(o, &rec);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ExpectExactlyOnce(s, 1, 90, device);
    if (HasFailure()) return;
    ++runs;
    if (!crashed) break;  // k is beyond the last disk change of a whole run
  }
  std::printf("crash points covered: %d\n", runs);
  EXPECT_GT(runs, 30);
}

// state.json is gone but batch files are still on the watch (and the wall
// clock went back, so "now" is below their numbers): the agent continues
// above them and from the cursor their names carry, instead of re-sending the
// same samples under new numbers.
TEST_F(AgentTest, LostStateFileContinuesAboveTheBatchesLeftOnTheWatch) {
  SyntheticOptions s = Recorded(400);
  AgentOptions o = Opts();
  {
    SyntheticRecorder rec(s, Clock::Real());
    o.exit_when_drained = false;
    RunningAgent a(o, &rec, Env::Default(), Clock::Real());  // relay away
    ASSERT_TRUE(a.Start().ok());
    ASSERT_TRUE(WaitUntil([&] { return OutboxFiles().size() >= 3; }));
    a.Stop();
  }
  std::vector<std::string> left = OutboxFiles();
  uint64_t max_left = 0, c = 0;
  ASSERT_TRUE(Outbox::ParseFileName(left.back(), &max_left, &c));
  ASSERT_TRUE(Env::Default()->RemoveFile(o.state_dir + "/state.json").ok());
  ShiftClock clock;
  clock.offset = -7200 * kSec;  // two hours back: a time-based first number would be lower
  StartRelay();
  LogCapture logs;
  SyntheticRecorder rec(s, Clock::Real());  // the recording itself is in the past
  o.exit_when_drained = true;
  ASSERT_TRUE(RunToDrain(o, &rec, Env::Default(), &clock).ok());
  EXPECT_TRUE(logs.Contains({"no state.json", "recovered from their names"})) << logs.All();
  std::vector<uint64_t> seqs = ExpectExactlyOnce(s, 1, 400);
  ASSERT_GT(seqs.size(), left.size());
  EXPECT_EQ(seqs[left.size()], max_left + 1) << "new batches continue right above the leftovers";
}

// Invariant 5: a batch that can never be delivered is quarantined with its
// reason, and the data behind it flows; nothing is retried forever.
TEST_F(AgentTest, TooLargeAndCorruptBatchesAreQuarantinedAndTheRestFlows) {
  SyntheticOptions s = Recorded(3000);
  AgentOptions o = Opts();
  {
    // Relay away, outbox bound 2: exactly two full 300-sample batches wait.
    SyntheticRecorder rec(s, Clock::Real());
    AgentOptions first = o;
    first.batch_max_samples = 300;
    first.outbox.max_files = 2;
    first.exit_when_drained = false;
    RunningAgent a(first, &rec, Env::Default(), Clock::Real());
    ASSERT_TRUE(a.Start().ok());
    ASSERT_TRUE(WaitUntil([&] { return OutboxFiles().size() >= 2; }));
    a.Stop();
  }
  std::vector<std::string> left = OutboxFiles();
  ASSERT_EQ(left.size(), 2u);
  // The first is valid but larger than the relay will take; the second rots.
  const std::string ob = o.state_dir + "/outbox/";
  uint64_t size0 = 0, size1 = 0;
  ASSERT_TRUE(Env::Default()->GetFileSize(ob + left[0], &size0).ok());
  ASSERT_TRUE(Env::Default()->GetFileSize(ob + left[1], &size1).ok());
  std::string bytes;
  ASSERT_TRUE(Env::Default()->ReadFile(ob + left[1], &bytes).ok());
  bytes[bytes.size() / 2] ^= 0x10;
  ASSERT_TRUE(WriteFileAtomically(Env::Default(), ob + left[1], bytes).ok());

  StartRelay(/*max_file_size=*/std::min(size0, size1) - 1);
  LogCapture logs;
  SyntheticRecorder rec(s, Clock::Real());
  o.batch_max_samples = 20;  // small enough for the relay
  RunningAgent a(o, &rec, Env::Default(), Clock::Real());
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(WaitUntil([&] { return a.done(); }, 60000)) << logs.All();
  a.Stop();
  EXPECT_EQ(a.agent().stats().batches_rejected, 2u);
  EXPECT_EQ(OutboxFiles("agent", "outbox/rejected"), left);
  std::string reason;
  ASSERT_TRUE(Env::Default()->ReadFile(ob + "rejected/" + left[0] + ".reason", &reason).ok());
  EXPECT_NE(reason.find("larger than the relay accepts"), std::string::npos) << reason;
  ASSERT_TRUE(Env::Default()->ReadFile(ob + "rejected/" + left[1] + ".reason", &reason).ok());
  EXPECT_NE(reason.find("corrupt on the watch"), std::string::npos) << reason;
  EXPECT_TRUE(logs.Contains({"quarantined in outbox/rejected/"})) << logs.All();
  // Everything after the two quarantined batches arrived, once.
  ExpectExactlyOnce(s, 601, 3000);
  // The count survives a restart and is logged.
  LogCapture logs2;
  Agent b(o, &rec, Env::Default(), Clock::Real());
  ASSERT_TRUE(b.Recover().ok());
  EXPECT_TRUE(logs2.Contains({"2 quarantined in outbox/rejected/"})) << logs2.All();
}

// A read error that may be transient (EIO, EMFILE) is retried with backoff,
// never a reason to quarantine; the batches behind it are not held up.
TEST_F(AgentTest, TransientReadErrorsAreRetriedNotQuarantined) {
  SyntheticOptions s = Recorded(300);
  AgentOptions o = Opts();
  {
    SyntheticRecorder rec(s, Clock::Real());
    o.exit_when_drained = false;
    RunningAgent a(o, &rec, Env::Default(), Clock::Real());
    ASSERT_TRUE(a.Start().ok());
    ASSERT_TRUE(WaitUntil([&] { return OutboxFiles().size() >= 3; }));
    a.Stop();
  }
  std::string first = OutboxFiles().front();
  StartRelay();
  LogCapture logs;
  FaultEnv fe;
  fe.FailNext(FaultEnv::Op::kRead, first, 0, 3, Status::IOError("read: Input/output error"));
  SyntheticRecorder rec(s, Clock::Real());
  o.exit_when_drained = true;
  ASSERT_TRUE(RunToDrain(o, &rec, &fe).ok());
  EXPECT_TRUE(logs.Contains({"cannot read outbox file of batch", "attempt 3"})) << logs.All();
  EXPECT_TRUE(OutboxFiles("agent", "outbox/rejected").empty());
  ExpectExactlyOnce(s, 1, 300);
}

// Data that expired in the recorder before the agent fetched it is a gap with
// its size in the log, never silence.
TEST_F(AgentTest, RetentionGapIsLoggedWithCountAndSpan) {
  StartRelay();
  LogCapture logs;
  SyntheticOptions s;
  s.seed = seed_;
  s.rate_hz = 100;
  s.start_unix_ns = Clock::Real()->NowUnixNanos() - 30 * kSec;
  s.max_samples = 3000;  // all of it recorded 30 s ago .. now
  s.retention_ns = 10 * kSec;
  SyntheticRecorder rec(s, Clock::Real());
  AgentOptions o = Opts();
  o.batch_max_samples = 1500;
  RunningAgent a(o, &rec, Env::Default(), Clock::Real());
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(WaitUntil([&] { return a.done(); }));
  a.Stop();
  uint64_t gap = a.agent().stats().gap_samples;
  EXPECT_NEAR(static_cast<double>(gap), 2000.0, 100.0);
  // "recorder gap: N samples expired before they were fetched (M ms of data from t=...)"
  std::string all = logs.All();
  std::string want = "recorder gap: " + std::to_string(gap) + " samples expired";
  size_t p = all.find(want);
  ASSERT_NE(p, std::string::npos) << all;
  long long ms = std::atoll(all.c_str() + all.find('(', p) + 1);
  EXPECT_EQ(ms, static_cast<long long>(gap) * 10) << "span of " << gap << " samples at 100 Hz";
  ExpectExactlyOnce(s, gap + 1, 3000);
}

// The wall clock jumps back an hour (with a restart while it is back) and then
// forward: nothing lost, nothing duplicated, sequence numbers still increase.
TEST_F(AgentTest, WallClockJumpsBackAndForwardLoseNothing) {
  StartRelay();
  ShiftClock clock;
  SyntheticOptions s;
  s.seed = seed_;
  s.rate_hz = 200;
  s.start_unix_ns = clock.NowUnixNanos() - 2 * kSec;
  s.max_samples = 2000;  // 10 s of data; 2 s already recorded
  SyntheticRecorder rec(s, &clock);
  AgentOptions o = Opts();
  o.exit_when_drained = false;
  {
    RunningAgent a(o, &rec, Env::Default(), &clock);
    ASSERT_TRUE(a.Start().ok());
    ASSERT_TRUE(WaitUntil([&] { return sink_.size() >= 4; }));
    clock.offset = -3600 * kSec;
    a.Stop();
  }
  size_t before_restart = sink_.size();
  {
    CountingRecorder counting(&rec);
    RunningAgent a(o, &counting, Env::Default(), &clock);  // restarted while the clock is back
    ASSERT_TRUE(a.Start().ok());
    // The recorder has nothing newer than the (earlier) wall clock: the agent
    // keeps asking from its cursor and writes nothing, losing no place.
    ASSERT_TRUE(WaitUntil([&] { return counting.fetches >= 10; }));
    EXPECT_EQ(a.agent().stats().batches_written, 0u);
    clock.offset = 3600 * kSec;  // and forward again, an hour past the truth
    ASSERT_TRUE(WaitUntil([&] { return SinkSamples() == 2000 && OutboxFiles().empty(); }));
    a.Stop();
  }
  std::vector<uint64_t> seqs = ExpectExactlyOnce(s, 1, 2000);
  ASSERT_GT(seqs.size(), before_restart);
  for (size_t i = 1; i < seqs.size(); ++i) EXPECT_GT(seqs[i], seqs[i - 1]);
}

// While the outbox is full the recorder is polled (so a destructive source
// can save what it can), never fetched; nothing is lost once room returns.
TEST_F(AgentTest, BackpressurePollsTheRecorderInsteadOfFetching) {
  SyntheticOptions s = Recorded(400);
  SyntheticRecorder inner(s, Clock::Real());
  CountingRecorder rec(&inner);
  AgentOptions o = Opts();
  o.outbox.max_files = 2;
  RunningAgent a(o, &rec, Env::Default(), Clock::Real());  // relay away
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(WaitUntil([&] { return rec.polls >= 5; }));
  int fetches = rec.fetches;
  ASSERT_TRUE(WaitUntil([&] { return rec.polls >= 10; }));
  EXPECT_EQ(rec.fetches, fetches) << "fetched while the outbox was full";
  EXPECT_EQ(OutboxFiles().size(), 2u);
  StartRelay();
  ASSERT_TRUE(WaitUntil([&] { return a.done(); }));
  a.Stop();
  ExpectExactlyOnce(s, 1, 400);
}

// An unreachable relay (here: it does not know the device) is retried with
// exponential backoff and full jitter (link::Backoff), not in a tight loop.
TEST_F(AgentTest, ReconnectsWithBackoffNotInATightLoop) {
  StartRelay(16u << 20, /*paired=*/false);
  SyntheticOptions s = Recorded(100);
  SyntheticRecorder rec(s, Clock::Real());
  AgentOptions o = Opts();
  o.backoff_initial_ms = 20;
  o.backoff_max_ms = 160;
  RunningAgent a(o, &rec, Env::Default(), Clock::Real());
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(WaitUntil([&] { return server_->stats().handshake_failures >= 1; }));
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitUntil([&] { return server_->stats().handshake_failures >= 21; }, 60000));
  int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  a.Stop();
  // 20 retries with ceilings 20, 40, 80, 160, 160, ...: about 1.4 s on
  // average, and practically never under 0.3 s; a tight loop takes ~20 ms.
  std::printf("20 reconnect attempts took %lld ms\n", static_cast<long long>(ms));
  EXPECT_GT(ms, 300);
  EXPECT_EQ(sink_.size(), 0u);
}

}  // namespace
}  // namespace accel
