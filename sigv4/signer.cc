#include "sigv4/signer.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <cstring>

namespace accel::sigv4 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
constexpr std::string_view kTerminator = "aws4_request";
constexpr int64_t kMaxPresignExpiry = 7 * 24 * 3600;

char ToLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
char ToUpperAscii(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }

Status CheckPlainField(std::string_view what, std::string_view value, bool allow_slash) {
  if (value.empty()) return Status::InvalidArgument(std::string(what) + " is empty");
  const size_t bad = internal::FindSpaceOrControl(value);
  if (bad != std::string::npos) {
    return Status::InvalidArgument(std::string(what) +
                                   " contains whitespace or a control character " + "at offset " +
                                   std::to_string(bad) + " (it is sent and signed verbatim)");
  }
  if (!allow_slash) {
    const size_t slash = value.find('/');
    if (slash != std::string::npos) {
      return Status::InvalidArgument(std::string(what) + " contains '/' at offset " +
                                     std::to_string(slash) +
                                     " (it is part of the credential scope)");
    }
  }
  return Status::OK();
}

bool IsValidPayloadHash(std::string_view h) {
  if (h == kUnsignedPayload || h.substr(0, 10) == "STREAMING-") return true;
  if (h.size() != 64) return false;
  for (char c : h) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Writes header i of *out, reusing the strings already there (no allocation once warmed up).
void SetOut(std::vector<Header>* out, size_t i, std::string_view name, std::string_view value) {
  if (out->size() <= i) out->emplace_back();
  (*out)[i].name.assign(name.data(), name.size());
  (*out)[i].value.assign(value.data(), value.size());
}

}  // namespace

Signer::Signer() {
  creq_.reserve(4096);
  sts_.reserve(256);
  hbuf_.reserve(2048);
  entries_.reserve(16);
  segments_.reserve(16);
}

Signer::~Signer() {
  if (!key_secret_.empty()) OPENSSL_cleanse(&key_secret_[0], key_secret_.size());
  signing_key_.Clear();
}

Status Signer::ValidateInputs(const Credentials& creds, const SigningParams& params) const {
  if (creds.secret_access_key.empty()) {
    return Status::InvalidArgument("empty secret access key");
  }
  Status s = CheckPlainField("access key id", creds.access_key_id, false);
  if (!s.ok()) return s;
  if (!creds.session_token.empty()) {
    const size_t bad = internal::FindSpaceOrControl(creds.session_token);
    if (bad != std::string::npos) {
      return Status::InvalidArgument(
          "session token contains whitespace or a control character at "
          "offset " +
          std::to_string(bad) + " of " + std::to_string(creds.session_token.size()) +
          " (a pasted token with stray whitespace never verifies)");
    }
  }
  s = CheckPlainField("region", params.region, false);
  if (!s.ok()) return s;
  return CheckPlainField("service", params.service, false);
}

void Signer::UpdateSigningKey(const Credentials& creds, const SigningParams& params) {
  const char* date = amz_date_;
  if (key_valid_ && std::memcmp(key_date_, date, 8) == 0 && key_region_ == params.region &&
      key_service_ == params.service && key_secret_ == creds.secret_access_key) {
    return;
  }
  // kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")
  uint8_t k[kSha256Size];
  scratch_key_.assign("AWS4");
  scratch_key_.append(creds.secret_access_key);
  HmacSha256Once(scratch_key_.data(), scratch_key_.size(), std::string_view(date, 8), k);
  OPENSSL_cleanse(&scratch_key_[0], scratch_key_.size());
  HmacSha256Once(k, sizeof(k), params.region, k);
  HmacSha256Once(k, sizeof(k), params.service, k);
  HmacSha256Once(k, sizeof(k), kTerminator, k);
  signing_key_.SetKey(k, sizeof(k));
  OPENSSL_cleanse(k, sizeof(k));

  if (!key_secret_.empty()) OPENSSL_cleanse(&key_secret_[0], key_secret_.size());
  key_secret_ = creds.secret_access_key;
  key_region_ = params.region;
  key_service_ = params.service;
  std::memcpy(key_date_, date, 8);
  scope_.assign(date, 8);
  scope_.push_back('/');
  scope_.append(params.region);
  scope_.push_back('/');
  scope_.append(params.service);
  scope_.push_back('/');
  scope_.append(kTerminator);
  key_valid_ = true;
  ++key_derivations_;
}

