// Differential test against botocore: >= 1,000 seeded random requests (methods; unicode, reserved
// and pre-encoded characters in paths, query keys and values -- empty, repeated, '=', '&', '+',
// '%', space, '~'; header whitespace and repeats; bodies of 0 bytes to 1 MiB; with and without
// session tokens; S3 and non-S3 path rules; payload-hash options; dates across midnight) are signed
// by our signer and by tests/sigv4/reference/botocore_sign.py (one python process for all of them);
// canonical request, string to sign, signature and Authorization must all match.
//
// Reproduce a failure: ACCEL_SIGV4_DIFF_SEED=<seed printed> [ACCEL_SIGV4_DIFF_CASES=n]
// ./sigv4_differential_test
//
// Inputs are kept inside what both sides define the same way; the deliberate differences (dangling
// '&', raw reserved characters in S3 paths, malformed escapes) are unit-tested in signer_test.cc.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "sigv4/signer.h"
#include "sigv4/tool/request_json.h"
#include "tests/sigv4/sigv4_test_util.h"

namespace accel::sigv4 {
namespace {

using nlohmann::json;

class Gen {
 public:
  explicit Gen(uint64_t seed) : rng_(seed) {}

  size_t Uniform(size_t n) { return static_cast<size_t>(rng_() % n); }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[Uniform(v.size())];
  }

  static std::string PercentEncodeAll(std::string_view s) {
    static const char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
    return out;
  }

  // A piece of a path segment as it appears on the wire (non-S3: anything but '/', '?', '#').
  std::string WirePathPiece() {
    static const std::vector<std::string> pieces = {"a",
                                                    "Z",
                                                    "09",
                                                    "-",
                                                    "_",
                                                    ".",
                                                    "~",
                                                    "=",
                                                    "@",
                                                    ":",
                                                    "*",
                                                    "+",
                                                    "$",
                                                    "&",
                                                    ",",
                                                    ";",
                                                    "!",
                                                    "'",
                                                    "(",
                                                    ")",
                                                    " ",
                                                    "%20",
                                                    "%2F",
                                                    "%3a",
                                                    "%25",
                                                    "%",
                                                    "%zz",
                                                    "\xc3\xa4",
                                                    "\xe1\x88\xb4",
                                                    "\xf0\x9f\x8d\xba",
                                                    "[",
                                                    "]",
                                                    "\"",
                                                    "<",
                                                    "|",
                                                    "^",
                                                    "`",
                                                    "{",
                                                    "}"};
    return Pick(pieces);
  }

  std::string V4Path() {
    std::string p;
    const size_t segs = Uniform(6);
    for (size_t i = 0; i < segs; ++i) {
      p += '/';
      const size_t kind = Uniform(10);
      if (kind == 0) continue;  // empty segment: "//"
      if (kind == 1) {
        p += ".";
        continue;
      }
      if (kind == 2) {
        p += "..";
        continue;
      }
      const size_t n = 1 + Uniform(6);
      for (size_t k = 0; k < n; ++k) p += WirePathPiece();
    }
    if (p.empty() || Chance(0.3)) p += '/';
    return p;
  }

  // S3 wire paths are encoded once by the client: unreserved raw, everything else %XX upper-case.
  std::string S3Path() {
    static const std::vector<std::string> raw = {"a", "Z", "9",         "-", "_",
                                                 ".", "~", "photo.jpg", ".."};
    static const std::vector<std::string> enc = {
        "=", "@", ":", "*", "+", " ", "/", "%", "?", "#", "\xc3\xa4", "\xf0\x9f\x8d\xba", "&", ","};
    std::string p;
    const size_t segs = 1 + Uniform(5);
    for (size_t i = 0; i < segs; ++i) {
      p += '/';
      const size_t n = Uniform(6);
      for (size_t k = 0; k < n; ++k) p += Chance(0.5) ? Pick(raw) : PercentEncodeAll(Pick(enc));
    }
    return p;
  }

