// The sample model shared by every stage of the pipeline.
//
// A sample is a timestamp in nanoseconds since the Unix epoch and three
// accelerations in g. On the way through the pipeline values are held
// quantised at a declared resolution (default 1/16384 g, the step of a 16-bit
// +-2 g sensor); storage at that resolution is lossless, i.e. a decoded value
// differs from the source by at most resolution/2. Timestamps are kept to the
// nanosecond everywhere.
#ifndef ACCEL_COMMON_SAMPLE_H_
#define ACCEL_COMMON_SAMPLE_H_

#include <cstdint>
#include <string>

#include "common/status.h"

namespace accel {

// A sample as a sensor or a CSV file gives it.
struct Sample {
  int64_t t_ns = 0;
  double x = 0, y = 0, z = 0;  // g
};

// A sample quantised at a Resolution: value_g = count * resolution.
struct QSample {
  int64_t t_ns = 0;
  int32_t x = 0, y = 0, z = 0;
  bool operator==(const QSample& o) const {
    return t_ns == o.t_ns && x == o.x && y == o.y && z == o.z;
  }
  bool operator!=(const QSample& o) const { return !(*this == o); }
};

// The step, in g, at which values are stored.
class Resolution {
 public:
  static constexpr double kDefaultStepG = 1.0 / 16384.0;
  // The largest |count| any resolution may produce; with the default step
  // this is +-64 g, beyond the +-32 g the format promises to hold.
  static constexpr int32_t kMaxCount = (1 << 20) - 1;
  // The range every resolution must hold, and so the finest step allowed:
  // 32 g / 1048575 counts, about 3.05e-5 g (1/32767.97 g; 1/32768 g would
  // hold only 31.99997 g).
  static constexpr double kMinRangeG = 32.0;
  static constexpr double kMinStepG = kMinRangeG / kMaxCount;

  Resolution() = default;
  // Accepts kMinStepG <= step_g <= 1 (finite); anything else is a
  // configuration error whose message names the limit.
  static Result<Resolution> FromStep(double step_g);
  // Parses "0.00006103515625", "1/16384" or "6.1e-5".
  static Result<Resolution> Parse(const std::string& text);

  double step_g() const { return step_; }
  // Rounds to the nearest count (ties away from zero). Values whose count would
  // exceed kMaxCount, and NaN/inf, are an error naming the value: never a clamp.
  Status Quantise(double g, int32_t* count) const;
  Status Quantise(const Sample& s, QSample* q) const;
  double ToG(int32_t count) const { return count * step_; }
  Sample ToSample(const QSample& q) const { return Sample{q.t_ns, ToG(q.x), ToG(q.y), ToG(q.z)}; }
  // The range held at this resolution, in g.
  double MaxAbsG() const { return kMaxCount * step_; }

 private:
  explicit Resolution(double step) : step_(step) {}
  double step_ = kDefaultStepG;
};

}  // namespace accel

#endif  // ACCEL_COMMON_SAMPLE_H_
