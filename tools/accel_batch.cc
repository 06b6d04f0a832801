// accel-batch: a developer tool for batch files (docs/batch-format.md).
//
//   accel-batch encode IN.csv -o OUT.batch [--device-id ID] [--sequence N] [--resolution G]
//     (one batch file for the whole CSV, at most 2^24 samples)
//   accel-batch decode IN.batch -o OUT.csv
//   accel-batch inspect IN.batch
//
// Errors are one line on stderr. Exit status: 0 ok, 1 bad input (unreadable
// file, bad CSV, corrupt batch), 2 usage error.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "common/batch_format.h"
#include "common/csv.h"
#include "common/env.h"
#include "common/sample.h"

namespace accel {
namespace {

// Batch files are read whole; a valid one is far smaller (at most 2^24
// samples of a few bytes).
constexpr uint64_t kMaxInputBytes = uint64_t{1} << 30;

const char kUsage[] =
    "usage: accel-batch encode IN.csv -o OUT.batch [--device-id ID] [--sequence N] "
    "[--resolution G]\n"
    "       accel-batch decode IN.batch -o OUT.csv\n"
    "       accel-batch inspect IN.batch\n"
    "\n"
    "encode writes the whole CSV (t_ns,x_g,y_g,z_g) as one batch file: at most 2^24 = 16777216\n"
    "samples (about 93 hours at 50 Hz); a longer CSV is an error, split it. The CSV is read in\n"
    "pieces, so its size in bytes is not limited. --resolution G: the step in g (default\n"
    "1/16384), from 32/1048575 (about 3.05e-5, so that +-32 g is held) to 1; a value beyond\n"
    "+-1048575 steps is an error, never clamped.\n";

// The batch limit; the environment variable ACCEL_BATCH_MAX_SAMPLES can only
// lower it (a test hook: the real limit needs a ~1 GB CSV to reach).
size_t MaxSamples() {
  size_t limit = kMaxBatchSamples;
  if (const char* env = std::getenv("ACCEL_BATCH_MAX_SAMPLES")) {
    char* end = nullptr;
    unsigned long long v = std::strtoull(env, &end, 10);
    if (end != env && *end == '\0' && v < limit) limit = static_cast<size_t>(v);
  }
  return limit;
}

int Fail(const std::string& message) {
  std::fprintf(stderr, "accel-batch: %s\n", message.c_str());
  return 1;
}

// One line for any failure: the message already names the file and offset.
std::string Describe(const Status& st) {
  if (st.IsNotFound()) return st.message() + ": no such file";
  return st.message();
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "accel-batch: %s (see accel-batch --help)\n", message.c_str());
  return 2;
}

struct Args {
  std::string command, input, output, device_id = "accel-batch";
  std::string sequence, resolution;
};

// Parses argv; returns an empty string or a usage error message.
std::string ParseArgs(int argc, char** argv, Args* a) {
  if (argc < 2) return "missing command";
  a->command = argv[1];
  if (a->command != "encode" && a->command != "decode" && a->command != "inspect")
    return "unknown command '" + a->command + "'";
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](std::string* dst) -> std::string {
      if (i + 1 >= argc) return "option " + arg + " needs a value";
      *dst = argv[++i];
      return "";
    };
    std::string err;
    if (arg == "-o" || arg == "--output") {
      err = value(&a->output);
    } else if (arg == "--device-id" && a->command == "encode") {
      err = value(&a->device_id);
    } else if (arg == "--sequence" && a->command == "encode") {
      err = value(&a->sequence);
    } else if (arg == "--resolution" && a->command == "encode") {
      err = value(&a->resolution);
    } else if (arg.size() > 1 && arg[0] == '-') {
      return "unknown option '" + arg + "' for " + a->command;
    } else if (a->input.empty()) {
      a->input = arg;
    } else {
      return "unexpected argument '" + arg + "'";
    }
    if (!err.empty()) return err;
  }
  if (a->input.empty()) return "missing input file";
  if (a->command == "inspect" && !a->output.empty()) return "inspect takes no -o";
  if (a->command != "inspect" && a->output.empty()) return "missing -o OUTPUT";
  return "";
}

std::string FormatUtc(int64_t t_ns) {
  int64_t sec = t_ns / 1000000000, frac = t_ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    sec -= 1;
  }
  time_t tt = static_cast<time_t>(sec);
  struct tm tm;
  if (gmtime_r(&tt, &tm) == nullptr) return "?";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09" PRId64 "Z", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return buf;
}

