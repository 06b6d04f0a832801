// sigv4::Status: why a request could not be signed. The library is a leaf (it depends on OpenSSL
// only), so it carries its own tiny error type instead of accel::Status. Every failure is bad input
// from the caller (missing host, malformed URL, bad time, empty secret, ...): the message names the
// field and, where it helps, the byte offset. The signer never produces a signature for input it
// rejected.
#ifndef ACCEL_SIGV4_STATUS_H_
#define ACCEL_SIGV4_STATUS_H_

#include <string>
#include <utility>

namespace accel::sigv4 {

class Status {
 public:
  Status() = default;
  static Status OK() { return Status(); }
  static Status InvalidArgument(std::string msg) { return Status(std::move(msg)); }

  bool ok() const { return !failed_; }
  // Empty when ok().
  const std::string& message() const { return msg_; }
  // "OK" or "sigv4: <message>".
  std::string ToString() const { return failed_ ? "sigv4: " + msg_ : "OK"; }

 private:
  explicit Status(std::string msg) : failed_(true), msg_(std::move(msg)) {}
  bool failed_ = false;
  std::string msg_;
};

}  // namespace accel::sigv4

#endif  // ACCEL_SIGV4_STATUS_H_
