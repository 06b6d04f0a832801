// RelayStore on real SQLite files with the real batch codec: dedupe,
// quarantine, per-second rows, the completion rule, the size budget and the
// upload bookkeeping (lease / ack / partly uploaded / rejected rows).
#include "phone-relay/relay_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "common/crc32c.h"
#include "common/csv.h"
#include "phone-relay/dynamodb_row.h"
#include "phone-relay/second_rows.h"
#include "tests/relay_store/test_batches.h"

namespace accel {
namespace relay {
namespace {

using test::AllPendingSamples;
using test::MakeBatch;
using test::ScratchDir;
using test::Walk;

constexpr int64_t kSec = 1000000000;
constexpr int64_t kT0 = 1700000000 * kSec;  // a whole second

std::unique_ptr<RelayStore> OpenStore(const std::string& path, Clock* clock = nullptr,
                                      uint64_t budget = uint64_t{1} << 30) {
  RelayStoreOptions o;
  o.path = path;
  o.clock = clock;
  o.size_budget_bytes = budget;
  auto s = RelayStore::Open(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s.value()) : nullptr;
}

IngestResult MustIngest(RelayStore* store, const std::string& dev, uint64_t seq,
                        const std::string& bytes) {
  auto r = store->Ingest(dev, seq, bytes);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : IngestResult();
}

TEST(RelayStoreTest, SameSequenceTwiceIsStoredOnce) {
  ScratchDir dir;
  auto store = OpenStore(dir.File("relay.db"));
  auto samples = Walk(kT0, 150, 20000000, 1);
  std::string b = MakeBatch("watch-1", 7, samples);
  EXPECT_EQ(MustIngest(store.get(), "watch-1", 7, b).outcome, IngestOutcome::kCommitted);
  EXPECT_EQ(MustIngest(store.get(), "watch-1", 7, b).outcome, IngestOutcome::kDuplicate);
  // Also after a reopen (the ledger is durable, not a memory cache).
  store.reset();
  store = OpenStore(dir.File("relay.db"));
  EXPECT_EQ(MustIngest(store.get(), "watch-1", 7, b).outcome, IngestOutcome::kDuplicate);
  EXPECT_EQ(AllPendingSamples(store.get(), "watch-1"), samples);
  auto st = store->GetStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->batches_committed, 1);
  EXPECT_EQ(st->batches_duplicate, 2);
  EXPECT_EQ(st->pending_rows, 3);
}

TEST(RelayStoreTest, ReusedSequenceWithOtherContentIsRejectedAndQuarantined) {
  ScratchDir dir;
  auto store = OpenStore(dir.File("relay.db"));
  auto a = Walk(kT0, 100, 20000000, 1);
  auto b = Walk(kT0 + 10 * kSec, 100, 20000000, 2);
  std::string ba = MakeBatch("w", 3, a), bb = MakeBatch("w", 3, b);
  EXPECT_EQ(MustIngest(store.get(), "w", 3, ba).outcome, IngestOutcome::kCommitted);
  IngestResult r = MustIngest(store.get(), "w", 3, bb);
  EXPECT_EQ(r.outcome, IngestOutcome::kRejected);
  EXPECT_NE(r.reason.find("sequence 3"), std::string::npos) << r.reason;
  EXPECT_NE(r.reason.find("reused with different content"), std::string::npos) << r.reason;
  // Only the first content is stored; the second is kept in quarantine.
  EXPECT_EQ(AllPendingSamples(store.get(), "w"), a);
  std::vector<RelayStore::QuarantinedBatch> q;
  ASSERT_TRUE(store->ListQuarantine(&q).ok());
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].sequence, 3u);
  EXPECT_EQ(q[0].raw, bb);
  EXPECT_EQ(q[0].reason, r.reason);
  // Offering it again neither acknowledges it nor duplicates the quarantine entry.
  EXPECT_EQ(MustIngest(store.get(), "w", 3, bb).outcome, IngestOutcome::kRejected);
  ASSERT_TRUE(store->ListQuarantine(&q).ok());
  EXPECT_EQ(q.size(), 1u);
}

