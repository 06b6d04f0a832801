// sensor-replay: pushes captured recordings through the real pipeline — the
// agent's encoder and outbox, the link, the relay's SQLite buffer, row builder
// and uploader — into DynamoDB, and optionally reads every row back.
//
//   sensor-replay [options] FILE...          (CSV t_ns,x_g,y_g,z_g or batch files)
//     --table NAME          DynamoDB table (default accel)
//     --create-table        create it if missing (development)
//     --partition-id ID     the rows' partition key in static-credential mode
//     --device-id ID        default: replay-<FNV-1a-64 of the sample timestamps>
//     --resolution G        storage step in g (default 1/16384)
//     --pace X              0 = as fast as possible (default), 1 = real time, 10 = 10x
//     --relay ADDR          send into a running relay instead of starting one
//     --secret-file F       the pairing secret for --relay
//     --verify              read the rows back and compare sample for sample
//     --verify-wait S       with --relay: wait up to S seconds for the rows (default 60)
//     --json                last line: one JSON object with the figures
//
// By default the relay runs in this process on a temporary state directory
// ($TMPDIR or /tmp), removed on every exit. docs/tools.md is the reference.
//
// Idempotence (invariant 4): a replay of the same input builds the same
// batches — cut by count only, numbered from the first sample's time, under a
// device id derived from the timestamps (tools/tool_common.h). A relay that
// already holds them answers "duplicate"; a fresh relay writes identical items.
//
// Exit codes: 0 ok (and verified when asked), 1 runtime failure or a
// difference, 2 usage or configuration error.
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "common/env.h"
#include "common/log.h"
#include "link/pairing.h"
#include "phone-relay/relay_service.h"
#include "tools/row_reader.h"
#include "tools/tool_common.h"
#include "watch-agent/agent.h"
#include "watch-agent/agent_state.h"
#include "watch-agent/file_recorder.h"

