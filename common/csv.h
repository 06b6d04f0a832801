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

#include <string>
#include <string_view>
#include <vector>

#include "common/sample.h"
#include "common/status.h"

namespace accel {

inline constexpr std::string_view kCsvHeader = "t_ns,x_g,y_g,z_g";

// Parses a whole CSV text. `name` prefixes error messages ("walk.csv:17: ...").
Status ParseSampleCsv(std::string_view text, const std::string& name, std::vector<Sample>* out);
// Reads and parses a file (at most 1 GiB).
Status ReadSampleCsvFile(const std::string& path, std::vector<Sample>* out);

// Appends the header line to `out`.
void AppendCsvHeader(std::string* out);
// Appends one line; values as the shortest decimal that reads back to the same double.
void AppendCsvLine(const Sample& s, std::string* out);
// Header plus all lines.
std::string FormatSampleCsv(const std::vector<Sample>& samples);

}  // namespace accel

#endif  // ACCEL_COMMON_CSV_H_