TEST(RelayStoreTest, CorruptBatchIsQuarantinedAndTheNextOneStored) {
  ScratchDir dir;
  auto store = OpenStore(dir.File("relay.db"));
  auto s1 = Walk(kT0, 200, 20000000, 4);
  auto s2 = Walk(kT0 + 4 * kSec, 200, 20000000, 5);
  std::string good1 = MakeBatch("w", 1, s1);
  std::string bad = good1;
  bad[bad.size() / 2] ^= 0x10;
  IngestResult r = MustIngest(store.get(), "w", 1, bad);
  EXPECT_EQ(r.outcome, IngestOutcome::kRejected);
  EXPECT_FALSE(r.reason.empty());
  // The decoder's own message, not a generic one.
  BatchHeader header;
  std::vector<QSample> decoded;
  Status direct = DecodeBatch(bad, &header, &decoded);
  ASSERT_FALSE(direct.ok());
  EXPECT_EQ(r.reason, direct.ToString());
  // Truncated, empty and foreign-device batches: rejected with their reason.
  IngestResult truncated = MustIngest(store.get(), "w", 9, good1.substr(0, 10));
  EXPECT_EQ(truncated.outcome, IngestOutcome::kRejected);
  EXPECT_NE(truncated.reason.find("offset"), std::string::npos) << truncated.reason;
  IngestResult empty = MustIngest(store.get(), "w", 10, "");
  EXPECT_EQ(empty.outcome, IngestOutcome::kRejected);
  EXPECT_FALSE(empty.reason.empty());
  // Damage the CRC cannot see (the CRC recomputed after it): the body
  // decoder or a header check still refuses it, naming the offset and field.
  auto with_crc = [](std::string b) {
    uint32_t c = crc32c::Value(std::string_view(b).substr(0, b.size() - 4));
    for (int i = 0; i < 4; ++i) b[b.size() - 4 + i] = char((c >> (8 * i)) & 0xff);
    return b;
  };
  std::string body_damage = good1;
  for (size_t i = body_damage.size() - 40; i < body_damage.size() - 4; ++i) body_damage[i] = '\xff';
  std::string version_damage = good1;
  version_damage[4] = 9;
  for (const std::string& b : {with_crc(body_damage), with_crc(version_damage)}) {
    IngestResult r = MustIngest(store.get(), "w", 1, b);
    EXPECT_EQ(r.outcome, IngestOutcome::kRejected);
    EXPECT_NE(r.reason.find("offset"), std::string::npos) << r.reason;
    EXPECT_NE(r.reason.find("field"), std::string::npos) << r.reason;
    std::printf("rejected: %s\n", r.reason.c_str());
  }
  IngestResult foreign = MustIngest(store.get(), "other", 1, good1);
  EXPECT_EQ(foreign.outcome, IngestOutcome::kRejected);
  EXPECT_NE(foreign.reason.find("names device 'w'"), std::string::npos) << foreign.reason;
  IngestResult wrong_seq = MustIngest(store.get(), "w", 2, good1);
  EXPECT_EQ(wrong_seq.outcome, IngestOutcome::kRejected);
  EXPECT_NE(wrong_seq.reason.find("sequence 1"), std::string::npos) << wrong_seq.reason;
  // The batches behind it go through, and the intact copy of seq 1 too.
  EXPECT_EQ(MustIngest(store.get(), "w", 2, MakeBatch("w", 2, s2)).outcome,
            IngestOutcome::kCommitted);
  EXPECT_EQ(MustIngest(store.get(), "w", 1, good1).outcome, IngestOutcome::kCommitted);
  std::vector<QSample> want = s1;
  want.insert(want.end(), s2.begin(), s2.end());
  std::stable_sort(want.begin(), want.end(),
                   [](const QSample& a, const QSample& b) { return a.t_ns < b.t_ns; });
  EXPECT_EQ(AllPendingSamples(store.get(), "w"), want);
  std::vector<RelayStore::QuarantinedBatch> q;
  ASSERT_TRUE(store->ListQuarantine(&q).ok());
  ASSERT_EQ(q.size(), 7u);
  EXPECT_EQ(q[0].raw, bad);
  EXPECT_GT(q[0].received_ns, 0);
  auto st = store->GetStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->quarantined_batches, 7);
}

TEST(RelayStoreTest, SecondSplitAcrossTwoBatchesIsOneRowWithEverySample) {
  ScratchDir dir;
  auto store = OpenStore(dir.File("relay.db"));
  // 50 Hz from T0 + 0.5 s: batch 1 ends inside second T0+1, batch 2 continues it.
  auto all = Walk(kT0 + kSec / 2, 100, 20000000, 6);
  std::vector<QSample> a(all.begin(), all.begin() + 60), b(all.begin() + 60, all.end());
  // Second batch first: arrival order must not matter.
  EXPECT_EQ(MustIngest(store.get(), "w", 2, MakeBatch("w", 2, b)).outcome,
            IngestOutcome::kCommitted);
  EXPECT_EQ(MustIngest(store.get(), "w", 1, MakeBatch("w", 1, a)).outcome,
            IngestOutcome::kCommitted);
  std::vector<PendingRow> rows;
  ASSERT_TRUE(store->ListPendingRows(&rows).ok());
  ASSERT_EQ(rows.size(), 3u);  // seconds T0, T0+1, T0+2
  const PendingRow& mid = rows[1];
  EXPECT_EQ(mid.second, kT0 / kSec + 1);
  EXPECT_EQ(mid.count, 50u);
  EXPECT_EQ(mid.seqs, (std::vector<uint64_t>{2, 1}));
  EXPECT_EQ(mid.version, 2);
  EXPECT_EQ(AllPendingSamples(store.get(), "w"), all);
}

TEST(RelayStoreTest, EqualTimestampsKeepArrivalOrderAcrossBatches) {
  ScratchDir dir;
  auto store = OpenStore(dir.File("relay.db"));
  std::vector<QSample> a = {{kT0 + 5, 1, 1, 1}, {kT0 + 5, 2, 2, 2}};
  std::vector<QSample> b = {{kT0 + 5, 3, 3, 3}, {kT0 + 4, 9, 9, 9}};
  MustIngest(store.get(), "w", 1, MakeBatch("w", 1, a));
  MustIngest(store.get(), "w", 2, MakeBatch("w", 2, b));
  std::vector<QSample> want = {
      {kT0 + 4, 9, 9, 9}, {kT0 + 5, 1, 1, 1}, {kT0 + 5, 2, 2, 2}, {kT0 + 5, 3, 3, 3}};
  EXPECT_EQ(AllPendingSamples(store.get(), "w"), want);
}

