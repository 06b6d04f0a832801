#include "link/server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <future>

#include "common/crc32c.h"
#include "common/log.h"

namespace accel {
namespace link {

namespace {

std::string PeerName(int fd) {
  sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &sl) != 0) return "?";
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(ntohs(in->sin_port));
  }
  if (ss.ss_family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(ntohs(in6->sin6_port));
  }
  return "unix";
}

std::string PartialName(uint64_t seq, uint64_t size, uint32_t crc) {
  char buf[80];
  std::snprintf(buf, sizeof buf, "%llu.%llu.%08x.part", static_cast<unsigned long long>(seq),
                static_cast<unsigned long long>(size), crc);
  return buf;
}

}  // namespace

// One authenticated connection: the protocol state machine of the receiver.
class Server::Session {
 public:
  Session(Server* server, std::unique_ptr<TlsConn> conn, std::string tag)
      : s_(server), opts_(server->opts_), conn_(std::move(conn)), tag_(std::move(tag)) {}

  // Runs until the peer leaves, misbehaves, times out or the server stops.
  // `hello_deadline`: the HELLO must arrive by then (the handshake deadline).
  void Run(Conn* c, int64_t hello_deadline);

 private:
  // A violation by the peer: logged, reported in an ERROR frame, connection closed.
  void Reject(ErrorCode code, const Status& why);
  Status HandleOffer(const Frame& f);
  Status Send(MsgType type, std::string_view payload) {
    return conn_->WriteFrame(type, payload, DeadlineAfterMs(opts_.io_timeout_ms));
  }
  Status SendResult(uint64_t seq, const TransferResult& r) {
    ResultMsg m{seq, r.outcome, r.reason};
    Status st = Send(MsgType::kResult, EncodeResult(m));
    if (st.ok()) {
      std::lock_guard<std::mutex> l(s_->mu_);
      ++s_->stats_.batches_acked;
    }
    return st;
  }

  Server* s_;
  const ServerOptions& opts_;
  std::unique_ptr<TlsConn> conn_;
  std::string tag_;  // "conn #3 127.0.0.1:5555 device watch-1" for log lines
  std::string device_;
  ErrorCode error_code_ = ErrorCode::kProtocol;  // for the Status HandleOffer returns
};

void Server::Session::Reject(ErrorCode code, const Status& why) {
  {
    std::lock_guard<std::mutex> l(s_->mu_);
    ++s_->stats_.protocol_errors;  // before the log line, which tests wait for
  }
  LogWarn("link: " + tag_ + ": closing: " + why.ToString());
  ErrorMsg e{code, why.message()};
  // Best effort, short: the peer may be the problem.
  conn_->WriteFrame(MsgType::kError, EncodeError(e), DeadlineAfterMs(1000));
}

