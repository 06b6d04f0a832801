// latency_bench: end-to-end latency of the live pipeline. A real watch-agent
// process records from the synthetic source at 50 Hz in real time (default
// settings: batches close after 1 s), a real phone-relay process uploads to a
// local DynamoDB; afterwards the relay's database says when DynamoDB
// acknowledged each second's row, and every sample's latency is
// (row acknowledged) - (sample time). Prints p50 / p90 / p99 / max.
//
//   latency_bench [SECONDS=120]
// Uses AWS_ENDPOINT_URL if set, else starts dynalite (tests/fixtures) itself.
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/env.h"
#include "tests/support/subprocess.h"

using accel::testing::Subprocess;

int main(int argc, char** argv) {
  int seconds = argc > 1 ? std::atoi(argv[1]) : 120;
  char tmpl[] = "/tmp/accel_latency.XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  std::string dir = tmpl;
  accel::Env* env = accel::Env::Default();
  Subprocess dynalite;
  if (getenv("AWS_ENDPOINT_URL") == nullptr) {
    if (!dynalite.Start({"/usr/bin/env", "node", std::string(ACCEL_SOURCE_DIR) +
                                                     "/tests/fixtures/dynalite_server.js"}).ok())
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
  if (std::system((std::string(WATCH_AGENT_BIN) + " pair --secret-file " + dir +
                   "/agent.key >/dev/null").c_str()) != 0)
    return 1;
  std::string key;
  env->ReadFile(dir + "/agent.key", &key);
  accel::WriteFileAtomically(env, dir + "/keys/live-watch.key", key, 0600);
  std::string relay_cfg = R"({"state_dir":")" + dir + R"(/relay","listen":"unix:)" + dir +
                          R"(/relay.sock","paired_devices_dir":")" + dir +
                          R"(/keys","table":"latency","partition_id":"us-east-1:latency-bench",)"
                          R"("create_table":true,"log_level":"warn"})";
  accel::WriteFileAtomically(env, dir + "/relay.json", relay_cfg);
  Subprocess relay;
  relay.Start({PHONE_RELAY_BIN, "--config", dir + "/relay.json"}, dir + "/relay.log");
  std::string line;
  if (!relay.ReadLine(&line, 30000).ok()) {
    std::fprintf(stderr, "latency_bench: relay did not start (see %s/relay.log)\n", dir.c_str());
    return 1;
  }
  int64_t start_ms = accel::Clock::Real()->NowUnixNanos() / 1000000;
  std::string agent_cfg = R"({"device_id":"live-watch","state_dir":")" + dir +
                          R"(/agent","relay":"unix:)" + dir + R"(/relay.sock",)"
                          R"("pairing_secret_file":")" + dir + R"(/agent.key","log_level":"warn",)"
                          R"("source":{"type":"synthetic","seed":3,"rate_hz":50,"start_unix_ms":)" +
                          std::to_string(start_ms) + "}}";
  accel::WriteFileAtomically(env, dir + "/agent.json", agent_cfg);
  Subprocess agent;
  agent.Start({WATCH_AGENT_BIN, "--config", dir + "/agent.json"}, dir + "/agent.log");
  timespec ts{seconds, 0};
  nanosleep(&ts, nullptr);  // the live run itself
  agent.Signal(SIGTERM);
  int code = agent.Wait();
  // Let the relay finish the last rows (they complete by flush timeout), then stop it.
  timespec drain{4, 0};
  nanosleep(&drain, nullptr);
  relay.Signal(SIGTERM);
  relay.Wait();

  sqlite3* db = nullptr;
  if (sqlite3_open_v2((dir + "/relay/relay.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK)
    return 1;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT second, uploaded_ns FROM uploaded WHERE device='live-watch'", -1,
                     &st, nullptr);
  std::vector<double> lat_ms;
  const int64_t start_ns = start_ms * 1000000, period = 20000000;
  while (sqlite3_step(st) == SQLITE_ROW) {
    int64_t second = sqlite3_column_int64(st, 0), acked = sqlite3_column_int64(st, 1);
    // The synthetic samples of this second: start + k * 20 ms within [S, S+1).
    int64_t k0 = std::max<int64_t>(0, (second * 1000000000 - start_ns + period - 1) / period);
    for (int64_t k = k0; start_ns + k * period < (second + 1) * 1000000000; ++k)
      lat_ms.push_back((acked - (start_ns + k * period)) / 1e6);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  std::sort(lat_ms.begin(), lat_ms.end());
  auto pct = [&](double p) {
    return lat_ms.empty() ? -1 : lat_ms[std::min(lat_ms.size() - 1, static_cast<size_t>(p * lat_ms.size()))];
  };
  std::printf("live pipeline, synthetic 50 Hz for %d s, default settings (batch <= 1 s, flush 2 s)\n",
              seconds);
  std::printf("  agent exit %d, samples with an acknowledged row: %zu\n", code, lat_ms.size());
  std::printf("  end-to-end latency (sample time -> DynamoDB ack): p50 %.0f ms, p90 %.0f ms, "
              "p99 %.0f ms, max %.0f ms (goal p99 <= 3000 ms)\n",
              pct(0.5), pct(0.9), pct(0.99), lat_ms.empty() ? -1 : lat_ms.back());
  std::system(("rm -rf " + dir).c_str());
  return 0;
}
