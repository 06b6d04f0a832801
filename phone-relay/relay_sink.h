// RelaySink: the link server's BatchSink backed by the RelayStore. The link
// acknowledges a batch only with what Commit() returns, and Commit() returns
// only after RelayStore::Ingest committed (WAL fsynced), so an acknowledged
// batch survives a crash or a power loss (invariant 2).
#ifndef ACCEL_PHONE_RELAY_RELAY_SINK_H_
#define ACCEL_PHONE_RELAY_RELAY_SINK_H_

#include <optional>
#include <string>
#include <string_view>

#include "link/server.h"
#include "phone-relay/relay_store.h"

namespace accel {
namespace relay {

class RelaySink : public link::BatchSink {
 public:
  explicit RelaySink(RelayStore* store) : store_(store) {}

  link::TransferResult Commit(const std::string& device_id, uint64_t sequence,
                              std::string_view bytes) override;
  std::optional<link::TransferResult> PreCheck(const std::string& device_id, uint64_t sequence,
                                               uint64_t size) override;

 private:
  RelayStore* store_;
};

}  // namespace relay
}  // namespace accel

#endif  // ACCEL_PHONE_RELAY_RELAY_SINK_H_
