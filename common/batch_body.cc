#include "common/batch_body.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "common/bit_io.h"

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

int64_t LatticeValue(int64_t k, const Lattice& l) {
  // floor((k*S + O) / 2^32); |k*S| < 2^62 is guaranteed by the callers.
  return (k * static_cast<int64_t>(l.scale) + static_cast<int64_t>(l.offset)) >> 32;
}

struct HullPoint {
  double k, c;
};

// Cross product sign for monotone-chain hulls.
double Cross(const HullPoint& o, const HullPoint& a, const HullPoint& b) {
  return (a.k - o.k) * (b.c - o.c) - (a.c - o.c) * (b.k - o.k);
}

// The scale s minimising the spread of c - s*k over the points (a convex
// function; its minimum is found on the points' convex hulls), searched
// within 0.2% of `guess`. *mid receives the centre of that spread.
// Only points near the top of the band can be on the upper hull near the
// optimum (and near the bottom for the lower one), so the caller passes those.
double FitScale(const std::vector<HullPoint>& top, const std::vector<HullPoint>& bottom,
                double guess, double* mid) {
  std::vector<HullPoint> upper, lower;
  for (const HullPoint& p : bottom) {
    while (lower.size() >= 2 && Cross(lower[lower.size() - 2], lower.back(), p) <= 0)
      lower.pop_back();
    lower.push_back(p);
  }
  for (const HullPoint& p : top) {
    while (upper.size() >= 2 && Cross(upper[upper.size() - 2], upper.back(), p) >= 0)
      upper.pop_back();
    upper.push_back(p);
  }
  auto spread = [&](double sc, double* m) {
    double mx = -1e300, mn = 1e300;
    for (const HullPoint& p : upper) mx = std::max(mx, p.c - sc * p.k);
    for (const HullPoint& p : lower) mn = std::min(mn, p.c - sc * p.k);
    *m = (mx + mn) / 2;
    return mx - mn;
  };
  // Golden-section search: spread is convex in s.
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
  spread(s, mid);
  return s;
}

// Keeps the points in the densest unit-wide window of c - s*k (the lattice's
// own rounding interval) and fits the hulls of those; twice, the second time
// with the better scale.
double RobustFit(const std::vector<HullPoint>& pts, double s, double* mid) {
  std::vector<HullPoint> in, top, bottom;
  in.reserve(pts.size());
  for (int round = 0; round < 2; ++round) {
    double rmin = 1e300, rmax = -1e300;
    for (const HullPoint& p : pts) {
      double r = p.c - s * p.k;
      rmin = std::min(rmin, r);
      rmax = std::max(rmax, r);
    }
    constexpr int kPerUnit = 32;
    if (!(rmax - rmin < 16)) return 0;  // far from any lattice
    const int bins = static_cast<int>((rmax - rmin + 1) * kPerUnit) + 1;
    uint32_t h[17 * kPerUnit + 1] = {0};
    for (const HullPoint& p : pts) ++h[static_cast<int>((p.c - s * p.k - rmin) * kPerUnit)];
    uint32_t win = 0, best = 0;
    int best_b = 0;
    for (int b = 0; b < bins; ++b) {
      win += h[b];
      if (b >= kPerUnit) win -= h[b - kPerUnit];
      if (win > best) {
        best = win;
        best_b = b;
      }
    }
    const double center = rmin + (best_b + 1 - kPerUnit / 2.0) / kPerUnit;
    in.clear();
    double dmax = -1e300, dmin = 1e300;
    for (const HullPoint& p : pts) {
      const double d = p.c - s * p.k - center;
      if (std::fabs(d) > 0.5 + 1.0 / kPerUnit) continue;
      in.push_back(p);
      dmax = std::max(dmax, d);
      dmin = std::min(dmin, d);
    }
    const size_t inliers = in.size();
    if (inliers < 2) return 0;
    top.clear();
    bottom.clear();
    for (const HullPoint& p : in) {
      const double d = p.c - s * p.k - center;
      if (d >= dmax - 0.3) top.push_back(p);
      if (d <= dmin + 0.3) bottom.push_back(p);
    }
    s = FitScale(top, bottom, s, mid);
    if (inliers * 100 >= pts.size() * 99) break;  // the first estimate was good
  }
  return s;
}
}  // namespace

