// Small pieces the developer tools share: the DynamoDB client built from the
// AWS SDK environment conventions, the replay's batch plan (how sensor-replay
// cuts and numbers batches, a function of the data only), and helpers.
#ifndef ACCEL_TOOLS_TOOL_COMMON_H_
#define ACCEL_TOOLS_TOOL_COMMON_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/sample.h"
#include "phone-relay/credentials.h"
#include "phone-relay/dynamodb_client.h"

namespace accel {
namespace tools {

// Exit codes of every tool (shared/DESIGN.md): 0 success, 1 runtime failure
// (unreachable endpoint, bad input file, a difference found), 2 usage or
// configuration error (unknown option, missing credentials, bad endpoint URL).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitUsage = 2;

// Credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY(/AWS_SESSION_TOKEN),
// endpoint and region from AWS_ENDPOINT_URL_DYNAMODB/AWS_ENDPOINT_URL/AWS_REGION.
// Every error it returns is a configuration error (exit code 2).
struct AwsSetup {
  std::unique_ptr<relay::CredentialsProvider> creds;
  std::unique_ptr<relay::DynamoDbClient> client;
};
Result<AwsSetup> MakeAwsSetup(const std::string& partition_id, int64_t request_timeout_ms = 10000);

// --- The replay's batch plan -------------------------------------------------
//
// Invariant 4 (replaying anything never changes the final table) needs a
// replay of the same input to produce the same batches: the same device id,
// the same cuts and the same sequence numbers. Then a relay that has seen the
// batches answers "duplicate" (its ledger is keyed by (device, sequence) and
// compares the content), and a fresh relay writes byte-identical items.

// Samples per batch. Cuts are made by count only (never by age or pacing), so
// they depend on the data alone.
inline constexpr size_t kReplayBatchSamples = 1500;

// "replay-" + 16 hex digits of FNV-1a-64 over the sample timestamps (int64,
// little endian): the same recording gets the same device whatever the file's
// path or format (CSV or batch file), and the watch and phone recordings of
// one session (different timestamps) get different devices.
std::string DefaultReplayDeviceId(const std::vector<Sample>& samples);

// The first batch's sequence number: the first sample's time in microseconds
// since the epoch (at least 1); batch k gets first + k. Derived from the data,
// so it repeats exactly; and like the agent's own InitialSequence (the clock
// in microseconds) it does not collide with the numbers of other recordings
// of the device unless their time ranges overlap.
uint64_t ReplayFirstSequence(const std::vector<Sample>& samples);

// The items the relay builds from a replay (one per second), computed from the
// source the way the relay builds them: the count and mean billed size
// (relay::ItemSizeBytes, version 1), for the report when nothing is read back.
struct RowEstimate {
  uint64_t rows = 0;
  double avg_row_bytes = 0;
};
Result<RowEstimate> EstimateRows(const std::vector<QSample>& samples, double resolution_g,
                                 const std::string& partition_id, const std::string& device_id,
                                 uint64_t first_sequence, size_t batch_samples);

// Removes a directory tree (the tools' temporary state); best effort.
void RemoveTree(const std::string& dir);

}  // namespace tools
}  // namespace accel

#endif  // ACCEL_TOOLS_TOOL_COMMON_H_
