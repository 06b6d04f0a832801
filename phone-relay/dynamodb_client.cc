#include "phone-relay/dynamodb_client.h"

#include <poll.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <unordered_map>

#include "common/log.h"
#include "phone-relay/redact.h"
#include "sigv4/signer.h"

namespace accel {
namespace relay {

namespace {

constexpr char kContentType[] = "application/x-amz-json-1.0";
constexpr char kTargetPrefix[] = "DynamoDB_20120810.";
constexpr size_t kMaxBatchItems = 25;

std::string KeyOf(std::string_view id, int64_t t) {
  std::string k(id);
  k.push_back('\0');
  k += std::to_string(t);
  return k;
}

void AppendItem(std::string* body, const std::string& id, int64_t t, const std::string& attrs) {
  *body += "{\"id\":{\"S\":";
  AppendJsonString(body, id);
  *body += "},\"t\":{\"N\":\"";
  *body += std::to_string(t);
  *body += "\"}";
  if (!attrs.empty()) {
    body->push_back(',');
    *body += attrs;
  }
  body->push_back('}');
}

// The key of a DynamoDB JSON item; false when it has no id S / integral t N.
bool ItemKey(const nlohmann::json& item, std::string* key) {
  if (!item.is_object()) return false;
  auto id = item.find("id");
  auto t = item.find("t");
  if (id == item.end() || t == item.end() || !id->is_object() || !t->is_object()) return false;
  auto s = id->find("S");
  auto n = t->find("N");
  if (s == id->end() || n == t->end() || !s->is_string() || !n->is_string()) return false;
  const std::string& ntext = n->get_ref<const std::string&>();
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(ntext.c_str(), &end, 10);
  if (errno != 0 || end == ntext.c_str() || *end != '\0') return false;
  *key = KeyOf(s->get_ref<const std::string&>(), static_cast<int64_t>(v));
  return true;
}

Status ValidateTableName(const std::string& table) {
  if (table.size() < 3 || table.size() > 255) {
    return Status::InvalidArgument("table name '" + table + "' must have 3 to 255 characters");
  }
  for (char c : table) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) {
      return Status::InvalidArgument("table name '" + table +
                                     "' may only contain a-z A-Z 0-9 _ - .");
    }
  }
  return Status::OK();
}

}  // namespace

void AppendJsonString(std::string* out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;  // start of the current run of characters needing no escape
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        *out += "\\u00";
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 15]);
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

Status AppendBatchWriteItemBody(const std::string& table, const std::vector<WriteItem>& items,
                                std::string* body) {
  ACCEL_RETURN_IF_ERROR(ValidateTableName(table));
  if (items.size() > kMaxBatchItems) {
    return Status::InvalidArgument("BatchWriteItem: " + std::to_string(items.size()) +
                                   " items; at most 25 per request");
  }
  if (items.empty()) return Status::OK();
  // Distinct keys: DynamoDB rejects duplicates, and results are matched by key.
  for (size_t i = 1; i < items.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (items[i].t == items[j].t && items[i].id == items[j].id) {
        return Status::InvalidArgument("BatchWriteItem: item " + std::to_string(i) + " (token " +
                                       std::to_string(items[i].token) + ") repeats key id='" +
                                       items[i].id + "' t=" + std::to_string(items[i].t));
      }
    }
  }
  size_t size = body->size() + 64 + table.size();
  for (const auto& it : items) size += 64 + it.id.size() + it.attributes_json.size();
  body->reserve(size);
  *body += "{\"RequestItems\":{";
  AppendJsonString(body, table);
  *body += ":[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i != 0) body->push_back(',');
    *body += "{\"PutRequest\":{\"Item\":";
    AppendItem(body, items[i].id, items[i].t, items[i].attributes_json);
    *body += "}}";
  }
  *body += "]}}";
  return Status::OK();
}

struct DynamoDbClient::SignerHolder {
  sigv4::Signer signer;
  sigv4::Credentials creds;
  std::vector<sigv4::Header> headers;
  std::vector<sigv4::Header> add;
};

