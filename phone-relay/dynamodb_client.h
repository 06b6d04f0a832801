// DynamoDbClient: the few DynamoDB operations the relay needs, signed with our
// own SigV4 signer (sigv4/) and sent over HttpClient, with the retry rules of
// the relay in one place:
//
//  - throttling (ThrottlingException, ProvisionedThroughputExceededException,
//    RequestLimitExceeded), 5xx and network errors: retried with exponential
//    backoff and full jitter, within a retry budget (RetryPolicy);
//  - credential errors (bad/expired key, token or signature): the provider is
//    told to Invalidate() and the request is retried once;
//  - clock skew ("Signature expired"/"not yet current", RequestTimeTooSkewed):
//    every response's Date header feeds ClockSkew, and the request is retried
//    once, signed with the corrected time;
//  - everything else (ValidationException, ResourceNotFoundException,
//    SerializationException, ConditionalCheckFailedException, AccessDenied):
//    returned at once with the server's message, never retried.
//
// Final errors map to Status codes (aws_error.h): InvalidArgument = the
// request itself is wrong (quarantine the row), NotFound = the table is
// missing in this region (a configuration problem: stop, keep the rows),
// PermissionDenied = credentials/policy/clock, ResourceExhausted = still
// throttled after the retries, Unavailable = service or network down,
// Aborted = a condition failed.
//
// Items: the table's key is `id` (S, the identity id) and `t` (N, epoch
// second). Callers pass the key separately and the other attributes as
// pre-serialised DynamoDB JSON members, e.g.
//   "dev":{"S":"watch-1"},"n":{"N":"50"},"d":{"B":"AAEC..."}
// (no surrounding braces; empty = key only); the client writes
//   {"id":{"S":<id>},"t":{"N":"<t>"},<attributes>}
// so the key the client matches on is the key it sent.
//
// Not thread-safe: one thread drives a client (several requests still run
// concurrently inside BatchWriteItemMany).
#ifndef ACCEL_PHONE_RELAY_DYNAMODB_CLIENT_H_
#define ACCEL_PHONE_RELAY_DYNAMODB_CLIENT_H_

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "phone-relay/aws_endpoint.h"
#include "phone-relay/aws_error.h"
#include "phone-relay/clock_skew.h"
#include "phone-relay/credentials.h"
#include "phone-relay/http_client.h"
#include "phone-relay/retry_policy.h"

namespace accel {
namespace relay {

struct DynamoDbClientOptions {
  EndpointOverrides endpoint;  // merged with the AWS_* environment (aws_endpoint.h)
  HttpOptions http;            // ca_bundle comes from the resolved endpoint
  RetryOptions retry;
  int max_in_flight = 4;                   // concurrent requests in BatchWriteItemMany
  int64_t credential_min_validity_s = 60;  // asked of the provider before each signing
  int64_t clock_skew_threshold_s = 30;     // see clock_skew.h
};

// One row for BatchWriteItem. `token` is the caller's handle (e.g. a SQLite row id).
struct WriteItem {
  uint64_t token = 0;
  std::string id;               // partition key (S)
  int64_t t = 0;                // sort key (N)
  std::string attributes_json;  // other attributes, DynamoDB JSON members, no braces
};

struct BatchWriteResult {
  // OK: DynamoDB answered the request; every token is then in exactly one of
  // `acknowledged` (written) and `unprocessed` (came back in UnprocessedItems:
  // NOT written, send again later). Not OK: nothing is known to be written;
  // every token is in `failed`.
  Status status;
  std::vector<uint64_t> acknowledged;
  std::vector<uint64_t> unprocessed;
  std::vector<uint64_t> failed;
  std::string error_code;  // the service's error code when not OK ("ValidationException")
  int attempts = 0;
};

enum class PutOutcome { kWritten, kConditionFailed, kError };

struct PutItemRequest {
  std::string table;
  std::string id;
  int64_t t = 0;
  std::string attributes_json;         // as in WriteItem
  std::string condition_expression;    // e.g. "attribute_not_exists(id) OR v = :v"; may be empty
  std::string expression_names_json;   // members: "#n":"n"; may be empty
  std::string expression_values_json;  // members: ":v":{"N":"3"}; may be empty
};

struct PutItemResult {
  PutOutcome outcome = PutOutcome::kError;
  Status status;  // OK for kWritten; Aborted (the server's message) for kConditionFailed
  int attempts = 0;
  // An earlier attempt failed after the request may have reached the server
  // (timeout, reset), or libcurl re-sent it on a fresh connection after a
  // reused one died (HttpResponse::resent): a kConditionFailed may then be
  // caused by our own first write. The caller re-reads the item to tell.
  bool earlier_attempt_unknown = false;
};

struct QueryResult {
  std::vector<nlohmann::json> items;  // DynamoDB JSON items ({"id":{"S":..},"t":{"N":..},...})
  int pages = 0;
};

struct DynamoDbStats {
  uint64_t calls = 0;           // operations (one BatchWriteItem = one call)
  uint64_t attempts = 0;        // HTTP requests sent
  uint64_t retries = 0;         // attempts after the first
  uint64_t throttled = 0;       // throttling responses
  uint64_t server_errors = 0;   // 5xx
  uint64_t network_errors = 0;  // no HTTP response (reset, timeout, refused)
  uint64_t credential_retries = 0;
  uint64_t clock_skew_retries = 0;
  uint64_t budget_exhausted = 0;  // retryable errors returned because the budget was spent
  int64_t backoff_ms_total = 0;   // sum of scheduled backoff delays
};

// Appends `s` as a JSON string literal (quotes included), escaping per RFC 8259.
void AppendJsonString(std::string* out, std::string_view s);

// Appends the BatchWriteItem request body for `items` (PutRequests) to *body
// with plain string appends (the hot path: no JSON DOM). InvalidArgument for
// a bad table name, more than 25 items or a repeated key.
Status AppendBatchWriteItemBody(const std::string& table, const std::vector<WriteItem>& items,
                                std::string* body);

class DynamoDbClient {
 public:
  // `credentials` and `clock` must outlive the client.
  static Result<std::unique_ptr<DynamoDbClient>> Create(const DynamoDbClientOptions& options,
                                                        CredentialsProvider* credentials,
                                                        Clock* clock = Clock::Real());
  ~DynamoDbClient();