void Server::Session::Run(Conn* c, int64_t hello_deadline) {
  Result<Frame> f = conn_->ReadFrame(hello_deadline, opts_.io_timeout_ms);
  if (!f.ok()) {
    if (f.status().IsCorruption())
      return Reject(ErrorCode::kProtocol, f.status().WithContext("waiting for HELLO"));
    LogWarn("link: " + tag_ + ": no HELLO: " + f.status().ToString());
    return;
  }
  Hello hello;
  if (f->type != static_cast<uint8_t>(MsgType::kHello))
    return Reject(ErrorCode::kProtocol,
                  Status::Corruption("expected HELLO, got " + MsgTypeName(f->type)));
  Status st = DecodeHello(f->payload, &hello);
  if (!st.ok()) return Reject(ErrorCode::kProtocol, st);
  if (hello.version < 1)
    return Reject(ErrorCode::kVersion,
                  Status::Corruption("client protocol version " + std::to_string(hello.version) +
                                     "; this relay speaks 1.." + std::to_string(kProtocolVersion)));
  if (hello.device_id != conn_->identity())
    return Reject(ErrorCode::kUnauthorized,
                  Status::PermissionDenied("HELLO names device '" + hello.device_id +
                                           "' but the connection authenticated as '" +
                                           conn_->identity() + "'"));
  device_ = hello.device_id;
  if (!s_->ClaimDevice(device_, c)) {
    return Reject(ErrorCode::kBusy,
                  Status::Unavailable("another connection of device " + device_ +
                                      " is still finishing a commit; retry later"));
  }
  HelloOk ok;
  ok.version = std::min<uint16_t>(hello.version, kProtocolVersion);
  ok.max_file_size = opts_.max_file_size;
  st = Send(MsgType::kHelloOk, EncodeHelloOk(ok));
  if (st.ok()) {
    LogInfo("link: " + tag_ + ": device " + device_ + " connected (protocol " +
            std::to_string(ok.version) + ")");
    for (;;) {
      if (s_->stopping_) {
        st = Status::Aborted("server stopping");
        break;
      }
      f = conn_->ReadFrame(DeadlineAfterMs(opts_.idle_timeout_ms), opts_.io_timeout_ms);
      if (!f.ok()) {
        st = f.status();
        if (st.IsAborted() && st.message().find("truncated") == std::string::npos)
          st = st.WithContext("no request for " + std::to_string(opts_.idle_timeout_ms) + " ms");
        break;
      }
      if (f->type == static_cast<uint8_t>(MsgType::kPing)) {
        uint64_t nonce;
        st = DecodeNonce(f->payload, &nonce);
        if (!st.ok()) break;
        st = Send(MsgType::kPong, EncodeNonce(nonce));
        if (!st.ok()) break;
      } else if (f->type == static_cast<uint8_t>(MsgType::kOffer)) {
        error_code_ = ErrorCode::kProtocol;
        st = HandleOffer(*f);
        if (!st.ok()) break;
      } else {
        st = Status::Corruption("unexpected " + MsgTypeName(f->type) + " while idle");
        break;
      }
    }
  }
  if (st.IsCorruption() || st.IsPermissionDenied() || st.IsResourceExhausted()) {
    Reject(error_code_, st);
  } else if (st.message().find("truncated") != std::string::npos) {
    {
      std::lock_guard<std::mutex> l(s_->mu_);
      ++s_->stats_.protocol_errors;
    }
    LogWarn("link: " + tag_ + ": closing: " + st.ToString());
  } else if (st.IsUnavailable() && st.message().find("peer closed") != std::string::npos) {
    LogInfo("link: " + tag_ + ": disconnected (" + st.message() + ")");
  } else if (s_->stopping_) {
    LogInfo("link: " + tag_ + ": closing: server stopping");
  } else {
    LogWarn("link: " + tag_ + ": closing: " + st.ToString());
  }
  s_->ReleaseDevice(device_, c);
}

