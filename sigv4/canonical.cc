#include "sigv4/canonical.h"

#include <algorithm>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace accel::sigv4::internal {
namespace {

constexpr size_t npos = std::string::npos;

struct CharTables {
  bool unreserved[256] = {};
  bool tchar[256] = {};
  constexpr CharTables() {
    for (int c = 'A'; c <= 'Z'; ++c) unreserved[c] = tchar[c] = true;
    for (int c = 'a'; c <= 'z'; ++c) unreserved[c] = tchar[c] = true;
    for (int c = '0'; c <= '9'; ++c) unreserved[c] = tchar[c] = true;
    unreserved[static_cast<unsigned char>('-')] = true;
    unreserved[static_cast<unsigned char>('_')] = true;
    unreserved[static_cast<unsigned char>('.')] = true;
    unreserved[static_cast<unsigned char>('~')] = true;
    const char* extra = "!#$%&'*+-.^_`|~";
    for (const char* p = extra; *p != '\0'; ++p) tchar[static_cast<unsigned char>(*p)] = true;
  }
};
constexpr CharTables kTables;

constexpr char kUpperHex[] = "0123456789ABCDEF";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

char ToLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

bool IsControl(unsigned char c) { return c < 0x20 || c == 0x7f; }

// SWAR: does any of the 8 bytes in x compare < 0x21 (space, tab, controls) or equal 0x7f?
// hasless(x, n) from "Bit Twiddling Hacks"; exact as an existence test for n <= 128.
inline bool HasSpecialByte(uint64_t x) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  const uint64_t lt21 = (x - kOnes * 0x21) & ~x & kHigh;
  const uint64_t y = x ^ (kOnes * 0x7f);
  const uint64_t del = (y - kOnes) & ~y & kHigh;
  return (lt21 | del) != 0;
}

inline bool IsSpecialByte(unsigned char c) { return c <= 0x20 || c == 0x7f; }

// Index of the first byte <= 0x20 or == 0x7f at or after i, or s.size().
size_t ScanSpecial(std::string_view s, size_t i) {
  const size_t n = s.size();
  const char* p = s.data();
#if defined(__SSE2__)
  // 16 bytes per step: a byte is special when min(b, 0x20) == b (unsigned b <= 0x20) or b == 0x7f.
  // The session token (~900 bytes on every DynamoDB request) goes through here.
  const __m128i space = _mm_set1_epi8(0x20);
  const __m128i del = _mm_set1_epi8(0x7f);
  while (i + 16 <= n) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const __m128i special =
        _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, space), v), _mm_cmpeq_epi8(v, del));
    const int mask = _mm_movemask_epi8(special);
    if (mask != 0) return i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
    i += 16;
  }
#endif
  while (i + 8 <= n) {
    uint64_t x;
    std::memcpy(&x, p + i, 8);
    if (HasSpecialByte(x)) break;
    i += 8;
  }
  while (i < n && !IsSpecialByte(static_cast<unsigned char>(p[i]))) ++i;
  return i;
}

// Index of the first control byte (< 0x20 or 0x7f; space is allowed) in s, or s.size().
size_t ScanControl(std::string_view s) {
  const size_t n = s.size();
  const char* p = s.data();
  size_t i = 0;
#if defined(__SSE2__)
  const __m128i us = _mm_set1_epi8(0x1f);
  const __m128i del = _mm_set1_epi8(0x7f);
  while (i + 16 <= n) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const int mask = _mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(_mm_min_epu8(v, us), v), _mm_cmpeq_epi8(v, del)));
    if (mask != 0) return i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
    i += 16;
  }
#endif
  while (i < n && !IsControl(static_cast<unsigned char>(p[i]))) ++i;
  return i;
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLowerAscii(a[i]) != ToLowerAscii(b[i])) return false;
  }
  return true;
}

