// Unit tests of accel_sigv4 beyond the reference vectors: precise errors for bad input (and no
// signature for it), the signing-key cache, dates at day/year boundaries, the presigned form, the
// places where we deliberately differ from botocore, zero allocation in steady state, and the
// sigv4-sign tool as a process.
// This file replaces the global operator new/delete with malloc/free to count allocations; GCC then
// sees free() on pointers from new-expressions in inlined code and warns about a mismatch that is
// not one (both sides are ours).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include "sigv4/signer.h"

#include <gtest/gtest.h>
#include <openssl/crypto.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "sigv4/canonical.h"
#include "tests/sigv4/sigv4_test_util.h"

// ---- allocation counting (global operator new and OpenSSL's allocator) ----
namespace {
std::atomic<bool> g_counting{false};
std::atomic<long> g_news{0};
std::atomic<long> g_crypto_allocs{0};
void* CryptoMalloc(size_t n, const char*, int) {
  if (g_counting) ++g_crypto_allocs;
  return std::malloc(n);
}
void* CryptoRealloc(void* p, size_t n, const char*, int) {
  if (g_counting) ++g_crypto_allocs;
  return std::realloc(p, n);
}
void CryptoFree(void* p, const char*, int) { std::free(p); }
// Must run before OpenSSL allocates anything (it refuses afterwards).
const bool g_crypto_hooked = CRYPTO_set_mem_functions(CryptoMalloc, CryptoRealloc, CryptoFree) == 1;
}  // namespace

