// DynamoDbClient against real local servers (moto and dynalite, started by the
// shared fixtures), no mocks: round trips, signature checking, the server's
// own error messages, unreachable endpoints, clock skew, and boto3 reading
// what our client wrote.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <sstream>

#include "tests/relay_aws/test_util.h"

namespace accel {
namespace relay {
namespace {

using testing::LocalServer;
using namespace test;  // NOLINT

// One server of each kind per process, started on first use (starting moto
// costs about a second, and ctest runs every test in its own process) and
// stopped at the end; each test uses its own table.
class Servers : public ::testing::Environment {
 public:
  static LocalServer* Get(const std::string& kind) {
    std::unique_ptr<LocalServer>& slot = kind == "moto" ? moto_ : dynalite_;
    if (slot == nullptr) {
      auto s = kind == "moto" ? LocalServer::StartMoto() : LocalServer::StartDynalite();
      if (!s.ok()) {
        ADD_FAILURE() << s.status().ToString();
        return nullptr;
      }
      slot = std::move(s).value();
    }
    return slot.get();
  }
  void TearDown() override {
    moto_.reset();
    dynalite_.reset();
  }

 private:
  static std::unique_ptr<LocalServer> moto_, dynalite_;
};
std::unique_ptr<LocalServer> Servers::moto_, Servers::dynalite_;
::testing::Environment* const kServers = ::testing::AddGlobalTestEnvironment(new Servers);

std::string ServerEndpoint(const std::string& kind) {
  LocalServer* s = Servers::Get(kind);
  return s != nullptr ? s->endpoint() : "http://127.0.0.1:1";
}

class DynamoDbRoundTripTest : public ::testing::TestWithParam<std::string> {};

TEST_P(DynamoDbRoundTripTest, CreateWriteQueryGet) {
  auto creds = FakeCredentials();
  auto client = NewClient(ServerEndpoint(GetParam()), creds.get());
  ASSERT_NE(client, nullptr);
  const std::string table = "rows_roundtrip";
  ASSERT_TRUE(CreateAndWait(client.get(), table));
  ASSERT_TRUE(client->WaitUntilActive(table, 30000).ok());
  Result<std::string> st = client->DescribeTableStatus(table);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(*st, "ACTIVE");

  // 4 batches of 25 rows, concurrently; ids with characters JSON must escape.
  const std::string id = "us-east-1:0f3c\"\\ü";
  std::vector<std::vector<WriteItem>> batches(4);
  for (int i = 0; i < 100; ++i) batches[i / 25].push_back(Row(1000 + i, id, 1795500000 + i));
  std::vector<BatchWriteResult> res = client->BatchWriteItemMany(table, batches);
  ASSERT_EQ(res.size(), 4u);
  for (size_t b = 0; b < res.size(); ++b) {
    ASSERT_TRUE(res[b].status.ok()) << res[b].status.ToString();
    EXPECT_TRUE(res[b].unprocessed.empty());
    EXPECT_TRUE(res[b].failed.empty());
    ASSERT_EQ(res[b].acknowledged.size(), 25u);
    EXPECT_EQ(res[b].acknowledged.front(), 1000 + 25 * b);
  }
  // Another identity's rows in the same seconds stay apart.
  BatchWriteResult other = client->BatchWriteItem(table, {Row(1, "someone-else", 1795500010)});
  ASSERT_TRUE(other.status.ok());

  // Paged query: 100 rows in pages of 30 (4 pages), ascending, attributes intact.
  Result<QueryResult> q = client->Query(table, id, 1795500000, 1795500099, 30);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  ASSERT_EQ(q->items.size(), 100u);
  EXPECT_GE(q->pages, 4);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(RowMatches(q->items[i], id, 1795500000 + i));
  q = client->Query(table, id, 1795500050, 1795500059);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->items.size(), 10u);

