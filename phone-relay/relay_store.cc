#include "phone-relay/relay_store.h"

#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "common/crc32c.h"
#include "common/log.h"
#include "phone-relay/dynamodb_row.h"
#include "phone-relay/redact.h"
#include "phone-relay/second_rows.h"

namespace accel {
namespace relay {

const char* IngestOutcomeName(IngestOutcome o) {
  switch (o) {
    case IngestOutcome::kCommitted:
      return "committed";
    case IngestOutcome::kDuplicate:
      return "duplicate";
    case IngestOutcome::kRejected:
      return "rejected";
    case IngestOutcome::kRefusedFull:
      return "refused-full";
  }
  return "unknown";
}

// ---------------------------------------------------------------------------
// Schema and migrations.
//
// PRAGMA user_version holds the schema version. Migrations only go forward;
// each runs in its own transaction together with the user_version bump, so a
// crash mid-migration leaves the previous version intact. A database newer
// than this binary is refused (never downgraded silently).
namespace {

const char* const kMigrations[] = {
    // Version 1.
    R"sql(
CREATE TABLE batches(
  device TEXT NOT NULL,
  seq INTEGER NOT NULL,
  crc INTEGER NOT NULL,
  size INTEGER NOT NULL,
  samples INTEGER NOT NULL,
  received_ns INTEGER NOT NULL,
  PRIMARY KEY(device, seq)) WITHOUT ROWID;
CREATE TABLE quarantine(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  device TEXT NOT NULL,
  seq INTEGER NOT NULL,
  crc INTEGER NOT NULL,
  reason TEXT NOT NULL,
  raw BLOB NOT NULL,
  received_ns INTEGER NOT NULL,
  UNIQUE(device, seq, crc));
CREATE TABLE devices(
  device TEXT PRIMARY KEY,
  max_t_ns INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE pending(
  device TEXT NOT NULL,
  second INTEGER NOT NULL,
  resolution REAL NOT NULL,
  count INTEGER NOT NULL,
  first_t_ns INTEGER NOT NULL,
  block BLOB NOT NULL,
  origin BLOB NOT NULL,
  seqs TEXT NOT NULL,
  version INTEGER NOT NULL,
  changed_ns INTEGER NOT NULL,
  partly_uploaded INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY(device, second)) WITHOUT ROWID;
CREATE TABLE uploaded(
  device TEXT NOT NULL,
  second INTEGER NOT NULL,
  seqs TEXT NOT NULL,
  count INTEGER NOT NULL,
  uploaded_ns INTEGER NOT NULL,
  PRIMARY KEY(device, second)) WITHOUT ROWID;
CREATE TABLE rejected_rows(
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  device TEXT NOT NULL,
  second INTEGER NOT NULL,
  message TEXT NOT NULL,
  resolution REAL NOT NULL,
  count INTEGER NOT NULL,
  block BLOB NOT NULL,
  seqs TEXT NOT NULL,
  at_ns INTEGER NOT NULL);
CREATE TABLE counters(
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL) WITHOUT ROWID;
)sql",
    // Version 2: `uploaded` records are pruned by upload time, and each device
    // keeps a watermark: every second whose record was pruned is <= it. A
    // pending row above the watermark without a record was never uploaded and
    // may take the plain path, however old its second (replays of old
    // recordings). Version 1 pruned by second, older than 7 days before now,
    // so that is the watermark a migrated database starts with.
    R"sql(
CREATE TABLE pruned(
  device TEXT PRIMARY KEY,
  through_second INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO pruned(device, through_second)
  SELECT device, CAST(strftime('%s','now') AS INTEGER) - 7 * 86400 FROM devices;
)sql",
    // Version 3: what `status` must show after a restart or while the daemon
    // is down: the last error and when, the credential source, identity id
    // and expiry in use (names in RelayStore::LoadMetaLocked).
    R"sql(
CREATE TABLE meta(
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL) WITHOUT ROWID;
)sql",
    // Version 4: pending.partly_uploaded now means "DynamoDB may hold an item
    // for this second already": besides a row partly uploaded, it is set when
    // a row is created for a second that has an upload record (kUpsertPending),
    // so leasing need not look the record up for every row. Rows created
    // before get it from their records here.
    R"sql(
UPDATE pending SET partly_uploaded = 1 WHERE partly_uploaded = 0 AND EXISTS(
  SELECT 1 FROM uploaded u WHERE u.device = pending.device AND u.second = pending.second);
)sql",
};
constexpr int kSchemaVersion = sizeof(kMigrations) / sizeof(kMigrations[0]);

// Prepared statements, compiled once per connection and reused.
enum StmtId {
  kFindBatch,
  kInsertBatch,
  kInsertQuarantine,
  kGetPending,
  kUpsertPending,
  kGetDeviceMax,
  kUpsertDeviceMax,
  kGetUploaded,
  kListDevices,
  kDeletePendingVersion,
  kMarkPartly,
  kUpsertUploaded,
  kDeletePendingAny,
  kInsertRejected,
  kBumpCounter,
  kGetPruned,
  kSetMeta,
  kPageCount,
  kFreelistCount,
  kNumStmts
};

const char* const kStmtSql[kNumStmts] = {
    "SELECT crc,size FROM batches WHERE device=?1 AND seq=?2",
    "INSERT INTO batches(device,seq,crc,size,samples,received_ns) VALUES(?1,?2,?3,?4,?5,?6)",
    "INSERT OR IGNORE INTO quarantine(device,seq,crc,reason,raw,received_ns) "
    "VALUES(?1,?2,?3,?4,?5,?6)",
    "SELECT resolution,count,first_t_ns,block,origin,seqs,version FROM pending "
    "WHERE device=?1 AND second=?2",
    // partly_uploaded: kept for an existing row; a new row gets 1 when its
    // second was uploaded before (schema version 4).
    "INSERT OR REPLACE INTO pending(device,second,resolution,count,first_t_ns,block,origin,seqs,"
    "version,changed_ns,partly_uploaded) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,"
    "COALESCE((SELECT partly_uploaded FROM pending WHERE device=?1 AND second=?2),"
    "EXISTS(SELECT 1 FROM uploaded WHERE device=?1 AND second=?2)))",
    "SELECT max_t_ns FROM devices WHERE device=?1",
    "INSERT INTO devices(device,max_t_ns) VALUES(?1,?2) "
    "ON CONFLICT(device) DO UPDATE SET max_t_ns=MAX(max_t_ns,excluded.max_t_ns)",
    "SELECT 1 FROM uploaded WHERE device=?1 AND second=?2",
    "SELECT device,max_t_ns FROM devices ORDER BY device",
    "DELETE FROM pending WHERE device=?1 AND second=?2 AND version=?3",
    "UPDATE pending SET partly_uploaded=1 WHERE device=?1 AND second=?2",
    "INSERT OR REPLACE INTO uploaded(device,second,seqs,count,uploaded_ns) VALUES(?1,?2,?3,?4,?5)",
    "DELETE FROM pending WHERE device=?1 AND second=?2",
    "INSERT INTO rejected_rows(device,second,message,resolution,count,block,seqs,at_ns) "
    "VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
    "INSERT INTO counters(name,value) VALUES(?1,?2) "
    "ON CONFLICT(name) DO UPDATE SET value=value+excluded.value",
    "SELECT through_second FROM pruned WHERE device=?1",
    "INSERT OR REPLACE INTO meta(name,value) VALUES(?1,?2)",
    "PRAGMA page_count",
    "PRAGMA freelist_count",
};

// The complete rows of one device above its lease cursor ?2, oldest first:
// complete because a later sample of the device is stored (second < ?3), or
// unchanged for the flush timeout (changed_ns <= ?4), or the clock went back
// (changed_ns > ?5), or ?6 (include_incomplete). No LIMIT: LeaseRows steps
// only as far as it takes rows, and SQLite reads no further than it steps.
// LeaseRows seeks past a run of at least this many leased seconds rather
// than stepping through its rows (a seek costs about as much as this many steps).
constexpr int64_t kSeekPastLeased = 32;

const char kLeaseSql[] =
    "SELECT second,resolution,count,block,origin,seqs,version,partly_uploaded "
    "FROM pending WHERE device=?1 AND second>?2 "
    "AND (second<?3 OR changed_ns<=?4 OR changed_ns>?5 OR ?6) ORDER BY second";

}  // namespace

