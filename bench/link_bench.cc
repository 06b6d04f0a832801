// link_bench: throughput of the link over loopback with TLS on, as the watch
// uses it (one blocking client, one batch file at a time, each waiting for the
// receiver's commit acknowledgement), with real 1,500-sample batch files (the
// tests/data recordings through the codec). Prints figures; asserts nothing.
//
//   link_bench [--small-files N] [--big-files N] [--seed S]
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/batch_format.h"
#include "common/csv.h"
#include "common/env.h"
#include "common/log.h"
#include "link/client.h"
#include "link/endpoint.h"
#include "link/pairing.h"
#include "link/server.h"

namespace accel {
namespace link {
namespace {

// Counts and drops: measures the link, not a storage engine.
class NullSink : public BatchSink {
 public:
  TransferResult Commit(const std::string&, uint64_t, std::string_view bytes) override {
    bytes_ += bytes.size();
    return {Outcome::kCommitted, ""};
  }
  std::atomic<uint64_t> bytes_{0};
};

// fsyncs each batch like the test receiver: the cost of a durable ack.
class FsyncSink : public BatchSink {
 public:
  explicit FsyncSink(std::string dir) : dir_(std::move(dir)) {}
  TransferResult Commit(const std::string&, uint64_t seq, std::string_view bytes) override {
    Status s =
        WriteFileAtomically(Env::Default(), JoinPath(dir_, std::to_string(seq) + ".batch"), bytes);
    if (!s.ok()) return {Outcome::kRefusedFull, s.ToString()};
    return {Outcome::kCommitted, ""};
  }
  std::string dir_;
};

// The tests/data recordings one after another (each is shorter than a batch),
// quantised at the default resolution and cut into 1,500-sample batch files.
std::vector<std::string> RealBatchFiles(const std::string& data_dir) {
  std::vector<std::string> names, files;
  Env::Default()->GetChildren(data_dir, &names);
  std::sort(names.begin(), names.end());
  Resolution res;
  std::vector<QSample> all;
  for (const std::string& n : names) {
    if (n.size() < 4 || n.substr(n.size() - 4) != ".csv") continue;
    std::vector<Sample> samples;
    Status st = ReadSampleCsvFile(JoinPath(data_dir, n), &samples);
    for (const Sample& smp : samples) {
      QSample q;
      if (st.ok()) st = res.Quantise(smp, &q);
      if (st.ok()) all.push_back(q);
    }
    if (!st.ok()) std::fprintf(stderr, "%s: %s\n", n.c_str(), st.ToString().c_str());
  }
  uint64_t seq = 1;
  for (size_t i = 0; i + 1500 <= all.size(); i += 1500) {
    BatchHeader h;
    h.device_id = "bench-watch";
    h.sequence = seq++;
    h.resolution_g = res.step_g();
    std::string bytes;
    if (EncodeBatch(h, all.data() + i, 1500, &bytes).ok()) files.push_back(std::move(bytes));
  }
  if (files.empty()) std::fprintf(stderr, "fewer than 1,500 samples under %s\n", data_dir.c_str());
  return files;
}

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

void Run(const char* label, const std::string& endpoint, const std::string& psk,
         const std::vector<std::string>& files, int count) {
  ClientOptions o;
  o.endpoint = endpoint;
  o.device_id = "bench-watch";
  o.psk = psk;
  auto c = Client::Connect(o);
  if (!c.ok()) {
    std::fprintf(stderr, "connect: %s\n", c.status().ToString().c_str());
    std::exit(1);
  }
  uint64_t bytes = 0;
  int64_t t0 = MonoNowNanos();
  double cpu0 = CpuSeconds();
  static uint64_t seq = 1;
  for (int i = 0; i < count; ++i) {
    const std::string& f = files[i % files.size()];
    auto r = (*c)->SendBatch(seq++, f);
    if (!r.ok() || r->outcome != Outcome::kCommitted) {
      std::fprintf(stderr, "send: %s\n",
                   r.ok() ? r->reason.c_str() : r.status().ToString().c_str());
      std::exit(1);
    }
    bytes += f.size();
  }
  double secs = (MonoNowNanos() - t0) / 1e9;
  double cpu = CpuSeconds() - cpu0;
  std::printf(
      "%-50s %6d files  %9.1f files/s  %8.2f MiB/s  %7.1f us/file  cpu %.2f s (both ends)\n", label,
      count, count / secs, bytes / secs / (1 << 20), secs * 1e6 / count, cpu);
}

void Handshakes(const std::string& endpoint, const std::string& psk, int n) {
  ClientOptions o;
  o.endpoint = endpoint;
  o.device_id = "bench-watch";
  o.psk = psk;
  int64_t t0 = MonoNowNanos();
  for (int i = 0; i < n; ++i) {
    auto c = Client::Connect(o);
    if (!c.ok()) {
      std::fprintf(stderr, "connect: %s\n", c.status().ToString().c_str());
      std::exit(1);
    }
  }
  double secs = (MonoNowNanos() - t0) / 1e9;
  std::printf("%-50s %6d conns  %9.1f conns/s  %7.2f ms/connect (TLS 1.3 PSK+ECDHE, HELLO)\n",
              "connect", n, n / secs, secs * 1e3 / n);
}

int Main(int argc, char** argv) {
  int small = 3000, big = 200;
  uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--small-files"))
      small = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--big-files"))
      big = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--seed"))
      seed = std::strtoull(argv[i + 1], nullptr, 10);
  }
  SetMinLogLevel(LogLevel::kWarn);
  char tmpl[] = "/tmp/accel_link_bench.XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  std::string dir = tmpl;
  std::string keys = JoinPath(dir, "keys");
  Env::Default()->CreateDirs(keys, 0700);
  std::string psk = *CreatePairingSecret(JoinPath(keys, "bench-watch.key"));

