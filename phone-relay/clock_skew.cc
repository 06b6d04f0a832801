#include "phone-relay/clock_skew.h"

#include <cstring>
#include <ctime>

namespace accel {
namespace relay {

namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

// Days from 1970-01-01 to y-m-d (proleptic Gregorian), H. Hinnant's algorithm:
// no timegm(), no locale, no TZ.
int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

}  // namespace

bool ParseHttpDate(std::string_view s, int64_t* unix_seconds) {
  // "Tue, 24 Nov 2026 06:41:31 GMT" -- exactly 29 characters.
  static const char* kMonths = "JanFebMarAprMayJunJulAugSepOctNovDec";
  if (s.size() != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
      s[19] != ':' || s[22] != ':' || s.substr(25) != " GMT") {
    return false;
  }
  int day, year, hh, mm, ss;
  if (!Digits(s, 5, 2, &day) || !Digits(s, 12, 4, &year) || !Digits(s, 17, 2, &hh) ||
      !Digits(s, 20, 2, &mm) || !Digits(s, 23, 2, &ss)) {
    return false;
  }
  int month = 0;
  for (int i = 0; i < 12; ++i) {
    if (s.substr(8, 3) == std::string_view(kMonths + 3 * i, 3)) month = i + 1;
  }
  if (month == 0 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60) return false;
  *unix_seconds =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day)) * 86400 +
      hh * 3600 + mm * 60 + ss;
  return true;
}

int64_t ClockSkew::CorrectedUnixSeconds(int64_t local_unix_ns) const {
  int64_t s = local_unix_ns / 1000000000;
  if (local_unix_ns % 1000000000 < 0) --s;
  return s + offset_s();
}

int64_t ClockSkew::Update(int64_t server_unix_s, int64_t sent_unix_ns, int64_t received_unix_ns) {
  // The Date header truncates to the second: the server's clock was somewhere
  // in [D, D+1) when it wrote it, so D + 0.5 s is the best point estimate.
  const int64_t midpoint_ns = sent_unix_ns + (received_unix_ns - sent_unix_ns) / 2;
  const int64_t server_ns = server_unix_s * 1000000000 + 500000000;
  const int64_t diff_ns = server_ns - midpoint_ns;
  // Round to the nearest second.
  int64_t measured = (diff_ns >= 0 ? diff_ns + 500000000 : diff_ns - 500000000) / 1000000000;
  if (measured < threshold_s_ && measured > -threshold_s_) measured = 0;
  offset_s_.store(measured, std::memory_order_relaxed);
  return measured;
}

bool ClockSkew::UpdateFromHeader(std::string_view date, bool has_age, int64_t sent_unix_ns,
                                 int64_t received_unix_ns) {
  int64_t server = 0;
  if (has_age || !ParseHttpDate(date, &server)) return false;
  Update(server, sent_unix_ns, received_unix_ns);
  return true;
}

}  // namespace relay
}  // namespace accel
