// Vectors aimed at each item of tests/sigv4/reference/PITFALLS.md (path character set, double encoding,
// empty query values, query order, header whitespace, repeated headers, unsigned hop-by-hop
// headers, host/ports, session tokens, dates across midnight), with expectations produced by the
// botocore oracle (tests/sigv4/make_pitfall_vectors.py -> pitfall_vectors.json). Our signer must
// match each byte for byte. The vectors go through sigv4-sign's JSON glue, so they cover the tool
// as well.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "sigv4/signer.h"
#include "sigv4/tool/request_json.h"
#include "tests/sigv4/sigv4_test_util.h"

namespace accel::sigv4 {
namespace {

TEST(Sigv4Pitfalls, EveryOracleVectorMatches) {
  std::string text;
  const std::string path = std::string(ACCEL_SOURCE_DIR) + "/tests/sigv4/pitfall_vectors.json";
  ASSERT_TRUE(testing::ReadFile(path, &text)) << "cannot read " << path;
  const nlohmann::json doc = nlohmann::json::parse(text);
  const nlohmann::json& vectors = doc.at("vectors");
  ASSERT_GE(vectors.size(), 60u);
  std::set<int> pitfalls;
  Signer signer;  // shared: dates, secrets and services change between vectors
  for (const nlohmann::json& v : vectors) {
    const std::string name = v.at("name");
    SCOPED_TRACE(name);
    pitfalls.insert(v.at("pitfall").get<int>());
    nlohmann::json got;
    Status s = SignJsonRequest(v.at("request"), &signer, &got);
    ASSERT_TRUE(s.ok()) << s.ToString();
    const nlohmann::json& want = v.at("expect");
    EXPECT_EQ(got["canonical_request"], want["canonical_request"]);
    EXPECT_EQ(got["string_to_sign"], want["string_to_sign"]);
    EXPECT_EQ(got["signature"], want["signature"]);
    EXPECT_EQ(got["authorization"], want["authorization"]);
  }
  for (int p = 1; p <= 10; ++p) EXPECT_EQ(pitfalls.count(p), 1u) << "no vector for pitfall " << p;
}

}  // namespace
}  // namespace accel::sigv4
