// Helpers shared by the relay_aws tests: clients against the local servers,
// rows with recognisable attributes, the fault proxy's log.
#ifndef ACCEL_TESTS_RELAY_AWS_TEST_UTIL_H_
#define ACCEL_TESTS_RELAY_AWS_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/clock.h"
#include "phone-relay/credentials.h"
#include "phone-relay/dynamodb_client.h"
#include "tests/support/local_aws.h"

namespace accel {
namespace relay {
namespace test {

// The wall clock shifted by a settable offset (a phone whose clock is wrong);
// monotonic time is real.
class OffsetClock : public Clock {
 public:
  explicit OffsetClock(int64_t offset_ns = 0) : offset_ns_(offset_ns) {}
  int64_t NowUnixNanos() override { return Clock::Real()->NowUnixNanos() + offset_ns_.load(); }
  int64_t MonotonicNanos() override { return Clock::Real()->MonotonicNanos(); }
  void set_offset_ns(int64_t o) { offset_ns_ = o; }

 private:
  std::atomic<int64_t> offset_ns_;
};

// Seed for everything random in a test: $ACCEL_TEST_SEED or `fallback`.
inline uint64_t TestSeed(uint64_t fallback) {
  const char* s = std::getenv("ACCEL_TEST_SEED");
  return s != nullptr && *s != '\0' ? std::strtoull(s, nullptr, 10) : fallback;
}

inline std::unique_ptr<StaticCredentialsProvider> FakeCredentials() {
  return std::make_unique<StaticCredentialsProvider>(
      AwsCredentials{"AKIDLOCALTEST", "local-test-secret", "", 0}, "user-1");
}

inline std::unique_ptr<DynamoDbClient> NewClient(
    const std::string& endpoint, CredentialsProvider* creds,
    const std::string& region = "us-east-1",
    const std::function<void(DynamoDbClientOptions*)>& tweak = {}, Clock* clock = Clock::Real()) {
  DynamoDbClientOptions o;
  o.endpoint.endpoint_url = endpoint;
  o.endpoint.region = region;
  o.retry.seed = 7;
  o.retry.base_delay_ms = 5;
  o.retry.throttle_base_delay_ms = 10;
  o.retry.max_delay_ms = 500;
  o.http.request_timeout_ms = 10000;
  if (tweak) tweak(&o);
  auto c = DynamoDbClient::Create(o, creds, clock);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

// CreateTable + WaitUntilActive (dynalite answers CREATING first even with createTableMs 0).
inline ::testing::AssertionResult CreateAndWait(DynamoDbClient* client, const std::string& table) {
  Status st = client->CreateTable(table);
  if (st.ok()) st = client->WaitUntilActive(table, 30000);
  if (st.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << st.ToString();
}

// A row with attributes derived from (id, t), so a read-back can check them.
inline WriteItem Row(uint64_t token, const std::string& id, int64_t t) {
  WriteItem w;
  w.token = token;
  w.id = id;
  w.t = t;
  w.attributes_json = "\"dev\":{\"S\":\"watch-" + std::to_string(t % 3) + "\"},\"n\":{\"N\":\"" +
                      std::to_string(t % 50 + 1) + "\"},\"d\":{\"S\":\"payload-" +
                      std::to_string(t * 7919) + "\"}";
  return w;
}

// Checks an item read back (DynamoDB JSON) against Row(_, id, t).
inline ::testing::AssertionResult RowMatches(const nlohmann::json& item, const std::string& id,
                                             int64_t t) {
  nlohmann::json want = {{"id", {{"S", id}}},
                         {"t", {{"N", std::to_string(t)}}},
                         {"dev", {{"S", "watch-" + std::to_string(t % 3)}}},
                         {"n", {{"N", std::to_string(t % 50 + 1)}}},
                         {"d", {{"S", "payload-" + std::to_string(t * 7919)}}}};
  if (item == want) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "got " << item.dump() << "\nwant " << want.dump();
}

inline std::vector<nlohmann::json> ReadJsonLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

}  // namespace test
}  // namespace relay
}  // namespace accel

#endif  // ACCEL_TESTS_RELAY_AWS_TEST_UTIL_H_
