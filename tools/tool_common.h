// Small pieces the developer tools share: the DynamoDB client built from the
// AWS SDK environment conventions, and argument helpers.
#ifndef ACCEL_TOOLS_TOOL_COMMON_H_
#define ACCEL_TOOLS_TOOL_COMMON_H_

#include <memory>
#include <string>

#include "phone-relay/credentials.h"
#include "phone-relay/dynamodb_client.h"

namespace accel {
namespace tools {

// Credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY(/AWS_SESSION_TOKEN),
// endpoint and region from AWS_ENDPOINT_URL_DYNAMODB/AWS_ENDPOINT_URL/AWS_REGION.
struct AwsSetup {
  std::unique_ptr<relay::CredentialsProvider> creds;
  std::unique_ptr<relay::DynamoDbClient> client;
};
Result<AwsSetup> MakeAwsSetup(const std::string& partition_id, int64_t request_timeout_ms = 10000);

}  // namespace tools
}  // namespace accel

#endif  // ACCEL_TOOLS_TOOL_COMMON_H_
