#include "watch-agent/synthetic_recorder.h"

#include <cmath>
#include <cstdio>

namespace accel {

namespace {
// splitmix64: a counter-based generator, so sample k needs no history.
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
double Unit(uint64_t x) { return (Mix(x) >> 11) * (1.0 / 9007199254740992.0); }
// Approximately normal noise from 4 uniforms (Irwin-Hall), deterministic.
double Noise(uint64_t key) {
  double s = Unit(key) + Unit(key + 1) + Unit(key + 2) + Unit(key + 3);
  return (s - 2.0) * 1.7320508;  // unit variance
}
}  // namespace

SyntheticRecorder::SyntheticRecorder(const SyntheticOptions& options, Clock* clock)
    : opt_(options), clock_(clock) {
  if (opt_.start_unix_ns == 0) opt_.start_unix_ns = clock_->NowUnixNanos();
  period_ns_ = static_cast<int64_t>(std::llround(1e9 / opt_.rate_hz));
  for (int a = 0; a < 3; ++a) {
    freq_[a] = 0.3 + 2.2 * Unit(opt_.seed * 31 + a);  // arm swing and steps, 0.3-2.5 Hz
    phase_[a] = 6.283185307179586 * Unit(opt_.seed * 37 + a);
  }
}

int64_t SyntheticRecorder::SimulatedNow() const {
  // Anchored at the recording start, not at this process's start, so a
  // restarted agent sees the recording exactly where the system left it.
  int64_t elapsed = clock_->NowUnixNanos() - opt_.start_unix_ns;
  return opt_.start_unix_ns + static_cast<int64_t>(static_cast<double>(elapsed) * opt_.time_scale);
}

Sample SyntheticRecorder::SampleAt(uint64_t id) const {
  Sample s;
  s.t_ns = opt_.start_unix_ns + static_cast<int64_t>(id - 1) * period_ns_;
  double t = static_cast<double>(id - 1) / opt_.rate_hz;
  // Gravity on a slowly turning wrist, motion, and sensor noise (~1 mg).
  double tilt = 0.6 * std::sin(0.05 * t + phase_[0]);
  double g[3] = {std::sin(tilt) * 0.5, std::cos(tilt) * 0.5, 0.7};
  double* out[3] = {&s.x, &s.y, &s.z};
  for (int a = 0; a < 3; ++a) {
    double motion = 0.25 * std::sin(6.283185307179586 * freq_[a] * t + phase_[a]) +
                    0.08 * std::sin(6.283185307179586 * 3.1 * freq_[a] * t);
    *out[a] = g[a] + motion + 0.001 * Noise((opt_.seed << 40) ^ (id * 8 + a * 2));
  }
  return s;
}

uint64_t SyntheticRecorder::NewestReadableId() const {
  int64_t readable_until = SimulatedNow() - opt_.availability_delay_ns;
  if (readable_until < opt_.start_unix_ns) return 0;
  uint64_t n = static_cast<uint64_t>((readable_until - opt_.start_unix_ns) / period_ns_) + 1;
  if (opt_.max_samples != 0 && n > opt_.max_samples) n = opt_.max_samples;
  return n;
}

uint64_t SyntheticRecorder::OldestRetainedId() const {
  if (opt_.retention_ns == 0) return 1;
  int64_t oldest_t = SimulatedNow() - opt_.retention_ns;
  if (oldest_t <= opt_.start_unix_ns) return 1;
  return static_cast<uint64_t>((oldest_t - opt_.start_unix_ns + period_ns_ - 1) / period_ns_) + 1;
}

Status SyntheticRecorder::Fetch(uint64_t cursor, size_t max, FetchResult* out) {
  *out = FetchResult();
  uint64_t newest = NewestReadableId();
  uint64_t first = cursor + 1;
  uint64_t oldest = OldestRetainedId();
  if (first < oldest) {
    out->gap_samples = oldest - first;
    out->gap_from_ns = SampleAt(first).t_ns;
    out->gap_to_ns = SampleAt(oldest).t_ns;
    first = oldest;
  }
  out->first_id = first;
  for (uint64_t id = first; id <= newest && out->samples.size() < max; ++id)
    out->samples.push_back(SampleAt(id));
  out->end_of_data = opt_.max_samples != 0 && first + out->samples.size() > opt_.max_samples;
  return Status::OK();
}

std::string SyntheticRecorder::Describe() const {
  char buf[128];
  std::snprintf(buf, sizeof buf, "synthetic seed=%llu %.6g Hz x%.6g",
                static_cast<unsigned long long>(opt_.seed), opt_.rate_hz, opt_.time_scale);
  return buf;
}

}  // namespace accel
