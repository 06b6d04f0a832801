// Status: the outcome of an operation that can fail for expected reasons
// (bad input, I/O errors, a peer going away). Bugs throw or abort; everything
// a user or the environment can cause comes back as a Status with a message
// precise enough to act on (file, offset, field).
#ifndef ACCEL_COMMON_STATUS_H_
#define ACCEL_COMMON_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace accel {

class Status {
 public:
  enum class Code {
    kOk = 0,
    kNotFound,
    kCorruption,       // data failed validation (checksum, framing, format)
    kInvalidArgument,  // caller or user supplied something malformed
    kIOError,          // the OS refused (ENOSPC, EIO, permissions)
    kUnavailable,      // a peer or service is not reachable right now; retry later
    kResourceExhausted,// a bound was hit (outbox full, budget used); push back upstream
    kPermissionDenied, // authentication or authorization failed
    kAborted,          // the operation was cancelled (shutdown, timeout)
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status InvalidArgument(std::string msg) {
    return Status(Code::kInvalidArgument, std::move(msg));
  }
  static Status IOError(std::string msg) { return Status(Code::kIOError, std::move(msg)); }
  static Status Unavailable(std::string msg) { return Status(Code::kUnavailable, std::move(msg)); }
  static Status ResourceExhausted(std::string msg) {
    return Status(Code::kResourceExhausted, std::move(msg));
  }
  static Status PermissionDenied(std::string msg) {
    return Status(Code::kPermissionDenied, std::move(msg));
  }
  static Status Aborted(std::string msg) { return Status(Code::kAborted, std::move(msg)); }
  // errno-based I/O error: "<context>: <strerror(err)>".
  static Status FromErrno(const std::string& context, int err);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return msg_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsIOError() const { return code_ == Code::kIOError; }
  bool IsUnavailable() const { return code_ == Code::kUnavailable; }
  bool IsResourceExhausted() const { return code_ == Code::kResourceExhausted; }
  bool IsPermissionDenied() const { return code_ == Code::kPermissionDenied; }
  bool IsAborted() const { return code_ == Code::kAborted; }

  // "Corruption: batch.bin: offset 12: bad magic".
  std::string ToString() const;
  // Prefixes the message with more context, keeping the code.
  Status WithContext(const std::string& context) const;

 private:
  Status(Code code, std::string msg) : code_(code), msg_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string msg_;
};

// Result<T>: a T or the Status saying why there is none.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "Result built from an OK status without a value");
  }
  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace accel

#define ACCEL_RETURN_IF_ERROR(expr)            \
  do {                                         \
    ::accel::Status _st = (expr);              \
    if (!_st.ok()) return _st;                 \
  } while (0)

#endif  // ACCEL_COMMON_STATUS_H_
