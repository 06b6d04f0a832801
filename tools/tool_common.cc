#include "tools/tool_common.h"

#include <ftw.h>
#include <stdio.h>

#include <algorithm>
#include <map>
#include <set>

#include "phone-relay/dynamodb_row.h"
#include "phone-relay/second_rows.h"

namespace accel {
namespace tools {

Result<AwsSetup> MakeAwsSetup(const std::string& partition_id, int64_t request_timeout_ms) {
  AwsSetup s;
  auto creds = relay::StaticCredentialsProvider::FromEnvironment(partition_id);
  if (!creds.ok()) return creds.status();
  s.creds = std::move(creds.value());
  relay::DynamoDbClientOptions o;
  o.http.request_timeout_ms = request_timeout_ms;
  o.retry.max_attempts = 4;  // an interactive tool says what is wrong rather than waiting minutes
  auto client = relay::DynamoDbClient::Create(o, s.creds.get());
  if (!client.ok()) return client.status();
  s.client = std::move(client.value());
  return s;
}

std::string DefaultReplayDeviceId(const std::vector<Sample>& samples) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (const Sample& s : samples) {
    uint64_t t = static_cast<uint64_t>(s.t_ns);
    for (int i = 0; i < 8; ++i) {
      h ^= (t >> (8 * i)) & 0xff;
      h *= 0x100000001b3ull;
    }
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "replay-%016llx", static_cast<unsigned long long>(h));
  return buf;
}

uint64_t ReplayFirstSequence(const std::vector<Sample>& samples) {
  if (samples.empty() || samples.front().t_ns < 1000) return 1;
  return static_cast<uint64_t>(samples.front().t_ns / 1000);
}

Result<RowEstimate> EstimateRows(const std::vector<QSample>& samples, double resolution_g,
                                 const std::string& partition_id, const std::string& device_id,
                                 uint64_t first_sequence, size_t batch_samples) {
  // Per second: its samples and the batches they came from (the item's `b`).
  std::map<int64_t, std::vector<QSample>> by_second;
  std::map<int64_t, std::set<uint64_t>> seqs;
  for (size_t i = 0; i < samples.size(); ++i) {
    int64_t s = relay::EpochSecondOf(samples[i].t_ns);
    by_second[s].push_back(samples[i]);
    seqs[s].insert(first_sequence + i / batch_samples);
  }
  RowEstimate e;
  size_t bytes = 0;
  for (auto& [second, qs] : by_second) {
    std::stable_sort(qs.begin(), qs.end(),
                     [](const QSample& a, const QSample& b) { return a.t_ns < b.t_ns; });
    std::string block;
    ACCEL_RETURN_IF_ERROR(relay::EncodeSecondBlock(second, resolution_g, qs, &block)
                              .WithContext("second " + std::to_string(second)));
    std::vector<uint64_t> b(seqs[second].begin(), seqs[second].end());
    relay::RowItem item;
    item.identity_id = partition_id;
    item.device_id = device_id;
    item.second = second;
    item.count = static_cast<uint32_t>(qs.size());
    item.block = block;
    item.resolution_g = resolution_g;
    item.seqs = &b;
    item.version = 1;
    bytes += relay::ItemSizeBytes(item);
    ++e.rows;
  }
  e.avg_row_bytes = e.rows ? static_cast<double>(bytes) / e.rows : 0;
  return e;
}

void RemoveTree(const std::string& dir) {
  if (dir.empty()) return;
  nftw(
      dir.c_str(),
      [](const char* path, const struct stat*, int, struct FTW*) {
        ::remove(path);  // best effort: keep walking
        return 0;
      },
      16, FTW_DEPTH | FTW_PHYS);
}

}  // namespace tools
}  // namespace accel
