// Credentials: the AWS keys requests are signed with, and the interface the
// relay gets them through. Static keys from the environment come first; the
// Cognito Identity provider (its own issue) implements the same interface.
//
// Secrets never reach logs: only access_key_id (and Redacted()) may be printed.
#ifndef ACCEL_PHONE_RELAY_CREDENTIALS_H_
#define ACCEL_PHONE_RELAY_CREDENTIALS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "phone-relay/aws_endpoint.h"

namespace accel {
namespace relay {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;    // empty for long-term keys
  int64_t expiration_unix = 0;  // 0 = does not expire

  // "AKIA...XYZ (session token, expires 1795502550)": safe to log.
  std::string Redacted() const;
};

// What `status` shows about the credentials in use: never a secret.
struct CredentialInfo {
  std::string source;           // "static", "cognito", ...
  std::string identity_id;      // the partition key of the rows
  int64_t expiration_unix = 0;  // of the credentials held now; 0 = none (static keys); -1 = unknown
};

class CredentialsProvider {
 public:
  virtual ~CredentialsProvider() = default;
  // Credentials valid at least until now_unix + min_validity_s (now_unix is the
  // clock-skew-corrected time). Refreshes when needed; an error says why none
  // can be had (PermissionDenied: rejected by the IdP; Unavailable: try later).
  // Thread-safe.
  virtual Result<AwsCredentials> Get(int64_t now_unix, int64_t min_validity_s) = 0;
  // The partition key of this user's rows (the Cognito identity id).
  virtual std::string identity_id() const = 0;
  // The service rejected the last credentials (expired or unknown token): the
  // next Get must not return them from a cache.
  virtual void Invalidate() = 0;
  // For `status` and the metrics: cheap, never refreshes or blocks on the
  // network. Thread-safe.
  virtual CredentialInfo Describe() const { return {"unknown", identity_id(), -1}; }
};

// Fixed keys (development, local servers). Invalidate() is a no-op: there is
// nothing to refresh, so an auth error after the one retry is final.
class StaticCredentialsProvider : public CredentialsProvider {
 public:
  StaticCredentialsProvider(AwsCredentials creds, std::string identity_id);
  // AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional).
  // The identity id for rows: `identity_id`, or when empty "static:<access key id>".
  static Result<std::unique_ptr<StaticCredentialsProvider>> FromEnvironment(
      const std::string& identity_id = "", const EnvLookup& env = ProcessEnv());

  Result<AwsCredentials> Get(int64_t now_unix, int64_t min_validity_s) override;
  std::string identity_id() const override { return identity_id_; }
  void Invalidate() override {}
  // Source "static"; expiry none (0) unless the keys carry one.
  CredentialInfo Describe() const override {
    return {"static", identity_id_, creds_.expiration_unix};
  }

 private:
  AwsCredentials creds_;
  std::string identity_id_;
};

}  // namespace relay
}  // namespace accel

#endif  // ACCEL_PHONE_RELAY_CREDENTIALS_H_
