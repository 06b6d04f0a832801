// codec_bench: the batch codec next to its peers on real recordings, in one
// run. For every *.norm.csv under each folder given on the command line:
// bytes per sample of our batch file (the whole file as one batch, header and
// CRC included), the JSON prototype ({"t":…,"x":…,"y":…,"z":…} per sample,
// nlohmann/json), the CSV through `zstd -19`, FLAC (`flac -8 -b 1024` on raw
// 24-bit PCM: x, y, z at the resolution and the time step / gcd of all steps,
// + 8 bytes for the first timestamp), the zigzag-varint stream of quantised
// first differences alone and through `xz -9e --format=raw`, and the order-0
// entropy of those differences. Encode/decode ns per sample (CPU time) for
// ours and JSON (in process, best of 5) and FLAC (one flac process over all
// files of a folder, so its start-up is spread over ~10^4-10^5 samples). Ours
// is timed twice: "enc", the BatchEncoder a device keeps between batches, in
// its steady state (the lattices known), and "enc-c", EncodeBatch from cold
// (searching them every time).
//
// Usage: codec_bench [--quick] FOLDER...   (bench/codec_compare.sh picks the folders)
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "common/batch_format.h"
#include "common/csv.h"

namespace accel {
namespace {

namespace fs = std::filesystem;

bool g_quick = false;

void Spit(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}
size_t FileSize(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 ? static_cast<size_t>(st.st_size) : 0;
}
bool Run(const std::string& cmd) { return std::system(cmd.c_str()) == 0; }
bool Have(const char* tool) { return Run(std::string("command -v ") + tool + " >/dev/null 2>&1"); }

// Best-of-5 ns per call of f, each measurement repeating f for >= 20 ms.
// CPU time of this thread: on a shared, loaded machine wall time measures the
// other processes too.
double ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e9 + ts.tv_nsec;
}
// CPU time (user + system) of finished child processes.
double ChildrenCpuNs() {
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

double TimeNs(const std::function<void()>& f) {
  f();  // warm up
  double best = 1e300;
  for (int round = 0; round < (g_quick ? 2 : 5); ++round) {
    int reps = 0;
    const double t0 = ThreadCpuNs();
    double el = 0;
    do {
      f();
      ++reps;
      el = ThreadCpuNs() - t0;
    } while (el < (g_quick ? 5e6 : 20e6));
    best = std::min(best, el / reps);
  }
  return best;
}

void PutVarint(std::string* out, uint64_t v) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}
uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}

struct Row {
  std::string name;
  size_t n = 0;
  double ours = 0, json = 0, zstd = 0, flac = 0, varint = 0, xz = 0, h0 = 0;     // bytes
  double ours_enc = 0, ours_warm = 0, ours_dec = 0, json_enc = 0, json_dec = 0;  // ns/sample
};

double Entropy(const std::map<int64_t, size_t>& hist, size_t n) {
  double bits = 0;
  for (const auto& [v, c] : hist) bits -= c * std::log2(static_cast<double>(c) / n);
  return bits;
}

std::string g_tmp;

