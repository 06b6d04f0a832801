// The uploader against real local DynamoDB servers (dynalite and moto, started
// by the shared fixtures), with the real store, codec, client and signer:
// rows read back sample for sample, late samples merged exactly once, a lost
// acknowledgement, a row changed while in flight, a row DynamoDB rejects, a
// missing table, and a fault-injecting proxy at 30% of requests.
#include "phone-relay/uploader.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <tuple>

#include "common/csv.h"
#include "phone-relay/client_caller.h"
#include "phone-relay/dynamodb_row.h"
#include "phone-relay/second_rows.h"
#include "tests/relay_aws/test_util.h"
#include "tests/relay_store/test_batches.h"
#include "tests/support/local_aws.h"

namespace accel {
namespace relay {
namespace {

using accel::testing::LocalServer;
using test::MakeBatch;
using test::ScratchDir;
using test::Walk;

constexpr int64_t kSec = 1000000000;
constexpr int64_t kT0 = 1700000000 * kSec;
const char* const kIdentity = "us-east-1:5f0c7e1a-0000-4000-8000-00000000beef";

class Servers : public ::testing::Environment {
 public:
  static LocalServer* Get(const std::string& kind) {
    return kind == "moto" ? moto_.get() : dynalite_.get();
  }
  void SetUp() override {
    auto d = LocalServer::StartDynalite();
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    dynalite_ = std::move(d).value();
    auto m = LocalServer::StartMoto();
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    moto_ = std::move(m).value();
  }
  void TearDown() override {
    moto_.reset();
    dynalite_.reset();
  }

 private:
  static std::unique_ptr<LocalServer> moto_, dynalite_;
};
std::unique_ptr<LocalServer> Servers::moto_, Servers::dynalite_;
::testing::Environment* const kServers = ::testing::AddGlobalTestEnvironment(new Servers);

bool QLess(const QSample& a, const QSample& b) {
  return std::tie(a.t_ns, a.x, a.y, a.z) < std::tie(b.t_ns, b.x, b.y, b.z);
}

// A caller that lets a test act around the real call.
class HookCaller : public DynamoDbCaller {
 public:
  explicit HookCaller(std::unique_ptr<DynamoDbCaller> inner) : inner_(std::move(inner)) {}
  std::function<void(const std::string& target)> before;
  // Returns true to replace the real answer by `lost` (the write happened,
  // the answer never arrived).
  std::function<bool(const std::string& target)> lose_answer;
  Result<std::string> Call(const std::string& target, std::string body) override {
    if (before) before(target);
    auto r = inner_->Call(target, std::move(body));
    if (r.ok() && lose_answer && lose_answer(target))
      return Status::Unavailable("test: connection reset after the request was sent");
    return r;
  }

 private:
  std::unique_ptr<DynamoDbCaller> inner_;
};

struct Fixture {
  std::unique_ptr<StaticCredentialsProvider> creds = test::FakeCredentials();
  std::string endpoint;
  std::string table;
  std::unique_ptr<DynamoDbClient> admin;  // create table, read back

