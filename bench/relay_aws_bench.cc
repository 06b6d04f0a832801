// relay_aws_bench: rows per second the relay uploads into the local DynamoDB
// stand-ins (dynalite, moto) through its real path, next to boto3's
// batch_writer uploading the very same items to the same server in the same
// run.
//
//  - ours: batches of real wrist data ingested into a fresh SQLite store
//    (untimed), then timed: the Uploader leasing rows, building and signing
//    BatchWriteItem bodies with our DynamoDbClient, several requests in
//    flight, and acknowledging each answer in SQLite (one fsync per request),
//    until no row is pending;
//  - boto3: the items our uploader sends (written as DynamoDB JSON from the
//    same store) uploaded with Table.batch_writer (bench/relay_aws_boto3_peer.py;
//    its import and deserialisation untimed).
// Every run writes into a fresh table, and the order alternates (ours first,
// then boto3 first) so neither side always meets a warmer server. For each run
// it prints rows/s, the client's CPU seconds and the server process's CPU share
// (utime + stime from /proc/<pid>/stat over the run's wall time): both
// servers are single-threaded, so a share near 100% of one core means the
// server, not the client, is the limit.
//
//   relay_aws_bench [--rows N] [--pairs P] [--in-flight K]   (defaults 5000, 2, 4)
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/batch_format.h"
#include "common/clock.h"
#include "common/csv.h"
#include "common/sample.h"
#include "phone-relay/client_caller.h"
#include "phone-relay/credentials.h"
#include "phone-relay/dynamodb_client.h"
#include "phone-relay/dynamodb_row.h"
#include "phone-relay/relay_store.h"
#include "phone-relay/uploader.h"
#include "tests/support/local_aws.h"

using namespace accel;         // NOLINT
using namespace accel::relay;  // NOLINT

namespace {

const char kIdentity[] = "us-east-1:0b8a9c3e-5b7e-4c1a-9d2f-3e4f5a6b7c8d";
const char kDevice[] = "watch-0123456789";
constexpr int64_t kSec = 1000000000;

double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}
double WallSeconds() { return Clock::Real()->MonotonicNanos() / 1e9; }

// CPU seconds a process (and its reaped children) used: /proc/<pid>/stat
// fields 14-17 (utime, stime, cutime, cstime), in clock ticks.
double ProcessCpuSeconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t p = s.rfind(')');
  if (p == std::string::npos) return -1;
  std::vector<std::string> fields;  // from field 3 (state) on
  size_t i = p + 2;
  while (i < s.size()) {
    size_t j = s.find(' ', i);
    if (j == std::string::npos) j = s.size();
    fields.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  if (fields.size() < 15) return -1;
  double ticks = 0;
  for (int k = 11; k <= 14; ++k) ticks += std::atof(fields[k].c_str());  // fields 14..17
  return ticks / double(sysconf(_SC_CLK_TCK));
}

// The recorded wrist values of tests/data (every other sample of the ~100 Hz
// watch files: 50 Hz), looped, at nominal 20 ms steps from t0.
std::vector<QSample> RealSamples(int64_t t0, size_t n) {
  Resolution res;
  std::vector<QSample> values;
  for (const char* f : {"s01_01_sw.norm.csv", "s02_03_sw.norm.csv", "s03_05_sw.norm.csv",
                        "s04_02_sw.norm.csv", "s04_07_sw.norm.csv"}) {
    std::vector<Sample> src;
    Status st = ReadSampleCsvFile(testing::SourceDir() + "/tests/data/" + f, &src);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      std::exit(1);
    }
    for (size_t i = 0; i < src.size(); i += 2) {
      QSample q;
      if (res.Quantise(src[i], &q).ok()) values.push_back(q);
    }
  }
  std::vector<QSample> out(n);
  for (size_t k = 0; k < n; ++k) {
    out[k] = values[k % values.size()];
    out[k].t_ns = t0 + int64_t(k) * 20000000;
  }
  return out;
}

