// ClockSkew: how far this machine's wall clock is from the service's, so that
// requests are signed with the service's idea of "now".
//
// DynamoDB rejects signatures more than 5 minutes off ("Signature expired" /
// "Signature not yet current", HTTP 400 InvalidSignatureException) and its error
// body carries no server time. The only source is the HTTP Date header, which
// has one-second resolution, measured against the midpoint of send and receive
// (the request spent about half its round trip on each leg). Responses with an
// Age header came from a cache and are ignored.
//
// Every response updates the estimate from the RAW local clock, so when the
// local clock is fixed the offset goes back to 0 by itself. Offsets below a
// threshold (default 30 s, far inside the 5-minute window but well above the
// Date header's resolution plus round-trip noise) are taken as "clock fine"
// and stored as 0, so normal jitter never moves the signing time.
//
// Thread-safe (one estimate may be shared by several clients of the same service).
#ifndef ACCEL_PHONE_RELAY_CLOCK_SKEW_H_
#define ACCEL_PHONE_RELAY_CLOCK_SKEW_H_

#include <atomic>
#include <cstdint>
#include <string_view>

namespace accel {
namespace relay {

// Parses an IMF-fixdate ("Tue, 24 Nov 2026 06:41:31 GMT", RFC 9110 5.6.7).
// False for anything else.
bool ParseHttpDate(std::string_view text, int64_t* unix_seconds);

class ClockSkew {
 public:
  explicit ClockSkew(int64_t threshold_s = 30) : threshold_s_(threshold_s) {}

  // Service time minus local time, in seconds (0 when within the threshold).
  int64_t offset_s() const { return offset_s_.load(std::memory_order_relaxed); }

  // Local Unix nanoseconds -> the Unix seconds to sign with.
  int64_t CorrectedUnixSeconds(int64_t local_unix_ns) const;

  // One response: its Date header (`server_unix_s`) and the raw local wall
  // clock when the request was sent and when the response arrived. Returns
  // the new offset.
  int64_t Update(int64_t server_unix_s, int64_t sent_unix_ns, int64_t received_unix_ns);

  // Same from the header text; false (offset unchanged) when `date` is not an
  // IMF-fixdate or `has_age` is set.
  bool UpdateFromHeader(std::string_view date, bool has_age, int64_t sent_unix_ns,
                        int64_t received_unix_ns);

 private:
  const int64_t threshold_s_;
  std::atomic<int64_t> offset_s_{0};
};

}  // namespace relay
}  // namespace accel

#endif  // ACCEL_PHONE_RELAY_CLOCK_SKEW_H_
