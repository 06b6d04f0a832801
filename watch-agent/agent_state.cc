#include "watch-agent/agent_state.h"

#include <nlohmann/json.hpp>

namespace accel {

Status AgentState::Load(Env* env, const std::string& path, AgentState* out) {
  std::string text;
  ACCEL_RETURN_IF_ERROR(env->ReadFile(path, &text, 4096));
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j["cursor"].is_number_unsigned() ||
      !j["next_sequence"].is_number_unsigned())
    return Status::Corruption(path + ": expected {\"cursor\": N, \"next_sequence\": N}");
  out->cursor = j["cursor"].get<uint64_t>();
  out->next_sequence = j["next_sequence"].get<uint64_t>();
  return Status::OK();
}

Status AgentState::Save(Env* env, const std::string& path) const {
  nlohmann::json j = {{"cursor", cursor}, {"next_sequence", next_sequence}};
  return WriteFileAtomically(env, path, j.dump() + "\n");
}

uint64_t InitialSequence(int64_t now_unix_ns) {
  return now_unix_ns > 0 ? static_cast<uint64_t>(now_unix_ns / 1000) : 1;
}

}  // namespace accel
