// TlsConn: one TLS 1.3 connection authenticated and encrypted with an
// external pre-shared key (RFC 8446 section 2.2, psk_dhe_ke: the pairing
// secret authenticates both ends, an ephemeral ECDHE share gives forward
// secrecy). OpenSSL does all the cryptography; this file only wires it to a
// non-blocking socket where every operation has a deadline.
//
// The PSK identity is the device id. No certificates are configured, so a
// peer that does not hold the device's secret cannot complete a handshake.
#ifndef ACCEL_LINK_TLS_H_
#define ACCEL_LINK_TLS_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "link/protocol.h"

typedef struct ssl_ctx_st SSL_CTX;
typedef struct ssl_st SSL;

namespace accel {
namespace link {

inline constexpr size_t kPskBytes = 32;

// Looks up the secret of a device (nullopt: not paired).
using PskLookup = std::function<std::optional<std::string>(const std::string& device_id)>;

class TlsConn {
 public:
  ~TlsConn();
  TlsConn(const TlsConn&) = delete;
  TlsConn& operator=(const TlsConn&) = delete;

  // Takes ownership of the connected non-blocking socket `fd` (closed on failure too).
  static Result<std::unique_ptr<TlsConn>> ClientHandshake(int fd, const std::string& identity,
                                                          const std::string& psk, int64_t deadline);
  static Result<std::unique_ptr<TlsConn>> ServerHandshake(int fd, const PskLookup& lookup,
                                                          int64_t deadline);

  // Writes all of `data` before `deadline`.
  Status Write(std::string_view data, int64_t deadline);
  // Reads exactly `n` bytes before `deadline`. A clean close by the peer is
  // Unavailable("peer closed the connection"); a timeout is Aborted.
  Status ReadExact(char* buf, size_t n, int64_t deadline);

  // One frame: the header must arrive before `header_deadline`, the rest
  // within `body_timeout_ms` after it. Checks length, type and CRC.
  Result<Frame> ReadFrame(int64_t header_deadline, int64_t body_timeout_ms);
  Status WriteFrame(MsgType type, std::string_view payload, int64_t deadline);

  // The authenticated PSK identity (the device id).
  const std::string& identity() const { return identity_; }
  int fd() const { return fd_; }
  // Sends close_notify without waiting, then closes the socket. Idempotent.
  void Close();

 private:
  TlsConn(SSL* ssl, int fd) : ssl_(ssl), fd_(fd) {}
  Status Handshake(int64_t deadline);
  // Maps an SSL_* return to OK-retry (after waiting) or a Status.
  Status Pump(int rc, int64_t deadline, const char* what);

  SSL* ssl_;
  int fd_;
  bool server_ = false;
  bool fatal_ = false;  // after a fatal error OpenSSL forbids SSL_shutdown
  std::string identity_;
};

// Describes and clears the calling thread's OpenSSL error queue.
std::string DrainOpenSslErrors();

}  // namespace link
}  // namespace accel

#endif  // ACCEL_LINK_TLS_H_