  // A query key or value on the wire. Escapes decode to whole UTF-8 characters (the oracle
  // re-encodes decoded text, so a lone byte >= 0x80 is outside what it can express).
  std::string QueryPart(bool is_key) {
    static const std::vector<std::string> raw = {"a",
                                                 "B",
                                                 "z9",
                                                 "-",
                                                 "_",
                                                 ".",
                                                 "~",
                                                 "+",
                                                 " ",
                                                 "/",
                                                 ":",
                                                 "?",
                                                 "@",
                                                 "!",
                                                 "*",
                                                 "'",
                                                 "(",
                                                 ")",
                                                 "$",
                                                 ",",
                                                 ";",
                                                 "[",
                                                 "]",
                                                 "\xc3\xa4",
                                                 "\xe1\x88\xb4",
                                                 "\xf0\x9f\x8d\xba",
                                                 "Param",
                                                 "key",
                                                 "key-with-postfix",
                                                 "X-Amz-Meta"};
    static const std::vector<std::string> must_encode = {
        "&", "#", "%", "=", "\xc3\xa4", "\xf0\x9f\x8d\xba", "+", " ", "~", "a"};
    std::string s;
    const size_t n = Uniform(is_key ? 4 : 6) + (is_key ? 1 : 0);
    for (size_t k = 0; k < n; ++k) {
      if (Chance(0.25)) {
        std::string e = PercentEncodeAll(Pick(must_encode));
        if (Chance(0.3)) {  // lower-case hex is valid on the wire too
          for (char& c : e) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        }
        s += e;
      } else if (!is_key && Chance(0.1)) {
        s += '=';  // a raw '=' inside a value
      } else {
        s += Pick(raw);
      }
    }
    return s;
  }

  std::string Query() {
    if (Chance(0.3)) return "";
    std::vector<std::string> keys;
    std::string q;
    const size_t n = 1 + Uniform(6);
    for (size_t i = 0; i < n; ++i) {
      std::string key = (!keys.empty() && Chance(0.25)) ? Pick(keys) : QueryPart(true);
      if (Chance(0.03)) key.clear();  // "=value": empty key
      keys.push_back(key);
      if (!q.empty()) q += '&';
      q += key;
      const size_t form = Uniform(10);
      // "key" (no '='); never for an empty key, whose empty piece both sides define differently
      if (form == 0 && !key.empty()) continue;
      q += '=';
      if (form == 1) continue;  // "key="
      q += QueryPart(false);
    }
    if (q.empty()) return "";
    return "?" + q;
  }

  std::string HeaderValue() {
    static const std::vector<std::string> pieces = {"value",
                                                    "a",
                                                    "B",
                                                    " ",
                                                    "  ",
                                                    "\t",
                                                    " \t ",
                                                    "\"",
                                                    ",",
                                                    ";",
                                                    "=",
                                                    "application/json",
                                                    "charset=utf-8",
                                                    "x:y",
                                                    "\xc3\xa9",
                                                    "\xe1\x88\xb4",
                                                    "(",
                                                    ")",
                                                    "/",
                                                    "*",
                                                    "%20",
                                                    "~"};
    std::string v;
    const size_t n = Uniform(8);
    for (size_t i = 0; i < n; ++i) v += Pick(pieces);
    return v;
  }

  json Headers(const std::string& host_for_header, size_t body_size) {
    static const std::vector<std::string> names = {"X-Amz-Target",
                                                   "Content-Type",
                                                   "content-type",
                                                   "X-Custom",
                                                   "x-custom",
                                                   "My-Header",
                                                   "X-Amz-Meta-Data",
                                                   "Accept",
                                                   "Content-Encoding",
                                                   "User-Agent",
                                                   "Expect",
                                                   "Connection",
                                                   "X-Amzn-Trace-Id",
                                                   "Transfer-Encoding",
                                                   "X-Forwarded-For",
                                                   "If-Match",
                                                   "Range"};
    json h = json::array();
    const size_t n = Uniform(7);
    for (size_t i = 0; i < n; ++i) h.push_back({Pick(names), HeaderValue()});
    if (Chance(0.2)) h.push_back({"Content-Length", std::to_string(body_size)});
    if (Chance(0.15)) h.push_back({Chance(0.5) ? "Host" : "host", host_for_header});
    // shuffle, so repeated names arrive in varied order
    for (size_t i = h.size(); i > 1; --i) std::swap(h[i - 1], h[Uniform(i)]);
    return h;
  }

  std::string Body(size_t n, bool binary) {
    std::string b(n, '\0');
    if (binary) {
      for (char& c : b) c = static_cast<char>(rng_() & 0xff);
    } else {
      static const char text[] = "{\"id\":{\"S\":\"abc\"},\"t\":{\"N\":\"123\"}} \n\t\x7f~";
      for (char& c : b) c = text[Uniform(sizeof(text) - 1)];
    }
    return b;
  }

