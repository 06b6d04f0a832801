// sensor-query: reads per-second rows back from DynamoDB and writes them as
// CSV (t_ns,x_g,y_g,z_g) and optionally as an SVG plot of x, y, z over time.
//
//   sensor-query --table NAME --partition-id ID --from T --to T [--device-id ID]
//                --csv OUT [--svg OUT]
//
// T is epoch seconds or an ISO-8601 UTC time (2022-07-11T10:06:17Z); the
// range is [from, to). Endpoint, region and credentials follow the AWS SDK
// environment conventions. Exit codes: 0 ok, 1 runtime failure, 2 usage.
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "common/csv.h"
#include "common/env.h"
#include "tools/row_reader.h"
#include "tools/tool_common.h"

namespace {
int Usage(const std::string& msg) {
  std::fprintf(stderr, "sensor-query: %s\n", msg.c_str());
  std::fprintf(stderr,
               "usage: sensor-query --table NAME --partition-id ID --from T --to T "
               "[--device-id ID] --csv OUT [--svg OUT]\n");
  return 2;
}
}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a;
  const char* known[] = {"table", "partition-id", "from", "to", "device-id", "csv", "svg"};
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--help" || k == "-h") {
      Usage("help");
      return 0;
    }
    bool ok = false;
    for (const char* n : known) ok |= k == std::string("--") + n;
    if (!ok) return Usage("unknown option '" + k + "'");
    if (i + 1 >= argc) return Usage(k + " needs a value");
    a[k.substr(2)] = argv[++i];
  }
  for (const char* req : {"table", "partition-id", "from", "to", "csv"})
    if (!a.count(req)) return Usage(std::string("missing --") + req);
  int64_t from = 0, to = 0;
  accel::Status st = accel::tools::ParseTimeArg(a["from"], &from);
  if (st.ok()) st = accel::tools::ParseTimeArg(a["to"], &to);
  if (!st.ok()) return Usage(st.message());
  if (to <= from) return Usage("--to must be after --from");

  auto aws = accel::tools::MakeAwsSetup(a["partition-id"]);
  if (!aws.ok()) {
    std::fprintf(stderr, "sensor-query: %s\n", aws.status().ToString().c_str());
    return aws.status().IsInvalidArgument() ? 2 : 1;
  }
  std::vector<accel::tools::RowSamples> rows;
  st = accel::tools::ReadRows(aws->client.get(), a["table"], a["partition-id"], from, to,
                              a["device-id"], &rows);
  if (!st.ok()) {
    std::fprintf(stderr, "sensor-query: %s\n", st.ToString().c_str());
    return 1;
  }
  std::vector<accel::Sample> samples;
  for (const auto& r : rows) {
    auto res = accel::Resolution::FromStep(r.resolution_g);
    if (!res.ok()) {
      std::fprintf(stderr, "sensor-query: row %lld: %s\n", static_cast<long long>(r.second),
                   res.status().ToString().c_str());
      return 1;
    }
    for (const accel::QSample& q : r.samples) samples.push_back(res->ToSample(q));
  }
  st = accel::WriteFileAtomically(accel::Env::Default(), a["csv"],
                                  accel::FormatSampleCsv(samples));
  if (st.ok() && a.count("svg")) {
    std::string title = "partition " + a["partition-id"] +
                        (a["device-id"].empty() ? "" : ", device " + a["device-id"]) + ", " +
                        std::to_string(samples.size()) + " samples from " + a["from"];
    st = accel::WriteFileAtomically(accel::Env::Default(), a["svg"],
                                    accel::tools::RenderSvg(samples, title));
  }
  if (!st.ok()) {
    std::fprintf(stderr, "sensor-query: %s\n", st.ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "sensor-query: %zu rows, %zu samples -> %s%s%s\n", rows.size(),
               samples.size(), a["csv"].c_str(), a.count("svg") ? " and " : "",
               a.count("svg") ? a["svg"].c_str() : "");
  return 0;
}