// A prepared statement; Reset() before reuse, column getters after Step().
class RelayStore::Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt() { sqlite3_finalize(s_); }
  Stmt& Reset() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
    return *this;
  }
  Stmt& Bind(int i, int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& Bind(int i, double v) {
    sqlite3_bind_double(s_, i, v);
    return *this;
  }
  Stmt& BindText(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  Stmt& BindBlob(int i, std::string_view v) {
    // A zero-length blob must still be a blob, not NULL.
    sqlite3_bind_blob(s_, i, v.empty() ? "" : v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int Step() { return sqlite3_step(s_); }
  int64_t Int(int c) const { return sqlite3_column_int64(s_, c); }
  double Double(int c) const { return sqlite3_column_double(s_, c); }
  std::string Text(int c) const {
    const unsigned char* p = sqlite3_column_text(s_, c);
    return p ? std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(s_, c))
             : std::string();
  }
  std::string Blob(int c) const { return std::string(BlobView(c)); }
  // Views of a column's bytes, valid until the next Step() or Reset().
  std::string_view BlobView(int c) const {
    const void* p = sqlite3_column_blob(s_, c);  // before _bytes(), as SQLite says
    return p ? std::string_view(static_cast<const char*>(p), sqlite3_column_bytes(s_, c))
             : std::string_view();
  }
  std::string_view TextView(int c) const {
    const unsigned char* p = sqlite3_column_text(s_, c);
    return p ? std::string_view(reinterpret_cast<const char*>(p), sqlite3_column_bytes(s_, c))
             : std::string_view();
  }

 private:
  sqlite3_stmt* s_;
};

RelayStore::RelayStore(const RelayStoreOptions& options) : options_(options) {
  if (options_.clock == nullptr) options_.clock = Clock::Real();
}

RelayStore::~RelayStore() {
  stmts_.clear();
  lease_stmts_.clear();
  if (db_ != nullptr) sqlite3_close(db_);
}

int64_t RelayStore::NowNanos() const { return options_.clock->NowUnixNanos(); }

Status RelayStore::SqlError(const char* what, int rc) const {
  std::string msg = options_.path + ": " + what + ": " +
                    (db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc)) + " (sqlite code " +
                    std::to_string(rc) + ")";
  // Say which operation failed and how much room is left, so "disk I/O
  // error" becomes actionable (full disk, file-size limit, failing medium).
  const int primary = rc & 0xff;
  if (primary == SQLITE_IOERR || primary == SQLITE_FULL) {
    switch (rc) {
      case SQLITE_IOERR_WRITE:
        msg += ": write failed";
        break;
      case SQLITE_IOERR_FSYNC:
        msg += ": fsync failed";
        break;
      case SQLITE_IOERR_READ:
        msg += ": read failed";
        break;
      case SQLITE_IOERR_SHORT_READ:
        msg += ": short read";
        break;
      case SQLITE_IOERR_TRUNCATE:
        msg += ": truncate failed";
        break;
      default:
        break;
    }
    int sys = db_ != nullptr ? sqlite3_system_errno(db_) : 0;
    if (sys != 0) msg += ": " + std::string(std::strerror(sys));
    // Name what is full: the filesystem, the user's quota, or the process's
    // file-size limit (the disk may have room while RLIMIT_FSIZE is hit).
    // errno is often gone by the time SQLite reports (its rollback makes more
    // calls), so the sizes decide when it is.
    std::string dir = options_.path.substr(0, options_.path.find_last_of('/') + 1);
    if (dir.empty()) dir = ".";
    uint64_t avail = UINT64_MAX;
    std::string free_text = "free space unknown";
    struct statvfs fs;
    if (::statvfs(dir.c_str(), &fs) == 0) {
      avail = uint64_t(fs.f_bavail) * fs.f_frsize;
      free_text = std::to_string(avail) + " bytes free";
    }
    struct rlimit fsize;
    const bool limited = ::getrlimit(RLIMIT_FSIZE, &fsize) == 0 && fsize.rlim_cur != RLIM_INFINITY;
    uint64_t largest = 0;  // the database or its WAL, whichever is larger
    for (const std::string& f : {options_.path, options_.path + "-wal"}) {
      struct stat st;
      if (::stat(f.c_str(), &st) == 0) largest = std::max<uint64_t>(largest, uint64_t(st.st_size));
    }
    // A write that failed at the limit started less than one WAL frame (a
    // page plus its header) before it; 64 KiB covers the largest page size.
    const uint64_t kFrameSlack = 64 << 10, kDiskSlack = 1 << 20;
    if (sys == EFBIG || (limited && largest + kFrameSlack >= uint64_t(fsize.rlim_cur))) {
      msg += "; the database file reached the process's file-size limit (RLIMIT_FSIZE " +
             (limited ? std::to_string(uint64_t(fsize.rlim_cur)) + " bytes" : std::string("?")) +
             "; " + free_text + " on " + dir + ")";
    } else if (sys == ENOSPC || primary == SQLITE_FULL || avail < kDiskSlack) {
      msg += "; the filesystem holding " + dir + " is full (" + free_text + ")";
    } else if (sys == EDQUOT) {
      msg += "; the disk quota of this user on " + dir + " is exhausted (" + free_text + ")";
    } else {
      msg += "; " + free_text + " on " + dir + " (a full disk, a quota or a failing medium)";
    }
  }
  if (primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB) return Status::Corruption(msg);
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) return Status::Unavailable(msg);
  // SQLITE_FULL (ENOSPC, EFBIG), SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_READONLY...
  return Status::IOError(msg);
}

Status RelayStore::Exec(const char* sql) {
  char* err = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    sqlite3_free(err);
    std::string what(sql);
    if (what.size() > 40) what = what.substr(0, 40) + "...";
    return SqlError(what.c_str(), rc);
  }
  return Status::OK();
}

Result<std::unique_ptr<RelayStore>> RelayStore::Open(const RelayStoreOptions& options) {
  if (options.path.empty()) return Status::InvalidArgument("relay store: empty database path");
  std::unique_ptr<RelayStore> store(new RelayStore(options));
  Status st = store->Init();
  if (!st.ok()) return st;
  return store;
}

