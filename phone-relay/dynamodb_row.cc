#include "phone-relay/dynamodb_row.h"

#include <charconv>
#include <cstdio>
#include <cstring>

namespace accel {
namespace relay {

uint32_t DeviceSlot(std::string_view device_id) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a 64 offset basis
  for (unsigned char c : device_id) {
    h ^= c;
    h *= 1099511628211ull;  // FNV 64 prime
  }
  return static_cast<uint32_t>(1 + h % 999999);
}

void AppendSortKeyText(int64_t second, uint32_t slot, std::string* out) {
  // No printf: this runs once per row of every request.
  char buf[32];
  char* p = buf;
  uint32_t frac = slot;
  unsigned long long whole = static_cast<unsigned long long>(second);
  if (second < 0) {
    // S + f with S < 0 is -((|S| - 1) + (1 - f)).
    *p++ = '-';
    whole = static_cast<unsigned long long>(-(second + 1));
    frac = 1000000u - slot;
  }
  p = std::to_chars(p, buf + sizeof buf, whole).ptr;
  *p++ = '.';
  for (int k = 5; k >= 0; --k) {
    p[k] = static_cast<char>('0' + frac % 10);
    frac /= 10;
  }
  out->append(buf, p + 6);
}

std::string SortKeyText(int64_t second, uint32_t slot) {
  std::string out;
  AppendSortKeyText(second, slot, &out);
  return out;
}

Status ParseSortKey(std::string_view text, int64_t* second, uint32_t* slot) {
  auto bad = [&]() {
    return Status::InvalidArgument("sort key t '" + std::string(text) +
                                   "': expected S.ssssss (epoch second and a slot of 1-6 digits)");
  };
  // DynamoDB normalises numbers (trailing zeros of the fraction are dropped:
  // "1700000000.005080" reads back as "1700000000.00508"), so 1 to 6
  // fractional digits are accepted and padded on the right.
  bool neg = !text.empty() && text[0] == '-';
  std::string_view body = neg ? text.substr(1) : text;
  size_t dot = body.find('.');
  if (dot == std::string_view::npos || dot == 0) return bad();
  std::string_view frac = body.substr(dot + 1);
  if (frac.empty() || frac.size() > 6) return bad();
  long long s = 0;
  auto r1 = std::from_chars(body.data(), body.data() + dot, s);
  if (r1.ec != std::errc() || r1.ptr != body.data() + dot) return bad();
  uint32_t f = 0;
  for (size_t i = 0; i < 6; ++i) {
    char c = i < frac.size() ? frac[i] : '0';
    if (c < '0' || c > '9') return bad();
    f = f * 10 + uint32_t(c - '0');
  }
  if (f == 0) return bad();
  if (neg) {
    *second = -s - 1;
    *slot = 1000000u - f;
  } else {
    *second = s;
    *slot = f;
  }
  return Status::OK();
}

void AppendExactDecimal(double v, std::string* out) {
  // Every row of a device carries the same resolution: the last text is
  // reused (compared bit for bit, so -0.0 and 0.0 stay apart).
  thread_local uint64_t last_bits = 0;
  thread_local std::string last_text = "0";
  uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  if (bits != last_bits) {
    char buf[400];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
    last_text = r.ec == std::errc() ? std::string(buf, r.ptr) : std::string("0");
    last_bits = bits;
  }
  out->append(last_text);
}

std::string ExactDecimal(double v) {
  std::string out;
  AppendExactDecimal(v, &out);
  return out;
}

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The two base64 characters of every 12-bit value: one lookup per 1.5 bytes.
struct Base64Pairs {
  char pair[4096][2] = {};
  constexpr Base64Pairs() {
    for (int v = 0; v < 4096; ++v) {
      pair[v][0] = kB64[v >> 6];
      pair[v][1] = kB64[v & 63];
    }
  }
};
constexpr Base64Pairs kB64Pairs;
}  // namespace

void AppendBase64(std::string_view in, std::string* out) {
  const size_t n = in.size();
  const size_t old = out->size();
  out->resize(old + (n + 2) / 3 * 4);
  char* o = &(*out)[old];
  const unsigned char* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t(p[i]) << 16) | (uint32_t(p[i + 1]) << 8) | p[i + 2];
    std::memcpy(o, kB64Pairs.pair[v >> 12], 2);
    std::memcpy(o + 2, kB64Pairs.pair[v & 0xfff], 2);
    o += 4;
  }
  if (i < n) {
    uint32_t v = uint32_t(p[i]) << 16;
    if (i + 1 < n) v |= uint32_t(p[i + 1]) << 8;
    o[0] = kB64[v >> 18];
    o[1] = kB64[(v >> 12) & 63];
    o[2] = i + 1 < n ? kB64[(v >> 6) & 63] : '=';
    o[3] = '=';
  }
}

Status DecodeBase64(std::string_view in, std::string* out) {
  out->clear();
  if (in.size() % 4 != 0)
    return Status::InvalidArgument("base64: length " + std::to_string(in.size()) +
                                   " is not a multiple of 4");
  out->reserve(in.size() / 4 * 3);
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  for (size_t i = 0; i < in.size(); i += 4) {
    int pad = 0;
    uint32_t v = 0;
    for (size_t k = 0; k < 4; ++k) {
      char c = in[i + k];
      int d;
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        d = 0;
        ++pad;
      } else {
        d = val(c);
        if (d < 0 || pad > 0)
          return Status::InvalidArgument("base64: bad character at offset " +
                                         std::to_string(i + k));
      }
      v = (v << 6) | uint32_t(d);
    }
    out->push_back(static_cast<char>(v >> 16));
    if (pad < 2) out->push_back(static_cast<char>((v >> 8) & 0xff));
    if (pad < 1) out->push_back(static_cast<char>(v & 0xff));
  }
  return Status::OK();
}

