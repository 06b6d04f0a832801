// The official AWS SigV4 test suite (tests/sigv4/reference/testsuite, 34 cases) and the aws-c-auth layout of
// it (tests/sigv4/reference/testsuite-crt/v4, 38 cases with header- and query-signing expectations): every
// canonical request, string to sign and Authorization header / signature must match byte for byte.
// No case is excluded.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sigv4/canonical.h"
#include "sigv4/signer.h"
#include "tests/sigv4/sigv4_test_util.h"

namespace accel::sigv4 {
namespace {

using testing::ReadFile;
using testing::StripFinalNewline;
namespace fs = std::filesystem;

const char kAccessKey[] = "AKIDEXAMPLE";
const char kSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const int64_t kSuiteTime = 1440938160;  // 20150830T123600Z

std::string HostOf(const std::vector<Header>& headers) {
  for (const Header& h : headers) {
    if (internal::EqualsIgnoreCase(h.name, "host")) return h.value;
  }
  return "";
}

// The same file is built twice: against the default library and against the EVP fallback
// (accel_sigv4_evp defines ACCEL_SIGV4_FORCE_EVP for its users); distinct names keep ctest's apart.
#if defined(ACCEL_SIGV4_FORCE_EVP)
#define SIGV4_SUITE Sigv4SuiteEvp
#else
#define SIGV4_SUITE Sigv4Suite
#endif

TEST(SIGV4_SUITE, BuiltOnTheIntendedSha256Backend) {
#if defined(ACCEL_SIGV4_FORCE_EVP)
  EXPECT_STREQ(Sha256::Backend(), "openssl-evp");
#else
  EXPECT_STREQ(Sha256::Backend(), "openssl-sha256-ctx");
#endif
}

TEST(SIGV4_SUITE, SuiteTimeConstantIsRight) {
  char buf[16];
  ASSERT_TRUE(internal::FormatAmzDate(kSuiteTime, buf).ok());
  EXPECT_EQ(std::string(buf, 16), "20150830T123600Z");
}

TEST(SIGV4_SUITE, ClassicSuiteAllCasesMatch) {
  const std::string dir = testing::SharedSigv4Dir();
  ASSERT_FALSE(dir.empty()) << testing::MissingSharedMessage();
  std::string sts_token_readme;
  ASSERT_TRUE(ReadFile(dir + "/testsuite/post-sts-token/readme.txt", &sts_token_readme));
  const size_t at = sts_token_readme.rfind("AQoDYXdzEPT");
  ASSERT_NE(at, std::string::npos);
  const std::string sts_token =
      sts_token_readme.substr(at, sts_token_readme.find_first_of("\r\n", at) - at);

  std::vector<fs::path> cases;
  for (const auto& e : fs::recursive_directory_iterator(dir + "/testsuite")) {
    if (e.is_directory() && fs::exists(e.path() / (e.path().filename().string() + ".req"))) {
      cases.push_back(e.path());
    }
  }
  std::sort(cases.begin(), cases.end());
  ASSERT_EQ(cases.size(), 34u) << "the classic suite should hold 34 cases";

  Signer signer;  // one signer for all cases: the key cache must not leak between them
  for (const fs::path& c : cases) {
    const std::string name = c.filename().string();
    SCOPED_TRACE(name);
    std::string req, creq, sts, authz;
    ASSERT_TRUE(ReadFile((c / (name + ".req")).string(), &req));
    ASSERT_TRUE(ReadFile((c / (name + ".creq")).string(), &creq));
    ASSERT_TRUE(ReadFile((c / (name + ".sts")).string(), &sts));
    ASSERT_TRUE(ReadFile((c / (name + ".authz")).string(), &authz));
    testing::RawRequest raw;
    ASSERT_TRUE(testing::ParseRawRequest(req, &raw));

    Credentials creds{kAccessKey, kSecret, ""};
    SigningParams params;
    params.region = "us-east-1";
    params.service = "service";
    params.unix_seconds = kSuiteTime;
    // The signer adds X-Amz-Date and X-Amz-Security-Token itself: take them out of the request.
    std::vector<Header> headers;
    std::string date_in_request;
    for (const Header& h : raw.headers) {
      if (internal::EqualsIgnoreCase(h.name, "x-amz-date")) {
        date_in_request = h.value;
      } else if (internal::EqualsIgnoreCase(h.name, "x-amz-security-token")) {
        creds.session_token = h.value;
      } else {
        headers.push_back(h);
      }
    }
    EXPECT_EQ(date_in_request, "20150830T123600Z");
    const size_t tok = creq.find("\nx-amz-security-token:");
    if (tok != std::string::npos &&
        creds.session_token.empty()) {  // get-vanilla-with-session-token
      const size_t b = tok + 22;
      creds.session_token = creq.substr(b, creq.find('\n', b) - b);
    }
    if (name == "post-sts-header-after") {  // token sent, added after signing
      creds.session_token = sts_token;
      params.sign_session_token = false;
    }
    std::vector<Header> added;
    const std::string url = "https://" + HostOf(raw.headers) + raw.target;
    Status s = signer.Sign(raw.method, url, headers, raw.body, creds, params, &added);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(signer.canonical_request(), StripFinalNewline(creq));
    EXPECT_EQ(signer.string_to_sign(), StripFinalNewline(sts));
    EXPECT_EQ(signer.authorization(), StripFinalNewline(authz));
    ASSERT_FALSE(added.empty());
    EXPECT_EQ(added.front().name, "X-Amz-Date");
    EXPECT_EQ(added.front().value, "20150830T123600Z");
    EXPECT_EQ(added.back().name, "Authorization");
    EXPECT_EQ(added.back().value, StripFinalNewline(authz));
    const bool has_token_header = std::any_of(added.begin(), added.end(), [](const Header& h) {
      return h.name == "X-Amz-Security-Token";
    });
    EXPECT_EQ(has_token_header, !creds.session_token.empty());
  }
  // Every case has the same secret/date/region/service: exactly one key derivation.
  EXPECT_EQ(signer.key_derivations(), 1u);
}

TEST(SIGV4_SUITE, CrtSuiteHeaderAndQuerySigningAllCasesMatch) {
  const std::string dir = testing::SharedSigv4Dir();
  ASSERT_FALSE(dir.empty()) << testing::MissingSharedMessage();
  std::vector<fs::path> cases;
  for (const auto& e : fs::directory_iterator(dir + "/testsuite-crt/v4")) {
    if (fs::exists(e.path() / "context.json")) cases.push_back(e.path());
  }
  std::sort(cases.begin(), cases.end());
  ASSERT_EQ(cases.size(), 38u) << "the aws-c-auth suite should hold 38 cases";
  Signer signer;
  for (const fs::path& c : cases) {
    const std::string name = c.filename().string();
    SCOPED_TRACE(name);
    auto rd = [&](const char* f) {
      std::string s;
      EXPECT_TRUE(ReadFile((c / f).string(), &s)) << f;
      return s;
    };
    const nlohmann::json ctx = nlohmann::json::parse(rd("context.json"));
    testing::RawRequest raw;
    ASSERT_TRUE(testing::ParseRawRequest(rd("request.txt"), &raw));
    Credentials creds{ctx["credentials"]["access_key_id"], ctx["credentials"]["secret_access_key"],
                      ctx["credentials"].value("token", "")};
    SigningParams params;
    params.region = ctx["region"];
    params.service = ctx["service"];
    const std::string ts = ctx["timestamp"];  // 2015-08-30T12:36:00Z
    ASSERT_EQ(ts.size(), 20u);
    std::string amz = ts.substr(0, 4) + ts.substr(5, 2) + ts.substr(8, 2) + "T" + ts.substr(11, 2) +
                      ts.substr(14, 2) + ts.substr(17, 2) + "Z";
    ASSERT_TRUE(internal::ParseAmzDate(amz, &params.unix_seconds).ok());
    params.normalize_path = ctx.value("normalize", true);
    params.add_content_sha256 = ctx.value("sign_body", false);
    params.sign_session_token = !ctx.value("omit_session_token", false);
    const std::string url = "https://" + HostOf(raw.headers) + raw.target;

    std::vector<Header> added;
    Status s = signer.Sign(raw.method, url, raw.headers, raw.body, creds, params, &added);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(signer.canonical_request(), StripFinalNewline(rd("header-canonical-request.txt")));
    EXPECT_EQ(signer.string_to_sign(), StripFinalNewline(rd("header-string-to-sign.txt")));
    EXPECT_EQ(signer.signature(), StripFinalNewline(rd("header-signature.txt")));

    // Query signing (presigned URL). sign_body only affects the header form.
    params.add_content_sha256 = false;
    std::string presigned;
    s = signer.Presign(raw.method, url, raw.headers, raw.body, creds, params,
                       ctx.value("expiration_in_seconds", 3600), &presigned);
    ASSERT_TRUE(s.ok()) << s.ToString();
    EXPECT_EQ(signer.canonical_request(), StripFinalNewline(rd("query-canonical-request.txt")));
    EXPECT_EQ(signer.string_to_sign(), StripFinalNewline(rd("query-string-to-sign.txt")));
    const std::string want_sig = StripFinalNewline(rd("query-signature.txt"));
    EXPECT_EQ(signer.signature(), want_sig);
    EXPECT_NE(presigned.find("&X-Amz-Signature=" + want_sig), std::string::npos) << presigned;
    // The signed request line carries the same parameters (in another order).
    const std::string want_req = rd("query-signed-request.txt");
    const std::string want_target = want_req.substr(want_req.find(' ') + 1);
    for (const char* p : {"X-Amz-Algorithm=", "X-Amz-Credential=", "X-Amz-Date=", "X-Amz-Expires=",
                          "X-Amz-SignedHeaders=", "X-Amz-Security-Token="}) {
      const size_t at = want_target.find(p);
      if (at == std::string::npos) {
        EXPECT_EQ(presigned.find(p), std::string::npos) << p;
        continue;
      }
      const size_t end = want_target.find_first_of("& ", at);
      EXPECT_NE(presigned.find(want_target.substr(at, end - at)), std::string::npos)
          << p << " in " << presigned;
    }
  }
}

}  // namespace
}  // namespace accel::sigv4
