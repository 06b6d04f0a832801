// DynamoDbClient through the fault-injecting proxy (tests/fixtures/fault_proxy.py)
// in front of dynalite: 5xx, throttling, connection resets before and after
// the write, slow responses and partial UnprocessedItems. The table must end
// exact, and the proxy's log must show backoff, not a hot loop.
#include <poll.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

#include "common/log.h"
#include "phone-relay/http_client.h"
#include "tests/relay_aws/test_util.h"

namespace accel {
namespace relay {
namespace {

using testing::LocalServer;
using namespace test;  // NOLINT

class DynamoDbFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto d = LocalServer::StartDynalite();
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    dynalite_ = std::move(d).value();
    direct_ = NewClient(dynalite_->endpoint(), creds_.get());
    ASSERT_NE(direct_, nullptr);
    ASSERT_TRUE(CreateAndWait(direct_.get(), kTable));
  }
  std::unique_ptr<LocalServer> StartProxy(const testing::FaultProxyOptions& o) {
    auto p = LocalServer::StartFaultProxy(dynalite_->endpoint(), o);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(p).value() : nullptr;
  }

  const std::string kTable = "rows_faults";
  testing::TempDir dir_;
  std::unique_ptr<StaticCredentialsProvider> creds_ = FakeCredentials();
  std::unique_ptr<LocalServer> dynalite_;
  std::unique_ptr<DynamoDbClient> direct_;  // bypasses the proxy, for read-back
};

// 30% of requests faulted, 400 rows written by a caller that does what the
// uploader does: re-send what came back unprocessed or failed, with backoff,
// until every row is acknowledged.
TEST_F(DynamoDbFaultTest, ThirtyPercentFaultsTableEndsExact) {
  const uint64_t seed = TestSeed(20261124);
  SCOPED_TRACE("seed " + std::to_string(seed) + " (ACCEL_TEST_SEED to reproduce)");
  testing::FaultProxyOptions po;
  po.seed = seed;
  po.rate = 0.3;
  po.slow_ms = 200;
  po.log_file = dir_.File("proxy.log");
  auto proxy = StartProxy(po);
  ASSERT_NE(proxy, nullptr);
  auto client =
      NewClient(proxy->endpoint(), creds_.get(), "us-east-1", [seed](DynamoDbClientOptions* o) {
        o->retry.seed = seed;
        o->retry.max_attempts = 10;
        o->http.request_timeout_ms = 5000;  // slow faults stay below it
      });
  ASSERT_NE(client, nullptr);

  const int kRows = 500;
  const std::string id = "user-faults";
  std::map<uint64_t, WriteItem> pending;
  for (int i = 0; i < kRows; ++i) pending[i] = Row(i, id, 1795500000 + i);
  std::set<uint64_t> acked;
  RetryPolicy caller_backoff(client->retry_policy().options());
  int round = 0;
  for (; !pending.empty() && round < 40; ++round) {
    std::vector<std::vector<WriteItem>> batches;
    for (const auto& kv : pending) {
      // Small batches: more requests, so every fault kind occurs.
      if (batches.empty() || batches.back().size() == 10) batches.emplace_back();
      batches.back().push_back(kv.second);
    }
    std::vector<BatchWriteResult> res = client->BatchWriteItemMany(kTable, batches);
    for (const auto& r : res) {
      // Every token lands in exactly one list; failures are only the retryable kind.
      ASSERT_EQ(r.acknowledged.size() + r.unprocessed.size() + r.failed.size(),
                r.status.ok() ? r.acknowledged.size() + r.unprocessed.size() : r.failed.size());
      if (!r.status.ok()) {
        ASSERT_TRUE(r.status.IsUnavailable() || r.status.IsResourceExhausted())
            << r.status.ToString();
      }
      for (uint64_t t : r.acknowledged) {
        EXPECT_TRUE(acked.insert(t).second) << "token " << t << " acknowledged twice";
        pending.erase(t);
      }
    }
    if (!pending.empty()) {
      // The caller's own backoff before re-sending UnprocessedItems.
      poll(nullptr, 0, static_cast<int>(caller_backoff.BackoffMs(round + 1, true)));
    }
  }
  ASSERT_TRUE(pending.empty()) << pending.size() << " rows never acknowledged after " << round
                               << " rounds";
  EXPECT_EQ(acked.size(), static_cast<size_t>(kRows));

  // The table holds exactly those rows, each once, attributes intact.
  Result<QueryResult> q = direct_->Query(kTable, id, 0, 4000000000LL);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  ASSERT_EQ(q->items.size(), static_cast<size_t>(kRows));
  for (int i = 0; i < kRows; ++i) EXPECT_TRUE(RowMatches(q->items[i], id, 1795500000 + i));

  // The faults really happened, of many kinds.
  std::vector<nlohmann::json> log = ReadJsonLines(po.log_file);
  std::map<std::string, int> kinds;
  std::map<std::string, std::vector<double>> by_body;  // arrival times per request body
  std::map<std::string, std::vector<std::string>> faults_by_body;
  for (const auto& l : log) {
    kinds[l["fault"]]++;
    by_body[l["body"]].push_back(l["mono"].get<double>());
    faults_by_body[l["body"]].push_back(l["fault"]);
  }
  const int faulted = static_cast<int>(log.size()) - kinds["none"];
  EXPECT_GE(faulted, static_cast<int>(log.size()) / 6) << "too few faults to mean anything";
  EXPECT_GE(kinds.size(), 6u) << "fault kinds seen: " << kinds.size();
  EXPECT_GT(kinds["partial"], 0);
  EXPECT_GT(kinds["reset_after"], 0);
  // Every request the proxy saw is one of our attempts, or libcurl's own
  // re-send after a reset on a reused connection (counted, see HttpResponse::resent).
  EXPECT_EQ(client->stats().attempts + client->http_stats().transparent_resends, log.size());

  // No hot loop: a request body (one request and its retries) is sent at most
  // max_attempts times, and retries were paced by backoff within the budget.
  // (The exact spacing is checked deterministically in BackoffSpacingGrowsAndIsHonoured.)
  for (const auto& kv : by_body) {
    EXPECT_LE(kv.second.size(), 10u) << "body " << kv.first;
  }
  EXPECT_GT(client->stats().backoff_ms_total, 0);
  EXPECT_EQ(client->stats().budget_exhausted, 0u);
  std::printf("faults: %zu requests, %d faulted, %zu distinct bodies, backoff %lld ms scheduled\n",
              log.size(), faulted, by_body.size(),
              static_cast<long long>(client->stats().backoff_ms_total));
}

// Every attempt of each request is throttled until the 5th: the proxy's arrival
// times show each pause at least as long as the (seeded, reproducible) full
// jitter delay the policy drew, under caps that double each time.
TEST_F(DynamoDbFaultTest, BackoffSpacingGrowsAndIsHonoured) {
  const uint64_t seed = TestSeed(99);
  SCOPED_TRACE("seed " + std::to_string(seed));
  testing::FaultProxyOptions po;
  po.seed = seed;
  po.faults = "throttle";
  po.fail_first = 4;
  po.log_file = dir_.File("proxy.log");
  auto proxy = StartProxy(po);
  ASSERT_NE(proxy, nullptr);
  auto tweak = [seed](DynamoDbClientOptions* o) {
    o->retry.seed = seed;
    o->retry.throttle_base_delay_ms = 40;
    o->retry.max_delay_ms = 10000;
  };
  auto client = NewClient(proxy->endpoint(), creds_.get(), "us-east-1", tweak);
  ASSERT_NE(client, nullptr);
  DynamoDbClientOptions o;
  tweak(&o);
  RetryPolicy expected(o.retry);  // replays the client's draws

  const int kRequests = 4;
  std::vector<std::vector<int64_t>> want(kRequests);
  for (int r = 0; r < kRequests; ++r) {
    BatchWriteResult res = client->BatchWriteItem(kTable, {Row(r, "user-b", r)});
    ASSERT_TRUE(res.status.ok()) << res.status.ToString();
    EXPECT_EQ(res.attempts, 5);
    for (int k = 1; k <= 4; ++k) want[r].push_back(expected.BackoffMs(k, true));
  }
  EXPECT_EQ(client->stats().throttled, 16u);

  std::vector<nlohmann::json> log = ReadJsonLines(po.log_file);
  ASSERT_EQ(log.size(), 20u);
  for (int r = 0; r < kRequests; ++r) {
    for (int k = 1; k <= 4; ++k) {
      const auto& before = log[r * 5 + k - 1];
      const auto& after = log[r * 5 + k];
      ASSERT_EQ(before["body"], after["body"]);
      EXPECT_EQ(before["fault"], "throttle");
      const double gap_ms = (after["mono"].get<double>() - before["mono"].get<double>()) * 1000;
      // The pause may be longer (scheduling, the response's own trip), never shorter.
      EXPECT_GE(gap_ms, static_cast<double>(want[r][k - 1]) - 1.0)
          << "request " << r << " retry " << k << " drawn " << want[r][k - 1] << " ms";
      EXPECT_LE(want[r][k - 1], expected.BackoffCapMs(k, true));
    }
    EXPECT_EQ(log[r * 5 + 4]["fault"], "none");
  }
  EXPECT_EQ(expected.BackoffCapMs(1, true), 40);
  EXPECT_EQ(expected.BackoffCapMs(4, true), 320);
}

// BatchWriteItemMany keeps max_in_flight requests open at once, never more:
// with every response held back by the proxy, the proxy sees several at once, never more than 4.
TEST_F(DynamoDbFaultTest, ConcurrentRequestsOverlapUpToMaxInFlight) {
  testing::FaultProxyOptions po;
  po.rate = 1.0;
  po.faults = "slow";
  po.slow_ms = 1000;  // long enough for all four to arrive while the first is held
  po.log_file = dir_.File("proxy.log");
  auto proxy = StartProxy(po);
  ASSERT_NE(proxy, nullptr);
  auto client = NewClient(proxy->endpoint(), creds_.get(), "us-east-1",
                          [](DynamoDbClientOptions* o) { o->max_in_flight = 4; });
  ASSERT_NE(client, nullptr);
  std::vector<std::vector<WriteItem>> batches(8);
  for (int i = 0; i < 8 * 5; ++i) batches[i / 5].push_back(Row(i, "user-c", i));
  std::vector<BatchWriteResult> res = client->BatchWriteItemMany(kTable, batches);
  for (const auto& r : res) {
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    EXPECT_EQ(r.acknowledged.size(), 5u);
  }
  std::vector<nlohmann::json> log = ReadJsonLines(po.log_file);
  ASSERT_EQ(log.size(), 8u);
  int max_active = 0;
  for (const auto& l : log) max_active = std::max(max_active, l["active"].get<int>());
  // Overlap happened, and never beyond the limit. (Usually exactly 4; a
  // loaded machine may deliver the fourth after the first was answered.)
  EXPECT_GE(max_active, 2);
  EXPECT_LE(max_active, 4);
  EXPECT_LE(client->http_stats().connections_opened, 4u);  // the second four reuse them
}

// Partial success is never success: items returned in UnprocessedItems are
// reported as such and are really absent from the table; the rest are there.
TEST_F(DynamoDbFaultTest, UnprocessedItemsAreReportedExactly) {
  testing::FaultProxyOptions po;
  po.seed = TestSeed(5);
  po.rate = 1.0;
  po.faults = "partial";
  auto proxy = StartProxy(po);
  ASSERT_NE(proxy, nullptr);
  auto client = NewClient(proxy->endpoint(), creds_.get());
  ASSERT_NE(client, nullptr);
  size_t total_unprocessed = 0, total_acked = 0;
  for (int b = 0; b < 6; ++b) {
    std::vector<WriteItem> rows;
    for (int i = 0; i < 25; ++i) rows.push_back(Row(b * 100 + i, "user-p", b * 100 + i));
    BatchWriteResult r = client->BatchWriteItem(kTable, rows);
    ASSERT_TRUE(r.status.ok()) << r.status.ToString();
    ASSERT_EQ(r.acknowledged.size() + r.unprocessed.size(), 25u);
    for (uint64_t t : r.acknowledged) {
      auto g = direct_->GetItem(kTable, "user-p", static_cast<int64_t>(t));
      ASSERT_TRUE(g.ok());
      EXPECT_TRUE(g->has_value()) << "acknowledged " << t << " is missing";
    }
    for (uint64_t t : r.unprocessed) {
      auto g = direct_->GetItem(kTable, "user-p", static_cast<int64_t>(t));
      ASSERT_TRUE(g.ok());
      EXPECT_FALSE(g->has_value()) << "unprocessed " << t << " was written";
    }
    total_unprocessed += r.unprocessed.size();
    total_acked += r.acknowledged.size();
  }
  EXPECT_GT(total_unprocessed, 0u);
  EXPECT_GT(total_acked, 0u);
}

// A signature mismatch answered the way AWS answers it: the message quotes the
// canonical request, so the session token the client sent is in the body
// (shown first with a raw request). Through our client nothing of it reaches
// the returned error or any log line, whichever shape (JSON, XML) it takes.
TEST_F(DynamoDbFaultTest, SignatureMismatchBodyNeverLeaksTheToken) {
  const std::string token =
      "FwoGZXIvYXdzEBYaDExampleSessionToken0123456789abcdefghijklmnopqrstuvwxyz/+ABCDEF==";
  const std::string secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
  for (const char* kind : {"badsig", "badsig_xml"}) {
    SCOPED_TRACE(kind);
    testing::FaultProxyOptions po;
    po.rate = 1.0;
    po.faults = kind;
    auto proxy = StartProxy(po);
    ASSERT_NE(proxy, nullptr);

    // The fixture really echoes the token (or this test would prove nothing).
    auto http = HttpClient::Create(HttpOptions(), Clock::Real());
    ASSERT_TRUE(http.ok());
    HttpRequest raw;
    raw.url = proxy->endpoint() + "/";
    raw.headers = {"Content-Type: application/x-amz-json-1.0",
                   "X-Amz-Target: DynamoDB_20120810.ListTables", "X-Amz-Date: 20261124T063814Z",
                   "X-Amz-Security-Token: " + token,
                   "Authorization: AWS4-HMAC-SHA256 Credential=AKIDLOCALTEST/20261124/us-east-1/"
                   "dynamodb/aws4_request, SignedHeaders=content-type;host;x-amz-date;"
                   "x-amz-security-token;x-amz-target, Signature=" +
                       std::string(64, '0')};
    raw.body = "{}";
    HttpResponse rr = (*http)->Perform(raw);
    ASSERT_TRUE(rr.transport.ok()) << rr.transport.ToString();
    ASSERT_NE(rr.body.find(token), std::string::npos) << rr.body;

    std::mutex mu;
    std::string logged;
    SetMinLogLevel(LogLevel::kDebug);
    SetLogSink([&](const std::string& line) {
      std::lock_guard<std::mutex> lock(mu);
      logged += line + "\n";
    });
    StaticCredentialsProvider creds(AwsCredentials{"AKIDLOCALTEST", secret, token, 0}, "user-1");
    auto client = NewClient(proxy->endpoint(), &creds);
    ASSERT_NE(client, nullptr);
    BatchWriteResult r = client->BatchWriteItem(kTable, {Row(1, "user-1", 1)});
    Status get = client->GetItem(kTable, "user-1", 1).status();
    SetLogSink(nullptr);
    SetMinLogLevel(LogLevel::kInfo);

    EXPECT_TRUE(r.status.IsPermissionDenied()) << r.status.ToString();
    EXPECT_EQ(client->stats().credential_retries, 2u);  // one retry each, then final
    for (const std::string& text : {r.status.ToString(), get.ToString(), logged}) {
      EXPECT_EQ(text.find(token.substr(0, 16)), std::string::npos) << text;
      EXPECT_EQ(text.find(token.substr(token.size() - 16)), std::string::npos) << text;
      EXPECT_EQ(text.find(secret.substr(0, 16)), std::string::npos) << text;
    }
    // Still says what happened.
    EXPECT_NE(r.status.message().find(std::string(kind) == "badsig" ? "InvalidSignatureException"
                                                                    : "SignatureDoesNotMatch"),
              std::string::npos)
        << r.status.ToString();
    EXPECT_NE(r.status.message().find("does not match"), std::string::npos);
    EXPECT_NE(logged.find("refreshing credentials"), std::string::npos) << logged;
  }
}

}  // namespace
}  // namespace relay
}  // namespace accel