  auto g = client->GetItem(table, id, 1795500042);
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  ASSERT_TRUE(g->has_value());
  EXPECT_TRUE(RowMatches(**g, id, 1795500042));
  g = client->GetItem(table, id, 1795400000);
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->has_value());
}

TEST_P(DynamoDbRoundTripTest, ConditionalPutReportsConditionFailed) {
  auto creds = FakeCredentials();
  auto client = NewClient(ServerEndpoint(GetParam()), creds.get());
  ASSERT_NE(client, nullptr);
  const std::string table = "rows_conditional";
  ASSERT_TRUE(CreateAndWait(client.get(), table));
  ASSERT_TRUE(client->WaitUntilActive(table, 30000).ok());

  PutItemRequest r;
  r.table = table;
  r.id = "user-1";
  r.t = 1795500000;
  r.attributes_json = "\"v\":{\"N\":\"1\"},\"n\":{\"N\":\"10\"}";
  r.condition_expression = "attribute_not_exists(id)";
  PutItemResult p = client->PutItem(r);
  ASSERT_EQ(p.outcome, PutOutcome::kWritten) << p.status.ToString();
  EXPECT_EQ(p.attempts, 1);

  // The same "create only" write again: a distinct outcome, the server's message.
  p = client->PutItem(r);
  EXPECT_EQ(p.outcome, PutOutcome::kConditionFailed);
  EXPECT_TRUE(p.status.IsAborted());
  EXPECT_NE(p.status.message().find("ConditionalCheckFailedException"), std::string::npos)
      << p.status.ToString();
  EXPECT_EQ(p.attempts, 1);  // never retried

  // Optimistic version bump: v = 1 -> 2 succeeds, a second writer still at 1 fails.
  r.attributes_json = "\"v\":{\"N\":\"2\"},\"n\":{\"N\":\"20\"}";
  r.condition_expression = "#v = :v";
  r.expression_names_json = "\"#v\":\"v\"";
  r.expression_values_json = "\":v\":{\"N\":\"1\"}";
  EXPECT_EQ(client->PutItem(r).outcome, PutOutcome::kWritten);
  EXPECT_EQ(client->PutItem(r).outcome, PutOutcome::kConditionFailed);
  auto g = client->GetItem(table, "user-1", 1795500000);
  ASSERT_TRUE(g.ok() && g->has_value());
  EXPECT_EQ((**g)["n"]["N"], "20");
  EXPECT_EQ((**g)["v"]["N"], "2");
}

TEST_P(DynamoDbRoundTripTest, MissingTableIsNotFoundWithTheServersMessage) {
  auto creds = FakeCredentials();
  auto client = NewClient(ServerEndpoint(GetParam()), creds.get());
  ASSERT_NE(client, nullptr);
  BatchWriteResult r = client->BatchWriteItem("no_such_table", {Row(5, "user-1", 1)});
  EXPECT_TRUE(r.status.IsNotFound()) << r.status.ToString();
  EXPECT_EQ(r.error_code, "ResourceNotFoundException");
  EXPECT_NE(r.status.message().find("ResourceNotFoundException"), std::string::npos);
  EXPECT_NE(r.status.message().find("no_such_table"), std::string::npos) << r.status.ToString();
  EXPECT_EQ(r.failed, std::vector<uint64_t>{5});
  EXPECT_EQ(r.attempts, 1);  // not retried
  EXPECT_EQ(client->stats().retries, 0u);
  EXPECT_TRUE(client->GetItem("no_such_table", "user-1", 1).status().IsNotFound());
}

INSTANTIATE_TEST_SUITE_P(BothServers, DynamoDbRoundTripTest, ::testing::Values("moto", "dynalite"));

TEST(DynamoDbDynaliteTest, OversizedItemIsValidationErrorNotRetried) {
  auto creds = FakeCredentials();
  auto client = NewClient(ServerEndpoint("dynalite"), creds.get());
  ASSERT_NE(client, nullptr);
  const std::string table = "rows_validation";
  ASSERT_TRUE(CreateAndWait(client.get(), table));
  WriteItem big = Row(77, "user-1", 10);
  big.attributes_json = "\"d\":{\"S\":\"" + std::string(410 * 1024, 'x') + "\"}";
  BatchWriteResult r = client->BatchWriteItem(table, {Row(76, "user-1", 9), big});
  EXPECT_TRUE(r.status.IsInvalidArgument()) << r.status.ToString();
  EXPECT_EQ(r.error_code, "ValidationException");
  EXPECT_NE(r.status.message().find("Item size has exceeded the maximum allowed size"),
            std::string::npos)
      << r.status.ToString();
  EXPECT_EQ(r.attempts, 1);
  EXPECT_EQ(r.failed, (std::vector<uint64_t>{76, 77}));
  EXPECT_TRUE(r.acknowledged.empty());

  // A malformed attribute (N that is not a number): the server's message, once.
  WriteItem bad = Row(78, "user-1", 11);
  bad.attributes_json = "\"n\":{\"N\":\"fifty\"}";
  r = client->BatchWriteItem(table, {bad});
  EXPECT_TRUE(r.status.IsInvalidArgument()) << r.status.ToString();
  EXPECT_EQ(r.error_code, "ValidationException");
  EXPECT_EQ(r.attempts, 1);

  // Client-side checks, nothing sent.
  std::vector<WriteItem> many;
  for (int i = 0; i < 26; ++i) many.push_back(Row(i, "u", i));
  r = client->BatchWriteItem(table, many);
  EXPECT_TRUE(r.status.IsInvalidArgument());
  EXPECT_EQ(r.failed.size(), 26u);
  r = client->BatchWriteItem(table, {Row(1, "u", 5), Row(2, "u", 5)});
  EXPECT_TRUE(r.status.IsInvalidArgument());
  EXPECT_NE(r.status.message().find("repeats key"), std::string::npos) << r.status.ToString();
  EXPECT_EQ(client->stats().retries, 0u);
}

TEST(DynamoDbDynaliteTest, ConnectionsAreReused) {
  auto creds = FakeCredentials();
  auto client = NewClient(ServerEndpoint("dynalite"), creds.get());
  ASSERT_NE(client, nullptr);
  const std::string table = "rows_keepalive";
  ASSERT_TRUE(CreateAndWait(client.get(), table));
  const uint64_t before = client->http_stats().requests;
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(client->GetItem(table, "u", i).ok());
  EXPECT_EQ(client->http_stats().requests, before + 20);
  // dynalite keeps connections alive: all requests share one connection.
  EXPECT_EQ(client->http_stats().connections_opened, 1u);
}

TEST(DynamoDbDynaliteTest, OversizedResponseIsRefused) {
  auto creds = FakeCredentials();
  auto client = NewClient(ServerEndpoint("dynalite"), creds.get(), "us-east-1",
                          [](DynamoDbClientOptions* o) {
                            o->http.max_response_bytes = 2000;
                            o->retry.max_attempts = 1;
                          });
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(CreateAndWait(client.get(), "rows_big_response"));
  std::vector<WriteItem> rows;
  for (int i = 0; i < 25; ++i) rows.push_back(Row(i, "u", i));
  ASSERT_TRUE(client->BatchWriteItem("rows_big_response", rows).status.ok());
  Result<QueryResult> q = client->Query("rows_big_response", "u", 0, 100);
  ASSERT_FALSE(q.ok());
  EXPECT_TRUE(q.status().IsUnavailable()) << q.status().ToString();
  EXPECT_NE(q.status().message().find("response body larger than 2000 bytes"), std::string::npos)
      << q.status().ToString();
}

TEST(DynamoDbMotoTest, WrongRegionIsNotFoundNamingTheRegion) {
  auto creds = FakeCredentials();
  auto east = NewClient(ServerEndpoint("moto"), creds.get(), "us-east-1");
  auto west = NewClient(ServerEndpoint("moto"), creds.get(), "eu-west-1");
  ASSERT_NE(east, nullptr);
  ASSERT_NE(west, nullptr);
  ASSERT_TRUE(CreateAndWait(east.get(), "rows_region"));
  ASSERT_TRUE(east->BatchWriteItem("rows_region", {Row(1, "u", 1)}).status.ok());
  BatchWriteResult r = west->BatchWriteItem("rows_region", {Row(1, "u", 1)});
  EXPECT_TRUE(r.status.IsNotFound()) << r.status.ToString();
  EXPECT_NE(r.status.message().find("eu-west-1"), std::string::npos) << r.status.ToString();
  EXPECT_EQ(r.attempts, 1);
}

// moto with signature checking on: an IAM user's key made by the launcher.
class DynamoDbMotoAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::MotoOptions o;
    o.auth_user_file = dir_.File("key.json");
    auto s = LocalServer::StartMoto(o);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    auto key = testing::ReadMotoKey(o.auth_user_file);
    ASSERT_TRUE(key.ok()) << key.status().ToString();
    key_id_ = key->access_key_id;
    secret_ = key->secret_access_key;
  }
  testing::TempDir dir_;
  std::unique_ptr<LocalServer> server_;
  std::string key_id_, secret_;
};