// Every real data file, cut into batches of 97 samples (seconds split across
// batches), ingested in a seeded shuffled order: the rows hold exactly the
// source samples, quantised at the default resolution.
TEST(RelayStoreTest, RowsFromRealDataHoldExactlyTheSourceSamples) {
  const char* files[] = {"s01_01_sp.norm.csv", "s01_01_sw.norm.csv", "s02_03_sw.norm.csv",
                         "s02_05_sp.norm.csv", "s03_05_sw.norm.csv", "s04_02_sw.norm.csv",
                         "s04_07_sw.norm.csv"};
  ScratchDir dir;
  auto store = OpenStore(dir.File("relay.db"));
  const uint32_t seed = 20261124;
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  Resolution res;
  std::map<std::string, std::vector<QSample>> want;
  for (const char* f : files) {
    std::vector<Sample> src;
    Status st = ReadSampleCsvFile(test::TestDataDir() + "/" + f, &src);
    ASSERT_TRUE(st.ok()) << st.ToString();
    std::string dev = std::string(f).substr(0, 9);
    std::vector<QSample> q(src.size());
    for (size_t i = 0; i < src.size(); ++i) ASSERT_TRUE(res.Quantise(src[i], &q[i]).ok());
    std::vector<std::pair<uint64_t, std::string>> batches;
    for (size_t i = 0, seq = 1; i < q.size(); i += 97, ++seq) {
      std::vector<QSample> part(q.begin() + i, q.begin() + std::min(q.size(), i + 97));
      batches.emplace_back(seq, MakeBatch(dev, seq, part));
    }
    std::shuffle(batches.begin(), batches.end(), rng);
    for (auto& [seq, bytes] : batches)
      ASSERT_EQ(MustIngest(store.get(), dev, seq, bytes).outcome, IngestOutcome::kCommitted);
    // Rows order samples by t, stably: the source in arrival order of batches
    // would differ only for equal t across batches; batches hold consecutive
    // source runs, so compare as multisets ordered by (t, then source order
    // within t for samples of one batch).
    std::vector<QSample> sorted = q;
    std::stable_sort(sorted.begin(), sorted.end(),
                     [](const QSample& a, const QSample& b) { return a.t_ns < b.t_ns; });
    want[dev] = sorted;
  }
  for (auto& [dev, samples] : want) {
    std::vector<QSample> got = AllPendingSamples(store.get(), dev);
    ASSERT_EQ(got.size(), samples.size()) << dev;
    // Equal timestamps from different batches may sit in either batch order;
    // sort both by (t, x, y, z) for the multiset comparison, and check t order.
    EXPECT_TRUE(std::is_sorted(got.begin(), got.end(), [](const QSample& a, const QSample& b) {
      return a.t_ns < b.t_ns;
    })) << dev;
    auto key = [](const QSample& a, const QSample& b) {
      return std::tie(a.t_ns, a.x, a.y, a.z) < std::tie(b.t_ns, b.x, b.y, b.z);
    };
    std::sort(got.begin(), got.end(), key);
    std::sort(samples.begin(), samples.end(), key);
    EXPECT_EQ(got, samples) << dev;
  }
}

TEST(RelayStoreTest, CompletionByLaterSampleOrFlushTimeout) {
  ScratchDir dir;
  ManualClock clock(kT0 + 100 * kSec, 0);
  auto store = OpenStore(dir.File("relay.db"), &clock);
  // Samples of second S only: not complete yet.
  MustIngest(store.get(), "w", 1, MakeBatch("w", 1, Walk(kT0, 25, 20000000, 1)));
  std::vector<PendingRow> rows;
  ASSERT_TRUE(store->LeaseRows(25, &rows).ok());
  EXPECT_TRUE(rows.empty());
  // A later sample (second S+1) completes S, but not S+1.
  MustIngest(store.get(), "w", 2, MakeBatch("w", 2, Walk(kT0 + kSec, 1, 20000000, 2)));
  ASSERT_TRUE(store->LeaseRows(25, &rows).ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].second, kT0 / kSec);
  EXPECT_FALSE(rows[0].needs_merge);
  // Leased rows are not offered twice.
  std::vector<PendingRow> again;
  ASSERT_TRUE(store->LeaseRows(25, &again).ok());
  EXPECT_TRUE(again.empty());
  // Just before the flush timeout S+1 is still open; at the timeout it is complete.
  clock.Advance(2 * kSec - 1);
  ASSERT_TRUE(store->LeaseRows(25, &again).ok());
  EXPECT_TRUE(again.empty());
  auto st = store->GetStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->pending_rows, 2);
  EXPECT_EQ(st->complete_rows, 1);
  EXPECT_EQ(st->oldest_unsent_t_ns, kT0);
  clock.Advance(1);
  ASSERT_TRUE(store->LeaseRows(25, &again).ok());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].second, kT0 / kSec + 1);
  // A wall clock that jumps back does not hold rows forever.
  MustIngest(store.get(), "w", 3, MakeBatch("w", 3, Walk(kT0 + 5 * kSec, 1, 1, 3)));
  clock.SetUnixNanos(kT0);
  ASSERT_TRUE(store->LeaseRows(25, &again).ok());
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].second, kT0 / kSec + 5);
}

