// FileRecorder: replays captured recordings (CSV `t_ns,x_g,y_g,z_g` or our own
// batch files) as if a sensor had recorded them, either as fast as possible or
// paced in real time (optionally sped up). Files are concatenated in the order
// given; sample ids count from 1 across all of them. A paced replay restarted
// with a cursor continues from there at once (it does not wait for the time
// the samples before the cursor took).
#ifndef ACCEL_WATCH_AGENT_FILE_RECORDER_H_
#define ACCEL_WATCH_AGENT_FILE_RECORDER_H_

#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "watch-agent/sensor_recorder.h"

namespace accel {

struct FileRecorderOptions {
  std::vector<std::string> paths;
  // 0 = as fast as possible; 1 = real time; 10 = ten times faster than real time.
  double pace = 0;
  // When pacing, a pause longer than this (e.g. between two recordings) is
  // played as this long, so concatenated captures do not wait for hours.
  int64_t max_paced_gap_ns = 1000000000;
};

class FileRecorder : public SensorRecorder {
 public:
  // Loads every file; a missing or malformed file is an error naming it.
  static Result<std::unique_ptr<FileRecorder>> Open(const FileRecorderOptions& options,
                                                    Clock* clock);
  Status Fetch(uint64_t cursor, size_t max, FetchResult* out) override;
  std::string Describe() const override;
  const std::vector<Sample>& samples() const { return samples_; }

  // Loads one file by its content: batch files start with the batch magic,
  // anything else is parsed as CSV.
  static Status LoadFile(const std::string& path, std::vector<Sample>* out);

 private:
  FileRecorderOptions opt_;
  Clock* clock_ = nullptr;
  int64_t origin_mono_ns_ = 0;  // when pacing: the moment sample 1 was (or would have been) due
  bool resumed_ = false;        // the first Fetch has moved the origin to the cursor
  std::vector<Sample> samples_;
  std::vector<int64_t> play_ns_;  // when pacing: sample i is due play_ns_[i] after the start
};

}  // namespace accel

#endif  // ACCEL_WATCH_AGENT_FILE_RECORDER_H_
