// Backoff: reconnect delays, exponential with "full jitter" (AWS Architecture
// Blog, "Exponential Backoff And Jitter"): the n-th delay is uniform in
// [0, min(max, initial * 2^n)], so a fleet of watches coming back after an
// outage does not reconnect in lock step. The RNG is seeded by the caller.
#ifndef ACCEL_LINK_BACKOFF_H_
#define ACCEL_LINK_BACKOFF_H_

#include <cstdint>
#include <random>

namespace accel {
namespace link {

class Backoff {
 public:
  Backoff(int64_t initial_ms, int64_t max_ms, uint64_t seed)
      : initial_ms_(initial_ms < 1 ? 1 : initial_ms),
        max_ms_(max_ms < initial_ms_ ? initial_ms_ : max_ms),
        rng_(seed) {}

  // The delay before the next attempt; grows the ceiling for the one after.
  int64_t NextDelayMs();
  // The current ceiling (what NextDelayMs draws below).
  int64_t CeilingMs() const;
  // A delay for the attempt-th retry (1-based) of something with its own
  // count (e.g. one file), drawn from this object's RNG without changing its
  // attempt count: uniform in [0, min(max, initial * 2^(attempt-1))].
  int64_t DrawMs(int attempt);
  // After a success: start again from `initial_ms`.
  void Reset() { attempt_ = 0; }
  int attempt() const { return attempt_; }

 private:
  int64_t initial_ms_;
  int64_t max_ms_;
  int attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace link
}  // namespace accel

#endif  // ACCEL_LINK_BACKOFF_H_
