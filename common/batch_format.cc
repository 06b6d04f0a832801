#include "common/batch_format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "common/batch_body.h"
#include "common/bit_io.h"
#include "common/crc32c.h"

namespace accel {
namespace {

std::string Where(size_t offset, const char* field) {
  return "offset " + std::to_string(offset) + ": field '" + field + "': ";
}

std::string Hex32(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

Status CheckDeviceId(const std::string& id) {
  if (id.empty() || id.size() > kMaxDeviceIdBytes)
    return Status::InvalidArgument("device id must be 1..64 bytes, got " +
                                   std::to_string(id.size()));
  for (size_t i = 0; i < id.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(id[i]);
    if (c < 0x20 || c > 0x7E)
      return Status::InvalidArgument("device id byte " + std::to_string(i) +
                                     " is not printable ASCII");
  }
  return Status::OK();
}

// The same rule as Resolution::FromStep: finite, at most 1 g, and no finer
// than Resolution::kMinStepG, so that +-kMaxCount counts hold +-32 g.
bool ResolutionOk(double r) { return Resolution::FromStep(r).ok(); }

// Validates the samples' value range; the message names sample and axis.
// A vectorised pass of minima and maxima first, the search for the
// offending sample only when there is one.
Status CheckSamples(const QSample* s, size_t n) {
  const int32_t lim = Resolution::kMaxCount;
  if (batch_internal::CountsInRange(s, n)) return Status::OK();
  for (size_t i = 0; i < n; ++i) {
    const int32_t v[3] = {s[i].x, s[i].y, s[i].z};
    for (int a = 0; a < 3; ++a) {
      if (v[a] > lim || v[a] < -lim)
        return Status::InvalidArgument("sample " + std::to_string(i) + ": " + "xyz"[a] + " count " +
                                       std::to_string(v[a]) + " beyond +-" + std::to_string(lim));
    }
  }
  return Status::OK();
}

// Parsed header plus where the body lies.
struct Layout {
  size_t body_offset = 0;
  size_t body_length = 0;
  size_t crc_offset = 0;
};

Status ParseHeader(std::string_view f, BatchHeader* h, Layout* layout) {
  auto truncated = [&](size_t off, const char* field, size_t need) {
    return Status::Corruption(Where(off, field) + "truncated: needs " + std::to_string(need) +
                              " bytes, file has " + std::to_string(f.size()));
  };
  if (f.size() < 4) return truncated(0, "magic", 4);
  if (std::memcmp(f.data(), kBatchMagic, 4) != 0)
    return Status::Corruption(Where(0, "magic") + "bad magic (not a batch file)");
  if (f.size() < 5) return truncated(4, "version", 5);
  uint8_t version = static_cast<uint8_t>(f[4]);
  if (version != kBatchFormatVersion)
    return Status::Corruption(Where(4, "version") + "unknown format version " +
                              std::to_string(version) + " (this build reads 1)");
  if (f.size() < 6) return truncated(5, "device_id_length", 6);
  size_t id_len = static_cast<uint8_t>(f[5]);
  if (id_len == 0 || id_len > kMaxDeviceIdBytes)
    return Status::Corruption(Where(5, "device_id_length") + "must be 1..64, got " +
                              std::to_string(id_len));
  if (f.size() < 6 + id_len) return truncated(6, "device_id", 6 + id_len);
  for (size_t i = 0; i < id_len; ++i) {
    unsigned char c = static_cast<unsigned char>(f[6 + i]);
    if (c < 0x20 || c > 0x7E)
      return Status::Corruption(Where(6 + i, "device_id") + "byte " + std::to_string(c) +
                                " is not printable ASCII");
  }
  size_t p = 6 + id_len;
  const char* names[6] = {"sequence",     "first_t_ns",   "nominal_period_ns",
                          "resolution_g", "sample_count", "body_length"};
  const size_t widths[6] = {8, 8, 8, 8, 4, 4};
  uint64_t vals[6];
  for (int i = 0; i < 6; ++i) {
    if (f.size() < p + widths[i]) return truncated(p, names[i], p + widths[i]);
    vals[i] = widths[i] == 8 ? bitio::LoadFixed64(f.data() + p) : bitio::LoadFixed32(f.data() + p);
    p += widths[i];
  }
  const size_t off_period = 6 + id_len + 16, off_res = off_period + 8, off_count = off_res + 8,
               off_len = off_count + 4;
  BatchHeader out;
  out.device_id.assign(f.data() + 6, id_len);
  out.sequence = vals[0];
  out.first_t_ns = static_cast<int64_t>(vals[1]);
  out.nominal_period_ns = static_cast<int64_t>(vals[2]);
  std::memcpy(&out.resolution_g, &vals[3], 8);
  out.sample_count = static_cast<uint32_t>(vals[4]);
  const uint64_t body_len = vals[5];
  if (out.nominal_period_ns <= 0)
    return Status::Corruption(Where(off_period, "nominal_period_ns") + "must be > 0, got " +
                              std::to_string(out.nominal_period_ns));
  if (!ResolutionOk(out.resolution_g)) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "must be finite in [%.9g, 1] (32 g / %d counts), got %.17g",
                  Resolution::kMinStepG, Resolution::kMaxCount, out.resolution_g);
    return Status::Corruption(Where(off_res, "resolution_g") + buf);
  }
  if (out.sample_count > kMaxBatchSamples)
    return Status::Corruption(Where(off_count, "sample_count") + std::to_string(out.sample_count) +
                              " exceeds the limit of " + std::to_string(kMaxBatchSamples));
  const size_t body_off = p;
  if (body_len > f.size() - body_off || f.size() - body_off - body_len < 4)
    return Status::Corruption(Where(off_len, "body_length") + "declares " +
                              std::to_string(body_len) + " body bytes + 4 CRC bytes at offset " +
                              std::to_string(body_off) + ", but the file has only " +
                              std::to_string(f.size() - body_off) + " bytes there (truncated?)");
  if (f.size() - body_off - body_len > 4)
    return Status::Corruption(Where(body_off + body_len + 4, "crc32c") +
                              std::to_string(f.size() - body_off - body_len - 4) +
                              " trailing bytes after the checksum");
  if (out.sample_count == 0 && body_len != 0)
    return Status::Corruption(Where(off_len, "body_length") + "must be 0 for an empty batch, got " +
                              std::to_string(body_len));
  if (out.sample_count == 0 && out.first_t_ns != 0)
    return Status::Corruption(Where(6 + id_len + 8, "first_t_ns") + "must be 0 for an empty batch");
  if (out.sample_count > 0 && (body_len == 0 || out.sample_count - 1 > 32 * body_len))
    return Status::Corruption(Where(off_count, "sample_count") + std::to_string(out.sample_count) +
                              " samples cannot fit a body of " + std::to_string(body_len) +
                              " bytes (at most 32 * body_length + 1)");
  *h = out;
  layout->body_offset = body_off;
  layout->body_length = static_cast<size_t>(body_len);
  layout->crc_offset = body_off + static_cast<size_t>(body_len);
  return Status::OK();
}

}  // namespace