int Encode(const Args& a) {
  Resolution res;
  if (!a.resolution.empty()) {
    auto r = Resolution::Parse(a.resolution);
    if (!r.ok()) return Usage(r.status().message());
    res = r.value();
  }
  BatchHeader h;
  h.device_id = a.device_id;
  h.resolution_g = res.step_g();
  if (!a.sequence.empty()) {
    errno = 0;
    char* end = nullptr;
    unsigned long long v = std::strtoull(a.sequence.c_str(), &end, 10);
    if (errno != 0 || end != a.sequence.c_str() + a.sequence.size() || a.sequence[0] == '-')
      return Usage("--sequence '" + a.sequence + "': expected an unsigned 64-bit integer");
    h.sequence = v;
  }
  // The CSV is read in pieces and quantised as it goes (24 bytes a sample), so
  // its length is bounded only by what one batch file holds.
  const size_t limit = MaxSamples();
  std::vector<QSample> q;
  Status st = ForEachSampleInCsvFile(a.input, [&](const Sample& s) {
    // Line number: the header is line 1 and blank lines only end a file.
    const std::string line = a.input + ":" + std::to_string(q.size() + 2) + ": ";
    if (q.size() >= limit)
      return Status::InvalidArgument(
          line + "more than " + std::to_string(limit) +
          " samples: one batch file holds at most 2^24 = 16777216 samples (about 93 hours at "
          "50 Hz); split the CSV");
    QSample x;
    Status qs = res.Quantise(s, &x);
    if (!qs.ok()) return Status::InvalidArgument(line + qs.message());
    q.push_back(x);
    return Status::OK();
  });
  if (!st.ok()) return Fail(Describe(st));
  std::string out;
  const auto t0 = std::chrono::steady_clock::now();
  st = EncodeBatch(h, q, &out);
  const double ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  if (st.code() == Status::Code::kInvalidArgument && st.message().rfind("device id", 0) == 0)
    return Usage("--device-id: " + st.message());
  if (!st.ok()) return Fail(a.input + ": " + st.message());
  st = WriteFileAtomically(Env::Default(), a.output, out);
  if (!st.ok()) return Fail(Describe(st));
  std::printf("%s: %zu samples, %zu bytes, %.3f bytes/sample, encoded in %.0f ns/sample\n",
              a.output.c_str(), q.size(), out.size(),
              q.empty() ? 0.0 : static_cast<double>(out.size()) / q.size(),
              q.empty() ? 0.0 : ns / q.size());
  return 0;
}

Status ReadBatch(const std::string& path, std::string* data) {
  return Env::Default()->ReadFile(path, data, kMaxInputBytes);
}

int Decode(const Args& a) {
  std::string data;
  Status st = ReadBatch(a.input, &data);
  if (!st.ok()) return Fail(Describe(st));
  BatchHeader h;
  std::vector<QSample> q;
  const auto t0 = std::chrono::steady_clock::now();
  st = DecodeBatch(data, &h, &q);
  const double ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
  if (!st.ok()) return Fail(a.input + ": " + st.message());
  auto res = Resolution::FromStep(h.resolution_g);
  if (!res.ok()) return Fail(a.input + ": " + res.status().message());
  std::string csv;
  csv.reserve(q.size() * 64 + 32);
  AppendCsvHeader(&csv);
  for (const QSample& s : q) AppendCsvLine(res->ToSample(s), &csv);
  st = WriteFileAtomically(Env::Default(), a.output, csv);
  if (!st.ok()) return Fail(Describe(st));
  std::printf("%s: %zu samples, decoded in %.0f ns/sample\n", a.output.c_str(), q.size(),
              q.empty() ? 0.0 : ns / q.size());
  return 0;
}

int Inspect(const Args& a) {
  std::string data;
  Status st = ReadBatch(a.input, &data);
  if (!st.ok()) return Fail(Describe(st));
  BatchHeader h;
  st = DecodeBatchHeader(data, &h);
  if (!st.ok()) return Fail(a.input + ": " + st.message());
  Status crc = VerifyBatchChecksum(data);
  std::vector<QSample> q;
  BatchHeader h2;
  Status body = crc.ok() ? DecodeBatch(data, &h2, &q) : Status::Corruption("not decoded");
  const size_t header_bytes = kBatchFixedBytes - 4 + h.device_id.size();
  std::printf("file              %s\n", a.input.c_str());
  std::printf("format            ACCB version %d\n", kBatchFormatVersion);
  std::printf("device_id         %s\n", h.device_id.c_str());
  std::printf("sequence          %" PRIu64 "\n", h.sequence);
  std::printf("first_t_ns        %" PRId64 " (%s)\n", h.first_t_ns,
              FormatUtc(h.first_t_ns).c_str());
  std::printf("nominal_period_ns %" PRId64 " (%.3f Hz)\n", h.nominal_period_ns,
              1e9 / static_cast<double>(h.nominal_period_ns));
  std::printf("resolution_g      %.17g (1/%.6g g)\n", h.resolution_g, 1.0 / h.resolution_g);
  std::printf("sample_count      %u\n", h.sample_count);
  if (body.ok() && !q.empty()) {
    int64_t lo = q[0].t_ns, hi = q[0].t_ns;
    for (const QSample& s : q) {
      lo = std::min(lo, s.t_ns);
      hi = std::max(hi, s.t_ns);
    }
    std::printf("time_span         %.6f s (last %s)\n",
                static_cast<double>(static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo)) / 1e9,
                FormatUtc(q.back().t_ns).c_str());
  }
  std::printf("file_bytes        %zu (header %zu, body %zu, crc 4)\n", data.size(), header_bytes,
              data.size() - header_bytes - 4);
  if (h.sample_count > 0)
    std::printf("bytes_per_sample  %.3f\n", static_cast<double>(data.size()) / h.sample_count);
  std::printf("checksum          %s\n", crc.ok() ? "ok (CRC-32C)" : crc.message().c_str());
  if (crc.ok()) std::printf("body              %s\n", body.ok() ? "ok" : body.message().c_str());
  if (!crc.ok()) return Fail(a.input + ": " + crc.message());
  if (!body.ok()) return Fail(a.input + ": " + body.message());
  return 0;
}

}  // namespace
}  // namespace accel

int main(int argc, char** argv) {
  accel::Args args;
  std::string err = accel::ParseArgs(argc, argv, &args);
  if (argc >= 2 && (std::strcmp(argv[1], "-h") == 0 || std::strcmp(argv[1], "--help") == 0)) {
    std::fputs(accel::kUsage, stdout);
    return 0;
  }
  if (!err.empty()) return accel::Usage(err);
  if (args.command == "encode") return accel::Encode(args);
  if (args.command == "decode") return accel::Decode(args);
  return accel::Inspect(args);
}