Status Server::Session::HandleOffer(const Frame& f) {
  Offer offer;
  ACCEL_RETURN_IF_ERROR(DecodeOffer(f.payload, &offer));
  if (offer.device_id != device_) {
    error_code_ = ErrorCode::kUnauthorized;
    return Status::PermissionDenied("OFFER for device '" + offer.device_id +
                                    "' on a connection of '" + device_ + "'");
  }
  const std::string what = "device " + device_ + " batch " + std::to_string(offer.sequence);
  if (offer.size > opts_.max_file_size) {
    error_code_ = ErrorCode::kTooLarge;
    return Status::ResourceExhausted(what + ": offered " + std::to_string(offer.size) +
                                     " bytes, the limit is " + std::to_string(opts_.max_file_size));
  }
  if (std::optional<TransferResult> early =
          s_->sink_->PreCheck(device_, offer.sequence, offer.size)) {
    LogInfo("link: " + tag_ + ": " + what + ": " + OutcomeName(early->outcome) +
            " before transfer" + (early->reason.empty() ? "" : ": " + early->reason));
    return SendResult(offer.sequence, *early);
  }

  // The spool: a partial file named after the exact offer, so a different
  // file reusing the sequence never continues another's bytes.
  Env* env = opts_.env;
  const std::string dir = JoinPath(opts_.spool_dir, device_);
  const std::string name = PartialName(offer.sequence, offer.size, offer.crc32c);
  const std::string path = JoinPath(dir, name);
  const std::string seq_prefix = std::to_string(offer.sequence) + ".";
  std::string have;
  std::unique_ptr<WritableFile> file;
  std::vector<std::string> names;
  if (env->GetChildren(dir, &names).ok()) {
    for (const std::string& n : names) {
      if (n == name) {
        Status r = env->ReadFile(path, &have, opts_.max_file_size);
        if (!r.ok() || have.size() > offer.size) {
          LogWarn("link: " + tag_ + ": discarding partial " + path + ": " +
                  (r.ok() ? "longer than the offer" : r.ToString()));
          have.clear();
          env->RemoveFile(path);
        }
      } else if (n.compare(0, seq_prefix.size(), seq_prefix) == 0) {
        env->RemoveFile(JoinPath(dir, n));  // an older offer of this sequence: superseded
      }
    }
  }
  if (!have.empty()) {
    // Confirm only what is on stable storage: rewrite and fsync before RESUME.
    Status w = env->NewWritableFile(path, &file, 0600);
    if (w.ok()) w = file->Append(have);
    if (w.ok()) w = file->Sync();
    if (w.ok()) w = env->SyncDir(dir);
    if (!w.ok()) {
      error_code_ = ErrorCode::kInternal;
      return Status::IOError(what + ": spool: " + w.ToString());
    }
  }
  ACCEL_RETURN_IF_ERROR(Send(MsgType::kResume, EncodeResume(Resume{offer.sequence, have.size()})));
  const uint64_t resumed_at = have.size();
  if (have.capacity() < offer.size) have.reserve(offer.size);

  while (have.size() < offer.size) {
    Result<Frame> d = conn_->ReadFrame(DeadlineAfterMs(opts_.io_timeout_ms), opts_.io_timeout_ms);
    if (!d.ok()) return d.status().WithContext(what);
    if (d->type != static_cast<uint8_t>(MsgType::kData))
      return Status::Corruption(what + ": unexpected " + MsgTypeName(d->type) + " at offset " +
                                std::to_string(have.size()) + " of " + std::to_string(offer.size));
    DataHeader h;
    std::string_view chunk;
    ACCEL_RETURN_IF_ERROR(DecodeData(d->payload, &h, &chunk));
    if (h.sequence != offer.sequence)
      return Status::Corruption(what + ": DATA for sequence " + std::to_string(h.sequence));
    if (h.offset != have.size())
      return Status::Corruption(what + ": DATA at offset " + std::to_string(h.offset) +
                                ", expected " + std::to_string(have.size()));
    if (chunk.empty() || chunk.size() > offer.size - have.size())
      return Status::Corruption(what + ": DATA chunk of " + std::to_string(chunk.size()) +
                                " bytes at offset " + std::to_string(h.offset) +
                                " does not fit the offered size " + std::to_string(offer.size));
    // Spool what a cut could strand; the final chunk completes the file in
    // memory, so a batch that arrives in one frame never touches the disk here.
    Status w;
    const bool last = have.size() + chunk.size() == offer.size;
    if (!file && !last) {
      w = env->CreateDirs(dir, 0700);
      if (w.ok()) w = env->NewWritableFile(path, &file, 0600);
    }
    if (w.ok() && !last) w = file->Append(chunk);
    if (!w.ok()) {
      error_code_ = ErrorCode::kInternal;
      return Status::IOError(what + ": spool: " + w.ToString());
    }
    have.append(chunk.data(), chunk.size());
  }
  if (file) file->Close();

  uint32_t crc = crc32c::Value(have);
  if (crc != offer.crc32c) {
    env->RemoveFile(path);
    error_code_ = ErrorCode::kChecksum;
    char buf[128];
    std::snprintf(buf, sizeof buf, ": file CRC-32C 0x%08x != offered 0x%08x; partial discarded",
                  crc, offer.crc32c);
    return Status::Corruption(what + buf);
  }

  // Commit on a helper thread so KEEPALIVEs keep the watch from declaring
  // us dead while a slow disk or a big SQLite transaction takes its time.
  std::future<TransferResult> fut = std::async(
      std::launch::async, [&] { return s_->sink_->Commit(device_, offer.sequence, have); });
  Status alive;
  while (fut.wait_for(std::chrono::milliseconds(opts_.heartbeat_ms)) != std::future_status::ready) {
    if (alive.ok()) alive = Send(MsgType::kKeepalive, "");
  }
  TransferResult result = fut.get();
  if (file) {
    file.reset();
    env->RemoveFile(path);
  }
  LogInfo("link: " + tag_ + ": " + what + ": " + OutcomeName(result.outcome) + " (" +
          std::to_string(offer.size) + " bytes" +
          (resumed_at > 0 ? ", resumed at " + std::to_string(resumed_at) : "") + ")" +
          (result.reason.empty() ? "" : ": " + result.reason));
  if (!alive.ok()) return alive;
  return SendResult(offer.sequence, result);
}