TEST(RelayStoreTest, OverBudgetRefusesAndLosesNothing) {
  ScratchDir dir;
  const uint64_t budget = 200 * 1024;
  auto store = OpenStore(dir.File("relay.db"), nullptr, budget);
  std::vector<QSample> acked;
  uint64_t seq = 1;
  bool refused = false;
  for (; seq < 400 && !refused; ++seq) {
    auto s = Walk(kT0 + int64_t(seq) * 60 * kSec, 3000, 20000000, uint32_t(seq));
    std::string b = MakeBatch("w", seq, s);
    auto pre = store->PreCheck("w", seq, b.size());
    ASSERT_TRUE(pre.ok());
    IngestResult r = MustIngest(store.get(), "w", seq, b);
    if (r.outcome == IngestOutcome::kRefusedFull) {
      refused = true;
      EXPECT_NE(r.reason.find("full"), std::string::npos) << r.reason;
      EXPECT_EQ(pre->outcome, IngestOutcome::kRefusedFull);
      // An already stored batch is still acknowledged as a duplicate.
      std::string first = MakeBatch("w", 1, Walk(kT0 + 60 * kSec, 3000, 20000000, 1));
      EXPECT_EQ(MustIngest(store.get(), "w", 1, first).outcome, IngestOutcome::kDuplicate);
    } else {
      ASSERT_EQ(r.outcome, IngestOutcome::kCommitted);
      acked.insert(acked.end(), s.begin(), s.end());
    }
  }
  ASSERT_TRUE(refused) << "budget never reached";
  auto st = store->GetStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->refusing_full);
  EXPECT_GT(st->bytes_buffered, 0u);
  EXPECT_EQ(st->size_budget_bytes, budget);
  // Everything acknowledged is there, sample for sample.
  EXPECT_EQ(AllPendingSamples(store.get(), "w"), acked);
  // Once rows leave (uploaded), room comes back.
  std::vector<PendingRow> rows;
  ASSERT_TRUE(store->LeaseRows(100000, &rows, true).ok());
  for (const PendingRow& r : rows) ASSERT_TRUE(store->AckUploaded(r, r.seqs, r.count).ok());
  auto s = Walk(kT0 + int64_t(seq) * 60 * kSec, 3000, 20000000, uint32_t(seq));
  EXPECT_EQ(MustIngest(store.get(), "w", seq, MakeBatch("w", seq, s)).outcome,
            IngestOutcome::kCommitted);
  st = store->GetStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_FALSE(st->refusing_full);
}

TEST(RelayStoreTest, AckDeletesOnlyTheUploadedVersion) {
  ScratchDir dir;
  ManualClock clock(kT0 + 100 * kSec, 0);
  auto store = OpenStore(dir.File("relay.db"), &clock);
  auto all = Walk(kT0, 150, 20000000, 8);  // seconds S, S+1, S+2
  std::vector<QSample> a(all.begin(), all.begin() + 70), b(all.begin() + 70, all.end());
  MustIngest(store.get(), "w", 1, MakeBatch("w", 1, a));
  std::vector<PendingRow> rows;
  ASSERT_TRUE(store->LeaseRows(25, &rows, true).ok());
  ASSERT_EQ(rows.size(), 2u);  // S and S+1 (partial)
  // While the upload is in flight, batch 2 adds to S+1.
  MustIngest(store.get(), "w", 2, MakeBatch("w", 2, b));
  for (const PendingRow& r : rows) ASSERT_TRUE(store->AckUploaded(r, r.seqs, r.count).ok());
  std::vector<PendingRow> left;
  ASSERT_TRUE(store->ListPendingRows(&left).ok());
  ASSERT_EQ(left.size(), 2u);
  EXPECT_EQ(left[0].second, kT0 / kSec + 1);
  EXPECT_TRUE(left[0].needs_merge);  // partly uploaded
  EXPECT_EQ(left[0].seqs, (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(left[1].second, kT0 / kSec + 2);
  std::vector<RelayStore::UploadedRecord> up;
  ASSERT_TRUE(store->ListUploaded(&up).ok());
  ASSERT_EQ(up.size(), 2u);
  EXPECT_EQ(up[1].seqs, (std::vector<uint64_t>{1}));
  EXPECT_EQ(up[1].count, 20u);
  // The next lease of S+1 takes the merge path; S+2 (never uploaded) does not.
  ASSERT_TRUE(store->LeaseRows(25, &rows, true).ok());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_TRUE(rows[0].needs_merge);
  EXPECT_FALSE(rows[1].needs_merge);
  // A late batch for an uploaded second S also takes the merge path.
  for (const PendingRow& r : rows) ASSERT_TRUE(store->AckUploaded(r, r.seqs, r.count).ok());
  MustIngest(store.get(), "w", 3, MakeBatch("w", 3, Walk(kT0 + 999 * 1000000, 1, 1, 9)));
  ASSERT_TRUE(store->LeaseRows(25, &rows, true).ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].second, kT0 / kSec);
  EXPECT_TRUE(rows[0].needs_merge);
  EXPECT_EQ(rows[0].seqs, (std::vector<uint64_t>{3}));
  auto st = store->GetStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->rows_uploaded, 4);
}