  std::mt19937_64 rng(seed);
  auto random_bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (auto& ch : s) ch = static_cast<char>(rng());
    return s;
  };
  // Real batch files: the recordings in tests/data cut into 1,500-sample
  // batches and encoded by the codec, exactly what the agent sends.
  std::vector<std::string> small_files = RealBatchFiles(JoinPath(ACCEL_SOURCE_DIR, "tests/data"));
  if (small_files.empty()) return 1;
  uint64_t total = 0;
  for (const std::string& f : small_files) total += f.size();
  const double mean_kib = static_cast<double>(total) / small_files.size() / 1024.0;
  std::vector<std::string> big_files = {random_bytes(1 << 20)};

  std::printf("link_bench: loopback, TLS_AES_128_GCM_SHA256, chunk 64 KiB, seed %llu\n",
              static_cast<unsigned long long>(seed));
  for (const char* ep : {"tcp:127.0.0.1:0", "unix:"}) {
    std::string endpoint = ep;
    if (endpoint == "unix:") endpoint += JoinPath(dir, "bench.sock");
    NullSink sink;
    ServerOptions so;
    so.endpoint = endpoint;
    so.spool_dir = JoinPath(dir, "spool");
    so.psk_for_device = PskDirectory(keys);
    auto server = Server::Start(so, &sink);
    if (!server.ok()) {
      std::fprintf(stderr, "server: %s\n", server.status().ToString().c_str());
      return 1;
    }
    std::string kind = endpoint.substr(0, endpoint.find(':'));
    char label[96];
    std::snprintf(label, sizeof label, "1,500-sample batches (%.1f KiB), %s, null sink", mean_kib,
                  kind.c_str());
    Run(label, (*server)->endpoint(), psk, small_files, small);
    Run(("1 MiB files, " + kind + ", null sink").c_str(), (*server)->endpoint(), psk, big_files,
        big);
    if (kind == "tcp") Handshakes((*server)->endpoint(), psk, 200);
    (*server)->Stop();
  }
  {
    FsyncSink sink(JoinPath(dir, "store"));
    Env::Default()->CreateDirs(sink.dir_, 0700);
    ServerOptions so;
    so.endpoint = "tcp:127.0.0.1:0";
    so.spool_dir = JoinPath(dir, "spool");
    so.psk_for_device = PskDirectory(keys);
    auto server = Server::Start(so, &sink);
    if (!server.ok()) return 1;
    Run("1,500-sample batches, tcp, fsync'ed store", (*server)->endpoint(), psk, small_files,
        small / 3);
    (*server)->Stop();
  }
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  std::printf("peak RSS %.1f MiB\n", ru.ru_maxrss / 1024.0);
  std::system(("rm -rf '" + dir + "'").c_str());
  return 0;
}

}  // namespace
}  // namespace link
}  // namespace accel

int main(int argc, char** argv) { return accel::link::Main(argc, argv); }
