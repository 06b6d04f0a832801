#include "phone-relay/uploader.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <thread>

#include "common/log.h"
#include "phone-relay/dynamodb_row.h"
#include "phone-relay/second_rows.h"

namespace accel {
namespace relay {

void UploadStats::Add(const UploadStats& o) {
  requests += o.requests;
  rows_acked += o.rows_acked;
  rows_unprocessed += o.rows_unprocessed;
  rows_failed += o.rows_failed;
  rows_quarantined += o.rows_quarantined;
  merges += o.merges;
  merge_conflicts += o.merge_conflicts;
  splits += o.splits;
  if (!o.last_error.empty()) last_error = o.last_error;
}

namespace {

RowItem ItemOf(const PendingRow& row, const std::string& identity) {
  RowItem item;
  item.identity_id = identity;
  item.device_id = row.device_id;
  item.second = row.second;
  item.count = row.count;
  item.block = row.block;
  item.resolution_g = row.resolution_g;
  item.seqs = &row.seqs;
  item.version = 1;
  return item;
}

// A number attribute {"N":"..."} as int64 / uint64 / double.
template <typename T>
Status NumberAttr(const nlohmann::json& item, const char* name, T* out) {
  auto it = item.find(name);
  if (it == item.end() || !it->is_object() || !it->contains("N") || !(*it)["N"].is_string())
    return Status::Corruption(std::string("attribute '") + name + "' missing or not a number");
  const std::string& text = (*it)["N"].get_ref<const std::string&>();
  try {
    size_t used = 0;
    if constexpr (std::is_same_v<T, double>)
      *out = std::stod(text, &used);
    else if constexpr (std::is_same_v<T, uint64_t>)
      *out = std::stoull(text, &used);
    else
      *out = static_cast<T>(std::stoll(text, &used));
    if (used != text.size()) throw std::invalid_argument(text);
  } catch (const std::exception&) {
    return Status::Corruption(std::string("attribute '") + name + "': bad number '" + text + "'");
  }
  return Status::OK();
}

// The parts of a stored item the merge path needs.
struct StoredItem {
  std::vector<uint64_t> seqs;
  std::vector<QSample> samples;
  double resolution_g = 0;
  int64_t version = -1;  // -1: no `v` attribute
};

Status ParseStoredItem(const nlohmann::json& item, int64_t second, StoredItem* out) {
  auto b = item.find("b");
  if (b == item.end() || !b->is_object() || !b->contains("NS") || !(*b)["NS"].is_array())
    return Status::Corruption("attribute 'b' missing or not a number set");
  for (const auto& v : (*b)["NS"]) {
    if (!v.is_string()) return Status::Corruption("attribute 'b': non-string member");
    try {
      out->seqs.push_back(std::stoull(v.get<std::string>()));
    } catch (const std::exception&) {
      return Status::Corruption("attribute 'b': bad number '" + v.get<std::string>() + "'");
    }
  }
  auto s = item.find("s");
  if (s == item.end() || !s->is_object() || !s->contains("B") || !(*s)["B"].is_string())
    return Status::Corruption("attribute 's' missing or not binary");
  std::string raw;
  ACCEL_RETURN_IF_ERROR(
      DecodeBase64((*s)["B"].get<std::string>(), &raw).WithContext("attribute 's'"));
  ACCEL_RETURN_IF_ERROR(NumberAttr(item, "r", &out->resolution_g));
  ACCEL_RETURN_IF_ERROR(DecodeSecondBlock(second, out->resolution_g, raw, &out->samples)
                            .WithContext("attribute 's'"));
  uint64_t n = 0;
  ACCEL_RETURN_IF_ERROR(NumberAttr(item, "n", &n));
  if (n != out->samples.size())
    return Status::Corruption("attribute 'n' is " + std::to_string(n) + " but 's' holds " +
                              std::to_string(out->samples.size()) + " samples");
  if (item.contains("v")) ACCEL_RETURN_IF_ERROR(NumberAttr(item, "v", &out->version));
  return Status::OK();
}

}  // namespace

Uploader::Uploader(RelayStore* store, std::vector<std::unique_ptr<DynamoDbCaller>> callers,
                   UploaderOptions options)
    : store_(store), callers_(std::move(callers)), options_(std::move(options)) {
  clock_ = options_.clock != nullptr ? options_.clock : Clock::Real();
  if (callers_.empty()) throw std::invalid_argument("Uploader needs at least one caller");
  options_.rows_per_request =
      std::max<size_t>(1, std::min(options_.rows_per_request, kMaxBatchWriteItems));
  rng_.seed(options_.seed != 0 ? options_.seed : uint64_t(clock_->MonotonicNanos()));
}

Uploader::~Uploader() { Stop(); }

int64_t Uploader::BackoffNs(int attempt) {
  // Full jitter: uniform in [0, min(max, base * 2^attempt)]; no hot loop even
  // when many rows come back together, no synchronised retries.
  int64_t cap = options_.backoff_base_ms << std::min(attempt, 20);
  cap = std::min(cap, options_.backoff_max_ms);
  std::lock_guard<std::mutex> lock(mu_);
  return std::uniform_int_distribution<int64_t>(0, std::max<int64_t>(cap, 1))(rng_) * 1000000;
}

void Uploader::Requeue(const PendingRow& row, int attempt) {
  // The row stays leased in the store (so no other pass sends it) and goes
  // out again when its backoff expires.
  int64_t when = clock_->MonotonicNanos() + BackoffNs(attempt);
  std::lock_guard<std::mutex> lock(mu_);
  retry_.push_back(Retry{row, attempt, when});
}

void Uploader::NoteFailure(int64_t rows, const std::string& error, UploadStats* stats) {
  // One store write per failed request, not per row: the counter and the
  // last error persist for `status` (also after a restart).
  stats->rows_failed += rows;
  stats->last_error = error;
  store_->NoteUploadFailure(rows, error);
}

void Uploader::UploadGroup(DynamoDbCaller* caller, Group group, std::vector<int>* attempts,
                           UploadStats* stats) {
  const std::string& identity = pass_identity_;
  BatchWriteBody body(options_.table);
  for (const PendingRow& row : group) body.Add(ItemOf(row, identity));
  ++stats->requests;
  Result<std::string> r = caller->Call("BatchWriteItem", body.Finish());
  if (!r.ok()) {
    const Status& st = r.status();
    if (st.IsInvalidArgument()) {
      if (group.size() > 1) {
        // Isolate the bad row: halve until a single row carries the error.
        ++stats->splits;
        size_t half = group.size() / 2;
        Group a(group.begin(), group.begin() + half), b(group.begin() + half, group.end());
        std::vector<int> aa(attempts->begin(), attempts->begin() + half),
            bb(attempts->begin() + half, attempts->end());
        UploadGroup(caller, std::move(a), &aa, stats);
        UploadGroup(caller, std::move(b), &bb, stats);
        return;
      }
      // The server's verdict on this very row: set aside, never retried in a loop.
      Status q = store_->QuarantineRow(group[0], st.ToString());
      if (!q.ok()) {
        Requeue(group[0], (*attempts)[0] + 1);
        NoteFailure(1, q.ToString(), stats);
      } else {
        ++stats->rows_quarantined;
      }
      LogWarn("row (" + group[0].device_id + ", " + std::to_string(group[0].second) +
              ") rejected by DynamoDB: " + st.ToString());
      return;
    }
    // Throttled beyond the client's retries, network, credentials, missing
    // table: nothing is known to be written; all rows wait and go again.
    for (size_t i = 0; i < group.size(); ++i) Requeue(group[i], (*attempts)[i] + 1);
    NoteFailure(int64_t(group.size()), st.ToString(), stats);
    return;
  }
  // Success: every item not in UnprocessedItems was written. Items are
  // matched by (device, second, slot) parsed from the echoed key, never by
  // text: DynamoDB may echo numbers normalised. An entry that matches no row
  // of the request acknowledges nothing (all rows go again; idempotent).
  std::set<std::pair<std::string, int64_t>> unprocessed;  // (device, second)
  bool unmatched = false;
  try {
    auto j = nlohmann::json::parse(*r);
    auto u = j.find("UnprocessedItems");
    if (u != j.end() && u->is_object()) {
      for (const auto& [table, reqs] : u->items()) {
        if (!reqs.is_array()) continue;
        for (const auto& req : reqs) {
          const auto& item = req.at("PutRequest").at("Item");
          std::string dev = item.at("d").at("S").get<std::string>();
          int64_t second = 0;
          uint32_t slot = 0;
          if (!ParseSortKey(item.at("t").at("N").get<std::string>(), &second, &slot).ok() ||
              slot != DeviceSlot(dev)) {
            unmatched = true;
            continue;
          }
          unprocessed.insert({dev, second});
        }
      }
    }
  } catch (const std::exception& e) {
    // An answer we cannot read acknowledges nothing: all rows go again
    // (writes are idempotent).
    std::string err = std::string("BatchWriteItem: unreadable response: ") + e.what();
    for (size_t i = 0; i < group.size(); ++i) Requeue(group[i], (*attempts)[i] + 1);
    NoteFailure(int64_t(group.size()), err, stats);
    return;
  }
  size_t matched = 0;
  for (const PendingRow& row : group) matched += unprocessed.count({row.device_id, row.second});
  if (unmatched || matched != unprocessed.size()) {
    std::string err = "BatchWriteItem: UnprocessedItems names an item that was not sent";
    for (size_t i = 0; i < group.size(); ++i) Requeue(group[i], (*attempts)[i] + 1);
    NoteFailure(int64_t(group.size()), err, stats);
    return;
  }
  std::vector<RelayStore::Ack> acks;
  for (size_t i = 0; i < group.size(); ++i) {
    const PendingRow& row = group[i];
    if (unprocessed.count({row.device_id, row.second})) {
      ++stats->rows_unprocessed;
      Requeue(row, (*attempts)[i] + 1);
      continue;
    }
    acks.push_back(RelayStore::Ack{&row, &row.seqs, row.count});
  }
  Status a = store_->AckUploadedMany(acks);
  if (!a.ok()) {
    // DynamoDB holds the rows but SQLite could not record it: they stay
    // pending and are sent again (same content: idempotent).
    NoteFailure(int64_t(acks.size()), a.ToString(), stats);
    return;
  }
  stats->rows_acked += int64_t(acks.size());
}

void Uploader::MergeRow(DynamoDbCaller* caller, const PendingRow& row, int attempt,
                        UploadStats* stats) {
  const std::string& identity = pass_identity_;
  const std::string where = "row (" + row.device_id + ", " + std::to_string(row.second) + ")";
  auto quarantine = [&](const std::string& msg) {
    Status q = store_->QuarantineRow(row, msg);
    if (!q.ok()) {
      Requeue(row, attempt + 1);
      NoteFailure(1, q.ToString(), stats);
    } else {
      ++stats->rows_quarantined;
    }
    LogWarn(where + " quarantined: " + msg);
  };
  for (int i = 0; i < options_.max_merge_attempts; ++i) {
    ++stats->requests;
    auto got =
        caller->Call("GetItem", GetItemBody(options_.table, identity, row.device_id, row.second));
    if (!got.ok()) {
      Requeue(row, attempt + 1);
      NoteFailure(1, got.status().ToString(), stats);
      return;
    }
    StoredItem stored;
    bool exists = false;
    try {
      auto j = nlohmann::json::parse(*got);
      auto it = j.find("Item");
      if (it != j.end() && it->is_object()) {
        exists = true;
        Status st = ParseStoredItem(*it, row.second, &stored);
        if (!st.ok()) return quarantine("stored item cannot be merged: " + st.message());
      }
    } catch (const std::exception& e) {
      Requeue(row, attempt + 1);
      NoteFailure(1, std::string("GetItem: unreadable response: ") + e.what(), stats);
      return;
    }
    std::vector<uint64_t> seqs;
    std::string block;
    uint32_t count = 0;
    int64_t expected_version = -1;
    if (!exists) {
      seqs = row.seqs;
      block = row.block;
      count = row.count;
    } else {
      std::set<uint64_t> have(stored.seqs.begin(), stored.seqs.end());
      std::set<uint32_t> missing_idx;
      for (uint32_t k = 0; k < row.seqs.size(); ++k)
        if (!have.count(row.seqs[k])) missing_idx.insert(k);
      if (missing_idx.empty()) {
        // Every contributing batch is in the item already (e.g. re-sent after a
        // crash): nothing to write, only the local bookkeeping.
        Status a = store_->AckUploaded(row, stored.seqs, uint32_t(stored.samples.size()));
        if (a.ok())
          ++stats->rows_acked;
        else
          NoteFailure(1, a.ToString(), stats);
        return;
      }
      if (stored.resolution_g != row.resolution_g)
        return quarantine("resolution " + ExactDecimal(row.resolution_g) +
                          " g differs from the stored item's " + ExactDecimal(stored.resolution_g) +
                          " g");
      std::vector<QSample> mine;
      std::vector<uint32_t> origin;
      Status st = DecodeSecondBlock(row.second, row.resolution_g, row.block, &mine);
      if (st.ok()) st = DecodeOrigin(row.origin, mine.size(), &origin);
      if (!st.ok()) return quarantine("pending row unreadable: " + st.ToString());
      // Exactly the samples of the batches the item does not hold yet.
      std::vector<QSample> add;
      for (size_t k = 0; k < mine.size(); ++k)
        if (missing_idx.count(origin[k])) add.push_back(mine[k]);
      SecondSamples merged;
      merged.samples = std::move(stored.samples);
      merged.origin.assign(merged.samples.size(), 0);
      MergeSamples(add, 1, &merged);
      st = EncodeSecondBlock(row.second, row.resolution_g, merged.samples, &block);
      if (!st.ok()) return quarantine("merged second cannot be encoded: " + st.ToString());
      seqs = stored.seqs;
      for (uint32_t k : missing_idx) seqs.push_back(row.seqs[k]);
      count = uint32_t(merged.samples.size());
      expected_version = stored.version;
    }
    RowItem item = ItemOf(row, identity);
    item.block = block;
    item.count = count;
    item.seqs = &seqs;
    item.version = expected_version < 0 ? 1 : expected_version + 1;
    ++stats->requests;
    auto put = caller->Call("PutItem", ConditionalPutBody(options_.table, item, expected_version));
    if (put.ok()) {
      ++stats->merges;
      Status a = store_->AckUploaded(row, seqs, count);
      if (a.ok())
        ++stats->rows_acked;
      else
        NoteFailure(1, a.ToString(), stats);
      return;
    }
    if (put.status().IsAborted()) {
      // Someone (or our own earlier attempt) changed the item: read it again.
      ++stats->merge_conflicts;
      continue;
    }
    if (put.status().IsInvalidArgument()) return quarantine(put.status().ToString());
    Requeue(row, attempt + 1);
    NoteFailure(1, put.status().ToString(), stats);
    return;
  }
  Requeue(row, attempt + 1);
  NoteFailure(1, where + ": too many conditional-write conflicts", stats);
}

UploadStats Uploader::RunOnce(bool include_incomplete) {
  UploadStats stats;
  const int64_t now = clock_->MonotonicNanos();
  const size_t capacity = callers_.size() * options_.rows_per_request * 4;
  std::vector<std::pair<PendingRow, int>> work;
  {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Retry> later;
    for (Retry& r : retry_) {
      if (r.not_before_ns <= now && work.size() < capacity)
        work.emplace_back(std::move(r.row), r.attempt);
      else
        later.push_back(std::move(r));
    }
    retry_ = std::move(later);
  }
  if (work.size() < capacity) {
    std::vector<PendingRow> fresh;
    Status st = store_->LeaseRows(capacity - work.size(), &fresh, include_incomplete);
    if (!st.ok()) {
      stats.last_error = st.ToString();
      store_->NoteError(stats.last_error);
    }
    for (PendingRow& r : fresh) work.emplace_back(std::move(r), 0);
  }
  if (work.empty()) return stats;
  // Asked once per pass: a Cognito identity merge may change it between passes.
  pass_identity_ = options_.identity_id ? options_.identity_id() : "";
  if (pass_identity_.empty()) {
    // No partition key (credentials not there yet): keep every row.
    for (auto& [row, attempt] : work) Requeue(row, attempt + 1);
    stats.last_error = "no identity id yet (credentials not available)";
    store_->NoteError(stats.last_error);
    std::lock_guard<std::mutex> lock(mu_);
    totals_.Add(stats);
    return stats;
  }

  // Jobs: groups of plain rows, and merge rows one by one.
  struct Job {
    bool merge = false;
    Group rows;
    std::vector<int> attempts;
  };
  std::vector<Job> jobs;
  Job current;
  for (auto& [row, attempt] : work) {
    if (row.needs_merge) {
      Job j;
      j.merge = true;
      j.rows.push_back(std::move(row));
      j.attempts.push_back(attempt);
      jobs.push_back(std::move(j));
      continue;
    }
    current.rows.push_back(std::move(row));
    current.attempts.push_back(attempt);
    if (current.rows.size() == options_.rows_per_request) {
      jobs.push_back(std::move(current));
      current = Job();
    }
  }
  if (!current.rows.empty()) jobs.push_back(std::move(current));

  // Up to callers_.size() requests in flight, one thread per caller.
  std::atomic<size_t> next{0};
  std::vector<UploadStats> per(callers_.size());
  auto worker = [&](size_t w) {
    for (size_t i; (i = next.fetch_add(1)) < jobs.size();) {
      Job& j = jobs[i];
      if (j.merge)
        MergeRow(callers_[w].get(), j.rows[0], j.attempts[0], &per[w]);
      else
        UploadGroup(callers_[w].get(), std::move(j.rows), &j.attempts, &per[w]);
    }
  };
  size_t nthreads = std::min(callers_.size(), jobs.size());
  std::vector<std::thread> threads;
  for (size_t w = 1; w < nthreads; ++w) threads.emplace_back(worker, w);
  worker(0);
  for (auto& t : threads) t.join();
  for (const UploadStats& s : per) stats.Add(s);
  std::lock_guard<std::mutex> lock(mu_);
  totals_.Add(stats);
  return stats;
}

void Uploader::Run() {
  int64_t last_prune = clock_->MonotonicNanos();
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
    }
    UploadStats s = RunOnce();
    const int64_t now = clock_->MonotonicNanos();
    if (now - last_prune > 3600 * int64_t{1000000000}) {
      Status p = store_->PruneUploaded();
      if (!p.ok()) store_->NoteError(p.ToString());
      last_prune = now;
    }
    if (s.rows_acked > 0 || s.rows_quarantined > 0) continue;  // more may be ready
    // Nothing moved: nap until woken, the next retry is due, or idle_wait.
    std::unique_lock<std::mutex> lock(mu_);
    int64_t wait_ns = options_.idle_wait_ms * 1000000;
    for (const Retry& r : retry_)
      wait_ns = std::min(wait_ns, std::max<int64_t>(0, r.not_before_ns - now));
    cv_.wait_for(lock, std::chrono::nanoseconds(wait_ns), [&] { return stop_ || woken_; });
    woken_ = false;
  }
}

void Uploader::Wake() {
  std::lock_guard<std::mutex> lock(mu_);
  woken_ = true;
  cv_.notify_all();
}

void Uploader::Stop() {
  std::lock_guard<std::mutex> lock(mu_);
  stop_ = true;
  cv_.notify_all();
}

size_t Uploader::retry_queue_size() {
  std::lock_guard<std::mutex> lock(mu_);
  return retry_.size();
}

UploadStats Uploader::totals() {
  std::lock_guard<std::mutex> lock(mu_);
  return totals_;
}

}  // namespace relay
}  // namespace accel
