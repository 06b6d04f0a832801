#include "link/endpoint.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <mutex>

namespace accel {
namespace link {

int64_t MonoNowNanos() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int RemainingMs(int64_t deadline) {
  int64_t left = deadline - MonoNowNanos();
  if (left <= 0) return 0;
  int64_t ms = (left + 999999) / 1000000;
  return ms > 1000000000 ? 1000000000 : static_cast<int>(ms);
}

Status WaitFd(int fd, short events, int64_t deadline, const char* what) {
  for (;;) {
    pollfd p{fd, events, 0};
    int ms = RemainingMs(deadline);
    int rc = ::poll(&p, 1, ms);
    if (rc > 0) return Status::OK();  // ready, or an error/hangup the next call will report
    if (rc == 0) {
      if (MonoNowNanos() >= deadline) return Status::Aborted(std::string(what) + " timed out");
      continue;
    }
    if (errno == EINTR) continue;
    return Status::FromErrno(std::string("poll (") + what + ")", errno);
  }
}

void IgnoreSigpipe() {
  static std::once_flag once;
  std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
}

Result<Endpoint> Endpoint::Parse(const std::string& text) {
  Endpoint ep;
  if (text.rfind("unix:", 0) == 0) {
    ep.kind = Kind::kUnix;
    ep.path = text.substr(5);
    if (ep.path.empty()) return Status::InvalidArgument("endpoint '" + text + "': empty path");
    if (ep.path.size() >= sizeof(sockaddr_un{}.sun_path))
      return Status::InvalidArgument("endpoint '" + text + "': socket path longer than " +
                                     std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes");
    return ep;
  }
  if (text.rfind("tcp:", 0) != 0)
    return Status::InvalidArgument("endpoint '" + text +
                                   "': expected tcp:HOST:PORT, tcp:[V6]:PORT or unix:PATH");
  std::string rest = text.substr(4);
  std::string port_str;
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':')
      return Status::InvalidArgument("endpoint '" + text + "': expected tcp:[V6ADDR]:PORT");
    ep.host = rest.substr(1, close - 1);
    port_str = rest.substr(close + 2);
  } else {
    size_t colon = rest.rfind(':');
    if (colon == std::string::npos)
      return Status::InvalidArgument("endpoint '" + text + "': missing :PORT");
    ep.host = rest.substr(0, colon);
    if (ep.host.find(':') != std::string::npos)
      return Status::InvalidArgument("endpoint '" + text +
                                     "': IPv6 addresses need brackets, tcp:[::1]:PORT");
    port_str = rest.substr(colon + 1);
  }
  if (ep.host.empty()) return Status::InvalidArgument("endpoint '" + text + "': empty host");
  if (port_str.empty() || port_str.size() > 5 ||
      port_str.find_first_not_of("0123456789") != std::string::npos)
    return Status::InvalidArgument("endpoint '" + text + "': bad port '" + port_str + "'");
  unsigned long port = std::stoul(port_str);
  if (port > 65535)
    return Status::InvalidArgument("endpoint '" + text + "': port " + port_str + " > 65535");
  ep.port = static_cast<uint16_t>(port);
  return ep;
}

std::string Endpoint::ToString() const {
  if (kind == Kind::kUnix) return "unix:" + path;
  if (host.find(':') != std::string::npos) return "tcp:[" + host + "]:" + std::to_string(port);
  return "tcp:" + host + ":" + std::to_string(port);
}

namespace {

struct AddrList {
  addrinfo* head = nullptr;
  ~AddrList() {
    if (head) freeaddrinfo(head);
  }
};

Status Resolve(const Endpoint& ep, bool passive, AddrList* out) {
  addrinfo hints;
  std::memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  std::string port = std::to_string(ep.port);
  int rc = getaddrinfo(ep.host.c_str(), port.c_str(), &hints, &out->head);
  if (rc != 0) return Status::Unavailable("resolve " + ep.ToString() + ": " + gai_strerror(rc));
  return Status::OK();
}

Status FillUnix(const Endpoint& ep, sockaddr_un* sa) {
  std::memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (ep.path.size() >= sizeof sa->sun_path)
    return Status::InvalidArgument("unix socket path too long: " + ep.path);
  std::memcpy(sa->sun_path, ep.path.data(), ep.path.size());
  return Status::OK();
}

Status ConnectOne(int fd, const sockaddr* sa, socklen_t len, int64_t deadline,
                  const std::string& what) {
  if (::connect(fd, sa, len) == 0) return Status::OK();
  if (errno != EINPROGRESS && errno != EAGAIN)
    return Status::Unavailable("connect " + what + ": " + std::strerror(errno));
  ACCEL_RETURN_IF_ERROR(WaitFd(fd, POLLOUT, deadline, ("connect " + what).c_str()));
  int err = 0;
  socklen_t el = sizeof err;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0) err = errno;
  if (err != 0) return Status::Unavailable("connect " + what + ": " + std::strerror(err));
  return Status::OK();
}

}  // namespace

