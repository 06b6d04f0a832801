#include "link/client.h"

#include <algorithm>

#include "common/crc32c.h"
#include "common/log.h"
#include "link/endpoint.h"

namespace accel {
namespace link {

Client::Client(ClientOptions o, std::unique_ptr<TlsConn> c)
    : opts_(std::move(o)), conn_(std::move(c)), last_activity_(MonoNowNanos()) {}

Client::~Client() { Close(); }

void Client::Close() {
  if (conn_) conn_->Close();
  if (broken_.ok()) broken_ = Status::Unavailable("connection closed by the caller");
}

Result<std::unique_ptr<Client>> Client::Connect(const ClientOptions& options) {
  ACCEL_RETURN_IF_ERROR(ValidateDeviceId(options.device_id));
  if (options.psk.size() != kPskBytes)
    return Status::InvalidArgument("pairing secret must be " + std::to_string(kPskBytes) +
                                   " bytes, got " + std::to_string(options.psk.size()));
  if (options.chunk_bytes == 0 || options.chunk_bytes > kMaxChunkBytes)
    return Status::InvalidArgument("chunk_bytes must be in [1, " + std::to_string(kMaxChunkBytes) +
                                   "]");
  if (options.io_timeout_ms <= 0) return Status::InvalidArgument("io_timeout_ms must be > 0");
  if (options.answer_timeout_ms <= 0)
    return Status::InvalidArgument("answer_timeout_ms must be > 0");
  Result<Endpoint> ep = Endpoint::Parse(options.endpoint);
  if (!ep.ok()) return ep.status();
  IgnoreSigpipe();

  const std::string where = "link " + options.endpoint;
  Result<int> fd = DialEndpoint(*ep, DeadlineAfterMs(options.io_timeout_ms));
  if (!fd.ok()) return fd.status().WithContext(where);
  auto tls = TlsConn::ClientHandshake(*fd, options.device_id, options.psk,
                                      DeadlineAfterMs(options.io_timeout_ms));
  if (!tls.ok()) return tls.status().WithContext(where);
  std::unique_ptr<Client> c(new Client(options, std::move(tls).value()));

  Hello hello;
  hello.device_id = options.device_id;
  ACCEL_RETURN_IF_ERROR(c->Send(MsgType::kHello, EncodeHello(hello)));
  Result<Frame> f = c->ReadAnswer("HELLO_OK");
  if (!f.ok()) return f.status().WithContext(where);
  HelloOk ok;
  Status s = f->type == static_cast<uint8_t>(MsgType::kHelloOk)
                 ? DecodeHelloOk(f->payload, &ok)
                 : Status::Corruption("expected HELLO_OK, got " + MsgTypeName(f->type));
  if (s.ok() && ok.version != kProtocolVersion)
    s = Status::Corruption("server chose protocol version " + std::to_string(ok.version) +
                           ", this client speaks " + std::to_string(kProtocolVersion));
  if (!s.ok()) return c->Fail(s).WithContext(where);
  c->max_file_size_ = ok.max_file_size;
  return c;
}

Status Client::Fail(Status s) {
  if (broken_.ok()) broken_ = s;
  if (conn_) conn_->Close();
  return s;
}

Status Client::Send(MsgType type, std::string_view payload) {
  if (!broken_.ok()) return Status::Unavailable("link is down: " + broken_.message());
  Status s = conn_->WriteFrame(type, payload, DeadlineAfterMs(opts_.io_timeout_ms));
  if (!s.ok()) return Fail(s.WithContext("sending " + MsgTypeName(static_cast<uint8_t>(type))));
  last_activity_ = MonoNowNanos();
  return Status::OK();
}

Result<Frame> Client::ReadAnswer(const char* waiting_for) {
  if (!broken_.ok()) return Status::Unavailable("link is down: " + broken_.message());
  const int64_t overall = DeadlineAfterMs(opts_.answer_timeout_ms);
  for (;;) {
    int64_t deadline = std::min(DeadlineAfterMs(opts_.io_timeout_ms), overall);
    Result<Frame> f = conn_->ReadFrame(deadline, opts_.io_timeout_ms);
    if (!f.ok()) {
      Status s = f.status();
      if (s.IsAborted() && MonoNowNanos() >= overall)
        s = Status::Aborted("no " + std::string(waiting_for) + " within " +
                            std::to_string(opts_.answer_timeout_ms) +
                            " ms (answer_timeout_ms); the relay is alive but not answering");
      return Fail(s.WithContext(std::string("waiting for ") + waiting_for));
    }
    last_activity_ = MonoNowNanos();
    if (f->type == static_cast<uint8_t>(MsgType::kKeepalive)) {
      if (!f->payload.empty())
        return Fail(Status::Corruption("KEEPALIVE with a " + std::to_string(f->payload.size()) +
                                       "-byte payload"));
      if (opts_.cancelled && opts_.cancelled())
        return Fail(Status::Aborted(std::string("cancelled while waiting for ") + waiting_for));
      continue;  // the server is alive and working
    }
    if (f->type == static_cast<uint8_t>(MsgType::kError)) {
      ErrorMsg e;
      Status d = DecodeError(f->payload, &e);
      if (!d.ok()) return Fail(d);
      std::string msg =
          "server error " + std::to_string(static_cast<int>(e.code)) + ": " + e.reason;
      switch (e.code) {
        case ErrorCode::kTooLarge:
          return Fail(Status::ResourceExhausted(msg));
        case ErrorCode::kUnauthorized:
          return Fail(Status::PermissionDenied(msg));
        case ErrorCode::kBusy:
        case ErrorCode::kInternal:
          return Fail(Status::Unavailable(msg));
        default:
          return Fail(Status::Corruption(msg));
      }
    }
    return f;
  }
}

Result<TransferResult> Client::SendBatch(uint64_t sequence, std::string_view file_bytes) {
  last_resume_offset_ = 0;
  last_bytes_sent_ = 0;
  if (!broken_.ok()) return Status::Unavailable("link is down: " + broken_.message());
  if (file_bytes.size() > max_file_size_)
    return Status::ResourceExhausted(
        "batch " + std::to_string(sequence) + " is " + std::to_string(file_bytes.size()) +
        " bytes; the relay accepts at most " + std::to_string(max_file_size_));
  Offer offer;
  offer.device_id = opts_.device_id;
  offer.sequence = sequence;
  offer.size = file_bytes.size();
  offer.crc32c = crc32c::Value(file_bytes);
  ACCEL_RETURN_IF_ERROR(Send(MsgType::kOffer, EncodeOffer(offer)));

  Result<Frame> f = ReadAnswer("RESUME");
  if (!f.ok()) return f.status();
  const std::string ctx = "batch " + std::to_string(sequence);
  if (f->type == static_cast<uint8_t>(MsgType::kResume)) {
    Resume r;
    Status s = DecodeResume(f->payload, &r);
    if (s.ok() && r.sequence != sequence)
      s = Status::Corruption("RESUME for sequence " + std::to_string(r.sequence));
    if (s.ok() && r.offset > file_bytes.size())
      s = Status::Corruption("RESUME offset " + std::to_string(r.offset) + " beyond size " +
                             std::to_string(file_bytes.size()));
    if (!s.ok()) return Fail(s.WithContext(ctx));
    last_resume_offset_ = r.offset;
    for (uint64_t off = r.offset; off < file_bytes.size();) {
      size_t n =
          static_cast<size_t>(std::min<uint64_t>(opts_.chunk_bytes, file_bytes.size() - off));
      DataHeader h{sequence, off};
      ACCEL_RETURN_IF_ERROR(Send(MsgType::kData, EncodeData(h, file_bytes.substr(off, n))));
      off += n;
      last_bytes_sent_ += n;
    }
    f = ReadAnswer("RESULT");
    if (!f.ok()) return f.status();
  }
  if (f->type != static_cast<uint8_t>(MsgType::kResult))
    return Fail(Status::Corruption(ctx + ": expected RESULT, got " + MsgTypeName(f->type)));
  ResultMsg m;
  Status s = DecodeResult(f->payload, &m);
  if (s.ok() && m.sequence != sequence)
    s = Status::Corruption("RESULT for sequence " + std::to_string(m.sequence));
  if (!s.ok()) return Fail(s.WithContext(ctx));
  return TransferResult{m.outcome, m.reason};
}

Status Client::Ping() {
  uint64_t nonce = next_nonce_++;
  ACCEL_RETURN_IF_ERROR(Send(MsgType::kPing, EncodeNonce(nonce)));
  Result<Frame> f = ReadAnswer("PONG");
  if (!f.ok()) return f.status();
  uint64_t got = 0;
  Status s = f->type == static_cast<uint8_t>(MsgType::kPong)
                 ? DecodeNonce(f->payload, &got)
                 : Status::Corruption("expected PONG, got " + MsgTypeName(f->type));
  if (s.ok() && got != nonce)
    s = Status::Corruption("PONG nonce " + std::to_string(got) + " != " + std::to_string(nonce));
  if (!s.ok()) return Fail(s);
  return Status::OK();
}

Status Client::PingIfIdle() {
  if (MonoNowNanos() - last_activity_ < opts_.heartbeat_ms * 1000000) return Status::OK();
  return Ping();
}

}  // namespace link
}  // namespace accel