TEST_F(DynamoDbMotoAuthTest, SignedCallsAcceptedWrongSecretRejected) {
  StaticCredentialsProvider good(AwsCredentials{key_id_, secret_, "", 0}, "user-1");
  auto client = NewClient(server_->endpoint(), &good);
  ASSERT_NE(client, nullptr);
  ASSERT_TRUE(CreateAndWait(client.get(), "rows_auth"));
  std::vector<WriteItem> rows;
  for (int i = 0; i < 25; ++i) rows.push_back(Row(i, "user-1", 1795500000 + i));
  BatchWriteResult w = client->BatchWriteItem("rows_auth", rows);
  ASSERT_TRUE(w.status.ok()) << w.status.ToString();
  EXPECT_EQ(w.acknowledged.size(), 25u);
  Result<QueryResult> q = client->Query("rows_auth", "user-1", 0, 2000000000);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->items.size(), 25u);
  EXPECT_EQ(client->stats().credential_retries, 0u);

  // boto3 reads back what our client wrote, with the same key.
  std::string cmd = "python3 '" + testing::SourceDir() + "/tests/relay_aws/boto3_read.py' '" +
                    server_->endpoint() + "' us-east-1 rows_auth user-1 '" + dir_.File("key.json") +
                    "'";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  ASSERT_EQ(pclose(p), 0) << cmd << "\n" << out;
  std::vector<nlohmann::json> items;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) items.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(items.size(), 25u) << out;
  for (int i = 0; i < 25; ++i) EXPECT_TRUE(RowMatches(items[i], "user-1", 1795500000 + i));

  // Wrong secret: rejected with moto's parsed XML error, retried exactly once.
  StaticCredentialsProvider wrong(AwsCredentials{key_id_, "not-the-secret", "", 0}, "user-1");
  auto bad = NewClient(server_->endpoint(), &wrong);
  ASSERT_NE(bad, nullptr);
  BatchWriteResult r = bad->BatchWriteItem("rows_auth", {Row(100, "user-1", 5)});
  EXPECT_TRUE(r.status.IsPermissionDenied()) << r.status.ToString();
  EXPECT_EQ(r.error_code, "SignatureDoesNotMatch");
  EXPECT_NE(r.status.message().find("does not match"), std::string::npos) << r.status.ToString();
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(bad->stats().credential_retries, 1u);

  // Unknown key id.
  StaticCredentialsProvider unknown(AwsCredentials{"AKIAUNKNOWNKEY000000", secret_, "", 0}, "u");
  auto bad2 = NewClient(server_->endpoint(), &unknown);
  ASSERT_NE(bad2, nullptr);
  r = bad2->BatchWriteItem("rows_auth", {Row(100, "user-1", 5)});
  EXPECT_TRUE(r.status.IsPermissionDenied()) << r.status.ToString();
  EXPECT_EQ(r.error_code, "InvalidClientTokenId");

  // Nothing from the rejected writes arrived.
  auto g = client->GetItem("rows_auth", "user-1", 5);
  ASSERT_TRUE(g.ok());
  EXPECT_FALSE(g->has_value());
}

