// watch-agent: the background recorder daemon.
//
//   watch-agent --config FILE      run (SIGTERM/SIGINT: finish the current batch, exit 0)
//   watch-agent pair --secret-file FILE
//                                  create the pairing secret (0600) to install on the relay
//                                  as <paired_dir>/<device_id>.key
//
// Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "common/log.h"
#include "link/pairing.h"
#include "watch-agent/agent.h"
#include "watch-agent/agent_config.h"

namespace {

int Usage(const char* msg) {
  if (msg) std::fprintf(stderr, "watch-agent: %s\n", msg);
  std::fprintf(stderr,
               "usage: watch-agent --config FILE\n"
               "       watch-agent pair --secret-file FILE\n");
  return 2;
}

int Pair(int argc, char** argv) {
  std::string path;
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--secret-file") == 0 && i + 1 < argc) {
      path = argv[++i];
    } else {
      return Usage((std::string("unknown option ") + argv[i]).c_str());
    }
  }
  if (path.empty()) return Usage("pair needs --secret-file FILE");
  auto s = accel::link::CreatePairingSecret(path);
  if (!s.ok()) {
    std::fprintf(stderr, "watch-agent: %s\n", s.status().ToString().c_str());
    return 1;
  }
  std::printf(
      "pairing secret written to %s (mode 0600); copy it to the relay's paired-devices "
      "directory as <device_id>.key\n",
      path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  accel::SetLogComponent("watch-agent");
  if (argc >= 2 && std::strcmp(argv[1], "pair") == 0) return Pair(argc, argv);
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
      config_path = argv[++i];
    } else if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      Usage(nullptr);
      return 0;
    } else {
      return Usage((std::string("unknown argument ") + argv[i]).c_str());
    }
  }
  if (config_path.empty()) return Usage("missing --config FILE");

  accel::AgentConfig config;
  accel::Status st = accel::LoadAgentConfig(config_path, &config);
  if (!st.ok()) {
    std::fprintf(stderr, "watch-agent: %s\n", st.message().c_str());
    return 2;
  }
  accel::SetMinLogLevel(config.log_level);
  auto recorder = accel::MakeRecorder(config, accel::Clock::Real());
  if (!recorder.ok()) {
    std::fprintf(stderr, "watch-agent: %s\n", recorder.status().ToString().c_str());
    return recorder.status().IsInvalidArgument() ? 2 : 1;
  }

  // Signals are taken by one thread with sigwait, so the agent is stopped from
  // ordinary code rather than from a signal handler.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  accel::Agent agent(config.agent, recorder->get(), accel::Env::Default(), accel::Clock::Real());
  st = agent.Recover();
  if (!st.ok()) {
    accel::LogError("cannot start: " + st.ToString());
    return 1;
  }
  std::thread signals([&] {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig != 0) {
      accel::LogInfo(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
                     ": finishing the current batch");
      agent.Stop();
    }
  });
  signals.detach();
  st = agent.Run();
  if (!st.ok()) {
    accel::LogError("stopped on error: " + st.ToString());
    return 1;
  }
  return 0;
}
