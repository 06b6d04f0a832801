// sensor-replay: pushes captured recordings through the real pipeline — the
// agent's encoder and outbox, the link, the relay's SQLite buffer, row builder
// and uploader — into DynamoDB, and optionally reads every row back.
//
//   sensor-replay [options] FILE...          (CSV t_ns,x_g,y_g,z_g or batch files)
//     --table NAME          DynamoDB table (default accel)
//     --create-table        create it if missing (development)
//     --partition-id ID     the rows' partition key in static-credential mode
//     --device-id ID        default: replay-<hash of the files' names>
//     --resolution G        storage step in g (default 1/16384)
//     --pace X              0 = as fast as possible (default), 1 = real time, 10 = 10x
//     --relay ADDR          send into a running relay instead of starting one
//     --secret-file F       the pairing secret for --relay
//     --verify              read the rows back and compare sample for sample
//     --json                last line: one JSON object with the figures
//
// By default the relay runs in this process on a temporary state directory.
// Exit codes: 0 ok (and verified when asked), 1 failure or a difference, 2 usage.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/crc32c.h"
#include "common/env.h"
#include "common/log.h"
#include "link/pairing.h"
#include "phone-relay/relay_service.h"
#include "tools/row_reader.h"
#include "tools/tool_common.h"
#include "watch-agent/agent.h"
#include "watch-agent/file_recorder.h"