// One operation in flight through Run(): its request, its retry state, its outcome.
struct DynamoDbClient::Op {
  std::string target;  // "BatchWriteItem"
  std::string table;   // for messages; may be empty
  HttpRequest req;     // body set once; headers re-signed per attempt
  int attempts = 0;
  int failures = 0;  // retryable failures so far (the backoff exponent)
  bool in_flight = false;
  bool done = false;
  bool credential_retry_used = false;
  bool skew_retry_used = false;
  bool last_network = false;
  bool unknown_outcome = false;
  int64_t not_before_ns = 0;
  // Outcome.
  Status status;
  std::string response;
  AwsError error;
  bool has_error = false;
};

DynamoDbClient::DynamoDbClient(const DynamoDbClientOptions& options, AwsEndpoint endpoint,
                               CredentialsProvider* credentials, Clock* clock)
    : options_(options),
      endpoint_(std::move(endpoint)),
      url_(endpoint_.url + "/"),
      credentials_(credentials),
      clock_(clock),
      signer_(new SignerHolder()),
      skew_(options.clock_skew_threshold_s),
      retry_(options.retry) {}

DynamoDbClient::~DynamoDbClient() = default;

Result<std::unique_ptr<DynamoDbClient>> DynamoDbClient::Create(const DynamoDbClientOptions& options,
                                                               CredentialsProvider* credentials,
                                                               Clock* clock) {
  if (credentials == nullptr) return Status::InvalidArgument("DynamoDbClient: no credentials");
  if (options.max_in_flight < 1) {
    return Status::InvalidArgument("DynamoDbClient: max_in_flight must be >= 1");
  }
  Result<AwsEndpoint> ep = ResolveDynamoDbEndpoint(options.endpoint);
  if (!ep.ok()) return ep.status();
  HttpOptions http = options.http;
  http.ca_bundle = ep->ca_bundle;
  http.max_connections = std::max(http.max_connections, options.max_in_flight);
  std::unique_ptr<DynamoDbClient> c(
      new DynamoDbClient(options, std::move(ep).value(), credentials, clock));
  Result<std::unique_ptr<HttpClient>> h = HttpClient::Create(http, clock);
  if (!h.ok()) return h.status();
  c->http_ = std::move(h).value();
  return c;
}

const HttpStats& DynamoDbClient::http_stats() const { return http_->stats(); }

std::string DynamoDbClient::Context(const Op& op) const {
  std::string s = "DynamoDB " + op.target;
  if (!op.table.empty()) s += " on table '" + op.table + "'";
  s += " (region " + endpoint_.region + ", " + endpoint_.url + ")";
  return s;
}

void DynamoDbClient::FailFinal(Op* op, Status status) {
  op->done = true;
  op->status = std::move(status);
}

Status DynamoDbClient::Sign(const std::string& target, const std::string& context,
                            HttpRequest* req) {
  const int64_t sign_s = skew_.CorrectedUnixSeconds(clock_->NowUnixNanos());
  Result<AwsCredentials> creds = credentials_->Get(sign_s, options_.credential_min_validity_s);
  if (!creds.ok()) return creds.status().WithContext(context + ": credentials");
  SignerHolder& s = *signer_;
  s.creds.access_key_id = creds->access_key_id;
  s.creds.secret_access_key = creds->secret_access_key;
  s.creds.session_token = creds->session_token;
  sigv4::SigningParams params;
  params.region = endpoint_.region;
  params.service = "dynamodb";
  params.unix_seconds = sign_s;

  s.headers.resize(2);
  s.headers[0].name = "Content-Type";
  s.headers[0].value = kContentType;
  s.headers[1].name = "X-Amz-Target";
  s.headers[1].value = kTargetPrefix;
  s.headers[1].value += target;
  sigv4::Status st = s.signer.Sign("POST", url_, s.headers, req->body, s.creds, params, &s.add);
  if (!st.ok()) return Status::InvalidArgument(context + ": cannot sign: " + st.message());
  req->url = url_;
  req->headers.resize(s.headers.size() + s.add.size());
  size_t i = 0;
  for (const auto* list : {&s.headers, &s.add}) {
    for (const auto& h : *list) {
      std::string& line = req->headers[i++];
      line.assign(h.name);
      line += ": ";
      line += h.value;
    }
  }
  return Status::OK();
}

bool DynamoDbClient::StartAttempt(Op* op) {
  Status st = Sign(op->target, Context(*op), &op->req);
  if (!st.ok()) {
    FailFinal(op, st);
    return false;
  }
  ++op->attempts;
  ++stats_.attempts;
  if (op->attempts > 1) ++stats_.retries;
  op->in_flight = true;
  return true;
}