Status ParseUrl(std::string_view url, UrlParts* out) {
  *out = UrlParts();
  const size_t ctl = ScanControl(url);
  if (ctl != url.size()) {
    const unsigned char c = static_cast<unsigned char>(url[ctl]);
    return Status::InvalidArgument(
        "malformed URL: control character 0x" + std::string(1, kUpperHex[c >> 4]) +
        std::string(1, kUpperHex[c & 0xf]) + " at offset " + std::to_string(ctl));
  }
  const size_t sep = url.find("://");
  if (sep == npos || sep == 0) {
    return Status::InvalidArgument("malformed URL \"" + std::string(url) +
                                   "\": expected scheme://host[:port]/path?query");
  }
  out->scheme = url.substr(0, sep);
  for (size_t i = 0; i < sep; ++i) {
    const char c = url[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool ok =
        alpha || (i > 0 && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.'));
    if (!ok) {
      return Status::InvalidArgument("malformed URL: bad character in scheme at offset " +
                                     std::to_string(i));
    }
  }
  const size_t frag = url.find('#');
  if (frag != npos) {
    return Status::InvalidArgument("malformed URL: fragment at offset " + std::to_string(frag) +
                                   " (a fragment is never sent, so it cannot be signed)");
  }
  const size_t auth_begin = sep + 3;
  size_t auth_end = auth_begin;
  while (auth_end < url.size() && url[auth_end] != '/' && url[auth_end] != '?') ++auth_end;
  out->authority = url.substr(auth_begin, auth_end - auth_begin);
  std::string_view a = out->authority;
  if (a.find('@') != npos) {
    return Status::InvalidArgument(
        "malformed URL: userinfo (\"user@\") in the authority at offset " +
        std::to_string(auth_begin + a.find('@')) + " is not supported");
  }
  std::string_view port;
  bool has_port = false;
  if (!a.empty() && a[0] == '[') {
    const size_t close = a.find(']');
    if (close == npos) {
      return Status::InvalidArgument("malformed URL: unterminated IPv6 literal at offset " +
                                     std::to_string(auth_begin));
    }
    out->host = a.substr(0, close + 1);
    std::string_view rest = a.substr(close + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') {
        return Status::InvalidArgument(
            "malformed URL: unexpected text after IPv6 literal at offset " +
            std::to_string(auth_begin + close + 1));
      }
      has_port = true;
      port = rest.substr(1);
    }
  } else {
    const size_t colon = a.find(':');
    if (colon != npos) {
      has_port = true;
      port = a.substr(colon + 1);
      out->host = a.substr(0, colon);
    } else {
      out->host = a;
    }
  }
  if (out->host.empty() || out->host == "[]") {
    return Status::InvalidArgument("missing host in URL \"" + std::string(url) + "\"");
  }
  for (size_t i = 0; i < out->host.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(out->host[i]);
    if (c == ' ' || c == '%' || c == '\\' || c == '"' || c == '<' || c == '>' || c == '^' ||
        c == '`' || c == '{' || c == '|' || c == '}') {
      return Status::InvalidArgument("malformed URL: invalid character in host at offset " +
                                     std::to_string(auth_begin + i));
    }
  }
  if (has_port && !port.empty()) {
    uint32_t value = 0;
    for (size_t i = 0; i < port.size(); ++i) {
      if (port[i] < '0' || port[i] > '9' || value > 65535) {
        return Status::InvalidArgument("malformed URL: bad port \"" + std::string(port) + "\"");
      }
      value = value * 10 + static_cast<uint32_t>(port[i] - '0');
    }
    if (value == 0 || value > 65535) {
      return Status::InvalidArgument("malformed URL: port " + std::string(port) +
                                     " is outside 1..65535");
    }
    out->port = port;
    out->port_number = value;
  }
  const size_t q = url.find('?', auth_end);
  if (q == npos) {
    out->path = url.substr(auth_end);
  } else {
    out->path = url.substr(auth_end, q - auth_end);
    out->query = url.substr(q + 1);
  }
  return Status::OK();
}

void AppendHostFromUrl(const UrlParts& url, std::string* out) {
  const size_t at = out->size();
  out->resize(at + url.host.size());
  for (size_t i = 0; i < url.host.size(); ++i) (*out)[at + i] = ToLowerAscii(url.host[i]);
  if (url.port_number != 0) {
    const bool https = EqualsIgnoreCase(url.scheme, "https");
    const bool http = EqualsIgnoreCase(url.scheme, "http");
    if (!((https && url.port_number == 443) || (http && url.port_number == 80))) {
      out->push_back(':');
      out->append(std::to_string(url.port_number));
    }
  }
}

void AppendUriEncoded(std::string_view in, bool keep_slash, std::string* out) {
  const size_t start = out->size();
  out->resize(start + 3 * in.size());
  char* w = &(*out)[start];
  for (char ch : in) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (kTables.unreserved[c] || (keep_slash && c == '/')) {
      *w++ = ch;
    } else {
      *w++ = '%';
      *w++ = kUpperHex[c >> 4];
      *w++ = kUpperHex[c & 0xf];
    }
  }
  out->resize(static_cast<size_t>(w - out->data()));
}

