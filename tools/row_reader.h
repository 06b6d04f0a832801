// RowReader: reads per-second rows back from DynamoDB and checks them
// against a source recording, sample for sample. Shared by sensor-query,
// sensor-replay --verify and the demo.
#ifndef ACCEL_TOOLS_ROW_READER_H_
#define ACCEL_TOOLS_ROW_READER_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/sample.h"
#include "common/status.h"
#include "phone-relay/dynamodb_client.h"

namespace accel {
namespace tools {

struct RowSamples {
  std::string device_id;
  int64_t second = 0;
  double resolution_g = 0;
  size_t item_bytes = 0;  // as DynamoDB bills it: names + values (numbers by significant digits)
  std::vector<QSample> samples;
};

// Decodes one item of docs/dynamodb-row.md; errors name the attribute.
Status DecodeRowItem(const nlohmann::json& item, RowSamples* out);

// A number's billed size: 1 byte per 2 significant digits, plus 1.
size_t DynamoNumberBytes(const std::string& text);

// Every row of `partition_id` with from_s <= second < to_s, optionally of one
// device, in time order.
Status ReadRows(relay::DynamoDbClient* client, const std::string& table,
                const std::string& partition_id, int64_t from_s, int64_t to_s,
                const std::string& device_id, std::vector<RowSamples>* out);

// Drops the samples outside [from_ns, to_ns), and rows left empty (a range
// that starts or ends inside a second).
void KeepRange(int64_t from_ns, int64_t to_ns, std::vector<RowSamples>* rows);

struct VerifyReport {
  uint64_t samples_in = 0;        // source samples
  uint64_t samples_verified = 0;  // found exactly once with the right values
  uint64_t rows = 0;
  uint64_t missing = 0;     // in the source, not in the table
  uint64_t duplicates = 0;  // in the table more often than in the source
  uint64_t mismatched = 0;  // at a source timestamp with different values
  double avg_row_bytes = 0;
  std::vector<std::string> examples;  // the first differences, with timestamps
  bool ok() const { return missing == 0 && duplicates == 0 && mismatched == 0; }
};

// Compares the source (quantised at the rows' resolution) with the rows as
// multisets per timestamp.
VerifyReport Verify(const std::vector<QSample>& source, const std::vector<RowSamples>& rows);

// Parses --from/--to: epoch seconds ("1657533977", "1657533977.25", "-5") or
// ISO-8601 "YYYY-MM-DDTHH:MM:SS[.f{1,9}][Z|+hh:mm|-hh:mm|+hhmm|+hh]" (no
// offset = UTC), into nanoseconds since the epoch. Anything else, including a
// date that does not exist, is InvalidArgument with a message saying the forms.
Status ParseTimeArg(const std::string& text, int64_t* epoch_ns);

// "2022-07-11T10:06:17.810Z" (milliseconds, or nanoseconds when needed; none
// for a whole second).
std::string FormatUtc(int64_t t_ns);

// Text safe inside an XML element or attribute.
std::string XmlEscape(const std::string& text);

// An SVG plot of x, y, z (g) against the time since the first sample (s, min
// or h, the UTC start in the axis label), with a legend; for long ranges the
// min/max envelope per pixel column, so at most ~2 points per column.
std::string RenderSvg(const std::vector<Sample>& samples, const std::string& title);

}  // namespace tools
}  // namespace accel

#endif  // ACCEL_TOOLS_ROW_READER_H_
