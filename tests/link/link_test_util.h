// Shared fixtures for the link tests: a temporary directory, an in-memory
// sink that dedupes like the relay must, log capture, and a TCP relay that
// can flip a byte or cut the stream (the "network" between watch and relay).
#ifndef ACCEL_TESTS_LINK_LINK_TEST_UTIL_H_
#define ACCEL_TESTS_LINK_LINK_TEST_UTIL_H_

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/log.h"
#include "link/endpoint.h"
#include "link/server.h"

namespace accel {
namespace link {
namespace testing {

inline std::string MakeTempDir(const char* prefix) {
  std::string t = std::string("/tmp/") + prefix + ".XXXXXX";
  std::vector<char> buf(t.begin(), t.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) std::abort();
  return buf.data();
}
inline void RemoveTree(const std::string& dir) { std::system(("rm -rf '" + dir + "'").c_str()); }

inline std::string RandomBytes(std::mt19937_64* rng, size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>((*rng)() & 0xff);
  return s;
}

// Records committed batches; (device, seq) dedupe like the relay's.
class MemorySink : public BatchSink {
 public:
  TransferResult Commit(const std::string& device, uint64_t seq, std::string_view bytes) override {
    if (commit_delay_ms > 0)  // models a slow disk / big transaction, not synchronisation
      std::this_thread::sleep_for(std::chrono::milliseconds(commit_delay_ms));
    std::lock_guard<std::mutex> l(mu_);
    ++commit_calls_;
    auto key = std::make_pair(device, seq);
    auto it = batches_.find(key);
    TransferResult r;
    if (it == batches_.end()) {
      batches_[key] = std::string(bytes);
      r.outcome = Outcome::kCommitted;
    } else if (it->second == bytes) {
      r.outcome = Outcome::kDuplicate;
    } else {
      r.outcome = Outcome::kRejected;
      r.reason = "sequence reused with different content";
      ++rejections_;
    }
    cv_.notify_all();
    return r;
  }
  std::optional<TransferResult> PreCheck(const std::string& device, uint64_t seq,
                                         uint64_t size) override {
    if (refuse_full) return TransferResult{Outcome::kRefusedFull, "storage full"};
    return std::nullopt;
  }
  size_t size() {
    std::lock_guard<std::mutex> l(mu_);
    return batches_.size();
  }
  int commit_calls() {
    std::lock_guard<std::mutex> l(mu_);
    return commit_calls_;
  }
  std::optional<std::string> Get(const std::string& device, uint64_t seq) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = batches_.find({device, seq});
    if (it == batches_.end()) return std::nullopt;
    return it->second;
  }
  // Every committed batch of `device`, by sequence.
  std::map<uint64_t, std::string> Batches(const std::string& device) {
    std::lock_guard<std::mutex> l(mu_);
    std::map<uint64_t, std::string> out;
    for (const auto& [key, bytes] : batches_)
      if (key.first == device) out[key.second] = bytes;
    return out;
  }
  // How many offers were answered "rejected" (a sequence reused with other content).
  int rejections() {
    std::lock_guard<std::mutex> l(mu_);
    return rejections_;
  }
  std::atomic<int> commit_delay_ms{0};
  std::atomic<bool> refuse_full{false};

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int commit_calls_ = 0;
  int rejections_ = 0;
  std::map<std::pair<std::string, uint64_t>, std::string> batches_;
};

// Captures log lines for the lifetime of the object.
class LogCapture {
 public:
  LogCapture() {
    SetLogSink([this](const std::string& line) {
      std::lock_guard<std::mutex> l(mu_);
      lines_.push_back(line);
      cv_.notify_all();
    });
  }
  ~LogCapture() { SetLogSink(nullptr); }
  // Waits (bounded) for a line containing every one of `parts`; the server logs
  // from its own threads, so the line may land just after the peer saw the close.
  bool WaitFor(const std::vector<std::string>& parts, int timeout_ms = 10000) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::milliseconds(timeout_ms),
                        [&] { return FindLocked(parts); });
  }
  bool Contains(const std::vector<std::string>& parts) {
    std::lock_guard<std::mutex> l(mu_);
    return FindLocked(parts);
  }
  std::string All() {
    std::lock_guard<std::mutex> l(mu_);
    std::string s;
    for (auto& x : lines_) s += x;
    return s;
  }

