#include "watch-agent/iio_recorder.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "common/env.h"

namespace accel {

namespace {

constexpr double kStandardGravity = 9.80665;

Status ReadSysfs(const std::string& path, std::string* out) {
  ACCEL_RETURN_IF_ERROR(Env::Default()->ReadFile(path, out, 4096));
  while (!out->empty() && (out->back() == '\n' || out->back() == ' ')) out->pop_back();
  return Status::OK();
}

Status WriteSysfs(const std::string& path, const std::string& value) {
  int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);  // like `echo 1 > attr`
  if (fd < 0) return Status::FromErrno("open " + path, errno);
  ssize_t n = ::write(fd, value.data(), value.size());
  int err = errno;
  ::close(fd);
  if (n != static_cast<ssize_t>(value.size())) return Status::FromErrno("write " + path, err);
  return Status::OK();
}

Status ReadNumber(const std::string& path, double* out) {
  std::string s;
  ACCEL_RETURN_IF_ERROR(ReadSysfs(path, &s));
  char* end = nullptr;
  *out = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size())
    return Status::Corruption(path + ": expected a number, got '" + s + "'");
  return Status::OK();
}

// The per-axis attribute if present, else the shared one, else `fallback`.
Status ReadChannelAttr(const std::string& dir, char axis, const char* attr, double fallback,
                       double* out) {
  std::string own = dir + "/in_accel_" + axis + "_" + attr;
  std::string shared = dir + "/in_accel_" + attr;
  Env* env = Env::Default();
  if (env->FileExists(own)) return ReadNumber(own, out);
  if (env->FileExists(shared)) return ReadNumber(shared, out);
  *out = fallback;
  return Status::OK();
}

}  // namespace

Status IioChannelFormat::Parse(const std::string& text, IioChannelFormat* out) {
  // [be|le]:[s|u]bits/storagebits[Xrepeat]>>shift
  IioChannelFormat f;
  char endian[3] = {0}, sign = 0;
  int bits = 0, storage = 0, shift = 0;
  if (std::sscanf(text.c_str(), "%2[bl]e:%c%d/%d>>%d", endian, &sign, &bits, &storage, &shift) !=
          5 ||
      (sign != 's' && sign != 'u') || bits <= 0 || bits > 64 || storage <= 0 || storage > 64 ||
      storage % 8 != 0 || bits + shift > storage || text.find('X') != std::string::npos)
    return Status::Corruption("scan element type '" + text +
                              "': expected [be|le]:[s|u]bits/storagebits>>shift");
  f.big_endian = endian[0] == 'b';
  f.is_signed = sign == 's';
  f.bits = bits;
  f.storage_bits = storage;
  f.shift = shift;
  *out = f;
  return Status::OK();
}

int64_t IioChannelFormat::Extract(const uint8_t* p) const {
  int bytes = storage_bits / 8;
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    int b = big_endian ? i : bytes - 1 - i;
    v = (v << 8) | p[b];
  }
  v >>= shift;
  if (bits < 64) {
    uint64_t mask = (uint64_t{1} << bits) - 1;
    v &= mask;
    if (is_signed && (v >> (bits - 1)) & 1) v |= ~mask;  // sign-extend
  }
  return static_cast<int64_t>(v);
}

