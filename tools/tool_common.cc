#include "tools/tool_common.h"

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

}  // namespace tools
}  // namespace accel
