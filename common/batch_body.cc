#include "common/batch_body.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstring>
#include <numeric>
#include <type_traits>
#include <vector>

#include "common/bit_io.h"

// The hot loops are compiled twice, for the x86-64 baseline and for x86-64-v3
// (AVX2, BMI2, FMA: shifts by a register without the CL dance, vector block
// statistics, inline floor); the loader picks the one the CPU runs (ifunc).
// Both produce the same bytes (-DACCEL_CODEC_NO_CLONES builds the baseline
// only, to test it on any machine).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    !defined(ACCEL_CODEC_NO_CLONES)
#define ACCEL_CODEC_CLONES __attribute__((target_clones("default", "arch=x86-64-v3")))
#else
#define ACCEL_CODEC_CLONES
#endif
// Helpers of the hot loops must be inlined into the clones above (a call
// would run the baseline version).
#define ACCEL_INLINE inline __attribute__((always_inline))

namespace accel {
namespace batch_internal {
namespace {

using bitio::BitLength;
using bitio::UnZigZag;
using bitio::ZigZag;

constexpr uint64_t kOne32 = uint64_t{1} << 32;
constexpr uint64_t kMaxScale = uint64_t{1} << 52;  // s <= 2^20
constexpr int kMaxMode = 64;                       // 0: all-zero block, 1 + k: Rice k in [0, 63]

// ---------------------------------------------------------------- lattice

// A lattice from its scale and the centre `mid` of the band c - s*k. The
// format takes offsets o in [-1/2, s + 1/2); a centre outside moves the
// index origin by whole steps (k is free): *shift receives by how many, to
// add to indices computed against `mid`.
Lattice MakeLattice(double s, double mid, uint64_t scale, int64_t* shift = nullptr) {
  Lattice off;
  double o = mid;
  int64_t j = 0;
  if (!(o >= -0.25 && o < s + 0.25)) {
    j = static_cast<int64_t>(std::floor(mid / s));
    o = mid - s * static_cast<double>(j);
  }
  if (shift) *shift = j;
  Lattice l;
  l.on = true;
  l.scale = scale;
  l.offset = static_cast<uint64_t>(std::llround((o + 0.5) * 4294967296.0));
  if (l.scale < kOne32 || l.scale > kMaxScale || l.offset >= l.scale + kOne32) return off;
  return l;
}

using HullPoint = LatticeScratch::Point;

// A band of c - s*k this much wider than one count still makes a lattice:
// the few values past its edges become exceptions.
constexpr double kNearlyOne = 1.02;

// Cross product sign for monotone-chain hulls.
double Cross(const HullPoint& o, const HullPoint& a, const HullPoint& b) {
  return (a.k - o.k) * (b.c - o.c) - (a.c - o.c) * (b.k - o.k);
}

// Golden-section search for the scale s minimising the spread of c - s*k over
// the points (a convex function of s: the largest c - s*k over the upper hull
// minus the smallest over the lower one), within 0.2% of `guess`. *mid gets
// the centre of the spread at that s, *spread its width.
template <typename Upper, typename Lower>
double MinSpreadScale(const Upper& upper, const Lower& lower, double guess, double* mid,
                      double* spread_out = nullptr) {
  auto spread = [&](double sc, double* m) {
    double mx = -1e300, mn = 1e300;
    upper([&](double k, double c) { mx = std::max(mx, c - sc * k); });
    lower([&](double k, double c) { mn = std::min(mn, c - sc * k); });
    *m = (mx + mn) / 2;
    return mx - mn;
  };
  const double phi = 0.6180339887498949;
  double a = guess * (1 - 2e-3), b = guess * (1 + 2e-3), t;
  double x1 = b - phi * (b - a), x2 = a + phi * (b - a);
  double f1 = spread(x1, &t), f2 = spread(x2, &t);
  for (int it = 0; it < 48; ++it) {
    if (f1 < f2) {
      b = x2;
      x2 = x1;
      f2 = f1;
      x1 = b - phi * (b - a);
      f1 = spread(x1, &t);
    } else {
      a = x1;
      x1 = x2;
      f1 = f2;
      x2 = a + phi * (b - a);
      f2 = spread(x2, &t);
    }
  }
  const double s = (a + b) / 2;
  const double w = spread(s, mid);
  if (spread_out) *spread_out = w;
  return s;
}

// Fits the band c - s*k over the points (k[i], c[i]), i < count, starting
// from *s: the hulls of the candidate points sc->cand give the scale
// minimising the spread, an exact check over all points confirms it or adds
// the points outside, until none is. Returns the spread reached, with *s
// and *mid (the band's centre): below 1, a lattice holds every point; a
// little above (sensors whose values were rounded twice put a few values
// just past the band's edge), the points past it become exceptions.
ACCEL_CODEC_CLONES
double FitBand(const int32_t* k, const int32_t* c, size_t count, double outlier, LatticeScratch* sc,
               double* s, double* mid) {
  std::vector<uint32_t>& cand = sc->cand;
  std::vector<HullPoint>& upper = sc->upper;
  std::vector<HullPoint>& lower = sc->lower;
  for (int round = 0; round < 6; ++round) {
    std::sort(cand.begin(), cand.end(),
              [&](uint32_t a, uint32_t b) { return k[a] != k[b] ? k[a] < k[b] : c[a] < c[b]; });
    upper.clear();
    lower.clear();
    for (uint32_t i : cand) {
      // Integers below 2^23: the cross products are exact.
      const HullPoint p{static_cast<double>(k[i]), static_cast<double>(c[i])};
      while (lower.size() >= 2 && Cross(lower[lower.size() - 2], lower.back(), p) <= 0)
        lower.pop_back();
      lower.push_back(p);
      while (upper.size() >= 2 && Cross(upper[upper.size() - 2], upper.back(), p) >= 0)
        upper.pop_back();
      upper.push_back(p);
    }
    double cmid = 0, cspread = 2;
    const double fs = MinSpreadScale(
        [&](auto f) {
          for (const HullPoint& p : upper) f(p.k, p.c);
        },
        [&](auto f) {
          for (const HullPoint& p : lower) f(p.k, p.c);
        },
        *s, &cmid, &cspread);
    *s = fs;
    *mid = cmid;
    if (!(cspread < 1.0)) return cspread;  // the candidates alone are that wide
    // With `outlier` > 0, points farther than 0.5 + outlier from the
    // candidates' centre are glitches: left out (they become exceptions).
    const double far = outlier > 0 ? 0.5 + outlier : 1e300;
    double rmax = -1e300, rmin = 1e300;
    for (size_t i = 0; i < count; ++i) {
      const double r = static_cast<double>(c[i]) - fs * static_cast<double>(k[i]);
      if (std::fabs(r - cmid) > far) continue;
      rmax = std::max(rmax, r);
      rmin = std::min(rmin, r);
    }
    if (rmax - rmin < 1.0) {
      *mid = (rmax + rmin) / 2;
      return rmax - rmin;
    }
    // Add the points outside the candidates' band and fit again.
    const double top = cmid + cspread / 2, bottom = cmid - cspread / 2;
    for (size_t i = 0; i < count; ++i) {
      const double r = static_cast<double>(c[i]) - fs * static_cast<double>(k[i]);
      if ((r > top || r < bottom) && std::fabs(r - cmid) <= far)
        cand.push_back(static_cast<uint32_t>(i));
    }
  }
  return 2.0;
}

// The lattice holding every value, from a scale s good to ~1e-7 and an
// offset o_est good to a fraction of a step: each value's nearest index k,
// then the band c - s*k. When it is wider than one count, either the scale
// is a little off for these values (the band's extremes per stretch of k
// are the candidates of a fit, FitBand) or some values are off the lattice
// (glitches: the densest window one count wide is kept at this scale).
ACCEL_CODEC_CLONES
Lattice FitOnValues(const int32_t* v, size_t n, double s, double o_est, LatticeScratch* sc) {
  Lattice off;
  if (!(s >= 1.5) || s > static_cast<double>(uint64_t{1} << 20)) return off;
  const double inv = 1.0 / s;
  // |c / s| < 2^21: floor as a truncation after adding 2^22.
  constexpr double kBias = 4194304.0;
  const double bias = -o_est * inv + 0.5 + kBias;
  std::vector<int32_t>& kk = sc->k;
  kk.resize(n);
  double rmax = -1e300, rmin = 1e300;
  int32_t kmin = INT32_MAX, kmax = INT32_MIN;
  for (size_t i = 0; i < n; ++i) {
    const int32_t k =
        static_cast<int32_t>(static_cast<int64_t>(v[i] * inv + bias) - int64_t{4194304});
    kk[i] = k;
    const double r = v[i] - s * k - o_est;
    rmax = std::max(rmax, r);
    rmin = std::min(rmin, r);
    kmin = std::min(kmin, k);
    kmax = std::max(kmax, k);
  }
  const uint64_t scale = static_cast<uint64_t>(std::llround(s * 4294967296.0));
  // The indices follow the lattice's origin.
  auto finish = [&](double fs, double mid, uint64_t sc_) {
    int64_t shift = 0;
    const Lattice l = MakeLattice(fs, mid, sc_, &shift);
    if (l.on && shift != 0)
      for (size_t i = 0; i < n; ++i) kk[i] += static_cast<int32_t>(shift);
    return l;
  };
  if (rmax - rmin < 1.0) return finish(s, o_est + (rmax + rmin) / 2, scale);
  // The densest window one count wide: where the lattice's values are.
  if (!(rmax - rmin < 64)) return off;
  constexpr int kPerUnit = 32;
  const int bins = static_cast<int>((rmax - rmin) * kPerUnit) + 1;
  std::vector<uint32_t> rh(static_cast<size_t>(bins), 0);
  for (size_t i = 0; i < n; ++i) {
    const double r = v[i] - s * kk[i] - o_est;
    ++rh[std::min(bins - 1, static_cast<int>((r - rmin) * kPerUnit))];
  }
  uint32_t win = 0, best = 0;
  int best_b = 0;
  for (int b = 0; b < bins; ++b) {
    win += rh[b];
    if (b >= kPerUnit) win -= rh[b - kPerUnit];
    if (win > best) {
      best = win;
      best_b = b;
    }
  }
  if (best * 4 < n * 3) return off;  // most values must sit on it
  const double centre = rmin + (best_b + 1 - kPerUnit / 2.0) / kPerUnit + o_est;
  // Candidates: the highest and lowest value near that window in each of 32
  // stretches of k; values farther off are glitches (exceptions).
  constexpr double kOutlier = 1.0 / 16;
  constexpr int kParts = 32;
  uint32_t hi_i[kParts], lo_i[kParts];
  double hi_r[kParts], lo_r[kParts];
  for (int b = 0; b < kParts; ++b) {
    hi_r[b] = -1e300;
    lo_r[b] = 1e300;
  }
  const double per = kParts / (static_cast<double>(kmax) - kmin + 1.0);
  for (size_t i = 0; i < n; ++i) {
    const double r = v[i] - s * kk[i];
    if (std::fabs(r - centre) > 0.5 + kOutlier) continue;
    const int b = std::min(kParts - 1, static_cast<int>((kk[i] - kmin) * per));
    if (r > hi_r[b]) {
      hi_r[b] = r;
      hi_i[b] = static_cast<uint32_t>(i);
    }
    if (r < lo_r[b]) {
      lo_r[b] = r;
      lo_i[b] = static_cast<uint32_t>(i);
    }
  }
  std::vector<uint32_t>& cand = sc->cand;
  cand.clear();
  for (int b = 0; b < kParts; ++b) {
    if (hi_r[b] > -1e300) cand.push_back(hi_i[b]);
    if (lo_r[b] < 1e300) cand.push_back(lo_i[b]);
  }
  if (cand.size() < 2) return off;
  double fs = s, mid = 0;
  if (!(FitBand(kk.data(), v, n, kOutlier, sc, &fs, &mid) < kNearlyOne) || !(fs >= 1.5)) return off;
  return finish(fs, mid, static_cast<uint64_t>(std::llround(fs * 4294967296.0)));
}

}  // namespace

ACCEL_CODEC_CLONES bool CountsInRange(const QSample* s, size_t n) {
  const int32_t lim = Resolution::kMaxCount;
  size_t i = 0;
  int32_t lo = 0, hi = 0;
  if constexpr (sizeof(QSample) == 24 && offsetof(QSample, x) == 8 && offsetof(QSample, y) == 12 &&
                offsetof(QSample, z) == 16) {
    // Four samples are 24 words: x, y, z at words 2-4 of each six. Words
    // that are not counts (time, padding) are masked to 0.
    typedef int32_t V8 __attribute__((vector_size(32)));
    const V8 m0 = {0, 0, -1, -1, -1, 0, 0, 0};
    const V8 m1 = {-1, -1, -1, 0, 0, 0, -1, -1};
    const V8 m2 = {-1, 0, 0, 0, -1, -1, -1, 0};
    V8 vlo = {0, 0, 0, 0, 0, 0, 0, 0}, vhi = vlo;
    const char* p = reinterpret_cast<const char*>(s);
    for (; i + 4 <= n; i += 4, p += 96) {
      V8 a, b, c;
      std::memcpy(&a, p, 32);
      std::memcpy(&b, p + 32, 32);
      std::memcpy(&c, p + 64, 32);
      a &= m0;
      b &= m1;
      c &= m2;
      vlo = vlo < a ? vlo : a;
      vhi = vhi > a ? vhi : a;
      vlo = vlo < b ? vlo : b;
      vhi = vhi > b ? vhi : b;
      vlo = vlo < c ? vlo : c;
      vhi = vhi > c ? vhi : c;
    }
    for (int j = 0; j < 8; ++j) {
      lo = std::min(lo, vlo[j]);
      hi = std::max(hi, vhi[j]);
    }
  }
  for (; i < n; ++i) {
    lo = std::min(lo, std::min(s[i].x, std::min(s[i].y, s[i].z)));
    hi = std::max(hi, std::max(s[i].x, std::max(s[i].y, s[i].z)));
  }
  return lo >= -lim && hi <= lim;
}

Lattice DetectLattice(const int32_t* values, size_t n) {
  LatticeScratch scratch;
  return DetectLattice(values, n, &scratch);
}

// The search, in passes over the values and over their distinct values:
// 1. the distinct values, in order, through a bitmap (one pass over all);
// 2. the most common gap between neighbouring distinct values is about one
//    lattice step; refined on gaps of a few steps;
// 3. a walk along the distinct values gives each its step index k, and the
//    convex hulls of the points (k, c) are built as they come;
// 4. the scale minimising the spread of c - s*k is found on the hulls. If
//    the spread is below 1, every distinct value the walk reached sits on the
//    lattice: done. Otherwise (glitches, a recalibrated stretch) a robust fit
//    that drops outliers decides.
// The encoder then indexes every value and checks it exactly; whatever is
// off the lattice becomes an exception.
ACCEL_CODEC_CLONES
Lattice DetectLattice(const int32_t* values, size_t n, LatticeScratch* sc) {
  Lattice off;
  if (n < 8) return off;
  int32_t lo = values[0], hi = values[0];
  for (size_t i = 1; i < n; ++i) {
    lo = std::min(lo, values[i]);
    hi = std::max(hi, values[i]);
  }
  const uint64_t span = static_cast<uint64_t>(static_cast<int64_t>(hi) - lo);
  if (span < 2 || span > (uint64_t{1} << 22)) return off;
  // 1. Distinct values through a bitmap, and the histogram of their gaps.
  const size_t words = static_cast<size_t>(span / 64 + 1);
  std::vector<uint64_t>& bitmap = sc->bitmap;
  bitmap.assign(words, 0);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t b = static_cast<uint32_t>(values[i] - lo);
    bitmap[b >> 6] |= uint64_t{1} << (b & 63);
  }
  std::vector<int32_t>& uniq = sc->uniq;
  uniq.resize(std::min<size_t>(n, static_cast<size_t>(span) + 1));
  constexpr int kHist = 1024;
  uint32_t hist[kHist];
  std::memset(hist, 0, sizeof hist);
  size_t nu = 0;
  int64_t prev_v = lo;
  int top = 1;
  for (size_t w = 0; w < words; ++w) {
    uint64_t bits = bitmap[w];
    while (bits) {
      const int64_t v = lo + static_cast<int64_t>(w * 64) + __builtin_ctzll(bits);
      bits &= bits - 1;
      const int64_t g = v - prev_v;
      if (g < kHist) {
        ++hist[g];
        top = std::max(top, static_cast<int>(g));
      }
      uniq[nu++] = static_cast<int32_t>(v);
      prev_v = v;
    }
  }
  if (nu < 2) return off;
  // 2. The most common small gap is (about) one lattice step.
  int mode = 1;
  for (int g = 2; g <= top; ++g)
    if (hist[g] > hist[mode]) mode = g;
  if (mode < 2 || hist[mode] == 0) return off;
  // Refine on gaps of a few steps, where the step count is unambiguous, then
  // on longer ones with the better estimate.
  double s = mode;
  for (double steps : {2.5, 8.0, 32.0}) {
    double sum_g = 0, sum_m = 0;
    const int lim = static_cast<int>(std::min<double>(top + 1, steps * s));
    for (int g = 1; g < lim; ++g) {
      if (hist[g] == 0) continue;
      double m = std::floor(g / s + 0.5);
      if (m < 1 || std::fabs(g - m * s) >= 1.0 + m * s * 0.02) continue;
      sum_g += static_cast<double>(g) * hist[g];
      sum_m += m * hist[g];
    }
    if (sum_m > 0) s = sum_g / sum_m;
  }
  if (s < 1.5) return off;
  // 3. Step indices of the distinct values, walking from one to the next.
  // Values off the lattice (glitches, a recalibrated stretch) are skipped;
  // if the walk started on one, most values look off and the walk restarts
  // one value later. The step count of each small gap comes from a table (0:
  // the gap is no whole number of steps). Only every j-th point reached is
  // kept (at most ~256): enough for the scale to about 1e-7, which the pass
  // over all values then makes exact.
  int16_t steps_of[kHist];
  std::memset(steps_of, 0xFF, sizeof steps_of);  // -1: not computed yet
  auto steps = [&](int64_t g) __attribute__((always_inline))->int64_t {
    if (g < kHist && steps_of[g] >= 0) return steps_of[g];
    const double m = std::floor(static_cast<double>(g) / s + 0.5);
    const int64_t r = m < 1 || std::fabs(static_cast<double>(g) - m * s) >= 1.0 + m * s * 2e-3
                          ? 0
                          : static_cast<int64_t>(m);
    if (g < kHist) steps_of[g] = static_cast<int16_t>(r);
    return r;
  };
  const uint32_t every = static_cast<uint32_t>(std::max<size_t>(1, nu / 256));
  std::vector<int32_t>& wk = sc->wk;
  std::vector<int32_t>& wc = sc->wc;
  wk.resize(nu / every + 2);
  wc.resize(nu / every + 2);
  size_t nw = 0, reached = 0;
  // Least-squares sums over every point reached (c relative to the start).
  double sk = 0, sc_ = 0, skk = 0, skc = 0, c0 = 0;
  for (size_t start = 0; start < std::min<size_t>(3, nu); ++start) {
    int32_t k = 0;
    int32_t prev = uniq[start];
    wk[0] = 0;
    wc[0] = prev;
    nw = 1;
    reached = 1;
    sk = sc_ = skk = skc = 0;
    c0 = prev;
    uint32_t skip = every;
    for (size_t j = start + 1; j < nu; ++j) {
      const int64_t m = steps(uniq[j] - prev);  // a gap of the walk: > 0
      if (m == 0) continue;
      k += static_cast<int32_t>(m);
      prev = uniq[j];
      ++reached;
      const double kd = k, cd = prev - c0;
      sk += kd;
      sc_ += cd;
      skk += kd * kd;
      skc += kd * cd;
      if (--skip == 0 || j == nu - 1) {
        skip = every;
        wk[nw] = k;
        wc[nw] = prev;
        ++nw;
      }
    }
    if (reached * 2 >= nu) break;
  }
  if (nw < 2 || reached * 2 < nu) return off;
  const double k_span = static_cast<double>(wk[nw - 1] - wk[0]);
  if (!(k_span > 0)) return off;
  // 4. The scale minimising the spread of c - s*k over the kept points,
  // starting from the least-squares line of all points reached.
  const double np = static_cast<double>(reached);
  const double den = np * skk - sk * sk;
  if (!(den > 0)) return off;
  const double s_ls = (np * skc - sk * sc_) / den;
  if (!(s_ls >= 1.5)) return off;
  const double mid_ls = c0 + (sc_ - s_ls * sk) / np;
  s = s_ls;
  double mid = mid_ls;
  std::vector<uint32_t>& cand = sc->cand;
  cand.resize(nw);
  for (size_t i = 0; i < nw; ++i) cand[i] = static_cast<uint32_t>(i);
  // A little past 1: the pass over all values sorts it out. Wider: the
  // walk reached values off the lattice (glitches): the least-squares line
  // of all points reached is hardly moved by a few, and the pass over all
  // values leaves the glitches out (densest window, section 5 below).
  if (!(FitBand(wk.data(), wc.data(), nw, 0, sc, &s, &mid) < kNearlyOne)) {
    s = s_ls;
    mid = mid_ls;
  }
  if (!(s >= 1.5) || s > static_cast<double>(uint64_t{1} << 20)) return off;
  // 5. Exact over all values (the offset taken into [0, s)).
  return FitOnValues(values, n, s, mid - s * std::floor(mid / s), sc);
}

namespace {

// The offset of a lattice whose scale is known (another axis of the same
// sensor found it: one converter, one scale), without a search: values on
// the lattice have c / s within 1/(2s) of o / s modulo 1, so the phases of a
// sample of values show an occupied arc; its centre gives o roughly, and
// the band c - s*k over all values gives it exactly. Values off the lattice
// (glitches) are left out by a densest-window step when the band is wider
// than one count. {on=false} when the values show no such arc or band.
ACCEL_CODEC_CLONES
Lattice OffsetForScale(const int32_t* v, size_t n, uint64_t scale, LatticeScratch* sc) {
  Lattice off;
  if (n < 8) return off;
  const double s = static_cast<double>(scale) / 4294967296.0;
  const double inv = 1.0 / s;
  // |c / s| < 2^21: floor as a truncation after adding 2^22.
  constexpr double kBias = 4194304.0;
  constexpr int kBins = 64;
  uint32_t h[kBins] = {0};
  const size_t stride = std::max<size_t>(1, n / 512);
  size_t count = 0;
  for (size_t i = 0; i < n; i += stride, ++count) {
    const double x = v[i] * inv + kBias;
    const double phase = x - static_cast<double>(static_cast<int64_t>(x));
    ++h[std::min(kBins - 1, static_cast<int>(phase * kBins))];
  }
  // The longest circular run of (nearly) empty bins; the arc is the rest.
  const uint32_t empty = static_cast<uint32_t>(count / 256);
  int best_len = 0, best_end = 0, run = 0;
  for (int i = 0; i < 2 * kBins; ++i) {
    run = h[i % kBins] <= empty ? run + 1 : 0;
    if (run > best_len) {
      best_len = std::min(run, kBins);
      best_end = i;
    }
  }
  // An arc of width 1/s, plus a bin of rounding either side.
  if (best_len >= kBins || static_cast<double>(kBins - best_len) > kBins * inv + 3) return off;
  const double arc_start = static_cast<double>(best_end + 1) / kBins;
  const double centre = arc_start + static_cast<double>(kBins - best_len) / (2.0 * kBins);
  const double o_est = (centre - std::floor(centre)) * s;
  return FitOnValues(v, n, s, o_est, sc);
}

// ------------------------------------------------------------- Rice coding

// Values per block rounded up: residual arrays are padded with zeros to a
// whole number of blocks, so the block loops below have a fixed length (the
// compiler vectorises them) and padding adds nothing to any sum.
inline size_t PaddedLength(size_t m) { return (m + kRiceBlock - 1) / kRiceBlock * kRiceBlock; }

template <typename U>
uint64_t RiceCost(const U* u, size_t len, int k) {
  uint64_t bits = 0;
  for (size_t i = 0; i < len; ++i) {
    uint64_t q = static_cast<uint64_t>(u[i]) >> k;
    bits += q < kEscapeQuotient ? q + 1 + k : kEscapeQuotient + 6 + BitLength(u[i]) - 1;
  }
  return bits;
}

// Sum and largest value of a padded block.
template <typename U>
ACCEL_INLINE void BlockSumMax(const U* u, uint64_t* sum, uint64_t* mx) {
  U s = 0, m = 0;
  for (size_t i = 0; i < kRiceBlock; ++i) {
    s += u[i];
    m = u[i] > m ? u[i] : m;
  }
  *sum = s;
  *mx = m;
}

// Sums of the values shifted right by k, k + 1 and k + 2 (the unary parts of
// three Rice parameters) over a padded block.
template <typename U>
ACCEL_INLINE void ShiftedSums(const U* u, int k, uint64_t* q0, uint64_t* q1, uint64_t* q2) {
  U a = 0, b = 0, c = 0;
  for (size_t i = 0; i < kRiceBlock; ++i) {
    a += u[i] >> k;
    b += u[i] >> (k + 1);
    c += u[i] >> (k + 2);
  }
  *q0 = a;
  *q1 = b;
  *q2 = c;
}

// The block's mode (0: all zero; 1 + k: Rice k): the cheapest of the three
// parameters around the one the mean suggests, and of the three around the
// one the mean without the largest value suggests (one outlier - a gap, a
// glitch - must not set the parameter for the whole block). `u` is padded;
// len <= 16 values count. For U = uint32_t the values are below 2^27, so
// 16 of them sum without overflow.
template <typename U>
ACCEL_INLINE int ChooseModeGeneric(const U* u, size_t len, uint64_t* mx_out) {
  uint64_t sum, mx;
  if constexpr (sizeof(U) == 4) {
    BlockSumMax(u, &sum, &mx);
  } else {
    sum = 0;
    mx = 0;
    for (size_t i = 0; i < len; ++i) {
      sum += std::min<uint64_t>(u[i], uint64_t{1} << 40);
      mx = std::max<uint64_t>(mx, u[i]);
    }
  }
  *mx_out = mx;
  if (mx == 0) return 0;
  const uint64_t mx_clamped = std::min<uint64_t>(mx, uint64_t{1} << 40);
  // Full blocks divide by constants (a multiplication, not a division).
  const bool full = len == kRiceBlock;
  const uint64_t mean = full ? sum / kRiceBlock : sum / len;
  const int g1 = std::max(0, BitLength(mean) - 1);
  int g2 = g1;
  if (len > 1) {
    const uint64_t rest = sum - mx_clamped;
    g2 = std::max(0, BitLength(full ? rest / (kRiceBlock - 1) : rest / (len - 1)) - 1);
  }
  int best_k = 0;
  uint64_t best = ~uint64_t{0};
  // k0, k0 + 1, k0 + 2 in one pass.
  auto consider_three = [&](int k0) __attribute__((always_inline)) {
    k0 = std::max(0, std::min(61, k0));
    if ((mx >> k0) < static_cast<uint64_t>(kEscapeQuotient)) {  // no escapes: plain sums
      uint64_t q[3];
      if constexpr (sizeof(U) == 4) {
        ShiftedSums(u, k0, &q[0], &q[1], &q[2]);
      } else {
        q[0] = q[1] = q[2] = 0;
        for (size_t i = 0; i < len; ++i) {
          q[0] += u[i] >> k0;
          q[1] += u[i] >> (k0 + 1);
          q[2] += u[i] >> (k0 + 2);
        }
      }
      for (int j = 0; j < 3; ++j) {
        const uint64_t c = q[j] + len * (1 + static_cast<uint64_t>(k0 + j));
        if (c < best) {
          best = c;
          best_k = k0 + j;
        }
      }
    } else {
      for (int k = k0; k <= k0 + 2; ++k) {
        const uint64_t c = RiceCost(u, len, k);
        if (c < best) {
          best = c;
          best_k = k;
        }
      }
    }
  };
  consider_three(g1 - 1);
  if (g2 + 1 < g1 - 1) consider_three(g2 - 1);
  return best_k + 1;
}

// The same choice for a padded block of 32-bit values (below 2^27, so 16
// sum without overflow), written out for the common case: one triple of
// candidates and no escapes.
ACCEL_INLINE int ChooseMode32(const uint32_t* u, size_t len, uint64_t* mx_out) {
  uint32_t sum = 0, mx = 0;
  for (size_t i = 0; i < kRiceBlock; ++i) {
    sum += u[i];
    mx = u[i] > mx ? u[i] : mx;
  }
  *mx_out = mx;
  if (mx == 0) return 0;
  const bool full = len == kRiceBlock;
  const uint32_t mean = full ? sum / kRiceBlock : sum / static_cast<uint32_t>(len);
  const int g1 = std::max(0, BitLength(mean) - 1);
  const int k0 = std::max(0, g1 - 1);
  // The generic choice also tries a second triple when the mean without the
  // largest value asks for a parameter below g1 - 2, i.e. when
  // (sum - max) / (len - 1) < 2^(g1 - 2).
  const bool second =
      len > 1 && g1 >= 3 && (sum - mx) < (static_cast<uint32_t>(len - 1) << (g1 - 2));
  if (second || (mx >> k0) >= static_cast<uint32_t>(kEscapeQuotient))
    return ChooseModeGeneric(u, len, mx_out);
  uint32_t s0 = 0, s1 = 0, s2 = 0;
  for (size_t i = 0; i < kRiceBlock; ++i) {
    s0 += u[i] >> k0;
    s1 += u[i] >> (k0 + 1);
    s2 += u[i] >> (k0 + 2);
  }
  const uint32_t n = static_cast<uint32_t>(len);
  const uint32_t c0 = s0 + n * static_cast<uint32_t>(k0 + 1);
  const uint32_t c1 = s1 + n * static_cast<uint32_t>(k0 + 2);
  const uint32_t c2 = s2 + n * static_cast<uint32_t>(k0 + 3);
  int best_k = k0;
  uint32_t best = c0;
  if (c1 < best) {
    best = c1;
    best_k = k0 + 1;
  }
  if (c2 < best) best_k = k0 + 2;
  return best_k + 1;
}

template <typename U>
ACCEL_INLINE int ChooseMode(const U* u, size_t len, uint64_t* mx_out) {
  if constexpr (sizeof(U) == 4) {
    return ChooseMode32(u, len, mx_out);
  } else {
    return ChooseModeGeneric(u, len, mx_out);
  }
}

// The parameter code of a block: unary(nb) then raw(nb) of the low bits of
// zigzag(delta) + 1; nb <= 7, one field.
ACCEL_INLINE void PutParamDelta(bitio::BitWriter::Burst* w, int delta) {
  const uint64_t z1 = ZigZag(delta) + 1;
  const int nb = BitLength(z1) - 1;
  w->Put((uint64_t{1} << nb) | ((z1 & ((uint64_t{1} << nb) - 1)) << (nb + 1)), 2 * nb + 1);
}

// Any Rice code, including escapes and wide parameters.
ACCEL_INLINE void PutRiceSlow(bitio::BitWriter::Burst* w, uint64_t v, int k) {
  w->Reserve(16);
  uint64_t q = v >> k;
  if (q < kEscapeQuotient) {
    w->PutUnary(q);
    w->Reserve(16);
    w->PutWide(k == 64 ? v : v & ((uint64_t{1} << k) - 1), k);
  } else {
    w->Put(0, kEscapeQuotient);
    int nb = BitLength(v);
    w->Put(nb - 1, 6);
    w->PutWide(v & ~(uint64_t{1} << (nb - 1)), nb - 1);
  }
}

// The Rice codes of a whole block of 16 32-bit values with parameter k, when
// each code (q + 1 + k bits, (low * 2 + 1) << q) has at most 28 bits: built
// in vector lanes, joined in pairs (at most 56 bits) or, when each has at
// most 14 bits, in fours, and appended per pair or four. The bits are the
// same as code after code.
ACCEL_INLINE void PutBlock16(bitio::BitWriter::Burst* w, const uint32_t* blk, int k, bool fours) {
  typedef uint32_t V8u __attribute__((vector_size(32)));
  typedef uint64_t V4u64 __attribute__((vector_size(32)));
  const uint32_t mask = (uint32_t{1} << k) - 1;
  const V8u vmask = {mask, mask, mask, mask, mask, mask, mask, mask};
  const V8u one = {1, 1, 1, 1, 1, 1, 1, 1};
  const uint32_t k1 = static_cast<uint32_t>(k) + 1;
  const V8u vk1 = {k1, k1, k1, k1, k1, k1, k1, k1};
  const V4u64 low32 = {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu};
  uint64_t code[8], len[8];
  for (int h = 0; h < 2; ++h) {
    V8u v;
    std::memcpy(&v, blk + 8 * h, sizeof v);
    const V8u q = v >> k;
    const V8u c = (((v & vmask) << 1) | one) << q;  // codes of at most 28 bits
    const V8u n = q + vk1;
    // Pairs: the even value's code, then the odd one's.
    const V4u64 c64 = reinterpret_cast<V4u64>(c), n64 = reinterpret_cast<V4u64>(n);
    const V4u64 ne = n64 & low32;
    const V4u64 pc = (c64 & low32) | ((c64 >> 32) << ne);
    const V4u64 pn = ne + (n64 >> 32);
    std::memcpy(code + 4 * h, &pc, sizeof pc);
    std::memcpy(len + 4 * h, &pn, sizeof pn);
  }
  if (fours) {
    // Pairs of at most 28 bits: pair 2j, then pair 2j + 1.
    for (int j = 0; j < 8; j += 2)
      w->Put(code[j] | (code[j + 1] << len[j]), static_cast<int>(len[j] + len[j + 1]));
  } else {
    for (int j = 0; j < 8; ++j) w->Put(code[j], static_cast<int>(len[j]));
  }
}

// One stream: m values, padded with zeros to whole blocks.
template <typename U>
ACCEL_CODEC_CLONES void EncodeStream(const U* u, size_t m, bitio::BitWriter* writer,
                                     bool fast = true) {
  bitio::BitWriter::Burst w(writer);
  int prev = 0;
  for (size_t b = 0; b < m; b += kRiceBlock) {
    const size_t len = std::min(kRiceBlock, m - b);
    const U* blk = u + b;
    uint64_t mx = 0;
    const int mode = ChooseMode(blk, len, &mx);
    // Room for the parameter code and 16 codes of at most 56 bits.
    w.Reserve(2 + kRiceBlock * 7);
    PutParamDelta(&w, mode - prev);
    prev = mode;
    if (mode == 0) continue;
    const int k = mode - 1;
    const uint64_t qmax = mx >> k;
    if (k <= 31 && qmax < static_cast<uint64_t>(kEscapeQuotient)) {
      // No escapes: the unary part, stop bit and k low bits form one field
      // of q + 1 + k <= 56 bits, (low * 2 + 1) << q.
      const uint64_t mask = (uint64_t{1} << k) - 1;
      const uint64_t k1 = static_cast<uint64_t>(k) + 1;
      size_t i = 0;
      if constexpr (sizeof(U) == 4) {
        if (fast && len == kRiceBlock && qmax + k1 <= 28) {
          PutBlock16(&w, blk, k, qmax + k1 <= 14);
          continue;
        }
      }
      if (qmax + k1 <= 28) {
        // Two codes of at most 28 bits in one append.
        for (; i + 2 <= len; i += 2) {
          const uint64_t v1 = blk[i], v2 = blk[i + 1];
          const uint64_t q1 = v1 >> k, q2 = v2 >> k;
          const uint64_t c1 = (((v1 & mask) << 1) | 1) << q1;
          const uint64_t c2 = (((v2 & mask) << 1) | 1) << q2;
          const uint64_t n1 = q1 + k1;
          w.PutShifted(c1 | (c2 << n1), 0, n1 + q2 + k1);
        }
      }
      for (; i < len; ++i) {
        const uint64_t v = blk[i];
        const uint64_t q = v >> k;
        w.PutShifted(((v & mask) << 1) | 1, q, k1);
      }
    } else {
      for (size_t i = 0; i < len; ++i) PutRiceSlow(&w, blk[i], k);
    }
  }
}

// "Does g divide x?" without a division (Granlund and Montgomery): for
// g = d * 2^t with d odd, x must end in t zero bits and (x >> t) times the
// inverse of d modulo 2^64 must be at most (2^64 - 1) / d.
struct Divisibility {
  Divisibility() = default;
  explicit Divisibility(uint64_t g) : shift(__builtin_ctzll(g)) {
    const uint64_t d = g >> shift;
    uint64_t x = d;  // inverse modulo 2^64 by Newton's iteration (3, 6, ... 96 bits)
    for (int i = 0; i < 5; ++i) x *= 2 - d * x;
    inv = x;
    limit = ~uint64_t{0} / d;
    low_mask = (uint64_t{1} << shift) - 1;
  }
  bool Divides(uint64_t x) const { return (x & low_mask) == 0 && (x >> shift) * inv <= limit; }
  int shift = 0;
  uint64_t inv = 1, limit = ~uint64_t{0}, low_mask = 0;
};

// Saturating sum of magnitudes, for choosing a predictor order.
uint64_t AddMag(uint64_t acc, uint64_t zz) {
  uint64_t v = std::min<uint64_t>(zz, uint64_t{1} << 40);
  return acc + v;
}

ACCEL_INLINE uint32_t ZigZag32(int32_t v) {
  return (static_cast<uint32_t>(v) << 1) ^ static_cast<uint32_t>(v >> 31);
}

// Residuals below this go through the 32-bit stream path (16 of them sum
// without overflow).
constexpr uint64_t kNarrow = uint64_t{1} << 27;

// Index of value c on lattice l: the k whose LatticeValue is nearest to c,
// and the correction c - LatticeValue(k) (0 on the lattice).
struct Indexer {
  explicit Indexer(const Lattice& lat)
      : l(lat),
        scale(static_cast<int64_t>(lat.scale)),
        offset(static_cast<int64_t>(lat.offset)),
        inv_s(4294967296.0 / static_cast<double>(lat.scale)),
        // floor(x) as a truncation of x + 2^23 (|k| < 2^22 here), +0.5 to round.
        bias(-(static_cast<double>(lat.offset) / 4294967296.0 - 0.5) * inv_s + 0.5 + 8388608.0) {}
  // The nearest index; exact check against the lattice.
  int64_t Nearest(int32_t c) const {
    return static_cast<int64_t>(c * inv_s + bias) - (int64_t{1} << 23);
  }
  int64_t Value(int64_t k) const { return (k * scale + offset) >> 32; }
  // Slow path for a value the nearest-index guess missed.
  int64_t Fix(int32_t c, int64_t k, int32_t* err) const {
    int64_t e = c - Value(k);
    if (e != 0) {
      int64_t dir = e > 0 ? 1 : -1;
      int64_t e2 = c - Value(k + dir);
      if (std::llabs(e2) < std::llabs(e)) {
        k += dir;
        e = e2;
      }
    }
    *err = static_cast<int32_t>(e);
    return k;
  }
  const Lattice& l;
  int64_t scale, offset;
  double inv_s, bias;
};

// One axis's values through a pointer-to-member and the samples' stride.
struct AxisView {
  const char* p;
  ACCEL_INLINE int32_t operator[](size_t i) const {
    int32_t v;
    std::memcpy(&v, p + i * sizeof(QSample), sizeof v);
    return v;
  }
};

// Each value's index on lattice `lat` into k[] (which holds a guess for
// each when `guessed`, else the nearest index is computed), checked exactly
// against the lattice; values off it become exceptions. False when more
// than `limit` of them.
template <bool kGuessed>
ACCEL_CODEC_CLONES bool IndexValues(AxisView v, size_t n, const Lattice& lat, int32_t* k,
                                    size_t limit,
                                    std::vector<std::pair<uint32_t, int32_t>>* exceptions) {
  const Indexer ix(lat);
  // The exact path for value i.
  auto exact = [&](size_t i) __attribute__((always_inline)) {
    const int32_t c = v[i];
    int64_t ki = kGuessed ? k[i] : ix.Nearest(c);
    if (__builtin_expect(ix.Value(ki) != c, 0)) {
      int32_t e;
      ki = ix.Fix(c, ki, &e);
      if (e != 0) {
        if (exceptions->size() >= limit) return false;
        exceptions->emplace_back(static_cast<uint32_t>(i), e);
      }
    }
    k[i] = static_cast<int32_t>(ki);
    return true;
  };
  size_t i = 0;
  if constexpr (!kGuessed) {
    // Four values at a time in double precision: the nearest index k, and
    // c = floor(k*s + o) checked where the double result is certain (its
    // floor does not change within 1e-6, far beyond the rounding error of
    // about 2^-30 for counts below 2^20). Blocks with a doubt, or a value off
    // the lattice, take the exact path.
    typedef double V4d __attribute__((vector_size(32)));
    typedef int32_t V4i __attribute__((vector_size(16)));
    constexpr double kLift = 4194304.0;  // 2^22: keeps k*s + o positive to truncate
    const double sd = static_cast<double>(lat.scale) / 4294967296.0;
    const double od = static_cast<double>(lat.offset) / 4294967296.0 + kLift;
    const V4d inv = {ix.inv_s, ix.inv_s, ix.inv_s, ix.inv_s};
    const V4d bias = {ix.bias, ix.bias, ix.bias, ix.bias};
    const V4d vs = {sd, sd, sd, sd};
    const V4d lo = {od - 1e-6, od - 1e-6, od - 1e-6, od - 1e-6};
    const V4d hi = {od + 1e-6, od + 1e-6, od + 1e-6, od + 1e-6};
    const V4i k_bias = {1 << 23, 1 << 23, 1 << 23, 1 << 23};
    const V4i c_lift = {1 << 22, 1 << 22, 1 << 22, 1 << 22};
    for (; i + 4 <= n; i += 4) {
      const V4i c = {v[i], v[i + 1], v[i + 2], v[i + 3]};
      const V4d x = __builtin_convertvector(c, V4d) * inv + bias;
      const V4i kk = __builtin_convertvector(x, V4i) - k_bias;
      const V4d kd = __builtin_convertvector(kk, V4d);
      const V4i f_lo = __builtin_convertvector(kd * vs + lo, V4i);
      const V4i f_hi = __builtin_convertvector(kd * vs + hi, V4i);
      const V4i ok = (f_lo == f_hi) & (f_lo == c + c_lift);
      typedef uint64_t V2u64 __attribute__((vector_size(16)));
      const V2u64 ok2 = reinterpret_cast<V2u64>(ok);  // every lane -1: both halves all ones
      if (__builtin_expect((ok2[0] & ok2[1]) == ~uint64_t{0}, 1)) {
        std::memcpy(k + i, &kk, sizeof kk);
      } else {
        for (size_t j = i; j < i + 4; ++j)
          if (!exact(j)) return false;
      }
    }
  }
  for (; i < n; ++i)
    if (!exact(i)) return false;
  return true;
}

// Both predictors' zigzag residuals of the indices k[0, n), n >= 2: r1
// first differences, r2 second differences (with a zero difference before
// the first), and the sums of each. Blocks of 16 with fixed-length inner
// loops, which the compiler vectorises.
ACCEL_CODEC_CLONES void Residuals(const int32_t* __restrict k, size_t n, uint32_t* __restrict r1,
                                  uint32_t* __restrict r2, uint64_t* mag1, uint64_t* mag2) {
  r1[0] = r2[0] = ZigZag32(k[1] - k[0]);
  uint64_t m1 = r1[0], m2 = r2[0];
  size_t i = 2;
  for (; i + kRiceBlock <= n; i += kRiceBlock) {
    uint32_t s1 = 0, s2 = 0;  // 16 values below 2^24 each
    for (size_t j = 0; j < kRiceBlock; ++j) {
      const int32_t d = k[i + j] - k[i + j - 1];
      const int32_t d2 = d - (k[i + j - 1] - k[i + j - 2]);
      const uint32_t z1 = ZigZag32(d), z2 = ZigZag32(d2);
      r1[i + j - 1] = z1;
      r2[i + j - 1] = z2;
      s1 += z1;
      s2 += z2;
    }
    m1 += s1;
    m2 += s2;
  }
  for (; i < n; ++i) {
    const int32_t d = k[i] - k[i - 1];
    const int32_t d2 = d - (k[i - 1] - k[i - 2]);
    r1[i - 1] = ZigZag32(d);
    r2[i - 1] = ZigZag32(d2);
    m1 += r1[i - 1];
    m2 += r2[i - 1];
  }
  *mag1 = m1;
  *mag2 = m2;
}

// The time section of a batch whose steps behave: what the general path in
// EncodeBody computes, in one pass over the timestamps.
struct TimeFit {
  uint64_t gcd = 1;
  int64_t base = 0;
  uint64_t mag0 = 0, mag1 = 0;  // sums of the residuals against the base and the previous step
};

// The gcd G of the probed steps (up to 64, evenly spread, the ones whose
// median is the base step) is the gcd of all steps when every step is a
// multiple of it (G divides them all, and their gcd divides the probes): so
// one pass divides each step by G exactly (a shift and a multiplication by
// the inverse of G's odd part modulo 2^64), checks that it was a multiple
// and writes both predictors' zigzag residuals. r0 gets those against the
// base step, r1 against the previous step, as 32-bit values. False, with
// r0/r1 clobbered, when a step is no multiple of G, all probes are 0 or a
// residual is not below kNarrow: the general path decides those.
ACCEL_CODEC_CLONES bool TimeResidualsFast(const QSample* s, size_t m, uint64_t* __restrict qs,
                                          uint32_t* __restrict r0, uint32_t* __restrict r1,
                                          TimeFit* fit) {
  const size_t every = m > 63 ? m / 63 : 1;
  uint64_t probe[128];  // m / (m / 63) < 64 of them
  size_t np = 0;
  uint64_t g = 0;
  Divisibility by_g;
  for (size_t i = 0; i < m; i += every) {
    const uint64_t step = static_cast<uint64_t>(s[i + 1].t_ns) - static_cast<uint64_t>(s[i].t_ns);
    probe[np++] = step;
    const uint64_t mag = static_cast<int64_t>(step) < 0 ? 0 - step : step;
    if (mag != 0 && (g == 0 || !by_g.Divides(mag))) {
      g = std::gcd(g, mag);
      by_g = Divisibility(g);
    }
  }
  if (g == 0 || g > static_cast<uint64_t>(INT64_MAX)) return false;
  // x = G * q exactly iff x's low `shift` bits are 0 and y = x >> shift
  // (arithmetic) is d * q for the odd d: then q = y * inv (mod 2^64), and
  // conversely y * inv lies in [-C, C] (C = floor((2^63 - 1) / d)) only for
  // multiples of d. With d = 1 every y is one (the limit never trips).
  const int shift = by_g.shift;
  const uint64_t inv = by_g.inv;
  const uint64_t d = g >> shift;
  const uint64_t c = d == 1 ? 0 : static_cast<uint64_t>(INT64_MAX) / d;
  const uint64_t limit = d == 1 ? ~uint64_t{0} : 2 * c;
  auto quotient = [&](uint64_t x) __attribute__((always_inline)) {
    return static_cast<uint64_t>(static_cast<int64_t>(x) >> shift) * inv;
  };
  int64_t pq[128];
  for (size_t j = 0; j < np; ++j) pq[j] = static_cast<int64_t>(quotient(probe[j]));
  std::nth_element(pq, pq + np / 2, pq + np);
  const uint64_t base = static_cast<uint64_t>(pq[np / 2]);
  // Two passes: the quotients (with the check), then both residuals (a loop
  // the compiler vectorises).
  uint64_t low = 0, top = 0;
  uint64_t prev_t = static_cast<uint64_t>(s[0].t_ns);
  for (size_t i = 0; i < m; ++i) {
    const uint64_t t = static_cast<uint64_t>(s[i + 1].t_ns);
    const uint64_t x = t - prev_t;
    prev_t = t;
    low |= x;
    const uint64_t q = quotient(x);
    top = std::max(top, q + c);
    qs[i + 1] = q;
  }
  if ((low & by_g.low_mask) != 0 || top > limit) return false;
  qs[0] = base;
  uint64_t any = 0, sum0 = 0, sum1 = 0;
  size_t i = 0;
  {
    // Unsigned lanes: the differences wrap, as the scalar code's do.
    typedef uint64_t V4u64 __attribute__((vector_size(32)));
    typedef int64_t V4q __attribute__((vector_size(32)));
    typedef uint32_t V4u __attribute__((vector_size(16)));
    const V4u64 vb = {base, base, base, base};
    V4u64 vany = {0, 0, 0, 0}, vs0 = vany, vs1 = vany;
    for (; i + 4 <= m; i += 4) {
      V4u64 cur, prv;
      std::memcpy(&cur, qs + i + 1, sizeof cur);
      std::memcpy(&prv, qs + i, sizeof prv);
      const V4u64 d0 = cur - vb, d1 = cur - prv;
      // zigzag: (d << 1) ^ (d < 0 ? -1 : 0)
      const V4u64 z0 = (d0 + d0) ^ reinterpret_cast<V4u64>(reinterpret_cast<V4q>(d0) < 0);
      const V4u64 z1 = (d1 + d1) ^ reinterpret_cast<V4u64>(reinterpret_cast<V4q>(d1) < 0);
      vany |= z0 | z1;
      vs0 += z0;
      vs1 += z1;
      const V4u n0 = __builtin_convertvector(z0, V4u), n1 = __builtin_convertvector(z1, V4u);
      std::memcpy(r0 + i, &n0, sizeof n0);
      std::memcpy(r1 + i, &n1, sizeof n1);
    }
    for (int j = 0; j < 4; ++j) {
      any |= vany[j];
      sum0 += vs0[j];
      sum1 += vs1[j];
    }
  }
  for (; i < m; ++i) {
    const uint64_t z0 = ZigZag(static_cast<int64_t>(qs[i + 1] - base));
    const uint64_t z1 = ZigZag(static_cast<int64_t>(qs[i + 1] - qs[i]));
    any |= z0 | z1;
    r0[i] = static_cast<uint32_t>(z0);
    r1[i] = static_cast<uint32_t>(z1);
    sum0 += z0;
    sum1 += z1;
  }
  if (any >= kNarrow) return false;
  // Every residual below 2^27: the general path's saturation (at 2^40) never acts.
  fit->gcd = g;
  fit->base = static_cast<int64_t>(base);
  fit->mag0 = sum0;
  fit->mag1 = sum1;
  return true;
}

}  // namespace

ACCEL_CODEC_CLONES
void EncodeBody(const QSample* s, size_t n, std::string* out, EncoderState* state) {
  const size_t m = n - 1;  // residuals per stream
  const size_t padded = PaddedLength(m);
  EncoderState local;
  EncoderState& st = state ? *state : local;
  std::vector<uint64_t>& res64 = st.res64;
  std::vector<uint64_t>& res64b = st.res64b;
  std::vector<uint32_t>& res32 = st.res32;
  std::vector<uint32_t>& res32b = st.res32b;
  res64.resize(padded + 1);
  res64b.resize(padded + 1);
  res32.resize(padded + 1);
  res32b.resize(padded + 1);
  std::string& bits = st.bits;
  bitio::BitWriter w(&bits, n * 4 + 64, bitio::BitWriter::Reuse());
  uint8_t modes = 0;

  // --- time: steps in units of their gcd, against a base step or the previous step.
  uint64_t gcd = 1;
  int64_t base = 0;
  TimeFit fit;
  const bool fast = !st.general_paths_only;
  if (m > 0 && fast && TimeResidualsFast(s, m, res64.data(), res32.data(), res32b.data(), &fit)) {
    gcd = fit.gcd;
    base = fit.base;
    const int order = fit.mag1 < fit.mag0 ? 1 : 0;
    modes |= static_cast<uint8_t>(order);
    std::vector<uint32_t>& z = order == 1 ? res32b : res32;
    std::fill(z.begin() + m, z.begin() + padded, 0);
    EncodeStream(z.data(), m, &w, fast);
  } else if (m > 0) {
    // Steps (wrapping) and their gcd; most steps repeat a few values, which a
    // small cache recognises without a division.
    uint64_t g = 0, last = 0;
    uint64_t cache[16] = {0};
    Divisibility by_g;
    for (size_t i = 0; i < m; ++i) {
      const uint64_t step = static_cast<uint64_t>(s[i + 1].t_ns) - static_cast<uint64_t>(s[i].t_ns);
      res64[i] = step;
      const uint64_t mag = static_cast<int64_t>(step) < 0 ? 0 - step : step;
      if (mag == last || mag == 0) continue;
      last = mag;
      const size_t slot = (mag * 0x9E3779B97F4A7C15ull) >> 60;
      if (cache[slot] == mag) continue;
      cache[slot] = mag;
      if (g == 0 || !by_g.Divides(mag)) {
        g = std::gcd(g, mag);
        by_g = Divisibility(g);
      }
    }
    gcd = g == 0 || g > static_cast<uint64_t>(INT64_MAX) ? 1 : g;
    // Quotients: exact division by a multiplication while the step fits a
    // double's 52 bits (every step is a multiple of the gcd).
    const double inv = 1.0 / static_cast<double>(gcd);
    const int64_t gi = static_cast<int64_t>(gcd);
    auto quotient = [&](uint64_t step) __attribute__((always_inline))->uint64_t {
      if (gcd == 1) return step;
      const int64_t wv = static_cast<int64_t>(step);
      if (wv > -(int64_t{1} << 52) && wv < (int64_t{1} << 52)) {
        const double x = static_cast<double>(wv) * inv;
        return static_cast<uint64_t>(static_cast<int64_t>(x + (x < 0 ? -0.5 : 0.5)));
      }
      return static_cast<uint64_t>(wv / gi);
    };
    // Base step: median of up to 126 probed steps.
    int64_t probe[128];  // m / (m / 63) < 126 of them
    size_t np = 0;
    const size_t every = m > 63 ? m / 63 : 1;
    for (size_t i = 0; i < m; i += every) probe[np++] = static_cast<int64_t>(quotient(res64[i]));
    std::nth_element(probe, probe + np / 2, probe + np);
    base = probe[np / 2];
    // Both predictors' residuals and magnitudes (saturating) in one pass.
    uint64_t mag0 = 0, mag1 = 0, any0 = 0, any1 = 0;
    uint64_t prev = static_cast<uint64_t>(base);
    for (size_t i = 0; i < m; ++i) {
      const uint64_t q = quotient(res64[i]);
      const uint64_t z0 = ZigZag(static_cast<int64_t>(q - static_cast<uint64_t>(base)));
      const uint64_t z1 = ZigZag(static_cast<int64_t>(q - prev));
      prev = q;
      res64[i] = z0;
      res64b[i] = z1;
      mag0 = AddMag(mag0, z0);
      mag1 = AddMag(mag1, z1);
      any0 |= z0;
      any1 |= z1;
    }
    const int order = mag1 < mag0 ? 1 : 0;
    modes |= static_cast<uint8_t>(order);
    std::vector<uint64_t>& z = order == 1 ? res64b : res64;
    if ((order == 1 ? any1 : any0) < kNarrow) {
      for (size_t i = 0; i < m; ++i) res32[i] = static_cast<uint32_t>(z[i]);
      std::fill(res32.begin() + m, res32.begin() + padded, 0);
      EncodeStream(res32.data(), m, &w, fast);
    } else {
      std::fill(z.begin() + m, z.begin() + padded, 0);
      EncodeStream(z.data(), m, &w, fast);
    }
  }

  // --- axes: lattice indices, first or second differences.
  const bool sensor_changed = state && gcd != st.time_gcd;
  if (state) {
    st.time_gcd = gcd;
    st.time_base = base;
  }
  std::string axis_params;
  std::vector<std::pair<uint32_t, int32_t>>& exceptions = st.exceptions;
  std::vector<int32_t>& axis = st.axis;
  uint64_t shared_scale = 0;  // the scale of the first axis with a lattice
  for (int a = 0; a < 3; ++a) {
    int32_t QSample::*const field = a == 0 ? &QSample::x : a == 1 ? &QSample::y : &QSample::z;
    // The searches read one axis's values in a row.
    bool gathered = false;
    auto values = [&]() -> const int32_t* {
      if (!gathered) {
        axis.resize(n);
        for (size_t i = 0; i < n; ++i) axis[i] = s[i].*field;
        gathered = true;
      }
      return axis.data();
    };
    std::vector<int32_t>& k = st.idx;
    k.resize(n + 1);
    Lattice lat;
    // Indexes the values on lattice l (guessed indices in `pre_k`, or none):
    // worth it only if the bits saved on every value beat the exceptions'
    // cost (24 bits each, 80 for the parameters), and at most
    // `max_exceptions` are allowed.
    auto index = [&](const Lattice& l, const int32_t* pre_k, size_t max_exceptions)
        __attribute__((always_inline)) {
      exceptions.clear();
      const double saved =
          static_cast<double>(n) * std::log2(static_cast<double>(l.scale) / 4294967296.0);
      const double affordable = (saved - 80.0) / 24.0;
      if (!(affordable > 0)) return false;
      const size_t limit = std::min<size_t>(
          max_exceptions, static_cast<size_t>(std::ceil(std::min(affordable, 1e18))) - 1);
      const AxisView view{reinterpret_cast<const char*>(&(s[0].*field))};
      bool ok;
      if (pre_k) {
        if (pre_k != k.data()) std::copy(pre_k, pre_k + n, k.data());
        ok = IndexValues<true>(view, n, l, k.data(), limit, &exceptions);
      } else {
        ok = IndexValues<false>(view, n, l, k.data(), limit, &exceptions);
      }
      if (!ok) {
        exceptions.clear();
        return false;
      }
      lat = l;
      return true;
    };
    // A warm encoder first tries the lattice it found for this axis before:
    // a sensor keeps its lattice, so a search runs only when that stops
    // fitting. "Fits" means few exceptions: under 1/256 of the values, or no
    // more (per value, with some slack) than the search itself left last
    // time. Else the scale is kept and the offset (and the scale, a little)
    // fitted to these values. After "no lattice" the next batch searches
    // again: it may come from a sensor that has one.
    bool done = false;
    LatticeScratch& sc = st.lattice_scratch;
    if (state && st.lattice[a].on) {
      const double allowed =
          std::max(1.0 / 256, 1.25 * st.exception_rate[a]) * static_cast<double>(n);
      done = index(st.lattice[a], nullptr, std::min(n / 4, static_cast<size_t>(allowed)));
      if (!done) {
        const Lattice& prev = st.lattice[a];
        const double ps = static_cast<double>(prev.scale) / 4294967296.0;
        const Lattice refit = FitOnValues(
            values(), n, ps, static_cast<double>(prev.offset) / 4294967296.0 - 0.5, &sc);
        done = refit.on && index(refit, sc.k.data(), n / 4);
      }
    }
    // A warm encoder whose search found no lattice for this axis searches
    // again after 1, 2, 4 ... 32 batches, not on every batch: a sensor
    // without a lattice (a phone's calibrated floats) keeps having none. A
    // batch whose time steps look different (another gcd or base step: maybe
    // another sensor) searches at once.
    const bool may_search = !state || sensor_changed || st.skip_search[a] == 0;
    if (!done && !may_search) --st.skip_search[a];
    if (!done && may_search) {
      // The three axes of one sensor share its scale (one converter): once an
      // axis of this batch has a lattice, the others only look for their
      // offset at that scale, and do not search further when it does not fit.
      // Else the scales found lately are tried (cheap), then a full search.
      // Each leaves each value's index in the scratch space.
      if (shared_scale != 0) {
        const Lattice found = OffsetForScale(values(), n, shared_scale, &sc);
        done = found.on && index(found, sc.k.data(), n / 4);
      } else {
        for (uint64_t scale : st.recent_scales) {
          if (scale == 0 || done) break;
          const Lattice found = OffsetForScale(values(), n, scale, &sc);
          done = found.on && index(found, sc.k.data(), n / 4);
        }
        if (!done) {
          const Lattice found = DetectLattice(values(), n, &sc);
          done = found.on && index(found, sc.k.data(), n / 4);
        }
      }
      if (!done) lat = Lattice();
      if (state) {
        st.search_backoff[a] = done ? 0 : std::min(32, std::max(1, 2 * st.search_backoff[a]));
        st.skip_search[a] = st.search_backoff[a];
      }
    }
    if (state) {
      st.lattice[a] = lat;
      st.exception_rate[a] = static_cast<double>(exceptions.size()) / static_cast<double>(n);
    }
    if (lat.on && shared_scale == 0) shared_scale = lat.scale;
    if (state && lat.on && st.recent_scales[0] != lat.scale) {
      // Most recent first, each scale once.
      uint64_t* r = st.recent_scales;
      const size_t kept = std::find(r, r + EncoderState::kRecentScales, lat.scale) - r;
      std::copy_backward(r, r + std::min(kept, EncoderState::kRecentScales - 1),
                         r + std::min(kept + 1, EncoderState::kRecentScales));
      r[0] = lat.scale;
    }
    if (!lat.on) {
      exceptions.clear();
      const AxisView view{reinterpret_cast<const char*>(&(s[0].*field))};
      for (size_t i = 0; i < n; ++i) k[i] = view[i];
    }
    // Keep the predictor order with the smaller magnitudes.
    uint64_t mag1 = 0, mag2 = 0;
    if (n >= 2) Residuals(k.data(), n, res32.data(), res32b.data(), &mag1, &mag2);
    const bool second = mag2 < mag1;
    std::vector<uint32_t>& chosen = second ? res32b : res32;
    if (second) modes |= static_cast<uint8_t>(1u << (1 + a));
    if (lat.on) modes |= static_cast<uint8_t>(1u << (4 + a));
    std::fill(chosen.begin() + m, chosen.begin() + padded, 0);
    EncodeStream(chosen.data(), m, &w, fast);
    // Parameters of this axis.
    if (lat.on) {
      bitio::PutVarint(&axis_params, lat.scale);
      bitio::PutVarint(&axis_params, lat.offset);
    }
    bitio::PutVarint(&axis_params, ZigZag(k[0]));
    if (lat.on) {
      bitio::PutVarint(&axis_params, exceptions.size());
      uint32_t next = 0;
      for (const auto& ex : exceptions) {
        bitio::PutVarint(&axis_params, ex.first - next);
        bitio::PutVarint(&axis_params, ZigZag(ex.second));
        next = ex.first + 1;
      }
    }
  }
  const size_t bits_len = w.Close();

  out->push_back(static_cast<char>(modes));
  bitio::PutVarint(out, gcd);
  bitio::PutVarint(out, ZigZag(base));
  out->append(axis_params);
  out->append(bits.data(), bits_len);
}

// ------------------------------------------------------------------ decode

namespace {

std::string Where(size_t offset, const char* field) {
  return "offset " + std::to_string(offset) + ": field '" + field + "': ";
}

const char* const kStreamNames[4] = {"time residuals", "x residuals", "y residuals", "z residuals"};

// One Rice code of any parameter, escapes included (past the span's end the
// reader gives zero bits; the caller checks Overrun()).
ACCEL_INLINE Status ReadRice(bitio::BitReader* r, int k, uint64_t* out) {
  r->Refill();
  const uint64_t buf = r->Peek();
  const int q = __builtin_ctzll(buf | (uint64_t{1} << kEscapeQuotient));
  if (q < kEscapeQuotient) {
    r->Consume(q + 1);
    const uint64_t low = k <= 31 ? r->Take(k) : r->TakeWide(k);
    *out = (static_cast<uint64_t>(q) << k) | low;
  } else {
    r->Consume(kEscapeQuotient);
    r->Refill();
    const int bits = static_cast<int>(r->Take(6)) + 1;
    *out = (uint64_t{1} << (bits - 1)) | r->TakeWide(bits - 1);
  }
  return Status::OK();
}

// The Rice codes (parameter k <= 31) of one block of len values into zz,
// from bit position pos of the bytes at base, which hold a whole block and an
// 8-byte window beyond it (no end checks); returns the position after them.
// Each window is the 8 bytes holding the next bit, shifted down (57 bits or
// more): unary part, stop bit and k low bits are at most 55 bits. A function
// of its own, so that the loop has the registers to itself.
ACCEL_CODEC_CLONES __attribute__((noinline)) uint64_t ReadBlockFast(const char* base, uint64_t pos,
                                                                    int k, size_t len,
                                                                    uint64_t* zz) {
  auto peek = [&]() __attribute__((always_inline)) {
    uint64_t w;
    std::memcpy(&w, base + (pos >> 3), 8);
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    return w >> (pos & 7);
  };
  auto take = [&](int n) __attribute__((always_inline)) {  // n <= 64
    uint64_t v;
    if (n <= 56) {
      v = n == 0 ? 0 : peek() & (~uint64_t{0} >> (64 - n));
    } else {
      v = peek() & 0xFFFFFFFFu;
      pos += 32;
      v |= (peek() & (~uint64_t{0} >> (96 - n))) << 32;
      n -= 32;
    }
    pos += static_cast<uint64_t>(n);
    return v;
  };
  const uint64_t mask = (uint64_t{1} << k) - 1;
  const uint64_t k1 = static_cast<uint64_t>(k) + 1;
  // Any code: unary part, stop bit and k low bits, or an escape (24 zeros,
  // the value's length and its bits below the top one).
  auto one = [&](size_t i) __attribute__((always_inline)) {
    const uint64_t w = peek();
    const int q = __builtin_ctzll(w | (uint64_t{1} << kEscapeQuotient));
    if (__builtin_expect(q < kEscapeQuotient, 1)) {
      zz[i] = (static_cast<uint64_t>(q) << k) | ((w >> (q + 1)) & mask);
      pos += static_cast<uint64_t>(q) + k1;
    } else {
      pos += kEscapeQuotient;
      const int bits = static_cast<int>(take(6)) + 1;
      zz[i] = (uint64_t{1} << (bits - 1)) | take(bits - 1);
    }
  };
  size_t i = 0;
  // Several codes from one window: c codes of at most 57 / c bits each, i.e.
  // q < t = 57 / c - k (and not an escape). A marker bit at the top of the
  // window (beyond the 57 bits used) keeps it non-zero while it is shifted
  // down. A longer code takes the general way and the next group starts
  // after it. Codes per window as many as fit with q up to about 8.
  auto groups = [&](auto c_const) __attribute__((always_inline)) {
    constexpr int kC = decltype(c_const)::value;
    const int t = std::min(kEscapeQuotient, 57 / kC - k);
    while (i + kC <= len) {
      uint64_t w = peek() | (uint64_t{1} << 63);
      uint64_t used = 0;
      int c = 0;
#pragma GCC unroll 8
      for (; c < kC; ++c) {
        // w >> (k + 1) does not wait for q: the chain from one code to the
        // next is the bit count and one shift.
        const uint64_t wk = w >> k1;
        const int q = __builtin_ctzll(w);
        if (__builtin_expect(q >= t, 0)) break;
        zz[i + c] = (static_cast<uint64_t>(q) << k) | ((w >> (q + 1)) & mask);
        w = wk >> q;
        used += static_cast<uint64_t>(q) + k1;
      }
      pos += used;
      i += static_cast<size_t>(c);
      if (c < kC) one(i++);
    }
  };
  switch (k <= 0 ? 6 : k <= 2 ? 5 : k <= 5 ? 4 : k <= 10 ? 3 : k <= 19 ? 2 : 1) {
    case 6:
      groups(std::integral_constant<int, 6>());
      break;
    case 5:
      groups(std::integral_constant<int, 5>());
      break;
    case 4:
      groups(std::integral_constant<int, 4>());
      break;
    case 3:
      groups(std::integral_constant<int, 3>());
      break;
    case 2:
      groups(std::integral_constant<int, 2>());
      break;
    default:
      break;
  }
  for (; i < len; ++i) one(i);
  return pos;
}

// Decodes one stream of m residuals block by block: a block's zigzag values
// go to a small array (the bit reading runs alone in a tight loop), then
// sink(i0, values, len) takes the zigzag values of residuals i0 .. i0 + len
// - 1 and returns false to
// stop (it reports its own error). A block is read whole before the sink sees
// it, and the sink sees it before the next block's parameter code is read,
// so errors come in stream order.
//
// While a whole block surely lies inside the span (at most 15 + 16 * 93 bits
// and an 8-byte window beyond), blocks are read from 8-byte windows at a bit
// position, with no end checks; the last blocks go through the buffered
// reader, which feeds zero bits past the end and reports an overrun.
constexpr size_t kFastBlockBytes = 200;

template <typename Sink>
ACCEL_INLINE Status DecodeStream(bitio::BitReader* r, size_t m, int stream, size_t base_offset,
                                 bool fast, Sink sink) {
  int prev = 0;
  size_t block_no = 0;
  auto bad_code = [&](size_t block_offset) {
    return Status::Corruption(Where(block_offset, kStreamNames[stream]) + "block " +
                              std::to_string(block_no) + ": bad Rice parameter code");
  };
  auto bad_mode = [&](size_t block_offset, int mode) {
    return Status::Corruption(Where(block_offset, kStreamNames[stream]) + "block " +
                              std::to_string(block_no) + ": Rice parameter " +
                              std::to_string(mode - 1) + " out of range");
  };
  static constexpr uint64_t kZeros[kRiceBlock] = {};
  uint64_t zz[kRiceBlock] = {};
  size_t b = 0;
  while (b < m) {
    if (fast && r->unread_bytes() >= kFastBlockBytes) {
      bitio::BitReader::Burst rb(r);
      for (; b < m && rb.ahead() >= kFastBlockBytes; b += kRiceBlock, ++block_no) {
        const size_t len = std::min(kRiceBlock, m - b);
        const uint64_t pw = rb.Peek();
        const int nb = __builtin_ctzll(pw | (uint64_t{1} << 8));
        if (nb > 7) return bad_code(base_offset + rb.consumed_bits() / 8);
        const uint64_t z1 = (uint64_t{1} << nb) | ((pw >> (nb + 1)) & ((uint64_t{1} << nb) - 1));
        const int mode = prev + static_cast<int>(UnZigZag(z1 - 1));
        if (mode < 0 || mode > kMaxMode)
          return bad_mode(base_offset + rb.consumed_bits() / 8, mode);
        rb.Consume(2 * nb + 1);
        prev = mode;
        if (mode == 0) {
          if (!sink(b, kZeros, len)) return Status::OK();
          continue;
        }
        const int k = mode - 1;
        if (k <= 31) {
          rb.set_consumed_bits(ReadBlockFast(rb.span_begin(), rb.consumed_bits(), k, len, zz));
        } else {
          for (size_t i = 0; i < len; ++i) {
            const int q = __builtin_ctzll(rb.Peek() | (uint64_t{1} << kEscapeQuotient));
            if (q < kEscapeQuotient) {
              rb.Consume(q + 1);
              zz[i] = (static_cast<uint64_t>(q) << k) | rb.Take(k);
            } else {
              rb.Consume(kEscapeQuotient);
              const int bits = static_cast<int>(rb.Take(6)) + 1;
              zz[i] = (uint64_t{1} << (bits - 1)) | rb.Take(bits - 1);
            }
          }
        }
        if (!sink(b, zz, len)) return Status::OK();
      }
      continue;  // the Burst hands its position back to the reader
    }
    // Near the end of the span: one block through the buffered reader.
    const size_t len = std::min(kRiceBlock, m - b);
    const size_t block_offset = base_offset + r->consumed_bits() / 8;
    r->Refill();
    uint64_t peek = r->Peek();
    int nb = __builtin_ctzll(peek | (uint64_t{1} << 8));
    if (nb > 7) return bad_code(block_offset);
    r->Consume(nb + 1);
    uint64_t z1 = (uint64_t{1} << nb) | r->Take(nb);
    int mode = prev + static_cast<int>(UnZigZag(z1 - 1));
    if (mode < 0 || mode > kMaxMode) return bad_mode(block_offset, mode);
    prev = mode;
    if (mode == 0) {
      if (!sink(b, kZeros, len)) return Status::OK();
    } else {
      const int k = mode - 1;
      for (size_t i = 0; i < len; ++i) ACCEL_RETURN_IF_ERROR(ReadRice(r, k, &zz[i]));
      if (!sink(b, zz, len)) return Status::OK();
    }
    if (r->Overrun())
      return Status::Corruption(Where(block_offset, kStreamNames[stream]) + "block " +
                                std::to_string(block_no) +
                                ": bit stream ends inside the block (truncated body)");
    b += kRiceBlock;
    ++block_no;
  }
  return Status::OK();
}

struct AxisParams {
  Lattice lat;
  int order = 1;
  int64_t first = 0;
  size_t ex_count = 0;
  size_t ex_offset = 0;  // where the exception list starts in the body
};

Status ReadVarint(bitio::ByteReader* br, const char* field, uint64_t* v) {
  size_t at = br->offset();
  switch (br->GetVarint(v)) {
    case bitio::ByteReader::VarintError::kOk:
      return Status::OK();
    case bitio::ByteReader::VarintError::kTruncated:
      return Status::Corruption(Where(at, field) + "varint runs past the end of the body");
    case bitio::ByteReader::VarintError::kOverflow:
      break;
  }
  return Status::Corruption(Where(at, field) + "varint overflows 64 bits");
}

}  // namespace

ACCEL_CODEC_CLONES
Status DecodeBody(std::string_view body, size_t base_offset, int64_t first_t_ns, size_t n,
                  QSample* out, bool general_paths_only) {
  const bool fast = !general_paths_only;
  bitio::ByteReader br(body, base_offset);
  uint8_t modes = 0;
  if (!br.GetByte(&modes)) return Status::Corruption(Where(br.offset(), "modes") + "body is empty");
  if (modes & 0x80)
    return Status::Corruption(Where(br.offset() - 1, "modes") + "reserved bit 7 is set");
  uint64_t gcd = 0, base_zz = 0;
  size_t at = br.offset();
  ACCEL_RETURN_IF_ERROR(ReadVarint(&br, "time_gcd", &gcd));
  if (gcd == 0 || gcd > static_cast<uint64_t>(INT64_MAX))
    return Status::Corruption(Where(at, "time_gcd") + "must be in [1, 2^63-1], got " +
                              std::to_string(gcd));
  ACCEL_RETURN_IF_ERROR(ReadVarint(&br, "time_base", &base_zz));
  AxisParams ax[3];
  static const char* const kScale[3] = {"x.scale", "y.scale", "z.scale"};
  static const char* const kOffset[3] = {"x.offset", "y.offset", "z.offset"};
  static const char* const kFirst[3] = {"x.first", "y.first", "z.first"};
  static const char* const kExCount[3] = {"x.exception_count", "y.exception_count",
                                          "z.exception_count"};
  static const char* const kExGap[3] = {"x.exception_gap", "y.exception_gap", "z.exception_gap"};
  static const char* const kExVal[3] = {"x.exception_value", "y.exception_value",
                                        "z.exception_value"};
  for (int a = 0; a < 3; ++a) {
    AxisParams& p = ax[a];
    p.order = (modes >> (1 + a)) & 1 ? 2 : 1;
    p.lat.on = (modes >> (4 + a)) & 1;
    if (p.lat.on) {
      at = br.offset();
      ACCEL_RETURN_IF_ERROR(ReadVarint(&br, kScale[a], &p.lat.scale));
      if (p.lat.scale < kOne32 || p.lat.scale > kMaxScale)
        return Status::Corruption(Where(at, kScale[a]) + "must be in [2^32, 2^52], got " +
                                  std::to_string(p.lat.scale));
      at = br.offset();
      ACCEL_RETURN_IF_ERROR(ReadVarint(&br, kOffset[a], &p.lat.offset));
      if (p.lat.offset >= p.lat.scale + kOne32)
        return Status::Corruption(Where(at, kOffset[a]) + "must be below scale + 2^32, got " +
                                  std::to_string(p.lat.offset));
    }
    uint64_t first_zz = 0;
    at = br.offset();
    ACCEL_RETURN_IF_ERROR(ReadVarint(&br, kFirst[a], &first_zz));
    p.first = UnZigZag(first_zz);
    if (!p.lat.on && std::llabs(p.first) > Resolution::kMaxCount)
      return Status::Corruption(Where(at, kFirst[a]) + "value " + std::to_string(p.first) +
                                " beyond +-" + std::to_string(Resolution::kMaxCount));
    if (p.lat.on) {
      at = br.offset();
      uint64_t count = 0;
      ACCEL_RETURN_IF_ERROR(ReadVarint(&br, kExCount[a], &count));
      if (count > n)
        return Status::Corruption(Where(at, kExCount[a]) + std::to_string(count) +
                                  " exceptions for " + std::to_string(n) + " samples");
      p.ex_count = static_cast<size_t>(count);
      p.ex_offset = br.offset() - base_offset;
      // Skip the list now (validated and applied after the streams).
      for (size_t j = 0; j < p.ex_count; ++j) {
        uint64_t dummy;
        ACCEL_RETURN_IF_ERROR(ReadVarint(&br, kExGap[a], &dummy));
        ACCEL_RETURN_IF_ERROR(ReadVarint(&br, kExVal[a], &dummy));
      }
    }
  }

  // The bit streams.
  const size_t m = n - 1;
  const size_t bits_offset = br.offset();
  std::string_view rest = br.rest();
  bitio::BitReader r(rest.data(), rest.data() + rest.size());
  {
    const uint64_t g = gcd;
    const uint64_t base = static_cast<uint64_t>(UnZigZag(base_zz));
    const bool delta = modes & 1;
    uint64_t q = base;
    uint64_t t = static_cast<uint64_t>(first_t_ns);
    out[0].t_ns = first_t_ns;
    // One loop per predictor.
    auto decode = [&](auto delta_t) __attribute__((always_inline)) {
      return DecodeStream(
          &r, m, 0, bits_offset,
          fast, [&](size_t i0, const uint64_t* zz, size_t len) __attribute__((always_inline)) {
            QSample* o = out + i0 + 1;
            for (size_t j = 0; j < len; ++j) {
              const uint64_t res = static_cast<uint64_t>(UnZigZag(zz[j]));
              if constexpr (decltype(delta_t)::value) {
                q += res;
              } else {
                q = base + res;
              }
              t += g * q;
              o[j].t_ns = static_cast<int64_t>(t);
            }
            return true;
          });
    };
    ACCEL_RETURN_IF_ERROR(delta ? decode(std::true_type()) : decode(std::false_type()));
  }
  for (int a = 0; a < 3; ++a) {
    const AxisParams& p = ax[a];
    int32_t QSample::*field = a == 0 ? &QSample::x : a == 1 ? &QSample::y : &QSample::z;
    const int64_t kmax =
        p.lat.on ? std::min<int64_t>(int64_t{1} << 21,
                                     static_cast<int64_t>((uint64_t{1} << 62) / p.lat.scale))
                 : Resolution::kMaxCount;
    if (std::llabs(p.first) > kmax)
      return Status::Corruption(Where(bits_offset, kFirst[a]) + "lattice index out of range");
    // The indices whose count is within +-kMaxCount, within +-kmax: one
    // range check per value covers both rules.
    int64_t klo = -kmax, khi = kmax;
    if (p.lat.on) {
      const int64_t sc = static_cast<int64_t>(p.lat.scale);
      const int64_t of = static_cast<int64_t>(p.lat.offset);
      const int64_t top = (int64_t{Resolution::kMaxCount} + 1) * (int64_t{1} << 32) - of - 1;
      const int64_t bottom = -int64_t{Resolution::kMaxCount} * (int64_t{1} << 32) - of;
      // floor(top / sc) and ceil(bottom / sc), sc > 0.
      const int64_t hi = top >= 0 ? top / sc : -((-top + sc - 1) / sc);
      const int64_t lo = bottom >= 0 ? (bottom + sc - 1) / sc : -((-bottom) / sc);
      khi = std::min(khi, hi);
      klo = std::max(klo, lo);
    }
    const uint64_t k_span = klo <= khi ? static_cast<uint64_t>(khi - klo) : 0;
    const bool none_valid = klo > khi;
    size_t bad = SIZE_MAX;
    uint64_t k = static_cast<uint64_t>(p.first);
    uint64_t d = 0;
    const int64_t lat_scale = static_cast<int64_t>(p.lat.scale);
    const int64_t lat_offset = static_cast<int64_t>(p.lat.offset);
    if (none_valid || k - static_cast<uint64_t>(klo) > k_span)
      return Status::Corruption(Where(bits_offset, kFirst[a]) + "value out of range");
    char* dst = reinterpret_cast<char*>(&(out[0].*field));
    auto put = [&](uint64_t kk) __attribute__((always_inline)) {
      const int64_t ki = static_cast<int64_t>(kk);
      *reinterpret_cast<int32_t*>(dst) =
          static_cast<int32_t>(p.lat.on ? (ki * lat_scale + lat_offset) >> 32 : ki);
      dst += sizeof(QSample);
    };
    put(k);
    const size_t stream_offset = bits_offset + r.consumed_bits() / 8;
    // The loops keep the index as ko = k - klo, so the range check is one
    // comparison; the lattice takes klo into its offset (the products, exact
    // for indices in range, are the same modulo 2^64).
    uint64_t ko = k - static_cast<uint64_t>(klo);
    const uint64_t lat_offset_o = static_cast<uint64_t>(klo) * static_cast<uint64_t>(lat_scale) +
                                  static_cast<uint64_t>(lat_offset);
    const int32_t klo32 = static_cast<int32_t>(klo);
    // One loop per predictor order and lattice use (no tests per value).
    auto decode = [&](auto order2, auto lattice) __attribute__((always_inline)) {
      return DecodeStream(
          &r, m, 1 + a, bits_offset,
          fast, [&](size_t i0, const uint64_t* zz, size_t len) __attribute__((always_inline)) {
            for (size_t j = 0; j < len; ++j) {
              if constexpr (decltype(order2)::value) {
                d += static_cast<uint64_t>(UnZigZag(zz[j]));
                ko += d;
              } else {
                ko += static_cast<uint64_t>(UnZigZag(zz[j]));
              }
              if (__builtin_expect(ko > k_span, 0)) {
                bad = i0 + j + 1;
                return false;
              }
              int32_t c;
              if constexpr (decltype(lattice)::value) {
                c = static_cast<int32_t>(
                    static_cast<int64_t>(ko * static_cast<uint64_t>(lat_scale) + lat_offset_o) >>
                    32);
              } else {
                c = static_cast<int32_t>(ko) + klo32;
              }
              std::memcpy(dst, &c, sizeof c);
              dst += sizeof(QSample);
            }
            return true;
          });
    };
    using T = std::true_type;
    using F = std::false_type;
    Status st = p.order == 2 ? (p.lat.on ? decode(T(), T()) : decode(T(), F()))
                             : (p.lat.on ? decode(F(), T()) : decode(F(), F()));
    ACCEL_RETURN_IF_ERROR(st);
    if (bad != SIZE_MAX)
      return Status::Corruption(Where(stream_offset, kStreamNames[1 + a]) + "sample " +
                                std::to_string(bad) + ": value beyond +-" +
                                std::to_string(Resolution::kMaxCount) + " counts");
  }
  // The stream must end exactly at the body's end, padded with zero bits.
  uint64_t used = r.consumed_bits();
  uint64_t total = r.total_bits();
  if (used > total)
    return Status::Corruption(Where(base_offset + body.size(), "body") +
                              "bit streams run past the end of the body");
  if ((used + 7) / 8 != total / 8)
    return Status::Corruption(Where(bits_offset + (used + 7) / 8, "body") +
                              std::to_string(total / 8 - (used + 7) / 8) +
                              " unused bytes after the bit streams (sample_count disagrees "
                              "with the body)");
  if (used % 8 != 0) {
    uint8_t last = static_cast<uint8_t>(rest[rest.size() - 1]);
    if (last >> (used % 8))
      return Status::Corruption(Where(bits_offset + used / 8, "body") +
                                "padding bits after the bit streams are not zero");
  }
  // Exceptions: value corrections on lattice axes.
  for (int a = 0; a < 3; ++a) {
    const AxisParams& p = ax[a];
    if (p.ex_count == 0) continue;
    int32_t QSample::*field = a == 0 ? &QSample::x : a == 1 ? &QSample::y : &QSample::z;
    bitio::ByteReader er(body.substr(p.ex_offset), base_offset + p.ex_offset);
    uint64_t next = 0;
    for (size_t j = 0; j < p.ex_count; ++j) {
      uint64_t gap = 0, ezz = 0;
      at = er.offset();
      ACCEL_RETURN_IF_ERROR(ReadVarint(&er, kExGap[a], &gap));
      if (gap >= n || next + gap >= n)
        return Status::Corruption(Where(at, kExGap[a]) + "exception " + std::to_string(j) +
                                  " points past the last sample");
      size_t pos = static_cast<size_t>(next + gap);
      at = er.offset();
      ACCEL_RETURN_IF_ERROR(ReadVarint(&er, kExVal[a], &ezz));
      int64_t e = UnZigZag(ezz);
      int64_t c = static_cast<int64_t>(out[pos].*field) + e;
      if (e == 0 || e > 2 * int64_t{Resolution::kMaxCount} ||
          e < -2 * int64_t{Resolution::kMaxCount} || c > Resolution::kMaxCount ||
          c < -Resolution::kMaxCount)
        return Status::Corruption(Where(at, kExVal[a]) + "exception " + std::to_string(j) +
                                  " (sample " + std::to_string(pos) +
                                  ") is zero or moves the value out of range");
      out[pos].*field = static_cast<int32_t>(c);
      next = pos + 1;
    }
  }
  return Status::OK();
}

}  // namespace batch_internal
}  // namespace accel
