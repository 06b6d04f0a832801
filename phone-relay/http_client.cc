#include "phone-relay/http_client.h"

#include <curl/curl.h>
#include <strings.h>

#include <mutex>
#include <string_view>

namespace accel {
namespace relay {

namespace {

std::once_flag g_curl_init_once;
CURLcode g_curl_init = CURLE_OK;

}  // namespace

struct HttpClient::Transfer {
  uint64_t id = 0;
  size_t max_body = 0;
  bool too_large = false;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  HttpResponse response;
  char errbuf[CURL_ERROR_SIZE] = {};

  // Only informational text is of interest: libcurl's note that it re-sends
  // a request whose reused connection died (lib/transfer.c, Curl_retry_request).
  static int OnDebug(CURL*, curl_infotype type, char* data, size_t size, void* user) {
    static constexpr std::string_view kRetry = "Connection died, retrying a fresh connect";
    if (type == CURLINFO_TEXT && std::string_view(data, size).substr(0, kRetry.size()) == kRetry) {
      // Counted, not just flagged: the re-send may find another dead pooled
      // connection and go once more.
      auto* t = static_cast<Transfer*>(user);
      t->response.resent = true;
      ++t->response.resends;
    }
    return 0;
  }

  static size_t OnBody(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    if (t->response.body.size() + size * n > t->max_body) {
      t->too_large = true;
      return 0;  // curl fails the transfer with CURLE_WRITE_ERROR
    }
    t->response.body.append(data, size * n);
    return size * n;
  }

  static size_t OnHeader(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<Transfer*>(user);
    std::string_view line(data, size * n);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (line.size() >= 5 && line.substr(0, 5) == "HTTP/") {
      // A new header block (after a 100 Continue, say): forget the last one.
      t->response.date.clear();
      t->response.has_age = false;
    } else if (line.size() > 5 && strncasecmp(line.data(), "date:", 5) == 0) {
      std::string_view v = line.substr(5);
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      t->response.date.assign(v.data(), v.size());
    } else if (line.size() >= 4 && strncasecmp(line.data(), "age:", 4) == 0) {
      t->response.has_age = true;
    }
    return size * n;
  }
};

HttpClient::HttpClient(const HttpOptions& options, Clock* clock)
    : options_(options), clock_(clock) {}

Result<std::unique_ptr<HttpClient>> HttpClient::Create(const HttpOptions& options, Clock* clock) {
  std::call_once(g_curl_init_once, [] { g_curl_init = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (g_curl_init != CURLE_OK) {
    return Status::Unavailable(std::string("curl_global_init: ") + curl_easy_strerror(g_curl_init));
  }
  std::unique_ptr<HttpClient> c(new HttpClient(options, clock));
  CURLM* m = curl_multi_init();
  if (m == nullptr) return Status::Unavailable("curl_multi_init failed");
  c->multi_ = m;
  curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(options.max_connections));
  curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, static_cast<long>(options.max_connections));
  curl_multi_setopt(m, CURLMOPT_PIPELINING, static_cast<long>(CURLPIPE_NOTHING));
  return c;
}

HttpClient::~HttpClient() {
  CURLM* m = static_cast<CURLM*>(multi_);
  for (auto& kv : transfers_) {
    curl_multi_remove_handle(m, kv.second->easy);
    curl_easy_cleanup(kv.second->easy);
    curl_slist_free_all(kv.second->headers);
  }
  for (void* e : idle_easy_) curl_easy_cleanup(static_cast<CURL*>(e));
  if (m != nullptr) curl_multi_cleanup(m);
}

void* HttpClient::TakeEasy() {
  if (!idle_easy_.empty()) {
    void* e = idle_easy_.back();
    idle_easy_.pop_back();
    curl_easy_reset(static_cast<CURL*>(e));
    return e;
  }
  return curl_easy_init();
}

uint64_t HttpClient::Start(const HttpRequest* request) {
  auto t = std::make_unique<Transfer>();
  t->id = next_id_++;
  CURL* e = static_cast<CURL*>(TakeEasy());
  t->easy = e;
  for (const auto& h : request->headers) t->headers = curl_slist_append(t->headers, h.c_str());
  // No "Expect: 100-continue" round trip for larger bodies.
  t->headers = curl_slist_append(t->headers, "Expect:");

  curl_easy_setopt(e, CURLOPT_URL, request->url.c_str());
  curl_easy_setopt(e, CURLOPT_POST, 1L);
  curl_easy_setopt(e, CURLOPT_POSTFIELDS, request->body.data());
  curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request->body.size()));
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(e, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options_.connect_timeout_ms));
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout_ms));
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  if (!options_.ca_bundle.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, options_.ca_bundle.c_str());
  t->max_body = options_.max_response_bytes;
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Transfer::OnBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Transfer::OnHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
  // VERBOSE only routes libcurl's notes to OnDebug (nothing is printed).
  curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, &Transfer::OnDebug);
  curl_easy_setopt(e, CURLOPT_DEBUGDATA, t.get());
  curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());

  t->response.sent_unix_ns = clock_->NowUnixNanos();
  curl_multi_add_handle(static_cast<CURLM*>(multi_), e);
  ++stats_.requests;
  uint64_t id = t->id;
  transfers_.emplace(id, std::move(t));
  return id;
}

