// The JSON request description of tests/sigv4/reference/botocore_sign.py, signed with our Signer and
// answered with the same fields botocore's oracle prints. Shared by the sigv4-sign tool and the
// differential test (so the test also proves the tool). Not part of accel_sigv4 (which depends on
// OpenSSL only).
//
// Input keys: method, url, headers ({name: value|[values]} or [[name, value], ...]), body,
// body_encoding ("text"|"base64"), body_base64, region, service, access_key, secret_key, amz_date
// ("YYYYMMDDTHHMMSSZ"), session_token, signer ("v4"|"s3v4"), normalize_path, query_mode ("decode"
// only), unsigned_payload, add_content_sha256. Extensions of ours: payload_hash (precomputed),
// sign_session_token (false = add the token unsigned), presign_expires (seconds: presigned-URL
// form). Output keys: canonical_request, string_to_sign, signature, authorization, signed_headers,
// credential_scope, payload_hash, amz_date, headers ([[name, value], ...] = input + added),
// host_signed, url (the presigned URL when presign_expires is given, else the input URL).
#ifndef ACCEL_SIGV4_TOOL_REQUEST_JSON_H_
#define ACCEL_SIGV4_TOOL_REQUEST_JSON_H_

#include <nlohmann/json.hpp>

#include "sigv4/signer.h"
#include "sigv4/status.h"

namespace accel::sigv4 {

Status SignJsonRequest(const nlohmann::json& request, Signer* signer, nlohmann::json* result);

}  // namespace accel::sigv4

#endif  // ACCEL_SIGV4_TOOL_REQUEST_JSON_H_
