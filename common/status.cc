#include "common/status.h"

#include <cstring>

namespace accel {

namespace {
const char* CodeName(Status::Code c) {
  switch (c) {
    case Status::Code::kOk: return "OK";
    case Status::Code::kNotFound: return "NotFound";
    case Status::Code::kCorruption: return "Corruption";
    case Status::Code::kInvalidArgument: return "InvalidArgument";
    case Status::Code::kIOError: return "IOError";
    case Status::Code::kUnavailable: return "Unavailable";
    case Status::Code::kResourceExhausted: return "ResourceExhausted";
    case Status::Code::kPermissionDenied: return "PermissionDenied";
    case Status::Code::kAborted: return "Aborted";
  }
  return "Unknown";
}
}  // namespace

Status Status::FromErrno(const std::string& context, int err) {
  return IOError(context + ": " + std::strerror(err));
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return std::string(CodeName(code_)) + ": " + msg_;
}

Status Status::WithContext(const std::string& context) const {
  if (ok()) return *this;
  return Status(code_, context + ": " + msg_);
}

}  // namespace accel