 private:
  bool FindLocked(const std::vector<std::string>& parts) {
    for (const auto& line : lines_) {
      bool all = true;
      for (const auto& p : parts) all = all && line.find(p) != std::string::npos;
      if (all) return true;
    }
    return false;
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
};

// A loopback TCP relay between a client and `upstream`. For each connection it
// forwards both directions; optionally XORs one byte of the client->server
// stream at `flip_at`, or closes both sides once `cut_after` client->server
// bytes went through.
class TcpRelay {
 public:
  explicit TcpRelay(const Endpoint& upstream) : upstream_(upstream) {
    Endpoint bound;
    Result<int> fd = ListenEndpoint(*Endpoint::Parse("tcp:127.0.0.1:0"), 16, &bound);
    if (!fd.ok()) std::abort();
    listen_fd_ = *fd;
    endpoint_ = bound.ToString();
    if (::pipe(stop_) != 0) std::abort();
    thread_ = std::thread([this] { Loop(); });
  }
  ~TcpRelay() {
    char x = 's';
    if (::write(stop_[1], &x, 1) != 1) std::abort();
    thread_.join();
    ::close(listen_fd_);
    ::close(stop_[0]);
    ::close(stop_[1]);
  }
  const std::string& endpoint() const { return endpoint_; }
  std::atomic<int64_t> flip_at{-1};
  std::atomic<int64_t> cut_after{-1};
  std::atomic<int64_t> forwarded_up{0};  // of the current/last connection

 private:
  void Loop() {
    for (;;) {
      pollfd p[2] = {{listen_fd_, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(p, 2, -1) < 0) continue;
      if (p[1].revents) return;
      int c = ::accept(listen_fd_, nullptr, nullptr);
      if (c < 0) continue;
      Result<int> u = DialEndpoint(upstream_, DeadlineAfterMs(5000));
      if (!u.ok()) {
        ::close(c);
        continue;
      }
      if (!Pump(c, *u)) return;
    }
  }
  static bool WriteAll(int fd, const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
      if (w < 0 && errno == EAGAIN) {
        pollfd pf{fd, POLLOUT, 0};
        ::poll(&pf, 1, 1000);
        continue;
      }
      if (w <= 0) return false;
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }
  // Returns false when asked to stop.
  bool Pump(int c, int u) {
    forwarded_up = 0;
    char buf[16384];
    bool stop = false;
    for (;;) {
      pollfd p[3] = {{c, POLLIN, 0}, {u, POLLIN, 0}, {stop_[0], POLLIN, 0}};
      if (::poll(p, 3, -1) < 0) continue;
      if (p[2].revents) {
        stop = true;
        break;
      }
      if (p[0].revents) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n <= 0) break;
        int64_t start = forwarded_up;
        int64_t cut = cut_after;
        if (cut >= 0 && start + n >= cut) n = static_cast<ssize_t>(cut - start);
        int64_t f = flip_at;
        if (f >= start && f < start + n) buf[f - start] ^= 0x01;
        if (n > 0 && !WriteAll(u, buf, static_cast<size_t>(n))) break;
        forwarded_up += n;
        if (cut >= 0 && forwarded_up >= cut) break;
      }
      if (p[1].revents) {
        ssize_t n = ::read(u, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n <= 0 || !WriteAll(c, buf, static_cast<size_t>(n))) break;
      }
    }
    ::close(c);
    ::close(u);
    return !stop;
  }
  Endpoint upstream_;
  int listen_fd_ = -1;
  int stop_[2] = {-1, -1};
  std::string endpoint_;
  std::thread thread_;
};

}  // namespace testing
}  // namespace link
}  // namespace accel

#endif  // ACCEL_TESTS_LINK_LINK_TEST_UTIL_H_
