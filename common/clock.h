// Clock: time as the pipeline sees it, behind an interface so tests can move
// it (clock jumps, days of relay absence) without sleeping.
#ifndef ACCEL_COMMON_CLOCK_H_
#define ACCEL_COMMON_CLOCK_H_

#include <atomic>
#include <cstdint>

namespace accel {

class Clock {
 public:
  virtual ~Clock() = default;
  static Clock* Real();  // process-wide, never deleted
  // Wall-clock nanoseconds since the Unix epoch; may jump.
  virtual int64_t NowUnixNanos() = 0;
  // Monotonic nanoseconds for timeouts and rates; never jumps back.
  virtual int64_t MonotonicNanos() = 0;
};

// A clock that only moves when told to. Thread-safe.
class ManualClock : public Clock {
 public:
  explicit ManualClock(int64_t unix_nanos = 0, int64_t mono_nanos = 0)
      : unix_(unix_nanos), mono_(mono_nanos) {}
  int64_t NowUnixNanos() override { return unix_.load(); }
  int64_t MonotonicNanos() override { return mono_.load(); }
  void Advance(int64_t nanos) {
    unix_ += nanos;
    mono_ += nanos;
  }
  void SetUnixNanos(int64_t n) { unix_ = n; }  // a wall-clock jump

 private:
  std::atomic<int64_t> unix_;
  std::atomic<int64_t> mono_;
};

}  // namespace accel

#endif  // ACCEL_COMMON_CLOCK_H_