  Fixture(const std::string& ep, const std::string& tbl, bool create = true)
      : endpoint(ep), table(tbl) {
    admin = test::NewClient(endpoint, creds.get());
    if (create) {
      EXPECT_TRUE(test::CreateAndWait(admin.get(), table));
    }
  }
  std::unique_ptr<DynamoDbCaller> Caller() {
    return std::make_unique<ClientCaller>(test::NewClient(endpoint, creds.get()));
  }
  std::unique_ptr<Uploader> MakeUploader(RelayStore* store, int in_flight = 3,
                                         std::unique_ptr<DynamoDbCaller> first = nullptr,
                                         size_t rows_per_request = 25) {
    std::vector<std::unique_ptr<DynamoDbCaller>> callers;
    if (first) callers.push_back(std::move(first));
    while (int(callers.size()) < in_flight) callers.push_back(Caller());
    UploaderOptions o;
    o.table = table;
    o.identity_id = [] { return std::string(kIdentity); };
    o.seed = 11;
    o.rows_per_request = rows_per_request;
    o.backoff_base_ms = 1;
    o.backoff_max_ms = 5;
    return std::make_unique<Uploader>(store, std::move(callers), o);
  }
  // Every item of the identity, decoded: device -> samples (and checks on each item).
  std::map<std::string, std::vector<QSample>> ReadBack(
      int64_t from_s, int64_t to_s, std::map<std::string, int>* items = nullptr) {
    std::map<std::string, std::vector<QSample>> out;
    auto q = admin->Query(table, kIdentity, from_s, to_s + 1);
    EXPECT_TRUE(q.ok()) << q.status().ToString();
    if (!q.ok()) return out;
    for (const auto& item : q->items) {
      std::string dev = item.at("d").at("S");
      int64_t second;
      uint32_t slot;
      EXPECT_TRUE(ParseSortKey(item.at("t").at("N").get<std::string>(), &second, &slot).ok());
      EXPECT_EQ(slot, DeviceSlot(dev));
      std::string raw;
      EXPECT_TRUE(DecodeBase64(item.at("s").at("B").get<std::string>(), &raw).ok());
      std::vector<QSample> s;
      Status st = DecodeSecondBlock(second, 0, raw, &s);
      EXPECT_TRUE(st.ok()) << st.ToString();
      EXPECT_EQ(item.at("n").at("N").get<std::string>(), std::to_string(s.size()));
      EXPECT_EQ(item.at("f").at("N").get<std::string>(), "1");
      EXPECT_EQ(item.at("r").at("N").get<std::string>(), "0.00006103515625");
      for (const QSample& x : s) EXPECT_EQ(EpochSecondOf(x.t_ns), second);
      out[dev].insert(out[dev].end(), s.begin(), s.end());
      if (items) ++(*items)[dev];
    }
    for (auto& [dev, v] : out) std::sort(v.begin(), v.end(), QLess);
    return out;
  }
};

// A wall clock running from `t_ns` now (monotonic time is real).
test::OffsetClock* ClockAt(int64_t t_ns) {
  static std::vector<std::unique_ptr<test::OffsetClock>> clocks;
  clocks.push_back(std::make_unique<test::OffsetClock>(t_ns - Clock::Real()->NowUnixNanos()));
  return clocks.back().get();
}

std::unique_ptr<RelayStore> OpenStore(const std::string& path,
                                      Clock* clock = ClockAt(kT0 + 100 * kSec)) {
  RelayStoreOptions o;
  o.path = path;
  o.clock = clock;
  auto s = RelayStore::Open(o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(s.value()) : nullptr;
}

// Runs passes until nothing is pending or leased for retry; returns the totals.
UploadStats Drain(Uploader* up, RelayStore* store, int max_passes = 2000) {
  UploadStats total;
  for (int i = 0; i < max_passes; ++i) {
    total.Add(up->RunOnce(true));
    auto st = store->GetStatus();
    if (st.ok() && st->pending_rows == 0 && up->retry_queue_size() == 0) break;
  }
  return total;
}

class UploaderTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::string Endpoint() {
    LocalServer* s = Servers::Get(GetParam());
    return s ? s->endpoint() : "http://127.0.0.1:1";
  }
  std::string Table(const std::string& name) { return name + "_" + GetParam(); }
};

// Every recording of tests/data (and of ../shared/data/accel when present),
// one device each, all of one identity: phone and watch of a session share
// seconds. Batches cut across seconds, ingested in a shuffled order: the
// table holds every sample exactly once.
std::vector<std::string> RealDataFiles() {
  namespace fs = std::filesystem;
  std::map<std::string, std::string> by_name;  // the shared set includes the tests/data copies
  std::vector<std::string> dirs = {test::TestDataDir()};
  const std::string shared = std::string(ACCEL_SOURCE_DIR) + "/../shared/data/accel";
  std::error_code ec;
  if (fs::is_directory(shared, ec)) {
    for (const auto& e : fs::directory_iterator(shared, ec))
      if (e.is_directory()) dirs.push_back(e.path().string());
  }
  for (const std::string& d : dirs) {
    for (const auto& e : fs::directory_iterator(d, ec)) {
      std::string name = e.path().filename().string();
      if (name.size() > 9 && name.compare(name.size() - 9, 9, ".norm.csv") == 0)
        by_name.emplace(name, e.path().string());
    }
  }
  std::vector<std::string> out;
  for (auto& [name, path] : by_name) out.push_back(path);
  return out;
}

TEST_P(UploaderTest, RealDataArrivesSampleForSample) {
  Fixture fx(Endpoint(), Table("realdata"));
  ScratchDir dir;
  // The recordings are from 2022: the store's clock runs from after them.
  auto store = OpenStore(dir.File("relay.db"), ClockAt(1700000000LL * kSec));
  std::mt19937 rng(99);
  std::map<std::string, std::vector<QSample>> want;
  int64_t lo = INT64_MAX, hi = INT64_MIN;
  const std::vector<std::string> files = RealDataFiles();
  ASSERT_GE(files.size(), 7u);
  size_t total_samples = 0;
  for (const std::string& f : files) {
    std::vector<Sample> src;
    ASSERT_TRUE(ReadSampleCsvFile(f, &src).ok()) << f;
    // The file's stem ("s01_01_sw") is the device id.
    std::string name = std::filesystem::path(f).filename().string();
    std::string dev = name.substr(0, name.size() - 9);
    total_samples += src.size();
    Resolution res;
    std::vector<QSample> q(src.size());
    for (size_t i = 0; i < src.size(); ++i) ASSERT_TRUE(res.Quantise(src[i], &q[i]).ok());
    std::vector<std::pair<uint64_t, std::string>> batches;
    for (size_t i = 0, seq = 1; i < q.size(); i += 130, ++seq)
      batches.emplace_back(
          seq, MakeBatch(dev, seq, {q.begin() + i, q.begin() + std::min(q.size(), i + 130)}));
    std::shuffle(batches.begin(), batches.end(), rng);
    for (auto& [seq, b] : batches) ASSERT_TRUE(store->Ingest(dev, seq, b).ok());
    want[dev] = q;
    std::sort(want[dev].begin(), want[dev].end(), QLess);
    for (const QSample& s : q) {
      lo = std::min(lo, EpochSecondOf(s.t_ns));
      hi = std::max(hi, EpochSecondOf(s.t_ns));
    }
  }
  auto up = fx.MakeUploader(store.get());
  UploadStats s = Drain(up.get(), store.get());
  EXPECT_EQ(s.rows_quarantined, 0) << s.last_error;
  EXPECT_EQ(s.merges, 0);  // never uploaded before: BatchWriteItem only
  auto st = store->GetStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->pending_rows, 0) << st->last_error;
  EXPECT_EQ(st->rows_uploaded, s.rows_acked);
  EXPECT_TRUE(st->held_devices.empty());
  std::map<std::string, int> items;
  auto got = fx.ReadBack(lo, hi, &items);
  ASSERT_EQ(got.size(), want.size());
  int total_items = 0;
  for (auto& [dev, samples] : want) {
    EXPECT_EQ(got[dev].size(), samples.size()) << dev;
    EXPECT_TRUE(got[dev] == samples) << dev;
    total_items += items[dev];
  }
  // One item per device-second.
  EXPECT_EQ(total_items, s.rows_acked);
  std::printf("%s: %zu recordings, %zu samples, %d items, %lld requests\n", GetParam().c_str(),
              files.size(), total_samples, total_items, (long long)s.requests);
}

// A second uploaded, then more of it arrives (late batch), then the answer to
// the merge write is lost and the row is sent again: one item, every sample
// exactly once, `b` lists both batches, `v` counts the writes.
TEST_P(UploaderTest, LateSamplesMergeExactlyOnceEvenWhenTheAnswerIsLost) {
  Fixture fx(Endpoint(), Table("late"));
  ScratchDir dir;
  auto store = OpenStore(dir.File("relay.db"));
  auto all = Walk(kT0, 50, 20000000, 3);  // one second
  std::vector<QSample> a(all.begin(), all.begin() + 30), b(all.begin() + 30, all.end());
  ASSERT_TRUE(store->Ingest("w", 1, MakeBatch("w", 1, a)).ok());
  auto hook = std::make_unique<HookCaller>(fx.Caller());
  HookCaller* h = hook.get();
  auto up = fx.MakeUploader(store.get(), 1, std::move(hook));
  Drain(up.get(), store.get());
  ASSERT_TRUE(store->Ingest("w", 2, MakeBatch("w", 2, b)).ok());
  int lost = 0;
  h->lose_answer = [&](const std::string& target) { return target == "PutItem" && lost++ == 0; };
  UploadStats s = Drain(up.get(), store.get());
  // One lost answer; the retry's GetItem finds both seqs and writes nothing.
  EXPECT_EQ(lost, 1);
  EXPECT_GE(s.rows_failed, 1);
  auto got = fx.ReadBack(kT0 / kSec, kT0 / kSec);
  std::sort(all.begin(), all.end(), QLess);
  EXPECT_TRUE(got["w"] == all) << got["w"].size() << " samples";
  auto item = fx.admin->Query(fx.table, kIdentity, kT0 / kSec, kT0 / kSec + 1);
  ASSERT_TRUE(item.ok());
  ASSERT_EQ(item->items.size(), 1u);
  auto bset = item->items[0]["b"]["NS"].get<std::vector<std::string>>();
  std::sort(bset.begin(), bset.end());
  EXPECT_EQ(bset, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(item->items[0]["v"]["N"], "2");
  std::vector<RelayStore::UploadedRecord> rec;
  ASSERT_TRUE(store->ListUploaded(&rec).ok());
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec[0].count, 50u);
}

// New samples merge into a row while its BatchWriteItem is in flight: the
// ack leaves the row (partly uploaded) and the merge path completes it.
TEST_P(UploaderTest, RowChangedInFlightIsCompletedByTheMergePath) {
  Fixture fx(Endpoint(), Table("inflight"));
  ScratchDir dir;
  auto store = OpenStore(dir.File("relay.db"));
  auto all = Walk(kT0, 100, 20000000, 4);  // two seconds
  std::vector<QSample> a(all.begin(), all.begin() + 70), b(all.begin() + 70, all.end());
  ASSERT_TRUE(store->Ingest("w", 1, MakeBatch("w", 1, a)).ok());
  auto hook = std::make_unique<HookCaller>(fx.Caller());
  bool injected = false;
  hook->before = [&](const std::string& target) {
    if (target == "BatchWriteItem" && !injected) {
      injected = true;
      ASSERT_TRUE(store->Ingest("w", 2, MakeBatch("w", 2, b)).ok());
    }
  };
  auto up = fx.MakeUploader(store.get(), 1, std::move(hook));
  UploadStats s = Drain(up.get(), store.get());
  EXPECT_TRUE(injected);
  EXPECT_GE(s.merges, 1);
  auto got = fx.ReadBack(kT0 / kSec, kT0 / kSec + 1);
  std::sort(all.begin(), all.end(), QLess);
  EXPECT_TRUE(got["w"] == all) << got["w"].size() << " samples";
}

// A row DynamoDB refuses (an item over 400 KB: 60,000 noisy samples in one
// second) among good rows: the request is split until the bad row is found,
// which is quarantined with the server's message; the others arrive.
TEST_P(UploaderTest, ValidationErrorQuarantinesOnlyTheBadRow) {
  Fixture fx(Endpoint(), Table("validation"));
  ScratchDir dir;
  auto store = OpenStore(dir.File("relay.db"));
  auto good = Walk(kT0, 500, 20000000, 5);  // 10 seconds
  ASSERT_TRUE(store->Ingest("w", 1, MakeBatch("w", 1, good)).ok());
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> noise(-500000, 500000);
  std::vector<QSample> huge;
  for (int i = 0; i < 60000; ++i)
    huge.push_back({kT0 + 20 * kSec + i * 16000, noise(rng), noise(rng), noise(rng)});
  auto r = store->Ingest("w", 2, MakeBatch("w", 2, huge));
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->outcome, IngestOutcome::kCommitted) << r->reason;
  auto up = fx.MakeUploader(store.get(), 1);
  UploadStats s = Drain(up.get(), store.get());
  EXPECT_EQ(s.rows_quarantined, 1);
  EXPECT_GE(s.splits, 1);
  std::vector<RelayStore::RejectedRow> rej;
  ASSERT_TRUE(store->ListRejectedRows(&rej).ok());
  ASSERT_EQ(rej.size(), 1u);
  EXPECT_EQ(rej[0].second, kT0 / kSec + 20);
  EXPECT_NE(rej[0].message.find("InvalidArgument"), std::string::npos) << rej[0].message;
  std::printf("%s rejected the row: %s\n", GetParam().c_str(), rej[0].message.c_str());
  auto got = fx.ReadBack(kT0 / kSec, kT0 / kSec + 30);
  std::sort(good.begin(), good.end(), QLess);
  EXPECT_TRUE(got["w"] == good);
}

// The refused row changes while its request is in flight (a late batch for
// the same second): the refused version is quarantined once, the late
// samples are uploaded on their own, and rejected_rows holds no repeat.
TEST_P(UploaderTest, RowChangedWhileBeingRefusedIsQuarantinedOnce) {
  Fixture fx(Endpoint(), Table("refused_inflight"));
  ScratchDir dir;
  auto store = OpenStore(dir.File("relay.db"));
  std::mt19937 rng(8);
  std::uniform_int_distribution<int32_t> noise(-500000, 500000);
  std::vector<QSample> huge;
  for (int i = 0; i < 60000; ++i)
    huge.push_back({kT0 + i * 16000, noise(rng), noise(rng), noise(rng)});
  auto r = store->Ingest("w", 1, MakeBatch("w", 1, huge));
  ASSERT_TRUE(r.ok() && r->outcome == IngestOutcome::kCommitted);
  auto late = Walk(kT0 + 3000, 10, 90000000, 9);  // same second
  auto hook = std::make_unique<HookCaller>(fx.Caller());
  int injected = 0;
  hook->before = [&](const std::string& target) {
    if (target == "BatchWriteItem" && injected++ == 0) {
      ASSERT_TRUE(store->Ingest("w", 2, MakeBatch("w", 2, late)).ok());
    }
  };
  auto up = fx.MakeUploader(store.get(), 1, std::move(hook));
  UploadStats s = Drain(up.get(), store.get());
  EXPECT_EQ(s.rows_quarantined, 1);
  std::vector<RelayStore::RejectedRow> rej;
  ASSERT_TRUE(store->ListRejectedRows(&rej).ok());
  ASSERT_EQ(rej.size(), 1u);
  EXPECT_EQ(rej[0].count, huge.size());
  auto st = store->GetStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->pending_rows, 0);
  EXPECT_EQ(st->quarantined_rows, 1);
  auto got = fx.ReadBack(kT0 / kSec, kT0 / kSec);
  std::sort(late.begin(), late.end(), QLess);
  EXPECT_TRUE(got["w"] == late) << got["w"].size() << " samples";
}

