// Crash safety and a full disk, with real processes: a child ingests batches
// and reports each acknowledged sequence on a pipe only after Ingest()
// returned; the parent kills it with SIGKILL at seeded random moments, or
// lets it run into RLIMIT_FSIZE, and then checks the database: it opens, every
// acknowledged batch is there, and every stored sample is there exactly once.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>
#include <set>
#include <tuple>

#include "phone-relay/relay_store.h"
#include "tests/relay_store/test_batches.h"

namespace accel {
namespace relay {
namespace {

using test::MakeBatch;
using test::ScratchDir;
using test::Walk;

constexpr int64_t kSec = 1000000000;
constexpr int64_t kT0 = 1700000000 * kSec;
constexpr uint64_t kBatches = 300;

// Batch k (1-based): 70 samples at 50 Hz, consecutive, so most seconds are
// split across two batches and the merge runs in every transaction.
std::vector<QSample> BatchSamples(uint64_t k) {
  return Walk(kT0 + int64_t(k - 1) * 70 * 20000000, 70, 20000000, uint32_t(k));
}

bool QLess(const QSample& a, const QSample& b) {
  return std::tie(a.t_ns, a.x, a.y, a.z) < std::tie(b.t_ns, b.x, b.y, b.z);
}

// Sequences in the ledger, read with plain SQLite (the schema is the contract).
std::set<uint64_t> LedgerSeqs(const std::string& path) {
  std::set<uint64_t> out;
  // Killed before the file was created: nothing stored, nothing acknowledged.
  if (access(path.c_str(), F_OK) != 0) return out;
  // Opened through the store first, so a killed migration is completed.
  {
    RelayStoreOptions o;
    o.path = path;
    auto store = RelayStore::Open(o);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
  }
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "SELECT seq FROM batches WHERE device='w'", -1, &s, nullptr),
            SQLITE_OK);
  while (sqlite3_step(s) == SQLITE_ROW) out.insert(uint64_t(sqlite3_column_int64(s, 0)));
  sqlite3_finalize(s);
  EXPECT_EQ(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &s, nullptr), SQLITE_OK);
  EXPECT_EQ(sqlite3_step(s), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(s, 0)), "ok");
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

// The stored rows hold exactly the samples of the batches in `seqs`.
void ExpectExactly(RelayStore* store, const std::set<uint64_t>& seqs) {
  std::vector<QSample> want;
  for (uint64_t k : seqs) {
    auto s = BatchSamples(k);
    want.insert(want.end(), s.begin(), s.end());
  }
  std::vector<QSample> got = test::AllPendingSamples(store, "w");
  std::sort(want.begin(), want.end(), QLess);
  std::sort(got.begin(), got.end(), QLess);
  ASSERT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want);
}

std::unique_ptr<RelayStore> Open(const std::string& path) {
  RelayStoreOptions o;
  o.path = path;
  auto s = RelayStore::Open(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s.value()) : nullptr;
}

// Child body: ingest batches first..kBatches, report each acknowledged seq.
[[noreturn]] void IngestLoop(const std::string& path, uint64_t first, int ack_fd, int err_fd) {
  RelayStoreOptions o;
  o.path = path;
  auto store = RelayStore::Open(o);
  if (!store.ok()) {
    std::string m = "open: " + store.status().ToString();
    (void)!write(err_fd, m.data(), m.size());
    _exit(3);
  }
  for (uint64_t k = first; k <= kBatches; ++k) {
    std::string bytes = MakeBatch("w", k, BatchSamples(k));
    auto r = (*store)->Ingest("w", k, bytes);
    if (!r.ok()) {
      std::string m = r.status().ToString();
      (void)!write(err_fd, m.data(), m.size());
      _exit(2);
    }
    if (r->outcome != IngestOutcome::kCommitted && r->outcome != IngestOutcome::kDuplicate)
      _exit(4);
    // The acknowledgement: only after Ingest returned.
    (void)!write(ack_fd, &k, sizeof k);
  }
  _exit(0);
}

