// HttpClient: HTTP/1.1 POSTs over libcurl's multi interface — several
// requests in flight at once on one thread, connections kept alive and reused
// between requests, a connect timeout and a whole-request timeout on each.
//
// TLS: peer and host verification are always on; a CA bundle (AWS_CA_BUNDLE)
// replaces the system store. Only http and https are spoken, redirects are
// never followed, no proxy from the environment is used (requests go to the
// configured endpoint and nowhere else).
//
// Not thread-safe: one thread drives Start() and Poll().
#ifndef ACCEL_PHONE_RELAY_HTTP_CLIENT_H_
#define ACCEL_PHONE_RELAY_HTTP_CLIENT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace accel {
namespace relay {

struct HttpOptions {
  std::string ca_bundle;  // PEM file; empty = system store
  int64_t connect_timeout_ms = 3000;
  int64_t request_timeout_ms = 10000;  // whole transfer, per attempt
  int max_connections = 8;             // per host
  // A response body larger than this fails the transfer (DynamoDB's largest,
  // a BatchGetItem, is 16 MB): a broken or hostile server cannot make us
  // allocate without bound.
  size_t max_response_bytes = 32u << 20;
  std::string user_agent = "accelpipe-relay/0.1";
};

struct HttpRequest {
  std::string url;                   // "https://host[:port]/path"
  std::vector<std::string> headers;  // "Name: value", sent exactly so
  std::string body;                  // POSTed as is
};

struct HttpResponse {
  // OK when an HTTP response arrived (whatever its status); otherwise
  // Unavailable with curl's reason.
  Status transport;
  bool timed_out = false;       // connect or request timeout
  bool connect_failed = false;  // nothing reached the server (refused, no route)
  bool tls_failed = false;      // certificate not trusted / TLS setup failed: a config error
  long status = 0;
  std::string body;
  // libcurl re-sent the request by itself on a fresh connection because a
  // reused keep-alive connection died before any response byte arrived. The
  // server may then have received it twice (a write may already be applied).
  bool resent = false;
  int resends = 0;               // how many times (each one a request the server may have received)
  std::string date;              // the Date header, "" when absent
  bool has_age = false;          // an Age header was present
  int64_t sent_unix_ns = 0;      // raw wall clock when the transfer started
  int64_t received_unix_ns = 0;  // raw wall clock when it completed
};

struct HttpStats {
  uint64_t requests = 0;
  uint64_t connections_opened = 0;   // new TCP connections (the rest were reused)
  uint64_t transparent_resends = 0;  // libcurl's own re-sends after a dead reused connection
};

class HttpClient {
 public:
  static Result<std::unique_ptr<HttpClient>> Create(const HttpOptions& options, Clock* clock);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts a POST of `request`, which must stay alive and unchanged until its
  // completion has been returned by Poll(). Returns the transfer's id.
  uint64_t Start(const HttpRequest* request);

  struct Completion {
    uint64_t id;
    HttpResponse response;
  };
  // Drives the transfers for at most `timeout_ms` (returns sooner when one
  // finishes) and appends finished transfers to *done. With nothing in
  // flight it simply waits `timeout_ms`: the caller's backoff timer.
  void Poll(int timeout_ms, std::vector<Completion>* done);

  size_t in_flight() const { return transfers_.size(); }
  const HttpStats& stats() const { return stats_; }

  // One request, blocking until it completes. Only when nothing else is in
  // flight: completions of other transfers would be dropped.
  HttpResponse Perform(const HttpRequest& request);

 private:
  struct Transfer;
  HttpClient(const HttpOptions& options, Clock* clock);
  void* TakeEasy();
  void Collect(std::vector<Completion>* done);

  HttpOptions options_;
  Clock* clock_;
  void* multi_ = nullptr;         // CURLM*
  std::vector<void*> idle_easy_;  // CURL* kept for reuse
  std::map<uint64_t, std::unique_ptr<Transfer>> transfers_;
  uint64_t next_id_ = 1;
  HttpStats stats_;
};

}  // namespace relay
}  // namespace accel

#endif  // ACCEL_PHONE_RELAY_HTTP_CLIENT_H_