namespace {
Status EncodeBatchWith(const BatchHeader& header, const QSample* samples, size_t n,
                       std::string* out, batch_internal::EncoderState* state);
}

Status EncodeBatch(const BatchHeader& header, const QSample* samples, size_t n, std::string* out) {
  return EncodeBatchWith(header, samples, n, out, nullptr);
}

BatchEncoder::BatchEncoder() : state_(new batch_internal::EncoderState) {}
BatchEncoder::~BatchEncoder() = default;

Status BatchEncoder::Encode(const BatchHeader& header, const QSample* samples, size_t n,
                            std::string* out) {
  return EncodeBatchWith(header, samples, n, out, state_.get());
}

namespace {
Status EncodeBatchWith(const BatchHeader& header, const QSample* samples, size_t n,
                       std::string* out, batch_internal::EncoderState* state) {
  ACCEL_RETURN_IF_ERROR(CheckDeviceId(header.device_id));
  if (header.nominal_period_ns <= 0)
    return Status::InvalidArgument("nominal period must be > 0 ns, got " +
                                   std::to_string(header.nominal_period_ns));
  if (Result<Resolution> r = Resolution::FromStep(header.resolution_g); !r.ok()) return r.status();
  if (n > kMaxBatchSamples)
    return Status::InvalidArgument(std::to_string(n) + " samples exceed the batch limit of " +
                                   std::to_string(kMaxBatchSamples));
  ACCEL_RETURN_IF_ERROR(CheckSamples(samples, n));
  out->clear();
  out->reserve(64 + n * 4);
  out->append(kBatchMagic, 4);
  out->push_back(static_cast<char>(kBatchFormatVersion));
  out->push_back(static_cast<char>(header.device_id.size()));
  out->append(header.device_id);
  bitio::PutFixed64(out, header.sequence);
  bitio::PutFixed64(out, static_cast<uint64_t>(n > 0 ? samples[0].t_ns : 0));
  bitio::PutFixed64(out, static_cast<uint64_t>(header.nominal_period_ns));
  uint64_t res_bits;
  std::memcpy(&res_bits, &header.resolution_g, 8);
  bitio::PutFixed64(out, res_bits);
  bitio::PutFixed32(out, static_cast<uint32_t>(n));
  const size_t len_at = out->size();
  bitio::PutFixed32(out, 0);  // body_length, patched below
  const size_t body_at = out->size();
  if (n > 0) batch_internal::EncodeBody(samples, n, out, state);
  const size_t body_len = out->size() - body_at;
  if (body_len > UINT32_MAX) return Status::InvalidArgument("batch body exceeds 4 GiB");
  for (int i = 0; i < 4; ++i) (*out)[len_at + i] = static_cast<char>(body_len >> (8 * i));
  bitio::PutFixed32(out, crc32c::Value(*out));
  return Status::OK();
}

}  // namespace

