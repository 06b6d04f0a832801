// SensorRecorder: where samples come from, with CMSensorRecorder's semantics.
//
// The system records continuously and keeps samples for a retention window;
// the agent asks for every sample after its committed cursor, in order. A
// sample is identified by a strictly increasing 64-bit id (ids are dense: the
// sample after id k is k+1), so a cursor is simply the id of the last sample
// the agent has made durable. New data may become readable with a delay; data
// older than the retention window is gone, and the recorder says so (a gap)
// instead of pretending nothing was recorded.
#ifndef ACCEL_WATCH_AGENT_SENSOR_RECORDER_H_
#define ACCEL_WATCH_AGENT_SENSOR_RECORDER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/sample.h"
#include "common/status.h"

namespace accel {

// The cursor before any sample: the first sample has id 1.
inline constexpr uint64_t kCursorStart = 0;

struct FetchResult {
  // Samples with ids first_id, first_id+1, ... in recording order.
  std::vector<Sample> samples;
  uint64_t first_id = 0;
  // Samples after the cursor that expired before they were fetched: ids
  // (cursor, first_id) are lost, spanning [gap_from_ns, gap_to_ns).
  uint64_t gap_samples = 0;
  int64_t gap_from_ns = 0, gap_to_ns = 0;
  // Samples the source itself never kept (e.g. the kernel's IIO ring
  // overflowed while nobody read it), detected from a jump in the timestamps
  // just before the returned samples. They never had ids, so they are not
  // part of the id gap above: about lost_samples samples in [lost_from_ns,
  // lost_to_ns) (the earliest and latest such gap when there were several).
  uint64_t lost_samples = 0;
  int64_t lost_from_ns = 0, lost_to_ns = 0;
  // The source has no more samples, ever (end of a replayed file).
  bool end_of_data = false;
};

class SensorRecorder {
 public:
  virtual ~SensorRecorder() = default;
  // Up to `max` samples with ids > `cursor` that are readable now. Returns
  // nothing (and no error) when no new sample is readable yet.
  virtual Status Fetch(uint64_t cursor, size_t max, FetchResult* out) = 0;
  // Called instead of Fetch while the agent cannot take samples (its outbox
  // is full): a source whose underlying store is small and destructive (a
  // kernel FIFO) moves what it can into its own bounded buffer, so the
  // backpressure costs less data. Sources that keep everything do nothing.
  virtual Status Poll() { return Status::OK(); }
  // A short description for logs ("synthetic seed=7 50 Hz").
  virtual std::string Describe() const = 0;
};

}  // namespace accel

#endif  // ACCEL_WATCH_AGENT_SENSOR_RECORDER_H_