// No table: a clear error, every row kept; once the table exists they go.
TEST_P(UploaderTest, MissingTableKeepsEveryRow) {
  Fixture fx(Endpoint(), Table("missing"), /*create=*/false);
  ScratchDir dir;
  auto store = OpenStore(dir.File("relay.db"));
  auto all = Walk(kT0, 200, 20000000, 6);
  ASSERT_TRUE(store->Ingest("w", 1, MakeBatch("w", 1, all)).ok());
  auto up = fx.MakeUploader(store.get(), 2);
  UploadStats s = up->RunOnce(true);
  EXPECT_EQ(s.rows_acked, 0);
  EXPECT_EQ(s.rows_failed, 4);
  EXPECT_NE(s.last_error.find("NotFound"), std::string::npos) << s.last_error;
  auto st = store->GetStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->pending_rows, 4);
  EXPECT_EQ(st->rows_failed, 4);
  // Clear: which table, which region, what to check.
  EXPECT_NE(st->last_error.find("NotFound"), std::string::npos) << st->last_error;
  EXPECT_NE(st->last_error.find("table '" + fx.table + "'"), std::string::npos) << st->last_error;
  EXPECT_NE(st->last_error.find("region us-east-1"), std::string::npos) << st->last_error;
  EXPECT_NE(st->last_error.find("check the table name and the region"), std::string::npos)
      << st->last_error;
  std::printf("%s: %s\n", GetParam().c_str(), st->last_error.c_str());
  ASSERT_TRUE(test::CreateAndWait(fx.admin.get(), fx.table));
  Drain(up.get(), store.get());
  auto got = fx.ReadBack(kT0 / kSec, kT0 / kSec + 5);
  std::sort(all.begin(), all.end(), QLess);
  EXPECT_TRUE(got["w"] == all);
}