Status DynamoDbClient::PrepareBatchWriteItem(const std::string& table,
                                             const std::vector<WriteItem>& items,
                                             HttpRequest* request) {
  request->body.clear();
  ACCEL_RETURN_IF_ERROR(AppendBatchWriteItemBody(table, items, &request->body));
  return Sign("BatchWriteItem", "DynamoDB BatchWriteItem on table '" + table + "'", request);
}

void DynamoDbClient::Finish(Op* op, const HttpResponse& r) {
  const int64_t now = clock_->MonotonicNanos();
  bool throttled = false;
  Status why;
  if (r.resent) op->unknown_outcome = true;
  if (!r.transport.ok() && r.tls_failed) {
    // Retrying cannot make an untrusted certificate trusted.
    return FailFinal(op, Status::PermissionDenied(Context(*op) + ": TLS: " + r.transport.message() +
                                                  " (a private CA goes in AWS_CA_BUNDLE)"));
  }
  if (!r.transport.ok()) {
    ++stats_.network_errors;
    if (!r.connect_failed) op->unknown_outcome = true;
    op->last_network = true;
    why = Status::Unavailable(Context(*op) + ": " + r.transport.message());
  } else {
    skew_.UpdateFromHeader(r.date, r.has_age, r.sent_unix_ns, r.received_unix_ns);
    if (r.status == 200) {
      retry_.OnSuccess(op->attempts > 1, op->last_network);
      op->done = true;
      op->status = Status::OK();
      op->response = r.body;
      return;
    }
    op->error = ParseAwsError(r.status, r.body);
    // Belt and braces: the exact secrets this request was signed with never
    // survive in a message, whatever shape the server quoted them in.
    ScrubKnownSecrets(&op->error.message,
                      {signer_->creds.secret_access_key, signer_->creds.session_token});
    op->has_error = true;
    op->last_network = false;
    const ErrorClass cls = ClassifyAwsError(op->error);
    switch (cls) {
      case ErrorClass::kThrottling:
        ++stats_.throttled;
        throttled = true;
        break;
      case ErrorClass::kTransient:
        ++stats_.server_errors;
        break;
      case ErrorClass::kClockSkew:
        if (!op->skew_retry_used) {
          op->skew_retry_used = true;
          ++stats_.clock_skew_retries;
          LogWarn(Context(*op) + ": " + op->error.ToString() + "; clock offset now " +
                  std::to_string(skew_.offset_s()) + " s, retrying once");
          op->not_before_ns = now;
          return;
        }
        return FailFinal(op, AwsErrorToStatus(op->error, Context(*op)));
      case ErrorClass::kCredentials:
        if (!op->credential_retry_used) {
          op->credential_retry_used = true;
          ++stats_.credential_retries;
          credentials_->Invalidate();
          LogWarn(Context(*op) + ": " + op->error.code + "; refreshing credentials, retrying once");
          op->not_before_ns = now;
          return;
        }
        return FailFinal(op, AwsErrorToStatus(op->error, Context(*op)));
      default:
        return FailFinal(op, AwsErrorToStatus(op->error, Context(*op)));
    }
    why = AwsErrorToStatus(op->error, Context(*op));
  }
  // Retryable: throttling, 5xx, network.
  ++op->failures;
  if (op->failures >= options_.retry.max_attempts) {
    return FailFinal(op, why.WithContext("after " + std::to_string(op->attempts) + " attempts"));
  }
  if (!retry_.AcquireRetry(op->last_network)) {
    ++stats_.budget_exhausted;
    return FailFinal(op, why.WithContext("retry budget exhausted"));
  }
  const int64_t delay_ms = retry_.BackoffMs(op->failures, throttled);
  stats_.backoff_ms_total += delay_ms;
  op->not_before_ns = now + delay_ms * 1000000;
  LogDebug(why.message() + "; retry " + std::to_string(op->failures) + " in " +
           std::to_string(delay_ms) + " ms");
}

