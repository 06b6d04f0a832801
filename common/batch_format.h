// The compact batch file (version 1) that the watch writes and the relay
// reads, and the headerless sample block used in per-second DynamoDB rows.
// The byte layout is specified in docs/batch-format.md and docs/row-format.md
// precisely enough to write a decoder from the documents alone.
//
// Storage is exact: every QSample (t_ns to the nanosecond, x/y/z counts)
// round-trips bit for bit, whatever the timestamps do (duplicates, backwards
// steps, gaps of hours, the full int64 range). Decoders validate everything
// and name the field and byte offset of the first problem; they never read
// out of bounds and never allocate from a length they have not bounded.
#ifndef ACCEL_COMMON_BATCH_FORMAT_H_
#define ACCEL_COMMON_BATCH_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/sample.h"
#include "common/status.h"

namespace accel {

struct BatchHeader {
  std::string device_id;  // 1..64 bytes, printable ASCII (0x20..0x7E)
  uint64_t sequence = 0;
  int64_t first_t_ns = 0;                  // filled by the encoder / decoder (0 for an empty batch)
  int64_t nominal_period_ns = 20'000'000;  // > 0
  double resolution_g = Resolution::kDefaultStepG;  // in [Resolution::kMinStepG, 1]
  uint32_t sample_count = 0;                        // filled by the encoder / decoder
};

// "ACCB": the first four bytes of every batch file.
inline constexpr char kBatchMagic[4] = {'A', 'C', 'C', 'B'};
inline constexpr uint8_t kBatchFormatVersion = 1;
// At most this many samples in one batch (about 93 hours at 50 Hz), so a
// declared count never drives an allocation beyond ~400 MB; the decoder
// further bounds it by the body size (sample_count - 1 <= 32 * body_length).
inline constexpr uint32_t kMaxBatchSamples = uint32_t{1} << 24;
inline constexpr size_t kMaxDeviceIdBytes = 64;
// Fixed header bytes besides the device id, and the trailing CRC.
inline constexpr size_t kBatchFixedBytes = 4 + 1 + 1 + 8 + 8 + 8 + 8 + 4 + 4 + 4;

// Encodes samples[0, n) as one batch file into *out (replacing its content).
// header.first_t_ns and header.sample_count are ignored (taken from the
// samples). InvalidArgument for a bad header field, n > kMaxBatchSamples, or a
// count beyond +-Resolution::kMaxCount (naming the sample and axis).
Status EncodeBatch(const BatchHeader& header, const QSample* samples, size_t n, std::string* out);
inline Status EncodeBatch(const BatchHeader& header, const std::vector<QSample>& samples,
                          std::string* out) {
  return EncodeBatch(header, samples.data(), samples.size(), out);
}

namespace batch_internal {
struct EncoderState;
}

// Encodes batch after batch from one sensor. Same format and exactness as
// EncodeBatch; it remembers each axis's value lattice (docs/batch-format.md
// 3.2) between batches, so the lattice search - most of a cold encode's time -
// runs only when the sensor's lattice stops fitting. The bytes may differ from
// EncodeBatch's for the same samples (another valid lattice choice); both
// decode to exactly the same samples. Not thread-safe: one per writer.
class BatchEncoder {
 public:
  BatchEncoder();
  ~BatchEncoder();
  BatchEncoder(const BatchEncoder&) = delete;
  BatchEncoder& operator=(const BatchEncoder&) = delete;
  Status Encode(const BatchHeader& header, const QSample* samples, size_t n, std::string* out);

 private:
  std::unique_ptr<batch_internal::EncoderState> state_;
};

// Decodes and verifies a whole batch file (header, sizes, CRC-32C, body).
// Corruption("offset N: field 'F': ...") on any problem. The samples go into
// *samples, whose capacity is reused; on error it holds no decoded data
// (left as it was, or emptied).
Status DecodeBatch(std::string_view file, BatchHeader* header, std::vector<QSample>* samples);

// Reads and validates the header and the declared sizes only (no CRC, no
// body): cheap enough for a relay to route a file before decoding it.
Status DecodeBatchHeader(std::string_view file, BatchHeader* header);

// Checks only the trailing CRC-32C of a file whose sizes are already known to
// be consistent (DecodeBatchHeader OK). Reports stored and computed values.
Status VerifyBatchChecksum(std::string_view file);

// --- per-second sample blocks (docs/row-format.md) ---

// At most this many samples in one block (a row holds one second).
inline constexpr uint32_t kMaxBlockSamples = 65535;

// A headerless block of samples, timestamps relative to base_t_ns (usually
// the row's second). *out is replaced. Same exactness as batches.
Status EncodeSampleBlock(int64_t base_t_ns, const QSample* samples, size_t n, std::string* out);
// Decodes a block; *out is replaced (its capacity reused; on error it holds
// no decoded data). Corruption("offset N: field 'F': ...").
Status DecodeSampleBlock(int64_t base_t_ns, std::string_view blob, std::vector<QSample>* out);

}  // namespace accel

#endif  // ACCEL_COMMON_BATCH_FORMAT_H_