// Leasing sweeps forward with a cursor; rows given back below the cursor,
// and late rows for old seconds, are picked up when the sweep wraps around.
TEST(RelayStoreTest, LeaseSweepFindsReleasedAndLateRows) {
  ScratchDir dir;
  ManualClock clock(kT0 + 1000 * kSec, 0);
  auto store = OpenStore(dir.File("relay.db"), &clock);
  MustIngest(store.get(), "w", 1, MakeBatch("w", 1, Walk(kT0, 100 * 50 + 1, 20000000, 1)));
  std::vector<PendingRow> a, b, c, rest;
  ASSERT_TRUE(store->LeaseRows(10, &a).ok());
  ASSERT_EQ(a.size(), 10u);
  EXPECT_EQ(a[0].second, kT0 / kSec);
  store->ReleaseLease(a[3], "");
  ASSERT_TRUE(store->LeaseRows(10, &b).ok());
  ASSERT_EQ(b.size(), 10u);
  EXPECT_EQ(b[0].second, kT0 / kSec + 10);  // the cursor moved on
  // Ack the first ten (but the released one), then a late batch for second 1.
  for (size_t i = 0; i < a.size(); ++i) {
    if (i != 3) {
      ASSERT_TRUE(store->AckUploaded(a[i], a[i].seqs, a[i].count).ok());
    }
  }
  MustIngest(store.get(), "w", 2, MakeBatch("w", 2, Walk(kT0 + kSec + 7, 2, 1000, 2)));
  std::set<int64_t> seen;
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(store->LeaseRows(10, &c).ok());
    for (const PendingRow& r : c) EXPECT_TRUE(seen.insert(r.second).second) << r.second;
  }
  EXPECT_TRUE(seen.count(a[3].second)) << "released row never leased again";
  EXPECT_TRUE(seen.count(kT0 / kSec + 1)) << "late row never leased";
  EXPECT_EQ(seen.size(), 100u - 20u + 2u);
}

// Leases of several devices come oldest second first (ties: the smaller
// device id), each row once; a sweep that wraps around while every row is
// leased returns nothing, and leases given back from the middle of a long
// leased run (skipped with a seek) are found again.
TEST(RelayStoreTest, LeasesMergeDevicesByTimeAndSkipLongLeasedRuns) {
  ScratchDir dir;
  ManualClock clock(kT0 + 1000 * kSec, 0);  // nothing completes by the timeout
  auto store = OpenStore(dir.File("relay.db"), &clock);
  ASSERT_NE(DeviceSlot("a"), DeviceSlot("b"));
  // a: seconds 0..300 (0..299 complete); b: 100..350 (100..349 complete).
  MustIngest(store.get(), "a", 1, MakeBatch("a", 1, Walk(kT0, 601, kSec / 2, 1)));
  MustIngest(store.get(), "b", 1, MakeBatch("b", 1, Walk(kT0 + 100 * kSec + 1, 501, kSec / 2, 2)));
  std::vector<PendingRow> all, part;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(store->LeaseRows(37, &part).ok());
    if (part.empty()) break;
    EXPECT_LE(part.size(), 37u);
    all.insert(all.end(), part.begin(), part.end());
  }
  ASSERT_EQ(all.size(), 300u + 250u);
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_LT(std::tie(all[i - 1].second, all[i - 1].device_id),
              std::tie(all[i].second, all[i].device_id))
        << i;
  }
  EXPECT_EQ(all.front().second, kT0 / kSec);
  EXPECT_EQ(all.back().second, kT0 / kSec + 349);
  EXPECT_EQ(all.back().device_id, "b");
  // Every row leased: the wrapped sweep finds nothing, again and again.
  ASSERT_TRUE(store->LeaseRows(37, &part).ok());
  EXPECT_TRUE(part.empty());
  ASSERT_TRUE(store->LeaseRows(1000, &part).ok());
  EXPECT_TRUE(part.empty());
  // Give back a's second 150 (inside a run of 150 leased seconds on either
  // side) and b's last complete second: exactly those two come back.
  auto find = [&](const std::string& dev, int64_t s) {
    for (const PendingRow& r : all)
      if (r.device_id == dev && r.second == kT0 / kSec + s) return r;
    ADD_FAILURE() << dev << " " << s;
    return PendingRow();
  };
  store->ReleaseLease(find("a", 150), "");
  store->ReleaseLease(find("b", 349), "");
  ASSERT_TRUE(store->LeaseRows(10, &part).ok());
  ASSERT_EQ(part.size(), 2u);
  EXPECT_EQ(part[0].device_id, "a");
  EXPECT_EQ(part[0].second, kT0 / kSec + 150);
  EXPECT_EQ(part[1].device_id, "b");
  EXPECT_EQ(part[1].second, kT0 / kSec + 349);
  auto st = store->GetStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->leased_rows, 550);
  // The incomplete last seconds come with include_incomplete, after the rest.
  ASSERT_TRUE(store->LeaseRows(10, &part, true).ok());
  ASSERT_EQ(part.size(), 2u);
  EXPECT_EQ(part[0].second, kT0 / kSec + 300);
  EXPECT_EQ(part[1].second, kT0 / kSec + 350);
}

