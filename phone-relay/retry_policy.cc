#include "phone-relay/retry_policy.h"

#include <algorithm>

namespace accel {
namespace relay {

namespace {
uint64_t PickSeed(uint64_t seed) {
  if (seed != 0) return seed;
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ 1;
}
}  // namespace

RetryPolicy::RetryPolicy(const RetryOptions& options)
    : options_(options),
      seed_(PickSeed(options.seed)),
      rng_(seed_),
      tokens_(options.budget_capacity) {}

int64_t RetryPolicy::BackoffCapMs(int failed_attempts, bool throttled) const {
  int64_t base = throttled ? options_.throttle_base_delay_ms : options_.base_delay_ms;
  int shift = std::clamp(failed_attempts - 1, 0, 30);
  int64_t cap = base << shift;
  if (cap < 0 || cap > options_.max_delay_ms) cap = options_.max_delay_ms;
  return cap;
}

int64_t RetryPolicy::BackoffMs(int failed_attempts, bool throttled) {
  int64_t cap = BackoffCapMs(failed_attempts, throttled);
  if (cap <= 0) return 0;
  std::uniform_int_distribution<int64_t> dist(0, cap);
  return dist(rng_);
}

bool RetryPolicy::AcquireRetry(bool after_timeout) {
  int cost = after_timeout ? options_.timeout_retry_cost : options_.retry_cost;
  if (tokens_ < cost) return false;
  tokens_ -= cost;
  return true;
}

void RetryPolicy::OnSuccess(bool was_retried, bool after_timeout) {
  int refund = was_retried ? (after_timeout ? options_.timeout_retry_cost : options_.retry_cost)
                           : options_.success_refund;
  tokens_ = std::min(options_.budget_capacity, tokens_ + refund);
}

}  // namespace relay
}  // namespace accel
