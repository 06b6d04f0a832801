// The relay daemon's parts wired together (RelayService) against dynalite
// behind the fault proxy, which answers every request with a signature
// mismatch that quotes the request's canonical form, session token included:
//  - `status` (/status, /metrics, the offline `status` and the real
//    `phone-relay status` process) after failing uploads: rows_failed and the
//    last error counted and persisted, credential source / identity / expiry,
//    held devices; every key exactly as docs/phone-relay.md lists it;
//  - the session token and the secret key appear in no log line, no status
//    output and no byte of the database files;
//  - after a restart against the server directly, every row arrives and the
//    persisted figures are still there.
#include "phone-relay/relay_service.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/log.h"
#include "phone-relay/dynamodb_row.h"
#include "tests/relay_aws/test_util.h"
#include "tests/relay_store/test_batches.h"
#include "tests/support/local_aws.h"

namespace accel {
namespace relay {
namespace {

using accel::testing::LocalServer;
using test::MakeBatch;
using test::ScratchDir;
using test::Walk;

const char kToken[] =
    "FwoGZXIvYXdzEBYaDServiceTestSessionToken0123456789abcdefghijklmnop/+QRSTUVWXYZ==";
const char kSecret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYSERVICETEST";

// GET `path` from the metrics endpoint; the body of a 200, or "" with a failure.
std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    ADD_FAILURE() << "connect to metrics port " << port;
    return "";
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  EXPECT_EQ(write(fd, req.data(), req.size()), ssize_t(req.size()));
  std::string resp;
  char buf[4096];
  pollfd p{fd, POLLIN, 0};
  while (poll(&p, 1, 10000) == 1) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    resp.append(buf, size_t(n));
  }
  close(fd);
  size_t body = resp.find("\r\n\r\n");
  EXPECT_EQ(resp.rfind("HTTP/1.1 200", 0), 0u) << resp.substr(0, 200);
  return body == std::string::npos ? "" : resp.substr(body + 4);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The keys docs/phone-relay.md lists under "Status and metrics": key -> "both" | "daemon".
std::map<std::string, std::string> DocumentedKeys() {
  std::ifstream f(std::string(ACCEL_SOURCE_DIR) + "/docs/phone-relay.md");
  std::map<std::string, std::string> out;
  std::string line;
  bool in_section = false;
  while (std::getline(f, line)) {
    if (line.rfind("## ", 0) == 0) in_section = line == "## Status and metrics";
    if (!in_section || line.rfind("| `", 0) != 0) continue;
    size_t a = 3, b = line.find('`', a);
    size_t c = line.find('|', b) + 1, d = line.find('|', c);
    std::string where = line.substr(c, d - c);
    where.erase(std::remove(where.begin(), where.end(), ' '), where.end());
    out[line.substr(a, b - a)] = where;
  }
  return out;
}

std::set<std::string> KeysOf(const nlohmann::json& j) {
  std::set<std::string> out;
  for (auto it = j.begin(); it != j.end(); ++it) out.insert(it.key());
  return out;
}

// Two device ids whose sort-key slots collide (the smaller one keeps the slot).
std::pair<std::string, std::string> CollidingDevices() {
  std::map<uint32_t, std::string> seen;
  for (int i = 0;; ++i) {
    std::string id = "watch-" + std::to_string(i);
    auto [it, fresh] = seen.emplace(DeviceSlot(id), id);
    if (!fresh) return std::minmax(it->second, id);
  }
}

TEST(RelayServiceTest, StatusAfterFailingUploadsIsPersistedDocumentedAndFreeOfSecrets) {
  auto dynalite = LocalServer::StartDynalite();
  ASSERT_TRUE(dynalite.ok()) << dynalite.status().ToString();
  accel::testing::FaultProxyOptions po;
  po.rate = 1.0;
  po.faults = "badsig";
  auto proxy = LocalServer::StartFaultProxy((*dynalite)->endpoint(), po);
  ASSERT_TRUE(proxy.ok()) << proxy.status().ToString();
  auto admin_creds = test::FakeCredentials();
  auto admin = test::NewClient((*dynalite)->endpoint(), admin_creds.get());
  ASSERT_NE(admin, nullptr);
  ASSERT_TRUE(test::CreateAndWait(admin.get(), "svc_rows"));

  ScratchDir dir;
  RelayConfig config;
  config.state_dir = dir.File("state");
  config.listen = "tcp:127.0.0.1:0";
  config.paired_devices_dir = dir.path();
  config.table = "svc_rows";
  config.partition_id = "user-svc";
  config.endpoint_url = (*proxy)->endpoint();
  config.region = "us-east-1";
  config.metrics_listen = "127.0.0.1:0";
  config.flush_timeout_ms = 100;
  config.upload_concurrency = 2;

  std::mutex mu;
  std::string logged;
  SetMinLogLevel(LogLevel::kDebug);
  SetLogSink([&](const std::string& line) {
    std::lock_guard<std::mutex> lock(mu);
    logged += line + "\n";
  });
  auto creds = std::make_unique<StaticCredentialsProvider>(
      AwsCredentials{"AKIDSERVICETEST", kSecret, kToken, 0}, config.partition_id);
  auto service = RelayService::Start(config, std::move(creds));
  ASSERT_TRUE(service.ok()) << service.status().ToString();
  RelayService* svc = service->get();

  // Three seconds of one watch, a minute ago; and a device whose slot collides.
  const int64_t t0 = (Clock::Real()->NowUnixNanos() / 1000000000 - 60) * 1000000000;
  auto [owner, held] = CollidingDevices();
  auto samples = Walk(t0, 150, 20000000, 1);
  auto r = svc->store()->Ingest(owner, 1, MakeBatch(owner, 1, samples));
  ASSERT_TRUE(r.ok() && r->outcome == IngestOutcome::kCommitted);
  r = svc->store()->Ingest(held, 1, MakeBatch(held, 1, Walk(t0, 50, 20000000, 2)));
  ASSERT_TRUE(r.ok() && r->outcome == IngestOutcome::kCommitted);
  svc->uploader()->Wake();

  // Bounded polling: the uploader's first pass fails (bad signature, one
  // credential retry, then final) and counts the rows.
  int64_t failed = 0;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
       std::chrono::steady_clock::now() < deadline;) {
    auto st = svc->store()->GetStatus();
    ASSERT_TRUE(st.ok());
    failed = st->rows_failed;
    if (failed >= 3) break;
    poll(nullptr, 0, 20);
  }
  ASSERT_GE(failed, 3) << "no failed upload within 30 s";