void* operator new(size_t n) {
  if (g_counting) ++g_news;
  void* p = std::malloc(n == 0 ? 1 : n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace accel::sigv4 {
namespace {

Credentials Creds(std::string token = "") {
  return Credentials{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", std::move(token)};
}
SigningParams Params(int64_t t = 1440938160) {
  SigningParams p;
  p.region = "us-east-1";
  p.service = "dynamodb";
  p.unix_seconds = t;
  return p;
}
const std::vector<Header> kDdbHeaders = {{"Content-Type", "application/x-amz-json-1.0"},
                                         {"X-Amz-Target", "DynamoDB_20120810.PutItem"}};
const char kUrl[] = "https://dynamodb.us-east-1.amazonaws.com/";

// Signs and expects failure mentioning `want`; *out must come back empty.
void ExpectSignError(const std::string& want, std::string_view url, const std::vector<Header>& h,
                     const Credentials& c, const SigningParams& p,
                     std::string_view method = "POST") {
  Signer s;
  std::vector<Header> out = {{"stale", "x"}};
  Status st = s.Sign(method, url, h, "{}", c, p, &out);
  EXPECT_FALSE(st.ok()) << "expected an error containing \"" << want << "\"";
  EXPECT_NE(st.message().find(want), std::string::npos) << st.message();
  EXPECT_TRUE(out.empty());
}

TEST(Sigv4Errors, BadInputGivesPreciseErrorAndNoSignature) {
  const auto c = Creds();
  const auto p = Params();
  ExpectSignError("missing host", "https:///x", {}, c, p);
  ExpectSignError("missing host", "https://:443/", {}, c, p);
  ExpectSignError("expected scheme://host", "dynamodb.us-east-1.amazonaws.com/", {}, c, p);
  ExpectSignError("expected scheme://host", "://x/", {}, c, p);
  ExpectSignError("bad character in scheme at offset 2", "ht~tp://x/", {}, c, p);
  ExpectSignError("control character 0x0A at offset 19", "https://example.com\n/", {}, c, p);
  ExpectSignError("fragment at offset 21", "https://example.com/a#frag", {}, c, p);
  ExpectSignError("userinfo", "https://user:pw@example.com/", {}, c, p);
  ExpectSignError("bad port", "https://example.com:44a/", {}, c, p);
  ExpectSignError("outside 1..65535", "https://example.com:65536/", {}, c, p);
  ExpectSignError("unterminated IPv6", "http://[::1/", {}, c, p);
  ExpectSignError("malformed percent-escape in URL query at offset 3", "https://e.com/?a=b%zz", {},
                  c, p);
  ExpectSignError("malformed percent-escape in URL query at offset 2", "https://e.com/?a=%4", {}, c,
                  p);
  ExpectSignError("bad signing time -1", kUrl, {}, c, Params(-1));
  ExpectSignError("1970..9999", kUrl, {}, c, Params(253402300800LL));
  ExpectSignError("empty secret access key", kUrl, {}, Credentials{"AKID", "", ""}, p);
  ExpectSignError("access key id is empty", kUrl, {}, Credentials{"", "s", ""}, p);
  ExpectSignError("access key id contains '/'", kUrl, {}, Credentials{"AK/ID", "s", ""}, p);
  ExpectSignError("session token contains whitespace or a control character at offset 5 of 6", kUrl,
                  {}, Creds("token "), p);
  SigningParams bad_region = p;
  bad_region.region = "us-east-1 ";
  ExpectSignError("region contains whitespace", kUrl, {}, c, bad_region);
  SigningParams empty_service = p;
  empty_service.service = "";
  ExpectSignError("service is empty", kUrl, {}, c, empty_service);
  ExpectSignError("bad HTTP method", kUrl, {}, c, p, "GE T");
  ExpectSignError("bad HTTP method", kUrl, {}, c, p, "");
  ExpectSignError("header #1: name \"Bad Name\"", kUrl, {{"A", "b"}, {"Bad Name", "x"}}, c, p);
  ExpectSignError("header #0 \"X-Injected\": control character in the value at offset 1", kUrl,
                  {{"X-Injected", "a\r\nEvil: 1"}}, c, p);
  ExpectSignError("\"Authorization\" is added by the signer", kUrl, {{"Authorization", "x"}}, c, p);
  ExpectSignError("\"x-amz-date\" is added by the signer", kUrl, {{"x-amz-date", "x"}}, c, p);
  ExpectSignError("\"X-Amz-Security-Token\" is added by the signer", kUrl,
                  {{"X-Amz-Security-Token", "t"}}, Creds("t"), p);
  SigningParams add = p;
  add.add_content_sha256 = true;
  ExpectSignError("\"X-Amz-Content-Sha256\" is added by the signer", kUrl,
                  {{"X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"}}, c, add);
  SigningParams bad_hash = p;
  bad_hash.payload_hash = "ABCDEF";
  ExpectSignError("payload hash \"ABCDEF\" is neither", kUrl, {}, c, bad_hash);
  ExpectSignError("X-Amz-Content-Sha256 header \"nope\" is neither", kUrl,
                  {{"X-Amz-Content-Sha256", "nope"}}, c, p);
  SigningParams s3 = p;
  s3.s3_style_path = true;
  ExpectSignError("malformed percent-escape in URL path at offset 2", "https://b.s3.com/a%g0", {},
                  c, s3);
}

TEST(Sigv4Errors, PresignRejectsBadExpiryAndPresignedUrls) {
  Signer s;
  std::string url = "stale";
  Status st = s.Presign("GET", "https://e.com/", {}, "", Creds(), Params(), 0, &url);
  EXPECT_NE(st.message().find("presign expiry 0 s is outside 1..604800"), std::string::npos)
      << st.message();
  EXPECT_TRUE(url.empty());
  st = s.Presign("GET", "https://e.com/", {}, "", Creds(), Params(), 604801, &url);
  EXPECT_FALSE(st.ok());
  st = s.Presign("GET", "https://e.com/?X-Amz-Signature=abc", {}, "", Creds(), Params(), 60, &url);
  EXPECT_NE(st.message().find("already has X-Amz-Signature"), std::string::npos) << st.message();
  EXPECT_TRUE(s.Presign("GET", "https://e.com/", {}, "", Creds(), Params(), 604800, &url).ok());
}

TEST(Sigv4Signer, AddsHeadersInDocumentedOrderAndReusesOutput) {
  Signer s;
  SigningParams p = Params();
  p.add_content_sha256 = true;
  std::vector<Header> out(7, Header{"stale-name", std::string(300, 'x')});
  ASSERT_TRUE(s.Sign("POST", kUrl, kDdbHeaders, "{}", Creds("tok"), p, &out).ok());
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].name, "X-Amz-Date");
  EXPECT_EQ(out[0].value, "20150830T123600Z");
  EXPECT_EQ(out[1].name, "X-Amz-Security-Token");
  EXPECT_EQ(out[1].value, "tok");
  EXPECT_EQ(out[2].name, "X-Amz-Content-Sha256");
  EXPECT_EQ(out[2].value, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
  EXPECT_EQ(out[3].name, "Authorization");
  EXPECT_EQ(out[3].value,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;"
            "x-amz-target, Signature=" +
                std::string(s.signature()));
  EXPECT_EQ(s.host(), "dynamodb.us-east-1.amazonaws.com");
  // Without a token or the sha256 flag: just the date and Authorization.
  ASSERT_TRUE(s.Sign("POST", kUrl, kDdbHeaders, "{}", Creds(), Params(), &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].name, "X-Amz-Date");
  EXPECT_EQ(out[1].name, "Authorization");
  // A caller's own X-Amz-Security-Token (no token in the credentials) is an ordinary signed header.
  ASSERT_TRUE(
      s.Sign("POST", kUrl, {{"X-Amz-Security-Token", "t"}}, "", Creds(), Params(), &out).ok());
  EXPECT_EQ(s.signed_headers(), "host;x-amz-date;x-amz-security-token");
}

// Header names and values share one growing buffer; a Host header whose value makes it reallocate
// must still be recognised (regression: the name was read after the buffer moved).
TEST(Sigv4Signer, HeaderBufferGrowthKeepsHostAndPayloadHashHeaders) {
  for (size_t pad = 1900; pad < 2200; ++pad) {
    Signer s;  // fresh, so its buffers start at the initial capacity
    std::vector<Header> out;
    const std::vector<Header> headers = {{"X-Big", std::string(pad, 'v')},
                                         {"Host", "Example.com"},
                                         {"X-Amz-Content-Sha256", std::string(64, 'a')}};
    ASSERT_TRUE(s.Sign("PUT", "https://other.example/", headers, "", Creds(), Params(), &out).ok());
    ASSERT_EQ(s.host(), "Example.com") << pad;
    ASSERT_EQ(s.payload_hash(), std::string(64, 'a')) << pad;
    ASSERT_EQ(s.signed_headers(), "host;x-amz-content-sha256;x-amz-date;x-big") << pad;
  }
}

TEST(Sigv4Signer, SigningKeyCacheFollowsSecretDateRegionAndService) {
  Signer cached;
  std::vector<Header> out;
  auto check = [&](const Credentials& c, const SigningParams& p, uint64_t want_derivations) {
    ASSERT_TRUE(cached.Sign("POST", kUrl, kDdbHeaders, "{}", c, p, &out).ok());
    Signer fresh;
    std::vector<Header> out2;
    ASSERT_TRUE(fresh.Sign("POST", kUrl, kDdbHeaders, "{}", c, p, &out2).ok());
    EXPECT_EQ(cached.signature(), fresh.signature()) << "stale signing key";
    EXPECT_EQ(cached.key_derivations(), want_derivations);
  };
  const int64_t day_end = 1704067199;  // 2023-12-31T23:59:59Z
  SigningParams p = Params(day_end - 3600);
  check(Creds(), p, 1);
  p.unix_seconds = day_end;  // same UTC date: cache hit
  check(Creds(), p, 1);
  p.unix_seconds = day_end + 1;  // 2024-01-01T00:00:00Z: new scope date
  check(Creds(), p, 2);
  EXPECT_EQ(cached.amz_date(), "20240101T000000Z");
  EXPECT_EQ(cached.credential_scope(), "20240101/us-east-1/dynamodb/aws4_request");
  p.region = "eu-west-1";
  check(Creds(), p, 3);
  p.service = "cognito-identity";
  check(Creds(), p, 4);
  Credentials other = Creds();
  other.secret_access_key += "x";
  check(other, p, 5);
  check(other, p, 5);
  check(Creds(), p, 6);
  Credentials new_token = Creds("changed-token");  // the token is not part of the key
  check(new_token, p, 6);
}

TEST(Sigv4Dates, FormatsAndParsesBoundaries) {
  struct Case {
    int64_t t;
    const char* s;
  } cases[] = {{0, "19700101T000000Z"},          {86399, "19700101T235959Z"},
               {86400, "19700102T000000Z"},      {951782400, "20000229T000000Z"},
               {1709251199, "20240229T235959Z"}, {1709251200, "20240301T000000Z"},
               {4102444799, "20991231T235959Z"}, {253402300799LL, "99991231T235959Z"}};
  for (const Case& c : cases) {
    char buf[16];
    ASSERT_TRUE(internal::FormatAmzDate(c.t, buf).ok());
    EXPECT_EQ(std::string(buf, 16), c.s);
    int64_t back = -1;
    ASSERT_TRUE(internal::ParseAmzDate(c.s, &back).ok());
    EXPECT_EQ(back, c.t);
  }
  const uint32_t seed = 20150830;
  std::mt19937_64 rng(seed);
  for (int i = 0; i < 20000; ++i) {
    const int64_t t = static_cast<int64_t>(rng() % 253402300800ULL);
    char buf[16];
    ASSERT_TRUE(internal::FormatAmzDate(t, buf).ok());
    int64_t back = -1;
    ASSERT_TRUE(internal::ParseAmzDate(std::string_view(buf, 16), &back).ok());
    ASSERT_EQ(back, t) << "seed " << seed << " iteration " << i;
  }
  int64_t t;
  for (const char* bad :
       {"20230229T000000Z", "20240230T000000Z", "20241301T000000Z", "20240101T240000Z",
        "20240101 000000Z", "2024010T000000Z", "20240101T000000", "19691231T235959Z"}) {
    EXPECT_FALSE(internal::ParseAmzDate(bad, &t).ok()) << bad;
  }
}

TEST(Sigv4Canonical, TrimmedValueMatchesNaiveReference) {
  const uint32_t seed = 4242;
  std::mt19937 rng(seed);
  const std::string alphabet = "ab \t\"xyz\xc3\xa4 ";
  auto naive = [](const std::string& v) {
    std::string out, word;
    bool any = false;
    for (char c : v) {
      if (c == ' ' || c == '\t') {
        if (!word.empty()) {
          if (any) out += ' ';
          out += word;
          word.clear();
          any = true;
        }
      } else {
        word += c;
      }
    }
    if (!word.empty()) {
      if (any) out += ' ';
      out += word;
    }
    return out;
  };
  for (int i = 0; i < 20000; ++i) {
    std::string v(rng() % 40, ' ');
    for (char& c : v) c = alphabet[rng() % alphabet.size()];
    std::string got;
    ASSERT_EQ(internal::AppendTrimmedValue(v, &got), std::string::npos);
    ASSERT_EQ(got, naive(v)) << "seed " << seed << " value \"" << v << "\"";
  }
  for (int bad : {0, 1, 8, 10, 13, 31, 127}) {
    std::string v = "0123456789abcdef0123";
    v[17] = static_cast<char>(bad);
    std::string got;
    EXPECT_EQ(internal::AppendTrimmedValue(v, &got), 17u) << bad;
    EXPECT_EQ(internal::FindSpaceOrControl(v), 17u) << bad;
  }
  EXPECT_EQ(internal::FindSpaceOrControl("abc\xff\x80xyz"), std::string::npos);
  // Long values (the ~900-byte session token) take the 16/8-bytes-at-a-time path: every position of
  // every kind of special byte must be found, and bytes >= 0x80 / 0x21..0x7e never.
  std::string token(901, 'A');
  for (size_t i = 0; i < token.size(); ++i) token[i] = static_cast<char>(0x21 + i % 94);
  token[300] = '\x80';
  token[301] = '\xff';
  EXPECT_EQ(internal::FindSpaceOrControl(token), std::string::npos);
  for (size_t pos = 0; pos < token.size(); ++pos) {
    for (char bad : {' ', '\t', '\0', '\x1f', '\x7f'}) {
      std::string t = token;
      t[pos] = bad;
      ASSERT_EQ(internal::FindSpaceOrControl(t), pos) << "byte " << int(bad) << " at " << pos;
    }
  }
}

// Where our answer differs from botocore on purpose (botocore_sign.py would disagree):
TEST(Sigv4Canonical, DeliberateDifferencesFromBotocore) {
  Signer s;
  std::vector<Header> out;
  // PITFALLS 3: dangling '&' produce nothing (the oracle turns an empty piece into "=").
  ASSERT_TRUE(s.Sign("GET", "https://e.com/?b=2&&a=1&", {}, "", Creds(), Params(), &out).ok());
  EXPECT_NE(s.canonical_request().find("\na=1&b=2\n"), std::string::npos) << s.canonical_request();
  // S3: reserved characters left raw on the wire are encoded (S3 canonicalises the decoded key;
  // botocore signs the wire path verbatim), lower-case escapes come out upper-case.
  SigningParams s3 = Params();
  s3.s3_style_path = true;
  s3.service = "s3";
  ASSERT_TRUE(
      s.Sign("GET", "https://b.s3.amazonaws.com/asset_id=x/%2f%41", {}, "", Creds(), s3, &out)
          .ok());
  EXPECT_EQ(s.canonical_request().substr(0, 27), "GET\n/asset_id%3Dx/%2FA\n\nhos");
  // A token that is not to be signed is still sent.
  SigningParams legacy = Params();
  legacy.sign_session_token = false;
  ASSERT_TRUE(s.Sign("POST", kUrl, {}, "", Creds("tok"), legacy, &out).ok());
  EXPECT_EQ(s.signed_headers(), "host;x-amz-date");
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[1].name, "X-Amz-Security-Token");
}

// Garbage in never crashes or reads out of bounds (run under ASan in CI): random byte mutations of
// a valid request either sign or come back with an error message, and an error never carries
// headers.
TEST(Sigv4Errors, RandomlyMutatedInputsSignOrFailCleanly) {
  const uint32_t seed = 77;
  std::mt19937 rng(seed);
  const std::string base_url = "https://[::1]:8443/a%20b/./c?x=%41&y=&z";
  Signer signer;
  std::vector<Header> out;
  std::string presigned;
  int ok = 0, failed = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string url = base_url;
    std::vector<Header> headers = {{"Content-Type", "a  b"}, {"X-Amz-Target", "T"}};
    std::string method = "POST";
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const char c = static_cast<char>(rng() & 0xff);
      switch (rng() % 6) {
        case 0:
          url[rng() % url.size()] = c;
          break;
        case 1:
          url.insert(url.begin() + static_cast<long>(rng() % (url.size() + 1)), c);
          break;
        case 2:
          url.erase(rng() % url.size(), 1 + rng() % 4);
          if (url.empty()) url = "h";
          break;
        case 3:
          headers[rng() % 2].name += c;
          break;
        case 4:
          headers[rng() % 2].value.insert(0, 1, c);
          break;
        default:
          method[rng() % method.size()] = c;
      }
    }
    SigningParams p = Params();
    p.s3_style_path = rng() % 4 == 0;
    Status st = signer.Sign(method, url, headers, "body", Creds("tok"), p, &out);
    if (st.ok()) {
      ++ok;
      ASSERT_EQ(out.size(), 3u);
      ASSERT_EQ(signer.signature().size(), 64u);
    } else {
      ++failed;
      ASSERT_FALSE(st.message().empty()) << "seed " << seed << " iteration " << i;
      ASSERT_TRUE(out.empty());
    }
    st = signer.Presign(method, url, headers, "", Creds(), p, 60, &presigned);
    ASSERT_EQ(st.ok(), !presigned.empty()) << "seed " << seed << " iteration " << i;
  }
  EXPECT_GT(ok, 1000);      // the mutations leave many requests valid...
  EXPECT_GT(failed, 1000);  // ...and break many others
}

TEST(Sigv4Presign, TokenIsEncodedInTheUrlAndSignedUnlessAskedNot) {
  Signer s;
  std::string url;
  ASSERT_TRUE(
      s.Presign("GET", "https://e.com/p?z=1", {}, "", Creds("a/b+c="), Params(), 900, &url).ok());
  EXPECT_EQ(url.substr(0, 76),
            "https://e.com/p?z=1&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEX");
  EXPECT_NE(url.find("&X-Amz-Security-Token=a%2Fb%2Bc%3D&"), std::string::npos) << url;
  EXPECT_NE(s.canonical_request().find("X-Amz-Security-Token=a%2Fb%2Bc%3D&X-Amz-SignedHeaders=host"
                                       "&z=1\n"),
            std::string::npos)
      << s.canonical_request();
  EXPECT_TRUE(s.authorization().empty());
  SigningParams p = Params();
  p.sign_session_token = false;
  ASSERT_TRUE(s.Presign("GET", "https://e.com/p", {}, "", Creds("tok"), p, 900, &url).ok());
  EXPECT_EQ(s.canonical_request().find("Security-Token"), std::string::npos);
  EXPECT_NE(url.find("&X-Amz-Security-Token=tok&"), std::string::npos) << url;
}

// HexEncode (16 bytes at a time, then byte by byte) against snprintf, for every length up to 100
// and every byte value.
TEST(Sigv4Sha256, HexEncodeMatchesPrintf) {
  const uint32_t seed = 1616;
  std::mt19937 rng(seed);
  for (size_t n = 0; n <= 100; ++n) {
    for (int round = 0; round < 20; ++round) {
      std::vector<uint8_t> in(n);
      for (size_t k = 0; k < n; ++k)
        in[k] = static_cast<uint8_t>(round < 16 ? round * 16 + k : rng());
      std::string want;
      char two[3];
      for (uint8_t b : in) {
        std::snprintf(two, sizeof(two), "%02x", b);
        want += two;
      }
      std::string got(2 * n + 1, '#');
      HexEncode(in.data(), n, &got[0]);
      ASSERT_EQ(got.substr(0, 2 * n), want) << "seed " << seed << " length " << n;
      ASSERT_EQ(got.back(), '#') << "wrote past 2n characters";
    }
  }
}

// Sha256PrefixCache resumes only after bytes it has compared: random messages that share random
// prefixes with the previous one hash exactly like a fresh SHA-256 / HMAC, from plain and keyed
// start states, whatever `stable` claims.
TEST(Sigv4Sha256, PrefixCacheResumesOnlyAfterIdenticalBytes) {
  const uint32_t seed = 9001;
  std::mt19937 rng(seed);
  Sha256PrefixCache plain;
  HmacSha256 keyed;
  keyed.SetKey("key", 3);
  Sha256 work, fresh;
  std::string prev(300, 'p');
  for (int i = 0; i < 20000; ++i) {
    std::string msg = prev.substr(0, rng() % (prev.size() + 1));
    const size_t extra = rng() % 300;
    for (size_t k = 0; k < extra; ++k) msg.push_back(static_cast<char>('a' + rng() % 3));
    if (!msg.empty() && rng() % 4 == 0) msg[rng() % msg.size()] ^= 1;  // a change inside
    const size_t stable = rng() % (msg.size() + 1);
    uint8_t got[kSha256Size], want[kSha256Size];
    plain.Run(nullptr, msg, stable, &work);
    work.Final(got);
    fresh.Hash(msg, want);
    ASSERT_EQ(0, std::memcmp(got, want, kSha256Size)) << "seed " << seed << " iteration " << i;
    if (i % 5000 == 4999) keyed.SetKey(&i, sizeof(i));  // a new key drops the kept state
    keyed.MacResuming(msg, stable, got);
    keyed.Mac(msg, want);
    ASSERT_EQ(0, std::memcmp(got, want, kSha256Size)) << "seed " << seed << " iteration " << i;
    prev = msg;
  }
  EXPECT_GT(plain.hits(), 2000u);  // the shared prefixes were actually resumed from
  EXPECT_GT(keyed.resumed(), 2000u);
}

// A signer that has signed other requests (warm caches and buffers, the reused canonical request of
// the same shape) gives the same canonical request, string to sign and headers as a fresh one,
// while one input at a time changes: method, URL, each header, body, payload hash, time (same
// second, next second, next day), token, keys, region, service and flags (some of them invalid:
// both must fail). Seeded; the seed is printed on failure.
TEST(Sigv4Signer, WarmSignerMatchesFreshSignerWhileInputsChange) {
  const uint32_t seed = 31337;
  std::mt19937 rng(seed);
  Signer warm;
  std::vector<Header> warm_out;
  std::string method = "POST";
  std::string url = "https://dynamodb.us-east-1.amazonaws.com/";
  std::vector<Header> headers = kDdbHeaders;
  std::string body = "{}";
  std::string token(900, 'T');
  Credentials c{"ASIAEXAMPLE", "secret", token};
  SigningParams p = Params(1700000000);
  std::string payload_hash;
  for (int i = 0; i < 6000; ++i) {
    switch (rng() % 20) {
      case 0:
        method = rng() % 2 ? "POST" : "PUT";
        break;
      case 1:
        url = rng() % 2 ? "https://dynamodb.us-east-1.amazonaws.com/"
                        : "https://Example.com:8443/a/./b/../c//%41?x=" + std::to_string(rng() % 3);
        break;
      case 2: {
        Header& h = headers[rng() % headers.size()];
        if (rng() % 3 == 0) {
          h.name.back() = static_cast<char>('a' + rng() % 3);  // same length, another header
        } else {
          h.value += static_cast<char>('a' + rng() % 3);
        }
        break;
      }
      case 3:
        if (headers.size() < 5) {
          switch (rng() % 4) {
            case 0:
              headers.push_back({"Host", "h.example"});
              break;
            case 1:  // the payload hash from the caller (an error with add_content_sha256)
              headers.push_back({"X-Amz-Content-Sha256",
                                 rng() % 2 ? std::string(64, 'a') : std::string(64, 'b')});
              break;
            default:
              headers.push_back({"x-extra-" + std::to_string(rng() % 3), " v  w "});
          }
        } else {
          headers.resize(2);
        }
        break;
      case 4:
        body.assign(rng() % 2000, static_cast<char>('a' + rng() % 26));
        break;
      case 5:
        p.unix_seconds += rng() % 3 == 0 ? 86400 : 1;
        break;
      case 6:
        c.session_token = rng() % 4 == 0 ? "" : token.substr(0, 800 + rng() % 100) + "x";
        break;
      case 7:
        c.secret_access_key = rng() % 4 == 0 ? "" : rng() % 2 ? "secret" : "other-secret";
        break;
      case 8:
        c.access_key_id = rng() % 4 == 0 ? "AK/ID" : rng() % 2 ? "ASIAEXAMPLE" : "AKIDOTHER";
        break;
      case 9:
        p.region = rng() % 4 == 0 ? "us east" : rng() % 2 ? "us-east-1" : "eu-west-1";
        break;
      case 10:
        p.service = rng() % 4 == 0 ? "" : rng() % 2 ? "dynamodb" : "s3";
        break;
      case 11:
        p.add_content_sha256 = !p.add_content_sha256;
        break;
      case 12:
        p.sign_session_token = rng() % 4 != 0;
        break;
      case 13:
        payload_hash = rng() % 3 == 0 ? std::string(kUnsignedPayload)
                       : rng() % 2    ? ""
                                      : std::string(64, static_cast<char>('0' + rng() % 10));
        break;
      case 14:
        p.s3_style_path = !p.s3_style_path;
        break;
      case 15:
        p.normalize_path = !p.normalize_path;
        break;
      default:  // the common case: only the body changes
        if (body.empty()) body = "{}";
        body[rng() % body.size()] ^= 1;
        break;
    }
    p.payload_hash = payload_hash;
    const Status ws = warm.Sign(method, url, headers, body, c, p, &warm_out);
    Signer fresh;
    std::vector<Header> fresh_out;
    const Status fs = fresh.Sign(method, url, headers, body, c, p, &fresh_out);
    ASSERT_EQ(ws.ok(), fs.ok()) << "seed " << seed << " iteration " << i << ": " << fs.ToString();
    if (!fs.ok()) continue;
    ASSERT_EQ(warm.canonical_request(), fresh.canonical_request())
        << "seed " << seed << " iteration " << i;
    ASSERT_EQ(warm.string_to_sign(), fresh.string_to_sign()) << "seed " << seed << " i " << i;
    ASSERT_EQ(warm.signature(), fresh.signature()) << "seed " << seed << " iteration " << i;
    ASSERT_EQ(warm_out.size(), fresh_out.size());
    for (size_t k = 0; k < fresh_out.size(); ++k) {
      ASSERT_EQ(warm_out[k].name, fresh_out[k].name) << "seed " << seed << " iteration " << i;
      ASSERT_EQ(warm_out[k].value, fresh_out[k].value) << "seed " << seed << " iteration " << i;
    }
    if (i % 97 == 0) {  // presigning in between must not disturb the next signature
      std::string a, b;
      ASSERT_TRUE(warm.Presign("GET", url, {}, "", c, p, 60, &a).ok());
      ASSERT_TRUE(fresh.Presign("GET", url, {}, "", c, p, 60, &b).ok());
      ASSERT_EQ(a, b) << "seed " << seed << " iteration " << i;
    }
  }
  // Many steps took the reuse path and resumed the hashes (the counts for this seed are 771, 1172
  // and 1354).
  EXPECT_GT(warm.same_shape_signatures(), 500u);
  EXPECT_GT(warm.canonical_request_resumed(), 500u);
  EXPECT_GT(warm.string_to_sign_resumed(), 500u);
  std::printf("same shape %llu, canonical request resumed %llu, string to sign resumed %llu\n",
              static_cast<unsigned long long>(warm.same_shape_signatures()),
              static_cast<unsigned long long>(warm.canonical_request_resumed()),
              static_cast<unsigned long long>(warm.string_to_sign_resumed()));
}

TEST(Sigv4Signer, SteadyStateSigningDoesNotAllocate) {
  ASSERT_TRUE(g_crypto_hooked) << "OpenSSL allocated before the test could hook its allocator";
  if (std::string(Sha256::Backend()) != "openssl-sha256-ctx") {
    GTEST_SKIP() << "EVP fallback allocates inside OpenSSL by design";
  }
  Signer s;
  const Credentials c = Creds(std::string(900, 'T'));
  const std::string body(16384, 'b');
  std::vector<Header> out;
  SigningParams p = Params();
  p.add_content_sha256 = true;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(s.Sign("POST", kUrl, kDdbHeaders, body, c, p, &out).ok());
  g_news = 0;
  g_crypto_allocs = 0;
  g_counting = true;
  bool ok = true;
  for (int i = 0; i < 100; ++i) {
    p.unix_seconds += 1;  // a new second each time, same day
    ok = ok && s.Sign("POST", kUrl, kDdbHeaders, body, c, p, &out).ok();
  }
  g_counting = false;
  EXPECT_TRUE(ok);
  EXPECT_EQ(g_news.load(), 0) << "operator new calls in 100 steady-state signatures";
  EXPECT_EQ(g_crypto_allocs.load(), 0) << "OpenSSL allocations in 100 steady-state signatures";
  EXPECT_EQ(s.key_derivations(), 1u);
}

// ---- the sigv4-sign tool as a process ----
std::string RunTool(const std::string& input, int* exit_code) {
  const std::string in_path = std::string(ACCEL_BINARY_DIR) + "/sigv4_tool_test_input." +
                              std::to_string(getpid()) + ".json";
  FILE* f = std::fopen(in_path.c_str(), "wb");
  EXPECT_NE(f, nullptr);
  std::fwrite(input.data(), 1, input.size(), f);
  std::fclose(f);
  const std::string cmd = std::string(ACCEL_BINARY_DIR) + "/sigv4/sigv4-sign < " + in_path;
  FILE* p = popen(cmd.c_str(), "r");
  EXPECT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  const int st = pclose(p);
  *exit_code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::remove(in_path.c_str());
  return out;
}

TEST(Sigv4Tool, PrintsTheOracleFieldsAndReportsErrors) {
  const nlohmann::json req = {{"method", "GET"},
                              {"url", "https://example.amazonaws.com/"},
                              {"headers", nlohmann::json::object()},
                              {"region", "us-east-1"},
                              {"service", "service"},
                              {"access_key", "AKIDEXAMPLE"},
                              {"secret_key", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
                              {"amz_date", "20150830T123600Z"}};
  int code = -1;
  nlohmann::json out = nlohmann::json::parse(RunTool(req.dump(), &code));
  EXPECT_EQ(code, 0);
  // testsuite/get-vanilla/get-vanilla.authz
  EXPECT_EQ(out["signature"], "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  for (const char* k : {"canonical_request", "string_to_sign", "authorization", "signed_headers",
                        "credential_scope", "payload_hash", "amz_date", "headers", "host_signed"}) {
    EXPECT_TRUE(out.contains(k)) << k;
  }
  nlohmann::json bad = req;
  bad["secret_key"] = "";
  out = nlohmann::json::parse(RunTool(nlohmann::json::array({req, bad}).dump(), &code));
  EXPECT_EQ(code, 1);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0]["signature"],
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  EXPECT_EQ(out[1]["error"], "empty secret access key");
  RunTool("{not json", &code);
  EXPECT_EQ(code, 2);
}

}  // namespace
}  // namespace accel::sigv4
