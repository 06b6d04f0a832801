// sigv4_bench: cost of one SigV4 signature for the relay's hot request, a DynamoDB BatchWriteItem
// POST (Content-Type, X-Amz-Target, a ~900-character session token) with 1 KiB, 16 KiB and 256 KiB
// bodies, next to the raw SHA-256 of the same body (the floor: the body must be hashed). BM_Sign
// signs the same request shape within one second (the relay's steady state); BM_SignNewSecond and
// BM_SignNewShape show what a new second and a new shape cost.
//
// The workload files (body_<size>.json, token.txt) come from bench/sigv4_compare.sh through
// SIGV4_BENCH_DIR so that the peers sign byte-identical requests; without it the same shape is
// generated here. Prints figures; not a pass/fail test.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sigv4/signer.h"

namespace {

using accel::sigv4::Credentials;
using accel::sigv4::Header;
using accel::sigv4::SigningParams;

std::string ReadOr(const std::string& name, const std::string& fallback) {
  const char* dir = std::getenv("SIGV4_BENCH_DIR");
  if (dir == nullptr) return fallback;
  std::ifstream f(std::string(dir) + "/" + name, std::ios::binary);
  if (!f) return fallback;
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// {"RequestItems":{"accel":[{"PutRequest":{"Item":{...}}},...]}} padded to exactly n bytes.
std::string MakeBody(size_t n) {
  std::string items;
  for (int i = 0; items.size() + 200 < n; ++i) {
    if (i > 0) items += ',';
    items += R"({"PutRequest":{"Item":{"id":{"S":"us-east-1:7d8c3e51-0c0a-4f6e-9b55-)" +
             std::to_string(100000000000 + i) + R"("},"t":{"N":")" +
             std::to_string(1700000000 + i) +
             R"("},"n":{"N":"50"},"s":{"B":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYX"}}}})";
  }
  std::string body = R"({"RequestItems":{"accel":[)" + items + "]}";
  body += std::string(n - body.size() - 1, ' ');
  body += '}';
  return body;
}

std::string MakeToken() {
  std::string t = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD";
  const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; t.size() < 900; ++i) t += alphabet[(i * 7919 + 13) % 64];
  return t;
}

struct Workload {
  std::string body, token;
  std::vector<Header> headers = {{"Content-Type", "application/x-amz-json-1.0"},
                                 {"X-Amz-Target", "DynamoDB_20120810.BatchWriteItem"}};
  Credentials creds;
  SigningParams params;
  explicit Workload(size_t size) {
    body = ReadOr("body_" + std::to_string(size) + ".json", MakeBody(size));
    token = ReadOr("token.txt", MakeToken());
    creds = Credentials{"ASIAEXAMPLEEXAMPLE00", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", token};
    params.region = "us-east-1";
    params.service = "dynamodb";
    params.unix_seconds = 1700000000;
  }
};

constexpr char kUrl[] = "https://dynamodb.us-east-1.amazonaws.com/";

void BM_Sign(benchmark::State& state) {
  Workload w(static_cast<size_t>(state.range(0)));
  accel::sigv4::Signer signer;
  std::vector<Header> out;
  for (auto _ : state) {
    accel::sigv4::Status s = signer.Sign("POST", kUrl, w.headers, w.body, w.creds, w.params, &out);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.body.size()));
  state.SetLabel(accel::sigv4::Sha256::Backend());
}

// A new second on every call: the same request shape, but the date in the canonical request
// comes before the session token, so its hash cannot resume after the token (what the first
// signature of each second costs; BM_Sign is every other one within the same second).
void BM_SignNewSecond(benchmark::State& state) {
  Workload w(static_cast<size_t>(state.range(0)));
  accel::sigv4::Signer signer;
  std::vector<Header> out;
  for (auto _ : state) {
    ++w.params.unix_seconds;
    accel::sigv4::Status s = signer.Sign("POST", kUrl, w.headers, w.body, w.creds, w.params, &out);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.body.size()));
}

// A different request shape on every call (two X-Amz-Target values in turn) and a new second:
// the full canonicalisation path every time, nothing reused but the signing key.
void BM_SignNewShape(benchmark::State& state) {
  Workload w(static_cast<size_t>(state.range(0)));
  std::vector<Header> other = w.headers;
  other[1].value = "DynamoDB_20120810.BatchGetItem";
  accel::sigv4::Signer signer;
  std::vector<Header> out;
  bool flip = false;
  for (auto _ : state) {
    flip = !flip;
    ++w.params.unix_seconds;
    accel::sigv4::Status s =
        signer.Sign("POST", kUrl, flip ? other : w.headers, w.body, w.creds, w.params, &out);
    if (!s.ok()) state.SkipWithError(s.ToString().c_str());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.body.size()));
}

// The signing key re-derived on every call (what a signer without the cache pays).
void BM_SignUncachedKey(benchmark::State& state) {
  Workload w(static_cast<size_t>(state.range(0)));
  accel::sigv4::Signer signer;
  std::vector<Header> out;
  Credentials other = w.creds;
  other.secret_access_key += "2";
  bool flip = false;
  for (auto _ : state) {
    flip = !flip;
    signer.Sign("POST", kUrl, w.headers, w.body, flip ? w.creds : other, w.params, &out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}

// The floor: SHA-256 of the body with OpenSSL (same assembly the signer uses).
void BM_Sha256Body(benchmark::State& state) {
  Workload w(static_cast<size_t>(state.range(0)));
  accel::sigv4::Sha256 sha;
  uint8_t digest[accel::sigv4::kSha256Size];
  for (auto _ : state) {
    sha.Hash(w.body, digest);
    benchmark::DoNotOptimize(digest);
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(w.body.size()));
}

BENCHMARK(BM_Sign)->Arg(1024)->Arg(16384)->Arg(262144);
BENCHMARK(BM_SignNewSecond)->Arg(1024)->Arg(16384)->Arg(262144);
BENCHMARK(BM_SignNewShape)->Arg(1024)->Arg(16384)->Arg(262144);
BENCHMARK(BM_Sha256Body)->Arg(1024)->Arg(16384)->Arg(262144);
BENCHMARK(BM_SignUncachedKey)->Arg(1024);

}  // namespace

BENCHMARK_MAIN();