Status RelayStore::Init() {
  int rc =
      sqlite3_open_v2(options_.path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return SqlError("open", rc);
  sqlite3_extended_result_codes(db_, 1);
  sqlite3_busy_timeout(db_, options_.busy_timeout_ms);
  // WAL: readers never block the writer and a commit is one sequential append.
  ACCEL_RETURN_IF_ERROR(Exec("PRAGMA journal_mode=WAL"));
  // synchronous=FULL: in WAL mode NORMAL only fsyncs at checkpoints, so a
  // committed transaction survives a process crash but not a power loss. The
  // link acknowledges a batch right after our commit and the watch then deletes
  // its file (invariant 2), so the commit itself must reach stable storage:
  // FULL fsyncs the WAL on every commit.
  ACCEL_RETURN_IF_ERROR(Exec("PRAGMA synchronous=FULL"));
  ACCEL_RETURN_IF_ERROR(Exec("PRAGMA foreign_keys=ON"));
  ACCEL_RETURN_IF_ERROR(Migrate());
  for (int i = 0; i < kNumStmts; ++i) {
    sqlite3_stmt* s = nullptr;
    rc = sqlite3_prepare_v3(db_, kStmtSql[i], -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr);
    if (rc != SQLITE_OK) return SqlError(kStmtSql[i], rc);
    stmts_.emplace_back(new Stmt(s));
  }
  ACCEL_RETURN_IF_ERROR(LoadMetaLocked());
  auto used = UsedBytesLocked();
  if (!used.ok()) return used.status();
  refusing_full_ = *used > options_.size_budget_bytes;
  return Status::OK();
}

Status RelayStore::LoadMetaLocked() {
  sqlite3_stmt* q = nullptr;
  int rc = sqlite3_prepare_v2(db_, "SELECT name, value FROM meta", -1, &q, nullptr);
  if (rc != SQLITE_OK) return SqlError("read meta", rc);
  Stmt s(q);
  while ((rc = s.Step()) == SQLITE_ROW) {
    const std::string name = s.Text(0), value = s.Text(1);
    if (name == "last_error") {
      last_error_ = persisted_error_ = value;
    } else if (name == "last_error_unix_ns") {
      last_error_ns_ = std::strtoll(value.c_str(), nullptr, 10);
    } else if (name == "credential_source") {
      credentials_.source = value;
    } else if (name == "identity_id") {
      credentials_.identity_id = value;
    } else if (name == "credential_expiry_unix") {
      credentials_.expiry_unix = std::strtoll(value.c_str(), nullptr, 10);
    }
  }
  if (rc != SQLITE_DONE) return SqlError("read meta", rc);
  return Status::OK();
}

Status RelayStore::SetMetaLocked(const char* name, const std::string& value) {
  Stmt& m = stmts_[kSetMeta]->Reset().BindText(1, name).BindText(2, value);
  int rc = m.Step();
  m.Reset();
  if (rc != SQLITE_DONE) return SqlError("write meta", rc);
  return Status::OK();
}

void RelayStore::RecordErrorLocked(const std::string& error, int64_t failed_rows) {
  last_error_ = ScrubSecrets(error);
  last_error_ns_ = NowNanos();
  const bool new_text = last_error_ != persisted_error_;
  if (failed_rows == 0 && !new_text) return;  // nothing new to keep
  // Inside another operation's transaction (it failed and is being unwound by
  // the caller) the memory copy must do; the next error persists.
  if (!sqlite3_get_autocommit(db_)) return;
  Status st = Exec("BEGIN IMMEDIATE");
  if (!st.ok()) return;  // best effort: the database may be the problem
  if (failed_rows > 0) st = BumpCounterLocked("rows_failed", failed_rows);
  if (st.ok()) st = SetMetaLocked("last_error", last_error_);
  if (st.ok()) st = SetMetaLocked("last_error_unix_ns", std::to_string(last_error_ns_));
  if (st.ok()) st = Exec("COMMIT");
  if (!st.ok()) {
    RollbackLocked();
    return;
  }
  persisted_error_ = last_error_;
}

Status RelayStore::Migrate() {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db_, "PRAGMA user_version", -1, &s, nullptr);
  if (rc != SQLITE_OK) return SqlError("read user_version", rc);
  rc = sqlite3_step(s);
  int version = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : 0;
  sqlite3_finalize(s);
  if (rc != SQLITE_ROW) return SqlError("read user_version", rc);
  if (version > kSchemaVersion)
    return Status::InvalidArgument(options_.path + ": schema version " + std::to_string(version) +
                                   " is newer than this relay understands (" +
                                   std::to_string(kSchemaVersion) + ")");
  for (int v = version; v < kSchemaVersion; ++v) {
    ACCEL_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    Status st = Exec(kMigrations[v]);
    if (st.ok()) st = Exec(("PRAGMA user_version=" + std::to_string(v + 1)).c_str());
    if (st.ok()) st = Exec("COMMIT");
    if (!st.ok()) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return st.WithContext("migration to schema version " + std::to_string(v + 1));
    }
  }
  return Status::OK();
}

Status RelayStore::RollbackLocked() {
  if (sqlite3_get_autocommit(db_)) return Status::OK();
  return Exec("ROLLBACK");
}

Result<uint64_t> RelayStore::UsedBytesLocked() {
  Stmt& pc = stmts_[kPageCount]->Reset();
  if (pc.Step() != SQLITE_ROW) return SqlError("page_count", sqlite3_errcode(db_));
  int64_t pages = pc.Int(0);
  pc.Reset();
  Stmt& fc = stmts_[kFreelistCount]->Reset();
  if (fc.Step() != SQLITE_ROW) return SqlError("freelist_count", sqlite3_errcode(db_));
  int64_t free_pages = fc.Int(0);
  fc.Reset();
  int64_t page_size = 4096;
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "PRAGMA page_size", -1, &s, nullptr) == SQLITE_OK &&
      sqlite3_step(s) == SQLITE_ROW)
    page_size = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  return static_cast<uint64_t>(std::max<int64_t>(0, pages - free_pages) * page_size);
}

Status RelayStore::BumpCounterLocked(const char* name, int64_t by) {
  Stmt& s = stmts_[kBumpCounter]->Reset().BindText(1, name).Bind(2, by);
  int rc = s.Step();
  s.Reset();
  if (rc != SQLITE_DONE) return SqlError("counters", rc);
  return Status::OK();
}

Result<IngestResult> RelayStore::PreCheck(const std::string& device_id, uint64_t sequence,
                                          uint64_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  IngestResult r;
  Stmt& f = stmts_[kFindBatch]->Reset().BindText(1, device_id).Bind(2, int64_t(sequence));
  int rc = f.Step();
  f.Reset();
  if (rc == SQLITE_ROW) {
    // Stored already: let the transfer run so Ingest can compare CRCs; a
    // duplicate is acknowledged even while full (the watch may then delete it).
    return r;
  }
  if (rc != SQLITE_DONE) return SqlError("dedupe lookup", rc);
  auto used = UsedBytesLocked();
  if (!used.ok()) return used.status();
  // Invariant 6: when storage is full, push back upstream; never drop data.
  refusing_full_ = *used + size > options_.size_budget_bytes;
  if (refusing_full_) {
    r.outcome = IngestOutcome::kRefusedFull;
    r.reason = "relay buffer full: " + std::to_string(*used) + " bytes used of a budget of " +
               std::to_string(options_.size_budget_bytes);
  }
  return r;
}