namespace {

using accel::Status;

int Usage(const std::string& msg) {
  std::fprintf(stderr, "sensor-replay: %s\n", msg.c_str());
  std::fprintf(stderr,
               "usage: sensor-replay [--table NAME] [--create-table] [--partition-id ID] "
               "[--device-id ID] [--resolution G] [--pace X] [--relay ADDR --secret-file F] "
               "[--verify] [--json] FILE...\n");
  return 2;
}

int Fail(const std::string& msg) {
  std::fprintf(stderr, "sensor-replay: %s\n", msg.c_str());
  return 1;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> opt;
  std::vector<std::string> files;
  bool verify = false, json = false, create_table = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--verify") verify = true;
    else if (a == "--json") json = true;
    else if (a == "--create-table") create_table = true;
    else if (a == "--help" || a == "-h") { Usage("help"); return 0; }
    else if (a == "--table" || a == "--partition-id" || a == "--device-id" ||
             a == "--resolution" || a == "--pace" || a == "--relay" || a == "--secret-file") {
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
  auto res = accel::Resolution::Parse(opt.count("resolution") ? opt["resolution"] : "1/16384");
  if (!res.ok()) return Usage(res.status().message());
  double pace = opt.count("pace") ? std::atof(opt["pace"].c_str()) : 0;
  if (pace < 0) return Usage("--pace must be >= 0");
  std::string device = opt["device-id"];
  if (device.empty()) {
    uint32_t h = 0;
    for (const std::string& f : files) h = accel::crc32c::Extend(h, f.data(), f.size());
    char buf[32];
    std::snprintf(buf, sizeof buf, "replay-%08x", h);
    device = buf;
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
  std::string partition = opt["partition-id"];
  auto aws = accel::tools::MakeAwsSetup(partition);
  if (!aws.ok()) return Fail(aws.status().ToString());
  partition = aws->creds->identity_id();
  {
    // Preflight: an unreachable endpoint or a missing table is said now, in one
    // line, rather than after the data went into the relay's buffer.
    auto st = aws->client->DescribeTableStatus(table);
    if (!st.ok() && !(create_table && st.status().IsNotFound()))
      return Fail("table " + table + " at " + aws->client->endpoint().url + ": " +
                  st.status().ToString());
  }

  char tmpl[] = "/tmp/sensor-replay.XXXXXX";
  if (!mkdtemp(tmpl)) return Fail("cannot create a temporary directory");
  std::string dir = tmpl;
  accel::Env* env = accel::Env::Default();
  std::string endpoint = opt["relay"], psk;
  std::unique_ptr<accel::relay::RelayService> relay;
  if (endpoint.empty()) {
    env->CreateDirs(dir + "/keys", 0700);
    auto secret = accel::link::CreatePairingSecret(dir + "/keys/" + device + ".key");
    if (!secret.ok()) return Fail(secret.status().ToString());
    psk = *secret;
    accel::relay::RelayConfig rc;
    rc.state_dir = dir + "/relay";
    rc.listen = "unix:" + dir + "/relay.sock";
    rc.paired_devices_dir = dir + "/keys";
    rc.table = table;
    rc.partition_id = partition;
    rc.create_table = create_table;
    rc.flush_timeout_ms = 300;  // the replay ends: do not wait long for a "later sample"
    auto r = accel::relay::RelayService::Start(
        rc, accel::relay::StaticCredentialsProvider::FromEnvironment(partition).value());
    if (!r.ok()) return Fail("relay: " + r.status().ToString());
    relay = std::move(r.value());
    endpoint = relay->link_endpoint();
  } else {
    auto secret = accel::link::LoadPairingSecret(opt["secret-file"]);
    if (!secret.ok()) return Fail(secret.status().ToString());
    psk = *secret;
  }

  accel::FileRecorderOptions fo;
  fo.paths = files;
  fo.pace = pace;
  auto recorder = accel::FileRecorder::Open(fo, accel::Clock::Real());
  if (!recorder.ok()) return Fail(recorder.status().ToString());
  accel::AgentOptions ao;
  ao.device_id = device;
  ao.state_dir = dir + "/agent";
  ao.relay_endpoint = endpoint;
  ao.psk = psk;
  ao.resolution = *res;
  ao.batch_max_age_ms = 500;
  ao.poll_interval_ms = 20;
  ao.backoff_max_ms = 2000;
  ao.exit_when_drained = true;
  accel::Agent agent(ao, recorder->get(), env, accel::Clock::Real());
  Status s = agent.Recover();
  if (!s.ok()) return Fail(s.ToString());

  double t0 = Now();
  std::atomic<bool> agent_done{false};
  Status agent_status;
  std::thread agent_thread([&] {
    agent_status = agent.Run();
    agent_done = true;
  });
  bool tty = isatty(2);
  double last_plain = 0, last_progress = Now();
  int64_t rows_done = 0;
  uint64_t last_seen = 0;
  for (;;) {
    accel::AgentStats as = agent.stats();
    bool relay_idle = true;
    if (relay) {
      auto st = relay->store()->GetStatus();
      if (st.ok()) {
        rows_done = st->rows_uploaded;
        relay_idle = st->pending_rows == 0;
      }
    }
    double el = Now() - t0;
    double frac = static_cast<double>(as.samples_batched) / source.size();
    double rate = el > 0 ? as.samples_batched / el : 0;
    double eta = rate > 0 ? (source.size() - as.samples_batched) / rate : 0;
    char line[256];
    std::snprintf(line, sizeof line, "%7llu/%zu samples  %6lld rows  %7.3f MiB  %8.0f samples/s  ETA %4.0f s",
                  static_cast<unsigned long long>(as.samples_batched), source.size(),
                  static_cast<long long>(rows_done), as.bytes_sent / 1048576.0, rate, eta);
    if (tty) {
      int filled = static_cast<int>(std::lround(30 * std::min(1.0, frac)));
      std::fprintf(stderr, "\r[%s%s] %s", std::string(filled, '#').c_str(),
                   std::string(30 - filled, '.').c_str(), line);
    } else if (el - last_plain >= 2 || (agent_done && relay_idle)) {
      std::fprintf(stderr, "progress: %s\n", line);
      last_plain = el;
    }
    if (agent_done && relay_idle) break;
    if (as.samples_batched + rows_done != last_seen) {
      last_seen = as.samples_batched + rows_done;
      last_progress = Now();
    } else if (Now() - last_progress > 60) {
      // Nothing moved for a minute: say why instead of hanging.
      std::string why = "no progress for 60 s";
      if (relay) {
        auto st = relay->store()->GetStatus();
        if (st.ok() && !st->last_error.empty()) why += "; relay: " + st->last_error;
      }
      agent.Stop();
      agent_thread.join();
      if (relay) relay->Stop();
      std::system(("rm -rf '" + dir + "'").c_str());
      return Fail(why + " (the data stays safe in a relay only when one runs; rerun to retry)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));  // progress refresh period
  }
  if (tty) std::fprintf(stderr, "\n");
  agent_thread.join();
  if (relay) relay->Stop();
  double seconds = Now() - t0;
  if (!agent_status.ok()) return Fail("agent: " + agent_status.ToString());
  accel::AgentStats as = agent.stats();

  accel::tools::VerifyReport rep;
  rep.samples_in = source.size();
  if (verify) {
    std::vector<accel::tools::RowSamples> rows;
    // With --relay the upload happens elsewhere: poll until the rows are there or 60 s passed.
    double deadline = Now() + (relay ? 0 : 60);
    for (;;) {
      s = accel::tools::ReadRows(aws->client.get(), table, partition, t_min / 1000000000,
                                 t_max / 1000000000 + 1, device, &rows);
      if (!s.ok()) return Fail("verify: " + s.ToString());
      rep = accel::tools::Verify(qsource, rows);
      if (rep.ok() || Now() >= deadline) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    std::fprintf(stderr, "verify: %llu of %llu samples found exactly once in %llu rows; missing %llu, "
                 "duplicate %llu, different %llu\n",
                 static_cast<unsigned long long>(rep.samples_verified),
                 static_cast<unsigned long long>(rep.samples_in),
                 static_cast<unsigned long long>(rep.rows),
                 static_cast<unsigned long long>(rep.missing),
                 static_cast<unsigned long long>(rep.duplicates),
                 static_cast<unsigned long long>(rep.mismatched));
    for (const std::string& e : rep.examples) std::fprintf(stderr, "  %s\n", e.c_str());
  }
  std::system(("rm -rf '" + dir + "'").c_str());
  if (json) {
    nlohmann::json j = {{"samples_in", rep.samples_in},
                        {"samples_verified", rep.samples_verified},
                        {"rows", rep.rows},
                        {"missing", rep.missing},
                        {"duplicates", rep.duplicates},
                        {"mismatched", rep.mismatched},
                        {"bytes_per_sample_batch",
                         source.empty() ? 0.0 : static_cast<double>(as.bytes_sent) / source.size()},
                        {"avg_row_bytes", rep.avg_row_bytes},
                        {"seconds", seconds},
                        {"device_id", device},
                        {"partition_id", partition},
                        {"verified", verify}};
    std::printf("%s\n", j.dump().c_str());
  }
  if (verify && !rep.ok()) return 1;
  return 0;
}
