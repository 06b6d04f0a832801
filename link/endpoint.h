// Endpoint: where a link listens or connects, as a string both daemons put in
// their config: "tcp:127.0.0.1:7000", "tcp:[::1]:7000", "tcp:localhost:0",
// "unix:/run/accel/link.sock". Port 0 asks the kernel for a free port.
#ifndef ACCEL_LINK_ENDPOINT_H_
#define ACCEL_LINK_ENDPOINT_H_

#include <cstdint>
#include <string>

#include "common/status.h"

namespace accel {
namespace link {

struct Endpoint {
  enum class Kind { kTcp, kUnix };
  Kind kind = Kind::kTcp;
  std::string host;   // tcp: literal address or name, without brackets
  uint16_t port = 0;  // tcp
  std::string path;   // unix

  static Result<Endpoint> Parse(const std::string& text);
  // Back to the string form ("tcp:[::1]:7000" for IPv6 literals).
  std::string ToString() const;
};

// Absolute CLOCK_MONOTONIC deadline helpers (nanoseconds).
int64_t MonoNowNanos();
inline int64_t DeadlineAfterMs(int64_t ms) { return MonoNowNanos() + ms * 1000000; }
// Milliseconds left until `deadline`, for poll(2): >= 0, rounded up.
int RemainingMs(int64_t deadline);

// Waits until `fd` is ready for `events` (POLLIN/POLLOUT) or the deadline
// passes. Returns Aborted("<what> timed out ...") on timeout.
Status WaitFd(int fd, short events, int64_t deadline, const char* what);

// A non-blocking, close-on-exec socket connected to `ep` before `deadline`.
Result<int> DialEndpoint(const Endpoint& ep, int64_t deadline);
// A non-blocking listening socket. A stale unix socket file at the path is
// replaced (the previous owner was killed); any other existing file is an error.
// `*bound` receives the actual address (the kernel's port when port was 0).
Result<int> ListenEndpoint(const Endpoint& ep, int backlog, Endpoint* bound);

// Ignores SIGPIPE for the process (once): a peer closing mid-write must come
// back as an error from write(2), never kill the daemon.
void IgnoreSigpipe();

}  // namespace link
}  // namespace accel

#endif  // ACCEL_LINK_ENDPOINT_H_
