// The link's wire format: frames and the messages they carry, as pure
// encode/decode functions with no I/O, so both ends and the tests share one
// definition. docs/link-protocol.md is the normative description.
//
// A frame (inside the TLS stream), all integers little-endian:
//   u32 payload_length | u8 type | payload[payload_length] | u32 crc32c(type, payload)
#ifndef ACCEL_LINK_PROTOCOL_H_
#define ACCEL_LINK_PROTOCOL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace accel {
namespace link {

inline constexpr uint16_t kProtocolVersion = 1;
inline constexpr char kHelloMagic[4] = {'A', 'C', 'L', 'K'};
inline constexpr size_t kFrameHeaderBytes = 5;   // length + type
inline constexpr size_t kFrameTrailerBytes = 4;  // crc32c
// Largest payload either side accepts; a DATA frame carries at most
// kMaxChunkBytes of file data plus its 16-byte header.
inline constexpr uint32_t kMaxChunkBytes = 1u << 20;
inline constexpr uint32_t kMaxFramePayload = kMaxChunkBytes + 64;
inline constexpr size_t kMaxDeviceIdBytes = 64;
inline constexpr size_t kMaxReasonBytes = 1024;

enum class MsgType : uint8_t {
  kHello = 0x01,      // client -> server: magic, version, device id
  kHelloOk = 0x02,    // server -> client: version, limits
  kOffer = 0x03,      // client -> server: device id, sequence, size, crc32c
  kResume = 0x04,     // server -> client: sequence, offset to continue from
  kData = 0x05,       // client -> server: sequence, offset, bytes
  kResult = 0x06,     // server -> client: sequence, outcome, reason
  kPing = 0x07,       // client -> server: nonce (answered by kPong)
  kPong = 0x08,       // server -> client: the same nonce
  kKeepalive = 0x09,  // server -> client while it works on a commit; no answer
  kError = 0x0A,      // either way: code, reason; the sender closes afterwards
};
// "HELLO", "DATA", ... or "unknown(0x42)".
std::string MsgTypeName(uint8_t type);
bool IsKnownMsgType(uint8_t type);

// Outcome of one transferred batch, as decided by the receiver.
enum class Outcome : uint8_t {
  kCommitted = 0,    // durably committed now
  kDuplicate = 1,    // this (device, sequence) was committed before with the same content
  kRejected = 2,     // will never be accepted (e.g. sequence reused with other content)
  kRefusedFull = 3,  // receiver is out of room; try again later
};
const char* OutcomeName(Outcome o);

struct TransferResult {
  Outcome outcome = Outcome::kCommitted;
  std::string reason;  // why, for rejected / refused
};

enum class ErrorCode : uint16_t {
  kProtocol = 1,      // malformed, unknown or out-of-order frame
  kVersion = 2,       // no common protocol version
  kTooLarge = 3,      // offer exceeds the receiver's max file size
  kChecksum = 4,      // the received file did not match the offered CRC
  kBusy = 5,          // another connection of this device is still finishing
  kInternal = 6,      // the receiver failed (spool I/O, shutting down)
  kUnauthorized = 7,  // device id does not match the authenticated identity
};

// Device ids name spool directories and key files, so they are restricted to
// [A-Za-z0-9._-], 1..64 bytes, not starting with '.'.
Status ValidateDeviceId(std::string_view id);

struct Frame {
  uint8_t type = 0;
  std::string payload;
};

// Whole frame bytes (header, payload, crc).
std::string EncodeFrame(MsgType type, std::string_view payload);
// Checks a received 5-byte header; returns the payload length.
Result<uint32_t> ParseFrameHeader(const char header[kFrameHeaderBytes], uint8_t* type);
// Verifies the trailer of a frame whose header and payload were read.
Status CheckFrameCrc(uint8_t type, std::string_view payload, uint32_t crc_le);

struct Hello {
  uint16_t version = kProtocolVersion;
  std::string device_id;
};
struct HelloOk {
  uint16_t version = kProtocolVersion;
  uint32_t max_frame_payload = kMaxFramePayload;
  uint64_t max_file_size = 0;
};
struct Offer {
  std::string device_id;
  uint64_t sequence = 0;
  uint64_t size = 0;
  uint32_t crc32c = 0;
};
struct Resume {
  uint64_t sequence = 0;
  uint64_t offset = 0;
};
struct DataHeader {
  uint64_t sequence = 0;
  uint64_t offset = 0;
};
inline constexpr size_t kDataHeaderBytes = 16;
struct ResultMsg {
  uint64_t sequence = 0;
  Outcome outcome = Outcome::kCommitted;
  std::string reason;
};
struct ErrorMsg {
  ErrorCode code = ErrorCode::kProtocol;
  std::string reason;
};

std::string EncodeHello(const Hello& m);
std::string EncodeHelloOk(const HelloOk& m);
std::string EncodeOffer(const Offer& m);
std::string EncodeResume(const Resume& m);
// DATA payload: header followed by the chunk bytes.
std::string EncodeData(const DataHeader& h, std::string_view chunk);
std::string EncodeResult(const ResultMsg& m);
std::string EncodeNonce(uint64_t nonce);  // PING / PONG
std::string EncodeError(const ErrorMsg& m);

// Decoders check every length against the payload and reject trailing bytes;
// errors are Corruption("<TYPE>: offset N: <field> ...").
Status DecodeHello(std::string_view p, Hello* m);
Status DecodeHelloOk(std::string_view p, HelloOk* m);
Status DecodeOffer(std::string_view p, Offer* m);
Status DecodeResume(std::string_view p, Resume* m);
// `chunk` points into `p`.
Status DecodeData(std::string_view p, DataHeader* h, std::string_view* chunk);
Status DecodeResult(std::string_view p, ResultMsg* m);
Status DecodeNonce(std::string_view p, uint64_t* nonce);
Status DecodeError(std::string_view p, ErrorMsg* m);

}  // namespace link
}  // namespace accel

#endif  // ACCEL_LINK_PROTOCOL_H_
