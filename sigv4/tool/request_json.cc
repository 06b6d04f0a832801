#include "sigv4/tool/request_json.h"

#include <string>
#include <vector>

#include "sigv4/canonical.h"

namespace accel::sigv4 {
namespace {

using nlohmann::json;

Status Base64Decode(const std::string& in, std::string* out) {
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else if (c == '=') {
      ++pad;
      continue;
    } else if (c == '\n' || c == '\r')
      continue;
    else
      return Status::InvalidArgument("body_base64: bad character at offset " + std::to_string(i));
    if (pad) return Status::InvalidArgument("body_base64: data after '=' padding");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return Status::OK();
}

Status GetString(const json& j, const char* key, bool required, std::string* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return Status::InvalidArgument(std::string("missing key \"") + key + "\"");
    return Status::OK();
  }
  if (!it->is_string())
    return Status::InvalidArgument(std::string("\"") + key + "\" must be a string");
  *out = it->get<std::string>();
  return Status::OK();
}

Status GetBool(const json& j, const char* key, bool* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return Status::OK();
  if (!it->is_boolean())
    return Status::InvalidArgument(std::string("\"") + key + "\" must be a boolean");
  *out = it->get<bool>();
  return Status::OK();
}

std::string ScalarToString(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

Status GetHeaders(const json& j, std::vector<Header>* out) {
  auto it = j.find("headers");
  if (it == j.end() || it->is_null()) return Status::OK();
  if (it->is_object()) {
    for (auto h = it->begin(); h != it->end(); ++h) {
      if (h.value().is_array()) {
        for (const json& v : h.value()) out->push_back({h.key(), ScalarToString(v)});
      } else {
        out->push_back({h.key(), ScalarToString(h.value())});
      }
    }
    return Status::OK();
  }
  if (it->is_array()) {
    for (const json& p : *it) {
      if (!p.is_array() || p.size() != 2 || !p[0].is_string()) {
        return Status::InvalidArgument("\"headers\" list entries must be [name, value]");
      }
      out->push_back({p[0].get<std::string>(), ScalarToString(p[1])});
    }
    return Status::OK();
  }
  return Status::InvalidArgument("\"headers\" must be an object or a list of [name, value]");
}

}  // namespace

Status SignJsonRequest(const json& req, Signer* signer, json* result) {
  if (!req.is_object()) return Status::InvalidArgument("request must be a JSON object");
  std::string method, url, region, service, amz_date, body, encoding = "text", signer_name = "v4";
  std::string query_mode = "decode", payload_hash;
  Credentials creds;
  Status s;
  for (auto [key, dst, required] :
       {std::make_tuple("method", &method, true), std::make_tuple("url", &url, true),
        std::make_tuple("region", &region, true), std::make_tuple("service", &service, true),
        std::make_tuple("amz_date", &amz_date, true),
        std::make_tuple("access_key", &creds.access_key_id, true),
        std::make_tuple("secret_key", &creds.secret_access_key, true),
        std::make_tuple("session_token", &creds.session_token, false),
        std::make_tuple("body_encoding", &encoding, false),
        std::make_tuple("signer", &signer_name, false),
        std::make_tuple("query_mode", &query_mode, false),
        std::make_tuple("payload_hash", &payload_hash, false)}) {
    s = GetString(req, key, required, dst);
    if (!s.ok()) return s;
  }
  if (req.contains("body_base64")) {
    std::string b64;
    s = GetString(req, "body_base64", true, &b64);
    if (!s.ok()) return s;
    s = Base64Decode(b64, &body);
  } else {
    s = GetString(req, "body", false, &body);
    if (s.ok() && encoding == "base64") {
      std::string raw = body;
      s = Base64Decode(raw, &body);
    } else if (s.ok() && encoding != "text") {
      s = Status::InvalidArgument("\"body_encoding\" must be \"text\" or \"base64\"");
    }
  }
  if (!s.ok()) return s;
  if (query_mode != "decode") {
    return Status::InvalidArgument(
        "query_mode \"" + query_mode +
        "\" is not supported: the signer always decodes and re-encodes the "
        "query (botocore's \"decode\" mode)");
  }
  std::vector<Header> headers;
  s = GetHeaders(req, &headers);
  if (!s.ok()) return s;

  SigningParams params;
  params.region = region;
  params.service = service;
  s = internal::ParseAmzDate(amz_date, &params.unix_seconds);
  if (!s.ok()) return s;
  if (signer_name == "s3v4") {
    params.s3_style_path = true;
    params.add_content_sha256 = true;
  } else if (signer_name != "v4") {
    return Status::InvalidArgument("\"signer\" must be \"v4\" or \"s3v4\"");
  }
  bool unsigned_payload = false, sign_token = true;
  for (auto [key, dst] : {std::make_pair("normalize_path", &params.normalize_path),
                          std::make_pair("add_content_sha256", &params.add_content_sha256),
                          std::make_pair("unsigned_payload", &unsigned_payload),
                          std::make_pair("sign_session_token", &sign_token)}) {
    s = GetBool(req, key, dst);
    if (!s.ok()) return s;
  }
  params.sign_session_token = sign_token;
  if (unsigned_payload) {
    params.payload_hash = kUnsignedPayload;
    params.add_content_sha256 = true;
  } else if (!payload_hash.empty()) {
    params.payload_hash = payload_hash;
  }

  json out_headers = json::array();
  for (const Header& h : headers) out_headers.push_back({h.name, h.value});
  std::string signed_url = url;
  auto presign = req.find("presign_expires");
  if (presign != req.end() && !presign->is_null()) {
    if (!presign->is_number_integer()) {
      return Status::InvalidArgument("\"presign_expires\" must be an integer");
    }
    s = signer->Presign(method, url, headers, body, creds, params, presign->get<int64_t>(),
                        &signed_url);
    if (!s.ok()) return s;
  } else {
    std::vector<Header> added;
    s = signer->Sign(method, url, headers, body, creds, params, &added);
    if (!s.ok()) return s;
    for (const Header& h : added) out_headers.push_back({h.name, h.value});
  }
  json& r = *result;
  r = json::object();
  r["canonical_request"] = std::string(signer->canonical_request());
  r["string_to_sign"] = std::string(signer->string_to_sign());
  r["signature"] = std::string(signer->signature());
  if (!signer->authorization().empty()) r["authorization"] = std::string(signer->authorization());
  r["signed_headers"] = std::string(signer->signed_headers());
  r["credential_scope"] = std::string(signer->credential_scope());
  r["payload_hash"] = std::string(signer->payload_hash());
  r["amz_date"] = std::string(signer->amz_date());
  r["headers"] = out_headers;
  r["host_signed"] = std::string(signer->host());
  r["url"] = signed_url;
  return Status::OK();
}

}  // namespace accel::sigv4