// Two device ids with the same sort-key slot: only the smaller id uploads,
// the other's rows stay in SQLite and status names the conflict.
TEST(RelayStoreTest, DevicesSharingASlotAreHeldNotOverwritten) {
  std::map<uint32_t, std::string> seen;
  std::string a, b;
  for (int i = 0; a.empty(); ++i) {
    std::string id = "dev-" + std::to_string(i);
    auto [it, fresh] = seen.emplace(DeviceSlot(id), id);
    if (!fresh) std::tie(a, b) = std::minmax(it->second, id);
  }
  ScratchDir dir;
  auto store = OpenStore(dir.File("relay.db"));
  MustIngest(store.get(), b, 1, MakeBatch(b, 1, Walk(kT0, 100, 20000000, 1)));
  MustIngest(store.get(), a, 1, MakeBatch(a, 1, Walk(kT0, 100, 20000000, 2)));
  std::vector<PendingRow> rows;
  ASSERT_TRUE(store->LeaseRows(100, &rows, true).ok());
  ASSERT_EQ(rows.size(), 2u);
  for (const PendingRow& r : rows) EXPECT_EQ(r.device_id, a);
  auto st = store->GetStatus();
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->held_devices.size(), 1u);
  EXPECT_EQ(st->held_devices[0].device_id, b);
  EXPECT_EQ(st->held_devices[0].slot_owner, a);
  EXPECT_EQ(st->held_devices[0].slot, DeviceSlot(a));
  EXPECT_EQ(st->pending_rows, 4);
  // Held, not hidden: after a restart the status still names it.
  store.reset();
  store = OpenStore(dir.File("relay.db"));
  st = store->GetStatus();
  ASSERT_TRUE(st.ok());
  ASSERT_EQ(st->held_devices.size(), 1u);
  EXPECT_EQ(st->held_devices[0].device_id, b);
}

// One second holds one resolution: a batch that would mix two is rejected
// and kept, with the reason; nothing of it is stored in the rows.
TEST(RelayStoreTest, ResolutionChangeWithinASecondIsRejectedAndKept) {
  ScratchDir dir;
  auto store = OpenStore(dir.File("relay.db"));
  auto s1 = Walk(kT0, 30, 20000000, 1);
  auto s2 = Walk(kT0 + 700000000, 30, 20000000, 2);  // overlaps second T0
  MustIngest(store.get(), "w", 1, MakeBatch("w", 1, s1));
  IngestResult r = MustIngest(store.get(), "w", 2, MakeBatch("w", 2, s2, 1.0 / 4096));
  EXPECT_EQ(r.outcome, IngestOutcome::kRejected);
  EXPECT_NE(r.reason.find("one second holds one resolution"), std::string::npos) << r.reason;
  EXPECT_EQ(AllPendingSamples(store.get(), "w"), s1);
  std::vector<RelayStore::QuarantinedBatch> q;
  ASSERT_TRUE(store->ListQuarantine(&q).ok());
  EXPECT_EQ(q.size(), 1u);
}

// Upload records are pruned by upload time: a week after the upload they go,
// and a late row for such a second (or an older one) takes the merge path
// anyway; a newer second of the device still takes the plain path.
TEST(RelayStoreTest, PrunedUploadRecordsLeaveTheMergePathInCharge) {
  ScratchDir dir;
  ManualClock clock(kT0 + 100 * kSec, 0);
  auto store = OpenStore(dir.File("relay.db"), &clock);
  MustIngest(store.get(), "w", 1, MakeBatch("w", 1, Walk(kT0 + 10 * kSec, 60, 20000000, 1)));
  std::vector<PendingRow> rows;
  ASSERT_TRUE(store->LeaseRows(100, &rows, true).ok());
  ASSERT_EQ(rows.size(), 2u);
  for (const PendingRow& r : rows) {
    EXPECT_FALSE(r.needs_merge);
    ASSERT_TRUE(store->AckUploaded(r, r.seqs, r.count).ok());
  }
  // Six days on, nothing is pruned yet.
  clock.Advance(6 * 24 * 3600 * kSec);
  ASSERT_TRUE(store->PruneUploaded().ok());
  std::vector<RelayStore::UploadedRecord> up;
  ASSERT_TRUE(store->ListUploaded(&up).ok());
  EXPECT_EQ(up.size(), 2u);
  clock.Advance(2 * 24 * 3600 * kSec);
  ASSERT_TRUE(store->PruneUploaded().ok());
  ASSERT_TRUE(store->ListUploaded(&up).ok());
  EXPECT_TRUE(up.empty());
  // Late samples: one in an uploaded second, one in an older second never
  // uploaded (both at or below the watermark), one in a newer second.
  MustIngest(store.get(), "w", 2,
             MakeBatch("w", 2,
                       {{kT0 + 3 * kSec, 0, 0, 0},
                        {kT0 + 10 * kSec + 500000, 0, 0, 0},
                        {kT0 + 30 * kSec, 0, 0, 0}}));
  ASSERT_TRUE(store->LeaseRows(100, &rows, true).ok());
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_TRUE(rows[0].needs_merge);
  EXPECT_TRUE(rows[1].needs_merge);
  EXPECT_FALSE(rows[2].needs_merge);
}

// Replaying an old recording: seconds far older than the retention horizon but
// never uploaded take the plain path (BatchWriteItem), not GetItem + PutItem.
TEST(RelayStoreTest, OldSecondsNeverUploadedTakeThePlainPath) {
  ScratchDir dir;
  ManualClock clock(kT0 + 400 * 24 * 3600 * kSec, 0);
  auto store = OpenStore(dir.File("relay.db"), &clock);
  MustIngest(store.get(), "w", 1, MakeBatch("w", 1, Walk(kT0, 120, 20000000, 1)));
  std::vector<PendingRow> rows;
  ASSERT_TRUE(store->LeaseRows(100, &rows, true).ok());
  ASSERT_EQ(rows.size(), 3u);
  for (const PendingRow& r : rows) EXPECT_FALSE(r.needs_merge);
}

