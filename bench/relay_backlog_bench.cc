// relay_backlog_bench: the CPU cost of turning a 24-hour backlog of one watch
// (4.32 M samples at 50 Hz -> 86,400 per-second rows) from the relay's SQLite
// buffer into signed BatchWriteItem requests, with a null sink (no network).
//
// The samples' values are the real wrist recordings in tests/data (every
// other sample of the ~100 Hz watch files, i.e. 50 Hz), looped; timestamps
// are the nominal 20 ms. Prints: the ingest cost (batches -> rows), the timed
// section (lease 1000 rows from SQLite, then per request of 25 rows build the
// JSON with string appends and fast base64 and SHA-256 + SigV4 the body;
// like the uploader, a lease's rows are dropped once their requests are
// signed) in CPU seconds (user and system) and rows/s, the bytes of request
// bodies, the ack cost (one SQLite transaction per request), the item size
// distribution, and for comparison the same bodies built as an
// nlohmann::json DOM and dumped.
//
//   relay_backlog_bench [--hours H] [--db PATH]   (default 24 h, a temp file)
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/batch_format.h"
#include "common/csv.h"
#include "common/sample.h"
#include "phone-relay/dynamodb_row.h"
#include "phone-relay/relay_store.h"
#include "sigv4/signer.h"

#ifndef ACCEL_SOURCE_DIR
#define ACCEL_SOURCE_DIR "."
#endif

namespace {

using namespace accel;         // NOLINT
using namespace accel::relay;  // NOLINT

double CpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}
struct Usage {
  double user = 0, sys = 0;
};
Usage UsageNow() {
  rusage r;
  getrusage(RUSAGE_SELF, &r);
  return {r.ru_utime.tv_sec + r.ru_utime.tv_usec * 1e-6,
          r.ru_stime.tv_sec + r.ru_stime.tv_usec * 1e-6};
}
double WallSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::vector<QSample> RealValues() {
  const char* files[] = {"s01_01_sw.norm.csv", "s02_03_sw.norm.csv", "s03_05_sw.norm.csv",
                         "s04_02_sw.norm.csv", "s04_07_sw.norm.csv"};
  Resolution res;
  std::vector<QSample> out;
  for (const char* f : files) {
    std::vector<Sample> src;
    Status st = ReadSampleCsvFile(std::string(ACCEL_SOURCE_DIR) + "/tests/data/" + f, &src);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      std::exit(1);
    }
    for (size_t i = 0; i < src.size(); i += 2) {
      QSample q;
      if (res.Quantise(src[i], &q).ok()) out.push_back(q);
    }
  }
  return out;
}

struct Percentiles {
  size_t min, p50, p90, p99, max;
};
Percentiles Of(std::vector<size_t> v) {
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, size_t(q * (v.size() - 1)))]; };
  return {v.front(), at(0.5), at(0.9), at(0.99), v.back()};
}

}  // namespace