// The table exists, but in another region than the relay's (moto keeps
// tables per region; dynalite has one namespace): a clear error naming the
// region, every row kept; with the right region they all arrive.
TEST(UploaderRegionTest, WrongRegionKeepsEveryRowAndSaysWhichRegion) {
  const std::string endpoint = Servers::Get("moto")->endpoint();
  Fixture fx(endpoint, "region_rows");  // created in us-east-1
  ScratchDir dir;
  auto store = OpenStore(dir.File("relay.db"));
  auto all = Walk(kT0, 200, 20000000, 16);
  ASSERT_TRUE(store->Ingest("w", 1, MakeBatch("w", 1, all)).ok());
  auto make = [&](const std::string& region) {
    std::vector<std::unique_ptr<DynamoDbCaller>> callers;
    callers.push_back(
        std::make_unique<ClientCaller>(test::NewClient(endpoint, fx.creds.get(), region)));
    UploaderOptions o;
    o.table = fx.table;
    o.identity_id = [] { return std::string(kIdentity); };
    o.backoff_base_ms = 1;
    o.backoff_max_ms = 5;
    return std::make_unique<Uploader>(store.get(), std::move(callers), o);
  };
  auto west = make("eu-west-1");
  UploadStats s = west->RunOnce(true);
  EXPECT_EQ(s.rows_acked, 0);
  EXPECT_EQ(s.rows_failed, 4);
  auto st = store->GetStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->pending_rows, 4);
  EXPECT_EQ(st->rows_failed, 4);
  for (const char* want : {"NotFound", "ResourceNotFoundException", "table 'region_rows'",
                           "region eu-west-1", "check the table name and the region"}) {
    EXPECT_NE(st->last_error.find(want), std::string::npos) << want << " in " << st->last_error;
  }
  std::printf("wrong region: %s\n", st->last_error.c_str());
  west.reset();  // gives nothing back: its leases die with the store's memory of them
  store.reset();
  store = OpenStore(dir.File("relay.db"));
  auto east = make("us-east-1");
  Drain(east.get(), store.get());
  auto got = fx.ReadBack(kT0 / kSec, kT0 / kSec + 5);
  std::sort(all.begin(), all.end(), QLess);
  EXPECT_TRUE(got["w"] == all) << got["w"].size() << " samples";
}