  const std::string status_text = HttpGet(svc->metrics_port(), "/status");
  const std::string metrics = HttpGet(svc->metrics_port(), "/metrics");
  nlohmann::json live = nlohmann::json::parse(status_text, nullptr, false);
  ASSERT_TRUE(live.is_object()) << status_text;
  std::printf("/status after failing uploads:\n%s\n/metrics:\n%s\n", status_text.c_str(),
              metrics.c_str());

  EXPECT_GE(live["rows_failed"].get<int64_t>(), 3);
  EXPECT_EQ(live["rows_uploaded"], 0);
  EXPECT_EQ(live["pending_rows"], 4);  // 3 of the owner + 1 held
  const std::string last_error = live["last_error"];
  EXPECT_NE(last_error.find("InvalidSignatureException"), std::string::npos) << last_error;
  EXPECT_NE(last_error.find("svc_rows"), std::string::npos) << last_error;
  EXPECT_GT(live["last_error_unix_ns"].get<int64_t>(), t0);
  EXPECT_EQ(live["identity_id"], "user-svc");
  EXPECT_EQ(live["credential_source"], "static");
  EXPECT_EQ(live["credential_expiry"], "none");
  EXPECT_TRUE(live["credential_expiry_unix"].is_null());
  EXPECT_EQ(live["devices_held"], 1);
  ASSERT_EQ(live["held_devices"].size(), 1u);
  EXPECT_EQ(live["held_devices"][0]["device"], held);
  EXPECT_EQ(live["held_devices"][0]["slot_owner"], owner);
  EXPECT_NE(live["held_devices"][0]["reason"].get<std::string>().find("sort-key slot"),
            std::string::npos);

  EXPECT_NE(metrics.find("\naccel_relay_rows_failed " +
                         std::to_string(live["rows_failed"].get<int64_t>()) + "\n"),
            std::string::npos);
  EXPECT_NE(metrics.find("\naccel_relay_pending_rows 4\n"), std::string::npos);
  EXPECT_NE(metrics.find("\naccel_relay_devices_held 1\n"), std::string::npos);
  EXPECT_NE(metrics.find("\naccel_relay_refusing_full 0\n"), std::string::npos);
  EXPECT_NE(metrics.find("accel_relay_info{identity_id=\"user-svc\",table=\"svc_rows\","
                         "credential_source=\"static\"} 1\n"),
            std::string::npos);
  EXPECT_EQ(metrics.find("credential_expiry_unix"), std::string::npos);  // static: no expiry

