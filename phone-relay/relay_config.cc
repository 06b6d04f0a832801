#include "phone-relay/relay_config.h"

#include "common/config.h"

namespace accel {
namespace relay {

Status ParseRelayConfig(const nlohmann::json& j, const std::string& where, RelayConfig* out) {
  ConfigReader r(j, where);
  ACCEL_RETURN_IF_ERROR(r.String("state_dir", &out->state_dir, true));
  ACCEL_RETURN_IF_ERROR(r.String("listen", &out->listen, true));
  ACCEL_RETURN_IF_ERROR(r.String("paired_devices_dir", &out->paired_devices_dir, true));
  ACCEL_RETURN_IF_ERROR(r.String("table", &out->table, true));
  ACCEL_RETURN_IF_ERROR(r.String("partition_id", &out->partition_id));
  ACCEL_RETURN_IF_ERROR(r.String("endpoint_url", &out->endpoint_url));
  ACCEL_RETURN_IF_ERROR(r.String("region", &out->region));
  ACCEL_RETURN_IF_ERROR(r.String("ca_bundle", &out->ca_bundle));
  ACCEL_RETURN_IF_ERROR(r.String("metrics_listen", &out->metrics_listen));
  int64_t budget = static_cast<int64_t>(out->buffer_max_bytes), conc = out->upload_concurrency;
  ACCEL_RETURN_IF_ERROR(r.Int("buffer_max_bytes", &budget, 1 << 20, INT64_MAX));
  ACCEL_RETURN_IF_ERROR(r.Int("flush_timeout_ms", &out->flush_timeout_ms, 1, 3600000));
  ACCEL_RETURN_IF_ERROR(r.Int("upload_concurrency", &conc, 1, 64));
  ACCEL_RETURN_IF_ERROR(r.Bool("create_table", &out->create_table));
  ACCEL_RETURN_IF_ERROR(r.Int("io_timeout_ms", &out->io_timeout_ms, 100, 600000));
  ACCEL_RETURN_IF_ERROR(r.Int("heartbeat_ms", &out->heartbeat_ms, 100, 600000));
  ACCEL_RETURN_IF_ERROR(r.Int("idle_timeout_ms", &out->idle_timeout_ms, 100, 3600000));
  std::string level = "info";
  ACCEL_RETURN_IF_ERROR(r.String("log_level", &level));
  if (level == "debug") out->log_level = LogLevel::kDebug;
  else if (level == "info") out->log_level = LogLevel::kInfo;
  else if (level == "warn") out->log_level = LogLevel::kWarn;
  else if (level == "error") out->log_level = LogLevel::kError;
  else return Status::InvalidArgument(where + ": key 'log_level': expected debug, info, warn or error");
  out->buffer_max_bytes = static_cast<uint64_t>(budget);
  out->upload_concurrency = static_cast<int>(conc);
  if (!out->metrics_listen.empty() && out->metrics_listen.rfind(':') == std::string::npos)
    return Status::InvalidArgument(where + ": key 'metrics_listen': expected HOST:PORT");
  return r.Finish();
}

Status LoadRelayConfig(const std::string& path, RelayConfig* out) {
  nlohmann::json j;
  ACCEL_RETURN_IF_ERROR(LoadJsonFile(path, &j));
  return ParseRelayConfig(j, path, out);
}

}  // namespace relay
}  // namespace accel
