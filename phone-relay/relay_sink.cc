#include "phone-relay/relay_sink.h"

#include "common/log.h"

namespace accel {
namespace relay {

namespace {
link::TransferResult ToTransfer(const IngestResult& r) {
  link::TransferResult t;
  switch (r.outcome) {
    case IngestOutcome::kCommitted:
      t.outcome = link::Outcome::kCommitted;
      break;
    case IngestOutcome::kDuplicate:
      t.outcome = link::Outcome::kDuplicate;
      break;
    case IngestOutcome::kRejected:
      t.outcome = link::Outcome::kRejected;
      break;
    case IngestOutcome::kRefusedFull:
      t.outcome = link::Outcome::kRefusedFull;
      break;
  }
  t.reason = r.reason;
  return t;
}
}  // namespace

link::TransferResult RelaySink::Commit(const std::string& device_id, uint64_t sequence,
                                       std::string_view bytes) {
  auto r = store_->Ingest(device_id, sequence, bytes);
  if (!r.ok()) {
    // Nothing was stored (the transaction rolled back). Answer "refused" so
    // the watch keeps the file and offers it again later: never acknowledge
    // what is not durable, never make the watch delete it (invariants 2, 6).
    LogError("batch " + std::to_string(sequence) + " of " + device_id +
             " not stored: " + r.status().ToString());
    link::TransferResult t;
    t.outcome = link::Outcome::kRefusedFull;
    t.reason = "relay could not store the batch: " + r.status().ToString();
    return t;
  }
  if (r->outcome == IngestOutcome::kRejected)
    LogWarn("batch " + std::to_string(sequence) + " of " + device_id +
            " quarantined: " + r->reason);
  return ToTransfer(*r);
}

std::optional<link::TransferResult> RelaySink::PreCheck(const std::string& device_id,
                                                        uint64_t sequence, uint64_t size) {
  auto r = store_->PreCheck(device_id, sequence, size);
  if (!r.ok()) {
    link::TransferResult t;
    t.outcome = link::Outcome::kRefusedFull;
    t.reason = "relay store unavailable: " + r.status().ToString();
    return t;
  }
  if (r->outcome == IngestOutcome::kRefusedFull) return ToTransfer(*r);
  return std::nullopt;
}

}  // namespace relay
}  // namespace accel
