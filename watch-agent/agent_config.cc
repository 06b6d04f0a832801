#include "watch-agent/agent_config.h"

#include <cmath>

#include "common/config.h"
#include "link/pairing.h"

namespace accel {

namespace {

Status ParseLogLevel(const std::string& s, LogLevel* out) {
  if (s == "debug")
    *out = LogLevel::kDebug;
  else if (s == "info")
    *out = LogLevel::kInfo;
  else if (s == "warn")
    *out = LogLevel::kWarn;
  else if (s == "error")
    *out = LogLevel::kError;
  else
    return Status::InvalidArgument("log_level must be debug, info, warn or error, got '" + s + "'");
  return Status::OK();
}

Status ParseSource(const nlohmann::json& j, const std::string& where, AgentConfig* out) {
  ConfigReader r(j, where);
  std::string type;
  ACCEL_RETURN_IF_ERROR(r.String("type", &type, true));
  if (type == "synthetic") {
    out->source = AgentConfig::Source::kSynthetic;
    SyntheticOptions& o = out->synthetic;
    int64_t seed = 1, max_samples = 0, retention_s = 3 * 86400, delay_ms = 0, start_ms = 0;
    ACCEL_RETURN_IF_ERROR(r.Int("seed", &seed, 0, INT64_MAX));
    ACCEL_RETURN_IF_ERROR(r.Double("rate_hz", &o.rate_hz, 0.001, 100000));
    ACCEL_RETURN_IF_ERROR(r.Double("time_scale", &o.time_scale, 0.001, 1e6));
    ACCEL_RETURN_IF_ERROR(r.Int("max_samples", &max_samples, 0, INT64_MAX));
    ACCEL_RETURN_IF_ERROR(r.Int("retention_s", &retention_s, 0, 365 * 86400));
    ACCEL_RETURN_IF_ERROR(r.Int("availability_delay_ms", &delay_ms, 0, 86400000));
    ACCEL_RETURN_IF_ERROR(r.Int("start_unix_ms", &start_ms, 0, INT64_MAX / 1000000));
    o.seed = static_cast<uint64_t>(seed);
    o.max_samples = static_cast<uint64_t>(max_samples);
    o.retention_ns = retention_s * 1000000000;
    o.availability_delay_ns = delay_ms * 1000000;
    o.start_unix_ns = start_ms * 1000000;
  } else if (type == "file") {
    out->source = AgentConfig::Source::kFile;
    nlohmann::json paths;
    // "paths" is an array; ConfigReader has no array getter, so read it here.
    auto it = j.find("paths");
    if (it == j.end() || !it->is_array() || it->empty())
      return Status::InvalidArgument(where +
                                     ": key 'paths': expected a non-empty array of file names");
    for (const auto& p : *it) {
      if (!p.is_string()) return Status::InvalidArgument(where + ": key 'paths': expected strings");
      out->file.paths.push_back(p.get<std::string>());
    }
    nlohmann::json ignored;
    r.Object("paths", &ignored).ok();  // mark as read (type checked above)
    ACCEL_RETURN_IF_ERROR(r.Double("pace", &out->file.pace, 0, 1e9));
  } else if (type == "iio") {
    out->source = AgentConfig::Source::kIio;
    int64_t len = out->iio.buffer_length;
    ACCEL_RETURN_IF_ERROR(r.String("sysfs_root", &out->iio.sysfs_root));
    ACCEL_RETURN_IF_ERROR(r.String("dev_dir", &out->iio.dev_dir));
    ACCEL_RETURN_IF_ERROR(r.String("device", &out->iio.device));
    int64_t keep = static_cast<int64_t>(out->iio.max_buffered_scans);
    ACCEL_RETURN_IF_ERROR(r.Int("buffer_length", &len, 2, 1 << 20));
    ACCEL_RETURN_IF_ERROR(r.Int("max_buffered_scans", &keep, 1, 1 << 24));
    out->iio.buffer_length = static_cast<int>(len);
    out->iio.max_buffered_scans = static_cast<size_t>(keep);
  } else {
    return Status::InvalidArgument(where + ": key 'type': expected synthetic, file or iio, got '" +
                                   type + "'");
  }
  return r.Finish();
}

}  // namespace

Status ParseAgentConfig(const nlohmann::json& j, const std::string& where, AgentConfig* out) {
  ConfigReader r(j, where);
  AgentOptions& a = out->agent;
  ACCEL_RETURN_IF_ERROR(r.String("device_id", &a.device_id, true));
  ACCEL_RETURN_IF_ERROR(r.String("state_dir", &a.state_dir, true));
  ACCEL_RETURN_IF_ERROR(r.String("relay", &a.relay_endpoint, true));
  ACCEL_RETURN_IF_ERROR(r.String("pairing_secret_file", &out->pairing_secret_file, true));
  std::string res = "1/16384", level = "info";
  ACCEL_RETURN_IF_ERROR(r.String("resolution", &res));
  auto resolution = Resolution::Parse(res);
  if (!resolution.ok()) return resolution.status().WithContext(where + ": key 'resolution'");
  a.resolution = *resolution;
  double rate = 50;
  ACCEL_RETURN_IF_ERROR(r.Double("nominal_rate_hz", &rate, 0.001, 100000));
  a.nominal_period_ns = static_cast<int64_t>(std::llround(1e9 / rate));
  int64_t batch_max = static_cast<int64_t>(a.batch_max_samples);
  int64_t max_bytes = static_cast<int64_t>(a.outbox.max_bytes);
  int64_t max_files = static_cast<int64_t>(a.outbox.max_files);
  ACCEL_RETURN_IF_ERROR(r.Int("batch_max_samples", &batch_max, 1, 100000));
  ACCEL_RETURN_IF_ERROR(r.Int("batch_max_age_ms", &a.batch_max_age_ms, 1, 86400000));
  ACCEL_RETURN_IF_ERROR(r.Int("outbox_max_bytes", &max_bytes, 4096, INT64_MAX));
  ACCEL_RETURN_IF_ERROR(r.Int("outbox_max_files", &max_files, 1, 100000000));
  ACCEL_RETURN_IF_ERROR(r.Int("poll_interval_ms", &a.poll_interval_ms, 1, 60000));
  ACCEL_RETURN_IF_ERROR(r.Int("io_timeout_ms", &a.io_timeout_ms, 100, 600000));
  ACCEL_RETURN_IF_ERROR(r.Int("answer_timeout_ms", &a.answer_timeout_ms, 100, 3600000));
  ACCEL_RETURN_IF_ERROR(r.Int("heartbeat_ms", &a.heartbeat_ms, 100, 600000));
  ACCEL_RETURN_IF_ERROR(r.Int("backoff_initial_ms", &a.backoff_initial_ms, 1, 3600000));
  ACCEL_RETURN_IF_ERROR(r.Int("backoff_max_ms", &a.backoff_max_ms, 1, 86400000));
  ACCEL_RETURN_IF_ERROR(r.Bool("exit_when_drained", &a.exit_when_drained));
  ACCEL_RETURN_IF_ERROR(r.String("log_level", &level));
  ACCEL_RETURN_IF_ERROR(ParseLogLevel(level, &out->log_level).WithContext(where));
  a.batch_max_samples = static_cast<size_t>(batch_max);
  a.outbox.max_bytes = static_cast<uint64_t>(max_bytes);
  a.outbox.max_files = static_cast<uint64_t>(max_files);
  if (a.backoff_max_ms < a.backoff_initial_ms)
    return Status::InvalidArgument(where + ": backoff_max_ms must be >= backoff_initial_ms");
  nlohmann::json source;
  ACCEL_RETURN_IF_ERROR(r.Object("source", &source, true));
  ACCEL_RETURN_IF_ERROR(ParseSource(source, where + ": source", out));
  return r.Finish();
}

Status LoadAgentConfig(const std::string& path, AgentConfig* out) {
  nlohmann::json j;
  ACCEL_RETURN_IF_ERROR(LoadJsonFile(path, &j));
  ACCEL_RETURN_IF_ERROR(ParseAgentConfig(j, path, out));
  auto psk = link::LoadPairingSecret(out->pairing_secret_file);
  if (!psk.ok()) return psk.status().WithContext(path + ": pairing_secret_file");
  out->agent.psk = *psk;
  return Status::OK();
}

Result<std::unique_ptr<SensorRecorder>> MakeRecorder(const AgentConfig& config, Clock* clock) {
  switch (config.source) {
    case AgentConfig::Source::kSynthetic:
      return std::unique_ptr<SensorRecorder>(new SyntheticRecorder(config.synthetic, clock));
    case AgentConfig::Source::kFile: {
      auto r = FileRecorder::Open(config.file, clock);
      if (!r.ok()) return r.status();
      return std::unique_ptr<SensorRecorder>(std::move(r.value()));
    }
    case AgentConfig::Source::kIio: {
      auto r = IioRecorder::Open(config.iio);
      if (!r.ok()) return r.status();
      return std::unique_ptr<SensorRecorder>(std::move(r.value()));
    }
  }
  return Status::InvalidArgument("unknown source");
}

}  // namespace accel
