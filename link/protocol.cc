#include "link/protocol.h"

#include <cstdio>
#include <cstring>

#include "common/crc32c.h"

namespace accel {
namespace link {

namespace {

void PutU8(std::string* s, uint8_t v) { s->push_back(static_cast<char>(v)); }
void PutU16(std::string* s, uint16_t v) {
  for (int i = 0; i < 2; ++i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU32(std::string* s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string* s, uint64_t v) {
  for (int i = 0; i < 8; ++i) s->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
// Strings are u16 length + bytes; callers bound the length first.
void PutStr(std::string* s, std::string_view v) {
  PutU16(s, static_cast<uint16_t>(v.size()));
  s->append(v.data(), v.size());
}

uint64_t LoadLE(const char* p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

// Bounds-checked reader over one payload; the first failure sticks.
class Reader {
 public:
  Reader(const char* what, std::string_view p) : what_(what), p_(p) {}
  bool U8(const char* field, uint8_t* v) {
    if (!Need(field, 1)) return false;
    *v = static_cast<uint8_t>(p_[off_]);
    off_ += 1;
    return true;
  }
  bool U16(const char* field, uint16_t* v) {
    if (!Need(field, 2)) return false;
    *v = static_cast<uint16_t>(LoadLE(p_.data() + off_, 2));
    off_ += 2;
    return true;
  }
  bool U32(const char* field, uint32_t* v) {
    if (!Need(field, 4)) return false;
    *v = static_cast<uint32_t>(LoadLE(p_.data() + off_, 4));
    off_ += 4;
    return true;
  }
  bool U64(const char* field, uint64_t* v) {
    if (!Need(field, 8)) return false;
    *v = LoadLE(p_.data() + off_, 8);
    off_ += 8;
    return true;
  }
  bool Str(const char* field, size_t max, std::string* v) {
    uint16_t n;
    size_t at = off_;
    if (!U16(field, &n)) return false;
    if (n > max) {
      Fail(at,
           std::string(field) + " length " + std::to_string(n) + " exceeds " + std::to_string(max));
      return false;
    }
    if (!Need(field, n)) return false;
    v->assign(p_.data() + off_, n);
    off_ += n;
    return true;
  }
  bool Bytes(const char* field, size_t n, std::string* v) {
    if (!Need(field, n)) return false;
    v->assign(p_.data() + off_, n);
    off_ += n;
    return true;
  }
  std::string_view Rest() {
    std::string_view r = p_.substr(off_);
    off_ = p_.size();
    return r;
  }
  Status Finish() {
    if (status_.ok() && off_ != p_.size())
      Fail(off_, std::to_string(p_.size() - off_) + " trailing bytes");
    return status_;
  }
  void Fail(size_t at, const std::string& msg) {
    if (status_.ok())
      status_ =
          Status::Corruption(std::string(what_) + ": offset " + std::to_string(at) + ": " + msg);
  }

 private:
  bool Need(const char* field, size_t n) {
    if (!status_.ok()) return false;
    if (p_.size() - off_ < n) {
      Fail(off_, std::string("truncated ") + field + " (need " + std::to_string(n) +
                     " bytes, have " + std::to_string(p_.size() - off_) + ")");
      return false;
    }
    return true;
  }
  const char* what_;
  std::string_view p_;
  size_t off_ = 0;
  Status status_;
};

std::string Clip(std::string_view s, size_t max) {
  return std::string(s.substr(0, std::min(s.size(), max)));
}

}  // namespace

std::string MsgTypeName(uint8_t type) {
  switch (static_cast<MsgType>(type)) {
    case MsgType::kHello:
      return "HELLO";
    case MsgType::kHelloOk:
      return "HELLO_OK";
    case MsgType::kOffer:
      return "OFFER";
    case MsgType::kResume:
      return "RESUME";
    case MsgType::kData:
      return "DATA";
    case MsgType::kResult:
      return "RESULT";
    case MsgType::kPing:
      return "PING";
    case MsgType::kPong:
      return "PONG";
    case MsgType::kKeepalive:
      return "KEEPALIVE";
    case MsgType::kError:
      return "ERROR";
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "unknown(0x%02x)", type);
  return buf;
}

bool IsKnownMsgType(uint8_t type) {
  return type >= static_cast<uint8_t>(MsgType::kHello) &&
         type <= static_cast<uint8_t>(MsgType::kError);
}

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kCommitted:
      return "committed";
    case Outcome::kDuplicate:
      return "duplicate";
    case Outcome::kRejected:
      return "rejected";
    case Outcome::kRefusedFull:
      return "refused-full";
  }
  return "unknown";
}

Status ValidateDeviceId(std::string_view id) {
  if (id.empty()) return Status::InvalidArgument("device id is empty");
  if (id.size() > kMaxDeviceIdBytes)
    return Status::InvalidArgument("device id is " + std::to_string(id.size()) +
                                   " bytes, the limit is " + std::to_string(kMaxDeviceIdBytes));
  if (id[0] == '.') return Status::InvalidArgument("device id must not start with '.'");
  for (size_t i = 0; i < id.size(); ++i) {
    char c = id[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok)
      return Status::InvalidArgument("device id: byte " + std::to_string(i) +
                                     " is not one of [A-Za-z0-9._-]");
  }
  return Status::OK();
}

std::string EncodeFrame(MsgType type, std::string_view payload) {
  std::string f;
  f.reserve(kFrameHeaderBytes + payload.size() + kFrameTrailerBytes);
  PutU32(&f, static_cast<uint32_t>(payload.size()));
  PutU8(&f, static_cast<uint8_t>(type));
  f.append(payload.data(), payload.size());
  uint32_t crc = crc32c::Extend(0, f.data() + 4, 1 + payload.size());
  PutU32(&f, crc);
  return f;
}

Result<uint32_t> ParseFrameHeader(const char header[kFrameHeaderBytes], uint8_t* type) {
  uint32_t len = static_cast<uint32_t>(LoadLE(header, 4));
  *type = static_cast<uint8_t>(header[4]);
  if (len > kMaxFramePayload)
    return Status::Corruption("frame length " + std::to_string(len) + " exceeds the maximum " +
                              std::to_string(kMaxFramePayload) + " (type " + MsgTypeName(*type) +
                              ")");
  if (!IsKnownMsgType(*type))
    return Status::Corruption("unknown frame type " + MsgTypeName(*type) + " (length " +
                              std::to_string(len) + ")");
  return len;
}

Status CheckFrameCrc(uint8_t type, std::string_view payload, uint32_t crc_le) {
  uint32_t crc = crc32c::Extend(0, &type, 1);
  crc = crc32c::Extend(crc, payload.data(), payload.size());
  if (crc != crc_le) {
    char buf[96];
    std::snprintf(buf, sizeof buf,
                  "frame checksum mismatch (type %s, length %zu): 0x%08x != 0x%08x",
                  MsgTypeName(type).c_str(), payload.size(), crc_le, crc);
    return Status::Corruption(buf);
  }
  return Status::OK();
}

std::string EncodeHello(const Hello& m) {
  std::string s(kHelloMagic, 4);
  PutU16(&s, m.version);
  PutStr(&s, Clip(m.device_id, kMaxDeviceIdBytes));
  return s;
}

std::string EncodeHelloOk(const HelloOk& m) {
  std::string s;
  PutU16(&s, m.version);
  PutU32(&s, m.max_frame_payload);
  PutU64(&s, m.max_file_size);
  return s;
}

std::string EncodeOffer(const Offer& m) {
  std::string s;
  PutStr(&s, Clip(m.device_id, kMaxDeviceIdBytes));
  PutU64(&s, m.sequence);
  PutU64(&s, m.size);
  PutU32(&s, m.crc32c);
  return s;
}

std::string EncodeResume(const Resume& m) {
  std::string s;
  PutU64(&s, m.sequence);
  PutU64(&s, m.offset);
  return s;
}

std::string EncodeData(const DataHeader& h, std::string_view chunk) {
  std::string s;
  s.reserve(kDataHeaderBytes + chunk.size());
  PutU64(&s, h.sequence);
  PutU64(&s, h.offset);
  s.append(chunk.data(), chunk.size());
  return s;
}

std::string EncodeResult(const ResultMsg& m) {
  std::string s;
  PutU64(&s, m.sequence);
  PutU8(&s, static_cast<uint8_t>(m.outcome));
  PutStr(&s, Clip(m.reason, kMaxReasonBytes));
  return s;
}

std::string EncodeNonce(uint64_t nonce) {
  std::string s;
  PutU64(&s, nonce);
  return s;
}

std::string EncodeError(const ErrorMsg& m) {
  std::string s;
  PutU16(&s, static_cast<uint16_t>(m.code));
  PutStr(&s, Clip(m.reason, kMaxReasonBytes));
  return s;
}

Status DecodeHello(std::string_view p, Hello* m) {
  Reader r("HELLO", p);
  std::string magic;
  if (r.Bytes("magic", 4, &magic) && std::memcmp(magic.data(), kHelloMagic, 4) != 0)
    r.Fail(0, "bad magic (not an accel link peer)");
  r.U16("version", &m->version);
  r.Str("device_id", kMaxDeviceIdBytes, &m->device_id);
  return r.Finish();
}

Status DecodeHelloOk(std::string_view p, HelloOk* m) {
  Reader r("HELLO_OK", p);
  r.U16("version", &m->version);
  r.U32("max_frame_payload", &m->max_frame_payload);
  r.U64("max_file_size", &m->max_file_size);
  return r.Finish();
}

Status DecodeOffer(std::string_view p, Offer* m) {
  Reader r("OFFER", p);
  r.Str("device_id", kMaxDeviceIdBytes, &m->device_id);
  r.U64("sequence", &m->sequence);
  r.U64("size", &m->size);
  r.U32("crc32c", &m->crc32c);
  return r.Finish();
}

Status DecodeResume(std::string_view p, Resume* m) {
  Reader r("RESUME", p);
  r.U64("sequence", &m->sequence);
  r.U64("offset", &m->offset);
  return r.Finish();
}

Status DecodeData(std::string_view p, DataHeader* h, std::string_view* chunk) {
  if (p.size() < kDataHeaderBytes)
    return Status::Corruption("DATA: offset 0: truncated header (need 16 bytes, have " +
                              std::to_string(p.size()) + ")");
  h->sequence = LoadLE(p.data(), 8);
  h->offset = LoadLE(p.data() + 8, 8);
  *chunk = p.substr(kDataHeaderBytes);
  return Status::OK();
}

Status DecodeResult(std::string_view p, ResultMsg* m) {
  Reader r("RESULT", p);
  uint8_t o = 0;
  r.U64("sequence", &m->sequence);
  if (r.U8("outcome", &o)) {
    if (o > static_cast<uint8_t>(Outcome::kRefusedFull))
      r.Fail(8, "unknown outcome " + std::to_string(o));
    m->outcome = static_cast<Outcome>(o);
  }
  r.Str("reason", kMaxReasonBytes, &m->reason);
  return r.Finish();
}

Status DecodeNonce(std::string_view p, uint64_t* nonce) {
  Reader r("PING/PONG", p);
  r.U64("nonce", nonce);
  return r.Finish();
}

Status DecodeError(std::string_view p, ErrorMsg* m) {
  Reader r("ERROR", p);
  uint16_t c = 0;
  r.U16("code", &c);
  m->code = static_cast<ErrorCode>(c);
  r.Str("reason", kMaxReasonBytes, &m->reason);
  return r.Finish();
}

}  // namespace link
}  // namespace accel