Result<IngestResult> RelayStore::Ingest(const std::string& device_id, uint64_t sequence,
                                        std::string_view bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  auto r = IngestLocked(device_id, sequence, bytes);
  if (!r.ok()) {
    // Nothing of this batch is stored; the caller must not acknowledge it.
    RollbackLocked();
    RecordErrorLocked(r.status().ToString(), 0);
  }
  return r;
}

Status RelayStore::QuarantineBatchLocked(const std::string& device_id, uint64_t sequence,
                                         uint32_t crc, const std::string& reason,
                                         std::string_view bytes) {
  Stmt& q = stmts_[kInsertQuarantine]->Reset();
  q.BindText(1, device_id)
      .Bind(2, int64_t(sequence))
      .Bind(3, int64_t(crc))
      .BindText(4, reason)
      .BindBlob(5, bytes)
      .Bind(6, NowNanos());
  int rc = q.Step();
  q.Reset();
  if (rc != SQLITE_DONE) return SqlError("quarantine insert", rc);
  return BumpCounterLocked("quarantined_batches", sqlite3_changes(db_) > 0 ? 1 : 0);
}

Result<IngestResult> RelayStore::IngestLocked(const std::string& device_id, uint64_t sequence,
                                              std::string_view bytes) {
  IngestResult result;
  // The ledger's fingerprint is the CRC-32C of the file without its last four
  // bytes (for a valid batch: exactly the CRC the file carries) plus the size.
  // The CRC of a whole file that ends in its own CRC is a constant residue, so
  // it would not tell two valid batches apart.
  const uint32_t crc = crc32c::Value(bytes.substr(0, bytes.size() >= 4 ? bytes.size() - 4 : 0));
  const int64_t seq = static_cast<int64_t>(sequence);
  // One transaction per batch: the ledger entry, every row it touches and the
  // device's progress commit together or not at all (invariant 4: a re-sent
  // batch finds its ledger entry iff its samples are stored).
  ACCEL_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));

  Stmt& find = stmts_[kFindBatch]->Reset().BindText(1, device_id).Bind(2, seq);
  int rc = find.Step();
  if (rc == SQLITE_ROW) {
    uint32_t stored_crc = static_cast<uint32_t>(find.Int(0));
    uint64_t stored_size = static_cast<uint64_t>(find.Int(1));
    find.Reset();
    if (stored_crc == crc && stored_size == bytes.size()) {
      // Stored once already: acknowledge again, store nothing.
      result.outcome = IngestOutcome::kDuplicate;
      ACCEL_RETURN_IF_ERROR(BumpCounterLocked("batches_duplicate", 1));
    } else {
      // Never silently acknowledged: the new content is kept for inspection.
      result.outcome = IngestOutcome::kRejected;
      result.reason = "sequence " + std::to_string(sequence) + " of device " + device_id +
                      " reused with different content (stored crc32c " +
                      std::to_string(stored_crc) + ", offered " + std::to_string(crc) + ")";
      ACCEL_RETURN_IF_ERROR(QuarantineBatchLocked(device_id, sequence, crc, result.reason, bytes));
    }
    ACCEL_RETURN_IF_ERROR(Exec("COMMIT"));
    return result;
  }
  find.Reset();
  if (rc != SQLITE_DONE) return SqlError("dedupe lookup", rc);

  // Invariant 6: over budget we refuse (the watch keeps its file); never drop.
  auto used = UsedBytesLocked();
  if (!used.ok()) return used.status();
  if (*used + bytes.size() > options_.size_budget_bytes) {
    refusing_full_ = true;
    ACCEL_RETURN_IF_ERROR(Exec("ROLLBACK"));
    result.outcome = IngestOutcome::kRefusedFull;
    result.reason = "relay buffer full: " + std::to_string(*used) + " bytes used of a budget of " +
                    std::to_string(options_.size_budget_bytes);
    return result;
  }
  refusing_full_ = false;

  // Invariant 5: a corrupt batch is quarantined with the decoder's message and
  // answered kRejected; it is not entered in the ledger, so it never blocks
  // the batches behind it (nor a later intact copy of the same sequence).
  DecodedBatch batch;
  Status dst = DecodeBatchFile(bytes, &batch);
  if (dst.ok() && batch.device_id != device_id)
    dst = Status::InvalidArgument("batch header names device '" + batch.device_id +
                                  "' but the link delivered it for device '" + device_id + "'");
  if (dst.ok() && batch.sequence != sequence)
    dst = Status::InvalidArgument("batch header has sequence " + std::to_string(batch.sequence) +
                                  " but the link offered sequence " + std::to_string(sequence));
  if (!dst.ok()) {
    result.outcome = IngestOutcome::kRejected;
    result.reason = dst.ToString();
    ACCEL_RETURN_IF_ERROR(QuarantineBatchLocked(device_id, sequence, crc, result.reason, bytes));
    ACCEL_RETURN_IF_ERROR(Exec("COMMIT"));
    return result;
  }

  const int64_t now = NowNanos();
  int64_t max_t = INT64_MIN;
  auto groups = SplitBySecond(batch.samples);
  for (auto& [second, samples] : groups) {
    max_t = std::max(max_t, samples.back().t_ns);
    SecondSamples row;
    std::vector<uint64_t> seqs;
    int64_t version = 0;
    Stmt& get = stmts_[kGetPending]->Reset().BindText(1, device_id).Bind(2, second);
    rc = get.Step();
    if (rc == SQLITE_ROW) {
      double res = get.Double(0);
      uint32_t count = static_cast<uint32_t>(get.Int(1));
      std::string block = get.Blob(3), origin = get.Blob(4), seq_text = get.Text(5);
      version = get.Int(6);
      get.Reset();
      if (res != batch.resolution_g) {
        char buf[160];
        std::snprintf(buf, sizeof buf,
                      "resolution %.17g g differs from the %.17g g of the samples already stored "
                      "for second %" PRId64 "; one second holds one resolution",
                      batch.resolution_g, res, second);
        dst = Status::InvalidArgument(buf);
        break;
      }
      Status st = DecodeSecondBlock(second, res, block, &row.samples);
      if (st.ok()) st = DecodeOrigin(origin, count, &row.origin);
      if (st.ok()) st = ParseSeqList(seq_text, &seqs);
      if (st.ok() && row.samples.size() != count)
        st = Status::Corruption("sample count " + std::to_string(count) + " but block holds " +
                                std::to_string(row.samples.size()));
      if (!st.ok())
        return st.WithContext(options_.path + ": pending row (" + device_id + ", " +
                              std::to_string(second) + ")");
    } else {
      get.Reset();
      if (rc != SQLITE_DONE) return SqlError("read pending row", rc);
    }
    MergeSamples(samples, static_cast<uint32_t>(seqs.size()), &row);
    seqs.push_back(sequence);
    std::string block, origin;
    dst = EncodeSecondBlock(second, batch.resolution_g, row.samples, &block);
    if (!dst.ok()) {
      // E.g. more samples in one second than a block holds: the batch is
      // rejected with the reason (and kept), never retried forever.
      dst = dst.WithContext("second " + std::to_string(second));
      break;
    }
    EncodeOrigin(row.origin, &origin);
    std::string seq_text = FormatSeqList(seqs);
    Stmt& up = stmts_[kUpsertPending]->Reset();
    up.BindText(1, device_id)
        .Bind(2, second)
        .Bind(3, batch.resolution_g)
        .Bind(4, int64_t(row.samples.size()))
        .Bind(5, row.samples.front().t_ns)
        .BindBlob(6, block)
        .BindBlob(7, origin)
        .BindText(8, seq_text)
        .Bind(9, version + 1)
        .Bind(10, now);
    rc = up.Step();
    up.Reset();
    if (rc != SQLITE_DONE) return SqlError("write pending row", rc);
    ++result.rows_touched;
  }
  if (!dst.ok()) {
    ACCEL_RETURN_IF_ERROR(Exec("ROLLBACK"));
    ACCEL_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
    result = IngestResult();
    result.outcome = IngestOutcome::kRejected;
    result.reason = dst.ToString();
    ACCEL_RETURN_IF_ERROR(QuarantineBatchLocked(device_id, sequence, crc, result.reason, bytes));
    ACCEL_RETURN_IF_ERROR(Exec("COMMIT"));
    return result;
  }
  if (!groups.empty()) {
    Stmt& dev = stmts_[kUpsertDeviceMax]->Reset().BindText(1, device_id).Bind(2, max_t);
    rc = dev.Step();
    dev.Reset();
    if (rc != SQLITE_DONE) return SqlError("write device progress", rc);
  }
  Stmt& ins = stmts_[kInsertBatch]->Reset();
  ins.BindText(1, device_id)
      .Bind(2, seq)
      .Bind(3, int64_t(crc))
      .Bind(4, int64_t(bytes.size()))
      .Bind(5, int64_t(batch.samples.size()))
      .Bind(6, now);
  rc = ins.Step();
  ins.Reset();
  if (rc != SQLITE_DONE) return SqlError("write batch ledger", rc);
  ACCEL_RETURN_IF_ERROR(BumpCounterLocked("batches_committed", 1));
  // With synchronous=FULL this returns after the WAL is fsynced: only now may
  // the link acknowledge (invariant 2).
  ACCEL_RETURN_IF_ERROR(Exec("COMMIT"));
  result.outcome = IngestOutcome::kCommitted;
  result.samples = static_cast<uint32_t>(batch.samples.size());
  return result;
}

