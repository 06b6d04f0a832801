#include "tools/row_reader.h"

#include <algorithm>
#include <cmath>
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
  ACCEL_RETURN_IF_ERROR(relay::DecodeBase64(s, &block).WithContext("row t=" + t + " attribute 's'"));
  ACCEL_RETURN_IF_ERROR(
      relay::DecodeSecondBlock(out->second, out->resolution_g, block, &out->samples)
          .WithContext("row t=" + t));
  if (std::to_string(out->samples.size()) != n)
    return Status::Corruption("row t=" + t + ": n=" + n + " but the block holds " +
                              std::to_string(out->samples.size()) + " samples");
  // DynamoDB bills attribute names plus values (binary at its raw size).
  out->item_bytes = 0;
  for (auto it = item.begin(); it != item.end(); ++it) {
    out->item_bytes += it.key().size();
    for (auto v = it->begin(); v != it->end(); ++v) {
      if (v.key() == "B") out->item_bytes += block.size();
      else if (v->is_string()) out->item_bytes += v->get<std::string>().size();
      else if (v->is_array()) for (const auto& e : *v) out->item_bytes += e.get<std::string>().size();
    }
  }
  return Status::OK();
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

Status ParseTimeArg(const std::string& text, int64_t* epoch_s) {
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (!text.empty() && end == text.c_str() + text.size()) {
    *epoch_s = v;
    return Status::OK();
  }
  std::tm tm{};
  const char* p = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (p == nullptr || (*p != 'Z' && *p != '\0') || (*p == 'Z' && p[1] != '\0'))
    return Status::InvalidArgument("time '" + text +
                                   "': expected epoch seconds or YYYY-MM-DDTHH:MM:SSZ (UTC)");
  *epoch_s = timegm(&tm);
  return Status::OK();
}

std::string RenderSvg(const std::vector<Sample>& samples, const std::string& title) {
  const int W = 1000, H = 420, L = 70, R = 20, T = 40, B = 50;
  const int pw = W - L - R, ph = H - T - B;
  std::string svg;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%%\" "
                "height=\"100%%\" fill=\"white\"/>\n",
                W, H);
  svg += buf;
  if (samples.empty()) return svg + "<text x=\"20\" y=\"40\">no samples</text>\n</svg>\n";
  int64_t t0 = samples.front().t_ns, t1 = samples.back().t_ns;
  for (const Sample& s : samples) {
    t0 = std::min(t0, s.t_ns);
    t1 = std::max(t1, s.t_ns);
  }
  if (t1 == t0) t1 = t0 + 1;
  double lo = 0, hi = 0;
  for (const Sample& s : samples) {
    lo = std::min({lo, s.x, s.y, s.z});
    hi = std::max({hi, s.x, s.y, s.z});
  }
  lo = std::floor(lo * 2) / 2;
  hi = std::ceil(hi * 2) / 2;
  if (hi - lo < 1) hi = lo + 1;
  double span_s = (t1 - t0) / 1e9;
  auto X = [&](int64_t t) { return L + pw * static_cast<double>(t - t0) / (t1 - t0); };
  auto Y = [&](double g) { return T + ph * (hi - g) / (hi - lo); };
  std::snprintf(buf, sizeof buf, "<text x=\"%d\" y=\"22\" font-size=\"15\">%s</text>\n", L,
                title.c_str());
  svg += buf;
  // Axes, grid and labels with units.
  for (double g = lo; g <= hi + 1e-9; g += 0.5) {
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                  "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.1f</text>\n",
                  L, L + pw, Y(g), Y(g), L - 6, Y(g) + 4, g);
    svg += buf;
  }
  double step = std::pow(10, std::floor(std::log10(span_s)));
  if (span_s / step < 4) step /= 2;
  for (double s = 0; s <= span_s + 1e-9; s += step) {
    double x = X(t0 + static_cast<int64_t>(s * 1e9));
    std::snprintf(buf, sizeof buf,
                  "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" stroke=\"#eee\"/>"
                  "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%g</text>\n",
                  x, x, T, T + ph, x, T + ph + 16, s);
    svg += buf;
  }
  std::snprintf(buf, sizeof buf,
                "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#444\"/>\n"
                "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">time since start (s)</text>\n"
                "<text x=\"18\" y=\"%d\" transform=\"rotate(-90 18 %d)\" "
                "text-anchor=\"middle\">acceleration (g)</text>\n",
                L, T, pw, ph, L + pw / 2, H - 12, T + ph / 2, T + ph / 2);
  svg += buf;
  // Each axis as a polyline; for long ranges, min and max per pixel column so
  // peaks survive the downsampling.
  const char* colours[3] = {"#d62728", "#2ca02c", "#1f77b4"};
  const char* names[3] = {"x", "y", "z"};
  for (int a = 0; a < 3; ++a) {
    auto val = [&](const Sample& s) { return a == 0 ? s.x : a == 1 ? s.y : s.z; };
    std::string pts;
    if (samples.size() <= static_cast<size_t>(2 * pw)) {
      for (const Sample& s : samples) {
        std::snprintf(buf, sizeof buf, "%.1f,%.1f ", X(s.t_ns), Y(val(s)));
        pts += buf;
      }
    } else {
      std::vector<double> mn(pw + 1, 1e9), mx(pw + 1, -1e9);
      for (const Sample& s : samples) {
        int c = static_cast<int>(X(s.t_ns)) - L;
        c = std::max(0, std::min(pw, c));
        mn[c] = std::min(mn[c], val(s));
        mx[c] = std::max(mx[c], val(s));
      }
      for (int c = 0; c <= pw; ++c) {
        if (mn[c] > mx[c]) continue;
        std::snprintf(buf, sizeof buf, "%d,%.1f %d,%.1f ", L + c, Y(mn[c]), L + c, Y(mx[c]));
        pts += buf;
      }
    }
    svg += std::string("<polyline fill=\"none\" stroke-width=\"1\" stroke=\"") + colours[a] +
           "\" points=\"" + pts + "\"/>\n";
    std::snprintf(buf, sizeof buf,
                  "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"3\" fill=\"%s\"/>"
                  "<text x=\"%d\" y=\"%d\">%s</text>\n",
                  W - R - 150 + a * 50, 16, colours[a], W - R - 132 + a * 50, 21, names[a]);
    svg += buf;
  }
  return svg + "</svg>\n";
}

}  // namespace tools
}  // namespace accel