// Seconds older than the uploaded-retention horizon (here: the real clock,
// data from 2023) always take the merge path, which also works for new items.
TEST_P(UploaderTest, OldRecordingTakesThePlainPathAndPrunedSecondsMerge) {
  Fixture fx(Endpoint(), Table("old"));
  ScratchDir dir;
  // A recording from a year before "now" (a developer replaying a capture).
  test::OffsetClock* clock = ClockAt(kT0 + 365 * 24 * 3600 * kSec);
  auto store = OpenStore(dir.File("relay.db"), clock);
  auto all = Walk(kT0 + kSec / 3, 150, 20000000, 9);  // seconds 0..3
  std::vector<QSample> first(all.begin(), all.begin() + 100), late(all.begin() + 100, all.end());
  ASSERT_TRUE(store->Ingest("w", 1, MakeBatch("w", 1, first)).ok());
  auto up = fx.MakeUploader(store.get(), 2);
  UploadStats s = Drain(up.get(), store.get());
  EXPECT_EQ(s.merges, 0);
  EXPECT_EQ(s.rows_acked, 3);
  // Eight days on the upload records are pruned (watermark: second 2); late
  // samples for the uploaded second 2 merge, those of the new second 3 (above
  // the watermark) go plain, and the table ends exact.
  clock->set_offset_ns(clock->NowUnixNanos() - Clock::Real()->NowUnixNanos() +
                       8 * 24 * 3600 * kSec);
  ASSERT_TRUE(store->PruneUploaded().ok());
  ASSERT_TRUE(store->Ingest("w", 2, MakeBatch("w", 2, late)).ok());
  s = Drain(up.get(), store.get());
  EXPECT_EQ(s.merges, 1);
  EXPECT_EQ(s.rows_acked, 2);
  auto got = fx.ReadBack(kT0 / kSec, kT0 / kSec + 4);
  std::sort(all.begin(), all.end(), QLess);
  EXPECT_TRUE(got["w"] == all);
}