// A version-1 database (upload records pruned by second, a week before now)
// migrates (to the current version) with each device's watermark at that horizon, so old
// seconds whose records v1 may have pruned still take the merge path.
TEST(RelayStoreTest, VersionOneDatabaseMigratesWithAConservativeWatermark) {
  ScratchDir dir;
  const std::string path = dir.File("relay.db");
  {
    auto store = OpenStore(path);
    MustIngest(store.get(), "w", 1, MakeBatch("w", 1, Walk(kT0, 60, 20000000, 1)));
  }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DROP TABLE pruned; DROP TABLE meta; PRAGMA user_version=1", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  const int64_t now_s = Clock::Real()->NowUnixNanos() / kSec;
  auto store = OpenStore(path);
  ASSERT_NE(store, nullptr);
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  ASSERT_EQ(
      sqlite3_prepare_v2(db, "SELECT through_second FROM pruned WHERE device='w'", -1, &q, nullptr),
      SQLITE_OK);
  ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
  EXPECT_NEAR(double(sqlite3_column_int64(q, 0)), double(now_s - 7 * 86400), 120.0);
  sqlite3_finalize(q);
  sqlite3_close(db);
  std::vector<PendingRow> rows;
  ASSERT_TRUE(store->LeaseRows(100, &rows, true).ok());
  ASSERT_EQ(rows.size(), 2u);
  for (const PendingRow& r : rows) EXPECT_TRUE(r.needs_merge);
}

// Version 4 keeps "its second was uploaded before" in the pending row's flag
// (set when the row is created) instead of looking the upload record up on
// every lease. A version 3 database gets the flag from its records: a late
// row for an uploaded second still takes the merge path after the upgrade.
TEST(RelayStoreTest, VersionThreeDatabaseMigratesUploadRecordsIntoTheMergeFlag) {
  ScratchDir dir;
  const std::string path = dir.File("relay.db");
  ManualClock clock(kT0 + 100 * kSec, 0);
  {
    auto store = OpenStore(path, &clock);
    MustIngest(store.get(), "w", 1, MakeBatch("w", 1, Walk(kT0, 100, 20000000, 1)));
    std::vector<PendingRow> rows;
    ASSERT_TRUE(store->LeaseRows(25, &rows, true).ok());
    ASSERT_EQ(rows.size(), 2u);
    for (const PendingRow& r : rows) ASSERT_TRUE(store->AckUploaded(r, r.seqs, r.count).ok());
    // Late samples for the uploaded second S, and a new second S+2.
    MustIngest(store.get(), "w", 2, MakeBatch("w", 2, Walk(kT0 + 5000000, 1, 1, 2)));
    MustIngest(store.get(), "w", 3, MakeBatch("w", 3, Walk(kT0 + 2 * kSec, 10, 20000000, 3)));
    std::vector<PendingRow> left;
    ASSERT_TRUE(store->ListPendingRows(&left).ok());
    ASSERT_EQ(left.size(), 2u);
    EXPECT_TRUE(left[0].needs_merge);  // set on creation (version 4)
    EXPECT_FALSE(left[1].needs_merge);
  }
  // As a version 3 relay left it: the flag only for partly uploaded rows.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE pending SET partly_uploaded=0; PRAGMA user_version=3", nullptr,
                         nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  auto store = OpenStore(path, &clock);
  ASSERT_NE(store, nullptr);
  std::vector<PendingRow> rows;
  ASSERT_TRUE(store->LeaseRows(25, &rows, true).ok());
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].second, kT0 / kSec);
  EXPECT_TRUE(rows[0].needs_merge);
  EXPECT_EQ(rows[1].second, kT0 / kSec + 2);
  EXPECT_FALSE(rows[1].needs_merge);
}

TEST(RelayStoreTest, QuarantinedRowLeavesPendingButIsKept) {
  ScratchDir dir;
  auto store = OpenStore(dir.File("relay.db"));
  MustIngest(store.get(), "w", 1, MakeBatch("w", 1, Walk(kT0, 120, 20000000, 1)));
  std::vector<PendingRow> rows;
  ASSERT_TRUE(store->LeaseRows(25, &rows, true).ok());
  ASSERT_EQ(rows.size(), 3u);
  ASSERT_TRUE(store->QuarantineRow(rows[1], "ValidationException: item too large").ok());
  std::vector<RelayStore::RejectedRow> rej;
  ASSERT_TRUE(store->ListRejectedRows(&rej).ok());
  ASSERT_EQ(rej.size(), 1u);
  EXPECT_EQ(rej[0].second, rows[1].second);
  EXPECT_EQ(rej[0].message, "ValidationException: item too large");
  EXPECT_EQ(rej[0].count, 50u);
  std::vector<PendingRow> left;
  ASSERT_TRUE(store->ListPendingRows(&left).ok());
  EXPECT_EQ(left.size(), 2u);
  auto st = store->GetStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->quarantined_rows, 1);
  EXPECT_NE(st->last_error.find("item too large"), std::string::npos);
}

