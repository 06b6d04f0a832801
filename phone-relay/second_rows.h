// Per-second rows: how the relay cuts a batch of samples into one row per
// (device, epoch second) and merges a second that arrives in several pieces.
//
// A row's samples are stored as the codec's sample block (common/batch_format.h,
// docs/row-format.md) relative to the start of the second, in t order; samples
// with equal t keep their arrival order (the row's samples first, then the new
// ones), so merging is deterministic. Alongside the block the relay keeps an
// "origin" list, local only: for each sample the index (into the row's list of
// contributing batch sequences) of the batch it came from. The origin lets the
// late-sample merge path send exactly the samples of the batches DynamoDB does
// not hold yet (invariant 4) without comparing sample values, which repeat
// legitimately (duplicate timestamps and values occur in real recordings).
//
// This file is the only place in phone-relay/ that calls the sample codec.
#ifndef ACCEL_PHONE_RELAY_SECOND_ROWS_H_
#define ACCEL_PHONE_RELAY_SECOND_ROWS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/sample.h"
#include "common/status.h"

namespace accel {
namespace relay {

inline constexpr int64_t kNanosPerSecond = 1000000000;

// floor(t_ns / 1e9), correct for negative times too.
inline int64_t EpochSecondOf(int64_t t_ns) {
  int64_t s = t_ns / kNanosPerSecond;
  if (t_ns % kNanosPerSecond < 0) --s;
  return s;
}

// A batch file as the relay needs it.
struct DecodedBatch {
  std::string device_id;
  uint64_t sequence = 0;
  double resolution_g = Resolution::kDefaultStepG;
  std::vector<QSample> samples;
};

// Decodes and validates a whole batch file; the error is the codec's precise
// message (field, byte offset).
Status DecodeBatchFile(std::string_view bytes, DecodedBatch* out);

// The samples of one second, decoded, with their origin indexes.
struct SecondSamples {
  std::vector<QSample> samples;  // ordered by t, stable for equal t
  std::vector<uint32_t> origin;  // same length: index into the row's seq list
};

// Sample block of one second (base time = second * 1e9 ns).
Status EncodeSecondBlock(int64_t second, double resolution_g, const std::vector<QSample>& samples,
                         std::string* block);
Status DecodeSecondBlock(int64_t second, double resolution_g, std::string_view block,
                         std::vector<QSample>* samples);

// Origin list: one LEB128 varint per sample.
void EncodeOrigin(const std::vector<uint32_t>& origin, std::string* out);
Status DecodeOrigin(std::string_view bytes, size_t expected_count, std::vector<uint32_t>* out);

// Sequence list as stored in SQLite: decimal numbers joined by ','.
std::string FormatSeqList(const std::vector<uint64_t>& seqs);
Status ParseSeqList(std::string_view text, std::vector<uint64_t>* out);

// Appends `add` (ordered by t, all with origin `add_origin`) to `into`,
// keeping t order and, for equal t, the existing samples first.
void MergeSamples(const std::vector<QSample>& add, uint32_t add_origin, SecondSamples* into);

// Splits samples (any order) into runs per epoch second, each run ordered by t
// (stable). Returns pairs of (second, samples) in ascending second order.
std::vector<std::pair<int64_t, std::vector<QSample>>> SplitBySecond(
    const std::vector<QSample>& samples);

}  // namespace relay
}  // namespace accel

#endif  // ACCEL_PHONE_RELAY_SECOND_ROWS_H_
