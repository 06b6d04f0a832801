// IioRecorder: a Linux Industrial I/O accelerometer read through its buffered
// character device, as the kernel documents it (Documentation/iio/iio_devbuf
// and the sysfs ABI): discover /sys/bus/iio/devices/iio:deviceN, enable the
// x/y/z and timestamp scan elements, set the buffer length, enable the buffer,
// then read whole scans from /dev/iio:deviceN and convert each channel with
// its scale and offset ((raw + offset) * scale is m/s^2).
//
// The kernel FIFO is destructive: a scan read from it cannot be read again.
// Samples the agent fetched but had not yet made durable when it crashed are
// therefore lost with the process (at most one batch worth). The recorder
// keeps everything it read but the agent has not fetched, so the agent's
// cursor semantics (and backpressure) hold for the rest.
//
// Ids: the FIFO has no history, so ids are assigned per process. The first
// Fetch of a process gives the oldest scan then waiting in the FIFO the id
// after the agent's committed cursor: scans recorded while the agent was
// down are new data, never "already seen".
//
// Overflow: while the agent's outbox is full it calls Poll() instead of
// Fetch(), and the recorder moves scans from the kernel's ring into its own
// buffer (at most max_buffered_scans). Beyond that the kernel ring fills and
// drops new scans silently; the recorder notices the jump in the timestamp
// channel and reports the missing samples (count and time span) as lost,
// never as data.
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
  // Scans this process keeps in memory that the agent has not fetched yet
  // (32 bytes each): the buffer that absorbs backpressure before the kernel
  // ring overflows. 32768 is about 11 minutes at 50 Hz, 1 MiB at most.
  size_t max_buffered_scans = 32768;
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
  Status Poll() override;
  std::string Describe() const override;
  size_t scan_bytes() const { return scan_bytes_; }
  // The sampling period used to recognise lost scans (from the device's
  // sampling_frequency, else estimated from the timestamps; 0 = not known yet).
  int64_t period_ns() const;
  size_t buffered() const { return unread_.size(); }

 private:
  // A run of scans the kernel dropped, just before the scan with absolute
  // index `before` (counted from the first scan this process read).
  struct Lost {
    uint64_t before;
    uint64_t count;
    int64_t from_ns, to_ns;
  };

  IioRecorder() = default;
  Status ReadAvailable();
  void NoteTimestamp(int64_t t_ns);

  std::string device_dir_, dev_path_;
  int fd_ = -1;
  IioChannelFormat ch_[4];  // x, y, z, timestamp
  size_t offset_[4] = {0, 0, 0, 0};
  double scale_[3] = {1, 1, 1}, bias_[3] = {0, 0, 0};
  size_t scan_bytes_ = 0;
  size_t max_buffered_ = 32768;
  std::string partial_;
  std::deque<Sample> unread_;
  // Absolute index of unread_.front(); id = index + id_base_ once known.
  uint64_t unread_first_index_ = 0;
  bool ids_known_ = false;
  uint64_t id_base_ = 0;
  std::deque<Lost> lost_;
  // Timestamp gap detection.
  int64_t nominal_period_ns_ = 0;  // from sysfs sampling_frequency
  bool have_last_t_ = false;
  int64_t last_t_ns_ = 0;
  int64_t interval_sum_ns_ = 0;  // gap-free positive intervals, for an estimate
  uint64_t intervals_ = 0;
};

}  // namespace accel

#endif  // ACCEL_WATCH_AGENT_IIO_RECORDER_H_