  // Up to 25 items with distinct keys (InvalidArgument otherwise, nothing sent).
  BatchWriteResult BatchWriteItem(const std::string& table, const std::vector<WriteItem>& items);
  // Several BatchWriteItem requests, up to max_in_flight at once, each retried
  // on its own schedule. One result per batch, in order.
  std::vector<BatchWriteResult> BatchWriteItemMany(
      const std::string& table, const std::vector<std::vector<WriteItem>>& batches);

  PutItemResult PutItem(const PutItemRequest& request);

  // Consistent read. nullopt when there is no such item.
  Result<std::optional<nlohmann::json>> GetItem(const std::string& table, const std::string& id,
                                                int64_t t);

  // All items with this id and t_from <= t <= t_to, ascending, following
  // LastEvaluatedKey. `page_limit` > 0 caps items per page. Consistent read.
  Result<QueryResult> Query(const std::string& table, const std::string& id, int64_t t_from,
                            int64_t t_to, int page_limit = 0);

  // id S (hash) + t N (range), PAY_PER_REQUEST.
  Status CreateTable(const std::string& table);
  // "ACTIVE", "CREATING", ...
  Result<std::string> DescribeTableStatus(const std::string& table);
  Status WaitUntilActive(const std::string& table, int64_t timeout_ms);

  // Builds and signs a BatchWriteItem request exactly as BatchWriteItem would
  // send it, without sending: for benchmarks with a null sink, and for tools
  // that hand requests to another transport. Reuses *request's buffers.
  Status PrepareBatchWriteItem(const std::string& table, const std::vector<WriteItem>& items,
                               HttpRequest* request);

  // Any other DynamoDB operation: `target` without prefix ("UpdateItem"),
  // `body` the JSON request. Returns the response body of a 200.
  Result<std::string> Call(const std::string& target, std::string body);

  const AwsEndpoint& endpoint() const { return endpoint_; }
  ClockSkew& clock_skew() { return skew_; }
  RetryPolicy& retry_policy() { return retry_; }
  const DynamoDbStats& stats() const { return stats_; }
  const HttpStats& http_stats() const;

 private:
  struct Op;
  DynamoDbClient(const DynamoDbClientOptions& options, AwsEndpoint endpoint,
                 CredentialsProvider* credentials, Clock* clock);
  void Run(const std::vector<Op*>& ops);
  bool StartAttempt(Op* op);
  void Finish(Op* op, const HttpResponse& r);
  void FailFinal(Op* op, Status status);
  Status Sign(const std::string& target, const std::string& context, HttpRequest* req);
  std::string Context(const Op& op) const;

  DynamoDbClientOptions options_;
  AwsEndpoint endpoint_;
  std::string url_;
  CredentialsProvider* credentials_;
  Clock* clock_;
  std::unique_ptr<HttpClient> http_;
  struct SignerHolder;
  std::unique_ptr<SignerHolder> signer_;
  ClockSkew skew_;
  RetryPolicy retry_;
  DynamoDbStats stats_;
};

}  // namespace relay
}  // namespace accel

#endif  // ACCEL_PHONE_RELAY_DYNAMODB_CLIENT_H_