void AppendCanonicalPath(std::string_view path, bool normalize,
                         std::vector<std::string_view>* segments, std::string* out) {
  if (path.empty() || path == "/") {
    out->push_back('/');
    return;
  }
  if (!normalize) {
    AppendUriEncoded(path, /*keep_slash=*/true, out);
    return;
  }
  // RFC 3986 section 5.2.4 dot-segment removal, plus dropping empty segments ("//"), which AWS
  // services other than S3 also expect. A trailing '/' survives unless nothing is left.
  segments->clear();
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == npos) j = path.size();
    std::string_view seg = path.substr(i, j - i);
    if (seg == "..") {
      if (!segments->empty()) segments->pop_back();
    } else if (!seg.empty() && seg != ".") {
      segments->push_back(seg);
    }
    i = j + 1;
  }
  if (path[0] == '/') out->push_back('/');
  for (size_t k = 0; k < segments->size(); ++k) {
    if (k > 0) out->push_back('/');
    AppendUriEncoded((*segments)[k], /*keep_slash=*/false, out);
  }
  if (path.back() == '/' && !segments->empty()) out->push_back('/');
}

Status AppendS3CanonicalPath(std::string_view path, std::string* out) {
  if (path.empty()) {
    out->push_back('/');
    return Status::OK();
  }
  for (size_t i = 0; i < path.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(path[i]);
    if (c == '%') {
      const int hi = i + 2 < path.size() ? HexValue(path[i + 1]) : -1;
      const int lo = i + 2 < path.size() ? HexValue(path[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        return Status::InvalidArgument("malformed percent-escape in URL path at offset " +
                                       std::to_string(i));
      }
      const unsigned char d = static_cast<unsigned char>(hi * 16 + lo);
      if (kTables.unreserved[d]) {
        out->push_back(static_cast<char>(d));
      } else {
        out->push_back('%');
        out->push_back(kUpperHex[d >> 4]);
        out->push_back(kUpperHex[d & 0xf]);
      }
      i += 2;
    } else if (kTables.unreserved[c] || c == '/') {
      out->push_back(static_cast<char>(c));
    } else {
      out->push_back('%');
      out->push_back(kUpperHex[c >> 4]);
      out->push_back(kUpperHex[c & 0xf]);
    }
  }
  return Status::OK();
}

Status QueryCanonicalizer::DecodeEncode(std::string_view in, size_t base_offset) {
  for (size_t i = 0; i < in.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if (c == '%') {
      const int h = i + 2 < in.size() ? HexValue(in[i + 1]) : -1;
      const int l = i + 2 < in.size() ? HexValue(in[i + 2]) : -1;
      if (h < 0 || l < 0) {
        return Status::InvalidArgument("malformed percent-escape in URL query at offset " +
                                       std::to_string(base_offset + i));
      }
      c = static_cast<unsigned char>(h * 16 + l);
      i += 2;
    }
    if (kTables.unreserved[c]) {
      buf_.push_back(static_cast<char>(c));
    } else {
      buf_.push_back('%');
      buf_.push_back(kUpperHex[c >> 4]);
      buf_.push_back(kUpperHex[c & 0xf]);
    }
  }
  return Status::OK();
}

Status QueryCanonicalizer::AddWireQuery(std::string_view query) {
  size_t i = 0;
  while (i < query.size()) {
    size_t j = query.find('&', i);
    if (j == npos) j = query.size();
    std::string_view piece = query.substr(i, j - i);
    if (!piece.empty()) {
      const size_t eq = piece.find('=');
      std::string_view key = piece.substr(0, eq);
      std::string_view val = eq == npos ? std::string_view() : piece.substr(eq + 1);
      Param p;
      p.key_off = static_cast<uint32_t>(buf_.size());
      Status s = DecodeEncode(key, i);
      if (!s.ok()) return s;
      p.key_len = static_cast<uint32_t>(buf_.size() - p.key_off);
      p.val_off = static_cast<uint32_t>(buf_.size());
      s = DecodeEncode(val, i + key.size() + 1);
      if (!s.ok()) return s;
      p.val_len = static_cast<uint32_t>(buf_.size() - p.val_off);
      params_.push_back(p);
    }
    i = j + 1;
  }
  return Status::OK();
}

void QueryCanonicalizer::AddRaw(std::string_view key, std::string_view value) {
  Param p;
  p.key_off = static_cast<uint32_t>(buf_.size());
  AppendUriEncoded(key, false, &buf_);
  p.key_len = static_cast<uint32_t>(buf_.size() - p.key_off);
  p.val_off = static_cast<uint32_t>(buf_.size());
  AppendUriEncoded(value, false, &buf_);
  p.val_len = static_cast<uint32_t>(buf_.size() - p.val_off);
  params_.push_back(p);
}

bool QueryCanonicalizer::HasKey(std::string_view encoded_key) const {
  for (const Param& p : params_) {
    if (std::string_view(buf_).substr(p.key_off, p.key_len) == encoded_key) return true;
  }
  return false;
}

void QueryCanonicalizer::AppendCanonical(std::string* out) {
  const std::string_view b(buf_);
  // Byte order of the encoded key, then of the encoded value (for repeated keys).
  std::sort(params_.begin(), params_.end(), [b](const Param& x, const Param& y) {
    const int c = b.substr(x.key_off, x.key_len).compare(b.substr(y.key_off, y.key_len));
    if (c != 0) return c < 0;
    return b.substr(x.val_off, x.val_len) < b.substr(y.val_off, y.val_len);
  });
  for (size_t k = 0; k < params_.size(); ++k) {
    if (k > 0) out->push_back('&');
    out->append(b.substr(params_[k].key_off, params_[k].key_len));
    out->push_back('=');
    out->append(b.substr(params_[k].val_off, params_[k].val_len));
  }
}

void QueryCanonicalizer::Clear() {
  buf_.clear();
  params_.clear();
}

size_t AppendTrimmedValue(std::string_view value, std::string* out) {
  const size_t n = value.size();
  size_t i = 0;
  bool pending_space = false;
  bool wrote = false;
  while (i < n) {
    const size_t j = ScanSpecial(value, i);
    if (j > i) {
      if (pending_space && wrote) out->push_back(' ');
      out->append(value.data() + i, j - i);
      wrote = true;
      pending_space = false;
    }
    if (j == n) break;
    const unsigned char c = static_cast<unsigned char>(value[j]);
    if (c == ' ' || c == '\t') {
      pending_space = true;
      i = j + 1;
    } else {
      return j;  // control character
    }
  }
  return npos;
}

size_t FindSpaceOrControl(std::string_view s) {
  const size_t j = ScanSpecial(s, 0);
  return j == s.size() ? npos : j;
}

bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!kTables.tchar[static_cast<unsigned char>(c)]) return false;
  }
  return true;
}

