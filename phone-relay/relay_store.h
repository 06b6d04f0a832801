// RelayStore: the phone relay's durable buffer, one SQLite database.
//
// It holds every batch the link delivered until DynamoDB has acknowledged the
// per-second rows built from it:
//   batches        dedupe ledger: (device, seq) -> CRC-32C of the batch file
//   quarantine     batches that were rejected: reason, raw bytes, time
//   devices        newest sample time per device (the completion rule)
//   pending        one row per (device, second): the sample block, resolution,
//                  count, contributing seqs, a per-row version counter, and a
//                  flag set once DynamoDB may hold an item for the second (the
//                  row was partly uploaded, or its second has an upload record)
//   uploaded       (device, second) -> seqs and count DynamoDB acknowledged,
//                  kept for a retention horizon after the upload (late samples
//                  take the merge path)
//   pruned         per device, the largest second whose upload record was
//                  pruned: rows at or below it take the merge path
//   rejected_rows  rows DynamoDB refused with a validation error, with its message
//   counters       batches committed/duplicate, rows uploaded/failed, quarantines
//   meta           the last error (and when), the credential source, identity
//                  id and expiry the daemon last used: `phone-relay status`
//                  reads them while the daemon is down
//
// Thread-safe: one connection behind a mutex. The link server calls Ingest()
// from its threads while the uploader leases and acknowledges rows.
#ifndef ACCEL_PHONE_RELAY_RELAY_STORE_H_
#define ACCEL_PHONE_RELAY_RELAY_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/sample.h"
#include "common/status.h"

struct sqlite3;

namespace accel {
namespace relay {

struct RelayStoreOptions {
  std::string path;  // the database file; its directory must exist
  // Refuse new batches while the database uses more than this (invariant 6).
  uint64_t size_budget_bytes = uint64_t{1} << 30;
  // A second is complete after its row has not changed for this long, even
  // when no later sample of its device has arrived.
  int64_t flush_timeout_ns = 2 * int64_t{1000000000};
  // How long the record of an uploaded (device, second) is kept after its
  // upload; once pruned, a late sample for that second (or any older one of
  // the device) takes the merge path.
  int64_t uploaded_retention_ns = 7 * 24 * 3600 * int64_t{1000000000};
  int busy_timeout_ms = 10000;
  Clock* clock = nullptr;  // nullptr: Clock::Real()
};

// What happened to one offered batch. Mirrors link::Outcome.
enum class IngestOutcome { kCommitted, kDuplicate, kRejected, kRefusedFull };
const char* IngestOutcomeName(IngestOutcome o);

struct IngestResult {
  IngestOutcome outcome = IngestOutcome::kCommitted;
  std::string reason;  // for kRejected / kRefusedFull
  uint32_t samples = 0;
  uint32_t rows_touched = 0;
};

// One row ready to go to DynamoDB, as leased to the uploader.
struct PendingRow {
  std::string device_id;
  int64_t second = 0;
  double resolution_g = Resolution::kDefaultStepG;
  uint32_t count = 0;
  std::string block;           // the codec's sample block (base = second)
  std::string origin;          // per-sample index into `seqs` (see second_rows.h)
  std::vector<uint64_t> seqs;  // contributing batch seqs, in arrival order
  int64_t version = 0;         // per-row counter; the ack deletes only this version
  // True when the row must take the merge path (GetItem + conditional PutItem):
  // its second was uploaded before, the row was partly uploaded, or the second
  // is at or below the device's pruned watermark (its upload record may have
  // been pruned).
  bool needs_merge = false;
};

// The credentials the uploader signs with, as `status` shows them (never a
// secret). Recorded by the daemon (NoteCredentials) so the offline `status`
// can show them too.
struct CredentialState {
  std::string source;       // "static", "cognito", ...; empty: never recorded
  std::string identity_id;  // the partition key of the rows
  int64_t expiry_unix = 0;  // 0: does not expire; -1: unknown
  bool operator==(const CredentialState& o) const {
    return source == o.source && identity_id == o.identity_id && expiry_unix == o.expiry_unix;
  }
};

// A device whose rows are held because its sort-key slot collides with a
// device of a smaller id (docs/dynamodb-row.md).
struct HeldDevice {
  std::string device_id;
  uint32_t slot = 0;
  std::string slot_owner;  // the device that keeps the slot
};

// A snapshot for `status` and the metrics endpoint.
struct StoreStatus {
  int64_t pending_rows = 0;
  int64_t complete_rows = 0;
  int64_t leased_rows = 0;
  int64_t oldest_unsent_t_ns = -1;  // first sample of the oldest pending row; -1 if none
  uint64_t bytes_buffered = 0;      // database pages in use
  uint64_t size_budget_bytes = 0;
  bool refusing_full = false;
  int64_t batches_committed = 0;
  int64_t batches_duplicate = 0;
  int64_t rows_uploaded = 0;
  int64_t rows_failed = 0;  // rows whose upload attempt failed (kept, retried later)
  int64_t quarantined_batches = 0;
  int64_t quarantined_rows = 0;
  std::string last_error;          // persisted: survives restarts; "" if none yet
  int64_t last_error_unix_ns = 0;  // when it was noted; 0 if none
  CredentialState credentials;     // as last recorded
  std::vector<HeldDevice> held_devices;
};

class RelayStore {
 public:
  // Opens (creating and migrating as needed) the database at options.path.
  static Result<std::unique_ptr<RelayStore>> Open(const RelayStoreOptions& options);
  ~RelayStore();
  RelayStore(const RelayStore&) = delete;
  RelayStore& operator=(const RelayStore&) = delete;