// ---------------------------------------------------------------------------
// Rows for the uploader.

bool RelayStore::LeaseSet::Contains(int64_t second) const {
  auto it = words_.find(second >> 6);
  return it != words_.end() && (it->second >> (second & 63) & 1);
}

bool RelayStore::LeaseSet::Insert(int64_t second) {
  uint64_t& w = words_[second >> 6];
  const uint64_t bit = uint64_t{1} << (second & 63);
  if (w & bit) return false;
  w |= bit;
  return true;
}

bool RelayStore::LeaseSet::Erase(int64_t second) {
  auto it = words_.find(second >> 6);
  const uint64_t bit = uint64_t{1} << (second & 63);
  if (it == words_.end() || !(it->second & bit)) return false;
  if ((it->second &= ~bit) == 0) words_.erase(it);
  return true;
}

int64_t RelayStore::LeaseSet::NextFree(int64_t second) const {
  for (;;) {
    auto it = words_.find(second >> 6);
    if (it == words_.end()) return second;
    // Free seconds of this word at or above `second`.
    const uint64_t free_bits = ~it->second & (~uint64_t{0} << (second & 63));
    if (free_bits != 0) return (second & ~int64_t{63}) + __builtin_ctzll(free_bits);
    if ((second | 63) == INT64_MAX) return INT64_MAX;  // leased up to the end of time
    second = (second | 63) + 1;                        // the next word
  }
}

