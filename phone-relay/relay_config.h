// RelayConfig: the phone relay's JSON configuration file. Every key is
// documented in docs/phone-relay.md; unknown keys are an error naming them.
#ifndef ACCEL_PHONE_RELAY_RELAY_CONFIG_H_
#define ACCEL_PHONE_RELAY_RELAY_CONFIG_H_

#include <string>

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "common/status.h"

namespace accel {
namespace relay {

struct RelayConfig {
  std::string state_dir;           // relay.db (SQLite) and spool/
  std::string listen;              // link endpoint: tcp:HOST:PORT or unix:/path
  std::string paired_devices_dir;  // <device_id>.key pairing secrets (0600)
  std::string table;               // DynamoDB table
  // Static-credential mode: the partition key of every row (the identity id a
  // Cognito provider would give). Empty: "static:<access key id>".
  std::string partition_id;
  std::string endpoint_url;  // overrides AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL
  std::string region;        // overrides AWS_REGION
  std::string ca_bundle;     // overrides AWS_CA_BUNDLE
  std::string metrics_listen;  // "127.0.0.1:9464"; empty = no metrics endpoint
  uint64_t buffer_max_bytes = uint64_t{1} << 30;
  int64_t flush_timeout_ms = 2000;
  int upload_concurrency = 4;
  bool create_table = false;   // create the table if it does not exist (development)
  int64_t io_timeout_ms = 10000;
  int64_t heartbeat_ms = 5000;
  int64_t idle_timeout_ms = 15000;
  LogLevel log_level = LogLevel::kInfo;
};

Status ParseRelayConfig(const nlohmann::json& j, const std::string& where, RelayConfig* out);
Status LoadRelayConfig(const std::string& path, RelayConfig* out);

}  // namespace relay
}  // namespace accel

#endif  // ACCEL_PHONE_RELAY_RELAY_CONFIG_H_
