// Config: strict reading of JSON configuration files. Every key a program
// reads is declared; a key nobody read is an error that names it, so a typo
// ("outbox_max_byte") never silently falls back to a default.
#ifndef ACCEL_COMMON_CONFIG_H_
#define ACCEL_COMMON_CONFIG_H_

#include <cstdint>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace accel {

// Parses a JSON file; errors name the file, line and column.
Status LoadJsonFile(const std::string& path, nlohmann::json* out);

// Reads one JSON object. `where` names it in errors ("agent.json").
class ConfigReader {
 public:
  ConfigReader(const nlohmann::json& object, std::string where);

  // Each getter leaves *out untouched when the key is absent and not required.
  Status String(const std::string& key, std::string* out, bool required = false);
  Status Int(const std::string& key, int64_t* out, int64_t min, int64_t max,
             bool required = false);
  Status Double(const std::string& key, double* out, double min, double max,
                bool required = false);
  Status Bool(const std::string& key, bool* out, bool required = false);
  // Returns the nested object (or null when absent) for a nested reader.
  Status Object(const std::string& key, nlohmann::json* out, bool required = false);

  // Fails on the first key that no getter asked for.
  Status Finish() const;

 private:
  const nlohmann::json* Find(const std::string& key, bool required, Status* st);
  Status TypeError(const std::string& key, const char* expected) const;

  const nlohmann::json& obj_;
  std::string where_;
  std::set<std::string> seen_;
  Status init_;
};

}  // namespace accel

#endif  // ACCEL_COMMON_CONFIG_H_
