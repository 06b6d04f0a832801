// sensor-query: reads per-second rows back from DynamoDB and writes them as
// CSV (t_ns,x_g,y_g,z_g) and optionally as an SVG plot of x, y, z over time.
//
//   sensor-query --table NAME --partition-id ID --from T --to T [--device-id ID]
//                --csv OUT [--svg OUT] [--expect FILE]... [--json]
//
// --expect compares what was read, sample for sample, with captured files
// (quantised at the rows' resolution) and exits 1 on any missing, duplicate
// or different sample; --json prints the figures as one JSON object.
//
// T is epoch seconds or an ISO-8601 UTC time (2022-07-11T10:06:17Z); the
// range is [from, to). Endpoint, region and credentials follow the AWS SDK
// environment conventions. Exit codes: 0 ok, 1 runtime failure, 2 usage.
#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "watch-agent/file_recorder.h"

#include "common/csv.h"
#include "common/env.h"
#include "tools/row_reader.h"
#include "tools/tool_common.h"

namespace {
int Usage(const std::string& msg) {
  std::fprintf(stderr, "sensor-query: %s\n", msg.c_str());
  std::fprintf(stderr,
               "usage: sensor-query --table NAME --partition-id ID --from T --to T "
               "[--device-id ID] --csv OUT [--svg OUT] [--expect FILE]... [--json]\n");
  return 2;
}
}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> a;
  std::vector<std::string> expect;
  bool json = false;
  const char* known[] = {"table", "partition-id", "from", "to", "device-id", "csv", "svg"};
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    if (k == "--json") {
      json = true;
      continue;
    }
    if (k == "--expect") {
      if (i + 1 >= argc) return Usage("--expect needs a file");
      expect.push_back(argv[++i]);
      continue;
    }
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
  uint64_t write_units = 0;
  for (const auto& r : rows) write_units += (r.item_bytes + 1023) / 1024;
  nlohmann::json out = {{"rows", rows.size()}, {"samples", samples.size()},
                        {"write_units", write_units}};
  bool ok = true;
  if (!expect.empty()) {
    std::vector<accel::Sample> src;
    for (const std::string& f : expect) {
      st = accel::FileRecorder::LoadFile(f, &src);
      if (!st.ok()) {
        std::fprintf(stderr, "sensor-query: %s\n", st.ToString().c_str());
        return 1;
      }
    }
    auto res = accel::Resolution::FromStep(rows.empty() ? accel::Resolution::kDefaultStepG
                                                        : rows[0].resolution_g);
    std::vector<accel::QSample> q(src.size());
    for (size_t i = 0; i < src.size(); ++i) {
      st = res->Quantise(src[i], &q[i]);
      if (!st.ok()) {
        std::fprintf(stderr, "sensor-query: --expect sample %zu: %s\n", i + 1, st.message().c_str());
        return 1;
      }
    }
    accel::tools::VerifyReport rep = accel::tools::Verify(q, rows);
    std::fprintf(stderr,
                 "verify: %llu of %llu expected samples found exactly once; missing %llu, "
                 "duplicate %llu, different %llu\n",
                 (unsigned long long)rep.samples_verified, (unsigned long long)rep.samples_in,
                 (unsigned long long)rep.missing, (unsigned long long)rep.duplicates,
                 (unsigned long long)rep.mismatched);
    for (const std::string& e : rep.examples) std::fprintf(stderr, "  %s\n", e.c_str());
    out["samples_in"] = rep.samples_in;
    out["samples_verified"] = rep.samples_verified;
    out["missing"] = rep.missing;
    out["duplicates"] = rep.duplicates;
    out["mismatched"] = rep.mismatched;
    out["avg_row_bytes"] = rep.avg_row_bytes;
    ok = rep.ok();
  }
  if (json) std::printf("%s\n", out.dump().c_str());
  return ok ? 0 : 1;
}
