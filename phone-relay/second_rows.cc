#include "phone-relay/second_rows.h"

#include <algorithm>
#include <charconv>

#include "common/batch_format.h"

namespace accel {
namespace relay {

// --- The only calls into the codec (common/batch_format.h). ---

Status DecodeBatchFile(std::string_view bytes, DecodedBatch* out) {
  BatchHeader header;
  ACCEL_RETURN_IF_ERROR(DecodeBatch(bytes, &header, &out->samples));
  out->device_id = std::move(header.device_id);
  out->sequence = header.sequence;
  out->resolution_g = header.resolution_g;
  return Status::OK();
}

Status EncodeSecondBlock(int64_t second, double /*resolution_g*/,
                         const std::vector<QSample>& samples, std::string* block) {
  // The block holds counts; the resolution travels beside it (column / `r`).
  return EncodeSampleBlock(second * kNanosPerSecond, samples.data(), samples.size(), block);
}

Status DecodeSecondBlock(int64_t second, double /*resolution_g*/, std::string_view block,
                         std::vector<QSample>* samples) {
  return DecodeSampleBlock(second * kNanosPerSecond, block, samples);
}

// --- Row bookkeeping. ---

void EncodeOrigin(const std::vector<uint32_t>& origin, std::string* out) {
  out->clear();
  out->reserve(origin.size());
  for (uint32_t v : origin) {
    while (v >= 0x80) {
      out->push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out->push_back(static_cast<char>(v));
  }
}

Status DecodeOrigin(std::string_view bytes, size_t expected_count, std::vector<uint32_t>* out) {
  out->clear();
  out->reserve(std::min(expected_count, bytes.size()));
  size_t pos = 0;
  while (pos < bytes.size()) {
    uint32_t v = 0;
    int shift = 0;
    for (;;) {
      if (pos >= bytes.size())
        return Status::Corruption("origin list: truncated varint at offset " + std::to_string(pos));
      uint8_t b = static_cast<uint8_t>(bytes[pos++]);
      if (shift > 28 || (shift == 28 && (b & 0x70)))
        return Status::Corruption("origin list: varint overflow at offset " +
                                  std::to_string(pos - 1));
      v |= uint32_t(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
      shift += 7;
    }
    out->push_back(v);
  }
  if (out->size() != expected_count)
    return Status::Corruption("origin list holds " + std::to_string(out->size()) +
                              " entries, expected " + std::to_string(expected_count));
  return Status::OK();
}

std::string FormatSeqList(const std::vector<uint64_t>& seqs) {
  std::string out;
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (i) out.push_back(',');
    out += std::to_string(seqs[i]);
  }
  return out;
}

Status ParseSeqList(std::string_view text, std::vector<uint64_t>* out) {
  out->clear();
  if (text.empty()) return Status::OK();
  const char* p = text.data();
  const char* end = p + text.size();
  while (p < end) {
    uint64_t v = 0;
    auto [next, ec] = std::from_chars(p, end, v);
    if (ec != std::errc() || (next != end && *next != ','))
      return Status::Corruption("sequence list '" + std::string(text) + "': bad number at offset " +
                                std::to_string(p - text.data()));
    out->push_back(v);
    p = next == end ? end : next + 1;
  }
  return Status::OK();
}

void MergeSamples(const std::vector<QSample>& add, uint32_t add_origin, SecondSamples* into) {
  std::vector<QSample> samples;
  std::vector<uint32_t> origin;
  samples.reserve(into->samples.size() + add.size());
  origin.reserve(samples.capacity());
  size_t i = 0, j = 0;
  while (i < into->samples.size() || j < add.size()) {
    // Equal t: the existing sample first (stable).
    bool take_old =
        j >= add.size() || (i < into->samples.size() && into->samples[i].t_ns <= add[j].t_ns);
    if (take_old) {
      samples.push_back(into->samples[i]);
      origin.push_back(into->origin[i]);
      ++i;
    } else {
      samples.push_back(add[j++]);
      origin.push_back(add_origin);
    }
  }
  into->samples = std::move(samples);
  into->origin = std::move(origin);
}

std::vector<std::pair<int64_t, std::vector<QSample>>> SplitBySecond(
    const std::vector<QSample>& samples) {
  std::vector<QSample> sorted = samples;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const QSample& a, const QSample& b) { return a.t_ns < b.t_ns; });
  std::vector<std::pair<int64_t, std::vector<QSample>>> out;
  for (const QSample& s : sorted) {
    int64_t sec = EpochSecondOf(s.t_ns);
    if (out.empty() || out.back().first != sec) out.emplace_back(sec, std::vector<QSample>());
    out.back().second.push_back(s);
  }
  return out;
}

}  // namespace relay
}  // namespace accel
