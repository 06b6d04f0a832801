// SyntheticRecorder: a deterministic wrist. Sample k depends only on (seed, k),
// so a restarted agent sees exactly the samples it saw before the crash, which
// is what lets tests prove "every sample exactly once".
#ifndef ACCEL_WATCH_AGENT_SYNTHETIC_RECORDER_H_
#define ACCEL_WATCH_AGENT_SYNTHETIC_RECORDER_H_

#include "common/clock.h"
#include "watch-agent/sensor_recorder.h"

namespace accel {

struct SyntheticOptions {
  uint64_t seed = 1;
  double rate_hz = 50.0;
  // Wall time of sample 1; samples are recorded at start + (k-1)/rate.
  int64_t start_unix_ns = 0;
  // Simulated time runs this many times faster than the clock since
  // start_unix_ns (tests use it to produce days of data in seconds).
  double time_scale = 1.0;
  // Samples become readable this long after they were taken.
  int64_t availability_delay_ns = 0;
  // Samples older than this (relative to now) are gone. 0 = keep forever.
  int64_t retention_ns = 3LL * 24 * 3600 * 1000000000;
  // Stop after this many samples (end_of_data); 0 = never.
  uint64_t max_samples = 0;
};

class SyntheticRecorder : public SensorRecorder {
 public:
  SyntheticRecorder(const SyntheticOptions& options, Clock* clock);
  Status Fetch(uint64_t cursor, size_t max, FetchResult* out) override;
  std::string Describe() const override;

  // Sample `id` (>= 1), independent of time and of any previous call.
  Sample SampleAt(uint64_t id) const;

 private:
  // The newest id recorded and readable at this moment (0 = none yet).
  uint64_t NewestReadableId() const;
  uint64_t OldestRetainedId() const;
  int64_t SimulatedNow() const;

  SyntheticOptions opt_;
  Clock* clock_;
  int64_t period_ns_;
  double freq_[3], phase_[3];
};

}  // namespace accel

#endif  // ACCEL_WATCH_AGENT_SYNTHETIC_RECORDER_H_
