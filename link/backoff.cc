#include "link/backoff.h"

namespace accel {
namespace link {

int64_t Backoff::CeilingMs() const {
  int64_t c = initial_ms_;
  for (int i = 0; i < attempt_ && c < max_ms_; ++i) c *= 2;  // no overflow: stops at max
  return c < max_ms_ ? c : max_ms_;
}

int64_t Backoff::DrawMs(int attempt) {
  int64_t c = initial_ms_;
  for (int i = 1; i < attempt && c < max_ms_; ++i) c *= 2;
  std::uniform_int_distribution<int64_t> d(0, c < max_ms_ ? c : max_ms_);
  return d(rng_);
}

int64_t Backoff::NextDelayMs() {
  int64_t ceiling = CeilingMs();
  if (attempt_ < 62) ++attempt_;
  std::uniform_int_distribution<int64_t> d(0, ceiling);
  return d(rng_);
}

}  // namespace link
}  // namespace accel