// A port nobody listens on: connection refused on every attempt.
TEST(DynamoDbUnreachableTest, RefusedEndpointIsUnavailable) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);  // the port is now free and closed
  auto creds = FakeCredentials();
  auto client = NewClient("http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)), creds.get(),
                          "us-east-1", [](DynamoDbClientOptions* o) { o->retry.max_attempts = 3; });
  ASSERT_NE(client, nullptr);
  BatchWriteResult r = client->BatchWriteItem("rows", {Row(1, "u", 1)});
  EXPECT_TRUE(r.status.IsUnavailable()) << r.status.ToString();
  EXPECT_EQ(r.attempts, 3);
  EXPECT_EQ(client->stats().network_errors, 3u);
  EXPECT_EQ(r.failed, std::vector<uint64_t>{1});
}

// A listener that accepts connections (the kernel does, into the backlog) but
// never answers: each attempt ends at the request timeout.
TEST(DynamoDbUnreachableTest, SilentEndpointTimesOut) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  ASSERT_EQ(listen(fd, 16), 0);
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  auto creds = FakeCredentials();
  auto client = NewClient("http://127.0.0.1:" + std::to_string(ntohs(a.sin_port)), creds.get(),
                          "us-east-1", [](DynamoDbClientOptions* o) {
                            o->retry.max_attempts = 2;
                            o->http.request_timeout_ms = 300;
                          });
  ASSERT_NE(client, nullptr);
  const int64_t t0 = Clock::Real()->MonotonicNanos();
  Result<std::string> r = client->Call("ListTables", "{}");
  const int64_t elapsed_ms = (Clock::Real()->MonotonicNanos() - t0) / 1000000;
  close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsUnavailable()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("timed out"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(client->stats().attempts, 2u);
  // Two 300 ms timeouts: bounded, not hung (a generous bound; ctest's timeout is the backstop).
  EXPECT_GE(elapsed_ms, 600);
  EXPECT_LT(elapsed_ms, 30000);
}

