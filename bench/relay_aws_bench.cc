// relay_aws_bench: rows per second our DynamoDbClient uploads into the local
// DynamoDB stand-ins (dynalite, moto), next to boto3's batch_writer uploading
// the same rows to the same server in the same run. Also the CPU our process
// spent, to tell whether the client or the server is the limit.
//
//   relay_aws_bench [rows=5000] [payload_bytes=600]
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/clock.h"
#include "phone-relay/credentials.h"
#include "phone-relay/dynamodb_client.h"
#include "tests/support/local_aws.h"

using namespace accel;         // NOLINT
using namespace accel::relay;  // NOLINT

namespace {

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

std::string Base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += k[v & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += i + 1 < in.size() ? k[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

struct Figure {
  double seconds = 0, cpu = 0;
  bool ok = false;
};

Figure Ours(const std::string& endpoint, const std::string& table, int rows, int payload,
            int in_flight) {
  StaticCredentialsProvider creds(AwsCredentials{"AKIDLOCALTEST", "local-test-secret", "", 0}, "u");
  DynamoDbClientOptions o;
  o.endpoint.endpoint_url = endpoint;
  o.endpoint.region = "us-east-1";
  o.max_in_flight = in_flight;
  auto client = DynamoDbClient::Create(o, &creds);
  Figure f;
  if (!client.ok()) return f;
  std::vector<WriteItem> items;
  const std::string id = "ours-" + std::to_string(in_flight);
  for (int i = 0; i < rows; ++i) {
    std::string d(payload, '\0');
    for (int j = 0; j < payload; ++j) d[j] = static_cast<char>((i * 7 + j) & 0xff);
    items.push_back(
        WriteItem{static_cast<uint64_t>(i), id, 1795500000 + i,
                  "\"dev\":{\"S\":\"watch-1\"},\"n\":{\"N\":\"50\"},\"v\":{\"N\":\"1\"},"
                  "\"d\":{\"B\":\"" +
                      Base64(d) + "\"}"});
  }
  const int64_t t0 = Clock::Real()->MonotonicNanos();
  const double c0 = CpuSeconds();
  // Whatever comes back unprocessed or failed goes out again, as the uploader does.
  std::vector<WriteItem> pending = items;
  for (int round = 0; !pending.empty() && round < 20; ++round) {
    std::vector<std::vector<WriteItem>> batches;
    for (auto& it : pending) {
      if (batches.empty() || batches.back().size() == 25) batches.emplace_back();
      batches.back().push_back(std::move(it));
    }
    pending.clear();
    std::vector<BatchWriteResult> res = (*client)->BatchWriteItemMany(table, batches);
    for (size_t b = 0; b < res.size(); ++b) {
      for (const auto& w : batches[b]) {
        bool again = false;
        for (uint64_t t : res[b].unprocessed) again = again || t == w.token;
        for (uint64_t t : res[b].failed) again = again || t == w.token;
        if (again) pending.push_back(w);
      }
    }
  }
  f.seconds = (Clock::Real()->MonotonicNanos() - t0) / 1e9;
  f.cpu = CpuSeconds() - c0;
  f.ok = pending.empty();
  return f;
}

Figure Boto3(const std::string& endpoint, const std::string& table, int rows, int payload) {
  std::string cmd = "python3 '" + testing::SourceDir() + "/tests/relay_aws/boto3_bench.py' '" +
                    endpoint + "' us-east-1 " + table + " boto3 " + std::to_string(rows) + " " +
                    std::to_string(payload);
  Figure f;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return f;
  std::string out;
  char buf[1024];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  if (pclose(p) != 0) return f;
  nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
  if (!j.is_object()) return f;
  f.seconds = j["seconds"];
  f.cpu = j["cpu_seconds"];
  f.ok = true;
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  const int rows = argc > 1 ? std::atoi(argv[1]) : 5000;
  const int payload = argc > 2 ? std::atoi(argv[2]) : 600;
  std::printf(
      "relay_aws_bench: %d rows of %d payload bytes, BatchWriteItem x25, same server, same run\n",
      rows, payload);
  std::printf("%-9s %-22s %10s %10s %12s %9s\n", "server", "client", "seconds", "rows/s",
              "client CPU s", "vs boto3");
  for (const char* kind : {"dynalite", "moto"}) {
    auto server = std::string(kind) == "moto" ? testing::LocalServer::StartMoto()
                                              : testing::LocalServer::StartDynalite();
    if (!server.ok()) {
      std::printf("%-9s cannot start: %s\n", kind, server.status().ToString().c_str());
      continue;
    }
    const std::string ep = (*server)->endpoint();
    StaticCredentialsProvider creds(AwsCredentials{"AKIDLOCALTEST", "local-test-secret", "", 0},
                                    "u");
    DynamoDbClientOptions o;
    o.endpoint.endpoint_url = ep;
    o.endpoint.region = "us-east-1";
    auto setup = DynamoDbClient::Create(o, &creds);
    if (!setup.ok() || !(*setup)->CreateTable("bench_rows").ok() ||
        !(*setup)->WaitUntilActive("bench_rows", 30000).ok()) {
      std::printf("%-9s cannot create the table\n", kind);
      continue;
    }
    Figure boto = Boto3(ep, "bench_rows", rows, payload);
    Figure one = Ours(ep, "bench_rows", rows, payload, 1);
    Figure four = Ours(ep, "bench_rows", rows, payload, 4);
    auto line = [&](const char* who, const Figure& f) {
      if (!f.ok) {
        std::printf("%-9s %-22s failed\n", kind, who);
        return;
      }
      std::printf("%-9s %-22s %10.2f %10.0f %12.2f %8.2fx\n", kind, who, f.seconds,
                  rows / f.seconds, f.cpu, boto.ok ? boto.seconds / f.seconds : 0.0);
    };
    line("boto3 batch_writer", boto);
    line("ours, 1 in flight", one);
    line("ours, 4 in flight", four);
  }
  std::printf(
      "(client CPU: this process for ours, the python process for boto3; on 2 cores the\n"
      " server shares the CPU, so rows/s close to the server's own limit means it is the limit)\n");
  return 0;
}