Row MeasureFile(const std::string& path, std::vector<std::string>* raw_files,
                std::vector<std::string>* flac_files, std::vector<std::vector<QSample>>* all) {
  Row r;
  r.name = fs::path(path).filename().string();
  r.name = r.name.substr(0, r.name.find(".norm.csv"));
  std::vector<Sample> s;
  Status st = ReadSampleCsvFile(path, &s);
  if (!st.ok()) {
    std::fprintf(stderr, "codec_bench: %s\n", st.ToString().c_str());
    std::exit(1);
  }
  Resolution res;
  std::vector<QSample> q(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    st = res.Quantise(s[i], &q[i]);
    if (!st.ok()) {
      std::fprintf(stderr, "codec_bench: %s: %s\n", path.c_str(), st.ToString().c_str());
      std::exit(1);
    }
  }
  r.n = q.size();
  all->push_back(q);
  const double n = static_cast<double>(q.size());

  // Ours.
  BatchHeader h;
  h.device_id = "bench-device";
  std::string file;
  r.ours_enc = TimeNs([&] { (void)EncodeBatch(h, q, &file); }) / n;
  {
    // The encoder a device keeps between batches, in its steady state for
    // this sensor (primed by the first call: it remembers the lattices).
    BatchEncoder warm;
    std::string wf;
    r.ours_warm = TimeNs([&] { (void)warm.Encode(h, q.data(), q.size(), &wf); }) / n;
    if (wf.size() > file.size() + 64)
      std::fprintf(stderr, "codec_bench: %s: warm encoder %zu bytes vs %zu\n", path.c_str(),
                   wf.size(), file.size());
  }
  r.ours = static_cast<double>(file.size());
  std::vector<QSample> back;
  BatchHeader h2;
  r.ours_dec = TimeNs([&] { (void)DecodeBatch(file, &h2, &back); }) / n;
  if (back != q) {
    std::fprintf(stderr, "codec_bench: %s: round trip FAILED\n", path.c_str());
    std::exit(1);
  }

  // JSON prototype: one object per sample, the values in g as captured.
  std::string js;
  r.json_enc = TimeNs([&] {
                 nlohmann::json arr = nlohmann::json::array();
                 for (const Sample& x : s)
                   arr.push_back({{"t", x.t_ns}, {"x", x.x}, {"y", x.y}, {"z", x.z}});
                 js = arr.dump();
               }) /
               n;
  r.json = static_cast<double>(js.size());
  std::vector<QSample> jback;
  r.json_dec = TimeNs([&] {
                 nlohmann::json arr = nlohmann::json::parse(js);
                 jback.clear();
                 jback.reserve(arr.size());
                 for (const auto& o : arr) {
                   QSample x;
                   x.t_ns = o["t"].get<int64_t>();
                   (void)res.Quantise(o["x"].get<double>(), &x.x);
                   (void)res.Quantise(o["y"].get<double>(), &x.y);
                   (void)res.Quantise(o["z"].get<double>(), &x.z);
                   jback.push_back(x);
                 }
               }) /
               n;
  if (jback != q) std::fprintf(stderr, "codec_bench: %s: JSON round trip differs\n", path.c_str());

  // Varint stream of first differences (time in µs) and its order-0 entropy.
  std::string vs;
  std::map<int64_t, size_t> hist[4];
  int64_t prev[4] = {0, 0, 0, 0};
  for (const QSample& x : q) {
    const int64_t cur[4] = {x.t_ns / 1000, x.x, x.y, x.z};
    for (int c = 0; c < 4; ++c) {
      int64_t d = cur[c] - prev[c];
      PutVarint(&vs, ZigZag(d));
      if (&x != &q[0]) ++hist[c][d];
      prev[c] = cur[c];
    }
  }
  r.varint = static_cast<double>(vs.size());
  for (int c = 0; c < 4; ++c) r.h0 += Entropy(hist[c], q.size() - 1) / 8;
  const std::string base = g_tmp + "/" + r.name;
  Spit(base + ".varint", vs);
  if (Run("xz -9e --format=raw -c '" + base + ".varint' > '" + base + ".varint.xz' 2>/dev/null"))
    r.xz = static_cast<double>(FileSize(base + ".varint.xz"));
  if (Run("zstd -19 -q -f -c '" + path + "' > '" + base + ".csv.zst' 2>/dev/null"))
    r.zstd = static_cast<double>(FileSize(base + ".csv.zst"));

  // FLAC input: 24-bit little-endian PCM, channels x, y, z, time step / gcd.
  uint64_t g = 0;
  for (size_t i = 1; i < q.size(); ++i) {
    int64_t d = q[i].t_ns - q[i - 1].t_ns;
    g = std::gcd(g, static_cast<uint64_t>(d < 0 ? -d : d));
  }
  if (g == 0) g = 1;
  std::string pcm;
  pcm.reserve(q.size() * 12);
  bool fits = true;
  for (size_t i = 0; i < q.size(); ++i) {
    const int64_t step = i ? (q[i].t_ns - q[i - 1].t_ns) / static_cast<int64_t>(g) : 0;
    const int64_t ch[4] = {q[i].x, q[i].y, q[i].z, step};
    for (int64_t v : ch) {
      if (v < -(1 << 23) || v >= (1 << 23)) fits = false;
      for (int b = 0; b < 3; ++b) pcm.push_back(static_cast<char>(v >> (8 * b)));
    }
  }
  if (fits) {
    Spit(base + ".raw", pcm);
    raw_files->push_back(base + ".raw");
    flac_files->push_back(base + ".flac");
  }
  return r;
}