Result<std::unique_ptr<Server>> Server::Start(const ServerOptions& options, BatchSink* sink) {
  if (sink == nullptr) return Status::InvalidArgument("link server: no sink");
  if (!options.psk_for_device) return Status::InvalidArgument("link server: no psk_for_device");
  if (options.spool_dir.empty()) return Status::InvalidArgument("link server: no spool_dir");
  if (options.max_connections == 0)
    return Status::InvalidArgument("link server: max_connections must be > 0");
  if (options.handshake_timeout_ms <= 0 || options.io_timeout_ms <= 0 ||
      options.idle_timeout_ms <= 0 || options.heartbeat_ms <= 0)
    return Status::InvalidArgument("link server: timeouts must be > 0");
  Result<Endpoint> ep = Endpoint::Parse(options.endpoint);
  if (!ep.ok()) return ep.status();
  ACCEL_RETURN_IF_ERROR(options.env->CreateDirs(options.spool_dir, 0700));
  IgnoreSigpipe();

  std::unique_ptr<Server> s(new Server(options, sink));
  Result<int> fd = ListenEndpoint(*ep, 128, &s->bound_);
  if (!fd.ok()) return fd.status();
  s->listen_fd_ = *fd;
  if (::pipe2(s->wake_, O_CLOEXEC | O_NONBLOCK) != 0) {
    s->stopped_ = true;
    ::close(s->listen_fd_);
    return Status::FromErrno("pipe", errno);
  }
  s->accept_thread_ = std::thread(&Server::AcceptLoop, s.get());
  LogInfo("link: listening on " + s->endpoint());
  return s;
}

Server::~Server() { Stop(); }

Server::Stats Server::stats() const {
  std::lock_guard<std::mutex> l(mu_);
  return stats_;
}

void Server::ReapLocked(std::list<std::thread>* to_join) {
  for (auto it = conns_.begin(); it != conns_.end();) {
    if (it->done) {
      to_join->push_back(std::move(it->thread));
      it = conns_.erase(it);
    } else {
      ++it;
    }
  }
}

void Server::AcceptLoop() {
  for (;;) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    int rc = ::poll(p, 2, -1);
    if (rc < 0 && errno != EINTR) {
      LogError("link: poll: " + Status::FromErrno("poll", errno).ToString());
      return;
    }
    std::list<std::thread> finished;
    {
      std::lock_guard<std::mutex> l(mu_);
      ReapLocked(&finished);
    }
    for (std::thread& t : finished) t.join();
    if (stopping_) return;
    if (rc <= 0 || !(p[0].revents & POLLIN)) {
      if (p[1].revents & POLLIN) {
        char buf[64];
        while (::read(wake_[0], buf, sizeof buf) > 0) {
        }
      }
      continue;
    }
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) continue;
      LogError("link: " + Status::FromErrno("accept", errno).ToString());
      // EMFILE and friends: back off briefly instead of spinning on poll.
      pollfd w{wake_[0], POLLIN, 0};
      ::poll(&w, 1, 100);
      continue;
    }
    std::lock_guard<std::mutex> l(mu_);
    ++stats_.connections;
    if (conns_.size() >= opts_.max_connections) {
      ++stats_.refused_over_limit;
      LogWarn("link: " + PeerName(fd) + ": refused, " + std::to_string(conns_.size()) +
              " connections already open (max_connections)");
      ::close(fd);
      continue;
    }
    int one = 1;  // small frames (RESUME, RESULT) must not wait for Nagle
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // fails harmlessly on unix
    conns_.emplace_back();
    Conn* c = &conns_.back();
    c->id = next_conn_id_++;
    c->fd = fd;
    c->thread = std::thread(&Server::Serve, this, c);
  }
}