TEST(RelayStoreCrashTest, SigkillAtRandomMomentsLosesAndDuplicatesNothing) {
  const char* env_seed = std::getenv("ACCEL_TEST_SEED");
  const uint64_t seed = env_seed ? std::strtoull(env_seed, nullptr, 10) : 0x5eed0006;
  std::printf("seed %llu (set ACCEL_TEST_SEED to repeat)\n", (unsigned long long)seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  ScratchDir dir;
  const std::string path = dir.File("relay.db");
  std::set<uint64_t> acked;
  int kills = 0;
  for (int round = 0; round < 1000 && kills < 60; ++round) {
    // Resume a little before the first unacknowledged batch: re-sends are part
    // of the protocol (the ack may have been lost with the process). Once all
    // are in, later rounds re-send from a random point (duplicates only).
    uint64_t first = 1;
    while (acked.count(first)) ++first;
    if (first > kBatches) first = std::uniform_int_distribution<uint64_t>(1, kBatches)(rng);
    first = first > 3 ? first - std::uniform_int_distribution<uint64_t>(0, 3)(rng) : 1;
    int ack_pipe[2], err_pipe[2];
    ASSERT_EQ(pipe(ack_pipe), 0);
    ASSERT_EQ(pipe(err_pipe), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(ack_pipe[0]);
      close(err_pipe[0]);
      IngestLoop(path, first, ack_pipe[1], err_pipe[1]);
    }
    close(ack_pipe[1]);
    close(err_pipe[1]);
    // Kill after a random number of acknowledgements plus a random delay, so
    // the kill lands anywhere: mid-transaction, mid-fsync, between commits.
    int acks_before_kill = std::uniform_int_distribution<int>(0, 3)(rng);
    int delay_us = std::uniform_int_distribution<int>(0, 800)(rng);
    bool exited = false;
    for (int i = 0; i < acks_before_kill; ++i) {
      uint64_t k;
      if (read(ack_pipe[0], &k, sizeof k) != sizeof k) {
        exited = true;
        break;
      }
      acked.insert(k);
    }
    if (!exited) {
      usleep(delay_us);  // the fault-injection moment, not a synchronisation
      kill(pid, SIGKILL);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
      ++kills;
    else
      ASSERT_EQ(WEXITSTATUS(status), 0) << "child failed";
    uint64_t k;
    while (read(ack_pipe[0], &k, sizeof k) == sizeof k) acked.insert(k);
    char err[512];
    ssize_t n = read(err_pipe[0], err, sizeof err);
    EXPECT_LE(n, 0) << std::string(err, n > 0 ? size_t(n) : 0);
    close(ack_pipe[0]);
    close(err_pipe[0]);
    // After each restart: the database opens, every acknowledged batch is in
    // the ledger, and the rows hold exactly the ledger's batches.
    std::set<uint64_t> ledger = LedgerSeqs(path);
    for (uint64_t a : acked) ASSERT_TRUE(ledger.count(a)) << "acknowledged batch " << a << " lost";
    auto store = Open(path);
    ASSERT_NE(store, nullptr);
    ExpectExactly(store.get(), ledger);
    if (HasFatalFailure() || HasFailure()) return;
  }
  EXPECT_GE(kills, 50);
  std::printf("%d kills, %zu batches acknowledged before the final pass\n", kills, acked.size());
  // Final pass: everything in, exactly once.
  {
    auto store = Open(path);
    ASSERT_NE(store, nullptr);
    for (uint64_t k = 1; k <= kBatches; ++k) {
      auto r = store->Ingest("w", k, MakeBatch("w", k, BatchSamples(k)));
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(r->outcome, acked.count(k) ? IngestOutcome::kDuplicate : r->outcome);
    }
    std::set<uint64_t> all;
    for (uint64_t k = 1; k <= kBatches; ++k) all.insert(k);
    ExpectExactly(store.get(), all);
  }
}

// SQLite on a file-size limit: the write that does not fit fails with a clear
// I/O error, and nothing was acknowledged that is not stored.
TEST(RelayStoreCrashTest, FullDiskGivesIOErrorAndAcknowledgesOnlyWhatIsStored) {
  ScratchDir dir;
  const std::string path = dir.File("relay.db");
  int ack_pipe[2], err_pipe[2];
  ASSERT_EQ(pipe(ack_pipe), 0);
  ASSERT_EQ(pipe(err_pipe), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(ack_pipe[0]);
    close(err_pipe[0]);
    // Writes past the limit fail with EFBIG instead of killing the process.
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = {96 * 1024, 96 * 1024};
    setrlimit(RLIMIT_FSIZE, &lim);
    IngestLoop(path, 1, ack_pipe[1], err_pipe[1]);
  }
  close(ack_pipe[1]);
  close(err_pipe[1]);
  std::set<uint64_t> acked;
  uint64_t k;
  while (read(ack_pipe[0], &k, sizeof k) == sizeof k) acked.insert(k);
  std::string err;
  char buf[512];
  ssize_t n;
  while ((n = read(err_pipe[0], buf, sizeof buf)) > 0) err.append(buf, size_t(n));
  close(ack_pipe[0]);
  close(err_pipe[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 2) << "the limit was never hit; error: " << err;
  std::printf("error at the limit: %s (after %zu batches)\n", err.c_str(), acked.size());
  EXPECT_EQ(err.rfind("IOError: ", 0), 0u) << err;
  EXPECT_NE(err.find(path), std::string::npos) << err;
  EXPECT_NE(err.find("write failed"), std::string::npos) << err;
  // Says what is full: the file-size limit, with its value, not the disk.
  EXPECT_NE(err.find("file-size limit (RLIMIT_FSIZE 98304 bytes"), std::string::npos) << err;
  EXPECT_NE(err.find("bytes free on"), std::string::npos) << err;
  EXPECT_GT(acked.size(), 0u);
  std::set<uint64_t> ledger = LedgerSeqs(path);
  for (uint64_t a : acked) EXPECT_TRUE(ledger.count(a)) << "acknowledged batch " << a << " lost";
  auto store = Open(path);
  ASSERT_NE(store, nullptr);
  ExpectExactly(store.get(), ledger);
  // With room again, the refused batch and the rest go in.
  for (uint64_t j = 1; j <= kBatches; ++j) {
    auto r = store->Ingest("w", j, MakeBatch("w", j, BatchSamples(j)));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
  }
  std::set<uint64_t> all;
  for (uint64_t j = 1; j <= kBatches; ++j) all.insert(j);
  ExpectExactly(store.get(), all);
}

}  // namespace
}  // namespace relay
}  // namespace accel
