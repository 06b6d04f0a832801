// RetryPolicy: when and how long to wait before trying a failed request again.
//
// Exponential backoff with FULL jitter (the delay before retry k is uniform in
// [0, min(max_delay, base * 2^(k-1))]), which spreads retrying clients apart
// instead of making them collide again; throttling uses a larger base than
// other transient errors. A retry budget (a token bucket, as in the AWS SDKs'
// "standard" mode) bounds how many retries a client makes while the service
// keeps failing: each retry spends tokens, each success refunds some. With
// the bucket empty, errors are returned at once instead of piling up retries.
//
// Seeded: the same seed gives the same delays (tests reproduce them).
// Not thread-safe; one per client.
#ifndef ACCEL_PHONE_RELAY_RETRY_POLICY_H_
#define ACCEL_PHONE_RELAY_RETRY_POLICY_H_

#include <cstdint>
#include <random>

namespace accel {
namespace relay {

struct RetryOptions {
  int max_attempts = 8;                  // per request, first attempt included
  int64_t base_delay_ms = 25;            // 5xx, network errors
  int64_t throttle_base_delay_ms = 100;  // throttling errors
  int64_t max_delay_ms = 20000;
  int budget_capacity = 500;    // tokens
  int retry_cost = 5;           // tokens per retry
  int timeout_retry_cost = 10;  // tokens per retry after a timeout / network error
  int success_refund = 1;       // tokens back per success on the first attempt
  uint64_t seed = 0;            // 0: drawn from std::random_device
};

class RetryPolicy {
 public:
  explicit RetryPolicy(const RetryOptions& options);

  // The upper bound of the delay after `failed_attempts` (>= 1) failures.
  int64_t BackoffCapMs(int failed_attempts, bool throttled) const;
  // A fresh draw in [0, BackoffCapMs(...)].
  int64_t BackoffMs(int failed_attempts, bool throttled);

  // Takes the tokens for one retry; false when the budget is spent.
  bool AcquireRetry(bool after_timeout);
  // A request succeeded: refunds the retry cost if it had been retried (the
  // retry paid off), else success_refund; never above capacity.
  void OnSuccess(bool was_retried, bool after_timeout);

  int tokens() const { return tokens_; }
  uint64_t seed() const { return seed_; }
  const RetryOptions& options() const { return options_; }

 private:
  RetryOptions options_;
  uint64_t seed_;
  std::mt19937_64 rng_;
  int tokens_;
};

}  // namespace relay
}  // namespace accel

#endif  // ACCEL_PHONE_RELAY_RETRY_POLICY_H_
