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

std::string SortKeyText(int64_t second, uint32_t slot) {
  char buf[48];
  if (second >= 0) {
    std::snprintf(buf, sizeof buf, "%lld.%06u", static_cast<long long>(second), slot);
  } else {
    // S + f with S < 0 is -((|S| - 1) + (1 - f)).
    unsigned long long mag = static_cast<unsigned long long>(-(second + 1));
    std::snprintf(buf, sizeof buf, "-%llu.%06u", mag, 1000000u - slot);
  }
  return buf;
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

std::string ExactDecimal(double v) {
  char buf[400];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  if (r.ec != std::errc()) return "0";
  return std::string(buf, r.ptr);
}

namespace {
constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
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
    o[0] = kB64[v >> 18];
    o[1] = kB64[(v >> 12) & 63];
    o[2] = kB64[(v >> 6) & 63];
    o[3] = kB64[v & 63];
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

// A JSON string literal (quotes and escapes).
void AppendJsonStr(std::string_view s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out->append(buf);
    } else {
      out->push_back(static_cast<char>(c));
    }
  }
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
  out->append(SortKeyText(item.second, DeviceSlot(item.device_id)));
  out->append("\"},\"d\":{\"S\":");
  AppendJsonStr(item.device_id, out);
  out->append("},\"n\":{\"N\":\"");
  AppendInt(item.count, out);
  out->append("\"},\"s\":{\"B\":\"");
  AppendBase64(item.block, out);
  out->append("\"},\"r\":{\"N\":\"");
  out->append(ExactDecimal(item.resolution_g));
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