INSTANTIATE_TEST_SUITE_P(Servers, UploaderTest, ::testing::Values("dynalite", "moto"));

// Uploads 3 devices x 120 s (batches of 70 samples, 10 rows per request,
// 3 in flight) through the fault proxy, then late batches for seconds already
// uploaded (merge path through the same faults); the table must end exact.
UploadStats RunThroughFaults(const std::string& server, const std::string& faults, double rate,
                             const std::string& table, std::vector<nlohmann::json>* log) {
  const uint64_t seed = test::TestSeed(6006);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::printf("%s: seed %llu, faults '%s' at %.0f%%\n", server.c_str(), (unsigned long long)seed,
              faults.c_str(), rate * 100);
  ScratchDir dir;
  accel::testing::FaultProxyOptions po;
  po.seed = seed;
  po.rate = rate;
  po.faults = faults;
  po.slow_ms = 50;
  po.log_file = dir.File("proxy.jsonl");
  // moto runs with signature checking off here: `partial` rewrites bodies.
  auto proxy = LocalServer::StartFaultProxy(Servers::Get(server)->endpoint(), po);
  EXPECT_TRUE(proxy.ok()) << proxy.status().ToString();
  if (!proxy.ok()) return {};
  Fixture admin(Servers::Get(server)->endpoint(), table);
  Fixture fx((*proxy)->endpoint(), table, /*create=*/false);
  auto store = OpenStore(dir.File("relay.db"));
  std::map<std::string, std::vector<QSample>> want;
  for (int d = 0; d < 3; ++d) {
    std::string dev = "dev-" + std::to_string(d);
    auto all = Walk(kT0 + d * 7 * 1000000, 6000, 20000000, uint32_t(d + 1));
    for (size_t i = 0, seq = 1; i < all.size(); i += 70, ++seq) {
      std::vector<QSample> part(all.begin() + i, all.begin() + std::min(all.size(), i + 70));
      EXPECT_TRUE(store->Ingest(dev, seq, MakeBatch(dev, seq, part)).ok());
    }
    want[dev] = all;
  }
  auto up = fx.MakeUploader(store.get(), 3, nullptr, 10);
  UploadStats s = Drain(up.get(), store.get(), 20000);
  for (int d = 0; d < 3; ++d) {
    std::string dev = "dev-" + std::to_string(d);
    auto late = Walk(kT0 + 5 * kSec + 3 + d, 40, 25000000, uint32_t(100 + d));
    EXPECT_TRUE(store->Ingest(dev, 1000, MakeBatch(dev, 1000, late)).ok());
    want[dev].insert(want[dev].end(), late.begin(), late.end());
  }
  s.Add(Drain(up.get(), store.get(), 20000));
  auto st = store->GetStatus();
  EXPECT_TRUE(st.ok());
  if (st.ok()) {
    EXPECT_EQ(st->pending_rows, 0);
  }
  auto got = admin.ReadBack(kT0 / kSec, kT0 / kSec + 130);
  for (auto& [dev, samples] : want) {
    std::sort(samples.begin(), samples.end(), QLess);
    EXPECT_EQ(got[dev].size(), samples.size()) << dev;
    EXPECT_TRUE(got[dev] == samples) << dev;
  }
  *log = test::ReadJsonLines(po.log_file);
  std::printf(
      "requests %lld (proxy saw %zu), unprocessed %lld, failed %lld, merges %lld, "
      "conflicts %lld\n",
      (long long)s.requests, log->size(), (long long)s.rows_unprocessed, (long long)s.rows_failed,
      (long long)s.merges, (long long)s.merge_conflicts);
  // No hot loop: 363 rows need ~45 calls; retries stay within a small multiple.
  EXPECT_LT(log->size(), 400u);
  return s;
}