// https: verification is always on. A self-signed endpoint is refused (not
// retried) until its certificate is given as the CA bundle (AWS_CA_BUNDLE).
TEST(DynamoDbTlsTest, VerifiesPeerAndHonoursCaBundle) {
  testing::TempDir dir;
  testing::FaultProxyOptions po;
  po.rate = 0;
  po.tls_dir = dir.path();
  auto proxy = LocalServer::StartFaultProxy(ServerEndpoint("dynalite"), po);
  ASSERT_TRUE(proxy.ok()) << proxy.status().ToString();
  ASSERT_EQ((*proxy)->endpoint().rfind("https://127.0.0.1:", 0), 0u) << (*proxy)->endpoint();
  auto creds = FakeCredentials();

  auto untrusted = NewClient((*proxy)->endpoint(), creds.get());
  ASSERT_NE(untrusted, nullptr);
  Result<std::string> r = untrusted->Call("ListTables", "{}");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsPermissionDenied()) << r.status().ToString();
  EXPECT_NE(r.status().message().find("AWS_CA_BUNDLE"), std::string::npos);
  EXPECT_EQ(untrusted->stats().attempts, 1u);

  auto trusted =
      NewClient((*proxy)->endpoint(), creds.get(), "us-east-1",
                [&dir](DynamoDbClientOptions* o) { o->endpoint.ca_bundle = dir.File("cert.pem"); });
  ASSERT_NE(trusted, nullptr);
  r = trusted->Call("ListTables", "{}");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->find("TableNames"), std::string::npos) << *r;
}

