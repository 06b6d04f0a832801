#include "common/config.h"

#include "common/env.h"

namespace accel {

Status LoadJsonFile(const std::string& path, nlohmann::json* out) {
  std::string text;
  ACCEL_RETURN_IF_ERROR(Env::Default()->ReadFile(path, &text, 16u << 20));
  try {
    *out = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    // Translate the byte offset to line:column for humans.
    size_t line = 1, col = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return Status::InvalidArgument(path + ":" + std::to_string(line) + ":" + std::to_string(col) +
                                   ": invalid JSON");
  }
  return Status::OK();
}

ConfigReader::ConfigReader(const nlohmann::json& object, std::string where)
    : obj_(object), where_(std::move(where)) {
  if (!obj_.is_object()) init_ = Status::InvalidArgument(where_ + ": expected a JSON object");
}

const nlohmann::json* ConfigReader::Find(const std::string& key, bool required, Status* st) {
  *st = init_;
  if (!st->ok()) return nullptr;
  seen_.insert(key);
  auto it = obj_.find(key);
  if (it == obj_.end() || it->is_null()) {
    if (required) *st = Status::InvalidArgument(where_ + ": missing required key '" + key + "'");
    return nullptr;
  }
  return &*it;
}

Status ConfigReader::TypeError(const std::string& key, const char* expected) const {
  return Status::InvalidArgument(where_ + ": key '" + key + "': expected " + expected);
}

Status ConfigReader::String(const std::string& key, std::string* out, bool required) {
  Status st;
  const nlohmann::json* v = Find(key, required, &st);
  if (v == nullptr) return st;
  if (!v->is_string()) return TypeError(key, "a string");
  *out = v->get<std::string>();
  return Status::OK();
}

Status ConfigReader::Int(const std::string& key, int64_t* out, int64_t min, int64_t max,
                         bool required) {
  Status st;
  const nlohmann::json* v = Find(key, required, &st);
  if (v == nullptr) return st;
  if (!v->is_number_integer()) return TypeError(key, "an integer");
  int64_t x = v->get<int64_t>();
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    x = INT64_MAX;
  if (x < min || x > max)
    return Status::InvalidArgument(where_ + ": key '" + key + "': " + std::to_string(x) +
                                   " is outside [" + std::to_string(min) + ", " +
                                   std::to_string(max) + "]");
  *out = x;
  return Status::OK();
}

Status ConfigReader::Double(const std::string& key, double* out, double min, double max,
                            bool required) {
  Status st;
  const nlohmann::json* v = Find(key, required, &st);
  if (v == nullptr) return st;
  if (!v->is_number()) return TypeError(key, "a number");
  double x = v->get<double>();
  if (!(x >= min && x <= max))
    return Status::InvalidArgument(where_ + ": key '" + key + "': " + std::to_string(x) +
                                   " is outside [" + std::to_string(min) + ", " +
                                   std::to_string(max) + "]");
  *out = x;
  return Status::OK();
}

Status ConfigReader::Bool(const std::string& key, bool* out, bool required) {
  Status st;
  const nlohmann::json* v = Find(key, required, &st);
  if (v == nullptr) return st;
  if (!v->is_boolean()) return TypeError(key, "true or false");
  *out = v->get<bool>();
  return Status::OK();
}

Status ConfigReader::Object(const std::string& key, nlohmann::json* out, bool required) {
  Status st;
  const nlohmann::json* v = Find(key, required, &st);
  if (v == nullptr) {
    *out = nullptr;
    return st;
  }
  if (!v->is_object()) return TypeError(key, "an object");
  *out = *v;
  return Status::OK();
}

Status ConfigReader::Finish() const {
  if (!init_.ok()) return init_;
  for (auto it = obj_.begin(); it != obj_.end(); ++it)
    if (!seen_.count(it.key()))
      return Status::InvalidArgument(where_ + ": unknown key '" + it.key() + "'");
  return Status::OK();
}

}  // namespace accel
