#include "common/sample.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace accel {

Result<Resolution> Resolution::FromStep(double step_g) {
  char buf[256];
  if (!(step_g > 0.0) || !(step_g <= 1.0) || !std::isfinite(step_g)) {
    std::snprintf(buf, sizeof buf, "resolution must be in (0, 1] g, got %.17g", step_g);
    return Status::InvalidArgument(buf);
  }
  if (step_g < kMinStepG) {
    // Counts are stored within +-kMaxCount; a finer step could not hold the
    // +-32 g the format promises, and values beyond it must never be clamped.
    std::snprintf(buf, sizeof buf,
                  "resolution %.6g g is finer than the finest supported step %.9g g "
                  "(32 g / %d counts): counts are limited to +-%d, which must hold +-32 g",
                  step_g, kMinStepG, kMaxCount, kMaxCount);
    return Status::InvalidArgument(buf);
  }
  return Resolution(step_g);
}

Result<Resolution> Resolution::Parse(const std::string& text) {
  auto parse_double = [](const std::string& s, double* out) {
    if (s.empty()) return false;
    errno = 0;
    char* end = nullptr;
    *out = std::strtod(s.c_str(), &end);
    return errno == 0 && end == s.c_str() + s.size();
  };
  size_t slash = text.find('/');
  double value = 0;
  if (slash != std::string::npos) {
    double num = 0, den = 0;
    if (!parse_double(text.substr(0, slash), &num) || !parse_double(text.substr(slash + 1), &den) ||
        den == 0)
      return Status::InvalidArgument("resolution '" + text + "': expected a number or N/D");
    value = num / den;
  } else if (!parse_double(text, &value)) {
    return Status::InvalidArgument("resolution '" + text + "': expected a number or N/D");
  }
  return FromStep(value);
}

Status Resolution::Quantise(double g, int32_t* count) const {
  double c = std::round(g / step_);
  if (!std::isfinite(c) || std::fabs(c) > kMaxCount) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "value %.17g g is outside the +-%.6g g this resolution holds", g,
                  MaxAbsG());
    return Status::InvalidArgument(buf);
  }
  *count = static_cast<int32_t>(c);
  return Status::OK();
}

Status Resolution::Quantise(const Sample& s, QSample* q) const {
  q->t_ns = s.t_ns;
  ACCEL_RETURN_IF_ERROR(Quantise(s.x, &q->x).WithContext("x"));
  ACCEL_RETURN_IF_ERROR(Quantise(s.y, &q->y).WithContext("y"));
  return Quantise(s.z, &q->z).WithContext("z");
}

}  // namespace accel