void Signer::AddEntry(std::string_view lower_name, std::string_view value, bool external) {
  Entry e;
  e.name_off = static_cast<uint32_t>(hbuf_.size());
  e.name_len = static_cast<uint32_t>(lower_name.size());
  hbuf_.append(lower_name);
  if (external) {
    e.ext = value.data();
    e.val_off = 0;
  } else {
    e.ext = nullptr;
    e.val_off = static_cast<uint32_t>(hbuf_.size());
    hbuf_.append(value);
  }
  e.val_len = static_cast<uint32_t>(value.size());
  e.order = static_cast<uint32_t>(entries_.size());
  entries_.push_back(e);
}

Status Signer::Prepare(std::string_view method, std::string_view url,
                       const std::vector<Header>& headers, std::string_view body,
                       const Credentials& creds, const SigningParams& params, bool presign,
                       int64_t expires_seconds) {
  shape_.valid = false;  // creq_ and friends are about to change
  Status s = ValidateInputs(creds, params);
  if (!s.ok()) return s;
  s = SetDate(params.unix_seconds);
  if (!s.ok()) return s;
  if (!internal::IsToken(method)) {
    return Status::InvalidArgument("bad HTTP method \"" + std::string(method) + "\"");
  }
  s = internal::ParseUrl(url, &url_);
  if (!s.ok()) return s;
  const bool have_token = !creds.session_token.empty();
  const bool token_signed_as_header = have_token && params.sign_session_token && !presign;

  // Headers: lower-case names and trimmed values into hbuf_, one entry each.
  hbuf_.clear();
  entries_.clear();
  bool have_host = false;
  size_t caller_hash_off = 0, caller_hash_len = 0;  // in hbuf_, which may still grow
  bool have_caller_payload_hash = false;
  for (size_t i = 0; i < headers.size(); ++i) {
    const Header& h = headers[i];
    if (!internal::IsToken(h.name)) {
      return Status::InvalidArgument("header #" + std::to_string(i) + ": name \"" + h.name +
                                     "\" is not a valid HTTP field name");
    }
    const size_t name_off = hbuf_.size();
    for (char c : h.name) hbuf_.push_back(ToLowerAscii(c));
    const std::string_view lname(hbuf_.data() + name_off, h.name.size());
    if (internal::IsUnsignedHeader(lname)) {
      hbuf_.resize(name_off);
      continue;
    }
    if (lname == "authorization" || lname == "x-amz-date" ||
        (have_token && lname == "x-amz-security-token") ||
        (params.add_content_sha256 && lname == "x-amz-content-sha256")) {
      return Status::InvalidArgument("header #" + std::to_string(i) + " \"" + h.name +
                                     "\" is added by the signer; do not pass it in");
    }
    if (presign && lname.size() > 6 && lname.compare(0, 6, "x-amz-") == 0 &&
        (lname == "x-amz-algorithm" || lname == "x-amz-credential" || lname == "x-amz-expires" ||
         lname == "x-amz-signedheaders" || lname == "x-amz-signature")) {
      return Status::InvalidArgument("header #" + std::to_string(i) + " \"" + h.name +
                                     "\" clashes with a presigned-URL parameter");
    }
    // lname points into hbuf_, which the value append below may reallocate: decide now.
    const bool is_host = lname == "host";
    const bool is_content_sha256 = lname == "x-amz-content-sha256";
    const size_t val_off = hbuf_.size();
    const size_t bad = internal::AppendTrimmedValue(h.value, &hbuf_);
    if (bad != std::string::npos) {
      return Status::InvalidArgument("header #" + std::to_string(i) + " \"" + h.name +
                                     "\": control character in the value at offset " +
                                     std::to_string(bad));
    }
    Entry e;
    e.name_off = static_cast<uint32_t>(name_off);
    e.name_len = static_cast<uint32_t>(h.name.size());
    e.val_off = static_cast<uint32_t>(val_off);
    e.val_len = static_cast<uint32_t>(hbuf_.size() - val_off);
    e.ext = nullptr;
    e.order = static_cast<uint32_t>(entries_.size());
    entries_.push_back(e);
    if (is_host) have_host = true;
    if (is_content_sha256) {
      if (have_caller_payload_hash) {
        return Status::InvalidArgument("header X-Amz-Content-Sha256 is given twice");
      }
      have_caller_payload_hash = true;
      caller_hash_off = val_off;
      caller_hash_len = e.val_len;
    }
  }

  caller_payload_hash_ = have_caller_payload_hash;
  // Payload hash.
  if (have_caller_payload_hash) {
    payload_hash_.assign(hbuf_, caller_hash_off, caller_hash_len);
    if (!params.payload_hash.empty() && params.payload_hash != payload_hash_) {
      return Status::InvalidArgument("X-Amz-Content-Sha256 header \"" + payload_hash_ +
                                     "\" differs from the payload hash given in the parameters");
    }
    if (!IsValidPayloadHash(payload_hash_)) {
      return Status::InvalidArgument("X-Amz-Content-Sha256 header \"" + payload_hash_ +
                                     "\" is neither 64 lower-case hex digits nor UNSIGNED-PAYLOAD");
    }
  } else if (!params.payload_hash.empty()) {
    if (!IsValidPayloadHash(params.payload_hash)) {
      return Status::InvalidArgument("payload hash \"" + std::string(params.payload_hash) +
                                     "\" is neither 64 lower-case hex digits, UNSIGNED-PAYLOAD nor "
                                     "STREAMING-*");
    }
    payload_hash_.assign(params.payload_hash.data(), params.payload_hash.size());
  } else {
    uint8_t digest[kSha256Size];
    sha_.Hash(body, digest);
    payload_hash_.resize(2 * kSha256Size);
    HexEncode(digest, kSha256Size, &payload_hash_[0]);
  }

  // Headers the signer contributes.
  host_.clear();
  if (!have_host) {
    internal::AppendHostFromUrl(url_, &host_);
    AddEntry("host", host_, /*external=*/true);
  }
  if (!presign) AddEntry("x-amz-date", amz_date(), true);
  if (token_signed_as_header) AddEntry("x-amz-security-token", creds.session_token, true);
  if (params.add_content_sha256 && !presign) {
    AddEntry("x-amz-content-sha256", payload_hash_, true);
  }

  // Sort by name; repeated names keep their arrival order (their values are joined in that order).
  const char* hb = hbuf_.data();
  std::sort(entries_.begin(), entries_.end(), [hb](const Entry& a, const Entry& b) {
    const int c = std::string_view(hb + a.name_off, a.name_len)
                      .compare(std::string_view(hb + b.name_off, b.name_len));
    return c != 0 ? c < 0 : a.order < b.order;
  });
  signed_.clear();
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    const std::string_view name(hb + e.name_off, e.name_len);
    if (i > 0) {
      const Entry& p = entries_[i - 1];
      if (std::string_view(hb + p.name_off, p.name_len) == name) continue;
      signed_.push_back(';');
    }
    signed_.append(name);
    if (name == "host" && have_host) {
      host_.assign(e.ext ? e.ext : hb + e.val_off, e.val_len);
    }
  }

  // Canonical request: method, URI, query, headers, signed headers, payload hash.
  creq_.clear();
  for (char c : method) creq_.push_back(ToUpperAscii(c));
  creq_.push_back('\n');
  if (params.s3_style_path) {
    s = internal::AppendS3CanonicalPath(url_.path, &creq_);
    if (!s.ok()) return s;
  } else {
    internal::AppendCanonicalPath(url_.path, params.normalize_path, &segments_, &creq_);
  }
  creq_.push_back('\n');
  query_.Clear();
  s = query_.AddWireQuery(url_.query);
  if (!s.ok()) return s;
  if (presign) {
    for (std::string_view k : {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                               "X-Amz-Security-Token", "X-Amz-SignedHeaders", "X-Amz-Signature"}) {
      if (query_.HasKey(k)) {
        return Status::InvalidArgument("URL query already has " + std::string(k) +
                                       " (already presigned?)");
      }
    }
    if (expires_seconds < 1 || expires_seconds > kMaxPresignExpiry) {
      return Status::InvalidArgument("presign expiry " + std::to_string(expires_seconds) +
                                     " s is outside 1..604800");
    }
    UpdateSigningKey(creds, params);
    credential_.assign(creds.access_key_id);
    credential_.push_back('/');
    credential_.append(scope_);
    query_.AddRaw("X-Amz-Algorithm", kAlgorithm);
    query_.AddRaw("X-Amz-Credential", credential_);
    query_.AddRaw("X-Amz-Date", amz_date());
    query_.AddRaw("X-Amz-Expires", std::to_string(expires_seconds));
    if (have_token && params.sign_session_token) {
      query_.AddRaw("X-Amz-Security-Token", creds.session_token);
    }
    query_.AddRaw("X-Amz-SignedHeaders", signed_);
  }
  query_.AppendCanonical(&creq_);
  creq_.push_back('\n');
  // The payload hash changes with every body; the bytes before its first appearance usually do
  // not (see Sha256PrefixCache). It is the last line, and also a header value when
  // x-amz-content-sha256 is signed. Where the date and the hash go is kept for Sign's reuse of
  // this canonical request.
  size_t payload_hash_at = std::string::npos;
  creq_date_at_ = std::string::npos;
  creq_hash_header_at_ = std::string::npos;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Entry& e = entries_[i];
    const std::string_view name(hb + e.name_off, e.name_len);
    const std::string_view value(e.ext ? e.ext : hb + e.val_off, e.val_len);
    const bool same_as_prev =
        i > 0 && std::string_view(hb + entries_[i - 1].name_off, entries_[i - 1].name_len) == name;
    if (same_as_prev) {
      creq_.push_back(',');
    } else {
      if (i > 0) creq_.push_back('\n');
      creq_.append(name);
      creq_.push_back(':');
      if (name == "x-amz-date") {
        creq_date_at_ = creq_.size();
      } else if (payload_hash_at == std::string::npos && name == "x-amz-content-sha256") {
        payload_hash_at = creq_.size();
        creq_hash_header_at_ = creq_.size();
      }
    }
    creq_.append(value);
  }
  creq_.append("\n\n");
  creq_.append(signed_);
  creq_.push_back('\n');
  if (payload_hash_at == std::string::npos) payload_hash_at = creq_.size();
  creq_stable_ = payload_hash_at;
  creq_.append(payload_hash_);

  UpdateSigningKey(creds, params);
  ComputeSignature();
  return Status::OK();
}

