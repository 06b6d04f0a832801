// AwsEndpoint: where the DynamoDB client sends its requests, and for which
// region it signs them, resolved the way the AWS SDKs do:
//
//   endpoint  config override > AWS_ENDPOINT_URL_DYNAMODB > AWS_ENDPOINT_URL >
//             https://dynamodb.<region>.amazonaws.com
//   region    config override > AWS_REGION > AWS_DEFAULT_REGION (required)
//   CA bundle config override > AWS_CA_BUNDLE (else the system's store)
//
// TLS verification is always on for https. Plain http is accepted only for
// loopback hosts (127.0.0.0/8, ::1, localhost): the local stand-ins in tests.
#ifndef ACCEL_PHONE_RELAY_AWS_ENDPOINT_H_
#define ACCEL_PHONE_RELAY_AWS_ENDPOINT_H_

#include <functional>
#include <string>

#include "common/status.h"

namespace accel {
namespace relay {

struct AwsEndpoint {
  std::string url;        // "https://host[:port]" without path; requests go to url + "/"
  std::string host;       // lower-case host without port or brackets
  std::string region;     // "us-east-1"
  std::string ca_bundle;  // PEM file for CURLOPT_CAINFO; empty = system store
  bool https = true;
};

// Explicit settings (from the relay's JSON config); empty = not set.
struct EndpointOverrides {
  std::string endpoint_url;
  std::string region;
  std::string ca_bundle;
};

// Looks up an environment variable; nullptr when unset. Tests pass their own.
using EnvLookup = std::function<const char*(const char*)>;
EnvLookup ProcessEnv();

// Resolves the DynamoDB endpoint. Errors (InvalidArgument) name the variable
// or setting that was wrong: missing region, malformed URL, a path in the URL,
// http to a non-loopback host, a CA bundle that cannot be read.
Result<AwsEndpoint> ResolveDynamoDbEndpoint(const EndpointOverrides& overrides,
                                            const EnvLookup& env = ProcessEnv());

// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopbackHost(const std::string& host);

}  // namespace relay
}  // namespace accel

#endif  // ACCEL_PHONE_RELAY_AWS_ENDPOINT_H_
