// Unit tests of the AWS pieces that need no server: endpoint resolution, error
// parsing and classification, the clock-skew estimator (synthetic Date
// headers), the retry policy's backoff and budget, JSON string escaping.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "phone-relay/aws_endpoint.h"
#include "phone-relay/aws_error.h"
#include "phone-relay/clock_skew.h"
#include "phone-relay/credentials.h"
#include "phone-relay/dynamodb_client.h"
#include "phone-relay/redact.h"
#include "phone-relay/retry_policy.h"
#include "tests/support/local_aws.h"

namespace accel {
namespace relay {
namespace {

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  auto shared = std::make_shared<std::map<std::string, std::string>>(std::move(vars));
  return [shared](const char* name) -> const char* {
    auto it = shared->find(name);
    return it == shared->end() ? nullptr : it->second.c_str();
  };
}

TEST(AwsEndpointTest, SdkPrecedence) {
  auto env = FakeEnv({{"AWS_REGION", "eu-west-1"},
                      {"AWS_DEFAULT_REGION", "us-west-2"},
                      {"AWS_ENDPOINT_URL", "http://127.0.0.1:9000"},
                      {"AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000/"}});
  Result<AwsEndpoint> ep = ResolveDynamoDbEndpoint({}, env);
  ASSERT_TRUE(ep.ok()) << ep.status().ToString();
  EXPECT_EQ(ep->url, "http://127.0.0.1:8000");
  EXPECT_EQ(ep->host, "127.0.0.1");
  EXPECT_EQ(ep->region, "eu-west-1");
  EXPECT_FALSE(ep->https);

  EndpointOverrides o;
  o.endpoint_url = "http://localhost:1234";
  o.region = "ap-south-1";
  ep = ResolveDynamoDbEndpoint(o, env);
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->url, "http://localhost:1234");
  EXPECT_EQ(ep->region, "ap-south-1");

