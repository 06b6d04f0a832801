// AwsError: what an AWS JSON service (or moto standing in for one) said when it
// refused a request, and which of the client's reactions that calls for.
//
// Two body shapes occur: DynamoDB's JSON
//   {"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"..."}
// (also "Message"), and the IAM-style XML moto returns for signature and
// policy failures
//   <ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>..</Message>...
// Anything else becomes code "HTTP <status>" with a short printable excerpt.
#ifndef ACCEL_PHONE_RELAY_AWS_ERROR_H_
#define ACCEL_PHONE_RELAY_AWS_ERROR_H_

#include <string>
#include <string_view>

#include "common/status.h"

namespace accel {
namespace relay {

struct AwsError {
  long http_status = 0;
  std::string code;  // the part after '#': "ThrottlingException"
  // The server's message with secrets scrubbed (ScrubSecrets in redact.h:
  // quoted canonical requests / strings to sign cut, token-like values
  // redacted). May be empty.
  std::string message;

  // "ThrottlingException: Rate of requests exceeds the allowed throughput. (HTTP 400)"
  std::string ToString() const;
};

// Code and message are scrubbed of secrets (redact.h) before they are returned.
AwsError ParseAwsError(long http_status, std::string_view body);

enum class ErrorClass {
  kThrottling,    // ThrottlingException, ProvisionedThroughputExceeded, RequestLimitExceeded, ...
  kTransient,     // 5xx, InternalServerError, ServiceUnavailable
  kClockSkew,     // signature outside the time window (RequestTimeTooSkewed, "Signature expired")
  kCredentials,   // the key/token/signature was rejected: refresh credentials, retry once
  kAccessDenied,  // authenticated but not allowed: retrying does not help
  kConditionFailed,  // ConditionalCheckFailedException
  kNotFound,         // ResourceNotFoundException (table missing, or wrong region)
  kValidation,       // ValidationException, SerializationException, other 4xx: the request is wrong
};

ErrorClass ClassifyAwsError(const AwsError& e);
const char* ErrorClassName(ErrorClass c);

// The accel::Status a final (not retried, or out of retries) error maps to:
// kNotFound -> NotFound, kValidation -> InvalidArgument, kCredentials/kAccessDenied/
// kClockSkew -> PermissionDenied, kThrottling -> ResourceExhausted, kTransient ->
// Unavailable, kConditionFailed -> Aborted. The message is e.ToString() after `context`.
Status AwsErrorToStatus(const AwsError& e, const std::string& context);

}  // namespace relay
}  // namespace accel

#endif  // ACCEL_PHONE_RELAY_AWS_ERROR_H_