  size_t BodySize(int index) {
    if (index == 0) return 1 << 20;  // always one full 1 MiB body
    if (index == 1) return 0;
    const size_t bucket = Uniform(100);
    if (bucket < 40) return Uniform(257);
    if (bucket < 75) return 256 + Uniform(3841);
    if (bucket < 94) return 4096 + Uniform(61441);
    if (bucket < 99) return 65536 + Uniform(196609);
    return 262144 + Uniform((1 << 20) - 262144 + 1);
  }

  static std::string Base64(const std::string& in) {
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
      const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
      out += t[v >> 18];
      out += t[(v >> 12) & 63];
      out += t[(v >> 6) & 63];
      out += t[v & 63];
    }
    if (i + 1 == in.size()) {
      const uint32_t v = uint8_t(in[i]) << 16;
      out += t[v >> 18];
      out += t[(v >> 12) & 63];
      out += "==";
    } else if (i + 2 == in.size()) {
      const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
      out += t[v >> 18];
      out += t[(v >> 12) & 63];
      out += t[(v >> 6) & 63];
      out += '=';
    }
    return out;
  }

  static std::string AmzDate(int64_t t) {
    char buf[16];
    EXPECT_TRUE(internal::FormatAmzDate(t, buf).ok());
    return std::string(buf, 16);
  }

