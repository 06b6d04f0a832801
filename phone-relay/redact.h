// Redaction of secrets from text that leaves the process's memory: log lines,
// the status file and endpoint, the last error kept in SQLite.
//
// AWS error bodies are not safe to keep verbatim: a SignatureDoesNotMatch /
// InvalidSignatureException answer may quote the canonical request and the
// string to sign it computed, and the canonical request lists every signed
// header with its value, x-amz-security-token included. So every message that
// came from a server goes through ScrubSecrets() before it is logged or stored.
#ifndef ACCEL_PHONE_RELAY_REDACT_H_
#define ACCEL_PHONE_RELAY_REDACT_H_

#include <initializer_list>
#include <string>
#include <string_view>

namespace accel {
namespace relay {

// What replaces a removed secret.
inline constexpr std::string_view kRedacted = "[redacted]";

// Returns `text` with, in this order:
//  1. everything from the first quoted canonical request or string to sign on
//     ("The Canonical String for this request should have been", "The
//     String-to-Sign should have been", <CanonicalRequest>, <StringToSign>,
//     ...) replaced by "[canonical request and string to sign removed]";
//  2. the value after a credential-bearing name (x-amz-security-token,
//     X-Amz-Security-Token=, SessionToken, SecretAccessKey, aws_secret_access_key,
//     aws_session_token, Signature=, ... in any case, with ':', '=', quotes or
//     spaces between name and value) replaced by [redacted];
//  3. every run of 40 or more base64 characters that mixes upper case, lower
//     case and digits (the shape of secret keys and session tokens; hex digests,
//     request ids and words do not match) replaced by [redacted].
std::string ScrubSecrets(std::string_view text);

// Replaces every occurrence of each known secret (raw, and URI-encoded as in a
// presigned URL) by [redacted]. Values shorter than 8 bytes are skipped (they
// would match by accident and are not real keys).
void ScrubKnownSecrets(std::string* text, std::initializer_list<std::string_view> secrets);

}  // namespace relay
}  // namespace accel

#endif  // ACCEL_PHONE_RELAY_REDACT_H_