Status RelayStore::LeaseRows(size_t max_rows, std::vector<PendingRow>* out,
                             bool include_incomplete) {
  std::lock_guard<std::mutex> lock(mu_);
  out->clear();
  if (max_rows == 0) return Status::OK();
  const int64_t now = NowNanos();
  std::vector<std::pair<std::string, int64_t>> devices;
  {
    Stmt& d = stmts_[kListDevices]->Reset();
    int rc;
    while ((rc = d.Step()) == SQLITE_ROW) devices.emplace_back(d.Text(0), d.Int(1));
    d.Reset();
    if (rc != SQLITE_DONE) return SqlError("list devices", rc);
  }
  // Two devices of one identity whose sort-key slots collide would overwrite
  // each other's items (docs/dynamodb-row.md). Never upload such a pair: the
  // lexicographically smallest device id keeps the slot (a rule that does not
  // depend on arrival order or restarts), the others' rows are held in SQLite
  // and `status` says why.
  {
    std::map<uint32_t, std::string> owner;
    std::vector<std::pair<std::string, int64_t>> allowed;
    for (auto& d : devices) {  // sorted by device id
      uint32_t slot = DeviceSlot(d.first);
      auto [it, fresh] = owner.emplace(slot, d.first);
      if (fresh) {
        allowed.push_back(std::move(d));
      } else if (warned_held_.insert(d.first).second) {
        // Said once per process here; `status` lists held devices every time.
        LogWarn("devices '" + it->second + "' and '" + d.first + "' share DynamoDB sort-key slot " +
                std::to_string(slot) + ": rows of '" + d.first +
                "' are held (not uploaded); give one of them another device id");
      }
    }
    devices = std::move(allowed);
  }
  // The oldest seconds first, across devices: each device's query yields its
  // complete rows in second order and the loop below merges them, reading
  // exactly the rows it leases (plus leased ones it skips and one look-ahead
  // row per device).
  //
  // Each device has a lease cursor: the last second leased in the current
  // sweep. Its query starts after it, so a backlog of N rows is leased in
  // O(N) overall rather than rescanning the leased prefix on every call. When
  // a sweep has passed all rows complete by a later sample, the cursor is
  // reset and the next call sweeps from the oldest second again (picking up
  // rows below the cursor: released leases, late samples, partly uploaded
  // rows). Rows complete only by the flush timeout lie above every such row,
  // so the cursor never hides them.
  struct Source {
    const std::string* device;
    Stmt* stmt;
    LeaseSet* leased;
    int64_t complete_before;          // rows below it are complete by a later sample
    int64_t pruned_through;           // seconds up to it may have lost their upload record
    int64_t last_leased = INT64_MIN;  // below complete_before; INT64_MIN: none
    bool has_row = false;             // stmt is on a row not taken yet
    int64_t second = 0;               // that row's second
  };
  while (lease_stmts_.size() < devices.size()) {
    sqlite3_stmt* q = nullptr;
    int rc = sqlite3_prepare_v3(db_, kLeaseSql, -1, SQLITE_PREPARE_PERSISTENT, &q, nullptr);
    if (rc != SQLITE_OK) return SqlError("prepare lease query", rc);
    lease_stmts_.emplace_back(new Stmt(q));
  }
  std::vector<Source> sources;
  sources.reserve(devices.size());
  // Every lease query is reset on the way out, errors included: a statement
  // left on a row would hold the read transaction open.
  struct ResetAll {
    std::vector<Source>* s;
    ~ResetAll() {
      for (Source& src : *s) src.stmt->Reset();
    }
  } reset_all{&sources};
  auto step = [&](Source& src) -> Status {
    int rc = src.stmt->Step();
    src.has_row = rc == SQLITE_ROW;
    if (src.has_row) {
      src.second = src.stmt->Int(0);
      return Status::OK();
    }
    if (rc != SQLITE_DONE) return SqlError("lease rows", rc);
    return Status::OK();
  };
  // (Re)starts a device's query at the rows above `after`.
  auto start = [&](Source& src, int64_t after) -> Status {
    src.stmt->Reset()
        .BindText(1, *src.device)
        .Bind(2, after)
        .Bind(3, src.complete_before)
        .Bind(4, now - options_.flush_timeout_ns)
        .Bind(5, now)
        .Bind(6, int64_t(include_incomplete ? 1 : 0));
    return step(src);
  };
  for (size_t i = 0; i < devices.size(); ++i) {
    const std::string& device = devices[i].first;
    Source src;
    src.device = &device;
    src.stmt = lease_stmts_[i].get();
    src.leased = &leased_[device];
    // A second S is complete once a sample with t >= S+1 s is stored:
    // (S+1)*1e9 <= max_t  <=>  S < floor(max_t / 1e9).
    src.complete_before = EpochSecondOf(devices[i].second);
    src.pruned_through = INT64_MIN;
    {
      Stmt& w = stmts_[kGetPruned]->Reset().BindText(1, device);
      int rc = w.Step();
      if (rc == SQLITE_ROW) src.pruned_through = w.Int(0);
      w.Reset();
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) return SqlError("read pruned watermark", rc);
    }
    auto cit = lease_cursor_.find(device);
    sources.push_back(src);
    ACCEL_RETURN_IF_ERROR(
        start(sources.back(), cit != lease_cursor_.end() ? cit->second : INT64_MIN));
  }
  out->reserve(std::min<size_t>(max_rows, 1024));
  std::vector<Source*> taken_from;  // per leased row (the ties below need no more)
  taken_from.reserve(out->capacity());
  // Reads rows until `out` is full or every query is done. On an error `out`
  // is emptied and no lease is taken.
  Status st = [&]() -> Status {
    while (out->size() < max_rows) {
      // The device whose next row is oldest; ties go to the smaller device id.
      Source* next = nullptr;
      for (Source& src : sources)
        if (src.has_row && (next == nullptr || src.second < next->second)) next = &src;
      if (next == nullptr) break;
      Stmt& s = *next->stmt;
      const int64_t second = next->second;
      if (next->leased->Contains(second)) {
        // Leased already (in flight). A long run of leased seconds, e.g. the
        // sweep after a wrap-around while many rows are in flight, is skipped
        // with one seek instead of stepping through every row of it.
        const int64_t free = next->leased->NextFree(second);
        if (uint64_t(free) - uint64_t(second) >= uint64_t(kSeekPastLeased)) {
          ACCEL_RETURN_IF_ERROR(start(*next, free - 1));
          continue;
        }
      } else {
        PendingRow& row = out->emplace_back();
        row.device_id = *next->device;
        row.second = second;
        row.resolution_g = s.Double(1);
        row.count = static_cast<uint32_t>(s.Int(2));
        // Straight from SQLite's page into the row: one copy.
        std::string_view block = s.BlobView(3), origin = s.BlobView(4);
        row.block.assign(block.data(), block.size());
        row.origin.assign(origin.data(), origin.size());
        Status ps = ParseSeqList(s.TextView(5), &row.seqs);
        if (!ps.ok()) return ps.WithContext(options_.path + ": pending row seqs");
        row.version = s.Int(6);
        // The merge path: partly uploaded or uploaded before (the flag, see
        // schema version 4), or a second whose upload record may have been
        // pruned. The plain path's unconditional put is safe only for a
        // second DynamoDB has never seen from us.
        row.needs_merge = s.Int(7) != 0 || second <= next->pruned_through;
        taken_from.push_back(next);
        if (second < next->complete_before) next->last_leased = second;
      }
      ACCEL_RETURN_IF_ERROR(step(*next));
    }
    return Status::OK();
  }();
  if (!st.ok()) {
    out->clear();
    return st;
  }
  // Only now, with every row read, do the leases and cursors change.
  for (size_t i = 0; i < out->size(); ++i)
    if (taken_from[i]->leased->Insert((*out)[i].second)) ++leased_count_;
  for (const Source& src : sources) {
    // The sweep has passed every row complete by a later sample.
    const bool reached_end = !src.has_row || src.second >= src.complete_before;
    if (reached_end)
      lease_cursor_.erase(*src.device);
    else if (src.last_leased != INT64_MIN)
      lease_cursor_[*src.device] = src.last_leased;
  }
  return Status::OK();
}

void RelayStore::UnleaseLocked(const std::string& device, int64_t second) {
  auto it = leased_.find(device);
  if (it != leased_.end() && it->second.Erase(second)) --leased_count_;
}

void RelayStore::ReleaseLease(const PendingRow& row, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  UnleaseLocked(row.device_id, row.second);
  // Counting is best effort: a failed counter update must not hide the row.
  if (!error.empty()) RecordErrorLocked(error, 1);
}

Status RelayStore::AckUploaded(const PendingRow& row, const std::vector<uint64_t>& item_seqs,
                               uint32_t item_count) {
  return AckUploadedMany({Ack{&row, &item_seqs, item_count}});
}

Status RelayStore::AckUploadedMany(const std::vector<Ack>& acks) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Ack& a : acks) UnleaseLocked(a.row->device_id, a.row->second);
  if (acks.empty()) return Status::OK();
  // Invariant 3: a row leaves SQLite only now that DynamoDB acknowledged it,
  // and only the version that was uploaded; the delete and the upload record
  // commit together, so a late sample for this second always finds the record
  // and takes the merge path.
  Status st = Exec("BEGIN IMMEDIATE");
  if (!st.ok()) return st;
  auto fail = [&](Status s) {
    RollbackLocked();
    RecordErrorLocked(s.ToString(), 0);
    return s;
  };
  const int64_t now = NowNanos();
  for (const Ack& a : acks) {
    const PendingRow& row = *a.row;
    Stmt& del = stmts_[kDeletePendingVersion]->Reset();
    del.BindText(1, row.device_id).Bind(2, row.second).Bind(3, row.version);
    int rc = del.Step();
    del.Reset();
    if (rc != SQLITE_DONE) return fail(SqlError("delete uploaded row", rc));
    if (sqlite3_changes(db_) == 0) {
      // New samples were merged while the upload was in flight: the row
      // stays, and its next upload takes the merge path (the record below
      // says which seqs DynamoDB holds now).
      Stmt& mark = stmts_[kMarkPartly]->Reset().BindText(1, row.device_id).Bind(2, row.second);
      rc = mark.Step();
      mark.Reset();
      if (rc != SQLITE_DONE) return fail(SqlError("mark partly uploaded", rc));
    }
    Stmt& up = stmts_[kUpsertUploaded]->Reset();
    std::string seq_text = FormatSeqList(*a.item_seqs);
    up.BindText(1, row.device_id)
        .Bind(2, row.second)
        .BindText(3, seq_text)
        .Bind(4, int64_t(a.item_count))
        .Bind(5, now);
    rc = up.Step();
    up.Reset();
    if (rc != SQLITE_DONE) return fail(SqlError("record upload", rc));
  }
  st = BumpCounterLocked("rows_uploaded", int64_t(acks.size()));
  if (!st.ok()) return fail(st);
  st = Exec("COMMIT");
  if (!st.ok()) return fail(st);
  return Status::OK();
}

