#include "link/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>

#include "link/endpoint.h"

namespace accel {
namespace link {

namespace {

// TLS_AES_128_GCM_SHA256: the one suite a PSK session is bound to.
const unsigned char kSuiteId[2] = {0x13, 0x01};
const char kSuiteName[] = "TLS_AES_128_GCM_SHA256";

struct ClientPsk {
  std::string identity;
  std::string psk;
};
struct ServerPsk {
  const PskLookup* lookup = nullptr;
  std::string offered;  // the identity the peer offered (if a valid device id)
  bool offered_invalid = false;
  std::string identity;  // set once the identity's secret was found
};

SSL_SESSION* NewPskSession(SSL* ssl, const std::string& psk) {
  const SSL_CIPHER* cipher = SSL_CIPHER_find(ssl, kSuiteId);
  if (cipher == nullptr) return nullptr;
  SSL_SESSION* s = SSL_SESSION_new();
  if (s == nullptr) return nullptr;
  if (!SSL_SESSION_set1_master_key(s, reinterpret_cast<const unsigned char*>(psk.data()),
                                   psk.size()) ||
      !SSL_SESSION_set_cipher(s, cipher) || !SSL_SESSION_set_protocol_version(s, TLS1_3_VERSION)) {
    SSL_SESSION_free(s);
    return nullptr;
  }
  return s;
}

int ClientUseSession(SSL* ssl, const EVP_MD* md, const unsigned char** id, size_t* idlen,
                     SSL_SESSION** sess) {
  auto* d = static_cast<ClientPsk*>(SSL_get_app_data(ssl));
  *sess = nullptr;
  *id = nullptr;
  *idlen = 0;
  if (d == nullptr) return 0;
  const SSL_CIPHER* cipher = SSL_CIPHER_find(ssl, kSuiteId);
  if (cipher == nullptr) return 0;
  // After a HelloRetryRequest OpenSSL asks again with the negotiated digest.
  if (md != nullptr && md != SSL_CIPHER_get_handshake_digest(cipher)) return 1;
  SSL_SESSION* s = NewPskSession(ssl, d->psk);
  if (s == nullptr) return 0;
  *sess = s;
  *id = reinterpret_cast<const unsigned char*>(d->identity.data());
  *idlen = d->identity.size();
  return 1;
}

int ServerFindSession(SSL* ssl, const unsigned char* id, size_t idlen, SSL_SESSION** sess) {
  auto* d = static_cast<ServerPsk*>(SSL_get_app_data(ssl));
  *sess = nullptr;
  if (d == nullptr || d->lookup == nullptr) return 0;
  std::string identity(reinterpret_cast<const char*>(id), idlen);
  // An unknown or malformed identity continues without a PSK; with no
  // certificate configured the handshake then fails. Return 1 ("no PSK")
  // rather than 0 so OpenSSL sends a proper alert instead of an internal error.
  if (!ValidateDeviceId(identity).ok()) {
    d->offered_invalid = true;
    return 1;
  }
  d->offered = identity;
  std::optional<std::string> psk = (*d->lookup)(identity);
  if (!psk || psk->size() != kPskBytes) return 1;
  SSL_SESSION* s = NewPskSession(ssl, *psk);
  if (s == nullptr) return 0;
  d->identity = identity;
  *sess = s;
  return 1;
}

SSL_CTX* MakeCtx(bool server) {
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (ctx == nullptr) return nullptr;
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_ciphersuites(ctx, kSuiteName);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  if (server) {
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_psk_find_session_callback(ctx, ServerFindSession);
  } else {
    // No trust anchors: a server that offers a certificate instead of the PSK fails.
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_psk_use_session_callback(ctx, ClientUseSession);
  }
  return ctx;
}

SSL_CTX* ClientCtx() {
  static SSL_CTX* ctx = MakeCtx(false);
  return ctx;
}
SSL_CTX* ServerCtx() {
  static SSL_CTX* ctx = MakeCtx(true);
  return ctx;
}

}  // namespace

std::string DrainOpenSslErrors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    const char* reason = ERR_reason_error_string(e);
    out += reason != nullptr ? reason : buf;
  }
  return out.empty() ? "unspecified TLS error" : out;
}