void Signer::ComputeSignature() {
  uint8_t digest[kSha256Size];
  creq_cache_.Run(nullptr, creq_, creq_stable_, &sha_);
  sha_.Final(digest);
  sts_.clear();
  sts_.append(kAlgorithm);
  sts_.push_back('\n');
  sts_.append(amz_date_, sizeof(amz_date_));
  sts_.push_back('\n');
  sts_.append(scope_);
  sts_.push_back('\n');
  const size_t hex_at = sts_.size();
  sts_.resize(hex_at + 2 * kSha256Size);
  HexEncode(digest, kSha256Size, &sts_[hex_at]);
  // Only the time of day and the hash change within a day: resume after the first block.
  signing_key_.MacResuming(sts_, hex_at, digest);
  HexEncode(digest, kSha256Size, signature_);
}

Status Signer::SetDate(int64_t unix_seconds) {
  if (date_valid_ && unix_seconds == date_seconds_) return Status::OK();  // many per second
  date_valid_ = false;
  Status s = internal::FormatAmzDate(unix_seconds, amz_date_);
  if (!s.ok()) return s;
  date_seconds_ = unix_seconds;
  date_valid_ = true;
  return Status::OK();
}

void Signer::RememberShape(std::string_view method, std::string_view url,
                           const std::vector<Header>& headers, const Credentials& creds,
                           const SigningParams& params) {
  // A caller-supplied X-Amz-Content-Sha256 is the payload hash and must be checked against
  // params.payload_hash on every call; leave that rare case to the full path. Without the
  // x-amz-date header (presign) there is nothing to reuse either.
  if (caller_payload_hash_ || creq_date_at_ == std::string::npos) return;
  shape_.method.assign(method.data(), method.size());
  shape_.url.assign(url.data(), url.size());
  shape_.headers = headers;  // element-wise assign: capacity is reused
  shape_.access_key_id = creds.access_key_id;
  shape_.session_token = creds.session_token;
  shape_.region = params.region;
  shape_.service = params.service;
  shape_.add_content_sha256 = params.add_content_sha256;
  shape_.s3_style_path = params.s3_style_path;
  shape_.normalize_path = params.normalize_path;
  shape_.sign_session_token = params.sign_session_token;
  shape_.valid = true;
}