  // Every key documented, no undocumented key, in both outputs.
  auto documented = DocumentedKeys();
  ASSERT_GT(documented.size(), 20u);
  std::set<std::string> doc_all, doc_both;
  for (const auto& [k, where] : documented) {
    EXPECT_TRUE(where == "both" || where == "daemon") << k << ": " << where;
    doc_all.insert(k);
    if (where == "both") doc_both.insert(k);
  }
  EXPECT_EQ(KeysOf(live), doc_all);

  svc->Stop();
  SetLogSink(nullptr);
  SetMinLogLevel(LogLevel::kInfo);
  auto at_stop = svc->store()->GetStatus();
  ASSERT_TRUE(at_stop.ok());
  service->reset();

  // Offline, in-process and through the real binary: the same, persisted.
  auto offline_text = OfflineStatusJson(config);
  ASSERT_TRUE(offline_text.ok()) << offline_text.status().ToString();
  nlohmann::json offline = nlohmann::json::parse(*offline_text);
  EXPECT_EQ(KeysOf(offline), doc_both);
  EXPECT_EQ(offline["rows_failed"], at_stop->rows_failed);
  EXPECT_EQ(offline["last_error"], at_stop->last_error);
  EXPECT_EQ(offline["last_error_unix_ns"], at_stop->last_error_unix_ns);
  EXPECT_EQ(offline["identity_id"], "user-svc");
  EXPECT_EQ(offline["credential_source"], "static");
  EXPECT_EQ(offline["credential_expiry"], "none");
  EXPECT_EQ(offline["devices_held"], 1);
  nlohmann::json file = {{"state_dir", config.state_dir},
                         {"listen", config.listen},
                         {"paired_devices_dir", config.paired_devices_dir},
                         {"table", config.table},
                         {"flush_timeout_ms", config.flush_timeout_ms}};
  std::ofstream(dir.File("relay.json")) << file.dump();
  std::string cmd = std::string(ACCEL_BINARY_DIR) + "/phone-relay/phone-relay status --config '" +
                    dir.File("relay.json") + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string cli;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) cli.append(buf, n);
  ASSERT_EQ(pclose(p), 0) << cli;
  EXPECT_EQ(nlohmann::json::parse(cli, nullptr, false), offline) << cli;

  // No secret anywhere: logs, status outputs, the database files.
  std::string db =
      ReadFile(config.state_dir + "/relay.db") + ReadFile(config.state_dir + "/relay.db-wal");
  ASSERT_GT(db.size(), 4096u);
  for (const std::string& secret :
       {std::string(kToken), std::string(kToken).substr(0, 20),
        std::string(kToken).substr(sizeof kToken - 21), std::string(kSecret)}) {
    EXPECT_EQ(logged.find(secret), std::string::npos) << logged;
    EXPECT_EQ(status_text.find(secret), std::string::npos);
    EXPECT_EQ(metrics.find(secret), std::string::npos);
    EXPECT_EQ(cli.find(secret), std::string::npos);
    EXPECT_EQ(db.find(secret), std::string::npos) << "in the database files";
  }
  EXPECT_NE(logged.find("refreshing credentials"), std::string::npos) << logged;

  // Restart straight at dynalite: the rows go, nothing was lost, and the
  // persisted failure count and last error are still there.
  config.endpoint_url = (*dynalite)->endpoint();
  service = RelayService::Start(
      config, std::make_unique<StaticCredentialsProvider>(
                  AwsCredentials{"AKIDSERVICETEST", kSecret, kToken, 0}, config.partition_id));
  ASSERT_TRUE(service.ok()) << service.status().ToString();
  svc = service->get();
  int64_t pending = -1;
  for (auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
       std::chrono::steady_clock::now() < deadline;) {
    auto st = svc->store()->GetStatus();
    ASSERT_TRUE(st.ok());
    pending = st->pending_rows;
    if (pending == 1) break;  // only the held device's row stays
    poll(nullptr, 0, 20);
  }
  ASSERT_EQ(pending, 1);
  auto st = svc->store()->GetStatus();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->rows_failed, at_stop->rows_failed);
  EXPECT_EQ(st->last_error, at_stop->last_error);
  EXPECT_EQ(st->rows_uploaded, 3);
  svc->Stop();
  auto q = admin->Query("svc_rows", "user-svc", t0 / 1000000000, t0 / 1000000000 + 5);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  ASSERT_EQ(q->items.size(), 3u);
  size_t total = 0;
  for (const auto& item : q->items) {
    EXPECT_EQ(item["d"]["S"], owner);
    total += std::stoul(item["n"]["N"].get<std::string>());
  }
  EXPECT_EQ(total, samples.size());
}

}  // namespace
}  // namespace relay
}  // namespace accel