Status RelayStore::QuarantineRow(const PendingRow& row, const std::string& message) {
  std::lock_guard<std::mutex> lock(mu_);
  UnleaseLocked(row.device_id, row.second);
  // Server messages are scrubbed by the client already; scrubbed again here
  // because this text is kept in the database (redact.h).
  const std::string scrubbed = ScrubSecrets(message);
  Status st = Exec("BEGIN IMMEDIATE");
  if (!st.ok()) return st;
  auto fail = [&](Status s) {
    RollbackLocked();
    return s;
  };
  // What is set aside is exactly what DynamoDB refused: the leased version.
  // Batches merged into the row while it was in flight (a newer version) were
  // not part of the refused item: their samples stay pending as the row's
  // remainder, so the row leaves pending now and rejected_rows never gets the
  // same samples twice.
  PendingRow current;
  bool exists = false;
  {
    Stmt& get = stmts_[kGetPending]->Reset().BindText(1, row.device_id).Bind(2, row.second);
    int rc = get.Step();
    if (rc == SQLITE_ROW) {
      exists = true;
      current.resolution_g = get.Double(0);
      current.count = static_cast<uint32_t>(get.Int(1));
      current.block = get.Blob(3);
      current.origin = get.Blob(4);
      Status ps = ParseSeqList(get.Text(5), &current.seqs);
      current.version = get.Int(6);
      get.Reset();
      if (!ps.ok()) return fail(ps.WithContext(options_.path + ": pending row seqs"));
    } else {
      get.Reset();
      if (rc != SQLITE_DONE) return fail(SqlError("read pending row", rc));
    }
  }
  // The remainder: samples of the seqs after the leased row's (seqs are only
  // ever appended). When the row does not extend the leased one as expected,
  // the whole current row is set aside instead: never a repeat, never a loss.
  const PendingRow* rejected = &row;
  bool keep_remainder = false;
  SecondSamples rest;
  std::vector<uint64_t> rest_seqs;
  if (exists && current.version != row.version) {
    const size_t k = row.seqs.size();
    bool extends = current.seqs.size() > k &&
                   std::equal(row.seqs.begin(), row.seqs.end(), current.seqs.begin()) &&
                   current.resolution_g == row.resolution_g;
    std::vector<QSample> all;
    std::vector<uint32_t> origin;
    if (extends) {
      extends = DecodeSecondBlock(row.second, current.resolution_g, current.block, &all).ok() &&
                DecodeOrigin(current.origin, all.size(), &origin).ok();
    }
    if (extends) {
      for (size_t i = 0; i < all.size(); ++i) {
        if (origin[i] < k) continue;
        rest.samples.push_back(all[i]);
        rest.origin.push_back(origin[i] - static_cast<uint32_t>(k));
      }
      rest_seqs.assign(current.seqs.begin() + static_cast<ptrdiff_t>(k), current.seqs.end());
      extends = !rest.samples.empty() && rest.samples.size() + row.count == all.size();
    }
    if (extends) {
      keep_remainder = true;
    } else {
      current.device_id = row.device_id;
      current.second = row.second;
      rejected = &current;
    }
  }
  // The rejected row keeps its block: nothing is dropped, only set aside.
  Stmt& ins = stmts_[kInsertRejected]->Reset();
  std::string seq_text = FormatSeqList(rejected->seqs);
  ins.BindText(1, row.device_id)
      .Bind(2, row.second)
      .BindText(3, scrubbed)
      .Bind(4, rejected->resolution_g)
      .Bind(5, int64_t(rejected->count))
      .BindBlob(6, rejected->block)
      .BindText(7, seq_text)
      .Bind(8, NowNanos());
  int rc = ins.Step();
  ins.Reset();
  if (rc != SQLITE_DONE) return fail(SqlError("insert rejected row", rc));
  if (keep_remainder) {
    std::string block, origin;
    Status es = EncodeSecondBlock(row.second, current.resolution_g, rest.samples, &block);
    if (!es.ok()) return fail(es.WithContext("remainder of a rejected row"));
    EncodeOrigin(rest.origin, &origin);
    std::string rest_text = FormatSeqList(rest_seqs);
    Stmt& up = stmts_[kUpsertPending]->Reset();
    up.BindText(1, row.device_id)
        .Bind(2, row.second)
        .Bind(3, current.resolution_g)
        .Bind(4, int64_t(rest.samples.size()))
        .Bind(5, rest.samples.front().t_ns)
        .BindBlob(6, block)
        .BindBlob(7, origin)
        .BindText(8, rest_text)
        .Bind(9, current.version + 1)
        .Bind(10, NowNanos());
    rc = up.Step();
    up.Reset();
    if (rc != SQLITE_DONE) return fail(SqlError("keep the remainder of a rejected row", rc));
  } else if (exists) {
    Stmt& del = stmts_[kDeletePendingAny]->Reset().BindText(1, row.device_id).Bind(2, row.second);
    rc = del.Step();
    del.Reset();
    if (rc != SQLITE_DONE) return fail(SqlError("delete rejected row", rc));
  }
  st = BumpCounterLocked("quarantined_rows", 1);
  if (!st.ok()) return fail(st);
  st = Exec("COMMIT");
  if (!st.ok()) return fail(st);
  RecordErrorLocked(
      "row (" + row.device_id + ", " + std::to_string(row.second) + ") rejected: " + scrubbed, 0);
  return Status::OK();
}

Status RelayStore::PruneUploaded() {
  std::lock_guard<std::mutex> lock(mu_);
  // Pruned by upload time. The watermark rises (in the same transaction) to
  // the largest second whose record goes, so a pending row above it without a
  // record was never uploaded, and rows at or below it take the merge path
  // (LeaseRows), which needs no record: DynamoDB's `b` attribute decides.
  const std::string cut = std::to_string(NowNanos() - options_.uploaded_retention_ns);
  ACCEL_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status st = Exec(("INSERT INTO pruned(device, through_second) "
                    "SELECT device, MAX(second) FROM uploaded WHERE uploaded_ns < " +
                    cut +
                    " GROUP BY device ON CONFLICT(device) DO UPDATE SET "
                    "through_second = MAX(through_second, excluded.through_second)")
                       .c_str());
  if (st.ok()) st = Exec(("DELETE FROM uploaded WHERE uploaded_ns < " + cut).c_str());
  if (st.ok()) st = Exec("COMMIT");
  if (!st.ok()) (void)Exec("ROLLBACK");
  return st;
}

void RelayStore::NoteError(const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  RecordErrorLocked(error, 0);
}

void RelayStore::NoteUploadFailure(int64_t rows, const std::string& error) {
  std::lock_guard<std::mutex> lock(mu_);
  RecordErrorLocked(error, rows);
}

void RelayStore::NoteCredentials(const CredentialState& c) {
  std::lock_guard<std::mutex> lock(mu_);
  if (c == credentials_) return;
  credentials_ = c;
  if (Exec("BEGIN IMMEDIATE").ok()) {
    Status st = SetMetaLocked("credential_source", c.source);
    if (st.ok()) st = SetMetaLocked("identity_id", c.identity_id);
    if (st.ok()) st = SetMetaLocked("credential_expiry_unix", std::to_string(c.expiry_unix));
    if (st.ok()) st = Exec("COMMIT");
    if (!st.ok()) RollbackLocked();
  }
}