const char kFlacArgs[] =
    "-8 -b 1024 --no-padding --no-seektable --force-raw-format --endian=little --sign=signed "
    "--channels=4 --bps=24 --sample-rate=100";

void PrintRow(const Row& r, double n) {
  auto b = [&](double v) { return v / n; };
  std::printf(
      "%-16s %7.0f %7.2f %7.2f %8.2f %7.2f %7.2f %7.2f %6.2f  %6.1f %6.1f %6.1f %7.0f %7.0f\n",
      r.name.c_str(), n, b(r.ours), b(r.json), b(r.zstd), b(r.flac), b(r.varint), b(r.xz), b(r.h0),
      r.ours_warm, r.ours_enc, r.ours_dec, r.json_enc, r.json_dec);
}

struct FolderResult {
  bool every_file_beats_peers = true;
  double ours_per_sample = 0;
};

FolderResult RunFolder(const std::string& folder) {
  std::vector<std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(folder)) {
    const std::string p = e.path().string();
    if (p.size() > 9 && p.compare(p.size() - 9, 9, ".norm.csv") == 0) files.push_back(p);
  }
  std::sort(files.begin(), files.end());
  FolderResult fr;
  if (files.empty()) return fr;
  std::printf("\n== %s (%zu files; bytes/sample, then ns/sample) ==\n", folder.c_str(),
              files.size());
  std::printf("%-16s %7s %7s %7s %8s %7s %7s %7s %6s  %6s %6s %6s %7s %7s\n", "file", "samples",
              "ours", "json", "csv+zstd", "flac-8", "varint", "xz-9e", "H0", "enc", "enc-c", "dec",
              "json-e", "json-d");
  std::vector<Row> rows;
  std::vector<std::string> raws, flacs;
  std::vector<std::vector<QSample>> all;
  for (const std::string& f : files) rows.push_back(MeasureFile(f, &raws, &flacs, &all));
  // FLAC: one process over all files, timed, then the decode.
  double flac_enc = 0, flac_dec = 0;
  size_t flac_samples = 0;
  if (!raws.empty()) {
    std::string in_list, out_list;
    for (const std::string& r : raws) in_list += " '" + r + "'";
    for (const std::string& f : flacs) out_list += " '" + f + "'";
    const double t0 = ChildrenCpuNs();
    bool ok = Run(std::string("flac -s -f ") + kFlacArgs + in_list + " 2>/dev/null");
    const double t1 = ChildrenCpuNs();
    Run("flac -s -f -d --force-raw-format --endian=little --sign=signed" + out_list +
        " 2>/dev/null");
    const double t2 = ChildrenCpuNs();
    for (Row& r : rows) {
      const std::string fl = g_tmp + "/" + r.name + ".flac";
      if (ok && FileSize(fl) > 0) {
        r.flac = static_cast<double>(FileSize(fl)) + 8;
        flac_samples += r.n;
      }
    }
    if (flac_samples > 0) {
      flac_enc = (t1 - t0) / flac_samples;
      flac_dec = (t2 - t1) / flac_samples;
    }
  }
  Row total;
  total.name = "TOTAL";
  double worst_margin = 1e300;
  std::string worst;
  for (const Row& r : rows) {
    PrintRow(r, static_cast<double>(r.n));
    total.n += r.n;
    total.ours += r.ours;
    total.json += r.json;
    total.zstd += r.zstd;
    total.flac += r.flac;
    total.varint += r.varint;
    total.xz += r.xz;
    total.h0 += r.h0;
    total.ours_enc += r.ours_enc * r.n;
    total.ours_warm += r.ours_warm * r.n;
    total.ours_dec += r.ours_dec * r.n;
    total.json_enc += r.json_enc * r.n;
    total.json_dec += r.json_dec * r.n;
    double peer = std::min(r.flac > 0 ? r.flac : 1e300, r.xz > 0 ? r.xz : 1e300);
    if (r.ours > peer) fr.every_file_beats_peers = false;
    if (peer / r.ours < worst_margin) {
      worst_margin = peer / r.ours;
      worst = r.name;
    }
  }
  const double n = static_cast<double>(total.n);
  total.ours_enc /= n;
  total.ours_warm /= n;
  total.ours_dec /= n;
  total.json_enc /= n;
  total.json_dec /= n;
  PrintRow(total, n);
  fr.ours_per_sample = total.ours / n;
  double warm_files_ns = 0, warm_bytes_per_sample = 0;
  {
    // The files in turn through one BatchEncoder, as one sensor's batches.
    BatchEncoder enc;
    BatchHeader h;
    h.device_id = "bench-device";
    std::string out;
    size_t warm_bytes = 0;
    for (const auto& q : all) {
      (void)enc.Encode(h, q.data(), q.size(), &out);
      warm_bytes += out.size();
    }
    warm_bytes_per_sample = warm_bytes / n;
    warm_files_ns = TimeNs([&] {
                      for (const auto& q : all) (void)enc.Encode(h, q.data(), q.size(), &out);
                    }) /
                    n;
  }
  std::printf(
      "ours: enc = BatchEncoder (the encoder a device keeps between batches) in its steady "
      "state per file; enc-c = EncodeBatch, cold (searches the value lattices every time). "
      "One BatchEncoder over the files in turn: %.3f bytes/sample, %.1f ns/sample\n",
      warm_bytes_per_sample, warm_files_ns);
  std::printf(
      "FLAC -8 speed over the folder: encode %.0f ns/sample, decode %.0f ns/sample "
      "(CPU time of one flac process over all files, start-up included)\n",
      flac_enc, flac_dec);
  std::printf(
      "ours vs min(FLAC, xz) per file: %s (tightest: %s, peer/ours = %.3f); "
      "JSON/ours time: encode %.0fx (cold %.0fx), decode %.0fx\n",
      fr.every_file_beats_peers ? "smaller on every file" : "LARGER on some file", worst.c_str(),
      worst_margin, total.json_enc / total.ours_warm, total.json_enc / total.ours_enc,
      total.json_dec / total.ours_dec);
  auto verdict = [](bool met) { return met ? "met" : "NOT met"; };
  std::printf(
      "goals: size <= min(FLAC, xz) on every file: %s; encode <= 20 ns: %s (%.1f; cold %.1f: "
      "%s); decode <= 20 ns: %s (%.1f); >= 50x faster than JSON: encode %s, decode %s\n",
      verdict(fr.every_file_beats_peers), verdict(total.ours_warm <= 20), total.ours_warm,
      total.ours_enc, verdict(total.ours_enc <= 20), verdict(total.ours_dec <= 20), total.ours_dec,
      verdict(total.json_enc >= 50 * total.ours_warm),
      verdict(total.json_dec >= 50 * total.ours_dec));
  return fr;
}