size_t CountFaults(const std::vector<nlohmann::json>& log, const std::string& kind) {
  size_t n = 0;
  for (const auto& l : log)
    if (kind.empty() ? l.value("fault", "none") != "none" : l.value("fault", "") == kind) ++n;
  return n;
}

class UploaderFaultTest : public ::testing::TestWithParam<std::string> {};

// Every fault kind (5xx, throttling, resets before and after the write, slow
// answers, partial UnprocessedItems) at 30% of requests.
TEST_P(UploaderFaultTest, ThirtyPercentFaultsStillExact) {
  std::vector<nlohmann::json> log;
  RunThroughFaults(GetParam(), "", 0.3, "faults_all_" + GetParam(), &log);
  EXPECT_GT(CountFaults(log, ""), 0u);
}

// Partial success of BatchWriteItem: only the UnprocessedItems go again, each
// acknowledged row is deleted once (no whole-batch retry, no duplicates).
TEST_P(UploaderFaultTest, UnprocessedItemsAreResentAlone) {
  std::vector<nlohmann::json> log;
  UploadStats s =
      RunThroughFaults(GetParam(), "partial", 0.5, "faults_partial_" + GetParam(), &log);
  size_t partial = CountFaults(log, "partial");
  EXPECT_GT(partial, 0u);
  EXPECT_GE(s.rows_unprocessed, int64_t(partial));
}

INSTANTIATE_TEST_SUITE_P(Servers, UploaderFaultTest, ::testing::Values("dynalite", "moto"));

// Kill -9 the relay (store + uploader in a child process) at seeded random
// moments while it ingests and uploads, including late batches for seconds
// already uploaded; restart it each time. The final table holds every sample
// of every batch exactly once.
class UploaderCrashTest : public ::testing::TestWithParam<std::string> {};

