#include "tools/row_reader.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <map>
#include <tuple>

#include "phone-relay/dynamodb_row.h"
#include "phone-relay/second_rows.h"

namespace accel {
namespace tools {

namespace {
Status Attr(const nlohmann::json& item, const char* name, const char* type, std::string* out) {
  auto it = item.find(name);
  if (it == item.end() || !it->is_object() || !it->contains(type) || !(*it)[type].is_string())
    return Status::Corruption(std::string("row attribute '") + name + "' missing or not of type " +
                              type);
  *out = (*it)[type].get<std::string>();
  return Status::OK();
}
}  // namespace

size_t DynamoNumberBytes(const std::string& text) {
  // Significant digits: from the first non-zero digit to the last non-zero one.
  size_t first = std::string::npos, last = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] >= '1' && text[i] <= '9') {
      if (first == std::string::npos) first = i;
      last = i;
    }
  }
  if (first == std::string::npos) return 2;  // zero
  size_t digits = 0;
  for (size_t i = first; i <= last; ++i) digits += text[i] >= '0' && text[i] <= '9';
  return (digits + 1) / 2 + 1;
}

Status DecodeRowItem(const nlohmann::json& item, RowSamples* out) {
  std::string t, n, s, r, f;
  ACCEL_RETURN_IF_ERROR(Attr(item, "t", "N", &t));
  ACCEL_RETURN_IF_ERROR(Attr(item, "d", "S", &out->device_id));
  ACCEL_RETURN_IF_ERROR(Attr(item, "n", "N", &n));
  ACCEL_RETURN_IF_ERROR(Attr(item, "s", "B", &s));
  ACCEL_RETURN_IF_ERROR(Attr(item, "r", "N", &r));
  ACCEL_RETURN_IF_ERROR(Attr(item, "f", "N", &f));
  if (f != std::to_string(relay::kRowFormatVersion))
    return Status::Corruption("row t=" + t + ": unknown format version " + f);
  uint32_t slot = 0;
  ACCEL_RETURN_IF_ERROR(relay::ParseSortKey(t, &out->second, &slot));
  out->resolution_g = std::strtod(r.c_str(), nullptr);
  std::string block;
  ACCEL_RETURN_IF_ERROR(
      relay::DecodeBase64(s, &block).WithContext("row t=" + t + " attribute 's'"));
  ACCEL_RETURN_IF_ERROR(
      relay::DecodeSecondBlock(out->second, out->resolution_g, block, &out->samples)
          .WithContext("row t=" + t));
  if (std::to_string(out->samples.size()) != n)
    return Status::Corruption("row t=" + t + ": n=" + n + " but the block holds " +
                              std::to_string(out->samples.size()) + " samples");
  // DynamoDB bills attribute names plus values: strings and binary at their
  // raw size, numbers at one byte per two significant digits plus one.
  out->item_bytes = 0;
  for (auto it = item.begin(); it != item.end(); ++it) {
    out->item_bytes += it.key().size();
    for (auto v = it->begin(); v != it->end(); ++v) {
      if (v.key() == "B") {
        out->item_bytes += it.key() == "s" ? block.size() : v->get<std::string>().size() * 3 / 4;
      } else if (v.key() == "N" && v->is_string()) {
        out->item_bytes += DynamoNumberBytes(v->get<std::string>());
      } else if (v.key() == "NS" && v->is_array()) {
        for (const auto& e : *v)
          if (e.is_string()) out->item_bytes += DynamoNumberBytes(e.get<std::string>());
      } else if (v->is_string()) {
        out->item_bytes += v->get<std::string>().size();
      } else if (v->is_array()) {
        for (const auto& e : *v)
          if (e.is_string()) out->item_bytes += e.get<std::string>().size();
      }
    }
  }
  return Status::OK();
}

void KeepRange(int64_t from_ns, int64_t to_ns, std::vector<RowSamples>* rows) {
  std::vector<RowSamples> kept;
  for (RowSamples& r : *rows) {
    auto& v = r.samples;
    v.erase(std::remove_if(v.begin(), v.end(),
                           [&](const QSample& q) { return q.t_ns < from_ns || q.t_ns >= to_ns; }),
            v.end());
    if (!v.empty()) kept.push_back(std::move(r));
  }
  *rows = std::move(kept);
}

Status ReadRows(relay::DynamoDbClient* client, const std::string& table,
                const std::string& partition_id, int64_t from_s, int64_t to_s,
                const std::string& device_id, std::vector<RowSamples>* out) {
  out->clear();
  // Rows of second S have S < t < S+1 (the device slot is the fraction), so
  // t in [from, to] holds exactly the seconds [from, to).
  auto q = client->Query(table, partition_id, from_s, to_s);
  if (!q.ok()) return q.status();
  for (const nlohmann::json& item : q->items) {
    RowSamples row;
    ACCEL_RETURN_IF_ERROR(DecodeRowItem(item, &row));
    if (!device_id.empty() && row.device_id != device_id) continue;
    if (row.second < from_s || row.second >= to_s) continue;
    out->push_back(std::move(row));
  }
  return Status::OK();
}

