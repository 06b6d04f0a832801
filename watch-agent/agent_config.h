// AgentConfig: the watch agent's JSON configuration file. Every key is
// documented in docs/watch-agent.md; unknown keys are an error naming them.
#ifndef ACCEL_WATCH_AGENT_AGENT_CONFIG_H_
#define ACCEL_WATCH_AGENT_AGENT_CONFIG_H_

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "common/clock.h"
#include "common/log.h"
#include "watch-agent/agent.h"
#include "watch-agent/file_recorder.h"
#include "watch-agent/iio_recorder.h"
#include "watch-agent/synthetic_recorder.h"

namespace accel {

struct AgentConfig {
  AgentOptions agent;
  std::string pairing_secret_file;
  LogLevel log_level = LogLevel::kInfo;
  enum class Source { kSynthetic, kFile, kIio } source = Source::kSynthetic;
  SyntheticOptions synthetic;
  FileRecorderOptions file;
  IioOptions iio;
};

// Parses and validates the file, and loads the pairing secret it names.
Status LoadAgentConfig(const std::string& path, AgentConfig* out);
// Parses an already-loaded JSON document (tests); `where` names it in errors.
Status ParseAgentConfig(const nlohmann::json& j, const std::string& where, AgentConfig* out);

Result<std::unique_ptr<SensorRecorder>> MakeRecorder(const AgentConfig& config, Clock* clock);

}  // namespace accel

#endif  // ACCEL_WATCH_AGENT_AGENT_CONFIG_H_