// Clock skew. Neither moto nor dynalite checks the signing time (moto: noted in
// shared/localaws/NOTES.md; dynalite verifies nothing), so the fault proxy
// plays DynamoDB's part: 400 InvalidSignatureException "Signature expired" /
// "Signature not yet current" beyond 5 minutes, with its own Date header.
TEST(DynamoDbClockSkewTest, TwentyMinutesOffIsCorrectedAndResetWhenFixed) {
  testing::TempDir dir;
  testing::FaultProxyOptions po;
  po.rate = 0;
  po.check_skew_s = 300;
  po.log_file = dir.File("proxy.log");
  auto proxy = LocalServer::StartFaultProxy(ServerEndpoint("dynalite"), po);
  ASSERT_TRUE(proxy.ok()) << proxy.status().ToString();
  const int64_t kMin = 60LL * 1000000000;
  OffsetClock clock(-20 * kMin);  // the phone's clock is 20 minutes slow
  auto creds = FakeCredentials();
  auto client = NewClient((*proxy)->endpoint(), creds.get(), "us-east-1", {}, &clock);
  ASSERT_NE(client, nullptr);

  ASSERT_TRUE(CreateAndWait(client.get(), "rows_skew"));
  EXPECT_EQ(client->stats().clock_skew_retries, 1u);
  EXPECT_NEAR(client->clock_skew().offset_s(), 1200, 2);
  // Later requests are signed right the first time.
  ASSERT_TRUE(client->BatchWriteItem("rows_skew", {Row(1, "u", 1)}).status.ok());
  EXPECT_EQ(client->stats().clock_skew_retries, 1u);

  // The phone's clock gets fixed (NTP): the stale +20 min correction now makes
  // the signature "not yet current" once, and the response resets it to 0.
  clock.set_offset_ns(0);
  ASSERT_TRUE(client->GetItem("rows_skew", "u", 1).ok());
  EXPECT_EQ(client->stats().clock_skew_retries, 2u);
  EXPECT_EQ(client->clock_skew().offset_s(), 0);
  ASSERT_TRUE(client->GetItem("rows_skew", "u", 1).ok());
  EXPECT_EQ(client->stats().clock_skew_retries, 2u);

  // The proxy saw: CreateTable signed 20 minutes early (rejected), its retry
  // signed right; DescribeTable/BatchWriteItem fine; the first GetItem after
  // the fix signed 20 minutes late (rejected), its retry and the next fine.
  std::vector<nlohmann::json> log = ReadJsonLines(po.log_file);
  ASSERT_GE(log.size(), 6u);
  std::vector<std::string> faults;
  for (const auto& l : log) faults.push_back(l["fault"]);
  const size_t n = log.size();
  EXPECT_EQ(std::count(faults.begin(), faults.end(), "skew"), 2)
      << ::testing::PrintToString(faults);
  EXPECT_EQ(faults[0], "skew");
  EXPECT_EQ(faults[1], "none");
  EXPECT_EQ(faults[n - 3], "skew");
  auto amz = [](const nlohmann::json& l) {
    std::tm tm{};
    std::istringstream in(l["amz_date"].get<std::string>());
    in >> std::get_time(&tm, "%Y%m%dT%H%M%SZ");
    return static_cast<int64_t>(timegm(&tm));
  };
  EXPECT_NEAR(amz(log[1]) - amz(log[0]), 1200, 3);           // corrected by +20 min
  EXPECT_NEAR(amz(log[n - 2]) - amz(log[n - 3]), -1200, 3);  // correction dropped
}

}  // namespace
}  // namespace relay
}  // namespace accel