VerifyReport Verify(const std::vector<QSample>& source, const std::vector<RowSamples>& rows) {
  VerifyReport rep;
  rep.samples_in = source.size();
  rep.rows = rows.size();
  using Key = std::tuple<int32_t, int32_t, int32_t>;
  std::map<int64_t, std::map<Key, int64_t>> want, got;
  for (const QSample& q : source) want[q.t_ns][Key{q.x, q.y, q.z}]++;
  size_t bytes = 0;
  for (const RowSamples& r : rows) {
    bytes += r.item_bytes;
    for (const QSample& q : r.samples) got[q.t_ns][Key{q.x, q.y, q.z}]++;
  }
  rep.avg_row_bytes = rows.empty() ? 0 : static_cast<double>(bytes) / rows.size();
  auto note = [&](const std::string& what, int64_t t) {
    if (rep.examples.size() < 20) rep.examples.push_back(what + " at t_ns=" + std::to_string(t));
  };
  for (auto& [t, w] : want) {
    auto g_it = got.find(t);
    int64_t left_src = 0, left_tab = 0;
    for (auto& [k, c] : w) {
      int64_t have = g_it == got.end() ? 0 : (g_it->second.count(k) ? g_it->second[k] : 0);
      rep.samples_verified += static_cast<uint64_t>(std::min(c, have));
      if (have > c) {
        rep.duplicates += static_cast<uint64_t>(have - c);
        note("duplicate", t);
      }
      left_src += std::max<int64_t>(0, c - have);
      if (g_it != got.end()) g_it->second.erase(k);
    }
    if (g_it != got.end())
      for (auto& [k, c] : g_it->second) left_tab += c;
    int64_t mism = std::min(left_src, left_tab);
    rep.mismatched += static_cast<uint64_t>(mism);
    rep.missing += static_cast<uint64_t>(left_src - mism);
    rep.duplicates += static_cast<uint64_t>(left_tab - mism);  // extra samples at this time
    if (mism) note("different values", t);
    if (left_src - mism) note("missing", t);
    if (g_it != got.end()) got.erase(g_it);
  }
  for (auto& [t, g] : got) {  // timestamps the source never had
    for (auto& [k, c] : g) rep.duplicates += static_cast<uint64_t>(c);
    note("unexpected sample", t);
  }
  return rep;
}

namespace {

// Parses exactly `n` decimal digits at text[*pos].
bool Digits(const std::string& text, size_t* pos, int n, int* out) {
  int v = 0;
  for (int i = 0; i < n; ++i, ++*pos) {
    if (*pos >= text.size() || text[*pos] < '0' || text[*pos] > '9') return false;
    v = v * 10 + (text[*pos] - '0');
  }
  *out = v;
  return true;
}

// ".d{1,9}" at text[*pos] (if present) as nanoseconds; false on a bad fraction.
bool Fraction(const std::string& text, size_t* pos, int64_t* ns) {
  *ns = 0;
  if (*pos >= text.size() || text[*pos] != '.') return true;
  ++*pos;
  int n = 0;
  int64_t scale = 100000000;
  while (*pos < text.size() && text[*pos] >= '0' && text[*pos] <= '9') {
    if (++n > 9) return false;  // finer than a nanosecond
    *ns += (text[*pos] - '0') * scale;
    scale /= 10;
    ++*pos;
  }
  return n > 0;
}

constexpr int64_t kMaxEpochS = INT64_MAX / 1000000000 - 1;

}  // namespace

