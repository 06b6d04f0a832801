// accel::sigv4::Signer: AWS Signature Version 4 (AWS4-HMAC-SHA256) for one HTTP request, as the
// Authorization header or as a presigned URL.
//
//   sigv4::Signer signer;                      // one per thread; reuse it
//   sigv4::SigningParams p;
//   p.region = "us-east-1"; p.service = "dynamodb"; p.unix_seconds = now + clock_skew;
//   std::vector<sigv4::Header> add;
//   sigv4::Status s = signer.Sign("POST", "https://dynamodb.us-east-1.amazonaws.com/",
//                                 {{"Content-Type", "application/x-amz-json-1.0"},
//                                  {"X-Amz-Target", "DynamoDB_20120810.BatchWriteItem"}},
//                                 body, creds, p, &add);
//   // send the request with its own headers plus `add` (X-Amz-Date, X-Amz-Security-Token,
//   // Authorization), and with exactly `body`.
//
// What gets signed: every header passed in, except the hop-by-hop/proxy-owned ones the AWS SDKs
// never sign (user-agent, expect, connection, keep-alive, te, trailer, transfer-encoding, upgrade,
// proxy-authenticate, proxy-authorization, x-amzn-trace-id); plus host (taken from the URL when no
// Host header is passed: lower-case, default port dropped), x-amz-date, x-amz-security-token and,
// when asked, x-amz-content-sha256. Pass the headers exactly as the HTTP client will send them: a
// header changed after signing breaks the signature.
//
// The headers the signer adds must not be passed in: Authorization and X-Amz-Date always, and
// X-Amz-Security-Token when credentials carry a token; this is an error rather than a silent
// replacement, because the request would otherwise go out with both copies. A caller-supplied
// X-Amz-Content-Sha256 header is signed and its value used as the payload hash (as botocore does).
//
// Thread safety: a Signer is not thread-safe; use one per thread. It caches the derived signing key
// per (secret, date, region, service) and keeps its buffers, so signing in steady state does not
// allocate (the output vector's strings are reused when the caller passes the same vector again).
//
// Repeated requests are cheap: when a Sign call's method, URL, headers, access key, token, region,
// service and flags equal the previous successful Sign's (compared byte for byte), the previous
// canonical request is reused with the new date and payload hash written into it; and a canonical
// request or string to sign that starts with the same whole 64-byte blocks as the previous one
// resumes its SHA-256 after them (Sha256PrefixCache, also memcmp-checked). Within one second that
// leaves the body's hash plus about six SHA-256 blocks; a new second re-hashes the canonical
// request, because x-amz-date sorts before x-amz-security-token.
#ifndef ACCEL_SIGV4_SIGNER_H_
#define ACCEL_SIGV4_SIGNER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sigv4/canonical.h"
#include "sigv4/sha256.h"
#include "sigv4/status.h"

namespace accel::sigv4 {

struct Credentials {
  std::string access_key_id, secret_access_key, session_token;  // token may be empty
};

struct Header {
  std::string name, value;
};

// The payload hash for a body that is not signed (S3 over HTTPS, presigned URLs).
inline constexpr std::string_view kUnsignedPayload = "UNSIGNED-PAYLOAD";

struct SigningParams {
  std::string region, service;      // "us-east-1", "dynamodb"
  int64_t unix_seconds = 0;         // signing time (the caller applies any clock-skew correction)
  bool add_content_sha256 = false;  // add + sign X-Amz-Content-Sha256
  bool s3_style_path = false;       // single encoding, no normalisation
  // Services other than S3 only: false keeps "." / ".." / empty segments (aws-c-auth's
  // "normalize": false). The path is double-encoded either way.
  bool normalize_path = true;
  // Empty: the SHA-256 of the body is computed. Otherwise used as is: 64 lower-case hex characters
  // (a hash the caller already has), kUnsignedPayload, or a "STREAMING-..." marker. Must outlive
  // the call.
  std::string_view payload_hash;
  // false: the session token is added to the request but left out of the signature. Only a few
  // legacy services want that (the suite's post-sts-header-after); DynamoDB and Cognito sign it.
  bool sign_session_token = true;
};

class Signer {
 public:
  Signer();
  ~Signer();
  Signer(const Signer&) = delete;
  Signer& operator=(const Signer&) = delete;

  // method, url "https://host[:port]/path?query" as sent on the wire, headers as sent (Host derived
  // from the url when absent), body bytes. Writes into *out the headers to ADD to the request
  // (X-Amz-Date, X-Amz-Security-Token when a token is given, X-Amz-Content-Sha256 when asked,
  // Authorization), in that order. On error *out is left empty and no signature is produced.
  Status Sign(std::string_view method, std::string_view url, const std::vector<Header>& headers,
              std::string_view body, const Credentials& creds, const SigningParams& params,
              std::vector<Header>* out);

