// Uploader: moves complete per-second rows from the RelayStore to DynamoDB.
//
//  - Plain rows go out in BatchWriteItem requests of <= 25 items, several
//    requests in flight (one DynamoDbCaller per in-flight slot, each with its
//    own connection). Each item the response does not list in
//    UnprocessedItems is acknowledged and only then deleted from SQLite
//    (RelayStore::AckUploaded, invariant 3). UnprocessedItems stay leased and
//    go out again after an exponential backoff with full jitter.
//  - A ValidationException on a request is isolated by splitting the request
//    until the single bad row is found; that row is quarantined with the
//    server's message (rejected_rows) instead of looping (invariant 5).
//  - Rows whose second was uploaded before (late samples) take the merge
//    path: consistent GetItem, union with the samples of the batches the item
//    does not hold yet, PutItem conditional on the item's version `v`,
//    re-read and retry on a conditional failure (invariant 4).
//
// The request bodies are built with string appends (dynamodb_row.h).
#ifndef ACCEL_PHONE_RELAY_UPLOADER_H_
#define ACCEL_PHONE_RELAY_UPLOADER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "phone-relay/relay_store.h"

namespace accel {
namespace relay {

// The raw DynamoDB call the uploader needs: POST `body` as
// "DynamoDB_20120810.<target>", signed, with the client's retries for
// throttling, 5xx and credential refresh. Returns the body of a 200, or the
// final error as a Status: InvalidArgument = the request is invalid
// (ValidationException), Aborted = ConditionalCheckFailed, NotFound = no such
// table (configuration), anything else = try again later.
// DynamoDbClient::Call has exactly this contract (see client_caller.h).
class DynamoDbCaller {
 public:
  virtual ~DynamoDbCaller() = default;
  virtual Result<std::string> Call(const std::string& target, std::string body) = 0;
};

struct UploaderOptions {
  std::string table;
  // The partition key of every row: the identity id (from the credentials
  // provider; asked before every pass, since a Cognito merge may change it).
  std::function<std::string()> identity_id;
  size_t rows_per_request = 25;  // BatchWriteItem allows at most 25
  // Backoff for rows that came back unprocessed or failed transiently:
  // uniform in [0, min(max, base * 2^attempt)] (full jitter).
  int64_t backoff_base_ms = 50;
  int64_t backoff_max_ms = 20000;
  int max_merge_attempts = 10;  // conditional-write conflicts before giving the row back
  // The Run() loop's nap when there is nothing to send.
  int64_t idle_wait_ms = 250;
  uint64_t seed = 0;       // backoff jitter; 0 = from the clock
  Clock* clock = nullptr;  // nullptr: Clock::Real()
};

// What one pass did (also accumulated in totals()).
struct UploadStats {
  int64_t requests = 0;          // BatchWriteItem / GetItem / PutItem calls
  int64_t rows_acked = 0;        // rows DynamoDB acknowledged (deleted or marked partly)
  int64_t rows_unprocessed = 0;  // came back in UnprocessedItems (re-queued)
  int64_t rows_failed = 0;       // upload failed (re-queued; also counted in the store)
  int64_t rows_quarantined = 0;  // validation errors (moved to rejected_rows)
  int64_t merges = 0;            // merge-path writes
  int64_t merge_conflicts = 0;   // conditional failures (re-read and retried)
  int64_t splits = 0;            // requests split to isolate a validation error
  std::string last_error;
  void Add(const UploadStats& o);
};

class Uploader {
 public:
  // `callers`: one per request in flight; each is used by one thread at a time.
  Uploader(RelayStore* store, std::vector<std::unique_ptr<DynamoDbCaller>> callers,
           UploaderOptions options);
  ~Uploader();

  // One pass: takes the due retries and leases complete rows (all pending rows
  // with `include_incomplete`), uploads them with up to callers.size()
  // requests in flight and acknowledges what DynamoDB acknowledged. Returns
  // when every row of the pass is acknowledged, quarantined or re-queued.
  UploadStats RunOnce(bool include_incomplete = false);

  // Loops RunOnce until Stop(); naps when idle or backing off. Wake() cuts a
  // nap short (e.g. after the link committed a batch).
  void Run();
  void Wake();
  void Stop();

  // Rows waiting for their backoff to expire (still leased).
  size_t retry_queue_size();
  UploadStats totals();

 private:
  struct Retry {
    PendingRow row;
    int attempt = 0;
    int64_t not_before_ns = 0;
  };
  using Group = std::vector<PendingRow>;

  void UploadGroup(DynamoDbCaller* caller, Group group, std::vector<int>* attempts,
                   UploadStats* stats);
  void MergeRow(DynamoDbCaller* caller, const PendingRow& row, int attempt, UploadStats* stats);
  void Requeue(const PendingRow& row, int attempt);
  void NoteFailure(int64_t rows, const std::string& error, UploadStats* stats);
  int64_t BackoffNs(int attempt);

  RelayStore* store_;
  std::vector<std::unique_ptr<DynamoDbCaller>> callers_;
  UploaderOptions options_;
  Clock* clock_;
  std::string pass_identity_;  // set by RunOnce before its threads start

  std::mutex mu_;  // guards retry_, rng_, totals_, stop_
  std::condition_variable cv_;
  std::vector<Retry> retry_;
  std::mt19937_64 rng_;
  UploadStats totals_;
  bool stop_ = false;
  bool woken_ = false;
};

}  // namespace relay
}  // namespace accel

#endif  // ACCEL_PHONE_RELAY_UPLOADER_H_
