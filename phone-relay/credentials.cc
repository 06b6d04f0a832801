#include "phone-relay/credentials.h"

#include <memory>

namespace accel {
namespace relay {

std::string AwsCredentials::Redacted() const {
  std::string s = access_key_id.empty() ? "(no access key)" : access_key_id;
  if (!session_token.empty()) s += " (session token)";
  if (expiration_unix != 0) s += " expires " + std::to_string(expiration_unix);
  return s;
}

StaticCredentialsProvider::StaticCredentialsProvider(AwsCredentials creds, std::string identity_id)
    : creds_(std::move(creds)), identity_id_(std::move(identity_id)) {
  if (identity_id_.empty()) identity_id_ = "static:" + creds_.access_key_id;
}

Result<std::unique_ptr<StaticCredentialsProvider>> StaticCredentialsProvider::FromEnvironment(
    const std::string& identity_id, const EnvLookup& env) {
  AwsCredentials c;
  const char* id = env("AWS_ACCESS_KEY_ID");
  const char* secret = env("AWS_SECRET_ACCESS_KEY");
  const char* token = env("AWS_SESSION_TOKEN");
  if (id == nullptr || *id == '\0') {
    return Status::InvalidArgument("AWS_ACCESS_KEY_ID is not set (static credentials)");
  }
  if (secret == nullptr || *secret == '\0') {
    return Status::InvalidArgument("AWS_SECRET_ACCESS_KEY is not set (static credentials for " +
                                   std::string(id) + ")");
  }
  c.access_key_id = id;
  c.secret_access_key = secret;
  if (token != nullptr) c.session_token = token;
  return std::make_unique<StaticCredentialsProvider>(std::move(c), identity_id);
}

Result<AwsCredentials> StaticCredentialsProvider::Get(int64_t now_unix, int64_t min_validity_s) {
  if (creds_.expiration_unix != 0 && creds_.expiration_unix < now_unix + min_validity_s) {
    return Status::PermissionDenied("static credentials " + creds_.Redacted() + " expire before " +
                                    std::to_string(now_unix + min_validity_s));
  }
  return creds_;
}

}  // namespace relay
}  // namespace accel