void Server::Serve(Conn* c) {
  int fd;
  uint64_t id;
  {
    std::lock_guard<std::mutex> l(mu_);
    fd = c->fd;
    id = c->id;
  }
  std::string tag = "conn #" + std::to_string(id) + " " + PeerName(fd);
  // The TLS layer gets its own descriptor of the socket, so Stop() and a
  // device takeover can shutdown(2) `fd` at any time without racing a close.
  int tls_fd = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (tls_fd >= 0) {
    // One deadline from accept to HELLO: a peer that dribbles cannot hold a slot longer.
    const int64_t deadline = DeadlineAfterMs(opts_.handshake_timeout_ms);
    Result<std::unique_ptr<TlsConn>> tls =
        TlsConn::ServerHandshake(tls_fd, opts_.psk_for_device, deadline);
    if (!tls.ok()) {
      {
        std::lock_guard<std::mutex> l(mu_);
        ++stats_.handshake_failures;
      }
      if (!stopping_) LogWarn("link: " + tag + ": handshake failed: " + tls.status().ToString());
    } else {
      tag += " device " + (*tls)->identity();
      Session session(this, std::move(tls).value(), tag);
      session.Run(c, deadline);
    }
  } else {
    LogError("link: " + tag + ": " + Status::FromErrno("dup", errno).ToString());
  }
  std::lock_guard<std::mutex> l(mu_);
  c->fd = -1;
  c->done = true;
  ::close(fd);
  if (!stopping_ && wake_[1] >= 0) {
    char x = 'r';  // let the accept loop reap this thread
    ssize_t ignored = ::write(wake_[1], &x, 1);
    (void)ignored;
  }
}

bool Server::ClaimDevice(const std::string& device, Conn* c) {
  std::unique_lock<std::mutex> l(mu_);
  int64_t deadline = DeadlineAfterMs(opts_.io_timeout_ms);
  uint64_t cut = 0;
  for (;;) {
    auto it = owners_.find(device);
    if (it == owners_.end()) break;
    if (cut != it->second.conn_id) {
      cut = it->second.conn_id;
      LogInfo("link: device " + device + " reconnected; cutting its older conn #" +
              std::to_string(cut));
      ::shutdown(it->second.fd, SHUT_RDWR);
    }
    int ms = RemainingMs(deadline);
    if (ms <= 0 || stopping_) return false;
    cv_.wait_for(l, std::chrono::milliseconds(ms));
  }
  owners_[device] = Owner{c->id, c->fd};
  return true;
}

void Server::ReleaseDevice(const std::string& device, Conn* c) {
  if (device.empty()) return;
  std::lock_guard<std::mutex> l(mu_);
  auto it = owners_.find(device);
  if (it != owners_.end() && it->second.conn_id == c->id) {
    owners_.erase(it);
    cv_.notify_all();
  }
}

void Server::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopped_) return;
    stopped_ = true;
  }
  stopping_ = true;
  char x = 's';
  ssize_t ignored = ::write(wake_[1], &x, 1);
  (void)ignored;
  if (accept_thread_.joinable()) accept_thread_.join();
  {
    std::lock_guard<std::mutex> l(mu_);
    for (Conn& c : conns_)
      if (c.fd >= 0) ::shutdown(c.fd, SHUT_RDWR);
    cv_.notify_all();
  }
  for (Conn& c : conns_)
    if (c.thread.joinable()) c.thread.join();
  conns_.clear();
  ::close(listen_fd_);
  listen_fd_ = -1;
  if (bound_.kind == Endpoint::Kind::kUnix) ::unlink(bound_.path.c_str());
  ::close(wake_[0]);
  ::close(wake_[1]);
  wake_[0] = wake_[1] = -1;
  LogInfo("link: stopped serving " + endpoint());
}

}  // namespace link
}  // namespace accel