Lattice DetectLattice(const int32_t* values, size_t n) {
  Lattice off;
  if (n < 8) return off;
  // Probe at most kProbe values spread over the batch: enough to pin the
  // scale to ~1e-6 and cheap for long batches.
  constexpr size_t kProbe = 4096;
  const size_t stride = n > kProbe ? n / kProbe : 1;
  int32_t lo = values[0], hi = values[0];
  for (size_t i = 0; i < n; i += stride) {
    lo = std::min(lo, values[i]);
    hi = std::max(hi, values[i]);
  }
  const uint64_t span = static_cast<uint64_t>(static_cast<int64_t>(hi) - lo);
  if (span < 2 || span > (uint64_t{1} << 22)) return off;
  // The distinct values, in order, through a bitmap.
  std::vector<uint64_t> bitmap(span / 64 + 1, 0);
  for (size_t i = 0; i < n; i += stride) {
    uint64_t b = static_cast<uint64_t>(static_cast<int64_t>(values[i]) - lo);
    bitmap[b >> 6] |= uint64_t{1} << (b & 63);
  }
  std::vector<int32_t> uniq;
  uniq.reserve(std::min<size_t>(n, span + 1));
  for (size_t w = 0; w < bitmap.size(); ++w) {
    uint64_t bits = bitmap[w];
    while (bits) {
      int b = __builtin_ctzll(bits);
      bits &= bits - 1;
      uniq.push_back(static_cast<int32_t>(lo + static_cast<int64_t>(w * 64 + b)));
    }
  }
  if (uniq.size() < 2) return off;
  // The most common small gap is (about) one lattice step.
  constexpr int kHist = 1024;
  std::vector<uint32_t> hist(kHist, 0);
  int top = 1;
  for (size_t j = 1; j < uniq.size(); ++j) {
    int64_t g = static_cast<int64_t>(uniq[j]) - uniq[j - 1];
    if (g < kHist) {
      ++hist[g];
      top = std::max(top, static_cast<int>(g));
    }
  }
  int mode = 1;
  for (int g = 2; g <= top; ++g)
    if (hist[g] > hist[mode]) mode = g;
  if (mode < 2 || hist[mode] == 0) return off;
  // Refine on gaps of a few steps, where the step count is unambiguous, then
  // on longer ones with the better estimate.
  double s = mode;
  for (double steps : {2.5, 8.0, 32.0}) {
    double sum_g = 0, sum_m = 0;
    const int top = static_cast<int>(std::min<double>(kHist, steps * s));
    for (int g = 1; g < top; ++g) {
      if (hist[g] == 0) continue;
      double m = std::floor(g / s + 0.5);
      if (m < 1 || std::fabs(g - m * s) >= 1.0 + m * s * 0.02) continue;
      sum_g += static_cast<double>(g) * hist[g];
      sum_m += m * hist[g];
    }
    if (sum_m > 0) s = sum_g / sum_m;
  }
  if (s < 1.5) return off;
  // Step indices of the distinct values that sit on the lattice. Values off it
  // (glitches, a recalibrated stretch) are skipped; if the walk started on
  // one, most values look off and the walk restarts one value later.
  std::vector<HullPoint> pts;
  pts.reserve(uniq.size());
  // Least-squares sums ride along the walk (c relative to the walk's start).
  double sk = 0, sc = 0, skk = 0, skc = 0, c0 = 0;
  const double inv_s0 = 1.0 / s;
  for (size_t start = 0; start < std::min<size_t>(3, uniq.size()); ++start) {
    pts.clear();
    sk = sc = skk = skc = 0;
    double k = 0;
    int64_t prev = uniq[start];
    c0 = static_cast<double>(prev);
    pts.push_back({0, c0});
    for (size_t j = start + 1; j < uniq.size(); ++j) {
      double g = static_cast<double>(uniq[j] - prev);
      double m = std::floor(g * inv_s0 + 0.5);
      if (m < 1 || std::fabs(g - m * s) >= 1.0 + m * s * 2e-3) continue;
      k += m;
      prev = uniq[j];
      const double c = static_cast<double>(prev);
      pts.push_back({k, c});
      sk += k;
      sc += c - c0;
      skk += k * k;
      skc += k * (c - c0);
    }
    if (pts.size() * 2 >= uniq.size()) break;
  }
  if (pts.size() < 2 || pts.size() * 2 < uniq.size()) return off;
  const double np = static_cast<double>(pts.size());
  const double den = np * skk - sk * sk;
  if (!(den > 0)) return off;
  s = (np * skc - sk * sc) / den;
  if (!(s >= 1.5)) return off;
  double mid = c0 + (sc - s * sk) / np;
  // Once the scale is known, index every distinct value directly from the
  // model (no walk, so no error can propagate) and fit once more.
  const double o0 = mid, inv_s = 1.0 / s;
  pts.resize(uniq.size());
  for (size_t j = 0; j < uniq.size(); ++j)
    pts[j] = {std::floor((uniq[j] - o0) * inv_s + 0.5), static_cast<double>(uniq[j])};
  s = RobustFit(pts, s, &mid);
  if (!(s >= 1.5) || s > static_cast<double>(uint64_t{1} << 20)) return off;
  // o in [0, s): shift the index origin (k is free).
  double o = mid - s * std::floor(mid / s);
  Lattice l;
  l.on = true;
  l.scale = static_cast<uint64_t>(std::llround(s * 4294967296.0));
  l.offset = static_cast<uint64_t>(std::llround((o + 0.5) * 4294967296.0));
  if (l.scale < kOne32 || l.scale > kMaxScale || l.offset >= l.scale + kOne32) return off;
  return l;
}