void DynamoDbClient::Run(const std::vector<Op*>& ops) {
  std::unordered_map<uint64_t, Op*> in_flight;
  std::vector<HttpClient::Completion> done;
  stats_.calls += ops.size();
  for (;;) {
    const int64_t now = clock_->MonotonicNanos();
    int64_t next = INT64_MAX;
    bool pending = false;
    for (Op* op : ops) {
      if (op->done || op->in_flight) continue;
      pending = true;
      if (op->not_before_ns > now) {
        next = std::min(next, op->not_before_ns);
      } else if (in_flight.size() < static_cast<size_t>(options_.max_in_flight)) {
        if (StartAttempt(op)) in_flight.emplace(http_->Start(&op->req), op);
      }
    }
    if (in_flight.empty()) {
      pending = false;
      for (Op* op : ops) pending = pending || !op->done;
      if (!pending) return;
    }
    int timeout_ms = 1000;
    if (next != INT64_MAX) {
      int64_t wait = (std::max<int64_t>(next - now, 0) + 999999) / 1000000;
      timeout_ms = static_cast<int>(std::min<int64_t>(wait, 1000));
    }
    done.clear();
    http_->Poll(timeout_ms, &done);
    for (auto& c : done) {
      auto it = in_flight.find(c.id);
      if (it == in_flight.end()) continue;
      Op* op = it->second;
      in_flight.erase(it);
      op->in_flight = false;
      Finish(op, c.response);
    }
  }
}

namespace {
// The table a request body names ("TableName", or the first key of a
// BatchWriteItem's "RequestItems"), so that every error message says which
// table: a missing table or a wrong region must be obvious from the log.
std::string TableOfBody(std::string_view body) {
  for (std::string_view key : {std::string_view("\"TableName\":\""),
                               std::string_view("\"RequestItems\":{\"")}) {
    size_t a = body.find(key);
    if (a == std::string_view::npos || a > 64) continue;
    a += key.size();
    size_t b = body.find('"', a);
    if (b != std::string_view::npos && b - a <= 255) return std::string(body.substr(a, b - a));
  }
  return "";
}
}  // namespace

Result<std::string> DynamoDbClient::Call(const std::string& target, std::string body) {
  Op op;
  op.target = target;
  op.table = TableOfBody(body);
  op.req.body = std::move(body);
  Run({&op});
  if (!op.status.ok()) return op.status;
  return std::move(op.response);
}

BatchWriteResult DynamoDbClient::BatchWriteItem(const std::string& table,
                                                const std::vector<WriteItem>& items) {
  return std::move(BatchWriteItemMany(table, {items})[0]);
}

std::vector<BatchWriteResult> DynamoDbClient::BatchWriteItemMany(
    const std::string& table, const std::vector<std::vector<WriteItem>>& batches) {
  std::vector<BatchWriteResult> results(batches.size());
  std::vector<Op> ops(batches.size());
  std::vector<Op*> run;
  for (size_t b = 0; b < batches.size(); ++b) {
    const auto& items = batches[b];
    BatchWriteResult& res = results[b];
    Op& op = ops[b];
    Status st = AppendBatchWriteItemBody(table, items, &op.req.body);
    if (!st.ok() || items.empty()) {
      res.status = st;
      for (const auto& it : items) {
        if (!st.ok()) res.failed.push_back(it.token);
      }
      continue;
    }
    op.target = "BatchWriteItem";
    op.table = table;
    run.push_back(&op);
  }
  Run(run);

  for (size_t b = 0; b < batches.size(); ++b) {
    Op& op = ops[b];
    if (op.target.empty()) continue;  // rejected above, or empty
    const auto& items = batches[b];
    BatchWriteResult& res = results[b];
    res.attempts = op.attempts;
    auto fail_all = [&](Status st) {
      res.status = std::move(st);
      res.acknowledged.clear();
      res.unprocessed.clear();
      res.failed.clear();
      for (const auto& it : items) res.failed.push_back(it.token);
    };
    if (!op.status.ok()) {
      if (op.has_error) res.error_code = op.error.code;
      fail_all(op.status);
      continue;
    }
    nlohmann::json j = nlohmann::json::parse(op.response, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object()) {
      fail_all(Status::Corruption(Context(op) + ": response is not a JSON object"));
      continue;
    }
    std::unordered_map<std::string, size_t> index;
    for (size_t i = 0; i < items.size(); ++i) index.emplace(KeyOf(items[i].id, items[i].t), i);
    std::vector<bool> unprocessed(items.size(), false);
    Status bad;
    auto up = j.find("UnprocessedItems");
    if (up != j.end() && !up->is_null()) {
      if (!up->is_object()) {
        bad = Status::Corruption(Context(op) + ": UnprocessedItems is not an object");
      } else {
        for (auto t = up->begin(); bad.ok() && t != up->end(); ++t) {
          if (t.key() != table || !t->is_array()) {
            bad = Status::Corruption(Context(op) + ": UnprocessedItems names table '" + t.key() +
                                     "' we did not write to");
            break;
          }
          for (const auto& req : *t) {
            std::string key;
            const nlohmann::json* item = nullptr;
            if (req.is_object() && req.contains("PutRequest") && req["PutRequest"].is_object() &&
                req["PutRequest"].contains("Item")) {
              item = &req["PutRequest"]["Item"];
            }
            auto hit = item != nullptr && ItemKey(*item, &key) ? index.find(key) : index.end();
            if (hit == index.end()) {
              bad = Status::Corruption(Context(op) +
                                       ": UnprocessedItems holds an item we did not send");
              break;
            }
            unprocessed[hit->second] = true;
          }
        }
      }
    }
    if (!bad.ok()) {
      // We cannot tell what was written: nothing is acknowledged (re-sending is harmless).
      fail_all(bad);
      continue;
    }
    res.status = Status::OK();
    for (size_t i = 0; i < items.size(); ++i) {
      (unprocessed[i] ? res.unprocessed : res.acknowledged).push_back(items[i].token);
    }
  }
  return results;
}

