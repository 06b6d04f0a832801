// The canonicalisation steps of AWS Signature Version 4, each as a small function that appends to a
// caller-owned buffer (the Signer reuses its buffers, so steady-state signing does not allocate).
// Written from the AWS description of the algorithm ("Create a canonical request"):
//   * URI-encode: every byte except A-Z a-z 0-9 - _ . ~ becomes %XX with upper-case hex.
//   * Canonical URI: services other than S3 encode the path as sent on the wire once more (so
//   "/a%20b"
//     is signed as "/a%2520b") after removing "." / ".." segments and empty segments ("//"); S3
//     signs the wire path as it is (encoded once), without normalisation.
//   * Canonical query: decode each key and value as sent, encode them once, sort by encoded key and
//     then encoded value (byte order); "k" and "k=" both become "k=".
//   * Header values: trim, and fold every run of spaces/tabs (also inside quotes) to one space.
// Internal to the library; exposed for its tests.
#ifndef ACCEL_SIGV4_CANONICAL_H_
#define ACCEL_SIGV4_CANONICAL_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sigv4/status.h"

namespace accel::sigv4::internal {

// An absolute URL split into views of the caller's string. "https://Host:8443/p/a?x=1".
struct UrlParts {
  std::string_view scheme;     // "https"
  std::string_view authority;  // "Host:8443" (as written)
  std::string_view host;       // "Host"; an IPv6 literal keeps its brackets: "[::1]"
  std::string_view port;       // "8443" or empty
  uint32_t port_number = 0;    // 8443, 0 when absent
  std::string_view path;       // "/p/a"; empty when the URL has no path
  std::string_view query;      // "x=1" (without '?'); empty when absent
};

// Accepts scheme "://" authority [path] ["?" query]. Rejects (with the offset) control characters,
// a missing scheme or host, userinfo ("user@host"), a bad port and a fragment ('#' is never sent).
Status ParseUrl(std::string_view url, UrlParts* out);

// The value of the Host header a client sends for this URL: host lower-cased, port kept unless it
// is the scheme's default (http 80, https 443).
void AppendHostFromUrl(const UrlParts& url, std::string* out);

// Appends the URI-encoding of `in`; with keep_slash, '/' is left as is (paths).
void AppendUriEncoded(std::string_view in, bool keep_slash, std::string* out);

// Canonical URI for services other than S3: optional dot-segment/duplicate-slash removal, then one
// more URI-encoding of the wire path. `segments` is scratch space.
void AppendCanonicalPath(std::string_view path, bool normalize,
                         std::vector<std::string_view>* segments, std::string* out);

// Canonical URI for S3: the wire path encoded exactly once. Escapes already present are kept (as
// upper-case hex; "%41" -> "A"), raw bytes that need it are encoded, no normalisation. A malformed
// escape ("%4", "%zz") is an error, because the server would decode something else.
Status AppendS3CanonicalPath(std::string_view path, std::string* out);

// Sorts and re-encodes a query string. Reuse one instance: its scratch buffers keep their capacity.
class QueryCanonicalizer {
 public:
  // Adds every "key[=value]" piece of a raw (wire) query; empty pieces ("a=1&&b") are skipped.
  // Percent-escapes are decoded ('+' is a literal plus, not a space); a malformed one is an error.
  Status AddWireQuery(std::string_view query);
  // Adds one parameter given unencoded (used for the X-Amz-* parameters of a presigned URL).
  void AddRaw(std::string_view key, std::string_view value);
  // Appends "k1=v1&k2=v2..." in canonical order; then Clear() before the next request.
  void AppendCanonical(std::string* out);
  void Clear();
  bool HasKey(std::string_view encoded_key) const;

 private:
  struct Param {
    uint32_t key_off, key_len, val_off, val_len;
  };
  Status DecodeEncode(std::string_view in, size_t base_offset);
  std::string buf_;  // encoded keys and values, back to back
  std::vector<Param> params_;
};

// Appends the value trimmed of leading/trailing spaces and tabs, with inner runs folded to one
// space. Returns std::string::npos, or the offset of a control character (CR, LF, NUL, ...; tab
// excepted), in which case nothing sensible was appended and the caller must fail.
size_t AppendTrimmedValue(std::string_view value, std::string* out);

// Offset of the first space, tab or control character in `s`, or npos. Used to validate the
// session token, access key id, region and service, which must be sent and signed verbatim.
size_t FindSpaceOrControl(std::string_view s);

// RFC 9110 token (header field names and methods).
bool IsToken(std::string_view s);

// True for headers botocore (and the AWS SDKs) never sign because proxies and HTTP stacks own them:
// user-agent, expect, connection, keep-alive, proxy-authenticate, proxy-authorization, te, trailer,
// transfer-encoding, upgrade, x-amzn-trace-id. `lower_name` must be lower-case.
bool IsUnsignedHeader(std::string_view lower_name);

// Case-insensitive ASCII equality.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

// Days since 1970-01-01 -> civil date (proleptic Gregorian), and "YYYYMMDDTHHMMSSZ" for a Unix
// time. Fails outside years 1970..9999.
Status FormatAmzDate(int64_t unix_seconds, char out[16]);
// Inverse, for the CLI and tests: parses "YYYYMMDDTHHMMSSZ".
Status ParseAmzDate(std::string_view s, int64_t* unix_seconds);

}  // namespace accel::sigv4::internal

#endif  // ACCEL_SIGV4_CANONICAL_H_
