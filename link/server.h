// Server: the relay's end of the link. Accepts paired devices over TLS-PSK,
// receives their batch files into a durable spool (so an interrupted transfer
// resumes where it stopped, even across a relay restart), hands each complete,
// CRC-checked file to a BatchSink and acknowledges only what the sink says is
// durably committed. One thread per connection, bounded in number; every read
// and write has a deadline, so silent, slow or hostile peers are cut off.
#ifndef ACCEL_LINK_SERVER_H_
#define ACCEL_LINK_SERVER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "common/env.h"
#include "common/status.h"
#include "link/endpoint.h"
#include "link/protocol.h"
#include "link/tls.h"

namespace accel {
namespace link {

// Implemented by the relay (and by the test receiver).
class BatchSink {
 public:
  virtual ~BatchSink() = default;
  // Called when a complete file has arrived and its CRC matched. Must return
  // only after the batch is durably committed (or known duplicate / rejected /
  // refused). Called concurrently for different devices, never concurrently
  // for the same device.
  virtual TransferResult Commit(const std::string& device_id, uint64_t sequence,
                                std::string_view bytes) = 0;
  // Lets the server answer an offer before any data moves (storage full,
  // already committed). nullopt: go ahead and receive it.
  virtual std::optional<TransferResult> PreCheck(const std::string& device_id, uint64_t sequence,
                                                 uint64_t size) {
    return std::nullopt;
  }
};

struct ServerOptions {
  std::string endpoint;      // "tcp:127.0.0.1:0" picks a free port; see endpoint()
  std::string spool_dir;     // partial transfers, <spool>/<device>/<seq>.<size>.<crc>.part
  PskLookup psk_for_device;  // e.g. PskDirectory("/etc/accel/devices")
  Env* env = Env::Default();
  int64_t handshake_timeout_ms = 5000;  // TCP accept -> TLS done -> HELLO received
  int64_t io_timeout_ms = 10000;        // each frame once started; each write
  int64_t idle_timeout_ms = 15000;      // silence between requests before the cut
  int64_t heartbeat_ms = 5000;          // KEEPALIVE interval while the sink commits
  size_t max_connections = 32;          // beyond this, new connections are closed at once
  uint64_t max_file_size = 16u << 20;   // larger offers are refused (also buffered in memory)
};

class Server {
 public:
  struct Stats {
    uint64_t connections = 0;         // accepted TCP/unix connections
    uint64_t refused_over_limit = 0;  // closed at once: max_connections reached
    uint64_t handshake_failures = 0;  // wrong secret, unknown device, timeout, garbage
    uint64_t protocol_errors = 0;     // bad frames after authentication
    uint64_t batches_acked = 0;       // RESULT frames sent
  };

  // Binds, listens and starts accepting. `sink` must outlive the Server.
  static Result<std::unique_ptr<Server>> Start(const ServerOptions& options, BatchSink* sink);
  ~Server();  // Stop()

  // The actual endpoint (with the kernel-chosen port for ":0").
  std::string endpoint() const { return bound_.ToString(); }
  // Stops accepting, cuts every connection, waits for running commits and
  // threads. Idempotent.
  void Stop();
  Stats stats() const;

 private:
  struct Conn {
    uint64_t id = 0;
    int fd = -1;  // owned by the Server; -1 once closed
    bool done = false;
    std::thread thread;
  };
  struct Owner {
    uint64_t conn_id;
    int fd;
  };
  class Session;

  Server(ServerOptions o, BatchSink* sink) : opts_(std::move(o)), sink_(sink) {}
  void AcceptLoop();
  void Serve(Conn* c);
  void ReapLocked(std::list<std::thread>* to_join);
  // Makes `conn` the only connection serving `device`, cutting an older one
  // (a watch that reconnected before the relay noticed the old link died).
  bool ClaimDevice(const std::string& device, Conn* c);
  void ReleaseDevice(const std::string& device, Conn* c);

  ServerOptions opts_;
  BatchSink* sink_;
  Endpoint bound_;
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  std::thread accept_thread_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::list<Conn> conns_;
  std::map<std::string, Owner> owners_;
  uint64_t next_conn_id_ = 1;
  Stats stats_;
};

}  // namespace link
}  // namespace accel

#endif  // ACCEL_LINK_SERVER_H_