bool Signer::ResignSameShape(std::string_view method, std::string_view url,
                             const std::vector<Header>& headers, std::string_view body,
                             const Credentials& creds, const SigningParams& params) {
  // Every input that the canonical request, the validation or the Authorization header depend on,
  // except the time and the payload, compared exactly. The secret is not part of the shape: an
  // empty one is an error (full path), any other is the signing-key cache's business.
  const Shape& t = shape_;
  if (!t.valid || method != t.method || url != t.url || headers.size() != t.headers.size() ||
      creds.secret_access_key.empty() || creds.session_token != t.session_token ||
      creds.access_key_id != t.access_key_id || params.region != t.region ||
      params.service != t.service || params.add_content_sha256 != t.add_content_sha256 ||
      params.s3_style_path != t.s3_style_path || params.normalize_path != t.normalize_path ||
      params.sign_session_token != t.sign_session_token) {
    return false;
  }
  for (size_t i = 0; i < headers.size(); ++i) {
    if (headers[i].name != t.headers[i].name || headers[i].value != t.headers[i].value) {
      return false;
    }
  }
  // The payload hash is patched in place, so it must keep its length; anything the full path
  // would reject (a bad time, a malformed hash) goes there for the error message.
  const size_t hash_len =
      params.payload_hash.empty() ? 2 * kSha256Size : params.payload_hash.size();
  if (hash_len != payload_hash_.size()) return false;
  if (!params.payload_hash.empty() && !IsValidPayloadHash(params.payload_hash)) return false;
  if (!SetDate(params.unix_seconds).ok()) return false;

  if (params.payload_hash.empty()) {
    uint8_t digest[kSha256Size];
    sha_.Hash(body, digest);
    HexEncode(digest, kSha256Size, &payload_hash_[0]);
  } else {
    payload_hash_.assign(params.payload_hash.data(), params.payload_hash.size());
  }
  std::memcpy(&creq_[creq_date_at_], amz_date_, sizeof(amz_date_));
  if (creq_hash_header_at_ != std::string::npos) {
    std::memcpy(&creq_[creq_hash_header_at_], payload_hash_.data(), hash_len);
  }
  std::memcpy(&creq_[creq_.size() - hash_len], payload_hash_.data(), hash_len);
  UpdateSigningKey(creds, params);
  ComputeSignature();
  ++same_shape_signatures_;
  return true;
}

