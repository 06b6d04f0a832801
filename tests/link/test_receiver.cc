// link-test-receiver: the link's server end with a minimal durable store, for
// the watch agent's kill -9 tests and by hand.
//
//   link-test-receiver --endpoint tcp:127.0.0.1:0 --dir DIR --keys KEYDIR
//                      [--spool DIR/.spool] [--handshake-timeout-ms N]
//                      [--io-timeout-ms N] [--idle-timeout-ms N] [--heartbeat-ms N]
//                      [--max-file-size N] [--max-connections N]
//
// Stdout line 1 is "listening <actual endpoint>". Every committed batch is
// stored as DIR/<device>/<seq>.batch (atomic write + fsync) before the link
// acknowledges it; (device, seq) is deduplicated: same bytes -> duplicate,
// different bytes -> rejected. Safe to SIGKILL at any instruction: a restart
// on the same DIR resumes (spooled partials included). SIGTERM/SIGINT stop
// cleanly with exit 0; usage errors exit 2, runtime failures 1.
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

#include "common/env.h"
#include "common/log.h"
#include "link/pairing.h"
#include "link/server.h"

namespace accel {
namespace link {
namespace {

class DirSink : public BatchSink {
 public:
  explicit DirSink(std::string dir) : dir_(std::move(dir)) {}

  // Removes half-written "*.tmp" files a SIGKILL may have left behind.
  Status Recover() {
    Env* env = Env::Default();
    std::vector<std::string> devices;
    ACCEL_RETURN_IF_ERROR(env->GetChildren(dir_, &devices));
    for (const std::string& d : devices) {
      if (!ValidateDeviceId(d).ok()) continue;  // .spool and friends
      std::vector<std::string> names;
      if (!env->GetChildren(JoinPath(dir_, d), &names).ok()) continue;
      for (const std::string& n : names) {
        if (n.size() > kTempSuffix.size() &&
            n.compare(n.size() - kTempSuffix.size(), kTempSuffix.size(), kTempSuffix) == 0) {
          LogInfo("removing half-written " + JoinPath(JoinPath(dir_, d), n));
          env->RemoveFile(JoinPath(JoinPath(dir_, d), n));
        }
      }
    }
    return Status::OK();
  }

  TransferResult Commit(const std::string& device, uint64_t seq, std::string_view bytes) override {
    std::lock_guard<std::mutex> l(mu_);
    Env* env = Env::Default();
    const std::string ddir = JoinPath(dir_, device);
    const std::string path = JoinPath(ddir, std::to_string(seq) + ".batch");
    std::string existing;
    Status r = env->ReadFile(path, &existing, 1ull << 32);
    if (r.ok()) {
      if (existing == bytes) {
        LogInfo("duplicate device " + device + " seq " + std::to_string(seq));
        return {Outcome::kDuplicate, ""};
      }
      LogWarn("rejected device " + device + " seq " + std::to_string(seq) +
              ": sequence reused with different content");
      return {Outcome::kRejected, "sequence reused with different content"};
    }
    if (!r.IsNotFound()) return Refuse(device, seq, r);
    if (!env->FileExists(ddir)) {
      Status s = env->CreateDirs(ddir, 0700);
      if (s.ok()) s = env->SyncDir(dir_);
      if (!s.ok()) return Refuse(device, seq, s);
    }
    Status s = WriteFileAtomically(env, path, bytes, 0600);
    if (!s.ok()) return Refuse(device, seq, s);
    LogInfo("commit device " + device + " seq " + std::to_string(seq) + " bytes " +
            std::to_string(bytes.size()));
    return {Outcome::kCommitted, ""};
  }

 private:
  TransferResult Refuse(const std::string& device, uint64_t seq, const Status& s) {
    LogError("cannot store device " + device + " seq " + std::to_string(seq) + ": " + s.ToString());
    return {Outcome::kRefusedFull, s.ToString()};
  }
  std::string dir_;
  std::mutex mu_;
};

int Usage(const std::string& why) {
  std::fprintf(stderr,
               "link-test-receiver: %s\nusage: link-test-receiver --endpoint EP --dir DIR "
               "--keys KEYDIR [--spool DIR] [--handshake-timeout-ms N] [--io-timeout-ms N] "
               "[--idle-timeout-ms N] [--heartbeat-ms N] [--max-file-size N] "
               "[--max-connections N]\n",
               why.c_str());
  return 2;
}

int Main(int argc, char** argv) {
  SetLogComponent("link-test-receiver");
  std::map<std::string, std::string> args;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || i + 1 >= argc) return Usage("bad argument '" + a + "'");
    args[a.substr(2)] = argv[++i];
  }
  ServerOptions o;
  std::string dir, keys;
  for (const auto& [k, v] : args) {
    char* end = nullptr;
    long long n = std::strtoll(v.c_str(), &end, 10);
    bool numeric = end != v.c_str() && *end == '\0' && n > 0;
    if (k == "endpoint")
      o.endpoint = v;
    else if (k == "dir")
      dir = v;
    else if (k == "keys")
      keys = v;
    else if (k == "spool")
      o.spool_dir = v;
    else if (!numeric)
      return Usage("--" + k + " needs a positive number, got '" + v + "'");
    else if (k == "handshake-timeout-ms")
      o.handshake_timeout_ms = n;
    else if (k == "io-timeout-ms")
      o.io_timeout_ms = n;
    else if (k == "idle-timeout-ms")
      o.idle_timeout_ms = n;
    else if (k == "heartbeat-ms")
      o.heartbeat_ms = n;
    else if (k == "max-file-size")
      o.max_file_size = static_cast<uint64_t>(n);
    else if (k == "max-connections")
      o.max_connections = static_cast<size_t>(n);
    else
      return Usage("unknown option --" + k);
  }
  if (o.endpoint.empty() || dir.empty() || keys.empty())
    return Usage("--endpoint, --dir and --keys are required");
  if (o.spool_dir.empty()) o.spool_dir = JoinPath(dir, ".spool");
  o.psk_for_device = PskDirectory(keys);

  // Signals are taken synchronously by this thread; server threads inherit the mask.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  Status s = Env::Default()->CreateDirs(dir, 0700);
  DirSink sink(dir);
  if (s.ok()) s = sink.Recover();
  if (!s.ok()) {
    LogError(s.ToString());
    return 1;
  }
  auto server = Server::Start(o, &sink);
  if (!server.ok()) {
    LogError("cannot serve " + o.endpoint + ": " + server.status().ToString());
    return server.status().IsInvalidArgument() ? 2 : 1;
  }
  std::printf("listening %s\n", (*server)->endpoint().c_str());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  LogInfo(std::string("stopping on ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT"));
  (*server)->Stop();
  return 0;
}

}  // namespace
}  // namespace link
}  // namespace accel

int main(int argc, char** argv) { return accel::link::Main(argc, argv); }