Result<std::unique_ptr<IioRecorder>> IioRecorder::Open(const IioOptions& options) {
  Env* env = Env::Default();
  std::string name = options.device;
  if (name.empty()) {
    std::vector<std::string> children;
    Status s = env->GetChildren(options.sysfs_root, &children);
    if (!s.ok()) return s.WithContext("IIO discovery");
    std::sort(children.begin(), children.end());
    for (const std::string& c : children) {
      if (c.rfind("iio:device", 0) != 0) continue;
      if (env->FileExists(JoinPath(options.sysfs_root, c + "/scan_elements/in_accel_x_en"))) {
        name = c;
        break;
      }
    }
    if (name.empty())
      return Status::NotFound("no IIO device with accelerometer scan elements under " +
                              options.sysfs_root);
  }
  std::unique_ptr<IioRecorder> r(new IioRecorder());
  r->device_dir_ = JoinPath(options.sysfs_root, name);
  r->dev_path_ = JoinPath(options.dev_dir, name);
  const std::string scan = r->device_dir_ + "/scan_elements";
  std::string buffer_dir = r->device_dir_ + "/buffer";
  if (!env->FileExists(buffer_dir + "/enable") &&
      env->FileExists(r->device_dir_ + "/buffer0/enable"))
    buffer_dir = r->device_dir_ + "/buffer0";

  // The buffer must be off while scan elements change.
  ACCEL_RETURN_IF_ERROR(WriteSysfs(buffer_dir + "/enable", "0"));
  // Only our four channels: disable anything else the device offers.
  std::vector<std::string> elems;
  ACCEL_RETURN_IF_ERROR(env->GetChildren(scan, &elems));
  const char* wanted[4] = {"in_accel_x", "in_accel_y", "in_accel_z", "in_timestamp"};
  for (const std::string& e : elems) {
    if (e.size() < 3 || e.compare(e.size() - 3, 3, "_en") != 0) continue;
    std::string base = e.substr(0, e.size() - 3);
    bool ours = std::find(std::begin(wanted), std::end(wanted), base) != std::end(wanted);
    ACCEL_RETURN_IF_ERROR(WriteSysfs(scan + "/" + e, ours ? "1" : "0"));
  }
  for (int c = 0; c < 4; ++c) {
    std::string type, index;
    std::string base = scan + "/" + wanted[c];
    Status s = ReadSysfs(base + "_type", &type);
    if (s.ok()) s = IioChannelFormat::Parse(type, &r->ch_[c]).WithContext(base + "_type");
    if (s.ok()) s = ReadSysfs(base + "_index", &index);
    if (!s.ok()) return s;
    r->ch_[c].index = std::atoi(index.c_str());
  }
  // Scan layout: enabled elements in index order, each aligned to its own
  // storage size; the scan is padded to the largest alignment.
  int order[4] = {0, 1, 2, 3};
  std::sort(order, order + 4, [&](int a, int b) { return r->ch_[a].index < r->ch_[b].index; });
  size_t off = 0, max_align = 1;
  for (int c : order) {
    size_t sz = static_cast<size_t>(r->ch_[c].storage_bits / 8);
    off = (off + sz - 1) / sz * sz;
    r->offset_[c] = off;
    off += sz;
    max_align = std::max(max_align, sz);
  }
  r->scan_bytes_ = (off + max_align - 1) / max_align * max_align;
  const char axes[3] = {'x', 'y', 'z'};
  for (int a = 0; a < 3; ++a) {
    ACCEL_RETURN_IF_ERROR(ReadChannelAttr(r->device_dir_, axes[a], "scale", 1.0, &r->scale_[a]));
    ACCEL_RETURN_IF_ERROR(ReadChannelAttr(r->device_dir_, axes[a], "offset", 0.0, &r->bias_[a]));
  }
  // The sampling period, if the driver exposes it, makes gap detection exact
  // from the first scan; otherwise it is estimated from the timestamps.
  for (const char* attr : {"/in_accel_sampling_frequency", "/sampling_frequency"}) {
    double hz = 0;
    if (env->FileExists(r->device_dir_ + attr) && ReadNumber(r->device_dir_ + attr, &hz).ok() &&
        hz > 0) {
      r->nominal_period_ns_ = static_cast<int64_t>(1e9 / hz + 0.5);
      break;
    }
  }
  if (options.max_buffered_scans == 0)
    return Status::InvalidArgument("iio: max_buffered_scans must be > 0");
  r->max_buffered_ = options.max_buffered_scans;
  ACCEL_RETURN_IF_ERROR(WriteSysfs(buffer_dir + "/length", std::to_string(options.buffer_length)));
  ACCEL_RETURN_IF_ERROR(WriteSysfs(buffer_dir + "/enable", "1"));
  r->fd_ = ::open(r->dev_path_.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (r->fd_ < 0) return Status::FromErrno("open " + r->dev_path_, errno);
  return r;
}

IioRecorder::~IioRecorder() {
  if (fd_ >= 0) ::close(fd_);
}

Status IioRecorder::ReadAvailable() {
  char buf[16384];
  // Stop reading once our own buffer is full: the rest waits in the kernel's
  // ring (and, when that overflows, shows up as a timestamp gap).
  while (unread_.size() < max_buffered_) {
    size_t want = std::min(sizeof buf / scan_bytes_, max_buffered_ - unread_.size()) * scan_bytes_;
    ssize_t n = ::read(fd_, buf, want);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return Status::FromErrno("read " + dev_path_, errno);
    }
    if (n == 0) break;
    partial_.append(buf, static_cast<size_t>(n));
    size_t pos = 0;
    while (partial_.size() - pos >= scan_bytes_) {
      const uint8_t* scan = reinterpret_cast<const uint8_t*>(partial_.data() + pos);
      Sample s;
      double* v[3] = {&s.x, &s.y, &s.z};
      for (int a = 0; a < 3; ++a) {
        double raw = static_cast<double>(ch_[a].Extract(scan + offset_[a]));
        *v[a] = (raw + bias_[a]) * scale_[a] / kStandardGravity;
      }
      s.t_ns = ch_[3].Extract(scan + offset_[3]);
      NoteTimestamp(s.t_ns);
      unread_.push_back(s);
      pos += scan_bytes_;
    }
    partial_.erase(0, pos);
  }
  return Status::OK();
}