TlsConn::~TlsConn() { Close(); }

void TlsConn::Close() {
  if (ssl_ != nullptr) {
    if (!fatal_) {
      ERR_clear_error();
      SSL_shutdown(ssl_);  // one non-blocking attempt at close_notify
    }
    ClientPsk* c = nullptr;
    ServerPsk* s = nullptr;
    if (server_) {
      s = static_cast<ServerPsk*>(SSL_get_app_data(ssl_));
    } else {
      c = static_cast<ClientPsk*>(SSL_get_app_data(ssl_));
    }
    SSL_free(ssl_);
    delete c;
    delete s;
    ssl_ = nullptr;
    ERR_clear_error();
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

Result<std::unique_ptr<TlsConn>> TlsConn::ClientHandshake(int fd, const std::string& identity,
                                                          const std::string& psk,
                                                          int64_t deadline) {
  SSL_CTX* ctx = ClientCtx();
  SSL* ssl = ctx != nullptr ? SSL_new(ctx) : nullptr;
  if (ssl == nullptr) {
    ::close(fd);
    return Status::IOError("TLS client setup: " + DrainOpenSslErrors());
  }
  auto* d = new ClientPsk{identity, psk};
  SSL_set_app_data(ssl, d);
  std::unique_ptr<TlsConn> c(new TlsConn(ssl, fd));
  c->server_ = false;
  ACCEL_RETURN_IF_ERROR(c->Handshake(deadline));
  c->identity_ = identity;
  return c;
}

Result<std::unique_ptr<TlsConn>> TlsConn::ServerHandshake(int fd, const PskLookup& lookup,
                                                          int64_t deadline) {
  SSL_CTX* ctx = ServerCtx();
  SSL* ssl = ctx != nullptr ? SSL_new(ctx) : nullptr;
  if (ssl == nullptr) {
    ::close(fd);
    return Status::IOError("TLS server setup: " + DrainOpenSslErrors());
  }
  auto* d = new ServerPsk;
  d->lookup = &lookup;
  SSL_set_app_data(ssl, d);
  std::unique_ptr<TlsConn> c(new TlsConn(ssl, fd));
  c->server_ = true;
  Status hs = c->Handshake(deadline);
  d->lookup = nullptr;  // `lookup` need not outlive the handshake
  if (!hs.ok()) {
    // Say which of the usual causes it was; the TLS reason alone is cryptic.
    if (!d->identity.empty() && hs.IsPermissionDenied())
      return hs.WithContext("device '" + d->identity + "': wrong pairing secret?");
    if (!d->offered.empty()) return hs.WithContext("device '" + d->offered + "' is not paired");
    if (d->offered_invalid) return hs.WithContext("peer offered an invalid device id");
    return hs;
  }
  c->identity_ = d->identity;
  if (c->identity_.empty()) return Status::PermissionDenied("TLS handshake without a known PSK");
  return c;
}

Status TlsConn::Handshake(int64_t deadline) {
  if (SSL_set_fd(ssl_, fd_) != 1) return Status::IOError("SSL_set_fd: " + DrainOpenSslErrors());
  if (server_) {
    SSL_set_accept_state(ssl_);
  } else {
    SSL_set_connect_state(ssl_);
  }
  for (;;) {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_);
    if (rc == 1) break;
    Status s = Pump(rc, deadline, "TLS handshake");
    if (!s.ok()) {
      if (s.IsCorruption()) return Status::PermissionDenied(s.message());
      return s;
    }
  }
  // A PSK handshake is a "resumed" session in OpenSSL's terms; anything else
  // would mean the peer authenticated some other way, which we never allow.
  if (!SSL_session_reused(ssl_)) {
    fatal_ = true;
    return Status::PermissionDenied("TLS handshake completed without the pre-shared key");
  }
  return Status::OK();
}

Status TlsConn::Pump(int rc, int64_t deadline, const char* what) {
  int saved_errno = errno;
  int err = SSL_get_error(ssl_, rc);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      return WaitFd(fd_, POLLIN, deadline, what);
    case SSL_ERROR_WANT_WRITE:
      return WaitFd(fd_, POLLOUT, deadline, what);
    case SSL_ERROR_ZERO_RETURN:
      return Status::Unavailable(std::string(what) + ": peer closed the connection");
    case SSL_ERROR_SYSCALL: {
      fatal_ = true;
      std::string q = ERR_peek_error() != 0 ? DrainOpenSslErrors() : "";
      if (saved_errno == 0 || rc == 0)
        return Status::Unavailable(std::string(what) + ": peer closed the connection (EOF)" +
                                   (q.empty() ? "" : " " + q));
      return Status::Unavailable(std::string(what) + ": " + std::strerror(saved_errno));
    }
    case SSL_ERROR_SSL:
      fatal_ = true;
      // OpenSSL 3 reports a TCP close without close_notify (a killed or cut
      // peer) as an SSL error; it is a lost connection, not tampering. Our own
      // framing still catches a stream truncated inside a frame.
      if (ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
        ERR_clear_error();
        return Status::Unavailable(std::string(what) +
                                   ": peer closed the connection (EOF without close_notify)");
      }
      return Status::Corruption(std::string(what) + ": TLS error: " + DrainOpenSslErrors());
    default:
      fatal_ = true;
      return Status::IOError(std::string(what) + ": TLS error " + std::to_string(err) + ": " +
                             DrainOpenSslErrors());
  }
}