PutItemResult DynamoDbClient::PutItem(const PutItemRequest& r) {
  PutItemResult res;
  Status st = ValidateTableName(r.table);
  if (!st.ok()) {
    res.status = st;
    return res;
  }
  Op op;
  op.target = "PutItem";
  op.table = r.table;
  std::string& body = op.req.body;
  body.reserve(128 + r.attributes_json.size() + r.condition_expression.size());
  body += "{\"TableName\":";
  AppendJsonString(&body, r.table);
  body += ",\"Item\":";
  AppendItem(&body, r.id, r.t, r.attributes_json);
  if (!r.condition_expression.empty()) {
    body += ",\"ConditionExpression\":";
    AppendJsonString(&body, r.condition_expression);
  }
  if (!r.expression_names_json.empty()) {
    body += ",\"ExpressionAttributeNames\":{" + r.expression_names_json + "}";
  }
  if (!r.expression_values_json.empty()) {
    body += ",\"ExpressionAttributeValues\":{" + r.expression_values_json + "}";
  }
  body += "}";
  Run({&op});
  res.attempts = op.attempts;
  res.earlier_attempt_unknown = op.unknown_outcome;
  res.status = op.status;
  if (op.status.ok()) {
    res.outcome = PutOutcome::kWritten;
  } else if (op.has_error && ClassifyAwsError(op.error) == ErrorClass::kConditionFailed) {
    res.outcome = PutOutcome::kConditionFailed;
  } else {
    res.outcome = PutOutcome::kError;
  }
  return res;
}

Result<std::optional<nlohmann::json>> DynamoDbClient::GetItem(const std::string& table,
                                                              const std::string& id, int64_t t) {
  ACCEL_RETURN_IF_ERROR(ValidateTableName(table));
  Op op;
  op.target = "GetItem";
  op.table = table;
  std::string& body = op.req.body;
  body += "{\"TableName\":";
  AppendJsonString(&body, table);
  body += ",\"Key\":";
  AppendItem(&body, id, t, "");
  body += ",\"ConsistentRead\":true}";
  Run({&op});
  if (!op.status.ok()) return op.status;
  nlohmann::json j = nlohmann::json::parse(op.response, nullptr, false);
  if (!j.is_object()) return Status::Corruption(Context(op) + ": response is not a JSON object");
  auto it = j.find("Item");
  if (it == j.end() || it->is_null()) return std::optional<nlohmann::json>();
  return std::optional<nlohmann::json>(std::move(*it));
}