int64_t IioRecorder::period_ns() const {
  if (nominal_period_ns_ > 0) return nominal_period_ns_;
  if (intervals_ < 3) return 0;
  // The mean of the gap-free intervals: timer jitter averages out (within a
  // gap-free run the sum is just last minus first timestamp).
  return interval_sum_ns_ / static_cast<int64_t>(intervals_);
}

void IioRecorder::NoteTimestamp(int64_t t_ns) {
  if (have_last_t_) {
    int64_t dt = t_ns - last_t_ns_;
    int64_t p = period_ns();
    if (dt > 0 && p > 0 && dt >= p + p / 2) {
      // A jump of k periods means about k-1 scans the kernel dropped (its
      // ring was full) before this one.
      int64_t missing = (dt + p / 2) / p - 1;
      uint64_t before = unread_first_index_ + unread_.size();  // this scan's index
      if (missing > 0)
        lost_.push_back(Lost{before, static_cast<uint64_t>(missing), last_t_ns_ + p, t_ns});
    } else if (dt > 0) {
      interval_sum_ns_ += dt;
      ++intervals_;
    }
  }
  have_last_t_ = true;
  last_t_ns_ = t_ns;
}

Status IioRecorder::Poll() { return ReadAvailable(); }

Status IioRecorder::Fetch(uint64_t cursor, size_t max, FetchResult* out) {
  *out = FetchResult();
  ACCEL_RETURN_IF_ERROR(ReadAvailable());
  // Ids are modular: id = absolute index + id_base_ (unsigned wrap-around is
  // intended), so renumbering is a matter of choosing id_base_.
  auto renumber = [&] { id_base_ = cursor + 1 - unread_first_index_; };
  if (!ids_known_) {
    // First fetch of this process: what waits in the FIFO is newer than
    // anything the agent committed before (see the header).
    renumber();
    ids_known_ = true;
  }
  uint64_t first_id = unread_first_index_ + id_base_;
  if (cursor + 1 < first_id) {
    renumber();  // the agent went back: the FIFO has no history to give it
    first_id = cursor + 1;
  }
  while (first_id <= cursor && !unread_.empty()) {  // fetched before and now durable
    unread_.pop_front();
    ++unread_first_index_;
    ++first_id;
  }
  if (first_id <= cursor) {
    renumber();
    first_id = cursor + 1;
  }
  out->first_id = first_id;
  size_t n = std::min(max, unread_.size());
  out->samples.assign(unread_.begin(), unread_.begin() + static_cast<std::ptrdiff_t>(n));
  // Report each run of dropped scans once, with the first samples after it.
  while (!lost_.empty() && lost_.front().before < unread_first_index_ + n) {
    const Lost& l = lost_.front();
    if (l.before >= unread_first_index_) {
      if (out->lost_samples == 0) out->lost_from_ns = l.from_ns;
      out->lost_samples += l.count;
      out->lost_to_ns = l.to_ns;
    }
    lost_.pop_front();
  }
  return Status::OK();
}

std::string IioRecorder::Describe() const {
  return "iio " + device_dir_ + " (" + std::to_string(scan_bytes_) + "-byte scans)";
}

}  // namespace accel
