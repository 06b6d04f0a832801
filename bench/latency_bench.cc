// latency_bench: end-to-end latency of the live pipeline. A real watch-agent
// process records from the synthetic source at 50 Hz in real time (default
// settings: batches close after 1 s) for SECONDS, then drains and exits; a
// real phone-relay process uploads to a local DynamoDB (default settings:
// flush timeout 2 s). The bench waits until the relay's status says nothing
// is pending (bounded), then reads every row back from DynamoDB: each sample's
// latency is (DynamoDB acknowledged its row, from the relay's `uploaded`
// record) - (the sample's own timestamp, as stored). Samples the source
// produced that never got a row are counted and reported.
//
//   latency_bench [SECONDS=120]
// Uses AWS_ENDPOINT_URL if set, else starts dynalite (tests/fixtures) itself.
// Exit 0 when every sample got exactly one row, 1 otherwise.
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/env.h"
#include "tests/support/subprocess.h"
#include "tools/row_reader.h"
#include "tools/tool_common.h"

using accel::testing::Subprocess;

namespace {

constexpr int kRateHz = 50;
constexpr int64_t kPeriodNs = 1000000000 / kRateHz;
const char kDevice[] = "live-watch";
const char kPartition[] = "us-east-1:latency-bench";
const char kTable[] = "latency";

double NowS() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// `phone-relay status --config` (reads the relay's database; works while it runs).
bool RelayStatus(const std::string& config, nlohmann::json* out) {
  std::string cmd = std::string(PHONE_RELAY_BIN) + " status --config '" + config + "' 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return false;
  std::string text;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) text.append(buf, n);
  if (pclose(p) != 0) return false;
  *out = nlohmann::json::parse(text, nullptr, false);
  return !out->is_discarded() && out->contains("pending_rows");
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = argc > 1 ? std::atoi(argv[1]) : 120;
  if (seconds <= 0) {
    std::fprintf(stderr, "usage: latency_bench [SECONDS=120]\n");
    return 2;
  }
  char tmpl[] = "/tmp/accel_latency.XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  std::string dir = tmpl;
  accel::Env* env = accel::Env::Default();
  Subprocess dynalite;
  if (getenv("AWS_ENDPOINT_URL") == nullptr) {
    if (!dynalite
             .Start({"/usr/bin/env", "node",
                     std::string(ACCEL_SOURCE_DIR) + "/tests/fixtures/dynalite_server.js"})
             .ok())
      return 1;
    std::string line;
    if (!dynalite.ReadLine(&line, 20000).ok() || line.rfind("READY ", 0) != 0) {
      std::fprintf(stderr, "latency_bench: dynalite did not start\n");
      return 1;
    }
    setenv("AWS_ENDPOINT_URL", line.substr(6).c_str(), 1);
    setenv("AWS_ACCESS_KEY_ID", "AKIDLOCALBENCH", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "local-bench-secret", 1);
  }
  if (getenv("AWS_REGION") == nullptr) setenv("AWS_REGION", "us-east-1", 1);
  env->CreateDirs(dir + "/keys", 0700);
  if (std::system(
          (std::string(WATCH_AGENT_BIN) + " pair --secret-file " + dir + "/agent.key >/dev/null")
              .c_str()) != 0)
    return 1;
  std::string key;
  env->ReadFile(dir + "/agent.key", &key);
  accel::WriteFileAtomically(env, dir + "/keys/" + kDevice + ".key", key, 0600);
  const std::string relay_config = dir + "/relay.json";
  nlohmann::json rc = {{"state_dir", dir + "/relay"},
                       {"listen", "unix:" + dir + "/relay.sock"},
                       {"paired_devices_dir", dir + "/keys"},
                       {"table", kTable},
                       {"partition_id", kPartition},
                       {"create_table", true},
                       {"log_level", "warn"}};
  accel::WriteFileAtomically(env, relay_config, rc.dump());
  Subprocess relay;
  relay.Start({PHONE_RELAY_BIN, "--config", relay_config}, dir + "/relay.log");
  std::string line;
  if (!relay.ReadLine(&line, 30000).ok()) {
    std::fprintf(stderr, "latency_bench: relay did not start (see %s/relay.log)\n", dir.c_str());
    return 1;
  }
  // The source stops after SECONDS of samples; the agent then sends what is
  // left and exits (exit_when_drained), so no sample stays in its outbox.
  const int64_t start_ms = accel::Clock::Real()->NowUnixNanos() / 1000000;
  const uint64_t produced = static_cast<uint64_t>(seconds) * kRateHz;
  nlohmann::json ac = {{"device_id", kDevice},
                       {"state_dir", dir + "/agent"},
                       {"relay", "unix:" + dir + "/relay.sock"},
                       {"pairing_secret_file", dir + "/agent.key"},
                       {"log_level", "warn"},
                       {"exit_when_drained", true},
                       {"source",
                        {{"type", "synthetic"},
                         {"seed", 3},
                         {"rate_hz", kRateHz},
                         {"start_unix_ms", start_ms},
                         {"max_samples", produced}}}};
  accel::WriteFileAtomically(env, dir + "/agent.json", ac.dump());
  Subprocess agent;
  agent.Start({WATCH_AGENT_BIN, "--config", dir + "/agent.json"}, dir + "/agent.log");
  int code = -1;
  std::string notes;
  if (!agent.WaitFor((seconds + 120) * int64_t{1000}, &code)) {
    notes += "  the agent had not drained 120 s after the source ended: stopped it\n";
    agent.Signal(SIGTERM);
    code = agent.Wait();
  }
  // Drain: poll the relay's status until no row is pending (the last seconds
  // go out after the flush timeout), with a deadline.
  const double drain_start = NowS();
  nlohmann::json st;
  bool drained = false;
  while (NowS() - drain_start < 60) {
    if (RelayStatus(relay_config, &st) && st["pending_rows"].get<int64_t>() == 0) {
      drained = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // bounded polling
  }
  const double drain_s = NowS() - drain_start;
  if (!drained)
    notes +=
        "  rows still pending after 60 s: " + (st.is_object() ? st.dump() : "no status") + "\n";
  relay.Signal(SIGTERM);
  relay.Wait();

  // When DynamoDB acknowledged each second's row (the relay's upload record).
  std::map<int64_t, int64_t> acked_ns;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2((dir + "/relay/relay.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) !=
      SQLITE_OK)
    return 1;
  sqlite3_stmt* q = nullptr;
  sqlite3_prepare_v2(db, "SELECT second, uploaded_ns FROM uploaded WHERE device=?1", -1, &q,
                     nullptr);
  sqlite3_bind_text(q, 1, kDevice, -1, SQLITE_STATIC);
  while (sqlite3_step(q) == SQLITE_ROW)
    acked_ns[sqlite3_column_int64(q, 0)] = sqlite3_column_int64(q, 1);
  sqlite3_finalize(q);
  sqlite3_close(db);

  // Every sample as stored, read back from DynamoDB: its real timestamp.
  auto aws = accel::tools::MakeAwsSetup(kPartition);
  if (!aws.ok()) {
    std::fprintf(stderr, "latency_bench: %s\n", aws.status().ToString().c_str());
    return 1;
  }
  std::vector<accel::tools::RowSamples> rows;
  const int64_t start_ns = start_ms * 1000000;
  accel::Status rs = accel::tools::ReadRows(
      aws->client.get(), kTable, kPartition, start_ms / 1000,
      (start_ns + static_cast<int64_t>(produced) * kPeriodNs) / 1000000000 + 2, kDevice, &rows);
  if (!rs.ok()) {
    std::fprintf(stderr, "latency_bench: read back: %s\n", rs.ToString().c_str());
    return 1;
  }
  std::vector<double> lat_ms;
  std::set<int64_t> seen;
  uint64_t duplicates = 0, unexpected = 0, no_record = 0;
  for (const auto& r : rows) {
    auto a = acked_ns.find(r.second);
    for (const accel::QSample& s : r.samples) {
      int64_t k = (s.t_ns - start_ns) / kPeriodNs;  // sample k+1 of the source
      if (s.t_ns < start_ns || (s.t_ns - start_ns) % kPeriodNs != 0 ||
          k >= static_cast<int64_t>(produced)) {
        ++unexpected;
        continue;
      }
      if (!seen.insert(s.t_ns).second) {
        ++duplicates;
        continue;
      }
      if (a == acked_ns.end()) {
        ++no_record;
        continue;
      }
      lat_ms.push_back((a->second - s.t_ns) / 1e6);
    }
  }
  const uint64_t missing = produced - seen.size();
  std::sort(lat_ms.begin(), lat_ms.end());
  auto pct = [&](double p) {
    return lat_ms.empty()
               ? -1
               : lat_ms[std::min(lat_ms.size() - 1, static_cast<size_t>(p * lat_ms.size()))];
  };
  std::printf(
      "live pipeline, synthetic 50 Hz for %d s, default settings (batch <= 1 s, flush 2 s)\n",
      seconds);
  std::printf("  agent exit %d; relay drained %.1f s after the agent exited\n", code, drain_s);
  std::printf(
      "  samples produced %llu, with a row %zu, never got a row %llu, duplicate %llu, "
      "unexpected %llu, row without upload record %llu\n",
      static_cast<unsigned long long>(produced), seen.size(),
      static_cast<unsigned long long>(missing), static_cast<unsigned long long>(duplicates),
      static_cast<unsigned long long>(unexpected), static_cast<unsigned long long>(no_record));
  std::printf(
      "  end-to-end latency (sample time -> DynamoDB ack): p50 %.0f ms, p90 %.0f ms, "
      "p99 %.0f ms, max %.0f ms (goal p99 <= 3000 ms)\n",
      pct(0.5), pct(0.9), pct(0.99), lat_ms.empty() ? -1 : lat_ms.back());
  if (!notes.empty()) std::printf("%s", notes.c_str());
  bool exact = missing == 0 && duplicates == 0 && unexpected == 0 && no_record == 0;
  if (exact)
    accel::tools::RemoveTree(dir);
  else
    std::printf("  state kept in %s\n", dir.c_str());
  return exact ? 0 : 1;
}
