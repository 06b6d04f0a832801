// The captured-file layout shared with ../shared/data/accel/*.norm.csv:
//
//   t_ns,x_g,y_g,z_g
//   1657533977810000000,0.0390758,-0.3604746,0.9290282
//
// A header line, then one sample per line: integer nanoseconds since the Unix
// epoch and three decimal accelerations in g. CRLF line ends and a missing
// final newline are accepted; anything else is an error that names the line,
// the column and what was expected.
#ifndef ACCEL_COMMON_CSV_H_
#define ACCEL_COMMON_CSV_H_

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/sample.h"
#include "common/status.h"

namespace accel {

inline constexpr std::string_view kCsvHeader = "t_ns,x_g,y_g,z_g";

// Parses a whole CSV text. `name` prefixes error messages ("walk.csv:17: ...").
Status ParseSampleCsv(std::string_view text, const std::string& name, std::vector<Sample>* out);
// Reads and parses a file of any length (read in pieces; the samples are
// kept, 32 bytes each).
Status ReadSampleCsvFile(const std::string& path, std::vector<Sample>* out);

// Lines longer than this are an error (the layout's lines are ~50 bytes; this
// bounds the memory a file without line ends can take).
inline constexpr size_t kMaxCsvLineBytes = size_t{1} << 20;
// Streams a file of any length: calls sink(sample) for each sample in order,
// holding only `chunk_bytes` of text at a time. Stops at the first error: a
// bad line (same messages as ParseSampleCsv), an unreadable file (NotFound
// for a missing one), or an error the sink returns.
Status ForEachSampleInCsvFile(const std::string& path,
                              const std::function<Status(const Sample&)>& sink,
                              size_t chunk_bytes = size_t{1} << 20);

// Appends the header line to `out`.
void AppendCsvHeader(std::string* out);
// Appends one line; values as the shortest decimal that reads back to the same double.
void AppendCsvLine(const Sample& s, std::string* out);
// Header plus all lines.
std::string FormatSampleCsv(const std::vector<Sample>& samples);

}  // namespace accel

#endif  // ACCEL_COMMON_CSV_H_