Status RelayStore::HeldDevicesLocked(std::vector<HeldDevice>* out) {
  out->clear();
  std::map<uint32_t, std::string> owner;
  Stmt& d = stmts_[kListDevices]->Reset();
  int rc;
  while ((rc = d.Step()) == SQLITE_ROW) {  // sorted by device id: the smallest keeps the slot
    std::string dev = d.Text(0);
    uint32_t slot = DeviceSlot(dev);
    auto [it, fresh] = owner.emplace(slot, dev);
    if (!fresh) out->push_back(HeldDevice{dev, slot, it->second});
  }
  d.Reset();
  if (rc != SQLITE_DONE) return SqlError("list devices", rc);
  return Status::OK();
}

Result<StoreStatus> RelayStore::GetStatus() {
  std::lock_guard<std::mutex> lock(mu_);
  StoreStatus s;
  const int64_t now = NowNanos();
  auto used = UsedBytesLocked();
  if (!used.ok()) return used.status();
  s.bytes_buffered = *used;
  s.size_budget_bytes = options_.size_budget_bytes;
  s.refusing_full = refusing_full_ || *used > options_.size_budget_bytes;
  s.leased_rows = static_cast<int64_t>(leased_count_);
  s.last_error = last_error_;
  s.last_error_unix_ns = last_error_.empty() ? 0 : last_error_ns_;
  s.credentials = credentials_;
  ACCEL_RETURN_IF_ERROR(HeldDevicesLocked(&s.held_devices));
  sqlite3_stmt* q = nullptr;
  const char* sql =
      "SELECT COUNT(*), "
      "SUM(CASE WHEN p.second < (d.max_t_ns / 1000000000 - (d.max_t_ns % 1000000000 < 0)) "
      "OR p.changed_ns <= ?1 OR p.changed_ns > ?2 THEN 1 ELSE 0 END), MIN(p.first_t_ns) "
      "FROM pending p LEFT JOIN devices d ON d.device = p.device";
  int rc = sqlite3_prepare_v2(db_, sql, -1, &q, nullptr);
  if (rc != SQLITE_OK) return SqlError("status", rc);
  sqlite3_bind_int64(q, 1, now - options_.flush_timeout_ns);
  sqlite3_bind_int64(q, 2, now);
  rc = sqlite3_step(q);
  if (rc == SQLITE_ROW) {
    s.pending_rows = sqlite3_column_int64(q, 0);
    s.complete_rows = sqlite3_column_int64(q, 1);
    s.oldest_unsent_t_ns =
        sqlite3_column_type(q, 2) == SQLITE_NULL ? -1 : sqlite3_column_int64(q, 2);
  }
  sqlite3_finalize(q);
  if (rc != SQLITE_ROW) return SqlError("status", rc);
  rc = sqlite3_prepare_v2(db_, "SELECT name, value FROM counters", -1, &q, nullptr);
  if (rc != SQLITE_OK) return SqlError("status counters", rc);
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    std::string name = reinterpret_cast<const char*>(sqlite3_column_text(q, 0));
    int64_t v = sqlite3_column_int64(q, 1);
    if (name == "batches_committed")
      s.batches_committed = v;
    else if (name == "batches_duplicate")
      s.batches_duplicate = v;
    else if (name == "rows_uploaded")
      s.rows_uploaded = v;
    else if (name == "rows_failed")
      s.rows_failed = v;
    else if (name == "quarantined_batches")
      s.quarantined_batches = v;
    else if (name == "quarantined_rows")
      s.quarantined_rows = v;
  }
  sqlite3_finalize(q);
  if (rc != SQLITE_DONE) return SqlError("status counters", rc);
  return s;
}

// ---------------------------------------------------------------------------
// Listings for diagnostics and tests.

Status RelayStore::ListPendingRows(std::vector<PendingRow>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  out->clear();
  sqlite3_stmt* q = nullptr;
  int rc = sqlite3_prepare_v2(db_,
                              "SELECT device,second,resolution,count,block,origin,seqs,version,"
                              "partly_uploaded FROM pending ORDER BY device, second",
                              -1, &q, nullptr);
  if (rc != SQLITE_OK) return SqlError("list pending", rc);
  Stmt s(q);  // finalizes on return
  while ((rc = s.Step()) == SQLITE_ROW) {
    PendingRow row;
    row.device_id = s.Text(0);
    row.second = s.Int(1);
    row.resolution_g = s.Double(2);
    row.count = static_cast<uint32_t>(s.Int(3));
    row.block = s.Blob(4);
    row.origin = s.Blob(5);
    ACCEL_RETURN_IF_ERROR(ParseSeqList(s.Text(6), &row.seqs));
    row.version = s.Int(7);
    row.needs_merge = s.Int(8) != 0;
    out->push_back(std::move(row));
  }
  if (rc != SQLITE_DONE) return SqlError("list pending", rc);
  return Status::OK();
}

Status RelayStore::ListUploaded(std::vector<UploadedRecord>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  out->clear();
  sqlite3_stmt* q = nullptr;
  int rc = sqlite3_prepare_v2(
      db_, "SELECT device,second,seqs,count FROM uploaded ORDER BY device, second", -1, &q,
      nullptr);
  if (rc != SQLITE_OK) return SqlError("list uploaded", rc);
  Stmt s(q);
  while ((rc = s.Step()) == SQLITE_ROW) {
    UploadedRecord r;
    r.device_id = s.Text(0);
    r.second = s.Int(1);
    ACCEL_RETURN_IF_ERROR(ParseSeqList(s.Text(2), &r.seqs));
    r.count = static_cast<uint32_t>(s.Int(3));
    out->push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return SqlError("list uploaded", rc);
  return Status::OK();
}

Status RelayStore::ListQuarantine(std::vector<QuarantinedBatch>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  out->clear();
  sqlite3_stmt* q = nullptr;
  int rc = sqlite3_prepare_v2(
      db_, "SELECT device,seq,reason,raw,received_ns FROM quarantine ORDER BY id", -1, &q, nullptr);
  if (rc != SQLITE_OK) return SqlError("list quarantine", rc);
  Stmt s(q);
  while ((rc = s.Step()) == SQLITE_ROW) {
    QuarantinedBatch b;
    b.device_id = s.Text(0);
    b.sequence = static_cast<uint64_t>(s.Int(1));
    b.reason = s.Text(2);
    b.raw = s.Blob(3);
    b.received_ns = s.Int(4);
    out->push_back(std::move(b));
  }
  if (rc != SQLITE_DONE) return SqlError("list quarantine", rc);
  return Status::OK();
}

Status RelayStore::ListRejectedRows(std::vector<RejectedRow>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  out->clear();
  sqlite3_stmt* q = nullptr;
  int rc = sqlite3_prepare_v2(
      db_, "SELECT device,second,message,count FROM rejected_rows ORDER BY id", -1, &q, nullptr);
  if (rc != SQLITE_OK) return SqlError("list rejected rows", rc);
  Stmt s(q);
  while ((rc = s.Step()) == SQLITE_ROW) {
    RejectedRow r;
    r.device_id = s.Text(0);
    r.second = s.Int(1);
    r.message = s.Text(2);
    r.count = static_cast<uint32_t>(s.Int(3));
    out->push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return SqlError("list rejected rows", rc);
  return Status::OK();
}

}  // namespace relay
}  // namespace accel