Status TlsConn::Write(std::string_view data, int64_t deadline) {
  if (ssl_ == nullptr) return Status::Unavailable("write: connection closed");
  size_t off = 0;
  while (off < data.size()) {
    size_t n = std::min<size_t>(data.size() - off, 1 << 30);
    ERR_clear_error();
    errno = 0;
    int rc = SSL_write(ssl_, data.data() + off, static_cast<int>(n));
    if (rc > 0) {
      off += static_cast<size_t>(rc);
      continue;
    }
    // SSL_write must be retried with the same arguments, which this loop does.
    ACCEL_RETURN_IF_ERROR(Pump(rc, deadline, "write"));
  }
  return Status::OK();
}

Status TlsConn::ReadExact(char* buf, size_t n, int64_t deadline) {
  if (ssl_ == nullptr) return Status::Unavailable("read: connection closed");
  size_t got = 0;
  while (got < n) {
    ERR_clear_error();
    errno = 0;
    int rc = SSL_read(ssl_, buf + got, static_cast<int>(std::min<size_t>(n - got, 1 << 30)));
    if (rc > 0) {
      got += static_cast<size_t>(rc);
      continue;
    }
    ACCEL_RETURN_IF_ERROR(Pump(rc, deadline, "read"));
  }
  return Status::OK();
}

Result<Frame> TlsConn::ReadFrame(int64_t header_deadline, int64_t body_timeout_ms) {
  char header[kFrameHeaderBytes];
  ACCEL_RETURN_IF_ERROR(ReadExact(header, sizeof header, header_deadline));
  Frame f;
  Result<uint32_t> len = ParseFrameHeader(header, &f.type);
  if (!len.ok()) return len.status();
  f.payload.resize(*len + kFrameTrailerBytes);
  Status s = ReadExact(&f.payload[0], f.payload.size(), DeadlineAfterMs(body_timeout_ms));
  if (!s.ok()) {
    if (s.IsAborted() || s.IsUnavailable())
      return Status(s).WithContext("truncated " + MsgTypeName(f.type) + " frame (length " +
                                   std::to_string(*len) + ")");
    return s;
  }
  const unsigned char* t = reinterpret_cast<const unsigned char*>(f.payload.data()) + *len;
  uint32_t crc = static_cast<uint32_t>(t[0]) | (static_cast<uint32_t>(t[1]) << 8) |
                 (static_cast<uint32_t>(t[2]) << 16) | (static_cast<uint32_t>(t[3]) << 24);
  f.payload.resize(*len);
  ACCEL_RETURN_IF_ERROR(CheckFrameCrc(f.type, f.payload, crc));
  return f;
}

Status TlsConn::WriteFrame(MsgType type, std::string_view payload, int64_t deadline) {
  return Write(EncodeFrame(type, payload), deadline);
}

}  // namespace link
}  // namespace accel
