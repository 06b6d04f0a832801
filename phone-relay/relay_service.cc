#include "phone-relay/relay_service.h"

#include <time.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "common/env.h"
#include "common/log.h"
#include "link/pairing.h"
#include "phone-relay/client_caller.h"
#include "phone-relay/dynamodb_client.h"
#include "phone-relay/relay_sink.h"

namespace accel {
namespace relay {

// The link's sink: the store commits (durably, before the ack), then the
// uploader is woken so a completed second goes out without waiting for a nap.
class RelayService::WakingSink : public link::BatchSink {
 public:
  WakingSink(RelayStore* store, Uploader* uploader) : inner_(store), uploader_(uploader) {}
  link::TransferResult Commit(const std::string& device_id, uint64_t sequence,
                              std::string_view bytes) override {
    link::TransferResult r = inner_.Commit(device_id, sequence, bytes);
    if (r.outcome == link::Outcome::kCommitted) uploader_->Wake();
    return r;
  }
  std::optional<link::TransferResult> PreCheck(const std::string& device_id, uint64_t sequence,
                                               uint64_t size) override {
    return inner_.PreCheck(device_id, sequence, size);
  }

 private:
  RelaySink inner_;
  Uploader* uploader_;
};

namespace {

RelayStoreOptions StoreOptions(const RelayConfig& c) {
  RelayStoreOptions o;
  o.path = JoinPath(c.state_dir, "relay.db");
  o.size_budget_bytes = c.buffer_max_bytes;
  o.flush_timeout_ns = c.flush_timeout_ms * 1000000;
  return o;
}

CredentialState StateOf(const CredentialInfo& c) {
  return CredentialState{c.source, c.identity_id, c.expiration_unix};
}

std::string IsoUtc(int64_t unix_s) {
  time_t t = static_cast<time_t>(unix_s);
  struct tm tm;
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Every key here is documented in docs/phone-relay.md ("Status and metrics");
// a test holds the two to each other.
nlohmann::json StoreStatusJson(const StoreStatus& s) {
  nlohmann::json held = nlohmann::json::array();
  for (const HeldDevice& h : s.held_devices)
    held.push_back({{"device", h.device_id},
                    {"slot", h.slot},
                    {"slot_owner", h.slot_owner},
                    {"reason", "shares DynamoDB sort-key slot " + std::to_string(h.slot) +
                                   " with device '" + h.slot_owner +
                                   "': its rows are held in SQLite, not uploaded; give one of "
                                   "them another device id"}});
  const CredentialState& c = s.credentials;
  nlohmann::json expiry_unix = nullptr;
  std::string expiry = "unknown";
  if (c.source.empty()) {
    expiry = "not recorded yet";
  } else if (c.expiry_unix == 0) {
    expiry = "none";
  } else if (c.expiry_unix > 0) {
    expiry_unix = c.expiry_unix;
    expiry = IsoUtc(c.expiry_unix);
  }
  return {{"pending_rows", s.pending_rows},
          {"complete_rows", s.complete_rows},
          {"oldest_unsent_sample_ns", s.oldest_unsent_t_ns},
          {"bytes_buffered", s.bytes_buffered},
          {"buffer_budget_bytes", s.size_budget_bytes},
          {"refusing_full", s.refusing_full},
          {"batches_committed", s.batches_committed},
          {"batches_duplicate", s.batches_duplicate},
          {"rows_uploaded", s.rows_uploaded},
          {"rows_failed", s.rows_failed},
          {"quarantined_batches", s.quarantined_batches},
          {"quarantined_rows", s.quarantined_rows},
          {"devices_held", s.held_devices.size()},
          {"held_devices", held},
          {"last_error", s.last_error},
          {"last_error_unix_ns",
           s.last_error.empty() ? nlohmann::json(nullptr) : nlohmann::json(s.last_error_unix_ns)},
          {"credential_source", c.source.empty() ? "not recorded yet" : c.source},
          {"identity_id",
           c.identity_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.identity_id)},
          {"credential_expiry", expiry},
          {"credential_expiry_unix", expiry_unix}};
}

// A Prometheus label value: backslash, quote and newline escaped.
std::string LabelValue(const std::string& v) {
  std::string out;
  for (char ch : v) {
    if (ch == '\\' || ch == '"') out += '\\';
    if (ch == '\n') {
      out += "\\n";
      continue;
    }
    out += ch;
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<RelayService>> RelayService::Start(
    const RelayConfig& config, std::unique_ptr<CredentialsProvider> creds) {
  std::unique_ptr<RelayService> s(new RelayService());
  s->config_ = config;
  s->creds_ = std::move(creds);
  Env* env = Env::Default();
  ACCEL_RETURN_IF_ERROR(env->CreateDirs(config.state_dir, 0700));
  ACCEL_RETURN_IF_ERROR(env->CreateDirs(JoinPath(config.state_dir, "spool"), 0700));
  auto store = RelayStore::Open(StoreOptions(config));
  if (!store.ok()) return store.status();
  s->store_ = std::move(store.value());
  s->store_->NoteCredentials(StateOf(s->creds_->Describe()));

  DynamoDbClientOptions co;
  co.endpoint.endpoint_url = config.endpoint_url;
  co.endpoint.region = config.region;
  co.endpoint.ca_bundle = config.ca_bundle;
  std::vector<std::unique_ptr<DynamoDbCaller>> callers;
  for (int i = 0; i < config.upload_concurrency; ++i) {
    auto client = DynamoDbClient::Create(co, s->creds_.get());
    if (!client.ok()) return client.status();
    if (i == 0) {
      DynamoDbClient* c = client->get();
      LogInfo("uploading to table " + config.table + " at " + c->endpoint().url + " (" +
              c->endpoint().region + ") as identity " + s->creds_->identity_id());
      if (config.create_table) {
        Status cs = c->CreateTable(config.table);
        if (cs.ok()) cs = c->WaitUntilActive(config.table, 30000);
        if (!cs.ok()) LogWarn("create_table: " + cs.ToString());
      } else {
        auto st = c->DescribeTableStatus(config.table);
        // Not fatal: the data is safe in SQLite and uploads retry, but say it loudly.
        if (!st.ok()) LogError("table " + config.table + ": " + st.status().ToString());
      }
    }
    callers.emplace_back(new ClientCaller(std::move(client.value())));
  }
  UploaderOptions uo;
  uo.table = config.table;
  CredentialsProvider* cp = s->creds_.get();
  RelayStore* sp = s->store_.get();
  // Asked once per pass; what it returns is also what `status` shows.
  uo.identity_id = [cp, sp] {
    CredentialInfo info = cp->Describe();
    sp->NoteCredentials(StateOf(info));
    return info.identity_id;
  };
  s->uploader_.reset(new Uploader(s->store_.get(), std::move(callers), uo));
  s->sink_.reset(new WakingSink(s->store_.get(), s->uploader_.get()));
  Uploader* up = s->uploader_.get();
  s->upload_thread_ = std::thread([up] { up->Run(); });

  link::ServerOptions so;
  so.endpoint = config.listen;
  so.spool_dir = JoinPath(config.state_dir, "spool");
  so.psk_for_device = link::PskDirectory(config.paired_devices_dir);
  so.io_timeout_ms = config.io_timeout_ms;
  so.heartbeat_ms = config.heartbeat_ms;
  so.idle_timeout_ms = config.idle_timeout_ms;
  auto server = link::Server::Start(so, s->sink_.get());
  if (!server.ok()) {
    s->Stop();
    return server.status();
  }
  s->server_ = std::move(server.value());
  LogInfo("listening on " + s->server_->endpoint() + " for paired devices in " +
          config.paired_devices_dir);

  if (!config.metrics_listen.empty()) {
    size_t colon = config.metrics_listen.rfind(':');
    std::string host = config.metrics_listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    int port = std::atoi(config.metrics_listen.c_str() + colon + 1);
    RelayService* self = s.get();
    Status ms = s->metrics_.Start(
        host, port, [self] { return self->PrometheusText(); },
        [self] { return self->StatusJson(); });
    if (!ms.ok()) {
      s->Stop();
      return ms;
    }
    LogInfo("metrics on http://" + config.metrics_listen.substr(0, colon) + ":" +
            std::to_string(s->metrics_.port()) + "/metrics");
  }
  return s;
}

RelayService::~RelayService() { Stop(); }

void RelayService::Stop() {
  if (server_) server_->Stop();  // no new batches; running commits finish first
  if (uploader_) uploader_->Stop();
  if (upload_thread_.joinable()) upload_thread_.join();
  metrics_.Stop();
}

std::string RelayService::StatusJson() {
  nlohmann::json j;
  // The provider's view now (cheap, no refresh), recorded for the offline status.
  store_->NoteCredentials(StateOf(creds_->Describe()));
  auto st = store_->GetStatus();
  if (st.ok()) {
    j = StoreStatusJson(*st);
    j["leased_rows"] = st->leased_rows;
  } else {
    j["store_error"] = st.status().ToString();
  }
  UploadStats u = uploader_->totals();
  j["upload_requests"] = u.requests;
  j["rows_acked"] = u.rows_acked;
  j["rows_unprocessed"] = u.rows_unprocessed;
  j["rows_quarantined_now"] = u.rows_quarantined;
  j["merges"] = u.merges;
  j["last_upload_error"] = u.last_error;
  if (server_) {
    link::Server::Stats ls = server_->stats();
    j["link_connections"] = ls.connections;
    j["link_refused_over_limit"] = ls.refused_over_limit;
    j["link_handshake_failures"] = ls.handshake_failures;
    j["link_protocol_errors"] = ls.protocol_errors;
    j["link_batches_acked"] = ls.batches_acked;
  }
  return j.dump(2) + "\n";
}

std::string RelayService::PrometheusText() {
  nlohmann::json j = nlohmann::json::parse(StatusJson());
  std::string out;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it->is_number() && !it->is_boolean()) continue;
    std::string name = "accel_relay_" + it.key();
    double v = it->is_boolean() ? (it->get<bool>() ? 1 : 0) : it->get<double>();
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", v);
    out += "# TYPE " + name + " gauge\n" + name + " " + buf + "\n";
  }
  std::string identity = j.contains("identity_id") && j["identity_id"].is_string()
                             ? j["identity_id"].get<std::string>()
                             : "";
  out += "# TYPE accel_relay_info gauge\naccel_relay_info{identity_id=\"" + LabelValue(identity) +
         "\",table=\"" + LabelValue(config_.table) + "\",credential_source=\"" +
         LabelValue(j.value("credential_source", std::string())) + "\"} 1\n";
  return out;
}

Result<std::string> OfflineStatusJson(const RelayConfig& config) {
  auto store = RelayStore::Open(StoreOptions(config));
  if (!store.ok()) return store.status();
  auto st = (*store)->GetStatus();
  if (!st.ok()) return st.status();
  return StoreStatusJson(*st).dump(2) + "\n";
}

}  // namespace relay
}  // namespace accel