Result<int> DialEndpoint(const Endpoint& ep, int64_t deadline) {
  const std::string what = ep.ToString();
  if (ep.kind == Endpoint::Kind::kUnix) {
    sockaddr_un sa;
    ACCEL_RETURN_IF_ERROR(FillUnix(ep, &sa));
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return Status::FromErrno("socket", errno);
    Status s = ConnectOne(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa, deadline, what);
    if (!s.ok()) {
      ::close(fd);
      return s;
    }
    return fd;
  }
  AddrList addrs;
  ACCEL_RETURN_IF_ERROR(Resolve(ep, false, &addrs));
  Status last = Status::Unavailable("connect " + what + ": no address");
  for (addrinfo* ai = addrs.head; ai != nullptr; ai = ai->ai_next) {
    int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = Status::FromErrno("socket", errno);
      continue;
    }
    last = ConnectOne(fd, ai->ai_addr, ai->ai_addrlen, deadline, what);
    if (last.ok()) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return fd;
    }
    ::close(fd);
    if (last.IsAborted()) break;  // deadline spent
  }
  return last;
}

Result<int> ListenEndpoint(const Endpoint& ep, int backlog, Endpoint* bound) {
  *bound = ep;
  if (ep.kind == Endpoint::Kind::kUnix) {
    sockaddr_un sa;
    ACCEL_RETURN_IF_ERROR(FillUnix(ep, &sa));
    struct stat st;
    if (::lstat(ep.path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode))
        return Status::InvalidArgument("listen " + ep.ToString() +
                                       ": path exists and is not a socket");
      ::unlink(ep.path.c_str());  // stale socket of a killed predecessor
    }
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return Status::FromErrno("socket", errno);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
        ::listen(fd, backlog) != 0) {
      Status s = Status::FromErrno("listen " + ep.ToString(), errno);
      ::close(fd);
      return s;
    }
    return fd;
  }
  AddrList addrs;
  ACCEL_RETURN_IF_ERROR(Resolve(ep, true, &addrs));
  Status last = Status::IOError("listen " + ep.ToString() + ": no address");
  for (addrinfo* ai = addrs.head; ai != nullptr; ai = ai->ai_next) {
    int fd =
        ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last = Status::FromErrno("socket", errno);
      continue;
    }
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, backlog) != 0) {
      last = Status::FromErrno("listen " + ep.ToString(), errno);
      ::close(fd);
      continue;
    }
    sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl) == 0) {
      char buf[INET6_ADDRSTRLEN] = {0};
      if (ss.ss_family == AF_INET) {
        auto* in = reinterpret_cast<sockaddr_in*>(&ss);
        inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
        bound->port = ntohs(in->sin_port);
      } else if (ss.ss_family == AF_INET6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&ss);
        inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
        bound->port = ntohs(in6->sin6_port);
      }
      if (buf[0] != 0) bound->host = buf;
    }
    return fd;
  }
  return last;
}

}  // namespace link
}  // namespace accel