// Synthetic sensors: each must cost about its own information.
void Synthetic() {
  std::printf("\n== synthetic 50 Hz signals, 30000 samples each (bytes/sample) ==\n");
  const size_t n = 30000;
  std::vector<QSample> base(n);
  uint64_t state = 12345;
  auto noise = [&] {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<double>(static_cast<int64_t>(state >> 11) % 2001 - 1000) / 1000.0;
  };
  for (size_t i = 0; i < n; ++i) {
    base[i].t_ns = 1'700'000'000'000'000'000 + static_cast<int64_t>(i) * 20'000'000;
    base[i].x = static_cast<int32_t>(std::lround(12000 * std::sin(i * 0.03) + 30 * noise()));
    base[i].y = static_cast<int32_t>(std::lround(9000 * std::sin(i * 0.05 + 1) + 30 * noise()));
    base[i].z = static_cast<int32_t>(std::lround(16384 + 3000 * std::sin(i * 0.02) + 30 * noise()));
  }
  auto size = [](const std::vector<QSample>& q) {
    std::string f;
    BatchHeader h;
    h.device_id = "synthetic";
    (void)EncodeBatch(h, q, &f);
    return static_cast<double>(f.size()) / q.size();
  };
  std::vector<QSample> coarse = base, coarse_native = base, clipped = base, gappy = base,
                       konst = base;
  for (size_t i = 0; i < n; ++i) {
    for (int32_t QSample::*f : {&QSample::x, &QSample::y, &QSample::z}) {
      const int32_t c = static_cast<int32_t>(std::lround(base[i].*f / 256.0));
      coarse[i].*f = c * 256;
      coarse_native[i].*f = c;
      clipped[i].*f = std::max(-8000, std::min(8000, base[i].*f));
      konst[i].*f = 1234;
    }
    int64_t shift = 0;
    if (i >= n / 3) shift += 2 * 3'600'000'000'000;                           // a two-hour pause
    gappy[i].t_ns += shift + static_cast<int64_t>(i / 500) * 20'000'000 * 3;  // 3 dropped per 500
  }
  std::printf("smooth+noise (reference)            %.3f\n", size(base));
  std::printf("coarse 1/64 g sensor at 1/16384 g   %.3f   (same values coded at 1/64 g: %.3f)\n",
              size(coarse), size(coarse_native));
  std::printf("clipping at +-0.49 g                %.3f   (unclipped: %.3f)\n", size(clipped),
              size(base));
  std::printf("dropped samples + 2 h pause         %.3f   (regular: %.3f)\n", size(gappy),
              size(base));
  std::printf("constant                            %.3f\n", size(konst));
}

}  // namespace
}  // namespace accel

