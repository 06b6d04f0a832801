#include "common/csv.h"

#include <charconv>
#include <cmath>

#include "common/env.h"

namespace accel {

namespace {

const char* const kColumnNames[] = {"t_ns", "x_g", "y_g", "z_g"};

std::string Printable(std::string_view field) {
  std::string s(field.substr(0, 40));
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7F) c = '?';
  if (field.size() > 40) s += "...";
  return s;
}

Status LineError(const std::string& name, size_t line, int column, const std::string& what) {
  std::string msg = name + ":" + std::to_string(line);
  if (column > 0)
    msg += ": column " + std::to_string(column) + " (" + kColumnNames[column - 1] + ")";
  return Status::InvalidArgument(msg + ": " + what);
}

}  // namespace

Status ParseSampleCsv(std::string_view text, const std::string& name, std::vector<Sample>* out) {
  out->clear();
  size_t line_no = 0;
  bool saw_header = false;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!saw_header) {
      if (line_no == 1 && line.size() >= 3 && line.substr(0, 3) == "\xEF\xBB\xBF")
        line.remove_prefix(3);  // UTF-8 byte order mark
      if (line != kCsvHeader)
        return LineError(
            name, line_no, 0,
            "expected the header '" + std::string(kCsvHeader) + "', got '" + Printable(line) + "'");
      saw_header = true;
      continue;
    }
    if (line.empty()) {
      if (text.empty()) break;  // trailing blank line
      return LineError(name, line_no, 0, "empty line");
    }
    Sample s;
    double* values[3] = {&s.x, &s.y, &s.z};
    for (int col = 1; col <= 4; ++col) {
      size_t comma = line.find(',');
      std::string_view field = line.substr(0, comma);
      if (col < 4 && comma == std::string_view::npos)
        return LineError(name, line_no, col,
                         "expected 4 comma-separated fields, found " + std::to_string(col));
      if (col == 4 && comma != std::string_view::npos)
        return LineError(name, line_no, 4, "expected end of line after 4 fields, found ','");
      line.remove_prefix(comma == std::string_view::npos ? line.size() : comma + 1);
      const char* b = field.data();
      const char* e = b + field.size();
      if (col == 1) {
        auto r = std::from_chars(b, e, s.t_ns);
        if (field.empty() || r.ec != std::errc() || r.ptr != e)
          return LineError(
              name, line_no, 1,
              r.ec == std::errc::result_out_of_range
                  ? "integer nanoseconds out of the int64 range: '" + Printable(field) + "'"
                  : "expected integer nanoseconds, got '" + Printable(field) + "'");
      } else {
        auto r = std::from_chars(b, e, *values[col - 2]);
        if (field.empty() || r.ec != std::errc() || r.ptr != e || !std::isfinite(*values[col - 2]))
          return LineError(name, line_no, col,
                           "expected a finite decimal number in g, got '" + Printable(field) + "'");
      }
    }
    out->push_back(s);
  }
  if (!saw_header) return LineError(name, 1, 0, "empty file: expected the header");
  return Status::OK();
}

Status ReadSampleCsvFile(const std::string& path, std::vector<Sample>* out) {
  std::string text;
  ACCEL_RETURN_IF_ERROR(Env::Default()->ReadFile(path, &text, uint64_t{1} << 30));
  return ParseSampleCsv(text, path, out);
}

void AppendCsvHeader(std::string* out) {
  out->append(kCsvHeader);
  out->push_back('\n');
}

// The longest value AppendCsvLine writes. Fixed notation of a double's
// shortest round-trip digits: DBL_MAX is 309 digits before the point; the
// smallest normals and subnormals are "0." plus 307..323 zeros plus up to 17
// digits (about 330 characters), plus a sign. Any resolution the format
// accepts yields far shorter values, but the writer takes any double.
constexpr size_t kMaxFixedDouble = 352;
// One line: int64 (20 characters), three ",value", the newline.
constexpr size_t kMaxCsvLine = 20 + 3 * (1 + kMaxFixedDouble) + 1;

void AppendCsvLine(const Sample& s, std::string* out) {
  char buf[kMaxCsvLine];
  char* p = buf;
  char* const end = buf + sizeof buf;
  p = std::to_chars(p, end, s.t_ns).ptr;  // at most 20 characters: always fits
  for (double v : {s.x, s.y, s.z}) {
    *p++ = ',';
    // Shortest round-trip form, plain decimal (no exponent) like the shared
    // data. If it ever did not fit, the general form (at most 24 characters)
    // still round-trips: a value is never cut or written past the buffer.
    auto r = std::to_chars(p, end, v, std::chars_format::fixed);
    if (r.ec != std::errc()) r = std::to_chars(p, end, v);
    p = r.ptr;
  }
  *p++ = '\n';
  out->append(buf, static_cast<size_t>(p - buf));
}

std::string FormatSampleCsv(const std::vector<Sample>& samples) {
  std::string out;
  out.reserve(32 + samples.size() * 64);
  AppendCsvHeader(&out);
  for (const Sample& s : samples) AppendCsvLine(s, &out);
  return out;
}

}  // namespace accel