Status ParseTimeArg(const std::string& text, int64_t* epoch_ns) {
  const Status bad = Status::InvalidArgument(
      "time '" + text +
      "': expected epoch seconds (1657533977 or 1657533977.25) or an ISO-8601 time "
      "YYYY-MM-DDTHH:MM:SS[.fff][Z|+hh:mm|-hh:mm] (no offset = UTC)");
  size_t pos = 0;
  // Epoch seconds, optionally negative and with a fraction.
  {
    bool neg = !text.empty() && text[0] == '-';
    size_t p = neg ? 1 : 0, start = p;
    int64_t sec = 0;
    while (p < text.size() && text[p] >= '0' && text[p] <= '9') {
      if (sec > kMaxEpochS / 10) return bad;
      sec = sec * 10 + (text[p++] - '0');
    }
    if (p > start && (p == text.size() || text[p] == '.')) {
      int64_t frac = 0;
      if (!Fraction(text, &p, &frac) || p != text.size() || sec > kMaxEpochS) return bad;
      *epoch_ns = (neg ? -1 : 1) * (sec * 1000000000 + frac);
      return Status::OK();
    }
  }
  // ISO-8601 calendar time.
  int Y, M, D, h, m, s;
  if (!Digits(text, &pos, 4, &Y) || pos >= text.size() || text[pos++] != '-' ||
      !Digits(text, &pos, 2, &M) || pos >= text.size() || text[pos++] != '-' ||
      !Digits(text, &pos, 2, &D) || pos >= text.size() || (text[pos] != 'T' && text[pos] != 't') ||
      !Digits(text, &++pos, 2, &h) || pos >= text.size() || text[pos++] != ':' ||
      !Digits(text, &pos, 2, &m) || pos >= text.size() || text[pos++] != ':' ||
      !Digits(text, &pos, 2, &s))
    return bad;
  int64_t frac = 0;
  if (!Fraction(text, &pos, &frac)) return bad;
  int64_t offset_s = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int sign = text[pos++] == '+' ? 1 : -1, oh = 0, om = 0;
    if (!Digits(text, &pos, 2, &oh)) return bad;
    bool colon = pos < text.size() && text[pos] == ':';
    if (colon) ++pos;
    if ((colon || pos < text.size()) && !Digits(text, &pos, 2, &om)) return bad;
    if (oh > 23 || om > 59) return bad;
    offset_s = sign * (oh * 3600 + om * 60);
  }
  if (pos != text.size()) return bad;
  std::tm tm{};
  tm.tm_year = Y - 1900;
  tm.tm_mon = M - 1;
  tm.tm_mday = D;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = s;
  std::tm in = tm;
  time_t t = timegm(&tm);
  // timegm normalises 2022-02-30 to March 2nd: a date that moved did not exist.
  if (tm.tm_year != in.tm_year || tm.tm_mon != in.tm_mon || tm.tm_mday != in.tm_mday ||
      tm.tm_hour != in.tm_hour || tm.tm_min != in.tm_min || tm.tm_sec != in.tm_sec)
    return Status::InvalidArgument("time '" + text + "': no such date or time of day");
  int64_t sec = static_cast<int64_t>(t) - offset_s;
  if (sec > kMaxEpochS || sec < -kMaxEpochS) return bad;
  *epoch_ns = sec * 1000000000 + frac;
  return Status::OK();
}

std::string FormatUtc(int64_t t_ns) {
  int64_t sec = t_ns / 1000000000, ns = t_ns % 1000000000;
  if (ns < 0) {
    ns += 1000000000;
    --sec;
  }
  time_t tt = static_cast<time_t>(sec);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  if (ns != 0) {
    int ms = static_cast<int>(ns / 1000000);
    if (ns % 1000000 == 0)
      n += std::snprintf(buf + n, sizeof buf - n, ".%03d", ms);
    else
      n += std::snprintf(buf + n, sizeof buf - n, ".%09lld", static_cast<long long>(ns));
  }
  std::snprintf(buf + n, sizeof buf - n, "Z");
  return buf;
}

std::string XmlEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // Control characters other than tab/newline are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n')
          out += '?';
        else
          out += c;
    }
  }
  return out;
}