  // The query-string form: writes into *presigned_url the url with X-Amz-Algorithm, -Credential,
  // -Date, -Expires, -Security-Token (when a token is given), -SignedHeaders and -Signature
  // appended to its query. `headers` are the headers the eventual request will carry (often none:
  // host is always signed). The payload hash is params.payload_hash, or the SHA-256 of `body` (pass
  // kUnsignedPayload for S3-style presigned URLs). expires_seconds: 1..604800.
  Status Presign(std::string_view method, std::string_view url, const std::vector<Header>& headers,
                 std::string_view body, const Credentials& creds, const SigningParams& params,
                 int64_t expires_seconds, std::string* presigned_url);

  // The pieces of the last successful Sign/Presign, for debugging (sigv4-sign) and tests. Views
  // into the signer's buffers: valid until the next call.
  std::string_view canonical_request() const { return creq_; }
  std::string_view string_to_sign() const { return sts_; }
  std::string_view signature() const { return std::string_view(signature_, sizeof(signature_)); }
  std::string_view signed_headers() const { return signed_; }
  std::string_view credential_scope() const { return scope_; }
  std::string_view payload_hash() const { return payload_hash_; }
  std::string_view amz_date() const { return std::string_view(amz_date_, sizeof(amz_date_)); }
  std::string_view authorization() const { return authz_; }
  // The value signed for the host header.
  std::string_view host() const { return host_; }

  // How many times the 4-HMAC signing key was derived (cache misses); for tests and benchmarks.
  uint64_t key_derivations() const { return key_derivations_; }
  // How many canonical-request / string-to-sign hashes resumed after a repeated prefix instead of
  // starting over (Sha256PrefixCache); for tests and benchmarks.
  uint64_t canonical_request_resumed() const { return creq_cache_.hits(); }
  uint64_t string_to_sign_resumed() const { return signing_key_.resumed(); }
  // How many Sign calls found every input but the time and the body unchanged since the last
  // successful Sign and only patched the date and payload hash into its canonical request.
  uint64_t same_shape_signatures() const { return same_shape_signatures_; }

 private:
  struct Entry {
    uint32_t name_off, name_len;  // lower-case name in hbuf_
    uint32_t val_off, val_len;    // value in hbuf_, unless ext is set
    const char* ext;              // value owned elsewhere (the token, the date, ...)
    uint32_t order;               // arrival order, to join repeated headers in wire order
  };

  Status Prepare(std::string_view method, std::string_view url, const std::vector<Header>& headers,
                 std::string_view body, const Credentials& creds, const SigningParams& params,
                 bool presign, int64_t expires_seconds);
  Status ValidateInputs(const Credentials& creds, const SigningParams& params) const;
  Status SetDate(int64_t unix_seconds);
  // Sign's shortcut: when every input but the time and the body equals the last successful Sign's
  // (shape_), patches the date and the payload hash into creq_ and signs; false: take the full
  // path.
  bool ResignSameShape(std::string_view method, std::string_view url,
                       const std::vector<Header>& headers, std::string_view body,
                       const Credentials& creds, const SigningParams& params);
  void RememberShape(std::string_view method, std::string_view url,
                     const std::vector<Header>& headers, const Credentials& creds,
                     const SigningParams& params);
  void AddEntry(std::string_view lower_name, std::string_view value, bool external);
  void UpdateSigningKey(const Credentials& creds, const SigningParams& params);
  void ComputeSignature();

  // Signing-key cache: key = (secret, date, region, service).
  std::string key_secret_, key_region_, key_service_;
  char key_date_[8] = {};
  bool key_valid_ = false;
  HmacSha256 signing_key_;
  std::string scope_;  // "20150830/us-east-1/service/aws4_request"
  std::string scratch_key_;
  uint64_t key_derivations_ = 0;

  Sha256 sha_;
  Sha256PrefixCache creq_cache_;
  size_t creq_stable_ = 0;  // bytes of creq_ before the payload hash first appears
  // Where the x-amz-date and x-amz-content-sha256 values sit in creq_ (npos: not signed), and
  // whether the payload hash came from a caller's X-Amz-Content-Sha256 header.
  size_t creq_date_at_ = std::string::npos;
  size_t creq_hash_header_at_ = std::string::npos;
  bool caller_payload_hash_ = false;
  // The inputs of the last successful Sign that creq_, host_, signed_ were built from.
  struct Shape {
    bool valid = false;
    std::string method, url, access_key_id, session_token, region, service;
    std::vector<Header> headers;
    bool add_content_sha256 = false, s3_style_path = false, normalize_path = false,
         sign_session_token = false;
  };
  Shape shape_;
  uint64_t same_shape_signatures_ = 0;
  internal::UrlParts url_;
  internal::QueryCanonicalizer query_;
  std::vector<std::string_view> segments_;
  std::vector<Entry> entries_;
  std::string hbuf_;
  std::string host_;
  std::string creq_;
  std::string sts_;
  std::string signed_;
  std::string authz_;
  std::string credential_;  // "AKID/20150830/us-east-1/service/aws4_request" (presign)
  std::string payload_hash_;
  char amz_date_[16] = {};
  int64_t date_seconds_ = 0;  // amz_date_ is the formatted form of this, when date_valid_
  bool date_valid_ = false;
  char signature_[64] = {};
};

}  // namespace accel::sigv4

#endif  // ACCEL_SIGV4_SIGNER_H_