namespace {

// A JSON string literal (quotes and escapes). Runs of plain characters are
// appended whole.
void AppendJsonStr(std::string_view s, std::string* out) {
  out->push_back('"');
  size_t plain = 0;  // start of the run not appended yet
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c != '"' && c != '\\' && c >= 0x20) continue;
    out->append(s.data() + plain, i - plain);
    plain = i + 1;
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out->append(buf);
    }
  }
  out->append(s.data() + plain, s.size() - plain);
  out->push_back('"');
}

void AppendInt(int64_t v, std::string* out) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out->append(buf, r.ptr);
}

// DynamoDB's number size: 1 byte per 2 significant digits, plus 1.
size_t NumberSize(std::string_view text) {
  size_t digits = 0;
  size_t first = std::string_view::npos, last = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] >= '0' && text[i] <= '9') {
      if (text[i] != '0') {
        if (first == std::string_view::npos) first = i;
        last = i;
      }
    }
  }
  if (first == std::string_view::npos) return 2;
  for (size_t i = first; i <= last; ++i)
    if (text[i] >= '0' && text[i] <= '9') ++digits;
  return (digits + 1) / 2 + 1;
}

}  // namespace

void AppendItemJson(const RowItem& item, std::string* out) {
  out->append("{\"id\":{\"S\":");
  AppendJsonStr(item.identity_id, out);
  out->append("},\"t\":{\"N\":\"");
  AppendSortKeyText(item.second, DeviceSlot(item.device_id), out);
  out->append("\"},\"d\":{\"S\":");
  AppendJsonStr(item.device_id, out);
  out->append("},\"n\":{\"N\":\"");
  AppendInt(item.count, out);
  out->append("\"},\"s\":{\"B\":\"");
  AppendBase64(item.block, out);
  out->append("\"},\"r\":{\"N\":\"");
  AppendExactDecimal(item.resolution_g, out);
  out->append("\"},\"f\":{\"N\":\"");
  AppendInt(kRowFormatVersion, out);
  out->append("\"},\"b\":{\"NS\":[");
  if (item.seqs != nullptr) {
    for (size_t i = 0; i < item.seqs->size(); ++i) {
      if (i) out->push_back(',');
      out->push_back('"');
      AppendInt(static_cast<int64_t>((*item.seqs)[i]), out);
      out->push_back('"');
    }
  }
  out->append("]},\"v\":{\"N\":\"");
  AppendInt(item.version, out);
  out->append("\"}}");
}

size_t ItemSizeBytes(const RowItem& item) {
  size_t n = 0;
  n += 2 + item.identity_id.size();
  n += 1 + NumberSize(SortKeyText(item.second, DeviceSlot(item.device_id)));
  n += 1 + item.device_id.size();
  n += 1 + NumberSize(std::to_string(item.count));
  n += 1 + item.block.size();
  n += 1 + NumberSize(ExactDecimal(item.resolution_g));
  n += 1 + NumberSize(std::to_string(kRowFormatVersion));
  n += 1;
  if (item.seqs != nullptr)
    for (uint64_t s : *item.seqs) n += NumberSize(std::to_string(s));
  n += 1 + NumberSize(std::to_string(item.version));
  return n;
}

std::string GetItemBody(std::string_view table, std::string_view identity_id,
                        std::string_view device_id, int64_t second) {
  std::string out = "{\"TableName\":";
  AppendJsonStr(table, &out);
  out.append(",\"Key\":{\"id\":{\"S\":");
  AppendJsonStr(identity_id, &out);
  out.append("},\"t\":{\"N\":\"");
  out.append(SortKeyText(second, DeviceSlot(device_id)));
  out.append("\"}},\"ConsistentRead\":true}");
  return out;
}

std::string ConditionalPutBody(std::string_view table, const RowItem& item,
                               int64_t expected_version) {
  std::string out = "{\"TableName\":";
  AppendJsonStr(table, &out);
  out.append(",\"Item\":");
  AppendItemJson(item, &out);
  if (expected_version < 0) {
    out.append(",\"ConditionExpression\":\"attribute_not_exists(v)\"}");
  } else {
    out.append(
        ",\"ConditionExpression\":\"v = :old\",\"ExpressionAttributeValues\":"
        "{\":old\":{\"N\":\"");
    AppendInt(expected_version, &out);
    out.append("\"}}}");
  }
  return out;
}

BatchWriteBody::BatchWriteBody(std::string_view table) : table_(table) { Clear(); }

void BatchWriteBody::Clear() {
  body_.clear();
  body_.append("{\"RequestItems\":{");
  AppendJsonStr(table_, &body_);
  body_.append(":[");
  items_ = 0;
}

void BatchWriteBody::Add(const RowItem& item) {
  if (items_ > 0) body_.push_back(',');
  body_.append("{\"PutRequest\":{\"Item\":");
  AppendItemJson(item, &body_);
  body_.append("}}");
  ++items_;
}

const std::string& BatchWriteBody::Finish() {
  body_.append("]}}");
  return body_;
}

}  // namespace relay
}  // namespace accel