std::string RenderSvg(const std::vector<Sample>& samples, const std::string& title) {
  const int W = 1000, H = 440, L = 70, R = 20, T = 56, B = 50;
  const int pw = W - L - R, ph = H - T - B;
  std::string svg;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
                "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
                W, H, W, H);
  svg += buf;
  svg += "<text x=\"" + std::to_string(L) + "\" y=\"22\" font-size=\"15\">" + XmlEscape(title) +
         "</text>\n";
  if (samples.empty())
    return svg + "<text x=\"" + std::to_string(L) + "\" y=\"80\">no samples</text>\n</svg>\n";
  int64_t t0 = samples.front().t_ns, t1 = samples.front().t_ns;
  for (const Sample& s : samples) {
    t0 = std::min(t0, s.t_ns);
    t1 = std::max(t1, s.t_ns);
  }
  const int64_t last = t1;
  if (t1 == t0) t1 = t0 + 1;
  double lo = 0, hi = 0;
  for (const Sample& s : samples) {
    lo = std::min({lo, s.x, s.y, s.z});
    hi = std::max({hi, s.x, s.y, s.z});
  }
  lo = std::floor(lo * 2) / 2;
  hi = std::ceil(hi * 2) / 2;
  if (hi - lo < 1) hi = lo + 1;
  const double span_s = (t1 - t0) / 1e9;
  auto X = [&](int64_t t) { return L + pw * static_cast<double>(t - t0) / (t1 - t0); };
  auto Y = [&](double g) { return T + ph * (hi - g) / (hi - lo); };
  std::string range = FormatUtc(t0) + " to " + FormatUtc(last) + " (UTC)";
  std::snprintf(buf, sizeof buf, "<text x=\"%d\" y=\"40\" fill=\"#444\">%s</text>\n", L,
                XmlEscape(range).c_str());
  svg += buf;
  // Value axis: grid every 0.5 g (1 g when the range is wide), labelled in g.
  double gstep = hi - lo > 8 ? 2 : hi - lo > 4 ? 1 : 0.5;
  for (double g = lo; g <= hi + 1e-9; g += gstep) {
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                  "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n",
                  L, L + pw, Y(g), Y(g), L - 6, Y(g) + 4, g);
    svg += buf;
  }
  // Time axis in s, min or h since the first sample, at 1-2-5 steps.
  const char* unit = "s";
  double unit_s = 1;
  if (span_s > 3 * 3600) {
    unit = "h";
    unit_s = 3600;
  } else if (span_s > 180) {
    unit = "min";
    unit_s = 60;
  }
  const double span_u = std::max(span_s / unit_s, 1e-9);
  double step = std::pow(10, std::floor(std::log10(span_u)));
  for (double f : {0.5, 0.2, 0.1})
    if (span_u / step < 4) step = std::pow(10, std::floor(std::log10(span_u))) * f;
  for (int i = 0; i * step <= span_u + 1e-9 && i < 100; ++i) {
    double u = i * step;
    double x = X(t0 + static_cast<int64_t>(u * unit_s * 1e9));
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#eee\"/>"
                  "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                  x, x, T, T + ph, x, T + ph + 16, u);
    svg += buf;
  }
  std::snprintf(
      buf, sizeof buf,
      "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n"
      "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">time since %s (%s)</text>\n"
      "<text x=\"18\" y=\"%d\" transform=\"rotate(-90 18 %d)\" "
      "text-anchor=\"middle\">acceleration (g)</text>\n",
      L, T, pw, ph, L + pw / 2, H - 12, FormatUtc(t0).c_str(), unit, T + ph / 2, T + ph / 2);
  svg += buf;
  // Each axis as one path; for long ranges, min and max per pixel column so
  // peaks survive the downsampling (at most 2 points per column). The pen
  // lifts over gaps in the data (more than a second and more than two pixel
  // columns without a sample), so separate recordings are not joined by a line.
  const char* colours[3] = {"#d62728", "#2ca02c", "#1f77b4"};
  const char* names[3] = {"x", "y", "z"};
  const double ns_per_px = static_cast<double>(t1 - t0) / pw;
  const double gap_ns = std::max(1e9, 2 * ns_per_px);
  for (int a = 0; a < 3; ++a) {
    auto val = [&](const Sample& s) { return a == 0 ? s.x : a == 1 ? s.y : s.z; };
    std::string d;
    if (samples.size() <= static_cast<size_t>(2 * pw)) {
      int64_t prev = 0;
      for (size_t i = 0; i < samples.size(); ++i) {
        const Sample& s = samples[i];
        bool move = i == 0 || static_cast<double>(s.t_ns - prev) > gap_ns;
        std::snprintf(buf, sizeof buf, "%s%.1f,%.1f ", move ? "M" : "", X(s.t_ns), Y(val(s)));
        d += buf;
        prev = s.t_ns;
      }
    } else {
      std::vector<double> mn(pw + 1, 1e9), mx(pw + 1, -1e9);
      for (const Sample& s : samples) {
        int c = static_cast<int>(X(s.t_ns)) - L;
        c = std::max(0, std::min(pw, c));
        mn[c] = std::min(mn[c], val(s));
        mx[c] = std::max(mx[c], val(s));
      }
      int prev = -1;
      for (int c = 0; c <= pw; ++c) {
        if (mn[c] > mx[c]) continue;
        bool move = prev < 0 || (c - prev > 2 && (c - prev) * ns_per_px > 1e9);
        std::snprintf(buf, sizeof buf, "%s%d,%.1f %d,%.1f ", move ? "M" : "", L + c, Y(mn[c]),
                      L + c, Y(mx[c]));
        d += buf;
        prev = c;
      }
    }
    if (!d.empty()) d.pop_back();
    // SVG path data: "M" starts a run; coordinates after it without a command
    // letter are implicit line-tos.
    svg += std::string("<path class=\"series-") + names[a] +
           "\" fill=\"none\" stroke-width=\"1\" stroke=\"" + colours[a] + "\" d=\"" + d + "\"/>\n";
    std::snprintf(buf, sizeof buf,
                  "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"3\" fill=\"%s\"/>"
                  "<text x=\"%d\" y=\"%d\">%s (g)</text>\n",
                  W - R - 180 + a * 60, 34, colours[a], W - R - 162 + a * 60, 39, names[a]);
    svg += buf;
  }
  return svg + "</svg>\n";
}

}  // namespace tools
}  // namespace accel