Status Signer::Sign(std::string_view method, std::string_view url,
                    const std::vector<Header>& headers, std::string_view body,
                    const Credentials& creds, const SigningParams& params,
                    std::vector<Header>* out) {
  // The relay signs the same request shape (URL, headers, token) over and over with new bodies:
  // then only the date and the payload hash in the canonical request change.
  if (!ResignSameShape(method, url, headers, body, creds, params)) {
    Status s = Prepare(method, url, headers, body, creds, params, /*presign=*/false, 0);
    if (!s.ok()) {
      out->clear();
      return s;
    }
    RememberShape(method, url, headers, creds, params);
  }
  authz_.clear();
  authz_.append(kAlgorithm);
  authz_.append(" Credential=");
  authz_.append(creds.access_key_id);
  authz_.push_back('/');
  authz_.append(scope_);
  authz_.append(", SignedHeaders=");
  authz_.append(signed_);
  authz_.append(", Signature=");
  authz_.append(signature_, sizeof(signature_));

  size_t n = 0;
  SetOut(out, n++, "X-Amz-Date", amz_date());
  if (!creds.session_token.empty()) SetOut(out, n++, "X-Amz-Security-Token", creds.session_token);
  if (params.add_content_sha256) SetOut(out, n++, "X-Amz-Content-Sha256", payload_hash_);
  SetOut(out, n++, "Authorization", authz_);
  out->resize(n);
  return Status::OK();
}

Status Signer::Presign(std::string_view method, std::string_view url,
                       const std::vector<Header>& headers, std::string_view body,
                       const Credentials& creds, const SigningParams& params,
                       int64_t expires_seconds, std::string* presigned_url) {
  presigned_url->clear();
  Status s = Prepare(method, url, headers, body, creds, params, /*presign=*/true, expires_seconds);
  if (!s.ok()) return s;
  authz_.clear();
  const size_t q = url.find('?');
  presigned_url->assign(url.substr(0, q));
  presigned_url->push_back('?');
  if (!url_.query.empty()) {
    presigned_url->append(url_.query);
    presigned_url->push_back('&');
  }
  presigned_url->append("X-Amz-Algorithm=");
  presigned_url->append(kAlgorithm);
  presigned_url->append("&X-Amz-Credential=");
  internal::AppendUriEncoded(credential_, false, presigned_url);
  presigned_url->append("&X-Amz-Date=");
  presigned_url->append(amz_date());
  presigned_url->append("&X-Amz-Expires=");
  presigned_url->append(std::to_string(expires_seconds));
  if (!creds.session_token.empty()) {
    presigned_url->append("&X-Amz-Security-Token=");
    internal::AppendUriEncoded(creds.session_token, false, presigned_url);
  }
  presigned_url->append("&X-Amz-SignedHeaders=");
  internal::AppendUriEncoded(signed_, false, presigned_url);
  presigned_url->append("&X-Amz-Signature=");
  presigned_url->append(signature_, sizeof(signature_));
  return Status::OK();
}

}  // namespace accel::sigv4
