#include "common/csv.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <memory>

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

// Parses one line at a time, so that whole texts and files of any length
// (read in pieces) share the rules and the messages.
class LineParser {
 public:
  explicit LineParser(const std::string& name) : name_(name) {}

  // `line` without its '\n'. *got tells whether it held a sample.
  Status Line(std::string_view line, Sample* s, bool* got) {
    *got = false;
    ++line_no_;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!saw_header_) {
      if (line_no_ == 1 && line.size() >= 3 && line.substr(0, 3) == "\xEF\xBB\xBF")
        line.remove_prefix(3);  // UTF-8 byte order mark
      if (line != kCsvHeader)
        return LineError(
            name_, line_no_, 0,
            "expected the header '" + std::string(kCsvHeader) + "', got '" + Printable(line) + "'");
      saw_header_ = true;
      return Status::OK();
    }
    // A blank line is allowed only as the very last one; decided when
    // another line follows it.
    if (empty_line_ != 0) return LineError(name_, empty_line_, 0, "empty line");
    if (line.empty()) {
      empty_line_ = line_no_;
      return Status::OK();
    }
    double* values[3] = {&s->x, &s->y, &s->z};
    for (int col = 1; col <= 4; ++col) {
      size_t comma = line.find(',');
      std::string_view field = line.substr(0, comma);
      if (col < 4 && comma == std::string_view::npos)
        return LineError(name_, line_no_, col,
                         "expected 4 comma-separated fields, found " + std::to_string(col));
      if (col == 4 && comma != std::string_view::npos)
        return LineError(name_, line_no_, 4, "expected end of line after 4 fields, found ','");
      line.remove_prefix(comma == std::string_view::npos ? line.size() : comma + 1);
      const char* b = field.data();
      const char* e = b + field.size();
      if (col == 1) {
        auto r = std::from_chars(b, e, s->t_ns);
        if (field.empty() || r.ec != std::errc() || r.ptr != e)
          return LineError(
              name_, line_no_, 1,
              r.ec == std::errc::result_out_of_range
                  ? "integer nanoseconds out of the int64 range: '" + Printable(field) + "'"
                  : "expected integer nanoseconds, got '" + Printable(field) + "'");
      } else {
        auto r = std::from_chars(b, e, *values[col - 2]);
        if (field.empty() || r.ec != std::errc() || r.ptr != e || !std::isfinite(*values[col - 2]))
          return LineError(name_, line_no_, col,
                           "expected a finite decimal number in g, got '" + Printable(field) + "'");
      }
    }
    *got = true;
    return Status::OK();
  }

  // At the end of the input.
  Status Finish() const {
    if (!saw_header_) return LineError(name_, 1, 0, "empty file: expected the header");
    return Status::OK();
  }

 private:
  const std::string& name_;
  size_t line_no_ = 0;
  bool saw_header_ = false;
  size_t empty_line_ = 0;  // line number of a blank line seen last, 0 if none
};

// Calls parser.Line for each complete line of `text`; returns in *rest the
// unterminated tail (the whole tail when `final`, which is then parsed too).
template <typename Sink>
Status FeedLines(LineParser* parser, std::string_view text, bool final, std::string_view* rest,
                 const Sink& sink) {
  Sample s;
  bool got = false;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    if (nl == std::string_view::npos && !final) break;
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ACCEL_RETURN_IF_ERROR(parser->Line(line, &s, &got));
    if (got) ACCEL_RETURN_IF_ERROR(sink(s));
  }
  *rest = text;
  return Status::OK();
}

}  // namespace

Status ParseSampleCsv(std::string_view text, const std::string& name, std::vector<Sample>* out) {
  out->clear();
  LineParser parser(name);
  std::string_view rest;
  ACCEL_RETURN_IF_ERROR(FeedLines(&parser, text, true, &rest, [out](const Sample& s) {
    out->push_back(s);
    return Status::OK();
  }));
  return parser.Finish();
}

Status ForEachSampleInCsvFile(const std::string& path,
                              const std::function<Status(const Sample&)>& sink,
                              size_t chunk_bytes) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    if (errno == ENOENT) return Status::NotFound(path);
    return Status::FromErrno("open " + path, errno);
  }
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(f, &std::fclose);
  chunk_bytes = std::max<size_t>(chunk_bytes, 1);
  LineParser parser(path);
  std::string buf;  // the unterminated tail of the previous piece, then the next piece
  for (;;) {
    const size_t keep = buf.size();
    if (keep > kMaxCsvLineBytes)
      return Status::InvalidArgument(path + ": a line longer than " +
                                     std::to_string(kMaxCsvLineBytes) +
                                     " bytes (not this CSV layout)");
    buf.resize(keep + chunk_bytes);
    const size_t got = std::fread(&buf[keep], 1, chunk_bytes, f);
    buf.resize(keep + got);
    if (got < chunk_bytes && std::ferror(f)) return Status::FromErrno("read " + path, EIO);
    const bool final = got == 0;
    std::string_view rest;
    ACCEL_RETURN_IF_ERROR(FeedLines(&parser, buf, final, &rest, sink));
    if (final) break;
    buf.erase(0, buf.size() - rest.size());
  }
  return parser.Finish();
}

Status ReadSampleCsvFile(const std::string& path, std::vector<Sample>* out) {
  out->clear();
  std::vector<Sample> v;
  ACCEL_RETURN_IF_ERROR(ForEachSampleInCsvFile(path, [&v](const Sample& s) {
    v.push_back(s);
    return Status::OK();
  }));
  out->swap(v);
  return Status::OK();
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