void HttpClient::Poll(int timeout_ms, std::vector<Completion>* done) {
  CURLM* m = static_cast<CURLM*>(multi_);
  int running = 0;
  curl_multi_perform(m, &running);
  Collect(done);
  if (!done->empty()) return;
  int numfds = 0;
  curl_multi_poll(m, nullptr, 0, timeout_ms < 0 ? 0 : timeout_ms, &numfds);
  curl_multi_perform(m, &running);
  Collect(done);
}

void HttpClient::Collect(std::vector<Completion>* done) {
  CURLM* m = static_cast<CURLM*>(multi_);
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(m, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    CURL* e = msg->easy_handle;
    CURLcode rc = msg->data.result;
    Transfer* t = nullptr;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
    t->response.received_unix_ns = clock_->NowUnixNanos();
    long connects = 0;
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
    stats_.connections_opened += static_cast<uint64_t>(connects);
    stats_.transparent_resends += uint64_t(t->response.resends);
    if (rc == CURLE_OK) {
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &t->response.status);
    } else {
      t->response.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
      t->response.connect_failed = rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST;
      t->response.tls_failed = rc == CURLE_PEER_FAILED_VERIFICATION ||
                               rc == CURLE_SSL_CACERT_BADFILE || rc == CURLE_SSL_CERTPROBLEM ||
                               rc == CURLE_SSL_ISSUER_ERROR || rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
      std::string why = t->too_large ? "response body larger than " +
                                           std::to_string(options_.max_response_bytes) + " bytes"
                        : t->errbuf[0] != '\0' ? t->errbuf
                                               : curl_easy_strerror(rc);
      char* url = nullptr;
      curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &url);
      t->response.transport =
          Status::Unavailable(std::string("POST ") + (url != nullptr ? url : "?") + ": " + why);
    }
    curl_multi_remove_handle(m, e);
    curl_slist_free_all(t->headers);
    t->headers = nullptr;
    idle_easy_.push_back(e);
    auto it = transfers_.find(t->id);
    done->push_back(Completion{t->id, std::move(t->response)});
    transfers_.erase(it);
  }
}

HttpResponse HttpClient::Perform(const HttpRequest& request) {
  uint64_t id = Start(&request);
  std::vector<Completion> done;
  for (;;) {
    Poll(1000, &done);
    for (auto& c : done) {
      if (c.id == id) return std::move(c.response);
    }
    done.clear();
  }
}

}  // namespace relay
}  // namespace accel
