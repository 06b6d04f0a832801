#include "phone-relay/aws_error.h"

#include <nlohmann/json.hpp>

#include "phone-relay/redact.h"

namespace accel {
namespace relay {

namespace {

std::string XmlElement(std::string_view body, std::string_view name) {
  std::string open = "<" + std::string(name) + ">";
  std::string close = "</" + std::string(name) + ">";
  size_t a = body.find(open);
  if (a == std::string_view::npos) return "";
  a += open.size();
  size_t b = body.find(close, a);
  if (b == std::string_view::npos) return "";
  return std::string(body.substr(a, b - a));
}

// At most 200 bytes, control characters replaced: a body may be anything.
std::string Excerpt(std::string_view body) {
  std::string s;
  for (char c : body.substr(0, 200)) {
    s += (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) ? ' ' : c;
  }
  if (body.size() > 200) s += "...";
  return s;
}

bool Contains(const std::string& s, const char* needle) {
  return s.find(needle) != std::string::npos;
}

}  // namespace

std::string AwsError::ToString() const {
  std::string s = code;
  if (!message.empty()) s += ": " + message;
  s += " (HTTP " + std::to_string(http_status) + ")";
  return s;
}

AwsError ParseAwsError(long http_status, std::string_view body) {
  AwsError e;
  e.http_status = http_status;
  size_t first = body.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && body[first] == '{') {
    nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) {
      for (const char* k : {"__type", "code", "Code"}) {
        auto it = j.find(k);
        if (it != j.end() && it->is_string()) {
          e.code = it->get<std::string>();
          break;
        }
      }
      for (const char* k : {"message", "Message"}) {
        auto it = j.find(k);
        if (it != j.end() && it->is_string()) {
          e.message = it->get<std::string>();
          break;
        }
      }
    }
  } else if (first != std::string_view::npos && body[first] == '<') {
    e.code = XmlElement(body, "Code");
    e.message = XmlElement(body, "Message");
  }
  size_t hash = e.code.rfind('#');
  if (hash != std::string::npos) e.code = e.code.substr(hash + 1);
  // Some services append ":http://internal.amazon.com/coral/..." to the type.
  size_t colon = e.code.find(':');
  if (colon != std::string::npos) e.code = e.code.substr(0, colon);
  if (e.code.empty()) {
    e.code = "HTTP " + std::to_string(http_status);
    // Scrubbed before it is cut, so a secret cannot straddle the cut.
    if (e.message.empty()) e.message = Excerpt(ScrubSecrets(body));
  }
  // Never verbatim: a signature error may quote the canonical request, with
  // the session token in it (redact.h). Scrubbed here, before anyone logs it.
  e.code = ScrubSecrets(e.code);
  e.message = ScrubSecrets(e.message);
  return e;
}

ErrorClass ClassifyAwsError(const AwsError& e) {
  const std::string& c = e.code;
  if (c == "ThrottlingException" || c == "ProvisionedThroughputExceededException" ||
      c == "RequestLimitExceeded" || c == "Throttling" || c == "TooManyRequestsException" ||
      c == "SlowDown" || c == "TransactionInProgressException" || e.http_status == 429) {
    return ErrorClass::kThrottling;
  }
  if (c == "RequestTimeTooSkewed" || c == "RequestExpired" ||
      ((c == "InvalidSignatureException" || c == "SignatureDoesNotMatch") &&
       (Contains(e.message, "Signature expired") ||
        Contains(e.message, "Signature not yet current")))) {
    return ErrorClass::kClockSkew;
  }
  if (c == "UnrecognizedClientException" || c == "InvalidClientTokenId" ||
      c == "SignatureDoesNotMatch" || c == "InvalidSignatureException" ||
      c == "ExpiredTokenException" || c == "ExpiredToken" || c == "MissingAuthenticationToken" ||
      c == "IncompleteSignature" || c == "NotAuthorizedException") {
    return ErrorClass::kCredentials;
  }
  if (c == "AccessDeniedException" || c == "AccessDenied") return ErrorClass::kAccessDenied;
  if (c == "ConditionalCheckFailedException") return ErrorClass::kConditionFailed;
  if (c == "ResourceNotFoundException") return ErrorClass::kNotFound;
  if (e.http_status >= 500 || c == "InternalServerError" || c == "ServiceUnavailable" ||
      c == "ServiceUnavailableException" || c == "InternalFailure") {
    return ErrorClass::kTransient;
  }
  return ErrorClass::kValidation;
}

const char* ErrorClassName(ErrorClass c) {
  switch (c) {
    case ErrorClass::kThrottling:
      return "throttling";
    case ErrorClass::kTransient:
      return "transient";
    case ErrorClass::kClockSkew:
      return "clock-skew";
    case ErrorClass::kCredentials:
      return "credentials";
    case ErrorClass::kAccessDenied:
      return "access-denied";
    case ErrorClass::kConditionFailed:
      return "condition-failed";
    case ErrorClass::kNotFound:
      return "not-found";
    case ErrorClass::kValidation:
      return "validation";
  }
  return "?";
}

Status AwsErrorToStatus(const AwsError& e, const std::string& context) {
  std::string msg = context.empty() ? e.ToString() : context + ": " + e.ToString();
  switch (ClassifyAwsError(e)) {
    case ErrorClass::kNotFound:
      // The usual causes are configuration: say so next to the server's words.
      return Status::NotFound(msg +
                              "; the table does not exist in this region: check the table name "
                              "and the region (AWS_REGION, the config's `region`)");
    case ErrorClass::kValidation:
      return Status::InvalidArgument(msg);
    case ErrorClass::kCredentials:
    case ErrorClass::kAccessDenied:
    case ErrorClass::kClockSkew:
      return Status::PermissionDenied(msg);
    case ErrorClass::kThrottling:
      return Status::ResourceExhausted(msg);
    case ErrorClass::kTransient:
      return Status::Unavailable(msg);
    case ErrorClass::kConditionFailed:
      return Status::Aborted(msg);
  }
  return Status::Unavailable(msg);
}

}  // namespace relay
}  // namespace accel
