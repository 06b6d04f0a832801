// MetricsServer: a minimal HTTP/1.1 endpoint on loopback that serves the
// relay's state as Prometheus text (GET /metrics) and as JSON (GET /status).
// One short-lived connection at a time is plenty for a scraper; every read
// and write has a deadline so a stuck client cannot wedge it.
#ifndef ACCEL_PHONE_RELAY_METRICS_SERVER_H_
#define ACCEL_PHONE_RELAY_METRICS_SERVER_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "common/status.h"

namespace accel {

class MetricsServer {
 public:
  using Render = std::function<std::string()>;
  ~MetricsServer();
  // Binds `host:port` (port 0 = any free port). Only loopback hosts are
  // accepted: the endpoint is unauthenticated.
  Status Start(const std::string& host, int port, Render prometheus, Render json);
  int port() const { return port_; }
  void Stop();

 private:
  void Serve();
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  Render prometheus_, json_;
};

}  // namespace accel

#endif  // ACCEL_PHONE_RELAY_METRICS_SERVER_H_