  // Early refusal before the transfer of `size` bytes starts: kRefusedFull
  // when over budget, kDuplicate when (device, seq) is already stored,
  // otherwise kCommitted meaning "go ahead".
  Result<IngestResult> PreCheck(const std::string& device_id, uint64_t sequence, uint64_t size);

  // Stores one batch file in ONE transaction. Returns only after the commit is
  // durable. A non-OK Status (I/O error, disk full) means nothing was stored and
  // nothing may be acknowledged.
  Result<IngestResult> Ingest(const std::string& device_id, uint64_t sequence,
                              std::string_view bytes);

  // Leases up to `max_rows` complete rows, oldest second first, that are not
  // leased already. Leases live in memory only: after a restart every pending
  // row is offered again (uploads are idempotent, see docs/dynamodb-row.md).
  // With `include_incomplete`, rows that are not complete yet are leased too
  // (shutdown drain, tests).
  Status LeaseRows(size_t max_rows, std::vector<PendingRow>* out, bool include_incomplete = false);
  // Gives a lease back without change (upload failed; try again later). A
  // non-empty `error` counts the row as failed (NoteUploadFailure).
  void ReleaseLease(const PendingRow& row, const std::string& error);

  // DynamoDB acknowledged `row` as a full item holding the seqs
  // `item_seqs` (the row's own seqs, or for the merge path the union) and
  // `item_count` samples. One transaction: deletes the pending row if its
  // version is unchanged, else marks it partly uploaded; records the upload.
  Status AckUploaded(const PendingRow& row, const std::vector<uint64_t>& item_seqs,
                     uint32_t item_count);
  // The same for several rows (one BatchWriteItem answer) in ONE transaction:
  // one fsync instead of one per row.
  struct Ack {
    const PendingRow* row = nullptr;
    const std::vector<uint64_t>* item_seqs = nullptr;
    uint32_t item_count = 0;
  };
  Status AckUploadedMany(const std::vector<Ack>& acks);
  // DynamoDB refused `row` for good (validation error): the row moves to
  // rejected_rows with `message`, so it never blocks the rows behind it.
  Status QuarantineRow(const PendingRow& row, const std::string& message);

  // Drops `uploaded` records written longer ago than the retention horizon and
  // raises each device's pruned watermark to the largest second dropped.
  Status PruneUploaded();

