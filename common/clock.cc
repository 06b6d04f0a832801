#include "common/clock.h"

#include <time.h>

namespace accel {
namespace {
int64_t Read(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}
class RealClock : public Clock {
 public:
  int64_t NowUnixNanos() override { return Read(CLOCK_REALTIME); }
  int64_t MonotonicNanos() override { return Read(CLOCK_MONOTONIC); }
};
}  // namespace

Clock* Clock::Real() {
  static RealClock* clock = new RealClock();
  return clock;
}

}  // namespace accel