TEST_P(UploaderCrashTest, SigkillDuringUploadKeepsTheTableExact) {
  const uint64_t seed = test::TestSeed(0xdead06);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::printf("%s: seed %llu (set ACCEL_TEST_SEED to repeat)\n", GetParam().c_str(),
              (unsigned long long)seed);
  std::mt19937_64 rng(seed);
  ScratchDir dir;
  const std::string db = dir.File("relay.db");
  const std::string endpoint = Servers::Get(GetParam())->endpoint();
  const std::string table = "crash_upload_" + GetParam();
  { Fixture create(endpoint, table); }
  // Batch k of device d: 60 samples at 20 ms; every 4th batch is "late": its
  // samples fall into seconds an earlier batch already covered.
  const int kDevices = 2, kBatches = 200;
  auto batch_samples = [](int d, int k) {
    int64_t start = (k % 4 == 3) ? (k - 3) * 60 * 20000000LL + 7000000 : k * 60 * 20000000LL;
    return Walk(kT0 + start + d * 3000000, 60, 20000000, uint32_t(d * 1000 + k));
  };
  const int64_t clock_at = kT0 + 600 * kSec;
  // The child reports its progress on a pipe (a byte after every ingest and
  // every upload round), so the parent can place each kill inside the work
  // whatever the speed of the machine: after a random number of steps plus a
  // random delay of up to 4 ms into the next one.
  int progress_fd = -1;
  auto step = [&]() {
    if (progress_fd >= 0) (void)!write(progress_fd, "s", 1);
  };
  auto child = [&]() {
    auto store = OpenStore(db, ClockAt(clock_at));
    if (!store) _exit(3);
    Fixture fx(endpoint, table, /*create=*/false);
    auto up = fx.MakeUploader(store.get(), 2, nullptr, 10);
    // Like the watch: resume at the first batch not acknowledged (known from
    // the ledger), re-sending the one before it.
    int first = 0;
    {
      sqlite3* raw = nullptr;
      sqlite3_stmt* q = nullptr;
      if (sqlite3_open_v2(db.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK &&
          sqlite3_prepare_v2(raw,
                             "SELECT MIN(m) FROM (SELECT device, MAX(seq) AS m FROM batches "
                             "GROUP BY device)",
                             -1, &q, nullptr) == SQLITE_OK &&
          sqlite3_step(q) == SQLITE_ROW)
        first = std::max(0, sqlite3_column_int(q, 0) - 1);
      sqlite3_finalize(q);
      sqlite3_close(raw);
    }
    for (int k = first; k < kBatches; ++k) {
      for (int d = 0; d < kDevices; ++d) {
        std::string dev = "dev-" + std::to_string(d);
        auto r = store->Ingest(dev, uint64_t(k + 1),
                               MakeBatch(dev, uint64_t(k + 1), batch_samples(d, k)));
        if (!r.ok()) _exit(4);
        step();
      }
      up->RunOnce(true);
      step();
    }
    Drain(up.get(), store.get(), 100000);
    auto st = store->GetStatus();
    _exit(st.ok() && st->pending_rows == 0 ? 0 : 5);
  };
  int kills = 0, rounds = 0;
  while (kills < 50 && rounds < 400) {
    ++rounds;
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      progress_fd = fds[1];
      child();
    }
    close(fds[1]);
    // Steps 0..14 (two per batch pair; a restart re-sends one pair): 0 kills it during
    // start-up, and 50 kills walk through most of the 200 batch pairs.
    const int steps = std::uniform_int_distribution<int>(0, 14)(rng);
    char b;
    int seen = 0;
    while (seen < steps && read(fds[0], &b, 1) == 1) ++seen;
    usleep(useconds_t(std::uniform_int_distribution<int>(0, 4000)(rng)));
    kill(pid, SIGKILL);
    close(fds[0]);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status)) {
      ++kills;
    } else {
      // Finished before the kill: later rounds re-run duplicate ingests.
      ASSERT_EQ(WEXITSTATUS(status), 0) << "child failed";
    }
  }
  EXPECT_GE(kills, 50);
  {
    // The kills landed in the middle of the work, not before it started.
    auto store = OpenStore(db, ClockAt(clock_at));
    ASSERT_NE(store, nullptr);
    auto st = store->GetStatus();
    ASSERT_TRUE(st.ok());
    std::printf("before the last run: %lld batches committed, %lld rows uploaded, %lld pending\n",
                (long long)st->batches_committed, (long long)st->rows_uploaded,
                (long long)st->pending_rows);
    EXPECT_GT(st->rows_uploaded, 0);
    // ... and through a good part of it (2 devices x 200 batches in all).
    EXPECT_GE(st->batches_committed, 150);
  }
  // A last run without a kill finishes the work.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) child();
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  std::printf("%d kills in %d rounds\n", kills, rounds);
  Fixture fx(endpoint, table, /*create=*/false);
  auto got = fx.ReadBack(kT0 / kSec, kT0 / kSec + 300);
  for (int d = 0; d < kDevices; ++d) {
    std::vector<QSample> want;
    for (int k = 0; k < kBatches; ++k) {
      auto s = batch_samples(d, k);
      want.insert(want.end(), s.begin(), s.end());
    }
    std::sort(want.begin(), want.end(), QLess);
    std::string dev = "dev-" + std::to_string(d);
    EXPECT_EQ(got[dev].size(), want.size()) << dev;
    EXPECT_TRUE(got[dev] == want) << dev;
  }
}

INSTANTIATE_TEST_SUITE_P(Servers, UploaderCrashTest, ::testing::Values("dynalite", "moto"));

}  // namespace
}  // namespace relay
}  // namespace accel