int main(int argc, char** argv) {
  std::vector<std::string> folders;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--quick")
      accel::g_quick = true;
    else
      folders.push_back(a);
  }
  if (folders.empty()) {
    std::fprintf(stderr, "usage: codec_bench [--quick] FOLDER...\n");
    return 2;
  }
  for (const char* tool : {"flac", "xz", "zstd"})
    if (!accel::Have(tool))
      std::fprintf(stderr,
                   "codec_bench: '%s' not found: its column will read 0 "
                   "(scripts/setup.sh installs it)\n",
                   tool);
  char tmpl[] = "/tmp/codec_bench_XXXXXX";
  if (!mkdtemp(tmpl)) return 1;
  accel::g_tmp = tmpl;
  std::printf(
      "codec_bench: ours = accel batch v1 (whole file = one batch, header + CRC included); "
      "resolution 1/16384 g\n");
  std::printf(
      "json = nlohmann/json array of {\"t\",\"x\",\"y\",\"z\"}; flac-8 = flac -8 -b 1024 "
      "--no-padding --no-seektable, 24-bit x,y,z,dt/gcd + 8 B; varint = zigzag LEB128 of "
      "first differences (t in us); xz-9e = xz -9e --format=raw of that; H0 = order-0 "
      "entropy of those differences\n");
  for (const std::string& f : folders) accel::RunFolder(f);
  accel::Synthetic();
  accel::Run("rm -rf '" + accel::g_tmp + "'");
  return 0;
}