int main(int argc, char** argv) {
  int hours = 24;
  std::string db;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--hours") && i + 1 < argc)
      hours = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--db") && i + 1 < argc)
      db = argv[++i];
    else {
      std::fprintf(stderr, "usage: relay_backlog_bench [--hours H] [--db PATH]\n");
      return 2;
    }
  }
  char tmpl[] = "/tmp/relay-backlog-XXXXXX";
  std::string tmpdir;
  if (db.empty()) {
    if (!mkdtemp(tmpl)) return 1;
    tmpdir = tmpl;
    db = tmpdir + "/relay.db";
  }
  const int64_t kSec = 1000000000;
  const int64_t t0 = 1795500000 * kSec;
  const int64_t seconds = int64_t(hours) * 3600;
  const size_t n = size_t(seconds) * 50;
  const std::string device = "watch-0123456789";
  const std::string identity = "us-east-1:0b8a9c3e-5b7e-4c1a-9d2f-3e4f5a6b7c8d";
  const std::string table = "accel-rows";

  // A clock just after the backlog: every second is recent (plain path).
  ManualClock clock(t0 + (seconds + 60) * kSec, 0);
  RelayStoreOptions o;
  o.path = db;
  o.clock = &clock;
  o.size_budget_bytes = uint64_t{8} << 30;
  auto opened = RelayStore::Open(o);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
    return 1;
  }
  RelayStore* store = opened->get();

  // --- ingest: 30 s batches, as the watch would send them ---
  std::vector<QSample> values = RealValues();
  double c0 = CpuSeconds(), w0 = WallSeconds();
  const size_t per_batch = 1500;
  size_t batch_bytes = 0;
  std::vector<QSample> part;
  for (size_t i = 0, seq = 1; i < n; i += per_batch, ++seq) {
    part.clear();
    for (size_t k = i; k < std::min(n, i + per_batch); ++k) {
      QSample q = values[k % values.size()];
      q.t_ns = t0 + int64_t(k) * 20000000;
      part.push_back(q);
    }
    BatchHeader h;
    h.device_id = device;
    h.sequence = seq;
    std::string bytes;
    Status st = EncodeBatch(h, part, &bytes);
    if (st.ok()) {
      batch_bytes += bytes.size();
      auto r = store->Ingest(device, seq, bytes);
      if (!r.ok() || r->outcome != IngestOutcome::kCommitted)
        st = r.ok() ? Status::Aborted(r->reason) : r.status();
    }
    if (!st.ok()) {
      std::fprintf(stderr, "ingest: %s\n", st.ToString().c_str());
      return 1;
    }
  }
  double ingest_cpu = CpuSeconds() - c0, ingest_wall = WallSeconds() - w0;
  auto status = store->GetStatus();
  std::printf(
      "backlog: %d h of one watch at 50 Hz: %zu samples, %zu batches of %zu (%.2f MB of "
      "batch files), %lld rows, database %.1f MB\n",
      hours, n, (n + per_batch - 1) / per_batch, per_batch, batch_bytes / 1e6,
      (long long)status->pending_rows, status->bytes_buffered / 1e6);
  std::printf("ingest (decode, split, merge, encode, commit with fsync): %.2f s CPU, %.2f s wall\n",
              ingest_cpu, ingest_wall);

  // --- timed: SQLite -> signed BatchWriteItem bodies -> null sink ---
  sigv4::Signer signer;
  sigv4::Credentials creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
  sigv4::SigningParams sp;
  sp.region = "us-east-1";
  sp.service = "dynamodb";
  sp.unix_seconds = 1795500000;
  const std::string url = "https://dynamodb.us-east-1.amazonaws.com/";
  std::vector<sigv4::Header> headers = {{"Content-Type", "application/x-amz-json-1.0"},
                                        {"X-Amz-Target", "DynamoDB_20120810.BatchWriteItem"}};
  std::vector<sigv4::Header> added;
  BatchWriteBody body(table);
  // Like the uploader, the rows of one lease live until their requests are
  // built and signed, then make room for the next lease's (the passes after
  // the timed section lease them all again).
  std::vector<PendingRow> rows;
  std::vector<size_t> item_sizes;
  item_sizes.reserve(size_t(seconds));
  size_t nrows = 0, body_bytes = 0, requests = 0, sink = 0;
  double lease_cpu = 0;
  Usage u0 = UsageNow();
  c0 = CpuSeconds();
  w0 = WallSeconds();
  for (;;) {
    double l0 = CpuSeconds();
    Status st = store->LeaseRows(25 * 40, &rows, /*include_incomplete=*/true);
    lease_cpu += CpuSeconds() - l0;
    if (!st.ok()) {
      std::fprintf(stderr, "lease: %s\n", st.ToString().c_str());
      return 1;
    }
    if (rows.empty()) break;
    for (size_t i = 0; i < rows.size(); i += 25) {
      body.Clear();
      for (size_t k = i; k < std::min(rows.size(), i + 25); ++k) {
        const PendingRow& r = rows[k];
        RowItem item;  // as the uploader's ItemOf builds it
        item.identity_id = identity;
        item.device_id = r.device_id;
        item.second = r.second;
        item.count = r.count;
        item.block = r.block;
        item.resolution_g = r.resolution_g;
        item.seqs = &r.seqs;
        body.Add(item);
      }
      const std::string& b = body.Finish();
      sigv4::Status sst = signer.Sign("POST", url, headers, b, creds, sp, &added);
      if (!sst.ok()) {
        std::fprintf(stderr, "sign failed\n");
        return 1;
      }
      body_bytes += b.size();
      sink += added.back().value.size() + b.back();  // the null sink
      ++requests;
    }
    nrows += rows.size();
  }
  double timed_cpu = CpuSeconds() - c0, timed_wall = WallSeconds() - w0;
  Usage u1 = UsageNow();
  rows.clear();
  std::printf("\nSQLite -> signed BatchWriteItem bodies (null sink), %zu rows in %zu requests:\n",
              nrows, requests);
  std::printf(
      "  CPU %.3f s (goal <= 0.3 s; user %.3f s, system %.3f s), of which leasing rows from "
      "SQLite %.3f s; wall %.3f s\n",
      timed_cpu, u1.user - u0.user, u1.sys - u0.sys, lease_cpu, timed_wall);
  std::printf("  %.0f rows/s, %.1f MB of request bodies (%.0f bytes per row)\n", nrows / timed_wall,
              body_bytes / 1e6, double(body_bytes) / nrows);

  // --- untimed: the same rows again (leases live in memory: a reopened store
  // offers every pending row) for the item sizes, the DOM and the acks ---
  opened->reset();
  opened = RelayStore::Open(o);
  if (!opened.ok()) {
    std::fprintf(stderr, "%s\n", opened.status().ToString().c_str());
    return 1;
  }
  store = opened->get();
  std::vector<std::vector<PendingRow>> sent;
  for (;;) {
    Status st = store->LeaseRows(25 * 40, &rows, /*include_incomplete=*/true);
    if (!st.ok()) {
      std::fprintf(stderr, "lease: %s\n", st.ToString().c_str());
      return 1;
    }
    if (rows.empty()) break;
    sent.push_back(std::move(rows));
    rows.clear();
  }

  // --- item sizes (as DynamoDB bills them) ---
  size_t over = 0;
  for (auto& v : sent) {
    for (const PendingRow& r : v) {
      RowItem item;
      item.identity_id = identity;
      item.device_id = r.device_id;
      item.second = r.second;
      item.count = r.count;
      item.block = r.block;
      item.resolution_g = r.resolution_g;
      item.seqs = &r.seqs;
      size_t s = ItemSizeBytes(item);
      item_sizes.push_back(s);
      if (s >= 1024) ++over;
    }
  }
  Percentiles p = Of(item_sizes);
  std::printf(
      "\nitem size (bytes, DynamoDB accounting): min %zu  p50 %zu  p90 %zu  p99 %zu  max %zu;"
      " %zu of %zu items >= 1 KB (more than one write unit)\n",
      p.min, p.p50, p.p90, p.p99, p.max, over, item_sizes.size());
  std::vector<size_t> hist(9, 0);
  for (size_t s : item_sizes) hist[std::min<size_t>(8, s / 128)]++;
  for (size_t b = 0; b < hist.size(); ++b)
    if (hist[b])
      std::printf("  %4zu-%4s bytes: %zu\n", b * 128,
                  b == 8 ? "" : std::to_string(b * 128 + 127).c_str(), hist[b]);

  // --- for comparison: the same bodies through a JSON DOM ---
  c0 = CpuSeconds();
  size_t dom_bytes = 0;
  for (auto& v : sent) {
    for (size_t i = 0; i < v.size(); i += 25) {
      nlohmann::json req;
      auto& arr = req["RequestItems"][table];
      for (size_t k = i; k < std::min(v.size(), i + 25); ++k) {
        const PendingRow& r = v[k];
        std::string b64;
        AppendBase64(r.block, &b64);
        nlohmann::json ns = nlohmann::json::array();
        for (uint64_t s : r.seqs) ns.push_back(std::to_string(s));
        arr.push_back({{"PutRequest",
                        {{"Item",
                          {{"id", {{"S", identity}}},
                           {"t", {{"N", SortKeyText(r.second, DeviceSlot(r.device_id))}}},
                           {"d", {{"S", r.device_id}}},
                           {"n", {{"N", std::to_string(r.count)}}},
                           {"s", {{"B", b64}}},
                           {"r", {{"N", ExactDecimal(r.resolution_g)}}},
                           {"f", {{"N", "1"}}},
                           {"b", {{"NS", ns}}},
                           {"v", {{"N", "1"}}}}}}}});
      }
      dom_bytes += req.dump().size();
    }
  }
  double dom_cpu = CpuSeconds() - c0;
  std::printf(
      "\nfor comparison, the same bodies as an nlohmann::json DOM + dump() (no signing): "
      "%.3f s CPU, %.1f MB\n",
      dom_cpu, dom_bytes / 1e6);

  // --- the acknowledgements: one SQLite transaction (one fsync) per request ---
  c0 = CpuSeconds();
  w0 = WallSeconds();
  for (auto& v : sent) {
    for (size_t i = 0; i < v.size(); i += 25) {
      std::vector<RelayStore::Ack> acks;
      for (size_t k = i; k < std::min(v.size(), i + 25); ++k)
        acks.push_back({&v[k], &v[k].seqs, v[k].count});
      Status st = store->AckUploadedMany(acks);
      if (!st.ok()) {
        std::fprintf(stderr, "ack: %s\n", st.ToString().c_str());
        return 1;
      }
    }
  }
  std::printf(
      "acks (delete rows + record uploads, %zu transactions with fsync): %.2f s CPU, %.2f "
      "s wall\n",
      requests, CpuSeconds() - c0, WallSeconds() - w0);
  status = store->GetStatus();
  std::printf("after the acks: %lld rows pending, %lld uploaded (sink checksum %zu)\n",
              (long long)status->pending_rows, (long long)status->rows_uploaded, sink % 7);
  opened->reset();
  if (!tmpdir.empty()) {
    std::string cmd = "rm -rf '" + tmpdir + "'";
    if (std::system(cmd.c_str()) != 0) return 1;
  }
  return 0;
}