// A row DynamoDB refused while a later batch was merged into it: exactly the
// refused version goes to rejected_rows, the later batch's samples stay
// pending on their own; quarantining again sets aside only those. No sample
// twice in rejected_rows, none lost.
TEST(RelayStoreTest, QuarantineOfARowChangedInFlightSetsAsideOnlyTheRefusedVersion) {
  ScratchDir dir;
  auto store = OpenStore(dir.File("relay.db"));
  auto all = Walk(kT0, 50, 20000000, 7);  // one second
  std::vector<QSample> a, b;
  for (size_t i = 0; i < all.size(); ++i) (i % 3 == 1 ? b : a).push_back(all[i]);
  MustIngest(store.get(), "w", 1, MakeBatch("w", 1, a));
  std::vector<PendingRow> rows;
  ASSERT_TRUE(store->LeaseRows(25, &rows, true).ok());
  ASSERT_EQ(rows.size(), 1u);
  MustIngest(store.get(), "w", 2, MakeBatch("w", 2, b));  // while the upload is in flight
  ASSERT_TRUE(store->QuarantineRow(rows[0], "ValidationException: refused").ok());

  std::vector<RelayStore::RejectedRow> rej;
  ASSERT_TRUE(store->ListRejectedRows(&rej).ok());
  ASSERT_EQ(rej.size(), 1u);
  EXPECT_EQ(rej[0].count, a.size());
  std::vector<PendingRow> left;
  ASSERT_TRUE(store->ListPendingRows(&left).ok());
  ASSERT_EQ(left.size(), 1u);
  EXPECT_EQ(left[0].seqs, std::vector<uint64_t>{2});
  EXPECT_EQ(left[0].count, b.size());
  EXPECT_EQ(test::AllPendingSamples(store.get(), "w"), b);
  std::vector<uint32_t> origin;
  ASSERT_TRUE(DecodeOrigin(left[0].origin, left[0].count, &origin).ok());
  EXPECT_EQ(origin, std::vector<uint32_t>(b.size(), 0));

  // The remainder is a row like any other: leased, and if refused too, set
  // aside alone; then nothing is pending and every sample is in rejected_rows once.
  ASSERT_TRUE(store->LeaseRows(25, &rows, true).ok());
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].count, b.size());
  ASSERT_TRUE(store->QuarantineRow(rows[0], "ValidationException: refused").ok());
  ASSERT_TRUE(store->ListRejectedRows(&rej).ok());
  ASSERT_EQ(rej.size(), 2u);
  EXPECT_EQ(rej[0].count + rej[1].count, all.size());
  ASSERT_TRUE(store->ListPendingRows(&left).ok());
  EXPECT_TRUE(left.empty());
  ASSERT_TRUE(store->LeaseRows(25, &rows, true).ok());
  EXPECT_TRUE(rows.empty());
  auto st = store->GetStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->quarantined_rows, 2);
}

TEST(RelayStoreTest, SchemaVersionAndDurabilitySettings) {
  ScratchDir dir;
  std::string path = dir.File("relay.db");
  { auto store = OpenStore(path); }
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  auto pragma = [&](const char* sql) {
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &s, nullptr), SQLITE_OK);
    EXPECT_EQ(sqlite3_step(s), SQLITE_ROW);
    std::string v = reinterpret_cast<const char*>(sqlite3_column_text(s, 0));
    sqlite3_finalize(s);
    return v;
  };
  EXPECT_EQ(pragma("PRAGMA user_version"), "4");
  EXPECT_EQ(pragma("PRAGMA journal_mode"), "wal");
  // A database from a newer relay is refused, not downgraded.
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  RelayStoreOptions o;
  o.path = path;
  auto s = RelayStore::Open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("schema version 99"), std::string::npos)
      << s.status().ToString();
  // Not a database at all: a clear error, no crash.
  std::string junk = dir.File("junk.db");
  FILE* f = fopen(junk.c_str(), "w");
  fputs("this is not an sqlite database, just text long enough to be a header.....", f);
  fclose(f);
  o.path = junk;
  s = RelayStore::Open(o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find(junk), std::string::npos) << s.status().ToString();
}

TEST(SecondRowsTest, SplitMergeOriginAndSeqList) {
  auto groups = SplitBySecond({{2 * kSec + 5, 1, 1, 1}, {-1, 2, 2, 2}, {2 * kSec, 3, 3, 3}});
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].first, -1);
  EXPECT_EQ(groups[1].first, 2);
  EXPECT_EQ(groups[1].second[0].t_ns, 2 * kSec);
  std::vector<uint32_t> origin = {0, 1, 127, 128, 300000};
  std::string enc;
  EncodeOrigin(origin, &enc);
  std::vector<uint32_t> back;
  ASSERT_TRUE(DecodeOrigin(enc, origin.size(), &back).ok());
  EXPECT_EQ(back, origin);
  EXPECT_FALSE(DecodeOrigin(enc, origin.size() + 1, &back).ok());
  EXPECT_FALSE(DecodeOrigin(enc.substr(0, enc.size() - 1), origin.size(), &back).ok());
  EXPECT_FALSE(DecodeOrigin(std::string(6, '\xff'), 1, &back).ok());
  std::vector<uint64_t> seqs;
  ASSERT_TRUE(ParseSeqList("1,18446744073709551615,3", &seqs).ok());
  EXPECT_EQ(seqs, (std::vector<uint64_t>{1, 18446744073709551615ull, 3}));
  EXPECT_EQ(FormatSeqList(seqs), "1,18446744073709551615,3");
  EXPECT_FALSE(ParseSeqList("1,,2", &seqs).ok());
  EXPECT_FALSE(ParseSeqList("1;2", &seqs).ok());
}

}  // namespace
}  // namespace relay
}  // namespace accel