  ep = ResolveDynamoDbEndpoint({}, FakeEnv({{"AWS_DEFAULT_REGION", "us-west-2"}}));
  ASSERT_TRUE(ep.ok());
  EXPECT_EQ(ep->url, "https://dynamodb.us-west-2.amazonaws.com");
  EXPECT_TRUE(ep->https);
}

TEST(AwsEndpointTest, RejectsWhatItMust) {
  auto bad = [](std::map<std::string, std::string> vars) {
    return ResolveDynamoDbEndpoint({}, FakeEnv(std::move(vars))).status();
  };
  Status st = bad({});
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_NE(st.message().find("AWS_REGION"), std::string::npos) << st.ToString();

  st = bad({{"AWS_REGION", "us-east-1"}, {"AWS_ENDPOINT_URL", "http://dynamodb.example.com"}});
  EXPECT_TRUE(st.IsInvalidArgument());
  EXPECT_NE(st.message().find("only allowed to loopback"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("AWS_ENDPOINT_URL"), std::string::npos) << st.ToString();

  st = bad({{"AWS_REGION", "us-east-1"}, {"AWS_ENDPOINT_URL_DYNAMODB", "ftp://127.0.0.1"}});
  EXPECT_TRUE(st.IsInvalidArgument()) << st.ToString();
  st = bad({{"AWS_REGION", "us-east-1"}, {"AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:99999"}});
  EXPECT_NE(st.message().find("bad port"), std::string::npos) << st.ToString();
  st = bad({{"AWS_REGION", "us-east-1"}, {"AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1/x"}});
  EXPECT_NE(st.message().find("without path"), std::string::npos) << st.ToString();
  st = bad({{"AWS_REGION", "US EAST"}});
  EXPECT_NE(st.message().find("region"), std::string::npos) << st.ToString();
  st = bad({{"AWS_REGION", "us-east-1"}, {"AWS_CA_BUNDLE", "/nonexistent/ca.pem"}});
  EXPECT_NE(st.message().find("AWS_CA_BUNDLE"), std::string::npos) << st.ToString();

  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.200.0.9"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("LOCALHOST"));
  EXPECT_FALSE(IsLoopbackHost("128.0.0.1"));
  EXPECT_FALSE(IsLoopbackHost("127.0.0.1.example.com"));
}

TEST(AwsCredentialsTest, StaticFromEnvironment) {
  auto p = StaticCredentialsProvider::FromEnvironment(
      "", FakeEnv({{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"},
                   {"AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"},
                   {"AWS_SESSION_TOKEN", "tok"}}));
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  Result<AwsCredentials> c = (*p)->Get(1000, 300);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->session_token, "tok");
  EXPECT_EQ((*p)->identity_id(), "static:AKIDEXAMPLE");
  // The loggable form never carries the secret or the token.
  EXPECT_EQ(c->Redacted().find("wJalr"), std::string::npos);
  EXPECT_EQ(c->Redacted().find("tok "), std::string::npos);

  auto missing = StaticCredentialsProvider::FromEnvironment(
      "", FakeEnv({{"AWS_ACCESS_KEY_ID", "AKIDEXAMPLE"}}));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("AWS_SECRET_ACCESS_KEY"), std::string::npos);

  AwsCredentials expiring{"AKID", "secret", "token", 2000};
  StaticCredentialsProvider e(expiring, "user-1");
  EXPECT_TRUE(e.Get(1000, 300).ok());
  EXPECT_TRUE(e.Get(1800, 300).status().IsPermissionDenied());
}

TEST(AwsErrorTest, ParsesDynamoDbJson) {
  AwsError e = ParseAwsError(
      400,
      R"j({"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"})j");
  EXPECT_EQ(e.code, "ResourceNotFoundException");
  EXPECT_EQ(e.message, "Requested resource not found");
  EXPECT_EQ(ClassifyAwsError(e), ErrorClass::kNotFound);
  EXPECT_TRUE(AwsErrorToStatus(e, "ctx").IsNotFound());

  e = ParseAwsError(
      400,
      R"j({"__type":"com.amazon.coral.validate#ValidationException","Message":"Item size has exceeded the maximum allowed size"})j");
  EXPECT_EQ(e.code, "ValidationException");
  EXPECT_EQ(e.message, "Item size has exceeded the maximum allowed size");
  EXPECT_EQ(ClassifyAwsError(e), ErrorClass::kValidation);

  for (const char* t :
       {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"}) {
    e = ParseAwsError(400, std::string(R"j({"__type":"com.amazonaws.dynamodb.v20120810#)j") + t +
                               R"j(","message":"slow down"})j");
    EXPECT_EQ(ClassifyAwsError(e), ErrorClass::kThrottling) << t;
  }
  e = ParseAwsError(
      400,
      R"j({"__type":"com.amazon.coral.service#InvalidSignatureException","message":"Signature expired: 20261124T060000Z is now earlier than 20261124T063814Z (20261124T064314Z - 5 min.)"})j");
  EXPECT_EQ(ClassifyAwsError(e), ErrorClass::kClockSkew);
  e = ParseAwsError(403,
                    "<Error><Code>RequestTimeTooSkewed</Code><Message>The difference between "
                    "the request time and the current time is too large.</Message></Error>");
  EXPECT_EQ(ClassifyAwsError(e), ErrorClass::kClockSkew);
  e = ParseAwsError(
      400,
      R"j({"__type":"com.amazon.coral.service#InvalidSignatureException","message":"The request signature we calculated does not match"})j");
  EXPECT_EQ(ClassifyAwsError(e), ErrorClass::kCredentials);
  e = ParseAwsError(
      400,
      R"j({"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"})j");
  EXPECT_EQ(ClassifyAwsError(e), ErrorClass::kConditionFailed);
  e = ParseAwsError(
      503, R"j({"__type":"com.amazonaws.dynamodb.v20120810#ServiceUnavailableException"})j");
  EXPECT_EQ(ClassifyAwsError(e), ErrorClass::kTransient);
}

TEST(AwsErrorTest, ParsesMotoXmlAndJunk) {
  AwsError e = ParseAwsError(403, R"j(<?xml version="1.0" encoding="utf-8"?>
<ErrorResponse><Errors><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.</Message><Type>Sender</Type></Error></Errors></ErrorResponse>)j");
  EXPECT_EQ(e.code, "SignatureDoesNotMatch");
  EXPECT_EQ(e.message,
            "The request signature we calculated does not match the signature you provided.");
  EXPECT_EQ(ClassifyAwsError(e), ErrorClass::kCredentials);
  e = ParseAwsError(403,
                    "<ErrorResponse><Errors><Error><Code>AccessDenied</Code><Message>no</Message></"
                    "Error></Errors></ErrorResponse>");
  EXPECT_EQ(ClassifyAwsError(e), ErrorClass::kAccessDenied);
  EXPECT_TRUE(AwsErrorToStatus(e, "").IsPermissionDenied());

  e = ParseAwsError(502, std::string("\x01\x02 bad gateway ") + std::string(500, 'x'));
  EXPECT_EQ(e.code, "HTTP 502");
  EXPECT_LE(e.message.size(), 210u);
  EXPECT_EQ(e.message.find('\x01'), std::string::npos);
  EXPECT_EQ(ClassifyAwsError(e), ErrorClass::kTransient);
  e = ParseAwsError(400, "{not json");
  EXPECT_EQ(e.code, "HTTP 400");
  EXPECT_EQ(ClassifyAwsError(e), ErrorClass::kValidation);
}

// A session token, a secret key and the signing material AWS quotes in a
// signature mismatch never survive parsing; prose, codes and hex digests do.
TEST(AwsErrorTest, SecretsAreScrubbedFromServerMessages) {
  const std::string token =
      "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6example+Token/Value==";
  const std::string secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  const std::string canonical =
      "POST\n/\n\ncontent-type:application/x-amz-json-1.0\nhost:h\n"
      "x-amz-date:20261124T063814Z\nx-amz-security-token:" +
      token + "\n\ncontent-type;host;x-amz-date;x-amz-security-token\n" + std::string(64, 'a');
  const std::string mismatch =
      "The request signature we calculated does not match the signature you provided. Check "
      "your AWS Secret Access Key and signing method.\n\nThe Canonical String for this request "
      "should have been\n'" +
      canonical + "'\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n...'\n";
  nlohmann::json j = {{"__type", "com.amazon.coral.service#InvalidSignatureException"},
                      {"message", mismatch}};
  AwsError e = ParseAwsError(400, j.dump());
  EXPECT_EQ(e.code, "InvalidSignatureException");
  EXPECT_EQ(e.message.find(token.substr(0, 20)), std::string::npos) << e.message;
  EXPECT_EQ(e.message.find("x-amz-security-token"), std::string::npos) << e.message;
  EXPECT_EQ(e.message.rfind("The request signature we calculated does not match", 0), 0u);
  EXPECT_NE(e.message.find("[canonical request and string to sign removed]"), std::string::npos);
  EXPECT_EQ(ClassifyAwsError(e), ErrorClass::kCredentials);

  // The XML shape, with the quoted material also in elements of its own.
  std::string xml = "<ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>" + mismatch +
                    "</Message><CanonicalRequest>" + canonical +
                    "</CanonicalRequest></Error></ErrorResponse>";
  e = ParseAwsError(403, xml);
  EXPECT_EQ(e.code, "SignatureDoesNotMatch");
  EXPECT_EQ(e.message.find(token.substr(0, 20)), std::string::npos) << e.message;
  // A body nobody understands: the excerpt is scrubbed too (before the cut).
  e = ParseAwsError(502, std::string(170, '.') + "x-amz-security-token: " + token);
  EXPECT_EQ(e.code, "HTTP 502");
  EXPECT_EQ(e.message.find(token.substr(0, 12)), std::string::npos) << e.message;

  // Named values in any shape, and bare token-shaped runs.
  for (const std::string& s :
       {"SessionToken\": \"" + token + "\"", "X-Amz-Security-Token=" + token + "&X-Amz-Date=1",
        "aws_secret_access_key = " + secret, "key " + secret + " rejected",
        "Credential=AKIDEXAMPLE/20261124/us-east-1/dynamodb/aws4_request, Signature=" +
            std::string(64, 'f')}) {
    std::string out = ScrubSecrets(s);
    EXPECT_NE(out.find("[redacted]"), std::string::npos) << out;
    EXPECT_EQ(out.find(token.substr(0, 12)), std::string::npos) << out;
    EXPECT_EQ(out.find(secret.substr(0, 12)), std::string::npos) << out;
  }
  // What must stay readable.
  for (const std::string& s :
       {std::string("Signature expired: 20261124T060000Z is now earlier than 20261124T063814Z"),
        std::string("Requested resource not found: Table: rows_region not found"),
        std::string("payload hash ") + std::string(64, 'e') + " request id " +
            "4KBNVRGD25RG4KOB6ESAS1CV1NVV4KQNSO5AEMVJF66Q9ASUAAJG",
        std::string("Item size has exceeded the maximum allowed size"),
        std::string("identity us-east-1:5f0c7e1a-0000-4000-8000-00000000beef")}) {
    EXPECT_EQ(ScrubSecrets(s), s);
  }
  // Known values: raw and URI-encoded (a presigned URL).
  std::string text = "a " + token + " b " + "IQoJb3JpZ2luX2VjEJr%2F%2F%2F" + " c";
  ScrubKnownSecrets(&text, {token, "IQoJb3JpZ2luX2VjEJr///", "short"});
  EXPECT_EQ(text, "a [redacted] b [redacted] c");
}

TEST(AwsClockSkewTest, ParsesHttpDates) {
  int64_t t = 0;
  ASSERT_TRUE(ParseHttpDate("Tue, 24 Nov 2026 06:41:31 GMT", &t));
  EXPECT_EQ(t, 1795502491);
  ASSERT_TRUE(ParseHttpDate("Thu, 01 Jan 1970 00:00:00 GMT", &t));
  EXPECT_EQ(t, 0);
  ASSERT_TRUE(ParseHttpDate("Tue, 29 Feb 2028 23:59:59 GMT", &t));
  EXPECT_EQ(t, 1835481599);
  for (const char* bad : {"", "Tue, 24 Nov 2026 06:41:31 UTC", "Tue, 24 Foo 2026 06:41:31 GMT",
                          "Tuesday, 24-Nov-26 06:41:31 GMT", "Tue, 24 Nov 2026 06:41:3x GMT",
                          "Tue, 24 Nov 2026 25:41:31 GMT"}) {
    EXPECT_FALSE(ParseHttpDate(bad, &t)) << bad;
  }
}

TEST(AwsClockSkewTest, EstimatesFromMidpointAndResets) {
  const int64_t kSec = 1000000000;
  const int64_t server = 1795502491;
  ClockSkew skew(30);
  // Local clock 20 minutes behind: sent 0.2 s and received 0.6 s (local) after
  // server-1200; the server stamped its Date at the midpoint.
  const int64_t local_sent = (server - 1200) * kSec + kSec / 5;
  EXPECT_EQ(skew.Update(server, local_sent, local_sent + 400000000), 1200);
  EXPECT_EQ(skew.offset_s(), 1200);
  EXPECT_EQ(skew.CorrectedUnixSeconds((server - 1200) * kSec), server);
  // 20 minutes ahead.
  EXPECT_EQ(skew.Update(server, (server + 1200) * kSec, (server + 1200) * kSec + kSec / 10), -1200);
  // A long round trip does not bias the estimate: the midpoint is used. (The
  // Date header truncates, so the server's instant is taken as D + 0.5 s.)
  EXPECT_EQ(skew.Update(server, (server - 600 - 5) * kSec, (server - 600 + 5) * kSec + kSec), 600);
  EXPECT_EQ(skew.Update(server, (server - 600 - 5) * kSec, (server - 600 + 5) * kSec - kSec), 601);
  // The clock was fixed: the next response brings the offset back to 0.
  EXPECT_EQ(skew.Update(server, server * kSec, server * kSec + kSec / 100), 0);
  EXPECT_EQ(skew.offset_s(), 0);
  // Below the threshold counts as "fine" (Date resolution, network noise).
  EXPECT_EQ(skew.Update(server, (server - 20) * kSec, (server - 20) * kSec), 0);
  // Header form: Age (a cached response) and garbage are ignored.
  EXPECT_TRUE(skew.UpdateFromHeader("Tue, 24 Nov 2026 06:41:31 GMT", false,
                                    (server - 300) * kSec + kSec / 2,
                                    (server - 300) * kSec + kSec / 2));
  EXPECT_EQ(skew.offset_s(), 300);
  EXPECT_FALSE(skew.UpdateFromHeader("Tue, 24 Nov 2026 06:41:31 GMT", true, 0, 0));
  EXPECT_FALSE(skew.UpdateFromHeader("yesterday", false, 0, 0));
  EXPECT_EQ(skew.offset_s(), 300);
}

TEST(AwsRetryPolicyTest, FullJitterWithinGrowingCaps) {
  RetryOptions o;
  o.seed = 42;
  o.base_delay_ms = 10;
  o.throttle_base_delay_ms = 50;
  o.max_delay_ms = 1000;
  RetryPolicy p(o);
  EXPECT_EQ(p.seed(), 42u);
  EXPECT_EQ(p.BackoffCapMs(1, false), 10);
  EXPECT_EQ(p.BackoffCapMs(2, false), 20);
  EXPECT_EQ(p.BackoffCapMs(4, false), 80);
  EXPECT_EQ(p.BackoffCapMs(3, true), 200);
  EXPECT_EQ(p.BackoffCapMs(30, true), 1000);
  EXPECT_EQ(p.BackoffCapMs(1000, false), 1000);
  // Full jitter: draws cover [0, cap], and their mean tracks cap / 2.
  for (int k = 1; k <= 8; ++k) {
    int64_t cap = p.BackoffCapMs(k, false), sum = 0, lo = cap, hi = 0;
    const int n = 2000;
    for (int i = 0; i < n; ++i) {
      int64_t d = p.BackoffMs(k, false);
      ASSERT_GE(d, 0);
      ASSERT_LE(d, cap);
      sum += d;
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
    EXPECT_NEAR(static_cast<double>(sum) / n, cap / 2.0, cap * 0.1 + 1) << "k=" << k;
    EXPECT_LE(lo, cap / 10) << "k=" << k;
    EXPECT_GE(hi, cap - cap / 10) << "k=" << k;
  }
  // Same seed, same delays.
  RetryPolicy a(o), b(o);
  for (int i = 1; i < 20; ++i)
    EXPECT_EQ(a.BackoffMs(i % 6 + 1, i % 2), b.BackoffMs(i % 6 + 1, i % 2));
}

TEST(AwsRetryPolicyTest, BudgetEmptiesAndRefills) {
  RetryOptions o;
  o.seed = 1;
  o.budget_capacity = 20;
  o.retry_cost = 5;
  o.timeout_retry_cost = 10;
  RetryPolicy p(o);
  EXPECT_TRUE(p.AcquireRetry(false));
  EXPECT_TRUE(p.AcquireRetry(true));
  EXPECT_TRUE(p.AcquireRetry(false));
  EXPECT_FALSE(p.AcquireRetry(false));  // 0 left
  p.OnSuccess(/*was_retried=*/true, /*after_timeout=*/false);
  EXPECT_EQ(p.tokens(), 5);
  p.OnSuccess(false, false);
  EXPECT_EQ(p.tokens(), 6);
  for (int i = 0; i < 100; ++i) p.OnSuccess(true, true);
  EXPECT_EQ(p.tokens(), 20);  // never above capacity
}

TEST(AwsJsonTest, AppendJsonStringRoundTrips) {
  std::string in = std::string("a\"b\\c\n\t\x01 ü end") + '\0' + "x";
  std::string out;
  AppendJsonString(&out, in);
  EXPECT_EQ(nlohmann::json::parse(out).get<std::string>(), in);
}

// The request BatchWriteItem sends, built and signed without sending: the
// body is valid JSON holding the items, and only the headers no proxy or HTTP
// stack rewrites are signed (PITFALLS 7: never user-agent).
TEST(DynamoDbRequestTest, PreparedBatchWriteIsSignedAndWellFormed) {
  StaticCredentialsProvider creds(AwsCredentials{"AKIDEXAMPLE", "secret", "session-tok", 0}, "u");
  ManualClock clock(1795502491LL * 1000000000);
  DynamoDbClientOptions o;
  o.endpoint.endpoint_url = "http://127.0.0.1:8000";
  o.endpoint.region = "eu-central-1";
  auto client = DynamoDbClient::Create(o, &creds, &clock);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  std::vector<WriteItem> items;
  for (int i = 0; i < 25; ++i) {
    items.push_back(WriteItem{static_cast<uint64_t>(i), "id\"" + std::to_string(i % 2), 1000 + i,
                              i % 3 == 0 ? "" : "\"n\":{\"N\":\"" + std::to_string(i) + "\"}"});
  }
  HttpRequest req;
  ASSERT_TRUE((*client)->PrepareBatchWriteItem("rows", items, &req).ok());
  nlohmann::json body = nlohmann::json::parse(req.body);
  ASSERT_EQ(body["RequestItems"]["rows"].size(), 25u);
  EXPECT_EQ(body["RequestItems"]["rows"][1]["PutRequest"]["Item"],
            nlohmann::json::parse(R"j({"id":{"S":"id\"1"},"t":{"N":"1001"},"n":{"N":"1"}})j"));
  EXPECT_EQ(body["RequestItems"]["rows"][3]["PutRequest"]["Item"],
            nlohmann::json::parse(R"j({"id":{"S":"id\"1"},"t":{"N":"1003"}})j"));
  EXPECT_EQ(req.url, "http://127.0.0.1:8000/");
  std::string all;
  for (const auto& h : req.headers) all += h + "\n";
  EXPECT_NE(all.find("Content-Type: application/x-amz-json-1.0\n"), std::string::npos) << all;
  EXPECT_NE(all.find("X-Amz-Target: DynamoDB_20120810.BatchWriteItem\n"), std::string::npos);
  EXPECT_NE(all.find("X-Amz-Date: 20261124T064131Z\n"), std::string::npos) << all;
  EXPECT_NE(all.find("X-Amz-Security-Token: session-tok\n"), std::string::npos) << all;
  EXPECT_NE(all.find("Credential=AKIDEXAMPLE/20261124/eu-central-1/dynamodb/aws4_request"),
            std::string::npos)
      << all;
  EXPECT_NE(all.find("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;"
                     "x-amz-target,"),
            std::string::npos)
      << all;
  EXPECT_EQ(all.find("secret\n"), std::string::npos);

  // The clock-skew offset moves the signing time.
  (*client)->clock_skew().Update(1795502491 + 1200, 1795502491LL * 1000000000 + 500000000,
                                 1795502491LL * 1000000000 + 500000000);
  ASSERT_TRUE((*client)->PrepareBatchWriteItem("rows", items, &req).ok());
  all.clear();
  for (const auto& h : req.headers) all += h + "\n";
  EXPECT_NE(all.find("X-Amz-Date: 20261124T070131Z\n"), std::string::npos) << all;

  // Rejected before signing.
  items.push_back(items[0]);
  EXPECT_TRUE((*client)->PrepareBatchWriteItem("rows", items, &req).IsInvalidArgument());
  items.pop_back();
  items[5].t = items[4].t;
  items[5].id = items[4].id;
  Status dup = (*client)->PrepareBatchWriteItem("rows", items, &req);
  EXPECT_NE(dup.message().find("item 5 (token 5) repeats key"), std::string::npos)
      << dup.ToString();
  EXPECT_TRUE((*client)->PrepareBatchWriteItem("x", {}, &req).IsInvalidArgument());
}

TEST(LocalServerTest, ClearErrorWhenNoReadyLine) {
  auto s =
      testing::LocalServer::Start({"sh", "-c", "echo starting up >&2; echo oops; exit 3"}, 10000);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("instead of 'READY <url>'"), std::string::npos)
      << s.status().ToString();
  s = testing::LocalServer::Start({"sh", "-c", "echo cannot bind >&2; exit 3"}, 10000);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("exited with status 3"), std::string::npos)
      << s.status().ToString();
  EXPECT_NE(s.status().message().find("cannot bind"), std::string::npos) << s.status().ToString();
  // Never prints: the deadline fires and the child is killed.
  s = testing::LocalServer::Start({"sh", "-c", "echo waiting >&2; exec sleep 60"}, 300);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("no READY line within 300 ms"), std::string::npos)
      << s.status().ToString();
}

}  // namespace
}  // namespace relay
}  // namespace accel
