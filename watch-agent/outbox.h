// Outbox: the watch's durable queue of batch files waiting for the relay.
//
// Each entry is one file "<sequence>-<cursor>.batch" (both zero-padded
// decimal), where <cursor> is the recorder cursor after the batch's last
// sample. Publishing the file (an atomic rename) therefore makes the batch and
// the cursor it implies durable in one step; the agent's state file can lag
// behind by one crash and is rolled forward from here (see Agent::Recover).
// A file leaves the outbox only after the relay acknowledged its commit, or is
// moved to rejected/ when it can never be delivered (corrupt, rejected by the
// relay, larger than the relay accepts): never deleted unacknowledged, never
// deleted to make room.
#ifndef ACCEL_WATCH_AGENT_OUTBOX_H_
#define ACCEL_WATCH_AGENT_OUTBOX_H_

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "common/env.h"

namespace accel {

struct OutboxEntry {
  uint64_t sequence = 0;
  uint64_t cursor_after = 0;
  uint64_t bytes = 0;
  std::string path;
};

struct OutboxLimits {
  uint64_t max_bytes = 64ull << 20;
  uint64_t max_files = 10000;
};

// Deletes the "*.tmp" files WriteFileAtomically may have left in `dir` after a
// crash (and syncs the directory); the other names go to `rest`.
Status RemoveTempFiles(Env* env, const std::string& dir, std::vector<std::string>* rest);

class Outbox {
 public:
  Outbox(Env* env, std::string dir, OutboxLimits limits);

  // Creates the directories, deletes half-written "*.tmp" files (in the
  // outbox and in rejected/), and indexes what is there. Files with names it
  // does not understand are reported, not deleted.
  Status Open();
  // Durably publishes one batch file.
  Status Add(uint64_t sequence, uint64_t cursor_after, const std::string& bytes);
  // Entries in sequence order.
  std::vector<OutboxEntry> List() const;
  // The relay acknowledged (committed or duplicate): forget the file durably.
  Status Remove(uint64_t sequence);
  // The batch can never be delivered (corrupt, rejected or too large for the
  // relay): keep it for inspection in rejected/ with a ".reason" file.
  Status Reject(uint64_t sequence, const std::string& reason);
  // The quarantined batches in rejected/ (sequence order); their names carry
  // sequence and cursor like the outbox's, which Agent::Recover uses when the
  // state file is lost.
  std::vector<OutboxEntry> ListRejected() const;
  size_t rejected_files() const;
  bool Full() const;
  uint64_t bytes() const;
  size_t files() const;
  const std::string& dir() const { return dir_; }

  static std::string FileName(uint64_t sequence, uint64_t cursor_after);
  static bool ParseFileName(const std::string& name, uint64_t* sequence, uint64_t* cursor_after);

 private:
  Env* env_;
  std::string dir_;
  OutboxLimits limits_;
  mutable std::mutex mu_;
  std::vector<OutboxEntry> entries_;   // sorted by sequence
  std::vector<OutboxEntry> rejected_;  // sorted by sequence
  uint64_t bytes_ = 0;
};

}  // namespace accel

#endif  // ACCEL_WATCH_AGENT_OUTBOX_H_