namespace {

// Index of value c on lattice l: the k whose LatticeValue is nearest to c.
struct Indexer {
  const Lattice& l;
  double inv_s, o;
  explicit Indexer(const Lattice& lat)
      : l(lat),
        inv_s(4294967296.0 / static_cast<double>(lat.scale)),
        o(static_cast<double>(lat.offset) / 4294967296.0 - 0.5) {}
  int64_t operator()(int32_t c, int32_t* err) const {
    int64_t k = static_cast<int64_t>(std::floor((c - o) * inv_s + 0.5));
    int64_t e = c - LatticeValue(k, l);
    if (e != 0) {
      int64_t dir = e > 0 ? 1 : -1;
      int64_t e2 = c - LatticeValue(k + dir, l);
      if (std::llabs(e2) < std::llabs(e)) {
        k += dir;
        e = e2;
      }
    }
    *err = static_cast<int32_t>(e);
    return k;
  }
};

// ------------------------------------------------------------- Rice coding

uint64_t RiceCost(const uint64_t* u, size_t len, int k) {
  uint64_t bits = 0;
  for (size_t i = 0; i < len; ++i) {
    uint64_t q = u[i] >> k;
    bits += q < kEscapeQuotient ? q + 1 + k : kEscapeQuotient + 6 + BitLength(u[i]) - 1;
  }
  return bits;
}

int ChooseMode(const uint64_t* u, size_t len) {
  uint64_t sum = 0, mx = 0;
  for (size_t i = 0; i < len; ++i) {
    sum += std::min<uint64_t>(u[i], uint64_t{1} << 40);
    mx = std::max(mx, u[i]);
  }
  const uint64_t mx_clamped = std::min<uint64_t>(mx, uint64_t{1} << 40);
  if (mx == 0) return 0;
  // Candidates around the parameter the mean suggests, and around the one the
  // mean without the largest value suggests (one outlier - a gap, a glitch -
  // must not set the parameter for the whole block).
  const int g1 = std::max(0, BitLength(sum / len) - 1);
  const int g2 = len > 1 ? std::max(0, BitLength((sum - mx_clamped) / (len - 1)) - 1) : g1;
  int best_k = 0;
  uint64_t best = ~uint64_t{0};
  auto consider = [&](int k, uint64_t quotients) {
    const uint64_t c = quotients + len * (1 + static_cast<uint64_t>(k));
    if (c < best) {
      best = c;
      best_k = k;
    }
  };
  auto consider_three = [&](int k0) {  // k0, k0 + 1, k0 + 2 in one pass
    k0 = std::max(0, std::min(61, k0));
    if ((mx >> k0) < static_cast<uint64_t>(kEscapeQuotient)) {  // no escapes: plain sums
      uint64_t q0 = 0, q1 = 0, q2 = 0;
      for (size_t i = 0; i < len; ++i) {
        q0 += u[i] >> k0;
        q1 += u[i] >> (k0 + 1);
        q2 += u[i] >> (k0 + 2);
      }
      consider(k0, q0);
      consider(k0 + 1, q1);
      consider(k0 + 2, q2);
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

void PutParamDelta(bitio::BitWriter* w, int delta) {
  uint64_t z1 = ZigZag(delta) + 1;
  int nb = BitLength(z1) - 1;
  w->PutUnary(nb);
  w->Put(z1 & ((uint64_t{1} << nb) - 1), nb);
}

void PutRice(bitio::BitWriter* w, uint64_t v, int k) {
  uint64_t q = v >> k;
  if (q < kEscapeQuotient) {
    int total = static_cast<int>(q) + 1 + k;
    if (total <= 32) {
      w->Put((uint64_t{1} << q) | ((v & ((uint64_t{1} << k) - 1)) << (q + 1)), total);
    } else {
      w->PutUnary(q);
      w->PutWide(k == 64 ? v : v & ((uint64_t{1} << k) - 1), k);
    }
  } else {
    w->Put(0, kEscapeQuotient);
    int nb = BitLength(v);
    w->Put(nb - 1, 6);
    w->PutWide(v & ~(uint64_t{1} << (nb - 1)), nb - 1);
  }
}

void EncodeStream(const uint64_t* u, size_t m, bitio::BitWriter* w) {
  int prev = 0;
  for (size_t b = 0; b < m; b += kRiceBlock) {
    size_t len = std::min(kRiceBlock, m - b);
    int mode = ChooseMode(u + b, len);
    PutParamDelta(w, mode - prev);
    prev = mode;
    if (mode == 0) continue;
    for (size_t i = 0; i < len; ++i) PutRice(w, u[b + i], mode - 1);
  }
}

// Saturating sum of magnitudes, for choosing a predictor order.
uint64_t AddMag(uint64_t acc, uint64_t zz) {
  uint64_t v = std::min<uint64_t>(zz, uint64_t{1} << 40);
  return acc + v;
}

// Time step gcd with a small cache: most steps repeat a few values.
uint64_t TimeGcd(const uint64_t* w, size_t m) {
  uint64_t g = 0;
  uint64_t cache[16] = {0};
  for (size_t i = 0; i < m; ++i) {
    int64_t sv = static_cast<int64_t>(w[i]);
    uint64_t mag = sv < 0 ? 0 - w[i] : w[i];
    if (mag == 0) continue;
    size_t slot = (mag * 0x9E3779B97F4A7C15ull) >> 60;
    if (cache[slot] == mag) continue;
    if (g == 0 || mag % g != 0) g = std::gcd(g, mag);
    cache[slot] = mag;
  }
  if (g == 0 || g > static_cast<uint64_t>(INT64_MAX)) g = 1;
  return g;
}

struct AxisPlan {
  Lattice lat;
  int order = 1;
  int64_t first = 0;
  std::vector<std::pair<uint32_t, int32_t>> exceptions;
};

}  // namespace

void EncodeBody(const QSample* s, size_t n, std::string* out, EncoderState* state) {
  const size_t m = n - 1;  // residuals per stream
  EncoderState local;
  EncoderState& st = state ? *state : local;
  std::vector<uint64_t>& res = st.res;
  std::vector<uint64_t>& res2 = st.res2;
  std::vector<int32_t>& axis = st.axis;
  std::vector<int64_t>& idx = st.idx;
  res.resize(m == 0 ? 1 : m);
  res2.resize(m == 0 ? 1 : m);
  axis.resize(n);
  idx.resize(n);
  std::string& bits = st.bits;
  bits.clear();
  bitio::BitWriter w(&bits, n * 4 + 64);
  uint8_t modes = 0;

  // --- time: steps in units of their gcd, against a base step or the previous step.
  uint64_t gcd = 1;
  int64_t base = 0;
  {
    for (size_t i = 0; i < m; ++i)
      res[i] = static_cast<uint64_t>(s[i + 1].t_ns) - static_cast<uint64_t>(s[i].t_ns);
    gcd = TimeGcd(res.data(), m);
    const double inv = 1.0 / static_cast<double>(gcd);
    for (size_t i = 0; i < m; ++i) {
      int64_t wv = static_cast<int64_t>(res[i]);
      int64_t q;
      if (gcd == 1) {
        q = wv;
      } else if (wv > -(int64_t{1} << 52) && wv < (int64_t{1} << 52)) {
        q = static_cast<int64_t>(std::floor(static_cast<double>(wv) * inv + 0.5));
      } else {
        q = wv / static_cast<int64_t>(gcd);
      }
      res[i] = static_cast<uint64_t>(q);
    }
    // Base step: median of up to 63 probed steps.
    if (m > 0) {
      std::vector<int64_t> probe;
      size_t step = m > 63 ? m / 63 : 1;
      for (size_t i = 0; i < m; i += step) probe.push_back(static_cast<int64_t>(res[i]));
      std::nth_element(probe.begin(), probe.begin() + probe.size() / 2, probe.end());
      base = probe[probe.size() / 2];
    }
    uint64_t mag0 = 0, mag1 = 0;
    uint64_t prev = static_cast<uint64_t>(base);
    for (size_t i = 0; i < m; ++i) {
      mag0 = AddMag(mag0, ZigZag(static_cast<int64_t>(res[i] - static_cast<uint64_t>(base))));
      mag1 = AddMag(mag1, ZigZag(static_cast<int64_t>(res[i] - prev)));
      prev = res[i];
    }
    int order = mag1 < mag0 ? 1 : 0;
    modes |= static_cast<uint8_t>(order);
    prev = static_cast<uint64_t>(base);
    for (size_t i = 0; i < m; ++i) {
      uint64_t q = res[i];
      res[i] = ZigZag(static_cast<int64_t>(q - prev));
      if (order == 1) prev = q;
    }
    EncodeStream(res.data(), m, &w);
  }

  // --- axes: lattice indices, first or second differences.
  std::string axis_params;
  for (int a = 0; a < 3; ++a) {
    int32_t QSample::*const field = a == 0 ? &QSample::x : a == 1 ? &QSample::y : &QSample::z;
    for (size_t i = 0; i < n; ++i) axis[i] = s[i].*field;
    AxisPlan plan;
    // Worth it only if the bits saved on every value beat the exceptions' cost.
    auto try_lattice = [&](const Lattice& lat) {
      plan.lat = lat;
      plan.exceptions.clear();
      if (!lat.on) return false;
      Indexer indexer(lat);
      for (size_t i = 0; i < n; ++i) {
        int32_t e;
        idx[i] = indexer(axis[i], &e);
        if (e != 0) plan.exceptions.emplace_back(static_cast<uint32_t>(i), e);
      }
      const double saved =
          static_cast<double>(n) * std::log2(static_cast<double>(lat.scale) / 4294967296.0);
      const double cost = 80.0 + 24.0 * static_cast<double>(plan.exceptions.size());
      if (!(saved > cost) || plan.exceptions.size() > n / 4) {
        plan.lat = Lattice();
        plan.exceptions.clear();
        return false;
      }
      return true;
    };
    // A warm encoder first tries the lattice it found for this axis before:
    // a sensor keeps its lattice, so the search runs only when that stops
    // paying (few exceptions allowed). After "no lattice" the next batch
    // searches again: it may come from a sensor that has one.
    bool done = false;
    // "Fits" means few exceptions: under 1/256 of the values, or no more (per
    // value, with some slack) than the search itself left last time.
    if (state && st.lattice[a].on) {
      const double allowed =
          std::max(1.0 / 256, 1.25 * st.exception_rate[a]) * static_cast<double>(n);
      done = try_lattice(st.lattice[a]) && static_cast<double>(plan.exceptions.size()) <= allowed;
    }
    if (!done) {
      try_lattice(DetectLattice(axis.data(), n));
      if (state) {
        st.lattice[a] = plan.lat;
        st.exception_rate[a] = static_cast<double>(plan.exceptions.size()) / static_cast<double>(n);
      }
    }
    if (!plan.lat.on)
      for (size_t i = 0; i < n; ++i) idx[i] = axis[i];
    // Both predictors in one pass; keep the one with the smaller magnitudes.
    uint64_t mag1 = 0, mag2 = 0;
    int64_t prev_d = 0;
    for (size_t i = 1; i < n; ++i) {
      const int64_t d = idx[i] - idx[i - 1];
      const uint64_t z1 = ZigZag(d), z2 = ZigZag(d - prev_d);
      res[i - 1] = z1;
      res2[i - 1] = z2;
      mag1 += z1;  // indices are within 2^21, so these sums cannot overflow
      mag2 += z2;
      prev_d = d;
    }
    plan.order = mag2 < mag1 ? 2 : 1;
    plan.first = idx[0];
    if (plan.order == 2) modes |= static_cast<uint8_t>(1u << (1 + a));
    if (plan.lat.on) modes |= static_cast<uint8_t>(1u << (4 + a));
    if (plan.order == 2) res.swap(res2);
    EncodeStream(res.data(), m, &w);
    // Parameters of this axis.
    if (plan.lat.on) {
      bitio::PutVarint(&axis_params, plan.lat.scale);
      bitio::PutVarint(&axis_params, plan.lat.offset);
    }
    bitio::PutVarint(&axis_params, ZigZag(plan.first));
    if (plan.lat.on) {
      bitio::PutVarint(&axis_params, plan.exceptions.size());
      uint32_t next = 0;
      for (const auto& ex : plan.exceptions) {
        bitio::PutVarint(&axis_params, ex.first - next);
        bitio::PutVarint(&axis_params, ZigZag(ex.second));
        next = ex.first + 1;
      }
    }
  }
  w.Finish();

  out->push_back(static_cast<char>(modes));
  bitio::PutVarint(out, gcd);
  bitio::PutVarint(out, ZigZag(base));
  out->append(axis_params);
  out->append(bits);
}

// ------------------------------------------------------------------ decode

namespace {

std::string Where(size_t offset, const char* field) {
  return "offset " + std::to_string(offset) + ": field '" + field + "': ";
}

const char* const kStreamNames[4] = {"time residuals", "x residuals", "y residuals", "z residuals"};

// Decodes one stream of m residuals, calling sink(i, value) for i in [0, m).
// sink returns false to stop (it reports its own error).
template <typename Sink>
Status DecodeStream(bitio::BitReader* r, size_t m, int stream, size_t base_offset, Sink sink) {
  int prev = 0;
  size_t block_no = 0;
  for (size_t b = 0; b < m; b += kRiceBlock, ++block_no) {
    const size_t len = std::min(kRiceBlock, m - b);
    const size_t block_offset = base_offset + r->consumed_bits() / 8;
    r->Refill();
    uint64_t peek = r->Peek();
    int nb = __builtin_ctzll(peek | (uint64_t{1} << 8));
    if (nb > 7)
      return Status::Corruption(Where(block_offset, kStreamNames[stream]) + "block " +
                                std::to_string(block_no) + ": bad Rice parameter code");
    r->Consume(nb + 1);
    uint64_t z1 = (uint64_t{1} << nb) | r->Take(nb);
    int mode = prev + static_cast<int>(UnZigZag(z1 - 1));
    if (mode < 0 || mode > kMaxMode)
      return Status::Corruption(Where(block_offset, kStreamNames[stream]) + "block " +
                                std::to_string(block_no) + ": Rice parameter " +
                                std::to_string(mode - 1) + " out of range");
    prev = mode;
    if (mode == 0) {
      for (size_t i = 0; i < len; ++i)
        if (!sink(b + i, 0)) return Status::OK();
    } else {
      const int k = mode - 1;
      for (size_t i = 0; i < len; ++i) {
        r->Refill();
        uint64_t buf = r->Peek();
        int q = __builtin_ctzll(buf | (uint64_t{1} << kEscapeQuotient));
        uint64_t v;
        if (q < kEscapeQuotient) {
          r->Consume(q + 1);
          uint64_t low;
          if (k <= 31) {
            low = r->Take(k);
          } else {
            low = r->TakeWide(k);
          }
          v = (static_cast<uint64_t>(q) << k) | low;
        } else {
          r->Consume(kEscapeQuotient);
          r->Refill();
          int bits = static_cast<int>(r->Take(6)) + 1;
          v = (uint64_t{1} << (bits - 1)) | r->TakeWide(bits - 1);
        }
        if (!sink(b + i, v)) return Status::OK();
      }
    }
    if (r->Overrun())
      return Status::Corruption(Where(block_offset, kStreamNames[stream]) + "block " +
                                std::to_string(block_no) +
                                ": bit stream ends inside the block (truncated body)");
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

Status DecodeBody(std::string_view body, size_t base_offset, int64_t first_t_ns, size_t n,
                  QSample* out) {
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
    ACCEL_RETURN_IF_ERROR(DecodeStream(&r, m, 0, bits_offset, [&](size_t i, uint64_t zz) {
      uint64_t res = static_cast<uint64_t>(UnZigZag(zz));
      q = delta ? q + res : base + res;
      t += g * q;
      out[i + 1].t_ns = static_cast<int64_t>(t);
      return true;
    }));
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
    size_t bad = SIZE_MAX;
    uint64_t k = static_cast<uint64_t>(p.first);
    uint64_t d = 0;
    const Lattice lat = p.lat;
    auto emit = [&](size_t i, uint64_t kk) {
      int64_t ki = static_cast<int64_t>(kk);
      if (ki > kmax || ki < -kmax) return false;
      int64_t c = lat.on ? LatticeValue(ki, lat) : ki;
      if (c > Resolution::kMaxCount || c < -Resolution::kMaxCount) return false;
      out[i].*field = static_cast<int32_t>(c);
      return true;
    };
    if (!emit(0, k))
      return Status::Corruption(Where(bits_offset, kFirst[a]) + "value out of range");
    const size_t stream_offset = bits_offset + r.consumed_bits() / 8;
    Status st;
    if (p.order == 1) {
      st = DecodeStream(&r, m, 1 + a, bits_offset, [&](size_t i, uint64_t zz) {
        k += static_cast<uint64_t>(UnZigZag(zz));
        if (!emit(i + 1, k)) {
          bad = i + 1;
          return false;
        }
        return true;
      });
    } else {
      st = DecodeStream(&r, m, 1 + a, bits_offset, [&](size_t i, uint64_t zz) {
        d += static_cast<uint64_t>(UnZigZag(zz));
        k += d;
        if (!emit(i + 1, k)) {
          bad = i + 1;
          return false;
        }
        return true;
      });
    }
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
