// Client: the watch's end of the link. One blocking connection to a relay;
// not thread-safe. Reconnecting (with link/backoff.h) is the caller's job:
// after any error the Client is dead and a new one must be connected.
//
//   auto c = Client::Connect(opts);            // TLS-PSK handshake + HELLO
//   auto r = (*c)->SendBatch(seq, bytes);      // offer, resume, data, durable ack
//   if (r.ok() && r->outcome == Outcome::kCommitted) delete the outbox file;
#ifndef ACCEL_LINK_CLIENT_H_
#define ACCEL_LINK_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"
#include "link/protocol.h"
#include "link/tls.h"

namespace accel {
namespace link {

struct ClientOptions {
  std::string endpoint;   // "tcp:127.0.0.1:7000", "unix:/path"
  std::string device_id;  // the PSK identity; see ValidateDeviceId
  std::string psk;        // the 32-byte pairing secret (LoadPairingSecret)
  // Every connect, handshake, write and wait for an answer must make progress
  // within this; the server's KEEPALIVEs during a long commit count as progress.
  int64_t io_timeout_ms = 10000;
  // ... but only up to here: an answer (HELLO_OK, RESUME, RESULT, PONG) must
  // arrive within this many ms however many KEEPALIVEs come in between, so a
  // relay that keeps heartbeating but never commits cannot hold the watch.
  int64_t answer_timeout_ms = 60000;
  // Polled whenever a KEEPALIVE arrives; true gives up the wait (Aborted), so
  // a daemon that is stopping is not held by a slow commit. May be empty.
  std::function<bool()> cancelled;
  // PingIfIdle() sends a PING after this much silence; the server drops a
  // connection idle for longer than its idle timeout (default 15 s).
  int64_t heartbeat_ms = 5000;
  size_t chunk_bytes = 64 << 10;  // DATA frame size, at most kMaxChunkBytes
};

class Client {
 public:
  ~Client();
  // Connects, handshakes and exchanges HELLO. PermissionDenied when the relay
  // does not accept this device's secret; Unavailable/Aborted when unreachable.
  static Result<std::unique_ptr<Client>> Connect(const ClientOptions& options);

  // Offers one batch file (its bytes; CRC-32C computed here), sends what the
  // receiver does not have yet, and waits for its durable commit decision.
  // An error Status means "unknown, send again on a new connection".
  Result<TransferResult> SendBatch(uint64_t sequence, std::string_view file_bytes);

  // A PING/PONG round trip within io_timeout_ms.
  Status Ping();
  // Ping() if nothing was exchanged for heartbeat_ms; call it from an idle loop.
  Status PingIfIdle();
  // Sends close_notify and closes; the Client is unusable afterwards.
  void Close();

  // What the receiver said in the last RESUME (0 for a fresh transfer) and how
  // many file bytes the last SendBatch actually sent: for logs and tests.
  uint64_t last_resume_offset() const { return last_resume_offset_; }
  uint64_t last_bytes_sent() const { return last_bytes_sent_; }
  uint64_t server_max_file_size() const { return max_file_size_; }
  bool broken() const { return !broken_.ok(); }

 private:
  Client(ClientOptions o, std::unique_ptr<TlsConn> c);
  // Reads the next frame that is not a KEEPALIVE within io_timeout_ms of the
  // last sign of life and answer_timeout_ms overall. An ERROR frame becomes a
  // Status carrying its reason.
  Result<Frame> ReadAnswer(const char* waiting_for);
  Status Fail(Status s);  // marks the connection dead
  Status Send(MsgType type, std::string_view payload);

  ClientOptions opts_;
  std::unique_ptr<TlsConn> conn_;
  Status broken_;
  uint64_t max_file_size_ = 0;
  uint64_t next_nonce_ = 1;
  int64_t last_activity_ = 0;
  uint64_t last_resume_offset_ = 0;
  uint64_t last_bytes_sent_ = 0;
};

}  // namespace link
}  // namespace accel

#endif  // ACCEL_LINK_CLIENT_H_