struct Run {
  bool ok = false;
  double seconds = 0, client_cpu = 0, server_cpu = 0;
  std::string error;
};

struct Setup {
  std::string endpoint;
  pid_t server_pid = -1;
  std::vector<std::string> batches;  // 30 s batch files, seq 1..
  std::string dir;
  StaticCredentialsProvider* creds = nullptr;
};

std::unique_ptr<DynamoDbClient> NewClient(const Setup& s) {
  DynamoDbClientOptions o;
  o.endpoint.endpoint_url = s.endpoint;
  o.endpoint.region = "us-east-1";
  auto c = DynamoDbClient::Create(o, s.creds);
  if (!c.ok()) {
    std::fprintf(stderr, "client: %s\n", c.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(c).value();
}

bool FreshTable(const Setup& s, const std::string& table) {
  auto c = NewClient(s);
  Status st = c->CreateTable(table);
  if (st.ok()) st = c->WaitUntilActive(table, 30000);
  if (!st.ok()) std::fprintf(stderr, "create %s: %s\n", table.c_str(), st.ToString().c_str());
  return st.ok();
}

// A fresh store holding every batch; `items_file` (if not empty) gets the
// items the uploader will send, one DynamoDB-JSON object per line.
std::unique_ptr<RelayStore> FreshStore(const Setup& s, const std::string& name, ManualClock* clock,
                                       const std::string& items_file) {
  RelayStoreOptions o;
  o.path = s.dir + "/" + name + ".db";
  std::remove(o.path.c_str());
  std::remove((o.path + "-wal").c_str());
  std::remove((o.path + "-shm").c_str());
  o.clock = clock;
  auto store = RelayStore::Open(o);
  if (!store.ok()) {
    std::fprintf(stderr, "store: %s\n", store.status().ToString().c_str());
    std::exit(1);
  }
  for (size_t i = 0; i < s.batches.size(); ++i) {
    auto r = (*store)->Ingest(kDevice, i + 1, s.batches[i]);
    if (!r.ok() || r->outcome != IngestOutcome::kCommitted) {
      std::fprintf(stderr, "ingest failed\n");
      std::exit(1);
    }
  }
  if (!items_file.empty()) {
    std::vector<PendingRow> rows;
    if (!(*store)->ListPendingRows(&rows).ok()) std::exit(1);
    std::ofstream f(items_file);
    std::string line;
    for (const PendingRow& r : rows) {
      RowItem item;
      item.identity_id = kIdentity;
      item.device_id = r.device_id;
      item.second = r.second;
      item.count = r.count;
      item.block = r.block;
      item.resolution_g = r.resolution_g;
      item.seqs = &r.seqs;
      item.version = 1;
      line.clear();
      AppendItemJson(item, &line);
      f << line << "\n";
    }
  }
  return std::move(store).value();
}

Run Ours(const Setup& s, const std::string& table, int in_flight, ManualClock* clock) {
  Run run;
  auto store = FreshStore(s, table, clock, "");
  std::vector<std::unique_ptr<DynamoDbCaller>> callers;
  for (int i = 0; i < in_flight; ++i)
    callers.push_back(std::make_unique<ClientCaller>(NewClient(s)));
  UploaderOptions o;
  o.table = table;
  o.identity_id = [] { return std::string(kIdentity); };
  o.seed = 1;
  Uploader up(store.get(), std::move(callers), o);
  const double w0 = WallSeconds(), c0 = SelfCpuSeconds(), s0 = ProcessCpuSeconds(s.server_pid);
  for (int pass = 0; pass < 100000; ++pass) {
    UploadStats st = up.RunOnce(/*include_incomplete=*/true);
    auto status = store->GetStatus();
    if (!status.ok()) break;
    if (status->pending_rows == 0 && up.retry_queue_size() == 0) {
      run.ok = true;
      break;
    }
    if (!st.last_error.empty()) run.error = st.last_error;
  }
  run.seconds = WallSeconds() - w0;
  run.client_cpu = SelfCpuSeconds() - c0;
  run.server_cpu = ProcessCpuSeconds(s.server_pid) - s0;
  return run;
}

Run Boto3(const Setup& s, const std::string& table, const std::string& items_file) {
  Run run;
  std::string cmd = "python3 '" + testing::SourceDir() + "/bench/relay_aws_boto3_peer.py' '" +
                    s.endpoint + "' us-east-1 '" + table + "' '" + items_file + "'";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return run;
  char line[4096];
  double w0 = 0, s0 = 0;
  nlohmann::json result;
  while (std::fgets(line, sizeof line, p) != nullptr) {
    if (std::strncmp(line, "START", 5) == 0) {
      w0 = WallSeconds();
      s0 = ProcessCpuSeconds(s.server_pid);
    } else if (std::strncmp(line, "END ", 4) == 0) {
      run.server_cpu = ProcessCpuSeconds(s.server_pid) - s0;
      double wall = WallSeconds() - w0;
      result = nlohmann::json::parse(line + 4, nullptr, false);
      if (result.is_object()) {
        run.seconds = result["seconds"];
        run.client_cpu = result["cpu_seconds"];
        run.ok = w0 > 0 && std::abs(wall - run.seconds) < 0.5;  // our sample brackets its timing
      }
    }
  }
  if (pclose(p) != 0) run.ok = false;
  return run;
}

// Rows in the table (consistent Query), to prove each run uploaded everything.
size_t CountRows(const Setup& s, const std::string& table, int64_t from_s, int64_t to_s) {
  auto c = NewClient(s);
  auto q = c->Query(table, kIdentity, from_s, to_s);
  return q.ok() ? q->items.size() : 0;
}

}  // namespace

int main(int argc, char** argv) {
  int rows = 5000, pairs = 2, in_flight = 4;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--rows") && i + 1 < argc)
      rows = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--pairs") && i + 1 < argc)
      pairs = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--in-flight") && i + 1 < argc)
      in_flight = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: relay_aws_bench [--rows N] [--pairs P] [--in-flight K]\n");
      return 2;
    }
  }
  testing::TempDir tmp("relay-aws-bench");
  StaticCredentialsProvider creds(AwsCredentials{"AKIDLOCALTEST", "local-test-secret", "", 0},
                                  kIdentity);
  Setup setup;
  setup.dir = tmp.path();
  setup.creds = &creds;
  // One second of one watch per row: `rows` seconds at 50 Hz, 30 s batches.
  const int64_t t0 = 1795500000 * kSec;
  std::vector<QSample> samples = RealSamples(t0, size_t(rows) * 50);
  for (size_t i = 0, seq = 1; i < samples.size(); i += 1500, ++seq) {
    BatchHeader h;
    h.device_id = kDevice;
    h.sequence = seq;
    std::string bytes;
    std::vector<QSample> part(samples.begin() + i,
                              samples.begin() + std::min(samples.size(), i + 1500));
    if (!EncodeBatch(h, part, &bytes).ok()) return 1;
    setup.batches.push_back(std::move(bytes));
  }
  // The store's clock: just after the data, so every second is recent (plain path).
  ManualClock clock(t0 + (rows + 60) * kSec, 0);
  const std::string items_file = tmp.File("items.jsonl");
  FreshStore(setup, "items", &clock, items_file);

  std::printf(
      "relay_aws_bench: %d rows (1 s of 50 Hz real wrist data each), our uploader with %d in "
      "flight\nvs boto3 batch_writer (1 in flight); same items, same server, fresh table per "
      "run, order alternating\n\n",
      rows, in_flight);
  std::printf("%-9s %-4s %-22s %8s %9s %12s %14s %7s\n", "server", "run", "client", "seconds",
              "rows/s", "client CPU s", "server CPU %", "rows ok");
  for (const char* kind : {"dynalite", "moto"}) {
    auto server = std::string(kind) == "moto" ? testing::LocalServer::StartMoto()
                                              : testing::LocalServer::StartDynalite();
    if (!server.ok()) {
      std::printf("%-9s cannot start: %s\n", kind, server.status().ToString().c_str());
      continue;
    }
    setup.endpoint = (*server)->endpoint();
    setup.server_pid = (*server)->pid();
    // Per run, three uploads of the same items into three fresh tables: ours
    // with `in_flight` requests in flight (the daemon's default), ours with 1
    // (boto3's batch_writer sends one request at a time), boto3. The order is
    // reversed every other run.
    struct Side {
      std::string name;
      int in_flight;  // 0 = boto3
      std::vector<Run> runs;
    };
    std::vector<Side> sides = {
        {"ours (" + std::to_string(in_flight) + " in flight)", in_flight, {}},
        {"ours (1 in flight)", 1, {}},
        {"boto3 batch_writer", 0, {}}};
    // Untimed warm-up (node's JIT, python's imports and caches) so the first
    // timed run does not pay for them.
    if (!FreshTable(setup, std::string("warmup_") + kind) ||
        !Ours(setup, std::string("warmup_") + kind, in_flight, &clock).ok)
      return 1;
    for (int p = 0; p < pairs; ++p) {
      std::vector<size_t> order = {0, 1, 2};
      if (p % 2 == 1) std::reverse(order.begin(), order.end());
      for (size_t k : order) {
        Side& side = sides[k];
        std::string table = std::string(side.in_flight ? "ours" : "boto3") +
                            std::to_string(side.in_flight) + "_" + kind + "_" + std::to_string(p);
        if (!FreshTable(setup, table)) return 1;
        Run r = side.in_flight ? Ours(setup, table, side.in_flight, &clock)
                               : Boto3(setup, table, items_file);
        if (!r.ok) {
          std::printf("%-9s %-4d %-22s failed %s\n", kind, p + 1, side.name.c_str(),
                      r.error.c_str());
        } else {
          size_t n = CountRows(setup, table, t0 / kSec, t0 / kSec + rows + 1);
          std::printf("%-9s %-4d %-22s %8.2f %9.0f %12.2f %13.0f%% %7s\n", kind, p + 1,
                      side.name.c_str(), r.seconds, rows / r.seconds, r.client_cpu,
                      100.0 * r.server_cpu / r.seconds,
                      n == size_t(rows) ? "yes" : std::to_string(n).c_str());
          if (n != size_t(rows)) r.ok = false;
        }
        side.runs.push_back(r);
      }
    }
    // Ratios per run (same run, same server state), then their range.
    for (size_t k = 0; k < 2; ++k) {
      std::vector<double> ratio;
      double share = 0;
      for (int p = 0; p < pairs; ++p) {
        const Run& o = sides[k].runs[p];
        const Run& b = sides[2].runs[p];
        if (!o.ok || !b.ok) continue;
        ratio.push_back(b.seconds / o.seconds);
        share = std::max(share, o.server_cpu / o.seconds);
      }
      if (ratio.empty()) continue;
      std::sort(ratio.begin(), ratio.end());
      std::printf(
          "%-9s %s / boto3 rows/s: %.2fx to %.2fx over %zu runs; server CPU during "
          "ours up to %.0f%% of a core%s\n",
          kind, sides[k].name.c_str(), ratio.front(), ratio.back(), ratio.size(), 100 * share,
          share >= 0.85 ? ": the server is the limit" : "");
    }
    double boto_share = 0;
    for (const Run& b : sides[2].runs)
      if (b.ok) boto_share = std::max(boto_share, b.server_cpu / b.seconds);
    std::printf("%-9s server CPU during boto3 up to %.0f%% of a core\n\n", kind, 100 * boto_share);
  }
  std::printf(
      "(client CPU: this process for ours -- store, uploader, signing, HTTP --, the python process "
      "for boto3;\n server CPU: the server process over the run's wall time; 2 cores shared by "
      "client and server)\n");
  return 0;
}
