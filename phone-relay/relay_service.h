// RelayService: the phone relay's parts wired together — the link server
// (accepting paired devices only), the SQLite store behind it, the uploader
// to DynamoDB and the metrics endpoint. The daemon runs one; the replay tool
// runs one in-process.
#ifndef ACCEL_PHONE_RELAY_RELAY_SERVICE_H_
#define ACCEL_PHONE_RELAY_RELAY_SERVICE_H_

#include <memory>
#include <string>
#include <thread>

#include "link/server.h"
#include "phone-relay/credentials.h"
#include "phone-relay/metrics_server.h"
#include "phone-relay/relay_config.h"
#include "phone-relay/relay_store.h"
#include "phone-relay/uploader.h"

namespace accel {
namespace relay {

class RelayService {
 public:
  static Result<std::unique_ptr<RelayService>> Start(const RelayConfig& config,
                                                    std::unique_ptr<CredentialsProvider> creds);
  ~RelayService();  // Stop()

  // Stops accepting batches, finishes the upload pass in progress, stops.
  void Stop();

  std::string link_endpoint() const { return server_ ? server_->endpoint() : ""; }
  int metrics_port() const { return metrics_.port(); }
  RelayStore* store() { return store_.get(); }
  Uploader* uploader() { return uploader_.get(); }

  // The state for `status` and the metrics endpoint.
  std::string StatusJson();
  std::string PrometheusText();

 private:
  class WakingSink;
  RelayService() = default;

  RelayConfig config_;
  std::unique_ptr<CredentialsProvider> creds_;
  std::unique_ptr<RelayStore> store_;
  std::unique_ptr<Uploader> uploader_;
  std::unique_ptr<WakingSink> sink_;
  std::unique_ptr<link::Server> server_;
  MetricsServer metrics_;
  std::thread upload_thread_;
};

// `phone-relay status`: the store's state read straight from the database
// (works while the daemon runs, or when it is down).
Result<std::string> OfflineStatusJson(const RelayConfig& config);

}  // namespace relay
}  // namespace accel

#endif  // ACCEL_PHONE_RELAY_RELAY_SERVICE_H_
