// phone-relay: the companion service.
//
//   phone-relay --config FILE           run (SIGTERM/SIGINT: stop cleanly, exit 0)
//   phone-relay status --config FILE    print the buffer's state (JSON) and exit
//
// Credentials (static mode): AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN; endpoint and region: AWS_ENDPOINT_URL_DYNAMODB,
// AWS_ENDPOINT_URL, AWS_REGION, AWS_CA_BUNDLE (or the config file).
// Exit codes: 0 success, 1 runtime failure, 2 usage or configuration error.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "common/log.h"
#include "phone-relay/relay_service.h"

namespace {
int Usage(const std::string& msg) {
  if (!msg.empty()) std::fprintf(stderr, "phone-relay: %s\n", msg.c_str());
  std::fprintf(stderr,
               "usage: phone-relay --config FILE\n"
               "       phone-relay status --config FILE\n");
  return 2;
}
}  // namespace

int main(int argc, char** argv) {
  accel::SetLogComponent("phone-relay");
  bool status = false;
  std::string config_path;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "status" && i == 1) {
      status = true;
    } else if (a == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (a == "--help" || a == "-h") {
      Usage("");
      return 0;
    } else {
      return Usage("unknown argument '" + a + "'");
    }
  }
  if (config_path.empty()) return Usage("missing --config FILE");
  accel::relay::RelayConfig config;
  accel::Status st = accel::relay::LoadRelayConfig(config_path, &config);
  if (!st.ok()) {
    std::fprintf(stderr, "phone-relay: %s\n", st.message().c_str());
    return 2;
  }
  accel::SetMinLogLevel(config.log_level);
  if (status) {
    auto s = accel::relay::OfflineStatusJson(config);
    if (!s.ok()) {
      std::fprintf(stderr, "phone-relay: %s\n", s.status().ToString().c_str());
      return 1;
    }
    std::fputs(s->c_str(), stdout);
    return 0;
  }
  auto creds = accel::relay::StaticCredentialsProvider::FromEnvironment(config.partition_id);
  if (!creds.ok()) {
    std::fprintf(stderr, "phone-relay: %s\n", creds.status().ToString().c_str());
    return 2;
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  auto service = accel::relay::RelayService::Start(config, std::move(creds.value()));
  if (!service.ok()) {
    accel::LogError("cannot start: " + service.status().ToString());
    return service.status().IsInvalidArgument() ? 2 : 1;
  }
  // Readiness line for supervisors and tests: the actual endpoints.
  std::printf("listening %s metrics %d\n", (*service)->link_endpoint().c_str(),
              (*service)->metrics_port());
  std::fflush(stdout);
  int sig = 0;
  sigwait(&set, &sig);
  accel::LogInfo(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") + ", stopping");
  (*service)->Stop();
  accel::LogInfo("stopped");
  return 0;
}