bool IsUnsignedHeader(std::string_view n) {
  switch (n.size()) {
    case 2:
      return n == "te";
    case 6:
      return n == "expect";
    case 7:
      return n == "trailer" || n == "upgrade";
    case 10:
      return n == "user-agent" || n == "connection" || n == "keep-alive";
    case 15:
      return n == "x-amzn-trace-id";
    case 17:
      return n == "transfer-encoding";
    case 18:
      return n == "proxy-authenticate";
    case 19:
      return n == "proxy-authorization";
    default:
      return false;
  }
}

namespace {
// Howard Hinnant's days_from_civil / civil_from_days.
void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t yy = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = yy + (*m <= 2);
}
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}
void Put(char* p, unsigned v, int width) {
  for (int k = width - 1; k >= 0; --k) {
    p[k] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
}
}  // namespace

// 9999-12-31T23:59:59Z
constexpr int64_t kMaxUnixSeconds = 253402300799LL;

Status FormatAmzDate(int64_t t, char out[16]) {
  if (t < 0 || t > kMaxUnixSeconds) {
    return Status::InvalidArgument("bad signing time " + std::to_string(t) +
                                   ": must be Unix seconds in 1970..9999");
  }
  const int64_t days = t / 86400;
  const unsigned secs = static_cast<unsigned>(t % 86400);
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  Put(out, static_cast<unsigned>(y), 4);
  Put(out + 4, m, 2);
  Put(out + 6, d, 2);
  out[8] = 'T';
  Put(out + 9, secs / 3600, 2);
  Put(out + 11, secs / 60 % 60, 2);
  Put(out + 13, secs % 60, 2);
  out[15] = 'Z';
  return Status::OK();
}

Status ParseAmzDate(std::string_view s, int64_t* unix_seconds) {
  auto bad = [&]() {
    return Status::InvalidArgument("bad amz date \"" + std::string(s) +
                                   "\": expected YYYYMMDDTHHMMSSZ (UTC)");
  };
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return bad();
  unsigned v[6];
  const int pos[6] = {0, 4, 6, 9, 11, 13}, len[6] = {4, 2, 2, 2, 2, 2};
  for (int k = 0; k < 6; ++k) {
    v[k] = 0;
    for (int c = 0; c < len[k]; ++c) {
      const char ch = s[pos[k] + c];
      if (ch < '0' || ch > '9') return bad();
      v[k] = v[k] * 10 + static_cast<unsigned>(ch - '0');
    }
  }
  static const unsigned kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > kDays[v[1] - 1] || v[3] > 23 ||
      v[4] > 59 || v[5] > 59) {
    return bad();
  }
  const bool leap = (v[0] % 4 == 0 && v[0] % 100 != 0) || v[0] % 400 == 0;
  if (v[1] == 2 && v[2] == 29 && !leap) return bad();
  *unix_seconds = DaysFromCivil(v[0], v[1], v[2]) * 86400 + v[3] * 3600 + v[4] * 60 + v[5];
  return Status::OK();
}

}  // namespace accel::sigv4::internal
