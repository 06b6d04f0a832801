// sensor-query: reads per-second rows back from DynamoDB and writes them as
// CSV (t_ns,x_g,y_g,z_g) and optionally as an SVG plot of x, y, z over time.
//
//   sensor-query --table NAME --partition-id ID --from T --to T [--device-id ID]
//                --csv OUT [--svg OUT] [--expect FILE]... [--json]
//
// T is epoch seconds (fraction allowed) or an ISO-8601 time
// (2022-07-11T10:06:17Z, 2022-07-11T12:06:17.5+02:00); the range [from, to)
// applies to sample times. Without --device-id the range must hold one device
// only (the CSV has no device column): several are an error that names them.
//
// --expect compares what was read, sample for sample, with captured files
// (quantised at the rows' resolution) and exits 1 on any missing, duplicate
// or different sample; --json prints the figures as one JSON object.
//
// Endpoint, region and credentials follow the AWS SDK environment
// conventions. docs/tools.md is the reference. Exit codes: 0 ok, 1 runtime
// failure or a difference, 2 usage or configuration error.
#include <cstdio>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "common/csv.h"
#include "common/env.h"
#include "phone-relay/second_rows.h"
#include "tools/row_reader.h"
#include "tools/tool_common.h"
#include "watch-agent/file_recorder.h"

namespace {

using accel::tools::kExitOk;
using accel::tools::kExitRuntime;
using accel::tools::kExitUsage;

int Usage(const std::string& msg) {
  std::fprintf(stderr, "sensor-query: %s\n", msg.c_str());
  std::fprintf(stderr,
               "usage: sensor-query --table NAME --partition-id ID --from T --to T "
               "[--device-id ID] --csv OUT [--svg OUT] [--expect FILE]... [--json]\n");
  return kExitUsage;
}

int Fail(const std::string& msg, int code = kExitRuntime) {
  std::fprintf(stderr, "sensor-query: %s\n", msg.c_str());
  return code;
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
      Usage("reads rows back as CSV and SVG (docs/tools.md)");
      return kExitOk;
    }
    bool ok = false;
    for (const char* n : known) ok |= k == std::string("--") + n;
    if (!ok) return Usage("unknown option '" + k + "'");
    if (i + 1 >= argc) return Usage(k + " needs a value");
    a[k.substr(2)] = argv[++i];
  }
  for (const char* req : {"table", "partition-id", "from", "to", "csv"})
    if (!a.count(req) || a[req].empty()) return Usage(std::string("missing --") + req);
  int64_t from_ns = 0, to_ns = 0;
  accel::Status st = accel::tools::ParseTimeArg(a["from"], &from_ns);
  if (st.ok()) st = accel::tools::ParseTimeArg(a["to"], &to_ns);
  if (!st.ok()) return Usage(st.message());
  if (to_ns <= from_ns) return Usage("--to must be after --from");

  // The expected files first: a missing one is said before any query.
  std::vector<accel::Sample> src;
  for (const std::string& f : expect) {
    st = accel::FileRecorder::LoadFile(f, &src);
    if (!st.ok()) return Fail("--expect: " + st.ToString());
  }

  auto aws = accel::tools::MakeAwsSetup(a["partition-id"]);
  if (!aws.ok()) return Fail(aws.status().ToString(), kExitUsage);  // configuration
  // Rows are per second: read every second the range touches, then keep the
  // samples inside [from, to).
  const int64_t from_s = accel::relay::EpochSecondOf(from_ns);
  const int64_t to_s = accel::relay::EpochSecondOf(to_ns - 1) + 1;
  std::vector<accel::tools::RowSamples> rows;
  st = accel::tools::ReadRows(aws->client.get(), a["table"], a["partition-id"], from_s, to_s,
                              a["device-id"], &rows);
  // InvalidArgument: a request DynamoDB cannot take (e.g. a bad table name): configuration.
  if (!st.ok()) return Fail(st.ToString(), st.IsInvalidArgument() ? kExitUsage : kExitRuntime);
  accel::tools::KeepRange(from_ns, to_ns, &rows);
  if (a["device-id"].empty()) {
    std::set<std::string> devices;
    for (const auto& r : rows) devices.insert(r.device_id);
    if (devices.size() > 1) {
      std::string list;
      for (const std::string& d : devices) list += (list.empty() ? "" : ", ") + d;
      return Usage("the range holds " + std::to_string(devices.size()) + " devices (" + list +
                   "); choose one with --device-id");
    }
  }
  std::vector<accel::Sample> samples;
  for (const auto& r : rows) {
    auto res = accel::Resolution::FromStep(r.resolution_g);
    if (!res.ok()) return Fail("row " + std::to_string(r.second) + ": " + res.status().ToString());
    for (const accel::QSample& q : r.samples) samples.push_back(res->ToSample(q));
  }
  st = accel::WriteFileAtomically(accel::Env::Default(), a["csv"], accel::FormatSampleCsv(samples));
  const std::string device = !a["device-id"].empty() ? a["device-id"]
                             : rows.empty()          ? ""
                                                     : rows[0].device_id;
  if (st.ok() && a.count("svg")) {
    std::string title = (device.empty() ? "no device" : "device " + device) + ", " +
                        std::to_string(samples.size()) + " samples (partition " +
                        a["partition-id"] + ")";
    st = accel::WriteFileAtomically(accel::Env::Default(), a["svg"],
                                    accel::tools::RenderSvg(samples, title));
  }
  if (!st.ok()) return Fail(st.ToString());
  std::fprintf(stderr, "sensor-query: %zu rows, %zu samples -> %s%s%s\n", rows.size(),
               samples.size(), a["csv"].c_str(), a.count("svg") ? " and " : "",
               a.count("svg") ? a["svg"].c_str() : "");
  uint64_t write_units = 0;
  for (const auto& r : rows) write_units += (r.item_bytes + 1023) / 1024;
  nlohmann::json out = {{"rows", rows.size()},        {"samples", samples.size()},
                        {"write_units", write_units}, {"device_id", device},
                        {"from_ns", from_ns},         {"to_ns", to_ns}};
  bool ok = true;
  if (!expect.empty()) {
    auto res = accel::Resolution::FromStep(rows.empty() ? accel::Resolution::kDefaultStepG
                                                        : rows[0].resolution_g);
    if (!res.ok()) return Fail(res.status().ToString());
    std::vector<accel::QSample> q(src.size());
    for (size_t i = 0; i < src.size(); ++i) {
      st = res->Quantise(src[i], &q[i]);
      if (!st.ok()) return Fail("--expect sample " + std::to_string(i + 1) + ": " + st.message());
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
  return ok ? kExitOk : kExitRuntime;
}