namespace {

using accel::Status;
using accel::tools::kExitOk;
using accel::tools::kExitRuntime;
using accel::tools::kExitUsage;

constexpr double kStallSeconds = 60;  // no progress this long: say why and stop
std::atomic<int> g_signal{0};

void OnSignal(int sig) { g_signal = sig; }

int Usage(const std::string& msg) {
  std::fprintf(stderr, "sensor-replay: %s\n", msg.c_str());
  std::fprintf(stderr,
               "usage: sensor-replay [--table NAME] [--create-table] [--partition-id ID] "
               "[--device-id ID] [--resolution G] [--pace X] [--relay ADDR --secret-file F] "
               "[--verify [--verify-wait S]] [--json] FILE...\n");
  return kExitUsage;
}

int Fail(const std::string& msg, int code = kExitRuntime) {
  std::fprintf(stderr, "sensor-replay: %s\n", msg.c_str());
  return code;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Everything a run starts, torn down in order (agent, relay, then the
// temporary directory with the pairing key and the relay's database) on
// every way out of main.
struct Session {
  std::string dir;
  std::unique_ptr<accel::relay::RelayService> relay;
  std::unique_ptr<accel::FileRecorder> recorder;
  std::unique_ptr<accel::Agent> agent;
  std::thread agent_thread;
  std::atomic<bool> agent_done{false};
  Status agent_status;

  ~Session() {
    if (agent) agent->Stop();
    if (agent_thread.joinable()) agent_thread.join();
    if (relay) relay->Stop();
    agent.reset();
    relay.reset();
    accel::tools::RemoveTree(dir);
  }
};

struct Progress {
  bool tty = isatty(2);
  double t0 = Now(), last_plain = -1e9;
  size_t total = 0;

  void Show(const accel::AgentStats& as, int64_t rows, bool final) {
    double el = Now() - t0;
    double rate = el > 0 ? as.samples_batched / el : 0;
    double eta = rate > 0 ? (total - as.samples_batched) / rate : 0;
    char line[256];
    std::string rows_text = rows >= 0 ? std::to_string(rows) + " rows" : "rows n/a";
    std::snprintf(
        line, sizeof line,
        "%7llu/%zu samples  %4llu batches acked  %s  %7.3f MiB  %8.0f samples/s  ETA %4.0f s",
        static_cast<unsigned long long>(as.samples_batched), total,
        static_cast<unsigned long long>(as.batches_acked), rows_text.c_str(),
        as.bytes_sent / 1048576.0, rate, eta);
    if (tty) {
      double frac = total ? static_cast<double>(as.samples_batched) / total : 1;
      int filled = static_cast<int>(std::lround(30 * std::min(1.0, frac)));
      std::fprintf(stderr, "\r[%s%s] %s%s", std::string(filled, '#').c_str(),
                   std::string(30 - filled, '.').c_str(), line, final ? "\n" : "");
    } else if (final || el - last_plain >= 2) {
      std::fprintf(stderr, "progress: %s\n", line);
      last_plain = el;
    }
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> opt;
  std::vector<std::string> files;
  bool verify = false, json = false, create_table = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--verify") {
      verify = true;
    } else if (a == "--json") {
      json = true;
    } else if (a == "--create-table") {
      create_table = true;
    } else if (a == "--help" || a == "-h") {
      Usage("replays captured recordings through the pipeline (docs/tools.md)");
      return kExitOk;
    } else if (a == "--table" || a == "--partition-id" || a == "--device-id" ||
               a == "--resolution" || a == "--pace" || a == "--relay" || a == "--secret-file" ||
               a == "--verify-wait") {
      if (i + 1 >= argc) return Usage(a + " needs a value");
      opt[a.substr(2)] = argv[++i];
    } else if (a.rfind("--", 0) == 0) {
      return Usage("unknown option '" + a + "'");
    } else {
      files.push_back(a);
    }
  }
  if (files.empty()) return Usage("no input files");
  if (opt.count("relay") != opt.count("secret-file"))
    return Usage("--relay and --secret-file go together");
  std::string table = opt.count("table") ? opt["table"] : "accel";
  if (table.empty()) return Usage("--table must not be empty");
  auto res = accel::Resolution::Parse(opt.count("resolution") ? opt["resolution"] : "1/16384");
  if (!res.ok()) return Usage(res.status().message());
  double pace = 0;
  if (opt.count("pace")) {
    char* end = nullptr;
    pace = std::strtod(opt["pace"].c_str(), &end);
    if (opt["pace"].empty() || *end != '\0' || !std::isfinite(pace) || pace < 0)
      return Usage("--pace takes a number >= 0 (0 = as fast as possible), not '" + opt["pace"] +
                   "'");
  }
  double verify_wait = 60;
  if (opt.count("verify-wait")) {
    char* end = nullptr;
    verify_wait = std::strtod(opt["verify-wait"].c_str(), &end);
    if (opt["verify-wait"].empty() || *end != '\0' || !std::isfinite(verify_wait) ||
        verify_wait < 0)
      return Usage("--verify-wait takes a number of seconds >= 0, not '" + opt["verify-wait"] +
                   "'");
  }
  accel::SetLogComponent("sensor-replay");
  accel::SetMinLogLevel(accel::LogLevel::kWarn);

  // The source, loaded once: it drives the agent and is the reference for --verify.
  std::vector<accel::Sample> source;
  for (const std::string& f : files) {
    Status s = accel::FileRecorder::LoadFile(f, &source);
    if (!s.ok()) return Fail(s.ToString());
  }
  if (source.empty()) return Fail("the input files hold no samples");
  std::vector<accel::QSample> qsource(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    Status s = res->Quantise(source[i], &qsource[i]);
    if (!s.ok()) return Fail("sample " + std::to_string(i + 1) + ": " + s.message());
  }
  int64_t t_min = qsource[0].t_ns, t_max = qsource[0].t_ns;
  for (const auto& q : qsource) {
    t_min = std::min(t_min, q.t_ns);
    t_max = std::max(t_max, q.t_ns);
  }
  const std::string device =
      opt["device-id"].empty() ? accel::tools::DefaultReplayDeviceId(source) : opt["device-id"];
  const uint64_t first_seq = accel::tools::ReplayFirstSequence(source);

  std::string partition = opt["partition-id"];
  auto aws = accel::tools::MakeAwsSetup(partition);
  if (!aws.ok()) return Fail(aws.status().ToString(), kExitUsage);  // configuration
  partition = aws->creds->identity_id();
  {
    // Preflight: an unreachable endpoint or a missing table is said now, in one
    // line, rather than after the data went into the relay's buffer. The tool
    // creates the table itself, so --create-table works with --relay too.
    auto st = aws->client->DescribeTableStatus(table);
    if (!st.ok() && create_table && st.status().IsNotFound()) {
      Status cs = aws->client->CreateTable(table);
      if (cs.ok()) cs = aws->client->WaitUntilActive(table, 30000);
      if (!cs.ok())
        return Fail("create table " + table + " at " + aws->client->endpoint().url + ": " +
                    cs.ToString());
      std::fprintf(stderr, "sensor-replay: created table %s\n", table.c_str());
    } else if (!st.ok()) {
      // A name DynamoDB cannot take is a usage error; the rest is the service's answer.
      return Fail("table " + table + " at " + aws->client->endpoint().url + ": " +
                      st.status().ToString() +
                      (st.status().IsNotFound() ? " (--create-table creates it)" : ""),
                  st.status().IsInvalidArgument() ? kExitUsage : kExitRuntime);
    }
  }

  Session ss;
  {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/sensor-replay.XXXXXX";
    if (!mkdtemp(&tmpl[0])) return Fail("cannot create a temporary directory in " + tmpl);
    ss.dir = tmpl;
  }
  struct sigaction sa {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  accel::Env* env = accel::Env::Default();
  std::string endpoint = opt["relay"], psk;
  if (endpoint.empty()) {
    Status s = env->CreateDirs(ss.dir + "/keys", 0700);
    if (!s.ok()) return Fail(s.ToString());
    auto secret = accel::link::CreatePairingSecret(ss.dir + "/keys/" + device + ".key");
    if (!secret.ok()) return Fail(secret.status().ToString());
    psk = *secret;
    accel::relay::RelayConfig rc;
    rc.state_dir = ss.dir + "/relay";
    rc.listen = "unix:" + ss.dir + "/relay.sock";
    rc.paired_devices_dir = ss.dir + "/keys";
    rc.table = table;
    rc.partition_id = partition;
    // A second is uploaded once a later sample arrived; the last ones are
    // drained explicitly below. No flush by timeout, so a slow moment between
    // two batches never uploads half a second (the item would then be written
    // twice, v=2): the items do not depend on timing.
    rc.flush_timeout_ms = int64_t{24} * 3600 * 1000;
    rc.log_level = accel::LogLevel::kWarn;
    auto creds = accel::relay::StaticCredentialsProvider::FromEnvironment(partition);
    if (!creds.ok()) return Fail(creds.status().ToString(), kExitUsage);
    auto r = accel::relay::RelayService::Start(rc, std::move(creds.value()));
    if (!r.ok()) return Fail("relay: " + r.status().ToString());
    ss.relay = std::move(r.value());
    endpoint = ss.relay->link_endpoint();
  } else {
    auto secret = accel::link::LoadPairingSecret(opt["secret-file"]);
    if (!secret.ok()) return Fail(secret.status().ToString(), kExitUsage);
    psk = *secret;
  }

  accel::FileRecorderOptions fo;
  fo.paths = files;
  fo.pace = pace;
  auto recorder = accel::FileRecorder::Open(fo, accel::Clock::Real());
  if (!recorder.ok()) return Fail(recorder.status().ToString());
  ss.recorder = std::move(recorder.value());
  accel::AgentOptions ao;
  ao.device_id = device;
  ao.state_dir = ss.dir + "/agent";
  ao.relay_endpoint = endpoint;
  ao.psk = psk;
  ao.resolution = *res;
  // Cuts by count only: never by age, so pacing and machine load do not move them.
  ao.batch_max_samples = accel::tools::kReplayBatchSamples;
  ao.batch_max_age_ms = int64_t{24} * 3600 * 1000;
  ao.poll_interval_ms = 20;
  ao.backoff_max_ms = 2000;
  ao.exit_when_drained = true;
  {
    // The agent numbers batches from its state's next_sequence: start it at
    // the data-derived first sequence instead of the clock.
    accel::AgentState st;
    st.next_sequence = first_seq;
    Status s = env->CreateDirs(ao.state_dir, 0700);
    if (s.ok()) s = st.Save(env, accel::JoinPath(ao.state_dir, "state.json"));
    if (!s.ok()) return Fail(s.ToString());
  }
  ss.agent.reset(new accel::Agent(ao, ss.recorder.get(), env, accel::Clock::Real()));
  Status s = ss.agent->Recover();
  if (!s.ok()) return Fail(s.ToString());

  Progress progress;
  progress.total = source.size();
  ss.agent_thread = std::thread([&ss] {
    ss.agent_status = ss.agent->Run();
    ss.agent_done = true;
  });
  auto rows_uploaded = [&]() -> int64_t {
    if (!ss.relay) return -1;
    auto st = ss.relay->store()->GetStatus();
    return st.ok() ? st->rows_uploaded : -1;
  };
  auto relay_error = [&]() -> std::string {
    if (!ss.relay) return "";
    auto st = ss.relay->store()->GetStatus();
    return st.ok() && !st->last_error.empty() ? "; relay: " + st->last_error : "";
  };
  // 1) Until the agent has every batch acknowledged (the relay uploads
  // completed seconds meanwhile).
  double last_change = Now();
  uint64_t last_seen = 0;
  for (;;) {
    accel::AgentStats as = ss.agent->stats();
    bool done = ss.agent_done;
    progress.Show(as, rows_uploaded(), false);
    if (done) break;
    if (g_signal)
      return Fail("interrupted; nothing is half-written: rerun the same replay to finish");
    uint64_t seen = as.samples_batched + as.batches_acked + as.batches_rejected;
    if (seen != last_seen) {
      last_seen = seen;
      last_change = Now();
    } else if (Now() - last_change > kStallSeconds) {
      return Fail("no progress for 60 s (relay at " + endpoint + " not answering?)" +
                  relay_error() + "; rerun to retry");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // progress refresh period
  }
  ss.agent_thread.join();
  if (!ss.agent_status.ok()) return Fail("agent: " + ss.agent_status.ToString());
  accel::AgentStats as = ss.agent->stats();
  if (as.batches_rejected > 0)
    return Fail("the relay rejected " + std::to_string(as.batches_rejected) +
                " batch(es) (see the lines above; e.g. this device's sequence numbers were used "
                "before for other data: another --resolution, or another recording under this "
                "--device-id)");
  // 2) In-process relay: stop taking batches, then upload what is left,
  // including the last seconds (no later sample will complete them).
  if (ss.relay) {
    ss.relay->Stop();
    last_change = Now();
    for (;;) {
      accel::relay::UploadStats u = ss.relay->uploader()->RunOnce(/*include_incomplete=*/true);
      auto st = ss.relay->store()->GetStatus();
      if (!st.ok()) return Fail("relay: " + st.status().ToString());
      progress.Show(as, st->rows_uploaded, false);
      if (st->pending_rows == 0) break;
      if (st->quarantined_rows > 0)
        return Fail("DynamoDB refused " + std::to_string(st->quarantined_rows) +
                    " row(s): " + st->last_error);
      if (g_signal) return Fail("interrupted; rerun the same replay to finish");
      if (u.rows_acked > 0) last_change = Now();
      if (Now() - last_change > kStallSeconds)
        return Fail("no upload progress for 60 s; " + std::to_string(st->pending_rows) +
                    " row(s) not written" + relay_error() + "; rerun to retry");
      if (u.rows_acked == 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(50));  // retries back off
    }
  }
  progress.Show(as, rows_uploaded(), true);
  double seconds = Now() - progress.t0;

  nlohmann::json j = {
      {"samples_in", source.size()},
      {"bytes_per_sample_batch", static_cast<double>(as.bytes_sent) / source.size()},
      {"seconds", seconds},
      {"device_id", device},
      {"partition_id", partition},
      {"first_sequence", first_seq},
      {"batches", as.batches_acked},
      {"verified", verify}};
  bool ok = true;
  if (verify) {
    accel::tools::VerifyReport rep;
    std::vector<accel::tools::RowSamples> rows;
    // With --relay the upload happens elsewhere (a running relay uploads a
    // second after its flush timeout): poll until the rows are all there or
    // --verify-wait passed. In-process, everything was acknowledged already.
    double deadline = Now() + (ss.relay ? 0 : verify_wait);
    for (;;) {
      s = accel::tools::ReadRows(aws->client.get(), table, partition, t_min / 1000000000,
                                 t_max / 1000000000 + 1, device, &rows);
      if (!s.ok()) return Fail("verify: " + s.ToString());
      rep = accel::tools::Verify(qsource, rows);
      if (rep.ok() || Now() >= deadline || g_signal) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));  // bounded polling
    }
    std::fprintf(stderr,
                 "verify: %llu of %llu samples found exactly once in %llu rows; missing %llu, "
                 "duplicate %llu, different %llu\n",
                 static_cast<unsigned long long>(rep.samples_verified),
                 static_cast<unsigned long long>(rep.samples_in),
                 static_cast<unsigned long long>(rep.rows),
                 static_cast<unsigned long long>(rep.missing),
                 static_cast<unsigned long long>(rep.duplicates),
                 static_cast<unsigned long long>(rep.mismatched));
    for (const std::string& e : rep.examples) std::fprintf(stderr, "  %s\n", e.c_str());
    j["samples_verified"] = rep.samples_verified;
    j["rows"] = rep.rows;
    j["missing"] = rep.missing;
    j["duplicates"] = rep.duplicates;
    j["mismatched"] = rep.mismatched;
    j["avg_row_bytes"] = rep.avg_row_bytes;
    j["rows_basis"] = "table";
    ok = rep.ok();
  } else {
    // Nothing was read back: the row figures are those of the items the relay
    // builds from this input (one per second), computed from the source; the
    // comparison figures are unknown, so null rather than a reassuring 0.
    auto e = accel::tools::EstimateRows(qsource, res->step_g(), partition, device, first_seq,
                                        accel::tools::kReplayBatchSamples);
    if (!e.ok()) return Fail(e.status().ToString());
    j["samples_verified"] = nullptr;
    j["rows"] = e->rows;
    j["missing"] = nullptr;
    j["duplicates"] = nullptr;
    j["mismatched"] = nullptr;
    j["avg_row_bytes"] = e->avg_row_bytes;
    j["rows_basis"] = "source";
  }
  if (json) std::printf("%s\n", j.dump().c_str());
  return ok ? kExitOk : kExitRuntime;
}