  Result<StoreStatus> GetStatus();
  // Records an error for `status` (e.g. from the uploader), scrubbed of
  // secrets (redact.h), in memory and in the meta table (written only when it
  // changed). Best effort: failing to record an error is not an error.
  void NoteError(const std::string& error);
  // `rows` rows failed to upload (they stay pending): adds them to the
  // rows_failed counter and records `error`, in one transaction.
  void NoteUploadFailure(int64_t rows, const std::string& error);
  // Records the credentials in use (written only when they changed).
  void NoteCredentials(const CredentialState& c);

  // Diagnostics and tests: every pending row (decoded fields, unleased too).
  Status ListPendingRows(std::vector<PendingRow>* out);
  // (device, second, seqs, count) of the uploaded table.
  struct UploadedRecord {
    std::string device_id;
    int64_t second = 0;
    std::vector<uint64_t> seqs;
    uint32_t count = 0;
  };
  Status ListUploaded(std::vector<UploadedRecord>* out);
  struct QuarantinedBatch {
    std::string device_id;
    uint64_t sequence = 0;
    std::string reason;
    std::string raw;
    int64_t received_ns = 0;
  };
  Status ListQuarantine(std::vector<QuarantinedBatch>* out);
  struct RejectedRow {
    std::string device_id;
    int64_t second = 0;
    std::string message;
    uint32_t count = 0;
  };
  Status ListRejectedRows(std::vector<RejectedRow>* out);

  const std::string& path() const { return options_.path; }

 private:
  class Stmt;
  explicit RelayStore(const RelayStoreOptions& options);
  Status Init();
  Status Migrate();
  Status Exec(const char* sql);
  Status SqlError(const char* what, int rc) const;
  Result<uint64_t> UsedBytesLocked();
  Result<IngestResult> IngestLocked(const std::string& device_id, uint64_t sequence,
                                    std::string_view bytes);
  Status QuarantineBatchLocked(const std::string& device_id, uint64_t sequence, uint32_t crc,
                               const std::string& reason, std::string_view bytes);
  Status RollbackLocked();
  Status BumpCounterLocked(const char* name, int64_t by);
  Status SetMetaLocked(const char* name, const std::string& value);
  Status LoadMetaLocked();
  void RecordErrorLocked(const std::string& error, int64_t failed_rows);
  Status HeldDevicesLocked(std::vector<HeldDevice>* out);
  int64_t NowNanos() const;

  RelayStoreOptions options_;
  std::mutex mu_;
  sqlite3* db_ = nullptr;
  std::vector<std::unique_ptr<Stmt>> stmts_;  // prepared once, reused
  // The leased seconds of one device: one bit per second in 64-second words.
  // A backlog is leased in runs of consecutive seconds, so checking and
  // recording a lease is a hash lookup and a bit operation, and 86,400 leased
  // seconds take 1,350 words rather than 86,400 tree nodes.
  class LeaseSet {
   public:
    bool Contains(int64_t second) const;
    bool Insert(int64_t second);  // false if it was leased already
    bool Erase(int64_t second);   // false if it was not leased
    // The first second >= `second` that is not leased.
    int64_t NextFree(int64_t second) const;

   private:
    std::unordered_map<int64_t, uint64_t> words_;  // second >> 6 -> bits
  };
  std::map<std::string, LeaseSet> leased_;
  size_t leased_count_ = 0;
  void UnleaseLocked(const std::string& device, int64_t second);
  std::map<std::string, int64_t> lease_cursor_;  // per device, see LeaseRows
  // One lease query per device: LeaseRows steps the devices' queries side by
  // side (a merge by second), so each needs its own prepared statement.
  std::vector<std::unique_ptr<Stmt>> lease_stmts_;
  std::string last_error_;
  int64_t last_error_ns_ = 0;
  std::string persisted_error_;  // the last_error the meta table holds
  CredentialState credentials_;
  std::set<std::string> warned_held_;  // devices whose hold was logged once
  bool refusing_full_ = false;
};

}  // namespace relay
}  // namespace accel

#endif  // ACCEL_PHONE_RELAY_RELAY_STORE_H_
