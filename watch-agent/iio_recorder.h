// IioRecorder: a Linux Industrial I/O accelerometer read through its buffered
// character device, as the kernel documents it (Documentation/iio/iio_devbuf
// and the sysfs ABI): discover /sys/bus/iio/devices/iio:deviceN, enable the
// x/y/z and timestamp scan elements, set the buffer length, enable the buffer,
// then read whole scans from /dev/iio:deviceN and convert each channel with
// its scale and offset ((raw + offset) * scale is m/s^2).
//
// The kernel FIFO is destructive: a scan read from it cannot be read again.
// Samples the agent fetched but had not yet made durable when it crashed are
// therefore lost with the process (at most one fetch worth). The recorder
// keeps everything it read but the agent has not fetched, so the agent's
// cursor semantics (and backpressure) hold for the rest.
#ifndef ACCEL_WATCH_AGENT_IIO_RECORDER_H_
#define ACCEL_WATCH_AGENT_IIO_RECORDER_H_

#include <deque>
#include <memory>
#include <string>

#include "watch-agent/sensor_recorder.h"

namespace accel {

struct IioOptions {
  std::string sysfs_root = "/sys/bus/iio/devices";
  std::string dev_dir = "/dev";
  // Device directory name ("iio:device0"); empty = the first device with accel x/y/z scan elements.
  std::string device;
  int buffer_length = 1024;  // scans the kernel keeps
  // Timestamps from the kernel's timestamp channel are taken as Unix ns (set
  // current_timestamp_clock to "realtime").
};

// One channel's scan element format, e.g. "le:s12/16>>4".
struct IioChannelFormat {
  bool big_endian = false;
  bool is_signed = true;
  int bits = 0;          // significant bits
  int storage_bits = 0;  // bits the element occupies in a scan
  int shift = 0;         // right shift before masking
  int index = 0;         // position in the scan
  static Status Parse(const std::string& text, IioChannelFormat* out);
  // Extracts the value from the element's bytes at `p` (storage_bits/8 of them).
  int64_t Extract(const uint8_t* p) const;
};

class IioRecorder : public SensorRecorder {
 public:
  static Result<std::unique_ptr<IioRecorder>> Open(const IioOptions& options);
  ~IioRecorder() override;
  Status Fetch(uint64_t cursor, size_t max, FetchResult* out) override;
  std::string Describe() const override;
  size_t scan_bytes() const { return scan_bytes_; }

 private:
  IioRecorder() = default;
  Status ReadAvailable();

  std::string device_dir_, dev_path_;
  int fd_ = -1;
  IioChannelFormat ch_[4];  // x, y, z, timestamp
  size_t offset_[4] = {0, 0, 0, 0};
  double scale_[3] = {1, 1, 1}, bias_[3] = {0, 0, 0};
  size_t scan_bytes_ = 0;
  std::string partial_;
  std::deque<Sample> unread_;
  uint64_t unread_first_id_ = 1;
};

}  // namespace accel

#endif  // ACCEL_WATCH_AGENT_IIO_RECORDER_H_