  json Request(int index) {
    static const std::vector<std::string> methods = {"GET",   "POST",    "PUT",  "DELETE", "HEAD",
                                                     "PATCH", "OPTIONS", "post", "get"};
    static const std::vector<std::string> hosts = {"dynamodb.us-east-1.amazonaws.com",
                                                   "example.amazonaws.com",
                                                   "Example.AmazonAWS.com",
                                                   "127.0.0.1",
                                                   "localhost",
                                                   "[::1]",
                                                   "cognito-identity.eu-west-1.amazonaws.com"};
    static const std::vector<std::string> regions = {"us-east-1", "eu-west-1", "ap-southeast-2",
                                                     "us-gov-west-1"};
    static const std::vector<std::string> services = {"dynamodb", "service", "cognito-identity",
                                                      "execute-api", "es"};
    static const std::vector<std::string> secrets = {"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                                     "secret", "s3cr3t/+=+/\xc3\xa4"};
    json r;
    const bool s3 = Chance(0.12);
    const bool https = Chance(0.85);
    const std::string host = Pick(hosts);
    std::string authority = host;
    const size_t port_kind = Uniform(10);
    if (port_kind == 0) authority += ":443";
    if (port_kind == 1) authority += ":80";
    if (port_kind == 2) authority += ":8443";
    if (port_kind == 3) authority += ":" + std::to_string(1 + Uniform(65535));
    r["url"] = std::string(https ? "https" : "http") + "://" + authority +
               (s3 ? S3Path() : V4Path()) + Query();
    r["method"] = Pick(methods);
    const size_t body_size = BodySize(index);
    const bool binary = Chance(0.5);
    const std::string body = Body(body_size, binary);
    if (binary) {
      r["body_base64"] = Base64(body);
    } else {
      r["body"] = body;
    }
    // botocore signs a given Host header verbatim; give it the value a client would send.
    std::string host_header;
    for (char c : host)
      host_header += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (port_kind == 2) host_header += ":8443";
    r["headers"] = Headers(host_header, body_size);
    // Region/service/secret/date often repeat the previous request's, so the signing-key cache is
    // exercised both ways.
    if (index == 0 || Chance(0.4)) {
      region_ = Pick(regions);
      service_ = s3 ? "s3" : Pick(services);
      secret_ = Chance(0.9) ? Pick(secrets) : "k" + std::to_string(rng_());
      const size_t when = Uniform(10);
      if (when < 2) {
        time_ = ((time_ / 86400) + 1) * 86400 - (when == 0 ? 1 : 0);  // midnight boundary
      } else {
        time_ = static_cast<int64_t>(rng_() % 4102444800ULL);  // 1970..2099
      }
    } else {
      time_ += static_cast<int64_t>(Uniform(3));
    }
    r["region"] = region_;
    r["service"] = s3 ? "s3" : service_;
    r["access_key"] = Chance(0.8) ? "AKIDEXAMPLE" : "ASIA" + std::to_string(rng_() % 1000000000);
    r["secret_key"] = secret_;
    r["amz_date"] = AmzDate(time_);
    if (Chance(0.5)) {
      static const char tok[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
      std::string t(16 + Uniform(1000), 'A');
      for (char& c : t) c = tok[Uniform(sizeof(tok) - 1)];
      r["session_token"] = t;
    }
    if (s3) {
      r["signer"] = "s3v4";
    } else {
      if (Chance(0.1)) r["normalize_path"] = false;
      const size_t payload = Uniform(10);
      if (payload == 0) r["unsigned_payload"] = true;
      if (payload == 1 || payload == 2) r["add_content_sha256"] = true;
    }
    return r;
  }

 private:
  std::mt19937_64 rng_;
  std::string region_, service_, secret_;
  int64_t time_ = 1440938160;
};

std::string Truncated(json r) {
  for (const char* k : {"body", "body_base64"}) {
    if (r.contains(k) && r[k].get<std::string>().size() > 64) {
      r[k] = r[k].get<std::string>().substr(0, 64) + "...(" +
             std::to_string(r[k].get<std::string>().size()) + " chars)";
    }
  }
  return r.dump(-1, ' ', false, json::error_handler_t::replace);
}

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtoull(v, nullptr, 10) : fallback;
}

TEST(Sigv4Differential, MatchesBotocoreOnSeededRandomRequests) {
  const std::string dir = testing::SharedSigv4Dir();
  ASSERT_FALSE(dir.empty()) << testing::MissingSharedMessage();
  const std::string oracle = dir + "/botocore_sign.py";
  const uint64_t seed = EnvOr("ACCEL_SIGV4_DIFF_SEED", 20260824);
  const int cases = static_cast<int>(EnvOr("ACCEL_SIGV4_DIFF_CASES", 1200));
  SCOPED_TRACE("seed " + std::to_string(seed) +
               " (rerun with ACCEL_SIGV4_DIFF_SEED=" + std::to_string(seed) + ")");

  Gen gen(seed);
  json requests = json::array();
  for (int i = 0; i < cases; ++i) requests.push_back(gen.Request(i));

  char in_path[] = "/tmp/sigv4_diff_in.XXXXXX";
  const int fd = mkstemp(in_path);
  ASSERT_GE(fd, 0);
  const std::string text = requests.dump(-1, ' ', false, json::error_handler_t::strict);
  ASSERT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  const std::string cmd = "python3 '" + oracle + "' < " + in_path + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[1 << 16];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int status = pclose(p);
  unlink(in_path);
  ASSERT_EQ(status, 0) << "the oracle failed (python3 with botocore is required): "
                       << out.substr(0, 2000);
  const json results = json::parse(out, nullptr, false);
  ASSERT_FALSE(results.is_discarded()) << "oracle output is not JSON: " << out.substr(0, 500);
  ASSERT_EQ(results.size(), requests.size());

  Signer signer;  // one signer for all: its cache and buffers carry over between requests
  int failures = 0;
  size_t total_body = 0;
  for (int i = 0; i < cases && failures < 5; ++i) {
    const json& want = results[i];
    json got;
    Status s = SignJsonRequest(requests[i], &signer, &got);
    if (!s.ok()) {
      ADD_FAILURE() << "case " << i << ": we refused a request botocore signed: " << s.ToString()
                    << "\nrequest: " << Truncated(requests[i]);
      ++failures;
      continue;
    }
    total_body += requests[i].contains("body") ? requests[i]["body"].get<std::string>().size() : 0;
    bool same = true;
    for (const char* k : {"canonical_request", "string_to_sign", "signature", "authorization"}) {
      same = same && got[k] == want[k];
    }
    if (!same) {
      ++failures;
      ADD_FAILURE() << "case " << i << " differs from botocore\nrequest: " << Truncated(requests[i])
                    << "\n--- ours:\n"
                    << got["canonical_request"].get<std::string>() << "\n--- botocore:\n"
                    << want["canonical_request"].get<std::string>()
                    << "\nours:     " << got["authorization"]
                    << "\nbotocore: " << want["authorization"];
    }
  }
  EXPECT_EQ(failures, 0);
  EXPECT_GE(cases, 1000) << "the differential test must cover at least 1,000 requests";
  std::printf("signed %d requests, %d matched botocore (seed %llu, %zu bytes of text bodies)\n",
              cases, cases - failures, static_cast<unsigned long long>(seed), total_body);
}

}  // namespace
}  // namespace accel::sigv4