Status DecodeBatchHeader(std::string_view file, BatchHeader* header) {
  Layout layout;
  return ParseHeader(file, header, &layout);
}

Status VerifyBatchChecksum(std::string_view file) {
  if (file.size() < 4) return Status::Corruption(Where(0, "crc32c") + "file too short");
  const size_t at = file.size() - 4;
  uint32_t stored = bitio::LoadFixed32(file.data() + at);
  uint32_t computed = crc32c::Value(file.data(), at);
  if (stored != computed)
    return Status::Corruption(Where(at, "crc32c") + "checksum mismatch: stored " + Hex32(stored) +
                              ", computed " + Hex32(computed));
  return Status::OK();
}

Status DecodeBatch(std::string_view file, BatchHeader* header, std::vector<QSample>* samples) {
  BatchHeader h;
  Layout layout;
  ACCEL_RETURN_IF_ERROR(ParseHeader(file, &h, &layout));
  ACCEL_RETURN_IF_ERROR(VerifyBatchChecksum(file));
  // Into the caller's vector (its capacity is reused: a reader decoding
  // batch after batch allocates once); emptied on error.
  samples->resize(h.sample_count);
  if (h.sample_count > 0) {
    Status st = batch_internal::DecodeBody(file.substr(layout.body_offset, layout.body_length),
                                           layout.body_offset, h.first_t_ns, h.sample_count,
                                           samples->data());
    if (!st.ok()) {
      samples->clear();
      return st;
    }
  }
  *header = h;
  return Status::OK();
}

// ------------------------------------------------------------ sample blocks

Status EncodeSampleBlock(int64_t base_t_ns, const QSample* samples, size_t n, std::string* out) {
  if (n > kMaxBlockSamples)
    return Status::InvalidArgument(std::to_string(n) + " samples exceed the block limit of " +
                                   std::to_string(kMaxBlockSamples));
  ACCEL_RETURN_IF_ERROR(CheckSamples(samples, n));
  out->clear();
  out->push_back(1);  // block format version
  bitio::PutVarint(out, n);
  if (n == 0) return Status::OK();
  bitio::PutVarint(out, bitio::ZigZag(static_cast<int64_t>(static_cast<uint64_t>(samples[0].t_ns) -
                                                           static_cast<uint64_t>(base_t_ns))));
  batch_internal::EncodeBody(samples, n, out);
  return Status::OK();
}

Status DecodeSampleBlock(int64_t base_t_ns, std::string_view blob, std::vector<QSample>* out) {
  bitio::ByteReader br(blob, 0);
  uint8_t version = 0;
  if (!br.GetByte(&version)) return Status::Corruption(Where(0, "version") + "empty block");
  if (version != 1)
    return Status::Corruption(Where(0, "version") + "unknown block version " +
                              std::to_string(version) + " (this build reads 1)");
  uint64_t n = 0;
  size_t at = br.offset();
  auto varint = [&](const char* field, uint64_t* v) -> Status {
    at = br.offset();
    switch (br.GetVarint(v)) {
      case bitio::ByteReader::VarintError::kOk:
        return Status::OK();
      case bitio::ByteReader::VarintError::kTruncated:
        return Status::Corruption(Where(at, field) + "truncated varint");
      default:
        return Status::Corruption(Where(at, field) + "varint overflows 64 bits");
    }
  };
  ACCEL_RETURN_IF_ERROR(varint("sample_count", &n));
  if (n > kMaxBlockSamples)
    return Status::Corruption(Where(at, "sample_count") + std::to_string(n) +
                              " exceeds the limit of " + std::to_string(kMaxBlockSamples));
  const size_t count_at = at;
  if (n == 0) {
    if (br.remaining() != 0)
      return Status::Corruption(Where(br.offset(), "body") + "bytes after an empty block");
    out->clear();
    return Status::OK();
  }
  uint64_t t0_zz = 0;
  ACCEL_RETURN_IF_ERROR(varint("first_offset_ns", &t0_zz));
  const size_t body_at = br.offset();
  const size_t body_len = br.remaining();
  if (body_len == 0 || n - 1 > 32 * static_cast<uint64_t>(body_len))
    return Status::Corruption(Where(count_at, "sample_count") + std::to_string(n) +
                              " samples cannot fit a body of " + std::to_string(body_len) +
                              " bytes");
  int64_t t0 = static_cast<int64_t>(static_cast<uint64_t>(base_t_ns) +
                                    static_cast<uint64_t>(bitio::UnZigZag(t0_zz)));
  out->resize(static_cast<size_t>(n));
  Status st =
      batch_internal::DecodeBody(blob.substr(body_at), body_at, t0, out->size(), out->data());
  if (!st.ok()) out->clear();
  return st;
}

}  // namespace accel