Result<QueryResult> DynamoDbClient::Query(const std::string& table, const std::string& id,
                                          int64_t t_from, int64_t t_to, int page_limit) {
  ACCEL_RETURN_IF_ERROR(ValidateTableName(table));
  QueryResult out;
  nlohmann::json start;  // LastEvaluatedKey of the previous page
  for (;;) {
    Op op;
    op.target = "Query";
    op.table = table;
    std::string& body = op.req.body;
    body += "{\"TableName\":";
    AppendJsonString(&body, table);
    body +=
        ",\"KeyConditionExpression\":\"#i = :i AND #t BETWEEN :a AND :b\","
        "\"ExpressionAttributeNames\":{\"#i\":\"id\",\"#t\":\"t\"},"
        "\"ExpressionAttributeValues\":{\":i\":{\"S\":";
    AppendJsonString(&body, id);
    body += "},\":a\":{\"N\":\"" + std::to_string(t_from) + "\"},\":b\":{\"N\":\"" +
            std::to_string(t_to) + "\"}},\"ConsistentRead\":true";
    if (page_limit > 0) body += ",\"Limit\":" + std::to_string(page_limit);
    if (!start.is_null()) body += ",\"ExclusiveStartKey\":" + start.dump();
    body += "}";
    Run({&op});
    if (!op.status.ok()) return op.status;
    nlohmann::json j = nlohmann::json::parse(op.response, nullptr, false);
    if (!j.is_object()) return Status::Corruption(Context(op) + ": response is not a JSON object");
    ++out.pages;
    auto items = j.find("Items");
    if (items != j.end() && items->is_array()) {
      for (auto& item : *items) out.items.push_back(std::move(item));
    }
    auto last = j.find("LastEvaluatedKey");
    if (last == j.end() || last->is_null() || last->empty()) break;
    if (*last == start) {
      return Status::Corruption(Context(op) + ": LastEvaluatedKey did not advance");
    }
    start = std::move(*last);
  }
  return out;
}

Status DynamoDbClient::CreateTable(const std::string& table) {
  ACCEL_RETURN_IF_ERROR(ValidateTableName(table));
  std::string body = "{\"TableName\":";
  AppendJsonString(&body, table);
  body +=
      ",\"AttributeDefinitions\":[{\"AttributeName\":\"id\",\"AttributeType\":\"S\"},"
      "{\"AttributeName\":\"t\",\"AttributeType\":\"N\"}],"
      "\"KeySchema\":[{\"AttributeName\":\"id\",\"KeyType\":\"HASH\"},"
      "{\"AttributeName\":\"t\",\"KeyType\":\"RANGE\"}],"
      "\"BillingMode\":\"PAY_PER_REQUEST\"}";
  Op op;
  op.target = "CreateTable";
  op.table = table;
  op.req.body = std::move(body);
  Run({&op});
  return op.status;
}

Result<std::string> DynamoDbClient::DescribeTableStatus(const std::string& table) {
  ACCEL_RETURN_IF_ERROR(ValidateTableName(table));
  Op op;
  op.target = "DescribeTable";
  op.table = table;
  op.req.body = "{\"TableName\":";
  AppendJsonString(&op.req.body, table);
  op.req.body += "}";
  Run({&op});
  if (!op.status.ok()) return op.status;
  nlohmann::json j = nlohmann::json::parse(op.response, nullptr, false);
  if (!j.is_object() || !j.contains("Table") || !j["Table"].is_object() ||
      !j["Table"].contains("TableStatus") || !j["Table"]["TableStatus"].is_string()) {
    return Status::Corruption(Context(op) + ": no Table.TableStatus in the response");
  }
  return j["Table"]["TableStatus"].get<std::string>();
}

Status DynamoDbClient::WaitUntilActive(const std::string& table, int64_t timeout_ms) {
  const int64_t deadline = clock_->MonotonicNanos() + timeout_ms * 1000000;
  int64_t delay_ms = 50;
  for (;;) {
    Result<std::string> st = DescribeTableStatus(table);
    if (!st.ok()) return st.status();
    if (*st == "ACTIVE") return Status::OK();
    if (clock_->MonotonicNanos() + delay_ms * 1000000 > deadline) {
      return Status::Unavailable("table '" + table + "' still " + *st + " after " +
                                 std::to_string(timeout_ms) + " ms");
    }
    // Polling the service's state: the wait is the point, not a synchronisation.
    poll(nullptr, 0, static_cast<int>(delay_ms));
    delay_ms = std::min<int64_t>(delay_ms * 2, 2000);
  }
}

}  // namespace relay
}  // namespace accel
