// agent_bench: what the watch agent costs on the device. Runs the real
// watch-agent process at 50 Hz from the synthetic source against the real
// link receiver for N seconds (default 60), stops it with SIGTERM and prints
// its CPU time (user + system, from wait4's rusage), CPU as a share of one
// core, and its peak RSS. Goals: <= 1% of one core, <= 8 MiB.
//
//   agent_bench [SECONDS] [RATE_HZ]
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <string>

#include "common/clock.h"
#include "common/env.h"

namespace {

pid_t Spawn(const std::vector<std::string>& argv, const std::string& out_path) {
  pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::freopen(out_path.c_str(), "w", stdout);
    (void)f;
    FILE* e = std::freopen((out_path + ".err").c_str(), "w", stderr);
    (void)e;
    std::vector<char*> a;
    for (const auto& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execv(a[0], a.data());
    _exit(127);
  }
  return pid;
}

}  // namespace

int main(int argc, char** argv) {
  int seconds = argc > 1 ? std::atoi(argv[1]) : 60;
  double rate = argc > 2 ? std::atof(argv[2]) : 50.0;
  char tmpl[] = "/tmp/accel_agent_bench.XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  std::string dir = tmpl;
  accel::Env* env = accel::Env::Default();
  env->CreateDirs(dir + "/keys", 0700);
  std::string agent = WATCH_AGENT_BIN, receiver = LINK_TEST_RECEIVER_BIN;
  if (std::system((agent + " pair --secret-file " + dir + "/agent.key >/dev/null").c_str()) != 0)
    return 1;
  std::string key;
  env->ReadFile(dir + "/agent.key", &key);
  accel::WriteFileAtomically(env, dir + "/keys/bench-watch.key", key, 0600);
  std::string ep = "unix:" + dir + "/relay.sock";
  pid_t rpid = Spawn({receiver, "--endpoint", ep, "--dir", dir + "/recv", "--keys", dir + "/keys"},
                     dir + "/receiver.out");
  char cfg[1024];
  std::snprintf(cfg, sizeof cfg,
                R"({"device_id":"bench-watch","state_dir":"%s/agent","relay":"%s",
"pairing_secret_file":"%s/agent.key","log_level":"warn",
"source":{"type":"synthetic","seed":1,"rate_hz":%g}})",
                dir.c_str(), ep.c_str(), dir.c_str(), rate);
  accel::WriteFileAtomically(env, dir + "/agent.json", cfg);
  pid_t apid = Spawn({agent, "--config", dir + "/agent.json"}, dir + "/agent.out");
  timespec ts{seconds, 0};
  nanosleep(&ts, nullptr);  // the measurement window itself
  // Where the resident memory is: shared read-only library pages (libcrypto,
  // libstdc++, shared with every process using them) versus the agent's own.
  std::string rollup;
  env->ReadFile("/proc/" + std::to_string(apid) + "/smaps_rollup", &rollup);
  auto field = [&](const char* name) {
    size_t p = rollup.find(std::string("\n") + name + ":");
    return p == std::string::npos ? -1.0 : std::atof(rollup.c_str() + p + std::strlen(name) + 2) / 1024.0;
  };
  double shared_clean = field("Shared_Clean"), anon = field("Anonymous"),
         private_clean = field("Private_Clean");
  kill(apid, SIGTERM);
  int status = 0;
  rusage ru{};
  wait4(apid, &status, 0, &ru);
  kill(rpid, SIGTERM);
  waitpid(rpid, nullptr, 0);
  double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
               ru.ru_stime.tv_usec / 1e6;
  std::vector<std::string> files;
  env->GetChildren(dir + "/recv/bench-watch", &files);
  std::printf("watch-agent, synthetic %.0f Hz for %d s (default batch settings: <=1500 samples or 1 s)\n",
              rate, seconds);
  std::printf("  exit code          %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  std::printf("  batches received   %zu\n", files.size());
  std::printf("  CPU time           %.3f s (user %.3f, sys %.3f)\n", cpu,
              ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
              ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
  std::printf("  CPU share          %.3f %% of one core (goal <= 1 %%)\n", 100.0 * cpu / seconds);
  std::printf("  peak RSS           %.2f MiB (goal <= 8 MiB)\n", ru.ru_maxrss / 1024.0);
  std::printf("    of which shared library pages %.2f MiB, private file pages %.2f MiB, "
              "anonymous (heap, stacks) %.2f MiB\n",
              shared_clean, private_clean, anon);
  std::system(("rm -rf " + dir).c_str());
  return 0;
}
